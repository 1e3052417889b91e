"""Argument checks the worlds share: a bad constructor argument is a ``ValueError`` naming it."""

from __future__ import annotations

import math
from numbers import Integral, Real
from collections.abc import Collection
from typing import Any

__all__ = ["check_bool", "check_choice", "check_int", "check_non_negative", "check_probability", "check_real"]


def check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]`` (no upper bound when ``maximum`` is None); bools refused."""
    upper = math.inf if maximum is None else maximum
    if isinstance(value, bool) or not isinstance(value, Integral) or not minimum <= value <= upper:
        allowed = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_probability(name: str, value: Any) -> float:
    """``value`` as a float in ``[0, 1]``; bools and NaN refused."""
    if isinstance(value, bool) or not (isinstance(value, Real) and 0.0 <= float(value) <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def check_non_negative(name: str, value: Any) -> float:
    """``value`` as a finite float >= 0; bools refused."""
    if isinstance(value, bool) or not (isinstance(value, Real) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_real(name: str, value: Any, *, low: float = -math.inf, high: float = math.inf,
               low_open: bool = False) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` with ``low_open``); bools refused."""
    ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        if math.isinf(low) and math.isinf(high):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        bracket = "(" if low_open or math.isinf(low) else "["
        lower = f"{low:g}" if math.isfinite(low) else "-inf"
        upper = f"{high:g}]" if math.isfinite(high) else "inf)"
        raise ValueError(f"{name} must be a finite number in {bracket}{lower}, {upper}, got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, allowed: Collection[Any]) -> Any:
    """``value`` when it is one of ``allowed``; else a ``ValueError`` that lists them."""
    try:
        known = value in allowed
    except TypeError:  # an unhashable value asked of a set or mapping
        known = False
    if not known:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value
