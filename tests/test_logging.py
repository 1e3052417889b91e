"""Logging: ``run.log`` in every run folder (worker processes too), retries and fallbacks logged as
they happen, no secret in any log, the terminal at ``--log-level``, and the one progress helper.

The retries come from the loopback fake server (``tests/fake_openai_server.py``), which answers
the first requests with 429 and 500; the canaries are those of ``tests/test_secrets.py``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dilemmazoo.agents.backends.redaction import register_secrets
from dilemmazoo.agents.progress import ProgressBar, progress, track
from dilemmazoo.experiments import logs
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.logs import RUN_LOG_FILE, configure_logging, run_log
from dilemmazoo.experiments.runner import RunFailed, execute, run_experiment
from dilemmazoo.experiments import store

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeOpenAIServer  # noqa: E402
from test_secrets import CANARIES, _choose, _groups  # noqa: E402 - the canary placements of issue 15

REPO = Path(__file__).resolve().parents[1]
# a run.log line: time, level, logger, message
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +(dilemmazoo\.\S+): ")


@pytest.fixture
def package_logger():
    """Give back the ``dilemmazoo`` logger as it was (handlers, level, the terminal handler)."""
    logger = logging.getLogger(logs.PACKAGE_LOGGER)
    handlers, level, terminal = list(logger.handlers), logger.level, logs._terminal
    # as an application that never configured logging has it, whatever earlier tests in this
    # process (a CLI call with --log-level, say) left behind
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logs._terminal = None
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)
    logs._terminal = terminal


def read_log(run_dir: Path) -> list[str]:
    """The messages of a run.log, each checked to be a whole log line."""
    lines = (run_dir / RUN_LOG_FILE).read_text().splitlines()
    records = [line for line in lines if LINE.match(line)]
    assert records and lines[0] == records[0]
    return lines


# -- the two APIs ---------------------------------------------------------------------------

def test_configure_logging_is_idempotent_and_checks_the_level(package_logger):
    configure_logging("info")
    configure_logging("debug")
    ours = [h for h in package_logger.handlers if h is logs._terminal]
    assert len(ours) == 1 and ours[0].level == logging.DEBUG and logs.terminal_level() == logging.DEBUG
    assert package_logger.getEffectiveLevel() == logging.DEBUG
    with pytest.raises(ValueError, match="log level must be one of debug, info, warning, error, critical; got 'loud'"):
        configure_logging("loud")


def test_run_log_takes_info_redacts_and_leaves_the_logger_as_it_was(tmp_path, package_logger):
    register_secrets(["run-log-secret-value"])
    before = (list(package_logger.handlers), package_logger.level)
    log = logging.getLogger("dilemmazoo.tests.logging")
    with run_log(tmp_path) as path:
        assert path == tmp_path / "run.log" and not path.exists()  # nothing logged yet: no file
        log.debug("not kept")
        log.info("sent %s", "run-log-secret-value")
        try:
            raise RuntimeError("the server said Bearer abc.def and run-log-secret-value")
        except RuntimeError:
            log.exception("request failed")
    log.warning("after the run")  # not in this run's log
    assert (list(package_logger.handlers), package_logger.level) == before
    text = path.read_text()
    assert "run-log-secret-value" not in text and "abc.def" not in text
    lines = text.splitlines()
    assert [LINE.match(line).group(1, 2) for line in lines if LINE.match(line)] == [
        ("INFO", "dilemmazoo.tests.logging"), ("ERROR", "dilemmazoo.tests.logging")]
    assert lines[0].endswith("dilemmazoo.tests.logging: sent ***")
    assert lines[-1] == "RuntimeError: the server said Bearer *** and ***"
    assert "not kept" not in text and "after the run" not in text


def test_run_log_does_not_change_what_the_application_s_handlers_get(tmp_path, package_logger):
    """A ``basicConfig()``-style root handler (level NOTSET, root at WARNING) sees the same records
    during a run as outside one: run.log lowering the package logger's level adds no INFO lines."""
    seen: list[str] = []
    root_handler = logging.Handler()
    root_handler.emit = lambda record: seen.append(f"{record.levelname} {record.getMessage()}")
    root = logging.getLogger()
    root.addHandler(root_handler)
    log = logging.getLogger("dilemmazoo.tests.pass_on")
    try:
        with run_log(tmp_path) as path:
            log.info("for run.log only")
            log.warning("for both")
            assert package_logger.propagate is False
        assert package_logger.propagate is True
        log.info("after: dropped as before")
        log.warning("after: shown as before")
    finally:
        root.removeHandler(root_handler)
    assert seen == ["WARNING for both", "WARNING after: shown as before"]
    assert [line.split(": ", 1)[1] for line in path.read_text().splitlines()] == ["for run.log only", "for both"]


