"""Faults and limits shared by the API backends: retries, rate limits, redaction, the loop thread.

Every API backend sends one request per chat through :func:`call_with_retries`, so none of them
re-implements backoff or throttling:

- :class:`RetryPolicy` decides whether an error is worth retrying (timeouts, dropped
  connections, malformed answers, HTTP 408/409/425/429 and 5xx) and how long to wait: the
  server's ``Retry-After`` when it sent one, else exponential backoff with jitter.
- :class:`RateLimiter` holds requests-per-minute and tokens-per-minute token buckets, as the
  providers count them (prompt tokens plus ``max_tokens``), so a run stays under its quota
  instead of bouncing off 429s. :func:`estimate_tokens` counts the prompt with
  ``litellm.token_counter`` where LiteLLM knows the model, else with the named fallback
  :func:`chars_per_token_estimate` (4 characters a token).
- :func:`redact` blanks API keys out of any text that may reach a log or a record.
- :func:`cap_tokens` holds a completion to ``max_tokens`` even where a server sends more.
- :class:`LoopThread` runs coroutines from sync code on a private event loop, so a sync
  ``generate`` works even where a loop is already running (Jupyter).

A failure that retries do not fix becomes a :class:`~dilemmazoo.agents.backends.base.BackendError`
naming the backend, the number of attempts and the last error, with secrets redacted.

Each retry is logged as it happens (``INFO`` on ``dilemmazoo.agents.backends.limits``: the
backend, attempt n of m, the error's class and HTTP status, the wait and whether the server
asked for it), and so is giving up (``WARNING``); never an error's text, a key or a header
value. Pacing waits of the rate limiter are logged at ``DEBUG``.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import logging
import os
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from dilemmazoo.agents.backends.base import Backend, BackendError, Chat, Completion, GenerationParams
from dilemmazoo.agents.backends.redaction import redact_text

__all__ = [
    "LoopBackedBackend",
    "LoopThread",
    "MalformedResponseError",
    "Outcome",
    "RateLimiter",
    "RetryPolicy",
    "TokenCounter",
    "call_with_retries",
    "cap_tokens",
    "chars_per_token_estimate",
    "chat_request",
    "estimate_tokens",
    "litellm_token_count",
    "prompt_tokens",
    "gather_or_cancel",
    "redact",
    "retry_after_s",
    "text_pieces",
]

T = TypeVar("T")

_log = logging.getLogger(__name__)

#: HTTP statuses worth retrying besides 5xx: timeout, conflict, too early, too many requests
RETRYABLE_STATUS = frozenset({408, 409, 425, 429})

#: exception class names (anywhere in the class's MRO) that mean "the request did not get a
#: proper answer, try again": the timeout and connection errors of openai, litellm, httpx and
#: aiohttp, matched by name so none of those packages has to be imported here
RETRYABLE_NAMES = frozenset({
    "TimeoutError", "Timeout", "TimeoutException", "APITimeoutError",
    "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout",
    "ConnectionError", "APIConnectionError", "ConnectError", "ReadError", "WriteError",
    "RemoteProtocolError", "ServerDisconnectedError", "ClientConnectionError",
    "ServiceUnavailableError", "InternalServerError",
    "MalformedResponseError", "APIResponseValidationError",
})


class MalformedResponseError(RuntimeError):
    """The server answered, but not with a chat completion (no JSON, no choices): a server fault."""


# -- secrets --------------------------------------------------------------------------------

def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every given and registered secret, and anything key-shaped, replaced by ``***``
    (:func:`~dilemmazoo.agents.backends.redaction.redact_text`; the ``EMPTY`` placeholder of local
    servers and values shorter than 4 characters are shown)."""
    return redact_text(text, secrets)


# -- max_tokens -----------------------------------------------------------------------------

#: a word with the spaces before it, or one other visible character with its spaces
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])|\s+$")


def text_pieces(text: str) -> list[str]:
    """``text`` in pieces that join back to it: words and single punctuation marks, each with the
    white space before it (trailing white space is a piece of its own). A byte-pair tokenizer
    gives every such piece at least one token, so the count is a lower bound of theirs."""
    return _PIECE.findall(text)


