"""Shared-prefix ("cascade") attention for a batch of prompts that begin alike.

The seats of one world share their rules, so a batch of their prompts shares a long beginning.
The plain way to run such a batch (``hf.py``, off a CPU) computes the prefix's keys and values
once and copies them into every row: each row's cache then holds its own copy, every decoding
step concatenates onto all of them, and every row's attention reads the prefix again. On a CPU
that memory traffic costs more than the prompt tails themselves (100 rows x 400 shared tokens
of SmolLM2-135M is about 0.9 GB of cache).

Here the prefix is held once. Each attention layer splits its work in two:

- every row's queries against the one prefix, as ONE long query sequence (``rows x queries``
  long, no mask: the prefix is visible to every later token), and
- each row's queries against its own tail (padding and causal order masked as usual),

and merges the two partial softmaxes by their log-sum-exps:
``out = (o_p e^(l_p - m) + o_t e^(l_t - m)) / (e^(l_p - m) + e^(l_t - m))`` with ``m`` the larger
log-sum-exp. That is exact attention over ``[prefix, tail]`` (up to rounding), without any row's
cache holding the prefix.

The two partial attentions run through PyTorch's fused CPU kernel, which returns the
log-sum-exp beside the output. :func:`available` says whether the running PyTorch has it;
:mod:`hf` uses this path on the CPU only and the copying path elsewhere.

Wiring: the cache's layers (:class:`SharedPrefixLayer`) keep the tail and report the full length
(prefix + tail), so positions and masks come out as for a plain cache; the attention function is
registered with transformers under :data:`ATTENTION` and finds the active cache through a
context variable set by :func:`active`. The mask registered beside it (:func:`padding_mask`) is one
row of real-token flags per sequence, not transformers' ``rows x queries x keys`` one; the
attention adds causal order itself. The kernel takes grouped key/value heads as they are.

Memory: a long prefill's tail attention and merge run a few rows at a time (each row's values
are its own, so the result is the same bit for bit), with that piece's additive mask built on
the spot; a decoding step's small mask is built once per pass and kept for every layer.

:class:`PrefixStore` keeps prefixes' one-row caches between batches (``hf.py``: the next round
of one world begins with the same rules), least recently used out, within a memory bound.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections.abc import Iterator

import torch

ATTENTION = "dilemmazoo_shared_prefix"

#: most bytes of float32 outputs, or of additive tail mask, the tail attention holds at once
MERGE_CHUNK_BYTES = 8 << 20
#: tail masks up to this size are built once per forward pass and kept for every layer
KEPT_MASK_BYTES = 16 << 20

_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("shared_prefix_cache", default=None)
_REGISTERED = False


def _flash():
    return getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def available() -> bool:
    """Whether this PyTorch has the fused CPU attention that returns log-sum-exps."""
    return _flash() is not None


@functools.cache
def takes_grouped_heads() -> bool:
    """Whether the fused kernel takes fewer key/value heads than query heads (grouped-query
    attention; PyTorch 2.5 and later). Where it does not, :func:`shared_prefix_attention` repeats
    the key/value heads first: the same values, more copying."""
    try:
        out, _ = _flash()(torch.zeros(1, 2, 1, 8), torch.zeros(1, 1, 2, 8), torch.zeros(1, 1, 2, 8), 0.0, False)
    except RuntimeError:
        return False
    return tuple(out.shape) == (1, 2, 1, 8)


@functools.cache
def _layer_classes():
    from transformers.cache_utils import DynamicCache, DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A cache layer whose keys and values are views of a buffer with room to grow.

        transformers' ``DynamicLayer`` concatenates every decoding step's keys and values onto
        the whole cache, so each step copies it: for a batch of 12 rows of 400 tokens that copy
        was a fifth of a step of SmolLM2-135M on a CPU. Here the first update allocates room for
        ``reserve`` more tokens and each step writes its tokens in place; ``keys``/``values``
        are views of the filled part, with the same values a concatenation gives. When
        ``crop``, ``batch_select_indices`` or ``batch_repeat_interleave`` replace the tensors,
        or the room runs out, the next update moves them into a new buffer. ``reserve=None``
        concatenates as ``DynamicLayer`` does (a cache that is not grown token by token: scoring).
        """

        def __init__(self, reserve: int | None = None):
            super().__init__()
            self.reserve = reserve
            self._room: tuple[torch.Tensor, torch.Tensor] | None = None

        def _in_room(self, length: int, rows: int) -> bool:
            room = self._room
            return (
                room is not None
                and room[0].shape[0] == rows
                and room[0].shape[-2] >= length
                and self.keys.shape[:2] == room[0].shape[:2]
                # an empty view of a room has no data pointer of its own
                and (self.keys.numel() == 0 or self.keys.data_ptr() == room[0].data_ptr())
                and (self.values.numel() == 0 or self.values.data_ptr() == room[1].data_ptr())
            )

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
            if self.reserve is None:
                return super().update(key_states, value_states, *args, **kwargs)
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            filled = self.keys.shape[-2] if self.keys.dim() == 4 else 0
            new = key_states.shape[-2]
            rows = key_states.shape[0]
            if not self._in_room(filled + new, rows):
                # room for ``reserve`` more tokens; a cache that outgrows it doubles
                size = filled + new + self.reserve if self._room is None else 2 * (filled + new)
                keys = key_states.new_empty((*key_states.shape[:2], size, key_states.shape[-1]))
                values = value_states.new_empty((*value_states.shape[:2], size, value_states.shape[-1]))
                if filled:
                    keys[..., :filled, :].copy_(self.keys)
                    values[..., :filled, :].copy_(self.values)
                self._room = (keys, values)
            keys, values = self._room
            keys[..., filled:filled + new, :].copy_(key_states)
            values[..., filled:filled + new, :].copy_(value_states)
            self.keys = keys[..., : filled + new, :]
            self.values = values[..., : filled + new, :]
            return self.keys, self.values

    class GrowingCache(DynamicCache):
        """A cache of :class:`GrowingLayer` (see there), made empty or from another cache's layers.

        :meth:`allocate` gives all layers their room at once, in one block, before a forward pass:
        rooms allocated layer by layer during a prefill sit between that pass's short-lived
        activations and keep the C heap from reusing their space (a batch of 12 prompts of ~800
        tokens grew the process by ~0.9 GiB that way, against ~0.1 GiB with one block).
        """

        def __init__(self, reserve: int | None = 0, source=None):
            super().__init__()
            self.reserve = reserve
            self.layer_class_to_replicate = functools.partial(GrowingLayer, reserve)
            if source is not None:
                for layer in source.layers:
                    grown = GrowingLayer(reserve)
                    if layer.is_initialized and layer.get_seq_length() > 0:
                        grown.update(layer.keys, layer.values)
                    self.layers.append(grown)

        def allocate(self, layers: int, rows: int, heads: int, length: int, dim: int, dtype, device) -> None:
            """Rooms of ``length`` tokens for ``rows`` rows in every one of ``layers`` layers (one block)."""
            while len(self.layers) < layers:
                self.layers.append(GrowingLayer(self.reserve))
            _give_rooms(self.layers, rows, heads, length, dim, dtype, device)

    def _give_rooms(layers, rows, heads, length, dim, dtype, device) -> None:
        block = torch.empty((len(layers), 2, rows, heads, length, dim), dtype=dtype, device=device)
        for i, layer in enumerate(layers):
            if layer.is_initialized and layer.keys.dim() == 4 and layer.keys.shape[-2] > 0:
                raise RuntimeError("rooms are given to empty layers only")
            layer.device, layer.is_initialized = device, True
            layer._room = (block[i, 0], block[i, 1])
            layer.keys, layer.values = block[i, 0][..., :0, :], block[i, 1][..., :0, :]

    class SharedPrefixLayer(GrowingLayer):
        """A cache layer holding one shared prefix (batch 1) and each row's own tail."""

        def __init__(self, prefix_keys: torch.Tensor, prefix_values: torch.Tensor, reserve: int | None = None):
            super().__init__(reserve)
            # the prefix as the kept cache holds it (key/value heads, not repeated: see the attention)
            self.prefix_keys = prefix_keys
            self.prefix_values = prefix_values
            self.prefix_length = prefix_keys.shape[-2]

        def get_seq_length(self) -> int:
            return self.prefix_length + super().get_seq_length()

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.get_seq_length() + query_length, 0

        # crop, batch_repeat_interleave and batch_select_indices act on the tail: the prefix is
        # the same for every row. Before the first tail is stored there is nothing to select
        # (the rows are then only the prefix: any number of them, all alike).

        def batch_repeat_interleave(self, repeats: int) -> None:
            if super().get_seq_length() > 0:
                super().batch_repeat_interleave(repeats)

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if super().get_seq_length() > 0:
                super().batch_select_indices(indices)

    class SharedPrefixCache(DynamicCache):
        """A cache whose layers share one prefix across the batch (see the module docstring)."""

        def __init__(self, prefix_cache, reserve: int | None = None):
            super().__init__()
            self.layers = [SharedPrefixLayer(layer.keys, layer.values, reserve) for layer in prefix_cache.layers]
            self.layer_class_to_replicate = None

        def allocate(self, layers: int, rows: int, heads: int, length: int, dim: int, dtype, device) -> None:
            """Rooms of ``length`` tail tokens for ``rows`` rows in every layer (one block)."""
            _give_rooms(self.layers, rows, heads, length, dim, dtype, device)

    return SharedPrefixLayer, SharedPrefixCache, GrowingCache


