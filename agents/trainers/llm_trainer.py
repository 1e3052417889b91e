"""Policy-gradient training of LoRA adapters for language agents, with Advantage Alignment credit.

Sources: "Learning Robust Social Strategies with Large Language Models" (arXiv 2511.19405;
dereckpiche/AdAlignLLM): critic-free group-relative baseline, round-level credit shared by the
messages and the action of a round, REINFORCE per action token with a truncated importance weight,
k3 KL to the base model, the per-world hyper-parameters of :data:`TRAINER_PRESETS`; Duque et al.,
"Advantage Alignment Algorithms" (ICLR 2025) for the credit itself; Hu et al. 2021, "LoRA" (via
``peft``); Schulman 2020, "Approximating KL divergence" (the k3 estimator).

Parts
-----
This module holds the configuration (:class:`LLMTrainerConfig`), the training loop
(:meth:`LLMTrainer.iterate`, :meth:`LLMTrainer.train`), checkpoints and resume, and composes:

- :mod:`~dilemmazoo.agents.trainers.llm_model`: the base model, the adapter's weights and the
  forward passes that score tokens and options (shared prefix run once), devices and dtypes;
- :mod:`~dilemmazoo.agents.trainers.llm_rollout`: playing ``groups`` x ``group_size`` matches in
  lockstep against the opponents, how a decision is sampled and what its action tokens are;
- :mod:`~dilemmazoo.agents.trainers.llm_credit`: per-round rewards to per-token credit (naive,
  sum of rewards, Advantage Alignment, A-GRAE), on the math of
  :mod:`~dilemmazoo.agents.trainers.credit` (one implementation for all trainers);
- :mod:`~dilemmazoo.agents.trainers.llm_update`: the per-token loss and the optimizer step.

The names of those modules that callers use (``load_base_model``, ``build_chat``, ``MatchRecord``,
``assign_credit``, ``token_loss``, ...) are importable from here too (:data:`__all__`).

Iteration
---------
Per iteration: each group draws its opponent (the configured one or, with ``past_opponent_prob``
once a checkpoint exists, a past checkpoint) and one environment seed from the run's generator;
the matches are played, credit is assigned, and one optimizer step is taken.

Metrics (one row per iteration, :data:`METRIC_KEYS`)
----------------------------------------------------
Returns per round of the learner (its first seat) and of its co-player, welfare per round,
``cooperation_rate`` (repeated games: share of the learner's played moves that are action 0),
``split_efficiency`` (splitting worlds: achieved total / ``max_welfare``), ``fallbacks`` (answers
that did not parse), the loss and its policy-gradient part, ``kl`` (mean k3 per action token;
computed when ``kl_coef > 0``), ``entropy``, the mean truncated importance weight and the share
capped, the gradient norm before clipping, credit statistics, counts (matches, decisions, action
tokens, forward tokens), timings and ``tokens_per_s``; with the greedy probe on,
``vs_greedy_return_per_round`` and ``vs_greedy_exploitation`` (the greedy player's return per
round minus the learner's: how much a greedy exploiter gains against the policy).

Outputs of :meth:`LLMTrainer.train` (``out_dir``)
-------------------------------------------------
``metrics.jsonl`` (one JSON object per iteration, keys in :data:`METRIC_KEYS`),
``checkpoints/iter_NNNNNN/`` (``adapter_model.safetensors`` and ``adapter_config.json`` from
peft; ``trainer_state.pt``: the optimizer's tensors, read back with ``weights_only=True``;
``trainer_state.json``: iteration, numpy generator state and the config). Plots and the HTML
report are drawn from these files by :mod:`dilemmazoo.analysis.training` (``dilemmazoo train``
writes them after training; ``dilemmazoo report RUN_DIR`` redraws them at any time).
``train(..., resume=True)`` continues from the newest checkpoint: same adapter weights, optimizer
state and random stream, so an interrupted run continues as the uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, StrictBool, model_validator

try:
    import torch
except ImportError as error:  # torch comes with the "local" extra
    raise ImportError('the LLM trainer needs torch, transformers and peft: '
                      'pip install "dilemmazoo[local]" peft') from error

from dilemmazoo.agents.progress import ProgressBar
from dilemmazoo.agents.trainers.credit import AA_FORMS, CREDIT_METHODS, CREDIT_PRESETS
from dilemmazoo.agents.trainers.llm_credit import assign_credit, round_rewards
from dilemmazoo.agents.trainers.llm_model import (
    PolicyPasses,
    end_of_turn_ids,
    load_base_model,
    option_log_probs,
    plain_base,
)
from dilemmazoo.agents.trainers.llm_rollout import (
    OPPONENT_SELF,
    MatchRecord,
    RolloutPlayer,
    Sample,
    _derive_seed,
    build_chat,
    decision_options,
    make_opponent,
    match_metrics,
    sample_completions,
)
from dilemmazoo.agents.trainers.llm_update import PolicyUpdate, k3_kl, token_loss, truncated_importance_weight
from dilemmazoo.agents.trainers.settings import (
    Count,
    FiniteNumber,
    LocalModel,
    NonEmptyText,
    NonNegativeCount,
    NonNegativeNumber,
    PositiveNumber,
    Probability,
    Seed,
    TrainerSettings,
)

__all__ = [
    "LLMTrainer",
    "LLMTrainerConfig",
    "METRIC_KEYS",
    "MatchRecord",
    "Sample",
    "assign_credit",
    "build_chat",
    "decision_options",
    "end_of_turn_ids",
    "k3_kl",
    "latest_checkpoint",
    "load_base_model",
    "make_opponent",
    "match_metrics",
    "option_log_probs",
    "plain_base",
    "read_metrics",
    "read_trainer_state",
    "round_rewards",
    "sample_completions",
    "token_loss",
    "truncated_importance_weight",
]

logger = logging.getLogger(__name__)

METRIC_KEYS = (
    "iteration", "return_per_round", "other_return_per_round", "welfare_per_round", "cooperation_rate",
    "split_efficiency", "fallbacks", "loss", "pg_loss", "kl", "entropy", "is_weight_mean", "is_clipped_fraction",
    "grad_norm", "credit_mean", "credit_abs_mean", "matches", "decisions", "action_tokens", "forward_tokens",
    "past_opponent_groups", "rollout_s", "update_s", "seconds", "tokens_per_s", "vs_greedy_return_per_round",
    "vs_greedy_exploitation", "agrae_success_rate",
)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


class LLMTrainerConfig(TrainerSettings):
    """Hyper-parameters of :class:`LLMTrainer` (defaults: the spec's values, arXiv 2511.19405).

    World: ``world`` (a registered name or id) and ``world_kwargs``. Model: ``model``
    (``"embedded"`` or ``"hf:PATH"``), ``device``, ``dtype`` (``auto``: bf16 on CUDA, float32
    elsewhere), ``gradient_checkpointing`` (``auto``: on CUDA), LoRA ``lora_r``/``lora_alpha``/
    ``lora_dropout`` on ``lora_target_modules`` (``"all-linear"``). Rollouts: ``groups`` x
    ``group_size`` matches per iteration, ``opponent``/``opponent_params``,
    ``past_opponent_prob``, ``checkpoint_every``, ``temperature``, ``max_new_tokens``,
    ``persona``. Credit: ``credit`` (naive | sum_rewards | aa), ``credit_preset`` (ipd |
    trust_split | split_nocomm) whose ``beta``/``gamma_aa``/``gamma``/``reward_scale`` apply
    unless given, ``aa_form``; A-GRAE reweighting with ``agrae``, ``agrae_suppression``,
    ``agrae_curriculum``, ``agrae_success_threshold`` (see
    :mod:`~dilemmazoo.agents.trainers.llm_credit`). Loss: ``lr``, ``kl_coef``, ``entropy_coef``, ``is_cap``,
    ``grad_clip``, ``max_batch_tokens`` (tokens per forward micro-batch beyond the prefix all its
    rows share; raise it on a GPU), ``generation_batch_size`` (messages generated per call).
    Exploitation probe: every ``greedy_every`` iterations,
    ``greedy_matches`` evaluation matches (no training) against ``greedy_opponent`` (``greedy``,
    ``split_greedy``; off when 0 or empty). ``seed``: the one seed of the run.

    A pydantic model (:class:`~dilemmazoo.agents.trainers.settings.TrainerSettings`): every field is
    checked when the config is built, unknown keys included, and a bad one raises a
    :class:`~dilemmazoo.agents.trainers.settings.TrainerConfigError` naming it.
    """

    world: NonEmptyText = "repeated-game"
    world_kwargs: dict[str, Any] = Field(default_factory=dict)
    model: LocalModel = "embedded"
    device: NonEmptyText = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    gradient_checkpointing: Literal["auto", "on", "off"] = "auto"
    lora_r: Count = 32
    lora_alpha: Count = 64
    lora_dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    lora_target_modules: str | list[str] = "all-linear"
    iterations: Count = 100
    groups: Count = 8
    group_size: Annotated[int, Field(ge=2, description="K >= 2: the leave-one-out baseline needs two")] = 8
    opponent: NonEmptyText = OPPONENT_SELF
    opponent_params: dict[str, Any] = Field(default_factory=dict)
    past_opponent_prob: Probability = 0.5
    checkpoint_every: Count = 10
    temperature: PositiveNumber = 1.0
    max_new_tokens: Count = 400
    persona: str = ""
    credit: Literal[CREDIT_METHODS] = "aa"  # type: ignore[valid-type]
    credit_preset: Literal[tuple(CREDIT_PRESETS)] = "ipd"  # type: ignore[valid-type]
    beta: FiniteNumber | None = None
    gamma_aa: FiniteNumber | None = None
    gamma: FiniteNumber | None = None
    reward_scale: FiniteNumber | None = None
    aa_form: Literal[AA_FORMS] = "original"  # type: ignore[valid-type]
    agrae: StrictBool = False
    agrae_suppression: Probability = 0.3
    agrae_curriculum: Annotated[float, Field(ge=0.0, le=2.0, description="in [0, 2]: keeps weights >= 0")] = 1.0
    agrae_success_threshold: FiniteNumber | None = None
    lr: PositiveNumber = 3e-6
    kl_coef: NonNegativeNumber = 0.0
    entropy_coef: NonNegativeNumber = 0.0
    is_cap: PositiveNumber = 2.0
    grad_clip: PositiveNumber = 1.0
    max_batch_tokens: Count = 2048
    generation_batch_size: Count = 64
    greedy_opponent: str = ""
    greedy_matches: NonNegativeCount = 0
    greedy_every: Count = 10
    seed: Seed = 0

    @model_validator(mode="after")
    def _probe_has_an_opponent(self) -> LLMTrainerConfig:
        if self.greedy_matches and not self.greedy_opponent:
            raise ValueError("greedy_matches > 0 needs greedy_opponent (e.g. greedy, split_greedy)")
        return self

    def credit_parameters(self) -> dict[str, float]:
        """``beta``, ``gamma_aa``, ``gamma``, ``reward_scale``: given values, else the preset's."""
        preset = CREDIT_PRESETS[self.credit_preset]
        return {name: float(getattr(preset, name) if getattr(self, name) is None else getattr(self, name))
                for name in ("beta", "gamma_aa", "gamma", "reward_scale")}


# --------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------


class LLMTrainer(RolloutPlayer, PolicyUpdate, PolicyPasses):
    """Trains one LoRA adapter on a language world (see the module docstring).

    The parts are mixins: :class:`~dilemmazoo.agents.trainers.llm_rollout.RolloutPlayer` (play,
    evaluate), :class:`~dilemmazoo.agents.trainers.llm_update.PolicyUpdate` (the optimizer step) and
    :class:`~dilemmazoo.agents.trainers.llm_model.PolicyPasses` (forward passes, adapter weights);
    this class holds the state they share and the training loop.

    Args:
        config: the hyper-parameters.
        base: an already loaded ``(model, tokenizer)`` (from :func:`load_base_model`) to wrap
            instead of loading one; the model is modified in place (LoRA layers injected).
    """

    def __init__(self, config: LLMTrainerConfig, base: tuple[Any, Any] | None = None):
        from peft import LoraConfig, get_peft_model

        from dilemmazoo.agents.backends.hf import _end_of_turn
        from dilemmazoo.envs import make_world

        self.config = config
        self.credit_parameters = config.credit_parameters()
        world = make_world(config.world, **config.world_kwargs)  # fail early on a bad world or kwargs
        self.players = len(world.possible_agents)
        if self.players < 2:
            raise ValueError(f"world {config.world!r} has {self.players} player(s); training needs at least 2")
        network, self.tokenizer = plain_base(base, config.model, config.device, config.dtype, training=True)
        self.device = next(network.parameters()).device
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=config.lora_target_modules, bias="none", task_type="CAUSAL_LM")
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            # peft 0.21 calls a transformers method deprecated in 5.x; nothing for our users to act on
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            torch.manual_seed(config.seed)  # LoRA's A matrices are random: seed them from the run seed
            self.model = get_peft_model(network, lora)
        # switched on for the update only (:meth:`_checkpointing`): with it on, transformers turns the
        # key/value cache off, which rollouts and option scoring need
        self.gradient_checkpointing = config.gradient_checkpointing == "on" or (
            config.gradient_checkpointing == "auto" and self.device.type == "cuda")
        self.model.eval()
        self.end_of_turn = _end_of_turn(self.tokenizer)
        self.eos_ids = end_of_turn_ids(self.model, self.tokenizer)
        self.optimizer = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=config.lr)
        self.rng = np.random.default_rng(config.seed)
        self.iteration = 0
        self.checkpoints: list[Path] = []
        self._past_weights: dict[Path, dict[str, torch.Tensor]] = {}

    # -- credit --------------------------------------------------------------------------------
    def assign_credit(self, matches: list[MatchRecord], samples: list[Sample]) -> float:
        """Set each sample's credit from its group's rewards (:func:`assign_credit`); returns the
        A-GRAE success rate (NaN without A-GRAE)."""
        config = self.config
        agrae = None
        if config.agrae:
            agrae = {"progress": min(1.0, self.iteration / config.iterations), "suppression": config.agrae_suppression,
                     "curriculum": config.agrae_curriculum, "success": config.agrae_success_threshold}
        return assign_credit(matches, samples, config.credit, self.credit_parameters, config.aa_form, agrae=agrae)

    # -- one iteration -------------------------------------------------------------------------
    def _group_opponents(self) -> tuple[list[Any], int]:
        """Per group: the configured opponent, or (with ``past_opponent_prob``) a past checkpoint."""
        out, past = [], 0
        for _ in range(self.config.groups):
            if self.checkpoints and self.rng.random() < self.config.past_opponent_prob:
                path = self.checkpoints[int(self.rng.integers(len(self.checkpoints)))]
                out.append(self._load_past(path))
                past += 1
            else:
                out.append(self.config.opponent)
        return out, past

    def _load_past(self, path: Path) -> dict[str, torch.Tensor]:
        if path not in self._past_weights:
            from safetensors.torch import load_file

            self._past_weights[path] = load_file(str(path / "adapter_model.safetensors"))
        return self._past_weights[path]

    def iterate(self) -> dict[str, float]:
        """Rollouts, credit and one optimizer step; returns the iteration's metrics."""
        config = self.config
        start = time.perf_counter()
        group_opponents, past = self._group_opponents()
        opponents, seeds, seats, groups = [], [], [], []
        for g, opponent in enumerate(group_opponents):
            seed = _derive_seed(self.rng)
            learner = (g % self.players,) if opponent != OPPONENT_SELF else tuple(range(self.players))
            for _ in range(config.group_size):
                opponents.append(opponent)
                seeds.append(seed)
                seats.append(learner)
                groups.append(g)
        matches, samples = self.play(opponents, seeds, seats, groups)
        rollout_s = time.perf_counter() - start
        agrae_success_rate = self.assign_credit(matches, samples)
        update_start = time.perf_counter()
        losses = self.update(samples)
        update_s = time.perf_counter() - update_start
        self.iteration += 1
        seconds = time.perf_counter() - start
        forward_tokens = sum(s.forward_tokens for s in samples)
        metrics = {
            "iteration": self.iteration,
            **match_metrics(matches),
            "loss": losses["loss"], "pg_loss": losses["pg"], "kl": losses["kl"], "entropy": losses["entropy"],
            "is_weight_mean": losses["weight"], "is_clipped_fraction": losses["clipped"],
            "grad_norm": losses["grad_norm"],
            "credit_mean": float(np.mean([s.credit for s in samples])) if samples else float("nan"),
            "credit_abs_mean": float(np.mean([abs(s.credit) for s in samples])) if samples else float("nan"),
            "decisions": len(samples),
            "action_tokens": sum(s.action_tokens for s in samples),
            "forward_tokens": forward_tokens,
            "past_opponent_groups": past,
            "rollout_s": rollout_s, "update_s": update_s, "seconds": seconds,
            "tokens_per_s": forward_tokens / seconds if seconds > 0 else float("nan"),
            "vs_greedy_return_per_round": float("nan"), "vs_greedy_exploitation": float("nan"),
            "agrae_success_rate": agrae_success_rate,
        }
        if config.greedy_matches and self.iteration % config.greedy_every == 0:
            # evaluation only: its own generator, so the training stream does not depend on it
            probe = self.evaluate([config.greedy_opponent], matches=config.greedy_matches, seed=self.iteration)[0]
            metrics["vs_greedy_return_per_round"] = probe["return_per_round"]
            metrics["vs_greedy_exploitation"] = probe["other_return_per_round"] - probe["return_per_round"]
        return metrics

    # -- training loop, checkpoints ------------------------------------------------------------
    def train(self, out_dir: str | Path, iterations: int | None = None, *, resume: bool = False,
              progress: bool = False) -> list[dict[str, float]]:
        """Run until ``iterations`` (default ``config.iterations``) are done; see the module docstring."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        total = self.config.iterations if iterations is None else int(iterations)
        metrics_path = out / "metrics.jsonl"
        if resume:
            latest = latest_checkpoint(out)
            if latest is not None:
                self.load_checkpoint(latest)
                self.checkpoints = sorted(p for p in (out / "checkpoints").iterdir() if _is_checkpoint(p))
                _truncate_metrics(metrics_path, self.iteration)
            elif metrics_path.exists():
                metrics_path.unlink()  # nothing to resume from: start over
        elif metrics_path.exists():
            metrics_path.unlink()
        history = []
        with ProgressBar(total, "train", unit="iterations", completed=min(self.iteration, total),
                         disable=not progress) as bar:
            while self.iteration < total:
                metrics = self.iterate()
                history.append(metrics)
                with metrics_path.open("a") as handle:
                    handle.write(json.dumps(_jsonable(metrics)) + "\n")
                line = (f"return/round {metrics['return_per_round']:.3f}  coop {metrics['cooperation_rate']:.2f}  "
                        f"loss {metrics['loss']:+.4f}")
                bar.advance(description=line)
                logger.info("iteration %d: %s  (%.1fs)", self.iteration, line, metrics["seconds"])
                if self.iteration % self.config.checkpoint_every == 0 or self.iteration == total:
                    path = self.save_checkpoint(out / "checkpoints" / f"iter_{self.iteration:06d}")
                    if path not in self.checkpoints:
                        self.checkpoints.append(path)
        return history

    def save_checkpoint(self, path: str | Path) -> Path:
        """Adapter (peft format), optimizer state, generator state and iteration; written then renamed."""
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(partial), save_embedding_layers=False)
        # tensors in the .pt (read back with weights_only=True), everything else as JSON beside it
        torch.save({"optimizer": self.optimizer.state_dict()}, partial / "trainer_state.pt")
        (partial / "trainer_state.json").write_text(json.dumps(
            {"iteration": self.iteration, "rng": self.rng.bit_generator.state, "config": self.config.to_dict()},
            indent=2) + "\n")
        if path.exists():
            import shutil

            shutil.rmtree(path)
        partial.rename(path)
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore what :meth:`save_checkpoint` wrote (adapter, optimizer, generator, iteration)."""
        from safetensors.torch import load_file

        path = Path(path)
        self.load_adapter_state(load_file(str(path / "adapter_model.safetensors")))
        state = read_trainer_state(path, self.device)
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        self.iteration = int(state["iteration"])


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _jsonable(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


def read_trainer_state(path: str | Path, device: Any = "cpu") -> dict[str, Any]:
    """What :meth:`LLMTrainer.save_checkpoint` wrote beside the adapter: ``optimizer`` (its state
    dict, from ``trainer_state.pt``, loaded with ``weights_only=True``), ``iteration`` and ``rng``
    (the numpy generator's state, from ``trainer_state.json``). A ``trainer_state.pt`` that carries
    Python objects is refused (:class:`~dilemmazoo.agents.neural.UnsafeCheckpointError`) without
    running them. Checkpoints of older versions kept everything in the ``.pt`` file (plain data,
    which loads the same safe way)."""
    from dilemmazoo.agents.neural import safe_load

    path = Path(path)
    state = safe_load(path / "trainer_state.pt", device)
    if not isinstance(state, dict) or "optimizer" not in state:
        raise ValueError(f"{path / 'trainer_state.pt'} holds no optimizer state; is {path} a checkpoint of "
                         "this trainer?")
    beside = path / "trainer_state.json"
    if beside.exists():
        state = {**json.loads(beside.read_text()), "optimizer": state["optimizer"]}
    elif isinstance(state.get("rng"), str):  # older checkpoints: the generator state as JSON text
        state = {**state, "rng": json.loads(state["rng"])}
    return state


def _is_checkpoint(path: Path) -> bool:
    return path.is_dir() and path.name.startswith("iter_") and not path.name.endswith(".partial") \
        and (path / "trainer_state.pt").exists()


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint under ``out_dir/checkpoints``, or ``None``."""
    folder = Path(out_dir) / "checkpoints"
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if _is_checkpoint(p))
    return found[-1] if found else None


def _truncate_metrics(path: Path, iteration: int) -> None:
    """Keep the metrics lines of iterations up to ``iteration`` (later ones are redone)."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["iteration"] <= iteration]
    path.write_text("".join(line + "\n" for line in kept))


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
