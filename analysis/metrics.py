"""Generic metrics on run records: loading, decision and LLM-call statistics, inequality.

Everything here is a pure function of the files a run writes (see the record contract in
``experiments/records.py``): ``config.yaml``, ``steps.parquet``, ``episodes.parquet``,
``population.parquet``, ``llm_calls.parquet`` and ``summary.json``. The analysis layer reads
those files by name and imports nothing from ``dilemmazoo.experiments``.

Inequality follows the mean-absolute-difference definition of the Gini coefficient
(Gini 1912; Sen 1973, *On Economic Inequality*, eq. 2.9)::

    G = sum_i sum_j |x_i - x_j| / (2 n^2 mean(x))

and equality is ``1 - G``, the "equality" metric of Perolat et al. (2017) and Leibo et al.
(2017) for sequential social dilemmas. It lies in [0, 1] for non-negative values; with a
negative value (or a total <= 0) the formula leaves that range (1.12 was seen), so
:func:`equality` is then NaN and :func:`equality_nan_reason` says why.

Rates over decisions (every world's metrics, ``analysis/<world>.py``) count valid decisions
only: a fallback is the world's move for an answer that never parsed, not a choice. They
report ``valid_decisions`` and ``fallbacks`` beside the rates, and a rate with no valid
decision is NaN with its reason in ``nan_reasons`` (:func:`with_nan_reasons`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

__all__ = [
    "RunRecords",
    "decision_stats",
    "decisions_by_generation",
    "equality",
    "equality_nan_reason",
    "find_runs",
    "flag_column",
    "gini",
    "llm_call_stats",
    "load_run",
    "require_columns",
    "valid_decision_counts",
    "with_nan_reasons",
]

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"
_TABLE_FILES = {
    "steps": "steps.parquet",
    "episodes": "episodes.parquet",
    "population": "population.parquet",
    "llm_calls": "llm_calls.parquet",
    "study": "study.parquet",  # a study run's table (experiments/studies.py); absent for played runs
}


@dataclass
class RunRecords:
    """Everything one run directory holds. A missing file reads as an empty frame or dict."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    steps: pd.DataFrame = field(default_factory=pd.DataFrame)
    episodes: pd.DataFrame = field(default_factory=pd.DataFrame)
    population: pd.DataFrame = field(default_factory=pd.DataFrame)
    llm_calls: pd.DataFrame = field(default_factory=pd.DataFrame)
    study: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def study_name(self) -> str:
        """The study a study run computed (``summary.json`` provenance), or ``""`` for a played run."""
        return str((self.summary.get("provenance") or {}).get("study") or "")

    @property
    def run_id(self) -> str:
        """The run id from ``summary.json``, else the directory name."""
        return str(self.summary.get("run_id") or self.path.name)

    @property
    def world(self) -> str:
        """The registered world id (``dilemmazoo/<name>-v0``), or ``""`` when unknown."""
        return str(self.summary.get("world") or "")

    @property
    def seed(self) -> int | None:
        seed = self.summary.get("seed")
        return None if seed is None else int(seed)


def load_run(run_dir: str | Path) -> RunRecords:
    """Read one run directory into a :class:`RunRecords`.

    Missing parquet files become empty DataFrames and a missing ``config.yaml`` or
    ``summary.json`` an empty dict, so that partial runs can still be inspected.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist")
    records = RunRecords(path=run_dir)
    config_path = run_dir / CONFIG_FILE
    if config_path.is_file():
        records.config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    summary_path = run_dir / SUMMARY_FILE
    if summary_path.is_file():
        records.summary = json.loads(summary_path.read_text(encoding="utf-8"))
    for attribute, file_name in _TABLE_FILES.items():
        table_path = run_dir / file_name
        if table_path.is_file():
            setattr(records, attribute, pd.read_parquet(table_path))
    return records


def find_runs(path: str | Path) -> list[Path]:
    """Run directories under ``path``: ``path`` itself if it is one, else every directory
    below it, at any depth (``<exp>/<key=value>/seed=N/``), holding ``summary.json`` (a
    finished run), sorted by path."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    if (path / SUMMARY_FILE).is_file():
        return [path]
    return sorted(summary.parent for summary in path.rglob(SUMMARY_FILE) if summary.is_file() and _finished(path, summary.parent))


def _finished(root: Path, run_dir: Path) -> bool:
    """Not in a hidden folder (``.damaged/``, ``.llm_cache/``), and, for folders that carry a
    ``run_id`` file, holding the completion marker (``complete.json``, written last)."""
    if any(part.startswith(".") for part in run_dir.relative_to(root).parts):
        return False
    return (run_dir / "complete.json").is_file() or not (run_dir / "run_id").is_file()


def require_columns(steps: pd.DataFrame, columns: Iterable[str], world: str) -> None:
    """A ``ValueError`` naming the columns ``steps`` lacks, for a world's metrics."""
    missing = [column for column in columns if column not in steps.columns]
    if missing:
        raise ValueError(f"steps lacks the column(s) {missing}; is this a {world} run?")


def flag_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """A boolean column, with missing values read as False."""
    return frame[column].fillna(False).astype(bool)


