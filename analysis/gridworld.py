"""Headline metrics of Cleanup and Gathering runs: Perolat et al. (2017) social outcomes.

The formulas live beside the worlds (:mod:`dilemmazoo.envs.gridworld.metrics`: efficiency
``sum_i R_i / T``, equality, sustainability, peace, maximin); this module turns a run's step
records into the ``(T, N)`` reward and tag matrices they take, one episode at a time, and
averages over episodes. ``tagged`` is the world's info column (the agent was out of play).
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
    """The run's social outcomes, averaged over its episodes (JSON-safe floats)."""
    table = episode_outcomes(steps)
    metrics: dict[str, Any] = {name: float(np.mean(table[name])) for name in table.columns if name != "episode"}
    metrics["episodes"] = int(len(table))
    return metrics
