"""Team production with loyalty (Pant & Yu) — pure functions, no world state.

Source
------
Pant & Yu, "Computational Foundations for Strategic Coopetition: Formalizing Collective Action
and Loyalty" (technical report TR-3, arXiv 2601.16237); public validation code
vikpant/strategic-coopetition, ``TR_validation/TR3_loyalty/TR3_validation_suite.py``. The
project's spec is ``specs/matrix_games_loyalty_atp.md`` (the loyalty section).

The game
--------
``n`` members of one team choose efforts ``a_i`` in ``[a_min, a_max]`` (defaults ``[0.01, 50]``);
``S = sum_i a_i`` is the total effort and ``S_-i = S - a_i`` the others'.

- team output (:func:`team_output`): ``Q = omega * S^beta``, ``0 < beta < 1`` (diminishing returns);
- base payoff (:func:`base_payoffs`): ``pi_i = Q / n - c * a_i`` (equal shares, own cost);
- teammates' mean payoff: ``pibar_-i = Q / n - c * S_-i / (n - 1)``;
- loyalty term ``L_i = theta_i * (phi_b * pibar_-i + phi_c * c * a_i)``: welfare internalisation
  (weight ``phi_b``) plus cost tolerance (weight ``phi_c``: part of one's own cost is not felt);
- utility ``U_i = pi_i + L_i``, ``theta_i`` in ``[0, 1]``.

:func:`loyalty_utilities` computes ``U_i`` from any rewards and costs
(``U_i = r_i + theta_i (phi_b * mean_{j in team(i), j != i} r_j + phi_c * cost_i)``): with
``r = pi`` and ``cost = c * a_i`` it is exactly the paper's ``U_i``; the loyalty utility
transform (:mod:`dilemmazoo.norms.loyalty`) applies the same function to any world.

Defaults (:data:`DEFAULTS`, the paper's base case): ``omega = 25``, ``beta = 0.7``, ``c = 1``,
``n = 5``, ``phi_b = 0.8``, ``phi_c = 0.3``, ``a_min = 0.01``, ``a_max = 50``.

Equilibrium
-----------
``U_i`` is strictly concave in ``a_i`` (``beta < 1``), so member i's best response is where

    dU_i/da_i = (1 + theta_i phi_b) omega beta S^(beta-1) / n - c (1 - theta_i phi_c) = 0,

that is, where the total reaches the total member i *wants*,

    W(theta_i) = [(1 + theta_i phi_b) omega beta / (n c (1 - theta_i phi_c))]^(1/(1-beta))

(:func:`desired_total_effort`), clipped to the effort range: ``a_i = clip(W(theta_i) - S_-i,
a_min, a_max)``. With equal loyalty ``theta`` the symmetric equilibrium total is ``S* = W(theta)``
and the mean effort ``S*/n`` (:func:`closed_form_effort`; at ``theta = 0`` this is the paper's
free-riding equilibrium ``a* = (omega beta / (c n^(2-beta)))^(1/(1-beta))``). The effort ratio
between two loyalties is ``[(1 + theta_h phi_b)/(1 - theta_h phi_c) / ((1 + theta_l phi_b)/(1 -
theta_l phi_c))]^(1/(1-beta))`` (:func:`effort_ratio`), independent of ``omega``, ``c`` and ``n``.

- Only the aggregate is unique when all loyalties are equal: every profile with total ``S*`` in
  the box is an equilibrium (the game is aggregative with best-response slope -1).
- With heterogeneous loyalty the members want different totals; the equilibrium total ``S`` is
  the unique solution of ``S = sum_i a_i`` with ``a_i = a_max`` where ``W_i > S``, ``a_i = a_min``
  where ``W_i < S`` and ``a_i`` free in the range where ``W_i = S``: only the most loyal members
  contribute (above the floor) and the others free-ride on them (the spec's statement).
- Efforts live in ``[a_min, a_max]``: where ``S*/n < a_min`` (small ``omega``, large ``c`` and
  ``n``) the equilibrium sits on the floor, where ``S*/n > a_max`` on the cap. Compare a numeric
  equilibrium with the closed form clipped to the range (``closed_form_effort(..., a_min=...)``).

:func:`best_response_equilibrium` solves the game numerically: Gauss-Seidel over the members,
each best response exact from the first-order condition above (the reference instead searches
each best response with a bounded scalar minimiser, about 1e-3 accurate, from ``a_max / 2``).

The paper's sweep
-----------------
:data:`PAPER_SWEEP`: ``omega`` {10, 15, 20, 25, 30} x ``beta`` {0.40, 0.45, ..., 0.60} x ``c``
{1.5, 2.0, ..., 3.5} x ``n`` {3, 4, 5, 6, 8} x ``theta`` {0, 0.3, 0.5, 0.7, 0.9} = 3,125
configurations with ``phi_b = 0.8``, ``phi_c = 0.3`` (the reference's ``standard`` granularity).
:func:`sweep_table` computes every configuration's equilibrium plus what the six behavioural
targets need (:mod:`dilemmazoo.analysis.loyalty`).

Bad arguments raise ``ValueError`` naming the argument.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

__all__ = [
    "DEFAULTS",
    "PAPER_SWEEP",
    "base_payoffs",
    "best_response_equilibrium",
    "closed_form_effort",
    "desired_total_effort",
    "effort_ratio",
    "loyalty_utilities",
    "sweep_table",
    "team_output",
]

#: The paper's base case (Pant & Yu TR-3; the reference's ``TeamParameters`` defaults, with the
#: lower effort bound of its best-response search).
DEFAULTS: dict[str, float | int] = {
    "omega": 25.0, "beta": 0.7, "c": 1.0, "n": 5, "phi_b": 0.8, "phi_c": 0.3, "a_min": 0.01, "a_max": 50.0,
}

#: The paper's sweep, axis -> values: 5^5 = 3,125 configurations (phi_b, phi_c fixed at the
#: defaults). The reference's ``standard`` granularity.
PAPER_SWEEP: dict[str, tuple[float, ...] | tuple[int, ...]] = {
    "omega": (10.0, 15.0, 20.0, 25.0, 30.0),
    "beta": (0.40, 0.45, 0.50, 0.55, 0.60),
    "c": (1.5, 2.0, 2.5, 3.0, 3.5),
    "n": (3, 4, 5, 6, 8),
    "theta": (0.0, 0.3, 0.5, 0.7, 0.9),
}


# -- argument checks ------------------------------------------------------------------------------

def _values(name: str, value: Any, *, low: float = -math.inf, high: float = math.inf,
            low_open: bool = False, high_open: bool = False) -> np.ndarray:
    """``value`` (a number or array of numbers) as a float array, every entry finite and in range."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    if array.dtype == object or isinstance(value, bool) or array.size == 0:
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}")
    ok = np.isfinite(array) & (array > low if low_open else array >= low) & (array < high if high_open else array <= high)
    if not ok.all():
        bad = array[~ok].flat[0]
        left = "(" if low_open or math.isinf(low) else "["
        right = ")" if high_open or math.isinf(high) else "]"
        lower = "-inf" if math.isinf(low) else f"{low:g}"
        upper = "inf" if math.isinf(high) else f"{high:g}"
        raise ValueError(f"{name} must be finite and in {left}{lower}, {upper}{right}, got {bad!r}")
    return array


