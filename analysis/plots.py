"""Plots of run records, as matplotlib ``pyplot`` figures.

Every function takes the steps of one run (a DataFrame) or of several runs (a mapping
label -> DataFrame, e.g. one per seed), returns a :class:`matplotlib.figure.Figure` and, given
``path``, also saves it as PNG. Figures are made through pyplot so that a notebook shows them
inline; pyplot falls back to the Agg canvas where there is no display, so nothing here picks a
backend. A figure left open stays in pyplot's registry until closed: saving with ``path`` and
:func:`figure_to_data_uri` (the report's route) close it, so a report over many runs keeps no
figure open.

Missing columns or empty records never raise: the figure then carries a short note saying
what was skipped and why, so a report on a partial run still shows every section.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import donor_game
from .metrics import decisions_by_generation

__all__ = [
    "StepsInput",
    "donor_game_figures",
    "episode_series",
    "figure_to_data_uri",
    "integer_axis",
    "note_figure",
    "plot_average_final_resources",
    "plot_decision_failures",
    "plot_donation_fraction",
    "plot_punishment_rate",
    "plot_share_by_round",
    "punishment_possible",
    "series_style",
]

#: the steps of one run, or of several runs keyed by a label
StepsInput = pd.DataFrame | Mapping[str, pd.DataFrame]

_LEGEND_MAX_RUNS = 12
_ANNOTATE_MAX_CELLS = 150


def _new_figure(width: float = 7.0, height: float = 4.0) -> Figure:
    """A new pyplot figure (inline in Jupyter); every figure of the analysis layer starts here."""
    return plt.figure(figsize=(width, height), layout="constrained")


def _finish(figure: Figure, path: str | Path | None) -> Figure:
    """Save the figure as PNG when given a path, and then close it in pyplot.

    A closed figure still renders (``display(figure)``, ``savefig``); closing it here keeps a
    script that saves many plots from piling up open figures.
    """
    if path is not None:
        figure.savefig(path, format="png", dpi=100)
        plt.close(figure)
    return figure


def note_figure(title: str, note: str, path: str | Path | None = None) -> Figure:
    """A small figure that says why a plot was skipped."""
    figure = _new_figure(7.0, 1.6)
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_title(title)
    axes.text(0.5, 0.5, f"skipped: {note}", ha="center", va="center", wrap=True, color="0.35", transform=axes.transAxes)
    return _finish(figure, path)


def plot_share_by_round(series: Mapping[str, pd.Series], title: str, ylabel: str) -> Figure:
    """One line per run of a share in [0, 1] by round (``series``: label -> values indexed by round);
    with several runs, thin lines and their mean in black."""
    figure = _new_figure()
    axes = figure.add_subplot()
    several = len(series) > 1
    for label, values in series.items():
        axes.plot(values.index, values.to_numpy(), marker="o", markersize=4, linewidth=1.0 if several else 1.8,
                  alpha=0.6 if several else 1.0, label=label)
    if several:
        mean = pd.concat(series, axis=1).mean(axis=1).sort_index()
        axes.plot(mean.index, mean.to_numpy(), marker="s", color="black", linewidth=2.4, label=f"mean of {len(series)} runs")
        if len(series) <= _LEGEND_MAX_RUNS:
            axes.legend(fontsize="small")
    axes.set_ylim(-0.03, 1.03)
    axes.set_title(title)
    axes.set_xlabel("round")
    axes.set_ylabel(ylabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    return figure


def figure_to_data_uri(figure: Figure, dpi: int = 100) -> str:
    """The figure as a ``data:image/png;base64,...`` URI, for self-contained HTML; closes the figure."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)  # the report keeps only the encoded PNG
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _as_runs(steps: StepsInput) -> dict[str, pd.DataFrame]:
    if isinstance(steps, pd.DataFrame):
        return {"run": steps}
    return {str(label): frame for label, frame in steps.items()}


def _missing(runs: Mapping[str, pd.DataFrame], columns: tuple[str, ...]) -> str | None:
    """Why these runs cannot be plotted, or None when they can."""
    if not runs or all(frame.empty for frame in runs.values()):
        return "no step records"
    for label, frame in runs.items():
        if frame.empty:
            continue
        absent = [column for column in columns if column not in frame.columns]
        if absent:
            owner = f"run {label} has" if len(runs) > 1 else "the steps have"
            return f"{owner} no column(s) {', '.join(absent)}"
    return None


