"""One self-contained HTML report for a run or an experiment (many runs, e.g. a seed grid).

``write_report(path)`` finds the run directories under ``path`` (those holding
``summary.json``), reads their records, computes the metrics, draws the plots as PNG embedded
as base64 data URIs, and renders ``templates/report.html`` (jinja2, autoescaped) into one
``report.html`` that can be mailed or archived on its own.

Sections: runs (id, seed, key config values, status, wall time), headline metrics and their
spread across runs, metrics by generation, plots, grid cells, decisions (parse failures, fallbacks),
LLM calls (cache hits, tokens, latency, cost), the final generation's strategy texts and the
resolved configs. Runs whose members' strategies are policy code (LLM policy synthesis) get a
synthesis section: metrics per iteration (table and plot), sparse against dense feedback when
the report holds both, and the code diffs between iterates (:mod:`.synthesis`). World-specific metrics and plots are looked up in :data:`WORLD_ANALYSES`
by ``summary["world"]``; a world without an entry still gets the generic sections and the
metrics its runs recorded in ``summary.json``.

Grid cells: the runs of an experiment grid that share every resolved config value except the
seed form one *cell* (:func:`grid_cells`). When a world's runs fall into two or more cells,
its section shows a table of headline metrics per cell (mean and standard deviation over the
cell's seeds) and, for worlds that define ``cell_figures``, those plots for each cell. A cell
is labelled by the config values that differ between cells, e.g.
``world.kwargs.growth_rate=0.2, agents.params.prior=selfish``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from . import WORLD_METRICS, commons, donor_game
from .commons_plots import commons_cell_figures, commons_figures, cpr_cell_figures, cpr_figures
from .metrics import RunRecords, decision_stats, find_runs, llm_call_stats, load_run
from .plots import donor_game_figures, figure_to_data_uri, note_figure, plot_decision_failures
from .synthesis import SYNTHESIS_METRICS, code_diffs, is_synthesis_population, synthesis_figure, synthesis_iterations

__all__ = ["WORLD_ANALYSES", "GridCell", "WorldAnalysis", "format_number", "grid_cells", "render_template", "write_html",
           "write_report"]

REPORT_FILE = "report.html"
TEMPLATE = "report.html"
_BY_GENERATION = "_by_generation"
_MAX_KEY_CONFIG_VALUES = 12


@dataclass(frozen=True)
class WorldAnalysis:
    """How to analyse one world's records.

    ``metrics(steps) -> dict`` returns JSON-safe numbers; keys ending in ``_by_generation``
    map a generation to a number and are shown as tables by generation, the others are
    headline scalars. ``figures(steps_by_run)`` returns (title, figure) pairs.
    ``descriptions`` explain metric names in the report.

    Optional: ``metric_options(world_kwargs) -> dict`` turns a run's ``world.kwargs`` into
    keyword arguments of ``metrics`` (what the records cannot tell, such as the horizon T);
    ``cell_metrics`` names the headline metrics of the per-grid-cell table (default: every
    numeric headline metric); ``cell_figures(steps_by_run)`` draws the plots shown for each
    grid cell.
    """

    metrics: Callable[..., dict[str, Any]]
    figures: Callable[[Mapping[str, pd.DataFrame]], list[tuple[str, Figure]]]
    descriptions: Mapping[str, str] = field(default_factory=dict)
    metric_options: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    cell_metrics: tuple[str, ...] = ()
    cell_figures: Callable[[Mapping[str, pd.DataFrame]], list[tuple[str, Figure]]] | None = None


_COMMONS_DESCRIPTIONS = {
    "survival_time": "round (month) of collapse, else the last round; mean over episodes",
    "survival_rate": "share of episodes that lasted all T rounds without collapse",
    "gain": "mean over agents of R_i, the total harvest an agent received",
    "efficiency": "1 - max(0, T f(0) - sum_i R_i) / (T f(0)) (Piatti et al. 2024)",
    "equality": "1 - Gini of the agents' total harvests R_i",
    "fallback_rate": "decisions replaced by the world's fallback / decisions",
    "episodes": "episodes in the run",
}


#: world id -> its analysis; other worlds plug in here
WORLD_ANALYSES: dict[str, WorldAnalysis] = {
    donor_game.WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[donor_game.WORLD_ID],
        figures=donor_game_figures,
        descriptions={
            "final_generation_avg_resources": "average final resources of the last generation (the headline)",
            "initial_cooperation": "mean share of resources donated in generation 1",
            "fallback_rate": "decisions replaced by the world's fallback / decisions",
            "avg_final_resources": "mean over agents and games of resources after the last round",
            "donation_fraction": "mean share of resources given in real donations (fallbacks excluded)",
            "punishment_rate": "% of real donor encounters that punished",
        },
    ),
    commons.GOVSIM_WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[commons.GOVSIM_WORLD_ID],
        figures=commons_figures,
        descriptions={
            **_COMMONS_DESCRIPTIONS,
            "over_usage": "share of (agent, month) harvest requests above the per-agent threshold (fallbacks left out)",
            "n_months": "horizon T in months",
        },
        metric_options=partial(commons.metric_options, commons.GOVSIM_WORLD_ID),
        cell_metrics=("survival_time", "survival_rate", "efficiency", "gain", "equality", "over_usage"),
        cell_figures=commons_cell_figures,
    ),
    commons.CPR_WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[commons.CPR_WORLD_ID],
        figures=cpr_figures,
        descriptions={
            **_COMMONS_DESCRIPTIONS,
            "efficiency": "1 - max(0, T MSY - sum_i R_i) / (T MSY), MSY = r K / 4 (GovSim's formula with f(0) = MSY)",
            "sanction_rate": "share of agent-rounds in which the agent was sanctioned",
            "norm_adherence": "share of agent-rounds under a group norm whose harvest was at most the norm",
            "over_usage": "share of agent-rounds flagged over the group norm (fallbacks left out)",
            "norm_similarity": "1 - mean pairwise |e_i - e_j| of efforts, mean over rounds (Gupta et al. 2025)",
            "final_norm_similarity": "norm similarity of the last round",
            "mean_group_norm": "mean voted group norm G(t) over rounds that had one",
            "n_rounds": "horizon T in rounds",
        },
        metric_options=partial(commons.metric_options, commons.CPR_WORLD_ID),
        cell_metrics=("survival_time", "survival_rate", "efficiency", "norm_similarity", "sanction_rate", "norm_adherence"),
        cell_figures=cpr_cell_figures,
    ),
}


def format_number(value: Any) -> str:
    """Numbers as a reader wants them: ``30,720``, ``30,720.5``, ``12.25``, ``0.3167``; ``–`` for none."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "–"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        if abs(value) >= 1000:
            return f"{value:,.1f}"
        return f"{value:.4g}"
    return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float, np.integer, np.floating))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and not (
        isinstance(value, (float, np.floating)) and math.isnan(value)
    )


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted keys -> scalar values (lists and empty dicts as their YAML flow text)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        elif _is_scalar(value):
            flat[name] = str(value)
        else:
            flat[name] = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return flat


