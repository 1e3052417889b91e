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


_ALLOCATION_PROBE = """
import sys
import numpy as np, psutil
from dilemmazoo.agents.backends import hf
print(hf.tune_allocator() if sys.argv[1] == "tuned" else 0)
process = psutil.Process()
first = np.ones(2 << 20); del first        # 16 MiB: its own mapping; once freed, glibc raises its threshold
before = process.memory_info().rss
second = np.ones(2 << 20); del second      # the same size again: from the heap unless the threshold is fixed
print((process.memory_info().rss - before) / 2**20)
"""


@pytest.mark.parametrize("mode", ["tuned", "plain"])
def test_the_fixed_mmap_threshold_returns_freed_activations_to_the_system(mode, tmp_path):
    import subprocess
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's allocator is tuned on Linux only")
    probe = tmp_path / "probe.py"
    probe.write_text(_ALLOCATION_PROBE)
    env = {k: v for k, v in __import__("os").environ.items() if k != "DILEMMAZOO_MMAP_THRESHOLD"}
    out = subprocess.run([sys.executable, str(probe), mode], capture_output=True, text=True, env=env, check=True)
    threshold, kept_mib = out.stdout.split()
    if mode == "tuned":
        assert int(threshold) == 1 << 20
        assert float(kept_mib) < 4  # the second block went back to the system on free
    else:
        assert float(kept_mib) > 12  # glibc's default keeps it resident: what the tuning is for


def test_a_bad_mmap_threshold_setting_is_named(monkeypatch):
    from dilemmazoo.agents.backends import hf

    monkeypatch.setattr(hf, "_ALLOCATOR_TUNED", None)
    monkeypatch.setenv("DILEMMAZOO_MMAP_THRESHOLD", "lots")
    with pytest.raises(ValueError, match="DILEMMAZOO_MMAP_THRESHOLD"):
        hf.tune_allocator()
    monkeypatch.setattr(hf, "_ALLOCATOR_TUNED", None)
    monkeypatch.setenv("DILEMMAZOO_MMAP_THRESHOLD", "0")
    assert hf.tune_allocator() == 0
