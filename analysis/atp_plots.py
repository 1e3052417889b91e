"""Plots of the two Alignment Tipping Process worlds (Han et al., arXiv 2510.04860).

- :func:`pooled_curve`: one adoption curve over every run and episode given (each episode of
  each run is one replicate, so the band is the 95% t-interval over seeds and episodes).
- :func:`exploration_figures`: the violation rate by round (own answers only) with its band and
  the detected tipping round (:func:`dilemmazoo.analysis.tipping.plot_adoption`).
- :func:`diffusion_figures`: the collective share by round with its band and tipping round, and
  the diffusion graph of the first run's first episode: the interaction graph rebuilt from the
  run's world kwargs (:func:`dilemmazoo.envs.atp_diffusion.interaction_graph`), each seat
  coloured by the round it first chose the collective option
  (:func:`dilemmazoo.analysis.tipping.plot_diffusion`).

Both are the report's figures functions: ``figures(steps_by_run, world_kwargs) -> [(title, figure)]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx
import pandas as pd
from matplotlib.figure import Figure

from dilemmazoo.envs.atp_diffusion import interaction_graph

from . import atp
from .plots import note_figure
from .tipping import first_adoption_round, plot_adoption, plot_diffusion

__all__ = ["EXPLORATION_TITLE", "DIFFUSION_TITLE", "GRAPH_TITLE", "diffusion_figures", "diffusion_graph",
           "exploration_figures", "pooled_curve"]

EXPLORATION_TITLE = "Violation rate by round"
DIFFUSION_TITLE = "Collective share by round"
GRAPH_TITLE = "Who chose the collective option when"
_REPLICATE = "_replicate"


def pooled_curve(steps_by_run: Mapping[str, pd.DataFrame], rows_of, column: str) -> pd.DataFrame:
    """The adoption curve of ``column`` over the rows ``rows_of(steps)`` of every run, each
    (run, episode) one replicate."""
    parts = []
    for label, steps in steps_by_run.items():
        if steps.empty:
            continue
        rows = rows_of(steps)
        parts.append(rows.assign(**{_REPLICATE: str(label) + "/" + rows["episode"].astype(str)}))
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["round", column, _REPLICATE])
    return atp.adoption_curve_of(rows, column, group=_REPLICATE)


def _curve_figure(steps_by_run: Mapping[str, pd.DataFrame], rows_of, column: str, title: str,
                  ylabel: str, label: str) -> Figure:
    curve = pooled_curve(steps_by_run, rows_of, column)
    if curve.empty:
        return note_figure(title, f"no own choice to draw ({column})")
    return plot_adoption({label: curve}, atp.tipping_of(curve), title=title, ylabel=ylabel)


def exploration_figures(steps_by_run: Mapping[str, pd.DataFrame],
                        world_kwargs: Mapping[str, Any]) -> list[tuple[str, Figure]]:
    """The violation curve over every run with its tipping round."""
    return [(EXPLORATION_TITLE, _curve_figure(steps_by_run, atp.own_answers, "violated", EXPLORATION_TITLE,
                                              "share of own answers that violate", "violation rate"))]


def diffusion_graph(world_kwargs: Mapping[str, Any], agents: list[str]) -> nx.Graph:
    """The run's interaction graph with seats as nodes, rebuilt from its ``world.kwargs``
    (``graph``, ``graph_seed``, ``small_world_k``, ``small_world_p``; everyone sees everyone by
    default) for the seats ``agents`` (``agent_0``, ...)."""
    names = sorted(agents, key=lambda name: int(name.rsplit("_", 1)[-1]) if name.rsplit("_", 1)[-1].isdigit() else name)
    n_agents = int(world_kwargs.get("n_agents", len(names)))
    names = [f"agent_{i}" for i in range(n_agents)] if len(names) != n_agents else names
    options = {key: world_kwargs[key] for key in ("small_world_k", "small_world_p") if key in world_kwargs}
    graph = interaction_graph(world_kwargs.get("graph"), n_agents, seed=int(world_kwargs.get("graph_seed", 0)),
                              names=names, **options)
    return nx.relabel_nodes(graph, dict(enumerate(names)))


def diffusion_figures(steps_by_run: Mapping[str, pd.DataFrame],
                      world_kwargs: Mapping[str, Any]) -> list[tuple[str, Figure]]:
    """The collective-share curve over every run with its tipping round, and who adopted when in
    the first run's first episode on the interaction graph."""
    figures = [(DIFFUSION_TITLE, _curve_figure(steps_by_run, atp.own_choices, "collective", DIFFUSION_TITLE,
                                               "share choosing the collective option", "collective share"))]
    runs = [(label, steps) for label, steps in steps_by_run.items() if not steps.empty]
    if not runs:
        figures.append((GRAPH_TITLE, note_figure(GRAPH_TITLE, "no steps recorded")))
        return figures
    label, steps = runs[0]
    played = steps[pd.to_numeric(steps["round"], errors="coerce") >= 1]
    adopted = first_adoption_round(played, "collective")
    graph = diffusion_graph(world_kwargs, list(adopted))
    # nodes drawn by seat number (agent_3 -> 3): short labels fit inside the nodes
    seat = {name: index for index, name in enumerate(graph.nodes)}
    graph = nx.relabel_nodes(graph, seat)
    adopted = {seat[name]: first for name, first in adopted.items() if name in seat}
    episode = int(played["episode"].min())
    title = f"Seats by round of going collective ({label}, ep. {episode})"
    figures.append((GRAPH_TITLE, plot_diffusion(graph, adopted, title=title)))
    return figures
