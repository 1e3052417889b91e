"""Studies: computations an experiment runs in place of episodes.

Some published results are not played but computed: Pant & Yu's 3,125-configuration loyalty
sweep solves the team-production game's equilibrium in every cell. A config names such a
computation under ``study:``; ``dilemmazoo run`` then computes it instead of playing episodes
and writes its table as ``study.parquet`` beside the usual files (the episode tables are empty),
with its headline numbers as the run's ``metrics`` in ``summary.json``. ``dilemmazoo report``
draws a study's section from the table (:mod:`dilemmazoo.analysis.studies`).

A study is registered below as a :class:`Study`: ``table(world_kwargs, **kwargs)`` returns the
table (a DataFrame), ``metrics(table)`` the headline numbers, and ``check(world_kwargs,
**kwargs)`` raises ``ValueError`` for parameters it cannot take (before anything is written).

Studies:

- ``loyalty_sweep`` -- the equilibrium efforts of the team-production game over the paper's grid
  (omega x beta x c x n x theta, phi fixed), by the closed form and by numeric best response
  (:func:`dilemmazoo.norms.loyalty.loyalty_sweep`), scored against the paper's six behavioural
  targets (:func:`dilemmazoo.analysis.loyalty.behavioural_targets`). Pant & Yu, arXiv 2601.16237.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["STUDIES", "Study", "check_study", "run_study"]


@dataclass(frozen=True)
class Study:
    """One registered study (see the module docstring)."""

    table: Callable[..., pd.DataFrame]
    metrics: Callable[[pd.DataFrame], dict[str, Any]]
    check: Callable[..., None]
    description: str = ""


# -- loyalty sweep ------------------------------------------------------------------------------

#: world kwargs of the team-production world that the sweep takes as its fixed parameters
_SWEEP_WORLD_KEYS = ("a_min", "a_max")


def _loyalty_arguments(world_kwargs: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    arguments = {key: world_kwargs[key] for key in _SWEEP_WORLD_KEYS if key in world_kwargs}
    arguments.update(kwargs)
    return arguments


def _loyalty_table(world_kwargs: Mapping[str, Any], **kwargs: Any) -> pd.DataFrame:
    from dilemmazoo.norms.loyalty import loyalty_sweep

    table, _ = loyalty_sweep(**_loyalty_arguments(world_kwargs, kwargs))
    return table


def _loyalty_metrics(table: pd.DataFrame) -> dict[str, Any]:
    from dilemmazoo.analysis.loyalty import behavioural_targets, effort_ratio_summary

    targets = behavioural_targets(table)
    ratio = effort_ratio_summary(table)
    metrics: dict[str, Any] = {
        "configurations": int(len(table)),
        "targets_passed": int(sum(bool(t["passed"]) for t in targets)),
        "targets": len(targets),
        "effort_ratio_median": ratio["median"],
        "effort_ratio_min": ratio["min"],
        "effort_ratio_max": ratio["max"],
    }
    for target in targets:
        metrics[f"target_{target['target']}_passed"] = bool(target["passed"])
    return metrics


def _loyalty_check(world_kwargs: Mapping[str, Any], **kwargs: Any) -> None:
    """Unknown parameters and bad values, found by the closed form alone (milliseconds)."""
    import inspect

    from dilemmazoo.norms.loyalty import loyalty_sweep

    accepted = inspect.signature(loyalty_sweep).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; it takes {', '.join(sorted(accepted))}")
    loyalty_sweep(**{**_loyalty_arguments(world_kwargs, kwargs), "numeric": False})


STUDIES: dict[str, Study] = {
    "loyalty_sweep": Study(
        table=_loyalty_table, metrics=_loyalty_metrics, check=_loyalty_check,
        description="team-production equilibria over the paper's grid, scored against its six behavioural targets",
    ),
}


def _study(name: str) -> Study:
    study = STUDIES.get(name)
    if study is None:
        raise ValueError(f"no study {name!r}; the studies are {', '.join(sorted(STUDIES))}")
    return study


def check_study(name: str, world_kwargs: Mapping[str, Any], kwargs: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` if study ``name`` does not exist or cannot take ``kwargs``."""
    _study(name).check(world_kwargs, **kwargs)


def run_study(name: str, world_kwargs: Mapping[str, Any], kwargs: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Compute study ``name``: its table and its headline metrics."""
    study = _study(name)
    table = study.table(world_kwargs, **kwargs)
    return table, study.metrics(table)
