"""Repetition and reputation: any world played round after round, with a window of history.

Source: Tewolde, Zhang, Guzman Piedrahita, Conitzer, Jin, "CoopEval" (arXiv 2604.15267, ICML
2026), reference code Xiao215/CoopEval at commit 8559e85: ``mechanisms/repetition.py``,
``mechanisms/reputation.py``, ``utils/match_scheduler_reputation.py``,
``configs/mechanisms/{repetition,reputation,reputation_first_order}.yaml`` and
``ranking_evaluations/payoffs_base.py``. What carries over from there (facts, not code):

- **Repetition** (``num_rounds 15, discount 0.8, lookup_depth 3``): the same co-players play the
  stage game 15 times. Each prompt says that after each round another follows with 80%
  probability and how many rounds were played already, and shows this matchup's last 3 rounds,
  newest first: the own sampled action ("You") and each other player's, by seat; no payoffs.
- **Reputation** (``15 rounds, d 0.8, lookup_depth 3, max_recursion_depth`` 3 = "Reputation+",
  1 = "Reputation-"): a population with one agent per (type, seat); each round every seat group
  (the agents that play seat k) is shuffled and the i-th members form match i, so everyone plays
  every round with random co-players. Others are named "Agent #u" (CoopEval numbers u from 1),
  with "as Player k" in seat-asymmetric games. Before round r the window is rounds
  ``max(1, r - lookup_depth) .. r - 1``; for oneself and each co-player it lists their rounds in
  the window, newest first, with the round number, their action and points and their
  co-players' actions and points. Depth D > 1 nests under each listed round that round's
  co-players' earlier rounds in the window, recursively, to D levels of rounds. A person
  without rounds in the window gets a "no prior history" line.
- **Score** of a stream of T rounds ``t = 0 .. T-1``: weights ``(1 - d) d^t``, the last round
  ``d^(T-1)`` (the infinite tail); they sum to 1, and ``d = 1`` scores only the last round.

Here
----
A mechanism *round* is one whole episode of the base world: one step of a one-shot stage game
(``repeated-game-v0`` with ``n_rounds=1``, ``public-goods-v0`` with ``n_rounds=1``), or the
whole episode of a multi-step world such as the commons, every copy stepped in lockstep (a copy
whose episode ended waits, its seats idle and paid 0, until every copy has ended). Each round
resets the base world(s) with a seed drawn from the wrapper's generator.

- :class:`Repetition` ``(rounds=15, discount=0.8, horizon="fixed", lookup_depth=3,
  max_rounds=100)``: the base world's seats, the same co-players every round. Its history names
  the co-players by seat, "Player k" (k = base seat + 1, as CoopEval's prompt does), and shows
  no points.
- :class:`Reputation` ``(..., nesting=3, copies=1, seat_roles=None)``: ``copies`` copies of the
  base world, ``copies * N`` seats ``player_0 .. player_{copies*N - 1}`` (N = the base world's
  seats).

**Seat layout (reputation).** Seat ``s`` always plays base seat ``k = s % N`` (of whichever copy
it is matched into), so seat group ``k`` is ``{k, k + N, k + 2N, ..}`` and the seats
``t*N .. t*N + N - 1`` form a contiguous block holding one seat of every group: a tournament
gives type ``t`` that block (``copies`` = the number of types). Every round, before the
base worlds are reset, each group ``k = 0 .. N-1`` in turn is permuted with the world's
generator (``rng.permutation(copies)``) and its ``i``-th member (after the permutation) plays
base seat ``k`` in copy ``i`` = match ``i``. The history calls seat ``s`` "Agent #s" (0-based,
the seat's index; CoopEval counts from 1), whatever the members are named: member names may
carry their type's label, and CoopEval keeps the agents anonymous. Seat ``s``'s display name is
its member name when ``reset(options={"names": ...})`` gives one, else "Agent #s".
``seat_roles`` (None: decided from the base world) adds "as Player k+1" (k = base seat)
everywhere a seat is named; None turns it on for a
:class:`~dilemmazoo.envs.repeated_game.RepeatedGameEnv` whose payoff table is not symmetric
(``payoffs[i, j, 0] != payoffs[j, i, 1]``: CoopEval's trust game) and off for other worlds.

Observations are the base world's (its ``Dict``, unchanged keys) plus ``mechanism_round``
(``Discrete(R + 2)``: the round under way, 1-based; ``R + 1`` once over; R = ``rounds`` or,
with a random horizon, ``max_rounds``), for reputation ``mechanism_match``
(``Discrete(copies)``: the match the seat plays in this round), and, when every base seat acts
with a ``Discrete(n)`` space, ``mechanism_last_actions`` (``Box(-1, n-1, (N,), int64)``: the last
action each base seat of this seat's previous match sent, by base seat, this seat's own at its
base seat; -1 before the first round), so that scripted strategies can answer what their
co-players did last round. Actions, action specs and deciders are the base world's (the seats
that decide in their copy this step). Rewards are the base rewards. ``rules`` is the base
rules plus a paragraph on the mechanism (the continuation probability, what is shown);
``describe`` the base view plus the number of rounds played so far and the history window (the
runner reads ``rules`` once per episode, so what changes by round is in ``describe``).
Every step's infos are the base infos plus ``mechanism_phase`` ("play"),
``mechanism_round`` (the round the step belonged to; 1 at reset) and, for reputation, ``match``.
``reset(options=...)`` passes its options to every base reset; ``names`` (seat -> member name)
go to the base world as they are (repetition) or, per copy, as the names of the seats matched
into it this round (reputation).

An action in the history is its option label (the base world's
:class:`~dilemmazoo.envs.base.Choice`), a number as the worlds print one, a mapping action's
numbers ("harvest 5"), or the action's text; answers to a
:class:`~dilemmazoo.envs.base.Message` (talk) are left out. A multi-step round lists every action
the seat took, in order, repeats folded ("A0, A1 (2 times)"; "nothing" when it took none), and
its points are the round's sum.

Scoring is not done here: the tournament's analysis weighs each seat's per-round payoffs (sum
the rewards of the steps with the same ``mechanism_round``) with :meth:`Repetition.round_weights`
(``(1 - d) d^t`` with tail ``d^(T-1)`` for the fixed horizon, ``1/T`` each for the random one),
which equals ``analysis.evolution.discount_weights`` for the fixed horizon.

Decisions (CoopEval spec, "Decide deliberately")
------------------------------------------------
- **Horizon (5.1).** ``horizon="fixed"`` (the default) plays exactly ``rounds`` rounds and tells
  the players CoopEval's 80% continuation; the tail weight makes the score the expected payoff
  under that continuation when play from the last round on repeats the last round. It is the
  default for comparability with the published numbers (same prompt, same rounds, same
  weights) and because every seat then has the same number of rounds, with less variance than
  a drawn horizon. ``horizon="random"`` draws the number of rounds T from the geometric
  distribution ``P(T = t) = d^(t-1) (1 - d)`` (after each round another follows with probability
  ``discount``), seeded by the world's generator at reset and capped at ``max_rounds``; then
  the rules are true (up to the cap) and every played round weighs the same, ``1/T``.
- **Matcher (5.6).** CoopEval shuffles with Python's global ``random``; here the shuffle uses the
  world's numpy generator seeded at reset, so a seed gives the same matches.
- **Window (5.7).** The window is by global round number; that is correct here because every
  seat plays every round (every copy plays each round).
- Depth 1 ("Reputation-") already lists co-players' actions and points (5.7); the counts of older
  actions that CoopEval can add are off in its configs (``include_prior_distributions: false``)
  and not offered.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionSpec, Choice, LanguageWorld, Message, format_number
from dilemmazoo.envs.checks import check_choice, check_int, check_probability
from dilemmazoo.envs.repeated_game import RepeatedGameEnv
from dilemmazoo.norms.base import Mechanism

__all__ = [
    "HORIZONS",
    "Play",
    "Repetition",
    "Reputation",
    "RoundsWorld",
    "action_text",
    "agent_name",
    "repetition_history",
    "reputation_history",
]

#: ``horizon``: exactly ``rounds`` rounds, or a number drawn from the continuation probability
HORIZONS = ("fixed", "random")
_MECHANISM_KEYS = ("mechanism_round", "mechanism_match", "mechanism_last_actions")


@dataclass(frozen=True)
class Play:
    """One match of one round: who sat at each base seat, what each played, the points each got.

    ``seats``, ``actions`` and ``points`` are indexed by base seat; ``seats`` holds the wrapper's
    seat indices (``u`` of "Agent #u"); ``actions`` the history's text of each seat's actions.
    """

    round: int
    match: int
    seats: tuple[int, ...]
    actions: tuple[str, ...]
    points: tuple[float, ...]


# ---------------------------------------------------------------------------------------------
# The mechanisms
# ---------------------------------------------------------------------------------------------


@dataclass
class _Rounds(Mechanism):
    """The parameters both mechanisms share (see the module docstring)."""

    rounds: int = 15
    discount: float = 0.8
    horizon: str = "fixed"
    lookup_depth: int = 3
    max_rounds: int = 100

    def __post_init__(self) -> None:
        self.rounds = check_int("rounds", self.rounds, 1)
        self.discount = check_probability("discount", self.discount)
        self.horizon = check_choice("horizon", self.horizon, HORIZONS)
        self.lookup_depth = check_int("lookup_depth", self.lookup_depth, 0)
        self.max_rounds = check_int("max_rounds", self.max_rounds, 1)
        if self.horizon == "random" and self.discount >= 1.0:
            raise ValueError(f"discount must be below 1 with horizon 'random' (the game must end), got {self.discount!r}")

    @property
    def round_cap(self) -> int:
        """The most rounds an episode can have: ``rounds``, or ``max_rounds`` with a random horizon."""
        return self.rounds if self.horizon == "fixed" else self.max_rounds

    def draw_rounds(self, rng: np.random.Generator) -> int:
        """The number of rounds of one episode: ``rounds``, or a geometric draw capped at ``max_rounds``."""
        if self.horizon == "fixed":
            return self.rounds
        return int(min(rng.geometric(1.0 - self.discount), self.max_rounds))

    def round_weights(self, n_rounds: int) -> np.ndarray:
        """The weight of each of ``n_rounds`` played rounds in a seat's score; they sum to 1.

        Fixed horizon: ``(1 - d) d^t`` for ``t = 0 .. T-2`` and ``d^(T-1)`` for the last round
        (CoopEval's ``payoffs_base``; ``d = 1`` scores the last round only). Random horizon:
        ``1 / T`` each (the stopping already did the discounting).
        """
        n = check_int("n_rounds", n_rounds, 1)
        if self.horizon == "random":
            return np.full(n, 1.0 / n)
        weights = (1.0 - self.discount) * self.discount ** np.arange(n, dtype=np.float64)
        weights[-1] = self.discount ** (n - 1)
        return weights

    def _check_world(self, world: Any) -> None:
        if not isinstance(world, LanguageWorld):
            raise ValueError(f"{self.name} wraps a LanguageWorld, got {type(world).__name__}")
        for agent in world.possible_agents:
            space = world.observation_space(agent)
            if not isinstance(space, spaces.Dict):
                raise ValueError(f"{self.name} needs a world whose observations are a Dict space; "
                                 f"{agent}'s is {type(space).__name__}")
            clash = sorted(set(space.spaces) & set(_MECHANISM_KEYS))
            if clash:
                raise ValueError(f"{self.name}: the world's observations already have the keys {clash}")


@dataclass
class Repetition(_Rounds):
    """Repetition (CoopEval): the same co-players play the base world for several rounds, seeing their last rounds."""

    name: ClassVar[str] = "repetition"

    def wrap(self, world: Any) -> RoundsWorld:
        self._check_world(world)
        return RoundsWorld(world, self, copies=1, reputation=False)


@dataclass
class Reputation(_Rounds):
    """Reputation (CoopEval): a population re-matched every round, seeing everyone's recent rounds, nested."""

    nesting: int = 3
    copies: int = 1
    seat_roles: bool | None = None

    name: ClassVar[str] = "reputation"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.nesting = check_int("nesting", self.nesting, 1)
        self.copies = check_int("copies", self.copies, 1)
        if self.seat_roles is not None and not isinstance(self.seat_roles, bool):
            raise ValueError(f"seat_roles must be True, False or None (decided from the world), got {self.seat_roles!r}")

    def wrap(self, world: Any) -> RoundsWorld:
        self._check_world(world)
        return RoundsWorld(world, self, copies=self.copies, reputation=True)


def _asymmetric(world: Any) -> bool:
    """Whether the seats of ``world`` differ in role (see ``seat_roles`` in the module docstring)."""
    if isinstance(world, RepeatedGameEnv):
        payoffs = world.payoffs
        return not np.array_equal(payoffs[:, :, 0], payoffs[:, :, 1].T)
    return False


# ---------------------------------------------------------------------------------------------
# History texts (pure)
# ---------------------------------------------------------------------------------------------


def action_text(spec: ActionSpec, action: Any) -> str | None:
    """``action`` as the history shows it: its option label under a :class:`Choice`, a number as
    the worlds print one, a mapping's scalar numbers ("harvest 5"), else its text. ``None`` for
    an answer to a :class:`Message` spec: talk is not a move, and its text is not repeated."""
    if isinstance(spec, Message):
        return None
    if isinstance(spec, Choice):
        for label, candidate in zip(spec.labels, spec.actions):
            if _same(candidate, action):
                return label
    if isinstance(action, Mapping):
        parts = [f"{key} {_number(value)}" for key, value in action.items() if _number(value) is not None]
        return ", ".join(parts) or "a move"
    number = _number(action)
    return number if number is not None else str(action)


def _number(value: Any) -> str | None:
    """A single number's text (``format_number``), else None."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.ndarray, np.generic)):
        return None
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "iuf":
        return None
    return format_number(float(array.reshape(())))


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return a == b


def agent_name(seat: int) -> str:
    """How reputation's history names seat ``seat`` to the others: "Agent #<seat>", whatever the
    members are called (member names may carry their type's label; CoopEval keeps them anonymous)."""
    return f"Agent #{seat}"


def _points(value: float) -> str:
    text = format_number(value)
    return f"{text} point" if text == "1" else f"{text} points"


def repetition_history(plays: Sequence[Play], seat: int, current_round: int, lookup_depth: int) -> list[str]:
    """The lines Repetition adds to ``describe`` for ``seat`` before ``current_round``.

    ``plays`` are this matchup's rounds (one per round); those among the last ``lookup_depth``
    before ``current_round`` are shown newest first, own action first ("you"), then the others'
    by seat ("Player k", k = base seat + 1), without payoffs.
    """
    played = current_round - 1
    if played == 0:
        return ["You have not played any rounds with these co-players yet."]
    lines = [f"You have played {played} round{'s' if played != 1 else ''} with the same co-players so far."]
    shown = [p for p in plays if max(1, current_round - lookup_depth) <= p.round < current_round]
    if shown:
        lines.append("Your last rounds with them, newest first:")
    for play in sorted(shown, key=lambda p: -p.round):
        me = play.seats.index(seat)
        parts = [f"you played {play.actions[me]}"]
        parts += [f"Player {k + 1} played {play.actions[k]}" for k in range(len(play.seats)) if k != me]
        lines.append(f"- Round {play.round}: {'; '.join(parts)}.")
    return lines


def reputation_history(plays: Sequence[Play], seat: int, current_round: int, lookup_depth: int, nesting: int,
                       name_of: Callable[[int], str], match: Sequence[int] = (),
                       seat_roles: bool = False) -> list[str]:
    """The lines Reputation adds to ``describe`` for ``seat`` before ``current_round``.

    ``plays`` are the matches of the rounds played so far; ``match`` the seats of the match
    ``seat`` plays in ``current_round``, by base seat (empty once the game is over); the others
    are its co-players. The window is rounds
    ``max(1, current_round - lookup_depth) .. current_round - 1``. For ``seat`` and then each
    co-player, their rounds in the window newest first, each line naming the person first
    ("you" for ``seat``, else ``name_of(u)``) and then that round's co-players by base seat, each
    with its action and points. With ``nesting`` D > 1, under each listed round of level
    l < D and for each of that round's co-players in turn, the co-player's rounds in the window
    before it (level l + 1), headed "Before round q, <name> had played:" and indented 4 spaces
    more. A person without rounds in the window gets one "has not played" line. With
    ``seat_roles`` every named seat says its role, "as Player k" (k = its base seat + 1).
    """
    start = max(1, current_round - lookup_depth)
    window = [p for p in plays if start <= p.round < current_round]

    def who(play: Play, u: int) -> str:
        name = "you" if u == seat else name_of(u)
        return f"{name} as Player {play.seats.index(u) + 1}" if seat_roles else name

    def rounds_of(person: int, before: int, level: int, indent: str) -> list[str]:
        lines = []
        for play in sorted((p for p in window if person in p.seats and p.round < before), key=lambda p: -p.round):
            order = [play.seats.index(person)] + [k for k, u in enumerate(play.seats) if u != person]
            parts = [f"{who(play, play.seats[k])} played {play.actions[k]} and got {_points(play.points[k])}"
                     for k in order]
            lines.append(f"{indent}- Round {play.round}: {'; '.join(parts)}.")
            if level < nesting:
                for k in order[1:]:
                    other = play.seats[k]
                    nested = rounds_of(other, play.round, level + 1, indent + "    ")
                    if nested:
                        name = "you" if other == seat else name_of(other)
                        lines.append(f"{indent}    Before round {play.round}, {name} had played:")
                        lines.extend(nested)
        return lines

    played = current_round - 1
    lines = [f"You have played {played} round{'' if played == 1 else 's'} so far, each with co-players met at random."]
    co_players = [u for u in match if u != seat]
    if co_players:
        def role(u: int) -> str:
            return f" as Player {list(match).index(u) + 1}" if seat_roles else ""

        others = " and ".join(f"{name_of(u)}{role(u)}" for u in co_players)
        lines.append(f"In this round you play{role(seat)} with {others}.")
    for person in [seat, *co_players]:
        found = rounds_of(person, current_round, 1, "")
        if not found:
            lines.append("You have not played this game before." if person == seat
                         else f"{name_of(person)} has not played this game before.")
            continue
        lines.append("Your recent rounds, newest first:" if person == seat
                     else f"{name_of(person)}'s recent rounds, newest first:")
        lines.extend(found)
    return lines


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------


class RoundsWorld(LanguageWorld):
    """A base world played for several rounds by the same co-players (repetition) or by a
    re-matched population over ``copies`` copies of it (reputation); see the module docstring."""

    def __init__(self, base: LanguageWorld, mechanism: _Rounds, *, copies: int, reputation: bool):
        self.mechanism = mechanism
        self.reputation = reputation
        self.copies = copies
        self.worlds = [base] + [copy.deepcopy(base) for _ in range(copies - 1)]
        self.base_agents = list(base.possible_agents)
        self.n_base = len(self.base_agents)
        self.render_mode = base.render_mode if base.render_mode in ("ansi", "human") else None
        self.shows_rewards = base.shows_rewards
        self.metadata = {
            "render_modes": ["human", "ansi"],
            "name": f"{base.metadata.get('name', type(base).__name__)}+{mechanism.name}",
            "is_parallelizable": True,
        }
        if reputation:
            self.possible_agents = [f"player_{s}" for s in range(copies * self.n_base)]
        else:
            self.possible_agents = list(self.base_agents)
        self.agents: list[str] = []
        self._index = {agent: s for s, agent in enumerate(self.possible_agents)}
        self.seat_roles = bool(mechanism.seat_roles if reputation and mechanism.seat_roles is not None
                               else reputation and _asymmetric(base))
        base_spaces = [base.action_space(agent) for agent in self.base_agents]
        widths = {space.n for space in base_spaces if isinstance(space, spaces.Discrete) and space.start == 0}
        discrete = all(isinstance(space, spaces.Discrete) and space.start == 0 for space in base_spaces)
        self._n_options = max(widths) if discrete else None
        cap = mechanism.round_cap
        self._action_spaces, self._observation_spaces = {}, {}
        for s, agent in enumerate(self.possible_agents):
            base_agent = self.base_agents[s % self.n_base]
            extra: dict[str, spaces.Space] = {"mechanism_round": spaces.Discrete(cap + 2)}
            if reputation:
                extra["mechanism_match"] = spaces.Discrete(copies)
            if self._n_options is not None:
                extra["mechanism_last_actions"] = spaces.Box(-1, self._n_options - 1, (self.n_base,), np.int64)
            self._observation_spaces[agent] = spaces.Dict({**copy.deepcopy(base.observation_space(base_agent).spaces),
                                                           **extra})
            self._action_spaces[agent] = copy.deepcopy(base.action_space(base_agent))
        self._rng: np.random.Generator | None = None
        self._options: dict[str, Any] = {}
        self._names = self._default_names()
        self.n_rounds = 0
        self.round = 0
        self.plays: list[Play] = []
        self._table: list[list[int]] = []  # match -> the seat at each base seat, this round
        self._match_of: dict[str, int] = {}
        self._previous: dict[str, tuple[int, ...]] = {}  # seat -> its last match's last actions
        self._live = [False] * copies  # per copy: its episode of the round under way goes on
        self._observed: list[dict[str, Any]] = [{} for _ in range(copies)]  # per copy: latest base observations
        self._resting: dict[str, Any] = {}
        self._taken: dict[str, list[str]] = {}
        self._last_index: dict[str, int] = {}
        self._earned: dict[str, float] = {}

    # -- seats ----------------------------------------------------------------------------------

    def _default_names(self) -> list[str]:
        if self.reputation:
            return [agent_name(s) for s in range(len(self.possible_agents))]
        return list(self.possible_agents)

    def place(self, agent: str) -> tuple[int, str]:
        """``(copy, base agent)`` that ``agent`` plays in the round under way."""
        return self._match_of.get(agent, 0), self.base_agents[self._index[agent] % self.n_base]

    def _seat_of(self, match: int, base_agent: str) -> str:
        return self.possible_agents[self._table[match][self.base_agents.index(base_agent)]]

    # -- PettingZoo API -------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        options = dict(options or {})
        if self.reputation:
            self._names = self._names_from(options.get("names"), self._default_names())
        self._options = options
        self.n_rounds = self.mechanism.draw_rounds(self._rng)
        self.round = 1
        self.plays = []
        self._previous = {}
        self.agents = list(self.possible_agents)
        infos = self._start_round()
        return self._observations(), {
            agent: {**infos.get(agent, {}), **self._mechanism_info(agent, 1)} for agent in self.agents}

    def _start_round(self) -> dict[str, dict]:
        """Match the seats (reputation) and reset every copy; the base reset infos by seat."""
        n, rng = self.n_base, self._rng
        if self.reputation:
            table = [[0] * n for _ in range(self.copies)]
            for k in range(n):
                group = [t * n + k for t in range(self.copies)]
                for i, j in enumerate(rng.permutation(self.copies)):
                    table[i][k] = group[int(j)]
            self._table = table
        else:
            self._table = [list(range(n))]
        self._match_of = {self.possible_agents[u]: i for i, row in enumerate(self._table) for u in row}
        infos: dict[str, dict] = {}
        self._observed = []
        self._live = [True] * self.copies
        self._taken = {agent: [] for agent in self.possible_agents}  # action texts of the round
        self._last_index = {agent: -1 for agent in self.possible_agents}
        self._earned = dict.fromkeys(self.possible_agents, 0.0)
        for i, world in enumerate(self.worlds):
            options = dict(self._options)
            if self.reputation:
                options["names"] = {b: self._names[self._table[i][k]] for k, b in enumerate(self.base_agents)}
            observations, base_infos = world.reset(seed=int(rng.integers(2**31)), options=options)
            self._observed.append(dict(observations))
            for base_agent, info in base_infos.items():
                infos[self._seat_of(i, base_agent)] = dict(info)
        self._resting = {}
        for i, world in enumerate(self.worlds):
            for base_agent in self.base_agents:
                self._resting[self._seat_of(i, base_agent)] = _resting_action(world, base_agent)
        return infos

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        deciders = set(self.deciders())
        missing = sorted(deciders - set(actions))
        if missing:
            raise ValueError(f"{missing} must decide in this step (round {self.round})")
        live = list(self.agents)
        rewards = dict.fromkeys(live, 0.0)
        infos: dict[str, dict] = {}
        for i, world in enumerate(self.worlds):
            if not self._live[i]:
                continue
            base_actions, specs = {}, {}
            for base_agent in world.agents:
                seat = self._seat_of(i, base_agent)
                base_actions[base_agent] = actions[seat] if seat in actions else world.idle_action(base_agent)
                if seat in deciders:
                    specs[seat] = (world.action_spec(base_agent), base_actions[base_agent])
            observations, base_rewards, _, _, base_infos = world.step(base_actions)
            # the world accepted the actions: they enter the round's history
            for seat, (spec, action) in specs.items():
                text = action_text(spec, action)
                if text is not None:
                    self._taken[seat].append(text)
                if self._n_options is not None:
                    self._last_index[seat] = int(np.asarray(action))
            self._observed[i].update(observations)
            for base_agent, reward in base_rewards.items():
                seat = self._seat_of(i, base_agent)
                rewards[seat] = float(reward)
                self._earned[seat] += float(reward)
            for base_agent, info in base_infos.items():
                infos[self._seat_of(i, base_agent)] = dict(info)
            self._live[i] = bool(world.agents)
        played = self.round
        matches = dict(self._match_of)
        done = False
        if not any(self._live):
            self._record_round()
            done = self.round >= self.n_rounds
            self.round += 1
            if not done:
                self._start_round()
        infos = {agent: {**infos.get(agent, {}), "mechanism_phase": "play", "mechanism_round": played}
                 for agent in live}
        if self.reputation:
            for agent in live:
                infos[agent]["match"] = matches[agent]
        return self._end_step(live, done, rewards, infos)

    def _record_round(self) -> None:
        for i, row in enumerate(self._table):
            seats = tuple(row)
            self.plays.append(Play(
                round=self.round, match=i, seats=seats,
                actions=tuple(_runs(self._taken[self.possible_agents[u]]) for u in seats),
                points=tuple(self._earned[self.possible_agents[u]] for u in seats),
            ))
        self._previous = {self.possible_agents[u]: tuple(self._last_index[self.possible_agents[v]] for v in row)
                          for row in self._table for u in row}

    def deciders(self) -> list[str]:
        if not self.agents:
            return []
        chosen = set()
        for i, world in enumerate(self.worlds):
            if self._live[i]:
                chosen.update(self._seat_of(i, base_agent) for base_agent in world.deciders())
        return [agent for agent in self.agents if agent in chosen]

    def idle_action(self, agent: str) -> Any:
        match, base_agent = self.place(agent)
        if self._live[match] and base_agent in self.worlds[match].agents:
            return self.worlds[match].idle_action(base_agent)
        return self._resting[agent]

    def display_name(self, agent: str) -> str:
        if self.reputation:
            return self._names[self._index[agent]]
        return self.worlds[0].display_name(agent)

    # -- language view --------------------------------------------------------------------------

    def rules(self, agent: str) -> str:
        match, base_agent = self.place(agent)
        base = self.worlds[match].rules(base_agent)
        return f"{base}\n\n{self._mechanism_rules()}"

    def _mechanism_rules(self) -> str:
        m = self.mechanism
        chance = f"{m.discount * 100:g}%"
        seen = (f"in the last {m.lookup_depth} rounds" if m.lookup_depth != 1 else "in the last round")
        what = "one whole play of the game above"
        cap = f", at most {m.max_rounds} rounds in all" if m.horizon == "random" else ""
        if self.reputation:
            people = len(self.possible_agents)
            text = (f"This game is played for several rounds, but not always with the same co-players: you are one of "
                    f"{people} agents, and before each round the agents are matched at random into groups of "
                    f"{self.n_base}. A round is {what}. After each round, another round follows with probability "
                    f"{chance}{cap}. What you play in a round is shown to the agents you meet in later rounds and may "
                    f"influence what they do. Before each round you see, for yourself and for each co-player, their "
                    f"rounds {seen}: what each played and the points each received")
            if m.nesting > 1:
                text += (f", and under each such round what that round's co-players had done before it (down to "
                         f"{m.nesting} levels)")
            return text + "."
        return (f"This game is played for several rounds with the same co-players. A round is {what}. After each round, "
                f"another round follows with probability {chance}{cap}. What you play in a round is shown to "
                f"the others in later rounds and may influence what they do. Before each round you see what everyone "
                f"played {seen}.")

    def describe(self, agent: str) -> str:
        match, base_agent = self.place(agent)
        base = self.worlds[match].describe(base_agent)
        if not self.n_rounds:  # before the first reset
            return base
        current = self.round if self.agents else self.n_rounds + 1
        s = self._index[agent]
        if self.reputation:
            lines = reputation_history(self.plays, s, current, self.mechanism.lookup_depth, self.mechanism.nesting,
                                       agent_name, self._table[match] if self.agents else (), self.seat_roles)
        else:
            lines = repetition_history(self.plays, s, current, self.mechanism.lookup_depth)
        if not self.agents:
            lines.append(f"All {self.n_rounds} rounds have been played.")
        return f"{base}\n\n" + "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        match, base_agent = self.place(agent)
        return self.worlds[match].action_spec(base_agent)

    # -- helpers --------------------------------------------------------------------------------

    def _mechanism_info(self, agent: str, played_round: int) -> dict[str, Any]:
        info: dict[str, Any] = {"mechanism_phase": "play", "mechanism_round": played_round}
        if self.reputation:
            info["match"] = self.place(agent)[0]
        return info

    def _observations(self) -> dict[str, dict[str, Any]]:
        observations = {}
        current = min(self.round, self.mechanism.round_cap + 1)
        previous = self._previous
        for agent in self.possible_agents:
            match, base_agent = self.place(agent)
            observation = {**self._observed[match][base_agent], "mechanism_round": np.int64(current)}
            if self.reputation:
                observation["mechanism_match"] = np.int64(match)
            if self._n_options is not None:
                observation["mechanism_last_actions"] = np.array(previous.get(agent, (-1,) * self.n_base), dtype=np.int64)
            observations[agent] = observation
        return observations

    def _render_text(self) -> str:
        lines = [f"{self.metadata['name']}: round {min(self.round, self.n_rounds)} of {self.n_rounds}"]
        last = [p for p in self.plays if p.round == self.round - 1]
        for play in last:
            parts = ", ".join(f"{self.possible_agents[u]} {a} ({format_number(x)})"
                              for u, a, x in zip(play.seats, play.actions, play.points))
            lines.append(f"  round {play.round}, match {play.match}: {parts}")
        return "\n".join(lines)


def _runs(texts: Sequence[str]) -> str:
    """A round's actions in order, repeats folded: ["A0", "A1", "A1"] -> "A0, A1 (2 times)"."""
    if not texts:
        return "nothing"
    parts, start = [], 0
    for i in range(1, len(texts) + 1):
        if i == len(texts) or texts[i] != texts[start]:
            count = i - start
            parts.append(texts[start] if count == 1 else f"{texts[start]} ({count} times)")
            start = i
    return ", ".join(parts)


def _resting_action(world: LanguageWorld, agent: str) -> Any:
    """What a seat sends while its copy waits for the others: the world's idle action, or, in a
    world where everyone always decides (it defines none), its declared fallback."""
    try:
        return world.idle_action(agent)
    except NotImplementedError:
        return world.action_spec(agent).fallback
