"""The hosted ``coopeval`` preset, cut to two of its types, one game and three mechanisms, played on
litellm's ``mock_response`` (no network): a seeded run reproduces its records exactly, a written
distribution is sampled, and answers that are not a contract or a ballot are counted fallbacks."""

import pandas as pd

from dilemmazoo.experiments.config import load_config, validate
from dilemmazoo.experiments.runner import run_experiment

ANSWER = 'Weighing it up. {"A0": 70, "A1": 30}'


def scaled_coopeval():
    data = load_config("coopeval")
    data["agents"] = data["agents"][:2]
    for group in data["agents"]:
        group["backend_options"] = {"mock_response": ANSWER}
        group["max_retries"] = 0
    data["grid"] = {"world": {"PD": data["grid"]["world"]["PD"]},
                    "mechanism": {k: data["grid"]["mechanism"][k] for k in ("none", "contracting", "reputation+")}}
    data["seeds"] = [0]
    return validate(data, source="coopeval")


def test_scaled_hosted_coopeval_reproduces_and_counts_its_fallbacks(tmp_path):
    config = scaled_coopeval()
    first = run_experiment(config, tmp_path / "a", progress=False)
    again = run_experiment(config, tmp_path / "b", progress=False)
    by_cell = {}
    for one, two in zip(first, again):
        pd.testing.assert_frame_equal(one.steps, two.steps)
        by_cell[one.summary["cell"]["mechanism"]] = one
    assert set(by_cell) == {"none", "contracting", "reputation+"}
    none = by_cell["none"]
    # 2 types on 2 seats: 4 profiles, one decision per seat; every distribution parses
    assert none.summary["counts"]["decisions"] == 8 and none.summary["counts"]["fallbacks"] == 0
    played = none.steps["distribution"].map(lambda text: text != "")
    assert played.all()
    contracting = by_cell["contracting"].summary["counts"]
    # the same reply is no contract and no ballot: each of those answers falls back, counted
    assert contracting["fallbacks"] == contracting["parse_failures"] > 0
    assert "tournament_normalised_mean" in by_cell["reputation+"].summary["metrics"]
