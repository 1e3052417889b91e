"""``dilemmazoo dashboard``: watch a run live, or scrub through a finished one, in the browser or Jupyter.

    dilemmazoo dashboard PRESET|config.yaml [--set dotted.key=value]... [--seed N] [--cell N] [--out-root runs]
    dilemmazoo dashboard RUN_DIR|EXPERIMENT_DIR
        [--port 8521] [--host 127.0.0.1] [--play-interval MS]

**Live** (a preset or YAML): the experiment as a :class:`~dilemmazoo.experiments.mesa_model.DilemmaModel`
(a grid config: ``--cell``, from 0 in expansion order) on a page made of Mesa 3.3's SolaraViz
controls (``ModelController``: Step / Play / Reset; ``UserInputs``: sliders for the world's numeric
settings, :meth:`DilemmaModel.parameters`, and the seed, applied on Reset; ``ShowSteps``) and
panels that follow the model step by step:

- the world's headline metrics (the ``DataCollector``'s model columns, :func:`plot_columns`);
- the interaction graph (:meth:`DilemmaModel.interaction_graph`: the world's graph, the
  social-learning graph, else everyone with everyone), nodes coloured by last action, strategy,
  score or a numeric strategy parameter (:func:`node_colours`);
- the commons stock where the world has one, the grid-world frame where it has one;
- a table of the seats: member, strategy, last action, reward, score.

**Replay** (a finished run folder, or a folder holding many: a selector lists them): the run's
records, never recomputed. A step scrubber walks the run's world steps in order (episode, then
step); at position k the page shows exactly the records' actions at that step, the world's metrics
:func:`dilemmazoo.analysis.world_metrics` over the steps 1..k, the leaderboard (rewards summed over
1..k), the interaction graph, and for a grid world its frame. The graph is rebuilt from the run's
config and seed as the run built it (the world's own graph, or the social-learning graph drawn first
from the population generator ``default_rng([seed, 1])``,
:meth:`dilemmazoo.norms.social_learning.SocialLearning.build_graph`); a grid world's frames are drawn
by the world from the recorded seed and actions (:mod:`dilemmazoo.experiments.replay`, which checks
every reward against the records). No agent decides anything again.

The same components work in a notebook cell: ``Dashboard(model)`` and ``Replay(run_dir)`` are
Solara components, which Jupyter shows as widgets. The logic behind them (which columns are
plotted, replay slicing, colouring) is plain functions, tested with exact values.

Mesa's own ``SolaraViz`` page is not used whole: its tabbed panel grid (``ComponentsView``) calls
``ipyvuetify.TabsItems``, which ipyvuetify 3 (what Solara 1.64 installs) no longer has, and its
``ModelCreator`` accepts a model's ``**`` parameter (how dotted keys reach ``DilemmaModel``) only
when it is named ``kwargs``.

Serving: the page is Solara's server (``solara.server.starlette``) run by uvicorn in this
process; nothing opens a browser. The page loads Solara's front-end bundle through the server's
asset proxy, whose cache (``SOLARA_ASSETS_PROXY_CACHE_DIR``, by default ``<venv>/share/solara/cdn``)
must hold it where the machine is offline (:data:`FRONTEND_ASSETS`; ``make`` fills it from npm).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from dilemmazoo.experiments.config import ConfigError, ExperimentConfig, parse_set, validate, without_flat_defaults
# imported before Mesa's visualization: it keeps multiprocessing's start method as it was
from dilemmazoo.experiments.mesa_model import DilemmaModel

import solara  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.colors import Normalize, to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
import warnings  # noqa: E402

with warnings.catch_warnings():  # Mesa's ComponentsView trips Solara's hook-order lint at import; not ours to fix
    warnings.filterwarnings("ignore", category=UserWarning, module="solara.validate_hooks")
    from mesa.visualization.solara_viz import ModelController, ShowSteps, UserInputs, split_model_params
    from mesa.visualization.utils import force_update, update_counter

__all__ = [
    "COUNTER_COLUMNS",
    "DEFAULT_PORT",
    "FRONTEND_ASSETS",
    "Dashboard",
    "DashboardError",
    "GraphPanel",
    "MetricsPlot",
    "NodeColours",
    "Page",
    "Replay",
    "ReplayRun",
    "SeatTable",
    "StockPlot",
    "WorldFrame",
    "action_text",
    "action_value",
    "draw_graph",
    "find_runs",
    "frontend_assets",
    "frame_figure",
    "is_run_dir",
    "latest_text",
    "live_components",
    "live_graph",
    "main_dashboard",
    "metrics_figure",
    "missing_assets",
    "model_params",
    "node_colours",
    "plot_columns",
    "refresh",
    "seat_table",
    "settings_text",
    "structure_graph",
]

DEFAULT_PORT = 8521
#: the environment variable that hands the page its target (JSON) from :func:`main_dashboard`
SPEC_VARIABLE = "DILEMMAZOO_DASHBOARD"
#: metrics that count rather than measure (episodes played, decisions so far): not plotted by default
COUNTER_COLUMNS = ("episodes", "n_rounds", "valid_decisions", "decisions", "steps", "episodes_played")


def frontend_assets() -> tuple[str, ...]:
    """The npm packages (``name@version``) that Solara 1.64's page loads through its server's asset proxy:
    its Vuetify app (the Vue 3 build with ipyvue 3, else the Vue 2 one), RequireJS and Font Awesome
    (``solara/server/templates/solara.html.j2``)."""
    import ipyvue

    app = ("@widgetti/solara-vuetify3-app@5.2.0" if ipyvue.__version__.startswith("3")
           else "@widgetti/solara-vuetify-app@10.1.1")
    return (app, "requirejs@2.3.6", "font-awesome@4.5.0")


#: what :func:`frontend_assets` says for the installed ipyvue
FRONTEND_ASSETS = frontend_assets()
#: colour of a node with nothing to show (no action this step)
MISSING_COLOUR = "#cccccc"
#: plot at most this many points of a replay's metric history (evenly spaced, always the current step)
MAX_HISTORY_POINTS = 120


class DashboardError(ValueError):
    """A target the dashboard cannot show: no such preset or path, or a folder without runs."""


# -- targets and run folders ---------------------------------------------------------------


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a finished run's folder: it holds ``summary.json`` and ``steps.parquet``."""
    path = Path(path)
    return (path / "summary.json").is_file() and (path / "steps.parquet").is_file()


