"""Loyalty (Pant & Yu, arXiv 2601.16237): the theory, the utility transform, and the sweep's targets.

Hand-computed numbers are written out; closed forms are recomputed here from the formulas,
independently of the module under test.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dilemmazoo.analysis.loyalty import (
    behavioural_targets,
    effort_ratio_summary,
    plot_effort_ratios,
    plot_equilibrium_curve,
    plot_sweep,
)
from dilemmazoo.envs.loyalty import (
    DEFAULTS,
    PAPER_SWEEP,
    base_payoffs,
    loyalty_utilities,
    team_output,
)
from dilemmazoo.norms import UTILITY_TRANSFORMS, make_utility
from dilemmazoo.norms.loyalty import (
    LoyaltyUtility,
    best_response_equilibrium,
    closed_form_effort,
    effort_ratio,
    loyalty_sweep,
    sweep_table,
)

PHI_B, PHI_C = 0.8, 0.3


def wanted_total(theta, omega, beta, c, n, phi_b=PHI_B, phi_c=PHI_C):
    """The spec's S*(theta) = [(1 + theta phi_B) omega beta / (n c (1 - theta phi_C))]^(1/(1-beta)), by hand."""
    return ((1 + theta * phi_b) * omega * beta / (n * c * (1 - theta * phi_c))) ** (1 / (1 - beta))


def clipped_mean(theta, omega, beta, c, n, phi_b=PHI_B, phi_c=PHI_C, a_min=0.01, a_max=50.0):
    return min(max(wanted_total(theta, omega, beta, c, n, phi_b, phi_c) / n, a_min), a_max)


def paper_utility(i, efforts, theta, omega, beta, c, phi_b=PHI_B, phi_c=PHI_C):
    """U_i = pi_i + theta (phi_B pibar_-i + phi_C c a_i), from the spec's formulas term by term."""
    n = len(efforts)
    total = sum(efforts)
    q = omega * total ** beta
    pi_i = q / n - c * efforts[i]
    pibar = q / n - c * (total - efforts[i]) / (n - 1)
    return pi_i + theta * (phi_b * pibar + phi_c * c * efforts[i])


# -- the game ---------------------------------------------------------------------------------------

def test_team_output_and_base_payoffs_by_hand():
    assert team_output(16.0, 25.0, 0.5) == pytest.approx(100.0)
    assert team_output(0.0, 25.0, 0.5) == 0.0
    # efforts 1, 3 (S = 4), omega 10, beta 0.5: Q = 20, shares 10; costs 2 and 6 at c = 2
    np.testing.assert_allclose(base_payoffs([1.0, 3.0], 10.0, 0.5, 2.0), [8.0, 4.0], rtol=1e-12)


