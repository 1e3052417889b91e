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
    apply_deltas,
    bracket_edges,
    bracket_index,
    gb2_incomes,
    lump_sum,
    rational_hours,
    skills_from_incomes,
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