def find_runs(folder: str | Path) -> list[Path]:
    """The finished runs in ``folder``: itself if it is one, else every run folder below it, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DashboardError(f"{folder}: no such folder")
    if is_run_dir(folder):
        return [folder]
    runs = sorted({p.parent for p in folder.rglob("summary.json") if is_run_dir(p.parent)})
    if not runs:
        raise DashboardError(f"{folder}: not a run folder (no summary.json and steps.parquet) and no finished runs "
                             "below it")
    return runs


def _run_label(run: Path, root: Path) -> str:
    return str(run.relative_to(root)) if run != root else run.name


# -- colouring and drawing -------------------------------------------------------------------


def action_value(action: Any) -> float | str | None:
    """What to colour a node by for a recorded action (JSON text): a number, a label, or None.

    ``""`` (no decision this step) is None; a number is itself; a one-element list its element; a
    dict its first field (e.g. ``{"effort": [0.34], "vote": 0}`` -> 0.34); text stays text.
    """
    if action is None or action == "":
        return None
    value = action
    if isinstance(action, str):
        try:
            value = json.loads(action)
        except json.JSONDecodeError:
            return action
    for _ in range(4):  # unwrap {"move": ["C"]} -> "C"
        if isinstance(value, dict):
            if not value:
                return None
            value = next(iter(value.values()))
        elif isinstance(value, list) and len(value) == 1:
            value = value[0]
        else:
            break
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class NodeColours:
    """Colours of a graph's nodes (hex, node order), with a legend (categories) or a scale (numbers)."""

    colours: list[str]
    legend: dict[str, str] = field(default_factory=dict)
    scale: tuple[float, float] | None = None
    colormap: str = "viridis"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return None if math.isnan(float(value)) else float(value)
    return None


def node_colours(values: Sequence[Any], *, colormap: str = "viridis", palette: str = "tab10") -> NodeColours:
    """Colours for ``values`` (one per node; None or ``""`` = nothing to show, grey).

    All numbers: a continuous ``colormap`` over [min, max] (the middle colour when they are equal).
    Otherwise categories, sorted by their text, take ``palette``'s colours in turn.
    """
    present = [v for v in values if v is not None and v != ""]
    if present and all(_number(v) is not None for v in present):
        numbers = [_number(v) for v in present]
        low, high = min(numbers), max(numbers)
        norm = Normalize(vmin=low, vmax=high) if high > low else (lambda x: 0.5)
        cmap = colormaps[colormap]
        colours = [MISSING_COLOUR if v is None or v == "" else to_hex(cmap(float(norm(_number(v))))) for v in values]
        return NodeColours(colours, scale=(low, high), colormap=colormap)
    categories = sorted({str(v) for v in present})
    cmap = colormaps[palette]
    size = getattr(cmap, "N", 10)
    legend = {c: to_hex(cmap(i % size)) for i, c in enumerate(categories)}
    return NodeColours([MISSING_COLOUR if v is None or v == "" else legend[str(v)] for v in values], legend=legend)


def colour_options(graph: nx.Graph) -> list[str]:
    """What the nodes of ``graph`` can be coloured by: ``action``, ``strategy``, ``score``, then ``param:<key>``."""
    keys: list[str] = []
    for _, data in graph.nodes(data=True):
        for key in data:
            if key not in keys:
                keys.append(key)
    base = [k for k in ("action", "strategy", "score", "policy") if k in keys]
    return base + sorted(k for k in keys if k.startswith("param:"))


def graph_values(graph: nx.Graph, by: str) -> list[Any]:
    """The value of each node (graph order) to colour by: ``action`` via :func:`action_value`, else the attribute."""
    if by == "action":
        return [action_value(data.get("action")) for _, data in graph.nodes(data=True)]
    return [data.get(by) for _, data in graph.nodes(data=True)]


def graph_layout(graph: nx.Graph, seed: int = 0) -> dict:
    """Node positions: a circle for a complete graph (every layout of it looks alike), else a seeded spring layout."""
    n = graph.number_of_nodes()
    if n <= 2 or graph.number_of_edges() == n * (n - 1) // 2:
        return nx.circular_layout(graph)
    return nx.spring_layout(graph, seed=seed)


