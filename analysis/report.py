"""One self-contained HTML report for a run or an experiment (many runs, e.g. a seed grid).

``write_report(path)`` finds the run directories under ``path`` (those holding
``summary.json``), reads their records, computes the metrics, draws the plots as PNG embedded
as base64 data URIs, and renders ``templates/report.html`` (:mod:`.html`: jinja2, autoescaped) into one
``report.html`` that can be mailed or archived on its own.

The page opens with what produced the numbers: the model(s), backend and decision mode of each
agent group and the decision counts (decisions, fallbacks, parse failures), from
``summary.json``'s ``provenance`` and ``counts`` (older runs without them fall back to their
config and step records). It warns when the runs come from different code versions
(``dilemmazoo_version`` or ``git_commit``) or use different models.

Sections: grid cells (when the runs form two or more), runs, one section per world (headline
metrics with the valid decisions and fallbacks beside them, the world's tables and plots),
decisions, LLM calls (per run, and per backend: calls, cache hits, tokens and cost, :mod:`.costs`),
the final generation's strategy texts, policy synthesis, and the resolved configs. World-specific metrics, tables and plots are looked up in
:data:`WORLD_ANALYSES` by ``summary["world"]``; a world without an entry still gets the generic
sections and the metrics its runs recorded in ``summary.json``. A rate with no valid decision
is NaN and shown with its reason (the metrics' ``nan_reasons``).

Grid cells: the runs that share every resolved config value except the seed form one *cell*
(:func:`grid_cells`), named by the grid labels the runner stores in each config (``cell``) or,
for older runs, by the config values that differ. When a world's runs form two or more cells,
the report opens with a cell comparison table (each headline metric's mean over the cell's
seeds with its 95% t-interval, :func:`.cell_plots.mean_interval`), draws every time series
once with one line per cell (the mean, with the interval shaded), and groups the world's
plots and tables by cell. Cell values are shown as words (``donation_multiplier=2.0``,
``predict_first=no``, an agent group by its label), never as raw YAML.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from . import atp, commons, donor_game, gridworld, public_goods, repeated_game, tax, team_production, trust_split
from .atp_plots import diffusion_figures, exploration_figures
from .cell_plots import BAND_CAPTION, mean_interval, plot_cell_bands
from .commons_plots import commons_cell_figures, commons_figures, cpr_cell_figures, cpr_figures
from .costs import costs_by, label_calls
from .gridworld_plots import gridworld_figures, outcome_by_episode
from .html import format_number, render_template, write_html
from .metrics import RunRecords, decision_stats, decisions_by_generation, find_runs, llm_call_stats, load_run
from .plots import donor_game_figures, figure_to_data_uri, note_figure, plot_decision_failures, punishment_possible
from .repeated_game_plots import cooperation_by_round, repeated_game_figures, repeated_game_tables
from .tipping import (TippingPoint, adoption_curve, commons_overuse_by_month, detect_tipping,
                      donor_cooperation_by_generation, plot_adoption)
from .synthesis import SYNTHESIS_METRICS, code_diffs, is_synthesis_population, synthesis_figure, synthesis_iterations
from .studies import STUDY_ANALYSES
from .tax_plots import tax_figures, tax_tables
from .team_production_plots import team_production_figures
from .training import is_training_run, write_training_report
from .worlds import WORLD_METRICS, measured_steps
from .trust_split_plots import efficiency_by_round, split_figures, split_tables

__all__ = ["WORLD_ANALYSES", "GridCell", "TimeSeries", "WorldAnalysis", "format_number", "grid_cells", "human_value",
           "render_template", "write_html", "write_report"]

REPORT_FILE = "report.html"
TEMPLATE = "report.html"
_BY_GENERATION = "_by_generation"
_MAX_KEY_CONFIG_VALUES = 12
#: metric keys that count decisions (shown beside the rates), not rates themselves
_COUNT_KEYS = ("valid_decisions", "fallbacks")
_NAN_REASONS = "nan_reasons"

#: ``figures(steps_by_run, world_kwargs) -> [(title, figure)]``
FiguresFunction = Callable[[Mapping[str, pd.DataFrame], Mapping[str, Any]], list[tuple[str, Figure]]]
#: ``tables(steps_by_run, world_kwargs) -> [{"title", "note", "columns", "rows"}]``
TablesFunction = Callable[[Mapping[str, pd.DataFrame], Mapping[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class TimeSeries:
    """A per-run series (``values(steps) -> pd.Series`` indexed by x) drawn per grid cell as a band."""

    title: str
    xlabel: str
    ylabel: str
    values: Callable[[pd.DataFrame], pd.Series]
    bounds: tuple[float, float] | None = None  # the values a series can take (a share: 0 to 1)


@dataclass(frozen=True)
class WorldAnalysis:
    """How to analyse one world's records.

    ``metrics(steps) -> dict`` returns numbers; keys ending in ``_by_generation`` map a
    generation to a number and are shown as tables by generation, the others are headline
    scalars; ``valid_decisions`` and ``fallbacks`` are shown beside them and ``nan_reasons``
    (metric -> text) explains the NaN ones. ``figures(steps_by_run, world_kwargs)`` returns
    (title, figure) pairs; ``descriptions`` explain metric names in the report.

    Optional: ``metric_options(world_kwargs) -> dict`` turns a run's ``world.kwargs`` into
    keyword arguments of ``metrics`` (what the records cannot tell, such as the horizon T);
    ``tables(steps_by_run, world_kwargs)`` gives the world's tables; ``outcome(steps,
    **options) -> str`` a run's outcome in words (e.g. "collapsed in month 3");
    ``cell_metrics`` names the headline metrics of the grid-cell table (default: every
    numeric headline metric); ``cell_figures(steps_by_run, world_kwargs)`` draws the plots
    shown for each grid cell (default: ``figures``); ``time_series`` are drawn once per grid
    with one band per cell; ``omitted_metrics(steps_by_run, world_kwargs)`` names metrics that
    do not apply to these runs (e.g. punishment use where punishment was off).
    """

    metrics: Callable[..., dict[str, Any]]
    figures: FiguresFunction
    descriptions: Mapping[str, str] = field(default_factory=dict)
    metric_options: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    tables: TablesFunction | None = None
    outcome: Callable[..., str] | None = None
    cell_metrics: tuple[str, ...] = ()
    cell_figures: FiguresFunction | None = None
    time_series: tuple[TimeSeries, ...] = ()
    omitted_metrics: Callable[[Mapping[str, pd.DataFrame], Mapping[str, Any]], tuple[str, ...]] | None = None


def _steps_only(figures: Callable[[Mapping[str, pd.DataFrame]], list[tuple[str, Figure]]]) -> FiguresFunction:
    """A figures function of the records alone, as a :data:`FiguresFunction`."""
    return lambda steps_by_run, world_kwargs: figures(steps_by_run)


def _commons_outcome(horizon_word: str, episodes_of: Callable[..., pd.DataFrame]) -> Callable[..., str]:
    """``outcome(steps, **options)`` of a commons world: each episode's collapse or survival in words."""

    def outcome(steps: pd.DataFrame, **options: Any) -> str:
        episodes = episodes_of(steps, **options)
        texts = []
        for row in episodes.to_dict("records"):
            months = int(row["survival_time"])
            if row["collapsed"]:
                texts.append(f"collapsed in {horizon_word} {months}")
            elif row["survived"]:
                texts.append(f"survived all {months} {horizon_word}s")
            else:
                texts.append(f"ended after {horizon_word} {months} without a collapse")
        if len(texts) <= 1:
            return texts[0] if texts else "no episode"
        collapsed = [int(row["survival_time"]) for row in episodes.to_dict("records") if row["collapsed"]]
        summary = f"{len(collapsed)} of {len(texts)} episodes collapsed"
        if collapsed:
            summary += f" ({horizon_word}s {', '.join(str(m) for m in collapsed)})"
        survived = int(episodes["survived"].sum())
        if survived:
            summary += f"; {survived} survived all {int(episodes['survival_time'].max())} {horizon_word}s"
        return summary

    return outcome


