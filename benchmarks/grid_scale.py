"""Grid throughput: one grid of 64 small runs on the local executor (1 and 2 workers) and on Ray.

    python benchmarks/grid_scale.py            # readable table
    python benchmarks/grid_scale.py --json     # ... and one JSON object of the figures, last line
    python benchmarks/grid_scale.py --runs 16  # a smaller grid (a smoke run)
    python benchmarks/grid_scale.py --profile  # ... and where the time goes (cProfile, to stderr)

Setting: a Donor Game of 12 scripted agents (fixed-fraction donors), 12 rounds, 80 generations of
cultural evolution with 4 games each, over 64 seeds (about 1.5 s a run on one core: Ray's
start-up, some 6 s here, and each worker's first import are then a small part of the grid). Each
executor writes into its own empty folder, so every figure is a grid executed from scratch,
files and all.

Figures: ``local_1_worker_s``, ``local_2_workers_s`` (worker processes, spawned and importing
dilemmazoo inside the time), ``ray_2_cpus_s`` (a local Ray instance with 2 CPUs, start-up
included) and ``ray_startup_s`` (the start-up alone: ``ray.init`` to ready); the speedups are
against one local worker. Goals (issue 21): ``local_2_workers_speedup`` >= 1.8 and
``ray_2_cpus_speedup`` >= 1.6 on the same machine. ``peak_rss_mb`` is the peak resident memory of
this process or its largest finished worker, MiB (Ray's workers are not its children: not counted).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from harness import add_common_args, emit, profiled

from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import run_experiment


def grid(runs: int, **extra):
    return validate({
        "name": "scale", "world": {"id": "donor-game", "kwargs": {"n_agents": 12, "n_rounds": 12}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}},
        "population": {"dynamics": "cultural_evolution", "generations": 80, "kwargs": {"mutation_sd": 0.1}},
        "episodes_per_generation": 4, "seeds": runs, "cache": False, **extra,
    })


def timed(config, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        results = run_experiment(config, out, workers=workers, progress=False)
        elapsed = time.perf_counter() - started
    assert len(results) == len(config.seeds) and not any(r.skipped for r in results)
    return elapsed


def ray_startup() -> float:
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ready = time.perf_counter() - started
    ray.shutdown()
    return ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--runs", type=int, default=64, help="runs in the grid (default 64)")
    args = parser.parse_args()
    figures = profiled(args, measure, args.runs)
    emit(figures, args, goals={"local_2_workers_speedup": ">= 1.8", "ray_2_cpus_speedup": ">= 1.6"})


def measure(runs: int) -> dict[str, float]:
    """Every figure of the table for a grid of ``runs`` runs."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    one = timed(grid(runs), 1)
    two = timed(grid(runs), 2)
    on_ray = timed(grid(runs, executor="ray", ray={"num_cpus": 2}), 2)
    startup = ray_startup()
    return {
        "runs": runs,
        "local_1_worker_s": one,
        "local_2_workers_s": two,
        "ray_2_cpus_s": on_ray,
        "ray_startup_s": startup,
        "local_2_workers_speedup": one / two,
        "ray_2_cpus_speedup": one / on_ray,
        "ray_2_cpus_speedup_without_startup": one / max(on_ray - startup, 1e-9),
    }


if __name__ == "__main__":
    main()
