"""Metrics of the LLM-Economist tax world (``dilemmazoo/tax-world-v0``).

Sources
-------
- Karten et al., "LLM Economist: Large Population Models and Mechanism Design in Multi-Agent
  Generative Simulacra" (arXiv 2507.15815): the planner's social welfare function
  ``SWF = sum_i u_i / max(z_i, 1)`` (inverse-income weights, unnormalised), tracked per step
  together with the best steps so far; labour hours and pre-tax incomes per worker.
- Zheng et al., "The AI Economist" (salesforce/ai-economist): the same inverse-income weights
  normalised to sum to 1 (a weighted mean of utilities), and equality x productivity
  (``coin_eq_times_productivity``: equality = 1 - Gini, ``get_gini``, times the mean pre-tax
  income; the world's ``productivity`` column is the sum).

Every SWF number carries its kind in its name (``swf_llm_economist``, ``swf_ai_economist``):
their scales differ by orders of magnitude and one must never be read as the other.

Input columns
-------------
``steps.parquet`` of a tax-world run: the standard step columns (episode, step, agent, decided,
fallback_used, ...) and the world's infos. The world has work steps (``phase == "work"``) and,
with a planner seat or in the democratic scenario, decision steps before each tax year (plan,
platform, vote) that carry no incomes and a welfare of 0.0: every time series and every number
below is over work steps only, numbered by ``round`` (the work step, from 1; a decision step
carries the round it precedes). Records without ``phase`` / ``round`` are read as all work
steps numbered by ``step``. Worker rows (``worker_0`` ...) carry ``hours``, ``income`` (pre-tax
z = l * skill), ``tax``, ``rebate``, ``utility_raw``, ``felt_utility``, ``bracket``, ``skill``,
``satisfied`` (1 yes, 0 no, -1 not asked). Every row (workers and the ``planner`` seat, when the
run has one) carries the world-level numbers of its step: ``tax_year`` (from 0), ``rate_0`` ..
``rate_{k-1}`` (percent; on a work step, the rates it was taxed at), ``swf_llm_economist``,
``swf_ai_economist``, ``gini_income``, ``productivity``, ``equality_x_productivity`` and
``planner_fallback`` (1 when the planner's answer this step was replaced by its fallback: the
rates then did not change).

Formulas (one episode; the run's number is the mean over its episodes)
---------------------------------------------------------------------
- ``final_swf_<kind>``: the SWF of the episode's last work step; ``best_swf_<kind>``: the
  highest SWF of any work step, ``best_swf_<kind>_round``: the first work step (round) that
  reached it (with several episodes, the mean of those rounds).
- ``mean_hours``: mean weekly labour hours over the workers' own choices (worker-steps whose
  hours came from a fallback are left out: a fallback is not a choice); ``mean_income``: mean
  pre-tax income z over every worker-step (an outcome, fallbacks included).
  ``final_mean_hours`` / ``final_mean_income``: the same over the last tax year.
- ``final_rate_j``: the marginal rate (percent) of bracket j the last work step was taxed at.
- ``gini_income``, ``productivity``, ``equality_x_productivity``: the world's values at the last
  work step (see :mod:`dilemmazoo.envs.tax` for the AI Economist's small-sample Gini scaling).
- ``satisfaction_rate`` (bounded-rational runs only, absent otherwise): share of the workers'
  own answers (fallbacks left out) that said YES to the tax policy.
- Decisions: ``valid_decisions`` and ``fallbacks`` over every seat and step (the report's
  columns); ``planner_decisions`` counts the planner seat's decisions, ``planner_fallbacks``
  the steps whose planner answer was a fallback (``planner_fallback`` or the planner row's
  ``fallback_used``, one count per step).

A number that is undefined for the run is NaN with its reason in ``nan_reasons``.

References drawn beside the run's rates
---------------------------------------
:func:`saez_reference` applies :func:`dilemmazoo.envs.tax.saez_rates` to the run's own incomes,
per tax year: by default each worker's mean pre-tax income over the tax year's work steps
(``incomes="observed"``); ``incomes="skill_x_100"`` feeds skill x 100 per worker instead, the
input of the paper-era planner. :func:`us_federal_reference` gives the US federal 2024 single
schedule's marginal rate at each bracket's evaluation point (the bracket midpoint; for an
open top bracket ``start + 0.1 * (1e7 - start)``, the point the Saez formula uses), which is
exactly the statutory rate per bracket when the run uses the ``us_federal`` brackets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dilemmazoo.envs import tax as tax_math
from dilemmazoo.envs.checks import check_choice

from .metrics import flag_column, require_columns, valid_decision_counts, with_nan_reasons

__all__ = [
    "DESCRIPTIONS",
    "PLANNER",
    "SWF_KINDS",
    "WORLD_ID",
    "bracket_table",
    "edges_for",
    "evaluation_points",
    "rate_columns",
    "saez_reference",
    "swf_by_round",
    "tax_episodes",
    "tax_metrics",
    "tax_outcome",
    "tax_year_table",
    "us_federal_reference",
    "work_rows",
    "worker_rows",
    "world_by_round",
]

WORLD_ID = "dilemmazoo/tax-world-v0"
PLANNER = "planner"
WORKER_PREFIX = "worker_"
#: SWF column -> the words a report or plot uses for it
SWF_KINDS: dict[str, str] = {
    "swf_llm_economist": "LLM Economist SWF: sum_i u_i / max(z_i, 1)",
    "swf_ai_economist": "AI Economist SWF: inverse-income weights normalised to 1",
}
#: world-level columns every row of a tax-world run carries
WORLD_COLUMNS = ("tax_year", "swf_llm_economist", "swf_ai_economist", "gini_income", "productivity",
                 "equality_x_productivity", "planner_fallback")
REQUIRED_COLUMNS = ("episode", "step", "agent", *WORLD_COLUMNS, "rate_0", "hours", "income")
SAEZ_INCOMES = ("observed", "skill_x_100")
WORK_PHASE = "work"
_RATE = re.compile(r"rate_(\d+)")
_NO_STEPS = "no steps recorded"
_NO_WORKERS = "no worker rows in the records"
_DESCRIBED_BRACKETS = 10  # final_rate_j described for j below this (the named bracket sets have at most 7)


# --- frames ------------------------------------------------------------------------------


def _require(steps: pd.DataFrame) -> None:
    require_columns(steps, REQUIRED_COLUMNS, WORLD_ID)


def _clock(steps: pd.DataFrame) -> str:
    """The column that numbers work steps: ``round`` when recorded, else the runner's ``step``."""
    return "round" if "round" in steps.columns else "step"


