"""Every API provider through LiteLLM (``litellm:MODEL``, e.g. ``litellm:gpt-4o-mini``).

:class:`LiteLLMBackend` sends each chat as one ``litellm.acompletion`` request; all chats of a
call run concurrently, at most ``concurrency`` at a time. ``generate`` drives the async form
on a private event loop thread, so it also works where a loop is already running (Jupyter).

Transient failures (timeouts, connection errors, HTTP 408/409/425/429 and 5xx) are retried
with exponential backoff and full jitter: before retry ``k`` (0-based) it sleeps
``uniform(0, min(max_backoff_s, backoff_s * 2**k))``. Any other error, or a transient one that
outlasts ``max_retries``, becomes a :class:`BackendError` naming the model and the last error
(with API keys redacted). LiteLLM's and the OpenAI SDK's own retries are turned off
(``max_retries=0`` unless you pass one) so this is the one retry layer.

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
import re
import threading
import time
from typing import Any

from dilemmazoo.agents.backends import truncate_at_stop
from dilemmazoo.agents.backends.base import Backend, BackendError, Chat, Completion, GenerationParams

__all__ = ["LiteLLMBackend"]

_TRANSIENT_STATUS = {408, 409, 425, 429}


def _import_litellm():
    """Import LiteLLM offline-friendly and quiet, with an install hint if it is missing."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read at import time
    try:
        import litellm
    except ImportError as error:
        raise ImportError("the litellm backend needs litellm: pip install 'dilemmazoo[api]'") from error
    litellm.suppress_debug_info = True  # it otherwise prints a help banner on every error
    return litellm


def _is_transient(error: BaseException) -> bool:
    """Whether retrying may help: timeouts, dropped connections, rate limits, server errors."""
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return status in _TRANSIENT_STATUS or status >= 500
    return isinstance(error, (TimeoutError, ConnectionError))


class _LoopThread:
    """One event loop on a daemon thread, for running coroutines from sync code."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="litellm-backend-loop", daemon=True)
        self.thread.start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    @staticmethod
    async def _cancel_pending() -> None:
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        # LiteLLM leaves a logging task on every loop it used; cancel it before closing the loop
        self.run(self._cancel_pending())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class LiteLLMBackend(Backend):
    """A chat model behind any API LiteLLM speaks.

    Args:
        model: a LiteLLM model name, e.g. ``gpt-4o-mini``, ``anthropic/claude-3-5-haiku-latest``,
            ``ollama/llama3``, ``hosted_vllm/NAME`` (with ``api_base=``).
        concurrency: most requests in flight at once within one call.
        max_retries: retries of a transient failure before giving up.
        backoff_s, max_backoff_s: base and cap of the exponential backoff (seconds).
        timeout_s: per-request timeout passed to LiteLLM.
        name: identity in records and cache keys (default ``litellm:<model>``).
        **litellm_kwargs: passed to every ``litellm.acompletion`` call (``api_base``,
            ``api_key``, ``mock_response``, ...). They override the defaults above, not the
            per-call sampling arguments.
    """

    can_score = False

    def __init__(
        self,
        model: str,
        *,
        concurrency: int = 8,
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
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.litellm_kwargs = {"drop_params": True, "max_retries": 0, "timeout": timeout_s, **litellm_kwargs}
        #: retries performed so far (all calls), for accounting
        self.retries = 0
        self._jitter = random.Random()  # jitter only spreads load; it never affects answers
        self._loop: _LoopThread | None = None
        self._loop_lock = threading.Lock()

    # -- one request -------------------------------------------------------------------------
    def _request(self, chat: Chat, params: GenerationParams) -> dict[str, Any]:
        request = {
            **self.litellm_kwargs,
            "model": self.model,
            "messages": chat,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
            "seed": params.seed,
        }
        if params.stop:
            request["stop"] = list(params.stop)
        return request

    def _redact(self, text: str) -> str:
        """The error text with every secret we were given, and anything key-shaped, blanked out."""
        for field, value in self.litellm_kwargs.items():
            if isinstance(value, str) and len(value) >= 8 and re.search("key|token|secret", field, re.I):
                text = text.replace(value, "***")
        return re.sub(r"\b(sk|pk|rk|key)-[A-Za-z0-9_\-]{8,}", r"\1-***", text)

    async def _complete(self, chat: Chat, params: GenerationParams) -> Completion:
        request = self._request(chat, params)
        start = time.perf_counter()
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._litellm.acompletion(**request)
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not _is_transient(error) or attempt == self.max_retries:
                    tries = f"after {attempt + 1} attempts" if attempt else "on the first attempt"
                    raise BackendError(
                        f"{self.name}: request failed {tries}: {type(error).__name__}: {self._redact(str(error))[:500]}"
                    ) from error
                self.retries += 1
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
                await asyncio.sleep(self._jitter.uniform(0, delay))
        latency = time.perf_counter() - start
        choice = response.choices[0]
        text = (choice.message.content or "") if choice.message is not None else ""
        usage = getattr(response, "usage", None)
        return Completion(
            text=truncate_at_stop(text, params.stop),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_s=latency,
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

        async def bounded(chat: Chat) -> Completion:
            async with semaphore:
                return await self._complete(chat, params)

        tasks = [asyncio.ensure_future(bounded(chat)) for chat in chats]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:  # one chat failed for good: stop spending on the others
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def generate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        """The async form, run on this backend's own event loop thread."""
        if not chats:
            return []
        with self._loop_lock:
            if self._loop is None:
                self._loop = _LoopThread()
        return self._loop.run(self.agenerate(chats, params=params))

    def close(self) -> None:
        with self._loop_lock:
            if self._loop is not None:
                self._loop.stop()
                self._loop = None

    def __getstate__(self) -> dict:
        # a thread and a module cannot be pickled (process pools); both are rebuilt on demand
        state = {**self.__dict__, "_loop": None, "_loop_lock": None, "_litellm": None}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._loop_lock = threading.Lock()
        self._litellm = _import_litellm()