def _key_config_values(runs: Sequence[RunRecords]) -> list[dict[str, str]]:
    """Per run, the config values that tell the runs apart (the grid's axes); for a single
    run, or runs that do not differ, the world's settings."""
    if len(runs) > 1 and all(run.config.get("cell") for run in runs):
        cells = [grid_cells([run.config for run in runs])]
        label_of = {member: cell.values for cell in cells[0] for member in cell.members}
        return [{key: str(value) for key, value in label_of[i].items()} for i in range(len(runs))]
    flats = [{k: v for k, v in _flatten(run.config).items() if not k.startswith("cell.")} for run in runs]
    keys = sorted({key for flat in flats for key in flat})
    varying = [key for key in keys if "seed" not in key.split(".")[-1] and len({flat.get(key) for flat in flats}) > 1]
    chosen = varying or [key for key in keys if key.split(".")[0] == "world" and key != "world"]
    if not chosen and "world" in keys:
        chosen = ["world"]
    chosen = chosen[:_MAX_KEY_CONFIG_VALUES]
    return [{key: flat[key] for key in chosen if key in flat} for flat in flats]


def _labels(runs: Sequence[RunRecords]) -> list[str]:
    """Short unique names for runs in legends and tables: the seed where seeds differ."""
    seeds = [run.seed for run in runs]
    if None not in seeds and len(set(seeds)) == len(seeds):
        return [f"seed {seed}" for seed in seeds]
    short = [run.run_id[:12] for run in runs]
    if len(set(short)) == len(short):
        return short
    return [f"{index}: {run.run_id}" for index, run in enumerate(runs, start=1)]


