"""write_report on run directories built by hand, file by file, as the record contract says."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dilemmazoo.analysis import find_runs, load_run, write_report
from dilemmazoo.analysis.report import format_number

DONOR_GAME = "dilemmazoo/donor-game-v0"
PNG_IMG = '<img src="data:image/png;base64,'
#      round 1: A -> B, C -> D; round 2: B -> A, D -> C
PAIRS = {1: {"A": "B", "C": "D"}, 2: {"B": "A", "D": "C"}}
EVIL_STRATEGY = "My strategy will be <script>alert('x')</script> & share."


def donor_steps(fractions: dict[int, float]) -> pd.DataFrame:
    """4 agents, 1 game per generation, 2 rounds, every donor gives ``fractions[generation]``
    of its resources with multiplier 2, from an endowment of 10."""
    rows = []
    for episode, (generation, fraction) in enumerate(sorted(fractions.items())):
        resources = dict.fromkeys("ABCD", 10.0)
        for round_, pairs in PAIRS.items():
            given = {donor: fraction * resources[donor] for donor in pairs}
            for donor, recipient in pairs.items():
                resources[donor] -= given[donor]
                resources[recipient] += 2 * given[donor]
            for agent in "ABCD":
                donor = agent in pairs
                recipient = agent in pairs.values()
                rows.append({
                    "episode": episode, "generation": generation, "game": 1, "step": round_, "agent": f"player_{agent}",
                    "name": f"{generation}_{agent}", "decided": donor,
                    "action": json.dumps({"amount": given[agent]}) if donor else "",
                    "reward": 0.0, "utility": 0.0, "parse_failures": 0, "fallback_used": False,
                    "role": "donor" if donor else "recipient" if recipient else "idle",
                    "partner": pairs.get(agent, ""), "move": "donate" if donor else "",
                    "amount": given.get(agent, 0.0), "fraction": fraction if donor else math.nan,
                    "resources": resources[agent], "round": round_,
                })
    return pd.DataFrame(rows)


def write_run(run_dir: Path, *, run_id: str, seed: int, fractions: dict[int, float], world: str = DONOR_GAME) -> Path:
    run_dir.mkdir(parents=True)
    steps = donor_steps(fractions)
    steps.to_parquet(run_dir / "steps.parquet")
    final = steps.sort_values("step").groupby(["generation", "game", "agent"]).tail(1)
    episodes = final[["episode", "generation", "game", "agent", "name", "resources"]].assign(
        **{"return": final["resources"] - 10.0, "utility_return": final["resources"] - 10.0, "steps": 2}
    )
    episodes.to_parquet(run_dir / "episodes.parquet")
    last = max(fractions)
    pd.DataFrame({
        "generation": [last, last], "name": [f"{last}_A", f"{last}_B"],
        "strategy": [EVIL_STRATEGY, "My strategy will be to give half."],
        "params": ["{}", "{}"], "parents": ["", "1_A,1_C"], "score": [25.0, 10.0], "survived": [True, False],
    }).to_parquet(run_dir / "population.parquet")
    pd.DataFrame({
        "episode": [0, 0, -1], "generation": [1, 1, 1], "step": [1, 1, 0], "agent": ["player_A", "player_C", "2_A"],
        "purpose": ["act", "act", "strategy"], "prompt_hash": ["h1", "h2", "h3"],
        "prompt_tokens": [300, 310, 500], "completion_tokens": [40, 42, 60], "latency_s": [0.5, 0.0, 1.5],
        "cached": [False, True, False], "cost_usd": [0.0, 0.0, 0.0], "text": ["Answer: 5", "Answer: 2", "My strategy"],
        "error": ["", "", ""],
    }).to_parquet(run_dir / "llm_calls.parquet")
    config = {"experiment": "donor_smoke", "world": {"id": world, "kwargs": {"donation_multiplier": 2.0, "rounds": 2}}, "seed": seed}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    summary = {
        "experiment": "donor_smoke", "run_id": run_id, "world": world, "seed": seed, "status": "complete",
        "episodes": len(fractions), "generations": len(fractions), "wall_time_s": 3.25,
        "counts": {"steps": len(steps)}, "metrics": {"recorded_metric": 7.5},
    }
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def test_report_of_one_run(tmp_path):
    # gen 1 gives half:   A 5, B 20, C 5, D 20 -> B gives 10, D gives 10 -> 25, 10, 25, 10: mean 17.5
    # gen 2 gives all:    A 0, B 30, C 0, D 30 -> B gives 30, D gives 30 -> 60, 0, 60, 0:   mean 30
    run = write_run(tmp_path / "runs" / "donor_smoke" / "abc123", run_id="abc123", seed=1, fractions={1: 0.5, 2: 1.0})
    path = write_report(run)
    assert path == run / "report.html"
    html = path.read_text(encoding="utf-8")
    assert html.count(PNG_IMG) >= 4  # three Donor Game plots + parse failures/fallbacks
    assert '<td class="num">30</td>' in html  # final_generation_avg_resources
    assert '<td class="num">17.5</td>' in html  # generation 1 of avg_final_resources
    assert '<td class="num">0.5</td>' in html  # initial cooperation
    assert "abc123" in html and "donor_smoke" in html
    assert "world.kwargs.donation_multiplier=2.0" in html  # key config values
    assert '<td class="num">3.25</td>' in html  # wall time
    assert '<td class="num">1,110</td>' in html  # prompt tokens
    assert '<td class="num">0.3333</td>' in html  # cache hit rate
    # strategy texts are escaped, never markup
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; share." in html


def test_report_of_an_experiment_with_two_runs(tmp_path):
    experiment = tmp_path / "donor_smoke"
    write_run(experiment / "run-a", run_id="run-a", seed=1, fractions={1: 0.5, 2: 1.0})
    write_run(experiment / "run-b", run_id="run-b", seed=2, fractions={1: 0.0, 2: 0.5})
    (experiment / "unfinished").mkdir()  # no summary.json: not a run yet
    assert find_runs(experiment) == [experiment / "run-a", experiment / "run-b"]

    out = tmp_path / "out" / "grid.html"
    assert write_report(experiment, out=out) == out
    html = out.read_text(encoding="utf-8")
    assert html.count(PNG_IMG) >= 4
    assert "run-a" in html and "run-b" in html and "seed 1" in html and "seed 2" in html
    # run-b: gen 1 gives nothing -> 10 each; gen 2 gives half -> 17.5; means over runs 13.75 and 23.75
    assert '<td class="num">13.75</td>' in html and '<td class="num">23.75</td>' in html
    assert "Across runs" in html
    assert "seed=1" not in html  # the seed is its own column, not a grid axis

    assert write_report(experiment) == experiment / "report.html"


def test_unknown_world_and_missing_files_get_the_generic_sections(tmp_path):
    run = write_run(tmp_path / "r", run_id="r1", seed=3, fractions={1: 0.5}, world="dilemmazoo/elsewhere-v0")
    (run / "llm_calls.parquet").unlink()
    (run / "population.parquet").unlink()
    records = load_run(run)
    assert records.llm_calls.empty and records.population.empty and records.world == "dilemmazoo/elsewhere-v0"
    html = write_report(run).read_text(encoding="utf-8")
    assert PNG_IMG in html  # parse failures and fallbacks
    assert "recorded_metric" in html and '<td class="num">7.5</td>' in html  # summary.json metrics
    assert "no world-specific analysis registered" in html
    assert "no population records" in html


def test_report_of_a_run_without_steps_falls_back_to_summary_metrics(tmp_path):
    run = write_run(tmp_path / "r", run_id="r2", seed=4, fractions={1: 0.5})
    pd.DataFrame().to_parquet(run / "steps.parquet")
    html = write_report(run).read_text(encoding="utf-8")
    assert "recorded_metric" in html
    assert html.count(PNG_IMG) >= 4


def test_no_runs_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="summary.json"):
        write_report(tmp_path)
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "absent")


@pytest.mark.parametrize(
    ("value", "text"),
    [(30720.0, "30,720"), (30720.5, "30,720.5"), (12.25, "12.25"), (0.95 / 3, "0.3167"), (None, "–"), (math.nan, "–"), (3, "3"), (True, "True")],
)
def test_format_number(value, text):
    assert format_number(value) == text