def _per_run_lines(
    runs: Mapping[str, pd.DataFrame],
    series_of,
    *,
    title: str,
    ylabel: str,
    path: str | Path | None,
) -> Figure:
    """One line per run (and their mean when there are several) over generations."""
    series = {label: series_of(frame) for label, frame in runs.items() if not frame.empty}
    series = {label: values for label, values in series.items() if len(values)}
    if not series:
        return note_figure(title, "no values to plot", path)
    figure = _new_figure()
    axes = figure.add_subplot()
    several = len(series) > 1
    for label, values in series.items():
        axes.plot(
            values.index, values.to_numpy(), marker="o", markersize=4,
            linewidth=1.0 if several else 1.8, alpha=0.55 if several else 1.0, label=label,
        )
    if several:
        mean = pd.concat(series, axis=1).mean(axis=1).sort_index()
        axes.plot(mean.index, mean.to_numpy(), marker="s", color="black", linewidth=2.4, label=f"mean of {len(series)} runs")
    axes.set_title(title)
    axes.set_xlabel("generation")
    axes.set_ylabel(ylabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    if several and len(series) <= _LEGEND_MAX_RUNS:
        axes.legend(fontsize="small")
    return _finish(figure, path)


def plot_average_final_resources(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """Donor Game headline: average final resources per generation, per run and their mean."""
    title = "Average final resources per generation"
    runs = _as_runs(steps)
    reason = _missing(runs, ("generation", "game", "agent", "step", "resources"))
    if reason:
        return note_figure(title, reason, path)
    return _per_run_lines(runs, donor_game.average_final_resources, title=title, ylabel="average final resources", path=path)


def plot_donation_fraction(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """Heatmap of the mean donated share by generation (rows) and round (columns).

    Several runs are pooled: each cell is the mean over all their real donations.
    """
    title = "Donation fraction by generation and round"
    runs = _as_runs(steps)
    reason = _missing(runs, ("generation", "round", "role", "move", "fraction", "fallback_used"))
    if reason:
        return note_figure(title, reason, path)
    pooled = pd.concat([frame for frame in runs.values() if not frame.empty], ignore_index=True)
    cells = donor_game.donation_fraction(pooled, by=("generation", "round"))
    if cells.empty:
        return note_figure(title, "no real donations recorded", path)
    table = cells.unstack("round").sort_index().sort_index(axis=1)
    generations, rounds = table.index.to_list(), table.columns.to_list()
    figure = _new_figure(max(5.0, 0.5 * len(rounds) + 3.0), max(2.4, 0.4 * len(generations) + 1.6))
    axes = figure.add_subplot()
    image = axes.imshow(np.ma.masked_invalid(table.to_numpy(dtype=float)), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(rounds)), [str(r) for r in rounds])
    axes.set_yticks(range(len(generations)), [str(g) for g in generations])
    axes.set_xlabel("round")
    axes.set_ylabel("generation")
    axes.set_title(title)
    if table.size <= _ANNOTATE_MAX_CELLS:
        for row, column in np.argwhere(table.notna().to_numpy()):
            value = table.iat[row, column]
            axes.text(column, row, f"{100 * value:.0f}", ha="center", va="center", fontsize="x-small", color="white" if value < 0.6 else "black")
    figure.colorbar(image, ax=axes, label="mean share donated (cells: %)")
    return _finish(figure, path)


def plot_punishment_rate(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """Punishment use per generation: % of real donor encounters that punished."""
    title = "Punishment use per generation"
    runs = _as_runs(steps)
    reason = _missing(runs, ("generation", "role", "move", "fallback_used"))
    if reason:
        return note_figure(title, reason, path)
    used = any((frame["move"] == "punish").any() for frame in runs.values() if not frame.empty)
    return _per_run_lines(
        runs, donor_game.punishment_rate,
        title=title if used else f"{title} (no punishment used)", ylabel="% of encounters", path=path,
    )


def plot_decision_failures(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """Answers that failed to parse and fallbacks applied, per generation (all runs summed)."""
    title = "Parse failures and fallbacks per generation"
    runs = _as_runs(steps)
    reason = _missing(runs, ("generation",))
    if reason:
        return note_figure(title, reason, path)
    counts = pd.concat([decisions_by_generation(frame) for frame in runs.values() if not frame.empty])
    counts = counts.groupby(level="generation").sum().sort_index()
    figure = _new_figure()
    axes = figure.add_subplot()
    positions = np.arange(len(counts))
    width = 0.4
    axes.bar(positions - width / 2, counts["parse_failures"], width, label="parse failures")
    axes.bar(positions + width / 2, counts["fallbacks"], width, label="fallbacks")
    axes.set_xticks(positions, [str(g) for g in counts.index])
    axes.set_xlabel("generation")
    axes.set_ylabel("count")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max(1.0, float(counts[["parse_failures", "fallbacks"]].to_numpy().max()) * 1.1))
    total = int(counts["decisions"].sum())
    axes.set_title(f"{title} ({total:,} decisions)")
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3, axis="y")
    return _finish(figure, path)


def punishment_possible(runs: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any] | None) -> bool:
    """Whether punishment was on in the world (``punishment`` kwarg, off by default) or any
    donor punished: only then is there a punishment plot."""
    if (world_kwargs or {}).get("punishment"):
        return True
    return any("move" in frame and (frame["move"] == "punish").any() for frame in runs.values() if not frame.empty)


def donor_game_figures(steps: StepsInput, world_kwargs: Mapping[str, Any] | None = None) -> list[tuple[str, Figure]]:
    """The Donor Game's plots for a report, as (title, figure) pairs; the punishment plot only
    where punishment was possible (``world_kwargs["punishment"]``) or used."""
    figures = [
        ("Average final resources", plot_average_final_resources(steps)),
        ("Donation fraction", plot_donation_fraction(steps)),
    ]
    if punishment_possible(_as_runs(steps), world_kwargs):
        figures.append(("Punishment use", plot_punishment_rate(steps)))
    return figures


def episode_series(runs: Mapping[str, pd.DataFrame]) -> list[tuple[str, pd.DataFrame]]:
    """(label, steps of one episode) for every episode of every non-empty run."""
    several_runs = sum(not frame.empty for frame in runs.values()) > 1
    found = []
    for label, frame in runs.items():
        if frame.empty:
            continue
        episodes = sorted(frame["episode"].unique())
        for episode in episodes:
            name = label if len(episodes) == 1 else f"{label} ep {episode}" if several_runs else f"episode {episode}"
            found.append((name, frame[frame["episode"] == episode]))
    return found


def series_style(count: int, alpha: float = 0.7) -> dict:
    """Line width and transparency for one of ``count`` series (one series drawn bold)."""
    return {"linewidth": 1.0 if count > 1 else 1.8, "alpha": alpha if count > 1 else 1.0}


def integer_axis(axes, xlabel: str = "round") -> None:
    """An x axis of whole rounds or steps, labelled, with a light grid."""
    axes.set_xlabel(xlabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
