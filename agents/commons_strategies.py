"""Scripted harvesters for the GovSim commons (``dilemmazoo/commons-v0``).

Baselines for Piatti et al., "Cooperate or Collapse" (NeurIPS 2024): the paper's sustainable
reference behaviour (take the per-agent threshold ``f(t) // n``), the greedy newcomer of its
newcomer variant, a fixed quota, and a conditional cooperator in the spirit of the conditional
cooperators of public-goods experiments (Fischbacher, Gächter & Fehr 2001): cooperate while
the others do, otherwise match what they take.

They read only their own observation (``threshold``, ``stock``, ``last_threshold``,
``last_harvests``, ``present``) and answer through the world's own specs
(``Amount.make_action`` / ``Message.make_action`` / the "Wait" ``Choice``), so they never send
an action the world would not accept. Amounts are whole units, rounded down and clipped to
the spec's range ``[low, high]`` (``high`` is the current stock). In a talk step they say a
short templated message stating their latest catch and their proposal, cut to the spec's
``max_chars``.
"""

from __future__ import annotations

import math
import re
from numbers import Integral, Real
from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs.base import Amount, Choice, Message

__all__ = [
    "COMMONS_STRATEGIES",
    "CommonsStrategy",
    "ConditionalCooperator",
    "FixedAmount",
    "Greedy",
    "Sustainable",
]


def _scalar(observation: Any, key: str) -> int:
    return int(np.asarray(observation[key]).reshape(-1)[0])


def _seat_of(agent_id: str) -> int:
    """The seat index of ``player_<i>`` (the world's seat names)."""
    match = re.search(r"(\d+)$", agent_id or "")
    if match is None:
        raise ValueError(f"commons strategies need seats named 'player_<i>', got {agent_id!r}")
    return int(match.group(1))


class CommonsStrategy:
    """Base: answers harvest, talk and wait requests; subclasses give ``units`` and ``proposal``."""

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        _seat_of(agent_id)  # fail early on a seat name the strategies cannot read

    def act(self, request: Decision) -> Action:
        spec = request.spec
        if isinstance(spec, Choice):  # someone else decides
            return Action(value=spec.action_for_option(0), raw_text=f"Answer: {spec.labels[0]}")
        if isinstance(spec, Message):
            # The template is short, but a world may allow fewer characters: cut it to fit.
            text = self.message(request.observation, _seat_of(request.agent_id))[: spec.max_chars]
            return Action(value=spec.make_action(text), raw_text=f"Answer: {text}")
        if isinstance(spec, Amount):
            wanted = self.units(request.observation, _seat_of(request.agent_id), spec)
            units = int(min(max(wanted, math.ceil(spec.low)), math.floor(spec.high)))
            return Action(value=spec.make_action(0, float(units)), raw_text=f"Answer: {units}")
        raise TypeError(f"{type(self).__name__} cannot answer a {type(spec).__name__} spec")

    def units(self, observation: Any, seat: int, spec: Amount) -> int:
        raise NotImplementedError

    def proposal(self, observation: Any, seat: int) -> str:
        raise NotImplementedError

    def message(self, observation: Any, seat: int) -> str:
        caught = int(np.asarray(observation["last_harvests"]).reshape(-1)[seat])
        return f"This month I took {max(caught, 0)}. {self.proposal(observation, seat)}"


class Sustainable(CommonsStrategy):
    """Takes ``share`` times its per-agent threshold (rounded down): the paper's sustainable
    reference at ``share=1.0`` (5 such players keep the stock at 100 for 12 months)."""

    def __init__(self, share: float = 1.0):
        if isinstance(share, bool) or not isinstance(share, Real) or not math.isfinite(share) or share < 0:
            raise ValueError(f"share must be a finite non-negative number, got {share!r}")
        self.share = float(share)

    def units(self, observation: Any, seat: int, spec: Amount) -> int:
        return math.floor(self.share * _scalar(observation, "threshold") + 1e-9)

    def proposal(self, observation: Any, seat: int) -> str:
        return f"I propose that each of us takes at most {_scalar(observation, 'threshold')} so the resource can recover."


class Greedy(CommonsStrategy):
    """Takes ``fraction`` of the current stock (the Amount's ``high``), rounded down: the
    paper's greedy newcomer at ``fraction=1.0``."""

    def __init__(self, fraction: float = 1.0):
        if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be a number in [0, 1], got {fraction!r}")
        self.fraction = float(fraction)

    def units(self, observation: Any, seat: int, spec: Amount) -> int:
        return math.floor(self.fraction * spec.high + 1e-9)

    def proposal(self, observation: Any, seat: int) -> str:
        return "I propose that each of us takes as much as we can while it lasts."


class FixedAmount(CommonsStrategy):
    """Takes ``amount`` units every month (clipped to what is allowed)."""

    def __init__(self, amount: int = 10):
        if isinstance(amount, bool) or not isinstance(amount, Integral) or amount < 0:
            raise ValueError(f"amount must be a non-negative integer, got {amount!r}")
        self.amount = int(amount)

    def units(self, observation: Any, seat: int, spec: Amount) -> int:
        return self.amount

    def proposal(self, observation: Any, seat: int) -> str:
        return f"I will take {self.amount} every month, and I propose that everyone does the same."


class ConditionalCooperator(CommonsStrategy):
    """Takes its per-agent threshold while every other player who harvested last month took
    at most last month's threshold; otherwise matches the mean of those players' last catches,
    rounded half up. In its first month (no other catches observed) it takes the threshold.

    "Others" are the seats other than its own with a catch last month (``last_harvests >= 0``)
    that are present now; catches are the units granted, as every player sees them.
    """

    def units(self, observation: Any, seat: int, spec: Amount) -> int:
        others = self._other_catches(observation, seat)
        last_threshold = _scalar(observation, "last_threshold")
        if others.size == 0 or last_threshold < 0 or others.max() <= last_threshold:
            return _scalar(observation, "threshold")
        return math.floor(float(others.mean()) + 0.5)

    def proposal(self, observation: Any, seat: int) -> str:
        return (
            f"I propose that each of us takes at most {_scalar(observation, 'threshold')}. "
            "I will keep to that as long as everyone else does; if not, I will take what the others take."
        )

    @staticmethod
    def _other_catches(observation: Any, seat: int) -> np.ndarray:
        last = np.asarray(observation["last_harvests"], dtype=np.int64).reshape(-1)
        present = np.asarray(observation["present"]).reshape(-1).astype(bool)
        mask = (last >= 0) & present
        mask[seat] = False
        return last[mask]


COMMONS_STRATEGIES: dict[str, type] = {
    "sustainable": Sustainable,
    "greedy": Greedy,
    "fixed_amount": FixedAmount,
    "conditional_cooperator": ConditionalCooperator,
}
