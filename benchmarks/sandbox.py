"""Policy sandbox overhead: decisions per second in and out of the sandbox.

    python benchmarks/sandbox.py            # readable table
    python benchmarks/sandbox.py --json     # ... and one JSON object of the figures, last line
    python benchmarks/sandbox.py --quick    # fewer repetitions (a smoke run)
    python benchmarks/sandbox.py --profile  # ... and where the time goes (cProfile, to stderr)
    python benchmarks/sandbox.py --isolation process   # another level (default: the machine's strongest)

Setting: a Cleanup-sized map (18 x 25, walls around, about 100 apples), 10 agents, as in the
policy-synthesis runs of vicgalle/llm-policies-social-dilemmas. The sandbox runs under the
machine's strongest isolation (:func:`~dilemmazoo.agents.sandbox.probe_isolation`), named in
the output (``isolation``); the in-process figures use the trusted, unsafe in-process runner.
Figures:

- ``startup_s``: seconds to start a worker and load the policy (best of three);
- ``trivial_*``: a policy that returns a constant, so the figure is the sandbox's own cost:
  decisions/s in process, in the sandbox with one round-trip per step carrying all 10 agents
  (``batched``), and with one round-trip per agent (``unbatched``);
  ``trivial_overhead_us_per_step`` is the extra time per batched round-trip;
- ``bfs_*``: a BFS harvester written against the helpers (the usual LLM-written policy),
  decisions/s in process and in the sandbox (batched), and the ratio;
- ``peak_rss_mb``: peak resident memory of this process or its largest finished worker, MiB.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from dilemmazoo.agents.sandbox import (
    PolicySandbox,
    UnsafeInProcessPolicy,
    UnsafeInProcessWarning,
    compile_policy,
    make_snapshot,
    probe_isolation,
)
from harness import add_common_args, emit, profiled

N_AGENTS = 10
TRIVIAL = "def policy(state, agent_id):\n    return 7\n"
BFS = """
def policy(state, agent_id):
    row, col = state.positions[agent_id]
    found = helpers.nearest(state.grid, (row, col), "A", walls="@")
    if found is None:
        return helpers.STAY
    return helpers.direction_to_action(found.direction, state.orientations[agent_id])
"""


def cleanup_sized_state(seed: int = 0):
    rng = np.random.default_rng(seed)
    grid = rng.choice(np.array(list(" A")), size=(18, 25), p=[0.77, 0.23])
    grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = "@"
    positions = np.column_stack([rng.integers(1, 17, N_AGENTS), rng.integers(1, 24, N_AGENTS)])
    return make_snapshot(
        {"grid": grid, "positions": positions, "orientations": rng.integers(0, 4, N_AGENTS)}, {"step": 0}
    )


def rate(run, decisions_per_run: int, seconds: float) -> float:
    """Decisions per second of ``run`` repeated for about ``seconds`` (after one warm-up)."""
    run()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        count += 1
    return count * decisions_per_run / (time.perf_counter() - start)


def bench(source: str, seconds: float, isolation: str) -> dict[str, float]:
    state, agents = cleanup_sized_state(), list(range(N_AGENTS))
    policy = compile_policy(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeInProcessWarning)  # trusted code: the benchmark's own policies
        local = UnsafeInProcessPolicy(policy, n_actions=9, fallback_action=7)
    figures = {"in_process_decisions_per_s": rate(lambda: local.call(state, agents), N_AGENTS, seconds)}
    with PolicySandbox(policy, n_actions=9, fallback_action=7, isolation=isolation) as sandbox:
        figures["batched_decisions_per_s"] = rate(lambda: sandbox.call(state, agents), N_AGENTS, seconds)
        figures["unbatched_decisions_per_s"] = rate(
            lambda: [sandbox.call(state, [a]) for a in agents], N_AGENTS, seconds
        )
        assert not sandbox.failures, sandbox.reports[:3]
    return figures


def startup_seconds(isolation: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        with PolicySandbox(TRIVIAL, n_actions=9, fallback_action=7, isolation=isolation):
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--quick", action="store_true", help="shorter timings")
    parser.add_argument("--isolation", default=None, choices=("bubblewrap", "namespaces", "process"),
                        help="the sandbox's isolation level (default: the strongest this machine gives)")
    args = parser.parse_args()
    isolation = args.isolation or probe_isolation().level
    print(f"isolation: {isolation}")
    figures = profiled(args, measure, 0.3 if args.quick else 2.0, isolation)
    emit(figures, args, digits=None, json_digits=4, extra={"isolation": isolation})


def measure(seconds: float, isolation: str) -> dict[str, float]:
    """Every figure of the table: each timing runs about ``seconds``, the sandbox under ``isolation``."""
    figures: dict[str, float] = {"startup_s": startup_seconds(isolation)}
    trivial = bench(TRIVIAL, seconds, isolation)
    for key, value in trivial.items():
        figures[f"trivial_{key}"] = value
    figures["trivial_overhead_us_per_step"] = 1e6 * N_AGENTS * (
        1 / trivial["batched_decisions_per_s"] - 1 / trivial["in_process_decisions_per_s"]
    )
    bfs = bench(BFS, seconds, isolation)
    figures["bfs_in_process_decisions_per_s"] = bfs["in_process_decisions_per_s"]
    figures["bfs_sandbox_decisions_per_s"] = bfs["batched_decisions_per_s"]
    figures["bfs_sandbox_over_in_process"] = bfs["batched_decisions_per_s"] / bfs["in_process_decisions_per_s"]
    return figures


if __name__ == "__main__":
    main()