def test_loyalty_utilities_equal_the_papers_utility():
    efforts = [2.0, 5.0, 0.5, 7.0]
    omega, beta, c = 25.0, 0.7, 1.5
    thetas = [0.0, 0.3, 0.9, 1.0]
    rewards = base_payoffs(efforts, omega, beta, c)
    got = loyalty_utilities(rewards, c * np.array(efforts), thetas, PHI_B, PHI_C)
    expected = [paper_utility(i, efforts, thetas[i], omega, beta, c) for i in range(4)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_loyalty_utilities_teams_and_members_alone():
    # teams [0, 1] and [2]; member 3 in no team is alone. r = 4, 2, 6, 1; costs 1, 1, 2, 3; theta 0.5
    got = loyalty_utilities([4.0, 2.0, 6.0, 1.0], [1.0, 1.0, 2.0, 3.0], 0.5, 0.8, 0.3, teams=[[0, 1], [2]])
    # 0: 4 + 0.5 (0.8 * 2 + 0.3 * 1) = 4.95;  1: 2 + 0.5 (0.8 * 4 + 0.3) = 3.75
    # 2 (alone): 6 + 0.5 * 0.3 * 2 = 6.3;     3 (alone): 1 + 0.5 * 0.3 * 3 = 1.45
    np.testing.assert_allclose(got, [4.95, 3.75, 6.3, 1.45], rtol=1e-12)


# -- closed form against numeric best response -------------------------------------------------------

def test_free_riding_closed_form_by_hand():
    # theta 0, defaults: S* = (25 * 0.7 / 5)^(1/0.3) = 3.5^(10/3); the reference's a* = (omega beta / (c n^(2-beta)))^(1/(1-beta))
    assert closed_form_effort(0.0) == pytest.approx(3.5 ** (10 / 3) / 5, rel=1e-12)
    assert closed_form_effort(0.0) == pytest.approx((17.5 / 5 ** 1.3) ** (1 / 0.3), rel=1e-12)
    assert closed_form_effort(0.0) == pytest.approx(13.0194, abs=1e-4)


@pytest.mark.parametrize("theta", [0.0, 0.1, 0.2, 0.3, 0.35])
def test_base_case_closed_form_equals_best_response(theta):
    d = DEFAULTS
    args = (d["omega"], d["beta"], d["c"], d["n"], d["phi_b"], d["phi_c"])
    expected = wanted_total(theta, d["omega"], d["beta"], d["c"], d["n"]) / d["n"]
    assert expected < d["a_max"]  # interior: the cap does not bind below theta ~0.4
    assert closed_form_effort(theta, *args, d["a_max"]) == pytest.approx(expected, rel=1e-12)
    for initial in (None, np.full(d["n"], d["a_max"] / 2)):  # from the floor, and from the reference's start
        efforts, converged = best_response_equilibrium(theta, *args, d["a_min"], d["a_max"], initial=initial)
        assert converged
        assert efforts.mean() == pytest.approx(expected, rel=1e-6)
        for i in range(d["n"]):  # every member best-responds: a_i = clip(S* - S_-i)
            others = efforts.sum() - efforts[i]
            assert efforts[i] == pytest.approx(min(max(expected * d["n"] - others, d["a_min"]), d["a_max"]), abs=1e-9)


def test_equal_loyalty_only_the_aggregate_is_unique():
    one, _ = best_response_equilibrium(0.2)
    two, _ = best_response_equilibrium(0.2, initial=[50.0, 40.0, 30.0, 20.0, 10.0])
    assert not np.allclose(one, two)
    assert one.sum() == pytest.approx(two.sum(), rel=1e-12)


def test_random_sweep_cells_closed_form_equals_best_response():
    grid = list(itertools.product(*PAPER_SWEEP.values()))
    assert len(grid) == 3125
    rng = np.random.default_rng(18)
    floor_hits = 0
    for index in rng.choice(len(grid), size=50, replace=False):
        omega, beta, c, n, theta = grid[index]
        efforts, converged = best_response_equilibrium(theta, omega, beta, c, n, PHI_B, PHI_C, 0.01, 50.0)
        expected = clipped_mean(theta, omega, beta, c, n)
        floor_hits += expected == 0.01
        assert converged
        assert efforts.mean() == pytest.approx(expected, rel=1e-6)
        assert closed_form_effort(theta, omega, beta, c, n, PHI_B, PHI_C, 50.0, a_min=0.01) == pytest.approx(expected, rel=1e-12)
    assert floor_hits < 50


def test_cap_binds():
    # defaults at theta 0.9: S*/n = (1.72 * 17.5 / (5 * 0.73))^(10/3) / 5 ~ 226 > a_max = 50
    assert wanted_total(0.9, 25.0, 0.7, 1.0, 5) / 5 > 200
    assert closed_form_effort(0.9) == 50.0
    efforts, converged = best_response_equilibrium(0.9)
    assert converged
    np.testing.assert_array_equal(efforts, np.full(5, 50.0))
    # partly capped profile: theta 0.3 wants a total of 182.6 > 3 * 50; the mean is still S*/n
    efforts, _ = best_response_equilibrium(0.3)
    assert np.sum(efforts == 50.0) == 3
    assert efforts.mean() == pytest.approx(wanted_total(0.3, 25.0, 0.7, 1.0, 5) / 5, rel=1e-9)


def test_floor_binds():
    # omega 10, beta 0.4, c 3.5, n 8, theta 0: a* = (4 / (3.5 * 8^1.6))^(1/0.6) ~ 0.0049 < a_min
    assert wanted_total(0.0, 10.0, 0.4, 3.5, 8) / 8 < 0.01
    efforts, converged = best_response_equilibrium(0.0, 10.0, 0.4, 3.5, 8, PHI_B, PHI_C, 0.01, 50.0)
    assert converged
    np.testing.assert_array_equal(efforts, np.full(8, 0.01))


def test_heterogeneous_loyalty_only_the_most_loyal_contribute():
    omega, beta, c, n = 10.0, 0.5, 2.0, 4
    thetas = [0.2, 0.9, 0.5, 0.0]
    efforts, converged = best_response_equilibrium(thetas, omega, beta, c, n, PHI_B, PHI_C, 0.01, 50.0)
    assert converged
    # W(0.9) = (1.72 * 10 * 0.5 / (4 * 2 * 0.73))^2 = (8.6 / 5.84)^2 ~ 2.1686; member 1 supplies W - 3 a_min
    top = (8.6 / 5.84) ** 2
    np.testing.assert_allclose(efforts, [0.01, top - 0.03, 0.01, 0.01], rtol=1e-12)
    assert closed_form_effort(thetas, omega, beta, c, n, PHI_B, PHI_C, 50.0, a_min=0.01) == pytest.approx(top / 4, rel=1e-12)
    assert closed_form_effort(thetas, omega, beta, c, n, PHI_B, PHI_C, 50.0) == pytest.approx(top / 4, rel=1e-12)
    # each member's effort maximises its own utility over a fine grid of deviations
    for i in range(n):
        best = paper_utility(i, list(efforts), thetas[i], omega, beta, c)
        for deviation in np.linspace(0.01, 5.0, 400):
            trial = list(efforts)
            trial[i] = deviation
            assert paper_utility(i, trial, thetas[i], omega, beta, c) <= best + 1e-12


def test_heterogeneous_loyalty_with_caps():
    # defaults; the two loyal members want far more than 50 each and are capped, the selfish want
    # W(0) = 65.1 < 100.03 and stay on the floor
    thetas = [0.0, 0.9, 0.0, 0.7, 0.0]
    efforts, converged = best_response_equilibrium(thetas)
    assert converged
    np.testing.assert_allclose(efforts, [0.01, 50.0, 0.01, 50.0, 0.01], rtol=1e-12)
    assert closed_form_effort(thetas, a_min=0.01) == pytest.approx(100.03 / 5, rel=1e-12)
    # a tie between the two loyal members: only their sum is fixed, the rest on the floor
    # (W(0.1) = 93.1 < 2 a_max, so neither need be capped)
    thetas = [0.1, 0.1, 0.0, 0.0, 0.0]
    efforts, converged = best_response_equilibrium(thetas)
    assert converged
    assert wanted_total(0.1, 25.0, 0.7, 1.0, 5) < 100.0
    assert efforts[0] + efforts[1] == pytest.approx(wanted_total(0.1, 25.0, 0.7, 1.0, 5) - 0.03, rel=1e-12)
    np.testing.assert_array_equal(efforts[2:], [0.01, 0.01, 0.01])
    assert efforts.mean() == pytest.approx(closed_form_effort(thetas, a_min=0.01), rel=1e-9)
    # nearly tied loyalties: the more loyal member (index 1) is visited first and takes the cap,
    # the other fills up to its own wanted total; no slow crawl by the tiny gap
    thetas = [0.1, 0.1 + 1e-9, 0.0, 0.0, 0.0]
    efforts, converged = best_response_equilibrium(thetas, max_iter=5)
    assert converged
    assert efforts[1] == 50.0
    assert efforts.sum() == pytest.approx(wanted_total(0.1, 25.0, 0.7, 1.0, 5), rel=1e-7)
    assert efforts.mean() == pytest.approx(closed_form_effort(thetas, a_min=0.01), rel=1e-12)


def test_effort_ratio_by_hand():
    factor = (1.72 / 0.73) / (1.08 / 0.97)
    assert effort_ratio(0.9, 0.1, 0.5, PHI_B, PHI_C) == pytest.approx(factor ** 2, rel=1e-12)
    assert effort_ratio(0.9, 0.1, 0.5, PHI_B, PHI_C) == pytest.approx(4.4782, abs=1e-4)
    ratio = closed_form_effort(0.5, 10.0, 0.5, 3.0, 4) / closed_form_effort(0.0, 10.0, 0.5, 3.0, 4)
    assert ratio == pytest.approx(effort_ratio(0.5, 0.0, 0.5, PHI_B, PHI_C), rel=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: closed_form_effort(1.2), "theta"),
    (lambda: closed_form_effort(-0.1), "theta"),
    (lambda: closed_form_effort(0.5, beta=1.0), "beta"),
    (lambda: closed_form_effort(0.5, beta=0.0), "beta"),
    (lambda: closed_form_effort([0.1, 0.2], n=5), "theta"),
    (lambda: best_response_equilibrium(0.5, beta=1.5), "beta"),
    (lambda: best_response_equilibrium([0.1, 0.2, 0.3]), "thetas"),
    (lambda: best_response_equilibrium([0.1, 2.0, 0.3, 0.1, 0.1]), "thetas"),
    (lambda: best_response_equilibrium(0.5, n=1), "n"),
    (lambda: best_response_equilibrium(0.5, a_min=5.0, a_max=1.0), "a_min"),
    (lambda: best_response_equilibrium(0.5, phi_c=1.0), "phi_c"),
    (lambda: best_response_equilibrium(0.5, c=0.0), "c"),
    (lambda: loyalty_utilities([1.0, 2.0], [0.0, 0.0], 0.5, 0.8, 0.3, teams=[[0, 2]]), "teams"),
    (lambda: loyalty_utilities([1.0, 2.0], [0.0, 0.0], 0.5, 0.8, 0.3, teams=[[0, 1], [1]]), "teams"),
    (lambda: sweep_table(beta=(0.5, 1.0)), "beta"),
    (lambda: sweep_table(ratio_thetas=(0.9,)), "ratio_thetas"),
])
def test_bad_theory_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- the transform ------------------------------------------------------------------------------------

