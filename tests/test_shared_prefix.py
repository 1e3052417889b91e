"""Shared-prefix (cascade) attention: exact against plain softmax attention, and the same
answers from the embedded model as the copying path."""

from types import SimpleNamespace

import pytest
import torch

from dilemmazoo.agents.backends import shared_prefix
from dilemmazoo.agents.backends.base import GenerationParams

pytestmark = pytest.mark.skipif(not shared_prefix.available(), reason="this PyTorch lacks the fused CPU attention kernel")


def one_layer_cache(prefix_keys, prefix_values):
    from transformers.cache_utils import DynamicCache

    head = DynamicCache()
    head.update(prefix_keys, prefix_values, 0)
    return shared_prefix.shared_prefix_cache(head)


def plain_attention(query, keys, values, mask):
    """softmax(q k^T / sqrt(d) + mask) v, written out; keys/values already repeated to the query heads."""
    scores = query @ keys.transpose(-1, -2) / query.shape[-1] ** 0.5
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ values


def run(cache, query, tail_keys, tail_values, mask):
    module = SimpleNamespace(layer_idx=0)
    model = SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa"))
    with shared_prefix.active(model, cache):
        assert model.config._attn_implementation == shared_prefix.ATTENTION
        out, weights = shared_prefix.shared_prefix_attention(module, query, tail_keys, tail_values, mask)
    assert model.config._attn_implementation == "sdpa" and weights is None
    return out.transpose(1, 2)  # back to (rows, heads, q, dim)


def test_attention_over_prefix_and_padded_tails_is_exact():
    torch.manual_seed(0)
    rows, heads, kv_heads, prefix, tail, dim = 3, 4, 2, 7, 5, 8
    groups = heads // kv_heads
    prefix_k, prefix_v = torch.randn(1, kv_heads, prefix, dim), torch.randn(1, kv_heads, prefix, dim)
    query = torch.randn(rows, heads, tail, dim)
    tail_k, tail_v = torch.randn(rows, kv_heads, tail, dim), torch.randn(rows, kv_heads, tail, dim)
    # left padding inside the tail: row 0 none, row 1 two pads, row 2 four pads; causal order
    pads = [0, 2, 4]
    mask = torch.ones(rows, 1, tail, prefix + tail, dtype=torch.bool)
    for r, p in enumerate(pads):
        for i in range(tail):
            for j in range(tail):
                mask[r, 0, i, prefix + j] = j <= i and j >= p
    cache = one_layer_cache(prefix_k, prefix_v)
    assert cache.get_seq_length() == prefix and cache.get_mask_sizes(tail, 0) == (prefix + tail, 0)
    got = run(cache, query, tail_k, tail_v, mask)
    keys = torch.cat([prefix_k.expand(rows, -1, -1, -1), tail_k], dim=2).repeat_interleave(groups, dim=1)
    values = torch.cat([prefix_v.expand(rows, -1, -1, -1), tail_v], dim=2).repeat_interleave(groups, dim=1)
    want = plain_attention(query, keys, values, mask)
    assert torch.allclose(got, want, atol=1e-5)
    # a padding query sees the prefix only (its own tail is fully masked): still exact, no NaN
    row1_pad = plain_attention(query[1:2, :, :1], keys[1:2, :, :prefix], values[1:2, :, :prefix],
                               torch.ones(1, 1, 1, prefix, dtype=torch.bool))
    assert torch.allclose(got[1:2, :, :1], row1_pad, atol=1e-5)


def test_attention_without_a_mask_is_causal_over_the_tail():
    torch.manual_seed(1)
    rows, heads, prefix, tail, dim = 2, 2, 4, 3, 8
    prefix_k, prefix_v = torch.randn(1, heads, prefix, dim), torch.randn(1, heads, prefix, dim)
    query, tail_k, tail_v = (torch.randn(rows, heads, tail, dim) for _ in range(3))
    cache = one_layer_cache(prefix_k, prefix_v)
    mask = torch.ones(rows, 1, tail, prefix + tail, dtype=torch.bool)
    mask[..., prefix:] = torch.tril(torch.ones(tail, tail, dtype=torch.bool))
    keys = torch.cat([prefix_k.expand(rows, -1, -1, -1), tail_k], dim=2)
    values = torch.cat([prefix_v.expand(rows, -1, -1, -1), tail_v], dim=2)
    assert torch.allclose(run(cache, query, tail_k, tail_v, None), plain_attention(query, keys, values, mask), atol=1e-5)
    # one query (a decoding step) sees everything
    got = run(cache, query[:, :, -1:], tail_k, tail_v, None)
    assert torch.allclose(got, plain_attention(query[:, :, -1:], keys, values, mask[:, :, -1:]), atol=1e-5)
    with pytest.raises(RuntimeError, match="needs a mask"):
        run(cache, query[:, :, :2], tail_k, tail_v, None)


