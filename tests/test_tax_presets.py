"""The tax-world presets (issue 17; Karten et al. 2025, arXiv 2507.15815, "LLM Economist").

Every preset loads and passes :func:`check_experiment`; shortened runs of the fixed-schedule
presets through the runner reproduce ``steps.parquet`` exactly per seed and record the schedule
they name; a shortened ``tax_icrl`` with a scripted "model" as the planner applies its deltas,
keeps the rates on an unparseable answer, and shows the planner the world's own prompt.
The run with the embedded model is ``slow``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dilemmazoo.envs import tax
from dilemmazoo.experiments.checks import check_experiment
from dilemmazoo.experiments.config import apply_overrides, list_presets, load_config, validate
from dilemmazoo.experiments.runner import execute

TAX_PRESETS = ("tax_us_federal", "tax_saez", "tax_icrl", "tax_bounded", "tax_voting")
WORLD = "dilemmazoo/tax-world-v0"


def preset(name: str, **overrides):
    """The preset ``name`` with dotted-key overrides, validated."""
    return validate(apply_overrides(load_config(name), overrides), source=name)


def work_rows(steps: pd.DataFrame) -> pd.DataFrame:
    return steps[steps["phase"] == "work"]


@pytest.mark.parametrize("name", TAX_PRESETS)
def test_every_tax_preset_loads_and_passes_the_checks(name):
    assert name in list_presets()
    config = preset(name)
    assert config.name == name and config.world.id == WORLD
    check_experiment(config)  # world, seats, scripted first moves, backends: raises ConfigError on any problem


def test_the_presets_give_the_planner_seat_to_the_model_and_the_workers_to_their_groups():
    # tax_icrl: 100 scripted rational workers, then the LLM planner (the world's last seat)
    icrl = preset("tax_icrl")
    workers, planner = icrl.groups
    assert (workers.kind, workers.strategy, workers.seats) == ("scripted", "tax_rational", 100)
    assert (planner.kind, planner.decision, planner.seats, planner.max_retries) == ("llm", "score", None, 1)
    assert icrl.world.kwargs["n_workers"] == 100 and icrl.world.kwargs["planner"] == "seat"
    # tax_bounded: five LLM workers (scored hours + YES/NO, census personas), then the LLM planner (generated)
    bounded = preset("tax_bounded")
    assert [(g.kind, g.seats) for g in bounded.groups] == [("llm", 5), ("llm", None)]
    assert bounded.world.kwargs["scenario"] == "bounded" and bounded.groups[1].decision == "generate"
    assert [g.personas for g in bounded.groups] == ["census", "none"]  # census personas for the workers only
    # tax_voting: one LLM group for the five workers; the democratic scenario has no planner seat
    voting = preset("tax_voting")
    assert len(voting.groups) == 1 and voting.world.kwargs["scenario"] == "democratic"
    assert voting.groups[0].personas == "census"
    # the fixed schedules: rational scripted workers only, no model
    for name, planner_kind in (("tax_us_federal", "us_federal"), ("tax_saez", "saez")):
        config = preset(name)
        assert [(g.kind, g.strategy) for g in config.groups] == [("scripted", "tax_rational")]
        assert config.world.kwargs["planner"] == planner_kind


def short_fixed(name: str, **overrides):
    return preset(name, **{"world.kwargs.n_workers": 6, "world.kwargs.n_steps": 4, "world.kwargs.tax_year": 2,
                           "seeds": [0], **overrides})


@pytest.mark.parametrize("name", ("tax_us_federal", "tax_saez"))
def test_a_shortened_fixed_schedule_run_reproduces_its_steps_per_seed(name, tmp_path):
    config = short_fixed(name)
    first = execute(config, tmp_path / "a", progress=False)
    second = execute(config, tmp_path / "b", progress=False)
    assert not second.skipped
    pd.testing.assert_frame_equal(first.steps, second.steps)
    assert len(first.steps) == 4 * 6  # work steps x workers: a fixed schedule has no planner seat and no plan step
    assert first.summary["counts"]["fallbacks"] == 0 and first.summary["counts"]["llm_calls"] == 0
    other = execute(short_fixed(name, seeds=[1]), tmp_path / "a", progress=False)
    assert not np.array_equal(first.steps["skill"].to_numpy(), other.steps["skill"].to_numpy())  # GB2 skills per seed


def test_the_us_federal_preset_taxes_at_the_2024_single_rates(tmp_path):
    # Two workers with skills 1000 and 2000 per hour: both work the 100-hour cap (the last 10 hours
    # add 10,000 or 20,000 of income taxed at most 37% against an effort cost of
    # 0.0005 * (100^3.5 - 90^3.5) = 5000 - 3457.9 = 1542.1), so z = 100,000 and 200,000.
    config = short_fixed("tax_us_federal", **{"world.kwargs.n_workers": 2, "world.kwargs.skills": [1000, 2000]})
    steps = execute(config, tmp_path, progress=False).steps
    rates = [f"rate_{k}" for k in range(7)]
    assert (steps[rates].to_numpy() == np.array([10.0, 12.0, 22.0, 24.0, 32.0, 35.0, 37.0])).all()
    work = work_rows(steps)
    assert (work["hours"] == 100.0).all()
    # T(100,000) = 11,600 * 0.10 + 35,550 * 0.12 + 52,850 * 0.22 = 1,160 + 4,266 + 11,627 = 17,053
    # T(200,000) = 1,160 + 4,266 + 53,375 * 0.22 + 91,425 * 0.24 + 8,050 * 0.32
    #            = 1,160 + 4,266 + 11,742.5 + 21,942 + 2,576 = 41,686.5
    # rebate = (17,053 + 41,686.5) / 2 = 29,369.75; cost of 100 hours = 0.0005 * 100^3.5 = 5,000
    # u_0 = 100,000 - 17,053 + 29,369.75 - 5,000 = 107,316.75
    # u_1 = 200,000 - 41,686.5 + 29,369.75 - 5,000 = 182,683.25
    for agent, income, due, utility in (("worker_0", 100_000.0, 17_053.0, 107_316.75),
                                        ("worker_1", 200_000.0, 41_686.5, 182_683.25)):
        mine = work[work["agent"] == agent]
        assert len(mine) == 4
        assert mine["income"].to_numpy() == pytest.approx([income] * 4, abs=1e-6)
        assert mine["tax"].to_numpy() == pytest.approx([due] * 4, abs=1e-6)
        assert mine["rebate"].to_numpy() == pytest.approx([29_369.75] * 4, abs=1e-6)
        assert mine["utility_raw"].to_numpy() == pytest.approx([utility] * 4, abs=1e-6)


def test_the_saez_preset_records_the_saez_rates_of_skill_times_100(tmp_path):
    # the preset feeds the formula skill x 100 (the paper-era reference), with the per-bracket
    # elasticities 0.18, 0.11, 0.57 on the three brackets; so the rates are the same every tax year
    config = short_fixed("tax_saez")
    steps = execute(config, tmp_path, progress=False).steps
    work = work_rows(steps)
    skills = work[work["round"] == 1].sort_values("agent")["skill"].to_numpy()
    expected = tax.saez_rates(skills * 100, tax.bracket_edges("three"), [0.18, 0.11, 0.57])
    recorded = work[["rate_0", "rate_1", "rate_2"]].drop_duplicates().to_numpy()
    assert recorded.shape == (1, 3)
    assert recorded[0] == pytest.approx(expected, rel=1e-12)


def icrl_with_script(tmp_path, answers, **overrides):
    script = tmp_path / "planner.txt"
    script.write_text("\n---\n".join(answers))
    return preset("tax_icrl", **{
        "world.kwargs.n_workers": 4, "world.kwargs.n_steps": 6, "world.kwargs.tax_year": 2,
        "agents.0.seats": 4, "agents.1.backend": f"scripted:{script}", "agents.1.decision": "generate", **overrides,
    })


def test_a_shortened_icrl_run_applies_the_planner_deltas_and_keeps_the_rates_on_a_fallback(tmp_path):
    # three decisions (before work steps 1, 3 and 5); the preset's max_retries is 1, so an answer
    # that never parses uses two answers. Rates start at 50%:
    #   decision 1: [10, 0, -10]       -> 60, 50, 40
    #   decision 2: [-20, 20, 30]      -> 30 is clipped to 20: 40, 70, 60
    #   decision 3: two unparseable    -> fallback, rates stay 40, 70, 60
    answers = ["I raise the bottom bracket.\nAnswer: [10, 0, -10]", "Answer: [-20, +20, 30]",
               "Lower taxes!", "no idea"]
    result = execute(icrl_with_script(tmp_path, answers), tmp_path / "runs", progress=False)
    steps = result.steps
    planner = steps[(steps["agent"] == "planner") & steps["decided"]].sort_values("step")
    assert planner["phase"].tolist() == ["plan"] * 3
    assert planner[["rate_0", "rate_1", "rate_2"]].to_numpy().tolist() == [[60, 50, 40], [40, 70, 60], [40, 70, 60]]
    assert planner[["delta_0", "delta_1", "delta_2"]].to_numpy().tolist() == [[10, 0, -10], [-20, 20, 20], [0, 0, 0]]
    assert planner["fallback_used"].tolist() == [False, False, True]
    assert planner["planner_fallback"].tolist() == [0, 0, 1]
    assert planner["parse_failures"].tolist() == [0, 0, 2]
    work = work_rows(steps)
    by_round = work.groupby("round")[["rate_0", "rate_1", "rate_2"]].first().to_numpy().tolist()
    assert by_round == [[60, 50, 40]] * 2 + [[40, 70, 60]] * 4
    counts = result.summary["counts"]
    assert counts["fallbacks"] == 1 and counts["llm_calls"] == 1 + 1 + 2
    # the planner is asked with the world's own prompt (rules as system, describe() + RateDeltas)
    calls = result.llm_calls.sort_values(["step", "purpose"])
    first = json.loads(calls["prompt"].iloc[0])
    assert first[0]["role"] == "system" and "You are the tax planner of an economy of 4 workers" in first[0]["content"]
    assert "The tax rates now: [50%, 50%, 50%]" in first[1]["content"]
    assert "End your reply with 'Answer: [10, 0, -10]'" in first[1]["content"]
    second = json.loads(calls[calls["step"] == planner["step"].iloc[1]]["prompt"].iloc[0])
    assert "The tax rates now: [60%, 50%, 40%]" in second[1]["content"]


def test_a_shortened_icrl_run_is_identical_across_runs(tmp_path):
    answers = ["Answer: [10, 10, 10]", "junk", "Answer: [-10, 0, 20]"]
    config = icrl_with_script(tmp_path, answers)
    first = execute(config, tmp_path / "a", progress=False)
    second = execute(config, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(first.steps, second.steps)


@pytest.mark.slow
def test_the_embedded_planner_runs_a_shortened_icrl_and_every_answer_is_a_change_or_a_counted_fallback(
        tmp_path, embedded_backend):
    config = preset("tax_icrl", **{"world.kwargs.n_workers": 10, "world.kwargs.n_steps": 4,
                                   "world.kwargs.tax_year": 2, "agents.0.seats": 10, "cache": False})
    result = execute(config, tmp_path, progress=False, backend=embedded_backend)
    steps = result.steps
    planner = steps[(steps["agent"] == "planner") & steps["decided"]].sort_values("step")
    assert len(planner) == 2  # before work steps 1 and 3
    rates = np.full(3, 50.0)
    for _, row in planner.iterrows():
        deltas = row[["delta_0", "delta_1", "delta_2"]].to_numpy(dtype=float)
        if row["fallback_used"]:
            assert row["planner_fallback"] == 1 and not deltas.any()
        else:
            assert set(deltas) <= {-20.0, -10.0, 0.0, 10.0, 20.0}
        rates = tax.apply_deltas(rates, deltas)
        assert row[["rate_0", "rate_1", "rate_2"]].to_numpy(dtype=float).tolist() == rates.tolist()
    calls = result.llm_calls
    assert len(calls) >= 2 and calls["text"].str.len().gt(0).any()
    assert result.summary["counts"]["fallbacks"] == int(planner["fallback_used"].sum())
