"""Plots and report tables of the LLM-Economist tax world (``dilemmazoo/tax-world-v0``).

Same conventions as :mod:`.plots`: every plot takes the steps of one run (a DataFrame) or of
several runs (a mapping label -> DataFrame, e.g. the seeds of one grid cell), returns a
:class:`matplotlib.figure.Figure` made through ``pyplot`` and saves it as PNG given ``path``
(then closes it). Missing columns or empty records give a figure that says what was skipped.
A *series* is one episode of one run; x is the work step (the records' ``round``): the
decision steps before each tax year (plan, platform, vote) carry no incomes and are left out.

- :func:`plot_tax_rates`: the marginal rate of each bracket over time, one panel per bracket,
  with two references on the same axes: the Saez rate computed with
  :func:`dilemmazoo.envs.tax.saez_rates` from the run's own incomes per tax year (each
  worker's mean pre-tax income over the tax year by default; :func:`.tax.saez_reference`)
  and the US federal 2024 single schedule (:func:`.tax.us_federal_reference`) (Karten et al.
  2025, "LLM Economist", arXiv 2507.15815, compare their planners with both);
- :func:`plot_swf`: both social welfare functions, each in its own panel because their scales
  differ (LLM Economist: unnormalised sum of u_i / max(z_i, 1); AI Economist: the same weights
  normalised), each with its best-so-far;
- :func:`plot_distributions`: labour hours and pre-tax incomes of the first against the last
  tax year;
- :func:`plot_equality_productivity`: equality (1 - Gini of incomes), productivity and their
  product over time (Zheng et al., "The AI Economist").

:func:`tax_figures` and :func:`tax_tables` are the report's figures and tables functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import tax
from .plots import StepsInput, _as_runs, _finish, _missing, _new_figure, episode_series, integer_axis, note_figure, series_style

__all__ = [
    "plot_distributions",
    "plot_equality_productivity",
    "plot_swf",
    "plot_tax_rates",
    "tax_figures",
    "tax_tables",
]

_LEGEND_MAX_SERIES = 8
_SAEZ_INCOME_WORDS = {
    "observed": "each worker's mean pre-tax income per tax year",
    "skill_x_100": "skill x 100 per worker",
}


def _step_axis(axes, xlabel: str = "work step") -> None:
    integer_axis(axes, xlabel)


def _money(value: float) -> str:
    if math.isinf(value):
        return "inf"
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _bracket_title(index: int, edges: np.ndarray | None) -> str:
    if edges is None:
        return f"bracket {index}"
    return f"bracket {index}: income {_money(edges[index])} to {_money(edges[index + 1])}"


def _elasticity_text(elasticities: float | Sequence[float]) -> str:
    if isinstance(elasticities, (int, float)):
        return f"{elasticities:g}"
    return "[" + ", ".join(f"{value:g}" for value in elasticities) + "]"


def plot_tax_rates(steps: StepsInput, path: str | Path | None = None, *, brackets: Any = None,
                   elasticities: float | Sequence[float] = 0.4, saez_method: str = "llm_economist",
                   saez_incomes: str = "observed") -> Figure:
    """The marginal rate (percent) of each bracket over time, one panel per bracket and one
    solid line per series, with the references on the same axes: the Saez rate per tax year
    (dashed, the series' colour) from :func:`.tax.saez_reference` on the series' own workers
    (``saez_incomes``: ``"observed"``, each worker's mean pre-tax income over the tax year, or
    ``"skill_x_100"``; ``elasticities`` and ``saez_method`` go to ``saez_rates``), and the US
    federal 2024 single marginal rate (dotted black, :func:`.tax.us_federal_reference`).

    ``brackets`` is the world's ``brackets`` argument; without it the named bracket set with
    as many brackets as the records is used (:func:`.tax.edges_for`). When the edges cannot be
    told the references are skipped and the figure says why.
    """
    title = "Tax rates per bracket"
    runs = _as_runs(steps)
    reason = _missing(runs, tax.REQUIRED_COLUMNS)
    if reason:
        return note_figure(title, reason, path)
    series = episode_series(runs)
    rates = tax.rate_columns(series[0][1])
    edges: np.ndarray | None
    skipped = ""
    try:
        edges = tax.edges_for(series[0][1], brackets)
    except ValueError as error:
        edges, skipped = None, str(error)
    k = len(rates)
    columns = 1 if k == 1 else 2 if k <= 4 else 3
    rows = math.ceil(k / columns)
    figure = _new_figure(4.2 * columns + 0.6, 3.0 * rows + 0.6)
    panels = np.atleast_1d(figure.subplots(rows, columns, sharex=True, squeeze=False).ravel())
    style = series_style(len(series), alpha=0.8)
    us_rates = tax.us_federal_reference(edges) if edges is not None else None
    saez_words = (f"Saez: {saez_method}, e = {_elasticity_text(elasticities)}, "
                  f"from {_SAEZ_INCOME_WORDS.get(saez_incomes, saez_incomes)}")
    saez_missing = []
    for number, (label, frame) in enumerate(series):
        color = f"C{number % 10}"
        table = tax.world_by_round(frame)
        saez = (tax.saez_reference(frame, edges, elasticities=elasticities, method=saez_method, incomes=saez_incomes)
                if edges is not None else pd.DataFrame())
        for index, column in enumerate(rates):
            axes = panels[index]
            # the rate of work step s is drawn over [s, s + 1), like the Saez segments
            steps_x = np.append(table["round"].to_numpy(), table["round"].iloc[-1] + 1)
            rates_y = np.append(table[column].to_numpy(dtype=float), table[column].iloc[-1])
            axes.plot(steps_x, rates_y, drawstyle="steps-post", color=color,
                      label=f"{label}: rate taxed" if len(series) > 1 else "rate taxed", **style)
            if saez.empty:
                continue
            finite = saez[np.isfinite(saez[column].to_numpy(dtype=float))]
            if finite.empty:
                saez_missing.append(label)
                continue
            x = np.concatenate([[row.first_round, row.last_round + 1] for row in finite.itertuples()])
            y = np.repeat(finite[column].to_numpy(dtype=float), 2)
            axes.plot(x, y, linestyle="--", color=color,
                      label=f"{label}: Saez reference" if len(series) > 1 else "Saez reference", **style)
    for index, axes in enumerate(panels):
        if index >= k:
            axes.set_axis_off()
            continue
        if us_rates is not None:
            axes.axhline(us_rates[index], linestyle=":", color="black", linewidth=1.4,
                         label=f"US federal 2024 ({us_rates[index]:g}%)")
        axes.set_title(_bracket_title(index, edges), fontsize="medium")
        axes.set_ylabel("marginal rate (%)")
        axes.set_ylim(-2, 102)
        _step_axis(axes, "work step" if index + columns >= k else "")  # the shared axis is labelled at the bottom
        if len(series) <= _LEGEND_MAX_SERIES:
            axes.legend(fontsize="x-small", loc="best", framealpha=0.7)
    notes = [] if edges is None else [saez_words, "US federal: 2024 single schedule"]
    if skipped:
        notes.append(f"references skipped: {skipped}")
    if saez_missing:
        notes.append(f"Saez undefined for {', '.join(sorted(set(saez_missing)))}")
    figure.suptitle(title + ("\n" + "; ".join(notes) if notes else ""), fontsize="medium")
    return _finish(figure, path)


def plot_swf(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """Both social welfare functions over time, each in its own panel (their scales differ):
    the SWF of each work step (solid) and the best so far (dashed), a star on the first one that
    reached the best. Top: LLM Economist SWF ``sum_i u_i / max(z_i, 1)`` (Karten et al. 2025);
    bottom: AI Economist SWF, the same inverse-income weights normalised to sum to 1 (Zheng et
    al.)."""
    title = "Social welfare over time"
    runs = _as_runs(steps)
    reason = _missing(runs, tax.REQUIRED_COLUMNS)
    if reason:
        return note_figure(title, reason, path)
    series = episode_series(runs)
    figure = _new_figure(7.0, 6.0)
    panels = figure.subplots(len(tax.SWF_KINDS), 1, sharex=True)
    style = series_style(len(series), alpha=0.8)
    for axes, (kind, words) in zip(panels, tax.SWF_KINDS.items()):
        for number, (label, frame) in enumerate(series):
            color = f"C{number % 10}"
            table = tax.world_by_round(frame)
            prefix = f"{label}: " if len(series) > 1 else ""
            axes.plot(table["round"], table[kind], color=color, label=f"{prefix}SWF per work step", **style)
            axes.plot(table["round"], table[f"best_{kind}"], linestyle="--", color=color, label=f"{prefix}best so far",
                      **style)
            values = table[kind].to_numpy(dtype=float)
            if np.isfinite(values).any():
                best = int(np.nanargmax(values))
                axes.plot([table["round"].iloc[best]], [values[best]], marker="*", markersize=10, linestyle="none",
                          color=color)
        axes.set_title(words, fontsize="medium")
        axes.set_ylabel(kind)
        _step_axis(axes)
        if len(series) <= _LEGEND_MAX_SERIES:
            axes.legend(fontsize="x-small")
    panels[0].set_xlabel("")
    figure.suptitle(title, fontsize="medium")
    return _finish(figure, path)


def _first_and_last_year(frame: pd.DataFrame) -> tuple[Any, Any]:
    ordered = frame.sort_values("step", kind="stable")["tax_year"]
    return ordered.iloc[0], ordered.iloc[-1]


def _year_words(rows: pd.DataFrame, which: str) -> str:
    clock = "round" if "round" in rows else "step"
    return f"{which} tax year (work steps {int(rows[clock].min())} to {int(rows[clock].max())})"


def plot_distributions(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """Labour hours (the workers' own choices; fallbacks left out) and pre-tax incomes of every
    worker work step in the first and in the last tax year of each series, pooled over series,
    as histograms with the two years' bars side by side. With a single tax year only that one
    is drawn."""
    title = "Labour and income distributions"
    runs = _as_runs(steps)
    reason = _missing(runs, tax.REQUIRED_COLUMNS)
    if reason:
        return note_figure(title, reason, path)
    series = episode_series(runs)
    first_rows, last_rows = [], []
    for _, frame in series:
        workers = tax.worker_rows(frame)
        if workers.empty:
            continue
        first, last = _first_and_last_year(workers)
        first_rows.append(workers[workers["tax_year"] == first])
        if last != first:
            last_rows.append(workers[workers["tax_year"] == last])
    if not first_rows:
        return note_figure(title, "no worker rows recorded", path)
    years = [("first", pd.concat(first_rows, ignore_index=True), "C0")]
    if last_rows:
        years.append(("last", pd.concat(last_rows, ignore_index=True), "C3"))
    figure = _new_figure(9.0, 3.8)
    hours_axes, income_axes = figure.subplots(1, 2)
    hours_bins = np.arange(-5.0, 115.0, 10.0)  # one bin per point of the 10-hour grid
    all_incomes = np.concatenate([rows["income"].to_numpy(dtype=float) for _, rows, _ in years])
    income_bins = np.histogram_bin_edges(all_incomes[np.isfinite(all_incomes)], bins=20)
    for number, (which, rows, color) in enumerate(years):
        own = tax.worker_rows(rows, own_choices=True)
        words = f"{_year_words(rows, which)}, {rows['agent'].nunique()} workers"
        # the two years' bars side by side in each bin, so that equal distributions stay visible
        offset = (number - (len(years) - 1) / 2) / len(years)
        for axes, values, bins in ((hours_axes, own["hours"], hours_bins), (income_axes, rows["income"], income_bins)):
            counts, _ = np.histogram(values.to_numpy(dtype=float), bins=bins)
            widths = np.diff(bins)
            axes.bar(bins[:-1] + widths / 2 + offset * widths, counts, width=widths / len(years), color=color,
                     alpha=0.75, label=words)
    hours_axes.set_title("Weekly labour hours", fontsize="medium")
    hours_axes.set_xlabel("hours")
    income_axes.set_title("Pre-tax income z = hours x skill", fontsize="medium")
    income_axes.set_xlabel("pre-tax income")
    for axes in (hours_axes, income_axes):
        axes.set_ylabel("worker-steps")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="x-small")
    figure.suptitle(title if last_rows else f"{title} (a single tax year)", fontsize="medium")
    return _finish(figure, path)


def plot_equality_productivity(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """Three panels sharing the work-step axis, one line per series: equality ``1 - Gini`` of the
    pre-tax incomes (the world's ``gini_income``), productivity (the world's ``productivity``,
    the sum of pre-tax incomes) and ``equality_x_productivity`` as the world records it, the AI
    Economist's ``coin_eq_times_productivity``: ``(1 - Gini)`` times the *mean* income (Zheng
    et al., "The AI Economist"; :func:`dilemmazoo.envs.tax.equality_times_productivity`)."""
    title = "Equality x productivity over time"
    runs = _as_runs(steps)
    reason = _missing(runs, tax.REQUIRED_COLUMNS)
    if reason:
        return note_figure(title, reason, path)
    series = episode_series(runs)
    figure = _new_figure(7.0, 7.0)
    equality_axes, productivity_axes, product_axes = figure.subplots(3, 1, sharex=True)
    style = series_style(len(series), alpha=0.8)
    for number, (label, frame) in enumerate(series):
        color = f"C{number % 10}"
        table = tax.world_by_round(frame)
        equality_axes.plot(table["round"], 1.0 - table["gini_income"].astype(float), color=color, label=label, **style)
        productivity_axes.plot(table["round"], table["productivity"].astype(float), color=color, label=label, **style)
        product_axes.plot(table["round"], table["equality_x_productivity"].astype(float), color=color, label=label,
                          **style)
    equality_axes.set_title("Equality: 1 - Gini of pre-tax incomes", fontsize="medium")
    equality_axes.set_ylabel("equality")
    productivity_axes.set_title("Productivity: sum of pre-tax incomes", fontsize="medium")
    productivity_axes.set_ylabel("productivity")
    product_axes.set_title("Equality x productivity: (1 - Gini) x mean pre-tax income", fontsize="medium")
    product_axes.set_ylabel("equality x productivity")
    for axes in (equality_axes, productivity_axes, product_axes):
        _step_axis(axes)
    for axes in (equality_axes, productivity_axes):  # the shared axis is labelled once, at the bottom
        axes.set_xlabel("")
    if 1 < len(series) <= _LEGEND_MAX_SERIES:
        equality_axes.legend(fontsize="x-small")
    figure.suptitle(title, fontsize="medium")
    return _finish(figure, path)


def _world_options(world_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The plot options a run's ``world.kwargs`` tells: its ``brackets`` and the Saez
    ``elasticity`` it was given (the world's argument names)."""
    if not isinstance(world_kwargs, Mapping):
        return {}
    options = {}
    if world_kwargs.get("brackets") is not None:
        options["brackets"] = world_kwargs["brackets"]
    if world_kwargs.get("elasticity") is not None:
        options["elasticities"] = world_kwargs["elasticity"]
    return options


def tax_figures(steps_by_run: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any] | None = None
                ) -> list[tuple[str, Figure]]:
    """The tax world's report plots as (title, figure) pairs; ``world_kwargs`` (the config's
    ``world.kwargs``) supplies the bracket edges and the Saez elasticity for the references."""
    return [
        ("Tax rates per bracket", plot_tax_rates(steps_by_run, **_world_options(world_kwargs))),
        ("Social welfare over time", plot_swf(steps_by_run)),
        ("Labour and income distributions", plot_distributions(steps_by_run)),
        ("Equality x productivity over time", plot_equality_productivity(steps_by_run)),
    ]


