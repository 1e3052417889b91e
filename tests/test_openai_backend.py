"""The OpenAI-compatible backend against a loopback fake server, and the shared limits machinery.

``TestOpenAI`` inherits the backend contract and adds the wire-level cases: what is sent, what
comes back, concurrency, every fault mode of :mod:`fake_openai_server` (timeouts, 429 with
``Retry-After``, 5xx, dropped connections, malformed bodies) and that the API key never leaks.
The limits tests (rate limiter, retry policy, redaction) run on an injected clock and sleep.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import email.utils
import pickle
import random
import time

import httpx
import openai
import pytest
from fake_openai_server import Behaviour, FakeOpenAIServer, fake_openai_server  # noqa: F401  (fixture)
from test_backends import CHATS, QUICK, BackendContract

from dilemmazoo.agents.backends import Backend, BackendError, GenerationParams, make_backend
from dilemmazoo.agents.backends.limits import (
    MalformedResponseError,
    RateLimiter,
    RetryPolicy,
    call_with_retries,
    estimate_tokens,
    redact,
    retry_after_s,
)
from dilemmazoo.agents.backends.openai_backend import OpenAIBackend

SECRET = "sk-test-SECRET123"
FAST = {"backoff_s": 0.001, "max_backoff_s": 0.01}  # retries without waiting


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch):
    """Tests see no OPENAI_API_KEY of the machine they run on."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def backend_for(server: FakeOpenAIServer, **kwargs) -> OpenAIBackend:
    return OpenAIBackend("fake-model", base_url=server.url, **{**FAST, **kwargs})


def record_retry_delays(backend) -> list[float]:
    """The waits the backend chose before each retry, as it reports them to its retry hook
    (what the tests check instead of timing the calls)."""
    delays: list[float] = []
    count = backend._count_retry

    def recording(attempt, error, delay_s):
        delays.append(delay_s)
        count(attempt, error, delay_s)

    backend._count_retry = recording
    return delays


