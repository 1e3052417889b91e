"""Metrics of commons harvesting: GovSim (``dilemmazoo/commons-v0``) and the effort CPR
with social learning and voted norms (``dilemmazoo/cpr-v0``).

Sources
-------
- Piatti et al., "Cooperate or Collapse: Emergence of Sustainable Cooperation in a Society of
  LLM Agents" (NeurIPS 2024), metrics and Table 1: survival time m, survival rate, gain
  R_i, efficiency u, equality e and over-usage o, with T = 12 months and f(0) = 50.
- Gupta et al. on social learning and collective norms in a common-pool resource (arXiv
  2510.14401): survival time, efficiency and norm similarity over 50 rounds; the paper gives
  no formula for norm similarity, the one below is our reading of it.

Formulas (one episode; the run's number is the mean over its episodes)
-----------------------------------------------------------------------
- survival time ``m``: the round (month) in which the resource collapsed, else the last round
  played. ``survived``: no collapse and ``m == T``; the survival rate is its mean.
- gain ``R_i = sum_t h_i(t)``, the resource agent ``i`` actually received (granted, not
  requested); ``gain`` is the mean of ``R_i`` over the agents that were present at least once.
- efficiency ``u = 1 - max(0, T f(0) - sum_i R_i) / (T f(0))``. GovSim: ``f(0)`` is the
  sustainable total of month 1 (``sustainable_total``, 50 at stock 100), so harvesting 50 every
  month gives 1.0 and a month-1 collapse that took 100 gives 100/600. CPR: ``f(0)`` is the
  maximum sustainable yield ``r K / 4`` of logistic regrowth (``max_sustainable_yield``) and
  ``T = n_rounds``; this transfer of the GovSim formula is ours, Gupta et al. give no formula.
- equality ``e = 1 - sum_i sum_j |R_i - R_j| / (2 |I| sum_i R_i)`` (:func:`.metrics.equality`;
  1.0 when nobody harvested; NaN, with the reason, for a negative gain, where 1 - Gini leaves [0, 1]).
- GovSim over-usage ``o``: share of (present agent, month) harvest decisions whose *request*
  exceeded the per-agent threshold shown that month (``threshold``). The request is the agent's
  choice; the granted harvest can be smaller when demand exceeds the stock, and counting it
  would hide over-usage exactly when it matters. Without fallbacks and newcomers the
  denominator is ``|I| * m`` as in the paper.
- CPR, per agent-round (one harvest-phase row of an agent that chose its effort itself):
  ``sanction_rate`` = share of agent-rounds sanctioned; ``norm_adherence`` = among agent-rounds under a group norm
  (``group_norm >= 0``), the share whose harvest was at most the norm (``None`` when no norm was
  ever set); ``over_usage`` = share of agent-rounds with ``over_norm``; ``norm_similarity`` of a
  round = ``1 - mean_{i<j} |e_i - e_j|`` over the agents' efforts in [0, 1] (1 = everyone
  behaves alike), reported as its mean over rounds and its final value (the last round where
  at least two efforts were recorded); ``mean_group_norm`` = mean of the norm over rounds that
  had one.

Fallbacks
---------
A harvest row with ``fallback_used`` is the world's declared fallback for an answer that never
parsed, not the agent's choice (STYLE.md, rule 4). It still moves the resource, so it counts in
the outcomes (survival, gains, efficiency, equality), but it is left out of every rate over
decisions: over-usage, sanctions, norm adherence and norm similarity. ``valid_decisions`` and
``fallbacks`` count the decisions (``fallback_rate`` is their ratio). A number that is
undefined for the run is NaN, with its reason in ``nan_reasons``.

The horizon T
-------------
The number of rounds is a world argument (``n_months``, ``n_rounds``), not a step column. The
metric functions take it as ``n_months`` / ``n_rounds``; ``None`` (the default) reads it from
the records where they tell: an episode ends only at a collapse or at T, so the last round of
an episode that did not collapse is T. When every episode collapsed the default
(``DEFAULT_N_MONTHS = 12``, ``DEFAULT_N_ROUNDS = 50``) is used; pass the value when a run
used another one (the report does, from the run's config: :func:`metric_options`).

Input columns
-------------
Both worlds: the standard step columns (episode, step, agent, fallback_used, ...) plus
``round``, ``phase``, ``stock_before``, ``stock``, ``harvest``, ``collapsed``,
``collapse_threshold``. GovSim adds ``requested``, ``threshold``, ``present``,
``sustainable_total`` (and ``stock_after_harvest``); CPR adds ``effort``, ``group_norm``,
``over_norm``, ``sanctioned`` and ``max_sustainable_yield``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .metrics import equality, flag_column, require_columns, valid_decision_counts, with_nan_reasons

__all__ = [
    "CPR_WORLD_ID",
    "DEFAULT_N_MONTHS",
    "DEFAULT_N_ROUNDS",
    "GOVSIM_WORLD_ID",
    "agent_gains",
    "commons_episodes",
    "commons_metrics",
    "cpr_episodes",
    "cpr_metrics",
    "efficiency",
    "harvest_rows",
    "mean_pairwise_difference",
    "metric_options",
    "norm_adherence",
    "norm_similarity",
    "norm_similarity_by_round",
    "over_usage",
    "stock_by_round",
    "survival_time",
]

GOVSIM_WORLD_ID = "dilemmazoo/commons-v0"
CPR_WORLD_ID = "dilemmazoo/cpr-v0"
DEFAULT_N_MONTHS = 12
DEFAULT_N_ROUNDS = 50
HARVEST_PHASE = "harvest"

_COMMON_COLUMNS = ("episode", "step", "agent", "round", "phase", "harvest", "collapsed")
GOVSIM_COLUMNS = (*_COMMON_COLUMNS, "requested", "threshold", "present", "sustainable_total")
CPR_COLUMNS = (*_COMMON_COLUMNS, "effort", "group_norm", "over_norm", "sanctioned", "max_sustainable_yield")

# The world argument that sets T, per world.
_HORIZON_ARGUMENT = {GOVSIM_WORLD_ID: "n_months", CPR_WORLD_ID: "n_rounds"}


# --- formulas on plain numbers and arrays --------------------------------------------------


def survival_time(rounds: Iterable[int], collapsed: Iterable[bool]) -> int:
    """Survival time m: the first round flagged ``collapsed``, else the last round.

    ``rounds`` and ``collapsed`` are parallel (one entry per record of an episode).
    """
    rounds = np.asarray(list(rounds), dtype=int)
    collapsed = np.asarray(list(collapsed), dtype=bool)
    if rounds.size == 0:
        raise ValueError("survival_time of an episode without rounds is undefined")
    if rounds.shape != collapsed.shape:
        raise ValueError(f"rounds and collapsed differ in length ({rounds.size} vs {collapsed.size})")
    return int(rounds[collapsed].min()) if collapsed.any() else int(rounds.max())


def efficiency(total_harvest: float, sustainable_yield: float, horizon: int) -> float:
    """GovSim efficiency ``u = 1 - max(0, T f0 - total) / (T f0)`` (Piatti et al. 2024).

    ``sustainable_yield`` is f(0), the most the group can take per round forever; ``horizon``
    is T. Harvesting more than ``T f0`` in total still gives 1.0.
    """
    if not sustainable_yield > 0:
        raise ValueError(f"sustainable_yield must be positive, got {sustainable_yield!r}")
    if int(horizon) < 1:
        raise ValueError(f"horizon must be at least 1 round, got {horizon!r}")
    if total_harvest < 0:
        raise ValueError(f"total_harvest must be non-negative, got {total_harvest!r}")
    potential = int(horizon) * float(sustainable_yield)
    return 1.0 - max(0.0, potential - float(total_harvest)) / potential


def over_usage(requests: Iterable[float], thresholds: Iterable[float]) -> float:
    """Share of requests strictly above their threshold; NaN when there are none."""
    requests = np.asarray(list(requests), dtype=float)
    thresholds = np.asarray(list(thresholds), dtype=float)
    if requests.shape != thresholds.shape:
        raise ValueError(f"requests and thresholds differ in length ({requests.size} vs {thresholds.size})")
    return float((requests > thresholds).mean()) if requests.size else math.nan


def norm_adherence(harvests: Iterable[float], norms: Iterable[float]) -> float:
    """Share of harvests at most the norm in force (``norm < 0`` means none, skipped);
    NaN when no harvest happened under a norm. Equality within 1e-9 adheres."""
    harvests = np.asarray(list(harvests), dtype=float)
    norms = np.asarray(list(norms), dtype=float)
    if harvests.shape != norms.shape:
        raise ValueError(f"harvests and norms differ in length ({harvests.size} vs {norms.size})")
    governed = norms >= 0
    if not governed.any():
        return math.nan
    return float((harvests[governed] <= norms[governed] + 1e-9).mean())


def mean_pairwise_difference(values: Iterable[float]) -> float:
    """``mean_{i<j} |x_i - x_j|`` over the n(n-1)/2 pairs; NaN for fewer than two values.

    From the sorted values ``x_(1) <= ... <= x_(n)``: ``sum_{i<j} |x_i - x_j| =
    sum_k (2k - n - 1) x_(k)``, so O(n log n).
    """
    x = np.sort(np.asarray(list(values), dtype=float))
    n = x.size
    if n < 2:
        return math.nan
    if np.isnan(x).any():
        raise ValueError("mean_pairwise_difference got NaN values")
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * x).sum() / (n * (n - 1) / 2))


def norm_similarity(efforts: Iterable[float]) -> float:
    """Norm similarity of one round: ``1 - mean_{i<j} |e_i - e_j|`` for efforts in [0, 1]
    (Gupta et al., arXiv 2510.14401). 1 when all agents chose the same effort, 0 when half
    chose 0 and half 1 in a group of two; NaN for fewer than two efforts."""
    efforts = np.asarray(list(efforts), dtype=float)
    if ((efforts < 0) | (efforts > 1)).any():
        raise ValueError("norm_similarity needs efforts in [0, 1]")
    return 1.0 - mean_pairwise_difference(efforts)


# --- frames ------------------------------------------------------------------------------


def _ordered(steps: pd.DataFrame) -> pd.DataFrame:
    return steps.sort_values(["episode", "step", "agent"], kind="stable")


def harvest_rows(steps: pd.DataFrame, *, own_choices: bool = False) -> pd.DataFrame:
    """Harvest-phase rows of agents who took part (``present``, where recorded): one per
    agent-round. ``own_choices`` also drops the rows where the world applied its fallback."""
    rows = steps[steps["phase"] == HARVEST_PHASE]
    if "present" in rows:
        rows = rows[flag_column(rows, "present")]
    if own_choices:
        rows = rows[~flag_column(rows, "fallback_used")]
    return rows


def _horizon(steps: pd.DataFrame, given: int | None, default: int, name: str) -> int:
    """T: ``given``, else the last round of an episode without collapse, else ``default``."""
    if given is not None:
        if int(given) < 1:
            raise ValueError(f"{name} must be at least 1, got {given!r}")
        last = int(steps["round"].max())
        if last > int(given):
            raise ValueError(f"{name}={given} but the records reach round {last}; pass the run's {name}")
        return int(given)
    collapsed_episodes = set(steps.loc[flag_column(steps, "collapsed"), "episode"])
    survivors = steps[~steps["episode"].isin(collapsed_episodes)]
    return int(survivors["round"].max()) if len(survivors) else default


def agent_gains(steps: pd.DataFrame) -> pd.DataFrame:
    """Gains ``R_i``: one row per (episode, agent) with the agent's total granted harvest,
    for every agent with at least one (present) harvest row. Columns episode, agent, gain."""
    require_columns(steps, ("episode", "agent", "phase", "harvest"), "commons")
    rows = harvest_rows(steps)
    gains = rows.groupby(["episode", "agent"], sort=True)["harvest"].sum().astype(float)
    return gains.rename("gain").reset_index()


def stock_by_round(steps: pd.DataFrame) -> pd.DataFrame:
    """The resource per (episode, round): ``stock_before`` (at the start of the round),
    ``stock`` (after the round's last step, regrowth included), ``stock_after_harvest`` (when
    recorded, else NaN), ``collapsed`` (the round ended in collapse), and
    ``collapse_threshold`` (NaN when not recorded)."""
    require_columns(steps, ("episode", "step", "round", "stock_before", "stock"), "commons")
    ordered = _ordered(steps).assign(collapsed=flag_column(steps, "collapsed"))
    for column in ("stock_after_harvest", "collapse_threshold"):
        if column not in ordered:
            ordered[column] = math.nan
    grouped = ordered.groupby(["episode", "round"], sort=True)
    harvest_steps = ordered[ordered["phase"] == HARVEST_PHASE] if "phase" in ordered else ordered
    frame = pd.DataFrame({
        "stock_before": grouped["stock_before"].first().astype(float),
        "stock": grouped["stock"].last().astype(float),
        "stock_after_harvest": harvest_steps.groupby(["episode", "round"])["stock_after_harvest"].first().astype(float),
        "collapsed": grouped["collapsed"].any(),
        "collapse_threshold": grouped["collapse_threshold"].first().astype(float),
    })
    frame["collapsed"] = frame["collapsed"].fillna(False).astype(bool)
    return frame.reset_index()


def _mean(values: Iterable[float]) -> float:
    numbers = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(numbers)) if numbers else math.nan


def _episode_outcome(episode: pd.DataFrame, harvests: pd.DataFrame, horizon: int, yield_column: str) -> dict[str, Any]:
    """What GovSim and CPR share: survival, gains, efficiency, equality."""
    months = survival_time(episode["round"], flag_column(episode, "collapsed"))
    collapsed = bool(flag_column(episode, "collapsed").any())
    gains = harvests.groupby("agent")["harvest"].sum().astype(float)
    first_round = harvests[harvests["round"] == harvests["round"].min()] if len(harvests) else episode
    sustainable = float(first_round[yield_column].iloc[0])
    total = float(gains.sum())
    return {
        "episode": int(episode["episode"].iloc[0]),
        "survival_time": months,
        "survived": (not collapsed) and months == horizon,
        "collapsed": collapsed,
        "gain": float(gains.mean()) if len(gains) else math.nan,
        "total_harvest": total,
        "efficiency": efficiency(total, sustainable, horizon),
        "equality": equality(gains.to_numpy()) if len(gains) else math.nan,
    }


def commons_episodes(steps: pd.DataFrame, n_months: int | None = None) -> pd.DataFrame:
    """GovSim metrics per episode: one row per episode with columns episode, survival_time,
    survived, collapsed, gain, total_harvest, efficiency, equality, over_usage (NaN when no
    agent decided a harvest itself)."""
    require_columns(steps, GOVSIM_COLUMNS, GOVSIM_WORLD_ID)
    horizon = _horizon(steps, n_months, DEFAULT_N_MONTHS, "n_months")
    rows = []
    for _, episode in _ordered(steps).groupby("episode", sort=True):
        harvests = harvest_rows(episode)
        row = _episode_outcome(episode, harvests, horizon, "sustainable_total")
        chosen = harvest_rows(episode, own_choices=True)
        chosen = chosen[chosen["requested"] >= 0]
        row["over_usage"] = over_usage(chosen["requested"], chosen["threshold"])
        rows.append(row)
    return pd.DataFrame(rows)


def _run_means(episodes: pd.DataFrame, names: Iterable[str]) -> dict[str, float]:
    return {name: _mean(episodes[name]) for name in names}


def _decision_counts(steps: pd.DataFrame) -> dict[str, Any]:
    counts = valid_decision_counts(steps)
    decisions = counts["valid_decisions"] + counts["fallbacks"]
    return {"fallback_rate": counts["fallbacks"] / decisions if decisions else math.nan, **counts}


def _equality_reason(steps: pd.DataFrame) -> str:
    gains = agent_gains(steps)
    negative = gains[gains["gain"] < 0]
    if len(negative):
        return f"a gain is negative ({negative['gain'].min():g}); 1 - Gini is defined for non-negative gains"
    return "no agent harvested in any episode"


def _no_valid(what: str, steps: pd.DataFrame) -> str:
    counts = valid_decision_counts(steps)
    return f"no valid {what} ({counts['fallbacks']} fallbacks, {counts['valid_decisions']} valid decisions in all)"


def commons_metrics(steps: pd.DataFrame, n_months: int | None = None) -> dict[str, Any]:
    """GovSim headline numbers of a run (means over its episodes), JSON-safe.

    Keys: ``survival_time`` (months), ``survival_rate`` (share of episodes that survived all
    T months), ``gain`` (mean R_i), ``efficiency``, ``equality``, ``over_usage`` (shares in
    [0, 1]), ``episodes``, ``n_months`` (T used), ``fallback_rate``, ``valid_decisions`` and
    ``fallbacks``. Undefined numbers are NaN, explained in ``nan_reasons``. See the module
    docstring for the formulas and for how T is found.
    """
    horizon = _horizon(steps, n_months, DEFAULT_N_MONTHS, "n_months")
    episodes = commons_episodes(steps, horizon)
    metrics = {
        "survival_time": float(episodes["survival_time"].mean()),
        "survival_rate": float(episodes["survived"].astype(float).mean()),
        **_run_means(episodes, ("gain", "efficiency", "equality", "over_usage")),
        "episodes": len(episodes),
        "n_months": horizon,
        **_decision_counts(steps),
    }
    return with_nan_reasons(metrics, {
        "gain": "no agent was present for a harvest",
        "equality": _equality_reason(steps),
        "over_usage": _no_valid("harvest request", steps),
        "fallback_rate": "no decision was taken",
    })


def norm_similarity_by_round(steps: pd.DataFrame) -> pd.DataFrame:
    """CPR norm similarity per (episode, round), from the efforts of the harvest step (agents'
    own choices; fallbacks left out). Columns episode, round, norm_similarity (NaN for a round
    with fewer than two efforts), mean_effort, min_effort, max_effort."""
    require_columns(steps, ("episode", "round", "phase", "effort"), CPR_WORLD_ID)
    rows = harvest_rows(steps, own_choices=True)
    rows = rows[rows["effort"] >= 0]
    grouped = rows.groupby(["episode", "round"], sort=True)["effort"]
    frame = pd.DataFrame({
        "norm_similarity": grouped.apply(norm_similarity),
        "mean_effort": grouped.mean(),
        "min_effort": grouped.min(),
        "max_effort": grouped.max(),
    })
    return frame.astype(float).reset_index()


def cpr_episodes(steps: pd.DataFrame, n_rounds: int | None = None) -> pd.DataFrame:
    """CPR metrics per episode: columns episode, survival_time, survived, collapsed, gain,
    total_harvest, efficiency, equality, sanction_rate, norm_adherence, over_usage,
    norm_similarity (mean over rounds), final_norm_similarity, mean_group_norm (NaN where
    undefined)."""
    require_columns(steps, CPR_COLUMNS, CPR_WORLD_ID)
    horizon = _horizon(steps, n_rounds, DEFAULT_N_ROUNDS, "n_rounds")
    similarity = norm_similarity_by_round(steps)
    rows = []
    for episode_id, episode in _ordered(steps).groupby("episode", sort=True):
        harvests = harvest_rows(episode)
        row = _episode_outcome(episode, harvests, horizon, "max_sustainable_yield")
        chosen = harvest_rows(episode, own_choices=True)
        row["sanction_rate"] = float(flag_column(chosen, "sanctioned").mean()) if len(chosen) else math.nan
        row["norm_adherence"] = norm_adherence(chosen["harvest"], chosen["group_norm"].astype(float))
        row["over_usage"] = float(flag_column(chosen, "over_norm").mean()) if len(chosen) else math.nan
        rounds = similarity[similarity["episode"] == episode_id]["norm_similarity"].dropna()
        row["norm_similarity"] = float(rounds.mean()) if len(rounds) else math.nan
        row["final_norm_similarity"] = float(rounds.iloc[-1]) if len(rounds) else math.nan
        norms = harvests.groupby("round")["group_norm"].first().astype(float)
        norms = norms[norms >= 0]
        row["mean_group_norm"] = float(norms.mean()) if len(norms) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def cpr_metrics(steps: pd.DataFrame, n_rounds: int | None = None) -> dict[str, Any]:
    """Effort-CPR headline numbers of a run (means over its episodes), JSON-safe.

    Keys: ``survival_time`` (rounds), ``survival_rate``, ``gain``, ``efficiency``,
    ``equality``, ``sanction_rate``, ``norm_adherence`` (NaN when no norm was ever set),
    ``over_usage``, ``norm_similarity`` (mean over rounds), ``final_norm_similarity``,
    ``mean_group_norm`` (NaN without norms), ``episodes``, ``n_rounds`` (T used),
    ``fallback_rate``, ``valid_decisions`` and ``fallbacks``. Undefined numbers are NaN,
    explained in ``nan_reasons``. See the module docstring for the formulas.
    """
    horizon = _horizon(steps, n_rounds, DEFAULT_N_ROUNDS, "n_rounds")
    episodes = cpr_episodes(steps, horizon)
    metrics = {
        "survival_time": float(episodes["survival_time"].mean()),
        "survival_rate": float(episodes["survived"].astype(float).mean()),
        **_run_means(episodes, (
            "gain", "efficiency", "equality", "sanction_rate", "norm_adherence", "over_usage",
            "norm_similarity", "final_norm_similarity", "mean_group_norm",
        )),
        "episodes": len(episodes),
        "n_rounds": horizon,
        **_decision_counts(steps),
    }
    chosen = harvest_rows(steps, own_choices=True)
    governed = chosen[chosen["group_norm"].astype(float) >= 0]
    return with_nan_reasons(metrics, {
        "gain": "no agent was present for a harvest",
        "equality": _equality_reason(steps),
        "sanction_rate": _no_valid("harvest decision", steps),
        "norm_adherence": (
            "no group norm was ever in force" if not (steps["group_norm"].astype(float) >= 0).any()
            else _no_valid("harvest decision under a norm", steps) if governed.empty else "undefined"
        ),
        "over_usage": _no_valid("harvest decision", steps),
        "norm_similarity": "no round with at least two valid efforts",
        "final_norm_similarity": "no round with at least two valid efforts",
        "mean_group_norm": "no group norm was ever in force",
        "fallback_rate": "no decision was taken",
    })


def metric_options(world: str, world_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments for a world's metrics taken from its config's ``world.kwargs``:
    the horizon T (``{"n_months": 24}`` for GovSim, ``{"n_rounds": 80}`` for CPR); ``{}`` when
    the world has none or the config leaves it at its default."""
    argument = _HORIZON_ARGUMENT.get(world)
    if argument is None or not world_kwargs or world_kwargs.get(argument) is None:
        return {}
    return {argument: int(world_kwargs[argument])}
