"""Headline metrics of Cleanup and Gathering runs: Perolat et al. (2017) social outcomes.

The formulas live beside the worlds (:mod:`dilemmazoo.envs.gridworld.metrics`: efficiency
``sum_i R_i / T``, equality, sustainability, peace, maximin); this module turns a run's step
records into the ``(T, N)`` reward and tag matrices they take, one episode at a time, and
averages over episodes. ``tagged`` is the world's info column (the agent was out of play).

Equality ``1 - Gini`` is only defined for non-negative returns (all-equal returns aside, which
are 1): with a negative return the formula leaves [0, 1] (returns ``(-1, -10)`` give
``1 + 18/44 = 1.41``). Such an episode's equality is NaN
(:func:`dilemmazoo.envs.gridworld.metrics.equality`); the run's equality is the mean
over the episodes where it is defined, and NaN with a reason in ``nan_reasons`` when none is.
Beside the metrics come the decision counts ``valid_decisions`` and ``fallbacks`` (rows whose
``fallback_used`` is set): the outcomes are over environment steps, so a fallback ``stay``
still counts as a step, and the count tells how many there were.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dilemmazoo.envs.gridworld.metrics import social_outcomes

__all__ = ["CLEANUP_WORLD_ID", "GATHERING_WORLD_ID", "episode_outcomes", "gridworld_metrics"]

CLEANUP_WORLD_ID = "dilemmazoo/cleanup-v0"
GATHERING_WORLD_ID = "dilemmazoo/gathering-v0"
_COLUMNS = ("episode", "step", "agent", "reward", "tagged")


def episode_outcomes(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per episode: efficiency, equality, sustainability, peace, maximin, apples."""
    missing = [c for c in _COLUMNS if c not in steps.columns]
    if missing:
        raise ValueError(f"gridworld metrics need the step columns {missing}")
    rows = []
    for episode, frame in steps.groupby("episode", sort=True):
        rewards = frame.pivot_table(index="step", columns="agent", values="reward", aggfunc="sum", fill_value=0.0)
        tagged = frame.pivot_table(index="step", columns="agent", values="tagged", aggfunc="max", fill_value=False)
        tagged = tagged.reindex(index=rewards.index, columns=rewards.columns, fill_value=False)
        outcome = social_outcomes(rewards.to_numpy(dtype=float), tagged.to_numpy(dtype=bool))
        if "apples_collected" in frame.columns:
            outcome["apples"] = float(frame["apples_collected"].sum())
        rows.append({"episode": int(episode), **outcome})
    return pd.DataFrame(rows)


def gridworld_metrics(steps: pd.DataFrame) -> dict[str, Any]:
    """The run's social outcomes, averaged over its episodes (JSON-safe floats), with the
    decision counts ``valid_decisions`` and ``fallbacks`` and, where equality is undefined in
    every episode, ``nan_reasons``."""
    table = episode_outcomes(steps)
    metrics: dict[str, Any] = {
        name: float(np.mean(table[name])) for name in table.columns if name not in ("episode", "equality")
    }
    defined = table["equality"].dropna() if "equality" in table.columns else pd.Series(dtype=float)
    metrics["equality"] = float(defined.mean()) if len(defined) else float("nan")
    undefined = int(len(table) - len(defined))
    if undefined:
        metrics["equality_undefined_episodes"] = undefined
    if not len(defined):
        reason = ("a return is negative in every episode, where 1 - Gini is undefined" if len(table)
                  else "no episode was recorded")
        metrics["nan_reasons"] = {"equality": reason}
    metrics["episodes"] = int(len(table))
    fallbacks = int(steps["fallback_used"].fillna(False).astype(bool).sum()) if "fallback_used" in steps.columns else 0
    metrics["fallbacks"] = fallbacks
    metrics["valid_decisions"] = int(len(steps) - fallbacks)
    return metrics
