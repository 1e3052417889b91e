"""Exact values of the analysis metrics on hand-made records."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from dilemmazoo.analysis import donor_game, metrics, plots
from dilemmazoo.analysis.donor_game import (
    average_final_resources,
    donation_fraction,
    donor_game_metrics,
    final_resources,
    initial_cooperation,
    punishment_rate,
)
from dilemmazoo.analysis.metrics import (
    decision_stats, decisions_by_generation, equality, equality_nan_reason, find_runs, gini, llm_call_stats,
    with_nan_reasons,
)

NAN = math.nan
AGENTS = ("player_0", "player_1", "player_2", "player_3")


def encounter_rows(generation, game, step, encounters, resources):
    """Rows of one step: ``encounters`` maps donor -> (recipient, move, fraction, amount,
    parse_failures, fallback); ``resources`` lists every agent's resources after the step."""
    recipients = {recipient: donor for donor, (recipient, *_rest) in encounters.items()}
    rows = []
    for index, agent in enumerate(AGENTS):
        row = {
            "episode": 0, "generation": generation, "game": game, "step": step, "agent": agent,
            "name": f"{generation}_{index}", "decided": False, "action": "", "reward": 0.0, "utility": 0.0,
            "parse_failures": 0, "fallback_used": False, "role": "idle", "partner": "", "move": "",
            "amount": 0.0, "fraction": NAN, "resources": float(resources[index]), "round": step,
        }
        if agent in encounters:
            recipient, move, fraction, amount, failures, fallback = encounters[agent]
            row.update(
                decided=True, action=json.dumps({"move": move, "amount": amount}), role="donor", partner=recipient,
                move=move, fraction=fraction, amount=amount, parse_failures=failures, fallback_used=fallback,
            )
        elif agent in recipients:
            row.update(role="recipient", partner=recipients[agent])
        rows.append(row)
    return rows


def no_fail(recipient, move, fraction, amount):
    return (recipient, move, fraction, amount, 0, False)


@pytest.fixture
def steps() -> pd.DataFrame:
    """4 agents A..D (player_0..3), 2 rounds per game; generation 1 plays 1 game, generation 2 plays 2.

    gen 1 game 1 (everyone starts with 10):
      r1  A gives 0.5 (5) to B, C gives 0.2 (2) to D          -> A 5,  B 20, C 8,  D 14
      r2  B gives 0.25 (5) to A, D never parses (fallback)    -> A 15, B 15, C 8,  D 14
    gen 2 game 1:
      r1  A gives 1.0 (10) to B, C punishes D spending 2      -> A 0,  B 30, C 8,  D 6
      r2  B gives 0.5 (15) to A, D refuses                    -> A 30, B 15, C 8,  D 6
    gen 2 game 2:
      r1  A gives 0.0, C gives 0.5 (5) to D                   -> A 10, B 10, C 5,  D 20
      r2  B never parses (fallback), D punishes C spending 2  -> A 10, B 10, C 1,  D 18
    """
    A, B, C, D = AGENTS
    rows = []
    rows += encounter_rows(1, 1, 1, {A: no_fail(B, "donate", 0.5, 5.0), C: no_fail(D, "donate", 0.2, 2.0)}, [5, 20, 8, 14])
    rows += encounter_rows(1, 1, 2, {B: no_fail(A, "donate", 0.25, 5.0), D: (C, "abstain", 0.0, 0.0, 2, True)}, [15, 15, 8, 14])
    rows += encounter_rows(2, 1, 1, {A: no_fail(B, "donate", 1.0, 10.0), C: no_fail(D, "punish", 0.2, 2.0)}, [0, 30, 8, 6])
    rows += encounter_rows(2, 1, 2, {B: no_fail(A, "donate", 0.5, 15.0), D: no_fail(C, "refuse", 0.0, 0.0)}, [30, 15, 8, 6])
    rows += encounter_rows(2, 2, 1, {A: no_fail(B, "donate", 0.0, 0.0), C: no_fail(D, "donate", 0.5, 5.0)}, [10, 10, 5, 20])
    rows += encounter_rows(2, 2, 2, {B: (A, "abstain", 0.0, 0.0, 3, True), D: no_fail(C, "punish", 0.1, 2.0)}, [10, 10, 1, 18])
    frame = pd.DataFrame(rows)
    frame["episode"] = (frame["generation"] - 1) + (frame["game"] - 1)  # 0, 1, 2
    # Records may come in any order: the metrics must sort by step themselves.
    return frame.sample(frac=1.0, random_state=7).reset_index(drop=True)