def _team_size(value: Any) -> np.ndarray:
    array = _values("n", value, low=2)
    if not np.all(array == np.round(array)):
        raise ValueError(f"n must be a whole number of members >= 2, got {value!r}")
    return array


def _model(omega: Any, beta: Any, c: Any, n: Any, phi_b: Any, phi_c: Any) -> tuple[np.ndarray, ...]:
    return (
        _values("omega", omega, low=0.0, low_open=True),
        _values("beta", beta, low=0.0, high=1.0, low_open=True, high_open=True),
        _values("c", c, low=0.0, low_open=True),
        _team_size(n),
        _values("phi_b", phi_b, low=0.0),
        # 1 - theta phi_c must stay > 0 for every theta in [0, 1]
        _values("phi_c", phi_c, low=0.0, high=1.0, high_open=True),
    )


def _range(a_min: Any, a_max: Any) -> tuple[float, float]:
    low = float(_values("a_min", a_min, low=0.0))
    high = float(_values("a_max", a_max, low=0.0, low_open=True))
    if np.ndim(a_min) or np.ndim(a_max):
        raise ValueError("a_min and a_max must be numbers")
    if low > high:
        raise ValueError(f"a_min must not exceed a_max, got a_min={a_min!r} > a_max={a_max!r}")
    return low, high


