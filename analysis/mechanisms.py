"""A mechanism tournament's records -> seat scores, metagame, replicator dynamics, deviation ratings.

CoopEval (Tewolde, Zhang, Guzman Piedrahita, Conitzer, Jin, arXiv 2604.15267, ICML 2026) plays K
agent *types* against each other in every ordered seat profile of an N-seat game, under one
cooperation mechanism, and evaluates the types with a metagame, replicator dynamics (RD) and
deviation ratings (DR). The runner's ``tournament`` config plays that schedule
(:mod:`dilemmazoo.experiments.runner`); this module reads its records. The formulas are
:mod:`.evolution`'s; here is what a run's records mean.

Records in
----------
A tournament run's ``steps`` (one row per seat and step): ``episode`` (one seat profile), ``agent``
(the seat), ``policy`` (the seat's type label), ``reward`` (a play step's payoff, contract transfers
included; a mechanism's phase steps pay 0) and, under a mechanism, ``mechanism_round`` (the round
of a repeated or re-matched play, from 1). The run's config (``config.yaml`` as a mapping) says the
types (``agents`` labels, in type-index order), the mechanism and its parameters, the world and
``tournament.focal``.

Scores (CoopEval ``ranking_evaluations/payoffs_base.py``, ``reputation_payoffs.py``)
---------------------------------------------------------------------------------------
- A seat's payoff in a round is the sum of its rewards in that round.
- Its score in an episode: repetition and reputation weight rounds ``t = 0 .. T-1`` with
  :func:`.evolution.discount_weights` ``(T, discount)`` (fixed horizon: ``(1-d) d^t``, the last
  round the tail ``d^(T-1)``), ``discount`` from the mechanism's kwargs (0.8 when not given, the
  mechanisms' default); with ``horizon: random`` the number of rounds was drawn and every played
  round weighs the same (the mean). Every other mechanism plays one round: the score is the sum.
- "Mean": a type's mean score over all its seat observations (every seat it held in every
  episode). With every profile played equally often this is its fitness in the uniform population.

Metagame, RD, DR (:mod:`.evolution`)
-------------------------------------
The per-seat scores of each episode form one observation (its profile = the type index of each
seat) of :func:`.evolution.metagame_tensor`; :func:`.evolution.replicator_dynamics` runs from the
uniform population (1000 steps, eta 0.1, CoopEval's ``default_evaluation.yaml``); "Fitness after
RD" is the final population's fitness of each type; :func:`.evolution.deviation_ratings` and
:func:`.evolution.rating_ranks` rate and rank the types. Reputation has no metagame (the whole
population plays one world and the co-players vary every round): only the mean per type, as in
CoopEval.

Headline numbers and normalisation
----------------------------------
The headline averages the *focal* types (``tournament.focal``; default every type; CoopEval
averages its LLM types): the Mean is their uniform mean; the Fitness is their fitness at the end
of RD weighted by their final shares. Normalised cooperation is ``(x - NE) / (coop - NE)``
(CoopEval ``visualization/analysis_utils.py``, NormalizeScore) with the game's points:
:data:`dilemmazoo.envs.repeated_game.COOPEVAL_REFERENCE` for the two-seat games and
:func:`dilemmazoo.envs.public_goods.reference_payoffs` for the public goods game. The six-mechanism
table averages each mechanism's normalised numbers over the games (with the standard error across
games) and shows the raw Mean per game, beside CoopEval's headline table
(``analysis/published/coopeval.yaml``).

Functions: :func:`seat_scores`, :func:`metagame_observations`, :func:`tournament_result`,
:func:`tournament_metrics` (the run's ``summary.json`` numbers), :func:`mechanism_table`,
:func:`published_mechanism_table`, :func:`plot_replicator_path`, :func:`tournament_sections` (the
report's section).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dilemmazoo.envs import world_id
from dilemmazoo.envs.public_goods import reference_payoffs
from dilemmazoo.envs.repeated_game import COOPEVAL_REFERENCE

from .evolution import deviation_ratings, discount_weights, metagame_tensor, rating_ranks, replicator_dynamics

__all__ = [
    "GAME_NAMES",
    "MECHANISM_IDS",
    "MECHANISM_TITLES",
    "TournamentResult",
    "game_of",
    "is_tournament",
    "mechanism_of",
    "mechanism_table",
    "metagame_observations",
    "normalised",
    "plot_replicator_path",
    "published_mechanism_table",
    "seat_scores",
    "tournament_metrics",
    "tournament_result",
    "tournament_sections",
]

#: repeated-game ``game`` name -> the short name CoopEval's tables use
GAME_NAMES = {"coopeval_pd": "PD", "travellers_dilemma": "TD", "trust": "Trust", "coopeval_stag_hunt": "SH",
              "matching_pennies": "MP"}
#: the four games of CoopEval's aggregate, in its tables' order
AGGREGATE_GAMES = ("PD", "PG", "TD", "Trust")
#: mechanism ids (the grid labels of the coopeval presets), in CoopEval's table order
MECHANISM_IDS = ("none", "repetition", "reputation-", "reputation+", "mediation", "contracting")
MECHANISM_TITLES = {"none": "NoMechanism", "repetition": "Repetition", "reputation-": "Reputation- (1st order)",
                    "reputation+": "Reputation+ (order 3)", "mediation": "Mediation", "contracting": "Contracting"}
#: the mechanisms whose rounds are discounted, and their defaults (norms.repetition)
DISCOUNTED = ("repetition", "reputation")
DEFAULT_DISCOUNT = 0.8
#: CoopEval's RD settings (configs/evaluation/default_evaluation.yaml)
RD_STEPS, RD_ETA = 1000, 0.1
SCORE_COLUMNS = ["episode", "seat", "agent", "name", "type", "type_index", "score"]


# -- the run's config ---------------------------------------------------------------------------

def is_tournament(config: Mapping[str, Any]) -> bool:
    """Whether a run's config (``config.yaml`` as a mapping) is a tournament."""
    return bool(config.get("tournament"))


