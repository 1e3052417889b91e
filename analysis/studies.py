"""How the report shows a study run (:mod:`dilemmazoo.experiments.studies`): :data:`STUDY_ANALYSES`.

A study run has no episodes; its records are one table (``study.parquet``). Each study
registers ``figures(table) -> [(title, Figure)]`` and ``tables(table) -> [(title, DataFrame)]``
here, and the report draws them in the study's own section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from . import loyalty

__all__ = ["STUDY_ANALYSES", "StudyAnalysis"]


@dataclass(frozen=True)
class StudyAnalysis:
    """What the report draws for one study: a title, an explanation, its tables and figures."""

    title: str
    explanation: str
    tables: Callable[[pd.DataFrame], list[tuple[str, pd.DataFrame]]]
    figures: Callable[[pd.DataFrame], list[tuple[str, Figure]]]


def _loyalty_tables(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    targets = pd.DataFrame(loyalty.behavioural_targets(table))
    ratio = loyalty.effort_ratio_summary(table)
    ratios = pd.DataFrame([{"statistic": key, "value": value} for key, value in ratio.items()])
    return [("The six behavioural targets", targets), ("Effort ratio a*(0.9) / a*(0.1) over the cells", ratios)]


def _loyalty_figures(table: pd.DataFrame) -> list[tuple[str, Figure]]:
    return [
        ("Equilibrium effort against loyalty (closed form; numeric best response as points)",
         loyalty.plot_sweep(table)),
        ("Effort ratio a*(0.9) / a*(0.1) over the (omega, beta, c, n) cells", loyalty.plot_effort_ratios(table)),
    ]


STUDY_ANALYSES: dict[str, StudyAnalysis] = {
    "loyalty_sweep": StudyAnalysis(
        title="Loyalty sweep (Pant & Yu, arXiv 2601.16237)",
        explanation=(
            "Equilibrium efforts of the team-production game Q = omega * S^beta, payoff Q/n - c a_i, with the "
            "loyalty term theta (phi_B * teammates' mean payoff + phi_C * own cost) added to each member's "
            "utility, over the paper's grid of omega, beta, c, team size n and loyalty theta (phi fixed): by the "
            "symmetric closed form and by numeric best response. The six behavioural targets are scored as the "
            "paper's released validation code defines them; the numbers are what the formulas give."
        ),
        tables=_loyalty_tables,
        figures=_loyalty_figures,
    ),
}
