"""Kept shared-prefix KV caches (``HFBackend.prefix_store``): the same answers, scores and records."""

import pickle

import pandas as pd
import pytest

from dilemmazoo.agents.backends import shared_prefix
from dilemmazoo.agents.backends.base import GenerationParams

pytestmark = pytest.mark.slow

RULES = ("You play a repeated giving game with other players. Each round a donor may give any part\n"
         "of its units; the recipient receives twice what is given. Giving is remembered by others.\n") * 3


def chats(lines, strategies=("My strategy will be to give half.",)):
    """One chat per line; seat k follows ``strategies[k % len(strategies)]``."""
    return [[{"role": "system", "content": RULES + "\nYour strategy: " + strategies[k % len(strategies)]},
             {"role": "user", "content": line}] for k, line in enumerate(lines)]


class _Cache:
    """A stand-in for a transformers cache: layers with ``keys`` and ``values``."""

    def __init__(self, nbytes):
        import torch

        layer = type("Layer", (), {})()
        layer.keys = torch.zeros(nbytes // 2, dtype=torch.uint8)
        layer.values = torch.zeros(nbytes - nbytes // 2, dtype=torch.uint8)
        self.layers = [layer]


def test_prefix_store_keeps_the_most_recently_used_within_its_bound():
    store = shared_prefix.PrefixStore(max_mb=3)
    mib = 1 << 20
    a, b, c = _Cache(mib), _Cache(mib), _Cache(mib)
    store.put((1,), a)
    store.put((2,), b)
    assert store.get((1,)) is a  # (1,) is now the most recently used
    store.put((3,), c)
    assert len(store) == 3 and store.nbytes == 3 * mib
    store.put((4,), _Cache(mib))  # over 3 MiB: the least recently used, (2,), goes
    assert store.get((2,)) is None and store.get((1,)) is a and store.get((3,)) is c
    assert (store.hits, store.misses) == (3, 1)
    store.put((5,), _Cache(4 * mib))  # larger than the bound: not kept, nothing dropped
    assert store.get((5,)) is None and len(store) == 3
    store.put((1,), b)  # replacing an entry counts its bytes once
    assert store.nbytes == 3 * mib and store.get((1,)) is b
    copied = pickle.loads(pickle.dumps(store))  # a worker process's copy: the bound, no entries
    assert (copied.max_bytes, len(copied)) == (store.max_bytes, 0) and len(store) == 3
    nothing = shared_prefix.PrefixStore(max_mb=0)
    nothing.put((1,), _Cache(8))
    assert len(nothing) == 0
    with pytest.raises(ValueError, match="max_mb"):
        shared_prefix.PrefixStore(max_mb=-1)


def test_the_shared_prefix_ends_where_the_rounds_differ(embedded_backend):
    backend = embedded_backend

    def ids(lines, strategies):
        return [backend.prompt_ids(c) for c in chats(lines, strategies)]

    # seats with different strategies: the prefix is the rules, however far the strategies agree
    one = ids(["You have 10 units.", "You have 3 units."], ("My strategy will be to give half.", "My strategy: keep."))
    two = ids(["You have 8 units.", "You have 1 unit."], ("My strategy will be to give all.", "My strategy will be to give none."))
    n = backend.shared_prefix_length(one)
    assert n == backend.shared_prefix_length(two) >= backend.min_shared_prefix and one[0][:n] == two[0][:n]
    assert backend.tokenizer.decode(one[0][:n]).endswith(RULES + "\n")
    # seats with one strategy: the whole system turn, not the round's first line that they share too
    round1 = ids(["Round 1.\nYou have 10 units.", "Round 1.\nYou have 3 units."], ("Give half.",))
    round2 = ids(["Round 2.\nYou have 7 units.", "Round 2.\nYou have 1 unit."], ("Give half.",))
    m = backend.shared_prefix_length(round1)
    assert m == backend.shared_prefix_length(round2) and round1[0][:m] == round2[0][:m]
    assert backend.tokenizer.decode(round1[0][:m]).endswith("Give half." + backend.loaded.end_of_turn + "\n")
    assert backend.shared_prefix_length(one[:1]) == 0  # one chat: nothing shared


def test_kept_prefix_gives_the_plain_answers_in_float32():
    from dilemmazoo.agents.backends.embedded import EmbeddedBackend

    kept = EmbeddedBackend(dtype="float32")
    plain = EmbeddedBackend(dtype="float32", min_shared_prefix=10**9, prefix_cache_mb=0)
    params = GenerationParams(max_tokens=8, temperature=0.0, seed=0)
    rounds = [["You have 10 units. How many do you give?", "You have 3 units."],
              ["Your partner gave 5 last time; you have 8.", "You have 6 units.", "You have 2 units."]]
    for lines in rounds:  # the second round runs on the first round's kept prefix
        texts = [c.text for c in kept.generate(chats(lines), params=params)]
        assert texts == [c.text for c in plain.generate(chats(lines), params=params)]
        assert all(t.strip() for t in texts)
    assert kept.prefix_store.hits == 1 and len(kept.prefix_store) == 1
    assert len(plain.prefix_store) == 0


def test_kept_prefix_scores_are_bit_for_bit_the_recomputed_ones(embedded_backend):
    from dilemmazoo.agents.backends.embedded import EmbeddedBackend

    fresh = EmbeddedBackend(prefix_cache_mb=0)  # the same loaded model (configured dtype), nothing kept
    kept = EmbeddedBackend()
    lines = ["You have 10 units.", "You have 4 units; your partner gave 2."]
    options = [["Answer: 0", "Answer: 5", "Answer: 10"], ["Answer: 0", "Answer: 2"]]
    first = kept.score(chats(lines), options)
    again = kept.score(chats(lines), options)  # from the kept prefix
    assert kept.prefix_store.hits == 1
    recomputed = fresh.score(chats(lines), options)
    assert [list(r) for r in first] == [list(r) for r in again] == [list(r) for r in recomputed]


def test_a_seeded_run_records_the_same_with_and_without_kept_prefixes(tmp_path, embedded_backend, monkeypatch):
    """The demo's decision mode (scored amounts, sampled with temperature 0.8): steps.parquet, the
    population and every call's record come out the same when later rounds reuse the rules."""
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import execute

    hits = []
    get = shared_prefix.PrefixStore.get

    def counted(store, tokens):
        found = get(store, tokens)
        hits.append(found is not None)
        return found

    monkeypatch.setattr(shared_prefix.PrefixStore, "get", counted)

    def run(folder, **options):
        config = validate({
            "name": "tiny_reuse",
            "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 3}},
            "agents": {"kind": "llm", "backend": "embedded", "decision": "score", "max_tokens": 8,
                       "max_retries": 0, "score_grid": [0, 0.5, 1], "temperature": 0.8, "backend_options": options},
            "cache": False,
        })
        return execute(config, tmp_path / folder, progress=False)

    without = run("without", prefix_cache_mb=0)
    assert not any(hits)
    hits.clear()
    kept = run("kept")
    assert sum(hits) >= 2  # rounds 2 and 3 ran on the rules kept from round 1
    pd.testing.assert_frame_equal(without.steps, kept.steps)
    pd.testing.assert_frame_equal(without.population, kept.population)
    columns = ["agent", "purpose", "prompt_hash", "text", "prompt_tokens", "completion_tokens"]
    pd.testing.assert_frame_equal(without.llm_calls[columns], kept.llm_calls[columns])
