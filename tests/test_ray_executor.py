"""Grids on Ray (a local instance, 2 CPUs, no dashboard): the same run directories as the local
executor, resume after a killed driver, cluster-wide rate limits."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="executor ray needs the Ray package (pip install -e '.[cluster]')")

from dilemmazoo.experiments.config import validate  # noqa: E402
from dilemmazoo.experiments.ray_executor import ClusterRateLimiter, limiter_key  # noqa: E402
from dilemmazoo.experiments.runner import run_experiment  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def grid(**extra):
    data = {
        "name": "g", "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 3}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}},
        "population": {"dynamics": "cultural_evolution", "generations": 2, "kwargs": {"mutation_sd": 0.1}},
        "seeds": [0, 1], "grid": {"agents.params.fraction": [0.25, 0.75]},
    }
    data.update(extra)
    return validate(data)


def run_files(root: Path) -> dict[str, dict]:
    """Each run folder (relative) -> its tables and its summary without timings and provenance."""
    found = {}
    for summary in sorted(root.rglob("summary.json")):
        folder = summary.parent
        data = json.loads(summary.read_text())
        for key in ("wall_time_s", "execution", "provenance"):
            data.pop(key, None)
        found[folder.relative_to(root).as_posix()] = {
            "summary": data, "config": (folder / "config.yaml").read_text(),
            **{name: pd.read_parquet(folder / f"{name}.parquet") for name in ("steps", "episodes", "population")},
        }
    return found


@pytest.mark.parametrize("store", ["driver", "shared"])
def test_a_ray_grid_writes_the_same_run_directories_as_the_local_executor(tmp_path, local_ray, store):
    local = run_experiment(grid(), tmp_path / "local", progress=False)
    on_ray = run_experiment(grid(executor="ray", ray={"store": store}), tmp_path / "ray", progress=False)
    assert len(local) == len(on_ray) == 4
    a, b = run_files(tmp_path / "local" / "g"), run_files(tmp_path / "ray" / "g")
    assert sorted(a) == sorted(b) and len(a) == 4
    for folder in a:
        assert a[folder]["summary"] == b[folder]["summary"], folder
        assert a[folder]["config"] == b[folder]["config"], folder
        for table in ("steps", "episodes", "population"):
            pd.testing.assert_frame_equal(a[folder][table], b[folder][table])
    # a second command finds every run finished and submits nothing
    again = run_experiment(grid(executor="ray", ray={"store": store}), tmp_path / "ray", progress=False)
    assert all(result.skipped for result in again)


@pytest.mark.parametrize("store", ["driver", "shared"])
def test_a_failed_run_on_ray_is_reported_and_the_others_finish(tmp_path, local_ray, store):
    # an answer no option matches fails at run time (scoring a script is not possible)
    (tmp_path / "banana.txt").write_text("banana\n")
    config = grid(executor="ray", ray={"store": store}, seeds=[0],
                  grid={"agents": {"good": {"kind": "scripted", "strategy": "fixed_fraction"},
                                   "bad": {"kind": "llm", "backend": f"scripted:{tmp_path}/banana.txt",
                                           "decision": "score", "score_grid": [0, 0.5, 1]}}},
                  population=None)
    from dilemmazoo.experiments.runner import RunFailed

    with pytest.raises(RunFailed, match="1 of 2 runs failed") as error:
        run_experiment(config, tmp_path / "out", progress=False)
    assert "matches none of the options" in str(error.value) and str(tmp_path / "out") in str(error.value)
    failed = list((tmp_path / "out" / "g").rglob("failure.json"))
    assert len(failed) == 1 and "agents=bad" in failed[0].parent.parent.name
    assert "matches none of the options" in failed[0].read_text()
    assert len(list((tmp_path / "out" / "g").rglob("complete.json"))) == 1


def test_rate_limits_are_one_bucket_for_the_whole_cluster(local_ray):
    group = validate({"name": "x", "world": {"id": "donor-game"},
                      "agents": {"kind": "llm", "backend": "openai:m",
                                 "backend_options": {"requests_per_minute": 60, "base_url": "http://127.0.0.1:9"}}}).groups[0]
    key = limiter_key(group)
    assert key is not None and key == limiter_key(group)
    from dilemmazoo.experiments.ray_executor import _LimiterState

    actor = ray.remote(num_cpus=0)(_LimiterState).options(name=key, get_if_exists=True).remote(60, None)

    @ray.remote(num_cpus=1)
    def book(name):
        limiter = ClusterRateLimiter(name, 60, None)
        return [limiter.reserve(0) for _ in range(2)]

    waits = sorted(w for pair in ray.get([book.remote(key), book.remote(key)]) for w in pair)
    # 60 a minute with one second of burst: the four requests of two tasks start about 0, 1, 2, 3 s apart
    assert waits[0] == pytest.approx(0.0, abs=0.05)
    assert [round(b - a) for a, b in zip(waits, waits[1:])] == [1, 1, 1]
    assert ray.get(actor.waited_s.remote()) == pytest.approx(sum(waits))  # one set of buckets booked them all
    assert limiter_key(validate({"name": "x", "world": {"id": "donor-game"}}).groups[0]) is None


def test_a_killed_driver_loses_no_finished_run(tmp_path):
    config = tmp_path / "slow.yaml"
    config.write_text(json.dumps({
        "name": "slow", "world": {"id": "donor-game", "kwargs": {"n_agents": 12, "n_rounds": 12}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}},
        "population": {"dynamics": "cultural_evolution", "generations": 6},
        "episodes_per_generation": 3, "seeds": 12, "executor": "ray", "workers": 2,
    }))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "dilemmazoo.experiments.cli", "run", str(config), "--out", str(out), "--quiet"]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while len(list(out.rglob("complete.json"))) < 2:
        assert driver.poll() is None, "the driver ended before it was killed"
        assert time.monotonic() < deadline, "no run finished in time"
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = {p.parent: p.read_bytes() for p in out.rglob("complete.json")}
    assert 2 <= len(before) < 12
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    after = {p.parent: p.read_bytes() for p in out.rglob("complete.json")}
    assert len(after) == 12
    for folder, marker in before.items():  # finished before the kill: kept, not redone
        assert after[folder] == marker
    assert len(result.stdout.split()) == 12  # stdout: every run folder; the resume note is on stderr
    skipped = [line for line in result.stderr.splitlines() if line.endswith(": already finished; skipped")]
    assert sorted(skipped) == sorted(f"{folder}: already finished; skipped" for folder in before)


def test_a_budget_stops_a_ray_grid_and_a_larger_one_resumes(tmp_path, local_ray):
    from dilemmazoo.experiments.budget import Budget, BudgetExceeded, run_spending

    script = tmp_path / "answers.txt"
    script.write_text("Answer: Cooperate\n---\n")
    config = validate({
        "name": "budget-ray", "world": {"id": "repeated-game", "kwargs": {"game": "prisoners_dilemma", "n_rounds": 4}},
        "agents": [{"kind": "llm", "backend": f"scripted:{script}", "seats": 1, "decision": "generate", "memory": 0},
                   {"kind": "scripted", "strategy": "tit_for_tat"}],
        "seeds": [0, 1, 2], "cache": False, "executor": "ray",
    })  # 4 model calls a run
    with pytest.raises(BudgetExceeded) as info:
        run_experiment(config, tmp_path / "runs", progress=False, budget=Budget(max_calls=6))
    assert info.value.reached == "calls" and info.value.calls <= 6
    done = [p.parent for p in (tmp_path / "runs").rglob("complete.json")]
    assert len(done) <= 1 and sum(run_spending(d)[0] for d in done) <= 6  # the tasks counted together
    assert not list((tmp_path / "runs").glob(".budget-*"))  # the shared count is removed
    results = run_experiment(config, tmp_path / "runs", progress=False, budget=Budget(max_calls=12))
    assert len(results) == 3 and sum(run_spending(r.run_dir)[0] for r in results) == 12
