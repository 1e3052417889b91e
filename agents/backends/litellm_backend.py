"""Every API provider through LiteLLM (``litellm:MODEL``, e.g. ``litellm:gpt-4o-mini``).

:class:`LiteLLMBackend` sends each chat as one ``litellm.acompletion`` request; all chats of a
call run concurrently, at most ``concurrency`` at a time. ``generate`` drives the async form
on a private event loop thread, so it also works where a loop is already running (Jupyter).

Retries and rate limits are the shared machinery of :mod:`~dilemmazoo.agents.backends.limits`:
transient failures (timeouts, connection errors, HTTP 408/409/425/429 and 5xx) are retried
with exponential backoff and full jitter (before retry ``k``, 0-based, it sleeps
``uniform(0, min(max_backoff_s, backoff_s * 2**k))``, or the server's ``Retry-After`` capped
by ``max_backoff_s``); ``requests_per_minute``/``tokens_per_minute`` keep a run under its
quota. Any other error, or a transient one that outlasts ``max_retries``, becomes a
:class:`BackendError` naming the model, the attempts and the last error (with API keys
redacted). LiteLLM's and the OpenAI SDK's own retries are turned off (``max_retries=0`` unless
you pass one in the LiteLLM arguments) so this is the one retry layer.

Sampling arguments (``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``) are passed
to the provider; ``drop_params=True`` by default lets providers that lack one (often ``seed``)
ignore it rather than fail. Stop strings are also applied to the returned text. Cost comes
from ``litellm.completion_cost`` (0 where LiteLLM has no price for the model). This backend
cannot score (``can_score = False``): chat APIs do not return the log-likelihood of a given reply.

Tests run offline with LiteLLM's ``mock_response=`` argument, passed through the constructor.
The bundled model-cost map is used (``LITELLM_LOCAL_MODEL_COST_MAP``) so importing LiteLLM does
not fetch prices from the network.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

from dilemmazoo.agents.backends import truncate_at_stop
from dilemmazoo.agents.backends.base import Chat, Completion, GenerationParams, public_url
from dilemmazoo.agents.backends.limits import (
    LoopBackedBackend,
    RateLimiter,
    RetryPolicy,
    call_with_retries,
    chat_request,
    estimate_tokens,
    gather_or_cancel,
    redact,
)

__all__ = ["LITELLM_OPTIONS", "LiteLLMBackend"]

#: LiteLLM request arguments a config may pass through ``backend_options`` (besides the
#: constructor's own). The sampling arguments, ``model``, ``messages``, ``stream`` and ``n`` are
#: set per call and are not options.
LITELLM_OPTIONS = (
    "api_base", "base_url", "api_version", "api_key", "organization", "custom_llm_provider",
    "extra_headers", "extra_body", "response_format", "drop_params", "mock_response",
    "input_cost_per_token", "output_cost_per_token", "reasoning_effort", "user",
    "presence_penalty", "frequency_penalty", "logit_bias",
)


def _import_litellm():
    """Import LiteLLM offline-friendly and quiet, with an install hint if it is missing."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read at import time
    try:
        import litellm
    except ImportError as error:
        raise ImportError("the litellm backend needs litellm: pip install 'dilemmazoo[api]'") from error
    litellm.suppress_debug_info = True  # it otherwise prints a help banner on every error
    return litellm


