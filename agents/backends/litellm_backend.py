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

Secrets: the key (``api_key=``, or the variable ``api_key_env`` names), secret-named headers and
body fields, ``api_base`` userinfo and the provider keys in the environment are registered with
:mod:`~dilemmazoo.agents.backends.redaction` when the backend is built, so no error, traceback or
log line of the process shows them; LiteLLM's ``set_verbose`` printing is switched off.

``max_tokens`` holds even where a provider (or ``mock_response``) sends more: the text is cut
to ``max_tokens`` tokens as :class:`~dilemmazoo.agents.backends.limits.TokenCounter` counts them
and flagged ``Completion.truncated``; ``completion_tokens`` stays what was billed.

Tests run offline with LiteLLM's ``mock_response=`` argument, passed through the constructor.
The bundled model-cost map is used (``LITELLM_LOCAL_MODEL_COST_MAP``) so importing LiteLLM does
not fetch prices from the network.
"""

from __future__ import annotations

import asyncio
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
    register_secrets,
    secrets_in_config,
    secrets_in_environment,
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

#: options that say where and how to send, not what to ask: left out of the request digest in
#: the provenance (mock_response is a test's answer, so it stays in: a cache must not mix mocks)
_TRANSPORT_OPTIONS = frozenset({"api_base", "base_url", "api_key", "drop_params", "max_retries", "timeout",
                                "input_cost_per_token", "output_cost_per_token"})


def _import_litellm():
    """Import LiteLLM offline-friendly and quiet, with an install hint if it is missing.

    Quiet also means no key on the terminal: ``set_verbose`` makes LiteLLM ``print`` its call
    details (the ``api_key`` among them, unmasked on some paths) straight to stdout, past any
    logging filter, so it is switched off; its logger's records pass through
    :func:`~dilemmazoo.agents.backends.redaction.install_log_redaction` like every other.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read at import time
    try:
        import litellm
    except ImportError as error:
        raise ImportError("the litellm backend needs litellm: pip install 'dilemmazoo[api]'") from error
    litellm.suppress_debug_info = True  # it otherwise prints a help banner on every error
    litellm.set_verbose = False
    install_log_redaction()
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
        api_key_env: an environment variable holding the key to send (read again in a worker
            process; never pickled); :class:`BackendError` if it is not set. Without it LiteLLM
            reads the provider's own variable (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...).
        name: identity in records and cache keys (default ``litellm:<model>``).
        **litellm_kwargs: passed to every ``litellm.acompletion`` call (``api_base``,
            ``api_key``, ``mock_response``, ...). They override the defaults above, not the
            per-call sampling arguments.
    """

    loop_name = "litellm-backend-loop"
    _unpicklable = ("_litellm", "_api_key")
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
        api_key_env: str | None = None,
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
        self.api_key_env = api_key_env
        self._api_key = self._key_from_env()
        if api_key_env is not None and self._api_key is None:
            raise BackendError(f"{self.name}: api_key_env names {api_key_env}, but that environment variable is not "
                               "set (set it, or leave api_key_env out to use the provider's own variable)")
        self._register_secrets()
        self._jitter = random.Random()  # jitter only spreads load; it never affects answers
        self._tokens = TokenCounter(model)
        self._init_loop()

    def _key_from_env(self) -> Secret | None:
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env)
        return Secret(value) if value else None

    def _register_secrets(self) -> None:
        """Make every credential this backend may send one that redaction removes from any text of
        this process: the arguments' keys, headers, body fields and URL userinfo, the
        ``api_key_env`` value, and the provider keys LiteLLM reads from the environment itself."""
        register_secrets([*self._secrets(), *secrets_in_environment()])

    def provenance(self) -> dict:
        """The model name and the ``api_base``/``base_url`` given (None: the provider's default),
        without credentials; an API model's revision and weights are not disclosed (None)."""
        url = self.litellm_kwargs.get("api_base") or self.litellm_kwargs.get("base_url")
        found = {"model": self.model, "revision": None, "weights_sha256": None, "base_url": public_url(url)}
        shaping = {key: value for key, value in self.litellm_kwargs.items() if key not in _TRANSPORT_OPTIONS}
        digest = request_options_digest(shaping)
        if digest is not None:  # answers depend on what each request carries: so do cache keys
            found["request_options"] = digest
        return found

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
        key = {"api_key": self._api_key.value} if self._api_key is not None else {}
        return {**self.litellm_kwargs, **key, **chat_request(self.model, chat, params)}

    def _secrets(self) -> list[str]:
        """Every credential among the LiteLLM arguments (keys, secret headers and body fields,
        URL userinfo), and the ``api_key_env`` key."""
        found = secrets_in_config(self.litellm_kwargs, environ={})
        return found + ([self._api_key.value] if self._api_key is not None else [])

    def _tokens_estimate(self, chat: Chat, params: GenerationParams) -> int:
        """What the request counts against ``tokens_per_minute`` (:func:`estimate_tokens`: LiteLLM's
        count for a model it knows, else 4 characters a token); 0 when no such limit is set."""
        if self.limiter.tokens_per_minute is None:
            return 0
        return estimate_tokens(chat, params.max_tokens, self.model)

    def _redact(self, text: str) -> str:
        """The error text with every secret we were given, and anything key-shaped, blanked out."""
        return redact(text, self._secrets())

    async def _complete(self, chat: Chat, params: GenerationParams, semaphore: asyncio.Semaphore) -> Completion:
        request = self._request(chat, params)
        outcome = await call_with_retries(
            lambda: self._litellm.acompletion(**request),
            label=self.name, policy=self.retry_policy, limiter=self.limiter, semaphore=semaphore,
            tokens_estimate=self._tokens_estimate(chat, params), on_retry=self._count_retry,
            secrets=self._secrets(), rng=self._jitter,
        )
        response = outcome.value
        choice = response.choices[0]
        text = (choice.message.content or "") if choice.message is not None else ""
        usage = getattr(response, "usage", None)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        # a server that echoes a key: not into transcripts (blanked before a cut could halve it)
        text = redact_secrets(truncate_at_stop(text, params.stop), self._secrets())
        text, cut = cap_tokens(text, params.max_tokens, self._tokens)
        return Completion(
            text=text,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=completion_tokens,
            latency_s=outcome.latency_s,
            retries=outcome.retries,
            cost_usd=self._cost(response),
            truncated=cut or getattr(choice, "finish_reason", None) == "length",
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
        self._api_key = self._key_from_env()
        self._register_secrets()  # a new process: its redaction knows nothing yet
