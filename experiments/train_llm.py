"""Train language agents with LoRA: ``dilemmazoo train CONFIG|PRESET``.

    dilemmazoo train ipd_advantage_alignment [--set KEY=VALUE ...] [--out DIR] [--resume] [--device auto]
    dilemmazoo train my_training.yaml --set trainer.iterations=5 --set trainer.lr=1e-4
    dilemmazoo train evaluate RUN_DIR [--opponents always_defect,greedy] [--matches 16] [--adapters A,B]

Presets (``experiments/configs/training/*.yaml``; values from arXiv 2511.19405, see
``agents/trainers/llm_trainer.py``): ``ipd_naive``, ``ipd_advantage_alignment``,
``trust_split_naive``, ``trust_split_advantage_alignment``; and ``ipd_grpo``, the single-agent
GRPO baseline on TRL (``agents/trainers/grpo.py``).

A training file is validated by :class:`TrainingConfig`::

    name: ipd_advantage_alignment
    description: ...
    algorithm: policy_gradient   # or grpo
    trainer: {...}        # the fields of LLMTrainerConfig, or of GRPOBaselineConfig for grpo
                          # (unknown keys are errors)
    evaluation:
      opponents: [always_defect, always_cooperate, greedy]
      matches: 16
      seed: 12345

``--set trainer.lr=1e-4`` (dotted path, the value read as YAML) overrides any field. The run
folder is ``DIR/<name>`` (``DIR`` = ``runs/training``); it gets ``config.yaml`` (the resolved
config), ``metrics.jsonl``, ``checkpoints/iter_NNNNNN/`` (peft adapters), after training
``evaluation.json`` (the final adapter against each fixed opponent), and then ``plots/*.png`` and
``report.html`` (:mod:`dilemmazoo.analysis.training`; also written when training is interrupted,
from the iterations done). ``evaluate``
with ``--adapters A,B,...`` plays a round-robin: each checkpoint against each fixed opponent and
against each checkpoint (``adapter:PATH`` opponents). ``--resume``
continues from the newest checkpoint; without it an existing run folder is an error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dilemmazoo.agents.trainers.settings import Count, Seed, TrainerConfigError, describe_errors

__all__ = ["EvaluationConfig", "TRAINING_PRESETS", "TrainingConfig", "load_training_config", "main_train_llm",
           "report_training_run"]

logger = logging.getLogger(__name__)

PRESET_DIR = Path(__file__).resolve().parent / "configs" / "training"
TRAINING_PRESETS = ("ipd_naive", "ipd_advantage_alignment", "trust_split_naive", "trust_split_advantage_alignment",
                    "ipd_grpo", "atp_grpo_compliance", "atp_grpo_payoff")
ALGORITHMS = ("policy_gradient", "grpo")


class EvaluationConfig(BaseModel):
    """Round-robin after training: the adapter against each opponent (scripted names, ``self``, ``adapter:PATH``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    opponents: list[str] = Field(default_factory=list)
    matches: Count = 16
    seed: Seed = 12345


class TrainingConfig(BaseModel):
    """A training file: a name, the trainer's hyper-parameters and the final evaluation."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str
    description: str = ""
    algorithm: Literal["policy_gradient", "grpo"] = "policy_gradient"
    trainer: dict[str, Any] = Field(default_factory=dict)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or any(c in value for c in "/\\ ") or value.startswith("."):
            raise ValueError(f"name must be a plain folder name (no slashes or spaces); got {value!r}")
        return value

    @model_validator(mode="after")
    def _trainer_fields(self) -> TrainingConfig:
        trainer_config(self.trainer, self.algorithm)  # raises a ValueError naming the bad field
        return self


def trainer_config(fields: dict[str, Any], algorithm: str = "policy_gradient"):
    """The trainer's typed config (:class:`LLMTrainerConfig`, or ``GRPOBaselineConfig`` for ``grpo``)
    from the ``trainer:`` mapping of a training file, each field checked and converted to its
    declared type by pydantic (so ``--set trainer.lr=1e-3``, which YAML reads as a string, is a
    float). Unknown fields and bad values raise a
    :class:`~dilemmazoo.agents.trainers.settings.TrainerConfigError` (a ``ValueError``) naming each
    as ``trainer.<field>``."""
    if algorithm == "grpo":
        from dilemmazoo.agents.trainers.grpo import GRPOBaselineConfig as config_class
    else:
        from dilemmazoo.agents.trainers.llm_trainer import LLMTrainerConfig as config_class
    return config_class.from_dict(fields, "trainer.")


def load_training_config(source: str, overrides: list[str] = ()) -> TrainingConfig:
    """A preset name or a YAML path, with ``KEY=VALUE`` overrides (dotted keys, YAML values)."""
    path = Path(source)
    if not path.suffix and source in TRAINING_PRESETS:
        path = PRESET_DIR / f"{source}.yaml"
    elif not path.exists():
        raise ValueError(f"no training config {source!r}: give a YAML file or one of the presets "
                         f"{list(TRAINING_PRESETS)}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping, got {type(data).__name__}")
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes KEY=VALUE (e.g. trainer.lr=1e-4); got {override!r}")
        target = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"--set {key}: {part!r} is not a section")
        target[parts[-1]] = yaml.safe_load(raw)
    trainer, algorithm = data.get("trainer", {}), data.get("algorithm", "policy_gradient")
    try:
        if isinstance(trainer, dict) and algorithm in ALGORITHMS:  # its fields, named trainer.<field>
            trainer_config(trainer, algorithm)
        return TrainingConfig(**data)
    except TrainerConfigError as error:
        raise TrainerConfigError(f"invalid training config {source!r}: {error}", error.validation) from None
    except ValidationError as error:
        raise TrainerConfigError(f"invalid training config {source!r}: {describe_errors(error, TrainingConfig)}",
                                 error) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dilemmazoo train",
        description="Train language agents with LoRA (the policy_gradient and grpo trainers) from a training preset "
                    "or YAML file. Every trainer: dilemmazoo train --help.")
    parser.add_argument("config", help=f"a training YAML file or a preset: {', '.join(TRAINING_PRESETS)}")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field, e.g. trainer.iterations=5 (repeatable)")
    parser.add_argument("--out", default="runs/training", help="parent folder of the run folder")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    parser.add_argument("--device", help="auto (cuda if present), cpu, cuda, ...; overrides trainer.device")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (stderr)")
    return parser


def _evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dilemmazoo train evaluate",
                                     description="round-robin of trained adapters against fixed opponents")
    parser.add_argument("run", help="a run folder written by 'dilemmazoo train'")
    parser.add_argument("--opponents", help="comma-separated (default: the config's evaluation opponents)")
    parser.add_argument("--adapters", help="comma-separated checkpoint folders (default: the newest checkpoint); "
                        "with several, each also plays each of them")
    parser.add_argument("--matches", type=int, help="matches per pair")
    parser.add_argument("--device", help="auto, cpu, cuda, ...")
    return parser


def _print_rows(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    header = "  ".join(f"{k:>22}" for k in keys)
    print(header)
    for row in rows:
        cells = []
        for k in keys:
            value = row.get(k)
            if isinstance(value, float):
                cells.append(f"{value:>22.3f}")
            else:
                text = str(value)
                if "/" in text:  # a checkpoint folder: its name says which
                    text = ("adapter:" if text.startswith("adapter:") else "") + Path(text.split(":", 1)[-1]).name
                cells.append(f"{text[-22:]:>22}")
        print("  ".join(cells))


_EVAL_KEYS = ("adapter", "opponent", "return_per_round", "other_return_per_round", "cooperation_rate",
              "split_efficiency")
_TRAIN_KEYS = ("iteration", "return_per_round", "other_return_per_round", "cooperation_rate", "split_efficiency",
               "loss", "kl", "seconds")


def _run_evaluation(trainer, config: TrainingConfig, run_dir: Path, opponents: list[str], matches: int,
                    adapters: list[str]) -> list[dict[str, Any]]:
    rows = trainer.evaluate(opponents, matches=matches, seed=config.evaluation.seed, adapters=adapters)
    (run_dir / "evaluation.json").write_text(json.dumps(rows, indent=2, default=str))
    _print_rows(rows, _EVAL_KEYS)
    return rows


def _evaluate_grpo_run(run_dir: Path, config: TrainingConfig, args: argparse.Namespace) -> int:
    """``train evaluate`` for a GRPO run: its final adapter against each fixed opponent."""
    from dilemmazoo.agents.trainers.grpo import evaluate_grpo

    if args.adapters:
        raise ValueError("--adapters (a round-robin of checkpoints) is for LoRA policy-gradient runs; "
                         "a GRPO run is evaluated with its final adapter")
    opponents = args.opponents.split(",") if args.opponents else list(config.evaluation.opponents)
    if not opponents:
        raise ValueError("no opponents: give --opponents or evaluation.opponents in the config")
    fields = dict(config.trainer, **({"device": args.device} if args.device else {}))
    rows = evaluate_grpo(run_dir, opponents, args.matches or config.evaluation.matches, config.evaluation.seed,
                         config=trainer_config(fields, "grpo"))
    (run_dir / "evaluation.json").write_text(json.dumps(rows, indent=2, default=str))
    _print_rows(rows, _EVAL_KEYS)
    return 0


def main_evaluate(argv: list[str]) -> int:
    """``dilemmazoo train evaluate RUN_DIR ...``."""
    from dilemmazoo.agents.trainers.llm_trainer import LLMTrainer, latest_checkpoint

    args = _evaluate_parser().parse_args(argv)
    run_dir = Path(args.run)
    try:
        config = load_training_config(str(run_dir / "config.yaml"))
        if config.algorithm == "grpo":
            return _evaluate_grpo_run(run_dir, config, args)
        fields = dict(config.trainer)
        if args.device:
            fields["device"] = args.device
        opponents = args.opponents.split(",") if args.opponents else list(config.evaluation.opponents)
        if not opponents:
            raise ValueError("no opponents: give --opponents or evaluation.opponents in the config")
        adapters = args.adapters.split(",") if args.adapters else []
        if not adapters:
            latest = latest_checkpoint(run_dir)
            if latest is None:
                raise ValueError(f"{run_dir} has no checkpoint to evaluate")
            adapters = [str(latest)]
        if len(adapters) > 1:  # a round-robin: the adapters also meet each other
            opponents += [f"adapter:{path}" for path in adapters]
        trainer = LLMTrainer(trainer_config(fields))
    except (ValueError, ImportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _run_evaluation(trainer, config, run_dir, opponents, args.matches or config.evaluation.matches, adapters)
    return 0


def report_training_run(run_dir: Path) -> None:
    """Plots and ``report.html`` from the run's files; a failure here never costs the trained run."""
    from dilemmazoo.analysis.training import write_training_plots, write_training_report

    try:
        write_training_plots(run_dir)
        print(f"report: {write_training_report(run_dir)}", file=sys.stderr, flush=True)
    except (OSError, ValueError) as error:
        logger.warning("no report written (%s); the metrics and checkpoints are kept", error)


def main_train_llm(argv: list[str] | None = None) -> int:
    """``dilemmazoo train CONFIG|PRESET ...`` and ``dilemmazoo train evaluate ...``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["evaluate"]:
        return main_evaluate(argv[1:])
    args = _parser().parse_args(argv)
    try:
        config = load_training_config(args.config, args.overrides)
        fields = dict(config.trainer)
        if args.device:
            fields["device"] = args.device
        trainer_fields = trainer_config(fields, config.algorithm)
        config = config.model_copy(update={"trainer": fields})
        run_dir = Path(args.out) / config.name
        if run_dir.exists() and any(run_dir.iterdir()) and not args.resume:
            raise ValueError(f"{run_dir} exists: add --resume to continue it, or choose another --out")
        trainer = None
        if config.algorithm == "policy_gradient":
            from dilemmazoo.agents.trainers.llm_trainer import LLMTrainer

            trainer = LLMTrainer(trainer_fields)
    except (ValueError, ImportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
    print(run_dir, flush=True)
    try:
        if trainer is None:
            from dilemmazoo.agents.trainers.grpo import train_grpo

            logger.info("training %s (GRPO, TRL): %d steps on %s", config.name, trainer_fields.iterations,
                        trainer_fields.world)
            history = train_grpo(trainer_fields, run_dir, resume=args.resume, progress=not args.quiet)
        else:
            logger.info("training %s: %d iterations of %d x %d matches of %s on %s", config.name,
                        trainer_fields.iterations, trainer_fields.groups, trainer_fields.group_size,
                        trainer_fields.world, trainer.device)
            history = trainer.train(run_dir, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        report_training_run(run_dir)
        print("interrupted: the last checkpoint is kept; run the same command with --resume to continue.",
              file=sys.stderr)
        return 130
    if history:
        shown = history if len(history) <= 6 else history[:3] + history[-3:]
        _print_rows(shown, _TRAIN_KEYS)
    if trainer is not None and config.evaluation.opponents:
        _run_evaluation(trainer, config, run_dir, list(config.evaluation.opponents), config.evaluation.matches, [])
    elif config.evaluation.opponents:  # GRPO: the saved adapter on a fresh copy of the base model
        from dilemmazoo.agents.trainers.grpo import evaluate_grpo

        rows = evaluate_grpo(run_dir, list(config.evaluation.opponents), config.evaluation.matches,
                             config.evaluation.seed)
        (run_dir / "evaluation.json").write_text(json.dumps(rows, indent=2, default=str))
        _print_rows(rows, _EVAL_KEYS)
    report_training_run(run_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main_train_llm())
