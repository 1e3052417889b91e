"""Alignment tipping: adoption curves, their tipping point, and diffusion over a graph.

Any world whose records carry a 0/1 (or [0, 1]) column per agent per round can be read as an
*adoption curve*: the share of agents who chose the option in each round (ATP diffusion's
``collective``, ATP exploration's ``violated``, the Donor Game's donated share, GovSim's
over-usage). Han et al., "Alignment Tipping Process" (arXiv 2510.04860) ask when such a curve
tips: after how many rounds a population moves from one level of behaviour to another and how
far. Centola et al., "Experimental evidence for tipping points in social convention"
(Science 360, 2018) ask the same of a committed minority; the sweep that finds its critical
size runs worlds and so lives in :mod:`dilemmazoo.experiments.committed_minority`.

Adoption curve
--------------
:func:`adoption_curve` first averages ``column`` over the agents of each replicate (``group``:
an episode, or a seed when the caller concatenated runs with a ``seed`` column) at each
``by`` value (a round, a generation), then summarises the replicates at each ``by`` value by
their mean and the 95% Student t-interval of that mean,
``mean +- t_{0.975, n-1} s / sqrt(n)`` (:func:`dilemmazoo.analysis.cell_plots.mean_interval`;
NaN bounds for one replicate). Rows where the world applied its fallback (``fallback_used``)
are not the agent's choice and are left out (STYLE.md, rule 4), as are rows whose value is
missing (agents that did not decide that step).

Tipping point
-------------
:func:`detect_tipping` segments the curve into constant levels with ruptures (Truong, Oudre &
Vayatis, "Selective review of offline change point detection methods", Signal Processing
167, 2020): PELT (Killick, Fearnhead & Eckley, JASA 2012) or binary segmentation, both with
the least-squares cost ``sum_t (x_t - mean_segment)^2`` (ruptures' ``l2``), minimising
``cost + beta * (number of changes)``.

The penalty ``beta``, when not given, is ``max(2 sigma^2 ln n, min_jump^2 / 4)``:

- ``2 sigma^2 ln n`` is the BIC/Schwarz penalty of a change in mean under Gaussian noise of
  variance ``sigma^2`` measured in the ``l2`` cost's units (a change adds two parameters, its
  location and a new mean, each costing ``ln n`` in ``-2 log L = cost / sigma^2``). ``sigma``
  is estimated robustly from the first differences, ``sigma = MAD(diff x) / (0.6745 sqrt 2)``
  (the difference-based estimate of Fryzlewicz, "Wild binary segmentation", Ann. Stat. 2014):
  level changes are rare among the differences, so they barely move the median.
- ``min_jump^2 / 4`` is a floor for noise-free curves, whose ``sigma`` is 0 and whose zero
  penalty would let any split through. A change of size ``d`` between two segments of sizes
  ``n1, n2`` lowers the cost by ``n1 n2 / (n1 + n2) d^2 >= d^2 / 2``, so with this floor every
  change of at least ``min_jump`` is still worth a segment, and splits that lower the cost by
  less than a quarter of ``min_jump^2`` (rounding, tiny drifts) are not.

A gradual rise (a ramp) is cut by the fit into a staircase of small steps in one direction;
successive changes in the same direction are read as **one transition**, from the level
before the first of them to the level after the last. The transition with the largest
``|after - before|`` is the tipping point if that size is at least ``min_jump``; otherwise
(and on a flat curve, where the fit finds no change) there is no tip. The **round reported**
is the first round of the transition at which the curve has covered half of the change,
``x >= (before + after) / 2`` for a rise (``<=`` for a fall): the step's round for a step,
**the middle of a ramp** for a ramp (the half-adoption round, where a logistic diffusion is
steepest).

Figures
-------
:func:`plot_adoption` draws curves with their bands and the tipping round;
:func:`plot_diffusion` draws a networkx graph whose nodes are coloured by the round in which
they adopted (grey: never; :func:`first_adoption_round` reads those rounds off the records). :func:`compare_backends` tabulates one row per backend (final
rate, tipping round and size, replicates). Extractors put other worlds in the same shape:
:func:`donor_cooperation_by_generation` (Vallinder & Hughes 2024) and
:func:`commons_overuse_by_month` (GovSim, Piatti et al. 2024).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .cell_plots import mean_interval
from .commons import GOVSIM_WORLD_ID, harvest_rows
from .metrics import flag_column, require_columns
from .plots import _finish, _new_figure, note_figure

__all__ = [
    "METHODS",
    "TippingPoint",
    "adoption_curve",
    "commons_overuse_by_month",
    "compare_backends",
    "default_penalty",
    "detect_tipping",
    "donor_cooperation_by_generation",
    "first_adoption_round",
    "plot_adoption",
    "plot_diffusion",
]

#: the changepoint searches :func:`detect_tipping` offers (ruptures classes)
METHODS = ("pelt", "binseg")
#: the MAD of a standard normal sample, for the robust noise estimate
_MAD_NORMAL = 0.6744897501960817
#: the colour of nodes that never adopted
NEVER_COLOUR = "0.8"


class TippingPoint(NamedTuple):
    """Where a curve tips: ``round`` (``None``: no tip), ``size`` (``after - before``, signed;
    0.0 without a tip), the levels ``before`` and ``after`` (both the curve's mean without a
    tip), the ``method`` and the ``penalty`` used."""

    round: Any
    size: float
    before: float
    after: float
    method: str
    penalty: float


# --- adoption curves ------------------------------------------------------------------------


def adoption_curve(steps: pd.DataFrame, column: str, *, by: str = "round", group: str = "episode",
                   confidence: float = 0.95) -> pd.DataFrame:
    """The share adopting ``column`` at each ``by`` value, over the replicates ``group``.

    ``steps``: records with the columns ``column`` (0/1 or a value in [0, 1]), ``by`` and
    ``group`` (``"episode"``, or ``"seed"`` for runs concatenated with a seed column; any
    column works). Rows with ``fallback_used`` and rows whose ``column`` is missing are left
    out. Returns one row per ``by`` value: ``by`` (the column of that name), ``mean`` (over
    replicates of each replicate's mean over its agents), ``low``, ``high`` (the t-interval;
    NaN for one replicate) and ``n`` (replicates).
    """
    if not isinstance(column, str) or not column:
        raise ValueError(f"column must be a column name, got {column!r}")
    if by == group:
        raise ValueError(f"by and group must differ, both are {by!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    require_columns(steps, (column, by, group), f"records with {column!r} by {by!r} over {group!r}")
    rows = steps[~flag_column(steps, "fallback_used")] if "fallback_used" in steps else steps
    values = pd.to_numeric(rows[column].astype("float64"), errors="coerce")
    rows = rows.assign(_value=values).dropna(subset=["_value"])
    per_replicate = rows.groupby([by, group], sort=True)["_value"].mean()
    out = []
    for x, replicate_means in per_replicate.groupby(level=0, sort=True):
        mean, low, high = mean_interval(replicate_means.to_numpy(), confidence)
        out.append({by: x, "mean": mean, "low": low, "high": high, "n": int(replicate_means.size)})
    frame = pd.DataFrame(out, columns=[by, "mean", "low", "high", "n"])
    frame.attrs.update({"column": column, "by": by, "group": group, "confidence": confidence})
    return frame


# --- tipping points -------------------------------------------------------------------------


def _curve(curve_values: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(x values, rounds)`` from a sequence (rounds 1..n), a Series (rounds = its index) or an
    :func:`adoption_curve` frame (rounds = its ``by`` column, values = ``mean``)."""
    if isinstance(curve_values, pd.DataFrame):
        if "mean" not in curve_values:
            raise ValueError("curve_values: a DataFrame must be an adoption_curve frame with a 'mean' column")
        by = curve_values.attrs.get("by") or curve_values.columns[0]
        rounds = curve_values[by].to_numpy()
        values = curve_values["mean"].to_numpy(dtype=float)
    elif isinstance(curve_values, pd.Series):
        rounds = curve_values.index.to_numpy()
        values = curve_values.to_numpy(dtype=float)
    else:
        try:
            values = np.asarray(list(curve_values), dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"curve_values must be numbers, a Series or an adoption_curve frame, got {curve_values!r}") from None
        rounds = np.arange(1, values.size + 1)
    if values.ndim != 1:
        raise ValueError(f"curve_values must be one-dimensional, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("curve_values must be finite (drop the rounds without a value first)")
    return values, rounds


def default_penalty(values: Sequence[float], min_jump: float = 0.1) -> float:
    """The penalty :func:`detect_tipping` uses: ``max(2 sigma^2 ln n, min_jump^2 / 4)``, with
    ``sigma = MAD(diff x) / (0.6745 sqrt 2)`` (module docstring)."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return max(min_jump**2 / 4, 1e-12)
    differences = np.diff(x)
    sigma = float(np.median(np.abs(differences - np.median(differences)))) / (_MAD_NORMAL * math.sqrt(2.0))
    return max(2.0 * sigma**2 * math.log(x.size), min_jump**2 / 4, 1e-12)


def _breakpoints(values: np.ndarray, method: str, penalty: float, min_size: int) -> list[int]:
    """Positions where a new segment starts (ruptures' segment ends, without the last)."""
    import ruptures

    search = ruptures.Pelt if method == "pelt" else ruptures.Binseg
    ends = search(model="l2", min_size=min_size, jump=1).fit(values.reshape(-1, 1)).predict(pen=penalty)
    return [int(end) for end in ends[:-1]]


def detect_tipping(curve_values: Any, *, method: str = "pelt", penalty: float | None = None,
                   min_size: int = 1, min_jump: float = 0.1) -> TippingPoint:
    """The tipping point of an adoption curve (module docstring: segmentation, penalty, ramps).

    ``curve_values``: the curve's values in round order (rounds numbered 1..n), a Series
    indexed by round, or an :func:`adoption_curve` frame. ``method``: ``"pelt"`` or
    ``"binseg"``. ``penalty``: ruptures' ``pen`` (default :func:`default_penalty`).
    ``min_size``: the shortest segment, in rounds. ``min_jump``: the smallest
    ``|after - before|`` that counts as a tip. Returns a :class:`TippingPoint`; ``round`` is
    the first round at which the curve has covered half of the change (a step's round, a
    ramp's middle), ``None`` when there is no tip.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise ValueError(f"min_size must be an integer of at least 1, got {min_size!r}")
    if not isinstance(min_jump, (int, float)) or isinstance(min_jump, bool) or not min_jump >= 0:
        raise ValueError(f"min_jump must be a number >= 0, got {min_jump!r}")
    values, rounds = _curve(curve_values)
    if penalty is None:
        penalty = default_penalty(values, float(min_jump))
    elif isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not penalty > 0:
        raise ValueError(f"penalty must be a positive number, got {penalty!r}")
    penalty = float(penalty)
    level = float(values.mean()) if values.size else math.nan
    no_tip = TippingPoint(None, 0.0, level, level, method, penalty)
    if values.size < 2 * min_size:
        return no_tip
    cuts = _breakpoints(values, method, penalty, min_size)
    if not cuts:
        return no_tip
    edges = [0, *cuts, values.size]
    means = [float(values[a:b].mean()) for a, b in zip(edges[:-1], edges[1:])]
    # runs of successive same-direction changes: (first change index, last change index)
    signs = np.sign(np.diff(means))
    runs: list[tuple[int, int]] = []
    for index, sign in enumerate(signs):
        if runs and sign == signs[runs[-1][0]]:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    first, last = max(runs, key=lambda run: abs(means[run[1] + 1] - means[run[0]]))
    before, after = means[first], means[last + 1]
    size = after - before
    if abs(size) < min_jump or size == 0:
        return no_tip
    middle = (before + after) / 2
    start, end = cuts[first], cuts[last]
    window = values[start:end + 1]
    crossed = np.nonzero((window - middle) * np.sign(size) >= 0)[0]
    position = start + int(crossed[0]) if crossed.size else end
    found = rounds[position]
    return TippingPoint(found.item() if hasattr(found, "item") else found, float(size), before, after, method, penalty)


def first_adoption_round(steps: pd.DataFrame, column: str, *, episode: int | None = None, by: str = "round",
                         node: str = "agent") -> dict[Any, Any]:
    """Each agent's first ``by`` value with ``column`` at 1 (or above 0.5) in one episode, ``None``
    when it never adopted: the colouring of :func:`plot_diffusion`. ``episode``: which one
    (default the first recorded); fallback rows are not adoptions."""
    require_columns(steps, (column, by, node, "episode"), f"records with {column!r}")
    chosen = int(steps["episode"].min()) if episode is None else int(episode)
    rows = steps[steps["episode"] == chosen]
    if rows.empty:
        raise ValueError(f"episode {episode!r} is not in the records (episodes {sorted(steps['episode'].unique())[:10]})")
    agents = list(dict.fromkeys(rows[node]))
    if "fallback_used" in rows:
        rows = rows[~flag_column(rows, "fallback_used")]
    adopted = rows[pd.to_numeric(rows[column].astype("float64"), errors="coerce") > 0.5]
    first = adopted.groupby(node, sort=False)[by].min()
    return {agent: (first[agent].item() if hasattr(first[agent], "item") else first[agent]) if agent in first.index else None
            for agent in agents}


# --- comparisons and extractors -------------------------------------------------------------


def compare_backends(runs: Mapping[str, pd.DataFrame], column: str, *, by: str = "round",
                     group: str = "episode", method: str = "pelt", min_jump: float = 0.1) -> pd.DataFrame:
    """One row per backend label: its adoption curve's final rate and tipping point.

    ``runs``: label (e.g. the backend or model) -> records of that backend (several runs
    concatenated with a ``seed`` column and ``group="seed"`` where there are several seeds).
    Columns: ``backend``, ``final_rate`` (the curve's mean at the last ``by`` value),
    ``final_low``, ``final_high`` (its t-interval), ``tipping_round`` (``None``: no tip),
    ``tipping_size``, ``before``, ``after``, ``n`` (replicates at the last ``by`` value),
    ``rounds`` (``by`` values on the curve).
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError(f"runs must be a non-empty mapping of label -> steps, got {type(runs).__name__}")
    rows = []
    for label, steps in runs.items():
        curve = adoption_curve(steps, column, by=by, group=group)
        if curve.empty:
            rows.append({"backend": str(label), "final_rate": math.nan, "final_low": math.nan, "final_high": math.nan,
                         "tipping_round": None, "tipping_size": math.nan, "before": math.nan, "after": math.nan,
                         "n": 0, "rounds": 0})
            continue
        tip = detect_tipping(curve, method=method, min_jump=min_jump)
        final = curve.iloc[-1]
        rows.append({"backend": str(label), "final_rate": float(final["mean"]), "final_low": float(final["low"]),
                     "final_high": float(final["high"]), "tipping_round": tip.round, "tipping_size": tip.size,
                     "before": tip.before, "after": tip.after, "n": int(final["n"]), "rounds": int(len(curve))})
    frame = pd.DataFrame(rows)
    # object dtype keeps None (no tip) apart from a round number, where a float column would say NaN
    frame["tipping_round"] = pd.Series([row["tipping_round"] for row in rows], dtype=object)
    frame.attrs.update({"column": column, "by": by, "group": group, "method": method, "min_jump": min_jump})
    return frame


def donor_cooperation_by_generation(steps: pd.DataFrame) -> pd.DataFrame:
    """Donor Game records as an adoption frame: one row per real donor decision.

    Columns ``generation``, ``game``, ``episode``, ``round``, ``agent`` and ``cooperation``:
    the share of its resources the donor gave (``fraction`` when ``move == "donate"``, 0 for
    refuse, punish and abstain: what the world remembers as the donor's last fraction). Rows
    where the world applied its fallback are left out (not the agent's choice). Curve by
    generation over games: ``adoption_curve(frame, "cooperation", by="generation", group="game")``.
    """
    require_columns(steps, ("generation", "game", "episode", "role", "move", "fraction"), "dilemmazoo/donor-game-v0")
    rows = steps[steps["role"] == "donor"]
    if "fallback_used" in rows:
        rows = rows[~flag_column(rows, "fallback_used")]
    fraction = pd.to_numeric(rows["fraction"], errors="coerce").fillna(0.0)
    cooperation = np.where(rows["move"] == "donate", fraction, 0.0)
    columns = [c for c in ("generation", "game", "episode", "round", "agent") if c in rows]
    return rows[columns].assign(cooperation=cooperation.astype(float)).reset_index(drop=True)


def commons_overuse_by_month(steps: pd.DataFrame) -> pd.DataFrame:
    """GovSim records as an adoption frame: one row per harvest an agent chose itself.

    Columns ``episode``, ``round`` (GovSim's month), ``agent`` and ``overuse``: 1.0 when the
    request exceeded the month's per-agent threshold (``requested > threshold``, GovSim's
    over-usage, :func:`dilemmazoo.analysis.commons.over_usage`), else 0.0. Fallback rows and
    absent agents are left out. Curve: ``adoption_curve(frame, "overuse", by="round", group="episode")``.
    """
    require_columns(steps, ("episode", "round", "agent", "phase", "requested", "threshold"), GOVSIM_WORLD_ID)
    rows = harvest_rows(steps, own_choices="fallback_used" in steps)
    rows = rows[pd.to_numeric(rows["requested"], errors="coerce") >= 0]
    overuse = (rows["requested"].astype(float) > rows["threshold"].astype(float)).astype(float)
    columns = [c for c in ("episode", "round", "agent", "generation") if c in rows]
    return rows[columns].assign(overuse=overuse.to_numpy()).reset_index(drop=True)


# --- figures --------------------------------------------------------------------------------


def plot_adoption(curves: Mapping[str, pd.DataFrame], tipping: Mapping[str, TippingPoint] | TippingPoint | None = None,
                  *, title: str = "Adoption", ylabel: str = "share adopting", bounds: tuple[float, float] | None = (0.0, 1.0),
                  path: str | None = None) -> Figure:
    """Adoption curves (label -> :func:`adoption_curve` frame): the mean with its shaded band,
    and a dashed vertical line at each tipping round (``tipping``: one point for all curves, or
    label -> point). ``bounds`` clip the bands (``None``: no clipping); ``path`` saves a PNG."""
    curves = {str(label): frame for label, frame in curves.items() if frame is not None and not frame.empty}
    if not curves:
        return note_figure(title, "no adoption values to plot", path)
    if isinstance(tipping, TippingPoint):
        tipping = dict.fromkeys(curves, tipping)
    figure = _new_figure(7.5, 4.2)
    axes = figure.add_subplot()
    xlabel = "round"
    for index, (label, frame) in enumerate(curves.items()):
        xlabel = frame.attrs.get("by") or frame.columns[0]
        x = frame[xlabel].to_numpy()
        mean, low, high = (frame[c].to_numpy(dtype=float) for c in ("mean", "low", "high"))
        if bounds is not None:
            low, high = np.clip(low, *bounds), np.clip(high, *bounds)
        color = f"C{index % 10}"
        axes.plot(x, mean, marker="o", markersize=3.5, color=color, label=f"{label} (n={int(frame['n'].max())})")
        if np.isfinite(low).any():
            axes.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
        point = (tipping or {}).get(label)
        if point is not None and point.round is not None:
            axes.axvline(point.round, color=color, linestyle="--", linewidth=1.2,
                         label=f"{label}: tips at {point.round} ({point.size:+.2f})")
    axes.set_title(f"{title}\nmean over replicates, shaded: 95% t-interval; dashed: tipping round", fontsize="medium")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if bounds is not None:
        axes.set_ylim(bounds[0] - 0.03 * (bounds[1] - bounds[0]), bounds[1] + 0.03 * (bounds[1] - bounds[0]))
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return _finish(figure, path)


def plot_diffusion(graph: Any, adoption_round: Mapping[Any, int | None], *, title: str = "Diffusion",
                   seed: int = 0, path: str | None = None) -> Figure:
    """A networkx ``graph`` with each node coloured by the round it adopted in
    (``adoption_round``: node -> round, ``None`` or absent: never, drawn grey; e.g.
    :func:`first_adoption_round`). Layout: the spring layout seeded with ``seed`` (circular for
    up to 12 nodes, where it reads best). ``path`` saves a PNG."""
    import networkx as nx
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    if not isinstance(graph, nx.Graph):
        raise ValueError(f"graph must be a networkx Graph, got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        return note_figure(title, "the graph has no nodes", path)
    unknown = [node for node in adoption_round if node not in graph]
    if unknown:
        raise ValueError(f"adoption_round names nodes not in the graph: {unknown[:5]}")
    rounds = {node: adoption_round.get(node) for node in graph.nodes}
    adopted = [r for r in rounds.values() if r is not None]
    figure = _new_figure(6.0, 5.0)
    axes = figure.add_subplot()
    positions = nx.circular_layout(graph) if graph.number_of_nodes() <= 12 else nx.spring_layout(graph, seed=seed)
    nx.draw_networkx_edges(graph, positions, ax=axes, edge_color="0.6")
    never = [node for node, r in rounds.items() if r is None]
    nx.draw_networkx_nodes(graph, positions, nodelist=never, node_color=NEVER_COLOUR, ax=axes, edgecolors="0.4")
    if adopted:
        norm = Normalize(vmin=min(adopted), vmax=max(max(adopted), min(adopted) + 1))
        cmap = colormaps["viridis"]
        nodes = [node for node, r in rounds.items() if r is not None]
        nx.draw_networkx_nodes(graph, positions, nodelist=nodes, node_color=[cmap(norm(rounds[n])) for n in nodes],
                               ax=axes, edgecolors="0.2")
        figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="round of adoption")
    nx.draw_networkx_labels(graph, positions, ax=axes, font_size=8)
    axes.set_title(f"{title}\n{len(adopted)} of {len(rounds)} adopted; grey: never", fontsize="medium")
    axes.set_axis_off()
    return _finish(figure, path)
