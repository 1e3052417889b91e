"""Peak memory of two runs users start: a language-model Donor Game and a grid on 2 workers.

    python benchmarks/memory.py               # readable table, goals beside the figures
    python benchmarks/memory.py --json        # ... and one JSON object of the figures, last line
    python benchmarks/memory.py --profile     # ... and where each case's time goes (cProfile, stderr)
    python benchmarks/memory.py --case grid   # one case only

Cases (issue 26), each in a fresh Python process so that its peak is its own:

(a) ``donor_llm``: a Donor Game of 24 agents over 10 generations of cultural evolution on the
    embedded model (SmolLM2-135M-Instruct), set up as ``make demo`` is
    (``experiments/configs/donor_game_demo.yaml``: score-mode donations, prefilled strategies of
    at most 120 tokens, which every new member writes). Cut to run in minutes on 2 cores:
    2 rounds per game (``--rounds``) and one game per generation (the demo: 6 rounds, 2 games),
    so every generation still writes its new members' strategies (24 in the first, 12 after) and
    scores 24 donations. Goal: under 2 GiB.
(b) ``grid_2_workers``: a 64-run grid (``--runs``) of small scripted Donor Games (12 agents,
    12 rounds, 5 generations of 2 games; fixed-fraction donors) on the local executor with 2
    worker processes. Goal: under 4 GiB, the workers included.

Figures per case: ``<case>_peak_rss_mb``, the case process's peak resident memory (MiB) or that
of its largest finished worker, whichever is larger (``ru_maxrss`` of ``RUSAGE_SELF`` and
``RUSAGE_CHILDREN``, as every benchmark's ``peak_rss_mb``); ``<case>_tree_peak_rss_mb``, the
largest sum of resident memory over the case process and all its descendants at once, sampled
every 20 ms (what the machine must hold; the goals apply to it); and ``<case>_s``, the wall time.
``peak_rss_mb`` is this parent process's own figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import add_common_args, emit, peak_rss_mb, profiled

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CASES = ("donor_llm", "grid_2_workers")
GOALS = {"donor_llm_tree_peak_rss_mb": "< 2048", "grid_2_workers_tree_peak_rss_mb": "< 4096"}
MARK = "MEMORY-CASE "


def donor_llm_config(agents: int = 24, generations: int = 10, rounds: int = 2, episodes: int = 1):
    """The demo's preset at ``agents`` x ``generations``, ``rounds`` per game, ``episodes`` games per generation."""
    from dilemmazoo.experiments.config import load_config, validate

    data = load_config("donor_game_demo")
    data["name"] = "memory_donor_llm"
    data["world"]["kwargs"].update(n_agents=agents, n_rounds=rounds)
    data["population"]["generations"] = generations
    data["episodes_per_generation"] = episodes
    data["seeds"] = [0]
    data["cache"] = False  # every decision and strategy runs the model
    return validate(data)


def grid_config(runs: int = 64):
    """A grid of ``runs`` seeds of a small scripted Donor Game (12 agents, 12 rounds, 5 generations of 2 games)."""
    from dilemmazoo.experiments.config import validate

    return validate({
        "name": "memory_grid", "world": {"id": "donor-game", "kwargs": {"n_agents": 12, "n_rounds": 12}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}},
        "population": {"dynamics": "cultural_evolution", "generations": 5, "kwargs": {"mutation_sd": 0.1}},
        "episodes_per_generation": 2, "seeds": runs, "cache": False,
    })


class TreeSampler:
    """Samples the summed resident memory of a process and its descendants on a thread, keeping the peak."""

    def __init__(self, pid: int | None = None, every_s: float = 0.02):
        import psutil

        self._root = psutil.Process(pid or os.getpid())
        self.every_s = every_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> float:
        import psutil

        total = 0
        for process in [self._root, *self._root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._sample())
            self._stop.wait(self.every_s)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._sample())


def run_case(case: str, args: argparse.Namespace) -> dict[str, float]:
    """Run ``case`` in this process; its figures (the peaks are this process's and its workers')."""
    from dilemmazoo.experiments.runner import run_experiment

    if case == "donor_llm":
        config, workers = donor_llm_config(rounds=args.rounds), 1
    elif case == "grid_2_workers":
        config, workers = grid_config(args.runs), 2
    else:
        raise ValueError(f"case must be one of {CASES}, got {case!r}")
    with tempfile.TemporaryDirectory() as out, TreeSampler() as tree:
        start = time.perf_counter()
        results = profiled(args, run_experiment, config, out, workers=workers, progress=False)
        seconds = time.perf_counter() - start
    if len(results) != len(config.seeds):
        raise RuntimeError(f"{case}: {len(results)} of {len(config.seeds)} runs finished")
    figures = {f"{case}_peak_rss_mb": peak_rss_mb(), f"{case}_tree_peak_rss_mb": tree.peak_mb, f"{case}_s": seconds}
    if case == "donor_llm":
        counts = results[0].summary.get("counts", {})
        figures["donor_llm_decisions"] = float(counts.get("decisions", 0))
    else:
        figures["grid_2_workers_runs"] = float(len(results))
    return figures


def case_in_child(case: str, args: argparse.Namespace) -> dict[str, float]:
    """Run ``case`` in a fresh interpreter (its own peak), passing the flags on; its figures."""
    command = [sys.executable, str(Path(__file__).resolve()), "--in-process", case,
               "--rounds", str(args.rounds), "--runs", str(args.runs)]
    if args.profile:
        command.append("--profile")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # stderr (progress, profile) passes through
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"case {case} failed (exit {done.returncode}):\n{done.stdout[-2000:]}")
    return json.loads(lines[-1][len(MARK):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--case", choices=CASES, action="append", help="run only this case (repeatable)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per Donor Game in (a) (default 2)")
    parser.add_argument("--runs", type=int, default=64, help="runs of the grid in (b) (default 64)")
    parser.add_argument("--in-process", choices=CASES, help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args()
    if args.rounds < 1 or args.runs < 1:
        parser.error("--rounds and --runs must be >= 1")
    if args.in_process:
        print(MARK + json.dumps(run_case(args.in_process, args)), flush=True)
        return
    figures: dict[str, float] = {}
    for case in args.case or CASES:
        figures.update(case_in_child(case, args))
    print(f"cpus: {os.cpu_count()}, load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    emit(figures, args, digits=1, goals=GOALS)


if __name__ == "__main__":
    main()