def _groups(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    agents = config.get("agents") or {}
    return list(agents) if isinstance(agents, list) else [agents]


def type_labels(config: Mapping[str, Any]) -> list[str]:
    """The tournament's type labels, in type-index order (the agent groups' labels)."""
    labels = [str(g.get("label") or "") for g in _groups(config)]
    if not all(labels):
        raise ValueError("config: every agent group of a tournament has a label (it names the type)")
    return labels


def focal_types(config: Mapping[str, Any]) -> list[str]:
    """The types the headline numbers average: ``tournament.focal``, else every type."""
    focal = list((config.get("tournament") or {}).get("focal") or [])
    return focal or type_labels(config)


def _mechanism(config: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    mechanism = config.get("mechanism")
    if not mechanism:
        return None, {}
    return str(mechanism.get("name")), dict(mechanism.get("kwargs") or {})


def mechanism_of(config: Mapping[str, Any]) -> str:
    """The mechanism's id in :data:`MECHANISM_IDS` (``reputation-`` is nesting 1, ``reputation+``
    nesting 3); another nesting or an unknown mechanism gives a descriptive id."""
    name, kwargs = _mechanism(config)
    if name is None:
        return "none"
    if name == "reputation":
        nesting = kwargs.get("nesting", 3)  # norms.repetition.Reputation's default
        return {1: "reputation-", 3: "reputation+"}.get(nesting, f"reputation (nesting {nesting})")
    return name


def game_of(config: Mapping[str, Any]) -> tuple[str, tuple[float, float] | None]:
    """``(short name, (NE payoff, cooperative payoff) or None)`` of the run's world: CoopEval's
    names (PD, PG, TD, Trust, SH, MP) and normalisation points; another world gives its name and
    ``None``."""
    world = config.get("world") or {}
    wid = world_id(str(world.get("id")))
    kwargs = dict(world.get("kwargs") or {})
    if wid == "dilemmazoo/repeated-game-v0":
        game = str(kwargs.get("game") or "prisoners_dilemma")
        if kwargs.get("payoffs") is not None:
            return "custom", None
        return GAME_NAMES.get(game, game), COOPEVAL_REFERENCE.get(game)
    if wid == "dilemmazoo/public-goods-v0":
        return "PG", reference_payoffs(float(kwargs.get("endowment", 1.0)), float(kwargs.get("multiplier", 1.5)))
    return wid.split("/")[-1], None


def normalised(value: float | None, reference: tuple[float, float] | None) -> float:
    """``(value - NE) / (coop - NE)``: 0 at the stage equilibrium, 1 when everyone cooperates;
    NaN without a value or reference points."""
    if value is None or reference is None or not math.isfinite(value):
        return math.nan
    equilibrium, cooperative = reference
    if cooperative == equilibrium:
        raise ValueError(f"reference: the cooperative payoff equals the equilibrium's ({equilibrium}); nothing to "
                         "normalise by")
    return (float(value) - equilibrium) / (cooperative - equilibrium)


# -- scores ---------------------------------------------------------------------------------------

def _seat_order(agents: Sequence[str]) -> list[str]:
    """Seats in seat order: by their trailing number (``player_10`` after ``player_9``) when every
    seat has one, else as they first appear."""
    unique = list(dict.fromkeys(agents))
    numbers = [re.search(r"(\d+)$", str(a)) for a in unique]
    if all(numbers):
        return [a for _, a in sorted(zip((int(n.group(1)) for n in numbers), unique))]
    return unique


def _weights(n_rounds: int, mechanism: str | None, kwargs: Mapping[str, Any]) -> np.ndarray:
    if mechanism in DISCOUNTED and n_rounds > 1:
        if kwargs.get("horizon", "fixed") == "random":
            return np.full(n_rounds, 1.0 / n_rounds)
        return discount_weights(n_rounds, float(kwargs.get("discount", DEFAULT_DISCOUNT)))
    return np.ones(n_rounds)


def seat_scores(steps: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (episode, seat) with columns :data:`SCORE_COLUMNS`: ``seat`` is the seat's index
    (0 .. N-1, or 0 .. K*N-1 under reputation), ``type`` its type label and ``type_index`` the
    label's position among the types, ``score`` its score (module docstring)."""
    if steps.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    missing = {"episode", "agent", "policy", "reward"} - set(steps.columns)
    if missing:
        raise ValueError(f"steps: missing column(s) {sorted(missing)}")
    types = type_labels(config)
    index_of = {label: i for i, label in enumerate(types)}
    unknown = sorted(set(steps["policy"]) - set(index_of))
    if unknown:
        raise ValueError(f"steps: policies {unknown} are not the config's types {types}")
    mechanism, kwargs = _mechanism(config)
    frame = steps[["episode", "agent", "policy", "reward"] + [c for c in ("name",) if c in steps.columns]].copy()
    if "mechanism_round" in steps.columns and steps["mechanism_round"].notna().any():
        frame["round"] = pd.to_numeric(steps["mechanism_round"]).fillna(1).astype(int)
    else:
        frame["round"] = 1
    rows = []
    for episode, play in frame.groupby("episode", sort=True):
        order = _seat_order(play["agent"].tolist())
        for seat, agent in enumerate(order):
            mine = play[play["agent"] == agent]
            by_round = mine.groupby("round", sort=True)["reward"].sum().to_numpy(dtype=float)
            score = float(_weights(len(by_round), mechanism, kwargs) @ by_round)
            label = str(mine["policy"].iloc[0])
            name = str(mine["name"].iloc[0]) if "name" in mine.columns else ""
            rows.append({"episode": int(episode), "seat": seat, "agent": agent, "name": name, "type": label,
                         "type_index": index_of[label], "score": score})
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def metagame_observations(scores: pd.DataFrame) -> pd.DataFrame:
    """The long observation frame :func:`.evolution.metagame_tensor` reads: one row per seat
    (``matchup`` = episode, ``seat``, ``type`` = type index, ``score``)."""
    return pd.DataFrame({"matchup": scores["episode"].to_numpy(), "seat": scores["seat"].to_numpy(),
                         "type": scores["type_index"].to_numpy(dtype=int), "score": scores["score"].to_numpy()})


# -- one run ----------------------------------------------------------------------------------------

@dataclass
class TournamentResult:
    """One tournament run's evaluation. ``means`` (raw Mean per type) always; ``tensor``,
    ``history`` (RD population path, ``(steps + 1, K)``), ``fitness`` (per type at the end of RD),
    ``ratings`` and ``ranks`` (DR) where there is a metagame (``None`` under reputation or for an
    incomplete tournament; ``note`` says why)."""

    game: str
    mechanism: str
    types: list[str]
    focal: list[str]
    means: pd.Series
    reference: tuple[float, float] | None = None
    tensor: np.ndarray | None = None
    history: np.ndarray | None = None
    fitness: np.ndarray | None = None
    ratings: np.ndarray | None = None
    ranks: np.ndarray | None = None
    note: str = ""
    cell: dict[str, Any] = field(default_factory=dict)

    @property
    def shares(self) -> np.ndarray | None:
        """The population at the end of RD."""
        return None if self.history is None else self.history[-1]

    @property
    def mean(self) -> float:
        """The focal types' uniform mean of their raw Means."""
        values = [float(self.means[t]) for t in self.focal if t in self.means.index and math.isfinite(self.means[t])]
        return float(np.mean(values)) if values else math.nan

    @property
    def focal_fitness(self) -> float:
        """The focal types' fitness at the end of RD, weighted by their final shares (their mean
        when all of them died out); NaN without a metagame."""
        if self.fitness is None:
            return math.nan
        index = [self.types.index(t) for t in self.focal]
        weights = self.history[-1][index]
        if weights.sum() > 0:
            return float(weights @ self.fitness[index] / weights.sum())
        return float(np.mean(self.fitness[index]))

    def table(self) -> pd.DataFrame:
        """Per type: raw and normalised Mean, final RD share and fitness, DR rating and rank."""
        frame = pd.DataFrame({"type": self.types, "mean": [float(self.means.get(t, math.nan)) for t in self.types]})
        frame["normalised mean"] = [normalised(v, self.reference) for v in frame["mean"]]
        if self.history is not None:
            frame["share after RD"] = self.history[-1]
            frame["fitness after RD"] = self.fitness
            frame["normalised fitness"] = [normalised(v, self.reference) for v in self.fitness]
            frame["DR rating"] = self.ratings
            frame["DR rank"] = self.ranks
        frame["focal"] = [t in self.focal for t in self.types]
        return frame


def tournament_result(steps: pd.DataFrame, config: Mapping[str, Any], *, rd_steps: int = RD_STEPS,
                      eta: float = RD_ETA) -> TournamentResult:
    """Evaluate one tournament run (module docstring): Means, and where there is a metagame, RD
    from the uniform population (``rd_steps``, ``eta``, constant schedule) and DR."""
    types = type_labels(config)
    scores = seat_scores(steps, config)
    means = scores.groupby("type")["score"].mean().reindex(types)
    game, reference = game_of(config)
    result = TournamentResult(game=game, mechanism=mechanism_of(config), types=types, focal=focal_types(config),
                              means=means, reference=reference)
    name, _ = _mechanism(config)
    if name == "reputation":
        result.note = "reputation: the population plays one world with varying co-players; no metagame (as CoopEval)"
        return result
    if scores.empty:
        result.note = "no episodes recorded"
        return result
    try:
        tensor = metagame_tensor(metagame_observations(scores), n_types=len(types))
    except ValueError as error:  # an interrupted tournament: some profile never played
        result.note = f"no metagame: {error}"
        return result
    result.tensor = tensor
    result.history, result.fitness = replicator_dynamics(tensor, steps=rd_steps, eta=eta)
    result.ratings = deviation_ratings(tensor)
    result.ranks = rating_ranks(result.ratings)
    return result


def tournament_metrics(steps: pd.DataFrame, config: Mapping[str, Any]) -> dict[str, float]:
    """A tournament run's headline numbers for ``summary.json``: ``tournament_mean`` (the focal
    types' Mean), ``tournament_fitness`` (their fitness after RD; not under reputation) and,
    where the game has reference points, both normalised (``tournament_normalised_*``)."""
    result = tournament_result(steps, config)
    out = {"tournament_mean": result.mean}
    if result.fitness is not None:
        out["tournament_fitness"] = result.focal_fitness
    if result.reference is not None:
        out["tournament_normalised_mean"] = normalised(result.mean, result.reference)
        if result.fitness is not None:
            out["tournament_normalised_fitness"] = normalised(result.focal_fitness, result.reference)
    return {key: value for key, value in out.items() if math.isfinite(value)}


# -- many runs: the six-mechanism table -------------------------------------------------------------

def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    numbers = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if numbers.size == 0:
        return math.nan, math.nan
    se = float(numbers.std(ddof=1) / math.sqrt(numbers.size)) if numbers.size > 1 else math.nan
    return float(numbers.mean()), se


def _mechanism_order(mechanism: str) -> tuple[int, str]:
    return (MECHANISM_IDS.index(mechanism) if mechanism in MECHANISM_IDS else len(MECHANISM_IDS), mechanism)


def mechanism_table(results: Sequence[TournamentResult]) -> pd.DataFrame:
    """One row per mechanism (CoopEval's order): the focal types' normalised Mean and Fitness
    after RD, each the mean over games with its standard error across games (seeds of a game
    averaged first), the number of games, and the raw Mean per game (``raw <game>`` columns;
    CoopEval's four games first)."""
    cells: dict[tuple[str, str], list[TournamentResult]] = {}
    for result in results:
        cells.setdefault((result.mechanism, result.game), []).append(result)
    games = sorted({game for _, game in cells}, key=lambda g: (AGGREGATE_GAMES.index(g) if g in AGGREGATE_GAMES
                                                              else len(AGGREGATE_GAMES), g))
    rows = []
    for mechanism in sorted({m for m, _ in cells}, key=_mechanism_order):
        mean_by_game, fitness_by_game, raw = {}, {}, {}
        for game in games:
            members = cells.get((mechanism, game))
            if not members:
                continue
            raw[game] = float(np.nanmean([r.mean for r in members]))
            mean_by_game[game] = float(np.nanmean([normalised(r.mean, r.reference) for r in members]))
            fitness = [normalised(r.focal_fitness, r.reference) for r in members if r.fitness is not None]
            if fitness:
                fitness_by_game[game] = float(np.nanmean(fitness))
        mean, mean_se = _mean_se(list(mean_by_game.values()))
        fit, fit_se = _mean_se(list(fitness_by_game.values()))
        row = {"mechanism": MECHANISM_TITLES.get(mechanism, mechanism), "id": mechanism,
               "mean (normalised)": mean, "mean s.e.": mean_se,
               "fitness after RD (normalised)": fit, "fitness s.e.": fit_se, "games": len(raw)}
        row.update({f"raw {game}": raw.get(game, math.nan) for game in games})
        rows.append(row)
    return pd.DataFrame(rows)


def published_mechanism_table(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """CoopEval's headline table (``analysis/published/coopeval.yaml``; spec section 4) with this
    run's numbers beside it: per mechanism, ``paper`` and ``run`` columns of the normalised Mean,
    the Fitness after RD and the raw Mean of PD, PG, TD and Trust. ``table`` is
    :func:`mechanism_table`'s (``None``: the paper's numbers only)."""
    from .published import load_published

    published = load_published("coopeval")
    paper: dict[tuple[str, str], Any] = {}
    for figure in published.figures:
        mechanism = str(figure.select.get("mechanism"))
        game = figure.select.get("world")
        column = {"tournament_normalised_mean": "mean (normalised)",
                  "tournament_normalised_fitness": "fitness after RD (normalised)"}.get(figure.metric or "")
        if figure.metric == "tournament_mean" and game:
            column = f"raw {game}"
        if column is None and figure.metric is None:  # reported without a number (n/a)
            column = "fitness after RD (normalised)"
        if column is not None:
            paper[mechanism, column] = figure.value if figure.value is not None else figure.reported
    ours = {} if table is None else {row["id"]: row for row in table.to_dict("records")}
    columns = ["mean (normalised)", "fitness after RD (normalised)", *(f"raw {g}" for g in AGGREGATE_GAMES)]
    rows = []
    for mechanism in [*MECHANISM_IDS, *sorted(set(ours) - set(MECHANISM_IDS))]:
        row: dict[str, Any] = {"mechanism": MECHANISM_TITLES.get(mechanism, mechanism)}
        for column in columns:
            row[f"{column}: paper"] = paper.get((mechanism, column))
            value = ours.get(mechanism, {}).get(column)
            row[f"{column}: run"] = None if value is None or (isinstance(value, float) and math.isnan(value)) else value
        rows.append(row)
    return pd.DataFrame(rows)


# -- plots and the report's section ----------------------------------------------------------------

def plot_replicator_path(history: np.ndarray, types: Sequence[str], title: str = "Replicator dynamics") -> Figure:
    """The RD population path: each type's share over the steps (step 0 is the uniform start)."""
    history = np.asarray(history, dtype=float)
    if history.ndim != 2 or history.shape[1] != len(types):
        raise ValueError(f"history must have shape (steps + 1, {len(types)}), got {history.shape}")
    figure = Figure(figsize=(6.0, 3.2))
    axes = figure.subplots()
    steps = np.arange(history.shape[0])
    for index, label in enumerate(types):
        axes.plot(steps, history[:, index], label=label, linewidth=1.6)
    axes.set_xlabel("RD step")
    axes.set_ylabel("population share")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title(title)
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    return figure


def _run_title(result: TournamentResult) -> str:
    return f"{result.game}, {MECHANISM_TITLES.get(result.mechanism, result.mechanism)}"


def tournament_sections(runs: Sequence[Any]) -> list[dict[str, Any]]:
    """The report's tournament section, one per experiment with tournament runs: ``title``,
    ``explanation``, ``tables`` as ``(title, note, frame)`` and ``figures`` as ``(title,
    Figure)``. ``runs`` are :class:`.metrics.RunRecords`; runs without a ``tournament`` are
    skipped."""
    by_experiment: dict[str, list[Any]] = {}
    for run in runs:
        if is_tournament(run.config or {}) and not run.steps.empty:
            name = str(run.summary.get("experiment") or run.config.get("name") or "")
            by_experiment.setdefault(name, []).append(run)
    sections = []
    for name, members in by_experiment.items():
        results = []
        for run in members:
            result = tournament_result(run.steps, run.config)
            result.cell = dict(run.summary.get("cell") or {})
            results.append((run, result))
        table = mechanism_table([r for _, r in results])
        focal = ", ".join(dict.fromkeys(t for _, r in results for t in r.focal))
        tables = [(
            "Mechanisms: this run beside CoopEval's headline table",
            "CoopEval (Tewolde et al. 2026, arXiv 2604.15267): LLM average over PD/PG/TD/Trust of 3-run means, "
            "normalised (0 = all defect, 1 = all cooperate), latex/table_aggregate.tex and table_all_games.tex, as "
            "recorded in specs/mechanisms.md section 4. This run: the focal types' (" + focal + ") numbers, "
            "normalised per game and averaged over the games run; raw Means per game. Empty: not run.",
            published_mechanism_table(table)),
            ("Mechanisms: this run (with standard errors across games)",
             "Mean: the focal types' mean discounted score; Fitness: their fitness after replicator dynamics, "
             "weighted by final shares; s.e. across games (NaN with one game).", table)]
        figures = []
        for run, result in sorted(results, key=lambda pair: (_mechanism_order(pair[1].mechanism), pair[1].game,
                                                            pair[0].seed or 0)):
            where = _run_title(result) + (f", seed {run.seed}" if run.seed is not None else "")
            note = result.note or ("DR: deviation ratings (Marris et al. 2025; 0 best, in payoff units), ranks "
                                   "1 = best, ties share the mean rank.")
            tables.append((f"Types: {where}", note, result.table()))
            if result.history is not None:
                figures.append((f"Replicator dynamics: {where}",
                                plot_replicator_path(result.history, result.types, f"RD path: {where}")))
        sections.append({
            "label": name, "title": f"Mechanism tournament: {name}",
            "explanation": ("Every ordered seat profile of the agent types was played under each mechanism "
                            "(CoopEval's tournament). Scores are discounted over a repeated or re-matched play's "
                            "rounds; the metagame averages seats; replicator dynamics start from the uniform "
                            "population (1000 steps, eta 0.1); reputation has no metagame, only Means."),
            "tables": tables, "figures": figures,
        })
    return sections
