"""Repeated matrix games (``dilemmazoo/repeated-game-v0``): cooperation and payoffs.

Action 0 is the cooperative (first-named) move in the named dilemmas (Akata et al. 2023;
Axelrod 1984). Rates use the move each player *chose* (``intended``) in action steps, and
leave out decisions where the world's fallback replaced an unreadable answer: a fallback is
not a choice, so it must not count as cooperation (STYLE.md rule 4). Trembles are reported
through ``played`` in the records, not here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["WORLD_ID", "cooperation_rate", "repeated_game_metrics"]

WORLD_ID = "dilemmazoo/repeated-game-v0"
REQUIRED = ("episode", "step", "agent", "decided", "fallback_used", "intended", "played", "phase", "reward")


def _check(steps: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in steps]
    if missing:
        raise ValueError(f"steps lack the repeated-game columns {missing}")


def _choices(steps: pd.DataFrame) -> pd.DataFrame:
    acts = steps[(steps["phase"] == "act") & steps["decided"]]
    return acts[~acts["fallback_used"].astype(bool)]


def cooperation_rate(steps: pd.DataFrame, by: str | None = None) -> float | pd.Series:
    """Share of real choices that are action 0, overall or per ``by`` (e.g. ``policy``)."""
    _check(steps)
    chosen = _choices(steps)
    cooperate = chosen["intended"] == 0
    if by is None:
        return float(cooperate.mean()) if len(chosen) else float("nan")
    return cooperate.groupby(chosen[by]).mean()


def repeated_game_metrics(steps: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers for ``summary.json`` (JSON-safe; ``None`` where undefined)."""
    _check(steps)
    acts = steps[steps["phase"] == "act"]
    chosen = _choices(steps)
    played = acts.pivot_table(index=["episode", "step"], columns="agent", values="played", aggfunc="first")
    mutual = float((played == 0).all(axis=1).mean()) if len(played) else None
    decided = acts[acts["decided"]]
    metrics: dict[str, Any] = {
        "cooperation_rate": float((chosen["intended"] == 0).mean()) if len(chosen) else None,
        "mutual_cooperation_rate": mutual,
        "mean_reward": float(acts["reward"].mean()) if len(acts) else None,
        "fallback_rate": float(decided["fallback_used"].mean()) if len(decided) else None,
    }
    if "policy" in steps and steps["policy"].nunique() > 1:
        metrics["cooperation_rate_by_policy"] = {str(k): float(v) for k, v in cooperation_rate(steps, by="policy").items()}
        metrics["mean_reward_by_policy"] = {str(k): float(v) for k, v in acts.groupby("policy")["reward"].mean().items()}
    return metrics
