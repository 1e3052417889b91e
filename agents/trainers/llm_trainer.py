"""Policy-gradient training of LoRA adapters for language agents, with Advantage Alignment credit.

Sources: "Learning Robust Social Strategies with Large Language Models" (arXiv 2511.19405;
dereckpiche/AdAlignLLM): critic-free group-relative baseline, round-level credit shared by the
messages and the action of a round, REINFORCE per action token with a truncated importance weight,
k3 KL to the base model, the per-world hyper-parameters of :data:`TRAINER_PRESETS`; Duque et al.,
"Advantage Alignment Algorithms" (ICLR 2025) for the credit itself; Hu et al. 2021, "LoRA" (via
``peft``); Schulman 2020, "Approximating KL divergence" (the k3 estimator).
The credit math is :mod:`dilemmazoo.agents.trainers.credit` (one implementation for all trainers).

Rollouts
--------
One iteration plays ``groups`` groups of ``group_size`` (K) matches of any dilemmazoo language
world with two or more players (IPD, Trust-and-Split, Split No-Comm, the Donor Game, GovSim, ...). The K matches of a group share the environment seed (common random numbers: the same
hands, the same starter) and the same opponent, so the leave-one-out baseline compares like with
like. Opponents (``opponent``):

- ``"self"``: self-play against live copies: every seat is played by the adapter being trained
  and every seat's decisions are trained;
- a scripted strategy name (``make_scripted``: ``always_defect``, ``tit_for_tat``, ``greedy``,
  ``split_greedy``, ``donor_...``, ``commons_greedy``, ...): mixed play, one instance per other
  seat, only the learner's seat is trained; the learner's seat rotates between groups (group
  ``g`` plays seat ``g % N``);
- with probability ``past_opponent_prob`` (once a checkpoint exists) a group instead meets a past
  checkpoint of the adapter, drawn uniformly from those saved every ``checkpoint_every``
  iterations (the spec's opponent pool: live copy or, with probability 0.5, a past checkpoint).

All matches run in lockstep; at each step the decisions of all matches are batched.

How a decision is sampled, and what its "action tokens" are
-----------------------------------------------------------
The prompt is the one :class:`~dilemmazoo.agents.llm.LLMPolicy` sends: a system message with the
persona and the world's ``rules(agent)``, a user message with ``describe(agent)`` and the action
spec's instruction, rendered by the tokenizer's chat template.

- **Small choices** (a ``Choice``, or an ``Amount`` over at most 21 whole numbers and no moves,
  e.g. Trust-and-Split's 0..10 coins): each option text ``"Answer: <label>"`` followed by the
  template's end-of-turn marker is scored as the whole reply; the option is sampled from
  ``softmax(loglik / temperature)`` over the options. The action's log-probability
  ``log pi(option)`` (normalised over the options) is exact, and it is the one "action token" of
  the decision: it enters the loss once, with the exact entropy of the option distribution and
  the k3 KL of the chosen option against the base model's option distribution.
- **Free text** (``Message`` specs, other amounts): the adapter generates up to
  ``max_new_tokens`` tokens at ``temperature`` (no top-k, no top-p) and each generated token,
  including the end-of-turn token, is an action token. The sampling log-probabilities come from
  the generation's own logits (the "sampling engine"). The text is parsed by the world's spec; an
  answer that does not parse takes the world's declared fallback and is counted (``fallbacks``);
  the sampled tokens are still trained with their round's credit (there is no retry in training).

Credit
------
Rewards are summed per round (a step's round is ``infos[agent]["round"]``, 1-based; worlds without
it count each step as a round, and a step reporting no round, 0, joins the previous step's round),
giving ``(matches, N, T)``. Per group, :func:`credit_from_rewards` gives each trained seat of a
two-player world its per-round credit (``naive``, ``sum_rewards`` or ``aa``) from its own and the
co-player's rewards (centralised: the co-player's advantages are computed here from its rewards).
With ``N > 2`` players the seats' leave-one-out advantages go to
:func:`~dilemmazoo.agents.trainers.credit.n_player_credit`: ``naive``, ``sum_rewards`` (own plus
the co-players' summed advantages) or the N-player AA form
``A + beta * (sum_{k<t} A_k) * (sum_{j != i} A^j_t) / t`` (``gamma_aa`` and ``aa_form`` do not
apply).
Every action token of a round (messages and the action) gets that round's credit
(:func:`~dilemmazoo.agents.trainers.credit.round_credit_to_tokens`).

Optional A-GRAE (``agrae: true``; Yu et al., arXiv 2602.05548), applied to the per-round credit
of each seat and group after the credit rule, by
:func:`~dilemmazoo.agents.trainers.credit.agrae_advantages`: a match is *successful* when the
seat's return per round exceeds ``agrae_success_threshold`` (when that is ``None``: the mean return per round
of the seat over its group's matches); positive credit of successful matches is multiplied by
``1 - agrae_suppression`` (exploration), and every credit of a group by the curriculum weight
``1 + agrae_curriculum * (1 - 2 * progress) * (p - 1/2)`` with ``p`` the group's success rate and
``progress`` = iterations done / ``iterations`` (easy groups first, hard groups late). The share of
successful matches is logged as ``agrae_success_rate``.

Loss (:func:`token_loss`), averaged over all action tokens of the iteration
-------------------------------------------------------------------------------
``loss_tok = -w * credit * logp - entropy_coef * H + kl_coef * k3``, with ``logp`` the current
log-probability of the token, ``w = min(exp(logp - logp_sampling), is_cap)`` the truncated
importance weight (no gradient), ``k3 = exp(logp_ref - logp) - (logp_ref - logp) - 1`` against
the base model (the adapter switched off), and ``H`` the entropy of the token's distribution.
One optimizer step (Adam) per iteration with gradient-norm clipping at ``grad_clip``; the
micro-batches of an iteration accumulate gradients. A micro-batch holds at most
``max_batch_tokens`` tokens beyond the prefix all its rows share (the world's rules): that prefix
runs once and its key/value cache is repeated for every row, gradients included.

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

Devices
-------
CPU: float32 (``dtype="auto"``): LoRA gradients through a bf16 CPU model are slow and imprecise.
CUDA: bfloat16 where supported (else float16 is refused for training; use float32), gradient
checkpointing (``gradient_checkpointing="auto"`` turns it on on CUDA only), batched generation
with left padding. The GPU paths are guarded by device checks.

Outputs of :meth:`LLMTrainer.train` (``out_dir``)
-------------------------------------------------
``metrics.jsonl`` (one JSON object per iteration, keys in :data:`METRIC_KEYS`),
``checkpoints/iter_NNNNNN/`` (``adapter_model.safetensors`` and ``adapter_config.json`` from
peft, ``trainer_state.pt``: optimizer, numpy generator state, iteration). Plots and the HTML
report are drawn from these files by :mod:`dilemmazoo.analysis.training` (``dilemmazoo train``
writes them after training; ``dilemmazoo report RUN_DIR`` redraws them at any time).
``train(..., resume=True)`` continues from the newest checkpoint: same adapter weights, optimizer
state and random stream, so an interrupted run continues as the uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    import torch
except ImportError as error:  # torch comes with the "local" extra
    raise ImportError('the LLM trainer needs torch, transformers and peft: '
                      'pip install "dilemmazoo[local]" peft') from error

from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.trainers.credit import (
    AA_FORMS,
    CREDIT_METHODS,
    CREDIT_PRESETS,
    agrae_advantages,
    agrae_success_mask,
    credit_from_rewards,
    group_advantages,
    n_player_credit,
    returns_to_go,
    round_credit_to_tokens,
)
from dilemmazoo.envs.base import ActionParseError, ActionSpec, Amount, Choice

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
    "round_rewards",
    "sample_completions",
    "token_loss",
    "truncated_importance_weight",
]

MAX_SCORED_AMOUNTS = 21
MIN_SHARED_PREFIX = 32  # tokens; a shorter common prefix is not worth a separate pass
OPPONENT_SELF = "self"

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


@dataclass(frozen=True)
class LLMTrainerConfig:
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
    ``agrae_curriculum``, ``agrae_success_threshold`` (see the module docstring). Loss: ``lr``, ``kl_coef``, ``entropy_coef``, ``is_cap``,
    ``grad_clip``, ``max_batch_tokens`` (tokens per forward micro-batch beyond the prefix all its
    rows share; raise it on a GPU), ``generation_batch_size`` (messages generated per call).
    Exploitation probe: every ``greedy_every`` iterations,
    ``greedy_matches`` evaluation matches (no training) against ``greedy_opponent`` (``greedy``,
    ``split_greedy``; off when 0 or empty). ``seed``: the one seed of the run.
    """

    world: str = "repeated-game"
    world_kwargs: dict[str, Any] = field(default_factory=dict)
    model: str = "embedded"
    device: str = "auto"
    dtype: str = "auto"
    gradient_checkpointing: str = "auto"
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.0
    lora_target_modules: str | list[str] = "all-linear"
    iterations: int = 100
    groups: int = 8
    group_size: int = 8
    opponent: str = OPPONENT_SELF
    opponent_params: dict[str, Any] = field(default_factory=dict)
    past_opponent_prob: float = 0.5
    checkpoint_every: int = 10
    temperature: float = 1.0
    max_new_tokens: int = 400
    persona: str = ""
    credit: str = "aa"
    credit_preset: str = "ipd"
    beta: float | None = None
    gamma_aa: float | None = None
    gamma: float | None = None
    reward_scale: float | None = None
    aa_form: str = "original"
    agrae: bool = False
    agrae_suppression: float = 0.3
    agrae_curriculum: float = 1.0
    agrae_success_threshold: float | None = None
    lr: float = 3e-6
    kl_coef: float = 0.0
    entropy_coef: float = 0.0
    is_cap: float = 2.0
    grad_clip: float = 1.0
    max_batch_tokens: int = 2048
    generation_batch_size: int = 64
    greedy_opponent: str = ""
    greedy_matches: int = 0
    greedy_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.credit not in CREDIT_METHODS:
            raise ValueError(f"credit must be one of {CREDIT_METHODS}; got {self.credit!r}")
        if self.credit_preset not in CREDIT_PRESETS:
            raise ValueError(f"credit_preset must be one of {tuple(CREDIT_PRESETS)}; got {self.credit_preset!r}")
        if self.aa_form not in AA_FORMS:
            raise ValueError(f"aa_form must be one of {AA_FORMS}; got {self.aa_form!r}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be one of auto, float32, bfloat16, float16; got {self.dtype!r}")
        if self.gradient_checkpointing not in ("auto", "on", "off"):
            raise ValueError("gradient_checkpointing must be one of auto, on, off; "
                             f"got {self.gradient_checkpointing!r}")
        if not (self.model == "embedded" or self.model.startswith("hf:")):
            raise ValueError(f"model must be 'embedded' or 'hf:PATH'; got {self.model!r}")
        for name in ("lora_r", "lora_alpha", "iterations", "groups", "checkpoint_every", "max_new_tokens",
                     "max_batch_tokens", "generation_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)!r}")
        if self.group_size < 2:
            raise ValueError("group_size must be >= 2 (the leave-one-out baseline needs K >= 2); "
                             f"got {self.group_size}")
        if not 0.0 <= self.past_opponent_prob <= 1.0:
            raise ValueError(f"past_opponent_prob must be in [0, 1]; got {self.past_opponent_prob}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1); got {self.lora_dropout}")
        for name in ("temperature", "lr", "is_cap", "grad_clip"):
            if not float(getattr(self, name)) > 0.0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}")
        if self.greedy_matches < 0 or self.greedy_every < 1:
            raise ValueError("greedy_matches must be >= 0 and greedy_every >= 1; "
                             f"got {self.greedy_matches}, {self.greedy_every}")
        if self.greedy_matches and not self.greedy_opponent:
            raise ValueError("greedy_matches > 0 needs greedy_opponent (e.g. greedy, split_greedy)")
        for name in ("kl_coef", "entropy_coef"):
            if float(getattr(self, name)) < 0.0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}")
        if not isinstance(self.agrae, bool):
            raise ValueError(f"agrae must be true or false; got {self.agrae!r}")
        if not 0.0 <= self.agrae_suppression <= 1.0:
            raise ValueError(f"agrae_suppression must be in [0, 1]; got {self.agrae_suppression}")
        if not 0.0 <= self.agrae_curriculum <= 2.0:
            raise ValueError(f"agrae_curriculum must be in [0, 2] (keeps weights >= 0); got {self.agrae_curriculum}")

    def credit_parameters(self) -> dict[str, float]:
        """``beta``, ``gamma_aa``, ``gamma``, ``reward_scale``: given values, else the preset's."""
        preset = CREDIT_PRESETS[self.credit_preset]
        return {name: float(getattr(preset, name) if getattr(self, name) is None else getattr(self, name))
                for name in ("beta", "gamma_aa", "gamma", "reward_scale")}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Loss pieces (pure functions of tensors)