class TestOpenAI(BackendContract):
    @pytest.fixture(autouse=True)
    def _server(self, fake_openai_server):
        self.server = fake_openai_server

    def make(self) -> Backend:
        return backend_for(self.server)

    # -- provenance --------------------------------------------------------------------------
    def test_provenance_names_model_and_server_without_credentials(self, monkeypatch):
        backend = OpenAIBackend("fake-model", base_url="https://user:pw@llm.example:8443/v1?key=sk-x#frag", api_key=SECRET)
        assert backend.provenance() == {
            "model": "fake-model", "revision": None, "weights_sha256": None, "base_url": "https://llm.example:8443/v1",
        }
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        assert OpenAIBackend("gpt-4o-mini", api_key=SECRET).provenance()["base_url"] == "https://api.openai.com/v1"
        monkeypatch.setenv("OPENAI_BASE_URL", "http://proxy.local:9000/v1")
        assert OpenAIBackend("gpt-4o-mini", api_key=SECRET).provenance()["base_url"] == "http://proxy.local:9000/v1"

    # -- round trip --------------------------------------------------------------------------
    def test_round_trip_with_tokens_and_latency(self):
        self.server.latency_ms = 20
        backend = self.make()
        completions = backend.generate(CHATS, params=QUICK)
        assert [c.text for c in completions] == ["Answer: C"] * 3
        assert all(c.prompt_tokens > 0 and c.completion_tokens == 2 for c in completions)
        assert all(c.latency_s >= 0.02 and c.cost_usd == 0 and not c.cached for c in completions)  # the server's 20 ms
        assert backend.name == "openai:fake-model" and not backend.can_score and backend.retries == 0
        sent = [r.body["messages"] for r in self.server.completions]  # concurrent: any arrival order
        assert sorted(sent, key=repr) == sorted(CHATS, key=repr)
        backend.close()

    def test_sampling_and_structured_output_arguments_are_sent(self):
        backend = backend_for(self.server, response_format={"type": "json_object"},
                              extra_body={"guided_regex": "Answer: [CD]"})
        params = GenerationParams(max_tokens=7, temperature=0.3, top_p=0.9, seed=11, stop=("\n", "END"))
        backend.generate(CHATS[:1], params=params)
        body = self.server.completions[0].body
        assert {k: body[k] for k in ("model", "max_tokens", "temperature", "top_p", "seed", "stop")} == {
            "model": "fake-model", "max_tokens": 7, "temperature": 0.3, "top_p": 0.9, "seed": 11, "stop": ["\n", "END"]}
        assert body["response_format"] == {"type": "json_object"} and body["guided_regex"] == "Answer: [CD]"
        backend.close()

    def test_no_stop_and_no_hints_send_nothing_extra(self):
        backend = self.make()
        backend.generate(CHATS[:1], params=GenerationParams())
        assert not {"stop", "response_format", "guided_regex"} & set(self.server.completions[0].body)
        backend.close()

    def test_stop_strings_are_applied_to_the_text(self):
        self.server.answer = "Answer: C\nbecause"
        backend = self.make()
        assert backend.generate(CHATS[:1], params=GenerationParams(stop=("\n",)))[0].text == "Answer: C"
        backend.close()

    def test_cost_from_a_given_price(self):
        self.server.answer = "one two three four"
        backend = backend_for(self.server, price_per_1k_tokens=(1.0, 2.0))
        completion = backend.generate(CHATS[:1], params=QUICK)[0]
        assert completion.cost_usd == pytest.approx((completion.prompt_tokens * 1.0 + 4 * 2.0) / 1000)
        backend.close()

    def test_empty_answer_is_empty_text_not_a_retry(self):
        self.server.enqueue("empty")
        backend = self.make()
        assert backend.generate(CHATS[:1], params=QUICK)[0].text == ""
        assert backend.retries == 0 and len(self.server.completions) == 1
        backend.close()

    def test_generate_works_inside_a_running_loop(self):
        backend = self.make()

        async def notebook_cell():
            return backend.generate(CHATS[:1], params=QUICK)

        assert asyncio.run(notebook_cell())[0].text == "Answer: C"
        backend.close()

    def test_caller_loops_and_own_loop_alternate(self):
        backend = self.make()
        for _ in range(2):  # a client per caller loop; one kept client on the backend's loop
            assert asyncio.run(backend.agenerate(CHATS[:1], params=QUICK))[0].text == "Answer: C"
            assert backend.generate(CHATS[:2], params=QUICK)[1].text == "Answer: C"
        backend.close()
        backend.close()

    # -- faults ------------------------------------------------------------------------------
    @pytest.mark.parametrize("mode", ["500", "503", "disconnect", "garbage", "no_choices", "timeout"])
    def test_a_transient_fault_then_ok_succeeds(self, mode):
        self.server.enqueue(Behaviour(mode, hang_s=2.0))
        backend = backend_for(self.server, timeout_s=0.3)
        assert backend.generate(CHATS[:1], params=QUICK)[0].text == "Answer: C"
        assert backend.retries == 1
        assert [r.mode for r in self.server.completions] == [mode, "ok"]
        backend.close()

    def test_timeouts_are_retried_then_raise(self):
        self.server.default = Behaviour("timeout", hang_s=3.0)
        backend = backend_for(self.server, timeout_s=0.2, max_retries=2)
        with pytest.raises(BackendError, match=r"openai:fake-model: request failed after 3 attempts: APITimeoutError"):
            backend.generate(CHATS[:1], params=QUICK)
        assert backend.retries == 2 and len(self.server.completions) == 3
        backend.close()

    def test_rate_limit_honours_retry_after(self):
        self.server.enqueue(Behaviour("429", retry_after="0.3"))
        backend = backend_for(self.server, max_backoff_s=5.0)
        delays = record_retry_delays(backend)
        completion = backend.generate(CHATS[:1], params=QUICK)[0]
        assert completion.text == "Answer: C" and backend.retries == 1 and delays == [0.3]
        assert completion.latency_s >= 0.3  # latency includes the retry (a lower bound: a sleep is never shorter)
        backend.close()

    def test_retry_after_is_capped_by_max_backoff(self):
        self.server.enqueue(Behaviour("429", retry_after="30"))
        backend = backend_for(self.server, max_backoff_s=0.05)
        delays = record_retry_delays(backend)
        assert backend.generate(CHATS[:1], params=QUICK)[0].text == "Answer: C"
        assert delays == [0.05]
        backend.close()

    def test_persistent_server_error_raises_quickly(self):
        self.server.default = Behaviour("500")
        backend = backend_for(self.server, max_retries=3)
        delays = record_retry_delays(backend)
        with pytest.raises(BackendError) as caught:
            backend.generate(CHATS[:1], params=QUICK)
        assert len(delays) == 3 and all(0 <= d <= FAST["max_backoff_s"] for d in delays)  # quick backoff
        message = str(caught.value)
        assert "fake-model" in message and "after 4 attempts" in message and "InternalServerError" in message
        assert backend.retries == 3 and len(self.server.completions) == 4
        assert isinstance(caught.value.__cause__, openai.InternalServerError)
        backend.close()

    def test_persistent_malformed_answers_raise(self):
        self.server.default = Behaviour("garbage")
        backend = backend_for(self.server, max_retries=1)
        with pytest.raises(BackendError, match="after 2 attempts: MalformedResponseError"):
            backend.generate(CHATS[:1], params=QUICK)
        backend.close()

    def test_client_errors_are_not_retried(self):
        server = FakeOpenAIServer(expected_api_key="sk-test-right-key-000").start()
        try:
            backend = OpenAIBackend("fake-model", base_url=server.url, api_key="sk-test-wrong-key-000", **FAST)
            with pytest.raises(BackendError, match="on the first attempt: AuthenticationError") as caught:
                backend.generate(CHATS, params=QUICK)
            assert "wrong-key" not in str(caught.value)
            assert backend.retries == 0 and 1 <= len(server.completions) <= 3
            backend.close()
        finally:
            server.stop()

    def test_one_failed_chat_fails_the_call(self):
        self.server.enqueue("ok", "500")  # one of the two chats fails for good
        backend = backend_for(self.server, max_retries=0)
        with pytest.raises(BackendError, match="on the first attempt"):
            backend.generate(CHATS[:2], params=QUICK)
        backend.close()

    # -- concurrency and rate limits ---------------------------------------------------------
    def test_chats_run_concurrently_within_the_limit(self):
        with FakeOpenAIServer(latency_ms=300) as server:
            backend = OpenAIBackend("fake-model", base_url=server.url, concurrency=8)
            chats = [[{"role": "user", "content": f"question {i}"}] for i in range(20)]
            completions = backend.generate(chats, params=QUICK)
            assert len(completions) == 20
            assert server.max_in_flight == 8
            assert sorted(r.body["messages"][0]["content"] for r in server.completions) == sorted(
                c[0]["content"] for c in chats)
            backend.close()

    def test_requests_per_minute_spaces_requests(self):
        backend = backend_for(self.server, requests_per_minute=600)  # a burst of 10, then 10 a second
        fake = FakeTime()  # the backend's own limiter on a clock that only its waits advance
        backend.limiter = RateLimiter(requests_per_minute=600, clock=fake.clock, sleep=fake.sleep)
        backend.generate([CHATS[0]] * 12, params=QUICK)
        assert fake.sleeps == [pytest.approx(0.1), pytest.approx(0.1)] and fake.now == pytest.approx(0.2)
        assert len(self.server.completions) == 12
        backend.close()

    # -- the key -----------------------------------------------------------------------------
    def test_the_key_is_sent_and_never_shown(self):
        server = FakeOpenAIServer(expected_api_key=SECRET, default="500").start()
        try:
            backend = OpenAIBackend("fake-model", base_url=server.url, api_key=SECRET, max_retries=1, **FAST)
            with pytest.raises(BackendError) as caught:
                backend.generate(CHATS[:1], params=QUICK)
            assert [r.authorized for r in server.completions] == [True, True]
            for shown in (str(caught.value), repr(caught.value), repr(backend), backend.name, str(vars(backend))):
                assert SECRET not in shown and "SECRET123" not in shown
            assert b"SECRET123" not in pickle.dumps(backend)
            assert all("SECRET123" not in repr(r) for r in server.requests)
            backend.close()
        finally:
            server.stop()

    def test_a_server_that_echoes_every_credential_shows_none(self):
        """A server's error quotes the request's headers and body; the key, the secret headers,
        the secret body fields and the URL's password all reach it, and none comes back out."""
        key, bearer, api_key, body_key, body_token, password = (
            f"{name}-{'9' * 12}" for name in ("plain", "bearer", "gateway", "bodykey", "bodytok", "urlpass"))
        self.server.default = Behaviour("echo")
        host = self.server.url.split("//", 1)[1]
        backend = OpenAIBackend(
            "fake-model", base_url=f"http://user:{password}@{host}", api_key=key, max_retries=1, **FAST,
            extra_headers={"X-Gateway-Authorization": f"Bearer {bearer}", "api-key": api_key},
            extra_body={"key": body_key, "access_token": body_token, "guided_regex": "Answer: [CD]"},
        )
        with pytest.raises(BackendError) as caught:
            backend.generate(CHATS[:1], params=QUICK)
        backend.close()
        import traceback

        from dilemmazoo.agents.backends.redaction import redact_text

        message = str(caught.value)
        chain = redact_text("".join(traceback.format_exception(caught.value)))
        assert "upstream rejected the request" in message and "guided_regex" in chain  # the cause has the body
        for secret in (key, bearer, api_key, body_key, body_token, password):
            assert secret not in message and secret not in chain and secret not in repr(backend)
        sent = self.server.completions[0]
        assert sent.headers["api-key"] == api_key and sent.body["key"] == body_key  # they were sent

    def test_an_answer_that_repeats_the_key_has_it_blanked(self):
        key = "repeated-key-" + "3" * 12
        self.server.enqueue(Behaviour(text=f"My key is {key}. Answer: C"))
        backend = backend_for(self.server, api_key=key)
        assert backend.generate(CHATS[:1], params=GenerationParams(max_tokens=50))[0].text == "My key is ***. Answer: C"
        backend.close()

    def test_an_answer_longer_than_max_tokens_is_cut_and_flagged(self):
        self.server.default = Behaviour("long")
        self.server.long_words = 50
        backend = self.make()
        cut, = backend.generate(CHATS[:1], params=GenerationParams(max_tokens=7))
        whole, = backend.generate(CHATS[:1], params=GenerationParams(max_tokens=400))
        backend.close()
        # cl100k_base (the fake model is no OpenAI model): "w", "0", " w", "1", " w", "2", " w"
        assert backend._tokens.kind == "cl100k_base"
        assert (cut.text, cut.truncated, cut.completion_tokens) == ("w0 w1 w2 w", True, 50)
        assert whole.text == " ".join(f"w{k}" for k in range(50)) and not whole.truncated

    def test_an_answer_the_server_cut_at_max_tokens_is_flagged(self):
        backend = self.make()
        completion, = backend.generate(CHATS[:1], params=QUICK)
        assert not completion.truncated  # the fake server's finish_reason is "stop"
        backend.close()

    def test_an_unpickled_copy_reads_the_key_from_its_env_var(self, monkeypatch):
        monkeypatch.setenv("FAKE_PROVIDER_KEY", SECRET)
        with FakeOpenAIServer(expected_api_key=SECRET) as server:
            backend = OpenAIBackend("fake-model", base_url=server.url, api_key_env="FAKE_PROVIDER_KEY")
            clone = pickle.loads(pickle.dumps(backend))
            assert clone.generate(CHATS[:1], params=QUICK)[0].text == "Answer: C"
            assert server.completions[-1].authorized is True
            clone.close()

    def test_no_key_with_base_url_sends_empty(self):
        with FakeOpenAIServer(expected_api_key="EMPTY") as server:
            backend = OpenAIBackend("fake-model", base_url=server.url)
            backend.generate(CHATS[:1], params=QUICK)
            assert server.completions[0].authorized is True
            backend.close()

    def test_no_key_and_no_base_url_names_the_env_var(self):
        with pytest.raises(BackendError, match="set the OPENAI_API_KEY environment variable"):
            make_backend("openai:gpt-4o-mini")
        with pytest.raises(BackendError, match="MY_KEY"):
            make_backend("openai:gpt-4o-mini", api_key_env="MY_KEY")

    def test_an_unpickled_copy_without_a_key_says_so_on_use(self, monkeypatch):
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        backend = OpenAIBackend("gpt-4o-mini")
        monkeypatch.delenv("OPENAI_API_KEY")
        clone = pickle.loads(pickle.dumps(backend))
        with pytest.raises(BackendError, match="OPENAI_API_KEY"):
            clone.generate(CHATS[:1], params=QUICK)
        clone.close()

    # -- registry ----------------------------------------------------------------------------
    def test_registry_builds_it(self):
        backend = make_backend("openai:my-model", base_url=self.server.url)
        assert isinstance(backend, OpenAIBackend) and backend.name == "openai:my-model"
        assert backend.generate(CHATS[:1], params=QUICK)[0].text == "Answer: C"
        assert self.server.completions[0].body["model"] == "my-model"
        assert make_backend("openai:llama3.1:8b", base_url=self.server.url).model == "llama3.1:8b"
        backend.close()