def is_shared_prefix_cache(cache) -> bool:
    """Whether ``cache`` was made by :func:`shared_prefix_cache`."""
    return bool(cache.layers) and isinstance(cache.layers[0], _layer_classes()[0])


def shared_prefix_cache(prefix_cache, reserve: int | None = None):
    """A cache continuing from ``prefix_cache`` (a one-row cache of the shared prefix) for any
    number of rows. With a ``reserve``, each row's
    tail grows in place with room for that many tokens (see :func:`growing_cache`)."""
    cache_class = _layer_classes()[1]
    return cache_class(prefix_cache, reserve)


def growing_cache(reserve: int = 0, source=None):
    """A KV cache that grows in place, with room for ``reserve`` more tokens after its first
    update (a generation's ``max_new_tokens``), instead of concatenating at every step; empty,
    or holding a copy of ``source``'s keys and values. The values are those of a plain cache."""
    return _layer_classes()[2](reserve, source)


def _register() -> None:
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(ATTENTION, shared_prefix_attention)
    AttentionMaskInterface.register(ATTENTION, padding_mask)
    _REGISTERED = True


@contextlib.contextmanager
def active(model, cache) -> Iterator[None]:
    """Run ``model`` with shared-prefix attention over ``cache`` inside the block (the caller
    holds the model's lock: the attention implementation is switched for the block only)."""
    _register()
    config = model.config
    before = config._attn_implementation
    token = _ACTIVE.set(cache)
    config._attn_implementation = ATTENTION
    try:
        yield
    finally:
        config._attn_implementation = before
        _ACTIVE.reset(token)


