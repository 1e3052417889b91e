"""Run directories on disk: atomic files, resumable runs.

Every file is written to a temporary name in the same directory and renamed into place, and
``summary.json`` is written last: a directory with a summary is a finished run, anything else
is redone on resume. A failed run leaves ``failure.json`` (the error) and no summary.
"""

from __future__ import annotations

import json
import os
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dilemmazoo.experiments.records import EPISODE_COLUMNS, LLM_CALL_COLUMNS, POPULATION_COLUMNS, STEP_COLUMNS

__all__ = ["atomic_write_bytes", "finish", "frames", "load_summary", "prepare", "write_failure"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_summary(run_dir: Path) -> dict[str, Any] | None:
    """The summary of a finished run, or ``None``."""
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        return None
    summary = json.loads(path.read_text())
    return summary if summary.get("status") == "complete" else None


def prepare(run_dir: Path, config) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "failure.json").unlink(missing_ok=True)
    data = config.model_dump(mode="json")
    atomic_write_bytes(run_dir / "config.yaml", yaml.safe_dump(data, sort_keys=False).encode())


def write_failure(run_dir: Path, error: BaseException) -> None:
    payload = {
        "error": f"{type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(error)),
    }
    atomic_write_bytes(run_dir / "failure.json", json.dumps(payload, indent=2).encode())


def _frame(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in columns:
        if column not in frame:
            frame[column] = pd.Series(dtype="object")
    extra = [c for c in frame.columns if c not in columns]
    return frame[list(columns) + extra]


def frames(recorder) -> dict[str, pd.DataFrame]:
    return {
        "steps": _frame(recorder.steps, STEP_COLUMNS),
        "episodes": _frame(recorder.episodes, EPISODE_COLUMNS),
        "population": _frame(recorder.population, POPULATION_COLUMNS),
        "llm_calls": _frame(recorder.calls, LLM_CALL_COLUMNS),
    }


def finish(run_dir: Path, tables: dict[str, pd.DataFrame], summary: dict[str, Any]) -> None:
    for name, frame in tables.items():
        _write_parquet(run_dir / f"{name}.parquet", frame)
    atomic_write_bytes(run_dir / "summary.json", json.dumps(summary, indent=2, sort_keys=True, default=str).encode())