def _out(array: np.ndarray) -> np.ndarray | float:
    return float(array) if array.ndim == 0 else array


# -- the game ---------------------------------------------------------------------------------------

def team_output(total_effort: Any, omega: Any, beta: Any) -> np.ndarray | float:
    """Team output ``Q = omega * S^beta`` for total effort ``S >= 0``, elementwise (``Q(0) = 0``)."""
    total = _values("total_effort", total_effort, low=0.0)
    omega_ = _values("omega", omega, low=0.0, low_open=True)
    beta_ = _values("beta", beta, low=0.0, high=1.0, low_open=True, high_open=True)
    return _out(omega_ * total ** beta_)


def base_payoffs(efforts: Any, omega: float, beta: float, c: float) -> np.ndarray:
    """Base payoffs of one team, ``pi_i = Q / n - c * a_i`` with ``Q = omega (sum_j a_j)^beta``.

    ``efforts`` has the members on the last axis (shape ``(..., n)``, ``n >= 1``); the result has
    the same shape.
    """
    a = _values("efforts", efforts, low=0.0)
    if a.ndim == 0:
        raise ValueError(f"efforts must be an array with the members on the last axis, got {efforts!r}")
    c_ = _values("c", c, low=0.0)
    output = team_output(a.sum(axis=-1), omega, beta)
    return np.asarray(output)[..., None] / a.shape[-1] - c_ * a


def _teams(teams: Sequence[Sequence[int]] | None, size: int) -> list[list[int]]:
    """Validated teams of member indices; a member in no team is alone."""
    if teams is None:
        return [list(range(size))]
    if isinstance(teams, (str, bytes)) or not isinstance(teams, Sequence):
        raise ValueError(f"teams must be a list of lists of member indices, got {teams!r}")
    seen: set[int] = set()
    result = []
    for team in teams:
        if isinstance(team, (str, bytes)) or not isinstance(team, Sequence):
            raise ValueError(f"each team must be a list of member indices, got {team!r}")
        members = []
        for index in team:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < size:
                raise ValueError(f"teams: {index!r} is not a member index in [0, {size})")
            if index in seen:
                raise ValueError(f"teams: member {index} is in more than one team")
            seen.add(int(index))
            members.append(int(index))
        result.append(members)
    result.extend([i] for i in range(size) if i not in seen)
    return result


def _thetas(thetas: Any, size: int, name: str = "thetas") -> np.ndarray:
    values = _values(name, thetas, low=0.0, high=1.0)
    if values.ndim == 0:
        return np.full(size, float(values))
    if values.shape != (size,):
        raise ValueError(f"{name} must be one number or one per member ({size}), got {values.size} values")
    return values


def loyalty_utilities(rewards: Any, costs: Any, thetas: Any, phi_b: float, phi_c: float,
                      teams: Sequence[Sequence[int]] | None = None) -> np.ndarray:
    """Loyalty-moderated utilities ``U_i = r_i + theta_i (phi_b * mean_{j in team(i), j != i} r_j + phi_c * cost_i)``.

    ``rewards`` and ``costs`` are 1-d, one entry per member; ``thetas`` one number or one per
    member, each in ``[0, 1]``; ``teams`` a list of lists of member indices (default: one team of
    everyone; a member listed in no team is alone). A member alone in its team has no welfare
    term (nobody to care about), only the cost tolerance. With ``r_i = pi_i`` and ``cost_i = c a_i``
    this is Pant & Yu's ``U_i = pi_i + theta_i (phi_b pibar_-i + phi_c c a_i)``.
    """
    r = _values("rewards", rewards)
    if r.ndim != 1:
        raise ValueError(f"rewards must be a 1-d array, one entry per member, got shape {r.shape}")
    cost = _values("costs", costs)
    if cost.shape != r.shape:
        raise ValueError(f"costs must have one entry per member ({r.size}), got shape {cost.shape}")
    theta = _thetas(thetas, r.size)
    phi_b_ = float(_values("phi_b", phi_b, low=0.0))
    phi_c_ = float(_values("phi_c", phi_c, low=0.0))
    welfare = np.zeros_like(r)
    for team in _teams(teams, r.size):
        if len(team) < 2:
            continue
        members = np.array(team)
        total = r[members].sum()
        welfare[members] = (total - r[members]) / (len(team) - 1)
    return r + theta * (phi_b_ * welfare + phi_c_ * cost)