# --------------------------------------------------------------------------------------------


def truncated_importance_weight(logp: torch.Tensor, sampling_logp: torch.Tensor, cap: float) -> torch.Tensor:
    """``min(exp(logp - logp_sampling), cap)``, without gradient.

    Corrects for the (small) difference between the engine that sampled (generation kernels,
    dtype, an older copy of the weights) and the policy being trained, and caps the correction.
    """
    return torch.exp(logp.detach() - sampling_logp.detach()).clamp(max=float(cap))


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of ``KL(pi || pi_ref)`` on tokens sampled from ``pi``:
    ``exp(ref - logp) - (ref - logp) - 1`` (>= 0, unbiased; Schulman 2020)."""
    log_ratio = ref_logp - logp
    return torch.exp(log_ratio) - log_ratio - 1.0


def token_loss(logp: torch.Tensor, sampling_logp: torch.Tensor, credit: torch.Tensor, *, is_cap: float,
               ref_logp: torch.Tensor | None = None, entropy: torch.Tensor | None = None, kl_coef: float = 0.0,
               entropy_coef: float = 0.0) -> dict[str, torch.Tensor]:
    """Per-token loss terms (see the module docstring); every tensor has one entry per action token.

    Returns ``loss`` (per token, to be averaged), ``pg``, ``kl``, ``weight`` (the truncated
    importance weight) and ``clipped`` (1.0 where the weight was capped).
    """
    weight = truncated_importance_weight(logp, sampling_logp, is_cap)
    raw = torch.exp(logp.detach() - sampling_logp.detach())
    pg = -weight * credit * logp
    loss = pg
    kl = k3_kl(logp, ref_logp) if ref_logp is not None else torch.zeros_like(logp)
    if ref_logp is not None and kl_coef:
        loss = loss + kl_coef * kl
    if entropy is not None and entropy_coef:
        loss = loss - entropy_coef * entropy
    return {"loss": loss, "pg": pg, "kl": kl, "weight": weight, "clipped": (raw > is_cap).to(logp.dtype)}


def option_log_probs(option_logliks: torch.Tensor, temperature: float) -> torch.Tensor:
    """``log softmax(loglik / temperature)`` over the options (last axis)."""
    return torch.log_softmax(option_logliks / float(temperature), dim=-1)


# --------------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------------


def decision_options(spec: ActionSpec) -> list[str] | None:
    """Option texts for a decision sampled by scoring (see the module docstring), else ``None``.

    ``Choice`` -> its ``options()``; an ``Amount`` without moves over at most 21 whole numbers
    -> ``"Answer: k"`` for each; anything else is generated as free text.
    """
    if isinstance(spec, Choice):
        return spec.options()
    if isinstance(spec, Amount) and not spec.moves:
        low, high = float(spec.low), float(spec.high)
        if low.is_integer() and high.is_integer() and 0 <= high - low < MAX_SCORED_AMOUNTS:
            return [f"Answer: {k}" for k in range(int(low), int(high) + 1)]
    return None


def build_chat(rules: str, text: str, instruction: str, persona: str = "") -> list[dict[str, str]]:
    """The chat :class:`~dilemmazoo.agents.llm.LLMPolicy` sends (no strategy, no memory)."""
    system = "\n\n".join(p for p in (persona.strip(), rules.strip()) if p)
    return [{"role": "system", "content": system}, {"role": "user", "content": text + "\n\n" + instruction}]


@dataclass
class Sample:
    """One trained decision: where it was taken, its tokens and its sampling log-probabilities.

    Option decisions: ``options`` holds each option's reply token ids, ``chosen`` the sampled one
    and ``sampling_logprobs`` one value (``log pi(chosen)``). Free text: ``completion_ids`` holds
    the generated tokens and ``sampling_logprobs`` one value per token. ``credit`` is the
    round's credit and ``token_credits`` its copy on every action token (set by :func:`assign_credit`).
    """

    match: int
    seat: int
    round: int
    prompt_ids: list[int]
    options: list[list[int]] | None = None
    step: int = -1
    chosen: int = -1
    completion_ids: list[int] = field(default_factory=list)
    sampling_logprobs: list[float] = field(default_factory=list)
    credit: float = 0.0
    token_credits: list[float] = field(default_factory=list)

    @property
    def action_tokens(self) -> int:
        return 1 if self.options is not None else len(self.completion_ids)

    @property
    def rows(self) -> int:
        """Sequences run for this decision: one per option, or the one completion."""
        return len(self.options) if self.options is not None else 1

    @property
    def forward_tokens(self) -> int:
        """Tokens of all its rows, counted whole (a prefix shared across rows counted each time)."""
        if self.options is not None:
            return sum(len(self.prompt_ids) + len(o) for o in self.options)
        return len(self.prompt_ids) + len(self.completion_ids)


@dataclass
class MatchRecord:
    """One match of a rollout: its world, seat roles, and per-step rewards and rounds."""

    env: Any
    seed: int
    group: int
    learner_seats: tuple[int, ...]
    opponent: Any  # None: the live adapter; a dict: adapter weights; else the scripted strategy's name
    observations: dict = field(default_factory=dict)
    scripted: dict[str, Any] = field(default_factory=dict)  # agent name -> scripted agent (mixed play)
    rewards: list[list[float]] = field(default_factory=list)  # per seat, per step
    rounds: list[int] = field(default_factory=list)
    played: list[tuple[int, int]] = field(default_factory=list)  # repeated games: (seat0, seat1) actions
    max_welfare: float = 0.0
    fallbacks: int = 0
    step: int = 0


# --------------------------------------------------------------------------------------------
# Model loading
# --------------------------------------------------------------------------------------------


def _training_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def load_base_model(model: str = "embedded", device: str = "auto", dtype: str = "auto"):
    """``(model, tokenizer)`` loaded from local files only (the embedded GGUF or ``hf:PATH``).

    A fresh copy: the trainer injects LoRA layers into it, so it is never the copy the inference
    backends share.
    """
    from dilemmazoo.agents.backends.hf import _offline, _quiet_transformers, resolve_device

    torch_device = resolve_device(device)
    torch_dtype = _training_dtype(dtype, torch_device)
    if model == "embedded":
        from dilemmazoo.agents.backends.embedded import EMBEDDED_GGUF, embedded_model_folder

        source, extra = embedded_model_folder(), {"gguf_file": EMBEDDED_GGUF}
    elif model.startswith("hf:"):
        source, extra = str(Path(model[3:]).expanduser()), {}
    else:
        raise ValueError(f"model must be 'embedded' or 'hf:PATH'; got {model!r}")
    with _offline():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, **extra)
            network = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=torch_dtype, **extra)
    network.to(torch_device)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return network, tokenizer


def _common_prefix_length(sequences: list[list[int]]) -> int:
    """Tokens all ``sequences`` start with, leaving each at least one token of its own."""
    shortest = min(len(s) for s in sequences)
    n = 0
    while n < shortest - 1 and all(s[n] == sequences[0][n] for s in sequences):
        n += 1
    return n


def _derive_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


# --------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------


def plain_base(base: tuple[Any, Any] | None, model: str, device: str, dtype: str, *,
               training: bool) -> tuple[Any, Any]:
    """``(network, tokenizer)``: ``base`` when given, else :func:`load_base_model` of ``model``.

    A base that already carries LoRA layers (a trainer was built on it) is refused, and so is a
    float16 base for ``training`` (unstable; bfloat16 or float32 train)."""
    from peft import PeftModel

    if base is None:
        base = load_base_model(model, device, dtype)
    network, tokenizer = base
    if isinstance(network, PeftModel) or getattr(network, "peft_config", None):
        raise ValueError("base already carries LoRA layers (a trainer was built on it): load a fresh copy "
                         "with load_base_model()")
    if training and next(network.parameters()).dtype == torch.float16:
        raise ValueError("training in float16 is unstable; use dtype bfloat16 or float32")
    return network, tokenizer


def left_pad(rows: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)``, both ``(len(rows), longest)``: the rows end-aligned, ``pad`` before them,
    and the attention mask (1 on the rows' tokens)."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        if row:
            ids[r, width - len(row):] = torch.tensor(list(row))
            mask[r, width - len(row):] = 1
    return ids, mask


def make_opponent(name: str, params: dict[str, Any], env: Any):
    """A scripted opponent (:func:`~dilemmazoo.agents.scripted.make_scripted`); ``greedy`` and
    ``welfare_maximiser`` read the world's payoff table when not given one."""
    from dilemmazoo.agents.matrix_strategies import MATRIX_STRATEGIES
    from dilemmazoo.agents.scripted import make_scripted

    params = dict(params)
    if name in ("greedy", "welfare_maximiser") and name in MATRIX_STRATEGIES and "payoffs" not in params \
            and hasattr(env, "payoffs"):
        params["payoffs"] = env.payoffs
    return make_scripted(name, **params)