def rate_columns(steps: pd.DataFrame) -> list[str]:
    """The ``rate_j`` columns of the records, in bracket order (``rate_0``, ``rate_1``, ...)."""
    found = [(int(match.group(1)), column) for column in steps.columns if (match := _RATE.fullmatch(str(column)))]
    return [column for _, column in sorted(found)]


def work_rows(steps: pd.DataFrame) -> pd.DataFrame:
    """The rows of work steps (``phase == "work"``; every row when no phase is recorded). The
    decision steps (plan, platform, vote) carry no incomes and a welfare of 0.0."""
    return steps[steps["phase"] == WORK_PHASE] if "phase" in steps.columns else steps


def worker_rows(steps: pd.DataFrame, *, own_choices: bool = False) -> pd.DataFrame:
    """The workers' rows (agents ``worker_<i>``) of work steps; ``own_choices`` drops those
    whose hours came from the world's fallback."""
    rows = work_rows(steps)
    rows = rows[rows["agent"].astype(str).str.startswith(WORKER_PREFIX)]
    if own_choices:
        rows = rows[~flag_column(rows, "fallback_used")]
    return rows


def _planner_fallback_steps(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per (episode, step) whose planner answer was a fallback: the world's
    ``planner_fallback`` flag or the planner row's ``fallback_used`` (counted once), with the
    step's ``tax_year`` and work-step number (a plan step carries the round it precedes)."""
    clock = _clock(steps)
    flagged = steps["planner_fallback"].fillna(0).astype(float) > 0
    flagged |= (steps["agent"] == PLANNER) & flag_column(steps, "fallback_used")
    columns = list(dict.fromkeys(["episode", "step", "tax_year", clock]))
    return steps.loc[flagged, columns].drop_duplicates(["episode", "step"])


def world_by_round(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per (episode, work step): ``round`` (the work step, from 1; the runner's
    ``step`` where no round is recorded), ``step``, the world-level columns (``tax_year``, the
    ``rate_j`` taxed, both SWFs, ``gini_income``, ``productivity``,
    ``equality_x_productivity``), ``planner_fallback`` (planner fallbacks on the decision
    steps before this work step and on it), the workers' ``mean_hours`` (own choices) and
    ``mean_income``, ``workers``, and the best SWF of the episode so far for each kind
    (``best_swf_llm_economist`` ...)."""
    _require(steps)
    clock = _clock(steps)
    work = work_rows(steps).sort_values(["episode", "step"], kind="stable")
    keys = ["episode", clock]
    columns = [*(["step"] if clock != "step" else []), *WORLD_COLUMNS, *rate_columns(steps)]
    frame = work.groupby(keys, sort=True)[columns].first()
    fell_back = _planner_fallback_steps(steps).groupby(keys).size()
    frame["planner_fallback"] = fell_back.reindex(frame.index, fill_value=0).astype(int)
    workers = worker_rows(work)
    own = worker_rows(work, own_choices=True)
    frame["mean_hours"] = own.groupby(keys)["hours"].mean().astype(float).reindex(frame.index)
    frame["mean_income"] = workers.groupby(keys)["income"].mean().astype(float).reindex(frame.index)
    frame["workers"] = workers.groupby(keys)["agent"].nunique().reindex(frame.index, fill_value=0).astype(int)
    for kind in SWF_KINDS:
        values = frame[kind].astype(float)
        frame[kind] = values
        # best so far: NaN steps neither count nor reset it
        frame[f"best_{kind}"] = values.groupby(level="episode").transform(lambda s: s.cummax().ffill())
    frame = frame.reset_index()
    if clock != "round":
        frame["round"] = frame[clock]
    return frame


def swf_by_round(kind: str = "swf_llm_economist"):
    """``steps -> Series`` of one SWF kind by work step (mean over the run's episodes), for
    the report's grid-cell bands."""
    check_choice("kind", kind, tuple(SWF_KINDS))

    def series(steps: pd.DataFrame) -> pd.Series:
        return world_by_round(steps).groupby("round")[kind].mean().astype(float)

    return series


def _best(values: pd.Series, rounds: pd.Series) -> tuple[float, float]:
    """(highest value, first round reaching it); NaN, NaN when every value is NaN."""
    values = values.astype(float).to_numpy()
    if not np.isfinite(values).any():
        return math.nan, math.nan
    index = int(np.nanargmax(values))
    return float(values[index]), float(rounds.to_numpy()[index])


def _last_tax_year(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows in the last tax year (by step order)."""
    if rows.empty:
        return rows
    last = rows.sort_values("step", kind="stable")["tax_year"].iloc[-1]
    return rows[rows["tax_year"] == last]


def tax_episodes(steps: pd.DataFrame) -> pd.DataFrame:
    """Tax-world metrics per episode: one row per episode with columns episode, rounds (work
    steps), tax_years, workers, final and best SWF of both kinds (and the round of the best),
    mean_hours, mean_income, final_mean_hours, final_mean_income, final_rate_j, gini_income,
    productivity, equality_x_productivity, planner_fallbacks (see the module docstring).
    An episode without a work step is left out."""
    _require(steps)
    table = world_by_round(steps)
    rates = rate_columns(steps)
    fallbacks = _planner_fallback_steps(steps).groupby("episode").size()
    rows = []
    for episode, by_round in table.groupby("episode", sort=True):
        records = steps[steps["episode"] == episode]
        workers = worker_rows(records)
        own = worker_rows(records, own_choices=True)
        last = by_round.iloc[-1]
        row: dict[str, Any] = {
            "episode": int(episode),
            "rounds": len(by_round),
            "tax_years": int(by_round["tax_year"].nunique()),
            "workers": int(workers["agent"].nunique()),
        }
        for kind in SWF_KINDS:
            best, best_round = _best(by_round[kind], by_round["round"])
            row[f"final_{kind}"] = float(last[kind])
            row[f"best_{kind}"] = best
            row[f"best_{kind}_round"] = best_round
        final_year_own = _last_tax_year(own)
        final_year_workers = _last_tax_year(workers)
        row.update({
            "mean_hours": float(own["hours"].mean()) if len(own) else math.nan,
            "mean_income": float(workers["income"].mean()) if len(workers) else math.nan,
            "final_mean_hours": float(final_year_own["hours"].mean()) if len(final_year_own) else math.nan,
            "final_mean_income": float(final_year_workers["income"].mean()) if len(final_year_workers) else math.nan,
            **{f"final_{column}": float(last[column]) for column in rates},
            "gini_income": float(last["gini_income"]),
            "productivity": float(last["productivity"]),
            "equality_x_productivity": float(last["equality_x_productivity"]),
            "planner_fallbacks": int(fallbacks.get(episode, 0)),
        })
        rows.append(row)
    return pd.DataFrame(rows)


def _satisfaction(steps: pd.DataFrame) -> dict[str, float]:
    """``{"satisfaction_rate": share of YES}`` over the workers' own answers, ``{}`` when no
    worker was ever asked (``satisfied`` absent or -1 throughout)."""
    if "satisfied" not in steps:
        return {}
    workers = worker_rows(steps)
    asked = workers[workers["satisfied"].astype(float) >= 0]
    if asked.empty:
        return {}
    own = asked[~flag_column(asked, "fallback_used")]
    return {"satisfaction_rate": float((own["satisfied"].astype(float) == 1).mean()) if len(own) else math.nan}


def _planner_decisions(steps: pd.DataFrame) -> int:
    planner = steps[steps["agent"] == PLANNER]
    if planner.empty:
        return 0
    return int(flag_column(planner, "decided").sum()) if "decided" in planner else len(planner)


def _undefined_metrics(rates: Sequence[str]) -> dict[str, Any]:
    names = ["final_swf_llm_economist", "best_swf_llm_economist", "best_swf_llm_economist_round",
             "final_swf_ai_economist", "best_swf_ai_economist", "best_swf_ai_economist_round",
             "mean_hours", "mean_income", "final_mean_hours", "final_mean_income",
             *(f"final_{column}" for column in rates), "gini_income", "productivity", "equality_x_productivity"]
    return dict.fromkeys(names, math.nan)


def _no_valid_hours(steps: pd.DataFrame) -> str:
    workers = worker_rows(steps)
    if workers.empty:
        return _NO_WORKERS
    counts = valid_decision_counts(workers)
    return f"no valid hours decision ({counts['fallbacks']} fallbacks, {counts['valid_decisions']} valid decisions)"


def tax_metrics(steps: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers of a tax-world run (means over its episodes), JSON-safe.

    Keys: ``final_swf_llm_economist``, ``best_swf_llm_economist``,
    ``best_swf_llm_economist_round`` and the same three for ``swf_ai_economist``;
    ``mean_hours``, ``mean_income``, ``final_mean_hours``, ``final_mean_income``,
    ``final_rate_0`` .. ``final_rate_{k-1}`` (percent), ``gini_income``, ``productivity``,
    ``equality_x_productivity``, ``satisfaction_rate`` (bounded-rational runs only),
    ``rounds`` (work steps), ``tax_years``, ``workers``, ``episodes``, ``planner_decisions``,
    ``planner_fallbacks``, ``valid_decisions``, ``fallbacks``. Undefined numbers are NaN,
    explained in ``nan_reasons``. A frame without rows (or without a work step) gives NaN
    metrics with the reason; a frame lacking the world's columns raises ``ValueError`` naming
    them. Formulas: module docstring.
    """
    counts = {"planner_decisions": 0, "planner_fallbacks": 0, **valid_decision_counts(steps)}
    if steps.empty:
        metrics = {**_undefined_metrics(rate_columns(steps)), "rounds": 0, "tax_years": 0, "workers": 0,
                   "episodes": 0, **counts}
        return with_nan_reasons(metrics, dict.fromkeys(metrics, _NO_STEPS))
    _require(steps)
    rates = rate_columns(steps)
    episodes = tax_episodes(steps)
    if episodes.empty:
        metrics = {**_undefined_metrics(rates), "rounds": 0, "tax_years": 0, "workers": 0,
                   "episodes": int(steps["episode"].nunique()), **counts,
                   "planner_decisions": _planner_decisions(steps),
                   "planner_fallbacks": len(_planner_fallback_steps(steps))}
        return with_nan_reasons(metrics, dict.fromkeys(metrics, "no work step recorded"))
    metrics = {
        **{name: float(episodes[name].mean()) if episodes[name].notna().any() else math.nan
           for name in _undefined_metrics(rates)},
        **_satisfaction(steps),
        "rounds": int(episodes["rounds"].sum()),
        "tax_years": int(episodes["tax_years"].max()),
        "workers": int(episodes["workers"].max()),
        "episodes": len(episodes),
        **counts,
        "planner_decisions": _planner_decisions(steps),
        "planner_fallbacks": len(_planner_fallback_steps(steps)),
    }
    no_swf = "the world recorded no finite {} at any work step"
    reasons = {
        **{f"{prefix}{kind}{suffix}": no_swf.format(kind)
           for kind in SWF_KINDS for prefix, suffix in (("final_", ""), ("best_", ""), ("best_", "_round"))},
        "mean_hours": _no_valid_hours(steps),
        "final_mean_hours": (_no_valid_hours(steps) if worker_rows(steps, own_choices=True).empty
                             else "no valid hours decision in the last tax year"),
        "mean_income": _NO_WORKERS,
        "final_mean_income": _NO_WORKERS,
        **{f"final_{column}": f"no {column} recorded at the last work step" for column in rates},
        "gini_income": "the world recorded no income Gini at the last work step",
        "productivity": "the world recorded no productivity at the last work step",
        "equality_x_productivity": "the world recorded no equality x productivity at the last work step",
        "satisfaction_rate": "every answer to the satisfaction question was a fallback",
    }
    return with_nan_reasons(metrics, reasons)


def tax_outcome(steps: pd.DataFrame) -> str:
    """A run's outcome in words for the report: per episode the final LLM-Economist SWF, its
    best and the round of the best, and the final rates, e.g. ``"LLM Economist SWF 103.8 at the
    end, best 110.2 in round 31; final rates 50/60/70%"``."""
    episodes = tax_episodes(steps)
    rates = rate_columns(steps)
    texts = []
    for row in episodes.to_dict("records"):
        best = ("best undefined" if math.isnan(row["best_swf_llm_economist"])
                else f"best {row['best_swf_llm_economist']:.4g} in round {int(row['best_swf_llm_economist_round'])}")
        final_rates = "/".join(f"{row[f'final_{column}']:.3g}" for column in rates)
        texts.append(f"LLM Economist SWF {row['final_swf_llm_economist']:.4g} at the end, {best}; "
                     f"final rates {final_rates}%")
    if not texts:
        return "no work step"
    return texts[0] if len(texts) == 1 else "; ".join(f"episode {i}: {text}" for i, text in enumerate(texts))


#: metric name -> what the report says about it
DESCRIPTIONS: dict[str, str] = {
    "final_swf_llm_economist": "LLM Economist SWF sum_i u_i / max(z_i, 1) (unnormalised) at the last work step",
    "best_swf_llm_economist": "highest LLM Economist SWF of any work step",
    "best_swf_llm_economist_round": "first work step (round) that reached the best LLM Economist SWF",
    "final_swf_ai_economist": "AI Economist SWF (inverse-income weights normalised to 1) at the last work step",
    "best_swf_ai_economist": "highest AI Economist SWF of any work step",
    "best_swf_ai_economist_round": "first work step (round) that reached the best AI Economist SWF",
    "mean_hours": "mean weekly labour hours over the workers' own choices (fallbacks left out)",
    "mean_income": "mean pre-tax income z = hours x skill over every worker work step",
    "final_mean_hours": "mean hours (own choices) in the last tax year",
    "final_mean_income": "mean pre-tax income in the last tax year",
    **{f"final_rate_{j}": f"marginal rate (%) of bracket {j} the last work step was taxed at"
       for j in range(_DESCRIBED_BRACKETS)},
    "gini_income": "Gini of pre-tax incomes at the last work step (AI Economist get_gini)",
    "productivity": "the world's productivity (sum of pre-tax incomes) at the last work step",
    "equality_x_productivity": "(1 - Gini) x mean pre-tax income at the last work step (AI Economist "
                               "coin_eq_times_productivity)",
    "satisfaction_rate": "share of the workers' own answers that were YES to the tax policy (bounded rationality)",
    "rounds": "work steps played",
    "tax_years": "tax years with a work step",
    "workers": "workers in the run",
    "episodes": "episodes in the run",
    "planner_decisions": "decisions of the planner seat (0 with a fixed schedule)",
    "planner_fallbacks": "planner answers replaced by the fallback (rates unchanged)",
}


# --- tables --------------------------------------------------------------------------------


def tax_year_table(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per (episode, tax_year) with a work step: ``first_round``, ``last_round``, the
    ``rate_j`` taxed in the tax year's first work step, the mean of each SWF kind over its
    work steps, ``mean_hours`` (own choices), ``mean_income`` and ``planner_fallbacks`` (planner
    answers that were fallbacks on the decision steps opening the tax year or in it)."""
    table = world_by_round(steps)
    rates = rate_columns(steps)
    keys = ["episode", "tax_year"]
    grouped = table.groupby(keys, sort=False)
    frame = pd.DataFrame({
        "first_round": grouped["round"].min(),
        "last_round": grouped["round"].max(),
        **{column: grouped[column].first().astype(float) for column in rates},
        **{kind: grouped[kind].mean().astype(float) for kind in SWF_KINDS},
    })
    own = worker_rows(steps, own_choices=True)
    workers = worker_rows(steps)
    frame["mean_hours"] = own.groupby(keys)["hours"].mean().astype(float).reindex(frame.index)
    frame["mean_income"] = workers.groupby(keys)["income"].mean().astype(float).reindex(frame.index)
    fell_back = _planner_fallback_steps(steps).groupby(keys).size()
    frame["planner_fallbacks"] = fell_back.reindex(frame.index, fill_value=0).astype(int)
    return frame.reset_index().sort_values(["episode", "first_round"], kind="stable").reset_index(drop=True)


def bracket_table(steps: pd.DataFrame, edges: Sequence[float] | None = None) -> pd.DataFrame:
    """Per bracket at the first and the last work step of the run's last episode:
    ``workers_first``, ``workers_last`` (workers whose pre-tax income fell in the bracket) and
    ``mean_income_first``, ``mean_income_last`` (NaN for an empty bracket), with the bracket's
    ``low`` and ``high`` edges (NaN when ``edges`` is not given) and the ``final_rate`` (taxed
    in the last work step).

    The bracket of a worker is the world's own ``bracket`` column when recorded, else
    :func:`dilemmazoo.envs.tax.bracket_index` of its income on ``edges``."""
    _require(steps)
    rates = rate_columns(steps)
    k = len(rates)
    if edges is not None:
        edges = np.asarray(edges, dtype=float)
        if edges.size != k + 1:
            raise ValueError(f"edges must have {k + 1} entries for {k} brackets, got {edges.size}")
    episode = work_rows(steps[steps["episode"] == steps["episode"].max()])
    workers = worker_rows(episode)
    frame = pd.DataFrame({"bracket": np.arange(k)})
    frame["low"] = edges[:-1] if edges is not None else math.nan
    frame["high"] = edges[1:] if edges is not None else math.nan
    last = episode.sort_values("step", kind="stable").iloc[-1] if len(episode) else None
    frame["final_rate"] = [float(last[column]) if last is not None else math.nan for column in rates]
    for name, step in (("first", workers["step"].min()), ("last", workers["step"].max())):
        rows = workers[workers["step"] == step]
        if "bracket" in rows:
            brackets = rows["bracket"].astype(int).to_numpy()
        elif edges is not None:
            brackets = np.asarray(tax_math.bracket_index(rows["income"].to_numpy(dtype=float), edges), dtype=int)
        else:
            raise ValueError("steps have no 'bracket' column: pass the bracket edges")
        incomes = pd.Series(rows["income"].to_numpy(dtype=float)).groupby(brackets)
        frame[f"workers_{name}"] = incomes.size().reindex(frame["bracket"], fill_value=0).to_numpy().astype(int)
        frame[f"mean_income_{name}"] = incomes.mean().reindex(frame["bracket"]).to_numpy(dtype=float)
    return frame


# --- references -------------------------------------------------------------------------------


def edges_for(steps: pd.DataFrame, brackets: Any = None) -> np.ndarray:
    """The bracket edges of a run: :func:`dilemmazoo.envs.tax.bracket_edges` of ``brackets``
    (the world's ``brackets`` argument: a name or explicit edges) when given, else the named
    bracket set (``flat``, ``three``, ``us_federal``) with as many brackets as the records have
    ``rate_j`` columns. ``ValueError`` when neither tells, or when they disagree."""
    k = len(rate_columns(steps))
    if k == 0:
        raise ValueError("steps have no rate_j columns; is this a tax-world run?")
    if brackets is not None:
        edges = np.asarray(tax_math.bracket_edges(brackets), dtype=float)
        if edges.size != k + 1:
            raise ValueError(f"brackets {brackets!r} have {edges.size - 1} brackets but the records have {k} rates")
        return edges
    named = [name for name, edges in tax_math.BRACKETS.items() if len(edges) == k + 1]
    if len(named) != 1:
        raise ValueError(f"the records have {k} brackets and no named bracket set has that many: pass brackets")
    return np.asarray(tax_math.bracket_edges(named[0]), dtype=float)


def evaluation_points(edges: Sequence[float]) -> np.ndarray:
    """Where each bracket is evaluated: its midpoint; an open top bracket (``inf``) at
    ``start + 0.1 * (REFERENCE_TOP_EDGE - start)``, as the LLM-Economist Saez code does."""
    edges = np.asarray(edges, dtype=float)
    low, high = edges[:-1], edges[1:]
    top = tax_math.REFERENCE_TOP_EDGE
    return np.where(np.isinf(high), low + 0.1 * (top - low), (low + high) / 2)


def us_federal_reference(edges: Sequence[float]) -> np.ndarray:
    """The US federal 2024 single schedule's marginal rate (percent) at each bracket's
    evaluation point (:func:`evaluation_points`); exactly ``US_FEDERAL_2024_RATES`` when
    ``edges`` are the ``us_federal`` brackets."""
    points = evaluation_points(edges)
    us_edges = np.asarray(tax_math.bracket_edges("us_federal"), dtype=float)
    index = np.asarray(tax_math.bracket_index(points, us_edges), dtype=int)
    return np.asarray(tax_math.US_FEDERAL_2024_RATES, dtype=float)[index]


def saez_reference(steps: pd.DataFrame, edges: Sequence[float], *, elasticities: float | Sequence[float] = 0.4,
                   method: str = "llm_economist", incomes: str = "observed") -> pd.DataFrame:
    """Saez rates (percent, unrounded) per tax year of the run's last episode, from the run's
    own workers: :func:`dilemmazoo.envs.tax.saez_rates` on one income per worker, by default
    (``incomes="observed"``) its mean pre-tax income over the tax year's work steps;
    ``incomes="skill_x_100"`` uses skill x 100, the input of the paper-era planner (Karten et
    al. 2025). ``elasticities`` (0.4, Saez 2002, or one per bracket) and ``method``
    (``"llm_economist"`` | ``"binned"``) go to ``saez_rates``.

    Columns ``tax_year``, ``first_round``, ``last_round`` (work steps) and one ``rate_j`` per
    bracket. A tax year the formula cannot be evaluated on (``saez_rates`` raises
    ``ValueError``, e.g. for a single worker) gets NaN rates.
    """
    check_choice("incomes", incomes, SAEZ_INCOMES)
    check_choice("method", method, ("llm_economist", "binned"))
    _require(steps)
    if incomes == "skill_x_100" and "skill" not in steps:
        raise ValueError("incomes='skill_x_100' needs the 'skill' column")
    edges = np.asarray(edges, dtype=float)
    clock = _clock(steps)
    workers = worker_rows(steps[steps["episode"] == steps["episode"].max()])
    column = "income" if incomes == "observed" else "skill"
    rows = []
    for tax_year, year in workers.sort_values("step", kind="stable").groupby("tax_year", sort=False):
        per_worker = year.groupby("agent")[column].mean().to_numpy(dtype=float)
        if incomes == "skill_x_100":
            per_worker = per_worker * 100.0
        try:
            rates = np.asarray(tax_math.saez_rates(per_worker, edges, elasticities, method=method), dtype=float)
        except ValueError:
            rates = np.full(edges.size - 1, math.nan)
        rows.append({"tax_year": tax_year, "first_round": int(year[clock].min()), "last_round": int(year[clock].max()),
                     **{f"rate_{j}": float(rate) for j, rate in enumerate(rates)}})
    return pd.DataFrame(rows)
