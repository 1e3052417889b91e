"""Report parts of Trust-and-Split (``dilemmazoo/trust-split-v0``) and Split No-Comm
(``dilemmazoo/split-nocomm-v0``): split shares, agreement, messages.

Source: "Learning Robust Social Strategies with Large Language Models" (arXiv 2511.19405);
the allocation rule is :func:`dilemmazoo.envs.split_rule.proportional_allocation`.

Definitions (per player seat, over its proposal steps where it did not fall back):

- **claim share**: the units it claimed over the pool (TAS: ``proposal / coins``; No-Comm: the
  claims summed over items over ``units * len(items)``);
- **received share**: the units it was allocated over the pool (what the rule gave it);
- **reward share**: its reward over both players' rewards of the round (rounds that paid nothing
  are left out).

**Agreement**: a round in which the claims fit the pool, so that each player received exactly
its claim (``x_A + x_B <= N`` for the coins, and for every item in No-Comm); rounds where a
seat fell back are left out and counted. **Messages** (TAS): count of non-empty messages a
player chose (fallback messages are empty and counted apart), their mean length in characters
and in words, and the share that claim a hand (:func:`.trust_split.claimed_hand`).

The pool size comes from the run's ``world.kwargs`` through the world itself, so its defaults
apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dilemmazoo.envs.split_nocomm import SplitNoCommEnv
from dilemmazoo.envs.trust_split import TrustSplitEnv

from .plots import _new_figure, note_figure, plot_share_by_round
from .repeated_game_plots import short_policy
from .trust_split import NOCOMM_WORLD_ID, WORLD_ID, claimed_hand, proposal_rows

__all__ = [
    "agreement_by_run",
    "efficiency_by_round",
    "message_stats",
    "split_figures",
    "split_shares",
    "split_tables",
]

_WORLD_ARGUMENTS = {
    WORLD_ID: (TrustSplitEnv, ("n_rounds", "coins", "high_value", "low_value", "max_message_chars")),
    NOCOMM_WORLD_ID: (SplitNoCommEnv, ("n_rounds", "items", "units", "item_values")),
}


def _pool(world: str, world_kwargs: Mapping[str, Any] | None) -> tuple[list[str], list[str], int]:
    """(claim columns, allocation columns, pool size in units) of a world with these kwargs."""
    cls, names = _WORLD_ARGUMENTS[world]
    env = cls(**{key: value for key, value in (world_kwargs or {}).items() if key in names})
    if world == WORLD_ID:
        return ["proposal"], ["coins"], int(env.coins)
    items = list(env.items)
    return [f"proposal_{item}" for item in items], [f"coins_{item}" for item in items], int(env.units) * len(items)


def _fallback(rows: pd.DataFrame) -> pd.Series:
    return rows["fallback_used"].fillna(False).astype(bool)


def _decided_proposals(steps: pd.DataFrame) -> pd.DataFrame:
    rows = proposal_rows(steps)
    return rows[rows["decided"].fillna(False).astype(bool)] if "decided" in rows else rows


def _agreed(rows: pd.DataFrame, claims: list[str], allocations: list[str]) -> pd.Series:
    """Per proposal row: whether this player received exactly its claim on every item."""
    got = np.ones(len(rows), dtype=bool)
    for claim, allocation in zip(claims, allocations):
        got &= np.isclose(rows[claim].to_numpy(dtype=float), rows[allocation].to_numpy(dtype=float))
    return pd.Series(got, index=rows.index)


def split_shares(steps: pd.DataFrame, world: str, world_kwargs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Per policy: proposal decisions, fallbacks, and mean claim, received and reward shares over
    its real decisions (NaN where it has none)."""
    claims, allocations, pool = _pool(world, world_kwargs)
    rows = _decided_proposals(steps)
    rounds = rows.groupby(["episode", "round"])["reward"].transform("sum")
    frame = pd.DataFrame({
        "policy": rows["policy"].map(short_policy) if "policy" in rows else rows["agent"].astype(str),
        "fallback": _fallback(rows),
        "claim": rows[claims].sum(axis=1).astype(float) / pool,
        "received": rows[allocations].sum(axis=1).astype(float) / pool,
        "reward_share": (rows["reward"] / rounds.where(rounds > 0)).astype(float),
    })
    real = frame[~frame["fallback"]]
    table = frame.groupby("policy", sort=True).agg(decisions=("fallback", "size"), fallbacks=("fallback", "sum"))
    means = real.groupby("policy", sort=True)[["claim", "received", "reward_share"]].mean()
    return table.join(means).reset_index()