class TokenCounter:
    """Counts and cuts text in tokens where the server's tokenizer is out of reach (API backends).

    Uses tiktoken's byte-pair encoding for ``model`` when tiktoken and its encoding files are at
    hand (OpenAI models by name, else ``cl100k_base``, GPT-4's; the files LiteLLM bundles are
    used offline), else :func:`text_pieces`. Either way a cut text is a prefix of the text.
    """

    def __init__(self, model: str = ""):
        self.model = model
        self._encoding = None
        self._loaded = False
        self._lock = threading.Lock()

    @property
    def encoding(self):
        """The tiktoken encoding, or None where there is none (then pieces are counted)."""
        with self._lock:
            if not self._loaded:
                self._encoding = _tiktoken_encoding(self.model)
                self._loaded = True
        return self._encoding

    @property
    def kind(self) -> str:
        return self.encoding.name if self.encoding is not None else "pieces"

    def count(self, text: str) -> int:
        encoding = self.encoding
        if encoding is None:
            return len(text_pieces(text))
        return len(encoding.encode(text, disallowed_special=()))

    def cut(self, text: str, tokens: int) -> str:
        """The longest prefix of ``text`` that is at most ``tokens`` tokens."""
        if tokens <= 0:
            return ""
        encoding = self.encoding
        if encoding is None:
            return "".join(text_pieces(text)[:tokens])
        ids = encoding.encode(text, disallowed_special=())
        if len(ids) <= tokens:
            return text
        # a cut inside a multi-byte character leaves a partial one: drop it, keep a true prefix
        return encoding.decode_bytes(ids[:tokens]).decode("utf-8", errors="ignore")

    def __getstate__(self) -> dict:
        return {"model": self.model}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model"])


def _tiktoken_encoding(model: str):
    try:
        import tiktoken
    except ImportError:
        return None
    if "TIKTOKEN_CACHE_DIR" not in os.environ:  # LiteLLM bundles the encoding files; use them offline
        spec = importlib.util.find_spec("litellm")
        for folder in (spec.submodule_search_locations or []) if spec else []:
            bundled = os.path.join(folder, "litellm_core_utils", "tokenizers")
            if os.path.isdir(bundled):
                os.environ["TIKTOKEN_CACHE_DIR"] = bundled  # what importing LiteLLM does too
                break
    names = []
    try:
        names.append(tiktoken.encoding_name_for_model(model.rsplit("/", 1)[-1]))
    except (KeyError, ValueError):
        pass
    names.append("cl100k_base")
    for name in names:
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # no file and no network: try the next, then count pieces
            continue
    return None


def cap_tokens(text: str, max_tokens: int, counter: TokenCounter) -> tuple[str, bool]:
    """``(text, truncated)``: ``text`` cut to at most ``max_tokens`` tokens as ``counter`` counts.

    The text is measured, not the server's ``usage``: servers and mocks report usage their own
    way (LiteLLM's ``mock_response`` reports 20 completion tokens whatever it sends).
    """
    if counter.count(text) <= max_tokens:
        return text, False
    return counter.cut(text, max_tokens), True


# -- retries --------------------------------------------------------------------------------

