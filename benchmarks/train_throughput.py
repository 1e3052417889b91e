"""LoRA training throughput of the LLM trainer (agents/trainers/llm_trainer.py) on the embedded model.

    python benchmarks/train_throughput.py                 # readable table (IPD, CPU or GPU)
    python benchmarks/train_throughput.py --json          # ... and one JSON object of the figures, last line
    python benchmarks/train_throughput.py --trust-split   # also Trust-and-Split (generated messages; slow on CPU)
    python benchmarks/train_throughput.py --grpo          # also the TRL GRPO baseline (agents/trainers/grpo.py)
    python benchmarks/train_throughput.py --profile       # ... and where the time goes (cProfile, to stderr)

Figures (per world, after one warm-up iteration that is not counted):
- matches_per_iteration: ``groups x group_size`` matches played per iteration;
- iteration_s, rollout_s, update_s: seconds per iteration, split into rollouts (sampling all
  decisions) and the update (policy forward + backward over all action tokens, one Adam step);
- tokens_per_s: tokens of the trained sequences (each option's prompt + option, each message's
  prompt + completion, counted whole although a prefix shared by a batch runs once) per second of
  the whole iteration (rollouts and update); decisions_per_s and matches_per_s: the same per
  decision and per match.
The model loads once (``load_s``). float32 on CPU, bfloat16 on CUDA (``dtype=auto``).
``peak_rss_mb``: peak resident memory of the process (and its children), MiB.

With ``--grpo``, the GRPO baseline on the same IPD against always-defect: ``groups`` prompts x
``group_size`` generations (whole matches) per optimizer step, answers of at most 4 tokens after
the masked ``"Answer:"`` prefix; ``grpo_step_s`` and ``grpo_rollout_s`` (seconds per step, after one
warm-up step), ``grpo_matches_per_step``, ``grpo_matches_per_s``, ``grpo_decisions_per_s`` and
``grpo_answer_tokens_per_s`` (the learner's sampled tokens; TRL's forward also runs the masked
world text).
"""

from __future__ import annotations

import argparse
import os
import time
from harness import add_common_args, emit, profiled

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bench_world(base, world: str, world_kwargs: dict, args, **extra) -> dict[str, float]:
    from dilemmazoo.agents.trainers.llm_trainer import LLMTrainer, LLMTrainerConfig

    config = LLMTrainerConfig(world=world, world_kwargs=world_kwargs, groups=args.groups, group_size=args.group_size,
                              opponent="self", lora_r=args.lora_r, lora_alpha=2 * args.lora_r, lr=1e-5,
                              iterations=args.iterations + 1, past_opponent_prob=0.0, seed=0, **extra)
    trainer = LLMTrainer(config, base)
    trainer.iterate()  # warm-up: first-call costs (allocator, kernels)
    runs = [trainer.iterate() for _ in range(args.iterations)]
    seconds = sum(r["seconds"] for r in runs)
    return {
        "matches_per_iteration": float(runs[0]["matches"]),
        "iteration_s": seconds / len(runs),
        "rollout_s": sum(r["rollout_s"] for r in runs) / len(runs),
        "update_s": sum(r["update_s"] for r in runs) / len(runs),
        "tokens_per_s": sum(r["forward_tokens"] for r in runs) / seconds,
        "decisions_per_s": sum(r["decisions"] for r in runs) / seconds,
        "matches_per_s": sum(r["matches"] for r in runs) / seconds,
    }


def bench_grpo(base, args) -> dict[str, float]:
    import tempfile

    from dilemmazoo.agents.trainers.grpo import GRPOBaselineConfig, train_grpo

    config = GRPOBaselineConfig(world_kwargs={"n_rounds": args.rounds, "labels": ["A", "B"]}, opponent="always_defect",
                                device=args.device, iterations=args.iterations + 1, prompts_per_step=args.groups,
                                num_generations=args.group_size, max_new_tokens=4, answer_prefix="Answer:",
                                lora_r=args.lora_r, lora_alpha=2 * args.lora_r, checkpoint_every=10_000, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        runs = train_grpo(config, folder, base=base)[1:]  # the first step is the warm-up
    seconds = sum(r["seconds"] for r in runs)
    return {
        "grpo_matches_per_step": float(runs[0]["matches"]),
        "grpo_step_s": seconds / len(runs),
        "grpo_rollout_s": sum(r["rollout_s"] for r in runs) / len(runs),
        "grpo_matches_per_s": sum(r["matches"] for r in runs) / seconds,
        "grpo_decisions_per_s": sum(r["decisions"] for r in runs) / seconds,
        "grpo_answer_tokens_per_s": sum(r["completion_tokens"] * r["matches"] for r in runs) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--trust-split", action="store_true", help="also Trust-and-Split (messages are generated)")
    parser.add_argument("--grpo", action="store_true", help="also the TRL GRPO baseline on the IPD")
    parser.add_argument("--iterations", type=int, default=2, help="timed iterations per world")
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per match")
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=24, help="message length cap (Trust-and-Split)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    figures, device, threads = profiled(args, measure, args)
    print(f"device: {device} ({threads} threads), {args.groups} x {args.group_size} matches of "
          f"{args.rounds} rounds, LoRA r={args.lora_r}")
    emit(figures, args, digits=2)


def measure(args: argparse.Namespace) -> tuple[dict[str, float], object, int]:
    """Every figure of the table by the flags in ``args``, the model's device and torch's thread count."""
    import torch

    from dilemmazoo.agents.trainers.llm_model import load_base_model

    figures: dict[str, float] = {}
    start = time.perf_counter()
    base = load_base_model("embedded", device=args.device, dtype="auto")
    figures["load_s"] = time.perf_counter() - start
    device = next(base[0].parameters()).device
    for key, value in bench_world(base, "repeated-game", {"n_rounds": args.rounds, "labels": ["A", "B"]},
                                  args).items():
        figures[f"ipd_{key}"] = value
    if args.trust_split:
        # a fresh copy: the trainer injected LoRA layers into the first one
        base = load_base_model("embedded", device=args.device, dtype="auto")
        for key, value in bench_world(base, "trust-split", {"n_rounds": args.rounds}, args,
                                      credit_preset="trust_split", max_new_tokens=args.max_new_tokens,
                                      kl_coef=0.001).items():
            figures[f"trust_split_{key}"] = value
    if args.grpo:
        figures.update(bench_grpo(load_base_model("embedded", device=args.device, dtype="auto"), args))
    return figures, device, torch.get_num_threads()


if __name__ == "__main__":
    main()
