"""Effort-based common-pool resource — ``dilemmazoo/cpr-v0``.

Source: Gupta et al., "Social learning and collective norms in a common-pool resource"
(arXiv 2510.14401; no public code): agents choose a harvesting effort, see only local, noisy
outcomes (no reward signal), monitor and punish peers who exceed the group norm, and may
choose that norm by proposing and voting. Monitoring by the appropriators and graduated
sanctions follow Ostrom, *Governing the Commons* (1990), design principles 4 and 5. These
institutions are part of this world's rules: they live in
:mod:`dilemmazoo.envs.institutions.sanctions` and :mod:`dilemmazoo.envs.institutions.voting`
(pure functions) and this world calls them.

Mechanics (pure functions, tested against hand-computed values)
----------------------------------------------------------------
- Harvest (:func:`effort_harvests`): agent ``i`` with effort ``e_i in [0, 1]`` takes
  ``h_i = alpha * e_i * R(t)`` (``alpha = harvest_rate``). If ``sum_i h_i > R(t)`` every
  harvest is scaled by ``R(t) / sum_i h_i`` (proportional rationing), so the stock never goes
  negative. The stock left is ``R - sum_i h_i``.
- Collapse: if the post-harvest stock is below ``collapse_threshold`` the episode ends that
  round (survival time = that round; GovSim's convention, Piatti et al. 2024). There is no
  regrowth after a collapse.
- Regrowth (:func:`logistic_regrowth`): ``R <- min(K, R + r R (1 - R / K))`` with
  ``r = growth_rate`` and ``K = capacity``. The maximum sustainable yield is ``r K / 4``
  (:func:`max_sustainable_yield`), taken when the post-harvest stock is ``K / 2``.
- Monitoring and punishment (:func:`dilemmazoo.envs.institutions.sanctions.monitor_and_punish`), every
  harvest step, against the group norm ``G(t)`` when one is in force: each agent inspects one
  random peer with probability ``m = monitoring_prob``; a peer whose harvest exceeds ``G(t)``
  (by more than 1e-9, so aiming exactly at the norm is safe) is punished with probability ``p = punish_prob``: the punisher pays ``punish_cost``, the
  target pays ``fine`` (times ``min(offences + 1, max_fine_multiplier)`` when ``graduated``;
  an offence is an earlier round in which the agent was sanctioned). Several inspectors may
  punish the same target in one round; it pays one fine per punishment. The sanction draws
  are made every harvest step (even with ``m = 0`` or no norm), so worlds that differ only in
  the sanction parameters share their other random numbers.
- Propose and vote (:func:`dilemmazoo.envs.institutions.voting.elect`): in a vote round every agent
  proposes a per-agent harvest threshold in ``[0, alpha K]``; the distinct proposals, rounded
  to ``proposal_decimals`` places, are the options; each agent votes for one; the plurality
  winner (ties broken at random; capped at ``alpha K`` should rounding pass it) becomes
  ``G(t)`` and is broadcast. It stays in force until the next vote.

Arguments and defaults
----------------------
The paper publishes 10 agents and 50 rounds; its regrowth model, ``alpha``, ``c``, costs and
fines are not public, so these are documented choices, all configurable:

- ``n_agents=10``, ``n_rounds=50`` (Gupta et al.);
- ``capacity=100.0`` (``K``), ``initial_stock=None`` (= ``capacity``);
- ``growth_rate=0.4`` (logistic ``r``, the middle of the spec's 0.3..0.5): maximum
  sustainable yield ``rK/4 = 10`` per round, i.e. 1 unit per agent, reached when the group
  takes 1/6 of a stock of 60 (an effort of 1/6 each at the default ``alpha`` and ``n``);
- ``harvest_rate=0.1`` (``alpha``): one agent at full effort takes 10% of the stock, so ten
  agents at full effort take all of it; an effort of 0.75 each (selfish) empties the commons
  in three rounds, 0.25 each (altruistic) settles near a stock of 22;
- ``consumption=0.5`` (``c``, per agent and round): half the per-agent share of the maximum
  sustainable yield, so a sustainable group earns a positive payoff while idling costs;
- ``collapse_threshold=5.0`` (GovSim's 5 of 100);
- ``monitoring_prob=0.0`` (``m``; no monitoring), ``punish_prob=1.0`` (``p``),
  ``punish_cost=1.0``, ``fine=2.0`` (fine = 2 x cost, the spec's choice),
  ``graduated=False``, ``max_fine_multiplier=3.0``;
- ``group_norm=None``: the initial norm ``G(0)``, a per-agent harvest threshold in
  ``[0, alpha K]``; ``None`` = no norm until one is voted;
- ``voting=False``, ``vote_every=10``: rounds ``1, 1 + vote_every, ...`` open with a vote;
  ``proposal_decimals=1``: proposals are pooled into options at this precision;
- ``observation_noise=0.1``: each stock reading is ``R * max(0, 1 + s * z)``, ``z ~ N(0, 1)``,
  ``s = observation_noise``, drawn per agent and per step from the world's generator;
- ``render_mode=None | "ansi" | "human"``.

``reset(seed, options)``: the seed starts the world's one generator (stock readings, sanction
draws, tie-breaks). ``options["names"]`` (``{seat: display name}``, every seat, distinct) sets
the names agents are told (who they inspected); default the seat ids. Other keys are ignored.

Variants: the paper's 2x2 design is resource-rich vs resource-scarce (e.g. ``initial_stock=
30`` or ``growth_rate=0.3``) x altruistic vs selfish priors (agents, not this world);
sanctions on (``monitoring_prob > 0`` with a ``group_norm`` or ``voting``); voting alone
(``voting=True``, ``monitoring_prob=0``).

Agents, steps and actions
-------------------------
Seats ``player_0 .. player_{n-1}``; all of them decide every step. A round is one step
(harvest) or three (propose, vote, harvest in a vote round). The action space is one fixed
``Dict(effort=Box(0, 1, (1,)), proposal=Box(0, alpha K, (1,)), vote=Discrete(n_agents))``;
only the current phase's key is read, and ``step`` also accepts a bare number for it (a
float for effort or proposal, an int for a vote) or a dict holding only that key.

A vote names a **seat** whose proposal the voter supports (its own allowed), so every value
of ``Discrete(n_agents)`` is a valid vote however many distinct options there are; votes for
seats with the same rounded proposal count for the same option. Language agents answer a
:class:`~dilemmazoo.envs.base.Choice` among the distinct proposals (labels such as ``"2.5"``,
ascending), each mapped to the first seat that proposed it.

Observation (the coming step's situation): ``Dict`` of ``round`` (Discrete(n_rounds + 2),
1-based, ``n_rounds + 1`` once over), ``phase`` (Discrete(3): 0 propose, 1 vote, 2 harvest),
``stock_estimate`` (this agent's noisy reading, Box(0, inf, (1,))), ``own_harvest`` (its last
harvest, 0 before any), ``group_norm`` (Box(-1, alpha K, (1,)), -1 when none),
``sanctioned`` (Discrete(2): fined in the last harvest step), ``proposals`` (Box(-1, alpha K,
(n_agents,)): every seat's proposal during the vote step, -1 otherwise) and
``harvest_rate`` (``alpha``, constant, stated in the rules too).

Answer grammar (envs/base.py ``Amount`` and ``Choice``; the last ``Answer:`` line counts):
a proposal is exactly one number in ``[0, alpha K]`` ("propose" allowed), an effort exactly
one number in ``[0, 1]`` ("harvest" allowed; "50%" is invalid), a vote exactly one number
equal to a ballot option ("Answer: 2" is the option "2.0"; "vote"/"propose" allowed). A
negation, another move word or a second number is invalid.

Language view: ``rules`` states the harvest rule, ``alpha``, the consumption, regrowth in
words, the collapse threshold, the norm and, when on, monitoring and voting. ``describe``
tells the agent its own last harvest, its noisy stock reading, whether it was sanctioned or
punished someone (and whom it inspected), the group norm, and after a vote the proposals and
the winner. Following Gupta et al. it never shows a reward or wealth number nor others'
exact harvests.

Rewards: harvest step ``h_i - c - punishment costs paid - fines paid``; 0 in the propose and
vote steps. ``wealth`` (in infos) accumulates the rewards.

Infos (every step, every agent, the same keys; scalars, never NaN; at reset round 0 and
phase "harvest"): ``round``, ``phase`` ("propose" | "vote" | "harvest"), ``round_end`` (True on
the harvest step), ``stock_before``, ``stock_after_harvest``, ``stock`` (after harvest and
regrowth on the harvest step; the post-harvest stock on a collapse), ``effort`` (-1 outside
the harvest step), ``harvest`` (0.0 outside), ``group_norm`` (the norm in force after the
step, -1.0 none), ``over_norm``, ``inspected`` (someone inspected this agent),
``sanctioned``, ``fine_paid``, ``punish_cost_paid``, ``punishments_made``, ``proposal``
(-1.0 when none this step), ``vote`` (seat voted for, -1 outside the vote step),
``voted_norm`` (the option voted for, -1.0 outside), ``elected_norm`` (-1.0 except on the vote
step), ``wealth``, ``collapsed``, ``consumption``, ``max_sustainable_yield`` (``r K / 4``, for
the efficiency metric) and ``collapse_threshold``. Infos go to the records, never to agents.

Fallbacks (for answers that never parse; the runner counts every use)
---------------------------------------------------------------------
- effort: the agent's previous effort, 0.5 (the middle of the range) in its first round;
- proposal: its last proposal, else the group norm in force, else ``alpha K / 2``;
- vote: its own seat (it supports its own proposal): deterministic and favours nobody else.

Version history
---------------
- v0: first version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionSpec, Amount, Choice, LanguageWorld
from dilemmazoo.envs.checks import check_bool, check_int, check_real
from dilemmazoo.envs.institutions.sanctions import NORM_TOLERANCE, SanctionOutcome, monitor_and_punish
from dilemmazoo.envs.institutions.voting import Election, elect

__all__ = [
    "EffortCPREnv",
    "PHASES",
    "effort_harvests",
    "logistic_regrowth",
    "max_sustainable_yield",
    "noisy_readings",
]

PHASES = ("propose", "vote", "harvest")
PHASE_PROPOSE, PHASE_VOTE, PHASE_HARVEST = 0, 1, 2
FIRST_EFFORT_FALLBACK = 0.5


# ---------------------------------------------------------------------------------------------
# Pure mechanics
# ---------------------------------------------------------------------------------------------


def effort_harvests(efforts: Any, stock: float, harvest_rate: float) -> np.ndarray:
    """``h_i = alpha * e_i * R``, scaled down by ``R / sum_i h_i`` when the sum exceeds ``R``."""
    effort_array = np.asarray(efforts, dtype=np.float64)
    if effort_array.ndim != 1 or np.any(~np.isfinite(effort_array)) or np.any((effort_array < 0) | (effort_array > 1)):
        raise ValueError(f"efforts must be a 1-D array of numbers in [0, 1], got {efforts!r}")
    if not (math.isfinite(stock) and stock >= 0):
        raise ValueError(f"stock must be a finite number >= 0, got {stock!r}")
    demand = harvest_rate * effort_array * stock
    total = demand.sum()
    if total > stock:
        return demand * (stock / total)
    return demand


def logistic_regrowth(stock: float, growth_rate: float, capacity: float) -> float:
    """``min(K, R + r R (1 - R / K))``."""
    return float(min(capacity, stock + growth_rate * stock * (1.0 - stock / capacity)))


def max_sustainable_yield(growth_rate: float, capacity: float) -> float:
    """``r K / 4``: the largest harvest logistic regrowth replaces every round."""
    return growth_rate * capacity / 4.0


def noisy_readings(stock: float, noise_sd: float, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` readings ``R * max(0, 1 + noise_sd * z)``, ``z ~ N(0, 1)`` (always ``size`` draws)."""
    z = rng.standard_normal(size)
    return stock * np.maximum(0.0, 1.0 + noise_sd * z)


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{round(float(value), 2) + 0.0:g}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------


