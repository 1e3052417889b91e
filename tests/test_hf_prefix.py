"""Shared-prefix prefill in the local backends: faster, and the same answers."""

import pytest

from dilemmazoo.agents.backends.base import GenerationParams

pytestmark = pytest.mark.slow

RULES = ("You play a repeated giving game with other players. Each round a donor may give any part "
         "of its units; the recipient receives twice what is given. Giving is remembered by others. ") * 3


def chats(questions):
    return [[{"role": "system", "content": RULES}, {"role": "user", "content": q}] for q in questions]


def test_generate_with_a_shared_prefix_matches_plain_batching():
    from dilemmazoo.agents.backends.embedded import EmbeddedBackend

    questions = ["You have 10 units. How many do you give?", "You have 3 units.", "Your partner gave 5 last time; you have 8."]
    shared = EmbeddedBackend(dtype="float32")
    plain = EmbeddedBackend(dtype="float32", min_shared_prefix=10**9)
    params = GenerationParams(max_tokens=24, temperature=0.0, seed=0)
    rows = []

    def record(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        rows.append(tuple(ids.shape))

    hook = shared.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        with_prefix = [c.text for c in shared.generate(chats(questions), params=params)]
    finally:
        hook.remove()
    # the rules are prefilled once for one row, then the three tails continue from that cache
    assert rows[0][0] == 1 and rows[1][0] == 3 and rows[1][1] > rows[2][1] == 1
    assert with_prefix == [c.text for c in plain.generate(chats(questions), params=params)]
    assert all(text.strip() for text in with_prefix)
