"""Whole runs against a loopback OpenAI-compatible server: keys stay out of records,
persistent failures end a run cleanly and resume, reruns are served by the cache."""

import sys
from pathlib import Path

import pytest

from dilemmazoo.experiments import RunFailed
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import execute, run_experiment

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeOpenAIServer  # noqa: E402

KEY = "sk-test-SECRET123-do-not-leak"


def config(server, *, seeds=(0,), **options):
    return validate({
        "name": "api",
        "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 4}},
        "agents": {"kind": "llm", "backend": "openai:fake-model", "decision": "generate", "max_retries": 1,
                   "backend_options": {"base_url": server.url, "api_key_env": "DZ_TEST_KEY", "backoff_s": 0.01,
                                       "max_backoff_s": 0.02, "timeout_s": 2.0, **options}},
        "population": {"dynamics": "cultural_evolution", "generations": 2},
        "seeds": list(seeds),
    })


def files_containing(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("DZ_TEST_KEY", KEY)
    return KEY


def test_a_run_with_an_api_key_writes_the_key_nowhere(tmp_path, key):
    answers = iter(["My strategy will be to give.", "Answer: 4"] * 1000)
    with FakeOpenAIServer(answer=lambda body: next(answers), expected_api_key=key) as server:
        server.enqueue("429", "500", "disconnect", "garbage")  # transport faults are retried
        result = execute(config(server), tmp_path, progress=False)
        assert all(r.authorized for r in server.completions)
    assert result.summary["status"] == "complete"
    assert result.llm_calls["retries"].sum() == 4
    assert not files_containing(tmp_path, key)
    assert "DZ_TEST_KEY" in (result.run_dir / "config.yaml").read_text()  # the reference, not the value


def test_a_persistent_failure_ends_the_run_cleanly_and_the_grid_resumes(tmp_path, key):
    with FakeOpenAIServer(answer="Answer: 2") as server:
        finished = execute(config(server, seeds=(0,)), tmp_path, progress=False)
        server.enqueue(*["500"] * 200)
        with pytest.raises(RunFailed) as info:
            run_experiment(config(server, seeds=(0, 1)), tmp_path, progress=False)
        message = str(info.value)
        assert "1 of 2 runs failed (1 finished and kept)" in message and "500" in message and key not in message
        failure = next(tmp_path.rglob("failure.json"))
        assert not (failure.parent / "summary.json").exists() and key not in failure.read_text()
        assert (finished.run_dir / "summary.json").exists()
        server.reset()  # the server recovers: the same command resumes
        before = len(server.completions)
        results = run_experiment(config(server, seeds=(0, 1)), tmp_path, progress=False)
        assert [r.skipped for r in results] == [True, False]
        assert len(server.completions) > before
    assert not files_containing(tmp_path, key)


def test_a_rerun_from_the_cache_sends_no_request(tmp_path, key):
    with FakeOpenAIServer(answer="My strategy will be fair. Answer: 3") as server:
        first = execute(config(server), tmp_path, progress=False)
        sent = len(server.completions)
        (first.run_dir / "summary.json").unlink()
        second = execute(config(server), tmp_path, progress=False)
        assert len(server.completions) == sent > 0
    assert second.summary["counts"]["cache_hits"] == len(second.llm_calls)
    assert second.steps.equals(first.steps)
