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

**Schemas are checked before runs are unioned.** Every run writes its tables with an explicit
schema (the record contract's declared types, and one type per extra column; see
``dilemmazoo.experiments.records``), but runs of different code versions, worlds or hand-made
folders can still disagree. For each table, :func:`schema_drifts` compares the type every run's
file gives each column (parquet's own schema, read from the file footers); a column with two
types (``int64`` in one run, ``string`` in another, or ``int64`` and ``double``) is a
:class:`SchemaDrift`, and :func:`catalog` raises :class:`SchemaDriftError` naming the table,
the column, the types and the run folders holding each, instead of letting duckdb turn the
column into a common type. ``on_drift="report"`` opens the catalog anyway: it warns
(:class:`SchemaDriftWarning`, the same message), lists the drift in the ``schema_drift`` table,
and the drifting column takes duckdb's common type (e.g. ``VARCHAR``) in that table's view; the
conversion is then explicit, never silent.

What is no drift: a column only some runs have (a world's infos, when a catalog holds runs of
several worlds) is null in the other runs' rows; a column of nulls only (type ``null``, e.g. a
table with no rows written before schemas were declared) takes the other runs' type; ``string``
and ``large_string`` are one type. The ``schema_drift`` table (``table_name``, ``column_name``,
``column_type``, ``run_dir``: one row per drifting column, type and run) is empty when the runs agree.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
import yaml

from .metrics import find_runs

__all__ = ["RUN_COLUMNS", "TABLES", "SchemaDrift", "SchemaDriftError", "SchemaDriftWarning", "catalog",
           "grid_column_names", "schema_drifts"]

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


#: how many run folders a drift message names for each type before it says "and N more"
_NAMED_RUNS = 5


@dataclass(frozen=True)
class SchemaDrift:
    """One column that runs write with different types: ``types`` maps each type (``int64``,
    ``double``, ``string``, ...) to the run folders whose ``<table>.parquet`` has it."""

    table: str
    column: str
    types: Mapping[str, tuple[str, ...]]

    def message(self) -> str:
        """``column 'x' of steps.parquet is string in runs/b/seed=0 but int64 in runs/a/seed=0``
        (the type fewest runs hold first: usually the odd run out)."""
        parts = []
        for kind, folders in sorted(self.types.items(), key=lambda item: (len(item[1]), item[0])):
            named = ", ".join(folders[:_NAMED_RUNS])
            more = f" and {len(folders) - _NAMED_RUNS} more" if len(folders) > _NAMED_RUNS else ""
            parts.append(f"{kind} in {len(folders)} run{'s' if len(folders) > 1 else ''} ({named}{more})")
        return f"column {self.column!r} of {self.table}.parquet is " + " but ".join(parts)


class SchemaDriftError(ValueError):
    """Runs under one catalog write a column with different types; ``drifts`` lists each one."""

    def __init__(self, drifts: Sequence[SchemaDrift]):
        self.drifts = list(drifts)
        super().__init__(f"{_drift_text(self.drifts)}\nso they are not unioned; open the catalog with "
                         "on_drift='report' to union them anyway as duckdb's common type")


def _drift_text(drifts: Sequence[SchemaDrift]) -> str:
    lines = "\n".join(f"- {drift.message()}" for drift in drifts)
    return f"the runs' tables disagree on column types (schema drift):\n{lines}"


class SchemaDriftWarning(UserWarning):
    """:func:`catalog` with ``on_drift="report"`` found runs whose tables disagree on column types."""


def _logical_type(arrow_type) -> str:
    """A parquet column's type as the drift check compares it: string widths are one type."""
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "string"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type) or pa.types.is_binary_view(arrow_type):
        return "binary"
    return str(arrow_type)


