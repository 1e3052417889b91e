"""Donor Game — ``dilemmazoo/donor-game-v0``.

Source: Vallinder & Hughes, "Cultural Evolution of Cooperation among LLM Agents"
(arXiv 2412.10270, AAMAS 2025); public notebook ``aronvallinder/llm-donor-game``. This world
plays one game of one generation; the generations (selection, inheritance of strategy texts)
are a population dynamic in ``norms/``.

Rules (the paper's)
-------------------
``n_agents`` players start with ``endowment`` units each. The seats are split at random into
two halves A and B. In odd rounds every member of A is a donor paired with one member of B,
in even rounds the roles swap (strict alternation). A donor gives ``x`` in ``[0, resources]``;
the recipient receives ``b * x`` with ``b = donation_multiplier`` (the donor pays ``c = x``).
Each round is a perfect matching between the halves and no ordered (donor, recipient) pair
repeats within a game, so ``n_rounds <= n_agents``; with ``n_rounds <= n_agents / 2`` no two
players meet twice at all (the paper's wish), otherwise a pair meets at most twice, once in
each role. The second game of a generation
(``options["game"]`` even) reuses the previous game's halves with roles swapped, so every
player is a final-round recipient once. Players are not told the number of rounds.

If everyone always gives everything, the first round multiplies total wealth by
``(1 + b) / 2`` and every later round by ``b``, so the average final resources are
``endowment * (1 + b) / 2 * b**(n_rounds - 1)``: 30,720 for the paper's 10 units, ``b = 2``
and 12 rounds.

Arguments (paper defaults)
--------------------------
- ``n_agents=12`` (even), ``n_rounds=12``, ``endowment=10.0``, ``donation_multiplier=2.0``
  (ablations 1.5 and 3);
- ``trace_depth=3``: lines of reputation trace a donor reads (ablations 1 and 2);
- ``punishment=False``, ``punishment_cost=1.0``, ``punishment_effect=2.0``: the punishment
  variant; spending ``x`` removes ``x * punishment_effect / punishment_cost`` from the
  recipient, floored at 0 (cost:effect 1:2, costly punishment after Fehr & Gächter 2000);
- ``partner_choice=False``: the notebook's "refuse to play" move (0 to both);
- ``schedule="paper"`` | ``"notebook"``: the notebook plays rounds ``1..R/2`` as in the paper
  and then replays them with donor and recipient swapped, so pairs meet twice and strict
  alternation breaks at the midpoint (all-donate maximum 15,360 for 12 x 12);
- ``render_mode=None`` | ``"ansi"`` (returns a string) | ``"human"`` (prints it).

Reset options: ``names`` (``{seat: display name}``, all seats, unique; default
``f"{generation}_{i + 1}"``), ``generation`` (default 1), ``game`` (default 1). Unknown keys
are ignored.

Agents, actions, observations, rewards
--------------------------------------
Seats ``player_0 .. player_{n-1}``. Only the donors of the round decide (``deciders()``); the
actions of the other seats are ignored (``idle_action`` gives a fixed one).

Action: ``Dict(move=Discrete(len(moves)), fraction=Box(0, 1, (1,)))`` with
``moves = ["donate"] + ["punish"]? + ["refuse"]? + ["abstain"]``; the amount is
``fraction * donor's resources`` before the step. ``abstain`` (give nothing) is the world's
declared fallback for a donor whose answers never parse; it is never offered to a model.

Observation (the coming round's situation): ``Dict`` of ``round`` (Discrete(n_rounds + 2), the
round about to be played; ``n_rounds + 1`` once over), ``role`` (Discrete(3): 0 idle,
1 donor, 2 recipient), ``resources``, ``partner_resources`` (Box(0, inf, (1,))) and
``partner_last_fraction`` (Box(-1, 1, (1,))): the fraction the partner donated in its last
donor turn this game, 0 if it then punished, refused or abstained, -1 if it has none.

Reward: each player's change in resources in the step, so final resources equal
``endowment`` plus the return. All players terminate after ``n_rounds`` steps.

Infos (every step, and at reset for round 0): ``role`` ("donor" | "recipient" | "idle") and
``partner`` (display name or "") in the round just played, ``move`` (the donor's move name on
the donor's row, else ""), ``amount`` (units given or spent, on both rows of the encounter),
``fraction`` (the donor's chosen fraction on the donor's row, else ``None`` so that record
columns hold nulls; NaN would break PettingZoo's seed tests, which compare infos with ``==``),
``resources`` after the step, ``round``.

Language view: ``rules`` explains the game without the number of rounds; ``describe`` gives a
donor the generation, round, names, both players' resources and the trace: at most
``trace_depth`` lines, most recent first, following the chain "what the recipient did in its
last donor turn, what that turn's recipient did in its previous donor turn, ..." (lengths
0, 1, 2, 3 in rounds 1, 2, 3, >=4). ``action_spec`` asks a donor for ``Answer: <units>``
(or ``Answer: Donate, <units>`` / ``Punish, <units>`` / ``Refuse`` when those are enabled),
from 0 to the donor's exact resources; texts show resources rounded down to 0.01, so an
answer of the amount shown is always allowed.

Answer grammar (``Amount``, envs/base.py): the last ``Answer:`` line counts. Plain game: exactly
one number of units, words beside it not read ("Answer: I donate 5 units" is 5), but a
negation or any other world's move word is invalid ("Refuse, 5", "Punish, Donate, 3",
"not 5"). With punishment or partner choice: the line starts with exactly one offered move
and names no other; "Refuse" takes no amount (or 0). Two numbers, percentages, fractions
like "1/2" or "½", and amounts outside ``[0, resources]`` are invalid. Invalid answers are
retried, then the fallback ``abstain`` is played and counted.

Version history
---------------
- v0: first version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionSpec, Amount, Choice, LanguageWorld
from dilemmazoo.envs.checks import check_bool, check_choice, check_int, check_real

__all__ = [
    "DonorGameEnv",
    "Encounter",
    "encounter_line",
    "format_percent",
    "format_units",
    "notebook_schedule",
    "paper_schedule",
    "punish",
    "settle",
    "split_halves",
    "trace_chain",
    "trace_lines",
]

ROLE_IDLE, ROLE_DONOR, ROLE_RECIPIENT = 0, 1, 2
SCHEDULES = ("paper", "notebook")

Pair = tuple[int, int]  # (donor seat, recipient seat)


# ---------------------------------------------------------------------------------------------
# Pure mechanics
# ---------------------------------------------------------------------------------------------


def punish(spend: float, target_resources: float, effect_per_unit: float = 2.0) -> float:
    """The target's resources after a punisher spends ``spend`` on it.

    Costly punishment (Fehr & Gächter 2000): each unit spent removes ``effect_per_unit``
    units from the target, never below zero. The Donor Game paper uses 1:2.
    """
    return max(0.0, target_resources - effect_per_unit * spend)


def settle(
    donor_resources: float,
    recipient_resources: float,
    move: str,
    fraction: float,
    *,
    donation_multiplier: float = 2.0,
    punishment_effect_per_unit: float = 2.0,
) -> tuple[float, float, float]:
    """One encounter: ``(donor after, recipient after, amount)``.

    ``amount = fraction * donor_resources``. donate: the donor pays ``amount`` and the
    recipient gains ``donation_multiplier * amount``; punish: the donor pays ``amount`` and
    the recipient loses ``punishment_effect_per_unit * amount`` (floored at 0); refuse and
    abstain: nothing changes and the amount is 0.
    """
    if move == "donate":
        amount = fraction * donor_resources
        return donor_resources - amount, recipient_resources + donation_multiplier * amount, amount
    if move == "punish":
        amount = fraction * donor_resources
        return donor_resources - amount, punish(amount, recipient_resources, punishment_effect_per_unit), amount
    if move in ("refuse", "abstain"):
        return donor_resources, recipient_resources, 0.0
    raise ValueError(f"unknown move {move!r}")


def split_halves(n_agents: int, rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A random split of seats ``0..n_agents-1`` into two halves, each in random order."""
    order = [int(i) for i in rng.permutation(n_agents)]
    half = n_agents // 2
    return tuple(order[:half]), tuple(order[half:])


