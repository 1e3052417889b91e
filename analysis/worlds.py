"""Which headline metrics belong to which world: :data:`WORLD_METRICS` and :func:`world_metrics`.

The report and ``summary.json`` look a world's metrics up here; the per-world modules define them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from . import atp, commons, donor_game, gridworld, public_goods, repeated_game, tax, team_production, trust_split

__all__ = ["WORLD_METRICS", "measured_steps", "world_metrics"]

#: world id -> ``metrics(steps) -> dict`` of headline numbers; rates over valid decisions, with
#: ``valid_decisions``, ``fallbacks`` and, for each NaN, ``nan_reasons``; other worlds plug in here
WORLD_METRICS: dict[str, Callable[[pd.DataFrame], dict[str, Any]]] = {
    donor_game.WORLD_ID: donor_game.donor_game_metrics,
    trust_split.WORLD_ID: trust_split.trust_split_metrics,
    trust_split.NOCOMM_WORLD_ID: trust_split.split_nocomm_metrics,
    repeated_game.WORLD_ID: repeated_game.repeated_game_metrics,
    public_goods.WORLD_ID: public_goods.public_goods_metrics,
    commons.GOVSIM_WORLD_ID: commons.commons_metrics,
    commons.CPR_WORLD_ID: commons.cpr_metrics,
    gridworld.CLEANUP_WORLD_ID: gridworld.gridworld_metrics,
    gridworld.GATHERING_WORLD_ID: gridworld.gridworld_metrics,
    tax.WORLD_ID: tax.tax_metrics,
    team_production.WORLD_ID: team_production.team_production_metrics,
    atp.EXPLORATION_WORLD_ID: atp.exploration_metrics,
    atp.DIFFUSION_WORLD_ID: atp.diffusion_metrics,
}


def measured_steps(steps: pd.DataFrame) -> pd.DataFrame:
    """The rows a world's metrics read. A run under a mechanism (:mod:`dilemmazoo.norms`) is
    measured on its base game's steps only: the rows whose ``mechanism_phase`` is "play" (design,
    vote and sign steps carry none of the world's columns). Under reputation a step holds several
    matches (``match``), each a separate game of the base world: every (episode, match) is measured
    as its own episode, so a round is one match's seats (a "mutual" rate asks whether the players
    of one match all cooperated, not the whole population). Other runs' steps are returned as they are.
    """
    if "mechanism_phase" in steps.columns:
        steps = steps[steps["mechanism_phase"].eq("play")]
    if "match" in steps.columns and steps["match"].notna().any():
        steps = steps.assign(episode=steps.groupby(["episode", "match"], sort=True).ngroup())
    return steps


def world_metrics(world: str, steps: pd.DataFrame, world_kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The headline metrics of a run of ``world`` (for ``summary.json``).

    ``world_kwargs`` (the config's ``world.kwargs``) supplies what the records cannot tell,
    e.g. the horizon T of the commons worlds (:func:`.commons.metric_options`).
    ``{}`` for a world without registered metrics or a run without steps; a steps frame that
    lacks the world's columns raises ``ValueError`` naming them. A run under a mechanism is
    measured on :func:`measured_steps`.
    """
    metrics = WORLD_METRICS.get(world)
    if metrics is not None:
        steps = measured_steps(steps)
    if metrics is None or steps.empty:
        return {}
    return metrics(steps, **commons.metric_options(world, world_kwargs))
