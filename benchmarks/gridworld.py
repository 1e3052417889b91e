"""Grid-world throughput: the batched numpy core of Cleanup and Gathering.

    python benchmarks/gridworld.py                 # readable table
    python benchmarks/gridworld.py --json          # ... and one JSON object of the figures, last line
    python benchmarks/gridworld.py --rules vicgalle --batch-sizes 1 64 256 --seconds 1

For each game (standard maps, 10 agents, the chosen rule set, default ``ssd`` with its 15 x 15
view), each batch size and with / without egocentric RGB observations, it steps
``VectorGridworld`` with uniformly random actions drawn in advance (policy cost excluded; about
one agent in nine fires, so beams are exercised) for about ``--seconds`` and reports
env-steps/s (one environment advanced one step) and agent-steps/s (env-steps x agents), the
best of three timed windows.
Auto-reset keeps episodes going across the 1000-step boundary.

JSON figures: ``agent_steps_per_s_obs`` / ``agent_steps_per_s_no_obs``: at the best batch size
(``best_batch_obs`` / ``best_batch_no_obs``), the agent-steps/s of the slower of the two games,
so both games reach it; then every configuration as ``<game>_<obs|no_obs>_b<batch>``
(agent-steps/s).
Anchors from the spec (2-core machine): vicgalle numpy Cleanup ~1.8k env-steps/s without
observations; SocialJax 7 agents, 64 vmapped envs ~99k agent-steps/s.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dilemmazoo.envs.gridworld.core import VectorGridworld

GAMES = ("cleanup", "gathering")


def measure(game: str, rules: str, batch_size: int, observe: bool, n_agents: int, seconds: float,
            repeats: int = 3) -> float:
    """Env-steps per second of one configuration: the best of ``repeats`` timed windows
    (other processes on a small machine only ever slow a window down)."""
    vec = VectorGridworld(game, batch_size, n_agents, rules=rules, observation="rgb" if observe else None,
                          autoreset=True)
    vec.reset(range(batch_size))
    rng = np.random.default_rng(0)
    actions = rng.integers(0, len(vec.actions), (64, batch_size, n_agents))
    for t in range(3):  # warm up
        vec.step(actions[t])
    best, done = 0.0, 0
    for _ in range(repeats):
        steps, start = 0, time.perf_counter()
        while True:
            for t in range(8):
                vec.step(actions[(done + t) % 64])
            steps += 8
            done += 8
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / repeats:
                break
        best = max(best, steps * batch_size / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures last")
    parser.add_argument("--rules", default="ssd", choices=["ssd", "meltingpot", "vicgalle"])
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16, 64, 256])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per configuration")
    args = parser.parse_args()

    rows = []
    print(f"rules={args.rules}, {args.agents} agents, random actions")
    print(f"{'game':<10} {'obs':<4} {'batch':>6} {'env-steps/s':>14} {'agent-steps/s':>15}")
    for game in GAMES:
        for observe in (False, True):
            for batch in args.batch_sizes:
                env_rate = measure(game, args.rules, batch, observe, args.agents, args.seconds)
                rows.append((game, observe, batch, env_rate))
                print(f"{game:<10} {'rgb' if observe else '-':<4} {batch:>6} {env_rate:>14,.0f} "
                      f"{env_rate * args.agents:>15,.0f}", flush=True)

    figures: dict[str, float] = {}
    for observe, label in ((True, "obs"), (False, "no_obs")):
        best_batch, best_rate = None, -1.0
        for batch in args.batch_sizes:
            slowest = min(r[3] for r in rows if r[1] == observe and r[2] == batch) * args.agents
            if slowest > best_rate:
                best_batch, best_rate = batch, slowest
        figures[f"agent_steps_per_s_{label}"] = best_rate
        figures[f"best_batch_{label}"] = best_batch
    for game, observe, batch, env_rate in rows:
        figures[f"{game}_{'obs' if observe else 'no_obs'}_b{batch}"] = env_rate * args.agents
    print(f"best batch with observations: {figures['best_batch_obs']} "
          f"({figures['agent_steps_per_s_obs']:,.0f} agent-steps/s, slower game); "
          f"without: {figures['best_batch_no_obs']} ({figures['agent_steps_per_s_no_obs']:,.0f})")
    if args.json:
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
