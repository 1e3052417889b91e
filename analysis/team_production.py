"""Metrics of the team-production world (``dilemmazoo/team-production-v0``).

Source: Pant & Yu, "Computational Foundations for Strategic Coopetition: Formalizing Collective
Action and Loyalty" (arXiv 2601.16237). Team output ``Q = omega * S^beta`` of the total effort
``S``, base payoff ``pi_i = Q / n - c a_i``. Two references from the run's own parameters
(:mod:`dilemmazoo.envs.loyalty`):

- the **equilibrium effort** at loyalty ``theta`` (default 0, the selfish free-riding Nash
  equilibrium): ``closed_form_effort(theta, omega, beta, c, n, phi_b, phi_c, a_max, a_min=a_min)``
  = ``clip(W(theta) / n, a_min, a_max)`` with
  ``W(theta) = [(1 + theta phi_b) omega beta / (n c (1 - theta phi_c))]^(1/(1-beta))``;
- the **team optimum**: the symmetric effort that maximises the team's total payoff,
  ``clip((omega beta / c)^(1/(1-beta)) / n, a_min, a_max)`` (``n Q'(S) = n c``: each unit of
  effort is worth its whole marginal output to the team, not ``1/n`` of it).

Input columns
-------------
``steps.parquet`` of a team-production run: the standard columns (episode, step, agent,
decided, fallback_used, reward, utility) and the world's infos: ``effort`` (played, after
clipping; -1 in no round), ``cost`` (``c a_i``), ``output`` (the team's Q), ``total_effort``,
``team``, ``team_size``, ``round`` (from 1), ``clipped``, and the parameters ``omega``,
``beta``, ``unit_cost``, ``a_min``, ``a_max``. Every number here comes from the records, so a
run's references need no config.

Formulas (over member-rounds: one row per member per round; a run's number over all episodes)
---------------------------------------------------------------------------------------------
- ``mean_effort``: mean effort over the members' own choices (rows whose effort came from the
  world's fallback are left out: a fallback is not a choice); ``final_mean_effort``: the same in
  each episode's last round, averaged over episodes.
- ``mean_output``: mean team output ``Q`` per (episode, round, team); ``mean_payoff``: mean
  reward ``pi_i`` per member-round (an outcome, fallbacks included); ``mean_utility``: mean
  ``utility`` (the reward after utility transforms such as loyalty; equal to ``mean_payoff``
  without one; NaN when the records have no utility column).
- ``equilibrium_effort``: mean over member-rounds of the theta-0 closed form of the member's
  team; ``team_optimum_effort``: the same for the team optimum; ``effort_ratio_to_equilibrium``
  = ``mean_effort / equilibrium_effort``.
- ``efficiency`` = mean payoff / the per-member payoff at the team optimum (1 = the team
  optimum, the selfish equilibrium scores below 1; can be negative).
- ``clipped_efforts``: efforts outside ``[a_min, a_max]`` the world clipped (Box actions only).
- ``valid_decisions``, ``fallbacks``: the decision counts every rate is shown beside.

A number that is undefined for the run is NaN with its reason in ``nan_reasons``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from dilemmazoo.envs.loyalty import DEFAULTS, closed_form_effort

from .metrics import flag_column, require_columns, valid_decision_counts, with_nan_reasons

__all__ = [
    "DESCRIPTIONS",
    "PARAMETER_COLUMNS",
    "WORLD_ID",
    "effort_by_round",
    "equilibrium_efforts",
    "member_rows",
    "optimum_efforts",
    "payoff_by_member",
    "round_table",
    "seat_order",
    "symmetric_payoffs",
    "team_production_metrics",
    "team_production_outcome",
    "utility_differs",
]

WORLD_ID = "dilemmazoo/team-production-v0"
#: the world's parameters as the records carry them (``unit_cost`` is ``c``)
PARAMETER_COLUMNS = ("omega", "beta", "unit_cost", "team_size", "a_min", "a_max")
REQUIRED_COLUMNS = ("episode", "step", "agent", "reward", "effort", "output", "team", "round", *PARAMETER_COLUMNS)
_NO_STEPS = "no steps recorded"
_NO_ROUNDS = "no round played"


def _require(steps: pd.DataFrame) -> None:
    require_columns(steps, REQUIRED_COLUMNS, WORLD_ID)


def member_rows(steps: pd.DataFrame, *, own_choices: bool = False) -> pd.DataFrame:
    """The rows of played rounds (``round >= 1``: a reset row carries round 0 and effort -1);
    ``own_choices`` drops the rows whose effort came from the world's fallback."""
    _require(steps)
    rows = steps[(steps["round"].astype(float) >= 1) & (steps["effort"].astype(float) >= 0)]
    if own_choices and "fallback_used" in rows:
        rows = rows[~flag_column(rows, "fallback_used")]
    return rows