def _status_code(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    if not isinstance(status, int):  # httpx.HTTPStatusError keeps it on its response
        status = getattr(getattr(error, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _header_sources(error: BaseException) -> list[Any]:
    """Every header mapping the error carries: its HTTP response's (openai, httpx, LiteLLM),
    its own ``headers`` (LiteLLM's ``headers=``) and LiteLLM's ``litellm_response_headers``."""
    sources = []
    for owner, attribute in ((getattr(error, "response", None), "headers"), (error, "headers"),
                             (error, "litellm_response_headers")):
        headers = getattr(owner, attribute, None)
        if headers is not None and hasattr(headers, "get"):
            sources.append(headers)
    return sources


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name)  # httpx.Headers is case-insensitive; a plain dict may not be
    if value is None and isinstance(headers, Mapping):
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return None if value is None else str(value)


def retry_after_s(error: BaseException, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After``), else None.

    ``Retry-After`` may be a number of seconds or an HTTP date (RFC 9110 §10.2.3).
    """
    try:
        sources = _header_sources(error)
    except Exception:  # a half-built exception object: no header then
        return None
    for headers in sources:
        try:
            if (ms := _header(headers, "retry-after-ms")) is not None:
                return max(0.0, float(ms) / 1000)
            if (value := _header(headers, "retry-after")) is not None:
                try:
                    return max(0.0, float(value))
                except ValueError:
                    when = email.utils.parsedate_to_datetime(value).timestamp()
                    return max(0.0, when - (time.time() if now is None else now))
        except (TypeError, ValueError):
            continue  # an unreadable value: look further, else fall back to backoff
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a failed request and how long to wait first.

    Before retry ``k`` (0-based) the wait is drawn from the exponential backoff
    ``b_k = min(max_backoff_s, backoff_s * 2**k)`` with jitter, which spreads the retries of
    many concurrent requests so they do not hit the server again in one burst:

    - ``jitter=True`` or ``"full"``: ``uniform(0, b_k)`` ("full jitter");
    - ``jitter="equal"``: ``b_k / 2 + uniform(0, b_k / 2)`` ("equal jitter": never too soon);
    - ``jitter=False``: exactly ``b_k``.

    (Both jitters as in M. Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog,
    2015.) When the error carries ``Retry-After`` (or ``retry-after-ms``) that wait is used
    instead, capped by ``max_backoff_s``.

    Args:
        max_retries: retries after the first attempt (so ``max_retries + 1`` attempts at most).
        backoff_s, max_backoff_s: base and cap of the backoff, in seconds.
        jitter: ``True``/``"full"``, ``"equal"`` or ``False``, as above.
    """

    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    jitter: bool | str = True

    def __post_init__(self):
        if self.max_retries < 0 or self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("max_retries, backoff_s and max_backoff_s must be >= 0")
        if self.jitter not in (True, False, "full", "equal"):
            raise ValueError(f"jitter must be True, False, 'full' or 'equal', got {self.jitter!r}")

    def delay(self, attempt: int, rng: random.Random, error: BaseException | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based) after ``error``."""
        if error is not None and (asked := retry_after_s(error)) is not None:
            return min(self.max_backoff_s, asked)
        ceiling = min(self.max_backoff_s, self.backoff_s * 2.0**attempt)
        if self.jitter is False:
            return ceiling
        if self.jitter == "equal":
            return ceiling / 2 + rng.uniform(0, ceiling / 2)
        return rng.uniform(0, ceiling)

    @staticmethod
    def is_retryable(error: BaseException) -> bool:
        """Whether trying again may help: timeouts, dropped connections, malformed answers,
        HTTP 408/409/425/429 and 5xx. Anything else (bad request, auth, unknown model) is not."""
        if any(cls.__name__ in RETRYABLE_NAMES for cls in type(error).__mro__):
            return True
        status = _status_code(error)
        if status is not None:
            return status in RETRYABLE_STATUS or status >= 500
        return isinstance(error, (TimeoutError, ConnectionError))


# -- rate limits ----------------------------------------------------------------------------

class _Bucket:
    """A token bucket that hands out reservations: a taker may drive it below zero and the
    next taker waits for the refill. That keeps waiters first come, first served."""

    def __init__(self, per_minute: float, burst_s: float, now: float):
        self.rate = per_minute / 60.0  # per second
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.last = now  # the time ``level`` refers to; may lie in the future after a reservation

    def ready_at(self, amount: float, now: float) -> float:
        at = max(now, self.last)
        level = min(self.capacity, self.level + (at - self.last) * self.rate)
        need = min(amount, self.capacity)  # a request larger than the bucket waits for a full one
        return at if level >= need else at + (need - level) / self.rate

    def take(self, amount: float, at: float) -> None:
        self.level = min(self.capacity, self.level + (at - self.last) * self.rate) - amount
        self.last = at


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits as token buckets; ``None`` disables one.

    Each bucket refills continuously at ``per_minute / 60`` per second and holds at most
    ``burst_s`` seconds of refill (at least one request): with ``requests_per_minute=60`` one
    request may start at once and the next a second later; with 600, ten at once and then ten
    a second. :meth:`acquire` reserves the request's place in both buckets and sleeps until it
    comes; a request that needs more tokens than a bucket holds waits for a full bucket and
    leaves it in debt, so throughput never exceeds the limit.

    Limits hold per ``RateLimiter`` object, that is per backend object and process: worker
    processes each get their own copy (set each worker's share of the quota). An unpickled
    copy starts with full buckets.

    Args:
        requests_per_minute, tokens_per_minute: the limits, or None for no limit.
        burst_s: how many seconds of refill a bucket holds.
        clock: monotonic seconds (inject a fake one in tests).
        sleep: ``async sleep(seconds)`` (inject a fake one in tests).
    """

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None, *,
                 burst_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        for label, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and value <= 0:
                raise ValueError(f"{label} must be positive or None, got {value!r}")
        if burst_s <= 0:
            raise ValueError("burst_s must be positive")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.burst_s = burst_s
        self.clock = clock
        self.sleep = sleep
        #: total seconds requests were held back, for accounting
        self.waited_s = 0.0
        self._make_buckets()

    def _make_buckets(self) -> None:
        now = self.clock()
        rpm, tpm = self.requests_per_minute, self.tokens_per_minute
        self._requests = None if rpm is None else _Bucket(rpm, self.burst_s, now)
        self._tokens = None if tpm is None else _Bucket(tpm, self.burst_s, now)
        # a thread lock, not an asyncio one: the limiter outlives event loops, and the
        # critical section is arithmetic only (the sleep happens outside it)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._requests is not None or self._tokens is not None

    def reserve(self, tokens_estimate: int = 0) -> float:
        """Book one request of ``tokens_estimate`` tokens; the seconds to wait before sending it."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self.clock()
            at = now
            if self._requests is not None:
                at = max(at, self._requests.ready_at(1, now))
            if self._tokens is not None:
                at = max(at, self._tokens.ready_at(tokens_estimate, now))
            if self._requests is not None:
                self._requests.take(1, at)
            if self._tokens is not None:
                self._tokens.take(tokens_estimate, at)
            wait = at - now
            self.waited_s += wait
            return wait

    async def acquire(self, tokens_estimate: int = 0) -> None:
        """Wait until one more request of ``tokens_estimate`` tokens fits under the limits."""
        wait = self.reserve(tokens_estimate)
        if wait > 0:
            _log.debug("%r holds a request of ~%d tokens for %.2f s", self, tokens_estimate, wait)
            await self.sleep(wait)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_requests", "_tokens")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._make_buckets()  # another process's clock: start afresh

    def __repr__(self) -> str:
        return (f"RateLimiter(requests_per_minute={self.requests_per_minute}, "
                f"tokens_per_minute={self.tokens_per_minute})")


#: the characters a token is taken to hold by :func:`chars_per_token_estimate`
CHARS_PER_TOKEN = 4
#: tokens of framing (role, separators) counted per message by :func:`chars_per_token_estimate`
TOKENS_PER_MESSAGE = 4


def chars_per_token_estimate(chat: Chat) -> int:
    """The prompt's tokens at :data:`CHARS_PER_TOKEN` characters a token, plus
    :data:`TOKENS_PER_MESSAGE` of framing per message: the **fallback** of :func:`prompt_tokens`.

    It applies where LiteLLM is not installed, does not know the model (a local server's own
    name, a fine-tune), or would have to download the model's tokenizer to count (Llama and
    Command-R models). It suits English prose and under-counts code and non-English text (a
    Chinese character is often a token or more), so a tokens-per-minute budget counted this way
    lets more through than the provider counts.
    """
    return sum(len(str(message.get("content") or "")) // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE for message in chat)


def _import_litellm_quietly():
    """LiteLLM if it is installed (the ``api`` extra), imported with its bundled model-cost map
    (``LITELLM_LOCAL_MODEL_COST_MAP``: no network), else None."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read at import time
    try:
        import litellm
    except ImportError:
        return None
    litellm.suppress_debug_info = True  # it otherwise prints a provider banner for an unknown model
    return litellm


@lru_cache(maxsize=256)
def _litellm_counts(model: str) -> bool:
    """Whether ``litellm.token_counter`` counts ``model`` with its own tokenizer, offline: LiteLLM
    is installed, its model map knows the model, and the tokenizer needs no download (LiteLLM
    fetches Llama's and Command-R's from the Hugging Face Hub; tiktoken's files are bundled)."""
    litellm = _import_litellm_quietly()
    if litellm is None or not model:
        return False
    try:
        litellm.get_model_info(model)
    except Exception:  # not in the model map: LiteLLM would guess with a default encoding
        return False
    from litellm import utils

    kind_of = getattr(utils, "huggingface_tokenizer_kind", None)  # LiteLLM >= 1.83 names the Hub tokenizers
    if kind_of is not None:
        return kind_of(model) in (None, "anthropic")  # Anthropic's tokenizer file ships with LiteLLM
    return not any(name in model.lower() for name in ("llama-2", "llama-3", "replicate", "command-r"))


def litellm_token_count(chat: Chat, model: str) -> int | None:
    """The prompt's tokens as ``litellm.token_counter(model=..., messages=...)`` counts them (the
    model's own tokenizer and chat framing), or None where it cannot count offline
    (see :func:`chars_per_token_estimate` for when)."""
    if not _litellm_counts(model):
        return None
    import litellm

    try:
        count = int(litellm.token_counter(model=model, messages=chat))
    except Exception as error:  # a message LiteLLM cannot read: count the fallback way
        _log.debug("litellm.token_counter failed for %s (%s); counting 4 characters a token", model,
                   type(error).__name__)
        return None
    return count if count > 0 or not chat else None  # 0: LiteLLM's counter is switched off


def prompt_tokens(chat: Chat, model: str = "") -> tuple[int, str]:
    """``(tokens, method)``: the prompt's tokens and how they were counted, ``"litellm.token_counter"``
    where LiteLLM knows ``model``, else ``"chars_per_token_estimate"`` (:func:`chars_per_token_estimate`)."""
    count = litellm_token_count(chat, model)
    if count is not None:
        return count, "litellm.token_counter"
    return chars_per_token_estimate(chat), "chars_per_token_estimate"


def estimate_tokens(chat: Chat, max_tokens: int, model: str = "") -> int:
    """Tokens a request counts against a tokens-per-minute quota, before it is sent.

    Providers count the prompt plus ``max_tokens``; the prompt is counted by :func:`prompt_tokens`
    (``litellm.token_counter`` for a model LiteLLM knows, else :func:`chars_per_token_estimate`).
    """
    return prompt_tokens(chat, model)[0] + max_tokens


# -- one request, retried -------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What :func:`call_with_retries` got: the value, how many attempts it took, and the
    seconds from sending the first attempt to the end of the last (retries and backoff
    included; waiting for a concurrency slot or the first rate-limit turn is not)."""

    value: T
    attempts: int
    latency_s: float

    @property
    def retries(self) -> int:
        return self.attempts - 1


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    label: str,
    policy: RetryPolicy,
    limiter: RateLimiter | None = None,
    semaphore: asyncio.Semaphore | None = None,
    tokens_estimate: int = 0,
    on_retry: Callable[[int, BaseException, float], Any] | None = None,
    secrets: Iterable[str | None] = (),
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> Outcome[T]:
    """``await fn()``, retried on transient errors by ``policy``; every attempt waits for the
    rate ``limiter``. The ``semaphore`` slot is held from the first attempt to the last, so
    backoff does not let new requests pile onto a server that is already refusing.

    ``on_retry(attempt, error, delay_s)`` is called before each retry's sleep (count retries
    there). A non-retryable error, or a retryable one that outlasts ``policy.max_retries``,
    raises :class:`BackendError` ``"{label}: request failed after N attempts: Type: message"``
    (``"on the first attempt"`` when there was one), with ``secrets`` and key-shaped text
    redacted; the original error is its ``__cause__``.
    """
    rng = rng or random.Random()  # jitter only spreads load; it never affects answers
    secrets = tuple(secrets)
    start = None
    async with semaphore if semaphore is not None else _no_semaphore():
        for attempt in range(policy.max_retries + 1):
            if limiter is not None:
                await limiter.acquire(tokens_estimate)
            if start is None:  # the first wait for the limiter is queueing, not latency
                start = time.perf_counter()
            try:
                value = await fn()
                return Outcome(value, attempt + 1, time.perf_counter() - start)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not policy.is_retryable(error) or attempt == policy.max_retries:
                    tries = f"after {attempt + 1} attempts" if attempt else "on the first attempt"
                    _log.warning("%s: request failed %s (%s)%s", label, tries, _error_kind(error),
                                 "" if policy.is_retryable(error) else ", not retryable")
                    message = redact(f"{type(error).__name__}: {error}", secrets)[:500]
                    raise BackendError(f"{label}: request failed {tries}: {message}") from error
                delay = policy.delay(attempt, rng, error)
                asked = retry_after_s(error) is not None
                _log.info("%s: attempt %d of %d failed (%s); retrying in %.2f s (%s)", label, attempt + 1,
                          policy.max_retries + 1, _error_kind(error), delay,
                          "Retry-After from the server" if asked else "backoff")
                if on_retry is not None:
                    on_retry(attempt, error, delay)
                await sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def _error_kind(error: BaseException) -> str:
    """An error's class and HTTP status (``RateLimitError, HTTP 429, rate limited``), for a log
    line: never its text, which may echo a request's headers or body."""
    status = _status_code(error)
    if status is None:
        return type(error).__name__
    return f"{type(error).__name__}, HTTP {status}{', rate limited' if status == 429 else ''}"


