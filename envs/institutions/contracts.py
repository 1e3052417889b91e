"""Contracting: budget-balanced transfers that a signed contract adds to every seat's payoff.

Source: Tewolde, Zhang, Guzman Piedrahita, Conitzer, Jin, "CoopEval" (arXiv 2604.15267, ICML
2026), the Contracting mechanism (``mechanisms/contracting.py``, ``compute_contract_adjustments``
in the reference code): before one play, every player designs a contract, an approval vote picks
one and all players must sign it. An active contract ``c`` names a value ``c(a)`` for every base
action ``a``: the player who plays ``a`` earns ``c(a)`` in total, paid equally by the ``N - 1``
others (a negative value is paid *to* them).

Rule
----
With ``N >= 2`` seats playing ``a_1 .. a_N``, seat ``i`` receives, on top of its base payoff,

    transfer_i = c(a_i) - sum_{j != i} c(a_j) / (N - 1)

- budget balance: ``sum_i transfer_i = S - (N S - S) / (N - 1) = 0`` with ``S = sum_j c(a_j)``
  (up to float rounding; the spec notes ~1e-16 residues at ``N = 4``);
- adding a constant ``k`` to every ``c(a)`` changes nothing: seat ``i`` gains ``k`` and pays
  ``(N - 1) k / (N - 1) = k``;
- any sign is allowed and nothing is bounded (CoopEval's parser casts to int; this rule takes any
  finite number, the parsing belongs to the mechanism that asks for the contract).

Two contract forms are accepted by :func:`transfers`:

- **per action** (finite action sets): a 1-D sequence ``values`` with ``values[a] = c(a)``;
  ``actions`` are then action indices ``0 .. len(values) - 1``. A plain tuple or list is always
  read this way, also when it has two entries.
- **linear** (a numeric action such as a contribution or a harvest): a :class:`LinearContract`
  ``(rate, constant)``, or a mapping with exactly the keys ``"rate"`` and ``"constant"``, so
  ``c(x) = rate * x + constant`` and ``actions`` are the amounts played. The constant cancels
  (see above), so the transfer is ``rate * (x_i - mean_{j != i} x_j)``.

This is a rule of a world, so it lives in the envs layer and imports numpy and the standard
library only; the contracting norm wraps it to put it on any world.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

__all__ = ["LinearContract", "contract_values", "transfers"]


@dataclass(frozen=True)
class LinearContract:
    """A contract on a numeric action: playing amount ``x`` is worth ``c(x) = rate * x + constant``."""

    rate: float
    constant: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rate", "constant"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
                raise ValueError(f"LinearContract.{name} must be a finite number, got {value!r}")


def _as_linear(values: Any) -> LinearContract | None:
    """``values`` as a :class:`LinearContract` when it is one (or the equivalent mapping), else None."""
    if isinstance(values, LinearContract):
        return values
    if isinstance(values, Mapping):
        if set(values) != {"rate", "constant"}:
            raise ValueError(
                f"a linear contract mapping must have exactly the keys 'rate' and 'constant', got {sorted(map(str, values))}"
            )
        return LinearContract(rate=values["rate"], constant=values["constant"])
    return None


def _seat_actions(actions: Any) -> np.ndarray:
    array = np.asarray(actions)
    if array.ndim != 1 or array.size < 2:
        raise ValueError(f"actions must be a 1-D sequence with one action per seat (at least 2 seats), got {actions!r}")
    return array


def contract_values(values: Any, actions: Any) -> np.ndarray:
    """``c(a_i)`` for every seat: the contract's value of the action each seat played (see the
    module docstring for the two contract forms)."""
    seat_actions = _seat_actions(actions)
    linear = _as_linear(values)
    if linear is not None:
        if seat_actions.dtype.kind not in "iuf" or not np.all(np.isfinite(seat_actions)):
            raise ValueError(f"actions must be finite amounts for a linear contract, got {actions!r}")
        return linear.rate * seat_actions.astype(np.float64) + linear.constant
    table = np.asarray(values)
    if table.ndim != 1 or table.size == 0:
        raise ValueError(f"values must be a 1-D sequence with one value per action, got {values!r}")
    if table.dtype.kind not in "iuf" or not np.all(np.isfinite(table)):
        raise ValueError(f"values must be finite numbers (booleans are not values), got {values!r}")
    if seat_actions.dtype.kind not in "iu":
        raise ValueError(f"actions must be integer action indices for a per-action contract, got {actions!r}")
    if seat_actions.min() < 0 or seat_actions.max() >= table.size:
        raise ValueError(f"actions must be indices 0..{table.size - 1} of values, got {seat_actions.tolist()}")
    return table.astype(np.float64)[seat_actions.astype(np.int64)]


def transfers(values: Any, actions: Any) -> np.ndarray:
    """Each seat's transfer ``c(a_i) - sum_{j != i} c(a_j) / (N - 1)`` under contract ``values``
    when the seats played ``actions`` (float64, one per seat, summing to 0 up to rounding).

    ``values``: ``c(a)`` per action index (a 1-D sequence), or a :class:`LinearContract` /
    ``{"rate": r, "constant": k}`` for a numeric action. ``actions``: the played action per seat
    (indices, or amounts for a linear contract); at least 2 seats.

    >>> transfers([0, 1], [0, 1]).tolist()      # PD, contract pays 1 for playing action 1
    [-1.0, 1.0]
    >>> transfers([3, 0, -3], [0, 1, 2]).tolist()
    [4.5, 0.0, -4.5]
    """
    value_per_seat = contract_values(values, actions)
    n_seats = value_per_seat.size
    others = (value_per_seat.sum() - value_per_seat) / (n_seats - 1)
    return value_per_seat - others