def _donor_game_omitted(steps_by_run: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """No punishment metric where punishment was off and nobody punished."""
    return () if punishment_possible(steps_by_run, world_kwargs) else ("punishment_rate", "punishment_rate_by_generation")


def _mean_stock_by_round(steps: pd.DataFrame) -> pd.Series:
    """The stock after each round, mean over the run's episodes that reached it."""
    return commons.stock_by_round(steps).groupby("round")["stock"].mean()


_COMMONS_DESCRIPTIONS = {
    "survival_time": "round (month) of collapse, else the last round; mean over episodes",
    "survival_rate": "share of episodes that lasted all T rounds without collapse",
    "gain": "mean over agents of R_i, the total harvest an agent received",
    "efficiency": "1 - max(0, T f(0) - sum_i R_i) / (T f(0)) (Piatti et al. 2024)",
    "equality": "1 - Gini of the agents' total harvests R_i",
    "fallback_rate": "decisions replaced by the world's fallback / decisions",
    "episodes": "episodes in the run",
}
_SPLIT_DESCRIPTIONS = {
    "split_efficiency": "achieved total reward / best total, summed over rounds",
    "average_reward": "reward per player per round",
    "exploitation": "mean reward per round of the player facing a greedy seat minus the greedy seat's",
    "fallback_rate": "decisions replaced by the world's fallback / decisions",
}
_GRIDWORLD_DESCRIPTIONS = {
    "efficiency": "sum of all returns / T (Perolat et al. 2017)",
    "equality": "1 - Gini of the agents' returns",
    "sustainability": "mean time step at which rewards were collected",
    "peace": "mean number of agents not tagged out, per step",
    "maximin": "the lowest agent return",
    "apples": "apples collected per episode",
    "episodes": "episodes in the run",
}
_GRIDWORLD_SERIES = (TimeSeries("Efficiency by episode", "episode", "efficiency", outcome_by_episode("efficiency")),)


# --- tipping of the Donor Game's cooperation and GovSim's over-use (Han et al., arXiv 2510.04860) ----


#: the fewest points (generations, months) a curve needs for its tipping analysis
_TIPPING_MIN_POINTS = 3


@dataclass(frozen=True)
class _TippingCurve:
    """How to read a world's records as an adoption curve: ``frame(steps)`` (one row per real
    decision, :mod:`.tipping`'s extractors), the ``column`` adopted, by ``by`` over ``group``
    replicates, and the words of the report (``name`` of the metrics, ``unit`` of ``by``).

    A curve of fewer than :data:`_TIPPING_MIN_POINTS` points gets no tipping analysis (no
    metric, no figure): with two points a "tip" is only the difference between them, which the
    world's own per-generation or per-month plots already show."""

    frame: Callable[[pd.DataFrame], pd.DataFrame]
    column: str
    by: str
    group: str
    name: str
    unit: str
    title: str
    ylabel: str

    def curve(self, steps_by_run: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """The curve over every run given, each (run, replicate) one replicate."""
        parts = []
        for label, steps in steps_by_run.items():
            rows = self.frame(steps) if not steps.empty else pd.DataFrame()
            if not rows.empty:
                parts.append(rows.assign(_replicate=f"{label}/" + rows[self.group].astype(str)))
        if not parts:
            return pd.DataFrame(columns=[self.by, "mean", "low", "high", "n"])
        return adoption_curve(pd.concat(parts, ignore_index=True), self.column, by=self.by, group="_replicate")

    def tipping(self, steps: pd.DataFrame) -> TippingPoint | None:
        """The tip of one run's curve; ``None`` for a curve too short to analyse."""
        curve = self.curve({"run": steps})
        return detect_tipping(curve) if len(curve) >= _TIPPING_MIN_POINTS else None

    def metrics(self, metrics: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        """``metrics`` with ``<name>_tipping_<unit>`` and ``<name>_tipping_size`` added (NaN with
        its reason when the curve does not tip or has no point)."""

        def with_tipping(steps: pd.DataFrame, **options: Any) -> dict[str, Any]:
            result = dict(metrics(steps, **options))
            reasons = dict(result.pop(_NAN_REASONS, {}) or {})
            point = self.tipping(steps) if not steps.empty else None
            where, size = f"{self.name}_tipping_{self.unit}", f"{self.name}_tipping_size"
            if point is None:
                result[where] = result[size] = math.nan
                reasons[where] = reasons[size] = (f"the {self.name} curve has fewer than {_TIPPING_MIN_POINTS} "
                                                  f"{self.unit}s with a real decision")
            else:
                result[size] = float(point.size)
                result[where] = math.nan if point.round is None else float(point.round)
                if point.round is None:
                    reasons[where] = f"the {self.name} curve does not tip (no change of at least 0.1)"
            if reasons:
                result[_NAN_REASONS] = reasons
            return result

        return with_tipping

    def outcome(self, steps: pd.DataFrame, **options: Any) -> str:
        """The tip in words, e.g. ``"cooperation tips at generation 3 (+0.40)"``."""
        point = self.tipping(steps)
        if point is None:
            return f"{self.name}: fewer than {_TIPPING_MIN_POINTS} {self.unit}s, no tipping analysis"
        if point.round is None:
            return f"{self.name} does not tip (level {point.before:.2f})"
        return f"{self.name} tips at {self.unit} {point.round} ({point.size:+.2f}: {point.before:.2f} to {point.after:.2f})"

    def figures(self, steps_by_run: Mapping[str, pd.DataFrame]) -> list[tuple[str, Figure]]:
        """The curve over every run with its band and tipping line; none for a short curve."""
        curve = self.curve(steps_by_run)
        if len(curve) < _TIPPING_MIN_POINTS:
            return []
        return [(self.title, plot_adoption({self.name: curve}, detect_tipping(curve), title=self.title,
                                           ylabel=self.ylabel))]


_DONOR_TIPPING = _TippingCurve(donor_cooperation_by_generation, "cooperation", "generation", "game", "cooperation",
                               "generation", "Cooperation tipping across generations",
                               "share of resources donated (refusals 0)")
_COMMONS_TIPPING = _TippingCurve(commons_overuse_by_month, "overuse", "round", "episode", "overuse", "month",
                                 "Over-use tipping across months", "share of requests above the threshold")


def _donor_game_figures(steps_by_run: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any]) -> list[tuple[str, Figure]]:
    return [*donor_game_figures(steps_by_run, world_kwargs), *_DONOR_TIPPING.figures(steps_by_run)]


def _commons_figures(steps_by_run: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any]) -> list[tuple[str, Figure]]:
    return [*commons_figures(steps_by_run), *_COMMONS_TIPPING.figures(steps_by_run)]


#: world id -> its analysis; other worlds plug in here
WORLD_ANALYSES: dict[str, WorldAnalysis] = {
    donor_game.WORLD_ID: WorldAnalysis(
        metrics=_DONOR_TIPPING.metrics(WORLD_METRICS[donor_game.WORLD_ID]),
        figures=_donor_game_figures,
        outcome=_DONOR_TIPPING.outcome,
        descriptions={
            "final_generation_avg_resources": "average final resources of the last generation (the headline)",
            "initial_cooperation": "mean share of resources donated in generation 1",
            "fallback_rate": "decisions replaced by the world's fallback / decisions",
            "avg_final_resources": "mean over agents and games of resources after the last round",
            "donation_fraction": "mean share of resources given in real donations (fallbacks excluded)",
            "punishment_rate": "% of real donor encounters that punished",
            "cooperation_tipping_generation": "generation where the share donated (refusals 0) tips (ruptures PELT)",
            "cooperation_tipping_size": "after - before level of that tip (0 without one)",
        },
        time_series=(
            TimeSeries("Average final resources per generation", "generation", "average final resources",
                       donor_game.average_final_resources),
            TimeSeries("Donation fraction per generation", "generation", "mean share donated (real donations)",
                       donor_game.donation_fraction, bounds=(0.0, 1.0)),
        ),
        omitted_metrics=_donor_game_omitted,
    ),
    public_goods.WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[public_goods.WORLD_ID],
        figures=public_goods.public_goods_figures,
        descriptions=public_goods.DESCRIPTIONS,
        outcome=public_goods.public_goods_outcome,
        cell_metrics=("contribution_rate", "full_contribution_rate", "mean_payoff", "normalised_cooperation"),
        time_series=(TimeSeries("Contribution rate by round", "round", "share of the endowment contributed",
                                public_goods.contribution_by_round, bounds=(0.0, 1.0)),),
    ),
    repeated_game.WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[repeated_game.WORLD_ID],
        figures=repeated_game_figures,
        tables=repeated_game_tables,
        descriptions={
            "cooperation_rate": "share of real choices (fallbacks left out) that are action 0, the cooperative move",
            "mutual_cooperation_rate": "share of rounds in which both players played action 0",
            "mean_reward": "stage payoff per player per round",
            "fallback_rate": "decisions replaced by the world's fallback / decisions",
        },
        time_series=(TimeSeries("Cooperation by round", "round", "share choosing action 0", cooperation_by_round,
                                bounds=(0.0, 1.0)),),
    ),
    trust_split.WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[trust_split.WORLD_ID],
        figures=split_figures(trust_split.WORLD_ID),
        tables=split_tables(trust_split.WORLD_ID),
        descriptions={
            **_SPLIT_DESCRIPTIONS,
            "honesty_rate": "share of messages claiming a hand whose claim was true",
            "mean_proposal_upper": "mean coins claimed holding the upper hand",
            "mean_proposal_lower": "mean coins claimed holding the lower hand",
        },
        time_series=(TimeSeries("Split efficiency by round", "round", "achieved / best total", efficiency_by_round,
                                bounds=(0.0, 1.0)),),
    ),
    trust_split.NOCOMM_WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[trust_split.NOCOMM_WORLD_ID],
        figures=split_figures(trust_split.NOCOMM_WORLD_ID),
        tables=split_tables(trust_split.NOCOMM_WORLD_ID),
        descriptions=_SPLIT_DESCRIPTIONS,
        time_series=(TimeSeries("Split efficiency by round", "round", "achieved / best total", efficiency_by_round,
                                bounds=(0.0, 1.0)),),
    ),
    commons.GOVSIM_WORLD_ID: WorldAnalysis(
        metrics=_COMMONS_TIPPING.metrics(WORLD_METRICS[commons.GOVSIM_WORLD_ID]),
        figures=_commons_figures,
        descriptions={
            **_COMMONS_DESCRIPTIONS,
            "over_usage": "share of (agent, month) harvest requests above the per-agent threshold (fallbacks left out)",
            "n_months": "horizon T in months",
            "overuse_tipping_month": "month where the share of over-use requests tips (ruptures PELT)",
            "overuse_tipping_size": "after - before level of that tip (0 without one)",
        },
        metric_options=partial(commons.metric_options, commons.GOVSIM_WORLD_ID),
        outcome=_commons_outcome("month", commons.commons_episodes),
        cell_metrics=("survival_time", "survival_rate", "efficiency", "gain", "equality", "over_usage"),
        cell_figures=_steps_only(commons_cell_figures),
        time_series=(TimeSeries("Stock after each month", "month", "stock (mean over episodes)", _mean_stock_by_round),),
    ),
    commons.CPR_WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[commons.CPR_WORLD_ID],
        figures=_steps_only(cpr_figures),
        descriptions={
            **_COMMONS_DESCRIPTIONS,
            "efficiency": "1 - max(0, T MSY - sum_i R_i) / (T MSY), MSY = r K / 4 (GovSim's formula with f(0) = MSY)",
            "sanction_rate": "share of agent-rounds in which the agent was sanctioned",
            "norm_adherence": "share of agent-rounds under a group norm whose harvest was at most the norm",
            "over_usage": "share of agent-rounds flagged over the group norm (fallbacks left out)",
            "norm_similarity": "1 - mean pairwise |e_i - e_j| of efforts, mean over rounds (Gupta et al. 2025)",
            "final_norm_similarity": "norm similarity of the last round",
            "mean_group_norm": "mean voted group norm G(t) over rounds that had one",
            "n_rounds": "horizon T in rounds",
        },
        metric_options=partial(commons.metric_options, commons.CPR_WORLD_ID),
        outcome=_commons_outcome("round", commons.cpr_episodes),
        cell_metrics=("survival_time", "survival_rate", "efficiency", "norm_similarity", "sanction_rate", "norm_adherence"),
        cell_figures=_steps_only(cpr_cell_figures),
        time_series=(TimeSeries("Stock after each round", "round", "stock (mean over episodes)", _mean_stock_by_round),),
    ),
    gridworld.CLEANUP_WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[gridworld.CLEANUP_WORLD_ID],
        figures=gridworld_figures,
        descriptions=_GRIDWORLD_DESCRIPTIONS,
        time_series=_GRIDWORLD_SERIES,
    ),
    gridworld.GATHERING_WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[gridworld.GATHERING_WORLD_ID],
        figures=gridworld_figures,
        descriptions=_GRIDWORLD_DESCRIPTIONS,
        time_series=_GRIDWORLD_SERIES,
    ),
    tax.WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[tax.WORLD_ID],
        figures=tax_figures,
        tables=tax_tables,
        descriptions=tax.DESCRIPTIONS,
        outcome=tax.tax_outcome,
        cell_metrics=("final_swf_llm_economist", "best_swf_llm_economist", "final_swf_ai_economist", "mean_hours",
                      "mean_income", "equality_x_productivity"),
        time_series=(
            TimeSeries("LLM Economist SWF by work step", "work step", "sum_i u_i / max(z_i, 1)",
                       tax.swf_by_round("swf_llm_economist")),
            TimeSeries("AI Economist SWF by work step", "work step", "inverse-income weights normalised to 1",
                       tax.swf_by_round("swf_ai_economist")),
        ),
    ),
    team_production.WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[team_production.WORLD_ID],
        figures=team_production_figures,
        descriptions=team_production.DESCRIPTIONS,
        outcome=team_production.team_production_outcome,
        cell_metrics=("mean_effort", "equilibrium_effort", "effort_ratio_to_equilibrium", "mean_payoff",
                      "mean_utility", "efficiency"),
        time_series=(TimeSeries("Mean effort by round", "round", "mean effort (own choices)",
                                team_production.effort_by_round),),
    ),
    atp.EXPLORATION_WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[atp.EXPLORATION_WORLD_ID],
        figures=exploration_figures,
        descriptions=atp.EXPLORATION_DESCRIPTIONS,
        outcome=atp.exploration_outcome,
        cell_metrics=("violation_rate", "violation_rate_supervised", "violation_rate_unsupervised",
                      "final_violation_rate", "tipping_round", "mean_reward"),
        time_series=(TimeSeries("Violation rate by round", "round", "share of own answers that violate",
                                atp.violation_by_round, bounds=(0.0, 1.0)),),
    ),
    atp.DIFFUSION_WORLD_ID: WorldAnalysis(
        metrics=WORLD_METRICS[atp.DIFFUSION_WORLD_ID],
        figures=diffusion_figures,
        descriptions=atp.DIFFUSION_DESCRIPTIONS,
        outcome=atp.diffusion_outcome,
        cell_metrics=("adoption_rate", "final_adoption", "success_rate", "final_mean_capital", "tipping_round"),
        time_series=(TimeSeries("Collective share by round", "round", "share choosing the collective option",
                                atp.adoption_by_round, bounds=(0.0, 1.0)),),
    ),
}


