"""Experiments: configs, the runner, run directories, the CLI and presets.

    from dilemmazoo.experiments import run, run_grid
    r = run("donor_game_demo", backend="embedded", population__generations=2)
    r.run_dir, r.summary, r.steps      # runs/donor_game_demo/seed=0, summary.json, records as a DataFrame
    rs = run_grid("donor_game_demo", grid={"world.kwargs.donation_multiplier": [1.5, 3.0]}, seeds=2)
    rs[0].run_dir                      # runs/donor_game_demo/donation_multiplier=1.5/seed=0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dilemmazoo.experiments.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    expand_grid,
    list_presets,
    load_config,
    validate,
)
from dilemmazoo.experiments.runner import RunFailed, RunResult, execute, run_experiment

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "RunFailed",
    "RunResult",
    "list_presets",
    "load_config",
    "resolve",
    "run",
    "run_grid",
]


def resolve(name_or_path: str | Path, *, backend: str | None = None, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """A validated config from a preset or file, with dotted-key overrides and a backend."""
    data = load_config(name_or_path)
    overrides = dict(overrides or {})
    if backend is not None:
        # every group that asks a model (language agents and policy writers) gets the backend
        if isinstance(data.get("agents"), list):
            for i, group in enumerate(data["agents"]):
                if isinstance(group, dict) and group.get("kind", "llm") in ("llm", "synthesized"):
                    overrides[f"agents.{i}.backend"] = backend
        else:
            overrides["agents.backend"] = backend
            group = data.get("agents")
            if not (isinstance(group, dict) and group.get("kind") == "synthesized"):
                overrides.setdefault("agents.kind", "llm")
    return validate(apply_overrides(data, overrides), source=str(name_or_path))


def _dotted(kwargs: dict[str, Any]) -> dict[str, Any]:
    # Python keywords cannot hold dots: population__generations=2 means population.generations.
    return {key.replace("__", "."): value for key, value in kwargs.items()}


def run_grid(name_or_path: str | Path, *, backend: str | None = None, out: str | Path = "runs",
             workers: int | None = None, progress: bool = True, **overrides: Any) -> list[RunResult]:
    """Every grid point and seed of an experiment."""
    config = resolve(name_or_path, backend=backend, overrides=_dotted(overrides))
    return run_experiment(config, out, workers=workers, progress=progress)


def run(name_or_path: str | Path, *, backend: str | None = None, out: str | Path = "runs",
        progress: bool = True, **overrides: Any) -> RunResult:
    """One run (a config with one seed and no grid); see :func:`run_grid` for many."""
    config = resolve(name_or_path, backend=backend, overrides=_dotted(overrides))
    runs = expand_grid(config)
    if len(runs) != 1:
        raise ConfigError(f"{name_or_path} expands to {len(runs)} runs (grid x seeds); use run_grid, or pass seeds=[0]")
    return execute(runs[0], out, progress=progress)
