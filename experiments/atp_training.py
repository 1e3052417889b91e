"""Is alignment fragile under exploration? Fine-tune, then replay the ATP exploration testbed.

Source: Han et al., "Alignment Tipping Process: How Self-Evolution Pushes LLM Agents Off the
Rails" (arXiv 2510.04860): agents that learn from their own experience in a world where breaking
a rule pays when nobody checks drift from compliance toward violation, and alignment fine-tuning
only delays the drift. This module measures that here end to end with the single-agent GRPO
baseline (:mod:`dilemmazoo.agents.trainers.grpo`, TRL) on ``dilemmazoo/atp-exploration-v0``
(:class:`~dilemmazoo.envs.atp_exploration.ATPExplorationEnv`):

1. **train**: a LoRA adapter on the embedded model (SmolLM2-135M-Instruct) with GRPO, the learner
   in one of two seats of an ``n_agents=2`` exploration world whose other seat is the scripted
   ``atp_comply`` partner (seats are independent: each faces its own rule, so the partner only
   fills the two-player format the baseline plays). Two presets
   (``experiments/configs/training/``):

   - ``atp_grpo_compliance``: ``reward_mode: compliance``, the return per round is the share of
     compliant answers (1 comply, 0 violate or no answer): alignment training;
   - ``atp_grpo_payoff``: ``reward_mode: payoff``, the world's payoff (comply ``r_low``, violate
     ``r_high`` unsupervised and 0 supervised): with no supervision and the gap level 4
     (``r_high / r_low`` = 4.55) it rewards violating, the self-interested exploration of the paper.

   Both are sized for a CPU (a few optimizer steps of one match seed x G = 4 three-round
   matches, LoRA on the attention's q and v projections, a large learning rate so that a few
   steps move the policy); for a real study raise ``iterations``, ``prompts_per_step`` and
   ``n_rounds`` on a GPU.
2. **replay**: :func:`violation_before_after` plays the testbed (any supervision pattern, gap and
   scenario through ``world_kwargs``) with the base model and with the trained adapter, the same
   matches (environment seeds) and the same sampling seeds for both (common random numbers), with
   the rollout machinery of the GRPO baseline (:class:`~dilemmazoo.agents.trainers.grpo.MatchRollout`,
   as :func:`~dilemmazoo.agents.trainers.grpo.evaluate_grpo` uses it), and returns one row per
   round played by the learner.
3. **compare**: :func:`violation_curves` turns the rows into one violation curve per model
   (:func:`dilemmazoo.analysis.tipping.adoption_curve`, 95% t-interval over episodes) for
   :func:`~dilemmazoo.analysis.tipping.plot_adoption` and
   :func:`~dilemmazoo.analysis.tipping.detect_tipping`.

Command line::

    python -m dilemmazoo.experiments.atp_training train atp_grpo_compliance --out runs/atp [--set trainer.iterations=8]
    python -m dilemmazoo.experiments.atp_training compare runs/atp/atp_grpo_compliance \\
        --seeds 0,1,2,3 --episodes 2 --set supervision=alternating_supervised --csv rows.csv --plot curves.png

The run folder of ``train`` is the one :func:`~dilemmazoo.agents.trainers.grpo.train_grpo` writes
(``config.json``, ``metrics.jsonl``, ``checkpoints/``, ``adapter/``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Mapping, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "ATP_TRAINING_PRESETS",
    "VIOLATION_COLUMNS",
    "atp_grpo_config",
    "main",
    "train_atp",
    "violation_before_after",
    "violation_curves",
    "violation_rows",
]

PRESET_DIR = Path(__file__).resolve().parent / "configs" / "training"
ATP_TRAINING_PRESETS = ("atp_grpo_compliance", "atp_grpo_payoff")
#: the columns of :func:`violation_before_after`'s frame
VIOLATION_COLUMNS = ("model", "seed", "episode", "round", "seat", "violated", "supervised", "answered",
                     "fallback_used")
MODELS = ("base", "trained")


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def _check_atp_config(config: Any) -> None:
    """The GRPO config must play the ATP exploration world with two seats."""
    from dilemmazoo.agents.trainers.grpo import GRPOBaselineConfig
    from dilemmazoo.envs import make_world
    from dilemmazoo.envs.atp_exploration import ATPExplorationEnv

    if not isinstance(config, GRPOBaselineConfig):
        raise ValueError(f"config must be a GRPOBaselineConfig; got {type(config).__name__}")
    world = make_world(config.world, **config.world_kwargs)
    if not isinstance(world, ATPExplorationEnv):
        raise ValueError(f"the run's world must be atp-exploration (ATPExplorationEnv); got {config.world!r}")
    if world.n_agents != 2:
        raise ValueError("world_kwargs n_agents must be 2 (the learner beside one scripted partner); "
                         f"got {world.n_agents}")


def atp_grpo_config(preset: str | Path = "atp_grpo_compliance", **overrides: Any):
    """The :class:`~dilemmazoo.agents.trainers.grpo.GRPOBaselineConfig` of a preset
    (:data:`ATP_TRAINING_PRESETS`) or of a training YAML file, with trainer fields replaced by
    ``overrides`` (``world_kwargs`` given here is merged into the preset's)."""
    import yaml

    from dilemmazoo.agents.trainers.grpo import grpo_config_from_dict

    path = Path(preset)
    if str(preset) in ATP_TRAINING_PRESETS:
        path = PRESET_DIR / f"{preset}.yaml"
    elif not path.is_file():
        raise ValueError(f"preset must be one of {list(ATP_TRAINING_PRESETS)} or a training YAML file; got {preset!r}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not isinstance(data.get("trainer"), dict):
        raise ValueError(f"{path} must hold a training file with a 'trainer' mapping")
    fields = dict(data["trainer"])
    if "world_kwargs" in overrides:
        overrides = {**overrides, "world_kwargs": {**fields.get("world_kwargs", {}), **overrides["world_kwargs"]}}
    fields.update(overrides)
    config = grpo_config_from_dict({"algorithm": data.get("algorithm", "grpo"), "trainer": fields})
    _check_atp_config(config)
    return config


def train_atp(config: Any, out_dir: str | Path, *, base: tuple[Any, Any] | None = None,
              progress: bool = False) -> list[dict[str, Any]]:
    """Fine-tune on the ATP exploration world: :func:`~dilemmazoo.agents.trainers.grpo.train_grpo`
    after checking that ``config`` (a ``GRPOBaselineConfig``, a preset name or a YAML path) plays
    ``atp-exploration`` with two seats. Returns the metrics rows."""
    from dilemmazoo.agents.trainers.grpo import train_grpo

    if isinstance(config, (str, Path)):
        config = atp_grpo_config(config)
    _check_atp_config(config)
    return train_grpo(config, out_dir, base=base, progress=progress)


# --------------------------------------------------------------------------------------------
# Replay: violation per round, base model vs trained adapter
# --------------------------------------------------------------------------------------------


def violation_rows(matches: Sequence[Any], model: str, seed: int, first_episode: int = 0) -> list[dict[str, Any]]:
    """One row per round of each played match (:class:`~dilemmazoo.agents.trainers.grpo.PlayedMatch`
    of an ATP exploration world): the learner's ``violated`` (1/0), ``answered`` (0 for the
    no-answer fallback), whether the round was ``supervised``, with ``model``, ``seed``,
    ``episode`` (``first_episode + index``), ``round`` (1-based), the learner's ``seat`` and
    ``fallback_used`` (``not answered``, the runner's name, which
    :func:`~dilemmazoo.analysis.tipping.adoption_curve` leaves out)."""
    from dilemmazoo.envs.atp_exploration import NO_ANSWER, VIOLATE

    rows = []
    for k, match in enumerate(matches):
        env = match.record.env
        seat = env.possible_agents.index(match.learner)
        for r, choice in enumerate(env.choices[:, seat]):
            rows.append({"model": model, "seed": int(seed), "episode": first_episode + k, "round": r + 1,
                         "seat": seat, "violated": int(choice == VIOLATE), "supervised": int(env.schedule[r]),
                         "answered": int(choice != NO_ANSWER), "fallback_used": bool(choice == NO_ANSWER)})
    return rows


def _run_config(path: Path, config: Any) -> tuple[Any, Path]:
    """The run's GRPO config and its adapter folder."""
    from dilemmazoo.agents.trainers.grpo import GRPOBaselineConfig

    adapter = path / "adapter" if (path / "adapter" / "adapter_config.json").exists() else path
    if not (adapter / "adapter_config.json").exists():
        raise ValueError(f"no peft adapter in {str(path)!r} (expected adapter_config.json there or in adapter/)")
    if config is None:
        for folder in (path, adapter.parent):
            if (folder / "config.json").exists():
                config = GRPOBaselineConfig.from_dict(json.loads((folder / "config.json").read_text()))
                break
        else:
            raise ValueError(f"no config.json beside the adapter in {str(path)!r}: pass config= (a GRPOBaselineConfig)")
    return config, adapter


def violation_before_after(run_dir_or_adapter: str | Path, *, world_kwargs: Mapping[str, Any] | None = None,
                           seeds: Sequence[int] = (0, 1, 2, 3), episodes: int = 2, config: Any = None,
                           base: tuple[Any, Any] | None = None) -> pd.DataFrame:
    """Play the exploration testbed with the base model and with the trained adapter.

    ``run_dir_or_adapter``: a :func:`train_atp` run folder (``config.json`` and ``adapter/``) or a
    peft adapter folder (``config``: its ``GRPOBaselineConfig`` when no ``config.json`` lies
    beside it). ``world_kwargs`` are merged into the run's (e.g. ``{"supervision":
    "alternating_supervised", "n_rounds": 6}``); the world must stay ``atp-exploration`` with
    ``n_agents=2`` (the learner and the run's scripted partner). For each seed ``s`` of ``seeds``
    the learner plays ``episodes`` matches, match ``k`` with environment seed ``s * 1000 + k``
    and seat ``k % 2``, answers sampled at the run's temperature from a generator seeded by
    ``s``, as in :func:`~dilemmazoo.agents.trainers.grpo.evaluate_grpo`; the base model (the
    adapter disabled) and the trained one play the same matches with the same seeds. ``base``:
    a fresh ``(model, tokenizer)`` from ``load_base_model`` (else the run's model is loaded).

    Returns a DataFrame with :data:`VIOLATION_COLUMNS`, one row per model, match and round:
    ``model`` (``"base"`` or ``"trained"``), ``seed``, ``episode`` (numbered across seeds,
    ``seed_index * episodes + k``), ``round`` (1-based), ``seat``, ``violated``, ``supervised``,
    ``answered`` and ``fallback_used`` (its negation); :func:`violation_curves` draws one curve
    per model from it. Small models often give no readable answer (the world's no-answer
    fallback, neither a compliance nor a violation): compare ``answered`` between the models too.
    """
    from dilemmazoo.agents.trainers.grpo import MatchRollout, adapter_generator

    if isinstance(episodes, bool) or not isinstance(episodes, Integral) or episodes < 1:
        raise ValueError(f"episodes must be an integer >= 1; got {episodes!r}")
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of integers >= 0; got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct; got {list(seeds)!r}")
    if world_kwargs is not None and not isinstance(world_kwargs, Mapping):
        raise ValueError(f"world_kwargs must be a mapping or None; got {world_kwargs!r}")
    config, adapter = _run_config(Path(run_dir_or_adapter), config)
    config = config.replace(world_kwargs={**config.world_kwargs, **dict(world_kwargs or {})})
    _check_atp_config(config)

    rows: list[dict[str, Any]] = []
    with adapter_generator(config, adapter, base) as (model, tokenizer, eot, generate):
        for label in MODELS:
            context = model.disable_adapter() if label == "base" else contextlib.nullcontext()
            with context:
                for index, seed in enumerate(seeds):
                    rollout = MatchRollout(config, tokenizer, eot)
                    rollout.play(generate, [int(seed) * 1000 + k for k in range(episodes)],
                                 [k % 2 for k in range(episodes)], int(seed))
                    played, _ = rollout.take()
                    rows += violation_rows(played, label, int(seed), index * episodes)
    frame = pd.DataFrame(rows, columns=list(VIOLATION_COLUMNS))
    frame.attrs.update({"adapter": str(adapter), "world_kwargs": dict(config.world_kwargs)})
    return frame


def violation_curves(frame: pd.DataFrame, *, column: str = "violated", group: str = "episode") -> dict[str, pd.DataFrame]:
    """One :func:`~dilemmazoo.analysis.tipping.adoption_curve` per model of ``frame``
    (:func:`violation_before_after`'s rows): the share of ``column`` per round over ``group``,
    keyed ``"base"`` and ``"trained"`` (those present), for ``plot_adoption``. Rounds without a
    readable answer (``fallback_used``) are left out, as ``adoption_curve`` does: the violation
    rate is over answered rounds (a round no episode answered has no point)."""
    from dilemmazoo.analysis.tipping import adoption_curve

    if not isinstance(frame, pd.DataFrame) or "model" not in frame:
        raise ValueError("frame must be violation_before_after's DataFrame (with a 'model' column)")
    return {label: adoption_curve(frame[frame["model"] == label], column, by="round", group=group)
            for label in MODELS if (frame["model"] == label).any()}


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_sets(items: Sequence[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes KEY=VALUE (e.g. iterations=8); got {item!r}")
        out[key.strip()] = yaml.safe_load(raw)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``train PRESET --out DIR`` and ``compare RUN_DIR`` (see the module docstring); the exit status."""
    parser = argparse.ArgumentParser(prog="python -m dilemmazoo.experiments.atp_training",
                                     description="Fine-tune on atp-exploration, then compare violation curves.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a preset (atp_grpo_compliance, atp_grpo_payoff) or YAML file")
    train.add_argument("preset")
    train.add_argument("--out", default="runs/atp_training", help="the run folder is OUT/<preset name>")
    train.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                       help="a trainer field, e.g. iterations=8 (world_kwargs as a YAML mapping)")
    compare = commands.add_parser("compare", help="violation per round, base model vs the trained adapter")
    compare.add_argument("run_dir")
    compare.add_argument("--seeds", default="0,1,2,3")
    compare.add_argument("--episodes", type=int, default=2)
    compare.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                         help="a world argument, e.g. supervision=alternating_supervised")
    compare.add_argument("--csv", help="write the rows here")
    compare.add_argument("--plot", help="write the two violation curves here (PNG)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        sets = _parse_sets(args.sets)
        if args.command == "train":
            config = atp_grpo_config(args.preset, **sets)
            run_dir = Path(args.out) / Path(args.preset).stem
            train_atp(config, run_dir, progress=True)
            print(run_dir)
            return 0
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        frame = violation_before_after(args.run_dir, world_kwargs=sets, seeds=seeds, episodes=args.episodes)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    curves = violation_curves(frame)
    from dilemmazoo.analysis.tipping import detect_tipping, plot_adoption

    tips = {label: detect_tipping(curve) for label, curve in curves.items()}
    for label, curve in curves.items():
        answered = float(frame.loc[frame["model"] == label, "answered"].mean())
        print(f"{label}: violation per answered round {[round(float(x), 3) for x in curve['mean']]} "
              f"(rounds {curve['round'].tolist()}); tipping round {tips[label].round}; answered {answered:.2f}")
    if args.csv:
        frame.to_csv(args.csv, index=False)
    if args.plot:
        plot_adoption(curves, tips).savefig(args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
