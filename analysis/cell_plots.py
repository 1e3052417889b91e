"""Grid cells compared: the mean over a cell's seeds with a 95% interval, in tables and plots.

A grid cell is the set of runs that differ only in the seed. Its spread is summarised by the
Student t-interval of the mean, ``mean ± t_{0.975, n-1} · s / sqrt(n)`` with ``s`` the sample
standard deviation (ddof = 1) over the cell's n seeds (e.g. Wasserman 2004, *All of
Statistics*, §6.3.2). With a single seed there is no interval (NaN), and the plots draw the
line alone. Time series are aligned on their x values (generation, round, episode); at each x
the interval uses the seeds that reached it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats

from .plots import _new_figure, note_figure

__all__ = ["BAND_CAPTION", "mean_interval", "plot_cell_bands"]

#: what the shaded bands are, for the figure and its caption
BAND_CAPTION = "one line per grid cell: the mean over its seeds; shaded: 95% t-interval of that mean (none for one seed)"

_MAX_LISTED_TICKS = 16
_FEW_CELLS = 4
_LONG_LABEL_CHARS = 45


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the finite values: the Student t-interval of the mean.

    NaN values are left out. No values: all NaN. One value: the mean and NaN bounds. Equal
    values give a zero-width interval.
    """
    x = np.asarray([float(v) for v in values], dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size == 1:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def plot_cell_bands(
    series_by_cell: Mapping[str, Sequence[pd.Series]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    bounds: tuple[float, float] | None = None,
) -> Figure:
    """One line per cell, the mean over its seeds' series, with the 95% t-interval shaded.

    ``series_by_cell`` maps a cell label to one series per seed (index: x, values: y).
    ``bounds`` (e.g. ``(0, 1)`` for a share) clip the shaded interval to the values the series can take.
    """
    cells = {label: [s.dropna() for s in series if len(s.dropna())] for label, series in series_by_cell.items()}
    cells = {label: series for label, series in cells.items() if series}
    if not cells:
        return note_figure(title, "no values to plot")
    many = len(cells) > _FEW_CELLS  # then the legend goes below the plot, and the bands are lighter
    figure = _new_figure(7.5, 4.2 + (0.2 * len(cells) if many else 0.0))
    axes = figure.add_subplot()
    xs: set = set()
    for index, (label, series) in enumerate(cells.items()):
        table = pd.concat([s.astype(float) for s in series], axis=1).sort_index()
        rows = [mean_interval(row) for row in table.to_numpy()]
        x = table.index.to_numpy()
        mean = np.array([row[0] for row in rows])
        low = np.array([row[1] for row in rows])
        high = np.array([row[2] for row in rows])
        if bounds is not None:
            low, high = np.clip(low, *bounds), np.clip(high, *bounds)
        color = f"C{index % 10}"
        axes.plot(x, mean, marker="o", markersize=3.5, color=color, linewidth=1.8, label=f"{label} (n={len(series)})")
        if np.isfinite(low).any() and len(x) > 1:
            axes.fill_between(x, low, high, color=color, alpha=0.1 if many else 0.2, linewidth=0)
        elif np.isfinite(low).any():  # a band needs two x values: one x gets an error bar
            axes.errorbar(x, mean, yerr=[mean - low, high - mean], color=color, capsize=4, linewidth=1.2)
        xs.update(x.tolist())
    clipped = f" (clipped to [{bounds[0]:g}, {bounds[1]:g}])" if bounds is not None else ""
    axes.set_title(f"{title}\nmean over seeds per cell, shaded: 95% t-interval{clipped}", fontsize="medium")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if len(xs) <= _MAX_LISTED_TICKS:
        axes.set_xticks(sorted(xs))
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    if bounds is not None:
        axes.set_ylim(bounds[0] - 0.03 * (bounds[1] - bounds[0]), bounds[1] + 0.03 * (bounds[1] - bounds[0]))
    if many:
        long_labels = max(len(label) for label in cells) > _LONG_LABEL_CHARS
        figure.legend(fontsize="x-small", loc="outside lower center", ncols=1 if long_labels else 2)
    else:
        axes.legend(fontsize="small")
    return figure