def _drifts(files: Mapping[str, Mapping[str, Path]]) -> list[SchemaDrift]:
    """``files``: table -> run folder -> its parquet file; the drift between the files' schemas."""
    import pyarrow.parquet as pq

    drifts = []
    for table, by_run in files.items():
        seen: dict[str, dict[str, list[str]]] = {}  # column -> type -> run folders
        for run_dir, file in by_run.items():
            for field in pq.read_schema(file):
                kind = _logical_type(field.type)
                if kind != "null":  # a column of nulls takes any type
                    seen.setdefault(field.name, {}).setdefault(kind, []).append(str(run_dir))
        drifts += [SchemaDrift(table, column, {kind: tuple(runs) for kind, runs in types.items()})
                   for column, types in seen.items() if len(types) > 1]
    return drifts


def _finished_runs(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The runs under ``path``, once each: run id -> its ``runs`` row, and run id -> its grid cell.

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
    return rows, cells


def _table_files(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Path]]:
    """table -> run folder -> its ``<table>.parquet``, for the runs that have the file."""
    files: dict[str, dict[str, Path]] = {}
    for row in rows.values():
        for table in TABLES:
            file = Path(row["run_dir"]) / f"{table}.parquet"
            if file.is_file():
                files.setdefault(table, {})[row["run_dir"]] = file
    return files


def schema_drifts(path: str | Path) -> list[SchemaDrift]:
    """Every column that the finished runs under ``path`` write with different types, per table
    (empty when they agree); :func:`catalog` raises or reports these."""
    rows, _ = _finished_runs(Path(path))
    return _drifts(_table_files(rows))


def catalog(path: str | Path, *, on_drift: Literal["raise", "report"] = "raise") -> duckdb.DuckDBPyConnection:
    """An in-memory duckdb connection with views over the runs under ``path``.

    A run found in two folders (the same config and seed, e.g. run once alone and once as a
    grid cell; the records are identical) counts once: the folder that names a grid cell wins.
    Before a table's files are unioned their schemas are compared (:func:`schema_drifts`): a
    column with different types in two runs raises :class:`SchemaDriftError` naming the table,
    the column, the types and the run folders; ``on_drift="report"`` warns instead
    (:class:`SchemaDriftWarning`) and unions them as duckdb's common type. A column that only
    some runs have is null in the others' rows.
    """
    if on_drift not in ("raise", "report"):
        raise ValueError(f"on_drift must be 'raise' or 'report', not {on_drift!r}")
    rows, cells = _finished_runs(Path(path))
    table_files = _table_files(rows)
    drifts = _drifts(table_files)
    if drifts and on_drift == "raise":
        raise SchemaDriftError(drifts)
    if drifts:
        warnings.warn(f"{_drift_text(drifts)}\nunioned as duckdb's common type (on_drift='report')", SchemaDriftWarning,
                      stacklevel=2)
    keys = list(dict.fromkeys(key for cell in cells.values() for key in cell))
    names = grid_column_names(keys)
    runs = pd.DataFrame(list(rows.values()), columns=list(RUN_COLUMNS))
    for position, key in enumerate(keys, start=3):  # after run_id, experiment, world, in grid order
        runs.insert(position, names[key], _typed([cells[rid].get(key) for rid in rows]))
    con = duckdb.connect()
    con.register("runs_frame", runs)
    con.execute("create view runs as select * from runs_frame")
    con.execute("create table schema_drift (table_name varchar, column_name varchar, column_type varchar, "
                "run_dir varchar)")
    drift_rows = [(d.table, d.column, kind, run_dir) for d in drifts for kind, folders in d.types.items()
                  for run_dir in folders]
    if drift_rows:
        con.executemany("insert into schema_drift values (?, ?, ?, ?)", drift_rows)
    # each data file is registered with the run id of the summary beside it; the key=value folder
    # names are no hive partitions (duckdb would read them as extra columns)
    run_of = {row["run_dir"]: rid for rid, row in rows.items()}
    files = pd.DataFrame([{"filename": str(file), "run_id": run_of[run_dir], "table": table}
                          for table, by_run in table_files.items() for run_dir, file in by_run.items()],
                         columns=["filename", "run_id", "table"])
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
