"""Training run reports (analysis/training.py) from hand-written run folders: no model needed."""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml

from dilemmazoo.analysis.training import (
    is_training_run,
    load_training_run,
    training_figures,
    write_training_plots,
    write_training_report,
)


def _language_run(folder, rows, evaluation=None, algorithm=None):
    folder.mkdir(parents=True, exist_ok=True)
    config = {"name": "ipd_test", "trainer": {"world": "repeated-game", "lr": 1e-4}}
    if algorithm:
        config["algorithm"] = algorithm
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    if evaluation is not None:
        (folder / "evaluation.json").write_text(json.dumps(evaluation))
    (folder / "checkpoints" / "iter_000002").mkdir(parents=True)
    return folder


ROWS = [
    {"iteration": 1, "return_per_round": 1.0, "other_return_per_round": 2.0, "welfare_per_round": 3.0,
     "cooperation_rate": 0.8, "split_efficiency": None, "loss": 0.5, "pg_loss": 0.5, "kl": 0.0, "entropy": 0.6,
     "fallbacks": 2, "vs_greedy_exploitation": None},
    {"iteration": 2, "return_per_round": 0.5, "other_return_per_round": 2.5, "welfare_per_round": 3.0,
     "cooperation_rate": 0.6, "split_efficiency": None, "loss": 0.2, "pg_loss": 0.2, "kl": 0.01, "entropy": 0.5,
     "fallbacks": 0, "vs_greedy_exploitation": 1.5},
    {"iteration": 3, "return_per_round": 1.5, "other_return_per_round": 1.0, "welfare_per_round": 2.5,
     "cooperation_rate": 0.4, "split_efficiency": None, "loss": 0.3, "pg_loss": 0.3, "kl": 0.02, "entropy": 0.4,
     "fallbacks": 1, "vs_greedy_exploitation": None},
]


def test_language_run_headline_table_by_hand(tmp_path):
    evaluation = [
        {"adapter": "/x/checkpoints/iter_000002", "opponent": "always_defect", "return_per_round": 1.0,
         "other_return_per_round": 1.0, "cooperation_rate": 0.0, "split_efficiency": None},
        {"adapter": "/x/checkpoints/iter_000002", "opponent": "always_cooperate", "return_per_round": 5.0,
         "other_return_per_round": 0.0, "cooperation_rate": 0.0, "split_efficiency": None},
    ]
    folder = _language_run(tmp_path / "run", ROWS, evaluation)
    assert is_training_run(folder) and not is_training_run(tmp_path)
    run = load_training_run(folder)
    assert run.kind == "policy_gradient" and run.checkpoints == ["iter_000002"]
    assert math.isnan(run.rows[0]["split_efficiency"])  # JSON null -> NaN

    from dilemmazoo.analysis.training import _evaluation_tables, _headline

    headline = {row["name"]: row for row in _headline(run)}
    assert headline["return_per_round"] == {"name": "return_per_round", "first": 1.0, "last": 1.5, "best": 1.5,
                                            "change": 0.5}
    assert headline["loss"]["best"] == 0.2  # lower is better
    assert headline["fallbacks"] == {"name": "fallbacks", "first": 2, "last": 1, "best": 0, "change": -1}
    # a probe logged at one iteration: first = last = that value
    assert headline["vs_greedy_exploitation"]["first"] == headline["vs_greedy_exploitation"]["last"] == 1.5
    assert "split_efficiency" not in headline  # all missing

    tables = {table["metric"]: table for table in _evaluation_tables(run)}
    assert set(tables) == {"return_per_round", "other_return_per_round", "cooperation_rate"}
    assert tables["return_per_round"]["opponents"] == ["always_defect", "always_cooperate"]
    assert tables["return_per_round"]["rows"] == [{"adapter": "iter_000002", "values": [1.0, 5.0]}]


def test_language_run_figures_plots_and_report(tmp_path):
    folder = _language_run(tmp_path / "run", ROWS)
    names = [name for name, _, _ in training_figures(load_training_run(folder))]
    # no kl_entropy skip (kl present); split efficiency alone would not make "cooperation" vanish
    assert names == ["returns", "cooperation", "exploitation", "loss", "kl_entropy", "invalid"]
    written = write_training_plots(folder)
    assert sorted(p.name for p in written) == sorted(f"{n}.png" for n in names)
    assert all(p.stat().st_size > 1000 for p in written)
    html = write_training_report(folder).read_text()
    assert html.count("data:image/png;base64,") == len(names)
    assert "Training report: ipd_test" in html and "trainer.lr" in html and "iter_000002" in html
    assert "Evaluation" not in html  # no evaluation.json


def test_grpo_runs_are_recognised_by_their_config(tmp_path):
    folder = _language_run(tmp_path / "run", ROWS[:1], algorithm="grpo")
    assert load_training_run(folder).kind == "grpo"


def test_ippo_run_from_csv(tmp_path):
    folder = tmp_path / "ippo"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"world": "gathering", "n_agents": 2}))
    keys = ["iteration", "return", "return_min", "return_max", "efficiency", "fired", "policy_loss", "value_loss"]
    with open(folder / "metrics.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(keys)
        writer.writerow([1, -3.0, -5.0, -1.0, 0.1, 4.0, 0.2, 1.0])
        writer.writerow([2, 2.0, 1.0, 3.0, 0.3, 1.0, 0.1, 0.5])
    (folder / "checkpoint.pt").write_bytes(b"")
    run = load_training_run(folder)
    assert run.kind == "ippo" and run.rows[1]["return"] == 2.0 and run.checkpoints == ["checkpoint.pt"]
    names = [name for name, _, _ in training_figures(run)]
    assert names == ["returns", "social_outcomes", "behaviour", "losses"]
    html = write_training_report(folder, tmp_path / "out.html").read_text()
    assert "Training report: ippo" in html and html.count("data:image/png;base64,") == 4


def test_bad_folders_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a training run"):
        load_training_run(tmp_path)
    folder = _language_run(tmp_path / "run", ROWS[:1])
    with open(folder / "metrics.jsonl", "a") as handle:
        handle.write('{"iteration": 2, "loss"')  # an interrupted write
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        load_training_run(folder)


def test_cli_report_writes_a_training_report(tmp_path, capsys):
    from dilemmazoo.experiments.cli import main

    folder = _language_run(tmp_path / "run", ROWS)
    assert main(["report", str(folder)]) == 0
    assert (folder / "report.html").exists()
    assert capsys.readouterr().out.strip().endswith("report.html")
    assert main(["report", str(tmp_path / "empty")]) == 2


def test_list_training_shows_every_trainer_preset(capsys):
    from dilemmazoo.experiments.cli import main
    from dilemmazoo.experiments.train_llm import TRAINING_PRESETS

    assert main(["list", "training"]) == 0
    out = capsys.readouterr().out
    for name in TRAINING_PRESETS + ("ippo --preset cleanup_small_aa",):
        assert name in out