def _number(value: Any) -> Any:
    """A table cell: ints as ints, floats as floats, NaN as None (shown empty)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return None if math.isnan(value) else value


def tax_tables(steps: StepsInput, world_kwargs: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Report tables of each run (``{"title", "note", "columns", "rows"}``): per tax year the
    rates per bracket, both SWFs (mean over the tax year's work steps), mean hours and income
    and planner fallbacks (:func:`.tax.tax_year_table`); per bracket the workers and their mean
    pre-tax income at the first and the last work step (:func:`.tax.bracket_table`)."""
    runs = {label: frame for label, frame in _as_runs(steps).items() if not frame.empty}
    tables = []
    brackets = _world_options(world_kwargs).get("brackets")
    for label, frame in runs.items():
        suffix = f": {label}" if len(runs) > 1 else ""
        years = tax.tax_year_table(frame)
        rates = tax.rate_columns(frame)
        several_episodes = years["episode"].nunique() > 1
        tables.append({
            "title": f"Tax years{suffix}",
            "note": ("Rates (percent) taxed in the tax year's first work step; SWFs are means over the tax year's "
                     "work steps (LLM Economist: sum_i u_i / max(z_i, 1); AI Economist: the same weights normalised); "
                     "mean hours over the workers' own choices (fallbacks left out)."),
            "columns": [*(["episode"] if several_episodes else []), "tax year", "work steps",
                        *(f"rate {j} (%)" for j in range(len(rates))), "SWF (LLM Economist)", "SWF (AI Economist)",
                        "mean hours", "mean pre-tax income", "planner fallbacks"],
            "rows": [[*([int(row["episode"])] if several_episodes else []), _number(row["tax_year"]),
                      f"{int(row['first_round'])} to {int(row['last_round'])}",
                      *(_number(row[column]) for column in rates),
                      _number(row["swf_llm_economist"]), _number(row["swf_ai_economist"]), _number(row["mean_hours"]),
                      _number(row["mean_income"]), int(row["planner_fallbacks"])]
                     for row in years.to_dict("records")],
        })
        try:
            edges = tax.edges_for(frame, brackets)
        except ValueError:
            edges = None
        by_bracket = tax.bracket_table(frame, edges)
        tables.append({
            "title": f"Workers per bracket{suffix}",
            "note": ("Workers whose pre-tax income fell in each bracket at the first and at the last work step (of "
                     "the last episode), with their mean pre-tax income; the rate is the one the last work step was "
                     "taxed at."),
            "columns": ["bracket", "income range", "final rate (%)", "workers (first work step)",
                        "mean income (first work step)", "workers (last work step)", "mean income (last work step)"],
            "rows": [[int(row["bracket"]),
                      "" if math.isnan(row["low"]) else f"{_money(row['low'])} to {_money(row['high'])}",
                      _number(row["final_rate"]), int(row["workers_first"]), _number(row["mean_income_first"]),
                      int(row["workers_last"]), _number(row["mean_income_last"])]
                     for row in by_bracket.to_dict("records")],
        })
    return tables
