"""Plots of the team-production world (``dilemmazoo/team-production-v0``).

Same conventions as :mod:`.plots`: every plot takes the steps of one run (a DataFrame) or of
several runs (a mapping label -> DataFrame, e.g. the seeds of one grid cell), returns a
:class:`matplotlib.figure.Figure` made through ``pyplot`` and saves it as PNG given ``path``
(then closes it). Missing columns or empty records give a figure that says what was skipped.

- :func:`plot_effort_by_round`: the mean effort per round (the members' own choices) against
  the equilibrium effort of the run's parameters (Pant & Yu, arXiv 2601.16237; closed form from
  :mod:`dilemmazoo.envs.loyalty`) at loyalty ``theta`` (0 by default: the selfish free-riding
  equilibrium; several values draw several lines) and the team optimum. A one-shot run
  (every episode one round) is drawn per episode instead. When the records' utility differs
  from the reward (a utility transform such as loyalty was on) the figure says so: the agents
  then maximised something other than the payoff the theta-0 line assumes.
- :func:`plot_member_outcomes`: each member's mean effort and mean payoff per round, one bar
  per run, with the symmetric equilibrium and team-optimum values as lines.

:func:`team_production_figures` is the report's figures function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dilemmazoo.envs.loyalty import DEFAULTS

from . import team_production as tp
from .plots import StepsInput, _as_runs, _finish, _missing, _new_figure, episode_series, integer_axis, note_figure, series_style

__all__ = ["plot_effort_by_round", "plot_member_outcomes", "team_production_figures"]

_LEGEND_MAX_SERIES = 8
_REFERENCE_STYLES = ("--", "-.", (0, (5, 1, 1, 1)), (0, (3, 1)), (0, (1, 2, 4, 2)))


def _thetas(theta: float | Sequence[float]) -> list[float]:
    values = [theta] if isinstance(theta, (int, float, np.floating)) and not isinstance(theta, bool) else theta
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"theta must be a number in [0, 1] or a non-empty list of them, got {theta!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 <= value <= 1:
            raise ValueError(f"theta must be a number in [0, 1] or a non-empty list of them, got {theta!r}")
    return [float(v) for v in values]


def _series_label(label: str, count: int) -> str | None:
    """A series' legend entry: "mean effort" alone, the label among a few, none among many."""
    if count == 1:
        return "mean effort"
    return label if count <= _LEGEND_MAX_SERIES else None


def _reference(runs: Mapping[str, pd.DataFrame], values) -> tuple[float, bool]:
    """The mean of ``values(rows)`` over every played row of ``runs``, and whether it is the same
    in every run (else the line is only the runs' mean)."""
    per_run = [float(values(tp.member_rows(frame)).mean()) for frame in runs.values() if not tp.member_rows(frame).empty]
    if not per_run:
        return float("nan"), True
    return float(np.mean(per_run)), bool(np.ptp(per_run) <= 1e-9 * max(1.0, abs(per_run[0])))


def _utility_note(runs: Mapping[str, pd.DataFrame]) -> str:
    transformed = [label for label, frame in runs.items() if tp.utility_differs(frame)]
    if not transformed:
        return ""
    who = "utility differs from reward" if len(transformed) == len(runs) else \
        f"utility differs from reward in {len(transformed)} of {len(runs)} runs"
    return f"{who} (a utility transform such as loyalty): theta 0 is the selfish benchmark"


