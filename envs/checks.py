"""Argument checks the worlds share: a bad constructor argument is a ``ValueError`` naming it."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

__all__ = ["check_bool", "check_int", "check_non_negative", "check_probability"]


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
