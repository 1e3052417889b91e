"""The public goods game — ``dilemmazoo/public-goods-v0``.

Sources: the linear public goods game of experimental economics (Isaac & Walker 1988; Ledyard
1995, "Public goods: a survey of experimental research") in the all-or-nothing form of CoopEval
(Tewolde et al. 2026, arXiv 2604.15267; code Xiao215/CoopEval at 8559e85,
``games/public_goods.py``): ``N = 3`` players, endowment 1, multiplier 1.5.

Rules
-----
``N`` players each hold an endowment ``e`` and choose, at the same time, to **contribute** it to
a common pool or to **free-ride** (keep it). The pool is multiplied by ``m`` (the
``multiplier``, ``1 <= m <= N``) and shared equally among all ``N`` players. With ``k``
contributors:

    share = m * k * e / N
    payoff of a contributor = share
    payoff of a free-rider  = e + share

(:func:`public_goods_payoffs`, which takes any contributions ``c_i`` in ``[0, e]``:
``pi_i = e - c_i + m * sum_j c_j / N``.) Contributing changes one's own payoff by
``e * (m / N - 1) <= 0``, so free-riding is dominant (weakly at ``m = N``) and all free-riding,
payoff ``e`` each, is the equilibrium; all contributing pays ``m * e`` each
(:func:`reference_payoffs`; CoopEval normalises between these: 1 and 1.5 with its parameters).

Arguments and defaults
----------------------
- ``n_players=3`` (``N``, at least 2), ``endowment=1.0`` (``e > 0``), ``multiplier=1.5``
  (``m`` in ``[1, N]``, CoopEval's bounds);
- ``n_rounds=10``: the stage game repeated with the same players, the language view showing
  the history; ``n_rounds=1`` is CoopEval's one-shot game. (The default is not 1 because a
  world must play at least two steps for the registry-wide conformance test, which steps a
  pickled copy mid-game.)
- ``contributions="all_or_nothing"``: CoopEval's binary choice, the whole endowment or nothing;
  ``"any_amount"``: the linear public goods game of the laboratory, any contribution in
  ``[0, e]`` (the rest is kept), answered as a number;
- ``labels="named"`` ("Contribute", "Free-ride"), ``"indexed"`` (CoopEval's neutral tokens
  "A0", "A1") or an explicit list of two distinct names (contribute first);
- ``fallback_move="free-ride"``: the move declared for answers that never parse
  (``"contribute"``: the whole endowment, or ``"free-ride"``: nothing; the runner counts every
  use). Keeping the endowment is what a player who does not act does in a laboratory public
  goods game;
- ``history_rounds=5``: how many past rounds ``describe`` shows;
- ``render_mode=None | "ansi" | "human"``.

A bad argument is a ``ValueError`` naming it.

``reset(seed, options)``: nothing in this world is random; the seed starts the world's generator
anyway (the PettingZoo contract). ``options["names"]`` (``{seat: name}``, every seat, distinct)
sets the names the players know each other by.

Agents, actions, observations, rewards
--------------------------------------
Seats ``player_0 .. player_{N-1}``; all decide every step; one step is one round. Action:
``Discrete(2)``, 0 contribute, 1 free-ride; with ``contributions="any_amount"``
``Box(0, e, (1,), float64)``, the amount (``step`` also takes a bare number; an amount outside
``[0, e]``, a continuous-control policy's raw output, is **clipped** and the info ``clipped`` is
True). Observation (``Dict``): ``round`` (``Discrete(n_rounds + 2)``, the round about to be
played, 1-based, ``n_rounds + 1`` once over), ``seat`` (``Discrete(N)``),
``last_contributions`` (``Box(-1, e, (N,), float64)``: every seat's contribution in the last
round, -1 before the first) and ``last_contributors`` (``Discrete(N + 2, start=-1)``: ``k``, the
number of seats that put in more than 0, in the last round; -1 before the first). Reward: the
round's payoff.

Infos (every step and at reset, every seat, the same keys; scalars): ``round`` (the round
played, 0 at reset), ``round_end`` (True on every step: each step is a whole round; False at
reset), ``move`` ("contribute": the whole endowment | "free-ride": nothing | "partial": an
amount in between; "" at reset), ``contribution`` (what the seat put in the pool), ``contributors``
(``k``; -1 at reset), ``share``, ``payoff`` (the seat's payoff, 0.0 at reset), ``clipped``, and
the parameters ``n_players``, ``endowment`` and ``multiplier`` (so that a
run's records carry what the equilibrium and the normalisation are computed from).

Language view
-------------
``rules`` states the endowment, the two options, the pool rule and, from the player's own side,
what each option pays for every number of other contributors; ``describe`` the last
``history_rounds`` rounds (every player's move by name, ``k``, one's own payoff) and one's total;
``action_spec`` a :class:`~dilemmazoo.envs.base.Choice` over the two labels ("Answer:
Contribute"; naming both, a negation ("not Contribute") or another world's move ("Contribute and
cooperate") is invalid), or with amounts an :class:`~dilemmazoo.envs.base.Amount` in ``[0, e]``
("Answer: 0.5"); the rules then state the payoff formula and three worked cases.

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

from dilemmazoo.envs.base import ActionSpec, Amount, Choice, LanguageWorld, format_number
from dilemmazoo.envs.checks import check_choice, check_int, check_real

__all__ = [
    "CONTRIBUTE",
    "CONTRIBUTION_MODES",
    "FREE_RIDE",
    "MOVES",
    "PublicGoodsEnv",
    "public_goods_payoffs",
    "reference_payoffs",
]

CONTRIBUTE, FREE_RIDE = 0, 1
#: the move names of actions 0 and 1, as the infos record them (with amounts, "partial" in between)
MOVES = ("contribute", "free-ride")
#: ``contributions``: the whole endowment or nothing (CoopEval), or any amount in [0, e]
CONTRIBUTION_MODES = ("all_or_nothing", "any_amount")
NAMED_LABELS = ("Contribute", "Free-ride")


def public_goods_payoffs(contributions: Any, endowment: float = 1.0, multiplier: float = 1.5) -> np.ndarray:
    """Each player's payoff ``e - c_i + m * sum_j c_j / N`` for contributions ``c_i`` in ``[0, e]``.

    With all-or-nothing contributions (``c_i`` is 0 or ``e``) and ``k`` contributors, a
    contributor gets the share ``m * k * e / N`` and a free-rider ``e`` plus the share.
    """
    c = np.asarray(contributions, dtype=np.float64)
    if c.ndim != 1 or c.size < 1:
        raise ValueError(f"contributions must be a 1-d sequence of amounts, one per player, got shape {c.shape}")
    e = check_real("endowment", endowment, low=0.0, low_open=True)
    m = check_real("multiplier", multiplier, low=0.0)
    if not np.all(np.isfinite(c)) or np.any(c < 0) or np.any(c > e):
        raise ValueError(f"contributions must lie in [0, endowment={e:g}], got {c.tolist()}")
    return e - c + m * c.sum() / c.size


def reference_payoffs(endowment: float = 1.0, multiplier: float = 1.5) -> tuple[float, float]:
    """``(equilibrium, cooperative)`` payoff per player: everyone free-rides (``e``), everyone
    contributes (``m * e``). CoopEval's normalisation points (1 and 1.5 with its parameters)."""
    e = check_real("endowment", endowment, low=0.0, low_open=True)
    m = check_real("multiplier", multiplier, low=0.0)
    return e, m * e


