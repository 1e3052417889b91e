"""A duckdb catalog over every finished run under a folder: SQL across a grid.

    con = catalog("runs/multiplier_sweep")
    con.execute("select donation_multiplier, seed, avg(reward) from steps join runs using (run_id) "
                "group by all order by all").df()

Views: ``runs`` (one row per finished run: ``run_id``, ``experiment``, ``world``, one column per
swept grid key holding the run's value, ``seed``, ``wall_time_s``, ``status``,
``dilemmazoo_version``, ``git_commit``, ``run_dir``) and ``steps``, ``episodes``, ``population``,
``llm_calls`` (each file's rows with the ``run_id`` of the run that wrote it, read from its
``summary.json``). Only folders with a ``summary.json`` count.

A swept key's column is named by the key's last part (``world.kwargs.donation_multiplier`` ->
``donation_multiplier``) where that is unambiguous among the keys, else by the whole dotted key
(:func:`grid_column_names`); run folders use the same names. Numbers and booleans stay typed;
labelled axes give their labels.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from .metrics import find_runs

__all__ = ["RUN_COLUMNS", "TABLES", "catalog", "grid_column_names"]

TABLES = ("steps", "episodes", "population", "llm_calls")
#: the ``runs`` view's columns besides the swept keys
RUN_COLUMNS = ("run_id", "experiment", "world", "seed", "wall_time_s", "status", "dilemmazoo_version", "git_commit",
               "run_dir")


def grid_column_names(keys: Sequence[str]) -> dict[str, str]:
    """Dotted grid key -> its short name: the last part where no other key ends the same way and
    it names no fixed ``runs`` column (``seed``...), else the dotted key itself (``cell.<key>``
    when even that is a fixed column's name)."""
    last = {key: _last_part(key) for key in keys}
    counts = Counter(last.values())
    names = {}
    for key in keys:
        name = last[key] if counts[last[key]] == 1 and last[key] not in RUN_COLUMNS else key
        names[key] = f"cell.{key}" if name in RUN_COLUMNS else name
    return names


def _last_part(key: str) -> str:
    """``world.kwargs.voting`` -> ``voting``; a list index keeps its list (``agents.1`` stays whole)."""
    parts = key.split(".")
    tail = [parts.pop()]
    while parts and tail[0].isdigit():
        tail.insert(0, parts.pop())
    return ".".join(tail)


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _cell_of(run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The run's grid cell: ``summary.json``'s, or for runs written before summaries held it the
    labels in ``config.yaml``."""
    if "cell" in summary:
        return dict(summary["cell"] or {})
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        return dict((yaml.safe_load(config_path.read_text()) or {}).get("cell") or {})
    return {}


def _typed(values: list[Any]) -> pd.Series:
    """One swept key's column: numbers or booleans when every run has one, else text."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pd.Series(values, dtype="boolean")
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        kind = "Int64" if all(isinstance(v, int) for v in present) else "Float64"
        return pd.Series(values, dtype=kind)
    return pd.Series([None if v is None else str(v) for v in values], dtype="object")


def catalog(path: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory duckdb connection with views over the runs under ``path``.

    A run found in two folders (the same config and seed, e.g. run once alone and once as a
    grid cell; the records are identical) counts once: the folder that names a grid cell wins.
    """
    run_dirs = find_runs(Path(path))
    if not run_dirs:
        raise ValueError(f"no finished runs (folders with summary.json) under {path}")
    rows: dict[str, dict[str, Any]] = {}
    cells: dict[str, dict[str, Any]] = {}
    for run_dir in run_dirs:
        summary = json.loads((run_dir / "summary.json").read_text())
        rid = str(summary.get("run_id") or run_dir.name)
        cell = _cell_of(run_dir, summary)
        if rid in rows and (cells[rid] or not cell):
            continue
        provenance = summary.get("provenance") or {}
        rows[rid] = {
            "run_id": rid, "experiment": summary.get("experiment"), "world": summary.get("world"),
            "seed": summary.get("seed"), "wall_time_s": summary.get("wall_time_s"), "status": summary.get("status"),
            "dilemmazoo_version": provenance.get("dilemmazoo_version"), "git_commit": provenance.get("git_commit"),
            "run_dir": str(run_dir),
        }
        cells[rid] = cell
    keys = list(dict.fromkeys(key for cell in cells.values() for key in cell))
    names = grid_column_names(keys)
    runs = pd.DataFrame(list(rows.values()), columns=list(RUN_COLUMNS))
    for position, key in enumerate(keys, start=3):  # after run_id, experiment, world, in grid order
        runs.insert(position, names[key], _typed([cells[rid].get(key) for rid in rows]))
    con = duckdb.connect()
    con.register("runs_frame", runs)
    con.execute("create view runs as select * from runs_frame")
    # each data file is registered with the run id of the summary beside it; the key=value folder
    # names are no hive partitions (duckdb would read them as extra columns)
    files = pd.DataFrame([{"filename": str(Path(row["run_dir"]) / f"{table}.parquet"), "run_id": rid, "table": table}
                          for rid, row in rows.items() for table in TABLES])
    files = files[[Path(name).is_file() for name in files["filename"]]]
    con.register("run_files", files)
    for table in TABLES:
        listing = ", ".join(_quote(Path(name)) for name in files.loc[files["table"] == table, "filename"])
        if not listing:
            continue
        con.execute(
            f"create view {table} as select data.* exclude (filename), run_files.run_id "
            f"from read_parquet([{listing}], filename = true, union_by_name = true, hive_partitioning = false) as data "
            f"join run_files on data.filename = run_files.filename"
        )
    return con
