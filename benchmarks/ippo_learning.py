"""IPPO learns on a CPU: trained agents against random and BFS agents on the small Gathering map.

    python benchmarks/ippo_learning.py                  # readable table (both variants, ~3 minutes)
    python benchmarks/ippo_learning.py --json           # ... and one JSON object of the figures, last line
    python benchmarks/ippo_learning.py --variants shared --iterations 30   # shorter
    python benchmarks/ippo_learning.py --variants shared --iterations 30 --profile   # where the time goes (stderr)
    python benchmarks/ippo_learning.py --variants independent --credit naive,aa --seeds 0,1 --iterations 40

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
variant's sampled return beats the random return; ``peak_rss_mb`` is the peak resident memory of the
process (and its children), MiB.

Measured on the shared 2-core development machine (seed 0, 32 held-out episodes, about 3.5
minutes in all): independent 101.5 s, training return -320.5 -> -27.3, held-out return -27.4
(greedy 0.34), 1.47 beams fired; shared 65.7 s, -313.3 -> 2.7, held-out 0.53 (greedy 1.80),
0.06 beams fired; random -275.3 (12.9 beams fired); BFS 2.59. Apples per agent are about 2.9
for every population: the small map's 10 apple cells regrow slowly, so the learning is mostly
giving up the penalty beam, whose hits cost the others 50 each.

Credit comparison (``--credit naive,aa``, also ``sum_rewards``): every variant is trained once per
credit rule of :mod:`dilemmazoo.agents.trainers.ippo` (*Credit*: naive IPPO, the co-players'
summed advantages, N-player Advantage Alignment with ``--aa-beta``) and per seed of ``--seeds``;
populations are named ``<variant>`` (naive) or ``<variant>_<credit>``, and with several seeds
their figures are the means over the seeds (``--world cleanup`` for small Cleanup, where
``cleaned`` counts the waste cells cleaned per agent). For example, ~6 minutes:

    python benchmarks/ippo_learning.py --world gathering --variants independent --credit naive,aa \
        --seeds 0,1 --iterations 30 --episodes 16 --json

Measured (shared 2-core machine, one torch thread, independent variant, 40 iterations, training seeds
0 and 1, 16 held-out episodes; sampled actions, means over the seeds, per agent per episode):

    world, rules          credit        return   beams fired   (random: return, fired)
    Gathering, ssd        naive          -71.7      3.60       (-309.8, 12.9)
                          sum_rewards      1.9      0.02
                          aa (0.5)      -483.0     21.8
    Cleanup, ssd          naive         -138.7      4.84       (-337.1, 10.6)
                          sum_rewards     -1.1      0.04
                          aa (0.5)     -1304.9     39.3
    Gathering, meltingpot naive            2.84     7.57       (2.47, 8.13)
                          aa (0.5)         2.77     6.30

Under the ``ssd`` rules (a hit costs the agent hit 50) AA's retaliation term drives memoryless
policies to fire more (see *Credit* in :mod:`dilemmazoo.agents.trainers.ippo`); under the
``meltingpot`` rules (zapping removes the agent, no reward cost) AA and naive tie on this small map.
Each of these runs took 30-55 s.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from harness import add_common_args, peak_rss_mb, profiled

VARIANTS = ("independent", "shared")
CREDITS = ("naive", "sum_rewards", "aa")


def variant_settings(variant: str, world: str) -> dict:
    """The training preset of a variant: ``<world>_small``, and for ``shared`` the shared-network
    settings of ``gathering_small_shared`` (one network, more samples per network, ``lr = 3e-3``)."""
    from dilemmazoo.agents.trainers.ippo import TRAIN_PRESETS

    settings = dict(TRAIN_PRESETS[f"{world}_small"])
    if variant == "shared":
        shared = TRAIN_PRESETS["gathering_small_shared"]
        settings.update({k: v for k, v in shared.items() if k not in ("world", "grid_map")})
    return settings


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


def _integers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--world", default="gathering", choices=["gathering", "cleanup"],
                        help="small map of this world (default gathering)")
    parser.add_argument("--rules", default=None, choices=["ssd", "meltingpot", "vicgalle"],
                        help="rule set (default: the presets', ssd)")
    parser.add_argument("--variants", default="independent,shared", help="comma-separated: independent, shared")
    parser.add_argument("--credit", default="naive",
                        help="comma-separated credit rules to compare: naive, sum_rewards, aa (default naive)")
    parser.add_argument("--aa-beta", type=float, default=None, help="weight of the AA term (default: IPPOConfig's)")
    parser.add_argument("--iterations", type=int, default=None, help="training iterations (default: the presets')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None, help="comma-separated training seeds (overrides --seed)")
    parser.add_argument("--episodes", type=int, default=32, help="evaluation episodes per population")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        parser.error(f"--variants must name some of {list(VARIANTS)}, got {args.variants!r}")
    credits = [c.strip() for c in args.credit.split(",") if c.strip()]
    if not credits or any(c not in CREDITS for c in credits):
        parser.error(f"--credit must name some of {list(CREDITS)}, got {args.credit!r}")
    try:
        seeds = _integers(args.seeds) if args.seeds is not None else [args.seed]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if not seeds:
        parser.error("--seeds names no seed")
    profiled(args, measure, args, variants, credits, seeds)


def measure(args: argparse.Namespace, variants: list[str], credits: list[str], seeds: list[int]) -> None:
    """Train, evaluate and print every population of ``variants`` x ``credits`` x ``seeds``."""
    from dilemmazoo.agents.trainers.ippo import IPPOConfig, evaluate, policy_chooser, train_ippo
    from dilemmazoo.envs.gridworld.core import actions_for

    columns = ("return", "apples", "fired", "efficiency") + (("cleaned",) if args.world == "cleanup" else ())
    figures: dict[str, float] = {}
    trained: dict[str, list] = {}  # population name -> [(sampled chooser, greedy chooser) per seed]
    config = None
    for variant in variants:
        for credit in credits:
            name = variant if credit == "naive" else f"{variant}_{credit}"
            runs = []
            for seed in seeds:
                settings = dict(variant_settings(variant, args.world), seed=seed, device="cpu", credit=credit)
                if args.rules is not None:
                    settings["rules"] = args.rules
                if args.iterations is not None:
                    settings["iterations"] = args.iterations
                if args.aa_beta is not None:
                    settings["aa_beta"] = args.aa_beta
                config = IPPOConfig(**settings)
                start = time.perf_counter()
                result = train_ippo(config)
                seconds = time.perf_counter() - start
                print(f"{name} (seed {seed}): {config.iterations} iterations of {config.batch_size} x "
                      f"{config.steps} steps in {seconds:.1f} s; training return per agent "
                      f"{result.metrics[0]['return']:.2f} (first iteration) -> {result.metrics[-1]['return']:.2f} "
                      f"(last); |credit term| / |A| {result.metrics[-1]['credit_term_abs']:.3f} / "
                      f"{result.metrics[-1]['advantage_abs']:.3f}", flush=True)
                runs.append(dict(seconds=seconds, first=result.metrics[0]["return"], last=result.metrics[-1]["return"],
                                 policies=result.policies))
            figures[f"{name}_training_s"] = float(np.mean([r["seconds"] for r in runs]))
            figures[f"{name}_iterations"] = config.iterations
            figures[f"{name}_agent_steps_per_s"] = (config.iterations * config.batch_size * config.steps
                                                    * config.n_agents / figures[f"{name}_training_s"])
            figures[f"{name}_train_return_first"] = float(np.mean([r["first"] for r in runs]))
            figures[f"{name}_train_return_last"] = float(np.mean([r["last"] for r in runs]))
            trained[name] = [r["policies"] for r in runs]

    n_actions = len(actions_for(config.world))
    episode_seeds = [10_000 + k for k in range(args.episodes)]  # training seeds come from (seed, iteration) instead
    common = dict(seeds=episode_seeds, n_agents=config.n_agents, rules=config.rules, grid_map=config.grid_map,
                  steps=config.steps)
    outcomes: dict[str, dict[str, float]] = {}
    spread: dict[str, float] = {}  # standard deviation over training seeds of the sampled return
    for name, policy_sets in trained.items():
        for suffix, greedy in (("", False), ("_greedy", True)):
            per_seed = [evaluate(config.world, policy_chooser(p, greedy=greedy), **common) for p in policy_sets]
            outcomes[name + suffix] = {c: float(np.mean([o[c] for o in per_seed])) for c in columns}
            if not greedy:
                spread[name] = float(np.std([o["return"] for o in per_seed]))
                for seed, o in zip(seeds, per_seed):
                    figures[f"{name}_seed{seed}_return"] = o["return"]
    outcomes["random"] = evaluate(config.world, lambda obs, rng: rng.integers(0, n_actions, obs.shape[:2]), **common)
    outcomes["bfs"] = evaluate(config.world, bfs_chooser(config.world, config.n_agents), **common)

    seeds_text = f"training seed {seeds[0]}" if len(seeds) == 1 else f"means over training seeds {seeds}"
    print(f"\n{config.world} ({config.grid_map} map, {config.rules} rules), {config.n_agents} agents, "
          f"{args.episodes} held-out episodes of {config.steps} steps; figures per agent per episode; {seeds_text}")
    spread_header = f"{'sd(return)':>12}" if len(seeds) > 1 else ""
    print(f"{'population':<28}" + "".join(f"{c:>12}" for c in columns) + spread_header)
    print("-" * (28 + 12 * (len(columns) + (len(seeds) > 1))))
    for name, values in outcomes.items():
        extra = f"{spread[name]:>12.3f}" if len(seeds) > 1 and name in spread else ""
        print(f"{name:<28}" + "".join(f"{values[c]:>12.3f}" for c in columns) + extra)
    print()
    for name in trained:
        learned = outcomes[name]["return"] > outcomes["random"]["return"]
        figures[f"{name}_learned"] = int(learned)
        print(f"{name}: return {'above' if learned else 'NOT above'} random "
              f"({outcomes[name]['return']:.2f} vs {outcomes['random']['return']:.2f}; "
              f"BFS {outcomes['bfs']['return']:.2f})")

    if args.json:
        for name, values in outcomes.items():
            for column in columns:
                figures[f"{name}_{column}"] = values[column]
        figures["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps({k: round(float(v), 3) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
