"""Monitoring and graduated sanctions as a norm that can be put on any world.

Sources: Gupta et al., "Social learning and collective norms in a common-pool resource"
(arXiv 2510.14401), peer monitoring and costly punishment against the group norm; Ostrom,
*Governing the Commons* (1990), design principles 4 (monitoring by the appropriators) and 5
(graduated sanctions).

The rules themselves are part of a world's rules and live in the envs layer,
:mod:`dilemmazoo.envs.institutions.sanctions` (``monitor_and_punish``, ``graduated_fine``,
``SanctionOutcome``); the effort commons (``dilemmazoo.envs.cpr``) calls them directly. This
module names and parameterises them once, so configs, ``dilemmazoo list`` and other worlds
refer to one validated schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dilemmazoo.envs.institutions.sanctions import SanctionOutcome, check_sanction_terms, monitor_and_punish

__all__ = ["MonitoringPunishment"]


@dataclass(frozen=True)
class MonitoringPunishment:
    """Peer monitoring with costly, optionally graduated sanctions (Gupta et al.; Ostrom 1990).

    Each round every agent inspects one random peer with probability ``monitoring_prob``
    and punishes a peer found above the group norm with probability ``punish_prob``, paying
    ``punish_cost`` while the peer pays ``fine`` (times ``min(offences + 1,
    max_multiplier)`` when ``graduated``). No moves are added: the draws are automatic, as in
    the paper's rule-based agents. ``apply`` calls
    :func:`dilemmazoo.envs.institutions.sanctions.monitor_and_punish`.
    """

    monitoring_prob: float = 0.0
    punish_prob: float = 1.0
    punish_cost: float = 1.0
    fine: float = 2.0
    graduated: bool = False
    max_multiplier: float = 3.0
    name: str = "monitoring_punishment"
    moves: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_sanction_terms(
            monitoring_prob=self.monitoring_prob,
            punish_prob=self.punish_prob,
            punish_cost=self.punish_cost,
            fine=self.fine,
            graduated=self.graduated,
            max_multiplier=self.max_multiplier,
        )

    def apply(
        self, harvests: Any, norm: float | None, rng: np.random.Generator, offences: Any = None
    ) -> SanctionOutcome:
        return monitor_and_punish(
            harvests,
            norm,
            monitoring_prob=self.monitoring_prob,
            punish_prob=self.punish_prob,
            punish_cost=self.punish_cost,
            fine=self.fine,
            rng=rng,
            offences=offences,
            graduated=self.graduated,
            max_multiplier=self.max_multiplier,
        )