def plot_effort_by_round(steps: StepsInput, path: str | Path | None = None, *, theta: float | Sequence[float] = 0.0,
                         phi_b: float = float(DEFAULTS["phi_b"]), phi_c: float = float(DEFAULTS["phi_c"])) -> Figure:
    """Mean effort per round (own choices; one line per series, i.e. per episode of each run)
    against the equilibrium effort at each loyalty in ``theta`` (dashed, :func:`.team_production.equilibrium_efforts`
    with ``phi_b``, ``phi_c``) and the team optimum (dotted). One-shot runs are drawn per episode."""
    title = "Effort by round against the equilibrium"
    thetas = _thetas(theta)
    runs = _as_runs(steps)
    reason = _missing(runs, tp.REQUIRED_COLUMNS)
    if reason:
        return note_figure(title, reason, path)
    runs = {label: frame for label, frame in runs.items() if not tp.member_rows(frame).empty}
    if not runs:
        return note_figure(title, "no round played", path)
    figure = _new_figure()
    axes = figure.add_subplot()
    one_shot = all(tp.member_rows(frame)["round"].max() == 1 for frame in runs.values())
    notes = []
    if one_shot:
        for number, (label, frame) in enumerate(runs.items()):
            table = tp.round_table(frame)
            axes.plot(table["episode"], table["mean_effort"], marker="o", markersize=5, color=f"C{number % 10}",
                      label=_series_label(label, len(runs)), **series_style(len(runs), alpha=0.8))
        integer_axis(axes, "episode (one round each)")
    else:
        series = episode_series(runs)
        style = series_style(len(series), alpha=0.8)
        for number, (label, frame) in enumerate(series):
            table = tp.round_table(frame)
            axes.plot(table["round"], table["mean_effort"], marker="o", markersize=4, color=f"C{number % 10}",
                      label=_series_label(label, len(series)), **style)
        integer_axis(axes, "round")
    for index, value in enumerate(thetas):
        level, same = _reference(runs, lambda rows, t=value: tp.equilibrium_efforts(rows, t, phi_b=phi_b, phi_c=phi_c))
        words = "free-riding equilibrium (theta 0)" if value == 0 else f"equilibrium at theta {value:g}"
        axes.axhline(level, color="black", linewidth=1.4, linestyle=_REFERENCE_STYLES[index % len(_REFERENCE_STYLES)],
                     label=f"{words}: {level:.4g}" + ("" if same else " (mean of the runs)"))
    optimum, same = _reference(runs, tp.optimum_efforts)
    axes.axhline(optimum, color="0.4", linewidth=1.4, linestyle=":",
                 label=f"team optimum: {optimum:.4g}" + ("" if same else " (mean of the runs)"))
    axes.set_ylabel("effort")
    if any(value > 0 for value in thetas):
        notes.append(f"phi_b {phi_b:g}, phi_c {phi_c:g}")
    utility = _utility_note(runs)
    if utility:
        notes.append(utility)
    axes.legend(fontsize="x-small", loc="best", framealpha=0.7)
    axes.set_title("\n".join([title, *notes]), fontsize="medium" if not notes else "small")
    return _finish(figure, path)


def plot_member_outcomes(steps: StepsInput, path: str | Path | None = None) -> Figure:
    """Each member's mean effort (own choices, top) and mean payoff per round (bottom), one bar
    per run, with the free-riding equilibrium (dashed) and the team optimum (dotted): the effort
    each would play there and the payoff each would earn when its whole team does."""
    title = "Effort and payoff per member"
    runs = _as_runs(steps)
    reason = _missing(runs, tp.REQUIRED_COLUMNS)
    if reason:
        return note_figure(title, reason, path)
    tables = {label: tp.payoff_by_member(frame) for label, frame in runs.items() if not tp.member_rows(frame).empty}
    if not tables:
        return note_figure(title, "no round played", path)
    members = list(dict.fromkeys(agent for table in tables.values() for agent in table["agent"]))
    members.sort(key=tp.seat_order)
    figure = _new_figure(max(6.0, 0.55 * len(members) * max(1, len(tables)) + 2.5), 6.0)
    effort_axes, payoff_axes = figure.subplots(2, 1, sharex=True)
    width = 0.8 / len(tables)
    x = np.arange(len(members))
    for number, (label, table) in enumerate(tables.items()):
        indexed = table.set_index("agent").reindex(members)
        offset = (number - (len(tables) - 1) / 2) * width
        effort_axes.bar(x + offset, indexed["mean_effort"].to_numpy(dtype=float), width, color=f"C{number % 10}",
                        label=label if len(tables) > 1 else None)
        payoff_axes.bar(x + offset, indexed["mean_payoff"].to_numpy(dtype=float), width, color=f"C{number % 10}")
    played = {label: frame for label, frame in runs.items() if label in tables}
    equilibrium, _ = _reference(played, tp.equilibrium_efforts)
    optimum, _ = _reference(played, tp.optimum_efforts)
    equilibrium_pay, _ = _reference(played, lambda rows: tp.symmetric_payoffs(rows, tp.equilibrium_efforts(rows)))
    optimum_pay, _ = _reference(played, lambda rows: tp.symmetric_payoffs(rows, tp.optimum_efforts(rows)))
    for axes, (eq, opt) in ((effort_axes, (equilibrium, optimum)), (payoff_axes, (equilibrium_pay, optimum_pay))):
        axes.axhline(eq, color="black", linestyle="--", linewidth=1.3, label=f"free-riding equilibrium: {eq:.4g}")
        axes.axhline(opt, color="0.4", linestyle=":", linewidth=1.3, label=f"team optimum: {opt:.4g}")
        axes.grid(alpha=0.3, axis="y")
        axes.legend(fontsize="x-small", loc="best", framealpha=0.7)
    effort_axes.set_ylabel("mean effort (own choices)")
    payoff_axes.set_ylabel("mean payoff per round")
    payoff_axes.set_xticks(x, members, rotation=30 if len(members) > 8 else 0, fontsize="small")
    payoff_axes.set_xlabel("member")
    figure.suptitle(title, fontsize="medium")
    return _finish(figure, path)


