"""Tax math of the LLM-Economist tax world — pure functions of numpy arrays, no world state.

Sources
-------
- Karten et al., "LLM Economist: Large Population Models and Mechanism Design in Multi-Agent
  Generative Simulacra" (2025, arXiv 2507.15815; paper-era code sethkarten/LLM-Economist):
  workers, utility, brackets, the inverse-income SWF, the Saez baseline, the planner's DELTA.
- Zheng et al., "The AI Economist" (2020, arXiv 2004.13332; Science Advances 2022;
  salesforce/ai-economist): the binned Saez schedule, the normalised SWF, Gini and
  equality x productivity.
- Saez, "Using Elasticities to Derive Optimal Income Tax Rates" (Review of Economic Studies
  2001): the formula both references adapt.

Everything here is vectorised: a scalar in gives a ``float`` out, an array in gives an array
out, and nothing loops over workers in Python. Bad arguments raise ``ValueError`` naming the
argument. The world (:mod:`dilemmazoo.envs.tax_world`) calls these functions; the hidden
reference checks of this project call ``tax_due``, ``gb2_incomes``, ``saez_rates``, ``swf`` and
``gini`` by name.

Symbols
-------
``l`` weekly labour hours in ``[0, MAX_HOURS]``; ``v`` skill (income per hour); ``z = l v``
pre-tax income; ``e_0 = 0 < e_1 < ... < e_K`` bracket edges (``e_K`` may be ``inf``);
``tau_j`` the marginal rate of bracket ``j`` (this module takes rates in **percent**,
``rates_percent[j] = 100 tau_j``); ``R`` the lump-sum rebate; ``c = C_LABOUR = 0.0005`` and
``delta = DELTA_LABOUR = 3.5`` the labour-cost constants.

Brackets and the tax
--------------------
- :data:`BRACKETS`: ``"flat"`` ``[0, inf)``; ``"three"`` ``[0, 90000, 159100, inf)`` (the
  paper's default); ``"us_federal"`` ``[0, 11600, 47150, 100525, 191950, 243725, 609350,
  inf)``, the 2024 single-filer schedule, with :data:`US_FEDERAL_2024_RATES`
  10/12/22/24/32/35/37 %. :func:`bracket_edges` turns a name or an explicit list into edges.
- :func:`tax_due`: ``T(z) = sum_j tau_j * clip(z - e_j, 0, min(e_{j+1}, E) - e_j)``, piecewise
  linear and continuous; ``z <= 0`` pays 0. :func:`bracket_index`: bracket ``j`` with
  ``e_j < z <= e_{j+1}``, so **z on a boundary counts in the lower bracket** (z = 11600 is in
  the 10 % bracket of ``us_federal``); ``z <= 0`` is bracket 0.
- **Reference quirk, the artificial top edge** (``top_edge``): the reference closes the top
  bracket at ``E = 1e7`` (:data:`REFERENCE_TOP_EDGE`), so income above ten million is untaxed.
  Reproduced by default (``top_edge=REFERENCE_TOP_EDGE``); ``top_edge=math.inf`` corrects it.
  An explicit edge list with a finite last edge behaves the same way above that edge.
- :func:`lump_sum`: ``R = sum_i T(z_i) / N``, all revenue returned equally to every worker.

Workers
-------
- :func:`worker_utility`: ``u = z - T(z) + R - c l^delta``.
- :func:`rational_hours`: the best response ``argmax_l  l v - T(l v) - c l^delta`` (``R`` taken
  as given) on ``[0, max_hours]``. Within bracket ``j`` the utility is concave with the
  stationary point ``l_j* = ((1 - tau_j) v / (c delta))^(1/(delta - 1))`` (``0`` when
  ``tau_j >= 1``); clipping ``l_j*`` to the hours that keep ``z`` inside the bracket (and to the
  cap) gives the best point of that bracket, and the best of those candidates is the global
  optimum (the schedule need not be progressive, so the utility need not be concave overall).
  Income above ``top_edge`` is one more, untaxed, segment. With ``grid`` the best grid point
  is returned instead (the exact argmax over the grid, ties to fewer hours).
- Skills (:func:`gb2_incomes`, :func:`skills_from_incomes`, :func:`uniform_skills`): annual
  incomes from a GB2 distribution with :data:`GB2_PARAMS` (``mu = 72402.78``, ``sigma =
  2.0721``, ``nu = 0.48652``, ``tau = 1.14104``; the reference's fit to ACS 2023) and
  ``v = income / 40`` (:data:`HOURS_PER_YEAR_FACTOR`); or ``v ~ U(1.24, 159.1)``.
  **How GB2 is drawn**: with ``G1 ~ Gamma(nu, 1)`` and ``G2 ~ Gamma(tau, 1)`` independent
  (``numpy.random.Generator.standard_gamma``, first all ``n`` draws of ``G1``, then all ``n`` of
  ``G2``, from ``numpy.random.default_rng(seed)`` -- PCG64 -- or the Generator passed in),
  ``G1 / G2`` is beta-prime(``nu``, ``tau``) and ``income = mu (G1 / G2)^(1 / sigma)`` is
  GB2(``a = sigma``, ``b = mu``, ``p = nu``, ``q = tau``): the same law as the reference's
  inverse-CDF draw (``mu ((nu / tau) W)^(1 / sigma)``, ``W ~ F(2 nu, 2 tau)``, since
  ``(nu / tau) W = G1 / G2``) but not the same numbers for a given seed (the reference draws
  from the global ``np.random``).

The planner's move
------------------
:func:`apply_deltas`: each DELTA is clipped to ``[-20, 20]`` and rounded to a multiple of 10
with ``numpy.round`` (half to even: 5 -> 0, 15 -> 20, -15 -> -20, as in the reference's
``parse_tax``), then the new rate is kept in ``[0, 100]``. :data:`DELTA_CHOICES` lists the
five moves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

from dilemmazoo.envs.checks import check_int, check_real

__all__ = [
    "BRACKETS",
    "C_LABOUR",
    "DELTA_CHOICES",
    "DELTA_LABOUR",
    "GB2_PARAMS",
    "HOURS_GRID",
    "HOURS_PER_YEAR_FACTOR",
    "MAX_HOURS",
    "MAX_DELTA",
    "REFERENCE_TOP_EDGE",
    "UNIFORM_SKILL_RANGE",
    "US_FEDERAL_2024_RATES",
    "apply_deltas",
    "bracket_edges",
    "bracket_index",
    "gb2_incomes",
    "lump_sum",
    "rational_hours",
    "skills_from_incomes",
    "tax_due",
    "uniform_skills",
    "worker_utility",
]

#: the labour-cost coefficient ``c`` of ``u = z - T(z) + R - c l^delta`` (Karten et al.)
C_LABOUR = 0.0005
#: the labour-cost exponent ``delta`` (Karten et al.)
DELTA_LABOUR = 3.5
#: the most weekly hours a worker may choose
MAX_HOURS = 100
#: the hours a language worker chooses from: 0, 10, ..., 100
HOURS_GRID: tuple[int, ...] = tuple(range(0, MAX_HOURS + 1, 10))
#: bracket edges by name; the top edge is ``inf`` (see ``REFERENCE_TOP_EDGE`` for the reference's 1e7)
BRACKETS: dict[str, tuple[float, ...]] = {
    "flat": (0.0, math.inf),
    "three": (0.0, 90000.0, 159100.0, math.inf),
    "us_federal": (0.0, 11600.0, 47150.0, 100525.0, 191950.0, 243725.0, 609350.0, math.inf),
}
#: US federal 2024 single-filer marginal rates, percent, one per ``BRACKETS["us_federal"]`` bracket
US_FEDERAL_2024_RATES: tuple[float, ...] = (10.0, 12.0, 22.0, 24.0, 32.0, 35.0, 37.0)
#: the reference code's artificial top edge: income above it is untaxed there
REFERENCE_TOP_EDGE = 1e7
#: GB2 parameters of the reference's annual-income distribution ("ACS 2023")
GB2_PARAMS: dict[str, float] = {
    "mu": 72402.78177917618,
    "sigma": 2.0721070746154746,
    "nu": 0.48651871959386955,
    "tau": 1.1410398548220329,
}
#: the alternative skill law ``v ~ U(low, high)``
UNIFORM_SKILL_RANGE = (1.24, 159.1)
#: skill = annual income / 40
HOURS_PER_YEAR_FACTOR = 40.0
#: the planner's moves per bracket, percentage points
DELTA_CHOICES: tuple[int, ...] = (-20, -10, 0, 10, 20)
#: the largest move per tax year, percentage points
MAX_DELTA = 20


# --------------------------------------------------------------------------------------------
# Argument helpers
# --------------------------------------------------------------------------------------------


def _array(name: str, values: Any, *, low: float = -math.inf, one_d: bool = False) -> tuple[np.ndarray, bool]:
    """``values`` as a float array of finite numbers >= ``low``, and whether it was a scalar."""
    if isinstance(values, bool) or isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a number or an array of numbers, got {values!r}")
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {values!r}") from None
    if one_d and array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must hold finite numbers only")
    if low > -math.inf and array.size and array.min() < low:
        raise ValueError(f"{name} must be >= {low:g}, got a value of {array.min():g}")
    return array, array.ndim == 0


def _out(array: np.ndarray, scalar: bool) -> np.ndarray | float:
    return float(array) if scalar else array


def _seed_rng(seed: Any) -> np.random.Generator:
    """The Generator for ``seed``: a Generator is used as is, an int >= 0 seeds PCG64."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int("seed", seed, 0))


