"""The public goods game (``dilemmazoo/public-goods-v0``): contributions, payoffs, normalised cooperation.

Pure functions of a run's ``steps`` records (one row per seat and step, with the world's infos
as columns: ``round_end``, ``contribution``, ``endowment``, ``multiplier`` ...).

- ``contribution_rate``: the mean share of the endowment contributed, ``contribution / e``, over
  valid decisions (all-or-nothing play: the share of "contribute" choices). A decision where the
  world's fallback replaced an unreadable answer is not a choice and is left out (STYLE.md rule 4).
- ``full_contribution_rate``: the share of rounds in which every seat decided validly and every
  seat contributed its whole endowment.
- ``mean_payoff``: the mean payoff per seat and round, an outcome, fallback rounds included.
- ``normalised_cooperation``: CoopEval's normalisation (Tewolde et al. 2026, arXiv 2604.15267;
  ``visualization/analysis_utils.py``, NormalizeScore) of the mean payoff ``x``:
  ``(x - NE) / (coop - NE)``, 0 when everyone free-rides (payoff ``e``) and 1 when everyone
  contributes (payoff ``m * e``; :func:`dilemmazoo.envs.public_goods.reference_payoffs`). Each
  row is normalised with its own recorded ``endowment`` and ``multiplier``, so that a frame
  mixing parameters still averages like with like; with one setting this equals normalising
  the mean payoff.

A rate with no valid decision is NaN with its reason in ``nan_reasons``; ``valid_decisions`` and
``fallbacks`` count the decisions.

For the report: :data:`DESCRIPTIONS` (metric name -> words), :func:`contribution_by_round` (the
time series), :func:`public_goods_outcome` (a run in words) and :func:`public_goods_figures`
(the report's figures function).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dilemmazoo.envs.public_goods import reference_payoffs

from .metrics import with_nan_reasons
from .plots import note_figure, plot_share_by_round

__all__ = [
    "DESCRIPTIONS",
    "WORLD_ID",
    "contribution_by_round",
    "contribution_rate",
    "full_contribution_rate",
    "mean_payoff",
    "normalised_cooperation",
    "public_goods_figures",
    "public_goods_metrics",
    "public_goods_outcome",
]

WORLD_ID = "dilemmazoo/public-goods-v0"
REQUIRED = ("episode", "step", "agent", "decided", "fallback_used", "round_end", "contribution", "endowment",
            "multiplier", "reward")


def normalised_cooperation(value: float, nash: float, cooperative: float) -> float:
    """``(value - nash) / (cooperative - nash)``: 0 at the equilibrium payoff, 1 at the cooperative one.

    CoopEval's points: PD 1 -> 2, public goods 1 -> 1.5, traveller's dilemma 2 -> 5, trust
    4 -> 10, stag hunt 3 -> 5, matching pennies -1 -> 0 (the repeated-game world's
    ``COOPEVAL_REFERENCE``). Raises ``ValueError`` when ``cooperative == nash`` or a number is
    not finite.
    """
    for name, number in (("value", value), ("nash", nash), ("cooperative", cooperative)):
        if isinstance(number, bool) or not isinstance(number, (int, float, np.number)) or not math.isfinite(number):
            raise ValueError(f"{name} must be a finite number, got {number!r}")
    if cooperative == nash:
        raise ValueError(f"cooperative and nash payoffs must differ to normalise, both are {nash!r}")
    return (float(value) - float(nash)) / (float(cooperative) - float(nash))


def _check(steps: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in steps]
    if missing:
        raise ValueError(f"steps lack the public-goods columns {missing}")


def _rounds(steps: pd.DataFrame) -> pd.DataFrame:
    """The rows of played rounds (each step is one round; ``round_end`` is False only at reset)."""
    return steps[steps["round_end"].fillna(False).astype(bool)]


def _fallback(frame: pd.DataFrame) -> pd.Series:
    return frame["fallback_used"].fillna(False).astype(bool)


def _decisions(steps: pd.DataFrame) -> pd.DataFrame:
    rounds = _rounds(steps)
    return rounds[rounds["decided"].fillna(False).astype(bool)]


def contribution_rate(steps: pd.DataFrame, by: str | None = None) -> float | pd.Series:
    """Mean ``contribution / endowment`` over valid decisions, overall (NaN without one) or per
    ``by`` (e.g. ``policy``; a group without a valid decision is NaN)."""
    _check(steps)
    decisions = _decisions(steps)
    share = (decisions["contribution"].astype(float) / decisions["endowment"].astype(float)).where(~_fallback(decisions))
    if by is None:
        valid = share.dropna()
        return float(valid.mean()) if len(valid) else math.nan
    return share.groupby(decisions[by]).mean()


def full_contribution_rate(steps: pd.DataFrame) -> float:
    """Share of rounds (episode, step) in which every seat decided validly and contributed its
    whole endowment; NaN when no round was decided validly by all."""
    _check(steps)
    rounds = _rounds(steps)
    if rounds.empty:
        return math.nan
    valid = ~_fallback(rounds) & rounds["decided"].fillna(False).astype(bool)
    full = rounds["contribution"].astype(float) >= rounds["endowment"].astype(float)
    frame = pd.DataFrame({"episode": rounds["episode"], "step": rounds["step"], "valid": valid, "full": full})
    per_round = frame.groupby(["episode", "step"]).agg(valid=("valid", "all"), full=("full", "all"))
    per_round = per_round[per_round["valid"]]
    return float(per_round["full"].mean()) if len(per_round) else math.nan


def mean_payoff(steps: pd.DataFrame, by: str | None = None) -> float | pd.Series:
    """Mean payoff (``reward``) per seat and round, fallback rounds included; per ``by`` if given."""
    _check(steps)
    rounds = _rounds(steps)
    if by is not None:
        return rounds["reward"].astype(float).groupby(rounds[by]).mean()
    return float(rounds["reward"].mean()) if len(rounds) else math.nan


def _normalised_rows(rounds: pd.DataFrame) -> pd.Series:
    """Each row's payoff normalised with its own parameters; NaN where ``m * e == e`` (multiplier 1)."""
    values = []
    for reward, endowment, multiplier in zip(rounds["reward"], rounds["endowment"], rounds["multiplier"]):
        nash, cooperative = reference_payoffs(float(endowment), float(multiplier))
        values.append(math.nan if cooperative == nash else normalised_cooperation(float(reward), nash, cooperative))
    return pd.Series(values, index=rounds.index, dtype=float)