def padding_mask(**arguments):
    """The mask transformers hands :func:`shared_prefix_attention`, without its quadratic part.

    For a plain causal model whose queries are the last ``q_length`` of the ``kv_length``
    positions (always so over a shared-prefix cache), a boolean ``(rows, 1, 1, kv_length)`` mask of
    the rows' real (not padding) tokens: causal order is the attention's to apply, a few rows at a
    time. transformers' own mask would be ``(rows, 1, q_length, kv_length)``: for 12 prompts of
    1,800 tokens, 40 MiB held through the whole pass. Where transformers would give no mask (no
    padding: the kernel's causal flag does it) this gives none either; for one query the two
    agree. Anything else gets transformers' own mask (``sdpa_mask``): other mask functions
    (sliding windows, packed sequences), a mask that is not one row per sequence, and the no-padding
    cases where transformers decides between no mask and its own.
    ``arguments`` are transformers' mask-interface keywords (``q_length``/``q_offset``, or
    ``cache_position`` in transformers 4.x).
    """
    from transformers.masking_utils import causal_mask_function, sdpa_mask

    kv_length, kv_offset = arguments.get("kv_length"), arguments.get("kv_offset", 0)
    attention_mask = arguments.get("attention_mask")
    if "q_length" in arguments:
        q_length, q_offset = arguments["q_length"], arguments.get("q_offset", 0)
    elif arguments.get("cache_position") is not None:
        position = arguments["cache_position"]
        q_length, q_offset = int(position.shape[0]), int(position[0])
    else:
        q_length = q_offset = None
    plain = (arguments.get("mask_function", causal_mask_function) is causal_mask_function
             and attention_mask is not None and attention_mask.dim() == 2 and kv_offset == 0
             and q_length is not None and q_offset + q_length == kv_length and arguments.get("local_size") is None)
    if not plain:
        return sdpa_mask(**arguments)
    padding = attention_mask.bool()[:, :kv_length]
    if padding.shape[1] < kv_length:  # as transformers: positions past the mask are padding
        padding = torch.nn.functional.pad(padding, (0, kv_length - padding.shape[1]))
    if padding.all() and (q_length == 1 or q_length == kv_length):
        # transformers gives no mask here (allow_is_causal_skip) or an all-true one: ask it which
        return sdpa_mask(**arguments)
    return padding[:, None, None, :]


