"""Institutions: rules that add moves or sanctions to a world.

The rules a world calls are pure functions in the envs layer, so worlds never import the layers
above them: :mod:`dilemmazoo.envs.institutions.sanctions` (monitoring and graduated punishment)
and :mod:`dilemmazoo.envs.institutions.voting` (propose-then-vote). The Donor Game's costly
punishment is a rule of that one world and lives beside it (``dilemmazoo.envs.donor_game.punish``).
The classes here (:class:`CostlyPunishment`, and the wrappers in :mod:`dilemmazoo.norms.sanctions`
and :mod:`dilemmazoo.norms.voting`) name, describe and parameterise each institution, to put it
on any world; configs, analysis and ``dilemmazoo list`` refer to them through
:data:`INSTITUTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dilemmazoo.envs.donor_game import punish
from dilemmazoo.norms.sanctions import MonitoringPunishment
from dilemmazoo.norms.voting import ProposeThenVote

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


INSTITUTIONS = {
    "costly_punishment": CostlyPunishment,
    "monitoring_punishment": MonitoringPunishment,
    "propose_then_vote": ProposeThenVote,
}