# --- generic metrics ---------------------------------------------------------------------


def test_gini_by_hand():
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)
    # sum_ij |xi - xj| = 2 * (1+2+3+1+2+1) = 20; 2 n^2 mean = 2 * 16 * 2.5 = 80
    assert gini([4, 1, 3, 2]) == pytest.approx(0.25)
    assert gini([0, 0, 0]) == 0.0
    assert equality([1, 1, 1, 1]) == 1.0
    assert equality([0, 0, 0, 1]) == pytest.approx(0.25)


def test_gini_matches_the_pairwise_definition():
    values = np.random.default_rng(0).exponential(size=37)
    pairwise = np.abs(values[:, None] - values[None, :]).sum() / (2 * values.size**2 * values.mean())
    assert gini(values) == pytest.approx(pairwise)


@pytest.mark.parametrize("bad", [[], [1.0, NAN], [1.0, -1.0]])
def test_gini_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        gini(bad)


@pytest.mark.parametrize(
    "returns, reason",
    [
        # the formula on (-3, 1): sum_ij |xi - xj| = 8, 2 n^2 mean = 2 * 4 * -1 = -8 -> G = -1, "equality" 2
        ([-3.0, 1.0], "a return is negative (-3); 1 - Gini is defined for non-negative returns"),
        # (-2, 3): total 1 > 0 but G = 10 / (2 * 4 * 0.5) = 2.5, "equality" -1.5
        ([-2.0, 3.0], "a return is negative (-2); 1 - Gini is defined for non-negative returns"),
        ([-1.0, -1.0], "a return is negative (-1); 1 - Gini is defined for non-negative returns"),
        ([], "no returns to compare"),
        ([1.0, NAN], "a return is not a finite number"),
    ],
)
def test_equality_outside_its_range_is_nan_with_the_reason(returns, reason):
    assert math.isnan(equality(returns))
    assert equality_nan_reason(returns) == reason


def test_equality_stays_in_zero_one_for_non_negative_returns():
    assert equality([0.0, 0.0]) == 1.0  # nobody got anything: equal
    assert equality([0.0, 0.0, 4.0]) == pytest.approx(1 / 3)  # one holds everything: 1/n
    assert equality([4, 1, 3, 2]) == pytest.approx(0.75)
    assert equality_nan_reason([4, 1, 3, 2]) is None
    values = np.random.default_rng(3).exponential(size=(200, 5))
    assert all(0.0 <= equality(row) <= 1.0 for row in values)


def test_with_nan_reasons_explains_every_nan():
    metrics = with_nan_reasons(
        {"rate": NAN, "count": 3, "by_group": {"a": 0.5, "b": None}}, {"rate": "no valid decision", "by_group": "no data"},
    )
    assert metrics["count"] == 3 and math.isnan(metrics["rate"]) and math.isnan(metrics["by_group"]["b"])
    assert metrics["nan_reasons"] == {"rate": "no valid decision", "by_group.b": "no data"}
    assert "nan_reasons" not in with_nan_reasons({"rate": 0.5}, {})
    with pytest.raises(KeyError, match="rate"):
        with_nan_reasons({"rate": NAN}, {})


def test_find_runs_finds_summaries_at_any_depth(tmp_path):
    nested = [tmp_path / "exp" / "donation_multiplier=2.0" / "seed=1", tmp_path / "exp" / "a=1" / "b=x" / "seed=2"]
    for run in [*nested, tmp_path / "exp" / "flat"]:
        run.mkdir(parents=True)
        (run / "summary.json").write_text("{}")
    (tmp_path / "exp" / "unfinished").mkdir()
    assert find_runs(tmp_path) == sorted([*nested, tmp_path / "exp" / "flat"])
    assert find_runs(nested[0]) == [nested[0]]


def test_decision_stats(steps):
    assert decision_stats(steps) == {"decisions": 12, "parse_failures": 5, "fallbacks": 2, "fallback_rate": pytest.approx(2 / 12)}
    assert decision_stats(steps.iloc[0:0]) == {"decisions": 0, "parse_failures": 0, "fallbacks": 0, "fallback_rate": 0.0}