def draw_graph(graph: nx.Graph, by: str = "action", *, title: str | None = None, size: tuple[float, float] = (5.5, 4.5),
               seed: int = 0) -> Figure:
    """The interaction graph, nodes labelled by member name and coloured by ``by`` (see :func:`node_colours`)."""
    figure = Figure(figsize=size, layout="constrained")
    ax = figure.subplots()
    ax.set_axis_off()
    if graph.number_of_nodes() == 0:
        ax.set_title(title or "no seats")
        return figure
    colours = node_colours(graph_values(graph, by))
    positions = graph_layout(graph, seed)
    nx.draw_networkx_edges(graph, positions, ax=ax, edge_color="#999999", width=0.8)
    nx.draw_networkx_nodes(graph, positions, ax=ax, node_color=colours.colours, node_size=420,
                           edgecolors="#333333", linewidths=0.6)
    labels = {node: str(data.get("name", node)) for node, data in graph.nodes(data=True)}
    nx.draw_networkx_labels(graph, positions, labels=labels, ax=ax, font_size=7,
                            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    if colours.scale is not None:
        low, high = colours.scale
        mappable = colormaps[colours.colormap]
        from matplotlib.cm import ScalarMappable

        bar = figure.colorbar(ScalarMappable(norm=Normalize(low, high if high > low else low + 1e-9), cmap=mappable),
                              ax=ax, shrink=0.7)
        bar.set_label(by)
    elif colours.legend:
        from matplotlib.lines import Line2D

        shown = list(colours.legend.items())[:10]
        handles = [Line2D([], [], marker="o", linestyle="", markerfacecolor=c, markeredgecolor="#333333",
                          label=_short(label, 24)) for label, c in shown]
        ax.legend(handles=handles, title=by, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, title_fontsize=8,
                  frameon=False)
    ax.set_title(title or f"interaction graph, colour: {by}", fontsize=10)
    return figure


def _short(text: Any, width: int = 60) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def frame_figure(frame: np.ndarray, title: str = "") -> Figure:
    """A grid world's RGB frame (``(H, W, 3)`` uint8), pixel for pixel, without axes."""
    figure = Figure(figsize=(4.5, 4.5), layout="constrained")
    ax = figure.subplots()
    ax.imshow(frame, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return figure


def plot_columns(headline: Sequence[str], limit: int | None = 4) -> list[str]:
    """The headline metrics plotted by default: those that measure (not :data:`COUNTER_COLUMNS`), first ``limit``."""
    columns = [c for c in headline if c not in COUNTER_COLUMNS and c != "stock"]
    return columns if limit is None else columns[:limit]


def latest_text(metrics: dict[str, Any], columns: Sequence[str]) -> str:
    """``"now: a=1.5, b=0.25"``: the current value of each of ``columns`` (3 significant digits)."""
    shown = [f"{c}={_format(float(metrics[c]))}" for c in columns if _number(metrics.get(c)) is not None]
    return "now: " + (", ".join(shown) if shown else "no values yet")


def metrics_figure(frame: pd.DataFrame, columns: Sequence[str], *, x: str | None = None, title: str = "headline metrics",
                   xlabel: str = "step", size: tuple[float, float] = (5.5, 3.6)) -> Figure:
    """One line per column of ``frame`` (x: the index, or the column ``x``); NaN rows leave gaps."""
    figure = Figure(figsize=size, layout="constrained")
    ax = figure.subplots()
    xs = frame.index if x is None else frame[x]
    for column in columns:
        if column in frame:
            ax.plot(xs, pd.to_numeric(frame[column], errors="coerce"), marker=".", markersize=3, label=column)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    if columns:
        ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return figure


# -- the live model --------------------------------------------------------------------------


def live_graph(model: DilemmaModel) -> nx.Graph:
    """:meth:`DilemmaModel.interaction_graph` with the seats' policy and numeric strategy parameters
    added as node attributes (``policy``, ``param:<key>``), so they can colour the nodes."""
    graph = model.interaction_graph()
    for agent in model.seat_agents:
        data = graph.nodes[agent.seat]
        data["policy"] = agent.policy
        for key, value in agent.params.items():
            if _number(value) is not None:
                data[f"param:{key}"] = float(value)
    return graph


def seat_table(model: DilemmaModel, strategy_width: int = 60) -> pd.DataFrame:
    """One row per seat: seat, member name, strategy (text or parameters), last action, reward, score."""
    rows = []
    for agent in model.seat_agents:
        strategy = agent.strategy or ", ".join(f"{k}={_format(v)}" for k, v in sorted(agent.params.items()))
        rows.append({"seat": agent.seat, "name": agent.name, "strategy": _short(strategy, strategy_width),
                     "action": action_text(agent.action), "reward": float(agent.reward), "score": float(agent.score)})
    return pd.DataFrame(rows, columns=["seat", "name", "strategy", "action", "reward", "score"])


def action_text(action: Any, digits: int = 3) -> str:
    """A recorded action (JSON) for a table: floats to ``digits`` significant digits, one-element lists
    unwrapped (``{"effort": [0.2882677828], "vote": 0}`` -> ``{"effort": 0.288, "vote": 0}``); other text as is."""
    if action is None or action == "":
        return ""
    try:
        value = json.loads(action) if isinstance(action, str) else action
    except json.JSONDecodeError:
        return str(action)

    def compact(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: compact(v) for k, v in item.items()}
        if isinstance(item, list):
            return compact(item[0]) if len(item) == 1 else [compact(v) for v in item]
        if isinstance(item, float):
            return float(f"{item:.{digits}g}")
        return item

    return json.dumps(compact(value), ensure_ascii=False)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def html_table(frame: pd.DataFrame, css_class: str = "dz-table") -> str:
    """``frame`` as a small HTML table (floats to 3 significant digits), every value escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = "".join(f"<td>{html.escape(_format(v) if isinstance(v, float) and not isinstance(v, bool) else str(v))}</td>"
                        for v in record)
        rows.append(f"<tr>{cells}</tr>")
    style = ("<style>.dz-table{border-collapse:collapse;font-size:12px}.dz-table td,.dz-table th{border-bottom:1px "
             "solid #ddd;padding:2px 8px;text-align:left}</style>")
    return f"{style}<table class='{css_class}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def model_params(model: DilemmaModel) -> dict[str, Any]:
    """SolaraViz's ``model_params`` for ``model``: its world sliders, a seed slider, and the fixed
    arguments that rebuild it on Reset (its resolved single-run config and output root)."""
    seed = int(model.config.seeds[0])
    params: dict[str, Any] = {
        "config": model.config,
        "out_root": str(model.play.out_root),
        "seed": {"type": "SliderInt", "value": seed, "label": "seed", "min": 0, "max": max(99, seed), "step": 1},
    }
    if model.play.backend is not None:
        params["backend"] = model.play.backend
    params.update(model.parameters())
    return params


def settings_text(model: DilemmaModel) -> str:
    """The run a live page shows: ``"seed 3 · n_agents=6, n_rounds=4"`` (the seed and the world's keyword arguments)."""
    kwargs = ", ".join(f"{k}={_format(v)}" for k, v in model.config.world.kwargs.items())
    return f"seed {model.config.seeds[0]} · {kwargs}"


def _step_caption(model: DilemmaModel) -> str:
    event = model.event
    if event is None:
        return "not started"
    if event.kind == "generation":
        return f"generation {event.generation} begins"
    where = f"generation {event.generation}, game {event.game}, step {event.step}"
    return f"run finished ({where})" if event.kind == "end" else where


@solara.component
def MetricsPlot(model: DilemmaModel, limit: int = 4):
    """The world's headline metrics over the model's steps (a selector picks the columns)."""
    update_counter.get()
    frame = model.datacollector.get_model_vars_dataframe()
    available = plot_columns(model.headline, limit=None)
    chosen, set_chosen = solara.use_state(None)
    columns = [c for c in (chosen if chosen is not None else available[:limit]) if c in available]
    with solara.Column():
        if available:
            solara.SelectMultiple("metrics", values=columns, all_values=available, on_value=set_chosen, dense=True)
            solara.FigureMatplotlib(metrics_figure(frame, columns, title=f"{model.config.name}: headline metrics"),
                                    format="png")
            solara.HTML(tag="div", unsafe_innerHTML=html.escape(latest_text(model.metrics, columns)),
                        classes=["dz-latest"])
        else:
            solara.Text("metrics appear after the first world step")


@solara.component
def StockPlot(model: DilemmaModel):
    """The commons stock over the model's steps (worlds with a stock)."""
    update_counter.get()
    frame = model.datacollector.get_model_vars_dataframe()
    if "stock" not in frame:
        solara.Text("this world has no commons stock")
        return
    solara.FigureMatplotlib(metrics_figure(frame, ["stock"], title=f"commons stock: {_format(model.stock())}"),
                            format="png")


@solara.component
def WorldFrame(model: DilemmaModel):
    """The grid world's current frame (gridworlds)."""
    update_counter.get()
    frame = model.frame()
    if frame is None:
        solara.Text("this world has no frame")
        return
    solara.FigureMatplotlib(frame_figure(frame, f"model step {model.steps}"), format="png")


@solara.component
def GraphPanel(model: DilemmaModel, by: str = "action"):
    """The interaction graph, coloured by the attribute chosen in its selector."""
    update_counter.get()
    graph = live_graph(model)
    options = colour_options(graph)
    colour_by, set_colour_by = solara.use_state(by if by in options else options[0])
    with solara.Column():
        solara.Select("colour by", values=options, value=colour_by, on_value=set_colour_by, dense=True)
        solara.FigureMatplotlib(draw_graph(graph, colour_by), format="png")


@solara.component
def SeatTable(model: DilemmaModel):
    """The seats: member, strategy, last action, reward and score, with where the run stands."""
    update_counter.get()
    with solara.Column():
        solara.HTML(tag="div", unsafe_innerHTML=f"<b>Seats</b> · model step {model.steps} · {html.escape(_step_caption(model))}",
                    classes=["dz-seats-caption"])
        solara.HTML(tag="div", unsafe_innerHTML=html_table(seat_table(model)))


def refresh() -> None:
    """Redraw every live dashboard panel shown (e.g. in a notebook, after stepping a model in code)."""
    force_update()


def live_components(model: DilemmaModel) -> list:
    """The panels for ``model``: metrics, graph, seats, and the stock or frame where the world has one."""
    components: list = [MetricsPlot, GraphPanel, SeatTable]
    if model.stock() is not None:
        components.insert(1, StockPlot)
    if model.frame() is not None:
        components.insert(1, WorldFrame)
    return components


@solara.component
def ParameterInputs(params: dict[str, Any], parameters: solara.Reactive[dict]):
    """Mesa's ``UserInputs`` for the adjustable entries of ``params``; ``parameters`` holds the keyword
    arguments the next Reset builds the model with (the fixed entries and the inputs' values).

    Mesa's ``ModelCreator`` does the same after checking the names against the model's ``__init__``,
    a check that accepts a ``**`` parameter (dotted keys) only when it is named ``kwargs``.
    """
    adjustable, fixed = split_model_params(params)
    solara.use_effect(lambda: parameters.set({**fixed, **{k: v.get("value") for k, v in adjustable.items()}}), [])

    def on_change(name: str, value: Any) -> None:
        parameters.value = {**parameters.value, name: value}

    UserInputs(adjustable, on_change=on_change)


@solara.component
def Dashboard(model: DilemmaModel, play_interval: int = 300):
    """The live page for ``model`` (also a notebook cell): Mesa's controls, sliders and step counter
    (``ModelController``, ``ModelCreator``, ``ShowSteps``) beside the dashboard's panels.

    This is ``SolaraViz``'s page less its tabbed component grid: Mesa 3.3's ``ComponentsView``
    builds its tabs with ``ipyvuetify.TabsItems``, which ipyvuetify 3 (Vuetify 3, what Solara 1.64
    installs) no longer has, so the panels are laid out here in two columns instead.
    """
    reactive_model = solara.use_reactive(model)
    parameters = solara.use_reactive({})
    interval = solara.use_reactive(play_interval)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
    current = reactive_model.value
    with solara.Column(style={"padding": "8px"}):
        solara.HTML(tag="h2", unsafe_innerHTML=html.escape(f"dilemmazoo · {current.config.name} ({current.world_id})"))
        with solara.Columns([1, 3]):
            with solara.Column():
                with solara.Card("Controls"):
                    ModelController(reactive_model, model_parameters=parameters, play_interval=interval,
                                    render_interval=render_interval, use_threads=use_threads)
                    solara.SliderInt("play interval (ms)", value=interval, min=10, max=2000, step=10)
                with solara.Card("Information"):
                    ShowSteps(current)
                    solara.HTML(tag="div", unsafe_innerHTML=html.escape(settings_text(current)), classes=["dz-settings"])
                with solara.Card("Parameters (on Reset)"):
                    ParameterInputs(model_params(current), parameters)
            with solara.Column():
                panels = live_components(current)
                for row in range(0, len(panels), 2):
                    with solara.Columns([1] * len(panels[row:row + 2])):
                        for panel in panels[row:row + 2]:
                            with solara.Card(margin=0):
                                panel(current)


# -- replay ------------------------------------------------------------------------------------


def structure_graph(config: ExperimentConfig, seats: Sequence[str]) -> nx.Graph:
    """The interaction graph a run of ``config`` had, over ``seats``, rebuilt without playing it.

    The world's own graph (built with the world), else the social-learning graph drawn as the run
    drew it (the first draw of ``default_rng([seed, 1])``), else everyone with everyone.
    """
    from dilemmazoo.experiments.runner import build_world
    from dilemmazoo.norms import make_dynamics
    from dilemmazoo.norms.social_learning import SocialLearning

    seats = list(seats)
    source = getattr(build_world(config), "graph", None)
    if not isinstance(source, nx.Graph) and config.population is not None:
        dynamics = make_dynamics(config.population.dynamics, **config.population.kwargs)
        if isinstance(dynamics, SocialLearning):
            source = dynamics.build_graph(len(seats), np.random.default_rng([config.seeds[0], 1]))
    if isinstance(source, nx.Graph) and source.number_of_nodes() == len(seats):
        order = sorted(source.nodes)
        return nx.relabel_nodes(source, {node: seats[i] for i, node in enumerate(order)}, copy=True)
    return nx.complete_graph(seats)


class ReplayRun:
    """A finished run's records, read once, sliced at any world step (positions 1..:attr:`length`).

    Position k is the k-th world step of the run in record order (episode, then step). Nothing is
    recomputed but the metrics, which are :func:`dilemmazoo.analysis.world_metrics` of the steps
    1..k (memoised per position).
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        if not is_run_dir(self.run_dir):
            raise DashboardError(f"{self.run_dir}: not a run folder (no summary.json and steps.parquet)")
        self.summary: dict[str, Any] = json.loads((self.run_dir / "summary.json").read_text())
        self.steps = pd.read_parquet(self.run_dir / "steps.parquet")
        population = self.run_dir / "population.parquet"
        self.population = pd.read_parquet(population) if population.is_file() else pd.DataFrame()
        config_file = self.run_dir / "config.yaml"
        import yaml

        self.config_data: dict[str, Any] = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
        self.world_id: str = self.summary.get("world") or self.config_data.get("world", {}).get("id", "")
        self.world_kwargs: dict[str, Any] = dict(self.config_data.get("world", {}).get("kwargs") or {})
        keys = self.steps[["episode", "step"]].drop_duplicates().sort_values(["episode", "step"], kind="stable")
        self.timeline: list[tuple[int, int]] = [(int(e), int(s)) for e, s in keys.itertuples(index=False)]
        position = {key: i + 1 for i, key in enumerate(self.timeline)}
        self._position = np.array([position[(int(e), int(s))] for e, s in zip(self.steps["episode"], self.steps["step"])],
                                  dtype=int)
        self.seats: list[str] = list(dict.fromkeys(self.steps["agent"]))
        self._metrics: dict[int, dict[str, Any]] = {}
        self._graph: nx.Graph | None = None
        self._frames: tuple[int, list[np.ndarray], Any] | None = None  # (episode, frames so far, their generator)
        self._has_frames: bool | None = None
        self.frame_error = ""  # why there are no frames (a world without them, or a replay that diverged)

    @property
    def length(self) -> int:
        """World steps in the run."""
        return len(self.timeline)

    @property
    def name(self) -> str:
        return str(self.summary.get("experiment", self.run_dir.name))

    def _check(self, k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.length:
            raise ValueError(f"position must be an integer in 1..{self.length}, got {k!r}")
        return int(k)

    def where(self, k: int) -> tuple[int, int]:
        """(episode, step) of position ``k``."""
        return self.timeline[self._check(k) - 1]

    def rows_at(self, k: int) -> pd.DataFrame:
        """The records' rows of the world step at position ``k``."""
        return self.steps[self._position == self._check(k)]

    def steps_upto(self, k: int) -> pd.DataFrame:
        """The records' rows of positions 1..``k``."""
        return self.steps[self._position <= self._check(k)]

    def actions_at(self, k: int) -> dict[str, str]:
        """Seat -> recorded action (JSON, ``""`` where the seat did not decide) at position ``k``."""
        rows = self.rows_at(k)
        return dict(zip(rows["agent"], rows["action"]))

    def metrics_at(self, k: int) -> dict[str, Any]:
        """The world's headline metrics over the steps 1..``k`` (``world_metrics``)."""
        k = self._check(k)
        if k not in self._metrics:
            from dilemmazoo.analysis import world_metrics

            self._metrics[k] = world_metrics(self.world_id, self.steps_upto(k), self.world_kwargs)
        return self._metrics[k]

    def history(self, k: int, max_points: int = MAX_HISTORY_POINTS) -> pd.DataFrame:
        """Numeric metrics at positions up to ``k`` (all, or ``max_points`` evenly spaced ending at ``k``)."""
        k = self._check(k)
        positions = list(range(1, k + 1))
        if len(positions) > max_points:
            positions = sorted({int(round(p)) for p in np.linspace(1, k, max_points)})
        rows = {p: {name: float(v) for name, v in self.metrics_at(p).items() if _number(v) is not None}
                for p in positions}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("position")

    def stock_history(self, k: int) -> pd.Series | None:
        """The recorded commons stock after each step 1..``k`` (worlds that record ``stock``), else None."""
        if "stock" not in self.steps:
            return None
        upto = self.steps_upto(k)
        return upto.groupby(self._position[self._position <= k])["stock"].first().rename_axis("position")

    def leaderboard(self, k: int) -> pd.DataFrame:
        """Members ranked by reward summed over positions 1..``k`` (ties: seat order)."""
        upto = self.steps_upto(k)
        board = upto.groupby(["agent", "name"], sort=False)["reward"].sum().reset_index()
        board["order"] = board["agent"].map({seat: i for i, seat in enumerate(self.seats)})
        board = board.sort_values(["reward", "order"], ascending=[False, True], kind="stable")
        board.insert(0, "rank", range(1, len(board) + 1))
        return board.rename(columns={"agent": "seat", "reward": "score"})[["rank", "name", "seat", "score"]] \
            .reset_index(drop=True)

    def step_table(self, k: int) -> pd.DataFrame:
        """The step at position ``k``: seat, member, action (:func:`action_text`), reward (the records' rows)."""
        rows = self.rows_at(k)
        table = rows[["agent", "name", "action", "reward"]].rename(columns={"agent": "seat"}).reset_index(drop=True)
        table["action"] = [action_text(a) for a in table["action"]]
        return table

    def graph(self) -> nx.Graph:
        """The run's interaction graph over seats (:func:`structure_graph`; complete when the config is missing)."""
        if self._graph is None:
            try:
                stored = without_flat_defaults(dict(self.config_data))  # runs written before typed agent kinds
                config = validate(stored, source=str(self.run_dir / "config.yaml"))
                self._graph = structure_graph(config, self.seats)
            except (ConfigError, ValueError, TypeError):
                self._graph = nx.complete_graph(self.seats)
        return self._graph

    def graph_at(self, k: int) -> nx.Graph:
        """The graph with each seat's member name, action at position ``k`` and score over 1..``k``."""
        graph = self.graph().copy()
        rows = self.rows_at(k)
        scores = self.steps_upto(k).groupby("agent")["reward"].sum()
        for seat, name, action in zip(rows["agent"], rows["name"], rows["action"]):
            if seat in graph:
                graph.nodes[seat].update(name=name, action=action)
        for seat in graph.nodes:
            graph.nodes[seat].setdefault("action", "")
            graph.nodes[seat].setdefault("name", seat)
            graph.nodes[seat]["score"] = float(scores.get(seat, 0.0))
        return graph

    def frame_at(self, k: int) -> np.ndarray | None:
        """The grid world's frame after the step at position ``k``, or None for a world without frames.

        Drawn by the world itself from the recorded seed and actions (:mod:`dilemmazoo.experiments.replay`,
        which stops if a replayed reward differs from the recorded one); the frames of the current
        episode are kept, and made only as far as the scrubber has gone.
        """
        from dilemmazoo.experiments.replay import ReplayError, load_episode, replay_frames

        episode, step = self.where(k)
        if self._has_frames is False:
            return None
        if self._frames is None or self._frames[0] != episode:
            try:
                record = load_episode(self.run_dir, episode)
                frames = replay_frames(record)
                first = next(frames)
            except ReplayError as error:
                self._has_frames, self.frame_error = False, str(error)
                return None
            self._has_frames = True
            self._frames = (episode, [first], frames)
        _, kept, frames = self._frames
        try:
            while len(kept) <= step:
                kept.append(next(frames))
        except ReplayError as error:  # the world's mechanics changed since the run: say so, draw nothing
            self._has_frames, self.frame_error = False, str(error)
            return None
        return kept[step]

    def caption(self, k: int) -> str:
        episode, step = self.where(k)
        rows = self.rows_at(k)
        generation = int(rows["generation"].iloc[0])
        return f"Step {k} of {self.length}: generation {generation}, episode {episode}, step {step}"


@solara.component
def Replay(source: str | Path, by: str = "action"):
    """A finished run (or a folder of runs: a selector) replayed from its records with a step scrubber."""
    root = Path(source)
    runs = solara.use_memo(lambda: find_runs(root), [str(root)])
    labels = [_run_label(r, root) for r in runs]
    label, set_label = solara.use_state(labels[0])
    index = labels.index(label) if label in labels else 0
    run = solara.use_memo(lambda: ReplayRun(runs[index]), [str(runs[index])])
    position, set_position = solara.use_state(1)
    colour_by, set_colour_by = solara.use_state(by)
    k = min(max(1, position), run.length)

    def choose(new_label: str) -> None:
        set_label(new_label)
        set_position(1)

    with solara.Column(style={"padding": "12px"}):
        solara.HTML(tag="h2", unsafe_innerHTML=html.escape(f"Replay · {run.name} ({run.world_id})"))
        if len(runs) > 1:
            solara.Select("run", values=labels, value=labels[index], on_value=choose)
        else:
            solara.Text(f"run: {runs[0]}")
        with solara.Row():
            solara.Button("◀ previous", on_click=lambda: set_position(max(1, k - 1)), disabled=k <= 1)
            solara.Button("next ▶", on_click=lambda: set_position(min(run.length, k + 1)), disabled=k >= run.length)
        solara.SliderInt("step", value=k, min=1, max=run.length, on_value=set_position, thumb_label="always")
        solara.HTML(tag="div", unsafe_innerHTML=f"<b>{html.escape(run.caption(k))}</b>", classes=["dz-caption"])
        history = run.history(k)
        columns = plot_columns([c for c in history.columns], limit=4)
        graph = run.graph_at(k)
        options = colour_options(graph)
        with solara.Columns([1, 1]):
            with solara.Column():
                solara.FigureMatplotlib(metrics_figure(history, columns, title="headline metrics over steps 1..k",
                                                       xlabel="replay step"), format="png")
                frame = run.frame_at(k)
                if frame is not None:
                    episode, step = run.where(k)
                    solara.FigureMatplotlib(frame_figure(frame, f"episode {episode}, step {step}"), format="png")
                stock = run.stock_history(k)
                if stock is not None:
                    solara.FigureMatplotlib(metrics_figure(stock.to_frame("stock"), ["stock"], title="commons stock",
                                                           xlabel="replay step"), format="png")
            with solara.Column():
                solara.Select("colour by", values=options, value=colour_by if colour_by in options else options[0],
                              on_value=set_colour_by, dense=True)
                solara.FigureMatplotlib(draw_graph(graph, colour_by if colour_by in options else options[0]),
                                        format="png")
        with solara.Columns([1, 1]):
            with solara.Column():
                solara.HTML(tag="b", unsafe_innerHTML="Actions at this step")
                solara.HTML(tag="div", unsafe_innerHTML=html_table(run.step_table(k), "dz-table dz-actions"))
            with solara.Column():
                solara.HTML(tag="b", unsafe_innerHTML="Leaderboard (steps 1..k)")
                solara.HTML(tag="div", unsafe_innerHTML=html_table(run.leaderboard(k), "dz-table dz-leaderboard"))
                metrics = run.metrics_at(k)
                shown = pd.DataFrame([{"metric": name, "value": value} for name, value in metrics.items()
                                      if _number(value) is not None])
                solara.HTML(tag="b", unsafe_innerHTML="Metrics (steps 1..k)")
                solara.HTML(tag="div", unsafe_innerHTML=html_table(shown, "dz-table dz-metrics"))


# -- the served page and the command line ----------------------------------------------------


def _page_spec() -> dict[str, Any]:
    text = os.environ.get(SPEC_VARIABLE)
    if not text:
        raise DashboardError(f"the dashboard page needs ${SPEC_VARIABLE} (set by `dilemmazoo dashboard`)")
    return json.loads(text)


def _live_model(spec: dict[str, Any]) -> DilemmaModel:
    return DilemmaModel(spec["target"], seed=spec.get("seed"), settings=spec.get("settings") or {},
                        cell=int(spec.get("cell", 0)), out_root=spec.get("out_root", "runs"))


@solara.component
def Page():
    """The page ``dilemmazoo dashboard`` serves: a live model (one per browser session) or a replay."""
    spec = solara.use_memo(_page_spec, [])
    if spec["mode"] == "replay":
        solara.Title(f"dilemmazoo replay · {Path(spec['target']).name}")
        Replay(spec["target"])
    else:
        _LivePage(spec)


@solara.component
def _LivePage(spec: dict[str, Any]):
    model = solara.use_memo(lambda: _live_model(spec), [])
    solara.Title(f"dilemmazoo · {model.config.name}")
    Dashboard(model, play_interval=int(spec.get("play_interval", 300)))


def missing_assets(cache_dir: str | Path | None = None) -> list[str]:
    """The :data:`FRONTEND_ASSETS` absent from Solara's asset cache (the page needs them offline)."""
    if cache_dir is None:
        import solara.server.settings as server_settings

        cache_dir = server_settings.assets.proxy_cache_dir
    return [name for name in FRONTEND_ASSETS if not (Path(cache_dir) / name / "package.json").is_file()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dilemmazoo dashboard",
        description="Watch an experiment step by step in the browser (Mesa SolaraViz), or replay a finished run "
                    "with a step scrubber.")
    parser.add_argument("target", help="a preset name, a config YAML, a finished run folder, or a folder of runs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field (dotted key), as for 'run --set' (live only)")
    parser.add_argument("--seed", type=int, default=None, help="the run's seed (default: the config's first; live only)")
    parser.add_argument("--cell", type=int, default=0,
                        help="grid cell of a grid config, from 0 in expansion order (default: 0; live only)")
    parser.add_argument("--out-root", default="runs", help="where an LLM cache goes (live only; default: runs)")
    parser.add_argument("--play-interval", type=int, default=300, help="milliseconds between steps while playing")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    return parser


def resolve_target(target: str, *, settings: dict[str, Any] | None = None, seed: int | None = None, cell: int = 0,
                   out_root: str = "runs") -> dict[str, Any]:
    """The page's spec for ``target``: ``{"mode": "replay", ...}`` for a folder, ``{"mode": "live", ...}``
    for a preset or YAML (the model is built once here, so a bad config fails before serving).

    Raises :class:`DashboardError` for a missing path, a folder without runs, or a bad config.
    """
    path = Path(target)
    if path.is_dir():
        if settings or seed is not None or cell:
            raise DashboardError("--set, --seed and --cell apply to a preset or config, not to a replayed run")
        find_runs(path)
        return {"mode": "replay", "target": str(path.resolve())}
    if path.is_file() and path.suffix not in (".yaml", ".yml"):
        raise DashboardError(f"{target}: not a config YAML (.yaml) nor a run folder")
    if not path.exists() and (path.suffix in (".yaml", ".yml") or os.sep in target):
        raise DashboardError(f"{target}: no such file or folder")
    spec = {"mode": "live", "target": str(path.resolve()) if path.is_file() else target, "settings": dict(settings or {}),
            "seed": seed, "cell": cell, "out_root": out_root}
    try:
        _live_model(spec)
    except ConfigError as error:
        raise DashboardError(str(error)) from None
    return spec


def main_dashboard(argv: list[str] | None = None) -> int:
    """``dilemmazoo dashboard``; returns the exit status (2: a bad target or option; else serves until stopped)."""
    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as stop:  # --help (0) or a usage error (2)
        return int(stop.code or 0)
    if not 0 < args.port < 65536:
        print(f"dilemmazoo dashboard: error: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return 2
    if args.play_interval < 1:
        print(f"dilemmazoo dashboard: error: --play-interval must be >= 1 ms, got {args.play_interval}", file=sys.stderr)
        return 2
    try:
        settings = dict(parse_set(item) for item in args.set)
        spec = resolve_target(args.target, settings=settings, seed=args.seed, cell=args.cell, out_root=args.out_root)
    except (DashboardError, ConfigError, ValueError) as error:
        print(f"dilemmazoo dashboard: error: {error}", file=sys.stderr)
        return 2
    spec["play_interval"] = args.play_interval
    return serve(spec, host=args.host, port=args.port)


def serve(spec: dict[str, Any], *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> int:
    """Serve the page for ``spec`` (see :func:`resolve_target`) with Solara's server until stopped."""
    import uvicorn
    import solara.server.settings as server_settings

    os.environ[SPEC_VARIABLE] = json.dumps(spec)
    os.environ["SOLARA_APP"] = __name__
    os.environ["SERVER_NAME"], os.environ["SERVER_PORT"] = host, str(port)
    server_settings.main.mode = "production"
    server_settings.telemetry.mixpanel_enable = False
    missing = missing_assets()
    if missing:
        print(f"dilemmazoo dashboard: warning: Solara's front-end packages {', '.join(missing)} are not in "
              f"{server_settings.assets.proxy_cache_dir}; the server fetches them from the CDN on the first page "
              "load, which fails offline (`make dashboard-assets` installs them from npm)", file=sys.stderr)
    what = f"replay of {spec['target']}" if spec["mode"] == "replay" else f"live {spec['target']}"
    print(f"dilemmazoo dashboard: {what} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    uvicorn.run("solara.server.starlette:app", host=host, port=port, log_level="warning")
    return 0
