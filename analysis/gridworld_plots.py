"""Report plots of Cleanup and Gathering: Perolat et al. (2017) social outcomes per episode.

One panel per outcome (efficiency, equality, sustainability, peace), x the episode, one line
per run; the values come from :func:`.gridworld.episode_outcomes`. An outcome that is undefined
(NaN) in every episode, such as equality when no return was positive, is said so in its panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .gridworld import episode_outcomes
from .plots import _new_figure, note_figure

__all__ = ["OUTCOMES", "gridworld_figures", "outcome_by_episode"]

_MAX_LISTED_EPISODES = 16

#: the outcomes drawn, with their axis labels
OUTCOMES = {
    "efficiency": "efficiency (sum of returns / T)",
    "equality": "equality (1 - Gini)",
    "sustainability": "sustainability (mean time of reward)",
    "peace": "peace (agents not tagged, per step)",
}


def outcome_by_episode(name: str):
    """``steps -> Series`` of one outcome by episode (for the grid-cell bands)."""

    def series(steps: pd.DataFrame) -> pd.Series:
        table = episode_outcomes(steps)
        return table.set_index("episode")[name].astype(float)

    return series


def gridworld_figures(steps_by_run: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any] | None = None
                      ) -> list[tuple[str, Figure]]:
    """The four social outcomes by episode, one line per run, as one (title, figure) pair."""
    title = "Social outcomes by episode"
    tables = {label: episode_outcomes(frame) for label, frame in steps_by_run.items() if not frame.empty}
    if not tables:
        return [(title, note_figure(title, "no step records"))]
    figure = _new_figure(8.0, 5.5)
    panels = figure.subplots(2, 2, sharex=True).ravel()
    several = len(tables) > 1
    episodes = sorted({int(e) for table in tables.values() for e in table["episode"]})
    for axes, (name, label) in zip(panels, OUTCOMES.items()):
        for run, table in tables.items():
            axes.plot(table["episode"], table[name], marker="o", markersize=3.5, linewidth=1.0 if several else 1.6,
                      alpha=0.7 if several else 1.0, label=run)
        if not any(np.isfinite(table[name].to_numpy(dtype=float)).any() for table in tables.values()):
            # e.g. equality when no return was positive: the headline table gives the reason
            axes.text(0.5, 0.5, "undefined in every episode", ha="center", va="center", color="0.35",
                      transform=axes.transAxes)
        axes.set_title(label, fontsize="medium")
        if len(episodes) <= _MAX_LISTED_EPISODES:
            axes.set_xticks(episodes)
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
    for axes in panels[2:]:
        axes.set_xlabel("episode")
    if several and len(tables) <= 10:
        panels[0].legend(fontsize="x-small")
    figure.suptitle(title)
    return [(title, figure)]
