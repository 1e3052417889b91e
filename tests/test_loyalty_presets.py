"""The issue-18 presets: ``loyalty_sweep`` (a study, tested in test_studies.py) and
``team_production_llm`` (language agents told their loyalty or scored by the loyalty utility)."""

from __future__ import annotations

import pytest

from dilemmazoo.analysis import team_production as tp
from dilemmazoo.analysis.report import write_report
from dilemmazoo.envs.loyalty import closed_form_effort
from dilemmazoo.experiments.checks import check_experiment
from dilemmazoo.experiments.config import apply_overrides, expand_grid, list_presets, load_config, validate
from dilemmazoo.experiments.runner import run_experiment


def preset(name: str, **overrides):
    return validate(apply_overrides(load_config(name), overrides), source=name)


@pytest.mark.parametrize("name", ["loyalty_sweep", "team_production_llm"])
def test_the_presets_load_and_pass_the_checks(name):
    assert name in list_presets()
    check_experiment(preset(name))


def test_team_production_llm_compares_told_loyalty_with_the_utility_transform():
    config = preset("team_production_llm")
    cells = {tuple(sorted(run.cell.items())): run for run in expand_grid(config)}
    assert len(cells) == 4  # told or not x scored by payoff or by loyalty
    told = [run.world.kwargs.get("told_loyalty") for run in cells.values()]
    assert sorted(told, key=str) == [0.7, 0.7, None, None]
    utilities = [run.utility.name if run.utility else None for run in cells.values()]
    assert sorted(utilities, key=str) == [None, None, "loyalty", "loyalty"]
    # the description's three references, from the theory
    kwargs = config.world.kwargs
    common = dict(omega=kwargs["omega"], beta=kwargs["beta"], c=kwargs["c"], n=kwargs["n_members"], phi_b=0.8, phi_c=0.3,
                  a_max=50.0)
    assert closed_form_effort(0.0, **common) == pytest.approx(6.25)
    assert closed_form_effort(0.7, **common) == pytest.approx(24.37, abs=0.01)
    assert "6.25" in config.description and "24.4" in config.description


def test_a_shortened_grid_with_a_scripted_model_records_and_reports_each_cell(tmp_path):
    script = tmp_path / "members.txt"
    script.write_text("Answer: 10\nAnswer: 30\n")  # options of the effort grid: the "model" alternates 10 and 30
    config = preset("team_production_llm", **{"world.kwargs.n_rounds": 2, "agents.backend": f"scripted:{script}",
                                              "agents.decision": "score"})
    results = run_experiment(config, tmp_path, progress=False)
    assert len(results) == 4
    for result in results:
        rows = tp.member_rows(result.steps, own_choices=True)
        assert len(rows) == 8 and set(rows["effort"]) <= {10.0, 30.0}
        loyal = result.summary["cell"]["utility"] == "loyalty_0.7"
        assert (result.steps["utility"] != result.steps["reward"]).any() == loyal
        assert ("told_loyalty" in result.steps.columns) == (result.summary["cell"]["world.kwargs.told_loyalty"] == "told_0.7")
    html = write_report(tmp_path / "team_production_llm").read_text()
    assert html.count("Chosen effort against the equilibrium curve") >= 4 and "failed (" not in html