def team_production_figures(steps_by_run: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any] | None = None
                            ) -> list[tuple[str, Figure]]:
    """The team-production world's report plots as (title, figure) pairs. The references come
    from the records' own parameter columns, so ``world_kwargs`` is not needed (accepted for the
    report's signature); the equilibrium line is the selfish one (theta 0), and the figure says
    when the run's utilities differ from its rewards."""
    told = told_loyalties(steps_by_run)
    thetas = [0.0] + [t for t in told if t > 0]
    figures = [
        ("Effort by round against the equilibrium", plot_effort_by_round(steps_by_run, theta=thetas)),
        ("Effort and payoff per member", plot_member_outcomes(steps_by_run)),
    ]
    figures.append(("Chosen effort against the equilibrium curve", plot_effort_against_curve(steps_by_run)))
    return figures


def told_loyalties(steps_by_run: Mapping[str, pd.DataFrame]) -> list[float]:
    """The loyalties the runs' rules told their members (the ``told_loyalty`` column; none: [])."""
    values = set()
    for steps in steps_by_run.values():
        if "told_loyalty" in steps.columns:
            values.update(float(v) for v in steps["told_loyalty"].dropna().unique())
    return sorted(values)


def plot_effort_against_curve(steps_by_run: Mapping[str, pd.DataFrame], path: str | Path | None = None) -> Figure:
    """Each run's mean chosen effort (own choices) at the loyalty its rules told (0 where none),
    on the symmetric equilibrium curve over theta in [0, 1] of the runs' parameters (closed form,
    phi_b and phi_c as told; :func:`dilemmazoo.envs.loyalty.closed_form_effort`)."""
    from .loyalty import plot_equilibrium_curve

    frames = [tp.member_rows(steps) for steps in steps_by_run.values() if not steps.empty]
    frames = [rows for rows in frames if not rows.empty]
    if not frames:
        raise ValueError("no played rounds to draw")
    rows = frames[0].iloc[:1]
    grid = np.linspace(0.0, 1.0, 41)
    curve = [float(tp.equilibrium_efforts(rows, float(t)).iloc[0]) for t in grid]
    observed = []
    for steps in frames:
        own = tp.member_rows(steps, own_choices=True)
        told = steps["told_loyalty"].dropna() if "told_loyalty" in steps.columns else pd.Series(dtype=float)
        theta = float(told.iloc[0]) if len(told) else 0.0
        if len(own):
            observed.append((theta, float(own["effort"].mean())))
    return plot_equilibrium_curve(grid, curve, observed=observed, a_max=float(rows["a_max"].iloc[0]),
                                  observed_label="mean chosen effort (a run)", path=path)