def _padded_batch(rows=5, heads=6, kv_heads=2, prefix=9, tail=11, dim=8, seed=3, dtype=torch.bfloat16):
    """Queries over a whole left-padded tail (a prefill), the tail's keys/values, and the 2D mask."""
    generator = torch.Generator().manual_seed(seed)
    prefix_k, prefix_v = (torch.randn(1, kv_heads, prefix, dim, generator=generator).to(dtype) for _ in range(2))
    query = torch.randn(rows, heads, tail, dim, generator=generator).to(dtype)
    tail_k, tail_v = (torch.randn(rows, kv_heads, tail, dim, generator=generator).to(dtype) for _ in range(2))
    real = torch.ones(rows, prefix + tail, dtype=torch.bool)
    for r in range(rows):
        real[r, prefix:prefix + 2 * r] = False  # row r: 2r pads at the start of its tail
    return prefix_k, prefix_v, query, tail_k, tail_v, real


def test_the_one_row_padding_mask_gives_the_full_masks_values_bit_for_bit(monkeypatch):
    from transformers.masking_utils import causal_mask_function, sdpa_mask

    prefix_k, prefix_v, query, tail_k, tail_v, real = _padded_batch()
    rows, _, tail, _ = query.shape
    kv = real.shape[1]
    args = dict(batch_size=rows, q_length=tail, kv_length=kv, q_offset=kv - tail, mask_function=causal_mask_function,
                attention_mask=real)
    full = sdpa_mask(**args)
    compact = shared_prefix.padding_mask(**args)
    assert full.shape == (rows, 1, tail, kv) and compact.shape == (rows, 1, 1, kv)
    want = run(one_layer_cache(prefix_k, prefix_v), query, tail_k, tail_v, full)
    assert torch.equal(run(one_layer_cache(prefix_k, prefix_v), query, tail_k, tail_v, compact), want)
    # in pieces of one or two rows (a long prefill's): each row's values are its own
    for pieces in (1, 2):
        monkeypatch.setattr(shared_prefix, "MERGE_CHUNK_BYTES", pieces * 6 * tail * 8 * 4)  # float32 outputs
        assert shared_prefix._row_step(rows, 6, tail, tail, 8) == pieces
        assert torch.equal(run(one_layer_cache(prefix_k, prefix_v), query, tail_k, tail_v, compact), want)
        assert torch.equal(run(one_layer_cache(prefix_k, prefix_v), query, tail_k, tail_v, full), want)
    # grouped key/value heads as they are: the same bits as with the heads repeated (as before)
    repeated = run(one_layer_cache(prefix_k.repeat_interleave(3, dim=1), prefix_v.repeat_interleave(3, dim=1)),
                   query, tail_k.repeat_interleave(3, dim=1), tail_v.repeat_interleave(3, dim=1), compact)
    assert torch.equal(repeated, want)
    # a PyTorch whose kernel takes no grouped heads gets them repeated: the same bits again
    assert shared_prefix.takes_grouped_heads()
    monkeypatch.setattr(shared_prefix, "takes_grouped_heads", lambda: False)
    assert torch.equal(run(one_layer_cache(prefix_k, prefix_v), query, tail_k, tail_v, compact), want)
    # and against attention written out (float32 reference, bf16 inputs)
    mask = full[..., :]
    keys = torch.cat([prefix_k.expand(rows, -1, -1, -1), tail_k], dim=2).repeat_interleave(3, dim=1).float()
    values = torch.cat([prefix_v.expand(rows, -1, -1, -1), tail_v], dim=2).repeat_interleave(3, dim=1).float()
    reference = plain_attention(query.float(), keys, values, mask)
    assert torch.allclose(want.float(), reference, atol=2e-2)