# Config keys that do not define a grid cell: the seed, and what run ids leave out too.
_NOT_CELL_KEYS = ("workers", "description")


def _is_seed_key(key: str) -> bool:
    return "seed" in key.split(".")[-1]


@dataclass(frozen=True)
class GridCell:
    """Runs whose resolved configs are equal except for the seed.

    ``values`` are the config values that tell this cell from the others (dotted key ->
    value as text); ``members`` index the runs given to :func:`grid_cells`.
    """

    label: str
    values: Mapping[str, str]
    members: tuple[int, ...]


def _natural(value: str) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def grid_cells(configs: Sequence[Mapping[str, Any]]) -> list[GridCell]:
    """Group runs into grid cells by their resolved configs (the ``config.yaml`` of each run).

    Two runs share a cell when every flattened config value is equal except keys naming a
    seed (``seeds``, ``seed``, ``...seed``) and ``workers`` / ``description``, which run ids
    ignore as well. A cell's label joins ``key=value`` for the keys whose values differ
    between cells, in the order the config lists them; a single cell is labelled
    ``"all runs"``. Cells are sorted by those values (numbers numerically).
    """
    if configs and all(config.get("cell") for config in configs):
        return _labelled_cells(configs)
    flats = [
        {key: value for key, value in _flatten(config).items()
         if not _is_seed_key(key) and key not in _NOT_CELL_KEYS and not key.startswith("cell.")}
        for config in configs
    ]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    groups: dict[tuple, list[int]] = {}
    for index, flat in enumerate(flats):
        groups.setdefault(tuple(flat.get(key) for key in keys), []).append(index)
    varying = [i for i, key in enumerate(keys) if len({signature[i] for signature in groups}) > 1]
    cells = []
    for signature, members in groups.items():
        values = {keys[i]: "–" if signature[i] is None else signature[i] for i in varying}
        label = ", ".join(f"{key}={value}" for key, value in values.items()) or "all runs"
        cells.append(GridCell(label=label, values=values, members=tuple(members)))
    return sorted(cells, key=lambda cell: [_natural(value) for value in cell.values.values()])


def _labelled_cells(configs: Sequence[Mapping[str, Any]]) -> list[GridCell]:
    """Cells named by the grid labels the runner stored in each config (``cell``).

    Keys are shortened to their last part when that stays unambiguous
    (``world.kwargs.voting`` -> ``voting``); cells are sorted by their labels (numbers numerically).
    """
    keys = list(dict.fromkeys(key for config in configs for key in config["cell"]))
    varying = [key for key in keys if len({str(config["cell"].get(key)) for config in configs}) > 1]
    last = [key.rsplit(".", 1)[-1] for key in varying]
    names = {key: short if last.count(short) == 1 else key for key, short in zip(varying, last)}
    groups: dict[tuple, list[int]] = {}
    for index, config in enumerate(configs):
        groups.setdefault(tuple(str(config["cell"].get(key, "–")) for key in varying), []).append(index)
    cells = []
    for signature, members in groups.items():
        values = {names[key]: value for key, value in zip(varying, signature)}
        label = ", ".join(f"{key}={value}" for key, value in values.items()) or "all runs"
        cells.append(GridCell(label=label, values=values, members=tuple(members)))
    return sorted(cells, key=lambda cell: [_natural(value) for value in cell.values.values()])


def _generation_sort_key(generation: str) -> tuple[int, float | str]:
    try:
        return (0, float(generation))
    except ValueError:
        return (1, generation)