def decision_stats(steps: pd.DataFrame) -> dict[str, Any]:
    """Decisions taken, answers that did not parse, and fallbacks the world applied.

    ``decisions`` counts rows with ``decided`` (every row when the column is absent);
    ``parse_failures`` sums the failed answers (a decision retried twice counts 2);
    ``fallback_rate = fallbacks / decisions`` (0.0 when there were no decisions).
    """
    decisions = int(flag_column(steps, "decided").sum()) if "decided" in steps else len(steps)
    parse_failures = int(steps["parse_failures"].fillna(0).sum()) if "parse_failures" in steps else 0
    fallbacks = int(flag_column(steps, "fallback_used").sum()) if "fallback_used" in steps else 0
    return {
        "decisions": decisions,
        "parse_failures": parse_failures,
        "fallbacks": fallbacks,
        "fallback_rate": fallbacks / decisions if decisions else 0.0,
    }


def valid_decision_counts(steps: pd.DataFrame) -> dict[str, int]:
    """``valid_decisions`` (decisions the agent made itself) and ``fallbacks`` (decisions the
    world's fallback replaced), the counts every world's rates are reported beside."""
    stats = decision_stats(steps)
    return {"valid_decisions": stats["decisions"] - stats["fallbacks"], "fallbacks": stats["fallbacks"]}


def _undefined(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def with_nan_reasons(metrics: Mapping[str, Any], reasons: Mapping[str, str]) -> dict[str, Any]:
    """``metrics`` with every undefined number (None, NaN, infinite) as NaN, and, when there is
    one, ``"nan_reasons"``: ``{metric name: reason}``, the reason from ``reasons`` (by name).

    Numbers inside a dict value (per generation, per policy) are named ``"<metric>.<key>"``
    and take the reason of ``"<metric>"`` unless ``reasons`` names them. A NaN without a reason
    is a bug in the metric: it raises ``KeyError`` rather than print an unexplained NaN.
    """
    result: dict[str, Any] = {}
    why: dict[str, str] = {}

    def reason_for(name: str, parent: str | None = None) -> str:
        if name in reasons:
            return reasons[name]
        if parent is not None and parent in reasons:
            return reasons[parent]
        raise KeyError(f"metric {name!r} is undefined and no reason was given")

    for name, value in metrics.items():
        if isinstance(value, Mapping):
            inner = {}
            for key, item in value.items():
                if _undefined(item):
                    inner[key] = math.nan
                    why[f"{name}.{key}"] = reason_for(f"{name}.{key}", name)
                else:
                    inner[key] = item
            result[name] = inner
        elif _undefined(value):
            result[name] = math.nan
            why[name] = reason_for(name)
        else:
            result[name] = value
    if why:
        result["nan_reasons"] = why
    return result


def decisions_by_generation(steps: pd.DataFrame) -> pd.DataFrame:
    """:func:`decision_stats` per generation: a frame indexed by ``generation`` with
    columns decisions, parse_failures, fallbacks, fallback_rate."""
    if "generation" not in steps:
        raise ValueError("steps has no 'generation' column")
    rows = {int(generation): decision_stats(group) for generation, group in steps.groupby("generation", sort=True)}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["decisions", "parse_failures", "fallbacks", "fallback_rate"])
    frame.index.name = "generation"
    return frame


def llm_call_stats(llm_calls: pd.DataFrame) -> dict[str, Any]:
    """Totals over ``llm_calls.parquet``.

    Returns calls, cached, cache_hit_rate (cached / calls, 0.0 without calls),
    prompt_tokens, completion_tokens, total_latency_s, cost_usd (unknown costs count 0)
    and errors (calls whose answer caused a parse or backend error).
    """
    calls = len(llm_calls)

    def total(column: str) -> float:
        return float(llm_calls[column].fillna(0).sum()) if column in llm_calls and calls else 0.0

    cached = int(flag_column(llm_calls, "cached").sum()) if "cached" in llm_calls else 0
    errors = int((llm_calls["error"].fillna("").astype(str) != "").sum()) if "error" in llm_calls else 0
    return {
        "calls": calls,
        "cached": cached,
        "cache_hit_rate": cached / calls if calls else 0.0,
        "prompt_tokens": int(total("prompt_tokens")),
        "completion_tokens": int(total("completion_tokens")),
        "total_latency_s": total("latency_s"),
        "cost_usd": total("cost_usd"),
        "errors": errors,
    }


def gini(values: Any) -> float:
    """Gini coefficient ``G = sum_ij |x_i - x_j| / (2 n^2 mean)`` of non-negative values.

    0 when everyone holds the same (including all zeros), ``(n - 1) / n`` when one holds
    everything. Computed in O(n log n) from the sorted values: with ``x_(1) <= ... <= x_(n)``,
    ``sum_ij |x_i - x_j| = 2 sum_i (2i - n - 1) x_(i)``.
    """
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("gini of no values is undefined")
    if np.isnan(x).any():
        raise ValueError("gini got NaN values")
    if (x < 0).any():
        raise ValueError("gini is defined for non-negative values only")
    total = x.sum()
    if total == 0:
        return 0.0
    n = x.size
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * np.sort(x)).sum() / (n * total))


def equality_nan_reason(values: Any) -> str | None:
    """Why :func:`equality` of ``values`` is NaN, or None when it is defined."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        return "no returns to compare"
    if not np.isfinite(x).all():
        return "a return is not a finite number"
    if (x < 0).any():
        return f"a return is negative ({x.min():g}); 1 - Gini is defined for non-negative returns"
    return None


def equality(values: Any) -> float:
    """``1 - gini(values)``, in [0, 1]: 1 for a perfectly equal distribution (all zeros
    included), 1/n when one holds everything.

    NaN (see :func:`equality_nan_reason`) for no values, a non-finite value or a negative
    value: there the Gini formula leaves [0, 1] (a negative total gives more than 1).
    """
    if equality_nan_reason(values) is not None:
        return math.nan
    return 1.0 - gini(values)
