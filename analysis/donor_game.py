"""Metrics of the Donor Game with cultural evolution.

Source: Vallinder & Hughes, "Cultural Evolution of Cooperation among LLM Agents"
(arXiv 2412.10270, AAMAS 2025). The headline is the *average final resources* per
generation: each agent's resources after the last round of a game, averaged over the agents
and the games of the generation (all-donate maximum under strict alternation with 12 agents,
12 rounds, multiplier b = 2 and endowment 10: 180 * 2^11 / 12 = 30,720). The paper also
reports the donation fraction per round and generation, punishment use (% of encounters) and
the "initial cooperation", the mean donation fraction of generation 1.

Input is ``steps.parquet`` of a run of ``dilemmazoo/donor-game-v0``: the standard step columns
plus the world's info columns ``role`` (donor, recipient, idle), ``partner``, ``move``
(donate, punish, refuse, abstain, ""), ``amount``, ``fraction`` (share of the donor's
resources, NaN off donor rows), ``resources`` (after the step) and ``round``.

A donor row with ``fallback_used`` is the world's fallback ("abstain") for an answer that
never parsed: it is not a donation of 0 and is left out of every donation and punishment
metric here (rates over valid decisions); it counts in ``fallbacks`` and ``fallback_rate``.
Final resources are outcomes, not decisions: they include what fallbacks did.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from .metrics import decision_stats, valid_decision_counts, with_nan_reasons

__all__ = [
    "WORLD_ID",
    "average_final_resources",
    "donation_fraction",
    "donor_game_metrics",
    "final_resources",
    "initial_cooperation",
    "punishment_rate",
    "real_donor_rows",
]

WORLD_ID = "dilemmazoo/donor-game-v0"


def _require(steps: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [column for column in columns if column not in steps.columns]
    if missing:
        raise ValueError(f"steps lacks the Donor Game column(s) {missing}; is this a {WORLD_ID} run?")


def real_donor_rows(steps: pd.DataFrame) -> pd.DataFrame:
    """Donor encounters decided by the agent itself: ``role == "donor"`` and no fallback."""
    _require(steps, ("role", "fallback_used"))
    donor = steps["role"] == "donor"
    fallback = steps["fallback_used"].fillna(False).astype(bool)
    return steps[donor & ~fallback]


def final_resources(steps: pd.DataFrame) -> pd.DataFrame:
    """Each agent's resources after the last step of each game.

    One row per (generation, game, agent) with columns generation, game, agent, name (when
    recorded) and resources, sorted by those keys.
    """
    keys = ["generation", "game", "agent"]
    _require(steps, [*keys, "step", "resources"])
    columns = [*keys, *(["name"] if "name" in steps else []), "resources"]
    last = steps.sort_values([*keys, "step"], kind="stable").groupby(keys, sort=True).tail(1)
    return last[columns].reset_index(drop=True)


def average_final_resources(steps: pd.DataFrame) -> pd.Series:
    """Mean final resources over the agents and games of each generation (the headline)."""
    final = final_resources(steps)
    return final.groupby("generation")["resources"].mean().astype(float).rename("avg_final_resources")


def donation_fraction(steps: pd.DataFrame, by: str | Iterable[str] = ("generation",)) -> pd.Series:
    """Mean share of their resources donors gave, over real donations (``move == "donate"``).

    ``by`` is ``("generation",)`` or ``("generation", "round")`` (any step columns work).
    Punishments, refusals and fallbacks are not donations and are left out.
    """
    by = [by] if isinstance(by, str) else list(by)
    _require(steps, ["move", "fraction", *by])
    donations = real_donor_rows(steps)
    donations = donations[donations["move"] == "donate"]
    return donations.groupby(by, sort=True)["fraction"].mean().astype(float).rename("donation_fraction")


def punishment_rate(steps: pd.DataFrame) -> pd.Series:
    """Per generation, the percentage of real donor encounters whose move is ``"punish"``.

    Generations with encounters but no punishment read 0.0.
    """
    _require(steps, ("generation", "move"))
    encounters = real_donor_rows(steps)
    punished = (encounters["move"] == "punish").astype(float)
    return (100.0 * punished.groupby(encounters["generation"], sort=True).mean()).rename("punishment_rate_pct")


def initial_cooperation(steps: pd.DataFrame) -> float:
    """Mean donation fraction of generation 1 (NaN when generation 1 has no donation)."""
    by_generation = donation_fraction(steps, by=("generation",))
    return float(by_generation.get(1, math.nan))


def _by_generation(series: pd.Series) -> dict[str, float]:
    # String keys, so that a dict read back from summary.json equals the one computed here.
    return {str(int(generation)): float(value) for generation, value in series.items()}


def donor_game_metrics(steps: pd.DataFrame) -> dict[str, Any]:
    """The headline numbers of a Donor Game run, for ``summary.json`` and reports.

    Keys: ``avg_final_resources_by_generation``, ``donation_fraction_by_generation`` (share in
    [0, 1]), ``punishment_rate_by_generation`` (percent of encounters) map the generation, as a
    string, to a number (a generation without a valid donor decision is absent from the rates);
    ``final_generation_avg_resources``, ``initial_cooperation`` (share) and ``fallback_rate``
    (fallbacks / decisions) are numbers; ``valid_decisions`` and ``fallbacks`` count decisions.
    Rates are over valid decisions; an undefined one is NaN, explained in ``nan_reasons``.
    """
    _require(steps, ("generation", "game", "agent", "step", "resources", "role", "move", "fraction", "fallback_used"))
    resources = average_final_resources(steps)
    counts = valid_decision_counts(steps)
    metrics = {
        "avg_final_resources_by_generation": _by_generation(resources),
        "final_generation_avg_resources": float(resources.iloc[-1]) if len(resources) else math.nan,
        "initial_cooperation": initial_cooperation(steps),
        "donation_fraction_by_generation": _by_generation(donation_fraction(steps)),
        "punishment_rate_by_generation": _by_generation(punishment_rate(steps)),
        "fallback_rate": decision_stats(steps)["fallback_rate"] if counts["valid_decisions"] + counts["fallbacks"] else math.nan,
        **counts,
    }
    first = steps[(steps["generation"] == 1) & (steps["role"] == "donor")]
    first_fallbacks = int(first["fallback_used"].fillna(False).astype(bool).sum())
    return with_nan_reasons(metrics, {
        "final_generation_avg_resources": "the run recorded no game",
        "initial_cooperation": (
            f"no valid donation in generation 1 ({len(first)} donor decisions, {first_fallbacks} fallbacks)"
        ),
        "fallback_rate": "no decision was taken",
    })