def _world_section(world: str, runs: Sequence[RunRecords], labels: Sequence[str], notes: list[str]) -> dict[str, Any]:
    analysis = WORLD_ANALYSES.get(world)
    run_metrics: list[dict[str, Any]] = []
    for run, label in zip(runs, labels):
        metrics: dict[str, Any] = {}
        if analysis is not None and not run.steps.empty:
            try:
                options = analysis.metric_options(_world_kwargs(run)) if analysis.metric_options else {}
                metrics = analysis.metrics(run.steps, **options)
            except ValueError as error:
                notes.append(f"{label}: metrics not computed from steps ({error}); showing summary.json metrics")
                metrics = dict(run.summary.get("metrics") or {})
        else:
            metrics = dict(run.summary.get("metrics") or {})
        run_metrics.append(metrics)

    scalar_names = list(dict.fromkeys(
        name for metrics in run_metrics for name, value in metrics.items() if _is_scalar(value)
    ))
    headline = [
        {"label": label, "values": [metrics.get(name) for name in scalar_names]}
        for label, metrics in zip(labels, run_metrics)
    ]
    spread = []
    if len(runs) > 1:
        for name in scalar_names:
            values = np.array([m[name] for m in run_metrics if _is_number(m.get(name))], dtype=float)
            if values.size:
                spread.append({
                    "name": name, "runs": int(values.size), "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if values.size > 1 else None,
                    "min": float(values.min()), "max": float(values.max()),
                })

    by_generation = []
    table_names = list(dict.fromkeys(
        name for metrics in run_metrics for name, value in metrics.items()
        if name.endswith(_BY_GENERATION) and isinstance(value, Mapping)
    ))
    for name in table_names:
        tables = [metrics.get(name) or {} for metrics in run_metrics]
        generations = sorted({str(g) for table in tables for g in table}, key=_generation_sort_key)
        rows = []
        for generation in generations:
            values = [{str(g): v for g, v in table.items()}.get(generation) for table in tables]
            numbers = [value for value in values if _is_number(value)]
            mean = float(np.mean(numbers)) if len(runs) > 1 and numbers else None
            rows.append({"generation": generation, "values": values, "mean": mean})
        short = name[: -len(_BY_GENERATION)]
        by_generation.append({
            "name": short,
            "description": analysis.descriptions.get(short, "") if analysis else "",
            "rows": rows,
        })

    steps_by_run = {label: run.steps for run, label in zip(runs, labels)}
    figures: list[tuple[str, Figure]] = []
    if analysis is not None:
        try:
            figures.extend(analysis.figures(steps_by_run))
        except Exception as error:  # a broken plot must not cost the rest of the report
            notes.append(f"{world}: plots failed ({type(error).__name__}: {error})")
            figures.append(("World plots", note_figure("World plots", f"{type(error).__name__}: {error}")))
    else:
        notes.append(f"{world or 'unknown world'}: no world-specific analysis registered; generic sections only")
    figures.append(("Parse failures and fallbacks", plot_decision_failures(steps_by_run)))
    cells = _cell_sections(world, runs, labels, run_metrics, scalar_names, analysis, notes)

    return {
        "world": world or "unknown world",
        "runs": len(runs),
        "known": analysis is not None,
        "scalar_names": scalar_names,
        "descriptions": dict(analysis.descriptions) if analysis else {},
        "headline": headline,
        "spread": spread,
        "by_generation": by_generation,
        "labels": list(labels),
        "figures": [{"title": title, "uri": figure_to_data_uri(figure)} for title, figure in figures],
        "cells": cells,
    }


def _world_kwargs(run: RunRecords) -> Mapping[str, Any]:
    world = run.config.get("world") if isinstance(run.config, Mapping) else None
    kwargs = world.get("kwargs") if isinstance(world, Mapping) else None
    return kwargs if isinstance(kwargs, Mapping) else {}