def end_of_turn_ids(model: Any, tokenizer: Any) -> list[int]:
    """The ids that end a reply: the chat template's end-of-turn marker first (when it has one),
    then the model's EOS ids; the tokenizer's EOS when there is neither."""
    from dilemmazoo.agents.backends.hf import _end_of_turn

    eos = model.generation_config.eos_token_id
    ids = [eos] if isinstance(eos, int) else list(eos or [])
    marker = _end_of_turn(tokenizer)
    marker_id = tokenizer.convert_tokens_to_ids(marker) if marker else None
    if isinstance(marker_id, int) and marker_id != tokenizer.unk_token_id:
        ids = [marker_id] + [i for i in ids if i != marker_id]
    return ids or [tokenizer.eos_token_id]


def sample_completions(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], seed: int, *,
                       eos_ids: Sequence[int], max_new_tokens: int, temperature: float,
                       batch_size: int = 64) -> list[tuple[list[int], list[float]]]:
    """Sample one reply per prompt (token ids, no top-k/top-p) in left-padded batches of at most
    ``batch_size`` prompts of similar length, in eval mode; returns per prompt the reply's tokens up
    to and including the first of ``eos_ids`` and their sampling log-probabilities (at
    ``temperature``). Seeded by ``seed`` in a forked torch RNG (the global stream is untouched)."""
    from transformers import GenerationConfig

    eos = [int(i) for i in eos_ids]
    config = GenerationConfig(max_new_tokens=int(max_new_tokens), do_sample=True, temperature=float(temperature),
                              top_p=1.0, top_k=0, pad_token_id=tokenizer.pad_token_id, eos_token_id=eos,
                              return_dict_in_generate=True, output_logits=True)
    device = next(model.parameters()).device
    devices = [device.index or 0] if device.type == "cuda" else []
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: dict[int, tuple[list[int], list[float]]] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*generation flags are not valid.*")
            torch.manual_seed(int(seed))
            for first in range(0, len(order), batch_size):
                rows = order[first: first + batch_size]
                ids, mask = left_pad([prompts[i] for i in rows], tokenizer.pad_token_id)
                width = ids.shape[1]
                generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                           generation_config=config)
                new = generated.sequences[:, width:]
                logits = torch.stack(generated.logits, dim=1).float() / float(temperature)
                logp = torch.log_softmax(logits, dim=-1).gather(2, new[:, :, None]).squeeze(2)
                for r, i in enumerate(rows):
                    tokens = new[r].tolist()
                    length = next((k + 1 for k, token in enumerate(tokens) if token in eos), len(tokens))
                    out[i] = (tokens[:length], logp[r, :length].tolist())
    finally:
        model.train(was_training)
    return [out[i] for i in range(len(prompts))]