# -- equilibrium ------------------------------------------------------------------------------------

def desired_total_effort(theta: Any, omega: Any, beta: Any, c: Any, n: Any, phi_b: Any, phi_c: Any) -> np.ndarray | float:
    """The total effort a member with loyalty ``theta`` wants: ``W = [(1 + theta phi_b) omega beta / (n c (1 - theta phi_c))]^(1/(1-beta))``.

    Where the member's first-order condition holds; with equal loyalty it is the symmetric
    equilibrium total ``S*``, uncapped. Arrays broadcast (one value per configuration).
    """
    theta_ = _values("theta", theta, low=0.0, high=1.0)
    omega_, beta_, c_, n_, phi_b_, phi_c_ = _model(omega, beta, c, n, phi_b, phi_c)
    base = (1.0 + theta_ * phi_b_) * omega_ * beta_ / (n_ * c_ * (1.0 - theta_ * phi_c_))
    return _out(base ** (1.0 / (1.0 - beta_)))


def _heterogeneous_total(wanted: np.ndarray, a_min: float, a_max: float) -> float:
    """The unique equilibrium total for members wanting totals ``wanted`` (see the module docstring)."""
    size = wanted.size
    for level in np.unique(wanted):  # an interior total equal to some member's wanted total
        above = int(np.sum(wanted > level))
        tied = int(np.sum(wanted == level))
        below = size - above - tied
        rest = level - above * a_max - below * a_min
        if tied * a_min <= rest <= tied * a_max:
            return float(level)
    for at_cap in range(size + 1):  # else a corner: at_cap members at a_max, the rest at a_min
        total = at_cap * a_max + (size - at_cap) * a_min
        if int(np.sum(wanted > total)) == at_cap and int(np.sum(wanted < total)) == size - at_cap:
            return float(total)
    raise AssertionError("no equilibrium total found")  # cannot happen: S - step(S) is increasing


def closed_form_effort(theta: Any, omega: float = 25.0, beta: float = 0.7, c: float = 1.0, n: int = 5,
                       phi_b: float = 0.8, phi_c: float = 0.3, a_max: float = 50.0, *, a_min: float = 0.0) -> float:
    """Equilibrium mean effort ``S*/n`` in closed form, capped at ``a_max`` (and floored at ``a_min``).

    ``theta`` a number (everyone equally loyal): ``min(max(W(theta)/n, a_min), a_max)`` with
    ``W`` from :func:`desired_total_effort`; the API's form, ``min(S*/n, a_max)``, is the default
    ``a_min = 0``. Pass the world's ``a_min`` to compare with a numeric equilibrium, which cannot
    go below it.

    ``theta`` a sequence of ``n`` loyalties (heterogeneous): the unique equilibrium total over
    ``n`` (only the most loyal contribute above the floor, see the module docstring); with
    ``a_min = 0`` the others give nothing. Pant & Yu, arXiv 2601.16237.
    """
    if isinstance(theta, Real) and not isinstance(theta, bool):
        if np.ndim(omega) or np.ndim(beta) or np.ndim(c) or np.ndim(n) or np.ndim(phi_b) or np.ndim(phi_c):
            raise ValueError("closed_form_effort takes numbers; use desired_total_effort for arrays")
        low, high = _range(a_min, a_max)
        wanted = desired_total_effort(theta, omega, beta, c, n, phi_b, phi_c)
        return float(min(max(wanted / int(n), low), high))
    size = int(_team_size(n))
    thetas = _thetas(theta, size, "theta")
    low, high = _range(a_min, a_max)
    wanted = np.asarray(desired_total_effort(thetas, omega, beta, c, size, phi_b, phi_c), dtype=np.float64)
    return _heterogeneous_total(wanted, low, high) / size