# --------------------------------------------------------------------------------------------
# Brackets and the tax
# --------------------------------------------------------------------------------------------


def bracket_edges(spec: str | Sequence[float] | np.ndarray) -> np.ndarray:
    """Bracket edges ``[0, e_1, ..., e_K]`` (float array) from a name in :data:`BRACKETS` or a list.

    An explicit list must hold at least two numbers, start at 0, increase strictly, and be
    finite except perhaps its last edge (``inf``). Anything else is a ``ValueError`` with the
    reason.
    """
    if isinstance(spec, str):
        if spec not in BRACKETS:
            raise ValueError(f"brackets must be one of {sorted(BRACKETS)} or a list of edges, got {spec!r}")
        return np.array(BRACKETS[spec], dtype=float)
    if isinstance(spec, (bool, Real)) or spec is None:
        raise ValueError(f"brackets must be a name or a list of edges, got {spec!r}")
    try:
        edges = np.asarray(spec, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"brackets must be a list of numbers, got {spec!r}") from None
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError(f"brackets must list at least two edges (one bracket), got {spec!r}")
    if np.isnan(edges).any() or not np.all(np.isfinite(edges[:-1])) or edges[-1] == -math.inf:
        raise ValueError(f"brackets must be finite numbers (only the last edge may be inf), got {spec!r}")
    if edges[0] != 0.0:
        raise ValueError(f"brackets must start at 0, got {spec!r}")
    if not np.all(np.diff(edges) > 0):
        raise ValueError(f"brackets must increase strictly, got {spec!r}")
    return edges


