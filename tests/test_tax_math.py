"""Exact tests of the tax world's math (dilemmazoo.envs.tax): brackets, T(z), the rebate, utility,
the rational best response, the planner's DELTA, skills; hand-computed values, arithmetic shown.

Sources: Karten et al. 2025 (arXiv 2507.15815, "LLM Economist"); Zheng et al. "The AI Economist".
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dilemmazoo.envs.tax import (
    BRACKETS,
    C_LABOUR,
    DELTA_CHOICES,
    DELTA_LABOUR,
    GB2_PARAMS,
    HOURS_GRID,
    MAX_HOURS,
    REFERENCE_TOP_EDGE,
    US_FEDERAL_2024_RATES,
    SAEZ_BRACKET_ELASTICITIES,
    SAEZ_ELASTICITY,
    apply_deltas,
    bracket_edges,
    bracket_index,
    equality_times_productivity,
    gaussian_kde_density,
    gb2_incomes,
    gini,
    lump_sum,
    productivity,
    rational_hours,
    saez_rates,
    skills_from_incomes,
    swf,
    tax_due,
    uniform_skills,
    worker_utility,
)

US = US_FEDERAL_2024_RATES  # 10 12 22 24 32 35 37 %


# --------------------------------------------------------------------------------------------
# Constants and bracket edges
# --------------------------------------------------------------------------------------------


def test_constants_are_the_papers():
    assert (C_LABOUR, DELTA_LABOUR, MAX_HOURS) == (0.0005, 3.5, 100)
    assert HOURS_GRID == (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
    assert DELTA_CHOICES == (-20, -10, 0, 10, 20)
    assert REFERENCE_TOP_EDGE == 1e7
    assert BRACKETS["flat"] == (0.0, math.inf)
    assert BRACKETS["three"] == (0.0, 90000.0, 159100.0, math.inf)
    assert BRACKETS["us_federal"] == (0.0, 11600.0, 47150.0, 100525.0, 191950.0, 243725.0, 609350.0, math.inf)
    assert len(US) == len(BRACKETS["us_federal"]) - 1
    assert GB2_PARAMS["mu"] == pytest.approx(72402.78, abs=0.01)
    assert GB2_PARAMS["sigma"] == pytest.approx(2.0721, abs=1e-4)


def test_bracket_edges_by_name_and_by_list():
    np.testing.assert_array_equal(bracket_edges("three"), [0, 90000, 159100, np.inf])
    np.testing.assert_array_equal(bracket_edges([0, 10, 20]), [0.0, 10.0, 20.0])
    np.testing.assert_array_equal(bracket_edges((0, 5, math.inf)), [0.0, 5.0, np.inf])


@pytest.mark.parametrize(
    "spec, reason",
    [
        ("five", "one of"),
        ([0], "at least two"),
        ([], "at least two"),
        ([10, 20, 30], "start at 0"),
        ([0, 20, 10], "increase strictly"),
        ([0, 10, 10, 20], "increase strictly"),
        ([0, math.inf, 20], "finite"),
        ([0, float("nan")], "finite"),
        ([0, -math.inf], "finite"),
        ([[0, 1], [2, 3]], "at least two"),
        (["a", "b"], "numbers"),
        (5, "list of edges"),
        (None, "list of edges"),
    ],
)
def test_bad_bracket_lists_are_value_errors(spec, reason):
    with pytest.raises(ValueError, match=reason):
        bracket_edges(spec)
    with pytest.raises(ValueError, match="brackets"):
        tax_due(100.0, spec, [10.0])


# --------------------------------------------------------------------------------------------
# T(z)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "z, expected",
    [
        (0.0, 0.0),
        (-500.0, 0.0),  # z <= 0 pays 0
        (1000.0, 100.0),  # 0.10 * 1000
        (11600.0, 1160.0),  # 0.10 * 11600: the edge counts in the lower bracket
        (11600.01, 1160.0012),  # 1160 + 0.12 * 0.01
        (47150.0, 5426.0),  # 1160 + 0.12 * (47150 - 11600 = 35550) = 1160 + 4266
        (47150.5, 5426.11),  # 5426 + 0.22 * 0.5
        (100525.0, 17168.5),  # 5426 + 0.22 * (100525 - 47150 = 53375) = 5426 + 11742.5
        (100526.0, 17168.74),  # 17168.5 + 0.24 * 1
        (191950.0, 39110.5),  # 17168.5 + 0.24 * 91425 = 17168.5 + 21942
        (191951.0, 39110.82),  # 39110.5 + 0.32 * 1
        (243725.0, 55678.5),  # 39110.5 + 0.32 * 51775 = 39110.5 + 16568
        (243726.0, 55678.85),  # 55678.5 + 0.35 * 1
        (609350.0, 183647.25),  # 55678.5 + 0.35 * 365625 = 55678.5 + 127968.75
        (609351.0, 183647.62),  # 183647.25 + 0.37 * 1
        (1e7, 3658187.75),  # 183647.25 + 0.37 * (1e7 - 609350 = 9390650) = + 3474540.5
        (1e8, 3658187.75),  # reference quirk: nothing above 1e7 is taxed
    ],
)
def test_us_federal_tax_at_and_around_every_edge(z, expected):
    # (the 2024 IRS single-filer table gives the same 1160, 5426, 17168.50, 39110.50, 55678.50, 183647.25)
    assert tax_due(z, "us_federal", US) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "z, expected",
    [
        (-1.0, 0.0),
        (0.0, 0.0),
        (90000.0, 9000.0),  # 0.10 * 90000
        (90000.01, 9000.002),  # 9000 + 0.20 * 0.01
        (159100.0, 22820.0),  # 9000 + 0.20 * (159100 - 90000 = 69100) = 9000 + 13820
        (159100.5, 22820.15),  # 22820 + 0.30 * 0.5
        (200000.0, 35090.0),  # 22820 + 0.30 * 40900 = 22820 + 12270
        (1e7, 2975090.0),  # 22820 + 0.30 * (1e7 - 159100 = 9840900) = 22820 + 2952270
        (2e7, 2975090.0),  # above 1e7 untaxed (default)
    ],
)
def test_three_bracket_tax_at_and_around_every_edge(z, expected):
    assert tax_due(z, "three", [10.0, 20.0, 30.0]) == pytest.approx(expected, abs=1e-6)


def test_top_edge_quirk_and_its_correction():
    # default: 1e8 pays only up to 1e7; corrected: 3658187.75 + 0.37 * (1e8 - 1e7) = 36958187.75
    assert tax_due(1e8, "us_federal", US) == pytest.approx(3658187.75)
    assert tax_due(1e8, "us_federal", US, top_edge=math.inf) == pytest.approx(36958187.75)
    # flat 50 %: 2e7 pays 0.5 * 1e7 by default, 0.5 * 2e7 corrected
    assert tax_due(2e7, "flat", [50.0]) == pytest.approx(5e6)
    assert tax_due(2e7, "flat", [50.0], top_edge=math.inf) == pytest.approx(1e7)
    # below the top edge both agree: 0.5 * 1e6
    assert tax_due(1e6, "flat", [50.0]) == tax_due(1e6, "flat", [50.0], top_edge=math.inf) == 5e5
    # an explicit finite last edge also closes the schedule: [0,100) 10 %, [100,200) 20 %: 10 + 20
    assert tax_due(250.0, [0, 100, 200], [10.0, 20.0], top_edge=math.inf) == pytest.approx(30.0)
    with pytest.raises(ValueError, match="top_edge"):
        tax_due(1.0, "flat", [10.0], top_edge=0.0)


def test_tax_is_vectorised_and_scalars_give_floats():
    out = tax_due(np.array([0.0, 11600.0, 47150.0]), "us_federal", US)
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    np.testing.assert_allclose(out, [0.0, 1160.0, 5426.0])
    assert isinstance(tax_due(11600, "us_federal", US), float)
    grid = tax_due(np.full((2, 3), 90000.0), "three", [10, 20, 30])
    np.testing.assert_allclose(grid, np.full((2, 3), 9000.0))


def test_tax_rejects_bad_rates_and_incomes():
    with pytest.raises(ValueError, match="one rate per bracket"):
        tax_due(1.0, "three", [10.0, 20.0])
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        tax_due(1.0, "flat", [101.0])
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        tax_due(1.0, "flat", [-1.0])
    with pytest.raises(ValueError, match="z must hold finite"):
        tax_due([1.0, math.nan], "flat", [10.0])
    with pytest.raises(ValueError, match="z must"):
        tax_due("1000", "flat", [10.0])


def test_bracket_index_puts_boundaries_in_the_lower_bracket():
    z = [-5.0, 0.0, 11600.0, 11600.01, 47150.0, 47150.01, 609350.0, 609350.01, 1e9]
    np.testing.assert_array_equal(bracket_index(z, "us_federal"), [0, 0, 0, 1, 1, 2, 5, 6, 6])
    assert bracket_index(90000.0, "three") == 0 and isinstance(bracket_index(90000.0, "three"), int)
    assert bracket_index(90000.5, "three") == 1
    assert bracket_index(159100.0, "three") == 1 and bracket_index(159101.0, "three") == 2
    assert bracket_index(5.0, "flat") == 0
    assert bracket_index(500.0, [0, 100, 200]) == 1  # above a finite last edge: the last bracket


# --------------------------------------------------------------------------------------------
# Rebate and utility
# --------------------------------------------------------------------------------------------


def test_lump_sum_returns_all_revenue_equally():
    # taxes of three workers 1160 + 5426 + 0 = 6586; / 3 = 2195.333...
    assert lump_sum([1160.0, 5426.0, 0.0]) == pytest.approx(6586.0 / 3.0)
    assert lump_sum(np.array([7.0])) == 7.0
    with pytest.raises(ValueError, match="taxes"):
        lump_sum([])


def test_worker_utility_by_hand():
    # 16 hours at skill 100: z = 1600; flat 50 %: T = 800; rebate 300;
    # c l^delta = 0.0005 * 16^3.5 = 0.0005 * (4096 * 4 = 16384) = 8.192;  u = 1600 - 800 + 300 - 8.192
    assert worker_utility(1600.0, 800.0, 300.0, 16.0) == pytest.approx(1091.808)
    # 100 hours: 0.0005 * 100^3.5 = 0.0005 * 1e7 = 5000;  4 hours: 0.0005 * 4^3.5 = 0.0005 * 128 = 0.064
    u = worker_utility(np.array([10000.0, 400.0]), np.array([2000.0, 0.0]), 50.0, np.array([100.0, 4.0]))
    np.testing.assert_allclose(u, [10000 - 2000 + 50 - 5000, 400 + 50 - 0.064])
    # other constants: c = 1, delta = 2: 10 - 0 + 0 - 1 * 3^2 = 1
    assert worker_utility(10.0, 0.0, 0.0, 3.0, c=1.0, delta=2.0) == pytest.approx(1.0)
    assert isinstance(worker_utility(1.0, 0.0, 0.0, 1.0), float)
    with pytest.raises(ValueError, match="hours"):
        worker_utility(1.0, 0.0, 0.0, -1.0)
    with pytest.raises(ValueError, match="delta"):
        worker_utility(1.0, 0.0, 0.0, 1.0, delta=1.0)
    with pytest.raises(ValueError, match="c must"):
        worker_utility(1.0, 0.0, 0.0, 1.0, c=0.0)


# --------------------------------------------------------------------------------------------
# The rational best response
# --------------------------------------------------------------------------------------------


def test_rational_hours_interior_optimum_by_hand():
    # l* = ((1 - tau) v / (c delta))^(1/(delta-1)), c delta = 0.00175, 1/(delta-1) = 0.4.
    # no tax, v = 0.00175 * 16^2.5 = 0.00175 * 1024 = 1.792  ->  l* = 1024^0.4 = 16
    assert rational_hours(1.792, "flat", [0.0]) == pytest.approx(16.0)
    # 50 % flat tax halves the net wage, so v = 3.584 gives the same 16 hours
    assert rational_hours(3.584, "flat", [50.0]) == pytest.approx(16.0)
    # 100 % tax: nothing to gain, no work; a skill of 0 works 0 hours
    assert rational_hours(50.0, "flat", [100.0]) == 0.0
    assert rational_hours(0.0, "flat", [0.0]) == 0.0
    # the cap: v = 0.00175 * 100^2.5 = 175 is exactly at 100 hours; more skill stays at 100
    np.testing.assert_allclose(rational_hours([175.0, 1810.0, 1e5], "flat", [0.0]), [100.0, 100.0, 100.0])
    assert rational_hours(1.792, "flat", [0.0], max_hours=10) == pytest.approx(10.0)


def test_rational_hours_stops_at_a_kink():
    # brackets [0, 1000) 0 %, [1000, inf) 100 %; v = 100: untaxed l* = (100 / 0.00175)^0.4 = 79.9 h
    # would earn 7990 > 1000, but every unit above 1000 is taxed away: work 1000 / 100 = 10 h
    assert rational_hours(100.0, [0, 1000, math.inf], [0.0, 100.0]) == pytest.approx(10.0)


def _brute_force(skill, edges, rates, top_edge=REFERENCE_TOP_EDGE, step=0.001):
    hours = np.arange(0.0, MAX_HOURS + step / 2, step)
    z = skill * hours
    u = z - tax_due(z, edges, rates, top_edge=top_edge) - C_LABOUR * hours**DELTA_LABOUR
    return hours, u


SCHEDULES = [
    ("flat", [0.0]),
    ("flat", [50.0]),
    ("flat", [90.0]),
    ("three", [10.0, 20.0, 30.0]),
    ("three", [60.0, 10.0, 80.0]),  # not progressive: two local optima
    ("three", [0.0, 100.0, 0.0]),
    ("us_federal", list(US)),
    ([0, 1000, 5000, math.inf], [20.0, 70.0, 40.0]),
]
SKILLS = [0.5, 1.792, 5.0, 12.0, 37.0, 60.0, 99.0, 175.0, 900.0, 1591.0, 1810.0, 4000.0]


@pytest.mark.parametrize("edges, rates", SCHEDULES)
def test_rational_hours_match_a_fine_grid_search(edges, rates):
    closed = rational_hours(np.array(SKILLS), edges, rates)
    for skill, hours in zip(SKILLS, closed):
        grid_hours, grid_u = _brute_force(skill, edges, rates)
        u_closed = skill * hours - tax_due(skill * hours, edges, rates) - C_LABOUR * hours**DELTA_LABOUR
        # never worse than the best of 100,001 grid points, and within a grid step of its argmax
        assert u_closed >= grid_u.max() - 1e-9 * max(1.0, abs(grid_u.max()))
        assert abs(hours - grid_hours[np.argmax(grid_u)]) <= 0.002
        assert 0.0 <= hours <= MAX_HOURS


def test_rational_hours_see_the_untaxed_top_of_the_reference():
    # v = 2e5 at 90 % flat: z = 2e5 l, the first 1e7 (l <= 50) taxed, the rest untaxed (quirk).
    # taxed: l* = (0.1 * 2e5 / 0.00175)^0.4 = 11428571^0.4 = 669 h -> clipped to 50 h (the top edge);
    # untaxed piece: l* = (2e5 / 0.00175)^0.4 -> the 100 h cap. The best is the cap.
    assert rational_hours(2e5, "flat", [90.0]) == pytest.approx(100.0)
    hours, u = _brute_force(2e5, "flat", [90.0])
    assert hours[np.argmax(u)] == pytest.approx(100.0)
    # corrected schedule: still capped (l* = 669 h > 100)
    assert rational_hours(2e5, "flat", [90.0], top_edge=math.inf) == pytest.approx(100.0)
    # with a small skill the top edge is out of reach and both agree: (0.1 * 50 / 0.00175)^0.4
    expected = (0.1 * 50 / 0.00175) ** 0.4
    assert rational_hours(50.0, "flat", [90.0]) == pytest.approx(expected)
    assert rational_hours(50.0, "flat", [90.0], top_edge=math.inf) == pytest.approx(expected)


@pytest.mark.parametrize("edges, rates", SCHEDULES)
def test_rational_hours_on_the_grid_is_the_best_grid_point(edges, rates):
    best = rational_hours(np.array(SKILLS), edges, rates, grid=HOURS_GRID)
    for skill, hours in zip(SKILLS, best):
        utilities = [
            skill * h - tax_due(skill * h, edges, rates) - C_LABOUR * h**DELTA_LABOUR for h in HOURS_GRID
        ]
        assert hours == HOURS_GRID[int(np.argmax(utilities))]


def test_rational_hours_shape_and_errors():
    out = rational_hours(np.full((2, 2), 1.792), "flat", [0.0])
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, 16.0)
    assert isinstance(rational_hours(1.792, "flat", [0.0]), float)
    with pytest.raises(ValueError, match="skills"):
        rational_hours(-1.0, "flat", [0.0])
    with pytest.raises(ValueError, match="grid"):
        rational_hours(1.0, "flat", [0.0], grid=[0, 110])
    with pytest.raises(ValueError, match="grid"):
        rational_hours(1.0, "flat", [0.0], grid=[])
    with pytest.raises(ValueError, match="max_hours"):
        rational_hours(1.0, "flat", [0.0], max_hours=0)
    with pytest.raises(ValueError, match="rates_percent"):
        rational_hours(1.0, "three", [0.0])


# --------------------------------------------------------------------------------------------
# The planner's move
# --------------------------------------------------------------------------------------------


def test_apply_deltas_clips_rounds_and_bounds():
    # 50+20=70 | 50-20=30 | 50+35->+20=70 | 50-35->-20=30 | 5 -> round(0.5)=0 (half to even): 50
    # 15 -> round(1.5)=2 -> +20: 70 | -15 -> -20: 30 | 14 -> +10: 60 | 95+10 -> 100 | 5-10 -> 0
    rates = [50, 50, 50, 50, 50, 50, 50, 50, 95, 5]
    deltas = [20, -20, 35, -35, 5, 15, -15, 14, 10, -10]
    np.testing.assert_array_equal(apply_deltas(rates, deltas), [70, 30, 70, 30, 50, 70, 30, 60, 100, 0])
    assert not np.signbit(apply_deltas([0.0], [-4.0])).any()  # -0.0 never leaks out
    with pytest.raises(ValueError, match="one move per bracket"):
        apply_deltas([50, 50], [10])
    with pytest.raises(ValueError, match="deltas"):
        apply_deltas([50], [math.nan])
    with pytest.raises(ValueError, match="rates_percent"):
        apply_deltas([120], [0])


# --------------------------------------------------------------------------------------------
# Skills
# --------------------------------------------------------------------------------------------


def test_gb2_incomes_are_seeded_and_positive():
    a, b = gb2_incomes(500, 7), gb2_incomes(500, 7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, gb2_incomes(500, 8))
    assert a.shape == (500,) and np.all(a > 0) and np.all(np.isfinite(a))
    # a Generator is used as is: the same stream as the int seed
    np.testing.assert_array_equal(gb2_incomes(500, np.random.default_rng(7)), a)
    with pytest.raises(ValueError, match="n must"):
        gb2_incomes(0, 1)
    with pytest.raises(ValueError, match="seed"):
        gb2_incomes(3, -1)
    with pytest.raises(ValueError, match="sigma"):
        gb2_incomes(3, 1, sigma=0.0)


def test_gb2_incomes_follow_the_gb2_law():
    # GB2 quantile (GAMLSS qGB2, the reference): mu * ((nu/tau) * F^-1_{2nu,2tau}(p))^(1/sigma)
    stats = pytest.importorskip("scipy.stats")
    p = GB2_PARAMS
    draws = gb2_incomes(20000, 1)
    for q in (0.25, 0.5, 0.9):
        w = stats.f.ppf(q, 2 * p["nu"], 2 * p["tau"])
        quantile = p["mu"] * ((p["nu"] / p["tau"]) * w) ** (1 / p["sigma"])  # 17393, 38102, 124509
        assert np.quantile(draws, q) == pytest.approx(quantile, rel=0.03)


def test_uniform_skills_and_skills_from_incomes():
    s = uniform_skills(1000, 3)
    np.testing.assert_array_equal(s, uniform_skills(1000, 3))
    assert s.min() >= 1.24 and s.max() <= 159.1
    # skill = income / 40: 72000 / 40 = 1800
    assert skills_from_incomes(72000.0) == 1800.0
    np.testing.assert_allclose(skills_from_incomes([40.0, 400.0]), [1.0, 10.0])
    with pytest.raises(ValueError, match="incomes"):
        skills_from_incomes(-1.0)
    with pytest.raises(ValueError, match="high"):
        uniform_skills(3, 1, low=5.0, high=2.0)


# --------------------------------------------------------------------------------------------
# Saez, method "llm_economist" (Karten et al.)
# --------------------------------------------------------------------------------------------


def test_kernel_density_is_scipys_gaussian_kde():
    stats = pytest.importorskip("scipy.stats")
    sample = gb2_incomes(200, 4)
    points = np.array([5e3, 3e4, 9e4, 4e5])
    np.testing.assert_allclose(gaussian_kde_density(sample, points), stats.gaussian_kde(sample)(points), rtol=1e-12)
    assert isinstance(gaussian_kde_density([1.0, 2.0], 1.5), float)
    with pytest.raises(ValueError, match="two different values"):
        gaussian_kde_density([5.0, 5.0], 5.0)


def test_saez_llm_economist_by_hand_on_four_incomes():
    incomes = [400.0, 10.0, 30.0, 20.0]  # any order: the formula sorts
    edges = [0, 100, 500]  # brackets [0, 100], (100, 500]; E = min(500, 1e7) = 500
    e = [0.3, 0.5]
    # welfare weights 1/z = 1/10, 1/20, 1/30, 1/400 = (60, 30, 20, 1.5)/600, total 111.5/600
    # -> g_400 = 1.5 / 111.5
    # bracket 0 at the midpoint z = 50: F = 3/4 (10, 20, 30 <= 50)
    #   KDE: mean 115, deviations -105, -95, -85, 285; var = (11025 + 9025 + 7225 + 81225) / 3 = 36166.67
    #   h = sqrt(var) * 4^(-1/5) = 144.126;  f(50) = (1/4) sum_i phi((50 - z_i)/h) / h
    h = math.sqrt(108500.0 / 3.0) * 4 ** (-0.2)
    f50 = sum(math.exp(-0.5 * ((50.0 - zi) / h) ** 2) for zi in (10, 20, 30, 400)) / (4 * h * math.sqrt(2 * math.pi))
    assert h == pytest.approx(144.126, abs=1e-3) and f50 == pytest.approx(0.0020647, rel=1e-4)
    a0 = 50.0 * f50 / (1 - 0.75)  # a = z f / (1 - F) = 0.41293
    g0 = (1.5 / 111.5) / (1 - 0.75)  # G = (weight above 50) / (1 - F) = 6/111.5 = 0.053812
    tau0 = (1 - g0) / (1 - g0 + a0 * 0.3)  # = 0.88423
    # bracket 1 (top): z = 100 + 0.1 * (500 - 100) = 140; F = 3/4; incomes >= 140: {400}, m = 400
    #   a = m / (m - 100) = 4/3;  G = 6/111.5 as above
    tau1 = (1 - g0) / (1 - g0 + (4 / 3) * 0.5)  # = (105.5/111.5) / (105.5/111.5 + 2/3) = 0.58665
    rates = saez_rates(incomes, edges, e)
    np.testing.assert_allclose(rates, [100 * tau0, 100 * tau1], rtol=1e-9)
    np.testing.assert_allclose(rates, [88.42314, 58.66543], atol=1e-4)


def test_saez_top_fallback_and_the_flat_rate():
    # [10, 20, 30, 40], brackets [0, 50], (50, 100]: the top is evaluated at 50 + 0.1 * 50 = 55,
    # nobody reaches it: F = 1 -> a = 10, G = 0 -> tau = 1 / (1 + 10 * 0.4) = 0.2
    assert saez_rates([10, 20, 30, 40], [0, 50, 100], 0.4)[1] == pytest.approx(20.0)
    # flat: evaluated at 0 + 0.1 * 1e7 = 1e6; no income there -> 1 / (1 + 10 e)
    assert saez_rates([1000.0, 5e4, 2e5, 9e5], "flat", SAEZ_ELASTICITY) == pytest.approx([100 / (1 + 4)])
    assert saez_rates([1000.0, 5e4, 2e5, 9e5], "flat", [0.18]) == pytest.approx([100 / (1 + 1.8)])
    # an income past 1e6: z = 1e6, F = 1/2, m = 2e6, a = 2e6 / (2e6 - 0) = 1;
    # g_2e6 = (1/2e6) / (1/1e4 + 1/2e6) = 1/201, G = (1/201) / (1/2) = 2/201
    # tau = (199/201) / (199/201 + 0.4) = 199 / (199 + 80.4) = 0.712240
    assert saez_rates([1e4, 2e6], "flat", 0.4) == pytest.approx([100 * 199 / 279.4])
    # the corrected top rule: evaluated at the threshold 0: F = 0, a = m / m = 1, G = 1 -> 0 %
    assert saez_rates([1e4, 2e6], "flat", 0.4, top_rule="threshold", top_edge=math.inf) == pytest.approx([0.0])
    # and on the four incomes above, the threshold rule sees the same top income: same top rate
    threshold = saez_rates([400.0, 10.0, 30.0, 20.0], [0, 100, 500], [0.3, 0.5], top_rule="threshold")
    assert threshold[1] == pytest.approx(58.66543, abs=1e-4)
    # the fallback a is an option: 1 / (1 + 5 * 0.4) = 1/3
    assert saez_rates([10, 20], "flat", 0.4, fallback_a=5.0) == pytest.approx([100 / 3])


def test_saez_rates_are_unrounded_percent_in_range():
    incomes = gb2_incomes(300, 11) * 2.5
    for edges, e in (("three", SAEZ_BRACKET_ELASTICITIES), ("us_federal", 0.4), ("three", 0.4)):
        rates = saez_rates(incomes, edges, e)
        assert rates.shape == (len(bracket_edges(edges)) - 1,)
        assert np.all((rates >= 0) & (rates <= 100))
        assert not np.allclose(rates, np.round(rates, 2))  # no rounding for display


@pytest.mark.parametrize("method", ["llm_economist", "binned"])
def test_saez_elasticity_errors(method):
    incomes = [10.0, 20.0, 30.0]
    with pytest.raises(ValueError, match="length 3"):
        saez_rates(incomes, "three", [0.4, 0.4], method)
    with pytest.raises(ValueError, match="length 3"):
        saez_rates(incomes, "three", [0.4] * 4, method)
    with pytest.raises(ValueError, match="elasticities"):
        saez_rates(incomes, "three", 0.0, method)
    with pytest.raises(ValueError, match="elasticities"):
        saez_rates(incomes, "three", "0.4", method)
    with pytest.raises(ValueError, match="elasticities"):
        saez_rates(incomes, "three", [0.4, -0.1, 0.4], method)
    # a scalar broadcasts: the same as the list of three
    np.testing.assert_allclose(
        saez_rates(incomes, "three", 0.4, method), saez_rates(incomes, "three", [0.4, 0.4, 0.4], method)
    )


def test_saez_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        saez_rates([1.0, 2.0], "flat", 0.4, method="ols")
    with pytest.raises(ValueError, match="incomes"):
        saez_rates([1.0, -2.0], "flat", 0.4)
    with pytest.raises(ValueError, match="two different incomes"):
        saez_rates([5.0, 5.0], "flat", 0.4)
    with pytest.raises(ValueError, match="brackets"):
        saez_rates([1.0, 2.0], [0, 5, 3], 0.4)
    with pytest.raises(ValueError, match="finite top edge"):
        saez_rates([1.0, 2.0], "flat", 0.4, top_edge=math.inf)
    with pytest.raises(ValueError, match="top_edge"):
        saez_rates([1.0, 2.0], [0, 2e7, math.inf], 0.4)  # the top bracket starts above 1e7
    with pytest.raises(ValueError, match="top_rule"):
        saez_rates([1.0, 2.0], "flat", 0.4, top_rule="mean")


# --------------------------------------------------------------------------------------------
# Saez, method "binned" (Zheng et al., the AI Economist)
# --------------------------------------------------------------------------------------------


def test_saez_binned_by_hand_with_two_bins():
    # brackets [0, 100], (100, inf); bins [0, 50), [50, 100] + the top; incomes 25, 75 | 200, 300
    # p = (1/4, 1/4, 1/2); weights 1/max(1, z) at the bin midpoints 25, 75 and at 200, 300:
    #   1/25 + 1/75 + (1/200 + 1/300 = 1/120) = (24 + 8 + 5)/600 = 37/600 -> shares 24/37, 8/37, 5/37
    # G at the edges 0, 50, 100: (37/37)/1, (13/37)/(3/4) = 52/111, (5/37)/(1/2) = 10/37 = 30/111
    # G per bin (mean of its edges): (1 + 52/111)/2 = 163/222, (52 + 30)/222 = 41/111; top 30/111
    # a per bin: z p / P(z' >= z) / width with P = 1 - CDF + p/2 = 7/8, 5/8:
    #   25 * (1/4) / (7/8) / 50 = 1/7,  75 * (1/4) / (5/8) / 50 = 3/5;  top: m = 250, 250/150 = 5/3
    # tau = (1 - G) / (1 - G + a e), e = 0.5:
    tau0 = (59 / 222) / (59 / 222 + (1 / 7) * 0.5)  # 0.78817
    tau1 = (70 / 111) / (70 / 111 + (3 / 5) * 0.5)  # 0.67764
    tau_top = (81 / 111) / (81 / 111 + (5 / 3) * 0.5)  # 0.46686
    # bracket [0, 100]: the bins levy 50 tau0 + 50 tau1 on it -> rate (tau0 + tau1) / 2
    rates = saez_rates([25.0, 75.0, 200.0, 300.0], [0, 100, math.inf], 0.5, "binned", n_bins=2)
    np.testing.assert_allclose(rates, [100 * (tau0 + tau1) / 2, 100 * tau_top], atol=1e-5)  # 1e-9 regularisers


def test_saez_binned_interpolates_empty_bins():
    # four bins of width 25: 25 falls in [25, 50), 75 in [75, 100]; bins 0 and 2 are empty (NaN)
    # weights at midpoints 37.5, 87.5 and above: 1/37.5 + 1/87.5 + 1/120 = (112 + 48 + 35)/4200
    # G at the five edges: 1, 1, (83/195)/(3/4) = 332/585, 332/585, (35/195)/(1/2) = 210/585
    # G of bins 1 and 3: (1 + 332/585)/2 = 917/1170, (332 + 210)/1170 = 271/585; top 210/585
    # a: bin 1: 37.5 * (1/4) / (7/8) / 25 = 3/7; bin 3: 87.5 * (1/4) / (5/8) / 25 = 7/5; top 5/3
    t1 = (253 / 1170) / (253 / 1170 + (3 / 7) * 0.5)
    t3 = (314 / 585) / (314 / 585 + (7 / 5) * 0.5)
    t_top = (375 / 585) / (375 / 585 + (5 / 3) * 0.5)
    t0, t2 = t1 / 2, (t1 + t3) / 2  # bin 0: from 0 (nothing before) to t1; bin 2: halfway t1 -> t3
    rates = saez_rates([25.0, 75.0, 200.0, 300.0], [0, 100, math.inf], 0.5, "binned", n_bins=4)
    np.testing.assert_allclose(rates, [100 * (t0 + t1 + t2 + t3) / 4, 100 * t_top], atol=1e-5)


def test_saez_binned_top_rate_is_about_100_when_nobody_passes_the_cutoff():
    # nobody above 159100: a_top = 0, G_top = 0 -> tau = 1 / (1 + 1e-9)
    rates = saez_rates([10.0, 20.0], "three", 0.4, "binned")
    assert rates[-1] == pytest.approx(100.0, abs=1e-5)
    assert np.all((rates >= 0) & (rates <= 100))
    us = saez_rates(gb2_incomes(300, 2), "us_federal", 0.4, "binned")
    assert us.shape == (7,) and np.all((us >= 0) & (us <= 100))
    with pytest.raises(ValueError, match="n_bins"):
        saez_rates([10.0, 20.0], "three", 0.4, "binned", n_bins=0)


# --------------------------------------------------------------------------------------------
# Welfare, Gini, equality x productivity
# --------------------------------------------------------------------------------------------


def test_both_swfs_on_three_workers():
    u = [100.0, 50.0, -20.0]
    z = [200.0, 0.5, 50.0]  # the 0.5 income is floored at 1
    # LLM Economist: 100/200 + 50/1 + (-20)/50 = 0.5 + 50 - 0.4 = 50.1
    assert swf(u, z) == pytest.approx(50.1)
    assert swf(u, z, kind="llm_economist") == pytest.approx(50.1)
    # AI Economist: weights 1/200, 1, 1/50 sum to 1.025 -> 50.1 / 1.025 = 48.878049
    assert swf(u, z, kind="ai_economist") == pytest.approx(50.1 / 1.025)
    with pytest.raises(ValueError, match="kind"):
        swf(u, z, kind="rawls")
    with pytest.raises(ValueError, match="equally long"):
        swf(u, z[:2])
    with pytest.raises(ValueError, match="equally long"):
        swf([], [])


def test_gini_exact_path_below_30_values():
    # 1, 2, 3, 4: sum_ij |x_i - x_j| = 2 * (1+2+3+1+2+1) = 20; / (2 * 4 * 10) = 1/4; * 4/3 = 1/3
    assert gini([1.0, 2.0, 3.0, 4.0]) == pytest.approx(1 / 3)
    # 0, 0, 0, 1: 2 * 3 = 6; / (2 * 4 * 1) = 3/4; * 4/3 = 1
    assert gini([0.0, 0.0, 0.0, 1.0]) == pytest.approx(1.0)
    assert gini([5.0, 5.0, 5.0]) == 0.0
    assert gini([7.0]) == 0.0
    assert gini([0.0, 0.0]) == 0.0  # all zero below 30: 0 / 1e-10


def test_gini_fast_path_from_30_values():
    # 1..30: C_k = k(k+1)/2, sum_k C_k = (9455 + 465)/2 = 4960, S = 465
    # 1 - 2/31 * 4960/465 = 1 - 2/31 * 32/3 = 29/93 = 0.311828 (the pairwise path would give 1/3)
    assert gini(np.arange(1.0, 31.0)) == pytest.approx(29 / 93)
    # 29 zeros and a 1: sum_k C_k / S = 1 -> 1 - 2/31 = 29/31 (the pairwise path gives 1)
    assert gini([0.0] * 29 + [1.0]) == pytest.approx(29 / 31)
    assert gini(np.full(40, 3.0)) == pytest.approx(0.0, abs=1e-12)
    assert gini(np.zeros(30)) == 1.0  # the reference's all-zero quirk on the fast path
    with pytest.raises(ValueError, match="values"):
        gini([])
    with pytest.raises(ValueError, match="values"):
        gini([1.0, -1.0])


def test_equality_times_productivity_and_productivity():
    # (1 - 1/3) * (1 + 2 + 3 + 4)/4 = 2/3 * 2.5 = 5/3
    assert equality_times_productivity([1.0, 2.0, 3.0, 4.0]) == pytest.approx(5 / 3)
    # equality weight 1/2: (0.5 * 2/3 + 0.5) * 2.5 = 5/6 * 2.5 = 25/12
    assert equality_times_productivity([1.0, 2.0, 3.0, 4.0], equality_weight=0.5) == pytest.approx(25 / 12)
    assert productivity([1.0, 2.0, 3.0, 4.0]) == 10.0
    with pytest.raises(ValueError, match="equality_weight"):
        equality_times_productivity([1.0], equality_weight=2.0)
