"""Plots and one self-contained HTML report for a training run.

Three trainers write run folders this module reads (it never imports them: the analysis layer
reads files):

- ``policy_gradient`` (:mod:`dilemmazoo.agents.trainers.llm_trainer`, ``dilemmazoo train PRESET``):
  ``config.yaml`` (the resolved training config), ``metrics.jsonl`` (one JSON object per
  iteration), ``checkpoints/iter_NNNNNN/`` and, after training, ``evaluation.json`` (the
  round-robin: one row per adapter and opponent).
- ``grpo`` (:mod:`dilemmazoo.agents.trainers.grpo`, TRL's GRPOTrainer): ``config.yaml`` with
  ``algorithm: grpo`` and ``metrics.jsonl`` in the same row format.
- ``ippo`` (:mod:`dilemmazoo.agents.trainers.ippo`, ``dilemmazoo train ippo``): ``config.json``
  and ``metrics.csv``.

:func:`training_figures` draws each run kind's figures against the iteration, skipping a figure
whose series are all missing (e.g. no cooperation rate in Trust-and-Split);
:func:`write_training_plots` saves them as ``plots/<name>.png``; :func:`write_training_report`
renders ``templates/training_report.html`` into ``report.html``: the configuration, headline
figures (first iteration, last iteration, best, and the change), the plots, the round-robin
evaluation as an adapter x opponent table, a per-iteration table (at most
``_MAX_TABLE_ROWS`` rows, evenly spaced, always the first and last) and the checkpoints.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.figure import Figure

from .html import render_template, write_html
from .plots import _finish, _new_figure, figure_to_data_uri

__all__ = [
    "TRAINING_FIGURES",
    "TrainingRun",
    "is_training_run",
    "load_training_run",
    "training_figures",
    "write_training_plots",
    "write_training_report",
]

TEMPLATE = "training_report.html"
_MAX_TABLE_ROWS = 25

# run kind -> figure name -> (title, y label, metric keys); the keys the trainers log
_LANGUAGE_FIGURES = {
    "returns": ("Returns per round", "points per round", ("return_per_round", "other_return_per_round",
                                                        "welfare_per_round")),
    "cooperation": ("Cooperation and split efficiency", "rate", ("cooperation_rate", "split_efficiency")),
    "exploitation": ("Against the greedy probe", "points per round", ("vs_greedy_return_per_round",
                                                                     "vs_greedy_exploitation")),
    "loss": ("Loss", "loss", ("loss", "pg_loss")),
    "kl_entropy": ("KL to the base model and entropy", "nats per action token", ("kl", "entropy")),
    "invalid": ("Answers that did not parse", "count per iteration", ("fallbacks",)),
    "credit": ("Credit per decision (and the A-GRAE success share)", "value",
               ("credit_mean", "credit_abs_mean", "agrae_success_rate")),
}
TRAINING_FIGURES: dict[str, dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "policy_gradient": _LANGUAGE_FIGURES,
    "grpo": _LANGUAGE_FIGURES,
    "ippo": {
        "returns": ("Episode return per agent", "return", ("return", "return_min", "return_max")),
        "social_outcomes": ("Social outcomes (Perolat et al. 2017)", "value",
                            ("efficiency", "equality", "sustainability", "peace")),
        "behaviour": ("Behaviour per agent per episode", "count", ("apples", "fired", "cleaned")),
        "losses": ("PPO losses", "loss", ("policy_loss", "value_loss")),
        "entropy": ("Entropy and approximate KL", "nats", ("entropy", "approx_kl")),
        "credit": ("Credit: advantage and the term the credit rule adds", "mean absolute value",
                   ("advantage_abs", "credit_term_abs")),
    },
}

# run kind -> headline metrics (shown first, last, best, change)
_HEADLINE = {
    "policy_gradient": ("return_per_round", "other_return_per_round", "welfare_per_round", "cooperation_rate",
                        "split_efficiency", "vs_greedy_exploitation", "fallbacks", "loss", "kl", "entropy",
                        "tokens_per_s", "seconds"),
    "grpo": ("return_per_round", "other_return_per_round", "cooperation_rate", "split_efficiency", "fallbacks",
             "loss", "kl", "seconds"),
    "ippo": ("return", "return_min", "apples", "fired", "cleaned", "efficiency", "equality", "sustainability",
             "peace", "entropy", "credit_term_abs", "agent_steps_per_s"),
}
# metrics where lower is better (the "best" column takes the minimum)
_LOWER_IS_BETTER = {"vs_greedy_exploitation", "fallbacks", "loss", "pg_loss", "kl", "seconds", "fired",
                    "policy_loss", "value_loss"}
_EVALUATION_KEYS = ("return_per_round", "other_return_per_round", "cooperation_rate", "split_efficiency")


@dataclass(frozen=True)
class TrainingRun:
    """A training run folder as read from disk: ``kind`` (a key of :data:`TRAINING_FIGURES`),
    the configuration, one metrics dict per iteration, the evaluation rows and the checkpoints."""

    path: Path
    kind: str
    config: dict[str, Any]
    rows: list[dict[str, Any]]
    evaluation: list[dict[str, Any]]
    checkpoints: list[str]


def is_training_run(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by one of the trainers (see the module docstring)."""
    path = Path(path)
    return path.is_dir() and ((path / "metrics.jsonl").exists() or
                              ((path / "metrics.csv").exists() and (path / "config.json").exists()))


