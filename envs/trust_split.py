"""Trust-and-Split (TAS-RPS) — ``dilemmazoo/trust-split-v0``.

Source: "Learning Robust Social Strategies with Large Language Models" (arXiv 2511.19405;
dereckpiche/AdAlignLLM), the released "TAS-RPS" variant of Trust-and-Split; after Duque et
al., "Advantage Alignment Algorithms" (ICLR 2025).

Allocation rule (:mod:`dilemmazoo.envs.split_rule`, shared with Split No-Comm)
------------------------------------------------------------------------------
Two players claim ``x_A`` and ``x_B`` of a pool of ``N`` units. If ``x_A + x_B <= N`` each
gets its claim and the leftover is wasted; otherwise the pool is shared in proportion,
``q_i = N * x_i / (x_A + x_B)``. A player's reward is ``q_i * v_i`` with ``v_i`` its value of
one unit. Both claim 10 of 10: 5 each.

The game
--------
Each round both players get different rock-paper-scissors hands (drawn without replacement);
the holder of the winning ("upper") hand values a coin at ``high_value`` (10), the other at
``low_value`` (1). Each player sees only its own hand, so holding the upper hand has
probability exactly 1/2 given one's own hand; the welfare-maximising split (all coins to the
winner, 100 points) needs the hands revealed by talk. A round is three steps:

1. the starter sends one message (at most ``max_message_chars`` characters);
2. the other player sends one message;
3. both propose simultaneously ``x in {0..coins}`` coins for themselves.

The starter is drawn at reset and alternates every round. From the second round on each
player is told "In the previous round, the other player had the <upper|lower> hand and
proposed <x> coins", so claims in chat can be checked afterwards.

Arguments (paper defaults): ``n_rounds=10``, ``coins=10``, ``high_value=10.0``,
``low_value=1.0``, ``max_message_chars=500``, ``render_mode=None | "ansi" | "human"``.

Agents ``player_0`` and ``player_1``. Action: one fixed ``Dict(message=Box(0, 0x10FFFF,
(max_message_chars,), int32), proposal=Discrete(coins + 1))``. The message is a string of
Unicode code points, padded with 0 (:mod:`dilemmazoo.envs.messages`); a gymnasium ``Text``
space is not used because it only holds a fixed character set. In a message step only the
speaker decides (``deciders()``) and only its ``message`` is read; in the proposal step both
decide and only ``proposal`` is read. ``step`` also accepts a ``str`` for a
message and an ``int`` for a proposal, and a dict with only the key the phase needs; an action
of the wrong kind for the phase (a proposal in a message step, a message in the proposal
step) or a message over the limit is a ``ValueError``. The message spec's ``parse`` rejects
an over-long message with :class:`ActionParseError` (it is not truncated).

Observation: ``Dict`` of ``round`` (Discrete(n_rounds + 2), 1-based, ``n_rounds + 1`` once
over), ``phase`` (Discrete(3): 0 first message, 1 second message, 2 proposal),
``speaking`` (Discrete(2): whether this player speaks this step), ``hand`` (Discrete(3):
0 rock, 1 paper, 2 scissors), ``other_message`` (the other's message of this round, code
points as in the action, zeros when none), ``last_upper`` (Discrete(3, start=-1): whether
this player held the upper hand in the previous round, -1 before), ``last_other_proposal``
(Discrete(coins + 2, start=-1)) and ``last_reward`` (Box(0, inf, (1,))).

Language view: ``rules`` tells the hands, values, phases, the allocation rule and the reveal;
``describe`` the round, the player's own hand, the previous round (own result and the reveal)
and this round's messages, never the other's current hand. ``action_spec``: the speaker gets a
:class:`~dilemmazoo.envs.messages.BoundedMessage`, the listener a one-option "Wait" :class:`Choice` (its idle action),
both players in the proposal step an :class:`Amount` of whole coins.

Reward: 0 in message steps, ``q_i * v_i`` in the proposal step.

Infos (every step, same keys; at reset round 0 and phase ""): ``round``, ``phase``
("message" | "proposal"), ``starter`` (bool), ``hand``, ``other_hand`` (names), ``value``,
``other_value`` (per-coin values this round), ``upper`` (bool), ``message`` (this player's
message this step, "" if none) and ``message_length``, ``proposal``, ``other_proposal``
(-1 outside the proposal step), ``coins``, ``other_coins`` (allocation, 0.0 outside the
proposal step), ``max_welfare`` (``coins * high_value``, the best total of the round).
Infos go to the records, never to the players.

Answer grammar: a message is the text after the last ``Answer:`` (or the whole reply
without one), as written, non-empty and at most ``max_message_chars`` characters; a proposal
is an :class:`~dilemmazoo.envs.base.Amount`: exactly one whole number of coins, words beside it
not read, "propose"/"split" allowed, a negation or another move word ("Accept 5") invalid.

Fallbacks (for answers that never parse, counted by the runner): an empty message; a
proposal of ``coins // 2``, the uninformed fair claim.

Version history
---------------
- v0: first version (Split No-Comm, which this module held at first, has its own module,
  :mod:`dilemmazoo.envs.split_nocomm`; mechanics unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionSpec, Amount, Choice, LanguageWorld, format_number, whole_number_action
from dilemmazoo.envs.checks import check_int
from dilemmazoo.envs.messages import BoundedMessage, encode_message, message_space, read_message
from dilemmazoo.envs.split_rule import check_unit_value, proportional_allocation

__all__ = ["HANDS", "TrustSplitEnv", "draw_hands", "hand_beats"]

HANDS = ("rock", "paper", "scissors")
PHASE_FIRST, PHASE_SECOND, PHASE_PROPOSAL = 0, 1, 2


# ---------------------------------------------------------------------------------------------
# Pure mechanics
# ---------------------------------------------------------------------------------------------


def hand_beats(hand: int, other: int) -> bool:
    """Whether ``hand`` beats ``other`` (indices into :data:`HANDS`): paper beats rock,
    scissors beat paper, rock beats scissors."""
    return (hand - other) % 3 == 1


def draw_hands(rng: np.random.Generator) -> tuple[int, int]:
    """Two different hands, drawn without replacement."""
    a, b = rng.choice(3, size=2, replace=False)
    return int(a), int(b)


def _int_of(agent: str, value: Any, high: int, what: str) -> int:
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iu":
        raise ValueError(f"{agent}'s {what} must be an integer from 0 to {high}, got {value!r}")
    number = int(array)
    if not 0 <= number <= high:
        raise ValueError(f"{agent}'s {what} must be an integer from 0 to {high}, got {number}")
    return number



# ---------------------------------------------------------------------------------------------
# Trust-and-Split
# ---------------------------------------------------------------------------------------------


class TrustSplitEnv(LanguageWorld):
    """Talk, then split coins whose value depends on hidden rock-paper-scissors hands (TAS-RPS, arXiv 2511.19405)."""

    metadata = {"render_modes": ["human", "ansi"], "name": "trust_split_v0", "is_parallelizable": True}

    def __init__(
        self,
        n_rounds: int = 10,
        coins: int = 10,
        high_value: float = 10.0,
        low_value: float = 1.0,
        max_message_chars: int = 500,
        render_mode: str | None = None,
    ):
        self.n_rounds = check_int("n_rounds", n_rounds, 1)
        self.coins = check_int("coins", coins, 1)
        self.high_value = check_unit_value("high_value", high_value)
        self.low_value = check_unit_value("low_value", low_value)
        self.max_message_chars = check_int("max_message_chars", max_message_chars, 1)
        self.render_mode = self._checked_render_mode(render_mode)
        self.possible_agents = ["player_0", "player_1"]
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        message_box = message_space(self.max_message_chars)
        self._action_spaces = {
            agent: spaces.Dict({"message": message_box, "proposal": spaces.Discrete(self.coins + 1)})
            for agent in self.possible_agents
        }
        self._observation_spaces = {
            agent: spaces.Dict(
                {
                    "round": spaces.Discrete(self.n_rounds + 2),
                    "phase": spaces.Discrete(3),
                    "speaking": spaces.Discrete(2),
                    "hand": spaces.Discrete(3),
                    "other_message": message_box,
                    "last_upper": spaces.Discrete(3, start=-1),
                    "last_other_proposal": spaces.Discrete(self.coins + 2, start=-1),
                    "last_reward": spaces.Box(0.0, np.inf, (1,), np.float64),
                }
            )
            for agent in self.possible_agents
        }
        self._rng: np.random.Generator | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self.round = 1
        self.phase = PHASE_FIRST
        self.first_starter = 0
        self.hands: tuple[int, int] = (0, 1)
        self.messages: list[str] = ["", ""]  # this round's, by seat
        self.history: list[dict[str, Any]] = []  # per completed round
        self.scores = np.zeros(2, dtype=np.float64)

    # -- derived state --------------------------------------------------------------------------

    @property
    def starter(self) -> int:
        """Seat that speaks first this round."""
        return (self.first_starter + self.round - 1) % 2

    def speaker(self) -> int | None:
        if not self.agents or self.phase == PHASE_PROPOSAL:
            return None
        return self.starter if self.phase == PHASE_FIRST else 1 - self.starter

    def values(self, hands: tuple[int, int] | None = None) -> tuple[float, float]:
        a, b = hands or self.hands
        return (self.high_value, self.low_value) if hand_beats(a, b) else (self.low_value, self.high_value)

    # -- PettingZoo API -------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self._reset_state()
        self.first_starter = int(self._rng.integers(2))
        self.hands = draw_hands(self._rng)
        self.agents = list(self.possible_agents)
        infos = {agent: self._info(agent, 0, "") for agent in self.agents}
        return self._observations(), infos

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        for agent in self.possible_agents:
            if agent not in actions:
                raise ValueError(f"{agent} must send an action every step (idle_action() when not deciding)")
        live, played = list(self.agents), self.round
        rewards = dict.fromkeys(live, 0.0)
        speaker = self.speaker()
        if speaker is not None:
            agent = self.possible_agents[speaker]
            text = self._message_of(agent, actions[agent])
            self.messages[speaker] = text
            infos = {a: self._info(a, played, "message", said=text if self._seat[a] == speaker else "") for a in live}
            self.phase += 1
            done = False
        else:
            proposals = tuple(self._proposal_of(a, actions[a]) for a in self.possible_agents)
            values = self.values()
            got = proportional_allocation(proposals[0], proposals[1], self.coins)
            earned = (got[0] * values[0], got[1] * values[1])
            self.scores += earned
            record = {"hands": self.hands, "values": values, "proposals": proposals, "coins": got, "rewards": earned,
                      "messages": tuple(self.messages), "starter": self.starter}
            self.history.append(record)
            rewards = {a: float(earned[self._seat[a]]) for a in live}
            infos = {a: self._info(a, played, "proposal", record=record) for a in live}
            self.round += 1
            self.phase = PHASE_FIRST
            self.messages = ["", ""]
            done = self.round > self.n_rounds
            if not done:
                self.hands = draw_hands(self._rng)
        return self._end_step(live, done, rewards, infos)

    # -- turn-taking ----------------------------------------------------------------------------

    def deciders(self) -> list[str]:
        if not self.agents:
            return []
        speaker = self.speaker()
        return list(self.agents) if speaker is None else [self.possible_agents[speaker]]

    def idle_action(self, agent: str) -> dict[str, Any]:
        return self._action(message="", proposal=0)

    # -- language view --------------------------------------------------------------------------

    def rules(self, agent: str) -> str:
        hi, lo, n = format_number(self.high_value), format_number(self.low_value), self.coins
        return "\n".join(
            [
                f"You are playing a game with another player for {self.n_rounds} rounds. "
                f"Each round, the two of you split {n} coins.",
                "At the start of each round, each of you receives a different hand: rock, paper or scissors. "
                "Paper beats rock, scissors beat paper, and rock beats scissors. You see only your own hand, "
                "never the other player's.",
                f"The player whose hand wins (the upper hand) values each coin at {hi} points; "
                f"the other player (the lower hand) values each coin at {lo} point(s).",
                f"Each round, first one of you sends a message (at most {self.max_message_chars} characters), then "
                "the other sends one. The first speaker alternates from round to round.",
                f"Then both of you, at the same time, propose how many coins (a whole number from 0 to {n}) you "
                f"keep for yourself. If the two proposals add up to {n} or less, each gets what they proposed and "
                f"the rest is lost. Otherwise the coins are shared in proportion to the proposals: you get "
                f"{n} * (your proposal) / (sum of both proposals) coins.",
                "Your points in a round are your coins times your value per coin. The rounds are independent.",
                "At the start of the next round you learn whether the other player had the upper or the lower hand "
                "in the previous round, and how many coins they proposed.",
                "Your goal is to win as many points as possible over all rounds.",
            ]
        )

    def describe(self, agent: str) -> str:
        me = self._seat[agent]
        if not self.agents and not self.history:
            return "The game has not started."
        if not self.agents:
            return f"The game is over. You have {format_number(self.scores[me])} points; the other player has {format_number(self.scores[1 - me])} points."
        lines = [f"It is round {self.round} of {self.n_rounds}."]
        if self.history:
            last = self.history[-1]
            other_upper = hand_beats(last["hands"][1 - me], last["hands"][me])
            lines.append(
                f"In the previous round, you had {HANDS[last['hands'][me]]}, proposed {last['proposals'][me]} coins, "
                f"received {format_number(last['coins'][me])} coins and won {format_number(last['rewards'][me])} points. "
                f"In the previous round, the other player had the {'upper' if other_upper else 'lower'} hand "
                f"and proposed {last['proposals'][1 - me]} coins."
            )
        lines.append(f"You have {format_number(self.scores[me])} points; the other player has {format_number(self.scores[1 - me])} points.")
        lines.append(f"Your hand this round is {HANDS[self.hands[me]]}.")
        order = [self.starter, 1 - self.starter]
        for seat in order[: self.phase]:
            who = "You" if seat == me else "The other player"
            lines.append(f"{who} said: {self.messages[seat]!r}" if self.messages[seat] else f"{who} said nothing.")
        speaker = self.speaker()
        if speaker == me:
            lines.append("It is your turn to send a message to the other player.")
        elif speaker is not None:
            lines.append("The other player is sending a message; wait for it.")
        else:
            lines.append("Now both of you propose, at the same time, how many coins you keep.")
        return "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        me = self._seat[agent]
        speaker = self.speaker()
        if speaker is not None and speaker != me:
            return Choice(
                instruction="The other player is sending a message; there is nothing to decide.",
                fallback=self.idle_action(agent),
                labels=("Wait",),
                actions=(self.idle_action(agent),),
            )
        if speaker is not None:
            return BoundedMessage(
                instruction=(
                    f"Write your message to the other player (at most {self.max_message_chars} characters), "
                    "as 'Answer: <message>'."
                ),
                fallback=self._action(message="", proposal=0),
                max_chars=self.max_message_chars,
                make_action=lambda text: self._action(message=text, proposal=0),
            )
        return Amount(
            instruction=(
                f"How many coins do you propose to keep this round? End your reply with 'Answer: <coins>', "
                f"a whole number from 0 to {self.coins}."
            ),
            fallback=self._action(message="", proposal=self.coins // 2),
            low=0.0,
            high=float(self.coins),
            make_action=whole_number_action(lambda x: self._action(message="", proposal=x),
                                            f"Propose a whole number of coins from 0 to {self.coins}, got {{value:g}}."),
            allowed_words=("propose", "split"),
        )

    # -- helpers --------------------------------------------------------------------------------

    def _action(self, *, message: str, proposal: int) -> dict[str, Any]:
        return {"message": encode_message(message, self.max_message_chars), "proposal": np.int64(proposal)}

    def _message_of(self, agent: str, action: Any) -> str:
        if isinstance(action, str):
            return read_message(agent, action, self.max_message_chars)
        if not isinstance(action, Mapping) or "message" not in action:
            raise ValueError(
                f"round {self.round} is in its message phase and {agent} speaks: send a message "
                f"({{'message': codes}} or a str), not {action!r:.80}; proposals come after both messages"
            )
        return read_message(agent, action["message"], self.max_message_chars)

    def _proposal_of(self, agent: str, action: Any) -> int:
        if isinstance(action, str) or (isinstance(action, Mapping) and "proposal" not in action):
            raise ValueError(
                f"round {self.round} is in its proposal phase: {agent} must propose coins "
                f"({{'proposal': int}} or an int), not send a message; the message phase is over"
            )
        value = action["proposal"] if isinstance(action, Mapping) else action
        return _int_of(agent, value, self.coins, "proposal")

    def _observations(self) -> dict[str, dict[str, Any]]:
        last = self.history[-1] if self.history else None
        speaker = self.speaker()
        observations = {}
        for agent in self.possible_agents:
            me = self._seat[agent]
            observations[agent] = {
                "round": np.int64(min(self.round, self.n_rounds + 1)),
                "phase": np.int64(self.phase),
                "speaking": np.int64(speaker == me),
                "hand": np.int64(self.hands[me]),
                "other_message": encode_message(self.messages[1 - me], self.max_message_chars),
                "last_upper": np.int64(-1 if last is None else hand_beats(last["hands"][me], last["hands"][1 - me])),
                "last_other_proposal": np.int64(-1 if last is None else last["proposals"][1 - me]),
                "last_reward": np.array([0.0 if last is None else last["rewards"][me]], dtype=np.float64),
            }
        return observations

    def _info(self, agent: str, played: int, phase: str, said: str = "", record: dict | None = None) -> dict[str, Any]:
        me = self._seat[agent]
        hands = record["hands"] if record else self.hands
        values = self.values(hands)
        starter = record["starter"] if record else self.starter
        return {
            "round": played,
            "phase": phase,
            "starter": starter == me,
            "hand": HANDS[hands[me]],
            "other_hand": HANDS[hands[1 - me]],
            "value": values[me],
            "other_value": values[1 - me],
            "upper": hand_beats(hands[me], hands[1 - me]),
            "message": said,
            "message_length": len(said),
            "proposal": record["proposals"][me] if record else -1,
            "other_proposal": record["proposals"][1 - me] if record else -1,
            "coins": float(record["coins"][me]) if record else 0.0,
            "other_coins": float(record["coins"][1 - me]) if record else 0.0,
            "max_welfare": self.coins * max(self.high_value, self.low_value),
        }

    def _render_text(self) -> str:
        lines = [f"Trust-and-Split: {len(self.history)} of {self.n_rounds} rounds played"]
        if self.history:
            last = self.history[-1]
            lines.append(
                f"  last round: hands {HANDS[last['hands'][0]]}/{HANDS[last['hands'][1]]}, "
                f"proposals {last['proposals'][0]}/{last['proposals'][1]}, "
                f"coins {format_number(last['coins'][0])}/{format_number(last['coins'][1])}"
            )
        lines.append(f"  scores: player_0 {format_number(self.scores[0])}, player_1 {format_number(self.scores[1])}")
        return "\n".join(lines)
