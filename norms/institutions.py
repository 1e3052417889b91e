"""Institutions: rules that add moves to a world.

Worlds are the lowest layer and import nothing above them, so the pure rule a world calls
lives beside the world (``dilemmazoo.envs.donor_game.punish``); the institution here names it,
describes it and is what configs, analysis and other worlds refer to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dilemmazoo.envs.donor_game import punish

__all__ = ["CostlyPunishment", "INSTITUTIONS"]


@dataclass(frozen=True)
class CostlyPunishment:
    """Costly punishment (Fehr & Gächter 2000): spend ``x`` to remove ``effect_per_unit * x``.

    The Donor Game paper (Vallinder & Hughes 2024) uses cost:effect 1:2, the target floored
    at 0. ``rule(spend, target_resources)`` gives the target's resources afterwards.
    """

    effect_per_unit: float = 2.0
    name: str = "costly_punishment"
    moves: tuple[str, ...] = ("punish",)
    rule: Callable[..., float] = field(default=punish, repr=False)

    def __post_init__(self) -> None:
        if self.effect_per_unit < 0:
            raise ValueError("effect_per_unit must be >= 0")

    def apply(self, spend: float, target_resources: float) -> float:
        return self.rule(spend, target_resources, self.effect_per_unit)


INSTITUTIONS = {"costly_punishment": CostlyPunishment}