def agreement_by_run(steps_by_run: Mapping[str, pd.DataFrame], world: str,
                     world_kwargs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Per run: rounds, rounds with a fallback (left out), agreement rate over the others."""
    claims, allocations, _ = _pool(world, world_kwargs)
    found = []
    for label, steps in steps_by_run.items():
        if steps.empty:
            continue
        rows = proposal_rows(steps)
        flags = pd.DataFrame({"episode": rows["episode"], "round": rows["round"], "fallback": _fallback(rows),
                              "agreed": _agreed(rows, claims, allocations)})
        per_round = flags.groupby(["episode", "round"]).agg(fallback=("fallback", "any"), agreed=("agreed", "all"))
        real = per_round[~per_round["fallback"]]
        found.append({"run": label, "rounds": len(per_round), "rounds_with_fallback": int(per_round["fallback"].sum()),
                      "agreement_rate": float(real["agreed"].mean()) if len(real) else float("nan")})
    return pd.DataFrame(found, columns=["run", "rounds", "rounds_with_fallback", "agreement_rate"])


def message_stats(steps: pd.DataFrame) -> pd.DataFrame:
    """Trust-and-Split, per policy: messages chosen (non-empty), empty ones, fallbacks, mean
    length in characters and words, and the share that claim a hand."""
    rows = steps[(steps["phase"] == "message") & steps["decided"].fillna(False).astype(bool)]
    text = rows["message"].fillna("").astype(str)
    fallback = _fallback(rows)
    frame = pd.DataFrame({
        "policy": rows["policy"].map(short_policy) if "policy" in rows else rows["agent"].astype(str),
        "fallback": fallback, "empty": (text.str.strip() == "") & ~fallback,
        "chars": text.str.len().astype(float), "words": text.str.split().str.len().astype(float),
        "claims": text.map(lambda message: claimed_hand(message) is not None),
    })
    sent = frame[~frame["fallback"] & ~frame["empty"]]
    table = frame.groupby("policy", sort=True).agg(fallbacks=("fallback", "sum"), empty=("empty", "sum"))
    stats = sent.groupby("policy", sort=True).agg(
        messages=("chars", "size"), mean_chars=("chars", "mean"), mean_words=("words", "mean"), claim_share=("claims", "mean"),
    )
    table = table.join(stats)
    table["messages"] = table["messages"].fillna(0).astype(int)
    return table.reset_index()


def efficiency_by_round(steps: pd.DataFrame) -> pd.Series:
    """Split efficiency per round number: achieved over best total, summed over the episodes."""
    rows = proposal_rows(steps)
    per = rows.groupby(["episode", "round"]).agg(achieved=("reward", "sum"), best=("max_welfare", "first")).reset_index()
    by_round = per.groupby("round")[["achieved", "best"]].sum()
    return (by_round["achieved"] / by_round["best"].where(by_round["best"] > 0)).rename("split_efficiency")


def _plot_efficiency(steps_by_run: Mapping[str, pd.DataFrame]) -> Figure:
    title = "Split efficiency by round"
    series = {label: efficiency_by_round(frame) for label, frame in steps_by_run.items() if not frame.empty}
    if not series:
        return note_figure(title, "no step records")
    return plot_share_by_round(series, title, "achieved / best total")


def _plot_shares(shares: pd.DataFrame) -> Figure:
    title = "Split shares per player (real decisions)"
    if shares.empty or shares[["claim", "received", "reward_share"]].isna().all().all():
        return note_figure(title, "no real proposal was recorded (every decision fell back)")
    figure = _new_figure(7.0, 3.2 + 0.25 * len(shares))
    axes = figure.add_subplot()
    positions = np.arange(len(shares))
    width = 0.27
    for offset, (column, name) in enumerate((("claim", "claimed"), ("received", "received"), ("reward_share", "reward share"))):
        axes.barh(positions + (offset - 1) * width, shares[column].fillna(0.0).to_numpy(), width, label=name)
    axes.set_yticks(positions, shares["policy"].to_list())
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of the pool (reward share: of the round's total reward)")
    axes.set_title(title)
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3, axis="x")
    return figure


def split_figures(world: str):
    """The ``figures(steps_by_run, world_kwargs)`` function of one of the two split worlds."""

    def figures(steps_by_run: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any] | None = None
                ) -> list[tuple[str, Figure]]:
        frames = [frame for frame in steps_by_run.values() if not frame.empty]
        pooled = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        shares = split_shares(pooled, world, world_kwargs) if len(pooled) else pd.DataFrame()
        return [("Split efficiency by round", _plot_efficiency(steps_by_run)), ("Split shares", _plot_shares(shares))]

    return figures


def split_tables(world: str):
    """The ``tables(steps_by_run, world_kwargs)`` function of one of the two split worlds."""

    def tables(steps_by_run: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any] | None = None
               ) -> list[dict[str, Any]]:
        frames = [frame for frame in steps_by_run.values() if not frame.empty]
        if not frames:
            return []
        pooled = pd.concat(frames, ignore_index=True)
        shares = split_shares(pooled, world, world_kwargs)
        agreement = agreement_by_run(steps_by_run, world, world_kwargs)
        found = [
            {"title": "Split shares per player",
             "note": "Means over each player's proposals that were its own choice; its fallbacks are counted beside them.",
             "columns": ["player (policy)", "proposals", "fallbacks", "claimed share", "received share", "reward share"],
             "rows": [[r["policy"], int(r["decisions"]), int(r["fallbacks"]), r["claim"], r["received"], r["reward_share"]]
                      for r in shares.to_dict("records")]},
            {"title": "Agreement",
             "note": "A round agrees when both claims fit the pool, so each player received exactly its claim; rounds "
                     "where a player fell back are left out and counted.",
             "columns": ["run", "rounds", "rounds with a fallback", "agreement rate"],
             "rows": [[r["run"], int(r["rounds"]), int(r["rounds_with_fallback"]), r["agreement_rate"]]
                      for r in agreement.to_dict("records")]},
        ]
        if world == WORLD_ID:
            messages = message_stats(pooled)
            found.append({
                "title": "Messages",
                "note": "Messages a player chose (not empty); fallback messages are empty and counted apart. Claim share: "
                        "messages naming a hand or the upper/lower hand.",
                "columns": ["player (policy)", "messages", "empty", "fallbacks", "mean length (characters)", "mean words",
                            "claim share"],
                "rows": [[r["policy"], int(r["messages"]), int(r["empty"]), int(r["fallbacks"]), r["mean_chars"],
                          r["mean_words"], r["claim_share"]] for r in messages.to_dict("records")],
            })
        return found

    return tables