def test_decisions_by_generation(steps):
    table = decisions_by_generation(steps)
    assert table.index.to_list() == [1, 2]
    assert table["decisions"].to_list() == [4, 8]
    assert table["parse_failures"].to_list() == [2, 3]
    assert table["fallbacks"].to_list() == [1, 1]
    assert table["fallback_rate"].to_list() == pytest.approx([0.25, 0.125])


def test_llm_call_stats():
    calls = pd.DataFrame({
        "episode": [0, 0, 1, -1], "generation": [1, 1, 1, 1], "step": [1, 1, 2, 0],
        "agent": ["player_0", "player_0", "player_1", "1_0"], "purpose": ["act", "retry", "act", "strategy"],
        "prompt_hash": ["a", "b", "c", "d"], "prompt_tokens": [100, 120, 90, 200], "completion_tokens": [10, 12, 9, 40],
        "latency_s": [0.5, 0.25, 0.0, 1.25], "cached": [False, False, True, False], "cost_usd": [0.001, 0.002, 0.0, NAN],
        "text": ["x", "y", "z", "w"], "error": ["no Answer: line", "", "", ""],
    })
    assert llm_call_stats(calls) == {
        "calls": 4, "cached": 1, "cache_hit_rate": 0.25, "prompt_tokens": 510, "completion_tokens": 71,
        "total_latency_s": 2.0, "cost_usd": pytest.approx(0.003), "errors": 1,
    }
    empty = llm_call_stats(pd.DataFrame())
    assert empty["calls"] == 0 and empty["cache_hit_rate"] == 0.0 and empty["cost_usd"] == 0.0


# --- Donor Game ----------------------------------------------------------------------------


def test_final_resources_takes_the_last_step_of_each_game(steps):
    final = final_resources(steps)
    assert list(final.columns) == ["generation", "game", "agent", "name", "resources"]
    assert final["resources"].to_list() == [15, 15, 8, 14, 30, 15, 8, 6, 10, 10, 1, 18]
    # B held 30 after round 1 of gen 2 game 1 and 15 at the end: the last step counts, not the peak.
    assert final.set_index(["generation", "game", "agent"]).loc[(2, 1, "player_1"), "resources"] == 15


def test_average_final_resources(steps):
    series = average_final_resources(steps)
    assert series.index.to_list() == [1, 2]
    assert series.to_list() == [52 / 4, (59 + 39) / 8]


def test_donation_fraction_excludes_fallbacks_punishments_and_refusals(steps):
    by_generation = donation_fraction(steps)
    # gen 1: 0.5, 0.2, 0.25 (D's fallback 'abstain' is not a donation of 0)
    # gen 2: 1.0, 0.5, 0.0, 0.5 (C's and D's punishments, D's refusal and B's fallback left out)
    assert by_generation.to_dict() == {1: pytest.approx(0.95 / 3), 2: pytest.approx(0.5)}
    by_round = donation_fraction(steps, by=("generation", "round"))
    assert by_round.to_dict() == {
        (1, 1): pytest.approx(0.35), (1, 2): pytest.approx(0.25),
        (2, 1): pytest.approx(0.5), (2, 2): pytest.approx(0.5),
    }
    assert initial_cooperation(steps) == pytest.approx(0.95 / 3)


def test_punishment_rate_in_percent_of_real_encounters(steps):
    rates = punishment_rate(steps)
    # gen 2: 7 real encounters (B's fallback excluded), 2 punished
    assert rates.to_dict() == {1: 0.0, 2: pytest.approx(200 / 7)}


def test_donor_game_metrics(steps):
    result = donor_game_metrics(steps)
    assert result == {
        "avg_final_resources_by_generation": {"1": 13.0, "2": 12.25},
        "final_generation_avg_resources": 12.25,
        "initial_cooperation": pytest.approx(0.95 / 3),
        "donation_fraction_by_generation": {"1": pytest.approx(0.95 / 3), "2": pytest.approx(0.5)},
        "punishment_rate_by_generation": {"1": 0.0, "2": pytest.approx(200 / 7)},
        "fallback_rate": pytest.approx(1 / 6),
        "valid_decisions": 10,
        "fallbacks": 2,
    }
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert all(type(value) is float for value in result["avg_final_resources_by_generation"].values())


