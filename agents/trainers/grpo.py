"""Single-agent GRPO baseline on Hugging Face TRL: a LoRA adapter trained against a fixed opponent.

Sources: Shao et al. 2024, "DeepSeekMath" (GRPO: group-normalised advantages over G samples of one
prompt, no critic); Yu et al. 2025, "DAPO" (the token-level loss normalisation ``loss_type="dapo"``,
TRL's default); Hugging Face TRL ``GRPOTrainer`` (trl 1.16, ``rollout_func`` and ``env_mask``),
which does the optimisation here; Yu et al., "Unveiling Implicit Advantage Symmetry: Why GRPO
Struggles with Exploration and Difficulty Adaptation", arXiv 2602.05548 (A-GRAE; the form chosen is
:func:`dilemmazoo.agents.trainers.credit.agrae_advantages`); Hu et al. 2021, "LoRA" (via ``peft``).
The spec is "trust_split_and_trainers.md" (sections "IPD" and "GRPO (TRL) and A-GRAE").

What is trained
---------------
One LoRA adapter (``lora_r``, ``lora_alpha``, ``lora_dropout`` on ``lora_target_modules``) on the
model that :func:`~dilemmazoo.agents.trainers.llm_model.load_base_model` loads (``"embedded"``:
SmolLM2-135M-Instruct shipped with the package; ``"hf:PATH"``: any local chat model). The learner
plays a whole match of a two-player language world (``world`` + ``world_kwargs``, default the
iterated prisoner's dilemma ``dilemmazoo/repeated-game-v0``) against one fixed scripted opponent
(``opponent``: a :func:`~dilemmazoo.agents.scripted.make_scripted` name such as ``always_defect``
(default), ``always_cooperate``, ``tit_for_tat``, ``greedy``, ``axelrod:TitForTat``,
``split_greedy``; ``opponent_params`` its keyword arguments). Single-agent: the opponent is part of
the environment; only the learner's tokens are trained.

Rollouts: one completion per match (multi-turn, through TRL's ``rollout_func``)
--------------------------------------------------------------------------------
Chosen over one prompt per decision (rows = a round's history under a fixed rollout policy, reward =
that round's reward plus a modelled continuation) because here the learner's own earlier answers make
its later prompts, as in play, and the reward is the real match return, with no continuation to
assume. Each optimizer step takes ``prompts_per_step`` dataset rows; each row is a match seed and a
learner seat (seat ``row % 2``), and TRL repeats it ``num_generations`` (G) times, so the G matches of
a group share the environment seed (common random numbers) and the opponent. :class:`MatchRollout`
plays all ``prompts_per_step * G`` matches in lockstep with the trainer's current weights:

- the conversation is the one :func:`~dilemmazoo.agents.trainers.llm_rollout.build_chat` starts
  (system: ``persona`` and ``rules(seat)``; user: ``describe(seat)`` and the action spec's
  instruction) and every later decision of the learner appends one user turn with the same content
  (``describe`` + instruction) after the learner's previous answer, rendered by the tokenizer's chat
  template;
- ``prompt_ids`` is the first decision's prompt; ``completion_ids`` is everything after it: the
  learner's answers (sampled by ``model.generate`` at ``temperature``, no top-k/top-p, at most
  ``max_new_tokens`` tokens per answer, cut after the first end-of-turn token) interleaved with the
  environment's feedback (the end of the previous turn, the next user turn and the assistant header).
  ``env_mask`` is 1 on the learner's answer tokens and 0 on feedback tokens, so TRL's loss, entropy
  and KL only count the learner's tokens; ``logprobs`` are the sampling log-probabilities (0 on
  feedback tokens);
- ``answer_prefix`` (default ``""``): text written at the start of every assistant turn before the
  model continues (e.g. ``"Answer:"``). It belongs to the feedback tokens (masked) and is prepended
  to the model's text before parsing. Small models rarely produce the requested ``Answer: <option>``
  line on their own; the prefix keeps the decision in the model's hands while fixing the format;
- the joint text is built by rendering the whole conversation with the chat template and appending
  what was not yet tokenized; if a template rewrites earlier text (so the new rendering does not
  extend the old one), the tail after the longest common prefix is used;
- each answer is parsed by the world's ``ActionSpec``; an answer that does not parse takes the
  world's declared ``fallback`` (IPD: action 0, "cooperate") and is counted (``fallbacks``,
  ``invalid_answer_rate``): never silently a move (there is no retry in training);
- steps where the learner does not decide (the opponent's talk turn) are played without tokens.

Reward: the learner's match return per round (sum of its rewards / rounds played), one scalar per
completion, passed from the rollout as the extra field ``return_per_round`` to the reward function
:func:`match_return_reward`. TRL then forms ``A = (r - mean_group) / (std_group + 1e-4)``
(``scale_rewards="group"``; ``"batch"`` or ``"none"`` configurable) and optimises the clipped
surrogate (``epsilon``, 0.2) with loss ``loss_type`` (``"dapo"``) and KL coefficient ``beta``
(0: no reference model is run). One optimizer step per rollout batch (``steps_per_generation`` =
gradient accumulation steps), constant learning rate ``lr`` (AdamW without weight decay), gradient
clipping at ``max_grad_norm``. TRL's ``max_completion_length`` is set to ``max_new_tokens``; it only
matters for ``loss_type="dr_grpo"``, whose constant normaliser it is (per decision, not per match).
The dataset (:func:`match_dataset`) holds ``iterations * prompts_per_step`` rows: match seeds drawn
from ``seed``, the learner's seat, and the first decision's chat as ``prompt`` (what TRL logs; the
rollout rebuilds the prompt from the world).

A-GRAE (``agrae=True``)
-----------------------
``MatchGRPOTrainer`` (a ``GRPOTrainer`` subclass built on first use by :func:`match_grpo_trainer_class`,
so that importing this module does not import TRL) overrides ``_generate_and_score_completions`` (the
spec: custom advantages only by subclassing): it hands the dataset rows to the rollout, calls ``super()``, then rescales the returned advantages
per group with :func:`agrae_rescale`: a match is a *success* when its reward is strictly above its
group's mean (or, when ``agrae_success_threshold`` is set, strictly above that threshold:
:func:`~dilemmazoo.agents.trainers.credit.agrae_success_mask`, as in the LoRA trainer);
positive advantages of successes are multiplied by ``1 - agrae_suppression``, and every advantage of
a group by the curriculum weight ``1 + agrae_curriculum * (1 - 2 * progress) * (p - 1/2)`` with
``p`` the group's success rate and ``progress = state.global_step / state.max_steps``.

Outputs of :func:`train_grpo` (``out_dir``)
-------------------------------------------
``config.json`` (the :class:`GRPOBaselineConfig`), ``metrics.jsonl`` (one row per optimizer step,
keys in :data:`GRPO_METRIC_KEYS`: the rollout's ``return_per_round``, ``other_return_per_round``,
``welfare_per_round``, ``cooperation_rate`` (repeated games), ``split_efficiency`` (splitting
worlds), ``fallbacks`` computed by :func:`~dilemmazoo.agents.trainers.llm_rollout.match_metrics`
as in the LLM trainer, plus TRL's ``loss``, ``kl`` (only when ``beta > 0``), ``entropy``,
``grad_norm``, ``reward``, ``reward_std``, clip ratios, and timings), ``checkpoints/checkpoint-N/``
(TRL/Trainer checkpoints every ``checkpoint_every`` steps and at the end: adapter, optimizer,
scheduler, random states), ``adapter/`` (the final peft adapter: ``adapter_model.safetensors``,
``adapter_config.json``). ``metrics.jsonl`` reads with ``llm_trainer.read_metrics``; plots and the HTML
report come from :mod:`dilemmazoo.analysis.training` (``dilemmazoo train`` writes them after training,
with ``config.yaml`` holding ``algorithm: grpo``; the agents layer does not import analysis).

``resume=True`` continues from the newest ``checkpoints/checkpoint-N`` through TRL's
``resume_from_checkpoint`` (adapter, optimizer, scheduler, data order and random states); metrics
rows after step N are dropped and redone. Rollouts draw from a generator seeded by
``(seed, global_step)``, so a resumed run with the same config samples the same matches and reaches
the same metrics as the uninterrupted one (checked on CPU); changing ``iterations`` changes the
dataset and so its order. Without a checkpoint, ``resume`` starts over.

Nothing reaches the network: :func:`train_grpo` and :func:`evaluate_grpo` set ``HF_HUB_OFFLINE=1``,
``HF_DATASETS_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1``, ``HF_HUB_DISABLE_TELEMETRY=1`` and
``WANDB_DISABLED=true`` for their duration (and restore them), models load with ``local_files_only``, TRL runs with ``report_to="none"``,
no hub push, and ``TRL_EXPERIMENTAL_SILENCE=1`` (``rollout_func`` is marked experimental).

Evaluation: :func:`evaluate_grpo` loads a run's adapter and plays it (no training) against fixed
opponents, one :func:`~dilemmazoo.agents.trainers.llm_rollout.match_metrics` row per opponent.

Devices and cost
----------------
CPU: float32. CUDA: bfloat16 where supported (``dtype="auto"``), gradient checkpointing on (this path
follows TRL's defaults and is not exercised by the tests). On a shared 2-core CPU with one torch
thread, a step of 1 prompt x G=4 two-round IPD matches (``max_new_tokens=2``, LoRA on q/v) takes
about 20-25 s, 2 prompts x G=4 with LoRA on all linear layers about 45-60 s: the forward and
backward passes over the whole conversations (about 330 tokens each here) dominate, the rollout is
about a third. A ten-round match is a completion of about 3,000 tokens, feedback included, and TRL
computes the logits of every completion position over the whole vocabulary: one step of 4 such
matches did not finish within 14 minutes on that CPU (``micro_batch_size=1``), so the ``ipd_grpo``
preset (32 ten-round matches per step) is meant for a GPU; on a CPU, shorten ``n_rounds`` and set
``micro_batch_size`` to bound the memory of a pass. Each rollout round re-encodes the whole
conversation (no key/value cache is kept between rounds).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, StrictBool, field_validator, model_validator

try:
    import torch
except ImportError as error:  # torch comes with the "local" extra
    raise ImportError('the GRPO baseline needs torch, transformers, peft and trl: '
                      'pip install "dilemmazoo[local]" peft trl') from error

from dilemmazoo.agents.backends.hf import temporary_environment
from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.progress import ProgressBar
from dilemmazoo.agents.trainers.credit import agrae_advantages, agrae_success_mask
from dilemmazoo.agents.trainers.llm_model import end_of_turn_ids, plain_base
from dilemmazoo.agents.trainers.llm_rollout import (
    MatchRecord,
    build_chat,
    make_opponent,
    match_metrics,
    sample_completions,
)
from dilemmazoo.agents.trainers.llm_trainer import _jsonable, read_metrics
from dilemmazoo.agents.trainers.settings import (
    Count,
    FiniteNumber,
    LocalModel,
    NonEmptyText,
    NonNegativeNumber,
    PositiveNumber,
    Probability,
    Seed,
    TrainerSettings,
)
from dilemmazoo.envs.base import ActionParseError

__all__ = [
    "GRPOBaselineConfig",
    "GRPO_LOSS_TYPES",
    "GRPO_METRIC_KEYS",
    "MatchRollout",
    "PlayedMatch",
    "adapter_generator",
    "agrae_rescale",
    "evaluate_grpo",
    "grpo_config_from_dict",
    "latest_trl_checkpoint",
    "match_dataset",
    "match_grpo_trainer_class",
    "match_return_reward",
    "model_generator",
    "train_grpo",
]

# TRL 1.16 loss types that work with token-level importance sampling (luspo/vespo need sequence level).
GRPO_LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo")
SCALE_REWARDS = ("group", "batch", "none")
NON_TRAINER_KEYS = ("name", "description", "algorithm", "trainer", "evaluation")
TRAINER_NAME = "grpo"

GRPO_METRIC_KEYS = (
    "iteration", "return_per_round", "other_return_per_round", "welfare_per_round", "cooperation_rate",
    "split_efficiency", "fallbacks", "invalid_answer_rate", "decisions", "matches", "loss", "kl", "entropy",
    "grad_norm", "reward", "reward_std", "frac_reward_zero_std", "clip_ratio", "completion_tokens",
    "learning_rate", "rollout_s", "seconds",
)

logger = logging.getLogger(__name__)

_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1", "WANDB_DISABLED": "true", "TRL_EXPERIMENTAL_SILENCE": "1"}


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


class GRPOBaselineConfig(TrainerSettings):
    """Hyper-parameters of :func:`train_grpo` (TRL's GRPO defaults where the spec names them).

    World and opponent:
        world: a registered world name or id (``"repeated-game"``: the IPD).
        world_kwargs: its constructor arguments (e.g. ``{"game": "prisoners_dilemma", "n_rounds": 10,
            "labels": ["A", "B"]}``).
        opponent: the fixed scripted opponent (a ``make_scripted`` name; default ``always_defect``).
        opponent_params: its keyword arguments (``greedy``/``welfare_maximiser`` get the world's
            payoff table when none is given).
    Model:
        model: ``"embedded"`` or ``"hf:PATH"``.
        device: ``"auto"`` (CUDA if present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        dtype: ``"auto"`` (bf16 on CUDA, float32 elsewhere), ``"float32"``, ``"bfloat16"``.
        lora_r, lora_alpha, lora_dropout, lora_target_modules: the LoRA adapter (peft).
        persona: text put before the rules in the system message (as in the LLM trainer).
    Rollouts:
        iterations: optimizer steps (TRL ``max_steps``).
        prompts_per_step: dataset rows (match seeds) per step; each is played ``num_generations`` times.
        num_generations: G, the group size of GRPO (>= 2).
        micro_batch_size: completions per forward/backward pass (``None``: the whole step's
            ``prompts_per_step * num_generations``); must divide it. Gradients accumulate over the
            micro-batches of a step, so a step is still one rollout batch and one optimizer step.
        max_new_tokens: tokens the learner may generate per decision.
        temperature: sampling temperature (also used by TRL for the log-probabilities).
        answer_prefix: text that starts every assistant turn before the model continues (masked
            feedback), e.g. ``"Answer:"``; ``""``: none.
    Optimisation (TRL ``GRPOConfig``):
        lr: learning rate (constant, AdamW, no weight decay).
        beta: KL coefficient against the base model (0: no reference pass).
        epsilon: clip range of the importance ratio (0.2).
        loss_type: one of :data:`GRPO_LOSS_TYPES` (``"dapo"``).
        scale_rewards: ``"group"`` (divide by the group's std), ``"batch"`` or ``"none"``.
        max_grad_norm: gradient-norm clipping.
        checkpoint_every: TRL checkpoint interval in steps (a checkpoint is also written at the end).
    A-GRAE (see the module docstring):
        agrae: rescale the advantages with A-GRAE.
        agrae_suppression: factor taken off successes' positive advantages, in [0, 1].
        agrae_curriculum: curriculum strength, in [0, 2].
        agrae_success_threshold: return per round above which a match succeeds; ``None``: above its
            group's mean.
    seed: the one seed of the run (match seeds, LoRA initialisation, TRL's sampler, rollouts).

    A pydantic model (:class:`~dilemmazoo.agents.trainers.settings.TrainerSettings`): every field is
    checked when the config is built, unknown keys included, and a bad one raises a
    :class:`~dilemmazoo.agents.trainers.settings.TrainerConfigError` naming it.
    """

    world: NonEmptyText = "repeated-game"
    world_kwargs: dict[str, Any] = Field(default_factory=dict)
    opponent: str = "always_defect"
    opponent_params: dict[str, Any] = Field(default_factory=dict)
    model: LocalModel = "embedded"
    device: NonEmptyText = "auto"
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    lora_r: Count = 32
    lora_alpha: Count = 64
    lora_dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    lora_target_modules: str | list[str] = "all-linear"
    persona: str = ""
    iterations: Count = 100
    prompts_per_step: Count = 4
    num_generations: Annotated[int, Field(ge=2, description="G >= 2: GRPO normalises rewards within a group")] = 8
    micro_batch_size: Count | None = None
    max_new_tokens: Count = 16
    temperature: PositiveNumber = 1.0
    answer_prefix: str = ""
    lr: PositiveNumber = 1e-5
    beta: NonNegativeNumber = 0.0
    epsilon: PositiveNumber = 0.2
    loss_type: Literal[GRPO_LOSS_TYPES] = "dapo"  # type: ignore[valid-type]
    scale_rewards: Literal[SCALE_REWARDS] = "group"  # type: ignore[valid-type]
    max_grad_norm: PositiveNumber = 1.0
    checkpoint_every: Count = 10
    agrae: StrictBool = False
    agrae_suppression: Probability = 0.3
    agrae_curriculum: Annotated[float, Field(ge=0.0, le=2.0, description="in [0, 2]: keeps the weights >= 0")] = 1.0
    agrae_success_threshold: FiniteNumber | None = None
    seed: Seed = 0

    @field_validator("opponent")
    @classmethod
    def _a_fixed_opponent(cls, opponent: str) -> str:
        if not opponent or opponent == "self":
            raise ValueError("opponent must be a scripted strategy name (e.g. always_defect, tit_for_tat, greedy, "
                             f"axelrod:TitForTat); self-play is the LLM trainer's job; got {opponent!r}")
        return opponent

    @model_validator(mode="after")
    def _micro_batches_divide_the_step(self) -> GRPOBaselineConfig:
        batch = self.prompts_per_step * self.num_generations
        if self.micro_batch_size is not None and batch % self.micro_batch_size:
            raise ValueError(f"micro_batch_size must be None or a divisor of prompts_per_step * num_generations "
                             f"= {batch}; got {self.micro_batch_size!r}")
        return self


def grpo_config_from_dict(data: dict[str, Any]) -> GRPOBaselineConfig:
    """A :class:`GRPOBaselineConfig` from a training file's mapping (e.g. ``ipd_grpo.yaml``) or from
    the trainer fields alone.

    A training file (``name``, ``description``, ``algorithm: grpo``, ``trainer: {fields}``,
    ``evaluation``): the fields are ``trainer``'s mapping; ``algorithm``, when given, must be ``grpo``.
    A flat mapping of fields may carry ``trainer: grpo`` and ``description``, which are skipped.
    Values are converted to the declared types by pydantic (``--set trainer.lr=1e-4``, which YAML
    reads as a string, becomes a float). Unknown keys and bad values raise ``ValueError`` naming them.
    """
    if not isinstance(data, dict):
        raise ValueError(f"a GRPO training config must be a mapping; got {type(data).__name__}")
    algorithm = data.get("algorithm", TRAINER_NAME)
    if algorithm != TRAINER_NAME:
        raise ValueError(f"algorithm must be {TRAINER_NAME!r} for a GRPO config; got {algorithm!r}")
    trainer = data.get("trainer", TRAINER_NAME)
    if isinstance(trainer, dict):
        fields = dict(trainer)
    elif trainer == TRAINER_NAME:
        fields = {k: v for k, v in data.items() if k not in NON_TRAINER_KEYS}
    else:
        raise ValueError(f"trainer must be the mapping of GRPO fields (or the word {TRAINER_NAME!r} in a flat "
                         f"mapping); got {trainer!r}")
    return GRPOBaselineConfig.from_dict(fields, "trainer." if isinstance(trainer, dict) else "")


# --------------------------------------------------------------------------------------------
# Pure pieces: reward, A-GRAE
# --------------------------------------------------------------------------------------------


def match_return_reward(prompts: Sequence[Any], completions: Sequence[Any], return_per_round: Sequence[float],
                        **_: Any) -> list[float]:
    """TRL reward function: the learner's match return per round, passed by the rollout."""
    if len(return_per_round) != len(completions):
        raise ValueError(f"one return per completion expected; got {len(return_per_round)} for "
                         f"{len(completions)} completions")
    return [float(r) for r in return_per_round]


def agrae_rescale(advantages, rewards, num_generations: int, progress: float, suppression: float = 0.3,
                  curriculum: float = 1.0, success_threshold: float | None = None) -> np.ndarray:
    """A-GRAE on GRPO advantages of consecutive groups of ``num_generations`` completions.

    ``advantages`` and ``rewards``: ``(B,)`` with ``B`` a multiple of ``num_generations`` (TRL's
    layout: the G completions of a prompt are consecutive). A completion succeeds when its reward is
    strictly above its group's mean, or, with ``success_threshold``, strictly above that. Returns
    :func:`~dilemmazoo.agents.trainers.credit.agrae_advantages` per group, flattened to ``(B,)``.
    """
    advantages = np.asarray(advantages, dtype=np.float64)
    rewards = np.asarray(rewards, dtype=np.float64)
    if advantages.shape != rewards.shape or advantages.ndim != 1:
        raise ValueError(f"advantages and rewards must be 1-D of one shape; got {advantages.shape}, {rewards.shape}")
    if num_generations < 1 or advantages.size % num_generations:
        raise ValueError(f"the batch ({advantages.size}) must hold whole groups of num_generations={num_generations}")
    success = agrae_success_mask(rewards.reshape(-1, num_generations), success_threshold, group_axis=1)
    out = agrae_advantages(advantages.reshape(-1, num_generations), success, progress, suppression=suppression,
                           curriculum=curriculum, group_axis=1)
    return out.reshape(-1)


# --------------------------------------------------------------------------------------------
# Rollouts
# --------------------------------------------------------------------------------------------

# ``generate(sequences, seed)`` -> for each sequence, the sampled answer token ids (cut after the
# first end-of-turn token) and their sampling log-probabilities.
Generator = Callable[[list[list[int]], int], list[tuple[list[int], list[float]]]]


@dataclass
class PlayedMatch:
    """One match of a rollout, as TRL receives it, and its bookkeeping for the metrics."""

    record: MatchRecord
    learner: str
    opponent: Any  # the scripted agent
    prompt_ids: list[int] = field(default_factory=list)
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    text: str = ""  # what prompt_ids + completion_ids spell, as the chat template renders it
    decisions: int = 0
    answers: list[str] = field(default_factory=list)

    @property
    def return_per_round(self) -> float:
        seat = self.record.learner_seats[0]
        rounds = max(1, len(set(self.record.rounds)))
        return sum(self.record.rewards[seat]) / rounds


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class MatchRollout:
    """Plays whole matches against the fixed opponent and returns them in TRL's rollout format.

    Args:
        config: the run's hyper-parameters (world, opponent, persona, answer prefix, ...).
        tokenizer: the model's tokenizer (with a chat template, or the plain ``role: content`` form).
        end_of_turn_ids: token ids that end an answer (the model's EOS and the template's end-of-turn).

    Call :meth:`play` with a generator (``generate(sequences, seed)``, see :data:`Generator`);
    as a TRL ``rollout_func`` (``rollout(prompts, trainer)``) it reads the dataset rows the
    trainer stashed (``trainer.match_inputs``) and generates with the trainer's model. The matches of
    every call are kept in :attr:`pending` until :meth:`take` collects them for the metrics.
    """

    def __init__(self, config: GRPOBaselineConfig, tokenizer: Any, end_of_turn_ids: Sequence[int]):
        self.config = config
        self.tokenizer = tokenizer
        self.end_of_turn_ids = [int(i) for i in end_of_turn_ids]
        self.pending: list[PlayedMatch] = []
        self.rollout_seconds = 0.0

    # -- TRL entry point -------------------------------------------------------------------------
    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list]:
        rows = getattr(trainer, "match_inputs", None)
        if rows is None or len(rows) != len(prompts):
            raise RuntimeError("MatchRollout needs the trainer's dataset rows (use match_grpo_trainer_class())")
        model = trainer.accelerator.unwrap_model(trainer.model)
        step_seed = int(np.random.default_rng([self.config.seed, int(trainer.state.global_step)]).integers(2**31 - 1))
        generate = model_generator(model, self.tokenizer, self.end_of_turn_ids, self.config.max_new_tokens,
                                   self.config.temperature)
        return self.play(generate, [int(r["match_seed"]) for r in rows], [int(r["learner_seat"]) for r in rows],
                         step_seed)

    # -- the matches -----------------------------------------------------------------------------
    def play(self, generate: Generator, match_seeds: Sequence[int], learner_seats: Sequence[int],
             seed: int = 0) -> dict[str, list]:
        """Play one match per ``(match_seed, learner_seat)`` in lockstep; returns TRL's rollout dict:
        ``prompt_ids``, ``completion_ids``, ``logprobs``, ``env_mask`` and ``return_per_round``
        (one entry per match)."""
        from dilemmazoo.envs import make_world

        start = time.perf_counter()
        config = self.config
        matches = []
        for m, (match_seed, seat) in enumerate(zip(match_seeds, learner_seats)):
            env = make_world(config.world, **config.world_kwargs)
            observations, _ = env.reset(seed=int(match_seed))
            if len(env.possible_agents) != 2:
                raise ValueError(f"world {config.world!r} has {len(env.possible_agents)} players; the GRPO baseline "
                                 "plays two-player worlds against one fixed opponent")
            learner, other = env.possible_agents[seat], env.possible_agents[1 - seat]
            opponent = make_opponent(config.opponent, config.opponent_params, env)
            opponent.reset(other, env.rules(other), np.random.default_rng(int(match_seed)))
            record = MatchRecord(env=env, seed=int(match_seed), group=m, learner_seats=(seat,),
                                 opponent=config.opponent, observations=observations,
                                 rewards=[[] for _ in env.possible_agents])
            matches.append(PlayedMatch(record=record, learner=learner, opponent=opponent))
        draws = np.random.default_rng(seed)
        while True:
            for match in matches:
                self._advance(match)
            deciding = [match for match in matches if match.record.env.agents]
            if not deciding:
                break
            sequences = [self._extend_context(match) for match in deciding]
            answers = generate(sequences, int(draws.integers(2**31 - 1)))
            for match, (tokens, logps) in zip(deciding, answers):
                self._answer(match, list(tokens), list(logps))
        for match in matches:
            if not match.completion_ids:  # a learner that never decided: one masked token keeps TRL's shapes
                match.completion_ids, match.env_mask, match.logprobs = [self.end_of_turn_ids[0]], [0], [0.0]
        self.pending.extend(matches)
        self.rollout_seconds += time.perf_counter() - start
        return {
            "prompt_ids": [m.prompt_ids for m in matches],
            "completion_ids": [m.completion_ids for m in matches],
            "logprobs": [m.logprobs for m in matches],
            "env_mask": [m.env_mask for m in matches],
            "return_per_round": [m.return_per_round for m in matches],
        }

    def take(self) -> tuple[list[PlayedMatch], float]:
        """The matches played since the last call, and the seconds spent playing them."""
        matches, seconds = self.pending, self.rollout_seconds
        self.pending, self.rollout_seconds = [], 0.0
        return matches, seconds

    def _opponent_action(self, match: PlayedMatch, agent: str) -> Any:
        record, env = match.record, match.record.env
        decision = Decision(agent_id=agent, observation=record.observations[agent], text=env.describe(agent),
                            spec=env.action_spec(agent), rules=env.rules(agent), step=record.step,
                            episode=record.seed)
        return match.opponent.act(decision).value

    def _advance(self, match: PlayedMatch) -> None:
        """Play the steps in which the learner does not decide (the opponent's turns)."""
        env = match.record.env
        while env.agents and match.learner not in env.deciders():
            actions = {a: env.idle_action(a) for a in env.agents}
            for agent in env.deciders():
                actions[agent] = self._opponent_action(match, agent)
            self._step(match, actions)

    def _step(self, match: PlayedMatch, actions: dict[str, Any]) -> None:
        record, env = match.record, match.record.env
        observations, rewards, _, _, infos = env.step(actions)
        record.observations = observations
        first = env.possible_agents[0]
        info = infos.get(first, {})
        for seat, agent in enumerate(env.possible_agents):
            record.rewards[seat].append(float(rewards.get(agent, 0.0)))
        record.rounds.append(int(info.get("round", len(record.rounds) + 1)) - 1)
        if info.get("phase") == "act" and "played" in info:
            record.played.append((int(info["played"]), int(info["other_played"])))
        if info.get("phase") == "proposal" and "max_welfare" in info:
            record.max_welfare += float(info["max_welfare"])
        record.step += 1

    def _render(self, messages: list[dict[str, str]]) -> str:
        tokenizer = self.tokenizer
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return text + self.config.answer_prefix

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _extend_context(self, match: PlayedMatch) -> list[int]:
        """Add the learner's next user turn (the prompt, or feedback tokens); returns the full context."""
        env = match.record.env
        spec = env.action_spec(match.learner)
        if not match.messages:
            match.messages = build_chat(env.rules(match.learner), env.describe(match.learner), spec.instruction,
                                        self.config.persona)
            match.text = self._render(match.messages)
            match.prompt_ids = self._encode(match.text)
        else:
            match.messages.append({"role": "user", "content": env.describe(match.learner) + "\n\n" + spec.instruction})
            rendered = self._render(match.messages)
            # the new rendering normally extends what was tokenized; else keep the tail after the common prefix
            tail = rendered[len(match.text):] if rendered.startswith(match.text) \
                else rendered[_common_prefix(rendered, match.text):]
            feedback = self._encode(tail)
            match.completion_ids += feedback
            match.env_mask += [0] * len(feedback)
            match.logprobs += [0.0] * len(feedback)
            match.text = match.text + tail
        return match.prompt_ids + match.completion_ids

    def _answer(self, match: PlayedMatch, tokens: list[int], logps: list[float]) -> None:
        """Record the learner's answer, parse it (fallback counted), let the opponent act, step."""
        record, env = match.record, match.record.env
        if not tokens:  # an empty answer still closes the turn
            tokens, logps = [self.end_of_turn_ids[0]], [0.0]
        match.completion_ids += tokens
        match.env_mask += [1] * len(tokens)
        match.logprobs += [float(x) for x in logps]
        match.text += self.tokenizer.decode(tokens, skip_special_tokens=False)
        reply = self.config.answer_prefix + self.tokenizer.decode(tokens, skip_special_tokens=True)
        match.messages.append({"role": "assistant", "content": reply})
        match.answers.append(reply)
        match.decisions += 1
        spec = env.action_spec(match.learner)
        try:
            value = spec.parse(reply)
        except ActionParseError:
            value = spec.fallback
            record.fallbacks += 1
        actions = {a: env.idle_action(a) for a in env.agents} if set(env.deciders()) != set(env.agents) else {}
        actions[match.learner] = value
        for agent in env.deciders():
            if agent != match.learner:
                actions[agent] = self._opponent_action(match, agent)
        self._step(match, actions)


def model_generator(model: Any, tokenizer: Any, end_of_turn_ids: Sequence[int], max_new_tokens: int,
                    temperature: float) -> Generator:
    """A :data:`Generator` sampling from ``model`` with
    :func:`~dilemmazoo.agents.trainers.llm_rollout.sample_completions` (the LoRA trainer's sampler)."""

    def generate(sequences: list[list[int]], seed: int) -> list[tuple[list[int], list[float]]]:
        return sample_completions(model, tokenizer, sequences, seed, eos_ids=end_of_turn_ids,
                                  max_new_tokens=max_new_tokens, temperature=temperature,
                                  batch_size=max(1, len(sequences)))

    return generate


# --------------------------------------------------------------------------------------------
# TRL pieces: the trainer subclass, the metrics callback
# --------------------------------------------------------------------------------------------


def match_grpo_trainer_class():
    """``MatchGRPOTrainer``: TRL's ``GRPOTrainer`` with the dataset rows handed to the rollout and A-GRAE."""
    from trl import GRPOTrainer

    class MatchGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that hands the dataset rows to the rollout and optionally applies A-GRAE."""

        grpo_baseline: GRPOBaselineConfig

        def _generate_and_score_completions(self, inputs):
            self.match_inputs = inputs  # the rollout reads each row's match seed and learner seat
            try:
                output = super()._generate_and_score_completions(inputs)
            finally:
                self.match_inputs = None
            config = self.grpo_baseline
            if config.agrae:
                # the rollout's extra fields were merged into ``inputs`` by super()
                rewards = [float(x["return_per_round"]) for x in inputs]
                progress = min(1.0, self.state.global_step / max(1, self.state.max_steps))
                advantages = output["advantages"]
                scaled = agrae_rescale(advantages.detach().cpu().numpy(), rewards, self.num_generations, progress,
                                       config.agrae_suppression, config.agrae_curriculum,
                                       config.agrae_success_threshold)
                output["advantages"] = torch.as_tensor(scaled, dtype=advantages.dtype, device=advantages.device)
            return output

    return MatchGRPOTrainer


def _metrics_callback(rollout: MatchRollout, metrics_path: Path, progress: bool):
    from transformers import TrainerCallback

    class MetricsWriter(TrainerCallback):
        """Writes one ``metrics.jsonl`` row per optimizer step from the rollout and TRL's logs."""

        def __init__(self):
            self.step_start = time.perf_counter()
            self.history: list[dict[str, Any]] = []
            self.bar = ProgressBar(None, disable=True)

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = ProgressBar(state.max_steps, "grpo", unit="steps", completed=state.global_step,
                                   disable=not progress)

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

        def on_step_begin(self, args, state, control, **kwargs):
            self.step_start = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" not in logs:  # the end-of-training summary (train_loss, train_runtime, ...)
                return
            matches, rollout_s = rollout.take()
            row = _metrics_row(int(state.global_step), matches, logs, rollout_s,
                               time.perf_counter() - self.step_start)
            self.history.append(row)
            with metrics_path.open("a") as handle:
                handle.write(json.dumps(_jsonable(row)) + "\n")
            line = (f"return/round {row['return_per_round']:.3f}  coop {row['cooperation_rate']:.2f}  "
                    f"invalid {row['invalid_answer_rate']:.2f}  loss {row['loss']:+.4f}")
            self.bar.advance(description=line)
            logger.info("step %d: %s  (%.1fs)", row["iteration"], line, row["seconds"])

    return MetricsWriter()


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _metrics_row(step: int, matches: Sequence[PlayedMatch], logs: dict[str, Any], rollout_s: float,
                 seconds: float) -> dict[str, Any]:
    """One metrics row: :func:`match_metrics` of the step's matches plus TRL's logged values."""
    decisions = sum(m.decisions for m in matches)
    fallbacks = sum(m.record.fallbacks for m in matches)
    base = match_metrics([m.record for m in matches]) if matches else {
        "return_per_round": float("nan"), "other_return_per_round": float("nan"),
        "welfare_per_round": float("nan"), "cooperation_rate": float("nan"), "split_efficiency": float("nan"),
        "fallbacks": 0, "matches": 0}
    return {
        "iteration": step,
        **base,
        "invalid_answer_rate": fallbacks / decisions if decisions else float("nan"),
        "decisions": decisions,
        "loss": _number(logs.get("loss")),
        "kl": _number(logs.get("kl")),
        "entropy": _number(logs.get("entropy")),
        "grad_norm": _number(logs.get("grad_norm")),
        "reward": _number(logs.get("reward")),
        "reward_std": _number(logs.get("reward_std")),
        "frac_reward_zero_std": _number(logs.get("frac_reward_zero_std")),
        "clip_ratio": _number(logs.get("clip_ratio/region_mean")),
        "completion_tokens": _number(logs.get("completions/mean_length")),
        "learning_rate": _number(logs.get("learning_rate")),
        "rollout_s": rollout_s,
        "seconds": seconds,
    }


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_library_warnings():
    """Hide warnings the libraries raise about each other (nothing a user of this module can act on):
    transformers 5.x deprecating ``gradient_checkpointing`` (TRL 1.16 still sets it) and peft not
    finding a ``config.json`` beside the GGUF file when it saves an adapter."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message="Could not find a config file in", category=UserWarning)
        yield


def latest_trl_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete TRL checkpoint ``out_dir/checkpoints/checkpoint-N``, or ``None``."""
    folder = Path(out_dir) / "checkpoints"
    if not folder.is_dir():
        return None
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith("checkpoint-")
             and p.name.split("-", 1)[1].isdigit() and (p / "trainer_state.json").exists()]
    return max(found, key=lambda p: int(p.name.split("-", 1)[1])) if found else None


def match_dataset(config: GRPOBaselineConfig):
    """The training rows: ``iterations * prompts_per_step`` match seeds drawn from ``seed``, seat
    ``row % 2``, and the first decision's chat as ``prompt`` (what TRL logs; the rollout rebuilds it)."""
    from datasets import Dataset

    from dilemmazoo.envs import make_world

    rng = np.random.default_rng(config.seed)
    rows = []
    env = make_world(config.world, **config.world_kwargs)
    for row in range(config.iterations * config.prompts_per_step):
        match_seed = int(rng.integers(2**31 - 1))
        seat = row % 2
        env.reset(seed=match_seed)
        agent = env.possible_agents[seat]
        chat = build_chat(env.rules(agent), env.describe(agent), env.action_spec(agent).instruction, config.persona)
        rows.append({"prompt": chat, "match_seed": match_seed, "learner_seat": seat})
    return Dataset.from_list(rows)


def _drop_gguf_marker(model: Any) -> None:
    """Forget that the weights came from a GGUF file.

    transformers de-quantizes GGUF weights into ordinary tensors at load time but keeps the GGUF
    "quantizer" on the model, and ``Trainer`` refuses to train a model marked as quantized by a method
    without training support. The weights are plain tensors (see ``load_base_model``'s dtype), so
    the marker is dropped; any other quantization is left alone (and refused by ``Trainer``).
    """
    quantizer = getattr(model, "hf_quantizer", None)
    method = getattr(getattr(quantizer, "quantization_config", None), "quant_method", None)
    if quantizer is not None and str(getattr(method, "value", method)).lower() == "gguf":
        model.hf_quantizer = None
        if "is_quantized" in vars(model):  # set as a plain attribute at load time
            vars(model)["is_quantized"] = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config


def train_grpo(config: GRPOBaselineConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = False,
               base: tuple[Any, Any] | None = None) -> list[dict[str, Any]]:
    """Train the LoRA adapter with TRL's GRPOTrainer; returns the metrics rows of this call.

    ``base``: an already loaded ``(model, tokenizer)`` from ``load_base_model`` (modified in place:
    LoRA layers are injected), else the config's model is loaded. See the module docstring for the
    files written and for ``resume``.
    """
    if not isinstance(config, GRPOBaselineConfig):
        raise ValueError(f"config must be a GRPOBaselineConfig; got {type(config).__name__}")
    from dilemmazoo.envs import make_world

    world = make_world(config.world, **config.world_kwargs)  # fail early on a bad world or kwargs
    if len(world.possible_agents) != 2:
        raise ValueError(f"world {config.world!r} has {len(world.possible_agents)} players; the GRPO baseline plays "
                         "two-player worlds against one fixed opponent")
    world.reset(seed=0)
    make_opponent(config.opponent, config.opponent_params, world)  # fail early on a bad opponent name
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"
    checkpoint = latest_trl_checkpoint(out) if resume else None
    if checkpoint is not None:
        step = int(checkpoint.name.split("-", 1)[1])
        kept = [r for r in read_metrics(metrics_path) if r["iteration"] <= step]
        metrics_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    elif metrics_path.exists():
        metrics_path.unlink()
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    with temporary_environment(_OFFLINE_ENV), _quiet_library_warnings():
        from peft import LoraConfig
        from trl import GRPOConfig

        model, tokenizer = plain_base(base, config.model, config.device, config.dtype, training=True)
        device = next(model.parameters()).device
        dtype = next(model.parameters()).dtype
        _drop_gguf_marker(model)
        eot = end_of_turn_ids(model, tokenizer)
        rollout = MatchRollout(config, tokenizer, eot)
        batch = config.prompts_per_step * config.num_generations
        micro = config.micro_batch_size or batch
        on_cuda = device.type == "cuda"
        args = GRPOConfig(
            output_dir=str(out / "checkpoints"),
            max_steps=config.iterations,
            per_device_train_batch_size=micro,
            gradient_accumulation_steps=batch // micro,
            num_generations=config.num_generations,
            max_completion_length=config.max_new_tokens,
            temperature=config.temperature,
            learning_rate=config.lr,
            lr_scheduler_type="constant",
            warmup_steps=0,
            weight_decay=0.0,
            max_grad_norm=config.max_grad_norm,
            beta=config.beta,
            epsilon=config.epsilon,
            loss_type=config.loss_type,
            scale_rewards=config.scale_rewards,
            seed=config.seed,
            logging_steps=1,
            save_strategy="steps",
            save_steps=config.checkpoint_every,
            report_to="none",
            push_to_hub=False,
            disable_tqdm=not progress,
            log_completions=False,
            gradient_checkpointing=on_cuda,
            bf16=dtype == torch.bfloat16,
            use_cpu=device.type == "cpu",
            dataloader_num_workers=0,
            shuffle_dataset=True,
        )
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=config.lora_target_modules, bias="none", task_type="CAUSAL_LM")
        writer = _metrics_callback(rollout, metrics_path, progress)
        trainer = match_grpo_trainer_class()(model=model, reward_funcs=match_return_reward, args=args,
                                   train_dataset=match_dataset(config), processing_class=tokenizer,
                                   peft_config=lora, rollout_func=rollout, callbacks=[writer])
        trainer.grpo_baseline = config
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        for printer in (PrinterCallback, ProgressCallback):  # they print every log dict; ours shows one bar
            trainer.remove_callback(printer)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
        if trainer.state.global_step % config.checkpoint_every:
            trainer._save_checkpoint(trainer.model, trial=None)  # the end is always resumable
        trainer.accelerator.unwrap_model(trainer.model).save_pretrained(str(out / "adapter"))
    return writer.history


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def adapter_generator(config: GRPOBaselineConfig, adapter: str | Path, base: tuple[Any, Any] | None = None):
    """``(model, tokenizer, end_of_turn_ids, generate)`` for the config's model with the peft
    ``adapter`` loaded (eval mode; ``model.disable_adapter()`` gives the base model back), and a
    :func:`model_generator` sampling at the config's settings; offline and quiet inside the block.
    ``base``: a fresh ``(model, tokenizer)`` from ``load_base_model`` to load the adapter into."""
    with temporary_environment(_OFFLINE_ENV), _quiet_library_warnings():
        from peft import PeftModel

        network, tokenizer = plain_base(base, config.model, config.device, config.dtype, training=False)
        model = PeftModel.from_pretrained(network, str(adapter), is_trainable=False)
        model.eval()
        eot = end_of_turn_ids(network, tokenizer)
        yield model, tokenizer, eot, model_generator(model, tokenizer, eot, config.max_new_tokens, config.temperature)


def evaluate_grpo(out_dir_or_adapter: str | Path, opponents: Sequence[str], matches: int = 8, seed: int = 0, *,
                  config: GRPOBaselineConfig | None = None,
                  base: tuple[Any, Any] | None = None) -> list[dict[str, Any]]:
    """Play the trained adapter against each fixed opponent (no training); one metrics row per opponent.

    ``out_dir_or_adapter``: a :func:`train_grpo` run folder (its ``config.json`` and ``adapter/``)
    or a peft adapter folder (then ``config`` gives the world and sampling settings; default
    :class:`GRPOBaselineConfig`). ``base``: a fresh ``(model, tokenizer)`` from ``load_base_model``
    to load the adapter into (else the config's model is loaded). Matches ``k = 0..matches-1`` use
    environment seed ``seed * 1000 + k`` and learner seat ``k % 2``; answers are sampled at the
    config's ``temperature`` with a generator seeded by ``seed``. Rows hold the opponent, the
    adapter path, :func:`~dilemmazoo.agents.trainers.llm_rollout.match_metrics` and
    ``invalid_answer_rate``.
    """
    path = Path(out_dir_or_adapter)
    if config is None:
        config = (GRPOBaselineConfig(**json.loads((path / "config.json").read_text()))
                  if (path / "config.json").exists() else GRPOBaselineConfig())
    adapter = path / "adapter" if (path / "adapter" / "adapter_config.json").exists() else path
    if not (adapter / "adapter_config.json").exists():
        raise ValueError(f"no peft adapter in {str(path)!r} (expected adapter_config.json there or in adapter/)")
    if isinstance(matches, bool) or not isinstance(matches, int) or matches < 1:
        raise ValueError(f"matches must be an integer >= 1; got {matches!r}")
    with adapter_generator(config, adapter, base) as (_, tokenizer, eot, generate):
        rows = []
        for name in opponents:
            params = config.opponent_params if name == config.opponent else {}
            rollout = MatchRollout(config.replace(opponent=name, opponent_params=params), tokenizer, eot)
            rollout.play(generate, [seed * 1000 + k for k in range(matches)], [k % 2 for k in range(matches)], seed)
            played, _ = rollout.take()
            decisions = sum(m.decisions for m in played)
            fallbacks = sum(m.record.fallbacks for m in played)
            rows.append({"adapter": str(adapter), "opponent": name, **match_metrics([m.record for m in played]),
                         "invalid_answer_rate": fallbacks / decisions if decisions else float("nan")})
    return rows
