"""stdout of ``dilemmazoo run`` carries run folders only, one a line (``dilemmazoo run ... | xargs``):
progress, the report's path, the resume note and log records go to stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dilemmazoo.experiments.cli import main

CONFIG = (
    "name: stdout_check\n"
    "world: {id: donor-game, kwargs: {n_agents: 4, n_rounds: 2}}\n"
    "agents: {kind: scripted, strategy: fixed_fraction, params: {fraction: 0.5}}\n"
    "population: {dynamics: cultural_evolution, generations: 1}\n"
    "seeds: 2\n"
)


@pytest.mark.slow  # a whole experiment in a process of its own, report included
def test_run_prints_only_run_folders_on_stdout(tmp_path, capfd):
    config = tmp_path / "stdout_check.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "runs"
    argv = ["run", str(config), "--out", str(out), "--log-level", "info"]
    expected = [str(out / "stdout_check" / f"seed={seed}") for seed in (0, 1)]
    report = out / "stdout_check" / "report.html"
    # in its own process, with progress on (not --quiet): what a terminal user gets
    result = subprocess.run([sys.executable, "-m", "dilemmazoo.experiments.cli", *argv, "--report"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == expected, result.stdout
    assert all(Path(line, "complete.json").is_file() for line in expected)
    assert f"report: {report}" in result.stderr.splitlines() and report.is_file()
    # again (in this process, without the report; capfd reads file descriptors 1 and 2): both runs are
    # found finished and skipped; the folders are still all of stdout, the note is on stderr
    assert main(argv) == 0
    captured = capfd.readouterr()
    assert sorted(captured.out.splitlines()) == expected, captured.out
    assert sorted(line.split(": ")[0] for line in captured.err.splitlines()
                  if line.endswith(": already finished; skipped")) == expected
