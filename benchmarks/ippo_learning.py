"""IPPO learns on a CPU: trained agents against random and BFS agents on the small Gathering map.

    python benchmarks/ippo_learning.py                  # readable table (both variants, ~3 minutes)
    python benchmarks/ippo_learning.py --json           # ... and one JSON object of the figures, last line
    python benchmarks/ippo_learning.py --variants shared --iterations 30   # shorter

Trains two presets of :mod:`dilemmazoo.agents.trainers.ippo` on one CPU thread, 4 agents under
the SSD rules (firing costs the firer 1 and each hit costs the agent hit 50), 16 environments x
100-step episodes per iteration, MLP policies:

- ``independent`` (``gathering_small``): one network per agent, 100 iterations, ``lr = 1e-3``;
- ``shared`` (``gathering_small_shared``): one network with the agent's one-hot id, 80
  iterations, ``lr = 3e-3``.

Then every population plays the same held-out episode seeds (all 4 seats alike):

- ``<variant>``: the learned policies, actions sampled; ``<variant>_greedy``: most likely action;
- ``random``: uniform over the 8 actions (fires one step in eight);
- ``bfs``: :class:`~dilemmazoo.agents.grid_strategies.AppleSeeker`, the shortest path to the
  nearest visible apple, never fires (vicgalle's BFS baseline), for reference.

Figures: per-agent episode return, apples, beams fired and Perolat et al. 2017 efficiency of each
population; per variant the training time, throughput (agent-steps per second, updates included)
and the training return of the first and last iterations; ``<variant>_learned`` is 1 when the
variant's sampled return beats the random return.

Measured on the shared 2-core development machine (seed 0, 32 held-out episodes, about 3.5
minutes in all): independent 101.5 s, training return -320.5 -> -27.3, held-out return -27.4
(greedy 0.34), 1.47 beams fired; shared 65.7 s, -313.3 -> 2.7, held-out 0.53 (greedy 1.80),
0.06 beams fired; random -275.3 (12.9 beams fired); BFS 2.59. Apples per agent are about 2.9
for every population: the small map's 10 apple cells regrow slowly, so the learning is mostly
giving up the penalty beam, whose hits cost the others 50 each.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

VARIANTS = {"independent": "gathering_small", "shared": "gathering_small_shared"}


def bfs_chooser(world: str, n_agents: int):
    """``choose(observations, rng)`` with one AppleSeeker per seat and environment."""
    from dilemmazoo.agents.grid_strategies import AppleSeeker
    from dilemmazoo.envs.gridworld.core import actions_for

    names = actions_for(world)
    seekers: dict[tuple[int, int], AppleSeeker] = {}

    def choose(observations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        B = observations.shape[0]
        actions = np.empty((B, n_agents), dtype=np.int64)
        for b in range(B):
            for i in range(n_agents):
                if (b, i) not in seekers:
                    seekers[b, i] = AppleSeeker()
                    seekers[b, i].reset(f"player_{i}", None, rng)
                actions[b, i] = names.index(seekers[b, i].harvest(observations[b, i]))
        return actions

    return choose


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures last")
    parser.add_argument("--variants", default="independent,shared", help="comma-separated: independent, shared")
    parser.add_argument("--iterations", type=int, default=None, help="training iterations (default: the presets')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=32, help="evaluation episodes per population")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        parser.error(f"--variants must name some of {sorted(VARIANTS)}, got {args.variants!r}")

    from dilemmazoo.agents.trainers.ippo import TRAIN_PRESETS, IPPOConfig, evaluate, policy_chooser, train_ippo
    from dilemmazoo.envs.gridworld.core import actions_for

    figures: dict[str, float] = {}
    populations = {}
    config = None
    for variant in variants:
        settings = dict(TRAIN_PRESETS[VARIANTS[variant]], seed=args.seed, device="cpu")
        if args.iterations is not None:
            settings["iterations"] = args.iterations
        config = IPPOConfig(**settings)
        start = time.perf_counter()
        result = train_ippo(config)
        seconds = time.perf_counter() - start
        print(f"{variant}: {config.iterations} iterations of {config.batch_size} x {config.steps} steps in "
              f"{seconds:.1f} s; training return per agent {result.metrics[0]['return']:.2f} (first iteration) -> "
              f"{result.metrics[-1]['return']:.2f} (last)", flush=True)
        figures[f"{variant}_training_s"] = seconds
        figures[f"{variant}_iterations"] = config.iterations
        figures[f"{variant}_agent_steps_per_s"] = (config.iterations * config.batch_size * config.steps
                                                   * config.n_agents / seconds)
        figures[f"{variant}_train_return_first"] = result.metrics[0]["return"]
        figures[f"{variant}_train_return_last"] = result.metrics[-1]["return"]
        populations[variant] = policy_chooser(result.policies)
        populations[f"{variant}_greedy"] = policy_chooser(result.policies, greedy=True)

    n_actions = len(actions_for(config.world))
    populations["random"] = lambda obs, rng: rng.integers(0, n_actions, obs.shape[:2])
    populations["bfs"] = bfs_chooser(config.world, config.n_agents)
    seeds = [10_000 + k for k in range(args.episodes)]  # training seeds come from (seed, iteration) instead
    common = dict(seeds=seeds, n_agents=config.n_agents, rules=config.rules, grid_map=config.grid_map,
                  steps=config.steps)
    outcomes = {name: evaluate(config.world, choose, **common) for name, choose in populations.items()}

    columns = ("return", "apples", "fired", "efficiency")
    print(f"\n{config.world} ({config.grid_map} map, {config.rules} rules), {config.n_agents} agents, "
          f"{args.episodes} held-out episodes of {config.steps} steps; figures per agent per episode")
    print(f"{'population':<20}" + "".join(f"{c:>12}" for c in columns))
    print("-" * (20 + 12 * len(columns)))
    for name, values in outcomes.items():
        print(f"{name:<20}" + "".join(f"{values[c]:>12.3f}" for c in columns))
    print()
    for variant in variants:
        learned = outcomes[variant]["return"] > outcomes["random"]["return"]
        figures[f"{variant}_learned"] = int(learned)
        print(f"{variant}: return {'above' if learned else 'NOT above'} random "
              f"({outcomes[variant]['return']:.2f} vs {outcomes['random']['return']:.2f}; "
              f"BFS {outcomes['bfs']['return']:.2f})")

    if args.json:
        for name, values in outcomes.items():
            for column in columns:
                figures[f"{name}_{column}"] = values[column]
        print(json.dumps({k: round(float(v), 3) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
