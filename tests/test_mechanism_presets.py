"""The mechanism presets beyond CoopEval's games: ``commons_contracting`` (a contract that pays
for restraint keeps the GovSim commons alive) and ``donor_mediation`` (donors delegate to a
generous mediator), each run at its default size, twice, from its grid."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dilemmazoo.analysis.commons import commons_metrics
from dilemmazoo.experiments.checks import check_experiment
from dilemmazoo.experiments.config import apply_overrides, list_presets, load_config, validate
from dilemmazoo.experiments.runner import run_experiment

PRESETS = ("commons_contracting", "donor_mediation")


def preset(name: str, **overrides):
    return validate(apply_overrides(load_config(name), overrides), source=name)


def run_twice(name: str, root) -> dict[str, tuple[dict, pd.DataFrame]]:
    """Each cell's summary and steps; the second run of the preset must record the same steps."""
    first = {json.dumps(r.summary["cell"], sort_keys=True): r for r in run_experiment(preset(name), root / "a", progress=False)}
    again = {json.dumps(r.summary["cell"], sort_keys=True): r for r in run_experiment(preset(name), root / "b", progress=False)}
    assert first.keys() == again.keys()
    cells = {}
    for key, result in first.items():
        steps = pd.read_parquet(result.run_dir / "steps.parquet")
        assert steps.equals(pd.read_parquet(again[key].run_dir / "steps.parquet"))
        summary = json.loads((result.run_dir / "summary.json").read_text())
        cells[next(iter(summary["cell"].values()))] = (summary, steps)
    return cells


@pytest.mark.parametrize("name", PRESETS)
def test_the_presets_load_and_pass_the_checks(name):
    assert name in list_presets()
    config = preset(name)
    check_experiment(config)
    assert config.mechanism is not None and config.agents.kind == "scripted"
    assert "CoopEval" in config.description


@pytest.fixture(scope="module")
def commons_cells(tmp_path_factory):
    return run_twice("commons_contracting", tmp_path_factory.mktemp("commons"))


def test_commons_contracting_collapses_without_the_contract_and_survives_with_it(commons_cells):
    assert set(commons_cells) == {"no_contract", "pay_for_restraint"}
    outcome = {}
    for cell, (summary, steps) in commons_cells.items():
        assert summary["status"] == "complete"
        play = steps[steps["mechanism_phase"] == "play"]
        outcome[cell] = commons_metrics(play, n_months=12)
        signed = steps[steps["mechanism_phase"] == "sign"]["action"].tolist()
        # approve "best", sign "if_approved": a rate of 0 is refused by all, a rate of -2 signed by all
        assert signed == (["false"] * 5 if cell == "no_contract" else ["true"] * 5)
        assert play["mechanism_contract_active"].all() == (cell == "pay_for_restraint")
    # no contract: each of the 5 asks for the whole stock of 100, it is shared out and the fishery collapses in month 1
    assert outcome["no_contract"]["survival_time"] == 1 and outcome["no_contract"]["survival_rate"] == 0.0
    assert outcome["no_contract"]["gain"] == pytest.approx(20.0)  # 100 units over 5 fishers
    # a rate of -2: a unit harvested pays 1 and costs 2 in transfers, so nobody fishes for 12 months
    assert outcome["pay_for_restraint"]["survival_time"] == 12 and outcome["pay_for_restraint"]["survival_rate"] == 1.0
    assert outcome["pay_for_restraint"]["gain"] == 0.0
    restraint = commons_cells["pay_for_restraint"][1]
    assert (restraint.loc[restraint["mechanism_phase"] == "play", "requested"] == 0).all()


def test_commons_contracting_summary_reports_survival(commons_cells):
    metrics = {cell: summary["metrics"] for cell, (summary, _) in commons_cells.items()}
    assert metrics["no_contract"]["survival_rate"] == 0.0 and metrics["no_contract"]["survival_time"] == 1.0
    assert metrics["pay_for_restraint"]["survival_rate"] == 1.0 and metrics["pay_for_restraint"]["survival_time"] == 12.0


def test_donor_mediation_delegations_are_played_by_the_mediator(tmp_path):
    cells = run_twice("donor_mediation", tmp_path)
    assert set(cells) == {0.0, 0.5, 1.0}
    mediator = {1: 5.0, 2: 10.0}
    final = {}
    for cell, (summary, steps) in cells.items():
        final[cell] = summary["metrics"]["final_generation_avg_resources"]
        donors = steps[(steps["mechanism_phase"] == "play") & (steps["role"] == "donor")]
        delegated = donors[donors["mechanism_delegated"].astype(bool)]
        assert (delegated["action"] == '"delegate"').all()
        if cell != 0.5:
            assert len(delegated) == {0.0: 0, 1.0: len(donors)}[cell]
        # a delegator gives the chosen mediator's amount for k delegators, at most what it has
        for _, row in delegated.iterrows():
            before = row["resources"] + row["amount"]
            assert row["amount"] == pytest.approx(min(mediator[int(row["mechanism_delegators"])], before))
        assert (donors.loc[~donors["mechanism_delegated"].astype(bool), "amount"] == 0.0).all()  # defectors give nothing
    assert 0 < cells[0.5][1]["mechanism_delegated"].fillna(False).astype(bool).sum() < 8  # some of the 8 donor turns
    # nobody delegates: nothing is given; everyone delegates: 10 units a round (hand-worked in the preset) -> 30
    assert final[0.0] == 10.0 and final[1.0] == 30.0
    assert 10.0 < final[0.5] < 30.0