def _tail_masks(cache, attention_mask: torch.Tensor, prefix: int, q: int, dtype: torch.dtype, part: slice):
    """``(additive, blind)`` for rows ``part`` of the tail part of :func:`shared_prefix_attention`:
    the mask of the tail (padding and causal order) as the additive mask of ``dtype`` the fused
    kernel takes, and the queries that see no tail token. ``attention_mask`` is transformers' full
    boolean mask or :func:`padding_mask`'s one row per sequence (then queries are the last ``q``
    positions and see the tail tokens up to their own). Small masks (a decoding step's) are built
    by a pass's first layer and kept on ``cache`` for the others."""
    kept = getattr(cache, "_tail_mask", None)
    key = (part.start, part.stop)
    if kept is not None and kept[0] is attention_mask and kept[1] == dtype and key in kept[2]:
        return kept[2][key]
    if attention_mask.dtype != torch.bool:
        raise RuntimeError(f"shared-prefix attention expects a boolean mask, got {attention_mask.dtype}")
    mask = attention_mask[part, ..., prefix:]
    tail = mask.shape[-1]
    if mask.shape[-2] == 1 and q > 1:  # padding only: add causal order
        order = torch.arange(tail, device=mask.device)
        mask = mask & (order[None, :] <= (tail - q + torch.arange(q, device=mask.device))[:, None])
    # the fused kernel takes an additive mask of the query's dtype; on a fully masked row (a
    # padding query, which sees only the prefix) it returns 0 with a log-sum-exp of 0, so that
    # row's tail weight is set to zero (``blind``)
    additive = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))
    blind = ~mask.any(dim=-1)
    if additive.numel() * additive.element_size() <= KEPT_MASK_BYTES:
        if kept is None or kept[0] is not attention_mask or kept[1] != dtype:
            kept = cache._tail_mask = (attention_mask, dtype, {})
        kept[2][key] = (additive, blind)
    return additive, blind


