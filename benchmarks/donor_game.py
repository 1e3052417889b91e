"""Donor Game throughput: the world alone, the runner with scripted agents, and the embedded model.

    python benchmarks/donor_game.py            # readable table
    python benchmarks/donor_game.py --json     # ... and one JSON object of the figures, last line
    python benchmarks/donor_game.py --no-model # skip the embedded-model figures
    python benchmarks/donor_game.py --profile  # ... and where the time goes (cProfile, to stderr)

Figures:
- world_steps_per_s: raw ``DonorGameEnv.step`` calls per second at paper size (12 x 12).
- runner_decisions_per_s: decisions per second through the whole runner (records included)
  with scripted agents, paper sizes, 2 generations.
- embedded_*: decisions per second with SmolLM2-135M on this machine: one batched ``act_batch``
  of 6 donors (a paper-size round) in score mode and in generate mode, against the same
  decisions one call at a time (best of two). Score batches run the shared rules prefix once.
- peak_rss_mb: peak resident memory of the process (and its children), MiB.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from harness import add_common_args, emit, profiled

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bench_world(repeats: int = 200) -> float:
    from dilemmazoo.envs import make_world

    env = make_world("donor-game")
    steps = 0
    start = time.perf_counter()
    for episode in range(repeats):
        env.reset(seed=episode)
        while env.agents:
            actions = {a: env.idle_action(a) for a in env.agents}
            for a in env.deciders():
                actions[a] = env.action_spec(a).make_action(0, 0.5 * env.action_spec(a).high)
            env.step(actions)
            steps += 1
    return steps / (time.perf_counter() - start)


def bench_runner() -> tuple[float, int]:
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import execute

    config = validate({
        "name": "bench", "world": {"id": "donor-game"},
        "agents": {"kind": "scripted", "strategy": "reciprocator"},
        "population": {"dynamics": "cultural_evolution", "generations": 2}, "episodes_per_generation": 2,
    })
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = execute(config, out, progress=False)
        elapsed = time.perf_counter() - start
        decisions = result.summary["counts"]["decisions"]
    return decisions / elapsed, decisions


def bench_embedded(mode: str, donors: int = 6) -> dict[str, float]:
    from dilemmazoo.agents.backends import make_backend
    from dilemmazoo.agents.base import Decision
    from dilemmazoo.agents.llm import LLMPolicy
    from dilemmazoo.envs import make_world

    backend = make_backend("embedded")
    env = make_world("donor-game")
    obs, _ = env.reset(seed=0)
    requests = [
        Decision(agent_id=a, observation=obs[a], text=env.describe(a), spec=env.action_spec(a), rules=env.rules(a),
                 step=1, episode=0)
        for a in env.deciders()[:donors]
    ]
    kwargs = {"decision": mode, "max_retries": 0, "max_tokens": 100}
    if mode == "score":
        kwargs["score_grid"] = (0.0, 0.25, 0.5, 0.75, 1.0)
    policy = LLMPolicy(backend, **kwargs)
    policy.act_batch(requests[:1])  # warm-up
    batched = sequential = float("inf")
    for _ in range(2):  # best of two: the first batched call also sizes torch's buffers
        start = time.perf_counter()
        policy.act_batch(requests)
        batched = min(batched, time.perf_counter() - start)
        start = time.perf_counter()
        for r in requests:
            policy.act_batch([r])
        sequential = min(sequential, time.perf_counter() - start)
    return {"batched_decisions_per_s": len(requests) / batched, "sequential_decisions_per_s": len(requests) / sequential}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--no-model", action="store_true", help="skip the embedded-model figures")
    args = parser.parse_args()
    emit(profiled(args, measure, args), args, digits=1)


def measure(args: argparse.Namespace) -> dict[str, float]:
    """Every figure of the table, by the flags in ``args``."""
    figures: dict[str, float] = {}
    figures["world_steps_per_s"] = bench_world()
    figures["runner_decisions_per_s"], figures["runner_decisions"] = bench_runner()
    if not args.no_model:
        for mode in ("score", "generate"):
            for key, value in bench_embedded(mode).items():
                figures[f"embedded_{mode}_{key}"] = value
    return figures


if __name__ == "__main__":
    main()
