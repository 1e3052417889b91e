"""Fixed opponents for the splitting worlds (Trust-and-Split, Split No-Comm).

Source: the opponents of "Learning Robust Social Strategies with LLMs" (see
../shared/specs/trust_split_and_trainers.md): a **greedy** player keeps everything (in
Trust-and-Split it also claims the upper hand, the lie that exploits a truthful cooperator);
a **welfare maximiser** gives each item to whoever values it more (ties split 5/5) and, in
Trust-and-Split, tells its hand truthfully and takes all coins only when the hand it was told
by the other player loses to its own.

They answer through the world's own action specs (``make_action`` / ``action_for_option``),
so they never send an action the world would not accept, and they read only their own
observation (hand, values, the other's message).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs.base import Amount, Choice, Message
from dilemmazoo.envs.messages import decode_message
from dilemmazoo.envs.split_nocomm import ItemProposal
from dilemmazoo.envs.trust_split import HANDS, hand_beats

__all__ = ["SPLIT_STRATEGIES", "SplitGreedy", "SplitWelfareMaximiser"]


class _SplitStrategy:
    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        pass

    def act(self, request: Decision) -> Action:
        spec = request.spec
        if isinstance(spec, Choice):  # waiting while the other speaks
            return Action(value=spec.action_for_option(0), raw_text=f"Answer: {spec.labels[0]}")
        if isinstance(spec, Message):
            text = self.message(request.observation)
            return Action(value=spec.make_action(text), raw_text=f"Answer: {text}")
        if isinstance(spec, ItemProposal):
            units = self.items(request.observation, spec)
            return Action(value=spec.make_action(units), raw_text="Answer: " + ", ".join(map(str, units)))
        if isinstance(spec, Amount):
            coins = self.coins(request.observation, int(spec.high))
            return Action(value=spec.make_action(0, float(coins)), raw_text=f"Answer: {coins}")
        raise TypeError(f"{type(self).__name__} cannot answer a {type(spec).__name__} spec")


class SplitGreedy(_SplitStrategy):
    """Keeps everything; in Trust-and-Split it says ``message`` (by default a claim of the upper hand)."""

    def __init__(self, message: str = "I have the upper hand this round, so I will keep all the coins."):
        self.text = message

    def message(self, observation: Any) -> str:
        return self.text

    def coins(self, observation: Any, maximum: int) -> int:
        return maximum

    def items(self, observation: Any, spec: ItemProposal) -> list[int]:
        return [spec.units] * len(spec.items)


def _claimed_hand(text: str) -> int | None:
    found = [HANDS.index(w) for w in re.findall(r"\b(rock|paper|scissors)\b", text.lower())]
    return found[0] if found else None


class SplitWelfareMaximiser(_SplitStrategy):
    """Tells its hand; keeps all coins if the other's claimed hand loses to its own, none if it
    wins, half if nothing was claimed. Items go to the higher valuer, ties 5/5."""

    def message(self, observation: Any) -> str:
        hand = HANDS[int(np.asarray(observation["hand"]).reshape(-1)[0])]
        return f"My hand is {hand}. Whoever holds the upper hand should take all the coins."

    def coins(self, observation: Any, maximum: int) -> int:
        other = _claimed_hand(decode_message(observation["other_message"]))
        if other is None:
            return maximum // 2
        mine = int(np.asarray(observation["hand"]).reshape(-1)[0])
        return maximum if hand_beats(mine, other) else 0

    def items(self, observation: Any, spec: ItemProposal) -> list[int]:
        mine = np.asarray(observation["values"], dtype=float)
        theirs = np.asarray(observation["other_values"], dtype=float)
        return [spec.units if m > t else 0 if m < t else spec.units // 2 for m, t in zip(mine, theirs)]


SPLIT_STRATEGIES = {"split_greedy": SplitGreedy, "split_welfare_maximiser": SplitWelfareMaximiser}
