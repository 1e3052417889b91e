"""Plots of commons harvesting runs (GovSim ``commons-v0`` and the effort CPR ``cpr-v0``).

Same conventions as :mod:`.plots`: every function takes the steps of one run (a DataFrame) or
of several runs (a mapping label -> DataFrame, e.g. the seeds of one grid cell), returns a
:class:`matplotlib.figure.Figure` made through ``pyplot`` (inline in a notebook), and saves it
as PNG given ``path`` (then closes it). Missing columns or empty records give a figure that says what was skipped.

A *series* is one episode of one run; x is the round (GovSim: the month).

- :func:`plot_stock`: the resource after each round (x = 0 is the initial stock), one line per
  series, the collapse threshold dashed, an ``X`` where a series collapsed (Piatti et al. 2024,
  Fig. 3 style);
- :func:`plot_harvests`: harvest per agent and round, stacked bars for a single series, else
  one line per agent (mean over the series that reached the round);
- :func:`plot_norms` (CPR): the voted group norm G(t) when set (with the mean harvest per
  agent it bounds), the mean effort with its min-max band across agents, and the norm
  similarity (Gupta et al., arXiv 2510.14401);
- :func:`plot_requests` (GovSim): the mean request per month with its min-max band against the
  per-agent sustainable threshold shown to the agents.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import commons
from .plots import StepsInput, _as_runs, _finish, _missing, _new_figure, episode_series, integer_axis, note_figure, series_style

__all__ = [
    "commons_cell_figures",
    "commons_figures",
    "cpr_cell_figures",
    "cpr_figures",
    "plot_harvests",
    "plot_norms",
    "plot_requests",
    "plot_stock",
]

_LEGEND_MAX_SERIES = 10


def plot_stock(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """The resource stock over rounds: after each round (regrowth included; at a collapse the
    stock that was left), starting at x = 0 with the initial stock. One line per series, the
    collapse threshold as a dashed line, and an ``X`` marker on each collapse."""
    title = "Stock over time"
    runs = _as_runs(steps)
    reason = _missing(runs, ("episode", "step", "round", "stock_before", "stock"))
    if reason:
        return note_figure(title, reason, path)
    series = episode_series(runs)
    figure = _new_figure()
    axes = figure.add_subplot()
    style = series_style(len(series))
    thresholds: set[float] = set()
    collapses = 0
    for label, frame in series:
        table = commons.stock_by_round(frame)
        x = np.concatenate([[0], table["round"].to_numpy()])
        y = np.concatenate([[table["stock_before"].iloc[0]], table["stock"].to_numpy()])
        (line,) = axes.plot(x, y, linestyle="-", label=label, **style)
        collapsed = table[table["collapsed"]]
        if len(collapsed):
            collapses += 1
            axes.plot(collapsed["round"].to_numpy()[:1], collapsed["stock"].to_numpy()[:1], linestyle="none",
                      marker="X", markersize=9, color=line.get_color())
        thresholds.update(float(v) for v in table["collapse_threshold"].dropna().unique())
    for threshold in sorted(thresholds):
        axes.axhline(threshold, linestyle="--", color="firebrick", linewidth=1.2, label=f"collapse threshold {threshold:g}")
    axes.set_ylim(bottom=0)
    axes.set_ylabel("stock")
    axes.set_title(f"{title} ({collapses} of {len(series)} collapsed)" if len(series) > 1 else title)
    integer_axis(axes, "round (0 = start)")
    if len(series) <= _LEGEND_MAX_SERIES:
        axes.legend(fontsize="small")
    return _finish(figure, path)


def plot_harvests(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """Harvest per agent and round. One series: stacked bars (the height of a stack is the
    group's harvest). Several: one line per agent, the mean over the series that reached
    the round."""
    title = "Harvests per agent"
    runs = _as_runs(steps)
    reason = _missing(runs, ("episode", "round", "agent", "phase", "harvest"))
    if reason:
        return note_figure(title, reason, path)
    series = episode_series(runs)
    rows = pd.concat(
        [commons.harvest_rows(frame).assign(series=label) for label, frame in series], ignore_index=True
    )
    if rows.empty:
        return note_figure(title, "no harvest steps recorded", path)
    table = rows.pivot_table(index="round", columns="agent", values="harvest", aggfunc="mean").sort_index()
    figure = _new_figure()
    axes = figure.add_subplot()
    if len(series) == 1:
        bottom = np.zeros(len(table))
        for agent in table.columns:
            heights = table[agent].fillna(0.0).to_numpy()
            axes.bar(table.index.to_numpy(), heights, bottom=bottom, label=agent, width=0.8)
            bottom += heights
        axes.set_title(title)
    else:
        for agent in table.columns:
            axes.plot(table.index.to_numpy(), table[agent].to_numpy(), marker="o", markersize=3, label=agent)
        axes.set_title(f"{title} (mean over {len(series)} episodes)")
    axes.set_ylabel("harvest")
    integer_axis(axes)
    if len(table.columns) <= 12:
        axes.legend(fontsize="small")
    return _finish(figure, path)


def plot_norms(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """Effort CPR norms in three panels sharing the round axis: the group norm G(t) in force
    at each harvest (where one was set) with the mean harvest per agent dotted, the mean effort with the min-max band across agents,
    and the norm similarity ``1 - mean |e_i - e_j|``. One line per series."""
    title = "Norms over time"
    runs = _as_runs(steps)
    reason = _missing(runs, ("episode", "step", "round", "phase", "effort", "group_norm"))
    if reason:
        return note_figure(title, reason, path)
    series = episode_series(runs)
    figure = _new_figure(7.0, 7.5)
    norm_axes, effort_axes, similarity_axes = figure.subplots(3, 1, sharex=True)
    style = series_style(len(series))
    band_alpha = max(0.05, 0.25 / len(series))
    any_norm = False
    for index, (label, frame) in enumerate(series):
        color = f"C{index % 10}"
        harvests = commons.harvest_rows(frame).groupby("round")
        norms = harvests["group_norm"].first().astype(float)
        norms = norms[norms >= 0]
        if len(norms):
            any_norm = True
            norm_axes.plot(norms.index.to_numpy(), norms.to_numpy(), marker="o", markersize=3, color=color, label=label, **style)
            mean_harvest = harvests["harvest"].mean().astype(float)
            norm_axes.plot(mean_harvest.index.to_numpy(), mean_harvest.to_numpy(), linestyle=":", color=color, **style)
        table = commons.norm_similarity_by_round(frame)
        rounds = table["round"].to_numpy()
        effort_axes.plot(rounds, table["mean_effort"].to_numpy(), color=color, label=label, **style)
        effort_axes.fill_between(
            rounds, table["min_effort"].to_numpy(), table["max_effort"].to_numpy(), color=color, alpha=band_alpha, linewidth=0,
        )
        similarity_axes.plot(rounds, table["norm_similarity"].to_numpy(), color=color, label=label, **style)
    norm_axes.set_title("Group norm G(t) (solid) and mean harvest per agent (dotted)")
    norm_axes.set_ylabel("harvest units")
    norm_axes.set_ylim(bottom=0)
    if not any_norm:
        norm_axes.text(0.5, 0.5, "no group norm was set", ha="center", va="center", color="0.35", transform=norm_axes.transAxes)
    effort_axes.set_title("Mean effort (band: min to max across agents)")
    effort_axes.set_ylabel("effort")
    effort_axes.set_ylim(-0.02, 1.02)
    similarity_axes.set_title("Norm similarity 1 - mean |e_i - e_j|")
    similarity_axes.set_ylabel("similarity")
    similarity_axes.set_ylim(-0.02, 1.02)
    for axes in (norm_axes, effort_axes, similarity_axes):
        integer_axis(axes)
    for axes in (norm_axes, effort_axes):  # the shared round axis is labelled once, at the bottom
        axes.set_xlabel("")
    if 1 < len(series) <= _LEGEND_MAX_SERIES:
        effort_axes.legend(fontsize="x-small")
    return _finish(figure, path)


def plot_requests(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """GovSim: the mean harvest request per month over all agents' own decisions (fallbacks
    left out) of all series, with the min-max band, against the mean per-agent threshold
    shown that month (requests above it count as over-usage)."""
    title = "Requests against the sustainable threshold"
    runs = _as_runs(steps)
    reason = _missing(runs, ("episode", "round", "phase", "requested", "threshold"))
    if reason:
        return note_figure(title, reason, path)
    series = episode_series(runs)
    rows = pd.concat([commons.harvest_rows(frame, own_choices=True) for _, frame in series], ignore_index=True)
    rows = rows[rows["requested"] >= 0]
    if rows.empty:
        return note_figure(title, "no harvest requests recorded", path)
    by_month = rows.groupby("round").agg(
        mean=("requested", "mean"), low=("requested", "min"), high=("requested", "max"), threshold=("threshold", "mean"),
    ).astype(float)
    months = by_month.index.to_numpy()
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(months, by_month["mean"].to_numpy(), marker="o", markersize=4, color="C0", label="mean request")
    axes.plot(months, by_month["threshold"].to_numpy(), linestyle="--", color="firebrick", label="per-agent threshold")
    axes.fill_between(
        months, by_month["low"].to_numpy(), by_month["high"].to_numpy(), color="C0", alpha=0.2, linewidth=0,
        label="min to max request",
    )
    axes.set_title(title if len(series) == 1 else f"{title} ({len(series)} episodes)")
    axes.set_ylabel("harvest request")
    axes.set_ylim(bottom=0)
    integer_axis(axes, "month")
    axes.legend(fontsize="small")
    return _finish(figure, path)


def commons_figures(steps_by_run: Mapping[str, pd.DataFrame]) -> list[tuple[str, Figure]]:
    """GovSim plots for a report, as (title, figure) pairs."""
    return [
        ("Stock over time", plot_stock(steps_by_run)),
        ("Harvests per agent", plot_harvests(steps_by_run)),
        ("Requests against the sustainable threshold", plot_requests(steps_by_run)),
    ]


def cpr_figures(steps_by_run: Mapping[str, pd.DataFrame]) -> list[tuple[str, Figure]]:
    """Effort-CPR plots for a report, as (title, figure) pairs."""
    return [
        ("Stock over time", plot_stock(steps_by_run)),
        ("Harvests per agent", plot_harvests(steps_by_run)),
        ("Norms over time", plot_norms(steps_by_run)),
    ]


def commons_cell_figures(steps_by_run: Mapping[str, pd.DataFrame]) -> list[tuple[str, Figure]]:
    """The two GovSim plots shown for each grid cell: survival (stock) and requests."""
    return [
        ("Stock over time", plot_stock(steps_by_run)),
        ("Requests against the sustainable threshold", plot_requests(steps_by_run)),
    ]


def cpr_cell_figures(steps_by_run: Mapping[str, pd.DataFrame]) -> list[tuple[str, Figure]]:
    """The two CPR plots shown for each grid cell: survival (stock) and norms."""
    return [
        ("Stock over time", plot_stock(steps_by_run)),
        ("Norms over time", plot_norms(steps_by_run)),
    ]