class LLMTrainer:
    """Trains one LoRA adapter on a language world (see the module docstring).

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

    # -- helpers -------------------------------------------------------------------------------
    def prompt_ids(self, chat: list[dict[str, str]]) -> list[int]:
        tokenizer = self.tokenizer
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        else:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in chat) + "assistant: "
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def reply_ids(self, option: str) -> list[int]:
        return self.tokenizer(option + self.end_of_turn, add_special_tokens=False)["input_ids"]

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """A copy of the adapter's weights."""
        from peft import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.model, save_embedding_layers=False)
        return {k: v.detach().clone() for k, v in state.items()}

    def load_adapter_state(self, state: dict[str, torch.Tensor]) -> None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(self.model, {k: v.to(self.device) for k, v in state.items()})

    @contextlib.contextmanager
    def using_weights(self, state: dict[str, torch.Tensor] | None):
        """Temporarily play with other adapter weights (a past checkpoint); ``None``: the live ones."""
        if state is None:
            yield
            return
        saved = self.adapter_state()
        self.load_adapter_state(state)
        try:
            yield
        finally:
            self.load_adapter_state(saved)

    # -- forward passes ------------------------------------------------------------------------
    def _token_logprobs(self, rows: list[tuple[list[int], int]], temperatures: list[float], *, grad: bool,
                        entropy: bool = False, reference: bool = False):
        """For each row ``(ids, n)``: log-probs (and entropies) of the last ``n`` tokens of ``ids``.

        Rows are left-padded into one batch; logits are kept for the last ``max n + 1``
        positions only. ``reference`` switches the adapter off (the base model).
        """
        keep = max(n for _, n in rows) + 1
        adapter = self.model.disable_adapter() if reference else contextlib.nullcontext()
        grad_mode = torch.enable_grad() if grad else torch.no_grad()
        with adapter, grad_mode:
            input_ids, logits = self._forward_rows([ids for ids, _ in rows], keep,
                                                   shared_prefix=not self._checkpointing_now)
            width = input_ids.shape[1]
            temps = torch.tensor(temperatures, dtype=torch.float32, device=self.device)[:, None, None]
            logp_all = torch.log_softmax(logits.float() / temps, dim=-1)  # (rows, keep, vocab)
            results = []
            for r, (ids, n) in enumerate(rows):
                targets = input_ids[r, width - n:]
                predicted = logp_all[r, keep - n - 1: keep - 1]
                logp = predicted.gather(1, targets[:, None]).squeeze(1)
                ent = -(predicted.exp() * predicted).sum(-1) if entropy else None
                results.append((logp, ent))
        return results

    def _forward_rows(self, sequences: list[list[int]], keep: int, *, shared_prefix: bool):
        """``(input_ids, logits)``: the rows laid out end-aligned, and the logits of their last ``keep`` positions.

        When all rows start with the same ``MIN_SHARED_PREFIX`` or more tokens (the world's rules),
        that prefix runs once and its key/value cache is repeated for every row, which then continue
        as ``[prefix][pads][own tail]`` (positions follow the attention mask). Gradients flow through
        the repeated cache, so this also serves training; with gradient checkpointing (which turns
        the cache off) every row runs whole, left-padded.
        """
        pad = self.tokenizer.pad_token_id
        shared = _common_prefix_length(sequences) if shared_prefix and len(sequences) > 1 else 0
        # every row keeps its last ``keep`` positions in its own tail, where the logits are read
        shared = min(shared, min(len(ids) for ids in sequences) - keep)
        if shared < MIN_SHARED_PREFIX:
            shared = 0
        tails = [ids[shared:] for ids in sequences]
        input_ids, mask = left_pad(tails, pad)
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        if not shared:
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=False,
                                logits_to_keep=keep).logits
            return input_ids, logits
        prefix = torch.tensor([sequences[0][:shared]], device=self.device)
        cache = self.model(input_ids=prefix, use_cache=True, logits_to_keep=1).past_key_values
        cache.batch_repeat_interleave(len(tails))
        full_mask = torch.cat([torch.ones((len(tails), shared), dtype=torch.long, device=self.device), mask], dim=1)
        positions = shared + (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(input_ids=input_ids, attention_mask=full_mask, position_ids=positions,
                            past_key_values=cache, use_cache=True, logits_to_keep=keep).logits
        return input_ids, logits

    def _option_logliks(self, prompts: list[list[int]], options: list[list[list[int]]], *, grad: bool,
                        reference: bool = False) -> list[torch.Tensor]:
        """Per decision, the tensor of option log-likelihoods ``sum_t log p(option token t)``.

        Each prompt runs once (a prefix shared by the batch's prompts runs once for all); its
        key/value cache is then gathered out for each of its options, and all option tokens run as
        one batch on top of it: an option costs its own few tokens, not a prompt. Gradients flow
        through the caches. With gradient checkpointing (no caches in training) every
        prompt + option runs whole.
        """
        if self._checkpointing_now:
            return self._option_logliks_whole(prompts, options, grad=grad, reference=reference)
        out: list[torch.Tensor | None] = [None] * len(prompts)
        shared = _common_prefix_length(prompts) if len(prompts) > 1 else 0
        costs = [len(p) - shared + sum(len(o) for o in opts) for p, opts in zip(prompts, options)]
        adapter = self.model.disable_adapter() if reference else contextlib.nullcontext()
        grad_mode = torch.enable_grad() if grad else torch.no_grad()
        with adapter, grad_mode:
            for batch in self._chunks(costs):
                for d, total in zip(batch, self._option_batch([prompts[d] for d in batch],
                                                              [options[d] for d in batch])):
                    out[d] = total
        return out  # type: ignore[return-value]

    def _option_batch(self, prompts: list[list[int]], options: list[list[list[int]]]) -> list[torch.Tensor]:
        """Option log-likelihoods for one batch of decisions (see :meth:`_option_logliks`)."""
        input_ids, mask, cache, logits = self._prompt_pass(prompts)
        first = torch.log_softmax(logits[:, -1, :].float(), dim=-1)  # each reply's first token
        prompt_len = mask.sum(-1)
        rows = [(b, j) for b, opts in enumerate(options) for j in range(len(opts))]
        sequences = [options[b][j] for b, j in rows]
        length = max(len(seq) for seq in sequences)
        index = torch.tensor([b for b, _ in rows], device=self.device)
        tokens = torch.full((len(rows), length), self.tokenizer.pad_token_id, dtype=torch.long, device=self.device)
        valid = torch.zeros((len(rows), length), dtype=torch.bool, device=self.device)
        for r, seq in enumerate(sequences):
            tokens[r, : len(seq)] = torch.tensor(seq, device=self.device)
            valid[r, : len(seq)] = True
        columns = [first[index].gather(1, tokens[:, :1])]
        if length > 1:
            cache.batch_select_indices(index)  # one copy of its prompt's cache per option row
            attention = torch.cat([mask[index], valid[:, :-1].long()], dim=1)
            positions = prompt_len[index, None] + torch.arange(length - 1, device=self.device)
            rest = self.model(input_ids=tokens[:, :-1], attention_mask=attention, position_ids=positions,
                              past_key_values=cache, use_cache=True).logits
            columns.append(torch.log_softmax(rest.float(), dim=-1).gather(2, tokens[:, 1:, None]).squeeze(2))
        totals = (torch.cat(columns, dim=1) * valid).sum(dim=1)
        out: list[list[torch.Tensor]] = [[] for _ in prompts]
        for r, (b, _) in enumerate(rows):
            out[b].append(totals[r])
        return [torch.stack(x) for x in out]

    def _prompt_pass(self, sequences: list[list[int]]):
        """Run prompts as ``[shared prefix][pads][own tail]`` (see :meth:`_forward_rows`) keeping the
        cache; returns ``(tail ids, full attention mask, cache, last-position logits)``."""
        pad = self.tokenizer.pad_token_id
        shared = _common_prefix_length(sequences) if len(sequences) > 1 else 0
        if shared < MIN_SHARED_PREFIX:
            shared = 0
        tails = [ids[shared:] for ids in sequences]
        input_ids, tail_mask = left_pad(tails, pad)
        input_ids, tail_mask = input_ids.to(self.device), tail_mask.to(self.device)
        cache = None
        if shared:
            prefix = torch.tensor([sequences[0][:shared]], device=self.device)
            cache = self.model(input_ids=prefix, use_cache=True, logits_to_keep=1).past_key_values
            cache.batch_repeat_interleave(len(tails))
        mask = torch.cat([torch.ones((len(tails), shared), dtype=torch.long, device=self.device), tail_mask], dim=1)
        positions = shared + (tail_mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                         use_cache=True, logits_to_keep=1)
        return input_ids, mask, out.past_key_values, out.logits

    def _option_logliks_whole(self, prompts: list[list[int]], options: list[list[list[int]]], *, grad: bool,
                              reference: bool = False) -> list[torch.Tensor]:
        """:meth:`_option_logliks` with every prompt + option run as its own row."""
        rows, temps, owner = [], [], []
        for d, (prompt, opts) in enumerate(zip(prompts, options)):
            for option in opts:
                rows.append((prompt + option, len(option)))
                temps.append(1.0)
                owner.append(d)
        out: list[list[torch.Tensor]] = [[] for _ in prompts]
        # budget the rows by what each runs beyond the prefix they all share (run once per chunk)
        shared = _common_prefix_length([ids for ids, _ in rows]) if len(rows) > 1 else 0
        for batch in self._chunks([len(ids) - shared for ids, _ in rows]):
            results = self._token_logprobs([rows[i] for i in batch], [temps[i] for i in batch], grad=grad,
                                           reference=reference)
            for i, (logp, _) in zip(batch, results):
                out[owner[i]].append(logp.sum())
        return [torch.stack(x) for x in out]

    def _chunks(self, lengths: list[int]) -> list[list[int]]:
        """Consecutive index batches whose padded size stays within ``max_batch_tokens``."""
        batches, current, longest = [], [], 0
        for i, length in enumerate(lengths):
            if current and (len(current) + 1) * max(longest, length) > self.config.max_batch_tokens:
                batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, length)
        if current:
            batches.append(current)
        return batches

    def _generate(self, prompts: list[list[int]], seed: int) -> list[tuple[list[int], list[float]]]:
        """Sampled completions (token ids up to and including the end token) and their sampling log-probs."""
        return sample_completions(self.model, self.tokenizer, prompts, seed, eos_ids=self.eos_ids,
                                  max_new_tokens=self.config.max_new_tokens, temperature=self.config.temperature,
                                  batch_size=self.config.generation_batch_size)

    # -- rollouts ------------------------------------------------------------------------------
    def play(self, opponents: Sequence[Any], seeds: Sequence[int], learner_seats: Sequence[tuple[int, ...]],
             groups: Sequence[int] | None = None, *, record: bool = True) -> tuple[list[MatchRecord], list[Sample]]:
        """Play one match per entry, all in lockstep, and record the trained seats' decisions.

        ``opponents[m]``: ``"self"`` (the live adapter plays every seat), adapter weights (a dict
        from :meth:`adapter_state`, for every other seat) or a scripted strategy name (one instance
        per other seat). ``learner_seats[m]``: the seats the live adapter plays and (when
        ``record``) trains.
        """
        from dilemmazoo.envs import make_world

        config = self.config
        matches: list[MatchRecord] = []
        for m, (opponent, seed, seats) in enumerate(zip(opponents, seeds, learner_seats)):
            env = make_world(config.world, **config.world_kwargs)
            observations, _ = env.reset(seed=int(seed))
            scripted = {}
            if isinstance(opponent, str) and opponent != OPPONENT_SELF:
                params = config.opponent_params if opponent == config.opponent else {}
                for seat, other in enumerate(env.possible_agents):
                    if seat not in seats:  # one scripted agent per other seat, seeded by match and seat
                        agent = make_opponent(opponent, params, env)
                        agent.reset(other, env.rules(other), np.random.default_rng([int(seed), seat]))
                        scripted[other] = agent
            elif opponent == OPPONENT_SELF:
                opponent, seats = None, tuple(range(len(env.possible_agents)))
            matches.append(MatchRecord(env=env, seed=int(seed), group=groups[m] if groups is not None else m,
                                       learner_seats=tuple(seats), opponent=opponent, observations=observations,
                                       scripted=scripted, rewards=[[] for _ in env.possible_agents]))
        samples: list[Sample] = []
        while any(match.env.agents for match in matches):
            self._play_step(matches, samples, record)
        for sample in samples:
            sample.round = matches[sample.match].rounds[sample.step]
        return matches, samples

    def _play_step(self, matches: list[MatchRecord], samples: list[Sample], record: bool) -> None:
        # who decides: live adapter (key None) or each distinct adapter-weights opponent (key id)
        pending: dict[Any, list[tuple[int, str]]] = {}
        actions: list[dict[str, Any]] = []
        for m, match in enumerate(matches):
            env = match.env
            waiting = env.agents and set(env.deciders()) != set(env.agents)
            acts = {a: env.idle_action(a) for a in env.agents} if waiting else {}
            actions.append(acts)
            if not env.agents:
                continue
            for agent in env.deciders():
                seat = env.possible_agents.index(agent)
                if seat in match.learner_seats:
                    pending.setdefault(None, []).append((m, agent))
                elif agent in match.scripted:
                    decision = Decision(agent_id=agent, observation=match.observations[agent], text=env.describe(agent),
                                        spec=env.action_spec(agent), rules=env.rules(agent), step=match.step,
                                        episode=match.seed)
                    acts[agent] = match.scripted[agent].act(decision).value
                else:  # a past checkpoint's weights
                    pending.setdefault(id(match.opponent), []).append((m, agent))
        for key, items in pending.items():
            weights = None if key is None else matches[items[0][0]].opponent
            with self.using_weights(weights):
                decided = self._decide(matches, items, record=record and key is None)
            for (m, agent), (value, sample) in zip(items, decided):
                actions[m][agent] = value
                if sample is not None:
                    samples.append(sample)
        for m, match in enumerate(matches):
            if not match.env.agents:
                continue
            env = match.env
            observations, rewards, _, _, infos = env.step(actions[m])
            match.observations = observations
            info = next((infos[a] for a in env.possible_agents if a in infos), {})
            for seat, agent in enumerate(env.possible_agents):
                match.rewards[seat].append(float(rewards.get(agent, 0.0)))
            played_round = int(info.get("round", len(match.rounds) + 1)) - 1
            if played_round < 0:  # a step that played no round (e.g. a talk step) joins the previous round
                played_round = match.rounds[-1] if match.rounds else 0
            match.rounds.append(played_round)
            if info.get("phase") == "act" and "played" in info:
                match.played.append((int(info["played"]), int(info["other_played"])))
            if info.get("phase") == "proposal" and "max_welfare" in info:
                match.max_welfare += float(info["max_welfare"])
            match.step += 1

    def _decide(self, matches: list[MatchRecord], items: list[tuple[int, str]], *, record: bool):
        """Sample the decisions ``items`` (match index, agent) with the current weights."""
        results: list[tuple[Any, Sample | None]] = [(None, None)] * len(items)
        scored, generated = [], []
        for k, (m, agent) in enumerate(items):
            env = matches[m].env
            spec = env.action_spec(agent)
            chat = build_chat(env.rules(agent), env.describe(agent), spec.instruction, self.config.persona)
            options = decision_options(spec)
            entry = (k, m, agent, spec, self.prompt_ids(chat), options)
            if options is not None and len(options) == 1:
                results[k] = (spec.action_for_option(0) if isinstance(spec, Choice) else spec.parse(options[0]), None)
            elif options is not None:
                scored.append(entry)
            else:
                generated.append(entry)
        if scored:
            option_ids = [[self.reply_ids(o) for o in entry[5]] for entry in scored]
            logliks = self._option_logliks([e[4] for e in scored], option_ids, grad=False)
            for entry, ids, ll in zip(scored, option_ids, logliks):
                k, m, agent, spec, prompt, options = entry
                logp = option_log_probs(ll, self.config.temperature).cpu().numpy().astype(np.float64)
                probabilities = np.exp(logp - logp.max())
                chosen = int(self.rng.choice(len(options), p=probabilities / probabilities.sum()))
                value = spec.action_for_option(chosen) if isinstance(spec, Choice) else spec.parse(options[chosen])
                results[k] = (value, self._sample(matches, m, agent, prompt, record, options=ids, chosen=chosen,
                                                  sampling=[float(logp[chosen])]))
        if generated:
            completions = self._generate([e[4] for e in generated], _derive_seed(self.rng))
            for entry, (tokens, logps) in zip(generated, completions):
                k, m, agent, spec, prompt, _ = entry
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                try:
                    value = spec.parse(text)
                except ActionParseError:
                    value = spec.fallback
                    matches[m].fallbacks += 1
                results[k] = (value, self._sample(matches, m, agent, prompt, record and bool(tokens),
                                                  completion=tokens, sampling=logps))
        return results

    def _sample(self, matches, m, agent, prompt, record, *, options=None, chosen=-1, completion=(), sampling=()):
        if not record:
            return None
        match = matches[m]
        env = match.env
        # the round is read from the step's infos once the step is played (see ``play``)
        return Sample(match=m, seat=env.possible_agents.index(agent), round=-1, step=match.step,
                      prompt_ids=list(prompt),
                      options=options, chosen=chosen, completion_ids=list(completion),
                      sampling_logprobs=list(sampling))

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

    # -- update --------------------------------------------------------------------------------
    def update(self, samples: list[Sample]) -> dict[str, float]:
        """One optimizer step on ``samples`` (gradients accumulated over micro-batches)."""
        config = self.config
        total_tokens = sum(s.action_tokens for s in samples)
        sums = {"loss": 0.0, "pg": 0.0, "kl": 0.0, "entropy": 0.0, "weight": 0.0, "clipped": 0.0}
        if total_tokens == 0:
            return {**{k: float("nan") for k in sums}, "grad_norm": 0.0}
        want_ref = config.kl_coef > 0
        self.optimizer.zero_grad(set_to_none=True)
        if self.gradient_checkpointing:
            self._checkpointing(True)
            self.model.train()  # transformers checkpoints only in training mode (LoRA dropout applies then)
        try:
            # budget micro-batches by the tokens each sample runs beyond the prefix all prompts share
            # (with checkpointing every row runs whole: no shared prefix)
            shared = _common_prefix_length([s.prompt_ids for s in samples]) \
                if len(samples) > 1 and not self.gradient_checkpointing else 0
            costs = [len(s.prompt_ids) - shared + (sum(map(len, s.options)) if s.options is not None
                                                   else len(s.completion_ids)) for s in samples]
            for batch in self._chunks(costs):
                terms = self._batch_terms([samples[i] for i in batch], want_ref)
                (terms["loss"].sum() / total_tokens).backward()
                for key in sums:
                    sums[key] += float(terms[key].detach().sum())
        finally:
            self.model.eval()
            if self.gradient_checkpointing:
                self._checkpointing(False)
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        out = {key: value / total_tokens for key, value in sums.items()}
        out["grad_norm"] = grad_norm
        if not want_ref:
            out["kl"] = float("nan")
        return out

    @property
    def _checkpointing_now(self) -> bool:
        """Inside an update with checkpointing on: no key/value caches (every row runs whole)."""
        return self.gradient_checkpointing and self.model.training

    def _checkpointing(self, on: bool) -> None:
        """Activation (gradient) checkpointing of the transformers model on or off (non-reentrant, so
        the frozen embeddings need no gradient; transformers 5 names it activation checkpointing)."""
        network = self.model.get_base_model()
        if on:
            if hasattr(network, "activation_checkpointing_enable"):
                network.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                network.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        elif hasattr(network, "activation_checkpointing_disable"):
            network.activation_checkpointing_disable()
        else:
            network.gradient_checkpointing_disable()

    def _batch_terms(self, batch: list[Sample], want_ref: bool) -> dict[str, torch.Tensor]:
        """Per-action-token loss terms of a micro-batch, concatenated."""
        config = self.config
        logps, sampling, credits, entropies, refs = [], [], [], [], []
        scored = [s for s in batch if s.options is not None]
        generated = [s for s in batch if s.options is None]
        if scored:
            logliks = self._option_logliks([s.prompt_ids for s in scored], [s.options for s in scored], grad=True)
            ref_logliks = (self._option_logliks([s.prompt_ids for s in scored], [s.options for s in scored],
                                                grad=False, reference=True) if want_ref else None)
            for j, (sample, ll) in enumerate(zip(scored, logliks)):
                logp = option_log_probs(ll, config.temperature)
                logps.append(logp[sample.chosen: sample.chosen + 1])
                entropies.append(-(logp.exp() * logp).sum().reshape(1))
                if ref_logliks is not None:
                    refs.append(option_log_probs(ref_logliks[j], config.temperature)[sample.chosen: sample.chosen + 1])
        if generated:
            rows = [(s.prompt_ids + s.completion_ids, len(s.completion_ids)) for s in generated]
            temps = [config.temperature] * len(rows)
            current = self._token_logprobs(rows, temps, grad=True, entropy=True)
            reference = self._token_logprobs(rows, temps, grad=False, reference=True) if want_ref else None
            for j, (logp, ent) in enumerate(current):
                logps.append(logp)
                entropies.append(ent)
                if reference is not None:
                    refs.append(reference[j][0])
        for s in scored + generated:
            sampling.extend(s.sampling_logprobs)
            credits.extend(s.token_credits)
        logp = torch.cat(logps)
        as_tensor = lambda values: torch.tensor(values, dtype=logp.dtype, device=logp.device)  # noqa: E731
        terms = token_loss(logp, as_tensor(sampling), as_tensor(credits), is_cap=config.is_cap,
                           ref_logp=torch.cat(refs) if refs else None, entropy=torch.cat(entropies),
                           kl_coef=config.kl_coef, entropy_coef=config.entropy_coef)
        terms["entropy"] = torch.cat(entropies).detach()
        return terms

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
        while self.iteration < total:
            metrics = self.iterate()
            history.append(metrics)
            with metrics_path.open("a") as handle:
                handle.write(json.dumps(_jsonable(metrics)) + "\n")
            if progress:
                print(f"iter {self.iteration:4d}  return/round {metrics['return_per_round']:.3f}  "
                      f"coop {metrics['cooperation_rate']:.2f}  loss {metrics['loss']:+.4f}  "
                      f"{metrics['seconds']:.1f}s", flush=True)
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
        torch.save({"iteration": self.iteration, "optimizer": self.optimizer.state_dict(),
                    "rng": json.dumps(self.rng.bit_generator.state), "config": self.config.to_dict()},
                   partial / "trainer_state.pt")
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
        state = torch.load(path / "trainer_state.pt", map_location=self.device, weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.iteration = int(state["iteration"])

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, opponents: Sequence[str], matches: int = 8, seed: int = 0,
                 adapters: Sequence[str | Path] = ()) -> list[dict[str, Any]]:
        """Round-robin: each adapter (the live one when ``adapters`` is empty) against each opponent.

        ``opponents``: scripted strategy names, ``"self"`` or ``"adapter:PATH"`` (another trained
        adapter). Matches alternate the evaluated seat; the random stream is a fresh generator
        from ``seed`` (training's stream is untouched). Returns one row per pair.
        """
        from safetensors.torch import load_file

        saved_rng = self.rng
        rows = []
        players = [("live", None)] if not adapters else [(str(a), load_file(str(Path(a) / "adapter_model.safetensors")))
                                                           for a in adapters]
        try:
            for name, weights in players:
                for opponent in opponents:
                    self.rng = np.random.default_rng(seed)
                    resolved: Any = opponent
                    if opponent.startswith("adapter:"):
                        resolved = load_file(str(Path(opponent.split(":", 1)[1]) / "adapter_model.safetensors"))
                    seeds = [seed * 1000 + k for k in range(matches)]
                    seats = [(k % self.players,) if resolved != OPPONENT_SELF else tuple(range(self.players))
                             for k in range(matches)]
                    with self.using_weights(weights):
                        played, _ = self.play([resolved] * matches, seeds, seats, record=False)
                    rows.append({"adapter": name, "opponent": opponent, **match_metrics(played)})
        finally:
            self.rng = saved_rng
        return rows

    def choice_probabilities(self, env: Any, agent: str) -> dict[str, float]:
        """The policy's probability of each option of ``agent``'s current decision in ``env``."""
        spec = env.action_spec(agent)
        options = decision_options(spec)
        if options is None:
            raise ValueError(f"{type(spec).__name__} decisions are generated, not chosen among options")
        chat = build_chat(env.rules(agent), env.describe(agent), spec.instruction, self.config.persona)
        ll = self._option_logliks([self.prompt_ids(chat)], [[self.reply_ids(o) for o in options]], grad=False)[0]
        probabilities = option_log_probs(ll, self.config.temperature).exp().tolist()
        return dict(zip(options, probabilities))


