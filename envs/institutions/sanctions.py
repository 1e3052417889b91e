"""Monitoring and graduated sanctions: the rules a commons world calls after each harvest.

Sources
-------
- Gupta et al., "Social learning and collective norms in a common-pool resource"
  (arXiv 2510.14401): with probability ``m_i`` an agent inspects one random peer; if the peer
  harvested above the current group norm ``G(t)`` it punishes with probability ``p_i`` at a
  personal cost, and the target pays a fine. The paper does not publish the cost and fine;
  the world's defaults follow the spec's choice of fine = 2 x cost.
- Ostrom, *Governing the Commons* (1990), design principles 4 and 5: monitoring by the
  appropriators themselves, and **graduated sanctions** (a first offence is fined lightly,
  repeated offences more), implemented by :func:`graduated_fine`.

These are rules of a world (``dilemmazoo.envs.cpr`` calls them), so they live in the envs layer
and import numpy and the standard library only. The norm
:class:`dilemmazoo.norms.sanctions.MonitoringPunishment` names and parameterises the same rules
to put them on other worlds.

Randomness
----------
:func:`monitor_and_punish` always draws the same amount from ``rng`` for a given number of
agents (``n`` uniforms for inspecting, ``n`` peer offsets when ``n > 1``, ``n`` uniforms for
punishing), whatever ``m``, ``p``, the norm or the harvests. Two runs that differ only in the
sanction parameters therefore see the same random numbers (common random numbers), and the
rest of a world's random stream is not shifted by the sanctions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dilemmazoo.envs.checks import check_non_negative, check_probability

__all__ = ["NORM_TOLERANCE", "SanctionOutcome", "check_sanction_terms", "graduated_fine", "monitor_and_punish"]

# A harvest counts as above the norm only when it exceeds it by more than this, so that an
# agent that aims exactly at the norm is not punished for floating-point rounding.
NORM_TOLERANCE = 1e-9


def graduated_fine(base_fine: Any, offences: Any, *, graduated: bool, max_multiplier: float) -> Any:
    """The fine for an offender with ``offences`` earlier offences.

    Graduated (Ostrom's principle 5): ``base_fine * min(offences + 1, max_multiplier)``, so
    the first offence pays ``base_fine``, the second twice that, ... up to
    ``max_multiplier * base_fine``. Not graduated: ``base_fine`` whatever the record.
    Works on scalars and numpy arrays of ``offences`` alike (a float for scalar input).
    """
    if max_multiplier < 1 or not math.isfinite(max_multiplier):
        raise ValueError(f"max_multiplier must be a finite number >= 1, got {max_multiplier!r}")
    offences_array = np.asarray(offences, dtype=np.float64)
    if np.any(offences_array < 0):
        raise ValueError(f"offences must be non-negative, got {offences!r}")
    if graduated:
        fine = base_fine * np.minimum(offences_array + 1.0, max_multiplier)
    else:
        fine = np.full_like(offences_array, float(base_fine))
    return float(fine) if fine.ndim == 0 else fine


@dataclass(frozen=True)
class SanctionOutcome:
    """What monitoring and punishment did in one round; arrays are indexed by agent.

    - ``targets[i]``: the agent that ``i`` inspected, or ``-1`` when ``i`` did not inspect;
    - ``punished_target[i]``: whether ``i`` punished its target (then ``targets[i] >= 0``);
    - ``inspected[j]``: whether at least one agent inspected ``j``;
    - ``sanctioned[j]``: whether at least one agent punished ``j``;
    - ``times_punished[j]``: how many agents punished ``j`` (each punishment is one fine);
    - ``fines[j]``: the total fine ``j`` paid;
    - ``costs[i]``: the punishment cost ``i`` paid (``punish_cost`` per punishment made);
    - ``punishments_made[i]``: 0 or 1, since an agent inspects at most one peer.
    """

    targets: np.ndarray
    punished_target: np.ndarray
    inspected: np.ndarray
    sanctioned: np.ndarray
    times_punished: np.ndarray
    fines: np.ndarray
    costs: np.ndarray
    punishments_made: np.ndarray


def check_sanction_terms(
    *,
    monitoring_prob: float,
    punish_prob: float,
    punish_cost: float,
    fine: float,
    graduated: bool,
    max_multiplier: float,
) -> None:
    """Raise ``ValueError`` naming the first bad term of a sanction schedule: probabilities in
    ``[0, 1]``, cost and fine finite and ``>= 0``, ``graduated`` a bool, ``max_multiplier``
    finite and ``>= 1``."""
    check_probability("monitoring_prob", monitoring_prob)
    check_probability("punish_prob", punish_prob)
    check_non_negative("punish_cost", punish_cost)
    check_non_negative("fine", fine)
    if not isinstance(graduated, bool):
        raise ValueError(f"graduated must be True or False, got {graduated!r}")
    graduated_fine(fine, 0, graduated=graduated, max_multiplier=max_multiplier)


def monitor_and_punish(
    harvests: Any,
    norm: float | None,
    *,
    monitoring_prob: float,
    punish_prob: float,
    punish_cost: float,
    fine: float,
    rng: np.random.Generator,
    offences: Any = None,
    graduated: bool = False,
    max_multiplier: float = 3.0,
) -> SanctionOutcome:
    """Peer monitoring and costly punishment against the group norm (Gupta et al.).

    Each agent ``i`` inspects, with probability ``monitoring_prob`` (``m``), one other agent
    chosen uniformly at random. If the inspected agent's harvest exceeds ``norm`` (by more
    than ``NORM_TOLERANCE``), ``i`` punishes it with probability ``punish_prob`` (``p``):
    ``i`` pays ``punish_cost`` and the target pays a fine of
    ``graduated_fine(fine, offences[target], graduated=..., max_multiplier=...)``.

    Several inspectors may pick, and punish, the same target in one round: the target then
    pays one fine per punishment, all at the same graduated level (its ``offences`` before
    this round). Keeping the offence count is the caller's job; an offence is usually a round
    in which the agent was ``sanctioned``.

    ``norm=None`` (no norm in force): agents may still inspect, but nobody is punished.
    With one agent there is no peer, so nobody inspects.
    """
    harvest_array = np.asarray(harvests, dtype=np.float64)
    if harvest_array.ndim != 1 or harvest_array.size == 0:
        raise ValueError(f"harvests must be a non-empty 1-D array, got shape {harvest_array.shape}")
    if not np.all(np.isfinite(harvest_array)):
        raise ValueError("harvests must be finite")
    monitoring_prob = check_probability("monitoring_prob", monitoring_prob)
    punish_prob = check_probability("punish_prob", punish_prob)
    punish_cost = check_non_negative("punish_cost", punish_cost)
    fine = check_non_negative("fine", fine)
    if norm is not None:
        norm = check_non_negative("norm", norm)
    n = harvest_array.size
    offence_array = np.zeros(n) if offences is None else np.asarray(offences, dtype=np.float64)
    if offence_array.shape != (n,):
        raise ValueError(f"offences must hold one count per agent ({n}), got shape {offence_array.shape}")

    inspect_draws = rng.random(n)
    offsets = rng.integers(1, n, size=n) if n > 1 else np.zeros(n, dtype=np.int64)
    punish_draws = rng.random(n)

    seats = np.arange(n)
    inspects = (inspect_draws < monitoring_prob) & (n > 1)
    targets = np.where(inspects, (seats + offsets) % n, -1)
    if norm is None:
        found_over = np.zeros(n, dtype=bool)
    else:
        over = harvest_array > norm + NORM_TOLERANCE
        found_over = inspects & over[np.maximum(targets, 0)]
    punished_target = found_over & (punish_draws < punish_prob)

    inspected = np.zeros(n, dtype=bool)
    inspected[targets[inspects]] = True
    times_punished = np.bincount(targets[punished_target], minlength=n).astype(np.int64)
    fine_each = np.asarray(graduated_fine(fine, offence_array, graduated=graduated, max_multiplier=max_multiplier))
    return SanctionOutcome(
        targets=targets.astype(np.int64),
        punished_target=punished_target,
        inspected=inspected,
        sanctioned=times_punished > 0,
        times_punished=times_punished,
        fines=times_punished * fine_each,
        costs=punished_target * punish_cost,
        punishments_made=punished_target.astype(np.int64),
    )
