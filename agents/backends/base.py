"""The backend contract: two methods, sync and async.

    generate(chats, *, params) -> list[Completion]
    score(chats, options) -> list[list[float]]      # summed log-likelihood of each option

A ``Chat`` is a list of ``{"role": ..., "content": ...}`` messages. Sampling arguments are
keyword-only and carry an explicit seed. ``score`` exists where logits exist (local models);
a backend without it sets ``can_score = False`` and agents fall back to generate + parse.

Retry, cache and budget are wrappers implementing this same contract, never flags inside
each backend. Backends are built from spec strings (``embedded``, ``scripted:answers.txt``,
``litellm:gpt-4o-mini``) by :func:`dilemmazoo.agents.backends.make_backend`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

__all__ = [
    "Backend",
    "BackendError",
    "Chat",
    "Completion",
    "GenerationParams",
    "chat_hash",
]

Chat = list[dict[str, str]]


class BackendError(RuntimeError):
    """A backend failed in a way retries did not fix (network, auth, missing model, ...)."""


@dataclass(frozen=True)
class GenerationParams:
    """Sampling arguments. ``seed`` makes sampling reproducible where the backend allows."""

    max_tokens: int = 200
    temperature: float = 0.8
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    def key(self) -> dict:
        return asdict(self)


@dataclass
class Completion:
    """One generated answer with its accounting."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    cached: bool = False
    retries: int = 0  # transport-level retries (timeouts, 429, 5xx) this answer needed


def chat_hash(chat: Chat) -> str:
    """A short stable hash of a chat, for records and cache keys."""
    return hashlib.sha256(json.dumps(chat, sort_keys=True).encode()).hexdigest()[:16]


class Backend(ABC):
    """Base class for backends. Subclasses implement ``generate`` and, if they can, ``score``.

    The async forms default to running the sync form in a worker thread; API backends
    override them with native async calls and bounded concurrency.
    """

    #: identifies the model in cache keys and records
    name: str = "backend"
    #: whether ``score`` is implemented
    can_score: bool = False

    @abstractmethod
    def generate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        """One completion per chat, in order."""

    def score(self, chats: list[Chat], options: list[list[str]]) -> list[list[float]]:
        """Log-likelihood of each option as the assistant's reply to each chat."""
        raise NotImplementedError(f"backend {self.name!r} cannot score options; use generate")

    async def agenerate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        return await asyncio.to_thread(self.generate, chats, params=params)

    async def ascore(self, chats: list[Chat], options: list[list[str]]) -> list[list[float]]:
        return await asyncio.to_thread(self.score, chats, options)

    def close(self) -> None:
        """Release resources (models, connections). Safe to call twice."""