def _rates_fraction(rates_percent: Any, n_brackets: int) -> np.ndarray:
    rates, _ = _array("rates_percent", rates_percent, one_d=True)
    if rates.size != n_brackets:
        raise ValueError(f"rates_percent must hold one rate per bracket ({n_brackets}), got {rates.size}")
    if rates.size and (rates.min() < 0.0 or rates.max() > 100.0):
        raise ValueError(f"rates_percent must lie in [0, 100], got {rates.tolist()}")
    return rates / 100.0


def _top_edge(top_edge: Any) -> float:
    if isinstance(top_edge, bool) or not isinstance(top_edge, Real) or math.isnan(top_edge) or top_edge <= 0:
        raise ValueError(f"top_edge must be a number > 0 (math.inf for no artificial top edge), got {top_edge!r}")
    return float(top_edge)


def _segments(edges: np.ndarray, rates: np.ndarray, top_edge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower bounds, upper bounds and rates of the schedule's linear pieces, the untaxed top included.

    Brackets are cut at ``E = min(e_K, top_edge)``; when ``E`` is finite, ``[E, inf)`` is one more
    piece with rate 0 (the reference quirk). Brackets that start at or above ``E`` have zero width.
    """
    cap = min(float(edges[-1]), top_edge)
    lower = np.minimum(edges[:-1], cap)
    upper = np.minimum(edges[1:], cap)
    if math.isfinite(cap):
        lower = np.append(lower, cap)
        upper = np.append(upper, math.inf)
        rates = np.append(rates, 0.0)
    return lower, upper, rates


def _tax(z: np.ndarray, lower: np.ndarray, upper: np.ndarray, rates: np.ndarray) -> np.ndarray:
    portions = np.clip(z[..., None] - lower, 0.0, upper - lower)
    return (rates * portions).sum(axis=-1)


def tax_due(z: Any, edges: Any, rates_percent: Any, *, top_edge: float = REFERENCE_TOP_EDGE) -> np.ndarray | float:
    """Income tax ``T(z) = sum_j tau_j * (portion of z inside bracket j)``, elementwise.

    ``edges`` is a bracket name or an edge list (see :func:`bracket_edges`); ``rates_percent``
    one marginal rate per bracket in ``[0, 100]``. ``z <= 0`` pays 0. Income above ``top_edge``
    is untaxed: the reference's 1e7 quirk by default, ``top_edge=math.inf`` corrects it.
    """
    edges = bracket_edges(edges)
    rates = _rates_fraction(rates_percent, edges.size - 1)
    incomes, scalar = _array("z", z)
    lower, upper, pieces = _segments(edges, rates, _top_edge(top_edge))
    return _out(_tax(incomes, lower, upper, pieces), scalar)


def bracket_index(z: Any, edges: Any) -> np.ndarray | int:
    """The bracket of each income: ``j`` with ``e_j < z <= e_{j+1}``; ``z <= 0`` is 0.

    A boundary income counts in the lower bracket; an income above a finite last edge counts in
    the last bracket.
    """
    edges = bracket_edges(edges)
    incomes, scalar = _array("z", z)
    index = np.searchsorted(edges[1:-1], incomes, side="left")
    return int(index) if scalar else index.astype(np.int64)


def lump_sum(taxes: Any) -> float:
    """The equal rebate ``R = sum_i T_i / N``: all revenue returned to every one of the N workers."""
    values, _ = _array("taxes", taxes, one_d=True)
    if values.size == 0:
        raise ValueError("taxes must hold one tax per worker (at least one)")
    return float(values.sum() / values.size)


def _labour(c: Any, delta: Any) -> tuple[float, float]:
    return check_real("c", c, low=0.0, low_open=True), check_real("delta", delta, low=1.0, low_open=True)


def worker_utility(z: Any, tax: Any, rebate: Any, hours: Any, *, c: float = C_LABOUR,
                   delta: float = DELTA_LABOUR) -> np.ndarray | float:
    """``u = z - T + R - c l^delta`` (Karten et al.), elementwise; ``hours`` must be >= 0."""
    c, delta = _labour(c, delta)
    incomes, s1 = _array("z", z)
    taxes, s2 = _array("tax", tax)
    rebates, s3 = _array("rebate", rebate)
    labour, s4 = _array("hours", hours, low=0.0)
    utility = incomes - taxes + rebates - c * labour**delta
    return _out(np.asarray(utility, dtype=float), s1 and s2 and s3 and s4)


# --------------------------------------------------------------------------------------------
# The rational worker
# --------------------------------------------------------------------------------------------


def rational_hours(skills: Any, edges: Any, rates_percent: Any, *, c: float = C_LABOUR,
                   delta: float = DELTA_LABOUR, max_hours: float = MAX_HOURS,
                   grid: Sequence[float] | None = None,
                   top_edge: float = REFERENCE_TOP_EDGE) -> np.ndarray | float:
    """Hours maximising each worker's own ``l v - T(l v) - c l^delta`` (the rebate is taken as given).

    ``grid=None``: the continuous optimum on ``[0, max_hours]``, by the per-bracket closed form
    ``l_j* = ((1 - tau_j) v / (c delta))^(1/(delta-1))`` clipped to the bracket and the cap, best
    candidate kept (ties to fewer hours). ``grid`` (e.g. :data:`HOURS_GRID`): the best point of
    the grid (points must lie in ``[0, max_hours]``). A skill of 0 works 0 hours. No Python loop
    over workers: 10,000 workers are one array operation per bracket.
    """
    c, delta = _labour(c, delta)
    max_hours = check_real("max_hours", max_hours, low=0.0, low_open=True)
    edges = bracket_edges(edges)
    rates = _rates_fraction(rates_percent, edges.size - 1)
    v, scalar = _array("skills", skills, low=0.0)
    lower, upper, pieces = _segments(edges, rates, _top_edge(top_edge))
    flat_v = v.reshape(-1)

    if grid is not None:
        points, _ = _array("grid", grid, low=0.0, one_d=True)
        if points.size == 0 or points.max() > max_hours:
            raise ValueError(f"grid must hold at least one point, all in [0, max_hours={max_hours:g}]")
        points = np.sort(points)
        incomes = flat_v[:, None] * points[None, :]
        utility = incomes - _tax(incomes, lower, upper, pieces) - c * points**delta
        best = points[np.argmax(utility, axis=1)]
        return _out(best.reshape(v.shape), scalar)

    positive = flat_v > 0
    safe_v = np.where(positive, flat_v, 1.0)[:, None]
    stationary = (np.maximum(1.0 - pieces, 0.0)[None, :] * safe_v / (c * delta)) ** (1.0 / (delta - 1.0))
    low = np.minimum(lower[None, :] / safe_v, max_hours)
    high = np.minimum(upper[None, :] / safe_v, max_hours)
    candidates = np.clip(stationary, low, high)
    incomes = candidates * safe_v
    utility = incomes - _tax(incomes, lower, upper, pieces) - c * candidates**delta
    # argmax keeps the first maximum: pieces run upward in income, so ties go to fewer hours
    best = np.take_along_axis(candidates, np.argmax(utility, axis=1)[:, None], axis=1)[:, 0]
    best = np.where(positive, best, 0.0)
    return _out(best.reshape(v.shape), scalar)


# --------------------------------------------------------------------------------------------
# Skills
# --------------------------------------------------------------------------------------------


def gb2_incomes(n: int, seed: int | np.random.Generator, *, mu: float = GB2_PARAMS["mu"],
                sigma: float = GB2_PARAMS["sigma"], nu: float = GB2_PARAMS["nu"],
                tau: float = GB2_PARAMS["tau"]) -> np.ndarray:
    """``n`` annual incomes from GB2(``mu, sigma, nu, tau``), all > 0 (defaults: :data:`GB2_PARAMS`).

    Drawn as ``mu * (G1 / G2)^(1/sigma)`` with ``G1 ~ Gamma(nu)`` (``n`` draws first) and
    ``G2 ~ Gamma(tau)`` (``n`` draws next) from ``numpy.random.default_rng(seed)`` (PCG64), or from
    the Generator passed as ``seed``. Same law as the reference's inverse-CDF draw, different
    numbers (see the module docstring).
    """
    n = check_int("n", n, 1)
    mu = check_real("mu", mu, low=0.0, low_open=True)
    sigma = check_real("sigma", sigma, low=0.0, low_open=True)
    nu = check_real("nu", nu, low=0.0, low_open=True)
    tau = check_real("tau", tau, low=0.0, low_open=True)
    rng = _seed_rng(seed)
    numerator = rng.standard_gamma(nu, n)
    denominator = rng.standard_gamma(tau, n)
    # a Gamma(nu < 1) draw can underflow to 0; keep every income strictly positive
    ratio = np.maximum(numerator, np.finfo(float).tiny) / np.maximum(denominator, np.finfo(float).tiny)
    return mu * ratio ** (1.0 / sigma)


def uniform_skills(n: int, seed: int | np.random.Generator, *, low: float = UNIFORM_SKILL_RANGE[0],
                   high: float = UNIFORM_SKILL_RANGE[1]) -> np.ndarray:
    """``n`` skills ``v ~ U(low, high)`` (default ``U(1.24, 159.1)``) from ``default_rng(seed)``."""
    n = check_int("n", n, 1)
    low = check_real("low", low, low=0.0)
    high = check_real("high", high, low=low, low_open=True)
    return _seed_rng(seed).uniform(low, high, n)


def skills_from_incomes(incomes: Any, *, factor: float = HOURS_PER_YEAR_FACTOR) -> np.ndarray | float:
    """Skill ``v = income / 40`` (Karten et al.; ``factor`` configurable)."""
    factor = check_real("factor", factor, low=0.0, low_open=True)
    values, scalar = _array("incomes", incomes, low=0.0)
    return _out(values / factor, scalar)


# --------------------------------------------------------------------------------------------
# The planner's move
# --------------------------------------------------------------------------------------------


def apply_deltas(rates_percent: Any, deltas: Any) -> np.ndarray:
    """New rates ``clip(rate + round10(clip(delta, -20, 20)), 0, 100)``, percent, one per bracket.

    ``round10`` is ``numpy.round(d / 10) * 10`` (half to even), as in the reference's parser.
    """
    rates, _ = _array("rates_percent", rates_percent, one_d=True)
    moves, _ = _array("deltas", deltas, one_d=True)
    if moves.size != rates.size:
        raise ValueError(f"deltas must hold one move per bracket ({rates.size}), got {moves.size}")
    if rates.size and (rates.min() < 0.0 or rates.max() > 100.0):
        raise ValueError(f"rates_percent must lie in [0, 100], got {rates.tolist()}")
    steps = np.round(np.clip(moves, -MAX_DELTA, MAX_DELTA) / 10.0) * 10.0
    return np.clip(rates + steps, 0.0, 100.0) + 0.0  # + 0.0 turns -0.0 into 0.0
