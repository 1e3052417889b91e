"""Published numbers: what a paper reported, beside what a run of its preset measured.

Presets that reproduce a paper (``govsim_fishery``, ``donor_game``, ``akata_repeated_games``,
``atp_exploration``, ``tax_icrl``, ...) have a data file ``analysis/published/<preset>.yaml``
(package data) with the paper's reported figures. Every figure was taken from the project's
paper specs (``specs/*.md``), never made up: each carries the spec sentence it comes from
(``quote``) and where in the paper that is (``source``, as the spec gives it). Where a spec
reports a finding only in words, or says the paper's tables are not retrievable (the LLM
Economist), the figure has no number and the table shows the words.

File format::

    preset: govsim_fishery
    paper: 'Piatti et al., "Cooperate or Collapse", NeurIPS 2024'
    spec: specs/commons.md
    notes: [...]                     # shown under the table
    figures:
      - name: survival rate          # the paper's figure, in words
        metric: survival_rate        # the run's metric it is compared with (null: none)
        model: GPT-4o (the best model)
        value: 0.533                 # in the metric's units (shares as fractions), or null
        range: [0.5, 0.54]           # instead of value, for a reported range
        reported: "53.3%"            # as the paper/spec writes it
        source: Table 1
        quote: "Table 1 (GPT-4o best): survival rate 53.3%, ..."
        select: {world.kwargs.predict_first: true}   # only runs of these grid cells (optional)
        reduce: mean                 # for a metric that maps generations to numbers (optional)
        note: ...                    # optional

A figure's ``metric`` is a key of the run's ``summary.json`` metrics or one of
:data:`DERIVED_METRICS`, computed here from the run's steps where the summary has no such
number (the battle of the sexes' coordination rate, the first-round violation rate, the
share of collective choosers who choose it again after it succeeded). ``select`` keys are
dotted config paths, matched against the run's grid cell (``summary["cell"]``: raw value or
label) and else its resolved config. The run's value is the mean over the matching runs (NaNs
left out); the difference is run minus paper, or, for a range, the distance outside it (0
inside, negative below).

Functions: :func:`published_presets`, :func:`load_published`, :func:`published_for`,
:func:`comparison_table` (pure: runs given as mappings), :func:`published_tables` (for the
report: run records grouped by world and preset).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .atp import own_answers, own_choices
from .metrics import RunRecords

__all__ = ["DERIVED_METRICS", "TABLE_COLUMNS", "PublishedFigure", "PublishedNumbers", "comparison_table",
           "load_published", "published_for", "published_presets", "published_tables"]

TABLE_COLUMNS = ("figure", "model", "paper (as reported)", "source", "paper value", "metric", "this run", "runs",
                 "difference", "note")
_TOP_KEYS = {"preset", "paper", "spec", "notes", "figures"}
_FIGURE_KEYS = {"name", "metric", "model", "value", "range", "reported", "source", "quote", "select", "reduce", "note"}
_REDUCERS = ("mean", "last")


@dataclass(frozen=True)
class PublishedFigure:
    """One reported figure (module docstring): ``value`` or ``low``/``high`` in the run metric's
    units, or neither where the paper gives no number."""

    name: str
    reported: str
    source: str
    quote: str
    metric: str | None = None
    model: str | None = None
    value: float | None = None
    low: float | None = None
    high: float | None = None
    select: dict[str, Any] = field(default_factory=dict)
    reduce: str | None = None
    note: str = ""

    @property
    def has_number(self) -> bool:
        return self.value is not None or self.low is not None

    def difference(self, run_value: float | None) -> float | None:
        """Run minus paper; for a range, the distance outside it (0 inside); ``None`` when either is missing."""
        if run_value is None or not math.isfinite(run_value) or not self.has_number:
            return None
        if self.value is not None:
            return run_value - self.value
        if run_value < self.low:
            return run_value - self.low
        if run_value > self.high:
            return run_value - self.high
        return 0.0


@dataclass(frozen=True)
class PublishedNumbers:
    """A preset's published figures: the paper, the spec they were taken from, notes, figures."""

    preset: str
    paper: str
    spec: str
    figures: tuple[PublishedFigure, ...]
    notes: tuple[str, ...] = ()


def _folder():
    return resources.files("dilemmazoo.analysis") / "published"


def published_presets() -> list[str]:
    """Preset names with published numbers, sorted."""
    return sorted(Path(p.name).stem for p in _folder().iterdir() if p.name.endswith(".yaml"))


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ValueError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


