"""Study runs (experiments/studies.py): a computation in place of episodes, through the same
run folder, marker, skip-on-rerun and report as a played run."""

import json

import pandas as pd
import pytest

from dilemmazoo.analysis.report import write_report
from dilemmazoo.envs.loyalty import closed_form_effort
from dilemmazoo.experiments import ConfigError, run, validate
from dilemmazoo.experiments.checks import check_experiment
from dilemmazoo.experiments.runner import execute

AXES = {"omega": [20.0, 25.0], "beta": [0.5, 0.7], "c": [1.0], "n": [3, 5], "theta": [0.0, 0.5, 0.9]}


def small_sweep(**study_kwargs):
    return {
        "name": "small_sweep",
        "world": {"id": "dilemmazoo/team-production-v0", "kwargs": {"a_min": 0.01, "a_max": 50.0}},
        "study": {"name": "loyalty_sweep", "kwargs": {**AXES, **study_kwargs}},
    }


def test_a_study_run_writes_its_table_metrics_and_marker_and_is_skipped_when_finished(tmp_path):
    result = execute(validate(small_sweep()), tmp_path, progress=False)
    table = pd.read_parquet(result.run_dir / "study.parquet")
    assert len(table) == 2 * 2 * 1 * 2 * 3
    row = table[(table["omega"] == 25.0) & (table["beta"] == 0.7) & (table["n"] == 5) & (table["theta"] == 0.5)].iloc[0]
    # the base case at theta 0.5: ((1 + 0.4) 25 0.7 / (5 (1 - 0.15)))^(1/0.3) / 5, capped at 50
    assert row["closed_form_effort"] == pytest.approx(min(50.0, ((1.4 * 17.5) / (5 * 0.85)) ** (1 / 0.3) / 5))
    assert row["closed_form_effort"] == pytest.approx(closed_form_effort(0.5, 25.0, 0.7, 1.0, 5, 0.8, 0.3, 50.0))
    summary = result.summary
    assert summary["episodes"] == 0 and summary["counts"]["decisions"] == 0
    assert summary["provenance"]["study"] == "loyalty_sweep" and summary["provenance"]["agents"] == []
    assert summary["metrics"]["configurations"] == 24 and summary["metrics"]["targets"] == 6
    marker = json.loads((result.run_dir / "complete.json").read_text())
    assert "study.parquet" in marker["files"]
    for name in ("steps", "episodes", "population", "llm_calls"):
        assert pd.read_parquet(result.run_dir / f"{name}.parquet").empty
    again = execute(validate(small_sweep()), tmp_path, progress=False)
    assert again.skipped and again.run_dir == result.run_dir

    html = write_report(tmp_path / "small_sweep").read_text()
    assert "Loyalty sweep (Pant &amp; Yu" in html and "The six behavioural targets" in html
    assert "free_riding_baseline" in html and 'alt="Effort ratio' in html
    assert "no world-specific analysis" not in html and "failed (" not in html


def test_the_preset_computes_the_papers_grid(tmp_path):
    result = run("loyalty_sweep", out=tmp_path, progress=False)
    metrics = result.summary["metrics"]
    assert metrics["configurations"] == 3125 and metrics["targets_passed"] == metrics["targets"] == 6
    # the effort ratio a*(0.9)/a*(0.1) the formulas give (not the abstract's 15.04x)
    assert 4.0 < metrics["effort_ratio_median"] < 5.0


def test_unknown_studies_and_bad_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="no study 'nope'"):
        check_experiment(validate({**small_sweep(), "study": {"name": "nope"}}))
    with pytest.raises(ConfigError, match="study: unknown parameter.*gamma"):
        check_experiment(validate(small_sweep(gamma=1)))
    with pytest.raises(ConfigError, match="study:.*beta"):
        check_experiment(validate(small_sweep(beta=[1.5])))
    with pytest.raises(Exception, match="study.kwargs|extra|study"):
        validate({**small_sweep(), "study": {"name": "loyalty_sweep", "kwarg": {}}})
