"""The ``shared_pot`` utility transform: every player's utility is the mean of the step's rewards.

Configs name it ``utility: {name: shared_pot}``. With ``weight`` w in [0, 1] (default 1) a player's
utility is ``u_i = (1 - w) r_i + w * mean(r)``: w = 0 keeps the world's rewards, w = 1 pools them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dilemmazoo.norms.base import UtilityTransform

__all__ = ["SharedPot"]


class SharedPot(UtilityTransform):
    """Pools the step's rewards: u_i = (1 - w) r_i + w mean(r) (an example plugin)."""

    def __init__(self, weight: float = 1.0):
        if not isinstance(weight, (int, float)) or not math.isfinite(weight) or not 0 <= weight <= 1:
            raise ValueError(f"weight must be a number in [0, 1], got {weight!r}")
        self.weight = float(weight)

    def __call__(self, rewards: Mapping[str, float], state: Mapping[str, Any]) -> dict[str, float]:
        if not rewards:
            return {}
        mean = sum(rewards.values()) / len(rewards)
        return {agent: (1 - self.weight) * reward + self.weight * mean for agent, reward in rewards.items()}