def _parameters(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[list(PARAMETER_COLUMNS)].astype(float)


def equilibrium_efforts(rows: pd.DataFrame, theta: float = 0.0, *, phi_b: float = float(DEFAULTS["phi_b"]),
                        phi_c: float = float(DEFAULTS["phi_c"])) -> pd.Series:
    """Per row, the symmetric equilibrium effort of the member's team at loyalty ``theta``
    (:func:`dilemmazoo.envs.loyalty.closed_form_effort` with the row's parameters, clipped to
    ``[a_min, a_max]``). ``phi_b`` and ``phi_c`` do not matter at ``theta = 0``."""
    parameters = _parameters(rows)
    cache: dict[tuple[float, ...], float] = {}
    values = []
    for key in map(tuple, parameters.to_numpy()):
        if key not in cache:
            omega, beta, c, n, a_min, a_max = key
            cache[key] = closed_form_effort(theta, omega=omega, beta=beta, c=c, n=int(n), phi_b=phi_b, phi_c=phi_c,
                                            a_max=a_max, a_min=a_min)
        values.append(cache[key])
    return pd.Series(values, index=rows.index, dtype=float)


def optimum_efforts(rows: pd.DataFrame) -> pd.Series:
    """Per row, the symmetric effort that maximises the team's total payoff,
    ``clip((omega beta / c)^(1/(1-beta)) / n, a_min, a_max)``."""
    p = _parameters(rows)
    total = (p["omega"] * p["beta"] / p["unit_cost"]) ** (1.0 / (1.0 - p["beta"]))
    return (total / p["team_size"]).clip(lower=p["a_min"], upper=p["a_max"]).astype(float)


def symmetric_payoffs(rows: pd.DataFrame, efforts: pd.Series) -> pd.Series:
    """Per row, each member's payoff when its whole team plays ``efforts``."""
    p = _parameters(rows)
    return p["omega"] * (p["team_size"] * efforts) ** p["beta"] / p["team_size"] - p["unit_cost"] * efforts


def utility_differs(steps: pd.DataFrame) -> bool:
    """Whether the records' ``utility`` differs from the ``reward`` anywhere (a utility transform
    such as loyalty was on)."""
    if "utility" not in steps or steps.empty:
        return False
    difference = (steps["utility"].astype(float) - steps["reward"].astype(float)).abs()
    return bool((difference > 1e-9).any())


def round_table(steps: pd.DataFrame, theta: float = 0.0, *, phi_b: float = float(DEFAULTS["phi_b"]),
                phi_c: float = float(DEFAULTS["phi_c"])) -> pd.DataFrame:
    """One row per (episode, round): ``mean_effort`` (own choices; NaN when every effort of the
    round was a fallback), ``mean_output`` (per team), ``mean_payoff``, ``mean_utility`` (NaN
    without a utility column), ``equilibrium_effort`` (at ``theta``), ``team_optimum_effort``,
    ``members``, ``fallbacks``."""
    rows = member_rows(steps)
    keys = ["episode", "round"]
    if rows.empty:
        return pd.DataFrame(columns=[*keys, "mean_effort", "mean_output", "mean_payoff", "mean_utility",
                                     "equilibrium_effort", "team_optimum_effort", "members", "fallbacks"])
    rows = rows.assign(equilibrium=equilibrium_efforts(rows, theta, phi_b=phi_b, phi_c=phi_c),
                       optimum=optimum_efforts(rows),
                       fell_back=flag_column(rows, "fallback_used") if "fallback_used" in rows else False)
    grouped = rows.groupby(keys, sort=True)
    frame = pd.DataFrame({
        "mean_payoff": grouped["reward"].mean().astype(float),
        "equilibrium_effort": grouped["equilibrium"].mean(),
        "team_optimum_effort": grouped["optimum"].mean(),
        "members": grouped["agent"].nunique().astype(int),
        "fallbacks": grouped["fell_back"].sum().astype(int),
    })
    own = rows[~rows["fell_back"]]
    frame["mean_effort"] = own.groupby(keys)["effort"].mean().astype(float).reindex(frame.index)
    teams = rows.groupby([*keys, "team"])["output"].first().astype(float)
    frame["mean_output"] = teams.groupby(level=keys).mean().reindex(frame.index)
    frame["mean_utility"] = (grouped["utility"].mean().astype(float) if "utility" in rows else math.nan)
    columns = ["mean_effort", "mean_output", "mean_payoff", "mean_utility", "equilibrium_effort",
               "team_optimum_effort", "members", "fallbacks"]
    return frame[columns].reset_index()


def effort_by_round(steps: pd.DataFrame) -> pd.Series:
    """Mean effort (own choices) by round, averaged over the run's episodes: the report's time series."""
    return round_table(steps).groupby("round")["mean_effort"].mean().astype(float)


def _undefined() -> dict[str, float]:
    names = ["mean_effort", "final_mean_effort", "mean_output", "mean_payoff", "mean_utility",
             "equilibrium_effort", "team_optimum_effort", "effort_ratio_to_equilibrium", "efficiency"]
    return dict.fromkeys(names, math.nan)


def team_production_metrics(steps: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers of a team-production run, JSON-safe (formulas: module docstring).

    Keys: ``mean_effort``, ``final_mean_effort``, ``mean_output``, ``mean_payoff``,
    ``mean_utility``, ``equilibrium_effort`` (theta 0), ``team_optimum_effort``,
    ``effort_ratio_to_equilibrium``, ``efficiency``, ``clipped_efforts``, ``rounds``,
    ``members``, ``episodes``, ``valid_decisions``, ``fallbacks``. Undefined numbers are NaN,
    explained in ``nan_reasons``; a frame lacking the world's columns raises ``ValueError``
    naming them.
    """
    counts = valid_decision_counts(steps)
    if steps.empty:
        metrics = {**_undefined(), "clipped_efforts": 0, "rounds": 0, "members": 0, "episodes": 0, **counts}
        return with_nan_reasons(metrics, dict.fromkeys(metrics, _NO_STEPS))
    rows = member_rows(steps)
    episodes = int(steps["episode"].nunique())
    if rows.empty:
        metrics = {**_undefined(), "clipped_efforts": 0, "rounds": 0, "members": 0, "episodes": episodes, **counts}
        return with_nan_reasons(metrics, dict.fromkeys(metrics, _NO_ROUNDS))
    own = member_rows(steps, own_choices=True)
    table = round_table(steps)
    last_rounds = table.loc[table.groupby("episode")["round"].idxmax()]
    equilibrium = equilibrium_efforts(rows)
    optimum = optimum_efforts(rows)
    optimum_payoff = float(symmetric_payoffs(rows, optimum).mean())
    mean_payoff = float(rows["reward"].astype(float).mean())
    mean_effort = float(own["effort"].astype(float).mean()) if len(own) else math.nan
    equilibrium_mean = float(equilibrium.mean())
    metrics = {
        "mean_effort": mean_effort,
        "final_mean_effort": float(last_rounds["mean_effort"].mean()) if last_rounds["mean_effort"].notna().any()
        else math.nan,
        "mean_output": float(table["mean_output"].mean()),
        "mean_payoff": mean_payoff,
        "mean_utility": float(rows["utility"].astype(float).mean()) if "utility" in rows else math.nan,
        "equilibrium_effort": equilibrium_mean,
        "team_optimum_effort": float(optimum.mean()),
        "effort_ratio_to_equilibrium": mean_effort / equilibrium_mean if equilibrium_mean > 0 else math.nan,
        "efficiency": mean_payoff / optimum_payoff if optimum_payoff > 0 else math.nan,
        "clipped_efforts": int(flag_column(rows, "clipped").sum()) if "clipped" in rows else 0,
        "rounds": int(len(table)),
        "members": int(rows["agent"].nunique()),
        "episodes": episodes,
        **counts,
    }
    no_choice = (f"no valid effort decision ({counts['fallbacks']} fallbacks, "
                 f"{counts['valid_decisions']} valid decisions)")
    reasons = {
        "mean_effort": no_choice,
        "final_mean_effort": "no valid effort decision in any episode's last round",
        "mean_utility": "the records have no utility column",
        "effort_ratio_to_equilibrium": (no_choice if math.isnan(mean_effort)
                                        else "the equilibrium effort is 0 (a_min = 0 on the floor)"),
        "efficiency": "the team optimum pays no positive payoff (the effort range keeps the team from it)",
    }
    return with_nan_reasons(metrics, reasons)


def team_production_outcome(steps: pd.DataFrame) -> str:
    """A run's outcome in words for the report, e.g. ``"mean effort 13.02 (free-riding equilibrium
    13.02, team optimum 50); mean payoff 65.1 per member and round"``."""
    metrics = team_production_metrics(steps)
    if metrics["rounds"] == 0:
        return "no round played"
    effort = "undefined" if math.isnan(metrics["mean_effort"]) else f"{metrics['mean_effort']:.4g}"
    return (f"mean effort {effort} (free-riding equilibrium {metrics['equilibrium_effort']:.4g}, team optimum "
            f"{metrics['team_optimum_effort']:.4g}); mean payoff {metrics['mean_payoff']:.4g} per member and round")


def payoff_by_member(steps: pd.DataFrame) -> pd.DataFrame:
    """Per member (``agent``): ``mean_effort`` (own choices), ``mean_payoff``, ``total_payoff``
    per episode (mean over episodes), ``team``, ``rounds`` and ``fallbacks``."""
    rows = member_rows(steps)
    fell_back = flag_column(rows, "fallback_used") if "fallback_used" in rows else pd.Series(False, index=rows.index)
    grouped = rows.groupby("agent", sort=True)
    episodes = max(int(rows["episode"].nunique()), 1)
    frame = pd.DataFrame({
        "team": grouped["team"].first().astype(int),
        "mean_payoff": grouped["reward"].mean().astype(float),
        "total_payoff": grouped["reward"].sum().astype(float) / episodes,
        "rounds": grouped["round"].size().astype(int),
        "fallbacks": fell_back.groupby(rows["agent"]).sum().astype(int),
    })
    own = rows[~fell_back]
    frame["mean_effort"] = own.groupby("agent")["effort"].mean().astype(float).reindex(frame.index)
    order = sorted(frame.index, key=seat_order)
    return frame.loc[order].reset_index()


def seat_order(agent: str) -> tuple[int, str]:
    """Sort key of a seat id: ``member_2`` before ``member_10``."""
    tail = str(agent).rsplit("_", 1)[-1]
    return (int(tail), str(agent)) if tail.isdigit() else (1 << 30, str(agent))


#: metric name -> what the report says about it
DESCRIPTIONS: dict[str, str] = {
    "mean_effort": "mean effort over the members' own choices (fallbacks left out)",
    "final_mean_effort": "mean effort (own choices) in each episode's last round",
    "mean_output": "mean team output Q = omega S^beta per team and round",
    "mean_payoff": "mean base payoff pi_i = Q/n - c a_i per member and round",
    "mean_utility": "mean utility (the reward after utility transforms such as loyalty) per member and round",
    "equilibrium_effort": "selfish (theta = 0) free-riding equilibrium effort S*/n of the run's parameters (Pant & Yu)",
    "team_optimum_effort": "effort maximising the team's total payoff, (omega beta / c)^(1/(1-beta)) / n, in the range",
    "effort_ratio_to_equilibrium": "mean effort / free-riding equilibrium effort",
    "efficiency": "mean payoff / per-member payoff at the team optimum",
    "clipped_efforts": "efforts outside [a_min, a_max] that the world clipped",
    "rounds": "rounds played (summed over episodes)",
    "members": "members in the run",
    "episodes": "episodes in the run",
}

