"""A duckdb catalog over every finished run under a folder: SQL across a grid.

    con = catalog("runs/donor_game")
    con.execute("select seed, generation, avg(resources) from steps join runs using (run_id) "
                "group by all order by all").df()

Views: ``runs`` (one row per ``summary.json``: run_id, experiment, world, seed, wall_time_s,
status) and ``steps``, ``episodes``, ``population``, ``llm_calls`` (each file's rows with a
``run_id`` column taken from its folder). Only folders with a ``summary.json`` count.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd

from .metrics import find_runs

__all__ = ["TABLES", "catalog"]

TABLES = ("steps", "episodes", "population", "llm_calls")


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def catalog(path: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory duckdb connection with views over the runs under ``path``."""
    run_dirs = find_runs(Path(path))
    if not run_dirs:
        raise ValueError(f"no finished runs (folders with summary.json) under {path}")
    con = duckdb.connect()
    summaries = []
    for run_dir in run_dirs:
        s = json.loads((run_dir / "summary.json").read_text())
        summaries.append({k: s.get(k) for k in ("run_id", "experiment", "world", "seed", "wall_time_s", "status")}
                         | {"run_dir": str(run_dir)})
    con.register("runs_frame", pd.DataFrame(summaries))
    con.execute("create view runs as select * from runs_frame")
    for table in TABLES:
        files = [run_dir / f"{table}.parquet" for run_dir in run_dirs if (run_dir / f"{table}.parquet").exists()]
        if not files:
            continue
        listing = ", ".join(_quote(f) for f in files)
        # run_id is the name of the folder holding each file
        con.execute(
            f"create view {table} as select * exclude (filename), "
            f"regexp_extract(filename, '([^/]+)/[^/]+$', 1) as run_id "
            f"from read_parquet([{listing}], filename = true, union_by_name = true)"
        )
    return con
