"""dilemmazoo.analysis: pure functions from run records to numbers, plots and reports.

Reads the files a run writes (``config.yaml``, ``steps.parquet``, ``episodes.parquet``,
``population.parquet``, ``llm_calls.parquet``, ``summary.json``) and imports nothing from the
layers above ``envs``.

- :mod:`.metrics`: loading runs, decision and LLM-call statistics, Gini and equality;
- :mod:`.donor_game`: the Donor Game's headline metrics (Vallinder & Hughes 2025);
- :mod:`.trust_split`: Trust-and-Split and Split No-Comm: split efficiency, honesty, exploitation;
- :mod:`.commons`: GovSim and the effort CPR: survival, efficiency, equality, over-usage,
  sanctions, norm adherence and norm similarity (Piatti et al. 2024; Gupta et al. 2025);
- :mod:`.gridworld`: Cleanup and Gathering social outcomes (Perolat et al. 2017);
- :mod:`.tax`: the LLM-Economist tax world: both SWFs, best so far, hours, incomes, Gini,
  equality x productivity, Saez and US-federal references (Karten et al. 2025);
- :mod:`.synthesis`: LLM policy synthesis per iteration, sparse vs dense feedback, code diffs;
- :mod:`.plots`, :mod:`.commons_plots`: matplotlib pyplot figures (inline in Jupyter; Agg when headless);
- :mod:`.repeated_game_plots`, :mod:`.trust_split_plots`, :mod:`.gridworld_plots`: the report's
  world sections (cooperation by round, outcome matrices, payoffs against Nash and the Pareto
  frontier; split shares, agreement, messages; social outcomes by episode);
- :mod:`.cell_plots`: grid cells drawn as the mean over seeds with a 95% t-interval band;
- :mod:`.catalog`: a duckdb catalog for SQL across all runs of a grid;
- :mod:`.report`: :func:`write_report`, one self-contained HTML page per run or experiment.

``plots`` and ``report`` load matplotlib and jinja2 only when first used.
"""

from __future__ import annotations

from typing import Any

from . import commons, donor_game, gridworld, repeated_game, tax, trust_split
from .commons import (
    commons_metrics,
    cpr_metrics,
    efficiency,
    norm_adherence,
    norm_similarity,
    norm_similarity_by_round,
    over_usage,
    survival_time,
)
from .donor_game import average_final_resources, donation_fraction, donor_game_metrics, final_resources, initial_cooperation, punishment_rate
from .catalog import catalog
from .metrics import (
    RunRecords, decision_stats, equality, equality_nan_reason, find_runs, gini, llm_call_stats, load_run,
    valid_decision_counts, with_nan_reasons,
)
from .worlds import WORLD_METRICS, world_metrics
from .trust_split import exploitation, honesty_rate, split_efficiency, split_nocomm_metrics, trust_split_metrics

__all__ = [
    "WORLD_METRICS",
    "RunRecords",
    "average_final_resources",
    "catalog",
    "commons_metrics",
    "cpr_metrics",
    "decision_stats",
    "donation_fraction",
    "donor_game_metrics",
    "efficiency",
    "equality",
    "equality_nan_reason",
    "exploitation",
    "final_resources",
    "find_runs",
    "gini",
    "honesty_rate",
    "initial_cooperation",
    "llm_call_stats",
    "load_run",
    "norm_adherence",
    "norm_similarity",
    "norm_similarity_by_round",
    "over_usage",
    "punishment_rate",
    "split_efficiency",
    "split_nocomm_metrics",
    "survival_time",
    "trust_split_metrics",
    "valid_decision_counts",
    "with_nan_reasons",
    "world_metrics",
    "write_report",
]

def __getattr__(name: str) -> Any:
    if name == "write_report":
        from .report import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
