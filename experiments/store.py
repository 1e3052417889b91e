"""Run directories on disk: readable names, atomic files, resumable runs.

A run's folder is named by its grid cell and seed (:func:`run_dir_for`)::

    runs/<experiment>/seed=0/                                   no grid
    runs/<experiment>/donation_multiplier=2.0/seed=1/           one swept key
    runs/<experiment>/fraction=0.5,population=none/seed=1/      two

Its identity is the config hash :func:`~dilemmazoo.experiments.config.run_id`, written into
the folder (``run_id``) when the folder is claimed and into ``summary.json``. A folder that
holds another run id (the same preset rerun with ``--set`` overrides, or two cells whose
labels read the same once made safe for file names) is never reused: the run goes to
``seed=N-<first 6 hex of its id>`` instead, so no finished result is overwritten.

Every file is written to a temporary name in the same directory and renamed into place, and
``summary.json`` is written last: a directory with a summary is a finished run, anything else
is redone on resume. A failed run leaves ``failure.json`` (the error) and no summary.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dilemmazoo.experiments.records import EPISODE_COLUMNS, LLM_CALL_COLUMNS, POPULATION_COLUMNS, STEP_COLUMNS

__all__ = [
    "RUN_ID_FILE",
    "atomic_write_bytes",
    "cell_folder",
    "finish",
    "folder_run_id",
    "frames",
    "load_summary",
    "prepare",
    "run_dir_for",
    "run_folder_name",
    "write_failure",
]

#: the file naming the run id that owns a run folder (written when the folder is claimed)
RUN_ID_FILE = "run_id"
# A cell folder name stays well below the 255-byte file-name limit of common file systems.
_MAX_PART = 60
_MAX_FOLDER = 180


def _digest(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _safe_name(text: str) -> str:
    """``text`` as a portable file-name part: ASCII letters, digits and ``. _ + @ -``; no leading
    dot; bounded length. A part that had to be cut, or that nothing usable is left of, ends in a
    hash of the whole text so that it still tells values apart."""
    safe = re.sub(r"[^A-Za-z0-9._+@-]+", "_", text)
    safe = re.sub(r"^\.", "_", safe)
    if not safe.strip("_"):
        return f"_{_digest(text)}"
    if len(safe) > _MAX_PART:
        return f"{safe[:_MAX_PART - 7]}~{_digest(text)}"
    return safe


def cell_folder(cell: dict[str, str]) -> str:
    """The folder name of a grid cell (dotted key -> label): ``key=label`` joined by commas, with
    each key shortened to its last part where that is unambiguous in the grid
    (:func:`dilemmazoo.analysis.catalog.grid_column_names`); ``""`` without a grid."""
    from dilemmazoo.analysis.catalog import grid_column_names

    names = grid_column_names(list(cell))
    folder = ",".join(f"{_safe_name(names[key])}={_safe_name(str(label))}" for key, label in cell.items())
    if len(folder) > _MAX_FOLDER:
        folder = f"{folder[:_MAX_FOLDER - 7]}~{_digest(json.dumps(cell, sort_keys=True))}"
    return folder


def folder_run_id(run_dir: Path) -> str | None:
    """The run id that owns ``run_dir`` (from its ``run_id`` file, else its ``summary.json``), or ``None``."""
    marker = Path(run_dir) / RUN_ID_FILE
    if marker.is_file():
        return marker.read_text().strip() or None
    summary = Path(run_dir) / "summary.json"
    if summary.is_file():
        try:
            return json.loads(summary.read_text()).get("run_id")
        except (json.JSONDecodeError, AttributeError):
            return None
    return None


def run_folder_name(config) -> str:
    """Where a run of ``config`` (one seed) goes inside its experiment's folder, before any
    clash with another run id: ``donation_multiplier=2.0/seed=1``, or ``seed=1`` without a grid
    (for listings such as ``run --check``; :func:`run_dir_for` gives the folder itself)."""
    cell = cell_folder(dict(config.cell))
    seed = f"seed={config.seeds[0]}"
    return f"{cell}/{seed}" if cell else seed


def run_dir_for(out_root: str | Path, config, rid: str, *, claim: bool = False) -> Path | None:
    """The folder of the run ``rid`` of ``config`` (one seed, one grid cell).

    The candidates are ``seed=N``, then ``seed=N-<rid[:6]>``, then ``seed=N-<rid>`` under
    ``<out_root>/<experiment>/<cell folder>``. The first candidate that already belongs to
    ``rid`` is returned (a finished run to skip, or a damaged one to redo). Otherwise, with
    ``claim``, the first free candidate is created holding the ``run_id`` file and returned;
    without ``claim`` (look before checking the config, write nothing) the answer is ``None``.
    """
    parent = (Path(out_root) / config.name / run_folder_name(config)).parent
    seed = f"seed={config.seeds[0]}"
    candidates = [parent / name for name in (seed, f"{seed}-{rid[:6]}", f"{seed}-{rid}")]
    for folder in candidates:
        if folder_run_id(folder) == rid:
            return folder
    if not claim:
        return None
    for folder in candidates:
        if _claim(folder, rid):
            return folder
    raise RuntimeError(f"no free run folder for run {rid}: {', '.join(str(c) for c in candidates)} all hold other runs")


def _claim(folder: Path, rid: str) -> bool:
    """Make ``folder`` the run ``rid``'s: a folder that does not exist (or is empty) is created
    atomically with its ``run_id`` file, so a concurrent claimant sees either nothing or the owner."""
    owner = folder_run_id(folder)
    if owner is not None:
        return owner == rid
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        return False  # something that is no run of ours: leave it alone
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.claim-"))
    atomic_write_bytes(staging / RUN_ID_FILE, f"{rid}\n".encode())
    try:
        os.rename(staging, folder)  # replaces an empty folder; fails on one another process filled
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        return folder_run_id(folder) == rid
    return True


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
    atomic_write_bytes(run_dir / "summary.json", json.dumps(summary, indent=2, default=str).encode())