def public_goods_metrics(steps: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers for ``summary.json``: ``contribution_rate``, ``full_contribution_rate``,
    ``mean_payoff``, ``normalised_cooperation``, ``fallback_rate``, ``valid_decisions``,
    ``fallbacks`` and, with several policies, ``contribution_rate_by_policy`` and
    ``mean_payoff_by_policy``. Undefined numbers are NaN, explained in ``nan_reasons``."""
    _check(steps)
    rounds = _rounds(steps)
    decided = _decisions(steps)
    fallbacks = int(_fallback(decided).sum())
    normalised = _normalised_rows(rounds)
    metrics: dict[str, Any] = {
        "contribution_rate": contribution_rate(steps),
        "full_contribution_rate": full_contribution_rate(steps),
        "mean_payoff": mean_payoff(steps),
        "normalised_cooperation": float(normalised.mean()) if len(rounds) and normalised.notna().all() else math.nan,
        "fallback_rate": fallbacks / len(decided) if len(decided) else math.nan,
        "valid_decisions": len(decided) - fallbacks,
        "fallbacks": fallbacks,
    }
    if "policy" in steps and steps["policy"].nunique() > 1:
        metrics["contribution_rate_by_policy"] = {
            str(k): float(v) for k, v in contribution_rate(steps, by="policy").items()
        }
        metrics["mean_payoff_by_policy"] = {str(k): float(v) for k, v in mean_payoff(steps, by="policy").items()}
    no_choice = f"no valid decision: all {fallbacks} decisions were fallbacks" if fallbacks else "no decision"
    return with_nan_reasons(metrics, {
        "contribution_rate": no_choice,
        "full_contribution_rate": no_choice if not len(decided) - fallbacks else "no round in which every seat decided validly",
        "mean_payoff": "no round was played",
        "normalised_cooperation": (
            "no round was played" if not len(rounds)
            else "multiplier 1: contributing creates no surplus, so cooperative and equilibrium payoffs coincide"
        ),
        "fallback_rate": "no decision",
        "contribution_rate_by_policy": "this policy made no valid decision",
    })


def contribution_by_round(steps: pd.DataFrame) -> pd.Series:
    """Mean ``contribution / endowment`` over valid decisions by round (episodes pooled): the
    report's time series. A round without a valid decision is left out."""
    _check(steps)
    decisions = _decisions(steps)
    decisions = decisions[~_fallback(decisions)]
    share = decisions["contribution"].astype(float) / decisions["endowment"].astype(float)
    return share.groupby(decisions["round"].astype(int)).mean().astype(float)


def public_goods_outcome(steps: pd.DataFrame) -> str:
    """A run's outcome in words, e.g. ``"contribution rate 0.333; mean payoff 1.17 per player and
    round (all free-ride 1, all contribute 1.5)"``."""
    _check(steps)
    rounds = _rounds(steps)
    if rounds.empty:
        return "no round played"
    metrics = public_goods_metrics(steps)
    rate = metrics["contribution_rate"]
    rate_text = "undefined (no valid decision)" if math.isnan(rate) else f"{rate:.3g}"
    settings = rounds[["endowment", "multiplier"]].drop_duplicates()
    if len(settings) == 1:
        nash, cooperative = reference_payoffs(float(settings["endowment"].iloc[0]), float(settings["multiplier"].iloc[0]))
        reference = f" (all free-ride {nash:.3g}, all contribute {cooperative:.3g})"
    else:
        reference = ""
    return f"contribution rate {rate_text}; mean payoff {metrics['mean_payoff']:.3g} per player and round{reference}"


def public_goods_figures(steps_by_run: Mapping[str, pd.DataFrame],
                         world_kwargs: Mapping[str, Any] | None = None) -> list[tuple[str, Figure]]:
    """The report's figures: the contribution rate by round, one line per run."""
    title = "Contribution rate by round"
    runs = {str(label): frame for label, frame in steps_by_run.items() if not frame.empty}
    missing = [c for c in (*REQUIRED, "round") if any(c not in frame for frame in runs.values())]
    if not runs or missing:
        why = "no step records" if not runs else f"the steps have no column(s) {', '.join(missing)}"
        return [(title, note_figure(title, why))]
    series = {label: contribution_by_round(frame) for label, frame in runs.items()}
    series = {label: values for label, values in series.items() if len(values)}
    if not series:
        return [(title, note_figure(title, "no valid decision"))]
    return [(title, plot_share_by_round(series, title, "share of the endowment contributed"))]


#: metric name -> what it means, for the report
DESCRIPTIONS: dict[str, str] = {
    "contribution_rate": "mean share of the endowment contributed over valid decisions (fallbacks left out)",
    "full_contribution_rate": "share of rounds, decided validly by all, in which everyone contributed everything",
    "mean_payoff": "mean payoff per player and round (fallback rounds included)",
    "normalised_cooperation": "(mean payoff - e) / (m e - e): 0 when all free-ride, 1 when all contribute (CoopEval)",
    "fallback_rate": "decisions replaced by the world's fallback / decisions",
    "contribution_rate_by_policy": "contribution rate per agent group",
    "mean_payoff_by_policy": "mean payoff per player and round per agent group",
}