# -- limits: rate limiter -------------------------------------------------------------------

class FakeTime:
    """A clock and an async sleep that advances it: waits take no real time."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(fake: FakeTime, **kwargs) -> RateLimiter:
    return RateLimiter(clock=fake.clock, sleep=fake.sleep, **kwargs)


def test_sixty_requests_per_minute_is_one_a_second():
    fake = FakeTime()
    limit = limiter(fake, requests_per_minute=60)

    async def two():
        await limit.acquire()
        await limit.acquire()

    asyncio.run(two())
    assert fake.sleeps == [pytest.approx(1.0)] and fake.now == pytest.approx(1.0)


def test_requests_bucket_bursts_then_spaces_and_refills():
    fake = FakeTime()
    limit = limiter(fake, requests_per_minute=600)  # 10 a second, a burst of 10
    assert [limit.reserve() for _ in range(12)] == pytest.approx([0.0] * 10 + [0.1, 0.2])
    fake.now = 100.0  # long idle: the bucket is full again, not fuller
    assert [limit.reserve() for _ in range(11)] == pytest.approx([0.0] * 10 + [0.1])


def test_concurrent_waiters_queue_up_first_come_first_served():
    fake = FakeTime()
    booked = []

    async def frozen_sleep(seconds):  # every task books its place before any of them wakes
        booked.append(seconds)
        await asyncio.sleep(0)

    limit = RateLimiter(requests_per_minute=60, clock=fake.clock, sleep=frozen_sleep)

    async def five():
        await asyncio.gather(*(limit.acquire() for _ in range(5)))

    asyncio.run(five())
    assert booked == pytest.approx([1.0, 2.0, 3.0, 4.0]) and limit.waited_s == pytest.approx(10.0)


def test_tokens_bucket_counts_tokens_and_big_requests_leave_a_debt():
    fake = FakeTime()
    limit = limiter(fake, tokens_per_minute=6000)  # 100 tokens a second, holds 100
    assert limit.reserve(80) == 0.0
    assert limit.reserve(80) == pytest.approx(0.6)  # 20 left, 60 more needed
    fake.now = 60.0
    assert limit.reserve(500) == 0.0  # bigger than the bucket: waits for a full one only
    assert limit.reserve(10) == pytest.approx(4.1)  # pays the 400-token debt first


def test_both_limits_wait_for_the_later():
    fake = FakeTime()
    limit = limiter(fake, requests_per_minute=6000, tokens_per_minute=600)  # 100 req/s, 10 tok/s
    assert limit.reserve(10) == 0.0
    assert limit.reserve(10) == pytest.approx(1.0)  # the token bucket decides


def test_no_limits_never_wait():
    fake = FakeTime()
    limit = limiter(fake)
    asyncio.run(limit.acquire(10**9))
    assert not limit.enabled and fake.sleeps == [] and limit.reserve(10**9) == 0.0


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimiter(requests_per_minute=0)
    with pytest.raises(ValueError, match="tokens_per_minute"):
        RateLimiter(tokens_per_minute=-5)


def test_limiter_pickles_with_full_buckets():
    limit = RateLimiter(requests_per_minute=60)
    limit.reserve()
    clone = pickle.loads(pickle.dumps(limit))
    assert clone.reserve() == 0.0 and clone.requests_per_minute == 60


def test_estimate_tokens_counts_prompt_and_max_tokens():
    chat = [{"role": "user", "content": "x" * 40}]
    assert estimate_tokens(chat, 100) == 10 + 4 + 100


# -- limits: retry policy -------------------------------------------------------------------

def _request() -> httpx.Request:
    return httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")


def _status_error(cls, status: int, headers: dict | None = None):
    response = httpx.Response(status, headers=headers or {}, request=_request())
    return cls("failed", response=response, body=None)


@pytest.mark.parametrize("error, retryable", [
    (_status_error(openai.RateLimitError, 429), True),
    (_status_error(openai.InternalServerError, 500), True),
    (_status_error(openai.InternalServerError, 503), True),
    (_status_error(openai.ConflictError, 409), True),
    (_status_error(openai.APIStatusError, 408), True),
    (_status_error(openai.APIStatusError, 425), True),
    (_status_error(openai.BadRequestError, 400), False),
    (_status_error(openai.AuthenticationError, 401), False),
    (_status_error(openai.NotFoundError, 404), False),
    (openai.APITimeoutError(_request()), True),
    (openai.APIConnectionError(request=_request()), True),
    (httpx.ReadTimeout("slow"), True),
    (httpx.ConnectError("refused"), True),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
    (httpx.HTTPStatusError("bad", request=_request(), response=httpx.Response(502, request=_request())), True),
    (httpx.HTTPStatusError("bad", request=_request(), response=httpx.Response(422, request=_request())), False),
    (TimeoutError(), True),
    (ConnectionResetError(), True),
    (MalformedResponseError("no choices"), True),
    (ValueError("bad argument"), False),
    (KeyError("x"), False),
])
def test_what_is_retryable(error, retryable):
    assert RetryPolicy.is_retryable(error) is retryable


def test_litellm_errors_are_classified_by_status():
    from dilemmazoo.agents.backends.litellm_backend import _import_litellm

    litellm = _import_litellm()
    assert RetryPolicy.is_retryable(litellm.RateLimitError("x", llm_provider="openai", model="m"))
    assert RetryPolicy.is_retryable(litellm.Timeout("x", model="m", llm_provider="openai"))
    assert not RetryPolicy.is_retryable(litellm.BadRequestError("x", model="m", llm_provider="openai"))
    retry_in_2 = httpx.Response(429, headers={"Retry-After": "2"}, request=_request())
    assert retry_after_s(litellm.RateLimitError("x", llm_provider="openai", model="m", response=retry_in_2)) == 2.0
    told_3 = litellm.RateLimitError("x", llm_provider="openai", model="m", headers={"retry-after": "3"})
    assert retry_after_s(told_3) == 3.0


def test_backoff_is_exponential_capped_and_jittered():
    rng = random.Random(0)
    full = RetryPolicy(backoff_s=1.0, max_backoff_s=10.0)
    equal = RetryPolicy(backoff_s=1.0, max_backoff_s=10.0, jitter="equal")
    none = RetryPolicy(backoff_s=1.0, max_backoff_s=10.0, jitter=False)
    assert [none.delay(k, rng) for k in range(6)] == [1, 2, 4, 8, 10, 10]
    for k in range(6):
        ceiling = min(10.0, 2.0**k)
        draws = [full.delay(k, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws) and min(draws) < ceiling / 4
        assert all(ceiling / 2 <= equal.delay(k, rng) <= ceiling for _ in range(200))
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter="sometimes")


def test_retry_after_wins_and_is_capped():
    rng = random.Random(0)
    policy = RetryPolicy(backoff_s=0.001, max_backoff_s=5.0)
    assert policy.delay(0, rng, _status_error(openai.RateLimitError, 429, {"Retry-After": "2"})) == 2.0
    assert policy.delay(0, rng, _status_error(openai.RateLimitError, 429, {"retry-after-ms": "150"})) == 0.15
    assert policy.delay(0, rng, _status_error(openai.RateLimitError, 429, {"Retry-After": "120"})) == 5.0
    now = 1_700_000_000.0  # a fixed clock: an HTTP date 3 s ahead of it is exactly 3 s away
    in_3s = email.utils.formatdate(now + 3, usegmt=True)
    assert retry_after_s(_status_error(openai.RateLimitError, 429, {"Retry-After": in_3s}), now=now) == 3.0
    unreadable = _status_error(openai.RateLimitError, 429, {"Retry-After": "soon"})
    assert retry_after_s(unreadable) is None and policy.delay(0, rng, unreadable) <= 0.001


def test_call_with_retries_counts_and_recovers():
    fake = FakeTime()
    failures = [ConnectionResetError("reset"), _status_error(openai.RateLimitError, 429, {"Retry-After": "0.5"})]
    calls, retries = [], []

    async def flaky():
        calls.append(fake.now)
        if failures:
            raise failures.pop(0)
        return "done"

    limit = limiter(fake, requests_per_minute=60)
    outcome = asyncio.run(call_with_retries(
        flaky, label="openai:m", policy=RetryPolicy(backoff_s=0.25, jitter=False), limiter=limit,
        on_retry=lambda attempt, error, delay: retries.append((attempt, type(error).__name__, delay)),
        sleep=fake.sleep))
    assert outcome.value == "done" and outcome.attempts == 3 and outcome.retries == 2
    assert retries == [(0, "ConnectionResetError", 0.25), (1, "RateLimitError", 0.5)]
    assert calls == pytest.approx([0.0, 1.0, 2.0])  # every attempt waited for the rate limiter


def test_call_with_retries_gives_up_with_a_redacted_message():
    async def leaky():
        raise ValueError(f"bad key {SECRET} with Bearer abc.def-ghi and api_key=plain-secret-value")

    with pytest.raises(BackendError) as caught:
        asyncio.run(call_with_retries(leaky, label="openai:m", policy=RetryPolicy(), secrets=[SECRET]))
    message = str(caught.value)
    assert message.startswith("openai:m: request failed on the first attempt: ValueError: bad key ***")
    assert "SECRET123" not in message and "abc.def-ghi" not in message and "plain-secret-value" not in message


def test_redact():
    assert redact(f"key {SECRET}!", [SECRET]) == "key ***!"
    assert redact("key sk-abcdefghijklmnop leaked") == "key sk-*** leaked"
    assert redact("Authorization: Bearer tok_123456789") == "Authorization: Bearer ***"
    assert redact('{"api_key": "hunter2hunter2"}') == '{"api_key": "***"}'
    assert redact("model EMPTY and sk-short", ["EMPTY", "", None]) == "model EMPTY and sk-short"


def test_text_pieces_join_back_to_the_text():
    from dilemmazoo.agents.backends.limits import text_pieces

    assert text_pieces("Hello, world!  I say: C. ") == ["Hello", ",", " world", "!", "  I", " say", ":", " C", ".", " "]
    assert "".join(text_pieces("a\n\tb —c")) == "a\n\tb —c"


def test_cap_tokens_with_word_pieces_where_tiktoken_is_missing(monkeypatch):
    from dilemmazoo.agents.backends import limits

    monkeypatch.setattr(limits, "_tiktoken_encoding", lambda model: None)
    counter = limits.TokenCounter("any")
    assert counter.kind == "pieces"
    assert limits.cap_tokens("Answer: C, because", 3, counter) == ("Answer: C", True)
    assert limits.cap_tokens("Answer: C", 3, counter) == ("Answer: C", False)
    assert limits.cap_tokens("Answer: C", 0, counter) == ("", True)


def test_a_cut_never_splits_a_character():
    from dilemmazoo.agents.backends.limits import TokenCounter

    counter = TokenCounter("fake")
    text = "日本語のテキスト"
    for tokens in range(counter.count(text) + 1):
        cut = counter.cut(text, tokens)
        assert text.startswith(cut) and counter.count(cut) <= tokens