def test_world_metrics_dispatches_on_the_world_id(steps):
    from dilemmazoo.analysis import world_metrics

    assert world_metrics("dilemmazoo/donor-game-v0", steps) == donor_game_metrics(steps)
    assert world_metrics("dilemmazoo/elsewhere-v0", steps) == {}
    assert world_metrics("dilemmazoo/donor-game-v0", steps.iloc[0:0]) == {}


def test_initial_cooperation_is_nan_with_a_reason_without_generation_one_donations(steps):
    later = steps[steps["generation"] == 2]
    assert math.isnan(initial_cooperation(later))
    metrics = donor_game_metrics(later)
    assert math.isnan(metrics["initial_cooperation"])
    assert metrics["nan_reasons"] == {"initial_cooperation": "no valid donation in generation 1 (0 donor decisions, 0 fallbacks)"}


def test_donor_rates_are_over_valid_decisions_only(steps):
    # every generation-1 donor decision fell back: no rate for generation 1, not a rate of 0
    fell_back = steps.copy()
    first_donors = (fell_back["generation"] == 1) & (fell_back["role"] == "donor")
    fell_back.loc[first_donors, "fallback_used"] = True
    fell_back.loc[first_donors, "move"] = "abstain"
    metrics = donor_game_metrics(fell_back)
    assert math.isnan(metrics["initial_cooperation"])
    assert "1" not in metrics["donation_fraction_by_generation"] and "1" not in metrics["punishment_rate_by_generation"]
    assert metrics["donation_fraction_by_generation"]["2"] == pytest.approx(0.5)
    n = int(first_donors.sum())
    assert metrics["fallbacks"] == n + int((steps["fallback_used"] & ~first_donors).sum())
    assert metrics["nan_reasons"]["initial_cooperation"] == f"no valid donation in generation 1 ({n} donor decisions, {n} fallbacks)"


def test_donor_metrics_name_missing_columns(steps):
    with pytest.raises(ValueError, match="fraction"):
        donor_game_metrics(steps.drop(columns=["fraction"]))


def test_the_all_donate_maximum_of_the_paper():
    """12 agents, 12 rounds, strict alternation, everyone gives everything: 180 * 2^11 / 12 each on average."""
    agents = [f"player_{i}" for i in range(12)]
    resources = dict.fromkeys(agents, 10.0)
    rows = []
    for round_ in range(1, 13):
        donors = agents[:6] if round_ % 2 else agents[6:]
        recipients = agents[6:] if round_ % 2 else agents[:6]
        pairs = {donor: recipients[(index + round_ // 2) % 6] for index, donor in enumerate(donors)}
        amounts = {donor: resources[donor] for donor in donors}
        for donor, recipient in pairs.items():
            resources[recipient] += 2 * amounts[donor]
            resources[donor] -= amounts[donor]
        for agent in agents:
            is_donor = agent in pairs
            rows.append({
                "generation": 1, "game": 1, "step": round_, "round": round_, "agent": agent, "decided": is_donor,
                "role": "donor" if is_donor else "recipient", "move": "donate" if is_donor else "",
                "fraction": 1.0 if is_donor else NAN, "resources": resources[agent],
                "fallback_used": False, "parse_failures": 0,
            })
    result = donor_game_metrics(pd.DataFrame(rows))
    assert result["final_generation_avg_resources"] == pytest.approx(30_720.0)
    assert result["initial_cooperation"] == 1.0


# --- plots never crash -----------------------------------------------------------------------


def test_plots_handle_one_generation_several_runs_and_missing_columns(tmp_path, steps):
    one_generation = steps[steps["generation"] == 1]
    for plot in (plots.plot_average_final_resources, plots.plot_donation_fraction, plots.plot_punishment_rate, plots.plot_decision_failures):
        for data in (steps, one_generation, {"seed 1": steps, "seed 2": one_generation}, steps.drop(columns=["resources", "round", "move", "fraction"]), pd.DataFrame(), {}):
            figure = plot(data)
            assert figure.axes, plot.__name__
    path = tmp_path / "resources.png"
    plots.plot_average_final_resources(steps, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plots.figure_to_data_uri(plots.note_figure("t", "n")).startswith("data:image/png;base64,")


def test_analysis_imports_no_upper_layer():
    import ast
    import pathlib

    folder = pathlib.Path(donor_game.__file__).parent
    for source in folder.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith(("dilemmazoo.experiments", "dilemmazoo.norms", "dilemmazoo.agents")), (source.name, name)
    assert metrics.load_run  # the module is importable on its own
