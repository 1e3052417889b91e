"""Train agents: ``dilemmazoo train``, the entry of every trainer, and ``dilemmazoo train ippo``.

``dilemmazoo train --help`` lists every trainer with its presets (:func:`train_overview`):
LoRA policy gradient and the GRPO baseline for language agents
(:mod:`dilemmazoo.experiments.train_llm`), IPPO for neural agents on the grid worlds (here).

    dilemmazoo train ippo [--preset smoke|gathering_small|gathering_small_shared|gathering_small_aa|cleanup_small|
                                    cleanup_small_aa|gathering|cleanup]
                          [--world cleanup|gathering] [--rules ssd|meltingpot|vicgalle] [--agents N]
                          [--map small|standard|NAME] [--iterations K] [--batch-size B] [--steps T]
                          [--device auto|cpu|cuda] [--seed S] [--out DIR] [--resume] [--share-params]
                          [--arch cnn|mlp] [--observation symbolic|rgb] [--lr LR] [--checkpoint-every K]
                          [--credit naive|sum_rewards|aa] [--aa-beta BETA] [--quiet]

Independent PPO (:mod:`dilemmazoo.agents.trainers.ippo`) on the vectorized grid worlds: ``B``
environments of ``T``-step episodes per iteration, one policy per agent (or one shared policy
with ``--share-params``). ``--credit`` picks the advantage each policy learns from: ``naive`` (its
own, plain IPPO; the default), ``sum_rewards`` (its own plus the co-players') or ``aa`` (N-player
Advantage Alignment, Duque et al. ICLR 2025, weighted by ``--aa-beta``, default 0.5); see
:mod:`dilemmazoo.agents.trainers.ippo`, *Credit*. A preset fills in the settings; options given on the command line
win over it; anything left unset takes :class:`~dilemmazoo.agents.trainers.ippo.IPPOConfig`'s
default. ``--device auto`` trains on a CUDA GPU when torch sees one.

The run folder is ``DIR/ippo_<world>_<map>_<rules>_n<N>[_<credit>]_s<seed>_<hash>`` (``DIR`` = ``runs/train``;
``_<credit>`` unless the credit is ``naive``); its name
depends only on the settings that change what is learned, so the same command with ``--resume``
continues an interrupted run (and a larger ``--iterations`` extends a finished one). The folder
gets ``checkpoint.pt``, ``config.json``, ``metrics.csv``, ``learning_curve.png``, ``plots/*.png`` and
``report.html`` (:mod:`dilemmazoo.analysis.training`); the command
prints the folder (first line of stdout) and a table of the first and last iterations.
Play the result with ``strategy: "neural:<folder>"`` in an experiment config.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import Any

from dilemmazoo.experiments.train_llm import report_training_run

__all__ = ["TRAINERS", "build_train_parser", "config_from_args", "main_train", "plot_learning_curve",
           "train_overview"]

logger = logging.getLogger(__name__)

#: every trainer ``dilemmazoo train`` runs, in the words of its help
TRAINERS = {
    "policy_gradient": "language agents, LoRA adapters trained by REINFORCE-style policy gradient in self-play or "
                       "against fixed opponents, with naive or Advantage Alignment credit (arXiv 2511.19405)",
    "grpo": "language agents, the single-agent GRPO baseline on TRL: a LoRA adapter against a fixed opponent, one "
            "whole match per completion",
    "ippo": "neural agents on the Cleanup and Gathering grid worlds, independent PPO with naive, sum_rewards or "
            "Advantage Alignment (aa) credit",
}

# command-line option -> IPPOConfig field
_OPTION_FIELDS = {
    "world": "world", "rules": "rules", "agents": "n_agents", "map": "grid_map", "iterations": "iterations",
    "batch_size": "batch_size", "steps": "steps", "device": "device", "seed": "seed", "share_params": "share_params",
    "arch": "architecture", "observation": "observation", "lr": "lr", "checkpoint_every": "checkpoint_every",
    "credit": "credit", "aa_beta": "aa_beta",
}
_TABLE_KEYS = ("return", "return_min", "apples", "fired", "cleaned", "efficiency", "equality", "sustainability",
               "peace", "entropy", "credit_term_abs", "agent_steps_per_s")


def build_train_parser() -> argparse.ArgumentParser:
    from dilemmazoo.agents.trainers.ippo import TRAIN_PRESETS

    parser = argparse.ArgumentParser(
        prog="dilemmazoo train ippo",
        description=f"Train {TRAINERS['ippo']}. The other trainers: dilemmazoo train --help.")
    parser.add_argument("algorithm", choices=["ippo"], help="the training algorithm")
    parser.add_argument("--preset", choices=sorted(TRAIN_PRESETS), help="a named set of settings")
    parser.add_argument("--world", choices=["cleanup", "gathering"])
    parser.add_argument("--rules", choices=["ssd", "meltingpot", "vicgalle"])
    parser.add_argument("--agents", type=int, help="agents per environment")
    parser.add_argument("--map", help="small, standard or a map name (small_cleanup, harvest, ...)")
    parser.add_argument("--iterations", type=int, help="training iterations (one episode per environment each)")
    parser.add_argument("--batch-size", type=int, help="environments stepped together")
    parser.add_argument("--steps", type=int, help="steps per episode")
    parser.add_argument("--device", help="auto (cuda if available, else cpu), cpu or cuda")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--share-params", action="store_const", const=True, default=None,
                        help="one network for all agents, with the agent's one-hot id as an input")
    parser.add_argument("--arch", choices=["cnn", "mlp"], help="network architecture")
    parser.add_argument("--observation", choices=["symbolic", "rgb"], help="network input")
    parser.add_argument("--lr", type=float, help="Adam learning rate")
    parser.add_argument("--checkpoint-every", type=int, help="iterations between checkpoints")
    parser.add_argument("--credit", choices=["naive", "sum_rewards", "aa"],
                        help="advantage of each policy: its own (naive, default), plus the co-players' "
                             "(sum_rewards), or N-player Advantage Alignment (aa)")
    parser.add_argument("--aa-beta", type=float, help="weight of the Advantage Alignment term (default 0.5)")
    parser.add_argument("--out", default="runs/train", help="root folder for run folders (default: runs/train)")
    parser.add_argument("--resume", action="store_true", help="continue the run folder's checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def train_overview() -> str:
    """The text of ``dilemmazoo train --help``: every trainer, its presets, and where its options are."""
    import textwrap

    from dilemmazoo.agents.trainers.ippo import TRAIN_PRESETS
    from dilemmazoo.experiments.train_llm import TRAINING_PRESETS, load_training_config

    by_algorithm: dict[str, list[str]] = {"policy_gradient": [], "grpo": []}
    for name in TRAINING_PRESETS:
        by_algorithm[load_training_config(name).algorithm].append(name)
    by_algorithm["ippo"] = sorted(TRAIN_PRESETS)
    runs = {
        "policy_gradient": "dilemmazoo train PRESET|CONFIG.yaml [--set KEY=VALUE] [--resume] [--device D]",
        "grpo": "dilemmazoo train PRESET|CONFIG.yaml (a file with algorithm: grpo)",
        "ippo": "dilemmazoo train ippo [--preset NAME] [--world cleanup|gathering] [--iterations K] ...",
    }
    lines = [
        "usage: dilemmazoo train PRESET|CONFIG.yaml [options]    (language agents: policy_gradient, grpo)",
        "       dilemmazoo train ippo [options]                  (neural agents on grid worlds)",
        "       dilemmazoo train evaluate RUN_DIR [options]      (trained adapters against fixed opponents)",
        "",
        "Train agents. The trainers, their presets and how to run them ('dilemmazoo train NAME --help' lists a",
        "command's options; 'dilemmazoo list training' shows each preset's description whole):",
    ]
    for algorithm, summary in TRAINERS.items():
        lines += ["", f"  {algorithm}"]
        lines += textwrap.wrap(summary, 96, initial_indent="      ", subsequent_indent="      ")
        lines += textwrap.wrap(f"presets: {', '.join(by_algorithm[algorithm])}", 96, initial_indent="      ",
                               subsequent_indent="               ")
        lines.append(f"      run: {runs[algorithm]}")
    lines += ["", "  evaluate", "      round robin of a run's adapters against fixed opponents and each other",
              "      run: dilemmazoo train evaluate RUN_DIR [--opponents A,B] [--adapters A,B] [--matches N]"]
    return "\n".join(lines) + "\n"


def config_from_args(args: argparse.Namespace):
    """The :class:`IPPOConfig` of parsed arguments: preset, then the options given."""
    from dilemmazoo.agents.trainers.ippo import TRAIN_PRESETS, IPPOConfig

    values: dict[str, Any] = dict(TRAIN_PRESETS[args.preset]) if args.preset else {}
    for option, name in _OPTION_FIELDS.items():
        given = getattr(args, option)
        if given is not None:
            values[name] = given
    return IPPOConfig(**values)


def plot_learning_curve(metrics: list[dict[str, float]], path: str | Path, title: str = "") -> Path:
    """Mean episode return and apples per agent against the iteration, as a PNG."""
    from matplotlib import pyplot as plt

    from dilemmazoo.analysis.plots import _new_figure

    iterations = [m["iteration"] + 1 for m in metrics]
    figure = _new_figure(8, 3.2)
    left, right = figure.subplots(1, 2)
    left.plot(iterations, [m["return"] for m in metrics], label="mean")
    left.fill_between(iterations, [m["return_min"] for m in metrics], [m["return_max"] for m in metrics],
                      alpha=0.2, label="min-max over agents")
    left.set(xlabel="iteration", ylabel="episode return per agent", title="return")
    left.legend(loc="lower right", fontsize="small")
    right.plot(iterations, [m["apples"] for m in metrics], label="apples")
    right.plot(iterations, [m["fired"] for m in metrics], label="fired")
    if any(m["cleaned"] for m in metrics):
        right.plot(iterations, [m["cleaned"] for m in metrics], label="cleaned")
    right.set(xlabel="iteration", ylabel="per agent per episode", title="behaviour")
    right.legend(loc="upper right", fontsize="small")
    if title:
        figure.suptitle(title)
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)  # saved: a training script must not pile up open pyplot figures
    return path


def _format(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}"


def _print_table(metrics: list[dict[str, float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    first, last = metrics[0], metrics[-1]
    table = Table(title=f"IPPO: iteration {first['iteration'] + 1} vs {last['iteration'] + 1}", title_justify="left")
    table.add_column("metric")
    table.add_column("first", justify="right")
    table.add_column("last", justify="right")
    for key in _TABLE_KEYS:
        # rows resumed from a checkpoint of an older version may lack a newer key
        table.add_row(key, _format(first.get(key, math.nan)), _format(last.get(key, math.nan)))
    Console().print(table)


def main_train(argv: list[str] | None = None) -> int:
    """``dilemmazoo train ippo ...`` here; ``dilemmazoo train CONFIG|PRESET`` (language agents with
    LoRA) in :mod:`dilemmazoo.experiments.train_llm`. Returns the exit status."""
    if not argv or argv[0] in ("-h", "--help"):
        print(train_overview(), end="", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] != "ippo":
        from dilemmazoo.experiments.train_llm import main_train_llm

        return main_train_llm(argv)
    args = build_train_parser().parse_args(argv)
    try:
        from dilemmazoo.agents.backends.hf import resolve_device
        from dilemmazoo.agents.trainers.ippo import train_ippo

        config = config_from_args(args)
        device = str(resolve_device(config.device, mps=False))
    except (ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_dir = Path(args.out) / config.run_name()
    print(run_dir, flush=True)
    credit = "" if config.credit == "naive" else (
        f", credit {config.credit}" + (f" (beta {config.aa_beta})" if config.credit == "aa" else ""))
    logger.info("training %s (%s map, %s rules), %d agents, %d iterations of %d x %d steps on %s%s", config.world,
                config.grid_map, config.rules, config.n_agents, config.iterations, config.batch_size, config.steps,
                device, credit)
    try:
        result = train_ippo(config, run_dir, resume=args.resume, progress=not args.quiet)
    except (FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if (run_dir / "metrics.csv").exists():
            report_training_run(run_dir)
        print("interrupted: the last checkpoint is kept; run the same command with --resume to continue.",
              file=sys.stderr)
        return 130
    if result.metrics:
        plot_learning_curve(result.metrics, run_dir / "learning_curve.png",
                            title=f"IPPO {config.world}, {config.n_agents} agents, seed {config.seed}")
        _print_table(result.metrics)
        report_training_run(run_dir)
    print(f"checkpoint: {run_dir / 'checkpoint.pt'} (play it with strategy 'neural:{run_dir}'); "
          f"{len(result.metrics)} iterations, seed {config.seed}", file=sys.stderr)
    return 0