def _figure(where: str, data: Any) -> PublishedFigure:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: a figure must be a mapping, got {data!r}")
    unknown = set(data) - _FIGURE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_FIGURE_KEYS)}")
    for key in ("name", "reported", "source", "quote"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ValueError(f"{where}: '{key}' must be a non-empty string (every figure says what was reported, "
                             "where in the paper, and the spec's words)")
    value = data.get("value")
    bounds = data.get("range")
    if value is not None and bounds is not None:
        raise ValueError(f"{where}: give 'value' or 'range', not both")
    low = high = None
    if bounds is not None:
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise ValueError(f"{where}: 'range' must be [low, high], got {bounds!r}")
        low, high = _number(f"{where}.range", bounds[0]), _number(f"{where}.range", bounds[1])
        if low > high:
            raise ValueError(f"{where}: 'range' must be [low, high] with low <= high, got {bounds!r}")
    select = data.get("select") or {}
    if not isinstance(select, Mapping):
        raise ValueError(f"{where}: 'select' must map dotted config keys to values, got {select!r}")
    reduce = data.get("reduce")
    if reduce is not None and reduce not in _REDUCERS:
        raise ValueError(f"{where}: 'reduce' must be one of {_REDUCERS}, got {reduce!r}")
    metric = data.get("metric")
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise ValueError(f"{where}: 'metric' must be a metric name or null, got {metric!r}")
    return PublishedFigure(
        name=data["name"], reported=str(data["reported"]), source=data["source"], quote=" ".join(data["quote"].split()),
        metric=metric, model=None if data.get("model") is None else str(data["model"]),
        value=None if value is None else _number(f"{where}.value", value), low=low, high=high,
        select=dict(select), reduce=reduce, note=str(data.get("note") or ""),
    )


def load_published(name_or_path: str | Path) -> PublishedNumbers:
    """A preset's published numbers, from its name or a YAML file; bad files raise ValueError naming the field."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        text, where = path.read_text(), str(path)
    else:
        found = _folder() / f"{name_or_path}.yaml"
        if not found.is_file():
            raise FileNotFoundError(f"no published numbers for {str(name_or_path)!r}; presets with them: "
                                    f"{', '.join(published_presets())}")
        text, where = found.read_text(), f"published/{name_or_path}.yaml"
    data = yaml.safe_load(text)
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: must be a mapping with {sorted(_TOP_KEYS)}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("preset", "paper", "spec"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ValueError(f"{where}: '{key}' must be a non-empty string")
    figures = data.get("figures")
    if not isinstance(figures, list) or not figures:
        raise ValueError(f"{where}: 'figures' must be a non-empty list")
    notes = data.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ValueError(f"{where}: 'notes' must be a list of strings")
    return PublishedNumbers(
        preset=data["preset"], paper=data["paper"], spec=data["spec"], notes=tuple(notes),
        figures=tuple(_figure(f"{where}: figures[{i}]", f) for i, f in enumerate(figures)),
    )


def published_for(preset_name: str) -> PublishedNumbers | None:
    """The published numbers of a preset, or ``None`` when it has none."""
    if not isinstance(preset_name, str) or preset_name not in published_presets():
        return None
    return load_published(preset_name)


# -- derived metrics (from a run's steps) ------------------------------------------------------

def coordination_rate(steps: pd.DataFrame) -> float:
    """Repeated games: share of action rounds in which both players played the same option,
    over rounds every player decided validly (as ``mutual_cooperation_rate`` counts them)."""
    acts = steps[steps["phase"] == "act"]
    if acts.empty:
        return math.nan
    rounds = acts.groupby(["episode", "step"])
    valid = rounds["fallback_used"].apply(lambda f: not f.fillna(False).astype(bool).any())
    same = rounds["played"].apply(lambda p: bool(p.nunique() == 1))[valid]
    return float(same.mean()) if len(same) else math.nan


def first_round_violation_rate(steps: pd.DataFrame) -> float:
    """ATP exploration: violations / own answers in each episode's first round."""
    answers = own_answers(steps)
    if answers.empty:
        return math.nan
    first = answers[answers["round"] == answers.groupby("episode")["round"].transform("min")]
    return float(pd.to_numeric(first["violated"]).mean())


def collective_repeated_after_success(steps: pd.DataFrame) -> float:
    """ATP diffusion: of the agents who chose the collective option in a round where it
    succeeded, the share who chose it again in the next round (own choices in both rounds)."""
    choices = own_choices(steps)
    if choices.empty:
        return math.nan
    choice = {(e, a, int(r)): int(c) for e, a, r, c in zip(choices["episode"], choices["agent"], choices["round"],
                                                           pd.to_numeric(choices["collective"]))}
    success = {(e, a, int(r)): bool(s) for e, a, r, s in zip(choices["episode"], choices["agent"], choices["round"],
                                                            choices["success"])}
    repeated = [choice[(e, a, r + 1)] for (e, a, r), c in choice.items()
                if c == 1 and success[(e, a, r)] and (e, a, r + 1) in choice]
    return float(np.mean(repeated)) if repeated else math.nan


#: metric name -> ``steps -> number``, for figures whose number no summary holds
DERIVED_METRICS: dict[str, Callable[[pd.DataFrame], float]] = {
    "coordination_rate": coordination_rate,
    "first_round_violation_rate": first_round_violation_rate,
    "collective_repeated_after_success": collective_repeated_after_success,
}


# -- the comparison table ----------------------------------------------------------------------

def _lookup(data: Any, key: str) -> Any:
    node = data
    for part in key.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    return node


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got or str(want).lower() == str(got).lower()
    return want == got or str(want) == str(got)


def _selected(run: Mapping[str, Any], select: Mapping[str, Any]) -> bool:
    cell = run.get("cell") or {}
    for key, want in select.items():
        if key in cell:
            if not _same(want, cell[key]):
                return False
        elif not _same(want, _lookup(run.get("config") or {}, key)):
            return False
    return True


def _value(run: Mapping[str, Any], figure: PublishedFigure) -> float | None:
    metrics = run.get("metrics") or {}
    value = metrics.get(figure.metric)
    if value is None and figure.metric in DERIVED_METRICS and run.get("steps") is not None:
        steps = run["steps"]
        try:
            value = DERIVED_METRICS[figure.metric](steps) if not steps.empty else None
        except (KeyError, ValueError):  # a run of another world, or records without the columns
            value = None
    if isinstance(value, Mapping):
        numbers = [float(v) for _, v in sorted(value.items(), key=lambda kv: float(kv[0]))
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))]
        if not numbers:
            return None
        value = numbers[-1] if figure.reduce == "last" else float(np.mean(numbers))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        return None
    return float(value)