def _cell_sections(
    world: str,
    runs: Sequence[RunRecords],
    labels: Sequence[str],
    run_metrics: Sequence[Mapping[str, Any]],
    scalar_names: Sequence[str],
    analysis: WorldAnalysis | None,
    notes: list[str],
) -> dict[str, Any] | None:
    """The grid-cell part of a world section, or None when all runs form one cell."""
    cells = grid_cells([run.config for run in runs])
    if len(cells) < 2:
        return None
    names = [name for name in (analysis.cell_metrics if analysis and analysis.cell_metrics else scalar_names)]
    names = [name for name in names if any(_is_number(metrics.get(name)) for metrics in run_metrics)]
    rows = []
    for number, cell in enumerate(cells, start=1):
        order = sorted(cell.members, key=lambda i: (runs[i].seed is None, runs[i].seed or 0, i))
        cell = GridCell(cell.label, cell.values, tuple(order))  # seeds in order in tables and legends
        members = [runs[i] for i in cell.members]
        seeds = [run.seed for run in members]
        stats = []
        for name in names:
            values = np.array([run_metrics[i][name] for i in cell.members if _is_number(run_metrics[i].get(name))], dtype=float)
            stats.append({
                "n": int(values.size),
                "mean": float(values.mean()) if values.size else None,
                "std": float(values.std(ddof=1)) if values.size > 1 else None,
            })
        figures = []
        if analysis is not None and analysis.cell_figures is not None:
            unique_seeds = None not in seeds and len(set(seeds)) == len(seeds)
            steps_by_run = {
                (f"seed {run.seed}" if unique_seeds else labels[i]): run.steps for i, run in zip(cell.members, members)
            }
            try:
                figures = [
                    {"title": title, "uri": figure_to_data_uri(figure)} for title, figure in analysis.cell_figures(steps_by_run)
                ]
            except Exception as error:  # a broken plot must not cost the rest of the report
                notes.append(f"{world}, cell {cell.label}: plots failed ({type(error).__name__}: {error})")
        rows.append({
            "id": f"cell-{number}", "label": cell.label, "values": dict(cell.values), "runs": len(members),
            "seeds": [seed for seed in seeds if seed is not None], "stats": stats, "figures": figures,
        })
    return {"names": names, "rows": rows}


def _strategies(run: RunRecords) -> dict[str, Any] | None:
    population = run.population
    if population.empty or "generation" not in population:
        return None
    last = int(population["generation"].max())
    members = population[population["generation"] == last]
    if "score" in members:
        members = members.sort_values("score", ascending=False, kind="stable")
    columns = ("name", "score", "survived", "parents", "strategy")
    rows = [{column: row.get(column) for column in columns} for row in members.to_dict("records")]
    return {"generation": last, "members": rows}


_SYNTHESIS_COLUMNS = ("iteration", "feedback", "valid", "code_lines", "mean_reward", "efficiency", "equality",
                      "sustainability", "peace", "fallback_rate", "failure_kinds")
_FEEDBACK_COMPARED = ("mean_reward", "efficiency", "equality", "sustainability", "peace", "fallback_rate")


def _synthesis_section(runs: Sequence[RunRecords], labels: Sequence[str], notes: list[str]) -> dict[str, Any] | None:
    """Metrics per iteration, sparse vs dense, and code diffs of the policy-synthesis runs (or ``None``)."""
    tables: dict[str, pd.DataFrame] = {}
    diffs = []
    for run, label in zip(runs, labels):
        if not is_synthesis_population(run.population):
            continue
        try:
            tables[label] = synthesis_iterations(run.steps, run.population)
        except (KeyError, ValueError) as error:
            notes.append(f"{label}: synthesis metrics not computed ({type(error).__name__}: {error})")
            continue
        diffs.append({"label": label, "diffs": code_diffs(run.population)})
    if not tables:
        return None
    combined = pd.concat([table.assign(run=label) for label, table in tables.items()], ignore_index=True)
    tables_out = [
        {"label": label, "rows": [[row[column] for column in _SYNTHESIS_COLUMNS] for row in table.to_dict("records")]}
        for label, table in tables.items()
    ]
    comparison = None
    if {"sparse", "dense"} <= set(combined["feedback"]):
        means = combined.groupby(["feedback", "iteration"], sort=True)[list(_FEEDBACK_COMPARED)].mean().reset_index()
        counts = combined.groupby(["feedback", "iteration"], sort=True)["run"].nunique().to_numpy()
        comparison = {
            "names": list(_FEEDBACK_COMPARED),
            "rows": [{"feedback": row["feedback"], "iteration": int(row["iteration"]), "runs": int(count),
                      "values": [row[name] for name in _FEEDBACK_COMPARED]}
                     for row, count in zip(means.to_dict("records"), counts)],
        }
    figure = None
    try:
        figure = figure_to_data_uri(synthesis_figure(combined))
    except Exception as error:  # a broken plot must not cost the rest of the report
        notes.append(f"synthesis plot failed ({type(error).__name__}: {error})")
    return {
        "columns": list(_SYNTHESIS_COLUMNS),
        "descriptions": dict(SYNTHESIS_METRICS),
        "tables": tables_out,
        "comparison": comparison,
        "figure": figure,
        "diffs": diffs,
    }