def _number(value: Any) -> Any:
    """CSV cells and JSON nulls as numbers (NaN for missing); other values unchanged."""
    if value is None or value == "":
        return math.nan
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def load_training_run(path: str | Path) -> TrainingRun:
    """Read a training run folder; a ``FileNotFoundError`` when it holds no trainer's metrics."""
    path = Path(path)
    if not is_training_run(path):
        raise FileNotFoundError(f"{str(path)!r} is not a training run (no metrics.jsonl, or metrics.csv with "
                                "config.json)")
    if (path / "metrics.jsonl").exists():
        config = yaml.safe_load((path / "config.yaml").read_text()) if (path / "config.yaml").exists() else {}
        config = config or {}
        kind = "grpo" if config.get("algorithm") == "grpo" else "policy_gradient"
        rows = []
        for number, line in enumerate((path / "metrics.jsonl").read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append({key: _number(value) for key, value in json.loads(line).items()})
            except json.JSONDecodeError as error:  # a line cut by an interrupted write: keep the rest
                raise ValueError(f"{path / 'metrics.jsonl'} line {number} is not JSON: {error}") from None
    else:
        kind = "ippo"
        config = json.loads((path / "config.json").read_text())
        with open(path / "metrics.csv", newline="") as handle:
            rows = [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    evaluation = json.loads((path / "evaluation.json").read_text()) if (path / "evaluation.json").exists() else []
    checkpoint_dir = path / "checkpoints"
    checkpoints = sorted(p.name for p in checkpoint_dir.iterdir() if p.is_dir()) if checkpoint_dir.is_dir() else []
    if (path / "checkpoint.pt").exists():
        checkpoints.append("checkpoint.pt")
    return TrainingRun(path=path, kind=kind, config=config, rows=rows, evaluation=evaluation,
                       checkpoints=checkpoints)


def _series(rows: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    values = [row.get(key, math.nan) for row in rows]
    return np.array([v if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan for v in values],
                    dtype=np.float64)


def training_figures(run: TrainingRun) -> list[tuple[str, str, Figure]]:
    """``(name, title, figure)`` for each of the run kind's figures that has data."""
    x = _series(run.rows, "iteration")
    figures = []
    for name, (title, ylabel, keys) in TRAINING_FIGURES[run.kind].items():
        series = {key: _series(run.rows, key) for key in keys}
        series = {key: values for key, values in series.items() if not np.all(np.isnan(values))}
        if not series:
            continue
        figure = _new_figure(6.4, 3.6)
        axes = figure.subplots()
        for key, values in series.items():
            shown = ~np.isnan(values)  # a probe logged every k iterations: join its points
            axes.plot(x[shown], values[shown], marker="o", markersize=3, label=key)
        axes.set_xlabel("iteration")
        axes.set_ylabel(ylabel)
        axes.set_title(title, fontsize=10)
        axes.legend(fontsize=8)
        figures.append((name, title, figure))
    return figures


def write_training_plots(path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Save the run's figures as ``<out_dir>/<name>.png`` (default ``<run>/plots``); returns the files."""
    run = load_training_run(path)
    folder = Path(out_dir) if out_dir is not None else run.path / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, _, figure in training_figures(run):
        target = folder / f"{name}.png"
        _finish(figure, target)  # saves and closes
        written.append(target)
    return written


def _best(values: np.ndarray, key: str) -> float:
    finite = values[~np.isnan(values)]
    if not finite.size:
        return math.nan
    return float(finite.min() if key in _LOWER_IS_BETTER else finite.max())


def _headline(run: TrainingRun) -> list[dict[str, Any]]:
    rows = []
    for key in _HEADLINE[run.kind]:
        values = _series(run.rows, key)
        finite = values[~np.isnan(values)]
        if not finite.size:
            continue
        rows.append({"name": key, "first": float(finite[0]), "last": float(finite[-1]), "best": _best(values, key),
                     "change": float(finite[-1] - finite[0])})
    return rows


def _table_rows(run: TrainingRun) -> tuple[list[str], list[list[Any]]]:
    keys = ["iteration"] + [k for k in _HEADLINE[run.kind] if not np.all(np.isnan(_series(run.rows, k)))]
    count = len(run.rows)
    picked = sorted(set(np.linspace(0, count - 1, min(count, _MAX_TABLE_ROWS)).round().astype(int))) if count else []
    return keys, [[run.rows[i].get(k) for k in keys] for i in picked]


def _evaluation_tables(run: TrainingRun) -> list[dict[str, Any]]:
    """One adapter x opponent table per evaluation metric present in the rows."""
    if not run.evaluation:
        return []
    adapters = list(dict.fromkeys(str(row.get("adapter", "live")) for row in run.evaluation))
    opponents = list(dict.fromkeys(str(row.get("opponent")) for row in run.evaluation))
    cells = {(str(row.get("adapter", "live")), str(row.get("opponent"))): row for row in run.evaluation}
    tables = []
    for key in _EVALUATION_KEYS:
        if not any(_number(row.get(key)) == _number(row.get(key)) for row in run.evaluation):  # all NaN/missing
            continue
        tables.append({"metric": key, "opponents": [_short(o) for o in opponents],
                       "rows": [{"adapter": _short(a),
                                 "values": [_number(cells.get((a, o), {}).get(key)) for o in opponents]}
                                for a in adapters]})
    return tables


def _short(name: str) -> str:
    """A checkpoint path by its folder name (``adapter:`` kept), other names unchanged."""
    if "/" not in name:
        return name
    prefix = "adapter:" if name.startswith("adapter:") else ""
    return prefix + Path(name.split(":", 1)[-1]).name


def _config_lines(config: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    lines = []
    for key, value in config.items():
        if isinstance(value, dict) and value:
            lines.extend(_config_lines(value, f"{prefix}{key}."))
        else:
            lines.append((f"{prefix}{key}", value))
    return lines


def write_training_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for the training run at ``path`` (or to ``out``); return its path."""
    run = load_training_run(path)
    keys, table = _table_rows(run)
    title = run.config.get("name") or run.config.get("run_name") or run.path.name
    context = {
        "title": f"Training report: {title}",
        "source": str(run.path),
        "kind": run.kind,
        "iterations": len(run.rows),
        "config": _config_lines(run.config),
        "headline": _headline(run),
        "figures": [{"title": t, "uri": figure_to_data_uri(f)} for _, t, f in training_figures(run)],
        "evaluation": _evaluation_tables(run),
        "table_keys": keys,
        "table": table,
        "checkpoints": run.checkpoints,
    }
    target = Path(out) if out is not None else run.path / "report.html"
    if target.is_dir():
        target = target / "report.html"
    return write_html(target, render_template(TEMPLATE, context))
