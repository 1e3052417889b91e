"""Exact values of the commons metrics (GovSim and the effort CPR) on hand-made step records,
and the plots drawn from them."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from dilemmazoo.analysis import WORLD_METRICS, commons_plots, world_metrics
from dilemmazoo.analysis.commons import (
    CPR_WORLD_ID,
    GOVSIM_WORLD_ID,
    agent_gains,
    commons_episodes,
    commons_metrics,
    cpr_episodes,
    cpr_metrics,
    efficiency,
    mean_pairwise_difference,
    metric_options,
    norm_adherence,
    norm_similarity,
    norm_similarity_by_round,
    over_usage,
    stock_by_round,
    survival_time,
)

NAN = math.nan
STANDARD = {"generation": 1, "game": 1, "name": "", "policy": "scripted", "decided": False, "action": "",
            "reward": 0.0, "utility": 0.0, "parse_failures": 0, "fallback_used": False}


# --- builders: records exactly as the worlds write them ------------------------------------


def govsim_steps(requests_by_month, *, episode=0, capacity=100.0, initial_stock=100.0, collapse_threshold=5.0,
                 granted_by_month=None, fallbacks=(), absent=()):
    """A GovSim episode: per month one harvest step (every agent's request, granted as asked
    unless ``granted_by_month`` says otherwise) and one talk step. The stock follows the
    paper: collapse when the post-harvest stock is below 5, else it doubles up to capacity.
    ``fallbacks`` and ``absent`` hold (month, agent index) pairs."""
    rows, stock, step = [], initial_stock, 0
    for month, requests in enumerate(requests_by_month, start=1):
        granted = granted_by_month[month - 1] if granted_by_month else requests
        sustainable = stock // 2
        threshold = sustainable // len(requests)
        after = stock - sum(g for i, g in enumerate(granted) if (month, i) not in absent)
        collapsed = after < collapse_threshold
        end_stock = after if collapsed else min(capacity, 2 * after)
        step += 1
        for index, (request, got) in enumerate(zip(requests, granted)):
            present = (month, index) not in absent
            rows.append({
                **STANDARD, "episode": episode, "step": step, "agent": f"player_{index}", "decided": present,
                "fallback_used": (month, index) in fallbacks,
                "round": month, "phase": "harvest", "round_end": collapsed, "stock_before": stock,
                "stock_after_harvest": after, "stock": after, "sustainable_total": float(sustainable),
                "threshold": float(threshold), "requested": int(request) if present else -1,
                "harvest": float(got) if present else 0.0, "present": present, "collapsed": collapsed,
                "collapse_threshold": collapse_threshold, "n_present": len(requests) - len(absent),
                "speaker": "", "message": "",
            })
        if collapsed:
            break
        step += 1
        for index in range(len(requests)):
            rows.append({
                **STANDARD, "episode": episode, "step": step, "agent": f"player_{index}", "decided": index == 0,
                "round": month, "phase": "talk", "round_end": True, "stock_before": stock,
                "stock_after_harvest": after, "stock": end_stock, "sustainable_total": float(sustainable),
                "threshold": float(threshold), "requested": -1, "harvest": 0.0, "present": True, "collapsed": False,
                "collapse_threshold": collapse_threshold, "n_present": len(requests), "speaker": "player_0",
                "message": "let us fish less",
            })
        stock = end_stock
    return pd.DataFrame(rows)


def cpr_round_rows(episode, round_, step, efforts, harvests, *, stock_before, stock, group_norm=-1.0,
                   sanctioned=(), fallbacks=(), collapsed=False, msy=5.0):
    """One CPR round: a propose step, a vote step and the harvest step."""
    rows = []
    n = len(efforts)
    for offset, phase in enumerate(("propose", "vote", "harvest")):
        for index in range(n):
            harvest_phase = phase == "harvest"
            harvest = harvests[index] if harvest_phase else 0.0
            rows.append({
                **STANDARD, "episode": episode, "step": step + offset, "agent": f"player_{index}", "decided": True,
                "fallback_used": harvest_phase and index in fallbacks,
                "round": round_, "phase": phase, "round_end": harvest_phase, "stock_before": stock_before,
                "stock": stock if harvest_phase else stock_before,
                "effort": efforts[index] if harvest_phase else -1.0, "harvest": harvest,
                "group_norm": group_norm, "over_norm": bool(harvest_phase and group_norm >= 0 and harvest > group_norm),
                "inspected": False, "sanctioned": harvest_phase and index in sanctioned, "fine_paid": 0.0,
                "punish_cost_paid": 0.0, "punishments_made": 0, "proposal": 3.0 if phase == "propose" else -1.0,
                "vote": 0 if phase == "vote" else -1, "elected_norm": group_norm if phase == "vote" else -1.0,
                "wealth": 0.0, "collapsed": collapsed and harvest_phase, "consumption": 1.0,
                "max_sustainable_yield": msy, "collapse_threshold": 2.0,
            })
    return rows


@pytest.fixture
def cpr_steps() -> pd.DataFrame:
    """Three agents, two episodes, maximum sustainable yield 5 per round, T = 3 rounds.

    episode 0 (survives all 3 rounds):
      r1  efforts 0.2, 0.2, 0.8  harvests 1, 1, 4     no norm               similarity 1 - (0+.6+.6)/3 = 0.6
      r2  efforts 0.5, 0.5, 0.5  harvests 2, 2, 2     norm 2; p2 sanctioned  similarity 1
      r3  efforts 0.4, 0.4, 1.0  harvests 1, 1, 3     norm 2 (p2 over)      similarity 1 - (0+.6+.6)/3 = 0.6
      gains 4, 4, 9 (sum 17): gain 17/3, efficiency 17/15 -> 1.0,
      equality 1 - (2*(0+5+5)) / (2*3*17) = 1 - 10/51
      sanctions 1 / 9, adherence (r2: 3 of 3, r3: 2 of 3) 5 / 6, over-usage 1 / 9,
      similarity mean 2.2/3, final 0.6, mean norm 2
    episode 1 (collapses in round 2; p1 is a fallback in round 1):
      r1  efforts 1, 0(fallback), 1  harvests 3, 0, 3  no norm   similarity of (1, 1) = 1
      r2  efforts 1, 1, 1            harvests 2, 2, 2  collapse  similarity 1
      gains 5, 2, 5 (sum 12): efficiency 1 - (15 - 12) / 15 = 0.8,
      equality 1 - 2*(3+3+0) / (2*3*12) = 1 - 12/72, no sanctions, no norm, over-usage 0 / 5
    """
    rows = []
    rows += cpr_round_rows(0, 1, 1, [0.2, 0.2, 0.8], [1.0, 1.0, 4.0], stock_before=20.0, stock=19.0)
    rows += cpr_round_rows(0, 2, 4, [0.5, 0.5, 0.5], [2.0, 2.0, 2.0], stock_before=19.0, stock=18.0, group_norm=2.0, sanctioned=(2,))
    rows += cpr_round_rows(0, 3, 7, [0.4, 0.4, 1.0], [1.0, 1.0, 3.0], stock_before=18.0, stock=18.5, group_norm=2.0)
    rows += cpr_round_rows(1, 1, 1, [1.0, 0.0, 1.0], [3.0, 0.0, 3.0], stock_before=20.0, stock=16.0, fallbacks=(1,))
    rows += cpr_round_rows(1, 2, 4, [1.0, 1.0, 1.0], [2.0, 2.0, 2.0], stock_before=10.0, stock=1.0, collapsed=True)
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)  # any row order


# --- formulas ------------------------------------------------------------------------------


def test_survival_time():
    assert survival_time([1, 1, 2, 2, 3], [False] * 5) == 3
    assert survival_time([1, 2, 3, 3], [False, False, True, True]) == 3
    assert survival_time([1, 1, 2], [True, False, False]) == 1
    with pytest.raises(ValueError, match="without rounds"):
        survival_time([], [])
    with pytest.raises(ValueError, match="differ in length"):
        survival_time([1, 2], [False])


def test_efficiency_by_hand():
    assert efficiency(600, 50, 12) == 1.0
    assert efficiency(100, 50, 12) == pytest.approx(100 / 600)
    assert efficiency(900, 50, 12) == 1.0  # taking more than T f0 does not count extra
    assert efficiency(0, 50, 12) == 0.0
    assert efficiency(12, 5, 3) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="sustainable_yield"):
        efficiency(10, 0, 12)
    with pytest.raises(ValueError, match="horizon"):
        efficiency(10, 50, 0)


def test_over_usage_and_norm_adherence_by_hand():
    assert over_usage([10, 11, 9, 10], [10, 10, 10, 10]) == 0.25
    assert math.isnan(over_usage([], []))
    assert norm_adherence([1, 2, 3, 5], [-1, 2, 2, 4]) == pytest.approx(1 / 3)
    assert norm_adherence([0.1 + 0.2], [0.3]) == 1.0  # float noise is not a violation
    assert math.isnan(norm_adherence([1, 2], [-1, -1]))


def test_norm_similarity_by_hand():
    assert mean_pairwise_difference([0.2, 0.2, 0.8]) == pytest.approx(0.4)
    assert mean_pairwise_difference([4, 1, 3, 2]) == pytest.approx(10 / 6)
    assert norm_similarity([0.5, 0.5, 0.5]) == 1.0
    assert norm_similarity([0.0, 1.0]) == 0.0
    assert norm_similarity([0.2, 0.2, 0.8]) == pytest.approx(0.6)
    assert math.isnan(norm_similarity([0.3]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        norm_similarity([0.5, 1.5])


def test_mean_pairwise_difference_matches_the_pairwise_definition():
    values = np.random.default_rng(5).uniform(size=23)
    pairs = [abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]]
    assert mean_pairwise_difference(values) == pytest.approx(np.mean(pairs))


# --- GovSim ----------------------------------------------------------------------------------


def test_govsim_everyone_takes_the_sustainable_share_for_twelve_months():
    steps = govsim_steps([[10] * 5] * 12)
    assert commons_metrics(steps) == {
        "survival_time": 12.0, "survival_rate": 1.0, "gain": 120.0, "efficiency": 1.0, "equality": 1.0,
        "over_usage": 0.0, "episodes": 1, "n_months": 12, "fallback_rate": 0.0,
        "valid_decisions": 72, "fallbacks": 0,  # 60 harvest decisions and 12 utterances
    }


def test_govsim_collapse_in_month_one():
    steps = govsim_steps([[20] * 5])
    metrics = commons_metrics(steps)
    assert metrics["survival_time"] == 1.0 and metrics["survival_rate"] == 0.0
    assert metrics["efficiency"] == pytest.approx(100 / 600)  # T = 12 by default when every episode collapsed
    assert metrics["over_usage"] == 1.0 and metrics["equality"] == 1.0 and metrics["gain"] == 20.0
    assert metrics["n_months"] == 12
    assert commons_metrics(steps, n_months=24)["efficiency"] == pytest.approx(100 / 1200)


def test_govsim_mixed_episode_by_hand():
    """Month 1: requests 10, 10, 10, 10, 15 (stock 100 -> 45 -> 90, f = 50, threshold 10).
    Month 2: stock 90, f = 45, threshold 9; requests 9, 9, 9, 20, 30 = 77 -> 13 -> 26.
    Month 3: stock 26, f = 13, threshold 2; requests 2, 2, 2, 2, 17 -> 1: collapse.
    gains: 21, 21, 21, 32, 62 (sum 157); over-usage: m1 1 of 5, m2 2 of 5, m3 1 of 5 -> 4/15.
    """
    steps = govsim_steps([[10, 10, 10, 10, 15], [9, 9, 9, 20, 30], [2, 2, 2, 2, 17]])
    episodes = commons_episodes(steps)
    row = episodes.iloc[0]
    assert row["survival_time"] == 3 and bool(row["collapsed"]) and not bool(row["survived"])
    assert row["total_harvest"] == 157.0 and row["gain"] == pytest.approx(157 / 5)
    assert row["efficiency"] == pytest.approx(157 / 600)
    # sum_{i<j} |R_i - R_j| = 3 * 11 (21 vs 32) + 3 * 41 (21 vs 62) + 30 (32 vs 62) = 186
    assert row["equality"] == pytest.approx(1 - 2 * 186 / (2 * 5 * 157))
    assert row["over_usage"] == pytest.approx(4 / 15)
    gains = agent_gains(steps)
    assert gains["gain"].to_list() == [21.0, 21.0, 21.0, 32.0, 62.0]


def test_govsim_over_usage_counts_requests_not_grants_and_skips_fallbacks():
    # month 1: agent 4 asks for 30 but gets 15 (the stock ran short in this toy); agent 3's
    # request is the world's fallback and is not its own choice
    steps = govsim_steps(
        [[10, 10, 10, 30, 30]], granted_by_month=[[10, 10, 10, 15, 15]], fallbacks={(1, 3)},
    )
    row = commons_episodes(steps, n_months=1).iloc[0]
    assert row["over_usage"] == pytest.approx(1 / 4)  # agent 4 only, over the 4 real decisions
    assert row["total_harvest"] == 60.0  # the fallback's harvest still counts
    assert bool(row["survived"]) and row["efficiency"] == 1.0
    # 5 harvest decisions and 1 utterance, 1 fallback
    metrics = commons_metrics(steps, n_months=1)
    assert metrics["fallback_rate"] == pytest.approx(1 / 6)
    assert (metrics["valid_decisions"], metrics["fallbacks"]) == (5, 1)


def test_govsim_over_usage_of_a_run_without_a_valid_harvest_is_nan_with_the_reason():
    steps = govsim_steps([[10, 10, 10, 30, 30]], fallbacks={(1, seat) for seat in range(5)})
    metrics = commons_metrics(steps, n_months=1)
    assert math.isnan(metrics["over_usage"])
    assert metrics["nan_reasons"] == {"over_usage": "no valid harvest request (5 fallbacks, 1 valid decisions in all)"}
    assert metrics["efficiency"] == 1.0  # the fallbacks' harvests still moved the resource


def test_govsim_absent_newcomer_is_not_counted_before_it_joins():
    # agent 4 joins in month 2: over-usage over 4 + 5 present decisions
    steps = govsim_steps([[10, 10, 10, 10, 0], [10, 10, 10, 10, 25]], absent={(1, 4)})
    row = commons_episodes(steps, n_months=2).iloc[0]
    assert row["over_usage"] == pytest.approx(1 / 9)
    assert agent_gains(steps)["gain"].to_list() == [20.0, 20.0, 20.0, 20.0, 25.0]


def test_govsim_horizon_is_read_from_a_surviving_episode_and_runs_average_episodes():
    survived = govsim_steps([[10] * 5] * 3, episode=0)
    collapsed = govsim_steps([[20] * 5], episode=1)
    steps = pd.concat([survived, collapsed], ignore_index=True).sample(frac=1.0, random_state=1)
    metrics = commons_metrics(steps)
    assert metrics["n_months"] == 3  # the surviving episode ran 3 months: T = 3
    assert metrics["survival_time"] == 2.0 and metrics["survival_rate"] == 0.5
    assert metrics["efficiency"] == pytest.approx((1.0 + 100 / 150) / 2)
    assert metrics["over_usage"] == pytest.approx((0.0 + 1.0) / 2)
    assert json.loads(json.dumps(metrics)) == metrics
    # a survivor that stopped before T is truncated, not survived
    assert commons_metrics(survived, n_months=12)["survival_rate"] == 0.0


def test_govsim_missing_columns_is_a_clear_error():
    steps = govsim_steps([[10] * 5]).drop(columns=["requested"])
    with pytest.raises(ValueError, match=r"requested.*commons-v0"):
        commons_metrics(steps)
    with pytest.raises(ValueError, match="n_months"):
        commons_metrics(govsim_steps([[10] * 5]), n_months=0)
    with pytest.raises(ValueError, match="n_months=2 but the records reach round 3"):
        commons_metrics(govsim_steps([[10] * 5] * 3), n_months=2)


def test_stock_by_round_follows_regrowth_and_marks_the_collapse():
    steps = govsim_steps([[10, 10, 10, 10, 15], [9, 9, 9, 20, 30], [2, 2, 2, 2, 17]])
    table = stock_by_round(steps)
    assert table["round"].to_list() == [1, 2, 3]
    assert table["stock_before"].to_list() == [100.0, 90.0, 26.0]
    assert table["stock_after_harvest"].to_list() == [45.0, 13.0, 1.0]
    assert table["stock"].to_list() == [90.0, 26.0, 1.0]
    assert table["collapsed"].to_list() == [False, False, True]
    assert table["collapse_threshold"].to_list() == [5.0, 5.0, 5.0]


# --- effort CPR --------------------------------------------------------------------------------


def test_cpr_episodes_by_hand(cpr_steps):
    episodes = cpr_episodes(cpr_steps, n_rounds=3).set_index("episode")
    first, second = episodes.loc[0], episodes.loc[1]
    assert first["survival_time"] == 3 and bool(first["survived"])
    assert first["gain"] == pytest.approx(17 / 3) and first["efficiency"] == 1.0
    assert first["equality"] == pytest.approx(1 - 10 / 51)
    assert first["sanction_rate"] == pytest.approx(1 / 9)
    assert first["norm_adherence"] == pytest.approx(5 / 6)
    assert first["over_usage"] == pytest.approx(1 / 9)
    assert first["norm_similarity"] == pytest.approx(2.2 / 3)
    assert first["final_norm_similarity"] == pytest.approx(0.6)
    assert first["mean_group_norm"] == 2.0

    assert second["survival_time"] == 2 and not bool(second["survived"]) and bool(second["collapsed"])
    assert second["efficiency"] == pytest.approx(0.8)
    assert second["equality"] == pytest.approx(1 - 12 / 72)
    assert second["sanction_rate"] == 0.0 and second["over_usage"] == 0.0
    assert math.isnan(second["norm_adherence"]) and math.isnan(second["mean_group_norm"])
    assert second["norm_similarity"] == 1.0 and second["final_norm_similarity"] == 1.0


def test_cpr_metrics_are_means_over_episodes(cpr_steps):
    metrics = cpr_metrics(cpr_steps)
    assert metrics["n_rounds"] == 3  # read from the surviving episode
    assert metrics["survival_time"] == 2.5 and metrics["survival_rate"] == 0.5
    assert metrics["efficiency"] == pytest.approx(0.9)
    assert metrics["sanction_rate"] == pytest.approx(1 / 18)
    assert metrics["norm_adherence"] == pytest.approx(5 / 6)  # only episode 0 had a norm
    assert metrics["over_usage"] == pytest.approx(1 / 18)
    assert metrics["norm_similarity"] == pytest.approx((2.2 / 3 + 1.0) / 2)
    assert metrics["final_norm_similarity"] == pytest.approx(0.8)
    assert metrics["mean_group_norm"] == 2.0
    assert metrics["episodes"] == 2
    assert metrics["fallback_rate"] == pytest.approx(1 / 45)  # one fallback among 45 decisions
    assert json.loads(json.dumps(metrics)) == metrics


def test_cpr_without_any_norm_reports_nan_with_the_reason(cpr_steps):
    steps = cpr_steps[cpr_steps["episode"] == 1]
    metrics = cpr_metrics(steps, n_rounds=50)
    assert math.isnan(metrics["norm_adherence"]) and math.isnan(metrics["mean_group_norm"])
    assert metrics["nan_reasons"] == {
        "norm_adherence": "no group norm was ever in force", "mean_group_norm": "no group norm was ever in force",
    }
    assert metrics["efficiency"] == pytest.approx(12 / 250)


def test_norm_similarity_by_round(cpr_steps):
    table = norm_similarity_by_round(cpr_steps)
    assert list(zip(table["episode"], table["round"])) == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)]
    assert table["norm_similarity"].to_list() == pytest.approx([0.6, 1.0, 0.6, 1.0, 1.0])
    assert table["mean_effort"].to_list() == pytest.approx([0.4, 0.5, 0.6, 1.0, 1.0])  # fallback left out
    assert table["min_effort"].to_list() == pytest.approx([0.2, 0.5, 0.4, 1.0, 1.0])


def test_registry_and_options(cpr_steps):
    assert WORLD_METRICS[GOVSIM_WORLD_ID] is commons_metrics
    assert WORLD_METRICS[CPR_WORLD_ID] is cpr_metrics
    assert world_metrics(CPR_WORLD_ID, cpr_steps) == cpr_metrics(cpr_steps)
    assert world_metrics(CPR_WORLD_ID, cpr_steps, world_kwargs={"n_rounds": 50})["n_rounds"] == 50
    assert metric_options(GOVSIM_WORLD_ID, {"n_months": 24, "framing": "fishery"}) == {"n_months": 24}
    assert metric_options(CPR_WORLD_ID, {"n_rounds": 80}) == {"n_rounds": 80}
    assert metric_options(CPR_WORLD_ID, {}) == {} and metric_options("dilemmazoo/donor-game-v0", {"n_rounds": 3}) == {}
    with pytest.raises(ValueError, match="effort"):
        cpr_metrics(cpr_steps.drop(columns=["effort"]))


# --- plots -----------------------------------------------------------------------------------


def test_stock_plot_of_one_run_and_of_many(cpr_steps):
    govsim = govsim_steps([[10, 10, 10, 10, 15], [9, 9, 9, 20, 30], [2, 2, 2, 2, 17]])
    figure = commons_plots.plot_stock(govsim)
    axes = figure.axes[0]
    stock_line = axes.get_lines()[0]
    assert list(stock_line.get_xdata()) == [0, 1, 2, 3]
    assert list(stock_line.get_ydata()) == [100.0, 90.0, 26.0, 1.0]
    threshold = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert threshold and set(threshold[0].get_ydata()) == {5.0}
    markers = [line for line in axes.get_lines() if line.get_marker() == "X"]
    assert len(markers) == 1 and list(markers[0].get_xdata()) == [3]

    many = commons_plots.plot_stock({"seed 1": cpr_steps, "seed 2": cpr_steps})
    solid = [line for line in many.axes[0].get_lines() if line.get_linestyle() == "-"]
    assert len(solid) == 4  # two runs x two episodes
    collapses = [line for line in many.axes[0].get_lines() if line.get_marker() == "X"]
    assert sum(len(line.get_xdata()) for line in collapses) == 2


def test_norm_plot_has_norm_effort_and_similarity_panels(cpr_steps, tmp_path):
    path = tmp_path / "norms.png"
    figure = commons_plots.plot_norms(cpr_steps, path=path)
    assert path.stat().st_size > 0
    titles = [axes.get_title() for axes in figure.axes]
    assert len(titles) == 3 and "group norm" in titles[0].lower() and "similarity" in titles[2].lower()
    similarity = figure.axes[2].get_lines()[0]
    assert list(similarity.get_ydata()) == pytest.approx([0.6, 1.0, 0.6])  # episode 0
    norm, mean_harvest = figure.axes[0].get_lines()  # episode 1 had no norm: nothing drawn for it
    assert list(norm.get_xdata()) == [2, 3] and list(norm.get_ydata()) == [2.0, 2.0]
    assert mean_harvest.get_linestyle() == ":" and list(mean_harvest.get_ydata()) == pytest.approx([2.0, 2.0, 5 / 3])


def test_govsim_norm_plot_shows_requests_against_the_threshold():
    steps = govsim_steps([[10, 10, 10, 10, 15], [9, 9, 9, 20, 30]])
    figure = commons_plots.plot_requests(steps)
    lines = figure.axes[0].get_lines()
    assert list(lines[0].get_ydata()) == pytest.approx([11.0, 77 / 5])  # mean request
    assert list(lines[1].get_ydata()) == [10.0, 9.0]  # per-agent threshold


def test_harvest_plot_single_run_stacks_and_many_runs_draw_lines(cpr_steps):
    single = commons_plots.plot_harvests(cpr_steps[cpr_steps["episode"] == 0])
    containers = single.axes[0].containers
    assert len(containers) == 3  # one stacked bar series per agent
    assert [patch.get_height() for patch in containers[2]] == [4.0, 2.0, 3.0]
    many = commons_plots.plot_harvests({"a": cpr_steps, "b": cpr_steps})
    lines = many.axes[0].get_lines()
    assert len(lines) == 3
    # agent 2's mean harvest: round 1 (4 + 3) / 2, round 2 (2 + 2) / 2, round 3 3
    assert list(lines[2].get_ydata()) == pytest.approx([3.5, 2.0, 3.0])


def test_plots_say_why_they_were_skipped():
    empty = commons_plots.plot_stock(pd.DataFrame())
    assert "no step records" in empty.axes[0].texts[0].get_text()
    odd = commons_plots.plot_norms(pd.DataFrame({"episode": [0], "round": [1]}))
    assert "effort" in odd.axes[0].texts[0].get_text()


def test_figure_sets(cpr_steps):
    govsim = govsim_steps([[10] * 5] * 2)
    assert [title for title, _ in commons_plots.commons_figures({"run": govsim})] == [
        "Stock over time", "Harvests per agent", "Requests against the sustainable threshold",
    ]
    assert [title for title, _ in commons_plots.cpr_figures({"run": cpr_steps})] == [
        "Stock over time", "Harvests per agent", "Norms over time",
    ]
    assert len(commons_plots.cpr_cell_figures({"run": cpr_steps})) == 2
    assert len(commons_plots.commons_cell_figures({"run": govsim})) == 2
