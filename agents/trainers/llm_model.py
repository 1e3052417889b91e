"""The policy of the LoRA trainer: the base model, its adapter's weights, and the forward passes.

Loads the base model from local files (:func:`load_base_model`, :func:`plain_base`), reads and swaps
the adapter's weights, and runs the policy's forward passes: per-token log-probabilities of given
tokens and per-option log-likelihoods of a decision's option replies. A prefix that all rows of a
batch share (the world's rules) runs once and its key/value cache is repeated for every row,
gradients included; with gradient checkpointing (which turns the cache off) every row runs whole.
Part of :mod:`~dilemmazoo.agents.trainers.llm_trainer`, which composes it with the rollout
(:mod:`~dilemmazoo.agents.trainers.llm_rollout`) and the update
(:mod:`~dilemmazoo.agents.trainers.llm_update`); sources are cited there.

Devices
-------
CPU: float32 (``dtype="auto"``): LoRA gradients through a bf16 CPU model are slow and imprecise.
CUDA: bfloat16 where supported (else float16 is refused for training; use float32), gradient
checkpointing (``gradient_checkpointing="auto"`` turns it on on CUDA only), batched generation
with left padding. The GPU paths are guarded by device checks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:
    import torch
except ImportError as error:  # torch comes with the "local" extra
    raise ImportError('the LLM trainer needs torch, transformers and peft: '
                      'pip install "dilemmazoo[local]" peft') from error

from dilemmazoo.agents.backends.hf import (
    _common_prefix_length,
    _end_of_turn,
    _offline,
    _quiet_transformers,
    resolve_device,
)

__all__ = [
    "MIN_SHARED_PREFIX",
    "PolicyPasses",
    "end_of_turn_ids",
    "left_pad",
    "load_base_model",
    "option_log_probs",
    "plain_base",
]

MIN_SHARED_PREFIX = 32  # tokens; a shorter common prefix is not worth a separate pass


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
        from dilemmazoo.agents.backends import weights_cache

        with _quiet_transformers():  # a GGUF file is converted once and kept as safetensors (weights_cache.py)
            tokenizer, network = weights_cache.load_pretrained(source, dtype=torch_dtype, local_files_only=True, **extra)
    network.to(torch_device)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return network, tokenizer


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


def end_of_turn_ids(model: Any, tokenizer: Any) -> list[int]:
    """The ids that end a reply: the chat template's end-of-turn marker first (when it has one),
    then the model's EOS ids; the tokenizer's EOS when there is neither."""
    eos = model.generation_config.eos_token_id
    ids = [eos] if isinstance(eos, int) else list(eos or [])
    marker = _end_of_turn(tokenizer)
    marker_id = tokenizer.convert_tokens_to_ids(marker) if marker else None
    if isinstance(marker_id, int) and marker_id != tokenizer.unk_token_id:
        ids = [marker_id] + [i for i in ids if i != marker_id]
    return ids or [tokenizer.eos_token_id]


def option_log_probs(option_logliks: torch.Tensor, temperature: float) -> torch.Tensor:
    """``log softmax(loglik / temperature)`` over the options (last axis)."""
    return torch.log_softmax(option_logliks / float(temperature), dim=-1)


class PolicyPasses:
    """The forward passes and adapter weights of the LoRA trainer's policy (a mixin of
    :class:`~dilemmazoo.agents.trainers.llm_trainer.LLMTrainer`).

    Reads from the trainer: ``model`` (the peft model), ``tokenizer``, ``device``, ``end_of_turn``
    (the chat template's end-of-turn marker), ``gradient_checkpointing`` and
    ``config.max_batch_tokens``.
    """

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

    # -- gradient checkpointing ----------------------------------------------------------------
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
