"""Any OpenAI-compatible chat server (``openai:MODEL``): OpenAI itself, vLLM, ollama, llama.cpp.

:class:`OpenAIBackend` sends each chat as one ``POST /v1/chat/completions`` through the
official ``openai`` SDK (``AsyncOpenAI``). All chats of a call run concurrently, at most
``concurrency`` in flight and under the optional ``requests_per_minute``/``tokens_per_minute``
limits; ``generate`` drives the async form on a private event loop thread, so it also works
where a loop is already running (Jupyter).

Faults are handled once, by :mod:`~dilemmazoo.agents.backends.limits`: timeouts, dropped
connections, HTTP 408/409/425/429 and 5xx, and malformed answers (a body that is not JSON, a
completion without choices) are retried with exponential backoff and jitter, or after the
server's ``Retry-After``; the SDK's own retries are off (``max_retries=0``). Anything else, or a
fault that outlasts ``max_retries``, is a :class:`BackendError` naming the model, the attempts
and the last error. ``retries`` counts the retries made so far.

A well-formed answer with empty or missing content becomes the empty text: the agent's parser
then counts the failure (a bad answer is never silently a move).

Sampling arguments (``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``) are sent
with every request; stop strings are also applied to the returned text. Structured-output
hints pass through unchanged: ``response_format={"type": "json_object"}`` (OpenAI, vLLM,
ollama) and ``extra_body`` for server-specific fields, e.g. vLLM's guided decoding
``extra_body={"guided_regex": "Answer: [CD]"}``. Token counts come from ``usage``; cost is 0
unless ``price_per_1k_tokens=(prompt_usd, completion_usd)`` is given. This backend cannot score
(``can_score = False``): chat APIs do not return the log-likelihood of a given reply.

The API key comes from ``api_key=`` or the environment variable ``api_key_env``
(``OPENAI_API_KEY``). Local servers usually need none: with ``base_url`` set a missing key is
sent as ``EMPTY``. The key is kept out of ``name``, ``repr``, error messages and pickles; an
unpickled copy (a worker process) reads it again from ``api_key_env``. The key, secret-named
``extra_headers`` and ``extra_body`` fields and ``base_url`` userinfo are registered with
:mod:`~dilemmazoo.agents.backends.redaction` when the backend is built, so no error, traceback
or log line of the process shows them, and an answer that repeats one has it blanked out.

``max_tokens`` holds even where a server ignores it: a longer answer is cut to ``max_tokens``
tokens as :class:`~dilemmazoo.agents.backends.limits.TokenCounter` counts them (the model's
tiktoken encoding, else GPT-4's) and flagged ``Completion.truncated``; ``completion_tokens`` stays what the server billed.

    make_backend("openai:gpt-4o-mini")                                      # OPENAI_API_KEY
    make_backend("openai:Qwen/Qwen2.5-7B-Instruct", base_url="http://localhost:8000/v1")  # vLLM
    make_backend("openai:llama3.1:8b", base_url="http://localhost:11434/v1")             # ollama
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from typing import Any

from dilemmazoo.agents.backends.base import (
    BackendError,
    Chat,
    Completion,
    GenerationParams,
    public_url,
    truncate_at_stop,
)
from dilemmazoo.agents.backends.limits import (
    LoopBackedBackend,
    MalformedResponseError,
    RateLimiter,
    RetryPolicy,
    TokenCounter,
    call_with_retries,
    cap_tokens,
    chat_request,
    estimate_tokens,
    gather_or_cancel,
    redact,
)
from dilemmazoo.agents.backends.redaction import (
    request_options_digest,
    Secret,
    install_log_redaction,
    redact_secrets,
    redact_url,
    register_secrets,
    secrets_in_config,
)

__all__ = ["OpenAIBackend"]

#: the key sent to OpenAI-compatible servers that want none (vLLM's and ollama's convention)
NO_KEY = "EMPTY"
#: where the SDK sends requests without ``base_url`` (unless ``OPENAI_BASE_URL`` says otherwise)
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


def _import_openai():
    try:
        import openai
    except ImportError as error:
        raise ImportError("the openai backend needs the openai package: pip install 'dilemmazoo[api]'") from error
    return openai


class OpenAIBackend(LoopBackedBackend):
    """A chat model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        model: the model name the server knows (``gpt-4o-mini``, ``Qwen/Qwen2.5-7B-Instruct``).
        base_url: the server's API root, e.g. ``http://localhost:8000/v1``; None for OpenAI
            (the SDK then honours ``OPENAI_BASE_URL``).
        api_key: the key; default: the ``api_key_env`` variable, or ``EMPTY`` when
            ``base_url`` is set. Never stored in ``name``, ``repr``, errors or pickles.
        api_key_env: where to read the key from (also after unpickling).
        concurrency: most requests in flight at once within one call.
        requests_per_minute, tokens_per_minute: rate limits of this backend object (None: none).
        max_retries: retries of a transient failure before giving up.
        backoff_s, max_backoff_s: base and cap of the exponential backoff (seconds).
        timeout_s: per-request timeout (seconds).
        response_format: sent as is, e.g. ``{"type": "json_object"}``.
        extra_body: extra JSON fields for every request, e.g. ``{"guided_regex": "..."}``.
        extra_headers: extra HTTP headers for every request, e.g. ``{"api-key": ...}`` for a
            gateway that wants its own; secret-named ones are redacted like the key.
        price_per_1k_tokens: ``(prompt, completion)`` USD per 1000 tokens; default no cost.
        name: identity in records and cache keys (default ``openai:<model>``).

    Raises:
        BackendError: no ``base_url`` and no key (the message names ``api_key_env``).
    """

    loop_name = "openai-backend-loop"
    _unpicklable = ("_api_key", "_client", "_openai")

    can_score = False

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        timeout_s: float = 60.0,
        response_format: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        extra_headers: dict[str, str] | None = None,
        price_per_1k_tokens: tuple[float, float] | None = None,
        name: str | None = None,
    ):
        if not model:
            raise ValueError("the openai backend needs a model name: openai:MODEL")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if timeout_s is None or timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._openai = _import_openai()
        self.model = model
        self.name = name or f"openai:{model}"
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.retry_policy = RetryPolicy(max_retries=max_retries, backoff_s=backoff_s, max_backoff_s=max_backoff_s)
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self.timeout_s = timeout_s
        self.response_format = response_format
        self.extra_body = extra_body
        self.extra_headers = dict(extra_headers) if extra_headers else None
        self.price_per_1k_tokens = tuple(price_per_1k_tokens) if price_per_1k_tokens is not None else None
        key = api_key or self._key_from_env()
        if key is None:
            raise BackendError(
                f"{self.name}: no API key: set the {api_key_env} environment variable or pass api_key=, "
                "or pass base_url= for a local OpenAI-compatible server that needs none"
            )
        self._api_key = Secret(key)
        self._register_secrets()
        self._jitter = random.Random()  # jitter only spreads load; it never affects answers
        self._client = None  # the client bound to this backend's own loop thread
        self._tokens = TokenCounter(model)
        self._init_loop()

    def _register_secrets(self) -> None:
        """Make every credential this backend holds one that redaction removes from any text of
        this process (errors, tracebacks, log lines): the key, secret headers and body fields,
        and the base URL's userinfo. The SDK's and httpx's log records are redacted too."""
        install_log_redaction()
        register_secrets([self._api_key.value if self._api_key else None, *self._secrets_in_options()])

    def _secrets_in_options(self) -> list[str]:
        return secrets_in_config({"base_url": self.base_url, "extra_headers": self.extra_headers,
                                  "extra_body": self.extra_body}, environ={})

    def _key_from_env(self) -> str | None:
        return os.environ.get(self.api_key_env) or (NO_KEY if self.base_url else None)

    def provenance(self) -> dict:
        """The model name and the server the SDK talks to, without credentials; an API model's
        revision and weights are not disclosed (None)."""
        url = self.base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL
        found = {"model": self.model, "revision": None, "weights_sha256": None, "base_url": public_url(url)}
        digest = request_options_digest({"extra_body": self.extra_body, "extra_headers": self.extra_headers,
                                         "response_format": self.response_format})
        if digest is not None:  # answers depend on what each request carries: so do cache keys
            found["request_options"] = digest
        return found

    def __repr__(self) -> str:
        where = f", base_url={redact_url(self.base_url)!r}" if self.base_url else ""
        return f"OpenAIBackend({self.model!r}{where}, name={self.name!r})"

    # -- one request -------------------------------------------------------------------------
    def _new_client(self):
        if self._api_key is None:
            raise BackendError(f"{self.name}: no API key: set the {self.api_key_env} environment variable")
        return self._openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key.value,
                                        default_headers=self.extra_headers, max_retries=0, timeout=self.timeout_s)

    def _request(self, chat: Chat, params: GenerationParams) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for one chat."""
        request = chat_request(self.model, chat, params)
        if self.response_format is not None:
            request["response_format"] = self.response_format
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request

    def _secrets(self) -> list[str]:
        return [self._api_key.value] if self._api_key else []

    def _tokens_estimate(self, chat: Chat, params: GenerationParams) -> int:
        """What the request counts against ``tokens_per_minute`` (:func:`estimate_tokens`: LiteLLM's
        count for a model it knows, else 4 characters a token); 0 when no such limit is set."""
        if self.limiter.tokens_per_minute is None:
            return 0
        return estimate_tokens(chat, params.max_tokens, self.model)

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets())

    @staticmethod
    async def _send(client, request: dict[str, Any]):
        """One request; an answer that is not a chat completion raises MalformedResponseError."""
        try:
            response = await client.chat.completions.create(**request)
        except json.JSONDecodeError as error:  # a JSON content type over a body that is not
            raise MalformedResponseError(f"the server's answer is not JSON: {error}") from error
        if isinstance(response, str | bytes):  # a non-JSON content type: the SDK hands back the text
            raise MalformedResponseError(f"the server's answer is not JSON: {str(response)[:200]!r}")
        if not getattr(response, "choices", None):
            raise MalformedResponseError("the server's answer has no choices")
        return response

    async def _complete(self, client, chat: Chat, params: GenerationParams,
                        semaphore: asyncio.Semaphore) -> Completion:
        request = self._request(chat, params)
        outcome = await call_with_retries(
            lambda: self._send(client, request),
            label=self.name, policy=self.retry_policy, limiter=self.limiter, semaphore=semaphore,
            tokens_estimate=self._tokens_estimate(chat, params), on_retry=self._count_retry,
            secrets=self._secrets(), rng=self._jitter,
        )
        response = outcome.value
        choice = response.choices[0]
        message = getattr(choice, "message", None)
        text = getattr(message, "content", None) or ""
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        # a server that echoes a key: not into transcripts (blanked before a cut could halve it)
        text = redact_secrets(truncate_at_stop(text if isinstance(text, str) else str(text), params.stop),
                              self._secrets())
        text, cut = cap_tokens(text, params.max_tokens, self._tokens)
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=outcome.latency_s,
            retries=outcome.retries,
            cost_usd=self._cost(prompt_tokens, completion_tokens),
            truncated=cut or getattr(choice, "finish_reason", None) == "length",
        )

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        if self.price_per_1k_tokens is None:
            return 0.0
        prompt_price, completion_price = self.price_per_1k_tokens
        return (prompt_tokens * prompt_price + completion_tokens * completion_price) / 1000

    async def _complete_all(self, client, chats: list[Chat], params: GenerationParams) -> list[Completion]:
        semaphore = asyncio.Semaphore(self.concurrency)
        return await gather_or_cancel(self._complete(client, chat, params, semaphore) for chat in chats)

    # -- the contract ------------------------------------------------------------------------
    async def agenerate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        """All chats concurrently, at most ``concurrency`` in flight; order is kept."""
        if not chats:
            return []
        # An HTTP client's connection pool belongs to the loop that opened it. On our own loop
        # thread one client is kept across calls (connections are reused); on a caller's loop
        # a client lives for the call.
        own = self._loop is not None and asyncio.get_running_loop() is self._loop.loop
        if own:
            if self._client is None:
                self._client = self._new_client()
            return await self._complete_all(self._client, chats, params)
        async with self._new_client() as client:
            return await self._complete_all(client, chats, params)

    async def _before_loop_stops(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)  # the key stayed behind (_unpicklable): read api_key_env again
        key = self._key_from_env()
        self._api_key = Secret(key) if key else None  # no key: the first request says so
        self._register_secrets()  # a new process: its redaction knows nothing yet
        self._openai = _import_openai()
