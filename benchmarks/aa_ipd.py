"""Advantage Alignment vs naive PPO on the iterated prisoner's dilemma, small nets on CPU.

    python benchmarks/aa_ipd.py            # readable table
    python benchmarks/aa_ipd.py --json     # ... and one JSON object of the figures, last line
    python benchmarks/aa_ipd.py --seeds 10 --iterations 300
    python benchmarks/aa_ipd.py --profile  # ... and where the time goes (cProfile, to stderr)

Self-play PPO of two memory-one MLP policies (``dilemmazoo.agents.trainers.small_net.train_ipd``,
10 rounds, R=3 S=0 T=5 P=1, 32 groups of 8 games per iteration) with three credits: ``naive``
(own group-relative advantage), ``sum_rewards`` (own + co-player's) and ``aa`` (Advantage
Alignment, beta 2.0, gamma_AA 0.9, original ``k < t`` form). Expected (Duque et al., ICLR 2025):
naive drifts to mutual defection; AA finds reciprocity, a tit-for-tat-like policy; sum-of-rewards
cooperates unconditionally (it does not punish a defection).

Figures per method, averaged over seeds (the last iteration's games and policies):
- return_per_round: mean reward per round and seat (3 = mutual cooperation, 1 = mutual defection);
- cooperation_rate: share of C moves played;
- p_c_given_opp_c / p_c_given_opp_d: P(C | the opponent's last move), counted over the games played
  (NaN-skipping mean over seeds; ``n/a`` when the condition never occurred);
- p_c_after_CC .. DD: P(C) of the policies in each memory-one state (own move first), seats averaged;
- return_vs_always_defect: reward per round of each trained policy (both seats) against
  always-defect, no learning (tit-for-tat 0.9, an unconditional cooperator 0);
- tit_for_tat_seeds: seeds where both policies have P(C) > 0.9 first and after CC, < 0.1 after
  CD and DD;
- wall_s: training time of all seeds of the method.
The JSON also holds ``peak_rss_mb``: peak resident memory of the process (and its children), MiB.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from dilemmazoo.agents.trainers.small_net import evaluate_against, reciprocity, train_ipd
from harness import add_common_args, peak_rss_mb, profiled

METHODS = ("naive", "sum_rewards", "aa")
COLUMNS = ("return_per_round", "cooperation_rate", "p_c_given_opp_c", "p_c_given_opp_d", "p_c_after_CC",
           "p_c_after_CD", "p_c_after_DC", "p_c_after_DD", "return_vs_always_defect", "tit_for_tat_seeds", "wall_s")
HEADERS = ("return/round", "coop", "P(C|C)", "P(C|D)", "P(C|CC)", "P(C|CD)", "P(C|DC)", "P(C|DD)", "vs AllD", "TFT",
           "wall s")


def is_tit_for_tat(table: dict[str, float]) -> bool:
    return (table["p_c_first"] > 0.9 and table["p_c_after_CC"] > 0.9 and table["p_c_after_CD"] < 0.1
            and table["p_c_after_DD"] < 0.1)


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def bench_method(method: str, seeds: int, iterations: int) -> dict[str, float]:
    rows, tft, versus_defector = [], 0, []
    wall = 0.0
    for seed in range(seeds):
        result = train_ipd(method, iterations=iterations, seed=seed)
        wall += result.wall_s
        rows.append(result.final)
        tft += all(is_tit_for_tat(reciprocity(p)) for p in result.policies)
        versus_defector += [evaluate_against(p, "always_defect", seed=seed)["return_per_round"] for p in result.policies]
    figures = {
        "return_per_round": _nanmean([r["mean_return_per_round"] for r in rows]),
        "cooperation_rate": _nanmean([r["cooperation_rate"] for r in rows]),
    }
    for key in COLUMNS[2:8]:
        figures[key] = _nanmean([r[key] for r in rows])
    figures["return_vs_always_defect"] = float(np.mean(versus_defector))
    figures["tit_for_tat_seeds"] = tft
    figures["wall_s"] = wall
    return figures


def _cell(key: str, value: float, seeds: int) -> str:
    if key == "tit_for_tat_seeds":
        return f"{int(value)}/{seeds}"
    if math.isnan(value):
        return "n/a"
    return f"{value:.1f}" if key == "wall_s" else f"{value:.2f}"


def bench_methods(methods: list[str], seeds: int, iterations: int) -> dict[str, dict[str, float]]:
    """:func:`bench_method` for each of ``methods``, by name."""
    return {method: bench_method(method, seeds, iterations) for method in methods}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--seeds", type=int, default=5, help="training seeds per method (default 5)")
    parser.add_argument("--iterations", type=int, default=200, help="PPO iterations per run (default 200)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = parser.parse_args()

    results = profiled(args, bench_methods, args.methods, args.seeds, args.iterations)

    print(f"IPD self-play, {args.iterations} iterations x 256 games x 10 rounds, {args.seeds} seeds per method")
    widths = [max(len(h), 7) for h in HEADERS]
    print(f"{'method':<12} " + " ".join(f"{h:>{w}}" for h, w in zip(HEADERS, widths)))
    print(f"{'-' * 12} " + " ".join("-" * w for w in widths))
    for method, figures in results.items():
        cells = [_cell(key, figures[key], args.seeds) for key in COLUMNS]
        print(f"{method:<12} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    if args.json:
        flat: dict[str, float | int | None] = {"iterations": args.iterations, "seeds": args.seeds}
        for method, figures in results.items():
            for key, value in figures.items():
                flat[f"{method}_{key}"] = None if isinstance(value, float) and math.isnan(value) else round(value, 4)
        flat["peak_rss_mb"] = round(peak_rss_mb(), 3)
        print(json.dumps(flat))


if __name__ == "__main__":
    main()