class EffortCPREnv(LanguageWorld):
    """Harvest a regrowing commons by effort, with noisy feedback, peer sanctions and voted norms (arXiv 2510.14401)."""

    metadata = {"render_modes": ["ansi", "human"], "name": "cpr_v0", "is_parallelizable": True}
    #: agents get no explicit reward signal (Gupta et al.): the runner keeps payoffs out of their memory
    shows_rewards = False

    def __init__(
        self,
        n_agents: int = 10,
        n_rounds: int = 50,
        capacity: float = 100.0,
        initial_stock: float | None = None,
        growth_rate: float = 0.4,
        harvest_rate: float = 0.1,
        consumption: float = 0.5,
        collapse_threshold: float = 5.0,
        monitoring_prob: float = 0.0,
        punish_prob: float = 1.0,
        punish_cost: float = 1.0,
        fine: float = 2.0,
        graduated: bool = False,
        max_fine_multiplier: float = 3.0,
        group_norm: float | None = None,
        voting: bool = False,
        vote_every: int = 10,
        proposal_decimals: int = 1,
        observation_noise: float = 0.1,
        render_mode: str | None = None,
    ):
        self.n_agents = check_int("n_agents", n_agents, 1)
        self.n_rounds = check_int("n_rounds", n_rounds, 1)
        self.capacity = check_real("capacity", capacity, low=0.0, low_open=True)
        self.initial_stock = self.capacity if initial_stock is None else check_real(
            "initial_stock", initial_stock, low=0.0, high=self.capacity, low_open=True
        )
        self.growth_rate = check_real("growth_rate", growth_rate, low=0.0)
        self.harvest_rate = check_real("harvest_rate", harvest_rate, low=0.0, high=1.0, low_open=True)
        self.consumption = check_real("consumption", consumption, low=0.0)
        self.collapse_threshold = check_real("collapse_threshold", collapse_threshold, low=0.0, high=self.capacity)
        self.monitoring_prob = check_real("monitoring_prob", monitoring_prob, low=0.0, high=1.0)
        self.punish_prob = check_real("punish_prob", punish_prob, low=0.0, high=1.0)
        self.punish_cost = check_real("punish_cost", punish_cost, low=0.0)
        self.fine = check_real("fine", fine, low=0.0)
        self.graduated = check_bool("graduated", graduated)
        self.max_fine_multiplier = check_real("max_fine_multiplier", max_fine_multiplier, low=1.0)
        self.max_harvest = self.harvest_rate * self.capacity  # alpha K: the largest possible harvest
        self.initial_norm = None if group_norm is None else check_real(
            "group_norm", group_norm, low=0.0, high=self.max_harvest
        )
        self.voting = check_bool("voting", voting)
        self.vote_every = check_int("vote_every", vote_every, 1)
        self.proposal_decimals = check_int("proposal_decimals", proposal_decimals, 0, 6)
        self.observation_noise = check_real("observation_noise", observation_noise, low=0.0)
        self.render_mode = self._checked_render_mode(render_mode)

        self.possible_agents = [f"player_{i}" for i in range(self.n_agents)]
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        n, top = self.n_agents, self.max_harvest
        action_space = lambda: spaces.Dict(  # noqa: E731 - one fresh space per agent
            {
                "effort": spaces.Box(0.0, 1.0, (1,), np.float64),
                "proposal": spaces.Box(0.0, top, (1,), np.float64),
                "vote": spaces.Discrete(n),
            }
        )
        self._action_spaces = {agent: action_space() for agent in self.possible_agents}
        self._observation_spaces = {
            agent: spaces.Dict(
                {
                    "round": spaces.Discrete(self.n_rounds + 2),
                    "phase": spaces.Discrete(3),
                    "stock_estimate": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "own_harvest": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "group_norm": spaces.Box(-1.0, top, (1,), np.float64),
                    "sanctioned": spaces.Discrete(2),
                    "proposals": spaces.Box(-1.0, top, (n,), np.float64),
                    "harvest_rate": spaces.Box(0.0, 1.0, (1,), np.float64),
                }
            )
            for agent in self.possible_agents
        }
        self._rng: np.random.Generator | None = None
        self._names = list(self.possible_agents)
        self._reset_state()

    def _reset_state(self) -> None:
        n = self.n_agents
        self.round = 1  # the round about to be played
        self.phase = PHASE_HARVEST
        self.stock = self.initial_stock
        self.norm: float | None = self.initial_norm
        self.collapsed = False
        self.proposals = np.full(n, np.nan)  # this round's, during the vote step
        self.last_proposal = np.full(n, np.nan)
        self.last_effort = np.full(n, FIRST_EFFORT_FALLBACK)
        self.last_harvest = np.zeros(n)
        self.wealth = np.zeros(n)
        self.offences = np.zeros(n, dtype=np.int64)
        self.readings = np.full(n, self.initial_stock)
        self.last_sanctions: SanctionOutcome | None = None
        self.last_norm_checked: float | None = None  # the norm the last sanctions enforced
        self.election: Election | None = None
        self.election_round = 0
        self.harvests_played = 0

    # -- PettingZoo API -------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None):
        names = self._names_from((options or {}).get("names"), list(self.possible_agents))  # checked before any state changes
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self._reset_state()
        self._names = names
        self.phase = self._opening_phase(1)
        self.agents = list(self.possible_agents)
        self._draw_readings()
        infos = {agent: self._info(agent, round_number=0, phase="harvest") for agent in self.agents}
        return self._observations(), infos

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        for agent in self.possible_agents:
            if agent not in actions:
                raise ValueError(f"{agent} must send an action every step (all players decide in every phase)")
        live, played = list(self.agents), self.round
        rewards = dict.fromkeys(live, 0.0)
        done = False
        if self.phase == PHASE_PROPOSE:
            proposals = np.array([self._proposal_of(a, actions[a]) for a in self.possible_agents])
            self.proposals = proposals
            self.last_proposal = proposals.copy()
            infos = {
                a: self._info(a, round_number=played, phase="propose", proposal=float(proposals[self._seat[a]]))
                for a in live
            }
            self.phase = PHASE_VOTE
        elif self.phase == PHASE_VOTE:
            votes = np.array([self._vote_of(a, actions[a]) for a in self.possible_agents], dtype=np.int64)
            self.election = elect(self.proposals, votes, self._rng, self.proposal_decimals)
            self.election_round = played
            self.norm = min(self.election.winner, self.max_harvest)  # rounding may pass alpha K
            rounded = np.round(self.proposals, self.proposal_decimals) + 0.0
            infos = {
                a: self._info(
                    a,
                    round_number=played,
                    phase="vote",
                    vote=int(votes[self._seat[a]]),
                    voted_norm=float(rounded[votes[self._seat[a]]]),
                    elected_norm=self.norm,
                )
                for a in live
            }
            self.phase = PHASE_HARVEST
        else:
            rewards, infos, done = self._harvest_step(actions, live, played)
        self._draw_readings()
        if done:
            self.phase = PHASE_HARVEST
        return self._end_step(live, done, rewards, infos)

    def _harvest_step(self, actions: Mapping[str, Any], live: list[str], played: int):
        efforts = np.array([self._effort_of(a, actions[a]) for a in self.possible_agents])
        stock_before = self.stock
        harvests = effort_harvests(efforts, stock_before, self.harvest_rate)
        after_harvest = max(0.0, stock_before - float(harvests.sum()))
        sanctions = monitor_and_punish(
            harvests,
            self.norm,
            monitoring_prob=self.monitoring_prob,
            punish_prob=self.punish_prob,
            punish_cost=self.punish_cost,
            fine=self.fine,
            rng=self._rng,
            offences=self.offences,
            graduated=self.graduated,
            max_multiplier=self.max_fine_multiplier,
        )
        earned = harvests - self.consumption - sanctions.costs - sanctions.fines
        self.wealth += earned
        self.offences += sanctions.sanctioned
        self.collapsed = after_harvest < self.collapse_threshold
        self.stock = after_harvest
        if not self.collapsed:  # no regrowth after a collapse: the episode is over
            self.stock = logistic_regrowth(after_harvest, self.growth_rate, self.capacity)
        self.last_effort = efforts
        self.last_harvest = harvests
        self.last_sanctions = sanctions
        self.last_norm_checked = self.norm
        self.harvests_played += 1
        over = harvests > self.norm + NORM_TOLERANCE if self.norm is not None else np.zeros(self.n_agents, dtype=bool)
        rewards = {a: float(earned[self._seat[a]]) for a in live}
        infos = {}
        for a in live:
            i = self._seat[a]
            infos[a] = self._info(
                a,
                round_number=played,
                phase="harvest",
                round_end=True,
                stock_before=stock_before,
                stock_after_harvest=after_harvest,
                effort=float(efforts[i]),
                harvest=float(harvests[i]),
                over_norm=bool(over[i]),
                inspected=bool(sanctions.inspected[i]),
                sanctioned=bool(sanctions.sanctioned[i]),
                fine_paid=float(sanctions.fines[i]),
                punish_cost_paid=float(sanctions.costs[i]),
                punishments_made=int(sanctions.punishments_made[i]),
            )
        self.round += 1
        self.proposals = np.full(self.n_agents, np.nan)
        done = self.collapsed or self.round > self.n_rounds
        if not done:
            self.phase = self._opening_phase(self.round)
        return rewards, infos, done

    # -- language view --------------------------------------------------------------------------

    def rules(self, agent: str) -> str:
        n, alpha = self.n_agents, self.harvest_rate
        lines = [
            f"You are one of {n} members who harvest a shared, renewable resource for up to {self.n_rounds} rounds. "
            f"The resource can hold at most {_fmt(self.capacity)} units and starts with {_fmt(self.initial_stock)}.",
            f"Each round you choose a harvesting effort between 0 and 1. Your harvest is {_fmt(alpha)} x your effort x "
            f"the current stock; if all requests together exceed the stock, everyone's harvest is scaled down in "
            f"proportion. Each member needs {_fmt(self.consumption)} units per round to live.",
            "After the harvest the resource regrows: fastest when it is about half full, slowly when it is nearly "
            f"empty or nearly full, and never beyond {_fmt(self.capacity)}. If the stock left after a harvest falls "
            f"below {_fmt(self.collapse_threshold)} units, the resource collapses and the game ends for everyone.",
            "You never see the exact stock: each round you get your own rough estimate of it. You see your own "
            "harvest, but not the other members' harvests.",
        ]
        if self.initial_norm is not None:
            lines.append(
                f"The group has a norm: nobody should harvest more than {_fmt(self.initial_norm)} units per round."
            )
        if self.voting:
            lines.append(
                f"Every {self.vote_every} rounds, starting in round 1, the group sets its norm: first every member "
                f"proposes a maximum harvest per member per round (from 0 to {_fmt(self.max_harvest)} units), then "
                "everyone votes for one of the proposals. The proposal with the most votes becomes the group norm "
                "(ties are broken at random) and everyone is told the result."
            )
        if self.monitoring_prob > 0:
            fine = f"a fine of {_fmt(self.fine)} units"
            if self.graduated:
                fine += (
                    f" for a first offence, growing with each repeated offence up to "
                    f"{_fmt(self.fine * self.max_fine_multiplier)} units"
                )
            lines.append(
                f"Monitoring: each round every member inspects one other member at random with probability "
                f"{_fmt(self.monitoring_prob)}. If that member harvested more than the group norm, the inspector "
                f"punishes them with probability {_fmt(self.punish_prob)}: the inspector pays {_fmt(self.punish_cost)} "
                f"units and the offender pays {fine}. This happens automatically."
            )
        return "\n".join(lines)

    def describe(self, agent: str) -> str:
        me = self._seat[agent]
        if not self.agents and self.harvests_played == 0:
            return "The game has not started."
        lines = []
        if self.collapsed:
            lines.append(f"The resource collapsed in round {self.round - 1}; the game is over.")
        elif not self.agents:
            lines.append(f"The game is over after {self.n_rounds} rounds.")
        else:
            lines.append(f"It is round {self.round} of {self.n_rounds}.")
        if self.harvests_played:
            lines.append(f"In your last harvest you took {_fmt(self.last_harvest[me])} units.")
            lines.extend(self._sanction_lines(me))
        if self.agents:
            lines.append(f"Your estimate of the resource stock now: about {_fmt(self.readings[me])} units.")
        if self.election is not None and self.election_round == self.round and self.agents:
            lines.append(self._election_line())
        if self.norm is None:
            lines.append("The group has no harvest norm.")
        else:
            lines.append(f"The group norm: harvest at most {_fmt(self.norm)} units per member per round.")
        if not self.agents:
            return "\n".join(lines)
        if self.phase == PHASE_PROPOSE:
            lines.append("The group now sets its norm. Propose a maximum harvest per member per round.")
        elif self.phase == PHASE_VOTE:
            options, counts = self._ballot()
            listed = ", ".join(f"{label} ({_plural(int(c), 'member')})" for label, c in zip(options, counts))
            lines.append(f"You proposed {self._label(self.proposals[me])}. The proposals are: {listed}. Vote for one of them.")
        else:
            lines.append("Now choose your harvesting effort for this round.")
        return "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        me = self._seat[agent]
        if self.phase == PHASE_PROPOSE:
            return Amount(
                instruction=(
                    "Propose the group norm: the most any member should harvest per round. End your reply with "
                    f"'Answer: <units>', a number from 0 to {_fmt(self.max_harvest)}."
                ),
                fallback=self._action(proposal=self._proposal_fallback(me)),
                low=0.0,
                high=self.max_harvest,
                make_action=lambda move, value: self._action(proposal=value),
                allowed_words=("propose",),
            )
        if self.phase == PHASE_VOTE:
            labels, first_seats = self._ballot_seats()
            return Choice(
                instruction=(
                    "Vote for the proposal you want as the group norm. End your reply with 'Answer: <proposal>', "
                    f"one of: {', '.join(labels)}."
                ),
                fallback=self._action(vote=me),
                labels=tuple(labels),
                actions=tuple(self._action(vote=seat) for seat in first_seats),
                allowed_words=("vote", "propose"),
            )
        return Amount(
            instruction=(
                "Choose your harvesting effort for this round. End your reply with 'Answer: <effort>', "
                "a number from 0 to 1."
            ),
            fallback=self._action(effort=float(self.last_effort[me])),
            low=0.0,
            high=1.0,
            make_action=lambda move, value: self._action(effort=value),
            allowed_words=("harvest",),
        )

    def display_name(self, agent: str) -> str:
        return self._names[self._seat[agent]]

    # -- helpers --------------------------------------------------------------------------------

    def is_vote_round(self, round_number: int) -> bool:
        return self.voting and (round_number - 1) % self.vote_every == 0

    def _opening_phase(self, round_number: int) -> int:
        return PHASE_PROPOSE if self.is_vote_round(round_number) else PHASE_HARVEST

    def _draw_readings(self) -> None:
        self.readings = noisy_readings(self.stock, self.observation_noise, self._rng, self.n_agents)

    def _proposal_fallback(self, seat: int) -> float:
        if not math.isnan(self.last_proposal[seat]):
            return float(self.last_proposal[seat])
        if self.norm is not None:
            return float(self.norm)
        return self.max_harvest / 2.0

    def _label(self, value: float) -> str:
        return f"{value:.{self.proposal_decimals}f}"

    def _ballot_seats(self) -> tuple[list[str], list[int]]:
        """Option labels (ascending) and, for each, the first seat that proposed it."""
        rounded = np.round(self.proposals, self.proposal_decimals) + 0.0
        options = np.unique(rounded)
        seats = [int(np.flatnonzero(rounded == value)[0]) for value in options]
        return [self._label(v) for v in options], seats

    def _ballot(self) -> tuple[list[str], list[int]]:
        """Option labels and how many members proposed each."""
        rounded = np.round(self.proposals, self.proposal_decimals) + 0.0
        options, counts = np.unique(rounded, return_counts=True)
        return [self._label(v) for v in options], [int(c) for c in counts]

    def _election_line(self) -> str:
        election = self.election
        listed = ", ".join(self._label(v) for v in election.options)
        votes = int(election.counts[election.winner_index])
        return (
            f"This round the group voted on its norm. The proposals were: {listed}. "
            f"{self._label(election.winner)} won with {votes} of {self.n_agents} votes and is now the group norm."
        )

    def _sanction_lines(self, me: int) -> list[str]:
        sanctions = self.last_sanctions
        if sanctions is None:
            return []
        lines = []
        if sanctions.sanctioned[me]:
            times = int(sanctions.times_punished[me])
            lines.append(
                f"You were sanctioned: {'another member' if times == 1 else f'{times} members'} inspected you, found "
                f"your harvest above the group norm and fined you {_fmt(sanctions.fines[me])} units."
            )
        else:
            lines.append("You were not sanctioned last round.")
        target = int(sanctions.targets[me])
        if target >= 0 and self.last_norm_checked is not None:
            if sanctions.punished_target[me]:
                lines.append(
                    f"You inspected {self._names[target]}: their harvest was above the group norm and you "
                    f"punished them, at a cost of {_fmt(sanctions.costs[me])} units to you."
                )
            else:
                was_over = self.last_harvest[target] > self.last_norm_checked + NORM_TOLERANCE
                verdict = "above the group norm, but you did not punish them" if was_over else "within the group norm"
                lines.append(f"You inspected {self._names[target]}: their harvest was {verdict}.")
        return lines

    def _action(self, *, effort: float = 0.0, proposal: float = 0.0, vote: int = 0) -> dict[str, Any]:
        return {
            "effort": np.array([effort], dtype=np.float64),
            "proposal": np.array([proposal], dtype=np.float64),
            "vote": np.int64(vote),
        }

    def _field(self, agent: str, action: Any, key: str) -> Any:
        if isinstance(action, Mapping):
            if key not in action:
                raise ValueError(
                    f"round {self.round} is in its {PHASES[self.phase]} phase: {agent}'s action needs the key "
                    f"{key!r}, got keys {sorted(action)}"
                )
            return action[key]
        return action

    def _number_of(self, agent: str, action: Any, key: str, high: float) -> float:
        value = self._field(agent, action, key)
        array = np.asarray(value)
        if isinstance(value, (str, bool)) or array.dtype.kind not in "iuf" or array.size != 1:
            raise ValueError(
                f"round {self.round} is in its {PHASES[self.phase]} phase: {agent}'s {key} must be one number "
                f"from 0 to {_fmt(high)}, got {value!r:.80}"
            )
        number = float(array.reshape(-1)[0])
        if not (math.isfinite(number) and -1e-9 <= number <= high + 1e-9):
            raise ValueError(f"{agent}'s {key} must be a number from 0 to {_fmt(high)}, got {number!r}")
        return min(max(number, 0.0), high)

    def _effort_of(self, agent: str, action: Any) -> float:
        return self._number_of(agent, action, "effort", 1.0)

    def _proposal_of(self, agent: str, action: Any) -> float:
        return self._number_of(agent, action, "proposal", self.max_harvest)

    def _vote_of(self, agent: str, action: Any) -> int:
        value = self._field(agent, action, "vote")
        array = np.asarray(value)
        if isinstance(value, (str, bool)) or array.dtype.kind not in "iu" or array.size != 1:
            raise ValueError(
                f"round {self.round} is in its vote phase: {agent}'s vote must be a seat index "
                f"from 0 to {self.n_agents - 1} (whose proposal it supports), got {value!r:.80}"
            )
        seat = int(array.reshape(-1)[0])
        if not 0 <= seat < self.n_agents:
            raise ValueError(f"{agent}'s vote must be a seat index from 0 to {self.n_agents - 1}, got {seat}")
        return seat

    def _observations(self) -> dict[str, dict[str, Any]]:
        norm = -1.0 if self.norm is None else self.norm
        if self.phase == PHASE_VOTE and self.agents:
            proposals = self.proposals.astype(np.float64)
        else:
            proposals = np.full(self.n_agents, -1.0)
        observations = {}
        for agent, me in self._seat.items():
            observations[agent] = {
                "round": np.int64(min(self.round, self.n_rounds + 1)),
                "phase": np.int64(self.phase),
                "stock_estimate": np.array([self.readings[me]], dtype=np.float64),
                "own_harvest": np.array([self.last_harvest[me]], dtype=np.float64),
                "group_norm": np.array([norm], dtype=np.float64),
                "sanctioned": np.int64(bool(self.last_sanctions is not None and self.last_sanctions.sanctioned[me])),
                "proposals": proposals.copy(),
                "harvest_rate": np.array([self.harvest_rate], dtype=np.float64),
            }
        return observations

    def _info(self, agent: str, *, round_number: int, phase: str, **values: Any) -> dict[str, Any]:
        me = self._seat[agent]
        info = {
            "round": round_number,
            "phase": phase,
            "round_end": False,
            "stock_before": float(self.stock),
            "stock_after_harvest": float(self.stock),
            "stock": float(self.stock),
            "effort": -1.0,
            "harvest": 0.0,
            "group_norm": -1.0 if self.norm is None else float(self.norm),
            "over_norm": False,
            "inspected": False,
            "sanctioned": False,
            "fine_paid": 0.0,
            "punish_cost_paid": 0.0,
            "punishments_made": 0,
            "proposal": -1.0,
            "vote": -1,
            "voted_norm": -1.0,
            "elected_norm": -1.0,
            "wealth": float(self.wealth[me]),
            "collapsed": bool(self.collapsed),
            "consumption": self.consumption,
            "max_sustainable_yield": max_sustainable_yield(self.growth_rate, self.capacity),
            "collapse_threshold": self.collapse_threshold,
        }
        unknown = set(values) - set(info)
        if unknown:
            raise KeyError(f"unknown info keys {sorted(unknown)}")
        info.update(values)
        return info

    def _render_text(self) -> str:
        norm = "none" if self.norm is None else _fmt(self.norm)
        if self.collapsed:
            status = f"collapsed in round {self.round - 1}"
        elif not self.agents and self.harvests_played:
            status = f"over after {self.n_rounds} rounds"
        else:
            status = f"round {self.round} of {self.n_rounds}, {PHASES[self.phase]} phase"
        lines = [f"Effort CPR: {status}; stock {_fmt(self.stock)} of {_fmt(self.capacity)}; group norm {norm}"]
        if self.harvests_played:
            lines.append("  last harvests: " + ", ".join(_fmt(h) for h in self.last_harvest))
        lines.append("  wealth: " + ", ".join(_fmt(w) for w in self.wealth))
        return "\n".join(lines)