class _no_semaphore:
    async def __aenter__(self):
        return None

    async def __aexit__(self, *exc):
        return False


# -- sync over async ------------------------------------------------------------------------

class LoopThread:
    """One event loop on a daemon thread, for running coroutines from sync code."""

    def __init__(self, name: str = "backend-loop"):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coroutine):
        """Run ``coroutine`` on the loop and return its result (blocks the calling thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    @staticmethod
    async def _cancel_pending() -> None:
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        """Cancel what is still pending (LiteLLM leaves a logging task on every loop it used),
        stop the loop and join the thread."""
        self.run(self._cancel_pending())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


async def gather_or_cancel(coroutines: Iterable[Awaitable[T]]) -> list[T]:
    """All results in order; if one fails for good, the others are cancelled (no more spending)."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def chat_request(model: str, chat: Chat, params: GenerationParams) -> dict[str, Any]:
    """The OpenAI chat-completions fields every API backend sends for one chat."""
    request: dict[str, Any] = {
        "model": model,
        "messages": chat,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
    }
    if params.stop:
        request["stop"] = list(params.stop)
    return request


class LoopBackedBackend(Backend):
    """Base of the API backends: ``generate`` runs ``agenerate`` on a private event-loop thread
    (so it also works inside Jupyter's running loop), started on first use and stopped by
    ``close``. Threads and locks do not pickle; they are rebuilt on demand."""

    loop_name = "backend-loop"
    _unpicklable: tuple[str, ...] = ()

    def _init_loop(self) -> None:
        self._loop: LoopThread | None = None
        self._loop_lock = threading.Lock()
        self.retries = 0  # transport retries over this backend's life

    def _count_retry(self, attempt: int, error: BaseException, delay_s: float) -> None:
        self.retries += 1

    def generate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        """The async form, run on this backend's own event loop thread."""
        if not chats:
            return []
        with self._loop_lock:
            if self._loop is None:
                self._loop = LoopThread(self.loop_name)
        return self._loop.run(self.agenerate(chats, params=params))

    async def _before_loop_stops(self) -> None:
        """Release what lives on the loop (HTTP clients); called by ``close``."""

    def close(self) -> None:
        with self._loop_lock:
            if self._loop is not None:
                self._loop.run(self._before_loop_stops())
                self._loop.stop()
                self._loop = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_loop": None, "_loop_lock": None, **dict.fromkeys(self._unpicklable)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._loop_lock = threading.Lock()
