"""The proportional split rule of Trust-and-Split (``dilemmazoo/trust-split-v0``) and Split
No-Comm (``dilemmazoo/split-nocomm-v0``).

Source: "Learning Robust Social Strategies with Large Language Models" (arXiv 2511.19405;
dereckpiche/AdAlignLLM); after Duque et al., "Advantage Alignment Algorithms" (ICLR 2025).

Allocation rule (:func:`proportional_allocation`)
-------------------------------------------------
Two players claim ``x_A`` and ``x_B`` of a pool of ``N`` units. If ``x_A + x_B <= N`` each
gets its claim and the leftover is wasted; otherwise the pool is shared in proportion,
``q_i = N * x_i / (x_A + x_B)``. A player's reward is ``q_i * v_i`` with ``v_i`` its value of
one unit, summed over the items split (:func:`split_rewards`). Both claim 10 of 10: 5 each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

__all__ = ["check_unit_value", "proportional_allocation", "split_rewards"]


def proportional_allocation(claim_a: float, claim_b: float, pool: float) -> tuple[float, float]:
    """Units each player receives: the claims if they fit in ``pool`` (leftover wasted),
    else ``q_i = pool * x_i / (x_A + x_B)``."""
    if claim_a < 0 or claim_b < 0:
        raise ValueError(f"claims must be non-negative, got {claim_a} and {claim_b}")
    total = claim_a + claim_b
    if total <= pool:
        return float(claim_a), float(claim_b)
    return pool * claim_a / total, pool * claim_b / total


def split_rewards(
    claims_a: Sequence[float], claims_b: Sequence[float], values_a: Sequence[float], values_b: Sequence[float], pool: float
) -> tuple[float, float]:
    """Rewards of a split of one or more items: ``sum_item q_i(item) * v_i(item)``."""
    reward_a = reward_b = 0.0
    for xa, xb, va, vb in zip(claims_a, claims_b, values_a, values_b, strict=True):
        qa, qb = proportional_allocation(xa, xb, pool)
        reward_a += qa * va
        reward_b += qb * vb
    return reward_a, reward_b


def check_unit_value(name: str, value: Any) -> float:
    """A player's value of one unit as a float: a finite non-negative number, else a ``ValueError``
    naming the argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return float(value)
