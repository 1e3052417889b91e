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

The Saez baseline (:func:`saez_rates`, rates in percent, unrounded)
-------------------------------------------------------------------
Saez (2001): ``tau(z) = (1 - G(z)) / (1 - G(z) + a(z) e)``, clipped to ``[0, 1]`` (and 0 when
``G >= 1``). The function computes on the incomes it is given; the reference's planner feeds
it skill x 100 (= 2.5 x annual income), and the world states what it feeds.

``method="llm_economist"`` (Karten et al.'s ``saez_optimal_tax_rates``), for ``n >= 2`` incomes
that are not all equal, sorted:

- welfare weights ``g_i = (1 / max(z_i, 1e-10)) / sum_j (1 / max(z_j, 1e-10))`` (``weight_floor``);
- each bracket is evaluated at one income ``z``: the midpoint ``(e_j + e_{j+1}) / 2`` below the
  top; for the top bracket see below;
- ``F(z) = #{z_i <= z} / n`` (empirical CDF), ``f(z)`` the Gaussian KDE of the incomes
  (:func:`gaussian_kde_density`: scipy's ``gaussian_kde`` with Scott's factor, bandwidth
  ``std(z, ddof=1) n^(-1/5)``);
- ``a(z) = z f(z) / (1 - F(z))`` when ``F(z) < 1``, else ``fallback_a = 10``;
- ``G(z) = sum_{z_i >= z} g_i / (1 - F(z))`` when some income is ``>= z`` and ``F(z) < 1``,
  else 0;
- ``e``: :data:`SAEZ_ELASTICITY` 0.4 (Saez 2002) broadcast, or one per bracket
  (:data:`SAEZ_BRACKET_ELASTICITIES` 0.18, 0.11, 0.57 for ``"three"``); a list of another
  length is a ``ValueError``.
- **Reference quirk, the top bracket** (``top_rule="reference"``, the default): the top
  bracket is closed at ``E = min(e_K, top_edge)`` (``top_edge=1e7``, the artificial edge) and
  evaluated at ``z = e_{K-1} + 0.1 (E - e_{K-1})``; when some income is ``>= z``,
  ``a = m / (m - e_{K-1})`` with ``m`` their mean; when none is, ``a = fallback_a = 10`` and
  ``G = 0``, so ``tau = 1 / (1 + 10 e)``: the flat (one-bracket) Saez rate is
  ``1 / (1 + 10 e)`` (20 % at ``e = 0.4``) unless some income reaches 1e6.
  ``top_rule="threshold"`` is the corrected form: Saez's top-bracket formula at the
  bracket's own threshold, ``z = e_{K-1}``, ``a = m / (m - e_{K-1})`` and ``G`` over the incomes
  ``> e_{K-1}`` (the fallback only when the top bracket is empty); it needs no ``top_edge``.

``method="binned"`` (Zheng et al., ``PeriodicBracketTax`` with ``tax_model="saez"``; the
elasticity is an input here, the AI Economist estimates it online by OLS of ``log z`` on
``log(1 - tau)``): ``n_bins = 100`` equal bins on ``[0, e_{K-1}]`` plus an open top bin;
bin probabilities ``p``; welfare weights ``1 / max(1, z)`` at the bin midpoints (at each
income in the top bin); ``G`` at the bin edges = the weight share at or above the edge /
(``P(z' >= edge) + 1e-9``), averaged over each bin's two edges; ``a = z_mid p / (P(z' >= z) +
1e-9) / width`` with ``P(z' >= z) = 1 - CDF + p / 2`` (NaN for an empty bin) and
``a_top = m / (m - e_{K-1} + 1e-9)`` (0 when nobody is above the cutoff);
``tau = (1 - G) / (1 - G + a e + 1e-9)``; NaN rates of empty bins are filled by linear
interpolation from the last real rate (0 before any); a bracket's rate is the tax the bin
schedule levies across the bracket divided by its width; the top rate is the top bin's (about
100 % when no income passes the cutoff: the reference's behaviour, kept). A per-bracket
elasticity list applies to the bins whose midpoints lie in each bracket. With one bracket
there are no bins, only the top formula at cutoff 0.

Welfare and inequality
----------------------
- :func:`swf` (utilities first, then incomes; the reference's own function takes incomes
  first): ``"llm_economist"`` ``sum_i u_i / max(z_i, 1)`` (unnormalised, Karten et al.);
  ``"ai_economist"`` the same weights normalised to sum to 1 (a weighted mean; Zheng et al.'s
  ``inv_income_weighted_utility``). Every report says which.
- :func:`gini`: the AI Economist's ``get_gini``, two paths (see its docstring).
- :func:`equality_times_productivity`: ``(1 - gini) * mean`` (the AI Economist's
  ``coin_eq_times_productivity``: productivity divided by the number of agents);
  :func:`productivity` is the total (``get_productivity``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

from dilemmazoo.envs.checks import check_choice, check_int, check_real

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
    "SAEZ_BRACKET_ELASTICITIES",
    "SAEZ_ELASTICITY",
    "SAEZ_METHODS",
    "SWF_KINDS",
    "apply_deltas",
    "bracket_edges",
    "bracket_index",
    "equality_times_productivity",
    "gaussian_kde_density",
    "gb2_incomes",
    "gini",
    "lump_sum",
    "productivity",
    "rational_hours",
    "saez_rates",
    "skills_from_incomes",
    "swf",
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
#: Saez (2002)'s flat elasticity of taxable income, the reference's default
SAEZ_ELASTICITY = 0.4
#: the reference's per-bracket elasticities for the "three" brackets
SAEZ_BRACKET_ELASTICITIES: tuple[float, ...] = (0.18, 0.11, 0.57)
#: ``saez_rates`` methods: the LLM Economist's formula, the AI Economist's binned schedule
SAEZ_METHODS = ("llm_economist", "binned")
#: ``swf`` kinds: the LLM Economist's sum, the AI Economist's weighted mean
SWF_KINDS = ("llm_economist", "ai_economist")


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


def _tax_at_pieces(lower: np.ndarray, upper: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """The tax due at each piece's lower bound: ``sum_{i<k} tau_i (upper_i - lower_i)``."""
    return np.concatenate(([0.0], np.cumsum(rates[:-1] * (upper[:-1] - lower[:-1]))))


def _tax_by_lookup(z: np.ndarray, lower: np.ndarray, upper: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """``T(z)`` as ``base_k + tau_k (z - lower_k)`` for the piece ``k`` holding ``z`` (same value as ``_tax``,
    one lookup instead of a sum over pieces: the rational worker's inner loop)."""
    base = _tax_at_pieces(lower, upper, rates)
    piece = np.maximum(np.searchsorted(lower, z, side="right") - 1, 0)
    return np.where(z > 0.0, base[piece] + rates[piece] * (z - lower[piece]), 0.0)


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
        utility = incomes - _tax_by_lookup(incomes, lower, upper, pieces) - c * points**delta
        best = points[np.argmax(utility, axis=1)]
        return _out(best.reshape(v.shape), scalar)

    positive = flat_v > 0
    safe_v = np.where(positive, flat_v, 1.0)[:, None]
    stationary = (np.maximum(1.0 - pieces, 0.0)[None, :] * safe_v / (c * delta)) ** (1.0 / (delta - 1.0))
    low = np.minimum(lower[None, :] / safe_v, max_hours)
    high = np.minimum(upper[None, :] / safe_v, max_hours)
    candidates = np.clip(stationary, low, high)
    incomes = candidates * safe_v
    # each candidate lies in its own piece: T = base_k + tau_k (z - lower_k); a piece out of reach
    # of the cap (lower_k / v > max_hours) is no candidate
    taxes = _tax_at_pieces(lower, upper, pieces) + pieces * (incomes - lower)
    utility = incomes - taxes - c * candidates**delta
    utility = np.where(lower[None, :] / safe_v > max_hours, -np.inf, utility)
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


# --------------------------------------------------------------------------------------------
# The Saez baseline
# --------------------------------------------------------------------------------------------


def gaussian_kde_density(samples: Any, points: Any) -> np.ndarray | float:
    """Gaussian kernel density of ``samples`` at ``points``, as ``scipy.stats.gaussian_kde`` (1-D).

    ``f(x) = (1/n) sum_i phi((x - z_i) / h) / h`` with Scott's bandwidth
    ``h = std(z, ddof=1) * n^(-1/5)`` (scipy: covariance ``np.cov(z) * factor^2``, factor
    ``n^(-1/(d+4))``, ``d = 1``). Needs at least two samples that are not all equal.
    """
    z, _ = _array("samples", samples, one_d=True)
    x, scalar = _array("points", points)
    if z.size < 2 or np.ptp(z) == 0.0:
        raise ValueError("samples must hold at least two different values for a kernel density")
    h = float(np.std(z, ddof=1)) * z.size ** (-1.0 / 5.0)
    scaled = (x[..., None] - z) / h
    density = np.exp(-0.5 * scaled**2).mean(axis=-1) / (h * math.sqrt(2.0 * math.pi))
    return _out(density, scalar)


def _elasticities(elasticities: Any, n_brackets: int) -> np.ndarray:
    if isinstance(elasticities, Real) and not isinstance(elasticities, bool):
        values = np.full(n_brackets, float(elasticities))
    else:
        if isinstance(elasticities, (str, bytes, bool)) or np.ndim(elasticities) != 1:
            raise ValueError(f"elasticities must be a number or one number per bracket, got {elasticities!r}")
        values, _ = _array("elasticities", elasticities, one_d=True)
        if values.size != n_brackets:
            raise ValueError(f"elasticities must be length {n_brackets} (one per bracket), got {values.size}")
    if not np.all(np.isfinite(values)) or values.min() <= 0.0:
        raise ValueError(f"elasticities must be finite numbers > 0, got {elasticities!r}")
    return values


def _saez_tau(one_minus_g: float, a_e: float) -> float:
    """``(1 - G) / (1 - G + a e)`` clipped to [0, 1]; 0 when ``G >= 1`` (no gain from taxing above z)."""
    if one_minus_g <= 0.0:
        return 0.0
    return min(1.0, max(0.0, one_minus_g / (one_minus_g + a_e)))


def _saez_llm_economist(z: np.ndarray, edges: np.ndarray, e: np.ndarray, *, top_edge: float,
                        top_rule: str, fallback_a: float, weight_floor: float) -> np.ndarray:
    z = np.sort(z)
    n_brackets = edges.size - 1
    weights = 1.0 / np.maximum(z, weight_floor)
    weights = weights / weights.sum()
    taus = np.empty(n_brackets)
    for j in range(n_brackets):
        start = float(edges[j])
        top = j == n_brackets - 1
        if not top:
            point = 0.5 * (start + float(edges[j + 1]))
        elif top_rule == "reference":
            end = min(float(edges[-1]), top_edge)
            if not math.isfinite(end):
                raise ValueError("top_rule='reference' needs a finite top edge (top_edge or a finite last edge); "
                                 "use top_rule='threshold' with top_edge=math.inf")
            if end <= start:
                raise ValueError(f"top_edge ({end:g}) must lie above the top bracket's start ({start:g})")
            point = start + 0.1 * (end - start)
        else:
            point = start
        if top and top_rule == "threshold":
            above = z > point
            share_below = 1.0 - above.mean()
        else:
            above = z >= point
            share_below = float(np.mean(z <= point))
        if share_below < 1.0:
            a = point * float(gaussian_kde_density(z, point)) / (1.0 - share_below)
        else:
            a = fallback_a
        if top and above.any():
            m = float(z[above].mean())
            a = m / (m - start)
        if above.any() and share_below < 1.0:
            g = float(weights[above].sum()) / (1.0 - share_below)
        else:
            g = 0.0
        taus[j] = _saez_tau(1.0 - g, a * float(e[j]))
    return taus


def _saez_binned(z: np.ndarray, edges: np.ndarray, e: np.ndarray, n_bins: int) -> np.ndarray:
    """The AI Economist's binned Saez schedule (``PeriodicBracketTax``), adapted to fixed incomes."""
    tiny = 1e-9  # the reference's regulariser, everywhere it divides
    cutoff = float(edges[-2])  # the top bracket's start: bins cover [0, cutoff]
    bins = n_bins if cutoff > 0.0 else 0  # one bracket: only the open top "bin"
    left = np.linspace(0.0, cutoff, bins + 1)
    widths = np.diff(left)
    mids = 0.5 * (left[:-1] + left[1:])
    if bins:
        counts = np.histogram(z, bins=left)[0].astype(float)
        above, below = z > cutoff, z < 0.0
    else:
        counts = np.zeros(0)
        above = z > 0.0
        below = ~above
    n_total = counts.sum() + below.sum() + above.sum()
    pz = np.append(counts, above.sum()) / n_total  # bins, then the top
    cum_pz = np.minimum(below.sum() / n_total + np.cumsum(pz), 1.0)

    # welfare weights 1 / max(1, z): per bin at its midpoint, the top at each income
    def pareto(x: np.ndarray) -> np.ndarray:
        return 1.0 / np.maximum(1.0, x)

    weight_bins = counts * pareto(mids)
    weight_above = pareto(z[above]).sum()
    weight_below = pareto(np.maximum(z[below], 0.0)).sum()
    norm = weight_bins.sum() + weight_above + weight_below + tiny
    density = np.append(weight_bins, weight_above) / norm
    g_edges = np.cumsum(density[::-1])[::-1] / (np.cumsum(pz[::-1])[::-1] + tiny)
    g = np.append(0.5 * (g_edges[:-1] + g_edges[1:]), g_edges[-1])  # bins averaged over their edges

    # Pareto parameter per bin: z p(z) / P(z' >= z) / width, nan for an empty bin
    p_geq = np.clip(1.0 - cum_pz[:-1] + 0.5 * pz[:-1], 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_bins = np.where(pz[:-1] > 0.0, mids * pz[:-1] / (p_geq + tiny) / widths, np.nan)
    if above.any():
        m = float(z[above].mean())
        a_top = m / (m - cutoff + tiny)
    else:
        a_top = 0.0
    a = np.append(a_bins, a_top)

    # elasticity per bin: that of the bracket holding the bin's midpoint
    bin_brackets = np.append(np.searchsorted(edges[1:-1], mids, side="left"), edges.size - 2)
    e_bins = e[bin_brackets]
    taus = (1.0 - g) / (1.0 - g + a * e_bins + tiny)
    real = ~np.isnan(taus)
    if not real.all():  # empty bins: linear interpolation from the last real rate (0 before any)
        known = np.append(-1, np.flatnonzero(real))
        taus[~real] = np.interp(np.flatnonzero(~real), known, np.append(0.0, taus[real]))

    # a bracket's rate: the tax the bin schedule levies across the bracket / its width
    sizes = np.append(widths, math.inf)
    rates = []
    collected = 0.0
    for j in range(edges.size - 2):
        upper = float(edges[j + 1])
        income_in_bins = np.minimum(sizes, np.maximum(0.0, upper - left))
        due = max(0.0, float((taus * income_in_bins).sum()))
        rates.append((due - collected) / (upper - float(edges[j])))
        collected = due
    rates.append(taus[-1])
    return np.clip(np.array(rates, dtype=float), 0.0, 1.0)


def saez_rates(incomes: Any, edges: Any, elasticities: Any, method: str = "llm_economist", *,
               top_edge: float = REFERENCE_TOP_EDGE, top_rule: str = "reference",
               fallback_a: float = 10.0, weight_floor: float = 1e-10, n_bins: int = 100) -> np.ndarray:
    """Saez optimal marginal rates per bracket, percent, unrounded (see the module docstring).

    ``incomes`` are used as given (the reference's planner feeds skill x 100; the world says
    what it feeds). ``elasticities``: one number for every bracket, or one per bracket (a list
    of another length is a ``ValueError``). ``method="llm_economist"`` (Karten et al.; options
    ``top_edge``, ``top_rule``, ``fallback_a``, ``weight_floor``) or ``"binned"`` (Zheng et al.;
    option ``n_bins``).
    """
    method = check_choice("method", method, SAEZ_METHODS)
    edges = bracket_edges(edges)
    e = _elasticities(elasticities, edges.size - 1)
    z, _ = _array("incomes", incomes, low=0.0, one_d=True)
    if method == "binned":
        if z.size < 1:
            raise ValueError("incomes must hold at least one income")
        n_bins = check_int("n_bins", n_bins, 1)
        return 100.0 * _saez_binned(z, edges, e, n_bins)
    if z.size < 2 or np.ptp(z) == 0.0:
        raise ValueError("incomes must hold at least two different incomes (the density is a kernel estimate)")
    top_rule = check_choice("top_rule", top_rule, ("reference", "threshold"))
    fallback_a = check_real("fallback_a", fallback_a, low=0.0, low_open=True)
    weight_floor = check_real("weight_floor", weight_floor, low=0.0, low_open=True)
    taus = _saez_llm_economist(z, edges, e, top_edge=_top_edge(top_edge), top_rule=top_rule,
                               fallback_a=fallback_a, weight_floor=weight_floor)
    return 100.0 * taus


# --------------------------------------------------------------------------------------------
# Welfare and inequality
# --------------------------------------------------------------------------------------------


def swf(utilities: Any, incomes: Any, kind: str = "llm_economist") -> float:
    """Inverse-income-weighted social welfare (utilities first, then pre-tax incomes).

    ``"llm_economist"`` (Karten et al.): ``sum_i u_i / max(z_i, 1)``, unnormalised.
    ``"ai_economist"`` (Zheng et al., ``inv_income_weighted_utility``): the same weights
    normalised to sum to 1, ``sum_i w_i u_i`` with ``w_i = (1/max(z_i, 1)) / sum_j 1/max(z_j, 1)``
    (the AI Economist weights by coin endowments; here, as the spec says, by the incomes passed).
    """
    kind = check_choice("kind", kind, SWF_KINDS)
    u, _ = _array("utilities", utilities, one_d=True)
    z, _ = _array("incomes", incomes, one_d=True)
    if u.size == 0 or u.size != z.size:
        raise ValueError(f"utilities and incomes must be two equally long, non-empty lists, got {u.size} and {z.size}")
    weights = 1.0 / np.maximum(z, 1.0)
    if kind == "ai_economist":
        weights = weights / weights.sum()
    return float((u * weights).sum())


def gini(values: Any) -> float:
    """Gini index of non-negative ``values`` by the AI Economist's ``get_gini`` (Zheng et al.).

    With ``D = sum_ij |x_i - x_j| / (2 n sum x)`` (the plain pairwise Gini): fewer than 30
    values use ``D`` computed pairwise (denominator ``+ 1e-10``) scaled by ``n / (n - 1)``;
    from 30 values the sorted fast path ``1 - 2/(n + 1) * sum_k C_k / (S + 1e-10)`` (``C_k``
    cumulative sums of the sorted values, ``S`` their total), which equals ``D * n / (n + 1)``.
    The two scalings differ visibly (1..30 gives 29/93 = 0.312 where the pairwise path would
    give 1/3); that is the reference's behaviour, kept. Quirks kept too: all-zero values give 0
    below 30 values and 1 from 30. A single value gives 0 (the reference divides 0 by 0).
    """
    x, _ = _array("values", values, low=0.0, one_d=True)
    n = x.size
    if n == 0:
        raise ValueError("values must hold at least one value")
    if n == 1:
        return 0.0
    if n < 30:
        pairwise = np.abs(x[:, None] - x[None, :]).sum()
        unscaled = pairwise / (2.0 * n * x.sum() + 1e-10)
        return float(unscaled / ((n - 1) / n))
    ordered = np.sort(x)
    return float(1.0 - (2.0 / (n + 1)) * (np.cumsum(ordered) / (ordered.sum() + 1e-10)).sum())


def productivity(values: Any) -> float:
    """Total income (the AI Economist's ``get_productivity``: the sum of coin)."""
    x, _ = _array("values", values, one_d=True)
    return float(x.sum())


def equality_times_productivity(values: Any, *, equality_weight: float = 1.0) -> float:
    """``(w (1 - gini) + (1 - w)) * sum(values) / n`` (the AI Economist's ``coin_eq_times_productivity``).

    Equality is ``1 - gini(values)``; productivity here is the **mean** income (the reference
    divides the sum by the number of agents); ``w = equality_weight`` in [0, 1], 1 by default.
    """
    weight = check_real("equality_weight", equality_weight, low=0.0, high=1.0)
    x, _ = _array("values", values, low=0.0, one_d=True)
    if x.size == 0:
        raise ValueError("values must hold at least one value")
    equality = weight * (1.0 - gini(x)) + (1.0 - weight)
    return float(equality * x.sum() / x.size)