def test_the_padding_mask_is_transformers_own_where_it_is_not_plain_causal():
    from transformers.masking_utils import causal_mask_function, sdpa_mask, sliding_window_causal_mask_function

    real = torch.ones(2, 6, dtype=torch.bool)
    real[1, :2] = False
    window = sliding_window_causal_mask_function(3)
    args = dict(batch_size=2, q_length=4, kv_length=6, q_offset=2, attention_mask=real)
    assert torch.equal(shared_prefix.padding_mask(mask_function=window, **args),
                       sdpa_mask(mask_function=window, **args))
    compact = shared_prefix.padding_mask(mask_function=causal_mask_function, **args)
    assert compact.shape == (2, 1, 1, 6) and torch.equal(compact[:, 0, 0], real)
    # transformers 4.x names the queries by their positions
    by_position = dict(batch_size=2, cache_position=torch.arange(2, 6), kv_length=6, attention_mask=real)
    assert torch.equal(shared_prefix.padding_mask(mask_function=causal_mask_function, **by_position), compact)
    # no padding at all: no mask, as transformers (the kernel's causal flag does it)
    whole = dict(args, attention_mask=torch.ones(2, 4, dtype=torch.bool), kv_length=4, q_offset=0)
    assert shared_prefix.padding_mask(mask_function=causal_mask_function, **whole) is None
    assert sdpa_mask(mask_function=causal_mask_function, **whole) is None
    # one query (a decoding step): the two forms are the same tensor values
    step = dict(batch_size=2, q_length=1, kv_length=6, q_offset=5, attention_mask=real)
    assert torch.equal(shared_prefix.padding_mask(mask_function=causal_mask_function, **step),
                       sdpa_mask(mask_function=causal_mask_function, **step))


def test_attention_outside_a_shared_prefix_cache_is_an_error():
    query = torch.zeros(1, 1, 1, 4)
    with pytest.raises(RuntimeError, match="without an active shared-prefix cache"):
        shared_prefix.shared_prefix_attention(SimpleNamespace(layer_idx=0), query, query, query, None)


RULES = ("You are one of several workers. Each step you choose how many hours to work; your income is "
         "hours times your skill, taxed on a marginal schedule, and all tax is shared equally. ") * 3


def chats(lines):
    return [[{"role": "system", "content": RULES}, {"role": "user", "content": line}] for line in lines]


@pytest.mark.slow
def test_embedded_model_answers_and_scores_the_same_with_and_without_cascade():
    from dilemmazoo.agents.backends.embedded import EmbeddedBackend

    lines = ["Your skill: 12 per hour. Choose your hours.", "Your skill: 310.5 per hour; last step you worked 40 hours.",
             "Choose your hours."]
    cascade = EmbeddedBackend(dtype="float32", cascade_attention=True)
    copying = EmbeddedBackend(dtype="float32", cascade_attention=False)
    caches = []

    def record(module, args, kwargs):
        caches.append(kwargs.get("past_key_values", kwargs.get("cache")))

    hook = cascade.model.register_forward_pre_hook(record, with_kwargs=True)
    params = GenerationParams(max_tokens=12, temperature=0.0, seed=0)
    try:
        texts = [c.text for c in cascade.generate(chats(lines), params=params)]
        used = [c for c in caches if c is not None]
        assert used and all(shared_prefix.is_shared_prefix_cache(c) for c in used)
        # the prefix is held once: one row, however many chats
        assert used[0].layers[0].prefix_keys.shape[0] == 1
        caches.clear()
        copying_texts = [c.text for c in copying.generate(chats(lines), params=params)]
        assert not any(c is not None and shared_prefix.is_shared_prefix_cache(c) for c in caches)
    finally:
        hook.remove()
    assert texts == copying_texts and all(t.strip() for t in texts)
    assert cascade.model.config._attn_implementation == "sdpa"  # switched for the call only

    options = [["0", "40", "100"], ["10", "20"], ["yes", "no", "50", "a longer answer"]]
    with_cascade = cascade.score(chats(lines), options)
    without = copying.score(chats(lines), options)
    for a, b in zip(with_cascade, without):
        assert list(a) == pytest.approx(list(b), abs=2e-3)
    # one chat (a planner): its whole prompt is the shared prefix of its option rows, in chunks
    # of at most max_batch_size rows (here 4 chunks of 3, 3, 3 and 1)
    cascade.max_batch_size = copying.max_batch_size = 3
    many = [[f"Answer: {k}" for k in range(0, 100, 10)]]
    try:
        alone = cascade.score(chats(lines[:1]), many)[0]
        plain = copying.score(chats(lines[:1]), many)[0]
    finally:
        cascade.max_batch_size = copying.max_batch_size = 32
    assert list(alone) == pytest.approx(list(plain), abs=2e-3) and alone.option_tokens == plain.option_tokens