def infos(costs):
    return {"infos": {agent: {"cost": cost} for agent, cost in costs.items()}}


def test_transform_hand_computed_three_agents():
    transform = make_utility("loyalty", theta=[0.5, 0.2, 1.0], phi_b=0.8, phi_c=0.3)
    assert isinstance(transform, LoyaltyUtility) and UTILITY_TRANSFORMS["loyalty"] is LoyaltyUtility
    transform.reset(["a", "b", "c"])
    got = transform({"a": 4.0, "b": 1.0, "c": -2.0}, infos({"a": 2.0, "b": 0.5, "c": 6.0}))
    # a: 4 + 0.5 (0.8 * (1 - 2)/2 + 0.3 * 2)   = 4 + 0.5 * 0.2  = 4.1
    # b: 1 + 0.2 (0.8 * (4 - 2)/2 + 0.3 * 0.5) = 1 + 0.2 * 0.95 = 1.19
    # c: -2 + 1.0 (0.8 * (4 + 1)/2 + 0.3 * 6)  = -2 + 3.8      = 1.8
    assert got == pytest.approx({"a": 4.1, "b": 1.19, "c": 1.8}, rel=1e-12)
    assert transform.missing_cost_steps == 0


def test_transform_theta_mapping_and_two_teams():
    transform = LoyaltyUtility(theta={"p": 0.5, "q": 0.5, "r": 1.0, "s": 0.0}, teams=[["p", "q"], ["r", "s"]])
    transform.reset(["p", "q", "r", "s"])
    got = transform({"p": 3.0, "q": 1.0, "r": 2.0, "s": 10.0}, infos({"p": 1.0, "q": 2.0, "r": 4.0, "s": 5.0}))
    # p: 3 + 0.5 (0.8 * 1 + 0.3 * 1) = 3.55;   q: 1 + 0.5 (0.8 * 3 + 0.3 * 2) = 2.5
    # r: 2 + 1.0 (0.8 * 10 + 0.3 * 4) = 11.2;  s: theta 0 -> 10
    assert got == pytest.approx({"p": 3.55, "q": 2.5, "r": 11.2, "s": 10.0}, rel=1e-12)
    # a teammate that is not live this step leaves its partner with no welfare term
    got = transform({"p": 3.0, "r": 2.0, "s": 10.0}, infos({"p": 1.0, "r": 4.0, "s": 5.0}))
    assert got == pytest.approx({"p": 3.0 + 0.5 * 0.3, "r": 11.2, "s": 10.0}, rel=1e-12)