def best_response_equilibrium(thetas: Any, omega: float = 25.0, beta: float = 0.7, c: float = 1.0, n: int = 5,
                              phi_b: float = 0.8, phi_c: float = 0.3, a_min: float = 0.01, a_max: float = 50.0, *,
                              tol: float = 1e-12, max_iter: int = 10_000,
                              initial: Any = None) -> tuple[np.ndarray, bool]:
    """Numeric equilibrium by Gauss-Seidel best response: ``(efforts, converged)``.

    ``thetas``: one loyalty for everyone or one per member (``n`` of them), each in ``[0, 1]``.
    Starting from ``initial`` (default: everyone at ``a_min``), each sweep sets every member in
    turn, the most loyal first (ties in seat order), to its exact best response to the others'
    current efforts,
    ``a_i = clip(W(theta_i) - S_-i, a_min, a_max)`` (the first-order condition of the module
    docstring; ``U_i`` is concave, so this is the maximiser on the range). The iteration stops
    when no effort moved more than ``tol`` in a sweep (``converged`` True) or after ``max_iter``
    sweeps (False).

    With equal loyalty only the aggregate ``S*`` is unique: the profile returned depends on
    ``initial`` (from the floor, member 0 supplies everything above the others' ``a_min``), its
    mean does not. With heterogeneous loyalty only the most loyal members contribute; the
    others stay at ``a_min`` (the spec). Visiting the most loyal first makes the default start
    converge in two sweeps; from another ``initial``, a less loyal member above the floor gives
    way by the gap ``d`` between the wanted totals per sweep, so totals that differ by far less
    than the efforts (but more than ``tol``) can exhaust ``max_iter``: ``converged`` says so.
    """
    if np.ndim(n):
        raise ValueError(f"n must be a number, got {n!r}")
    size = int(_team_size(n))
    theta = _thetas(thetas, size)
    low, high = _range(a_min, a_max)
    tolerance = float(_values("tol", tol, low=0.0, low_open=True))
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    wanted = [float(w) for w in np.atleast_1d(desired_total_effort(theta, omega, beta, c, size, phi_b, phi_c))]
    if initial is None:
        efforts = [low] * size
    else:
        start = _values("initial", initial, low=low, high=high)
        if start.shape != (size,):
            raise ValueError(f"initial must have one effort per member ({size}), got shape {start.shape}")
        efforts = [float(a) for a in start]
    # the most loyal first: from the floor, the member wanting the largest total sets it and the
    # others' best responses are already the floor, whatever the gap between their wanted totals
    order = sorted(range(size), key=lambda member: -wanted[member])
    for _ in range(int(max_iter)):
        total = math.fsum(efforts)
        largest_move = 0.0
        for i in order:
            others = total - efforts[i]
            response = min(max(wanted[i] - others, low), high)
            largest_move = max(largest_move, abs(response - efforts[i]))
            total = others + response
            efforts[i] = response
        if largest_move <= tolerance:
            return np.array(efforts), True
    return np.array(efforts), False


def effort_ratio(theta_high: Any, theta_low: Any, beta: Any, phi_b: Any, phi_c: Any) -> np.ndarray | float:
    """Closed-form ratio of equilibrium efforts ``a*(theta_high) / a*(theta_low)``, uncapped.

    ``[(1 + theta_h phi_b)/(1 - theta_h phi_c) / ((1 + theta_l phi_b)/(1 - theta_l phi_c))]^(1/(1-beta))``;
    ``omega``, ``c`` and ``n`` cancel. Arrays broadcast.
    """
    high = _values("theta_high", theta_high, low=0.0, high=1.0)
    low = _values("theta_low", theta_low, low=0.0, high=1.0)
    beta_ = _values("beta", beta, low=0.0, high=1.0, low_open=True, high_open=True)
    phi_b_ = _values("phi_b", phi_b, low=0.0)
    phi_c_ = _values("phi_c", phi_c, low=0.0, high=1.0, high_open=True)
    factor = ((1.0 + high * phi_b_) / (1.0 - high * phi_c_)) / ((1.0 + low * phi_b_) / (1.0 - low * phi_c_))
    return _out(factor ** (1.0 / (1.0 - beta_)))


# -- the sweep --------------------------------------------------------------------------------------

def _axis(name: str, values: Any) -> np.ndarray:
    array = np.atleast_1d(_values(name, values))
    if array.ndim != 1:
        raise ValueError(f"{name} must be a number or a list of numbers, got {values!r}")
    return array


