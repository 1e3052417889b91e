"""Team production with free riding — ``dilemmazoo/team-production-v0``.

Source: Pant & Yu, "Computational Foundations for Strategic Coopetition: Formalizing Collective
Action and Loyalty" (arXiv 2601.16237; public code vikpant/strategic-coopetition). ``n``
members of a team each choose an effort ``a_i in [a_min, a_max]``; the team produces
``Q = omega * S^beta`` from the total effort ``S = sum_i a_i`` (``0 < beta < 1``: decreasing
returns); the output is shared equally and each member pays for its own effort:

    pi_i = Q / n - c * a_i

(:func:`dilemmazoo.envs.loyalty.team_output` and :func:`dilemmazoo.envs.loyalty.base_payoffs`).
A member keeps only ``1/n`` of what its effort adds, so the selfish (theta = 0) equilibrium
has every member free-ride: the symmetric total effort is
``S* = (omega beta / (n c))^(1 / (1 - beta))`` (``closed_form_effort`` at theta 0), below the
team optimum ``(omega beta / c)^(1 / (1 - beta))``. Loyalty (the paper's ``theta``) is not a
rule of this world: it is a utility transform (``norms.loyalty``) that reads the per-step
``cost`` this world reports in its infos, or a persona told to a language agent.

Arguments and defaults (the paper's base case)
----------------------------------------------
- ``n_members=5`` (``n``), ``omega=25.0``, ``beta=0.7`` (in (0, 1)), ``c=1.0`` (> 0),
  ``a_min=0.01``, ``a_max=50.0`` (``0 <= a_min < a_max``);
- ``n_rounds=10``: the game repeated with the same team, the language view showing the
  history; ``n_rounds=1`` is the paper's one-shot game. (The default is not 1 because a world
  must play at least two steps for the registry-wide conformance test, which steps a pickled
  copy mid-game.)
- ``effort_grid``: the efforts a language agent chooses among (a
  :class:`~dilemmazoo.envs.base.Choice` over numeric labels). Default ``"auto"``: ``a_min``,
  then 5, 10, ... up to ``a_max`` (11 options with the defaults: 0.01, 5, 10, ..., 50). An
  explicit increasing sequence of efforts in ``[a_min, a_max]`` is used as given; ``None``
  asks for any number in ``[a_min, a_max]`` instead (an :class:`~dilemmazoo.envs.base.Amount`),
  which lets a scripted equilibrium player answer the exact continuous effort;
- ``teams=None``: one team of everyone; else a list of lists of member names
  (``"member_0"`` ...) that partitions the members: each team's output is computed from its
  own members' efforts and shared among them (``n`` = the team's size);
- ``history_rounds=5``: how many past rounds ``describe`` shows;
- ``told_loyalty=None``: a loyalty theta in [0, 1] told to every member in the rules (how much it
  values its teammates' mean payoff, ``theta * phi_b``, and how much of its own effort cost it
  counts as a contribution, ``theta * phi_c``; ``phi_b=0.8``, ``phi_c=0.3``): the paper's loyalty
  as words a language agent reads, beside the ``loyalty`` utility transform, which changes what
  the records score but not what an agent is told. ``None``: nothing told;
- ``render_mode=None | "ansi" | "human"``.

A bad argument is a ``ValueError`` naming it.

``reset(seed, options)``: nothing in this world is random; the seed starts the world's generator
anyway (the PettingZoo contract). ``options["names"]`` (``{seat: name}``, every seat, distinct)
sets the names the members know each other by.

Agents, actions, observations
-----------------------------
Seats ``member_0 .. member_{n-1}``; all decide every step; one step is one round. Action:
``Box(a_min, a_max, (1,), float64)``, the effort; ``step`` also accepts a bare number. An effort
outside ``[a_min, a_max]`` (a continuous-control policy's raw output) is **clipped** to the
range and counted: the step's info ``clipped`` is True and :attr:`TeamProductionEnv.clipped_efforts`
counts them over the episode. A value that is not one finite number is a ``ValueError``.

Observation (``Dict``): ``round`` (``Discrete(n_rounds + 2)``, the round about to be played,
1-based, ``n_rounds + 1`` once over), ``seat`` (``Discrete(n)``), ``team`` (``MultiBinary(n)``:
1 for the members of one's own team, oneself included), the world's parameters ``omega``,
``beta``, ``c``, ``a_min``, ``a_max`` (``Box`` of shape (1,), constant; they are in the rules
too), ``last_efforts`` (``Box(-1, a_max, (n,))``: the efforts of one's own team in the last
round, -1 for other teams' members and before the first round) and ``last_output`` (one's
team's output ``Q`` in the last round, 0 before).

Rewards: the base payoff ``pi_i = Q_team / n_team - c a_i`` of the round.

Infos (every step and at reset, every member, the same keys; scalars): ``effort`` (the effort
played, after clipping; -1.0 at reset), ``cost`` (``c * a_i``, what the loyalty transform
reads; 0.0 at reset), ``output`` (the team's ``Q``), ``total_effort`` (the team's ``S``),
``team`` (team index), ``team_size``, ``round`` (the round played, 0 at reset), ``clipped``,
and the parameters ``omega``, ``beta``, ``unit_cost`` (``c``), ``a_min``, ``a_max`` (so that a
run's records carry what its equilibrium is computed from).

Language view
-------------
``rules`` states the output rule, the sharing, the cost, the effort range and a worked example;
``describe`` the round, the last ``history_rounds`` rounds (every teammate's effort and payoff,
the team's output) and one's own total; ``action_spec`` a numeric ``Choice`` over the grid
(``Answer: 10``; "10.0" is the option "10"), or an ``Amount`` when ``effort_grid=None``.
Declared fallback for answers that never parse (the runner counts each use): the member's
previous effort; in the first round the grid point closest to the middle of the range (the
middle itself for an ``Amount``), neither the free-riding nor the full effort.

Version history
---------------
- v0: first version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionSpec, Amount, Choice, LanguageWorld
from dilemmazoo.envs.checks import check_int, check_real
from dilemmazoo.envs.loyalty import base_payoffs, team_output

__all__ = ["DEFAULT_GRID_STEP", "TeamProductionEnv", "default_effort_grid"]

#: spacing of the default effort grid above ``a_min``
DEFAULT_GRID_STEP = 5.0


def default_effort_grid(a_min: float, a_max: float, step: float = DEFAULT_GRID_STEP) -> tuple[float, ...]:
    """``a_min``, then the multiples of ``step`` above it up to ``a_max`` (and ``a_max`` itself).

    With the defaults (0.01, 50, 5): 0.01, 5, 10, ..., 50."""
    points = [a_min]
    value = step * (math.floor(a_min / step) + 1)
    while value < a_max - 1e-9:
        points.append(float(value))
        value += step
    points.append(a_max)
    return tuple(points)


def _fmt(value: float) -> str:
    return f"{round(float(value), 2) + 0.0:g}"


class TeamProductionEnv(LanguageWorld):
    """Team members choose costly effort for a shared output Q = omega * S^beta: free riding (Pant & Yu 2026)."""

    metadata = {"render_modes": ["ansi", "human"], "name": "team_production_v0", "is_parallelizable": True}
    shows_rewards = True

    def __init__(
        self,
        n_members: int = 5,
        omega: float = 25.0,
        beta: float = 0.7,
        c: float = 1.0,
        a_min: float = 0.01,
        a_max: float = 50.0,
        n_rounds: int = 10,
        effort_grid: str | Sequence[float] | None = "auto",
        teams: Sequence[Sequence[str]] | None = None,
        history_rounds: int = 5,
        told_loyalty: float | None = None,
        phi_b: float = 0.8,
        phi_c: float = 0.3,
        render_mode: str | None = None,
    ):
        self.n_members = check_int("n_members", n_members, 1)
        self.omega = check_real("omega", omega, low=0.0, low_open=True)
        self.beta = check_real("beta", beta, low=0.0, high=1.0, low_open=True)
        if self.beta >= 1.0:
            raise ValueError(f"beta must be a number in (0, 1) (decreasing returns), got {beta!r}")
        self.c = check_real("c", c, low=0.0, low_open=True)
        self.a_min = check_real("a_min", a_min, low=0.0)
        self.a_max = check_real("a_max", a_max, low=self.a_min, low_open=True)
        self.n_rounds = check_int("n_rounds", n_rounds, 1)
        self.history_rounds = check_int("history_rounds", history_rounds, 1)
        self.told_loyalty = None if told_loyalty is None else check_real("told_loyalty", told_loyalty, low=0.0, high=1.0)
        self.phi_b = check_real("phi_b", phi_b, low=0.0)
        self.phi_c = check_real("phi_c", phi_c, low=0.0, high=1.0)
        self.render_mode = self._checked_render_mode(render_mode)
        self.effort_grid = self._checked_grid(effort_grid)

        self.possible_agents = [f"member_{i}" for i in range(self.n_members)]
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        self.teams = self._checked_teams(teams)
        self.team_of = np.empty(self.n_members, dtype=np.int64)
        for index, members in enumerate(self.teams):
            self.team_of[list(members)] = index
        self.team_sizes = np.array([len(members) for members in self.teams], dtype=np.int64)

        n = self.n_members
        self._action_spaces = {
            agent: spaces.Box(self.a_min, self.a_max, (1,), np.float64) for agent in self.possible_agents
        }
        self._observation_spaces = {
            agent: spaces.Dict(
                {
                    "round": spaces.Discrete(self.n_rounds + 2),
                    "seat": spaces.Discrete(n),
                    "team": spaces.MultiBinary(n),
                    "omega": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "beta": spaces.Box(0.0, 1.0, (1,), np.float64),
                    "c": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "a_min": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "a_max": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "last_efforts": spaces.Box(-1.0, self.a_max, (n,), np.float64),
                    "last_output": spaces.Box(0.0, np.inf, (1,), np.float64),
                }
            )
            for agent in self.possible_agents
        }
        self._rng: np.random.Generator | None = None
        self._names = list(self.possible_agents)
        self._reset_state()

    # -- argument checks ------------------------------------------------------------------------

    def _checked_grid(self, grid: Any) -> tuple[float, ...] | None:
        if grid is None:
            return None
        if isinstance(grid, str):
            if grid != "auto":
                raise ValueError(f"effort_grid must be 'auto', None or a list of efforts, got {grid!r}")
            return default_effort_grid(self.a_min, self.a_max)
        if not isinstance(grid, (Sequence, np.ndarray)) or len(grid) == 0:
            raise ValueError(f"effort_grid must be 'auto', None or a non-empty list of efforts, got {grid!r:.200}")
        values = [check_real("effort_grid", g, low=self.a_min, high=self.a_max) for g in grid]
        if any(b <= a for a, b in zip(values, values[1:])):
            raise ValueError(f"effort_grid must be increasing, got {list(grid)!r:.200}")
        if len({_fmt(v) for v in values}) != len(values):
            raise ValueError(f"effort_grid values must differ at two decimals (they are the answer labels), got {values}")
        return tuple(values)

    def _checked_teams(self, teams: Any) -> list[tuple[int, ...]]:
        if teams is None:
            return [tuple(range(self.n_members))]
        if isinstance(teams, str) or not isinstance(teams, Sequence) or not teams:
            raise ValueError(f"teams must be a list of lists of member names, got {teams!r:.200}")
        result, seen = [], set()
        for team in teams:
            if isinstance(team, str) or not isinstance(team, Sequence) or not team:
                raise ValueError(f"teams must be a list of non-empty lists of member names, got {teams!r:.200}")
            seats = []
            for name in team:
                if name not in self._seat:
                    raise ValueError(f"teams names {name!r}, which is not a member; members: {self.possible_agents}")
                if name in seen:
                    raise ValueError(f"teams names {name!r} more than once")
                seen.add(name)
                seats.append(self._seat[name])
            result.append(tuple(sorted(seats)))
        missing = [a for a in self.possible_agents if a not in seen]
        if missing:
            raise ValueError(f"teams must place every member in a team; missing: {missing}")
        return result

    # -- state ----------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        n = self.n_members
        self.round = 1  # the round about to be played
        self.efforts: list[np.ndarray] = []  # per played round, every member's effort
        self.payoffs: list[np.ndarray] = []
        self.outputs: list[np.ndarray] = []  # per played round, per team
        self.totals = np.zeros(n, dtype=np.float64)
        self.clipped_efforts = 0

    # -- PettingZoo API -------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None):
        names = self._names_from((options or {}).get("names"), list(self.possible_agents))
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self._reset_state()
        self._names = names
        self.agents = list(self.possible_agents)
        infos = {agent: self._info(agent, effort=-1.0, cost=0.0, output=0.0, total=0.0, round_number=0, clipped=False)
                 for agent in self.agents}
        return self._observations(), infos

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        live = list(self.agents)
        efforts = np.empty(self.n_members, dtype=np.float64)
        clipped = np.zeros(self.n_members, dtype=bool)
        for agent in self.possible_agents:
            if agent not in actions:
                raise ValueError(f"{agent} must send an effort every round")
            efforts[self._seat[agent]], clipped[self._seat[agent]] = self._effort_of(agent, actions[agent])
        payoffs = np.empty(self.n_members, dtype=np.float64)
        outputs = np.empty(len(self.teams), dtype=np.float64)
        totals = np.empty(len(self.teams), dtype=np.float64)
        for index, members in enumerate(self.teams):
            seats = list(members)
            totals[index] = float(efforts[seats].sum())
            outputs[index] = float(team_output(totals[index], self.omega, self.beta))
            payoffs[seats] = base_payoffs(efforts[seats], self.omega, self.beta, self.c)
        self.efforts.append(efforts)
        self.payoffs.append(payoffs)
        self.outputs.append(outputs)
        self.totals += payoffs
        self.clipped_efforts += int(clipped.sum())
        played = self.round
        rewards, infos = {}, {}
        for agent in live:
            i = self._seat[agent]
            team = int(self.team_of[i])
            rewards[agent] = float(payoffs[i])
            infos[agent] = self._info(agent, effort=float(efforts[i]), cost=self.c * float(efforts[i]),
                                      output=float(outputs[team]), total=float(totals[team]), round_number=played,
                                      clipped=bool(clipped[i]))
        self.round += 1
        return self._end_step(live, self.round > self.n_rounds, rewards, infos)

    # -- language view --------------------------------------------------------------------------

    def _teammates(self, me: int) -> list[int]:
        return list(self.teams[int(self.team_of[me])])

    def rules(self, agent: str) -> str:
        me = self._seat[agent]
        size = len(self._teammates(me))
        others = size - 1
        team_words = (f"You are one of {size} members of a team" if size > 1 else "You work alone")
        if len(self.teams) > 1:
            team_words += f" (there are {len(self.teams)} teams; only your own team's efforts count for you)"
        example_effort = 10.0 if self.a_min <= 10.0 <= self.a_max else (self.a_min + self.a_max) / 2
        example_total = example_effort * size
        example_output = float(team_output(example_total, self.omega, self.beta))
        rounds = ("You play one round." if self.n_rounds == 1
                  else f"You play {self.n_rounds} rounds with the same team.")
        lines = [
            f"{team_words}. {rounds}",
            f"In each round every member chooses an effort from {_fmt(self.a_min)} to {_fmt(self.a_max)}. "
            f"The team's output is {_fmt(self.omega)} x (total effort of the team)^{_fmt(self.beta)}, and it is shared "
            f"equally: each member receives the output divided by {size}.",
            f"Effort is costly: each unit of your own effort costs you {_fmt(self.c)} point{'' if self.c == 1 else 's'}. Your payoff in a round is "
            f"your share of the output minus the cost of your own effort.",
            f"For example, if all {size} members choose {_fmt(example_effort)}, the total effort is "
            f"{_fmt(example_total)}, the output is {_fmt(example_output)}, and each member earns "
            f"{_fmt(example_output / size)} - {_fmt(self.c * example_effort)} = "
            f"{_fmt(example_output / size - self.c * example_effort)} points.",
        ]
        if others:
            lines.append("All members choose at the same time; after each round everyone in the team sees every "
                         "member's effort and payoff.")
        if self.told_loyalty is None or not others:
            lines.append("Your goal is to earn as many points as possible over all rounds.")
        else:
            theta = self.told_loyalty
            lines.append(
                f"You are loyal to your team, with loyalty {_fmt(theta)} on a scale from 0 (none) to 1. You value each "
                f"point your teammates earn on average at {_fmt(theta * self.phi_b)} of a point of your own, and you "
                f"count {_fmt(theta * self.phi_c)} of each point your effort costs as a contribution to the team rather "
                "than a loss. Your goal is to make your payoff plus this loyalty as high as possible over all rounds."
            )
        return "\n".join(lines)

    def describe(self, agent: str) -> str:
        me = self._seat[agent]
        if not self.agents and not self.efforts:
            return "The game has not started."
        mates = self._teammates(me)
        team = int(self.team_of[me])
        lines = []
        first = max(0, len(self.efforts) - self.history_rounds)
        if first:
            lines.append(f"({first} earlier rounds are not shown.)")
        for r in range(first, len(self.efforts)):
            efforts, payoffs = self.efforts[r], self.payoffs[r]
            parts = [f"{'you' if j == me else self._names[j]} {_fmt(efforts[j])} (payoff {_fmt(payoffs[j])})"
                     for j in mates]
            lines.append(f"Round {r + 1}: efforts {', '.join(parts)}; total effort "
                         f"{_fmt(efforts[mates].sum())}, team output {_fmt(self.outputs[r][team])}.")
        if self.efforts:
            lines.append(f"Your total payoff so far: {_fmt(self.totals[me])} points.")
        if not self.agents:
            lines.append("The game is over.")
            return "\n".join(lines)
        lines.append(f"It is now round {self.round} of {self.n_rounds}. Choose your effort ({self._choices_words()}).")
        return "\n".join(lines)

    def _choices_words(self) -> str:
        if self.effort_grid is None:
            return f"a number from {_fmt(self.a_min)} to {_fmt(self.a_max)}"
        return "one of " + ", ".join(_fmt(g) for g in self.effort_grid)

    def action_spec(self, agent: str) -> ActionSpec:
        me = self._seat[agent]
        fallback = self._action(self._fallback_effort(me))
        if self.effort_grid is None:
            return Amount(
                instruction=(f"Choose your effort for round {self.round}. End your reply with 'Answer: <effort>', "
                             f"a number from {_fmt(self.a_min)} to {_fmt(self.a_max)}."),
                fallback=fallback,
                low=self.a_min,
                high=self.a_max,
                make_action=lambda move, value: self._action(value),
            )
        return Choice(
            instruction=(f"Choose your effort for round {self.round}. End your reply with 'Answer: <effort>', "
                         f"{self._choices_words()}."),
            fallback=fallback,
            labels=tuple(_fmt(g) for g in self.effort_grid),
            actions=tuple(self._action(g) for g in self.effort_grid),
        )

    def display_name(self, agent: str) -> str:
        return self._names[self._seat[agent]]

    # -- helpers --------------------------------------------------------------------------------

    def _fallback_effort(self, me: int) -> float:
        if self.efforts:
            return float(self.efforts[-1][me])
        middle = (self.a_min + self.a_max) / 2
        if self.effort_grid is None:
            return middle
        grid = np.asarray(self.effort_grid)
        return float(grid[int(np.argmin(np.abs(grid - middle)))])  # ties: the lower point

    @staticmethod
    def _action(effort: float) -> np.ndarray:
        return np.array([effort], dtype=np.float64)

    def _effort_of(self, agent: str, action: Any) -> tuple[float, bool]:
        array = np.asarray(action)
        if isinstance(action, (str, bool, Mapping)) or array.dtype.kind not in "iuf" or array.size != 1:
            raise ValueError(f"{agent}'s action must be one effort (a number, or an array of shape (1,)), "
                             f"got {action!r:.80}")
        effort = float(array.reshape(-1)[0])
        if not math.isfinite(effort):
            raise ValueError(f"{agent}'s effort must be a finite number, got {effort!r}")
        bounded = min(max(effort, self.a_min), self.a_max)
        return bounded, bounded != effort

    def _observations(self) -> dict[str, dict[str, Any]]:
        last = self.efforts[-1] if self.efforts else None
        observations = {}
        for agent, me in self._seat.items():
            team = int(self.team_of[me])
            mask = np.zeros(self.n_members, dtype=np.int8)
            mask[list(self.teams[team])] = 1
            efforts = np.full(self.n_members, -1.0)
            if last is not None:
                efforts[mask == 1] = last[mask == 1]
            observations[agent] = {
                "round": np.int64(min(self.round, self.n_rounds + 1)),
                "seat": np.int64(me),
                "team": mask,
                "omega": np.array([self.omega]),
                "beta": np.array([self.beta]),
                "c": np.array([self.c]),
                "a_min": np.array([self.a_min]),
                "a_max": np.array([self.a_max]),
                "last_efforts": efforts,
                "last_output": np.array([self.outputs[-1][team] if self.outputs else 0.0]),
            }
        return observations

    def _info(self, agent: str, *, effort: float, cost: float, output: float, total: float, round_number: int,
              clipped: bool) -> dict[str, Any]:
        me = self._seat[agent]
        team = int(self.team_of[me])
        info = {
            "effort": effort,
            "cost": cost,
            "output": output,
            "total_effort": total,
            "team": team,
            "team_size": int(self.team_sizes[team]),
            "round": round_number,
            "clipped": clipped,
            "omega": self.omega,
            "beta": self.beta,
            "unit_cost": self.c,
            "a_min": self.a_min,
            "a_max": self.a_max,
        }
        if self.told_loyalty is not None:  # the loyalty the rules told, so an analysis can draw that equilibrium
            info["told_loyalty"] = self.told_loyalty
        return info

    def _render_text(self) -> str:
        played = len(self.efforts)
        lines = [f"Team production: {played} of {self.n_rounds} rounds played; "
                 f"Q = {_fmt(self.omega)} S^{_fmt(self.beta)}, cost {_fmt(self.c)} per unit of effort"]
        if self.efforts:
            for index, members in enumerate(self.teams):
                parts = ", ".join(f"{self.possible_agents[j]} {_fmt(self.efforts[-1][j])}" for j in members)
                lines.append(f"  team {index}: last efforts {parts}; output {_fmt(self.outputs[-1][index])}")
        lines.append("  totals: " + ", ".join(_fmt(t) for t in self.totals))
        return "\n".join(lines)