def round_rewards(match: MatchRecord, rounds: int | None = None) -> np.ndarray:
    """``(N, T)``: each seat's rewards summed per round (``match.rounds`` holds each step's round).
    ``rounds`` pads ``T`` with zero-reward rounds (a match that ended early, in a group of longer ones)."""
    index = np.asarray(match.rounds, dtype=np.int64)
    count = int(index.max()) + 1 if index.size else 0
    out = np.zeros((len(match.rewards), max(count, rounds or 0)))
    for seat, rewards in enumerate(match.rewards):
        np.add.at(out[seat], index, np.asarray(rewards, dtype=np.float64))
    return out


def assign_credit(matches: Sequence[MatchRecord], samples: Sequence[Sample], method: str, params: dict[str, float],
                  form: str = "original", agrae: dict[str, Any] | None = None) -> float:
    """Set ``sample.credit``: per group (matches with the same ``group``), ``credit_from_rewards``
    for each seat against its co-player (two players) or ``n_player_credit`` over all seats (more),
    read at the sample's round (messages and the action of a round share it). ``params``:
    ``gamma``, ``reward_scale``, ``beta``, ``gamma_aa``.

    ``agrae`` (``progress``, ``suppression``, ``curriculum``, ``success``) reweights each seat's
    per-round credit of a group by A-GRAE (module docstring); the share of successful
    (match, seat) pairs is returned (NaN without A-GRAE)."""
    by_group: dict[int, list[int]] = {}
    for m, match in enumerate(matches):
        by_group.setdefault(match.group, []).append(m)
    credit = {}
    successes = []
    for members in by_group.values():
        longest = max(max(matches[m].rounds, default=-1) + 1 for m in members)
        rewards = np.stack([round_rewards(matches[m], longest) for m in members])  # (K, N, T)
        players = rewards.shape[1]
        if players > 2:
            advantages = group_advantages(returns_to_go(rewards, params["gamma"], params["reward_scale"]))
            group_credit = n_player_credit(method, advantages, beta=params["beta"])
        for seat in range(players):
            if players > 2:
                per_round = group_credit[:, seat]
            else:
                per_round = credit_from_rewards(method, rewards[:, seat], rewards[:, 1 - seat], gamma=params["gamma"],
                                                reward_scale=params["reward_scale"], beta=params["beta"],
                                                gamma_aa=params["gamma_aa"], form=form)
            if agrae is not None:
                success = agrae_success_mask(rewards[:, seat].mean(axis=-1), agrae["success"])
                successes.extend(success.tolist())
                per_round = agrae_advantages(per_round, success, agrae["progress"], suppression=agrae["suppression"],
                                             curriculum=agrae["curriculum"])
            for row, m in enumerate(members):
                credit[(m, seat)] = per_round[row]
    for sample in samples:
        per_round = credit[(sample.match, sample.seat)]
        sample.token_credits = round_credit_to_tokens(per_round, np.full(sample.action_tokens, sample.round)).tolist()
        sample.credit = float(per_round[sample.round])
    return float(np.mean(successes)) if successes else float("nan")



