"""The loyalty sweep scored: Pant & Yu's six behavioural targets, the effort ratio, and plots.

Source: Pant & Yu, "Computational Foundations for Strategic Coopetition: Formalizing Collective
Action and Loyalty" (arXiv 2601.16237). The targets are defined here as the paper's released
validation code computes them (vikpant/strategic-coopetition,
``TR_validation/TR3_loyalty/TR3_validation_suite.py``, ``ExperimentalValidator`` methods
``_compute_comprehensive_metrics``, ``_measure_mechanism_synergy`` and
``_evaluate_behavioral_targets``), applied to the table of
:func:`dilemmazoo.envs.loyalty.sweep_table` (one row per configuration ``omega x beta x c x n x
theta``; a *cell* is one ``(omega, beta, c, n)``, whose cell-level columns repeat on its rows).

Where the paper's abstract and its code disagree, the numbers here are what the formulas give:
the abstract claims a median effort differentiation ``a*(0.9)/a*(0.1)`` of 15.04x, while the
closed form on the released code's own grid gives a median of about 4.48x (range 3.49x-6.51x
uncapped; ``a*(theta)`` is proportional to ``[(1 + theta phi_b)/(1 - theta phi_c)]^(1/(1-beta))``,
so with ``beta`` in [0.40, 0.60] the ratio is ``2.116^(1/(1-beta))``).

Comparisons between efforts (monotonicity, the team-size effect) count values within a
relative ``1e-9`` of each other as equal, so that rounding in the mean of an equal profile
(e.g. efforts all on the floor ``a_min``) does not decide a target.

Everything here reads the table only (the analysis layer imports the envs layer, never the
runner); the plots are matplotlib ``pyplot`` Figures, as in :mod:`dilemmazoo.analysis.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dilemmazoo.envs.loyalty import DEFAULTS

from .metrics import require_columns
from .plots import _finish, _new_figure, note_figure

__all__ = [
    "ABSTRACT_MEDIAN_RATIO",
    "CELL",
    "behavioural_targets",
    "cells",
    "effort_ratio_summary",
    "plot_effort_ratios",
    "plot_equilibrium_curve",
    "plot_sweep",
]

#: the median effort differentiation a*(0.9)/a*(0.1) the paper's abstract states
ABSTRACT_MEDIAN_RATIO = 15.04

#: the columns that name one cell of the sweep
CELL = ("omega", "beta", "c", "n")

_RELATIVE_TIE = 1e-9
_WORLD = "loyalty sweep"


def cells(table: pd.DataFrame) -> pd.DataFrame:
    """One row per ``(omega, beta, c, n)`` cell (its first row: the cell-level columns repeat on every row)."""
    require_columns(table, CELL, _WORLD)
    return table.drop_duplicates(list(CELL)).reset_index(drop=True)


def _not_decreasing(values: np.ndarray) -> bool:
    """``values[k] <= values[k+1]`` for every k, ties within a relative 1e-9 counted as equal."""
    slack = _RELATIVE_TIE * np.maximum(np.abs(values[:-1]), np.abs(values[1:]))
    return bool(np.all(values[1:] - values[:-1] >= -slack))


def _share_of_groups(table: pd.DataFrame, by: list[str], order: str, increasing: bool) -> tuple[float, int, int]:
    """Share of groups whose ``equilibrium_effort`` sorted by ``order`` is monotone; (share, passing, groups)."""
    passing = total = 0
    for _, group in table.groupby(by, sort=True):
        if len(group) < 2:
            continue
        efforts = group.sort_values(order)["equilibrium_effort"].to_numpy(dtype=np.float64)
        passing += _not_decreasing(efforts if increasing else -efforts)
        total += 1
    return (passing / total if total else float("nan")), passing, total


def _target(name: str, passed: bool, value: float, threshold: float, share: float, criterion: str,
            detail: str) -> dict[str, Any]:
    return {"target": name, "passed": bool(passed), "value": float(value), "threshold": float(threshold),
            "share": float(share), "criterion": criterion, "detail": detail}


def behavioural_targets(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The six behavioural targets of Pant & Yu, scored on a sweep table, as the reference code defines them.

    Each target is ``{"target", "passed", "value", "threshold", "share", "criterion",
    "detail"}``: ``share`` is the fraction of cells (or groups) that meet the per-cell
    ``threshold``; ``value`` is the headline number (the median ratio for targets 3 and 5, the
    share otherwise); ``detail`` gives the numbers in words. Definitions (reference:
    ``TR3_validation_suite.py``, ``_evaluate_behavioral_targets``; arXiv 2601.16237 section 6.3):

    1. ``free_riding_baseline``: per cell, ``100 |a_num(0) - a*| / a*`` with ``a_num(0)`` the
       equilibrium mean effort at theta 0 and ``a* = (omega beta / (c n^(2-beta)))^(1/(1-beta))``
       the analytic free-riding effort (unbounded); passes when more than 95% of cells are
       within 5%. Cells where ``a*`` falls below ``a_min`` sit on the floor and miss.
    2. ``loyalty_monotonicity``: per cell, the equilibrium effort does not decrease along
       theta; passes when every cell does.
    3. ``effort_differentiation``: per cell, ``a_eq(0.9) / a_eq(0.1)`` (equilibrium mean efforts
       at equal loyalty 0.9 and 0.1, within the effort range; 0.1 is not a grid value, as in the
       reference); passes when more than 95% of cells exceed 2; reports median, min and max.
    4. ``team_size_effect``: over the rows with theta < 0.3 (only theta 0 on the paper's grid),
       per ``(omega, beta, c, theta)``, the equilibrium effort does not increase with n; passes
       when every group does.
    5. ``mechanism_synergy``: per cell at theta 0.7, ``(a(both) - a(0)) / ((a(phi_b only) - a(0)) +
       (a(phi_c only) - a(0)))`` (1.0 when the denominator is not positive); passes when more
       than 95% of cells exceed 1.1; reports the median. The reference computes it on every row
       (each cell's value repeated once per theta), which gives the same share and median as
       per cell on a full grid.
    6. ``bounded_efforts``: every row's equilibrium effort lies in ``[0, a_max]`` (``a_max`` from
       the table, else the default 50).
    """
    needed = (*CELL, "theta", "equilibrium_effort", "free_riding_error_pct", "analytic_free_riding",
              "effort_ratio", "effort_ratio_closed_form", "mechanism_synergy")
    require_columns(table, needed, _WORLD)
    if table.empty:
        raise ValueError("the sweep table has no rows")
    per_cell = cells(table)
    count = len(per_cell)
    targets = []

    errors = per_cell["free_riding_error_pct"].to_numpy(dtype=np.float64)
    within = float(np.mean(errors < 5.0))
    a_min = float(table["a_min"].iloc[0]) if "a_min" in table else float(DEFAULTS["a_min"])
    floored = int(np.sum(per_cell["analytic_free_riding"].to_numpy() < a_min))
    targets.append(_target(
        "free_riding_baseline", within > 0.95, within, 5.0, within,
        "share of cells with |a(theta=0) - a*| / a* < 5% exceeds 95%",
        f"{within:.1%} of {count} cells within 5% of the analytic free-riding effort (mean error "
        f"{errors.mean():.3g}%, max {errors.max():.4g}%); {floored} cells have a* below a_min = {a_min:g}, "
        f"where the equilibrium sits on the floor",
    ))

    share, passing, groups = _share_of_groups(table, list(CELL), "theta", increasing=True)
    targets.append(_target(
        "loyalty_monotonicity", passing == groups, share, 1.0, share,
        "equilibrium effort non-decreasing in theta in every cell",
        f"{passing} of {groups} cells non-decreasing in theta",
    ))

    ratios = per_cell["effort_ratio"].to_numpy(dtype=np.float64)
    ratios = ratios[np.isfinite(ratios)]
    above = float(np.mean(ratios > 2.0)) if ratios.size else float("nan")
    closed = per_cell["effort_ratio_closed_form"].to_numpy(dtype=np.float64)
    median = float(np.median(ratios)) if ratios.size else float("nan")
    targets.append(_target(
        "effort_differentiation", above > 0.95, median, 2.0, above,
        "share of cells with a(0.9) / a(0.1) > 2 exceeds 95%",
        f"a(0.9) / a(0.1): median {median:.3f}x, range [{ratios.min():.3f}x, {ratios.max():.3f}x] over "
        f"{ratios.size} cells, {above:.1%} above 2 (uncapped closed form: median {np.median(closed):.3f}x, range "
        f"[{closed.min():.3f}x, {closed.max():.3f}x]); the paper's abstract claims a median of "
        f"{ABSTRACT_MEDIAN_RATIO}x, which these formulas do not give",
    ))

    low = table[table["theta"] < 0.3]
    share, passing, groups = _share_of_groups(low, ["omega", "beta", "c", "theta"], "n", increasing=False)
    thetas = ", ".join(f"{t:g}" for t in sorted(low["theta"].unique()))
    targets.append(_target(
        "team_size_effect", groups > 0 and passing == groups, share, 1.0, share,
        "at theta < 0.3, equilibrium effort non-increasing in n for every (omega, beta, c, theta)",
        f"{passing} of {groups} groups non-increasing in n (theta in {{{thetas}}})" if groups
        else "no rows with theta < 0.3 and two team sizes",
    ))

    synergy = per_cell["mechanism_synergy"].to_numpy(dtype=np.float64)
    synergy = synergy[np.isfinite(synergy)]
    above = float(np.mean(synergy > 1.1))
    median = float(np.median(synergy))
    targets.append(_target(
        "mechanism_synergy", above > 0.95, median, 1.1, above,
        "share of cells with synergy ratio > 1.1 at theta 0.7 exceeds 95%",
        f"synergy at theta 0.7: median {median:.3f}, range [{synergy.min():.3f}, {synergy.max():.3f}], "
        f"{above:.1%} of {synergy.size} cells above 1.1",
    ))

    a_max = table["a_max"].to_numpy(dtype=np.float64) if "a_max" in table else np.full(len(table), DEFAULTS["a_max"])
    efforts = table["equilibrium_effort"].to_numpy(dtype=np.float64)
    bounded = (efforts >= 0.0) & (efforts <= a_max)
    share = float(np.mean(bounded))
    targets.append(_target(
        "bounded_efforts", bool(bounded.all()), share, float(np.max(a_max)), share,
        "every equilibrium effort in [0, a_max]",
        f"{int(bounded.sum())} of {len(efforts)} configurations in [0, a_max]; efforts range "
        f"[{efforts.min():.4g}, {efforts.max():.4g}], {int(np.sum(efforts >= a_max))} at the cap",
    ))
    return targets