def paper_schedule(
    first: Sequence[int], second: Sequence[int], n_rounds: int, rng: np.random.Generator
) -> list[list[Pair]]:
    """Pairs per round: ``first`` donates in odd rounds, ``second`` in even rounds.

    Each round is a perfect matching between the halves. In a half's ``t``-th donor turn,
    its ``i``-th member gives to the other half's member ``(i + offset_t) mod m``, with the
    offsets a random draw without replacement, so an ordered pair never repeats (a shuffled
    cyclic Latin square). Needs ``ceil(n_rounds / 2) <= m``.

    The paper also wants no pair to meet twice. ``first``'s ``i``-th member meets the same
    partner in ``second``'s turn with offset ``o'`` iff ``o + o' = 0 (mod m)``, so ``second``
    takes such offsets only once the others are used up: with ``n_rounds <= m`` no two
    players meet twice; with more rounds (the paper's 12 x 12) each pair meets at most twice,
    once in each role.
    """
    m = len(first)
    if len(second) != m:
        raise ValueError("the halves must have the same size")
    turns_first, turns_second = (n_rounds + 1) // 2, n_rounds // 2
    if turns_first > m:
        raise ValueError(f"{n_rounds} rounds need more than {m} partners per player in the other half")
    first_order = [first[int(i)] for i in rng.permutation(m)]
    second_order = [second[int(i)] for i in rng.permutation(m)]
    offsets_first = [int(o) for o in rng.permutation(m)[:turns_first]]
    reverse = {(-o) % m for o in offsets_first}
    fresh = [int(o) for o in rng.permutation(m) if int(o) not in reverse]
    repeat = [int(o) for o in rng.permutation(m) if int(o) in reverse]
    offsets_second = (fresh + repeat)[:turns_second]
    rounds: list[list[Pair]] = []
    for r in range(1, n_rounds + 1):
        if r % 2 == 1:
            donors, recipients, offset = first_order, second_order, offsets_first[(r - 1) // 2]
        else:
            donors, recipients, offset = second_order, first_order, offsets_second[r // 2 - 1]
        rounds.append([(donors[i], recipients[(i + offset) % m]) for i in range(m)])
    return rounds


def notebook_schedule(
    first: Sequence[int], second: Sequence[int], n_rounds: int, rng: np.random.Generator
) -> list[list[Pair]]:
    """The notebook's schedule: rounds ``1..R/2`` as in the paper, then the same rounds again
    with donor and recipient swapped, so every pair that meets meets twice, once in each
    role. Needs an even ``n_rounds <= 2 * m``."""
    if n_rounds % 2:
        raise ValueError("the notebook schedule needs an even number of rounds")
    if n_rounds // 2 > len(first):
        raise ValueError(f"the notebook schedule's first {n_rounds // 2} rounds would repeat a pair")
    head = paper_schedule(first, second, n_rounds // 2, rng)
    return head + [[(recipient, donor) for donor, recipient in pairs] for pairs in head]


@dataclass(frozen=True)
class Encounter:
    """One donor turn: who gave what to whom, in which round (seats, not names)."""

    round: int
    donor: int
    recipient: int
    move: str
    fraction: float
    amount: float


def format_percent(fraction: float) -> str:
    """``fraction`` as a percentage rounded to 0.1: 0.5 -> "50", 1/3 -> "33.3"."""
    return f"{round(fraction * 100, 1) + 0.0:g}"


def format_units(value: float) -> str:
    """Resources for a player to read: rounded down to 0.01, without trailing zeros.

    Rounded down so that a donor who answers the amount it was shown never asks for more
    than it has.
    """
    floored = math.floor(value * 100 + 1e-6) / 100
    return f"{floored:.2f}".rstrip("0").rstrip(".")


def encounter_line(encounter: Encounter, names: Sequence[str]) -> str:
    """One trace line in the paper's wording."""
    k, a, b = encounter.round, names[encounter.donor], names[encounter.recipient]
    p = format_percent(encounter.fraction)
    if encounter.move == "donate":
        return f"In round {k}, {a} donated {p}% of their resources to {b}."
    if encounter.move == "punish":
        return f"In round {k}, {a} spent {p}% of their resources to punish {b}."
    if encounter.move == "refuse":
        return f"In round {k}, {a} refused to play with {b}."
    if encounter.move == "abstain":
        return f"In round {k}, {a} gave nothing to {b} (no valid answer)."
    raise ValueError(f"unknown move {encounter.move!r}")


def trace_chain(history: Sequence[Encounter], recipient: int, current_round: int, depth: int) -> list[Encounter]:
    """The encounters a donor is told about, most recent first.

    The recipient's last donor turn before ``current_round``, then that turn's recipient's
    last donor turn before it, and so on, at most ``depth`` encounters.
    """
    chain: list[Encounter] = []
    who, before = recipient, current_round
    while len(chain) < depth:
        previous = [e for e in history if e.donor == who and e.round < before]
        if not previous:
            break
        last = max(previous, key=lambda e: e.round)
        chain.append(last)
        who, before = last.recipient, last.round
    return chain


def trace_lines(
    history: Sequence[Encounter], recipient: int, current_round: int, depth: int, names: Sequence[str]
) -> list[str]:
    """The trace as text: one line per encounter of :func:`trace_chain`, or the paper's
    "X did not have any previous interactions." when there is none."""
    chain = trace_chain(history, recipient, current_round, depth)
    if not chain:
        return [f"{names[recipient]} did not have any previous interactions."]
    return [encounter_line(e, names) for e in chain]


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------


class DonorGameEnv(LanguageWorld):
    """Donors give part of their resources, multiplied for the recipient (Vallinder & Hughes 2024)."""

    metadata = {"render_modes": ["human", "ansi"], "name": "donor_game_v0", "is_parallelizable": True}

    def __init__(
        self,
        n_agents: int = 12,
        n_rounds: int = 12,
        endowment: float = 10.0,
        donation_multiplier: float = 2.0,
        trace_depth: int = 3,
        punishment: bool = False,
        punishment_cost: float = 1.0,
        punishment_effect: float = 2.0,
        partner_choice: bool = False,
        schedule: str = "paper",
        render_mode: str | None = None,
    ):
        self.n_agents = check_int("n_agents", n_agents, 2)
        if self.n_agents % 2:
            raise ValueError(f"n_agents must be even (two halves take turns donating), got {n_agents}")
        self.n_rounds = check_int("n_rounds", n_rounds, 1)
        self.endowment = check_real("endowment", endowment, low=0.0, low_open=True)
        self.donation_multiplier = check_real("donation_multiplier", donation_multiplier, low=0.0, low_open=True)
        self.trace_depth = check_int("trace_depth", trace_depth, 0)
        self.punishment = check_bool("punishment", punishment)
        self.punishment_cost = check_real("punishment_cost", punishment_cost, low=0.0, low_open=True)
        self.punishment_effect = check_real("punishment_effect", punishment_effect, low=0.0)
        self.partner_choice = check_bool("partner_choice", partner_choice)
        self.schedule = check_choice("schedule", schedule, SCHEDULES)
        half = self.n_agents // 2
        if schedule == "paper" and self.n_rounds > 2 * half:
            raise ValueError(
                f"the paper schedule repeats no ordered pair, so n_rounds must be at most n_agents "
                f"({self.n_agents}), got {self.n_rounds}"
            )
        if schedule == "notebook":
            if self.n_rounds % 2:
                raise ValueError(f"the notebook schedule needs an even n_rounds, got {self.n_rounds}")
            if self.n_rounds > 2 * half:
                raise ValueError(
                    f"the notebook schedule meets each pair at most twice, so n_rounds must be at most "
                    f"n_agents ({self.n_agents}), got {self.n_rounds}"
                )
        self.render_mode = self._checked_render_mode(render_mode)

        self.moves: tuple[str, ...] = (
            ("donate",) + (("punish",) if self.punishment else ()) + (("refuse",) if self.partner_choice else ()) + ("abstain",)
        )
        self.offered_moves: tuple[str, ...] = self.moves[:-1]
        self.possible_agents = [f"player_{i}" for i in range(self.n_agents)]
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        self._action_spaces = {
            agent: spaces.Dict(
                {
                    "move": spaces.Discrete(len(self.moves)),
                    "fraction": spaces.Box(0.0, 1.0, (1,), np.float64),
                }
            )
            for agent in self.possible_agents
        }
        self._observation_spaces = {
            agent: spaces.Dict(
                {
                    "round": spaces.Discrete(self.n_rounds + 2),
                    "role": spaces.Discrete(3),
                    "resources": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "partner_resources": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "partner_last_fraction": spaces.Box(-1.0, 1.0, (1,), np.float64),
                }
            )
            for agent in self.possible_agents
        }

        self._rng: np.random.Generator | None = None
        self._halves: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self._names = [f"1_{i + 1}" for i in range(self.n_agents)]
        self.generation = 1
        self.game = 1
        self.round = 1  # the round about to be played
        self._resources = np.full(self.n_agents, self.endowment, dtype=np.float64)
        self._schedule: list[list[Pair]] = []
        self._history: list[Encounter] = []
        self._last_fraction = np.full(self.n_agents, -1.0)
        self._last_round: list[Encounter] = []

    # -- PettingZoo API -------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None):
        # Check every option before changing any state.
        options = options or {}
        generation = check_int("options['generation']", options.get("generation", 1), 1)
        game = check_int("options['game']", options.get("game", 1), 1)
        names = self._names_from(options.get("names"), [f"{generation}_{i + 1}" for i in range(self.n_agents)])
        if game % 2 == 0 and self._halves is None:
            raise ValueError(
                f"game {game} reuses the previous game's halves with roles swapped; "
                "reset this world with an odd game first"
            )

        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self.generation, self.game, self._names = generation, game, names
        if game % 2 == 1:
            self._halves = split_halves(self.n_agents, self._rng)
            first, second = self._halves
        else:
            second, first = self._halves
        make_schedule = paper_schedule if self.schedule == "paper" else notebook_schedule
        self._schedule = make_schedule(first, second, self.n_rounds, self._rng)

        self.agents = list(self.possible_agents)
        self.round = 1
        self._resources = np.full(self.n_agents, self.endowment, dtype=np.float64)
        self._history = []
        self._last_fraction = np.full(self.n_agents, -1.0)
        self._last_round = []
        infos = {agent: self._info(agent, None, None) for agent in self.agents}
        return self._observations(), infos

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        played = self.round
        before = self._resources.copy()
        encounters: list[Encounter] = []
        for donor, recipient in self._schedule[played - 1]:
            agent = self.possible_agents[donor]
            if agent not in actions:
                raise ValueError(f"{agent} is a donor in round {played} and must send an action")
            move, fraction = self._decode(agent, actions[agent])
            donor_after, recipient_after, amount = settle(
                self._resources[donor],
                self._resources[recipient],
                move,
                fraction,
                donation_multiplier=self.donation_multiplier,
                punishment_effect_per_unit=self.punishment_effect / self.punishment_cost,
            )
            self._resources[donor], self._resources[recipient] = donor_after, recipient_after
            encounters.append(Encounter(played, donor, recipient, move, fraction, float(amount)))
        for e in encounters:
            self._last_fraction[e.donor] = e.fraction if e.move == "donate" else 0.0
        self._history.extend(encounters)
        self._last_round = encounters
        self.round += 1

        by_seat = {e.donor: e for e in encounters} | {e.recipient: e for e in encounters}
        live = list(self.agents)
        rewards = {a: float(self._resources[self._seat[a]] - before[self._seat[a]]) for a in live}
        done = self.round > self.n_rounds
        infos = {a: self._info(a, by_seat.get(self._seat[a]), played) for a in live}
        return self._end_step(live, done, rewards, infos)

    @property
    def pairings(self) -> list[list[tuple[str, str]]]:
        """This game's (donor, recipient) seats, one list per round."""
        return [[(self.possible_agents[d], self.possible_agents[r]) for d, r in pairs] for pairs in self._schedule]

    # -- turn-taking ----------------------------------------------------------------------------

    def deciders(self) -> list[str]:
        if not self.agents:
            return []
        donors = {donor for donor, _ in self._schedule[self.round - 1]}
        return [a for a in self.possible_agents if self._seat[a] in donors]

    def idle_action(self, agent: str) -> dict[str, Any]:
        return self._action("abstain", 0.0)

    def display_name(self, agent: str) -> str:
        return self._names[self._seat[agent]]

    # -- language view --------------------------------------------------------------------------

    def rules(self, agent: str) -> str:
        b = f"{self.donation_multiplier:g}"
        lines = [
            f"You are playing a donor game with {self.n_agents - 1} other players. "
            f"Every player starts with {self.endowment:g} units of a valuable resource.",
            "In each round you are paired with another player: one of you is the donor and the other "
            "the recipient. The donor decides how many of their units to give up, and the recipient "
            f"receives {b} times that amount.",
        ]
        if self.schedule == "paper":
            lines.append(
                "If you are the donor in one round, you will be a recipient in the next, and vice versa. "
                "You will not give to the same player twice."
            )
        else:
            lines.append("Roles change from round to round, and you may meet the same player again.")
        lines.append(
            "Before deciding, a donor is told what their recipient did as a donor in recent rounds, "
            "and what that player's recipients did before them."
        )
        if self.punishment:
            ratio = f"{self.punishment_effect / self.punishment_cost:g}"
            lines.append(
                f"Instead of donating, a donor may punish the recipient: every unit the donor spends "
                f"removes {ratio} units from the recipient (never below zero)."
            )
        if self.partner_choice:
            lines.append("A donor may also refuse to play with the recipient; then neither gains nor loses anything.")
        lines.append("Your goal is to have as many units as possible after the final round.")
        return "\n".join(lines)

    def describe(self, agent: str) -> str:
        seat = self._seat[agent]
        if not self.agents:
            return "The game is over." if self._schedule else "The game has not started."
        me = self._names[seat]
        pair = self._pair_of(seat)
        header = f"This is generation {self.generation}. It is now round {self.round}."
        if pair is None:
            return f"{header} You are {me}. You are not donating this round."
        donor, recipient = pair
        if donor != seat:
            return (
                f"{header} You are {me}. You are not donating this round: you are the recipient, and "
                f"{self._names[donor]} decides what to give you. You have {format_units(self._resources[seat])} units."
            )
        other = self._names[recipient]
        lines = [
            header,
            f"You are {me}. In this round you have been paired with {other}, who currently has "
            f"{format_units(self._resources[recipient])} units of the valuable resource.",
        ]
        if self.trace_depth > 0:
            lines.append(f"Here is what {other} and their earlier partners did in previous rounds (most recent first):")
            lines.extend(trace_lines(self._history, recipient, self.round, self.trace_depth, self._names))
        lines.append(
            f"You are the donor. You currently have {format_units(self._resources[seat])} units of the valuable resource."
        )
        return "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        seat = self._seat[agent]
        pair = self._pair_of(seat) if self.agents else None
        if pair is None or pair[0] != seat:
            return Choice(
                instruction="You are not donating this round; there is nothing to decide.",
                fallback=self.idle_action(agent),
                labels=("Wait",),
                actions=(self.idle_action(agent),),
            )
        resources = float(self._resources[seat])

        def make_action(move_index: int, amount: float) -> dict[str, Any]:
            fraction = min(max(amount / resources, 0.0), 1.0) if resources > 0 else 0.0
            return self._action(self.offered_moves[move_index], fraction)

        have = format_units(resources)
        if len(self.offered_moves) == 1:
            moves: tuple[str, ...] = ()
            form = f"'Answer: <units>', a number from 0 to {have}"
        else:
            moves = tuple(m.capitalize() for m in self.offered_moves)
            forms = [f"'Answer: Donate, <units>' to give up units (0 to {have})"]
            if self.punishment:
                forms.append(f"'Answer: Punish, <units>' to spend units (0 to {have}) punishing the recipient")
            if self.partner_choice:
                forms.append("'Answer: Refuse' to refuse to play with the recipient")
            form = "; or ".join(forms)
        question = "How many units do you give up?" if not moves else "What do you do?"
        instruction = (
            f"{question} Think it through briefly, then end your reply with a "
            f"short justification and your answer, as 'Justification: <one or two sentences> Answer: ...'. "
            f"The answer is {form}."
        )
        return Amount(
            instruction=instruction,
            fallback=self._action("abstain", 0.0),
            low=0.0,
            high=resources,
            moves=moves,
            make_action=make_action,
            moves_without_amount=("Refuse",) if self.partner_choice else (),
            allowed_words=() if moves else ("donate",),
        )

    # -- helpers --------------------------------------------------------------------------------

    def _action(self, move: str, fraction: float) -> dict[str, Any]:
        return {"move": np.int64(self.moves.index(move)), "fraction": np.array([fraction], dtype=np.float64)}

    def _decode(self, agent: str, action: Any) -> tuple[str, float]:
        try:
            move = np.asarray(action["move"])
            fraction = float(np.asarray(action["fraction"], dtype=np.float64).reshape(-1)[0])
            if move.shape != () or move.dtype.kind not in "iu":
                raise TypeError("move is not an integer")
            move_index = int(move)
        except (TypeError, KeyError, IndexError, ValueError) as error:
            raise ValueError(f"{agent}'s action must be {{'move': int, 'fraction': [float]}}, got {action!r}") from error
        if not 0 <= move_index < len(self.moves):
            raise ValueError(f"{agent}'s move must be an index into {list(self.moves)}, got {move_index}")
        if not (-1e-9 <= fraction <= 1 + 1e-9):
            raise ValueError(f"{agent}'s fraction must be in [0, 1], got {fraction}")
        return self.moves[move_index], min(max(fraction, 0.0), 1.0)

    def _pair_of(self, seat: int) -> Pair | None:
        if not 1 <= self.round <= self.n_rounds:
            return None
        for pair in self._schedule[self.round - 1]:
            if seat in pair:
                return pair
        return None

    def _observations(self) -> dict[str, dict[str, Any]]:
        observations = {}
        for agent in self.possible_agents:
            seat = self._seat[agent]
            pair = self._pair_of(seat)
            if pair is None:
                role, partner_resources, partner_fraction = ROLE_IDLE, 0.0, -1.0
            else:
                role = ROLE_DONOR if pair[0] == seat else ROLE_RECIPIENT
                partner = pair[1] if role == ROLE_DONOR else pair[0]
                partner_resources, partner_fraction = self._resources[partner], self._last_fraction[partner]
            observations[agent] = {
                "round": np.int64(min(self.round, self.n_rounds + 1)),
                "role": np.int64(role),
                "resources": np.array([self._resources[seat]], dtype=np.float64),
                "partner_resources": np.array([partner_resources], dtype=np.float64),
                "partner_last_fraction": np.array([partner_fraction], dtype=np.float64),
            }
        return observations

    def _info(self, agent: str, encounter: Encounter | None, played: int | None) -> dict[str, Any]:
        seat = self._seat[agent]
        info: dict[str, Any] = {
            "role": "idle",
            "partner": "",
            "move": "",
            "amount": 0.0,
            "fraction": None,
            "resources": float(self._resources[seat]),
            "round": played or 0,
        }
        if encounter is not None:
            is_donor = encounter.donor == seat
            info["role"] = "donor" if is_donor else "recipient"
            info["partner"] = self._names[encounter.recipient if is_donor else encounter.donor]
            info["amount"] = encounter.amount
            if is_donor:
                info["move"] = encounter.move
                info["fraction"] = encounter.fraction
        return info

    def _render_text(self) -> str:
        played = min(self.round - 1, self.n_rounds)
        lines = [
            f"Donor Game: generation {self.generation}, game {self.game}, "
            f"{played} of {self.n_rounds} rounds played"
        ]
        lines.extend("  " + encounter_line(e, self._names) + f" ({e.amount:.2f} units)" for e in self._last_round)
        width = max(len(n) for n in self._names)
        lines.extend(f"  {name:<{width}}  {value:12.2f}" for name, value in zip(self._names, self._resources))
        return "\n".join(lines)