def _row_step(rows: int, heads: int, q: int, tail: int, dim: int) -> int:
    """Rows per piece of the tail attention and the merge: at most :data:`MERGE_CHUNK_BYTES` of
    float32 outputs and of additive mask at once (all rows for a decoding step)."""
    per_row = max(heads * q * dim * 4, q * tail * 2)
    return max(1, min(rows, MERGE_CHUNK_BYTES // per_row))


def shared_prefix_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention over ``[shared prefix, own tail]`` for every row (see the module docstring).

    ``query``: (rows, heads, q, dim); ``key``/``value``: each row's tail, (rows, kv_heads, t, dim);
    ``attention_mask``: a boolean (rows, 1, q, prefix + t) mask (True = attend), its one-row form
    from :func:`padding_mask`, or None when the tail needs no mask (one query, or a causal tail as
    long as the query). The fused kernel maps query head h to key/value head h // groups itself
    (grouped-query attention): the same values as repeating the key/value heads, without copying
    them. Each row's result does not depend on the others, so the tail part and the merge run a
    few rows at a time (:func:`_row_step`): the same values in less memory."""
    cache = _ACTIVE.get()
    if cache is None:
        raise RuntimeError("shared-prefix attention ran without an active shared-prefix cache")
    layer = cache.layers[module.layer_idx]
    flash = _flash()
    rows, heads, q, dim = query.shape
    prefix = layer.prefix_length
    prefix_keys, prefix_values = layer.prefix_keys, layer.prefix_values
    groups = heads // key.shape[1]
    if groups > 1 and not takes_grouped_heads():
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
        prefix_keys, prefix_values = prefix_keys.repeat_interleave(groups, 1), prefix_values.repeat_interleave(groups, 1)
    # 1. all rows' queries as one sequence against the one prefix: no mask, one fused call
    flat = query.transpose(0, 1).reshape(1, heads, rows * q, dim)
    out_p, lse_p = flash(flat, prefix_keys, prefix_values, 0.0, False, scale=scaling)
    del flat  # a copy of the queries: not held through the rest
    out_p = out_p.reshape(heads, rows, q, dim).transpose(0, 1)
    lse_p = lse_p.reshape(heads, rows, q).transpose(0, 1)
    tail = key.shape[-2]
    if attention_mask is None and q > 1 and q != tail:
        raise RuntimeError("shared-prefix attention needs a mask when the query is shorter than the tail")
    out = torch.empty((rows, q, heads, dim), dtype=query.dtype, device=query.device)
    step = _row_step(rows, heads, q, tail, dim)
    for start in range(0, rows, step):
        part = slice(start, min(start + step, rows))
        # 2. each row's queries against its own tail
        if attention_mask is None:
            out_t, lse_t = flash(query[part], key[part], value[part], 0.0, q > 1, scale=scaling)
        else:
            additive, blind = _tail_masks(cache, attention_mask, prefix, q, query.dtype, part)
            out_t, lse_t = flash(query[part], key[part], value[part], 0.0, False, attn_mask=additive, scale=scaling)
            lse_t = lse_t.masked_fill(blind, float("-inf"))
        # 3. merge the two softmaxes: (o_p w_p + o_t w_t) / (w_p + w_t) in float32 (elementwise)
        top = torch.maximum(lse_p[part], lse_t)
        w_p = torch.exp(lse_p[part] - top).unsqueeze(-1)
        w_t = torch.exp(lse_t - top).unsqueeze(-1)
        merged = out_p[part].float().mul_(w_p)
        merged.add_(out_t.float().mul_(w_t))
        out[part].copy_(merged.div_(w_p.add_(w_t)).transpose(1, 2))
    return out, None


class PrefixStore:
    """The KV caches of shared prefixes already run, kept for later batches (least recently used
    first out), keyed by the prefix's token ids.

    A world's rules open every seat's prompt in every round, so the batch of one round and the
    next share the prefix exactly: its cache is computed once and reused while the rules stay.
    An entry is the one-row cache the model returned for the prefix; it is never changed in
    place (callers build a shared-prefix cache on top of it, or copy it before repeating rows),
    so a reused prefix gives bit for bit the keys and values a new forward pass would.

    Args:
        max_mb: most MiB of keys and values held; 0 keeps nothing. An entry larger than the
            bound is not kept.

    Safe to share between threads (its own lock); the backend also only calls it under the
    model's lock. A pickled copy (a worker process's backend) starts empty.
    """

    def __init__(self, max_mb: float):
        if max_mb < 0:
            raise ValueError(f"max_mb must be >= 0, got {max_mb}")
        self.max_bytes = int(max_mb * (1 << 20))
        self._entries: dict[tuple[int, ...], tuple[object, int]] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __getstate__(self) -> dict:
        # a copy for another process starts empty: tensors and a lock do not travel
        return {"max_bytes": self.max_bytes}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["max_bytes"] / (1 << 20))

    @property
    def nbytes(self) -> int:
        """Bytes of keys and values held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, tokens: tuple[int, ...]):
        """The stored cache of exactly the prefix ``tokens``, or None (counted as a hit or miss)."""
        with self._lock:
            entry = self._entries.pop(tokens, None)
            if entry is None:
                self.misses += 1
                return None
            self._entries[tokens] = entry  # most recently used last
            self.hits += 1
            return entry[0]

    def put(self, tokens: tuple[int, ...], cache) -> None:
        """Keep ``cache`` (the prefix ``tokens``' one-row cache), dropping the least recently used
        entries beyond the memory bound."""
        size = sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(tokens, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[tokens] = (cache, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                first = next(iter(self._entries))
                self._bytes -= self._entries.pop(first)[1]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