def comparison_table(published: PublishedNumbers, runs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per figure (:data:`TABLE_COLUMNS`): the paper's figure as reported, its source,
    its value in the metric's units (the range as ``low–high`` text), the run's value (mean over
    the runs its ``select`` matches; missing (NaN) without one), how many runs, and the difference
    (NaN where either number is missing).

    ``runs`` are mappings with ``metrics`` (a ``summary.json`` metrics dict), optionally
    ``cell`` (``summary["cell"]``), ``config`` (the resolved config) and ``steps`` (for
    :data:`DERIVED_METRICS`).
    """
    rows = []
    for figure in published.figures:
        values = []
        if figure.metric is not None:
            values = [v for run in runs if _selected(run, figure.select) and (v := _value(run, figure)) is not None]
        run_value = float(np.mean(values)) if values else None
        if figure.value is not None:
            paper_value: Any = figure.value
        elif figure.low is not None:
            paper_value = f"{figure.low:g}–{figure.high:g}"
        else:
            paper_value = None
        where = ", ".join(f"{k}={v}" for k, v in figure.select.items())
        note = "; ".join(part for part in (f"runs with {where}" if where else "", figure.note) if part)
        rows.append({
            "figure": figure.name, "model": figure.model or "–", "paper (as reported)": figure.reported,
            "source": figure.source, "paper value": paper_value, "metric": figure.metric or "–",
            "this run": run_value, "runs": len(values), "difference": figure.difference(run_value), "note": note,
        })
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def published_tables(runs: Sequence[RunRecords]) -> dict[str, list[tuple[str, str, pd.DataFrame]]]:
    """For the report: world id -> ``(title, note, table)`` for each preset with published
    numbers among the runs' experiment names (``summary["experiment"]``, else the config's
    ``name``), compared with that preset's runs of that world."""
    found: dict[str, list[tuple[str, str, pd.DataFrame]]] = {}
    presets = set(published_presets())
    groups: dict[tuple[str, str], list[RunRecords]] = {}
    for run in runs:
        name = str(run.summary.get("experiment") or run.config.get("name") or "")
        if name in presets and not run.study_name:
            groups.setdefault((run.world, name), []).append(run)
    for (world, name), members in groups.items():
        published = load_published(name)
        table = comparison_table(published, [
            {"metrics": run.summary.get("metrics") or {}, "cell": run.summary.get("cell") or {}, "config": run.config,
             "steps": run.steps} for run in members])
        note = " ".join([f"From {published.paper}, as recorded in {published.spec}; this run's values are the mean "
                         f"over {len(members)} run(s) of preset {name}. Difference: this run minus the paper "
                         "(for a range, the distance outside it).", *published.notes])
        found.setdefault(world, []).append((f"Published numbers: {name}", note, table))
    return found