def human_value(value: Any) -> str:
    """A config value in words: booleans ``yes``/``no``; an agent group (a mapping) by its
    ``label``, else its ``strategy``, ``backend`` or ``kind``, else ``key=value`` pairs; a list joined by
    ``/``. Text that is a YAML flow mapping, list or boolean (how grid labels of such values
    are stored) is read first, so a cell never shows raw YAML."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[") or text in ("true", "false", "True", "False"):
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                return value
        else:
            return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        for key in ("label", "strategy", "backend", "kind", "id", "name"):
            if isinstance(value.get(key), (str, int, float)) and str(value[key]).strip():
                return str(value[key])
        return ", ".join(f"{key}={human_value(item)}" for key, item in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return "/".join(human_value(item) for item in value) or "none"
    return "none" if value is None else str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float, np.integer, np.floating, np.bool_))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) and not (
        isinstance(value, (float, np.floating)) and math.isnan(value)
    )


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted keys -> scalar values (lists and empty dicts as their YAML flow text)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        elif _is_scalar(value):
            flat[name] = str(value)
        else:
            flat[name] = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return flat


def _key_config_values(runs: Sequence[RunRecords]) -> list[dict[str, str]]:
    """Per run, the config values that tell the runs apart (the grid's axes); for a single
    run, or runs that do not differ, the world's settings. Values in words (:func:`human_value`)."""
    if len(runs) > 1 and all(run.config.get("cell") for run in runs):
        cells = grid_cells([run.config for run in runs])
        label_of = {member: cell.values for cell in cells for member in cell.members}
        return [dict(label_of[i]) for i in range(len(runs))]
    flats = [{k: v for k, v in _flatten(run.config).items() if not k.startswith("cell.")} for run in runs]
    keys = sorted({key for flat in flats for key in flat})
    varying = [key for key in keys if "seed" not in key.split(".")[-1] and len({flat.get(key) for flat in flats}) > 1]
    chosen = varying or [key for key in keys if key.split(".")[0] == "world" and key != "world"]
    if not chosen and "world" in keys:
        chosen = ["world"]
    chosen = chosen[:_MAX_KEY_CONFIG_VALUES]
    return [{key: human_value(flat[key]) for key in chosen if key in flat} for flat in flats]


# Config keys that do not define a grid cell: the seed, and what run ids leave out too.
_NOT_CELL_KEYS = ("workers", "description")


def _is_seed_key(key: str) -> bool:
    return "seed" in key.split(".")[-1]


@dataclass(frozen=True)
class GridCell:
    """Runs whose resolved configs are equal except for the seed.

    ``values`` are the config values that tell this cell from the others (dotted key ->
    value in words); ``members`` index the runs given to :func:`grid_cells`.
    """

    label: str
    values: Mapping[str, str]
    members: tuple[int, ...]


def _natural(value: str) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def grid_cells(configs: Sequence[Mapping[str, Any]]) -> list[GridCell]:
    """Group runs into grid cells by their resolved configs (the ``config.yaml`` of each run).

    Two runs share a cell when every flattened config value is equal except keys naming a
    seed (``seeds``, ``seed``, ``...seed``) and ``workers`` / ``description``, which run ids
    ignore as well. A cell's label joins ``key=value`` for the keys whose values differ
    between cells, in the order the config lists them, values in words (:func:`human_value`);
    a single cell is labelled ``"all runs"``. Cells are sorted by those values (numbers
    numerically).
    """
    if configs and all(config.get("cell") for config in configs):
        return _labelled_cells(configs)
    flats = [
        {key: value for key, value in _flatten(config).items()
         if not _is_seed_key(key) and key not in _NOT_CELL_KEYS and not key.startswith("cell.")}
        for config in configs
    ]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    groups: dict[tuple, list[int]] = {}
    for index, flat in enumerate(flats):
        groups.setdefault(tuple(flat.get(key) for key in keys), []).append(index)
    varying = [i for i, key in enumerate(keys) if len({signature[i] for signature in groups}) > 1]
    cells = []
    for signature, members in groups.items():
        values = {keys[i]: "–" if signature[i] is None else human_value(signature[i]) for i in varying}
        label = ", ".join(f"{key}={value}" for key, value in values.items()) or "all runs"
        cells.append(GridCell(label=label, values=values, members=tuple(members)))
    return sorted(cells, key=lambda cell: [_natural(value) for value in cell.values.values()])


def _labelled_cells(configs: Sequence[Mapping[str, Any]]) -> list[GridCell]:
    """Cells named by the grid labels the runner stored in each config (``cell``).

    Keys are shortened to their last part when that stays unambiguous
    (``world.kwargs.voting`` -> ``voting``; a list index keeps its list, ``agents.1``); cells are sorted by their labels (numbers numerically).
    """
    keys = list(dict.fromkeys(key for config in configs for key in config["cell"]))
    varying = [key for key in keys if len({str(config["cell"].get(key)) for config in configs}) > 1]
    # the last part names the key unless it is a list index (agents.1 stays agents.1)
    last = [".".join(key.split(".")[-2:]) if key.rsplit(".", 1)[-1].isdigit() else key.rsplit(".", 1)[-1] for key in varying]
    names = {key: short if last.count(short) == 1 else key for key, short in zip(varying, last)}
    groups: dict[tuple, list[int]] = {}
    for index, config in enumerate(configs):
        groups.setdefault(tuple(str(config["cell"].get(key, "–")) for key in varying), []).append(index)
    cells = []
    for signature, members in groups.items():
        values = {names[key]: human_value(value) for key, value in zip(varying, signature)}
        label = ", ".join(f"{key}={value}" for key, value in values.items()) or "all runs"
        cells.append(GridCell(label=label, values=values, members=tuple(members)))
    return sorted(cells, key=lambda cell: [_natural(value) for value in cell.values.values()])


def _seed_order(run: RunRecords) -> tuple[bool, int]:
    return (run.seed is None, run.seed or 0)


def _group_by_world_and_cell(runs: Sequence[RunRecords]) -> tuple[list[RunRecords], list[tuple[str, list[GridCell]]]]:
    """The runs reordered by world, grid cell and seed, and per world its cells (members index
    the reordered runs)."""
    ordered: list[RunRecords] = []
    worlds = []
    for world in dict.fromkeys(run.world for run in runs):
        members = [run for run in runs if run.world == world]
        cells = []
        for cell in grid_cells([run.config for run in members]):
            start = len(ordered)
            ordered.extend(sorted((members[i] for i in cell.members), key=_seed_order))
            cells.append(GridCell(cell.label, cell.values, tuple(range(start, len(ordered)))))
        worlds.append((world, cells))
    return ordered, worlds


def _labels(runs: Sequence[RunRecords], worlds: Sequence[tuple[str, list[GridCell]]] = ()) -> list[str]:
    """Short unique names for runs in legends and tables: the seed where seeds differ, else the
    grid cell and the seed, else the run id."""
    seeds = [run.seed for run in runs]
    if None not in seeds and len(set(seeds)) == len(seeds):
        return [f"seed {seed}" for seed in seeds]
    if None not in seeds:
        labels = [""] * len(runs)
        for world, cells in worlds:
            for cell in cells:
                for index in cell.members:
                    prefix = f"{cell.label}, " if len(cells) > 1 else (f"{world}, " if len(worlds) > 1 else "")
                    labels[index] = f"{prefix}seed {runs[index].seed}"
        if all(labels) and len(set(labels)) == len(labels):
            return labels
    short = [run.run_id[:12] for run in runs]
    if len(set(short)) == len(short):
        return short
    return [f"{index}: {run.run_id}" for index, run in enumerate(runs, start=1)]


def _generation_sort_key(generation: str) -> tuple[int, float | str]:
    try:
        return (0, float(generation))
    except ValueError:
        return (1, generation)


def _world_kwargs(run: RunRecords) -> Mapping[str, Any]:
    world = run.config.get("world") if isinstance(run.config, Mapping) else None
    kwargs = world.get("kwargs") if isinstance(world, Mapping) else None
    return kwargs if isinstance(kwargs, Mapping) else {}


def _run_metrics(run: RunRecords, label: str, analysis: WorldAnalysis | None, notes: list[str]) -> dict[str, Any]:
    """The run's metrics from its steps (else summary.json), with the valid-decision and
    fallback counts the rates rest on (from the step records where the metrics lack them)."""
    metrics: dict[str, Any] = {}
    if analysis is not None and not run.steps.empty:
        try:
            options = analysis.metric_options(_world_kwargs(run)) if analysis.metric_options else {}
            metrics = dict(analysis.metrics(measured_steps(run.steps), **options))
        except ValueError as error:
            notes.append(f"{label}: metrics not computed from steps ({error}); showing summary.json metrics")
            metrics = dict(run.summary.get("metrics") or {})
    else:
        metrics = dict(run.summary.get("metrics") or {})
    if not all(key in metrics for key in _COUNT_KEYS) and not run.steps.empty:
        stats = decision_stats(run.steps)
        metrics.setdefault("valid_decisions", stats["decisions"] - stats["fallbacks"])
        metrics.setdefault("fallbacks", stats["fallbacks"])
    return metrics


def _outcome(run: RunRecords, analysis: WorldAnalysis | None, label: str, notes: list[str]) -> str | None:
    if analysis is None or analysis.outcome is None or run.steps.empty:
        return None
    try:
        options = analysis.metric_options(_world_kwargs(run)) if analysis.metric_options else {}
        return analysis.outcome(run.steps, **options)
    except ValueError as error:
        notes.append(f"{label}: outcome not computed ({error})")
        return None


def _encoded(figures: Sequence[tuple[str, Figure]], caption: str = "") -> list[dict[str, str]]:
    return [{"title": title, "uri": figure_to_data_uri(figure), "caption": caption} for title, figure in figures]


def _world_plots(analysis: WorldAnalysis | None, draw: FiguresFunction | None, steps_by_run: Mapping[str, pd.DataFrame],
                 world_kwargs: Mapping[str, Any], where: str, notes: list[str]) -> tuple[list[dict[str, str]], list[dict]]:
    """The world's figures and tables for these runs, then the parse-failure plot; a broken
    plot or table becomes a note, never a lost report."""
    figures: list[tuple[str, Figure]] = []
    tables: list[dict[str, Any]] = []
    if analysis is not None and draw is not None:
        try:
            figures.extend(draw(steps_by_run, world_kwargs))
        except Exception as error:  # a broken plot must not cost the rest of the report
            notes.append(f"{where}: plots failed ({type(error).__name__}: {error})")
            figures.append(("World plots", note_figure("World plots", f"{type(error).__name__}: {error}")))
        if analysis.tables is not None:
            try:
                tables = analysis.tables(steps_by_run, world_kwargs)
            except Exception as error:  # a broken table must not cost the rest of the report
                notes.append(f"{where}: tables failed ({type(error).__name__}: {error})")
    figures.append(("Parse failures and fallbacks", plot_decision_failures(steps_by_run)))
    return _encoded(figures), tables


def _fallbacks_by_generation(runs: Sequence[RunRecords]) -> dict[str, tuple[int, int]]:
    """Generation (as text) -> (decisions, fallbacks) summed over the runs' step records."""
    totals: dict[str, list[int]] = {}
    for run in runs:
        if run.steps.empty or "generation" not in run.steps:
            continue
        for generation, row in decisions_by_generation(run.steps).iterrows():
            total = totals.setdefault(str(generation), [0, 0])
            total[0] += int(row["decisions"])
            total[1] += int(row["fallbacks"])
    return {generation: (decided, fell_back) for generation, (decided, fell_back) in totals.items()}


def _cell_value(stats: Sequence[float]) -> dict[str, Any]:
    mean, low, high = mean_interval(stats)
    return {"n": int(np.isfinite(np.asarray(stats, dtype=float)).sum()) if len(stats) else 0,
            "mean": mean, "low": low, "high": high}


def _world_section(world: str, runs: Sequence[RunRecords], labels: Sequence[str], cells: Sequence[GridCell],
                   notes: list[str]) -> dict[str, Any]:
    """One world's section. ``runs``/``labels`` are all runs of the report; ``cells`` index them."""
    analysis = WORLD_ANALYSES.get(world)
    if analysis is None:
        notes.append(f"{world or 'unknown world'}: no world-specific analysis registered; generic sections only")
    indices = [index for cell in cells for index in cell.members]
    grid = len(cells) > 1
    cell_of = {index: cell for cell in cells for index in cell.members}
    run_metrics = {index: _run_metrics(runs[index], labels[index], analysis, notes) for index in indices}
    if analysis is not None and analysis.omitted_metrics is not None and indices:
        omitted = analysis.omitted_metrics({labels[i]: runs[i].steps for i in indices}, _world_kwargs(runs[indices[0]]))
        run_metrics = {i: {k: v for k, v in metrics.items() if k not in omitted} for i, metrics in run_metrics.items()}
    outcomes = {index: _outcome(runs[index], analysis, labels[index], notes) for index in indices}

    scalar_names = [
        name for name in dict.fromkeys(
            name for metrics in run_metrics.values() for name, value in metrics.items() if _is_scalar(value))
        if name not in _COUNT_KEYS
    ]
    has_counts = any(key in metrics for metrics in run_metrics.values() for key in _COUNT_KEYS)
    headline = []
    for index in indices:
        metrics = run_metrics[index]
        reasons = metrics.get(_NAN_REASONS) if isinstance(metrics.get(_NAN_REASONS), Mapping) else {}
        headline.append({
            "label": labels[index], "cell": cell_of[index].label, "seed": runs[index].seed, "outcome": outcomes[index],
            "valid_decisions": metrics.get("valid_decisions"), "fallbacks": metrics.get("fallbacks"),
            "values": [{"value": metrics.get(name), "reason": reasons.get(name)} for name in scalar_names],
        })
    spread = []
    if len(indices) > 1 and not grid:
        for name in scalar_names:
            values = np.array([run_metrics[i][name] for i in indices if _is_number(run_metrics[i].get(name))], dtype=float)
            if values.size:
                spread.append({
                    "name": name, "runs": int(values.size), "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if values.size > 1 else None,
                    "min": float(values.min()), "max": float(values.max()),
                })

    # by-generation tables: a column per run, or per grid cell (the mean over its seeds)
    columns = [cell.label for cell in cells] if grid else [labels[i] for i in indices]
    by_generation = []
    table_names = list(dict.fromkeys(
        name for metrics in run_metrics.values() for name, value in metrics.items()
        if name.endswith(_BY_GENERATION) and isinstance(value, Mapping)
    ))
    failures = _fallbacks_by_generation([runs[i] for i in indices]) if table_names else {}
    for name in table_names:
        tables = {i: {str(g): v for g, v in (run_metrics[i].get(name) or {}).items()} for i in indices}
        generations = sorted({g for table in tables.values() for g in table}, key=_generation_sort_key)
        rows = []
        for generation in generations:
            if grid:
                values = [mean_interval([tables[i].get(generation) for i in cell.members
                                         if _is_number(tables[i].get(generation))])[0] for cell in cells]
            else:
                values = [tables[i].get(generation) for i in indices]
            numbers = [value for value in values if _is_number(value)]
            mean = float(np.mean(numbers)) if len(indices) > 1 and not grid and numbers else None
            decided, fell_back = failures.get(generation, (None, None))
            rows.append({"generation": generation, "values": values, "mean": mean, "decisions": decided,
                         "fallbacks": fell_back})
        short = name[: -len(_BY_GENERATION)]
        by_generation.append({
            "name": short, "rows": rows,
            "description": analysis.descriptions.get(short, "") if analysis else "",
        })

    steps_of = {i: runs[i].steps for i in indices}
    figures: list[dict[str, str]] = []
    tables: list[dict[str, Any]] = []
    cell_parts = []
    if not grid:
        figures, tables = _world_plots(analysis, analysis.figures if analysis else None,
                                       {labels[i]: steps_of[i] for i in indices},
                                       _world_kwargs(runs[indices[0]]) if indices else {}, world, notes)
    else:
        for series in analysis.time_series if analysis else ():
            try:
                by_cell = {cell.label: [series.values(steps_of[i]) for i in cell.members if not steps_of[i].empty]
                           for cell in cells}
                figures.extend(_encoded([(series.title, plot_cell_bands(by_cell, title=series.title, xlabel=series.xlabel,
                                                                           ylabel=series.ylabel, bounds=series.bounds))], BAND_CAPTION))
            except Exception as error:  # a broken plot must not cost the rest of the report
                notes.append(f"{world}: {series.title} by cell failed ({type(error).__name__}: {error})")
        for number, cell in enumerate(cells, start=1):
            seeds = [runs[i].seed for i in cell.members]
            unique = None not in seeds and len(set(seeds)) == len(seeds)
            steps_by_run = {(f"seed {runs[i].seed}" if unique else labels[i]): steps_of[i] for i in cell.members}
            draw = (analysis.cell_figures or analysis.figures) if analysis else None
            cell_figures, cell_tables = _world_plots(analysis, draw, steps_by_run, _world_kwargs(runs[cell.members[0]]),
                                                     f"{world}, cell {cell.label}", notes)
            cell_parts.append({"id": f"cell-{number}", "label": cell.label, "runs": len(cell.members),
                               "figures": cell_figures, "tables": cell_tables})

    return {
        "world": world or "unknown world",
        "runs": len(indices),
        "known": analysis is not None,
        "grid": grid,
        "scalar_names": scalar_names,
        "has_counts": has_counts,
        "has_outcome": any(outcome is not None for outcome in outcomes.values()),
        "descriptions": dict(analysis.descriptions) if analysis else {},
        "headline": headline,
        "spread": spread,
        "by_generation": by_generation,
        "columns": columns,
        "figures": figures,
        "tables": tables,
        "cells": cell_parts,
        "comparison": _cell_comparison(runs, cells, run_metrics, scalar_names, analysis) if grid else None,
    }


def _cell_comparison(runs: Sequence[RunRecords], cells: Sequence[GridCell], run_metrics: Mapping[int, Mapping[str, Any]],
                     scalar_names: Sequence[str], analysis: WorldAnalysis | None) -> dict[str, Any]:
    """The grid's opening table: a row per cell with its values, seeds, decision counts and
    each headline metric's mean and 95% t-interval over the cell's seeds."""
    names = list(analysis.cell_metrics) if analysis and analysis.cell_metrics else list(scalar_names)
    names = [name for name in names if any(_is_number(metrics.get(name)) for metrics in run_metrics.values())]
    keys = list(dict.fromkeys(key for cell in cells for key in cell.values))
    rows = []
    for number, cell in enumerate(cells, start=1):
        members = [run_metrics[i] for i in cell.members]

        def total(key: str) -> int | None:
            counts = [metrics.get(key) for metrics in members if _is_number(metrics.get(key))]
            return int(sum(counts)) if counts else None

        rows.append({
            "id": f"cell-{number}", "label": cell.label, "values": [cell.values.get(key, "–") for key in keys],
            "runs": len(cell.members), "seeds": [runs[i].seed for i in cell.members if runs[i].seed is not None],
            "valid_decisions": total("valid_decisions"), "fallbacks": total("fallbacks"),
            "stats": [_cell_value([m.get(name) if _is_number(m.get(name)) else math.nan for m in members]) for name in names],
        })
    return {"keys": keys, "names": names, "rows": rows}


# --- where the numbers came from ------------------------------------------------------------------

def _provenance(run: RunRecords) -> Mapping[str, Any] | None:
    provenance = run.summary.get("provenance")
    return provenance if isinstance(provenance, Mapping) else None


def _agent_groups(run: RunRecords) -> list[dict[str, Any]]:
    """The run's agent groups as summary.json's provenance names them; for older runs, what the
    config says (kind, backend, decision as configured; the model unknown)."""
    provenance = _provenance(run)
    if provenance is not None and isinstance(provenance.get("agents"), list):
        return [dict(agent) for agent in provenance["agents"] if isinstance(agent, Mapping)]
    agents = run.config.get("agents")
    groups = agents if isinstance(agents, list) else [agents] if isinstance(agents, Mapping) else []
    return [{"label": group.get("label") or group.get("strategy"), "kind": group.get("kind"), "backend": group.get("backend"),
             "decision": group.get("decision"), "model": None, "revision": None, "weights_sha256": None, "recorded": False}
            for group in groups if isinstance(group, Mapping)]


def _model_text(agent: Mapping[str, Any]) -> str:
    if agent.get("kind") not in ("llm", "synthesized"):
        return "–"
    model = agent.get("model")
    if not model:
        return "not recorded" if agent.get("recorded") is False else "unknown"
    return str(model)


def _version_text(provenance: Mapping[str, Any]) -> str:
    commit = provenance.get("git_commit")
    text = f"dilemmazoo {provenance.get('dilemmazoo_version') or '?'}"
    if commit:
        text += f" at commit {str(commit)[:12]}"
        if provenance.get("git_dirty"):
            text += " with uncommitted changes"
    return text


def _header(runs: Sequence[RunRecords], worlds: Sequence[tuple[str, list[GridCell]]]) -> dict[str, Any]:
    """The opening lines: agent groups (model, backend, decision mode), decision counts, warnings."""
    groups: dict[tuple, dict[str, Any]] = {}
    models_of_run = []
    for run in runs:
        models = set()
        for agent in _agent_groups(run):
            revision = agent.get("revision") or (f"weights sha256 {agent['weights_sha256'][:12]}…"
                                                 if agent.get("weights_sha256") else None)
            key = (str(agent.get("label") or "–"), str(agent.get("kind") or "–"), _model_text(agent), revision,
                   str(agent.get("backend") or "–"), str(agent.get("decision") or "–"), agent.get("isolation"))
            groups.setdefault(key, {"label": key[0], "kind": key[1], "model": key[2], "revision": revision,
                                    "backend": key[4], "decision": key[5], "isolation": key[6], "runs": 0})["runs"] += 1
            if agent.get("kind") in ("llm", "synthesized"):
                models.add(_model_text(agent) + (f" ({revision})" if revision else ""))
        models_of_run.append(frozenset(models))

    totals = Counter()
    for run in runs:
        counts = run.summary.get("counts") if isinstance(run.summary.get("counts"), Mapping) else {}
        stats = decision_stats(run.steps) if not all(key in counts for key in ("decisions", "fallbacks", "parse_failures")) else {}
        for key in ("decisions", "fallbacks", "parse_failures"):
            value = counts.get(key, stats.get(key, 0))
            totals[key] += int(value) if _is_number(value) else 0
        totals["strategy_failures"] += int(counts.get("strategy_failures") or 0)

    warnings = []
    provenances = [_provenance(run) for run in runs]
    versions = Counter(_version_text(p) for p in provenances if p is not None)
    if len(versions) > 1:
        warnings.append("These runs come from different code versions: "
                        + "; ".join(f"{text} ({count} run{'s' if count != 1 else ''})" for text, count in versions.items())
                        + ". Differences between them may come from the code, not from the experiment.")
    missing = sum(p is None for p in provenances)
    if missing and missing < len(runs):
        warnings.append(f"{missing} of {len(runs)} runs record no provenance (written before dilemmazoo recorded it); "
                        "their code version and model are unknown.")
    dirty = sum(bool(p and p.get("git_dirty")) for p in provenances)
    if dirty:
        warnings.append(f"{dirty} run{'s' if dirty != 1 else ''} ran from a working tree with uncommitted changes.")
    model_sets = Counter(models for models in models_of_run if models)
    if len(model_sets) > 1:
        swept = all(len({models_of_run[i] for i in cell.members}) == 1 for _, cells in worlds for cell in cells) and any(
            len(cells) > 1 for _, cells in worlds)
        warnings.append("These runs use different models: "
                        + "; ".join(f"{', '.join(sorted(models))} ({count} run{'s' if count != 1 else ''})"
                                    for models, count in model_sets.items())
                        + (" (they differ between grid cells only)." if swept else "."))
    weak = sum(any(agent.get("isolation") == "process" for agent in _agent_groups(run)) for run in runs)
    if weak:
        warnings.append(f"{weak} run{'s' if weak != 1 else ''} ran model-written code with isolation: process (a plain "
                        "process with limits, no operating-system namespaces), as their configs asked.")
    decisions = totals["decisions"]
    return {
        "agents": list(groups.values()),
        "decisions": decisions,
        "fallbacks": totals["fallbacks"],
        "fallback_rate": totals["fallbacks"] / decisions if decisions else None,
        "parse_failures": totals["parse_failures"],
        "strategy_failures": totals["strategy_failures"],
        "versions": list(versions),
        "provenance_missing": missing == len(runs),
        "warnings": warnings,
    }


# --- strategies, synthesis, the page ----------------------------------------------------------------

def _has_population_dynamics(run: RunRecords) -> bool:
    population = run.config.get("population") if isinstance(run.config, Mapping) else None
    return isinstance(population, Mapping) and bool(population.get("dynamics"))


def _strategies(run: RunRecords) -> dict[str, Any] | None:
    """The final generation's members. ``survived`` reads "carried over" / "replaced" where a
    selection step followed the generation, and is left out otherwise (no population dynamics,
    or the run ended with this generation)."""
    population = run.population
    if population.empty or "generation" not in population:
        return None
    last = int(population["generation"].max())
    members = population[population["generation"] == last]
    if "score" in members:
        members = members.sort_values("score", ascending=False, kind="stable")
    selected = (_has_population_dynamics(run) and "survived" in members
                and bool(members["survived"].fillna(False).astype(bool).any()))
    rows = []
    for row in members.to_dict("records"):
        rows.append({
            "name": row.get("name"), "score": row.get("score"), "parents": row.get("parents"), "strategy": row.get("strategy"),
            "survived": ("carried over" if row.get("survived") else "replaced") if selected else None,
        })
    note = None
    if not _has_population_dynamics(run):
        note = "No population dynamics: the same members play every generation, nobody is selected."
    elif not selected:
        note = "The run ended with this generation, so no selection followed it."
    return {"generation": last, "members": rows, "selected": selected, "note": note}


_SYNTHESIS_COLUMNS = ("iteration", "feedback", "valid", "isolation", "code_lines", "mean_reward", "efficiency", "equality",
                      "sustainability", "peace", "fallbacks", "fallback_rate", "failure_kinds", "fallback_reasons")
_FEEDBACK_COMPARED = ("mean_reward", "efficiency", "equality", "sustainability", "peace", "fallback_rate")


def _synthesis_section(runs: Sequence[RunRecords], labels: Sequence[str], notes: list[str]) -> dict[str, Any] | None:
    """Metrics per iteration, sparse vs dense, and code diffs of the policy-synthesis runs (or ``None``)."""
    tables: dict[str, pd.DataFrame] = {}
    diffs = []
    for run, label in zip(runs, labels):
        if not is_synthesis_population(run.population):
            continue
        try:
            tables[label] = synthesis_iterations(run.steps, run.population)
        except (KeyError, ValueError) as error:
            notes.append(f"{label}: synthesis metrics not computed ({type(error).__name__}: {error})")
            continue
        diffs.append({"label": label, "diffs": code_diffs(run.population)})
    if not tables:
        return None
    combined = pd.concat([table.assign(run=label) for label, table in tables.items()], ignore_index=True)
    tables_out = [
        {"label": label, "rows": [[row[column] for column in _SYNTHESIS_COLUMNS] for row in table.to_dict("records")]}
        for label, table in tables.items()
    ]
    comparison = None
    if {"sparse", "dense"} <= set(combined["feedback"]):
        means = combined.groupby(["feedback", "iteration"], sort=True)[list(_FEEDBACK_COMPARED)].mean().reset_index()
        counts = combined.groupby(["feedback", "iteration"], sort=True)["run"].nunique().to_numpy()
        comparison = {
            "names": list(_FEEDBACK_COMPARED),
            "rows": [{"feedback": row["feedback"], "iteration": int(row["iteration"]), "runs": int(count),
                      "values": [row[name] for name in _FEEDBACK_COMPARED]}
                     for row, count in zip(means.to_dict("records"), counts)],
        }
    figure = None
    try:
        figure = figure_to_data_uri(synthesis_figure(combined))
    except Exception as error:  # a broken plot must not cost the rest of the report
        notes.append(f"synthesis plot failed ({type(error).__name__}: {error})")
    return {
        "columns": list(_SYNTHESIS_COLUMNS),
        "descriptions": dict(SYNTHESIS_METRICS),
        "tables": tables_out,
        "comparison": comparison,
        "figure": figure,
        "diffs": diffs,
    }


def _table_dict(title: str, frame: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as the template's table: title, columns, rows of plain values."""
    def plain(value: Any) -> Any:
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        return value.item() if isinstance(value, np.generic) else value

    rows = [[plain(value) for value in row] for row in frame.itertuples(index=False)]
    return {"title": title, "note": "", "columns": [str(c) for c in frame.columns], "rows": rows}


def _study_sections(runs: Sequence[RunRecords], labels: Sequence[str], notes: list[str]) -> list[dict[str, Any]]:
    """One section per study run (:mod:`.studies`): its explanation, tables and figures; a broken
    table or plot becomes a note, never a lost report."""
    sections = []
    for run, label in zip(runs, labels):
        if not run.study_name:
            continue
        analysis = STUDY_ANALYSES.get(run.study_name)
        where = f"{label}: study {run.study_name}"
        if analysis is None:
            notes.append(f"{where}: no report section for this study")
            continue
        if run.study.empty:
            notes.append(f"{where}: study.parquet is missing or empty")
            continue
        section: dict[str, Any] = {"label": label, "title": analysis.title, "explanation": analysis.explanation,
                                   "tables": [], "figures": []}
        try:
            section["tables"] = [_table_dict(title, frame) for title, frame in analysis.tables(run.study)]
        except Exception as error:  # a broken table must not cost the rest of the report
            notes.append(f"{where}: tables failed ({type(error).__name__}: {error})")
        try:
            section["figures"] = _encoded(analysis.figures(run.study))
        except Exception as error:  # a broken plot must not cost the rest of the report
            notes.append(f"{where}: plots failed ({type(error).__name__}: {error})")
        sections.append(section)
    return sections


def _add_published_numbers(sections: list[dict[str, Any]], runs: Sequence[RunRecords], notes: list[str]) -> None:
    """Put a paper's published numbers beside the runs' figures, first among the tables of the matching
    world's section, for runs of a preset that has them (:mod:`.published`)."""
    from .published import published_tables

    try:
        found = published_tables(runs)
    except Exception as error:  # a broken data file must not cost the rest of the report
        notes.append(f"published numbers failed ({type(error).__name__}: {error})")
        return
    for section in sections:
        for title, note, frame in reversed(found.get(section["world"], [])):
            section["tables"].insert(0, {**_table_dict(title, frame), "note": note})


def _mechanism_sections(runs: Sequence[RunRecords], notes: list[str]) -> list[dict[str, Any]]:
    """Tournament runs' section (:func:`.mechanisms.tournament_sections`: the six-mechanism table
    beside CoopEval's, per-type RD and DR, RD paths), in the study sections' form."""
    from .mechanisms import tournament_sections

    try:
        found = tournament_sections(runs)
    except Exception as error:  # a broken section must not cost the rest of the report
        notes.append(f"mechanism tournament section failed ({type(error).__name__}: {error})")
        return []
    return [{**section, "tables": [{**_table_dict(title, frame), "note": note} for title, note, frame in section["tables"]],
             "figures": _encoded(section["figures"])} for section in found]


def _context(root: Path, runs: Sequence[RunRecords]) -> dict[str, Any]:
    runs, worlds = _group_by_world_and_cell(runs)
    labels = _labels(runs, worlds)
    experiments = list(dict.fromkeys(str(run.summary.get("experiment") or run.path.parent.name) for run in runs))
    if len(runs) == 1:
        title = f"{experiments[0]} — run {runs[0].run_id}"
    else:
        title = f"{', '.join(experiments)} — {len(runs)} runs"
    notes: list[str] = []

    cell_label = {index: cell.label for _, cells in worlds for cell in cells if len(cells) > 1 for index in cell.members}
    key_values = _key_config_values(runs)
    run_rows = [
        {
            "label": label,
            "run_id": run.run_id,
            "world": run.world or "–",
            "cell": cell_label.get(index),
            "seed": run.seed,
            "status": run.summary.get("status", "–"),
            "episodes": run.summary.get("episodes"),
            "generations": run.summary.get("generations"),
            "wall_time_s": run.summary.get("wall_time_s"),
            "config": key_values[index],
        }
        for index, (run, label) in enumerate(zip(runs, labels))
    ]
    # a study run has no episodes: it is shown in its study's section, not its world's
    sections = [_world_section(world, runs, labels, cells, notes) for world, cells in worlds
                if not all(runs[i].study_name for cell in cells for i in cell.members)]
    _add_published_numbers(sections, runs, notes)
    studies = _mechanism_sections(runs, notes) + _study_sections(runs, labels, notes)

    decisions = [{"label": label, **decision_stats(run.steps)} for run, label in zip(runs, labels)]
    llm_calls = [{"label": label, **llm_call_stats(run.llm_calls)} for run, label in zip(runs, labels)]
    llm_total = llm_call_stats(pd.concat([run.llm_calls for run in runs], ignore_index=True)) if len(runs) > 1 else None
    # calls, cache hits, tokens and cost per backend spec over all runs (:mod:`.costs`)
    llm_backends = costs_by(label_calls([(label, run.llm_calls, run.steps, _agent_groups(run))
                                         for run, label in zip(runs, labels)]), ["backend"]).to_dict("records")

    strategies = []
    for run, label in zip(runs, labels):
        found = _strategies(run)
        if found is None:
            notes.append(f"{label}: no population records, so no strategy texts")
        else:
            strategies.append({"label": label, **found})

    synthesis = _synthesis_section(runs, labels, notes)

    configs = [
        {"label": label, "yaml": yaml.safe_dump(run.config, sort_keys=False, allow_unicode=True) if run.config else "(no config.yaml)"}
        for run, label in zip(runs, labels)
    ]
    return {
        "title": title,
        "source": str(root),
        "header": _header(runs, worlds),
        "grid": any(section["grid"] for section in sections),
        "runs": run_rows,
        "sections": sections,
        "decisions": decisions,
        "llm_calls": llm_calls,
        "llm_total": llm_total,
        "llm_backends": llm_backends,
        "strategies": strategies,
        "synthesis": synthesis,
        "studies": studies,
        "configs": configs,
        "notes": notes,
    }


def write_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Write one self-contained HTML report for the run(s) under ``path``; return its path.

    ``path`` is a run directory or an experiment directory holding many, or a training run folder
    (then :func:`dilemmazoo.analysis.training.write_training_report` writes it). ``out`` is the
    HTML file to write (an existing directory gets ``report.html`` inside); by default
    ``<path>/report.html``. The file is written to a temporary name and renamed.
    """
    root = Path(path)
    run_dirs = find_runs(root)
    if not run_dirs:
        if is_training_run(root):
            return write_training_report(root, out)
        raise FileNotFoundError(f"no run directories (holding summary.json) and no training run under {str(root)!r}")
    runs = [load_run(run_dir) for run_dir in run_dirs]
    html = render_template(TEMPLATE, _context(root, runs))
    target = Path(out) if out is not None else root / REPORT_FILE
    if target.is_dir():
        target = target / REPORT_FILE
    return write_html(target, html)
