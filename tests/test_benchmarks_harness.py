"""benchmarks/harness.py: the flags every benchmark shares, its profile on stderr, and peak memory."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import harness  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    return harness.add_common_args(argparse.ArgumentParser())


def test_common_flags_parse_off_by_default_and_on_when_given():
    assert vars(_parser().parse_args([])) == {"json": False, "profile": False}
    assert vars(_parser().parse_args(["--json", "--profile"])) == {"json": True, "profile": True}


def _work(n: int, *, scale: int = 1) -> int:
    return sum(i * scale for i in range(n))


def test_profiled_returns_the_result_and_prints_only_under_profile(capsys):
    plain = _parser().parse_args([])
    assert harness.profiled(plain, _work, 10, scale=2) == 90
    assert capsys.readouterr() == ("", "")

    loud = _parser().parse_args(["--profile"])
    assert harness.profiled(loud, _work, 10, scale=2) == 90
    out, err = capsys.readouterr()
    assert out == ""
    assert "profile of _work" in err and "cumulative" in err and "_work" in err.split("profile of _work", 1)[1]


def test_profiled_prints_the_profile_when_the_function_raises(capsys):
    def broken():
        raise KeyError("x")

    with pytest.raises(KeyError):
        harness.profiled(_parser().parse_args(["--profile"]), broken)
    assert "profile of" in capsys.readouterr().err
    with pytest.raises(ValueError, match="top"):
        harness.profiled(_parser().parse_args([]), _work, 3, top=0)


def test_emit_adds_peak_rss_and_prints_the_json_line_last(capsys):
    figures = harness.emit({"steps_per_s": 12.345}, _parser().parse_args(["--json"]), extra={"isolation": "none"})
    lines = capsys.readouterr().out.strip().splitlines()
    assert "steps_per_s" in lines[2] and "peak_rss_mb" in lines[3]
    last = json.loads(lines[-1])
    assert list(last) == ["isolation", "steps_per_s", "peak_rss_mb"]
    assert last["steps_per_s"] == 12.345 and last["peak_rss_mb"] > 0
    assert figures["peak_rss_mb"] == pytest.approx(last["peak_rss_mb"], abs=1e-3)
    harness.emit({"x": 1.0}, _parser().parse_args([]))
    assert "{" not in capsys.readouterr().out  # no JSON without --json


def test_peak_rss_counts_a_finished_child_bigger_than_the_process():
    """A child that touched 160 MiB more than the parent's peak raises the figure to at least that.

    (Linux carries a process's high-water mark across fork and exec, so a process started from
    a big one, e.g. this pytest, starts at that one's size: the sizes are relative to it.)
    """
    script = (
        "import subprocess, sys; sys.path.insert(0, sys.argv[1]); import harness\n"
        "before = harness.peak_rss_mb()\n"
        "size = int(before) + 160\n"
        "subprocess.run([sys.executable, '-c', f'b = bytearray({size} * 2**20); b[::4096] = b\"x\" * len(b[::4096])'],"
        " check=True)\n"
        "print(before, size, harness.peak_rss_mb())\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(BENCHMARKS)], capture_output=True, text=True, check=True)
    before, size, after = map(float, out.stdout.split())
    assert 0 < before < size <= after


def test_a_benchmark_keeps_its_json_last_and_its_profile_on_stderr():
    """The tax world's array step at a small size: the quickest real benchmark."""
    command = [sys.executable, str(BENCHMARKS / "tax_world.py"), "--skip-embedded", "--skip-api",
               "--rational-workers", "200", "--repeats", "1", "--json", "--profile"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=BENCHMARKS.parent)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["rational_workers"] == 200 and figures["rational_step_10k_ms"] > 0
    assert figures["peak_rss_mb"] > 0
    assert "cumulative" in done.stderr and "profile of measure" in done.stderr
    assert "cumulative" not in done.stdout
