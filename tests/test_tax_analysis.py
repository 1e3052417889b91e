"""Exact values of the tax-world metrics and tables on hand-made step records, the Saez and
US-federal references, and the plots drawn from them (Karten et al. 2025, "LLM Economist";
Zheng et al., "The AI Economist")."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from dilemmazoo.analysis import tax_plots
from dilemmazoo.analysis.tax import (
    DESCRIPTIONS,
    SWF_KINDS,
    WORLD_ID,
    bracket_table,
    edges_for,
    evaluation_points,
    rate_columns,
    saez_reference,
    swf_by_round,
    tax_episodes,
    tax_metrics,
    tax_outcome,
    tax_year_table,
    us_federal_reference,
    work_rows,
    world_by_round,
)
from dilemmazoo.envs import tax as tax_math

THREE = (0.0, 90000.0, 159100.0, math.inf)
STANDARD = {"generation": 1, "game": 1, "name": "", "policy": "scripted", "action": "", "reward": 0.0,
            "utility": 0.0, "parse_failures": 0}

# The world-level numbers of each work step (round), as the world records them on every row of
# the step (the metrics read them, they do not recompute them).
RATES = {1: (50.0, 50.0, 50.0), 2: (50.0, 50.0, 50.0), 3: (40.0, 50.0, 60.0), 4: (40.0, 50.0, 60.0)}
SWF_LLM = {1: 1.5, 2: 2.0, 3: 1.8, 4: 1.9}
SWF_AI = {1: 0.4, 2: 0.3, 3: 0.5, 4: 0.5}
GINI = {1: 0.2, 2: 0.25, 3: 0.3, 4: 0.2}
PRODUCTIVITY = {1: 140000.0, 2: 160000.0, 3: 150000.0, 4: 190000.0}  # the sum of the incomes below
SKILLS = (1000.0, 2000.0)
HOURS = {1: (40, 50), 2: (40, 60), 3: (30, 60), 4: (50, 70)}


def tax_steps(*, episode=0, worker_fallbacks=((3, 1),), planner_fallbacks=(1,), satisfied=None, swf_llm=SWF_LLM,
              planner=True):
    """Records as the world writes them: two workers, the ``three`` brackets, 4 work steps
    (rounds) in tax years of 2 (tax_year 0 = rounds 1-2, 1 = rounds 3-4). With a planner seat
    a plan step opens each tax year: runner steps 1 plan, 2-3 work (rounds 1-2), 4 plan, 5-6
    work (rounds 3-4); on a plan step the workers wait (hours -1, income 0, welfare 0.0).
    ``planner_fallbacks``: the plan steps (1 or 4) whose answer was the fallback;
    ``worker_fallbacks``: (round, worker) pairs whose hours were the world's fallback;
    ``satisfied``: {(round, worker): 0/1}, else -1 (not asked)."""
    rows, step = [], 0
    for round_ in range(1, 5):
        tax_year = (round_ - 1) // 2
        if planner and round_ % 2 == 1:
            step += 1
            plan = {"episode": episode, "step": step, "round": round_, "phase": "plan", "tax_year": tax_year,
                    **{f"rate_{j}": rate for j, rate in enumerate(RATES[round_])},
                    **dict.fromkeys(("swf_llm_economist", "swf_ai_economist", "gini_income", "productivity",
                                     "equality_x_productivity"), 0.0),
                    "planner_fallback": int(step in planner_fallbacks)}
            for index, skill in enumerate(SKILLS):
                rows.append({**STANDARD, **plan, "agent": f"worker_{index}", "decided": False, "fallback_used": False,
                             "hours": -1.0, "income": 0.0, "tax": 0.0, "rebate": 0.0, "utility_raw": 0.0,
                             "felt_utility": 0.0, "bracket": -1, "skill": skill, "satisfied": -1})
            rows.append({**STANDARD, **plan, "agent": "planner", "decided": True,
                         "fallback_used": step in planner_fallbacks, "hours": -1.0, "income": 0.0, "tax": 0.0,
                         "rebate": 0.0, "utility_raw": 0.0, "felt_utility": 0.0, "bracket": -1, "skill": -1.0,
                         "satisfied": -1})
        step += 1
        world = {
            "episode": episode, "step": step, "round": round_, "phase": "work", "tax_year": tax_year,
            **{f"rate_{j}": rate for j, rate in enumerate(RATES[round_])},
            "swf_llm_economist": swf_llm[round_], "swf_ai_economist": SWF_AI[round_], "gini_income": GINI[round_],
            "productivity": PRODUCTIVITY[round_],
            # the AI Economist's coin_eq_times_productivity: (1 - Gini) x mean income
            "equality_x_productivity": (1 - GINI[round_]) * PRODUCTIVITY[round_] / 2,
            "planner_fallback": 0,
        }
        for index, skill in enumerate(SKILLS):
            hours = HOURS[round_][index]
            income = hours * skill
            rows.append({
                **STANDARD, **world, "agent": f"worker_{index}", "decided": True,
                "fallback_used": (round_, index) in worker_fallbacks,
                "hours": float(hours), "income": income, "tax": 0.0, "rebate": 0.0, "utility_raw": 0.0,
                "felt_utility": 0.0, "bracket": int(np.searchsorted(THREE, income, side="left") - 1),
                "skill": skill, "satisfied": (satisfied or {}).get((round_, index), -1),
            })
        if planner:
            rows.append({
                **STANDARD, **world, "agent": "planner", "decided": False, "fallback_used": False,
                "hours": -1.0, "income": 0.0, "tax": 0.0, "rebate": 0.0, "utility_raw": 0.0, "felt_utility": 0.0,
                "bracket": -1, "skill": -1.0, "satisfied": -1,
            })
    return pd.DataFrame(rows)


@pytest.fixture
def steps() -> pd.DataFrame:
    return tax_steps()


# --- metrics ----------------------------------------------------------------------------


def test_metrics_hand_computed(steps):
    metrics = tax_metrics(steps)
    assert WORLD_ID == "dilemmazoo/tax-world-v0"
    # LLM Economist SWF by work step 1.5, 2.0, 1.8, 1.9 (the plan steps' 0.0 are not work
    # steps): final 1.9, best 2.0 first reached in round 2
    assert metrics["final_swf_llm_economist"] == pytest.approx(1.9)
    assert metrics["best_swf_llm_economist"] == pytest.approx(2.0)
    assert metrics["best_swf_llm_economist_round"] == 2
    # AI Economist SWF 0.4, 0.3, 0.5, 0.5: final 0.5, best 0.5 first reached in round 3
    assert metrics["final_swf_ai_economist"] == pytest.approx(0.5)
    assert metrics["best_swf_ai_economist"] == pytest.approx(0.5)
    assert metrics["best_swf_ai_economist_round"] == 3
    # own hour choices (worker_1's 60 in round 3 was a fallback): (40+50+40+60+30+50+70) / 7
    assert metrics["mean_hours"] == pytest.approx(340 / 7)
    # incomes, every worker work step: (40k+100k+40k+120k+30k+120k+50k+140k) / 8 = 80k (the
    # plan steps' income 0 would give 64k)
    assert metrics["mean_income"] == pytest.approx(80000.0)
    # last tax year (rounds 3-4): own hours (30+50+70) / 3; incomes (30k+120k+50k+140k) / 4
    assert metrics["final_mean_hours"] == pytest.approx(50.0)
    assert metrics["final_mean_income"] == pytest.approx(85000.0)
    assert [metrics[f"final_rate_{j}"] for j in range(3)] == [40.0, 50.0, 60.0]
    assert metrics["gini_income"] == pytest.approx(0.2)
    assert metrics["productivity"] == pytest.approx(190000.0)
    assert metrics["equality_x_productivity"] == pytest.approx(0.8 * 190000.0 / 2)
    assert (metrics["rounds"], metrics["tax_years"], metrics["workers"], metrics["episodes"]) == (4, 2, 2, 1)
    assert "satisfaction_rate" not in metrics  # nobody was asked (satisfied -1 throughout)
    assert "nan_reasons" not in metrics


def test_outcome_in_words_and_every_metric_described(steps):
    assert tax_outcome(steps) == "LLM Economist SWF 1.9 at the end, best 2 in round 2; final rates 40/50/60%"
    two = pd.concat([steps, tax_steps(episode=1)], ignore_index=True)
    assert tax_outcome(two).startswith("episode 0: LLM Economist SWF 1.9")
    described = set(DESCRIPTIONS) | {"valid_decisions", "fallbacks"}
    assert set(tax_metrics(steps)) <= described


def test_fallback_counting(steps):
    metrics = tax_metrics(steps)
    # decisions: 8 worker work rows + the planner's 2 plan steps = 10; fallbacks: worker_1 in
    # round 3 and the planner's first plan step
    assert (metrics["valid_decisions"], metrics["fallbacks"]) == (8, 2)
    assert (metrics["planner_decisions"], metrics["planner_fallbacks"]) == (2, 1)


def test_planner_fallback_counted_once_per_step_from_either_record():
    # the world's flag alone (planner row not marked) and the row's flag alone both count, once
    only_world = tax_steps(planner_fallbacks=(4,))
    only_world.loc[only_world["agent"] == "planner", "fallback_used"] = False
    assert tax_metrics(only_world)["planner_fallbacks"] == 1
    only_row = tax_steps(planner_fallbacks=())
    only_row.loc[(only_row["agent"] == "planner") & (only_row["step"] == 4), "fallback_used"] = True
    assert tax_metrics(only_row)["planner_fallbacks"] == 1
    assert tax_metrics(tax_steps(planner_fallbacks=(1, 4)))["planner_fallbacks"] == 2


def test_fixed_schedule_run_without_planner_seat():
    fixed = tax_steps(planner=False, planner_fallbacks=())
    metrics = tax_metrics(fixed)
    assert (metrics["planner_decisions"], metrics["planner_fallbacks"]) == (0, 0)
    assert (metrics["valid_decisions"], metrics["fallbacks"]) == (7, 1)
    # every step is a work step: records without phase and round read the same, by step
    bare = tax_metrics(fixed.drop(columns=["phase", "round"]))
    assert bare == metrics
    assert work_rows(fixed).equals(fixed)


def test_satisfaction_rate_over_own_answers():
    # asked every work step; worker_1's answer in round 3 is a fallback and is left out:
    # own answers 1, 0 | 1, 1 | 0 | 1, 1 -> 5 YES of 7
    satisfied = {(1, 0): 1, (1, 1): 0, (2, 0): 1, (2, 1): 1, (3, 0): 0, (3, 1): 1, (4, 0): 1, (4, 1): 1}
    assert tax_metrics(tax_steps(satisfied=satisfied))["satisfaction_rate"] == pytest.approx(5 / 7)


def test_episodes_are_averaged():
    other = {**SWF_LLM, 4: 3.0}
    steps = pd.concat([tax_steps(episode=0), tax_steps(episode=1, swf_llm=other)], ignore_index=True)
    episodes = tax_episodes(steps)
    assert episodes["best_swf_llm_economist_round"].tolist() == [2.0, 4.0]
    metrics = tax_metrics(steps)
    # final SWF 1.9 and 3.0 -> 2.45; best 2.0 (round 2) and 3.0 (round 4) -> 2.5, round 3
    assert metrics["final_swf_llm_economist"] == pytest.approx(2.45)
    assert metrics["best_swf_llm_economist"] == pytest.approx(2.5)
    assert metrics["best_swf_llm_economist_round"] == pytest.approx(3.0)
    assert (metrics["episodes"], metrics["rounds"], metrics["planner_fallbacks"]) == (2, 8, 2)


def test_empty_frame_gives_nan_with_reasons():
    metrics = tax_metrics(pd.DataFrame())
    assert math.isnan(metrics["final_swf_llm_economist"]) and math.isnan(metrics["mean_hours"])
    assert metrics["nan_reasons"]["best_swf_ai_economist"] == "no steps recorded"
    assert (metrics["valid_decisions"], metrics["fallbacks"], metrics["rounds"]) == (0, 0, 0)


def test_degenerate_frames_say_why():
    # every worker's hours were fallbacks: mean hours undefined, incomes still count
    all_fallbacks = tax_steps(worker_fallbacks=[(r, i) for r in range(1, 5) for i in range(2)])
    metrics = tax_metrics(all_fallbacks)
    assert math.isnan(metrics["mean_hours"]) and math.isnan(metrics["final_mean_hours"])
    assert metrics["nan_reasons"]["mean_hours"] == "no valid hours decision (8 fallbacks, 0 valid decisions)"
    assert metrics["mean_income"] == pytest.approx(80000.0)
    # the world recorded no SWF: final and best are NaN with the reason
    no_swf = tax_steps(swf_llm=dict.fromkeys(range(1, 5), math.nan))
    metrics = tax_metrics(no_swf)
    assert math.isnan(metrics["best_swf_llm_economist"]) and math.isnan(metrics["best_swf_llm_economist_round"])
    assert "swf_llm_economist" in metrics["nan_reasons"]["best_swf_llm_economist_round"]
    assert metrics["best_swf_ai_economist"] == pytest.approx(0.5)
    # only the planner's rows: no worker numbers
    planner_only = tax_steps()
    planner_only = planner_only[planner_only["agent"] == "planner"]
    metrics = tax_metrics(planner_only)
    assert metrics["nan_reasons"]["mean_hours"] == "no worker rows in the records"
    assert metrics["nan_reasons"]["mean_income"] == "no worker rows in the records"
    assert metrics["workers"] == 0
    # only plan steps (the run stopped before any work): every outcome undefined, decisions counted
    plans = tax_steps()
    metrics = tax_metrics(plans[plans["phase"] == "plan"])
    assert math.isnan(metrics["final_swf_llm_economist"])
    assert metrics["nan_reasons"]["mean_income"] == "no work step recorded"
    assert (metrics["planner_decisions"], metrics["planner_fallbacks"], metrics["rounds"]) == (2, 1, 0)


def test_missing_columns_are_named(steps):
    with pytest.raises(ValueError, match=r"swf_ai_economist.*tax-world-v0"):
        tax_metrics(steps.drop(columns=["swf_ai_economist"]))


# --- per-step and per-year frames ---------------------------------------------------------


def test_world_by_round_and_best_so_far(steps):
    table = world_by_round(steps)
    assert table["round"].tolist() == [1, 2, 3, 4]
    assert table["step"].tolist() == [2, 3, 5, 6]  # the runner's steps 1 and 4 were plan steps
    assert table["best_swf_llm_economist"].tolist() == [1.5, 2.0, 2.0, 2.0]
    assert table["best_swf_ai_economist"].tolist() == [0.4, 0.4, 0.5, 0.5]
    # the fallback of the plan step before round 1 belongs to round 1
    assert table["planner_fallback"].tolist() == [1, 0, 0, 0]
    # round 3: worker_0's own 30 hours only (worker_1 fell back); income (30k + 120k) / 2
    assert table["mean_hours"].tolist() == [45.0, 50.0, 30.0, 60.0]
    assert table["mean_income"].tolist() == [70000.0, 80000.0, 75000.0, 95000.0]
    assert swf_by_round("swf_ai_economist")(steps).tolist() == [0.4, 0.3, 0.5, 0.5]
    with pytest.raises(ValueError, match="kind"):
        swf_by_round("utilitarian")


def test_tax_year_table(steps):
    years = tax_year_table(steps)
    assert years["tax_year"].tolist() == [0, 1]
    assert years[["first_round", "last_round"]].values.tolist() == [[1, 2], [3, 4]]
    assert years[rate_columns(steps)].values.tolist() == [[50.0, 50.0, 50.0], [40.0, 50.0, 60.0]]
    # means over the tax year's work steps: (1.5 + 2.0) / 2, (1.8 + 1.9) / 2; (0.4 + 0.3) / 2, 0.5
    assert years["swf_llm_economist"].tolist() == pytest.approx([1.75, 1.85])
    assert years["swf_ai_economist"].tolist() == pytest.approx([0.35, 0.5])
    # hours (40+50+40+60) / 4 and (30+50+70) / 3; incomes 300k / 4 and 340k / 4
    assert years["mean_hours"].tolist() == pytest.approx([47.5, 50.0])
    assert years["mean_income"].tolist() == pytest.approx([75000.0, 85000.0])
    assert years["planner_fallbacks"].tolist() == [1, 0]


def test_bracket_table(steps):
    table = bracket_table(steps, THREE)
    # first work step: 40k in bracket 0, 100k in bracket 1; last: 50k and 140k
    assert table["workers_first"].tolist() == [1, 1, 0]
    assert table["workers_last"].tolist() == [1, 1, 0]
    assert table["mean_income_first"].tolist()[:2] == [40000.0, 100000.0]
    assert table["mean_income_last"].tolist()[:2] == [50000.0, 140000.0]
    assert math.isnan(table["mean_income_last"].iloc[2])
    assert table["final_rate"].tolist() == [40.0, 50.0, 60.0]
    # without the world's bracket column the edges decide, with the same result
    again = bracket_table(steps.drop(columns=["bracket"]), THREE)
    assert again["workers_last"].tolist() == [1, 1, 0]
    with pytest.raises(ValueError, match="edges"):
        bracket_table(steps.drop(columns=["bracket"]))
    with pytest.raises(ValueError, match="edges must have 4"):
        bracket_table(steps, (0.0, math.inf))


# --- references ----------------------------------------------------------------------------


def test_edges_for(steps):
    assert edges_for(steps).tolist() == list(THREE)
    assert edges_for(steps, "three").tolist() == list(THREE)
    assert edges_for(steps, [0, 50000, 100000, math.inf]).tolist() == [0, 50000, 100000, math.inf]
    with pytest.raises(ValueError, match="1 brackets but the records have 3"):
        edges_for(steps, "flat")
    two = steps.drop(columns=["rate_2"])
    with pytest.raises(ValueError, match="pass brackets"):
        edges_for(two)


def test_us_federal_reference():
    # US federal edges: each bracket's own statutory rate
    assert us_federal_reference(tax_math.bracket_edges("us_federal")).tolist() == list(tax_math.US_FEDERAL_2024_RATES)
    # three brackets: midpoints 45000 (12%), 124550 (24%); the open top at
    # 159100 + 0.1 * (1e7 - 159100) = 1143190 (37%)
    assert evaluation_points(THREE).tolist() == pytest.approx([45000.0, 124550.0, 1143190.0])
    assert us_federal_reference(THREE).tolist() == [12.0, 24.0, 37.0]
    # flat: evaluated at 0.1 * 1e7 = 1e6 (37%)
    assert us_federal_reference((0.0, math.inf)).tolist() == [37.0]


def test_saez_reference_uses_each_workers_mean_income_per_tax_year(steps):
    saez = saez_reference(steps, THREE)
    assert saez["tax_year"].tolist() == [0, 1]
    assert saez[["first_round", "last_round"]].values.tolist() == [[1, 2], [3, 4]]
    # tax year 0: worker_0 40k, worker_1 (100k + 120k) / 2 = 110k; year 1: (30k + 50k) / 2, (120k + 140k) / 2
    for row, incomes in zip(saez.itertuples(), ([40000.0, 110000.0], [40000.0, 130000.0])):
        expected = tax_math.saez_rates(np.array(incomes), np.array(THREE), 0.4, method="llm_economist")
        assert [row.rate_0, row.rate_1, row.rate_2] == pytest.approx(list(expected))
    # the paper-era planner's input: skill x 100 per worker
    skill = saez_reference(steps, THREE, incomes="skill_x_100", elasticities=[0.18, 0.11, 0.57])
    expected = tax_math.saez_rates(np.array([100000.0, 200000.0]), np.array(THREE), [0.18, 0.11, 0.57])
    assert skill[["rate_0", "rate_1", "rate_2"]].values[0].tolist() == pytest.approx(list(expected))
    with pytest.raises(ValueError, match="incomes"):
        saez_reference(steps, THREE, incomes="pretax")
    with pytest.raises(ValueError, match="method"):
        saez_reference(steps, THREE, method="mirrlees")


# --- plots and tables --------------------------------------------------------------------------


def _legend_texts(axes) -> list[str]:
    legend = axes.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


def test_tax_rate_plot_draws_both_references(steps):
    figure = tax_plots.plot_tax_rates(steps)
    try:
        visible = [axes for axes in figure.axes if axes.axison]
        assert [axes.get_title() for axes in visible] == [
            "bracket 0: income 0 to 90k", "bracket 1: income 90k to 159.1k", "bracket 2: income 159.1k to inf"]
        saez = saez_reference(steps, THREE)
        assert "Saez: llm_economist, e = 0.4, from each worker's mean pre-tax income per tax year" in (
            figure._suptitle.get_text())
        for index, axes in enumerate(visible):
            texts = _legend_texts(axes)
            assert texts == ["rate taxed", "Saez reference", f"US federal 2024 ({[12, 24, 37][index]}%)"]
            lines = {line.get_label(): line for line in axes.get_lines()}
            # the rate of work step s is drawn over [s, s + 1)
            assert lines["rate taxed"].get_xdata().tolist() == [1, 2, 3, 4, 5]
            assert lines["rate taxed"].get_ydata().tolist() == [RATES[r][index] for r in (1, 2, 3, 4, 4)]
            saez_line = lines["Saez reference"]
            # one flat segment per tax year: rounds 1 to 3 and 3 to 5
            assert saez_line.get_xdata().tolist() == [1, 3, 3, 5]
            assert saez_line.get_ydata().tolist() == pytest.approx(np.repeat(saez[f"rate_{index}"], 2).tolist())
    finally:
        plt.close(figure)


def test_tax_rate_plot_without_known_edges_says_so(steps):
    figure = tax_plots.plot_tax_rates(steps.drop(columns=["rate_2"]))
    try:
        assert "references skipped" in figure._suptitle.get_text()
        assert not any("Saez" in text for axes in figure.axes for text in _legend_texts(axes))
    finally:
        plt.close(figure)


def test_swf_plot_has_both_kinds_in_separate_axes(steps):
    figure = tax_plots.plot_swf(steps)
    try:
        llm, ai = figure.axes
        assert llm.get_title() == SWF_KINDS["swf_llm_economist"] and "LLM Economist" in llm.get_title()
        assert ai.get_title() == SWF_KINDS["swf_ai_economist"] and "AI Economist" in ai.get_title()
        assert _legend_texts(llm) == ["SWF per work step", "best so far"]
        best = next(line for line in llm.get_lines() if line.get_label() == "best so far")
        assert best.get_ydata().tolist() == [1.5, 2.0, 2.0, 2.0]
        star = [line for line in ai.get_lines() if line.get_marker() == "*"][0]
        assert (star.get_xdata().tolist(), star.get_ydata().tolist()) == ([3], [0.5])
    finally:
        plt.close(figure)


def test_distribution_plot_first_against_last_tax_year(steps):
    figure = tax_plots.plot_distributions(steps)
    try:
        hours_axes, income_axes = figure.axes
        assert _legend_texts(hours_axes) == ["first tax year (work steps 1 to 2), 2 workers",
                                            "last tax year (work steps 3 to 4), 2 workers"]
        first, last = hours_axes.containers
        # bins centred on 0, 10, ..., 100: first year 40, 50, 40, 60; last year (own) 30, 50, 70
        assert [patch.get_height() for patch in first][3:8] == [0, 2, 1, 1, 0]
        assert [patch.get_height() for patch in last][3:8] == [1, 0, 1, 0, 1]
        assert sum(patch.get_height() for patch in income_axes.containers[1]) == 4
    finally:
        plt.close(figure)


def test_equality_productivity_plot(steps):
    figure = tax_plots.plot_equality_productivity(steps)
    try:
        equality, productivity, product = figure.axes
        assert equality.get_lines()[0].get_ydata().tolist() == pytest.approx([0.8, 0.75, 0.7, 0.8])
        assert productivity.get_lines()[0].get_ydata().tolist() == [140000.0, 160000.0, 150000.0, 190000.0]
        # (1 - Gini) x mean income: 0.8 x 70k, 0.75 x 80k, 0.7 x 75k, 0.8 x 95k
        assert product.get_lines()[0].get_ydata().tolist() == pytest.approx([56000.0, 60000.0, 52500.0, 76000.0])
        assert product.get_title().startswith("Equality x productivity")
    finally:
        plt.close(figure)


def test_figures_of_several_runs_and_missing_columns(steps):
    figures = tax_plots.tax_figures({"seed 0": steps, "seed 1": tax_steps(swf_llm={**SWF_LLM, 4: 3.0})},
                                    {"brackets": "three"})
    try:
        assert [title for title, _ in figures] == ["Tax rates per bracket", "Social welfare over time",
                                                   "Labour and income distributions",
                                                   "Equality x productivity over time"]
        swf = figures[1][1]
        assert "seed 1: best so far" in _legend_texts(swf.axes[0])
        assert "Saez: llm_economist, e = 0.4," in figures[0][1]._suptitle.get_text()
    finally:
        for _, figure in figures:
            plt.close(figure)
    # the world's elasticity argument reaches the Saez reference
    figures = tax_plots.tax_figures({"run": steps}, {"brackets": "three", "elasticity": [0.18, 0.11, 0.57]})
    try:
        assert "e = [0.18, 0.11, 0.57]" in figures[0][1]._suptitle.get_text()
    finally:
        for _, figure in figures:
            plt.close(figure)
    note = tax_plots.plot_swf(steps.drop(columns=["swf_ai_economist"]))
    try:
        assert "skipped" in note.axes[0].texts[0].get_text()
        assert "swf_ai_economist" in note.axes[0].texts[0].get_text()
    finally:
        plt.close(note)
    empty = tax_plots.plot_tax_rates(pd.DataFrame())
    try:
        assert "no step records" in empty.axes[0].texts[0].get_text()
    finally:
        plt.close(empty)


def test_tables(steps):
    years, brackets = tax_plots.tax_tables(steps)
    assert years["title"] == "Tax years"
    assert years["columns"][:5] == ["tax year", "work steps", "rate 0 (%)", "rate 1 (%)", "rate 2 (%)"]
    assert years["rows"][1][:5] == [1, "3 to 4", 40.0, 50.0, 60.0]
    assert years["rows"][1][5:] == pytest.approx([1.85, 0.5, 50.0, 85000.0, 0])
    assert years["rows"][0][-1] == 1  # the fallback of the plan step opening tax year 0
    assert brackets["rows"][0] == [0, "0 to 90k", 40.0, 1, 40000.0, 1, 50000.0]
    assert brackets["rows"][2] == [2, "159.1k to inf", 60.0, 0, None, 0, None]
    two = tax_plots.tax_tables({"a": steps, "b": steps}, {"brackets": "three"})
    assert [table["title"] for table in two] == ["Tax years: a", "Workers per bracket: a", "Tax years: b",
                                                 "Workers per bracket: b"]


# --- on the world's own records ---------------------------------------------------------------


def test_metrics_of_a_real_tax_world_episode():
    """Drive TaxWorldEnv (a planner seat, 4 workers, 6 work steps, tax years of 3) with rational
    hours and a planner that falls back once, record rows as the runner does, and check the
    metrics against the world's own numbers."""
    from dilemmazoo.envs.tax_world import TaxWorldEnv

    env = TaxWorldEnv(n_workers=4, n_steps=6, tax_year=3, planner="seat", brackets="three")
    observations, _ = env.reset(seed=7)
    rows, step, plans = [], 0, 0
    while env.agents:
        deciders = env.deciders()
        actions, fell_back = {}, {}
        for agent in env.agents:
            if agent not in deciders:
                actions[agent] = env.idle_action(agent)
            elif agent == "planner":
                plans += 1
                fell_back[agent] = plans == 2  # the second tax year's answer "did not parse"
                actions[agent] = {"deltas": np.array([0, 0, 0] if plans == 2 else [-10, 0, 10], dtype=np.int64),
                                  "fallback": np.int64(plans == 2)}
            else:
                seen = observations[agent]
                hours = tax_math.rational_hours(seen["skill"], seen["edges"], seen["rates"], grid=tax_math.HOURS_GRID)
                actions[agent] = {"hours": np.asarray(hours, dtype=np.float64).reshape(1)}
        observations, _, _, _, infos = env.step(actions)
        step += 1
        rows.extend({**STANDARD, "episode": 0, "step": step, "agent": agent, "decided": agent in deciders,
                     "fallback_used": fell_back.get(agent, False), **info} for agent, info in infos.items())
    steps = pd.DataFrame(rows)
    metrics = tax_metrics(steps)
    assert (metrics["rounds"], metrics["tax_years"], metrics["workers"]) == (6, 2, 4)
    assert (metrics["planner_decisions"], metrics["planner_fallbacks"]) == (2, 1)
    # the first plan moved the rates from 50% by -10, 0, +10; the second fell back: unchanged
    assert [metrics[f"final_rate_{j}"] for j in range(3)] == [40.0, 50.0, 60.0]
    last = steps[(steps["phase"] == "work") & (steps["round"] == 6) & steps["agent"].str.startswith("worker_")]
    utilities, incomes = last["utility_raw"].to_numpy(), last["income"].to_numpy()
    assert metrics["final_swf_llm_economist"] == pytest.approx(tax_math.swf(utilities, incomes, kind="llm_economist"))
    assert metrics["final_swf_ai_economist"] == pytest.approx(tax_math.swf(utilities, incomes, kind="ai_economist"))
    assert metrics["mean_income"] == pytest.approx(steps.loc[steps["phase"].eq("work") & steps["agent"].ne("planner"),
                                                             "income"].mean())
    figures = tax_plots.tax_figures({"run": steps}, {"brackets": "three"})
    try:
        assert all(len(figure.axes) >= 2 for _, figure in figures)
    finally:
        for _, figure in figures:
            plt.close(figure)
