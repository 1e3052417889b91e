"""Repeated matrix games (``dilemmazoo/repeated-game-v0``): cooperation and payoffs.

Action 0 is the cooperative (first-named) move in the named dilemmas (Akata et al. 2023;
Axelrod 1984). Rates are over valid decisions: they use the move each player *chose*
(``intended``) in action steps and leave out decisions where the world's fallback replaced
an unreadable answer, since a fallback is not a choice and must not count as cooperation
(STYLE.md rule 4). ``mutual_cooperation_rate`` is the share of rounds in which both players
chose validly and both moves played were action 0 (trembles, recorded in ``played``, count
as played). A rate with no valid decision is NaN with its reason in ``nan_reasons``;
``valid_decisions`` and ``fallbacks`` count the action decisions. ``mean_reward`` is an
outcome and includes the rounds a fallback played.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .metrics import with_nan_reasons

__all__ = ["WORLD_ID", "cooperation_rate", "mutual_cooperation_rate", "repeated_game_metrics"]

WORLD_ID = "dilemmazoo/repeated-game-v0"
REQUIRED = ("episode", "step", "agent", "decided", "fallback_used", "intended", "played", "phase", "reward")


def _check(steps: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in steps]
    if missing:
        raise ValueError(f"steps lack the repeated-game columns {missing}")


def _fallback(frame: pd.DataFrame) -> pd.Series:
    return frame["fallback_used"].fillna(False).astype(bool)


def _decisions(steps: pd.DataFrame) -> pd.DataFrame:
    return steps[(steps["phase"] == "act") & steps["decided"].fillna(False).astype(bool)]


def _choices(steps: pd.DataFrame) -> pd.DataFrame:
    acts = _decisions(steps)
    return acts[~_fallback(acts)]


def cooperation_rate(steps: pd.DataFrame, by: str | None = None) -> float | pd.Series:
    """Share of valid choices that are action 0, overall (NaN without one) or per ``by``
    (e.g. ``policy``; a group without a valid choice is NaN)."""
    _check(steps)
    acts = _decisions(steps)
    cooperate = (acts["intended"] == 0).where(~_fallback(acts))  # NaN on fallbacks: left out of the mean
    if by is None:
        valid = cooperate.dropna()
        return float(valid.mean()) if len(valid) else math.nan
    return cooperate.astype(float).groupby(acts[by]).mean()


def mutual_cooperation_rate(steps: pd.DataFrame) -> float:
    """Share of rounds (episode, step) with every player's decision valid in which every
    played move is action 0; NaN when no round was decided validly by all."""
    _check(steps)
    acts = steps[steps["phase"] == "act"]
    rounds = acts.groupby(["episode", "step"])
    valid = rounds["fallback_used"].apply(lambda f: not f.fillna(False).astype(bool).any())
    mutual = rounds["played"].apply(lambda p: bool((p == 0).all()))
    mutual = mutual[valid]
    return float(mutual.mean()) if len(mutual) else math.nan


def repeated_game_metrics(steps: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers for ``summary.json``: ``cooperation_rate``, ``mutual_cooperation_rate``,
    ``mean_reward``, ``fallback_rate``, ``valid_decisions``, ``fallbacks`` and, with several
    policies, ``cooperation_rate_by_policy`` and ``mean_reward_by_policy``. Undefined numbers
    are NaN, explained in ``nan_reasons``."""
    _check(steps)
    acts = steps[steps["phase"] == "act"]
    decided = _decisions(steps)
    fallbacks = int(_fallback(decided).sum())
    metrics: dict[str, Any] = {
        "cooperation_rate": cooperation_rate(steps),
        "mutual_cooperation_rate": mutual_cooperation_rate(steps),
        "mean_reward": float(acts["reward"].mean()) if len(acts) else math.nan,
        "fallback_rate": fallbacks / len(decided) if len(decided) else math.nan,
        "valid_decisions": len(decided) - fallbacks,
        "fallbacks": fallbacks,
    }
    if "policy" in steps and steps["policy"].nunique() > 1:
        metrics["cooperation_rate_by_policy"] = {str(k): float(v) for k, v in cooperation_rate(steps, by="policy").items()}
        metrics["mean_reward_by_policy"] = {str(k): float(v) for k, v in acts.groupby("policy")["reward"].mean().items()}
    no_choice = f"no valid decision: all {fallbacks} action decisions were fallbacks" if fallbacks else "no action decision"
    return with_nan_reasons(metrics, {
        "cooperation_rate": no_choice,
        "mutual_cooperation_rate": (
            no_choice if not len(decided) - fallbacks else "no round in which every player decided validly"
        ),
        "mean_reward": "no action step was played",
        "fallback_rate": "no action decision",
        "cooperation_rate_by_policy": "this policy made no valid decision",
    })
