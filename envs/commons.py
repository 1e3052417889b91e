"""GovSim commons — ``dilemmazoo/commons-v0``.

Source: Piatti et al., "Cooperate or Collapse: Emergence of Sustainable Cooperation in a
Society of LLM Agents" (NeurIPS 2024; giorgiopiatti/GovSim). Written from the paper's
description (see ../shared/specs/commons.md), not from its code.

The game (paper defaults)
-------------------------
``n_agents=5`` players share one renewable resource whose stock starts at ``initial_stock=100``
units, with ``capacity=100``. The game lasts ``n_months=12`` months. A month is:

1. **harvest** (one step): every present player privately asks for a whole number of units.
   If the requests fit in the stock each gets its request; otherwise the stock is handed out
   at random, unit by unit (:func:`allocate`; the spec's rule, seeded by ``reset``), or with
   ``allocation="proportional"`` in proportion to the requests (largest remainders). The reward is the units granted. If the stock
   left is below ``collapse_threshold=5`` the resource **collapses** and the episode ends at
   once (survival time m = that month).
2. **talk** (``max_utterances=10`` steps, only when ``communication=True``): a moderator line
   reports everyone's catch and the stock left, then one player speaks per step, in turn over
   the present players, starting with a different player each month (month m starts with the
   ``(m - 1) mod n_present``-th present seat). A message is at most ``max_message_chars=500``
   characters.
3. at the end of the month (the last talk step, or the harvest step without talk) the stock
   regrows (:func:`regrow`); after month ``n_months`` the episode ends.

Regrowth (``regrowth=``): ``"doubling"`` (the paper's), ``min(capacity, 2 * stock)``; or
``"logistic"``, ``stock + r * stock * (1 - stock / capacity)`` with ``r = growth_rate=0.5``,
rounded down to a whole unit and capped at ``capacity`` (the stock is always a whole number).

Sustainability threshold (the paper's f(t)): the largest whole ``x`` the group can take from
the stock ``h`` so that the stock regrows to at least ``h`` (:func:`sustainable_total`;
``h // 2`` under doubling, 50 at full stock). The per-agent threshold shown to the players is
``f(t) // n_present`` (:func:`per_agent_threshold`; 10 at full stock with 5 players).

Arguments
---------
``n_agents=5`` (>= 2), ``n_months=12``, ``initial_stock=100``, ``capacity=100``,
``collapse_threshold=5`` (a number; ``initial_stock`` must not be below it),
``communication=True`` (False: the no-communication ablation), ``max_utterances=10``,
``framing="fishery"`` | ``"pasture"`` | ``"pollution"``, ``universalization=False``,
``newcomer_month=None`` (or a month ``2..n_months``), ``regrowth="doubling"`` | ``"logistic"``,
``growth_rate=0.5`` (logistic ``r``, in ``(0, 1]`` so regrowth never shrinks a stock),
``max_message_chars=500``, ``allocation="random_units"`` | ``"proportional"`` (when the requests
exceed the stock), ``render_mode=None`` | ``"ansi"`` | ``"human"``. Bad values raise a
``ValueError`` naming the argument.

Reset options: ``names`` (``{seat: display name}``, all seats, distinct; default the paper's
personas John, Kate, Jack, Emma, Luke, then "Player 6", ...). Other keys are ignored.

Variants
--------
- **Framings** change words only: fishery (fishermen, a lake, tons of fish), pasture
  (shepherds, a pasture, hectares of grass; one sheep eats one hectare a month), pollution
  (factory owners, a river, % unpolluted water; one pallet of widgets pollutes 1%).
- **Universalization**: harvest descriptions add the hint that if everyone takes more than
  the per-agent threshold, the resource will be smaller next month.
- **No communication**: no talk steps; a month is one step (12 steps in all).
- **Newcomer** (``newcomer_month=k``, the paper's greedy newcomer joins in month 4): the last
  seat is absent before month k: it does not decide, harvests 0, is not in the talk and is not
  counted in the per-agent threshold. Its rules say it joins in month k; the others' rules
  count only the players there from the start, and they are told in month k that a newcomer
  joined.

Agents, actions, observations
-----------------------------
Seats ``player_0 .. player_{n-1}``. Harvest steps: the present players decide
(``deciders()``). Talk steps: only the speaker decides. The others get ``idle_action`` (no
harvest, empty message), which the world ignores; their actions are not required.

Action: one fixed ``Dict(harvest=Discrete(capacity + 1), message=Box(0, 0x10FFFF,
(max_message_chars,), int32))``; the message is Unicode code points padded with 0
(:func:`~dilemmazoo.envs.messages.encode_message`). Only the key the phase needs is read;
``step`` also accepts an ``int`` (harvest) or a ``str`` (message), or a dict with only that
key. A request above the current stock is allowed (it triggers the random allocation); a
message in a harvest step, a harvest in a talk step, or an over-long message is a
``ValueError``.

Observation: ``Dict`` of ``month`` (Discrete(n_months + 2), 1-based, ``n_months + 1`` once
the last month is over; the month of the collapse after one), ``phase`` (Discrete(2): 0
harvest, 1 talk), ``stock`` (Discrete(capacity + 1), now), ``threshold`` (the per-agent
threshold of the month under way: of the current stock in a harvest step, of the stock
before this month's harvest in a talk step), ``last_threshold`` and ``last_harvests`` (the
per-agent threshold and everyone's catches, units granted, of the most recent harvest step;
-1 before any, and -1 for a seat absent then), ``present`` (MultiBinary(n_agents): who
takes part this month) and ``speaking`` (Discrete(2)).

Language view: ``rules`` tells the framing, the mechanics, the regrowth, the collapse
threshold, the number of months, the allocation rule and the talk. ``describe`` for a
harvest step shows the month, the stock, the per-agent sustainable threshold, last month's
catches of everyone (and the universalization hint); for a talk step the moderator line and
the conversation of this month so far. Nothing hidden: catches are public after each harvest.
``action_spec``: an :class:`~dilemmazoo.envs.base.Amount` of whole units from 0 to the
current stock (answer grammar: exactly one whole number after the last ``Answer:``, words
beside it not read, "harvest" allowed; a negation, another world's move word, two numbers, a
fraction or a percentage is invalid); the speaker a :class:`~dilemmazoo.envs.messages.BoundedMessage` (an
over-long message is an ``ActionParseError``, never truncated); anyone else a one-option
"Wait" :class:`~dilemmazoo.envs.base.Choice`.

Fallbacks (for answers that never parse; the runner counts every use): a harvest of the
player's previous request (capped at the current stock), or the per-agent threshold in its
first month. Not 0: GovSim turns an unparseable answer into a harvest of 0, which inflates the
sustainability being measured (STYLE.md); repeating the player's own last choice is the
least informative guess. A message fallback is the empty message.

Rewards: units granted in the harvest step, 0 in talk steps. All players terminate together.

Infos (every step, every agent, the same keys; scalars, never NaN): ``round`` (month of the
step, 0 at reset), ``phase`` ("harvest" | "talk"; "harvest" at reset), ``round_end`` (this
step ended the month: the regrowth step, or a collapse), ``stock_before`` (stock at the start
of this month's harvest), ``stock_after_harvest``, ``stock`` (now: after regrowth when
``round_end``, else after the harvest; no regrowth after a collapse), ``sustainable_total``
(f(t) of ``stock_before``), ``threshold`` (per-agent threshold of the month), ``requested``
(-1 outside the harvest step or when absent), ``harvest`` (float, granted this step, 0.0
otherwise), ``present``, ``collapsed``, ``collapse_threshold`` (float), ``n_present``,
``speaker`` (bool), ``message`` (what this agent said this step, "" if nothing). Infos go to
the records, never to the players.

Version history
---------------
- v0: first version. Over-demand was always shared unit by unit at random (the spec's rule; an
  earlier note saying "in proportion" described the expectation, not the draw); the
  ``allocation="proportional"`` option was added later without changing the default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionParseError, ActionSpec, Amount, Choice, LanguageWorld, whole_number_action
from dilemmazoo.envs.checks import check_bool, check_choice, check_int, check_real
from dilemmazoo.envs.messages import BoundedMessage, encode_message, message_space, read_message

__all__ = [
    "DEFAULT_NAMES",
    "FRAMINGS",
    "ALLOCATION_RULES",
    "REGROWTH_MODELS",
    "CommonsEnv",
    "Framing",
    "allocate",
    "per_agent_threshold",
    "regrow",
    "sustainable_total",
]

REGROWTH_MODELS = ("doubling", "logistic")
ALLOCATION_RULES = ("random_units", "proportional")
PHASE_HARVEST, PHASE_TALK = 0, 1
PHASE_NAMES = ("harvest", "talk")
# The personas of the paper's five agents; more seats are numbered.
DEFAULT_NAMES = ("John", "Kate", "Jack", "Emma", "Luke")


# ---------------------------------------------------------------------------------------------
# Pure mechanics
# ---------------------------------------------------------------------------------------------


def regrow(stock: int, *, regrowth: str = "doubling", capacity: int = 100, growth_rate: float = 0.5) -> int:
    """The stock after one month's regrowth, a whole number never above ``capacity``.

    doubling (GovSim): ``min(capacity, 2 * stock)``. logistic: ``stock + r * stock * (1 -
    stock / capacity)`` rounded down, capped at ``capacity``; a tolerance of 1e-9 absorbs float
    round-off, so a growth that is whole in exact arithmetic is never rounded down to the
    number below.
    """
    if stock < 0:
        raise ValueError(f"stock must be non-negative, got {stock}")
    if regrowth == "doubling":
        return int(min(capacity, 2 * stock))
    if regrowth == "logistic":
        grown = stock + growth_rate * stock * (1 - stock / capacity)
        return int(min(capacity, math.floor(grown + 1e-9)))
    raise ValueError(f"regrowth must be one of {REGROWTH_MODELS}, got {regrowth!r}")


def sustainable_total(stock: int, *, regrowth: str = "doubling", capacity: int = 100, growth_rate: float = 0.5) -> int:
    """GovSim's f(t): the largest whole ``x`` in ``[0, stock]`` with ``regrow(stock - x) >= stock``.

    The group may take ``x`` and the stock is back at least where it was next month.
    Doubling: ``stock // 2`` (100 -> 50). Logistic at full capacity: 0 (no growth there).
    """
    for x in range(int(stock), 0, -1):
        if regrow(stock - x, regrowth=regrowth, capacity=capacity, growth_rate=growth_rate) >= stock:
            return x
    return 0


def per_agent_threshold(
    stock: int, n_present: int, *, regrowth: str = "doubling", capacity: int = 100, growth_rate: float = 0.5
) -> int:
    """The per-agent threshold shown to the players: ``sustainable_total(stock) // n_present``
    (10 at full stock with 5 players)."""
    if n_present < 1:
        raise ValueError(f"n_present must be at least 1, got {n_present}")
    return sustainable_total(stock, regrowth=regrowth, capacity=capacity, growth_rate=growth_rate) // n_present


def allocate(
    requests: Sequence[int], stock: int, rng: np.random.Generator, rule: str = "random_units"
) -> np.ndarray:
    """Units granted per request (int64 array).

    If ``sum(requests) <= stock`` every request is granted in full and ``rng`` is not used.
    Otherwise the whole stock is taken, shared by ``rule``:

    - ``"random_units"`` (GovSim's, the default): every requested unit is tagged with its
      requester, the tags are put in the order of ``rng.permutation`` (one call over all
      ``sum(requests)`` tags, in seat order before shuffling) and the first ``stock`` units are
      granted: unit by unit at random, so each requester expects ``stock * request / sum(requests)``;
    - ``"proportional"``: each gets ``floor(stock * request / sum(requests))`` and the units
      left go one each to the largest remainders (Hamilton's method), ties to the lower seat;
      ``rng`` is not used.
    """
    if rule not in ALLOCATION_RULES:
        raise ValueError(f"rule must be one of {list(ALLOCATION_RULES)}, got {rule!r}")
    raw = np.asarray(requests).reshape(-1)
    if raw.size and raw.dtype.kind not in "iu":
        raise ValueError(f"requests must be whole numbers, got {raw.tolist()}")
    wanted = raw.astype(np.int64)
    if wanted.size and wanted.min() < 0:
        raise ValueError(f"requests must be non-negative, got {wanted.tolist()}")
    if stock < 0:
        raise ValueError(f"stock must be non-negative, got {stock}")
    if int(wanted.sum()) <= stock:
        return wanted.copy()
    if rule == "proportional":
        total = int(wanted.sum())
        exact = wanted * int(stock)  # integer arithmetic: shares are exact fractions of total
        granted = exact // total
        left = int(stock) - int(granted.sum())
        # Largest remainder first; a stable sort keeps the lower seat first among ties.
        order = np.argsort(-(exact % total), kind="stable")
        granted[order[:left]] += 1
        return granted.astype(np.int64)
    tags = np.repeat(np.arange(wanted.size), wanted)
    granted_tags = tags[rng.permutation(tags.size)][: int(stock)]
    return np.bincount(granted_tags, minlength=wanted.size).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Framings: the same game in three wordings (GovSim's three scenarios)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Framing:
    """The words of one scenario. Templates take ``{n}`` (a number of units) and ``{who}``."""

    role: str  # one player
    roles: str  # several players
    place: str
    at_place: str  # where the players are: "at the lake"
    stock: str  # an amount of the resource: "{n} tons of fish"
    stock_line: str  # the stock as a sentence
    took: str  # "{who} caught {n} tons of fish"
    at_most: str  # "catch at most {n} tons of fish"
    more_than: str  # "caught more than {n} tons of fish"
    decision: str  # what each player decides
    income: str  # what one unit of income is paid for
    question: str
    unit_note: str  # how one unit of harvest maps to the resource
    regrows: str  # what happens at the end of a month
    collapses: str

    def level(self, n: Any) -> str:
        return self.stock.format(n=n)


FRAMINGS: dict[str, Framing] = {
    "fishery": Framing(
        role="fisherman",
        roles="fishermen",
        place="the lake",
        at_place="at the lake",
        stock="{n} tons of fish",
        stock_line="There are {n} tons of fish in the lake.",
        took="{who} caught {n} tons of fish",
        at_most="catch at most {n} tons of fish",
        more_than="caught more than {n} tons of fish",
        decision="how many tons of fish to catch",
        income="each ton of fish you catch",
        question="How many tons of fish do you catch this month?",
        unit_note="Fish are caught by the ton.",
        regrows="the fish left in the lake reproduce",
        collapses="the fish population collapses",
    ),
    "pasture": Framing(
        role="shepherd",
        roles="shepherds",
        place="the pasture",
        at_place="on the pasture",
        stock="{n} hectares of grass",
        stock_line="There are {n} hectares of grass on the pasture.",
        took="{who} sent {n} sheep to graze",
        at_most="send at most {n} sheep to graze",
        more_than="sent more than {n} sheep to graze",
        decision="how many sheep to send to graze on the pasture",
        income="each sheep you send to graze",
        question="How many sheep do you send to graze on the pasture this month?",
        unit_note="Each sheep eats 1 hectare of grass in a month.",
        regrows="the grass left on the pasture grows back",
        collapses="the pasture is ruined",
    ),
    "pollution": Framing(
        role="factory owner",
        roles="factory owners",
        place="the river",
        at_place="on the river",
        stock="{n}% unpolluted water",
        stock_line="{n}% of the river's water is unpolluted.",
        took="{who} produced {n} pallets of widgets",
        at_most="produce at most {n} pallets of widgets",
        more_than="produced more than {n} pallets of widgets",
        decision="how many pallets of widgets to produce",
        income="each pallet of widgets you produce",
        question="How many pallets of widgets do you produce this month?",
        unit_note="Producing 1 pallet of widgets pollutes 1% of the river's water.",
        regrows="the river cleans itself",
        collapses="the river is ruined for good",
    ),
}


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------


class CommonsEnv(LanguageWorld):
    """Harvest a shared, regrowing resource month by month, and talk (GovSim, Piatti et al. 2024)."""

    metadata = {"render_modes": ["ansi", "human"], "name": "commons_v0", "is_parallelizable": True}

    def __init__(
        self,
        n_agents: int = 5,
        n_months: int = 12,
        initial_stock: int = 100,
        capacity: int = 100,
        collapse_threshold: float = 5,
        communication: bool = True,
        max_utterances: int = 10,
        framing: str = "fishery",
        universalization: bool = False,
        newcomer_month: int | None = None,
        regrowth: str = "doubling",
        growth_rate: float = 0.5,
        max_message_chars: int = 500,
        allocation: str = "random_units",
        render_mode: str | None = None,
    ):
        self.n_agents = check_int("n_agents", n_agents, 2)
        self.n_months = check_int("n_months", n_months, 1)
        self.capacity = check_int("capacity", capacity, 1)
        self.initial_stock = check_int("initial_stock", initial_stock, 0)
        if self.initial_stock > self.capacity:
            raise ValueError(f"initial_stock must be at most capacity ({self.capacity}), got {initial_stock}")
        if (
            isinstance(collapse_threshold, bool)
            or not isinstance(collapse_threshold, Real)
            or not math.isfinite(collapse_threshold)
            or collapse_threshold < 0
        ):
            raise ValueError(f"collapse_threshold must be a finite non-negative number, got {collapse_threshold!r}")
        if collapse_threshold > self.initial_stock:
            raise ValueError(
                f"collapse_threshold must be at most initial_stock ({self.initial_stock}), got {collapse_threshold}: "
                "the resource would collapse in month 1 whatever the players do"
            )
        self.collapse_threshold = float(collapse_threshold)
        self.communication = check_bool("communication", communication)
        self.max_utterances = check_int("max_utterances", max_utterances, 1)
        self.framing = check_choice("framing", framing, tuple(FRAMINGS))
        self.words = FRAMINGS[self.framing]
        self.universalization = check_bool("universalization", universalization)
        if newcomer_month is not None and (
            isinstance(newcomer_month, bool)
            or not isinstance(newcomer_month, Integral)
            or not 2 <= newcomer_month <= self.n_months
        ):
            raise ValueError(f"newcomer_month must be None or an integer from 2 to n_months ({self.n_months}), got {newcomer_month!r}")
        self.newcomer_month = None if newcomer_month is None else int(newcomer_month)
        self.regrowth = check_choice("regrowth", regrowth, REGROWTH_MODELS)
        self.growth_rate = check_real("growth_rate", growth_rate, low=0.0, high=1.0, low_open=True)
        self.max_message_chars = check_int("max_message_chars", max_message_chars, 1)
        self.allocation = check_choice("allocation", allocation, ALLOCATION_RULES)
        self.render_mode = self._checked_render_mode(render_mode)

        self.possible_agents = [f"player_{i}" for i in range(self.n_agents)]
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        message_box = message_space(self.max_message_chars)
        self._action_spaces = {
            agent: spaces.Dict({"harvest": spaces.Discrete(self.capacity + 1), "message": message_box})
            for agent in self.possible_agents
        }
        self._observation_spaces = {
            agent: spaces.Dict(
                {
                    "month": spaces.Discrete(self.n_months + 2),
                    "phase": spaces.Discrete(2),
                    "stock": spaces.Discrete(self.capacity + 1),
                    "threshold": spaces.Discrete(self.capacity + 1),
                    "last_threshold": spaces.Discrete(self.capacity + 2, start=-1),
                    "last_harvests": spaces.Box(-1, self.capacity, (self.n_agents,), np.int64),
                    "present": spaces.MultiBinary(self.n_agents),
                    "speaking": spaces.Discrete(2),
                }
            )
            for agent in self.possible_agents
        }
        self._rng: np.random.Generator | None = None
        self._names = self._default_names()
        self._reset_state()

    def _reset_state(self) -> None:
        self.month = 1
        self.phase = PHASE_HARVEST
        self.stock = self.initial_stock
        self.talk_turn = 0  # utterances made this month
        self.collapsed = False
        self.months: list[dict[str, Any]] = []  # one record per harvested month; the last may be under way
        self.last_request = np.full(self.n_agents, -1, dtype=np.int64)
        self.totals = np.zeros(self.n_agents, dtype=np.int64)

    # -- mechanics bound to this world's parameters ---------------------------------------------

    def _regrowth_kwargs(self) -> dict[str, Any]:
        return {"regrowth": self.regrowth, "capacity": self.capacity, "growth_rate": self.growth_rate}

    def present_seats(self, month: int | None = None) -> list[int]:
        """Seats taking part in ``month`` (default: the month under way)."""
        month = min(self.month if month is None else month, self.n_months)
        if self.newcomer_month is not None and month < self.newcomer_month:
            return list(range(self.n_agents - 1))
        return list(range(self.n_agents))

    def threshold(self) -> int:
        """The per-agent threshold of the month under way."""
        if self.phase == PHASE_TALK:
            return self.months[-1]["threshold"]
        return per_agent_threshold(self.stock, len(self.present_seats()), **self._regrowth_kwargs())

    def talk_order(self, month: int | None = None) -> list[int]:
        """Speaking order of ``month``: the present seats, rotated by ``month - 1``."""
        month = self.month if month is None else month
        present = self.present_seats(month)
        start = (month - 1) % len(present)
        return present[start:] + present[:start]

    def speaker_seat(self) -> int | None:
        if not self.agents or self.phase != PHASE_TALK:
            return None
        order = self.talk_order()
        return order[self.talk_turn % len(order)]

    # -- PettingZoo API -------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None):
        names = self._names_from((options or {}).get("names"), self._default_names())
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self._names = names
        self._reset_state()
        self.agents = list(self.possible_agents)
        kwargs = self._regrowth_kwargs()
        present = self.present_seats()
        start = {
            "round": 0,
            "phase": "harvest",
            "round_end": False,
            "stock_before": self.stock,
            "stock_after_harvest": self.stock,
            "stock": self.stock,
            "sustainable_total": sustainable_total(self.stock, **kwargs),
            "threshold": self.threshold(),
            "requested": -1,
            "harvest": 0.0,
            "present": True,
            "collapsed": False,
            "collapse_threshold": self.collapse_threshold,
            "n_present": len(present),
            "speaker": False,
            "message": "",
        }
        infos = {a: {**start, "present": self._seat[a] in present} for a in self.agents}
        return self._observations(), infos

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        for agent in self.deciders():
            if agent not in actions:
                raise ValueError(f"{agent} must decide in this step (month {self.month}, {PHASE_NAMES[self.phase]})")
        live, played, phase = list(self.agents), self.month, self.phase
        present = self.present_seats()
        rewards = dict.fromkeys(live, 0.0)
        requested = [-1] * self.n_agents
        granted = np.zeros(self.n_agents, dtype=np.int64)
        speaker, said = None, ""
        if phase == PHASE_HARVEST:
            for seat in present:
                agent = self.possible_agents[seat]
                requested[seat] = self._harvest_of(agent, actions[agent])
            stock_before = self.stock
            granted = allocate([max(r, 0) for r in requested], stock_before, self._rng, self.allocation)
            self.stock = stock_before - int(granted.sum())
            self.totals += granted
            for seat in present:
                self.last_request[seat] = requested[seat]
            kwargs = self._regrowth_kwargs()
            record = {
                "month": played,
                "present": tuple(present),
                "stock_before": stock_before,
                "sustainable_total": sustainable_total(stock_before, **kwargs),
                "threshold": per_agent_threshold(stock_before, len(present), **kwargs),
                "requests": tuple(requested),
                "catches": tuple(int(g) for g in granted),
                "stock_after_harvest": self.stock,
                "stock_after_regrowth": -1,
                "conversation": [],
            }
            self.months.append(record)
            rewards = {a: float(granted[self._seat[a]]) for a in live}
            if self.stock < self.collapse_threshold:
                self.collapsed = True
                round_end, done = True, True
            elif self.communication:
                self.phase, self.talk_turn = PHASE_TALK, 0
                record["conversation"].append((None, self._moderator_line(record)))
                round_end, done = False, False
            else:
                round_end, done = True, self._end_month()
        else:
            speaker = self.speaker_seat()
            agent = self.possible_agents[speaker]
            said = self._message_of(agent, actions[agent])
            record = self.months[-1]
            record["conversation"].append((speaker, said))
            self.talk_turn += 1
            round_end = self.talk_turn >= self.max_utterances
            done = self._end_month() if round_end else False
        infos = {}
        for agent in live:
            seat = self._seat[agent]
            infos[agent] = {
                "round": played,
                "phase": PHASE_NAMES[phase],
                "round_end": round_end,
                "stock_before": record["stock_before"],
                "stock_after_harvest": record["stock_after_harvest"],
                "stock": self.stock,
                "sustainable_total": record["sustainable_total"],
                "threshold": record["threshold"],
                "requested": requested[seat],
                "harvest": float(granted[seat]),
                "present": seat in present,
                "collapsed": self.collapsed,
                "collapse_threshold": self.collapse_threshold,
                "n_present": len(present),
                "speaker": seat == speaker,
                "message": said if seat == speaker else "",
            }
        return self._end_step(live, done, rewards, infos)

    def _end_month(self) -> bool:
        """Regrow, move to the next month; whether the game is over."""
        self.stock = regrow(self.stock, **self._regrowth_kwargs())
        self.months[-1]["stock_after_regrowth"] = self.stock
        self.month += 1
        self.phase, self.talk_turn = PHASE_HARVEST, 0
        return self.month > self.n_months

    # -- turn-taking ----------------------------------------------------------------------------

    def deciders(self) -> list[str]:
        if not self.agents:
            return []
        if self.phase == PHASE_TALK:
            return [self.possible_agents[self.speaker_seat()]]
        return [self.possible_agents[seat] for seat in self.present_seats()]

    def idle_action(self, agent: str) -> dict[str, Any]:
        return self._action(harvest=0, message="")

    def display_name(self, agent: str) -> str:
        return self._names[self._seat[agent]]

    # -- language view --------------------------------------------------------------------------

    def rules(self, agent: str) -> str:
        w, seat = self.words, self._seat[agent]
        has_newcomer = self.newcomer_month is not None
        newcomer = has_newcomer and seat == self.n_agents - 1
        # The others are not told in advance that a newcomer will come (they learn it in its month).
        others = self.n_agents - 2 if has_newcomer and not newcomer else self.n_agents - 1
        lines = [
            f"You are {self._names[seat]}, a {w.role}. You and {others} other {w.roles} share {w.place}. "
            f"{w.stock_line.format(n=self.initial_stock)} There can never be more than {w.level(self.capacity)}.",
            f"The game lasts {self.n_months} months. Each month, every {w.role} decides in private {w.decision}, "
            f"a whole number. {w.unit_note} You earn one unit of income for {w.income}.",
            "If together you ask for no more than there is, everyone gets what they asked for. If you ask for more, "
            + (
                "what there is gets handed out one unit at a time in random order among all the units asked for, "
                "so each gets about a share in proportion to their request, and nothing is left."
                if self.allocation == "random_units"
                else "what there is gets shared in proportion to the requests, in whole units, and nothing is left."
            ),
            f"After each month's decisions everyone learns how much each {w.role} took.",
            self._regrowth_rule(),
            f"If after a month's decisions less than {w.level(self._collapse_level())} is left, {w.collapses}: "
            "the game ends at once and nobody earns anything more.",
            "Each month you are told the most each of you can take so that the resource grows back to its "
            "current size by next month (the sustainable amount, shared equally).",
        ]
        if self.communication:
            lines.append(
                f"After the decisions, all {w.roles} meet to talk: a moderator reports what everyone took, then "
                f"{self.max_utterances} messages are spoken in turn (at most {self.max_message_chars} characters each)."
            )
        else:
            lines.append(f"The {w.roles} cannot talk to each other.")
        if newcomer:
            lines.append(
                f"You are new here: you join in month {self.newcomer_month}. Before that the other "
                f"{w.roles} work {w.at_place} without you."
            )
        lines.append(f"Your goal is to earn as much as possible over the {self.n_months} months.")
        return "\n".join(lines)

    def describe(self, agent: str) -> str:
        w, seat = self.words, self._seat[agent]
        if not self.agents:
            if not self.months:
                return "The game has not started."
            if self.collapsed:
                return (
                    f"The game is over: in month {self.months[-1]['month']} {w.collapses}. "
                    f"You earned {int(self.totals[seat])} units of income in all."
                )
            return f"The game is over after {self.n_months} months. You earned {int(self.totals[seat])} units of income in all."
        lines = [f"It is month {self.month} of {self.n_months}. You are {self._names[seat]}."]
        present = self.present_seats()
        if seat not in present:
            lines.append(f"You have not arrived yet: you join the other {w.roles} {w.at_place} in month {self.newcomer_month}.")
            return "\n".join(lines)
        if self.phase == PHASE_TALK:
            return "\n".join(lines + self._talk_lines(seat))
        if self.newcomer_month is not None and self.month == self.newcomer_month:
            newcomer = self.n_agents - 1
            if seat == newcomer:
                lines.append(f"This is your first month {w.at_place}.")
            else:
                lines.append(f"A newcomer, {self._names[newcomer]}, has joined you {w.at_place} this month.")
        if self.months:
            last = self.months[-1]
            catches = ", ".join(
                w.took.format(who="you" if s == seat else self._names[s], n=last["catches"][s]) for s in last["present"]
            )
            lines.append(f"Last month {catches}.")
            lines.append(
                f"That left {w.level(last['stock_after_harvest'])}, which grew back to {w.level(last['stock_after_regrowth'])}."
            )
        lines.append(w.stock_line.format(n=self.stock))
        threshold = self.threshold()
        lines.append(
            f"To leave enough for the resource to grow back to its current size, each of the {len(present)} "
            f"{w.roles} should {w.at_most.format(n=threshold)} this month."
        )
        if self.universalization:
            lines.append(
                f"Think about this: if every {w.role} {w.more_than.format(n=threshold)} this month, "
                f"there would be less next month than there is now."
            )
        lines.append(f"So far you have earned {int(self.totals[seat])} units of income.")
        return "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        seat = self._seat[agent]
        if agent not in self.deciders():
            return Choice(
                instruction="Someone else decides now; there is nothing for you to decide.",
                fallback=self.idle_action(agent),
                labels=("Wait",),
                actions=(self.idle_action(agent),),
            )
        if self.phase == PHASE_TALK:
            return BoundedMessage(
                instruction=(
                    f"Say something to the other {self.words.roles} (at most {self.max_message_chars} characters), "
                    "as 'Answer: <message>'."
                ),
                fallback=self.idle_action(agent),
                max_chars=self.max_message_chars,
                make_action=lambda text: self._action(harvest=0, message=text),
            )
        previous = int(self.last_request[seat])
        fallback = self.threshold() if previous < 0 else min(previous, self.stock)
        return Amount(
            instruction=(
                f"{self.words.question} End your reply with 'Answer: <number>', a whole number from 0 to {self.stock}."
            ),
            fallback=self._action(harvest=fallback, message=""),
            low=0.0,
            high=float(self.stock),
            make_action=whole_number_action(lambda units: self._action(harvest=units, message=""),
                                            f"Answer with a whole number from 0 to {self.stock}, got {{value:g}}."),
            allowed_words=("harvest",),
        )

    def _regrowth_rule(self) -> str:
        w = self.words
        cap = w.level(self.capacity)
        if self.regrowth == "doubling":
            how = f"what is left doubles, up to at most {cap}"
        else:
            how = (
                f"what is left, s, grows by {self.growth_rate:g} x s x (1 - s / {self.capacity}), rounded down "
                f"to a whole unit, up to at most {cap}"
            )
        return f"At the end of each month {w.regrows}: {how}."

    def _collapse_level(self) -> Any:
        value = self.collapse_threshold
        return int(value) if value == int(value) else f"{value:g}"

    def _moderator_line(self, record: dict[str, Any]) -> str:
        w = self.words
        catches = ", ".join(w.took.format(who=self._names[s], n=record["catches"][s]) for s in record["present"])
        return f"Moderator: this month {catches}. {w.stock_line.format(n=record['stock_after_harvest'])}"

    def _talk_lines(self, seat: int) -> list[str]:
        w = self.words
        lines = [f"The {w.roles} meet to talk about this month."]
        for who, text in self.months[-1]["conversation"]:
            if who is None:
                lines.append(text)
                continue
            name = "You" if who == seat else self._names[who]
            lines.append(f"{name}: {text}" if text else f"{name} said nothing.")
        speaker = self.speaker_seat()
        left = self.max_utterances - self.talk_turn
        if speaker == seat:
            lines.append(f"It is your turn to speak ({left} message(s) left this month).")
        else:
            lines.append(f"{self._names[speaker]} is speaking now; wait ({left} message(s) left this month).")
        return lines

    # -- helpers --------------------------------------------------------------------------------

    def _default_names(self) -> list[str]:
        return [DEFAULT_NAMES[i] if i < len(DEFAULT_NAMES) else f"Player {i + 1}" for i in range(self.n_agents)]

    def _action(self, *, harvest: int, message: str) -> dict[str, Any]:
        return {"harvest": np.int64(harvest), "message": encode_message(message, self.max_message_chars)}

    def _harvest_of(self, agent: str, action: Any) -> int:
        if isinstance(action, str) or (isinstance(action, Mapping) and "harvest" not in action):
            raise ValueError(
                f"month {self.month} is in its harvest step: {agent} must ask for units "
                f"({{'harvest': int}} or an int), not send a message; the talk comes after the harvest"
            )
        value = action["harvest"] if isinstance(action, Mapping) else action
        array = np.asarray(value)
        if array.shape != () or array.dtype.kind not in "iu" or not 0 <= int(array) <= self.capacity:
            raise ValueError(f"{agent}'s harvest must be an integer from 0 to {self.capacity}, got {value!r}")
        return int(array)

    def _message_of(self, agent: str, action: Any) -> str:
        if isinstance(action, str):
            return read_message(agent, action, self.max_message_chars)
        if not isinstance(action, Mapping) or "message" not in action:
            raise ValueError(
                f"month {self.month} is in its talk step and {agent} speaks: send a message "
                f"({{'message': codes}} or a str), not {action!r:.80}"
            )
        return read_message(agent, action["message"], self.max_message_chars)

    def _observations(self) -> dict[str, dict[str, Any]]:
        last = self.months[-1] if self.months else None
        last_harvests = np.full(self.n_agents, -1, dtype=np.int64)
        if last is not None:
            for seat in last["present"]:
                last_harvests[seat] = last["catches"][seat]
        present = np.zeros(self.n_agents, dtype=np.int8)
        present[self.present_seats()] = 1
        speaker = self.speaker_seat()
        common = {
            "month": np.int64(min(self.month, self.n_months + 1)),
            "phase": np.int64(self.phase),
            "stock": np.int64(self.stock),
            "threshold": np.int64(self.threshold()),
            "last_threshold": np.int64(-1 if last is None else last["threshold"]),
        }
        return {
            agent: {
                **common,
                "last_harvests": last_harvests.copy(),
                "present": present.copy(),
                "speaking": np.int64(speaker == seat),
            }
            for agent, seat in self._seat.items()
        }

    def _render_text(self) -> str:
        w = self.words
        if self.collapsed:
            status = f"collapsed in month {self.months[-1]['month']}"
        elif self.month > self.n_months:
            status = f"all {self.n_months} months played"
        else:
            status = f"month {self.month} of {self.n_months}, {PHASE_NAMES[self.phase]}"
        lines = [f"GovSim commons ({self.framing}): {status}; stock {w.level(self.stock)}"]
        if self.months:
            last = self.months[-1]
            lines.append("  last catches: " + ", ".join(f"{self._names[s]} {last['catches'][s]}" for s in last["present"]))
        lines.append("  totals: " + ", ".join(f"{name} {int(t)}" for name, t in zip(self._names, self.totals)))
        return "\n".join(lines)