def _fmt(value: float) -> str:
    return format_number(float(value))


def _points(value: float) -> str:
    return f"{_fmt(value)} point{'' if _fmt(value) == '1' else 's'}"


class PublicGoodsEnv(LanguageWorld):
    """N players contribute an endowment to a multiplied, equally shared pool, or free-ride (CoopEval's public goods game)."""

    metadata = {"render_modes": ["ansi", "human"], "name": "public_goods_v0", "is_parallelizable": True}
    shows_rewards = True

    def __init__(
        self,
        n_players: int = 3,
        endowment: float = 1.0,
        multiplier: float = 1.5,
        n_rounds: int = 10,
        contributions: str = "all_or_nothing",
        labels: str | Sequence[str] = "named",
        fallback_move: str = "free-ride",
        history_rounds: int = 5,
        render_mode: str | None = None,
    ):
        self.n_players = check_int("n_players", n_players, 2)
        self.endowment = check_real("endowment", endowment, low=0.0, low_open=True)
        self.multiplier = check_real("multiplier", multiplier, low=1.0, high=float(self.n_players))
        self.n_rounds = check_int("n_rounds", n_rounds, 1)
        self.contribution_mode = check_choice("contributions", contributions, CONTRIBUTION_MODES)
        self.labels = self._checked_labels(labels)
        self.fallback_move = check_choice("fallback_move", fallback_move, MOVES)
        self.history_rounds = check_int("history_rounds", history_rounds, 1)
        self.render_mode = self._checked_render_mode(render_mode)

        n = self.n_players
        self.possible_agents = [f"player_{i}" for i in range(n)]
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        if self.contribution_mode == "all_or_nothing":
            self._action_spaces = {agent: spaces.Discrete(2) for agent in self.possible_agents}
        else:
            self._action_spaces = {
                agent: spaces.Box(0.0, self.endowment, (1,), np.float64) for agent in self.possible_agents
            }
        self._observation_spaces = {
            agent: spaces.Dict(
                {
                    "round": spaces.Discrete(self.n_rounds + 2),
                    "seat": spaces.Discrete(n),
                    "last_contributions": spaces.Box(-1.0, self.endowment, (n,), np.float64),
                    "last_contributors": spaces.Discrete(n + 2, start=-1),
                }
            )
            for agent in self.possible_agents
        }
        self._rng: np.random.Generator | None = None
        self._names = list(self.possible_agents)
        self._reset_state()

    @staticmethod
    def _checked_labels(labels: Any) -> tuple[str, str]:
        if labels == "named":
            return NAMED_LABELS
        if labels == "indexed":
            return ("A0", "A1")
        if isinstance(labels, str) or not isinstance(labels, Sequence):
            raise ValueError(f"labels must be 'named', 'indexed' or a list of two names, got {labels!r:.200}")
        result = tuple(labels)
        if len(result) != 2 or not all(isinstance(x, str) and x.strip() for x in result):
            raise ValueError(f"labels must be two non-empty strings (contribute, free-ride), got {list(result)!r:.200}")
        if result[0].strip().lower() == result[1].strip().lower():
            raise ValueError(f"labels must differ (ignoring case), got {list(result)}")
        return result[0].strip(), result[1].strip()

    def _reset_state(self) -> None:
        self.round = 1  # the round about to be played
        self.contributions: list[np.ndarray] = []  # per played round, every seat's contribution
        self.clipped: list[np.ndarray] = []
        self.payoffs: list[np.ndarray] = []
        self.totals = np.zeros(self.n_players, dtype=np.float64)

    # -- PettingZoo API -------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None):
        names = self._names_from((options or {}).get("names"), list(self.possible_agents))
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self._reset_state()
        self._names = names
        self.agents = list(self.possible_agents)
        infos = {agent: self._info(agent, None) for agent in self.agents}
        return self._observations(), infos

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        live = list(self.agents)
        contributions = np.empty(self.n_players, dtype=np.float64)
        clipped = np.zeros(self.n_players, dtype=bool)
        for agent in self.possible_agents:
            if agent not in actions:
                raise ValueError(f"{agent} must send an action every round")
            contributions[self._seat[agent]], clipped[self._seat[agent]] = self._decode(agent, actions[agent])
        payoffs = public_goods_payoffs(contributions, self.endowment, self.multiplier)
        self.contributions.append(contributions)
        self.clipped.append(clipped)
        self.payoffs.append(payoffs)
        self.totals += payoffs
        rewards = {agent: float(payoffs[self._seat[agent]]) for agent in live}
        infos = {agent: self._info(agent, len(self.contributions) - 1) for agent in live}
        self.round += 1
        return self._end_step(live, self.round > self.n_rounds, rewards, infos)

    # -- language view --------------------------------------------------------------------------

    @property
    def _amounts(self) -> bool:
        return self.contribution_mode == "any_amount"

    def _share(self, pool: float) -> float:
        """Each player's share of a pool into which ``pool`` points were put."""
        return self.multiplier * pool / self.n_players

    def rules(self, agent: str) -> str:
        n, e, m = self.n_players, self.endowment, self.multiplier
        give, keep = self.labels
        others = n - 1
        rounds = "You play one round." if self.n_rounds == 1 else f"You play {self.n_rounds} rounds with the same players."
        lines = [f"You are one of {n} players in a public goods game. {rounds}"]
        if self._amounts:
            lines += [
                f"In each round every player receives {_points(e)} and chooses, at the same time as the others, how "
                f"much of it to put into a common pool: any amount from 0 to {_fmt(e)}. The rest is kept.",
                f"The pool is multiplied by {_fmt(m)} and shared equally among all {n} players, whether they contributed "
                f"or not. Your points in a round are {_fmt(e)} - (your contribution) + {_fmt(m)} x (total contributed "
                f"by all players) / {n}: each point you put in returns {_fmt(m / n)} points to you and "
                f"{_fmt(m / n)} points to each other player.",
                f"For example, if you contribute {_fmt(e)} and the others contribute nothing, you earn "
                f"{_points(self._share(e))}; if nobody contributes, everyone earns {_points(e)}; if everyone contributes "
                f"{_fmt(e)}, everyone earns {_points(self._share(n * e))}.",
            ]
        else:
            lines += [
                f"In each round every player receives {_points(e)} and chooses, at the same time as the others, "
                f"between Option {give} (put the {_points(e)} into a common pool) and Option {keep} (keep the "
                f"{_points(e)}).",
                f"The pool is multiplied by {_fmt(m)} and shared equally among all {n} players, whether they contributed "
                f"or not. If k players contribute, each player receives a share of {_fmt(m)} x k x {_fmt(e)} / {n} "
                f"points; a player who chose Option {give} earns the share, a player who chose Option {keep} earns "
                f"{_fmt(e)} plus the share.",
                "Your points in a round, by how many of the other players contribute:",
            ]
            for k in range(others + 1):
                lines.append(
                    f"If {k} of the other {others} player{'' if others == 1 else 's'} "
                    f"{'contributes' if k == 1 else 'contribute'}: Option {give} earns you "
                    f"{_points(self._share((k + 1) * e))} and Option {keep} earns you {_points(e + self._share(k * e))}."
                )
        goal = "as many points as possible" + ("" if self.n_rounds == 1 else " over all rounds")
        lines.append(f"After each round every player sees what everyone chose. Your goal is to earn {goal}.")
        return "\n".join(lines)

    def _chosen(self, amount: float) -> str:
        if self._amounts:
            return f"contributed {_fmt(amount)}"
        return f"chose Option {self.labels[CONTRIBUTE if amount > 0 else FREE_RIDE]}"

    def describe(self, agent: str) -> str:
        me = self._seat[agent]
        if not self.agents and not self.contributions:
            return "The game has not started."
        lines = []
        first = max(0, len(self.contributions) - self.history_rounds)
        if first:
            lines.append(f"({first} earlier round{'' if first == 1 else 's'} not shown.)")
        for r in range(first, len(self.contributions)):
            amounts = self.contributions[r]
            parts = [f"{'you' if j == me else self._names[j]} {self._chosen(amounts[j])}" for j in range(self.n_players)]
            if self._amounts:
                pool = f"the pool held {_fmt(amounts.sum())}"
            else:
                pool = f"{int((amounts > 0).sum())} of {self.n_players} contributed"
            lines.append(f"Round {r + 1}: {', '.join(parts)}; {pool}, so each share was "
                         f"{_fmt(self._share(amounts.sum()))}; you earned {_points(self.payoffs[r][me])}.")
        if self.contributions:
            lines.append(f"Your total so far: {_points(self.totals[me])}.")
        if not self.agents:
            lines.append("The game is over.")
        else:
            lines.append(f"It is now round {self.round} of {self.n_rounds}.")
        return "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        contribute = self.fallback_move == "contribute"
        if self._amounts:
            return Amount(
                instruction=(f"How much do you contribute in round {self.round}? End your reply with "
                             f"'Answer: <amount>', a number from 0 to {_fmt(self.endowment)}."),
                fallback=self._amount_action(self.endowment if contribute else 0.0),
                low=0.0,
                high=self.endowment,
                make_action=lambda move, value: self._amount_action(value),
            )
        give, keep = self.labels
        return Choice(
            instruction=(f"Which option do you choose in round {self.round}? End your reply with 'Answer: <option>', "
                         f"where <option> is one of: {give}, {keep}."),
            fallback=np.int64(CONTRIBUTE if contribute else FREE_RIDE),
            labels=self.labels,
            actions=(np.int64(CONTRIBUTE), np.int64(FREE_RIDE)),
        )

    def display_name(self, agent: str) -> str:
        return self._names[self._seat[agent]]

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _amount_action(value: float) -> np.ndarray:
        return np.array([value], dtype=np.float64)

    def _decode(self, agent: str, action: Any) -> tuple[float, bool]:
        """The contribution an action makes, and whether it was clipped into ``[0, endowment]``."""
        value = np.asarray(action)
        if not self._amounts:
            if value.shape != () or value.dtype.kind not in "iu":
                raise ValueError(
                    f"{agent}'s action must be an integer action index (0 contribute, 1 free-ride), got {action!r:.80}"
                )
            index = int(value)
            if index not in (CONTRIBUTE, FREE_RIDE):
                raise ValueError(f"{agent}'s action must be 0 (contribute) or 1 (free-ride), got {index}")
            return (self.endowment if index == CONTRIBUTE else 0.0), False
        if isinstance(action, (str, bool, Mapping)) or value.dtype.kind not in "iuf" or value.size != 1:
            raise ValueError(f"{agent}'s action must be one contribution (a number, or an array of shape (1,)), "
                             f"got {action!r:.80}")
        amount = float(value.reshape(-1)[0])
        if not math.isfinite(amount):
            raise ValueError(f"{agent}'s contribution must be a finite number, got {amount!r}")
        # A continuous-control policy's raw output may leave the range: clipped and counted, not refused.
        bounded = min(max(amount, 0.0), self.endowment)
        return bounded, bounded != amount

    def _move(self, amount: float) -> str:
        if amount >= self.endowment:
            return "contribute"
        return "free-ride" if amount <= 0 else "partial"

    def _observations(self) -> dict[str, dict[str, Any]]:
        if self.contributions:
            last = self.contributions[-1].copy()
            contributors = int((last > 0).sum())
        else:
            last, contributors = np.full(self.n_players, -1.0), -1
        return {
            agent: {
                "round": np.int64(min(self.round, self.n_rounds + 1)),
                "seat": np.int64(me),
                "last_contributions": last.copy(),
                "last_contributors": np.int64(contributors),
            }
            for agent, me in self._seat.items()
        }

    def _info(self, agent: str, played: int | None) -> dict[str, Any]:
        me = self._seat[agent]
        if played is None:
            move, contribution, contributors, share, payoff, clipped = "", 0.0, -1, 0.0, 0.0, False
        else:
            amounts = self.contributions[played]
            contribution = float(amounts[me])
            move = self._move(contribution)
            contributors = int((amounts > 0).sum())
            share = self._share(float(amounts.sum()))
            payoff = float(self.payoffs[played][me])
            clipped = bool(self.clipped[played][me])
        return {
            "round": 0 if played is None else played + 1,
            "round_end": played is not None,
            "move": move,
            "contribution": contribution,
            "contributors": contributors,
            "share": share,
            "payoff": payoff,
            "clipped": clipped,
            "n_players": self.n_players,
            "endowment": self.endowment,
            "multiplier": self.multiplier,
        }

    def _render_text(self) -> str:
        lines = [f"Public goods: {len(self.contributions)} of {self.n_rounds} rounds played; {self.n_players} players, "
                 f"endowment {_fmt(self.endowment)}, multiplier {_fmt(self.multiplier)}"]
        if self.contributions:
            parts = ", ".join(f"{a} {_fmt(self.contributions[-1][i])}" for a, i in self._seat.items())
            lines.append(f"  last contributions: {parts}")
        lines.append("  totals: " + ", ".join(_fmt(t) for t in self.totals))
        return "\n".join(lines)
