"""The KV cache that grows in place during generation (``shared_prefix.growing_cache``).

It must hold exactly what transformers' concatenating cache holds after any sequence of updates,
crops and row selections, and generation through it must write the same texts.
"""

import pytest
import torch

from dilemmazoo.agents.backends import shared_prefix
from dilemmazoo.agents.backends.base import GenerationParams
from dilemmazoo.agents.backends.hf import HFBackend


def _states(rows, tokens, seed):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, 3, tokens, 4, generator=generator),
            torch.randn(rows, 3, tokens, 4, generator=generator))


def _plain():
    from transformers.cache_utils import DynamicLayer

    return DynamicLayer()


@pytest.mark.parametrize("reserve", [0, 2, 50])
def test_a_growing_layer_holds_what_concatenation_holds(reserve):
    grown = shared_prefix.growing_cache(reserve).layer_class_to_replicate()
    plain = _plain()
    steps = [(4, 7), (4, 1), (4, 1), (4, 3), ("crop", -2), (4, 1), ("select", [2, 0, 3]), (3, 1),
             ("repeat", 2), (6, 1), (6, 1)]
    for seed, step in enumerate(steps):
        if step[0] == "crop":
            grown.crop(step[1])
            plain.crop(step[1])
            continue
        if step[0] == "select":
            index = torch.tensor(step[1])
            grown.batch_select_indices(index)
            plain.batch_select_indices(index)
            continue
        if step[0] == "repeat":
            grown.batch_repeat_interleave(step[1])
            plain.batch_repeat_interleave(step[1])
            continue
        keys, values = _states(*step, seed)
        got = grown.update(keys, values)
        want = plain.update(keys, values)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]), step
        assert grown.get_seq_length() == plain.get_seq_length()


def test_a_growing_layer_writes_in_place_while_it_has_room():
    layer = shared_prefix.growing_cache(reserve=5).layer_class_to_replicate()
    layer.update(*_states(2, 10, 0))
    room = layer.keys.data_ptr()
    for seed in range(5):  # within the reserve: the same buffer
        layer.update(*_states(2, 1, seed + 1))
        assert layer.keys.data_ptr() == room
    layer.update(*_states(2, 1, 9))  # beyond it: moved to a larger one, values kept
    assert layer.keys.data_ptr() != room and layer.get_seq_length() == 16


def test_reserve_none_concatenates_as_transformers_does():
    layer = shared_prefix.growing_cache(None).layer_class_to_replicate()
    layer.update(*_states(1, 4, 0))
    assert layer.keys.is_contiguous() and layer._room is None


@pytest.mark.slow
@pytest.mark.parametrize("cascade", [True, False])
def test_generation_through_the_growing_cache_writes_the_same_texts(embedded_backend, monkeypatch, cascade):
    backend = HFBackend.__new__(HFBackend)
    backend.__dict__.update(embedded_backend.__dict__)
    backend._cascade_ok = cascade
    rules = "You play a repeated giving game. A donor gives units; the recipient gets twice that.\n" * 4
    chats = [[{"role": "system", "content": rules}, {"role": "user", "content": f"Seat {k}: how much do you give?"}]
             for k in range(3)]
    params = GenerationParams(max_tokens=12, temperature=0.0, seed=0)
    grown = backend.generate(chats, params=params)
    original = HFBackend._prefill_shared_prefix
    monkeypatch.setattr(HFBackend, "_prefill_shared_prefix",
                        lambda self, sequences, reserve=None: original(self, sequences, None))
    plain = backend.generate(chats, params=params)
    assert [c.text for c in grown] == [c.text for c in plain]
    assert all(c.completion_tokens > 0 for c in grown)


def test_free_heap_memory_is_handed_back_after_a_call(monkeypatch):
    import sys

    from dilemmazoo.agents.backends import hf

    monkeypatch.setenv("DILEMMAZOO_MALLOC_TRIM", "0")
    assert hf.release_free_memory() is False
    monkeypatch.delenv("DILEMMAZOO_MALLOC_TRIM")
    assert hf.release_free_memory() is sys.platform.startswith("linux")


def test_rooms_given_in_one_block_hold_what_concatenation_holds():
    cache = shared_prefix.growing_cache(reserve=3)
    cache.allocate(2, rows=2, heads=3, length=9, dim=4, dtype=torch.float32, device=torch.device("cpu"))
    plain = [_plain(), _plain()]
    rooms = [layer._room[0].data_ptr() for layer in cache.layers]
    for seed, tokens in enumerate([6, 1, 1, 1]):
        for index, layer in enumerate(cache.layers):
            keys, values = _states(2, tokens, 10 * seed + index)
            got, want = layer.update(keys, values), plain[index].update(keys, values)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert [layer.keys.data_ptr() for layer in cache.layers] == rooms  # written in place, one block
    assert cache.layers[1].keys.data_ptr() - cache.layers[0].keys.data_ptr() == 2 * 2 * 3 * 9 * 4 * 4