def _context(root: Path, runs: Sequence[RunRecords]) -> dict[str, Any]:
    labels = _labels(runs)
    experiments = list(dict.fromkeys(str(run.summary.get("experiment") or run.path.parent.name) for run in runs))
    if len(runs) == 1:
        title = f"{experiments[0]} — run {runs[0].run_id}"
    else:
        title = f"{', '.join(experiments)} — {len(runs)} runs"
    notes: list[str] = []

    key_values = _key_config_values(runs)
    run_rows = [
        {
            "label": label,
            "run_id": run.run_id,
            "world": run.world or "–",
            "seed": run.seed,
            "status": run.summary.get("status", "–"),
            "episodes": run.summary.get("episodes"),
            "generations": run.summary.get("generations"),
            "wall_time_s": run.summary.get("wall_time_s"),
            "config": key_values[index],
        }
        for index, (run, label) in enumerate(zip(runs, labels))
    ]

    worlds = list(dict.fromkeys(run.world for run in runs))
    sections = []
    for world in worlds:
        members = [index for index, run in enumerate(runs) if run.world == world]
        sections.append(_world_section(world, [runs[i] for i in members], [labels[i] for i in members], notes))

    decisions = [{"label": label, **decision_stats(run.steps)} for run, label in zip(runs, labels)]
    llm_calls = [{"label": label, **llm_call_stats(run.llm_calls)} for run, label in zip(runs, labels)]
    llm_total = llm_call_stats(pd.concat([run.llm_calls for run in runs], ignore_index=True)) if len(runs) > 1 else None

    strategies = []
    for run, label in zip(runs, labels):
        found = _strategies(run)
        if found is None:
            notes.append(f"{label}: no population records, so no strategy texts")
        else:
            strategies.append({"label": label, **found})

    synthesis = _synthesis_section(runs, labels, notes)

    configs = [
        {"label": label, "yaml": yaml.safe_dump(run.config, sort_keys=False, allow_unicode=True) if run.config else "(no config.yaml)"}
        for run, label in zip(runs, labels)
    ]
    return {
        "title": title,
        "source": str(root),
        "runs": run_rows,
        "sections": sections,
        "decisions": decisions,
        "llm_calls": llm_calls,
        "llm_total": llm_total,
        "strategies": strategies,
        "synthesis": synthesis,
        "configs": configs,
        "notes": notes,
    }


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = format_number
    return environment


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """Render ``templates/<name>`` (jinja2, autoescaped, strict, with the ``num`` filter)."""
    return _environment().get_template(name).render(**context)


def write_html(target: Path, html: str) -> Path:
    """Write ``html`` to ``target`` through a temporary file renamed into place; returns ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(html)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def write_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Write one self-contained HTML report for the run(s) under ``path``; return its path.

    ``path`` is a run directory or an experiment directory holding many, or a training run folder
    (then :func:`dilemmazoo.analysis.training.write_training_report` writes it). ``out`` is the
    HTML file to write (an existing directory gets ``report.html`` inside); by default
    ``<path>/report.html``. The file is written to a temporary name and renamed.
    """
    root = Path(path)
    run_dirs = find_runs(root)
    if not run_dirs:
        from .training import is_training_run, write_training_report

        if is_training_run(root):
            return write_training_report(root, out)
        raise FileNotFoundError(f"no run directories (holding summary.json) and no training run under {str(root)!r}")
    runs = [load_run(run_dir) for run_dir in run_dirs]
    html = render_template(TEMPLATE, _context(root, runs))
    target = Path(out) if out is not None else root / REPORT_FILE
    if target.is_dir():
        target = target / REPORT_FILE
    return write_html(target, html)