def sweep_table(*, omega: Any = PAPER_SWEEP["omega"], beta: Any = PAPER_SWEEP["beta"], c: Any = PAPER_SWEEP["c"],
                n: Any = PAPER_SWEEP["n"], theta: Any = PAPER_SWEEP["theta"], phi_b: float = 0.8, phi_c: float = 0.3,
                a_min: float = 0.01, a_max: float = 50.0, numeric: bool = True,
                ratio_thetas: tuple[float, float] = (0.9, 0.1), synergy_theta: float = 0.7,
                tol: float = 1e-12, max_iter: int = 10_000) -> dict[str, np.ndarray]:
    """Every configuration of the grid ``omega x beta x c x n x theta`` and its equilibrium.

    Each axis is a number or a list (default :data:`PAPER_SWEEP`, 3,125 configurations). Rows
    are in ``itertools.product`` order (``omega`` outermost, ``theta`` innermost), as in the
    reference. Returns one array per column, one entry per configuration:

    - ``omega``, ``beta``, ``c``, ``n``, ``theta``: the configuration (``phi_b``, ``phi_c``,
      ``a_min``, ``a_max`` are fixed and also given as columns);
    - ``closed_form_effort``: ``W(theta)/n`` clipped to ``[a_min, a_max]`` (vectorised);
      ``uncapped_effort``: ``W(theta)/n`` with no bounds;
    - ``numeric_effort``: the mean effort of :func:`best_response_equilibrium` (NaN when
      ``numeric=False``); ``converged``: whether it converged (False when ``numeric=False``:
      nothing was solved);
    - ``equilibrium_effort``: the effort the targets use -- ``numeric_effort`` when
      ``numeric=True`` (the reference scores its numeric equilibria), else
      ``closed_form_effort``; ``total_effort = n * equilibrium_effort``; ``output = omega *
      total^beta``; ``payoff``: the members' mean base payoff ``Q/n - c * total/n``; ``utility``:
      their mean loyalty utility ``(1 + theta phi_b) payoff + theta phi_c c total/n`` (exact for
      any equilibrium profile: the mean of ``pibar_-i`` over i is the mean payoff);
    - per (omega, beta, c, n) cell, repeated on its rows (each computed like
      ``equilibrium_effort``, with equal loyalty): ``free_riding_effort`` (theta 0),
      ``analytic_free_riding`` (the reference's ``(omega beta / (c n^(2-beta)))^(1/(1-beta))``,
      unbounded), ``free_riding_error_pct`` (``100 |free_riding_effort - analytic| / analytic``);
      ``effort_high``, ``effort_low`` at ``ratio_thetas`` (default 0.9 and 0.1, the reference's
      comparison), ``effort_ratio = effort_high / effort_low`` and ``effort_ratio_closed_form``
      (:func:`effort_ratio`, uncapped); at ``synergy_theta`` (0.7): ``effort_synergy_both``,
      ``effort_phi_b_only`` (``phi_c = 0``), ``effort_phi_c_only`` (``phi_b = 0``) and
      ``mechanism_synergy = (both - base) / ((b_only - base) + (c_only - base))`` with ``base``
      the free-riding effort (1.0 where the denominator is not positive, as in the reference).

    The numeric solves take well under a second for the paper's grid (pure-Python Gauss-Seidel,
    a few sweeps per configuration, solved once per distinct configuration).
    """
    if not isinstance(numeric, bool):
        raise ValueError(f"numeric must be True or False, got {numeric!r}")
    axes = {"omega": _axis("omega", omega), "beta": _axis("beta", beta), "c": _axis("c", c),
            "n": _axis("n", n), "theta": _axis("theta", theta)}
    _model(axes["omega"], axes["beta"], axes["c"], axes["n"], phi_b, phi_c)
    _values("theta", axes["theta"], low=0.0, high=1.0)
    low, high = _range(a_min, a_max)
    if isinstance(ratio_thetas, (str, bytes)) or not isinstance(ratio_thetas, Sequence) or len(ratio_thetas) != 2:
        raise ValueError(f"ratio_thetas must be two loyalties (high, low), got {ratio_thetas!r}")
    theta_high, theta_low = (float(_values("ratio_thetas", t, low=0.0, high=1.0)) for t in ratio_thetas)
    theta_synergy = float(_values("synergy_theta", synergy_theta, low=0.0, high=1.0))
    phi_b_ = float(_values("phi_b", phi_b, low=0.0))
    phi_c_ = float(_values("phi_c", phi_c, low=0.0, high=1.0, high_open=True))

    grid = np.array(list(itertools.product(*axes.values())), dtype=np.float64)
    om, be, co, nn, th = grid.T
    nn_int = nn.astype(np.int64)

    solved: dict[tuple[float, ...], tuple[float, bool]] = {}

    def solve(th_: float, om_: float, be_: float, co_: float, n_: int, pb: float, pc: float) -> tuple[float, bool]:
        key = (th_, om_, be_, co_, n_, pb, pc)
        if key not in solved:
            efforts, converged = best_response_equilibrium(th_, om_, be_, co_, n_, pb, pc, low, high,
                                                           tol=tol, max_iter=max_iter)
            solved[key] = (float(efforts.mean()), converged)
        return solved[key]

    def effort(th_: Any, pb: float, pc: float) -> tuple[np.ndarray, np.ndarray]:
        """Equilibrium mean effort (and convergence) at loyalty ``th_`` for every row."""
        closed = np.clip(np.asarray(desired_total_effort(th_, om, be, co, nn, pb, pc)) / nn, low, high)
        if not numeric:
            return closed, np.zeros(len(grid), dtype=bool)
        thetas = np.broadcast_to(np.asarray(th_, dtype=np.float64), om.shape)
        results = [solve(float(t), float(o), float(b), float(k), int(m), pb, pc)
                   for t, o, b, k, m in zip(thetas, om, be, co, nn_int)]
        return np.array([r[0] for r in results]), np.array([r[1] for r in results], dtype=bool)

    uncapped = np.asarray(desired_total_effort(th, om, be, co, nn, phi_b_, phi_c_)) / nn
    closed = np.clip(uncapped, low, high)
    if numeric:
        numeric_effort, converged = effort(th, phi_b_, phi_c_)
        equilibrium = numeric_effort
    else:
        numeric_effort = np.full(len(grid), np.nan)
        converged = np.zeros(len(grid), dtype=bool)
        equilibrium = closed
    total = nn * equilibrium
    output = om * total ** be
    payoff = output / nn - co * total / nn
    utility = (1.0 + th * phi_b_) * payoff + th * phi_c_ * co * total / nn

    free_riding, _ = effort(0.0, phi_b_, phi_c_)
    analytic = (om * be / (co * nn ** (2.0 - be))) ** (1.0 / (1.0 - be))
    effort_high, _ = effort(theta_high, phi_b_, phi_c_)
    effort_low, _ = effort(theta_low, phi_b_, phi_c_)
    both, _ = effort(theta_synergy, phi_b_, phi_c_)
    b_only, _ = effort(theta_synergy, phi_b_, 0.0)
    c_only, _ = effort(theta_synergy, 0.0, phi_c_)
    individual = (b_only - free_riding) + (c_only - free_riding)
    positive = individual > 0
    synergy = np.ones(len(grid))
    synergy[positive] = (both[positive] - free_riding[positive]) / individual[positive]

    rows = len(grid)
    return {
        "omega": om, "beta": be, "c": co, "n": nn_int, "theta": th,
        "phi_b": np.full(rows, phi_b_), "phi_c": np.full(rows, phi_c_),
        "a_min": np.full(rows, low), "a_max": np.full(rows, high),
        "closed_form_effort": closed, "uncapped_effort": uncapped,
        "numeric_effort": numeric_effort, "converged": converged,
        "equilibrium_effort": equilibrium, "total_effort": total, "output": output,
        "payoff": payoff, "utility": utility,
        "free_riding_effort": free_riding, "analytic_free_riding": analytic,
        "free_riding_error_pct": 100.0 * np.abs(free_riding - analytic) / analytic,
        "effort_high": effort_high, "effort_low": effort_low, "effort_ratio": effort_high / effort_low,
        "effort_ratio_closed_form": np.broadcast_to(
            np.asarray(effort_ratio(theta_high, theta_low, be, phi_b_, phi_c_)), (rows,)).copy(),
        "effort_synergy_both": both, "effort_phi_b_only": b_only, "effort_phi_c_only": c_only,
        "mechanism_synergy": synergy,
    }