def test_progress_bar_goes_to_stderr_and_disable_draws_nothing(capsys):
    with progress(3, "grid", unit="runs", disable=True) as bar:
        bar.describe("hidden")
        bar.advance(3)
        assert not bar.enabled
    assert list(track([1, 2, 3], title="frames", disable=True)) == [1, 2, 3]
    assert capsys.readouterr() == ("", "")
    assert list(track(iter("abcd"), 4, "replay", unit="frames", remaining=False)) == list("abcd")
    with progress(2, "donor_game", unit="runs") as bar:
        bar.advance(description="cells finished 1/2")
        bar.advance()
    out, err = capsys.readouterr()
    assert out == ""  # stdout carries run folders only
    assert "4/4 frames" in err and "2/2 runs" in err and "donor_game" in err and "cells finished 1/2" in err
    with pytest.raises(ValueError, match="total must be >= 0"):
        ProgressBar(-1)


# -- run.log in every run folder ------------------------------------------------------------

def scripted_grid(name: str = "logged"):
    return validate({
        "name": name,
        "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 2}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}},
        "grid": {"agents.params.fraction": [0.2, 0.8]},
        "seeds": [0, 1],
    })


def test_every_run_folder_of_a_grid_has_its_run_log(tmp_path):
    results = run_experiment(scripted_grid(), tmp_path, progress=False)
    assert len(results) == 4 and len({r.run_dir for r in results}) == 4
    pids = set()
    for result in results:
        rid = result.summary["run_id"]
        lines = read_log(result.run_dir)
        started = re.search(rf"run {rid} of logged started in (\S+) \(cell agents\.params\.fraction=0\.[28], "
                            rf"seed [01], process (\d+)\)$", lines[0])
        assert started and Path(started[1]) == result.run_dir, lines[0]
        assert re.search(rf"INFO +dilemmazoo\.experiments\.runner: run {rid} finished in \d+\.\d s$", lines[-1])
        pids.add(int(started[2]))
        assert store.inspect_run(result.run_dir, rid, deep=True).finished  # run.log leaves the records whole
    assert pids == {os.getpid()}
    logs_before = {r.run_dir: (r.run_dir / RUN_LOG_FILE).read_text() for r in results}
    again = run_experiment(scripted_grid(), tmp_path, progress=False)
    assert all(r.skipped for r in again)
    assert {r.run_dir: (r.run_dir / RUN_LOG_FILE).read_text() for r in again} == logs_before  # a skip logs nothing


def test_a_study_run_has_its_run_log_too(tmp_path):
    config = validate({
        "name": "study_log",
        "world": {"id": "dilemmazoo/team-production-v0", "kwargs": {"a_min": 0.01, "a_max": 50.0}},
        "study": {"name": "loyalty_sweep",
                  "kwargs": {"omega": [20.0], "beta": [0.5], "c": [1.0], "n": [3], "theta": [0.0, 0.5]}},
    })
    result = execute(config, tmp_path, progress=False)
    lines = read_log(result.run_dir)
    rid = result.summary["run_id"]
    assert len(lines) == 2 and f"run {rid} of study_log started" in lines[0] and f"run {rid} finished" in lines[1]


# -- retries and fallbacks, as they happen ----------------------------------------------------

def llm_config(server_url: str, name: str = "retried") -> dict:
    return {
        "name": name,
        "world": {"id": "donor-game", "kwargs": {"n_agents": 2, "n_rounds": 1}},
        "agents": {"kind": "llm", "backend": "openai:fake", "decision": "generate", "max_retries": 0,
                   "backend_options": {"base_url": server_url, "max_retries": 2, "backoff_s": 0.001,
                                       "concurrency": 1}},
        "seeds": [0],
        "cache": False,
    }


def test_run_log_shows_retries_and_fallbacks_as_they_happen(tmp_path):
    with FakeOpenAIServer(answer="I am a teapot.", lifetime_s=60.0) as server:
        server.enqueue("429", "500")
        [result] = run_experiment(validate(llm_config(server.url)), tmp_path, progress=False)
        served = [request.mode for request in server.completions]
    assert served == ["429", "500", "ok"]  # one decision (one donor, one round): three requests
    lines = read_log(result.run_dir)
    messages = [line.split(": ", 1)[1] for line in lines]
    retries = [i for i, line in enumerate(lines) if "dilemmazoo.agents.backends.limits" in line]
    assert [messages[i] for i in retries[:1]] == [
        "openai:fake: attempt 1 of 3 failed (RateLimitError, HTTP 429, rate limited); retrying in 0.05 s "
        "(Retry-After from the server)"]
    assert re.fullmatch(r"openai:fake: attempt 2 of 3 failed \(InternalServerError, HTTP 500\); retrying in 0\.00 s "
                        r"\(backoff\)", messages[retries[1]])
    assert len(retries) == 2
    fallbacks = [i for i, line in enumerate(lines) if "dilemmazoo.agents.llm" in line]
    assert result.summary["counts"]["fallbacks"] == len(fallbacks) == 1  # one line per counted fallback
    assert re.fullmatch(r"openai:fake: seat player_\d, episode 0, step 1: the world's fallback action is used \(no "
                        r"parsable answer in 1 attempt, the last: No line starting with 'Answer:' was found\.\)",
                        messages[fallbacks[0]])
    # in the order they happened: start, the two retries, the fallbacks, the end
    assert 0 < retries[0] < retries[1] < fallbacks[0] < len(lines) - 1
    assert "finished" in lines[-1]