class LiteLLMBackend(LoopBackedBackend):
    """A chat model behind any API LiteLLM speaks.

    Args:
        model: a LiteLLM model name, e.g. ``gpt-4o-mini``, ``anthropic/claude-3-5-haiku-latest``,
            ``ollama/llama3``, ``hosted_vllm/NAME`` (with ``api_base=``).
        concurrency: most requests in flight at once within one call.
        requests_per_minute, tokens_per_minute: rate limits of this backend object (None: none).
        max_retries: retries of a transient failure before giving up.
        backoff_s, max_backoff_s: base and cap of the exponential backoff (seconds).
        timeout_s: per-request timeout passed to LiteLLM.
        name: identity in records and cache keys (default ``litellm:<model>``).
        **litellm_kwargs: passed to every ``litellm.acompletion`` call (``api_base``,
            ``api_key``, ``mock_response``, ...). They override the defaults above, not the
            per-call sampling arguments.
    """

    loop_name = "litellm-backend-loop"
    _unpicklable = ("_litellm",)
    #: what ``**litellm_kwargs`` accepts from a config's ``backend_options``
    forwarded_options = LITELLM_OPTIONS

    can_score = False

    def __init__(
        self,
        model: str,
        *,
        concurrency: int = 8,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        timeout_s: float | None = 120.0,
        name: str | None = None,
        **litellm_kwargs: Any,
    ):
        if concurrency < 1 or max_retries < 0:
            raise ValueError("concurrency must be >= 1 and max_retries >= 0")
        self._litellm = _import_litellm()
        self.model = model
        self.name = name or f"litellm:{model}"
        self.concurrency = concurrency
        self.retry_policy = RetryPolicy(max_retries=max_retries, backoff_s=backoff_s, max_backoff_s=max_backoff_s)
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute)
        self.litellm_kwargs = {"drop_params": True, "max_retries": 0, "timeout": timeout_s, **litellm_kwargs}
        self._jitter = random.Random()  # jitter only spreads load; it never affects answers
        self._init_loop()

    def provenance(self) -> dict:
        """The model name and the ``api_base``/``base_url`` given (None: the provider's default),
        without credentials; an API model's revision and weights are not disclosed (None)."""
        url = self.litellm_kwargs.get("api_base") or self.litellm_kwargs.get("base_url")
        return {"model": self.model, "revision": None, "weights_sha256": None, "base_url": public_url(url)}

    @property
    def max_retries(self) -> int:
        return self.retry_policy.max_retries

    @property
    def backoff_s(self) -> float:
        return self.retry_policy.backoff_s

    @property
    def max_backoff_s(self) -> float:
        return self.retry_policy.max_backoff_s

    # -- one request -------------------------------------------------------------------------
    def _request(self, chat: Chat, params: GenerationParams) -> dict[str, Any]:
        return {**self.litellm_kwargs, **chat_request(self.model, chat, params)}

    def _secrets(self) -> list[str]:
        """Every string LiteLLM argument whose name says it is a credential."""
        return [value for field, value in self.litellm_kwargs.items()
                if isinstance(value, str) and any(word in field.lower() for word in ("key", "token", "secret"))]

    def _redact(self, text: str) -> str:
        """The error text with every secret we were given, and anything key-shaped, blanked out."""
        return redact(text, self._secrets())

    async def _complete(self, chat: Chat, params: GenerationParams, semaphore: asyncio.Semaphore) -> Completion:
        request = self._request(chat, params)
        outcome = await call_with_retries(
            lambda: self._litellm.acompletion(**request),
            label=self.name, policy=self.retry_policy, limiter=self.limiter, semaphore=semaphore,
            tokens_estimate=estimate_tokens(chat, params.max_tokens), on_retry=self._count_retry,
            secrets=self._secrets(), rng=self._jitter,
        )
        response = outcome.value
        choice = response.choices[0]
        text = (choice.message.content or "") if choice.message is not None else ""
        usage = getattr(response, "usage", None)
        return Completion(
            text=truncate_at_stop(text, params.stop),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_s=outcome.latency_s,
            retries=outcome.retries,
            cost_usd=self._cost(response),
        )

    def _cost(self, response) -> float:
        try:
            return float(self._litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # no price known for this model/provider
            return 0.0

    # -- the contract ------------------------------------------------------------------------
    async def agenerate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        """All chats concurrently, at most ``concurrency`` in flight; order is kept."""
        semaphore = asyncio.Semaphore(self.concurrency)
        return await gather_or_cancel(self._complete(chat, params, semaphore) for chat in chats)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._litellm = _import_litellm()