def effort_ratio_summary(table: pd.DataFrame) -> dict[str, float | int]:
    """Median, min and max of the cells' ``a(0.9) / a(0.1)`` (equilibrium efforts) and the number of cells.

    Also the uncapped closed form's median, min and max (``closed_form_median`` ...), which
    differ from the equilibrium ratios only in cells where a bound binds.
    """
    require_columns(table, ("effort_ratio", "effort_ratio_closed_form"), _WORLD)
    per_cell = cells(table)
    ratios = per_cell["effort_ratio"].to_numpy(dtype=np.float64)
    ratios = ratios[np.isfinite(ratios)]
    closed = per_cell["effort_ratio_closed_form"].to_numpy(dtype=np.float64)
    if not ratios.size:
        raise ValueError("the sweep table has no finite effort ratio")
    return {
        "median": float(np.median(ratios)), "min": float(ratios.min()), "max": float(ratios.max()),
        "cells": int(ratios.size),
        "closed_form_median": float(np.median(closed)), "closed_form_min": float(closed.min()),
        "closed_form_max": float(closed.max()),
    }


# -- plots ----------------------------------------------------------------------------------------

def _observed_points(observed: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(observed, pd.DataFrame):
        require_columns(observed, ("theta", "effort"), "observed-effort")
        return observed["theta"].to_numpy(dtype=np.float64), observed["effort"].to_numpy(dtype=np.float64)
    if isinstance(observed, Mapping):
        items = list(observed.items())
    else:
        items = [tuple(point) for point in observed]
    if any(len(point) != 2 for point in items):
        raise ValueError("observed must be (theta, effort) pairs, a mapping theta -> effort or a DataFrame")
    points = np.array(items, dtype=np.float64).reshape(-1, 2)
    return points[:, 0], points[:, 1]


def plot_equilibrium_curve(thetas: Sequence[float], efforts: Sequence[float], *, observed: Any = None,
                           a_max: float | None = None, label: str = "equilibrium (closed form)",
                           observed_label: str = "observed", title: str = "Equilibrium effort against loyalty",
                           path: str | Path | None = None) -> Figure:
    """Equilibrium mean effort against loyalty theta: the curve ``efforts(thetas)`` and optional observed points.

    ``observed``: ``(theta, effort)`` pairs, a mapping theta -> effort (or -> list of efforts),
    or a DataFrame with columns ``theta`` and ``effort`` (e.g. the efforts language agents
    chose), drawn as points. ``a_max`` draws the cap as a dotted line.
    """
    x = np.asarray(thetas, dtype=np.float64)
    y = np.asarray(efforts, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"thetas and efforts must be 1-d and the same length, got shapes {x.shape} and {y.shape}")
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(x, y, color="C0", linewidth=1.8, label=label)
    if observed is not None:
        if isinstance(observed, Mapping) and any(isinstance(v, (list, tuple, np.ndarray)) for v in observed.values()):
            observed = [(t, e) for t, values in observed.items() for e in np.atleast_1d(values)]
        px, py = _observed_points(observed)
        axes.scatter(px, py, color="C3", alpha=0.6, zorder=3, label=observed_label)
    if a_max is not None:
        axes.axhline(a_max, color="0.4", linestyle=":", linewidth=1.0, label=f"a_max = {a_max:g}")
    axes.set_xlabel("loyalty theta")
    axes.set_ylabel("mean effort per member")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return _finish(figure, path)


def plot_effort_ratios(table: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Histogram of the cells' effort ratio ``a(0.9) / a(0.1)``, with its median, the target 2 and the abstract's claim."""
    title = "Effort differentiation a(0.9) / a(0.1) over the cells"
    if "effort_ratio" not in table or table.empty:
        return note_figure(title, "the table has no effort_ratio column", path)
    summary = effort_ratio_summary(table)
    ratios = cells(table)["effort_ratio"].to_numpy(dtype=np.float64)
    ratios = ratios[np.isfinite(ratios)]
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.hist(ratios, bins=30, color="C0", alpha=0.75, edgecolor="white")
    axes.axvline(summary["median"], color="C3", linestyle="--", label=f"median {summary['median']:.2f}x")
    axes.axvline(2.0, color="C2", linestyle=":", label="target 2x")
    axes.text(0.98, 0.95, f"abstract claims a median of {ABSTRACT_MEDIAN_RATIO}x", transform=axes.transAxes,
              ha="right", va="top", fontsize="small", color="0.3")
    axes.set_xlabel("a(0.9) / a(0.1)")
    axes.set_ylabel(f"cells (of {summary['cells']})")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="center right")
    return _finish(figure, path)


def plot_sweep(table: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Mean equilibrium effort against theta, one line per team size n (averaged over omega, beta and c).

    Lines: the closed form (clipped to the effort range); points: the numeric best response
    where the table has it. A log scale, since efforts span orders of magnitude over the grid.
    """
    title = "Equilibrium effort against loyalty, by team size"
    missing = [c for c in ("n", "theta", "closed_form_effort") if c not in table]
    if missing or table.empty:
        return note_figure(title, f"the table has no column(s) {', '.join(missing)}" if missing else "no rows", path)
    figure = _new_figure()
    axes = figure.add_subplot()
    means = table.groupby(["n", "theta"], sort=True)[["closed_form_effort"]].mean()
    has_numeric = "numeric_effort" in table and table["numeric_effort"].notna().any()
    if has_numeric:
        means["numeric_effort"] = table.groupby(["n", "theta"], sort=True)["numeric_effort"].mean()
    for index, (n, rows) in enumerate(means.groupby(level="n")):
        theta = rows.index.get_level_values("theta").to_numpy()
        axes.plot(theta, rows["closed_form_effort"].to_numpy(), color=f"C{index}", label=f"n = {n:g}")
        if has_numeric:
            axes.plot(theta, rows["numeric_effort"].to_numpy(), linestyle="none", marker="o", markersize=4,
                      color=f"C{index}")
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # plain labels, no mathtext
    axes.set_xlabel("loyalty theta")
    axes.set_ylabel("mean effort (avg over omega, beta, c)")
    axes.set_title(title + (" (lines: closed form, points: best response)" if has_numeric else ""), fontsize="medium")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize="small")
    return _finish(figure, path)
