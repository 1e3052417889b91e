"""Norms change commons outcomes in the expected direction, through the runner, with scripted agents.

- sanctions (monitoring and punishment against a group norm) reduce over-usage;
- propose-then-vote lengthens the survival of a selfish group;
- payoff-biased social learning spreads whatever pays: selfishness without sanctions (Gupta et
  al.: "social learning alone is unstable"), compliance under strong sanctions.
Each comparison averages a few seeds; the same seeds serve both arms (common random numbers).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import execute

SELFISH = {"prior": "selfish", "effort": 0.75, "compliance": 0.3}
ALTRUISTIC = {"prior": "altruistic", "effort": 0.25, "compliance": 0.9}
SEEDS = range(4)


def _cpr(tmp_path, seed, *, world=None, params=None, population=None, name="cpr"):
    config = {
        "name": name,
        "world": {"id": "cpr-v0", "kwargs": {"growth_rate": 0.5, **(world or {})}},
        "agents": {"kind": "scripted", "strategy": "cpr_rule_based", "params": params or SELFISH},
        "seeds": [seed],
    }
    if population is not None:
        config["population"] = population
    return execute(validate(config), tmp_path, progress=False)


def _mean(results, key):
    return float(np.mean([r.summary["metrics"][key] for r in results]))


def test_sanctions_reduce_over_usage_by_selfish_agents(tmp_path):
    norm = {"group_norm": 1.0, "fine": 2.0, "punish_prob": 1.0}
    unsanctioned = [_cpr(tmp_path, s, world={**norm, "monitoring_prob": 0.0}) for s in SEEDS]
    sanctioned = [_cpr(tmp_path, s, world={**norm, "monitoring_prob": 1.0}) for s in SEEDS]
    assert _mean(unsanctioned, "sanction_rate") == 0.0
    assert _mean(sanctioned, "sanction_rate") > 0.05
    assert _mean(sanctioned, "over_usage") < _mean(unsanctioned, "over_usage") - 0.2
    assert _mean(sanctioned, "survival_time") > _mean(unsanctioned, "survival_time")


def test_voting_lengthens_the_survival_of_a_selfish_group(tmp_path):
    without = [_cpr(tmp_path, s, world={"voting": False}) for s in SEEDS]
    with_vote = [_cpr(tmp_path, s, world={"voting": True, "vote_every": 5}) for s in SEEDS]
    assert _mean(without, "survival_time") == 3.0  # ten agents at effort 0.75 empty the commons in 3 rounds
    assert _mean(with_vote, "survival_time") > _mean(without, "survival_time") + 1.0
    assert _mean(with_vote, "mean_group_norm") > 0  # a norm was elected and broadcast
    steps = with_vote[0].steps
    assert set(steps["phase"]) == {"propose", "vote", "harvest"}


MIXED = {"dynamics": "social_learning",
         "kwargs": {"initial_params": [{"effort": 0.25, "compliance": 0.9}, {"effort": 0.75, "compliance": 0.3}]}}


def _final_traits(result):
    population = result.population
    last = population[population["round"] == population["round"].max()]
    params = [json.loads(p) for p in last["params"]]
    return np.mean([p["effort"] for p in params]), np.mean([p["compliance"] for p in params])


def test_social_learning_spreads_selfishness_without_sanctions(tmp_path):
    frozen = {**MIXED, "kwargs": {**MIXED["kwargs"], "every_rounds": 1000}}  # never learns within 50 rounds
    static = [_cpr(tmp_path, s, params=ALTRUISTIC, population=frozen) for s in SEEDS]
    learning = [_cpr(tmp_path, s, params=ALTRUISTIC, population=MIXED) for s in SEEDS]
    effort = np.mean([_final_traits(r)[0] for r in learning])
    assert effort > 0.6  # from a 0.5 mean, the higher-paying high effort spread
    assert _mean(learning, "survival_time") < _mean(static, "survival_time")
    assert all(len(r.population) > 10 * 2 for r in learning)  # one record per member per learning event


def test_social_learning_spreads_compliance_under_strong_sanctions(tmp_path):
    sanctions = {"group_norm": 1.0, "monitoring_prob": 1.0, "fine": 8.0}
    learning = [_cpr(tmp_path, s, params=ALTRUISTIC, world=sanctions, population=MIXED) for s in SEEDS]
    effort, compliance = np.mean([_final_traits(r) for r in learning], axis=0)
    assert compliance > 0.8 and effort < 0.4  # from means of 0.6 and 0.5
    assert _mean(learning, "survival_time") == 50.0


def test_within_episode_learning_keeps_members_and_repeats_with_the_seed(tmp_path):
    first = _cpr(tmp_path / "a", 3, params=ALTRUISTIC, population=MIXED)
    again = _cpr(tmp_path / "b", 3, params=ALTRUISTIC, population=MIXED)
    assert first.steps.equals(again.steps) and first.population.equals(again.population)
    population = first.population
    events = population[population["round"] > 0]
    assert set(events["name"]) == {f"1_{i}" for i in range(1, 11)}
    assert sorted(set(events["round"])) == list(range(1, int(events["round"].max()) + 1))
    assert (events["episode"] == 0).all()
    copied = events[events["parents"] != ""]
    assert len(copied) > 0 and set(copied["parents"]) <= set(events["name"])


def test_govsim_sustainable_agents_through_the_runner(tmp_path):
    config = validate({
        "name": "govsim", "world": {"id": "commons-v0", "kwargs": {"max_utterances": 2}},
        "agents": {"kind": "scripted", "strategy": "commons_sustainable"}, "seeds": [0],
    })
    metrics = execute(config, tmp_path, progress=False).summary["metrics"]
    assert metrics["survival_time"] == 12 and metrics["efficiency"] == 1.0 and metrics["over_usage"] == 0.0
    assert metrics["gain"] == 120.0 and metrics["equality"] == 1.0


def test_govsim_greedy_newcomer_breaks_a_sustainable_community(tmp_path):
    config = validate({
        "name": "newcomer", "world": {"id": "commons-v0", "kwargs": {"communication": False, "newcomer_month": 4}},
        "agents": [{"kind": "scripted", "strategy": "commons_sustainable", "seats": 4, "label": "residents"},
                   {"kind": "scripted", "strategy": "commons_greedy", "seats": 1, "label": "newcomer"}],
        "seeds": [0],
    })
    result = execute(config, tmp_path, progress=False)
    assert result.summary["metrics"]["survival_time"] == 4  # the newcomer takes the whole stock in month 4
    steps = result.steps
    newcomer = steps[(steps["policy"] == "newcomer") & (steps["round"] < 4)]
    assert (newcomer["harvest"] == 0).all() and not newcomer["decided"].any()


@pytest.mark.slow
def test_cpr_social_learning_preset_runs_with_a_report_per_cell(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "dilemmazoo.experiments.cli", "run", "cpr_social_learning", "--set", "seeds=2",
         "--out", str(tmp_path), "--report", "--workers", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    html = (tmp_path / "cpr_social_learning" / "report.html").read_text()
    assert html.count("Grid cells") >= 1
    for label in ("growth_rate=scarce, params=selfish, population=social_learning, voting=on",
                  "growth_rate=rich, params=altruistic, population=none, voting=off"):
        assert label in html
    assert html.count("data:image/png;base64") >= 16 * 2  # a stock plot and a norm plot per cell