# --------------------------------------------------------------------------------------------
# Metrics and files
# --------------------------------------------------------------------------------------------


def match_metrics(matches: Sequence[MatchRecord]) -> dict[str, float]:
    """Per-round returns of the learner (first learner seat) and of its co-players (their mean
    with more than two players), welfare (all seats' total per round), cooperation rate (repeated
    games: share of the learner's moves that are action 0), split efficiency (achieved total /
    best achievable), fallbacks, match count."""
    own, other, welfare, coop, achieved, best, fallbacks = [], [], [], [], 0.0, 0.0, 0
    for match in matches:
        seat = match.learner_seats[0]
        rounds = max(1, len(set(match.rounds)))
        totals = [sum(rewards) for rewards in match.rewards]
        own.append(totals[seat] / rounds)
        other.append((sum(totals) - totals[seat]) / (len(totals) - 1) / rounds)
        welfare.append(sum(totals) / rounds)
        for played in match.played:
            for s in match.learner_seats:
                coop.append(played[s] == 0)
        achieved += sum(totals)
        best += match.max_welfare
        fallbacks += match.fallbacks
    return {
        "return_per_round": float(np.mean(own)) if own else float("nan"),
        "other_return_per_round": float(np.mean(other)) if other else float("nan"),
        "welfare_per_round": float(np.mean(welfare)) if welfare else float("nan"),
        "cooperation_rate": float(np.mean(coop)) if coop else float("nan"),
        "split_efficiency": achieved / best if best > 0 else float("nan"),
        "fallbacks": fallbacks,
        "matches": len(matches),
    }


def _jsonable(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


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