def test_no_canary_in_any_run_log_of_a_grid_with_failures(tmp_path, monkeypatch):
    """Issue 15's canaries (headers, body fields, URL password, key variables) sent to a server
    that quotes them back in its errors: the failed runs' run.log says so, without any of them."""
    monkeypatch.setenv("DZ_CANARY_KEY", CANARIES["EnvKey"])
    monkeypatch.setenv("DZ_LITE_KEY", CANARIES["LiteEnvKey"])
    monkeypatch.setenv("OPENAI_API_KEY", CANARIES["ProviderEnvKey"])
    with FakeOpenAIServer(answer=f"Not repeating {CANARIES['EnvKey']}. Answer: 2", choose=_choose,
                          lifetime_s=120.0) as server:
        grid = {"name": "canary_log", "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 2}},
                "agents": _groups(server.url, None), "seeds": [0], "cache": False,
                "grid": {"agents": {echoing: _groups(server.url, echoing) for echoing in ("oai", "lite")}}}
        with pytest.raises(RunFailed, match="2 of 2 runs failed"):
            run_experiment(validate(grid), tmp_path, progress=False)
        sent = repr(server.completions)
    assert CANARIES["BodyKey"] in sent and CANARIES["HeaderToken"] in sent  # the canaries did travel
    run_logs = sorted(tmp_path.rglob(RUN_LOG_FILE))
    texts = {path.parent.parent.name: path.read_text() for path in run_logs}
    assert set(texts) == {"agents=oai", "agents=lite"}
    for cell in ("agents=oai", "agents=lite"):
        assert "attempt 1 of 2 failed (InternalServerError, HTTP 500); retrying" in texts[cell]  # the echo, retried
        assert "request failed after 2 attempts (InternalServerError, HTTP 500)" in texts[cell]
        assert re.search(r"ERROR +dilemmazoo\.experiments\.runner: run \w+ failed after .+upstream rejected", texts[cell])
    for place, canary in CANARIES.items():
        found = [cell for cell, text in texts.items() if canary in text]
        assert not found, f"{place} in the run.log of {found}"


# -- the terminal: --log-level ----------------------------------------------------------------

def test_worker_processes_write_run_logs_and_show_retries_at_the_main_level(tmp_path, capfd, package_logger):
    """Two worker processes (the local executor): each run's run.log is written by the worker that
    ran it, and the retry shows on the terminal at the level the main process set."""
    configure_logging("info")
    with FakeOpenAIServer(answer="Answer: 2", lifetime_s=120.0) as server:
        server.enqueue("429")
        config = {**llm_config(server.url, "workers"), "seeds": [0, 1]}
        results = run_experiment(validate(config), tmp_path, workers=2, progress=False)
    assert len(results) == 2 and len({r.run_dir for r in results}) == 2
    pids = set()
    for result in results:
        lines = read_log(result.run_dir)
        started = re.search(rf"run {result.summary['run_id']} of workers started in \S+ \(seed [01], process (\d+)\)$",
                            lines[0])
        assert started and "finished in" in lines[-1], lines
        pids.add(int(started[1]))
    assert os.getpid() not in pids  # written in the workers
    logged = [r for r in results if "HTTP 429" in (r.run_dir / RUN_LOG_FILE).read_text()]
    assert len(logged) == 1  # the one run whose first request met the 429
    err = " ".join(capfd.readouterr().err.split())  # rich wraps long lines
    assert "attempt 1 of 3 failed (RateLimitError, HTTP 429, rate limited); retrying in 0.05 s" in err


def test_cli_log_level_info_shows_retries_on_stderr_and_stdout_only_folders(tmp_path):
    with FakeOpenAIServer(answer="Answer: 2", lifetime_s=120.0) as server:
        server.enqueue("429", "429")
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(llm_config(server.url, "cli")))
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        done = subprocess.run([sys.executable, "-m", "dilemmazoo.experiments.cli", "run", str(tmp_path / "c.yaml"),
                               "--out", str(tmp_path / "runs"), "--quiet", "--log-level", "info"],
                              env=env, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    [folder] = done.stdout.splitlines()
    assert Path(folder).is_dir() and (Path(folder) / RUN_LOG_FILE).is_file()
    err = " ".join(done.stderr.split())  # rich wraps long lines
    for attempt in (1, 2):
        assert f"attempt {attempt} of 3 failed (RateLimitError, HTTP 429, rate limited)" in err
    assert "finished in" in err
    run_log_text = (Path(folder) / RUN_LOG_FILE).read_text()
    assert run_log_text.count("HTTP 429") == 2


def test_the_progress_helper_is_the_only_one():
    """No module builds its own rich Progress: the runner, replay and the rest use agents.progress."""
    builders = []
    for folder in ("agents", "experiments", "norms", "analysis", "envs"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            if "Progress(" in text and path != REPO / "agents" / "progress.py":
                builders.append(str(path.relative_to(REPO)))
    assert builders == [], builders