def test_transform_theta_zero_is_the_identity():
    rng = np.random.default_rng(3)
    agents = [f"member_{i}" for i in range(6)]
    transform = LoyaltyUtility(theta=0.0, teams=[agents[:2], agents[2:]])
    transform.reset(agents)
    for _ in range(5):
        rewards = dict(zip(agents, rng.normal(size=6).tolist()))
        assert transform(rewards, infos(dict(zip(agents, rng.uniform(0, 5, 6).tolist())))) == rewards


def test_transform_on_team_production_payoffs_is_the_papers_utility():
    efforts = [3.0, 0.5, 8.0]
    omega, beta, c, thetas = 25.0, 0.7, 1.0, [0.9, 0.1, 0.4]
    agents = ["member_0", "member_1", "member_2"]
    transform = LoyaltyUtility(theta=thetas)
    transform.reset(agents)
    rewards = dict(zip(agents, base_payoffs(efforts, omega, beta, c).tolist()))
    got = transform(rewards, infos({a: c * e for a, e in zip(agents, efforts)}))
    for i, agent in enumerate(agents):
        assert got[agent] == pytest.approx(paper_utility(i, efforts, thetas[i], omega, beta, c), rel=1e-12)


def test_transform_missing_cost_applies_the_welfare_part_warns_once_and_counts():
    transform = LoyaltyUtility(theta=0.5, cost_key="cost")
    transform.reset(["a", "b"])
    with pytest.warns(UserWarning, match="no 'cost' in infos"):
        got = transform({"a": 2.0, "b": 4.0}, {"step": 1, "agents": ["a", "b"], "infos": {"a": {}, "b": {"cost": 1.0}}})
    # a: 2 + 0.5 * 0.8 * 4 = 3.6 (no cost term);  b: 4 + 0.5 (0.8 * 2 + 0.3 * 1) = 4.95
    assert got == pytest.approx({"a": 3.6, "b": 4.95}, rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        transform({"a": 2.0, "b": 4.0}, {"infos": {}})
        transform({"a": 2.0, "b": 4.0}, infos({"a": 0.0, "b": 0.0}))
    assert transform.missing_cost_steps == 2


@pytest.mark.parametrize("kwargs, seats, message", [
    ({"theta": 1.5}, None, "theta"),
    ({"theta": -0.2}, None, "theta"),
    ({"theta": [0.1, 1.2]}, None, "theta"),
    ({"theta": "high"}, None, "theta"),
    ({"theta": 0.5, "phi_c": 1.5}, None, "phi_c"),
    ({"theta": 0.5, "teams": [["a", "b"], ["b"]]}, None, "more than one team"),
    ({"theta": 0.5, "cost_key": ""}, None, "cost_key"),
    ({"theta": [0.1, 0.2]}, ["a", "b", "c"], "2 values but the world has 3 seats"),
    ({"theta": {"a": 0.1, "z": 0.2}}, ["a", "b"], "unknown seat"),
    ({"theta": {"a": 0.1}}, ["a", "b"], "no loyalty for seat"),
    ({"theta": 0.5, "teams": [["a", "ghost"]]}, ["a", "b"], "unknown seat 'ghost'"),
])
def test_transform_bad_arguments(kwargs, seats, message):
    with pytest.raises(ValueError, match=message):
        transform = LoyaltyUtility(**kwargs)
        transform.reset(seats)


def test_make_utility_reports_bad_loyalty_kwargs():
    with pytest.raises(ValueError, match="bad arguments for utility transform 'loyalty'"):
        make_utility("loyalty", theta=0.5, gamma=3)


# -- the paper's sweep and its six targets -------------------------------------------------------------

@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    table, figures = loyalty_sweep()
    assert figures == {}
    return table


def closed_cells():
    """Per (omega, beta, c, n) cell, the clipped closed-form efforts the targets use, by hand."""
    rows = []
    for omega, beta, c, n in itertools.product(*(PAPER_SWEEP[k] for k in ("omega", "beta", "c", "n"))):
        mean = lambda theta, pb=PHI_B, pc=PHI_C: clipped_mean(theta, omega, beta, c, n, pb, pc)  # noqa: E731
        base = mean(0.0)
        rows.append({
            "analytic": (omega * beta / (c * n ** (2 - beta))) ** (1 / (1 - beta)), "base": base,
            "ratio": mean(0.9) / mean(0.1),
            "synergy_parts": (mean(0.7) - base, mean(0.7, pc=0.0) - base, mean(0.7, pb=0.0) - base),
            "interior": 0.01 < mean(0.1) and mean(0.9) < 50.0, "beta": beta,
        })
    return rows


def test_sweep_table_matches_closed_form_everywhere(sweep):
    assert len(sweep) == 3125
    assert sweep["converged"].all()
    rel = np.abs(sweep["numeric_effort"] - sweep["closed_form_effort"]) / sweep["closed_form_effort"]
    assert rel.max() < 1e-6
    first = sweep.iloc[0]  # omega 10, beta 0.4, c 1.5, n 3, theta 0 (itertools.product order)
    assert (first["omega"], first["beta"], first["c"], first["n"], first["theta"]) == (10.0, 0.4, 1.5, 3, 0.0)
    expected = clipped_mean(0.0, 10.0, 0.4, 1.5, 3)
    assert first["equilibrium_effort"] == pytest.approx(expected, rel=1e-9)
    total = 3 * expected
    assert first["output"] == pytest.approx(10.0 * total ** 0.4, rel=1e-9)
    assert first["payoff"] == pytest.approx(10.0 * total ** 0.4 / 3 - 1.5 * expected, rel=1e-9)
    closed = pd.DataFrame(sweep_table(numeric=False))
    assert closed["numeric_effort"].isna().all()
    np.testing.assert_allclose(closed["equilibrium_effort"], sweep["equilibrium_effort"], rtol=1e-6)


def test_utility_column_is_the_mean_paper_utility():
    table = sweep_table(omega=25.0, beta=0.7, c=1.0, n=5, theta=[0.0, 0.2])
    for row in range(2):
        efforts, _ = best_response_equilibrium(table["theta"][row])
        utilities = [paper_utility(i, list(efforts), table["theta"][row], 25.0, 0.7, 1.0) for i in range(5)]
        assert table["utility"][row] == pytest.approx(np.mean(utilities), rel=1e-9)


def targets_by_name(table):
    return {t["target"]: t for t in behavioural_targets(table)}


def test_six_targets_on_the_papers_sweep(sweep):
    targets = targets_by_name(sweep)
    assert list(targets) == ["free_riding_baseline", "loyalty_monotonicity", "effort_differentiation",
                             "team_size_effect", "mechanism_synergy", "bounded_efforts"]
    hand = closed_cells()
    assert len(hand) == 625

    # 1. free riding: share of cells whose equilibrium at theta 0 is within 5% of the analytic a*
    errors = np.array([abs(c["base"] - c["analytic"]) / c["analytic"] for c in hand])
    share = np.mean(errors < 0.05)
    assert targets["free_riding_baseline"]["value"] == pytest.approx(share, abs=1e-12)
    assert share == pytest.approx(603 / 625)  # 22 floor cells miss
    assert targets["free_riding_baseline"]["passed"] is bool(share > 0.95)

    # 2, 4, 6: every cell monotone in theta, non-increasing in n at theta 0, within [0, a_max]
    for name in ("loyalty_monotonicity", "team_size_effect", "bounded_efforts"):
        assert targets[name]["passed"] is True and targets[name]["value"] == 1.0

    # 3. effort differentiation: the median of the clipped closed-form ratios
    ratios = np.array([c["ratio"] for c in hand])
    effort = targets["effort_differentiation"]
    assert effort["value"] == pytest.approx(np.median(ratios), rel=1e-9)
    # where no bound binds the ratio is [(1.72/0.73)/(1.08/0.97)]^(1/(1-beta)); the median sits at beta 0.5
    factor = (1.72 / 0.73) / (1.08 / 0.97)
    interior = [c for c in hand if c["interior"]]
    np.testing.assert_allclose([c["ratio"] for c in interior], [factor ** (1 / (1 - c["beta"])) for c in interior],
                               rtol=1e-12)
    assert effort["value"] == pytest.approx(factor ** 2, rel=1e-9)
    assert effort["value"] == pytest.approx(4.478, abs=1e-3)
    assert effort["passed"] is bool(np.mean(ratios > 2.0) > 0.95)
    assert "15.04" in effort["detail"]
    summary = effort_ratio_summary(sweep)
    assert summary["cells"] == 625
    assert summary["min"] == pytest.approx(ratios.min(), rel=1e-9)
    assert summary["max"] == pytest.approx(factor ** 2.5, rel=1e-9)

    # 5. mechanism synergy at theta 0.7: (both - base) / ((b only - base) + (c only - base))
    synergy = np.array([both / (b + c) if b + c > 0 else 1.0 for both, b, c in (h["synergy_parts"] for h in hand)])
    target = targets["mechanism_synergy"]
    assert target["value"] == pytest.approx(np.median(synergy), rel=1e-9)
    assert target["share"] == pytest.approx(np.mean(synergy > 1.1), abs=1e-12)
    assert target["passed"] is bool(np.mean(synergy > 1.1) > 0.95)


def test_targets_fail_when_the_numbers_say_so(sweep):
    broken = sweep.copy()
    # one cell's effort drops from theta 0.3 to 0.5, one theta-0 effort rises with n, one effort above the cap
    row = broken.index[(broken["theta"] == 0.5)][0]
    broken.loc[row, "equilibrium_effort"] = 0.0
    row = broken.index[(broken["theta"] == 0.0) & (broken["n"] == 8)][0]
    broken.loc[row, "equilibrium_effort"] = 49.0
    broken.loc[broken.index[-1], "equilibrium_effort"] = 60.0
    targets = targets_by_name(broken)
    assert targets["loyalty_monotonicity"]["passed"] is False
    # the first two break their cells' monotonicity; raising the last row (theta 0.9) does not
    assert targets["loyalty_monotonicity"]["share"] == pytest.approx(623 / 625)
    assert targets["team_size_effect"]["passed"] is False
    assert targets["team_size_effect"]["share"] == pytest.approx(124 / 125)
    assert targets["bounded_efforts"]["passed"] is False
    assert targets["bounded_efforts"]["share"] == pytest.approx(3124 / 3125)
    with pytest.raises(ValueError, match="lacks the column"):
        behavioural_targets(sweep.drop(columns=["mechanism_synergy"]))


# -- plots ---------------------------------------------------------------------------------------------

def test_plots_return_figures(sweep):
    thetas = np.linspace(0.0, 1.0, 11)
    curve = [closed_form_effort(t) for t in thetas]
    observed = pd.DataFrame({"theta": [0.0, 0.5], "effort": [10.0, 45.0]})
    figure = plot_equilibrium_curve(thetas, curve, observed=observed, a_max=50.0)
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    np.testing.assert_allclose(axes.lines[0].get_ydata(), curve)
    np.testing.assert_allclose(axes.collections[0].get_offsets(), [[0.0, 10.0], [0.5, 45.0]])
    assert isinstance(plot_equilibrium_curve(thetas, curve, observed={0.5: [20.0, 30.0]}), Figure)
    with pytest.raises(ValueError, match="same length"):
        plot_equilibrium_curve(thetas, curve[:-1])
    ratios = plot_effort_ratios(sweep)
    assert isinstance(ratios, Figure) and "median 4.48x" in [t.get_text() for t in ratios.axes[0].get_legend().get_texts()]
    figure = plot_sweep(sweep)
    assert isinstance(figure, Figure)
    assert len(figure.axes[0].get_legend().get_texts()) == 5  # one line per team size
    assert "skipped" in plot_sweep(pd.DataFrame({"x": [1]})).axes[0].texts[0].get_text()


def test_loyalty_sweep_small_grid_and_unknown_parameter():
    table, _ = loyalty_sweep(omega=25.0, beta=[0.5, 0.6], c=2.0, n=[3, 5], theta=[0.0, 0.9], numeric=False)
    assert len(table) == 8
    assert list(table["theta"]) == [0.0, 0.9] * 4
    assert table["equilibrium_effort"].iloc[1] == pytest.approx(clipped_mean(0.9, 25.0, 0.5, 2.0, 3), rel=1e-12)
    with pytest.raises(TypeError):
        loyalty_sweep(gamma=1.0)
    assert math.isclose(float(table["phi_b"].iloc[0]), 0.8)
