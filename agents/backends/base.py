"""The backend contract: two methods, sync and async.

    generate(chats, *, params) -> list[Completion]
    score(chats, options) -> list[list[float]]      # summed log-likelihood of each option

A ``Chat`` is a list of ``{"role": ..., "content": ...}`` messages. Sampling arguments are
keyword-only and carry an explicit seed. ``score`` exists where logits exist (local models);
a backend without it sets ``can_score = False`` and agents fall back to generate + parse.

Prefill: a backend with ``can_prefill = True`` treats a chat whose last message is the
assistant's as the start of the reply, and generates its continuation (the ``Completion``'s text
is the continuation only). Local models do this by writing the text after the template's
assistant header. Chat APIs differ (OpenAI answers a trailing assistant message with a new
turn), so the API backends keep ``can_prefill = False`` and callers keep the instruction instead.

``score`` returns one :class:`OptionScores` per chat: a plain list of floats that also carries
the call's accounting (prompt and option tokens, whether it came from a cache).

``provenance()`` says which model answered: id, revision, weights-file hash and server URL
(without credentials), for records (summary.json) and cache keys.

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
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "PROVENANCE_KEYS",
    "Backend",
    "BackendError",
    "Chat",
    "Completion",
    "GenerationParams",
    "OptionScores",
    "chat_hash",
    "file_sha256",
    "public_url",
    "truncate_at_stop",
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
    #: the text was cut at ``max_tokens`` (the model ran out of tokens, or a server sent more
    #: than was asked for and the backend cut it); ``completion_tokens`` stays what was billed
    truncated: bool = False


class OptionScores(list):
    """The log-likelihoods of one chat's options (a ``list`` of floats) and their accounting.

    ``prompt_tokens``: tokens of the prompt the options were scored after; ``option_tokens``:
    tokens of all the options together (each followed by the end-of-turn marker where the
    backend scores one); ``cached``: served from a cache, nothing was computed this time.
    """

    def __init__(self, values=(), *, prompt_tokens: int = 0, option_tokens: int = 0, cached: bool = False):
        super().__init__(values)
        self.prompt_tokens = prompt_tokens
        self.option_tokens = option_tokens
        self.cached = cached

    def accounting(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "option_tokens": self.option_tokens}


#: the keys of :meth:`Backend.provenance`
PROVENANCE_KEYS = ("model", "revision", "weights_sha256", "base_url")


def public_url(url: str | None) -> str | None:
    """``url`` without user name, password, query or fragment (where secrets travel)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read in chunks (a 100 MB model file takes well under a second)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def chat_hash(chat: Chat) -> str:
    """A short stable hash of a chat, for records and cache keys."""
    return hashlib.sha256(json.dumps(chat, sort_keys=True).encode()).hexdigest()[:16]


def truncate_at_stop(text: str, stop: tuple[str, ...] | list[str]) -> str:
    """``text`` cut before the earliest occurrence of any stop string (which is not kept)."""
    cut = len(text)
    for s in stop:
        if s and (i := text.find(s)) != -1:
            cut = min(cut, i)
    return text[:cut]


class Backend(ABC):
    """Base class for backends. Subclasses implement ``generate`` and, if they can, ``score``.

    The async forms default to running the sync form in a worker thread; API backends
    override them with native async calls and bounded concurrency.

    ``generate`` never returns more than ``params.max_tokens`` tokens of text, whatever the
    model or server sends (cut text is flagged ``Completion.truncated``). Errors and
    ``provenance()`` carry no credential (see :mod:`~dilemmazoo.agents.backends.redaction`).
    """

    #: identifies the model in cache keys and records
    name: str = "backend"
    #: whether ``score`` is implemented
    can_score: bool = False
    #: whether a trailing assistant message is continued (see the module docstring)
    can_prefill: bool = False
    #: whether answers follow the order of the calls rather than what is asked (``scripted:``
    #: replays its file); such a backend is never put behind the on-disk cache
    order_dependent: bool = False

    @abstractmethod
    def generate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        """One completion per chat, in order."""

    def score(self, chats: list[Chat], options: list[list[str]]) -> list[OptionScores]:
        """Log-likelihood of each option as the assistant's reply to each chat."""
        raise NotImplementedError(f"backend {self.name!r} cannot score options; use generate")

    async def agenerate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        return await asyncio.to_thread(self.generate, chats, params=params)

    async def ascore(self, chats: list[Chat], options: list[list[str]]) -> list[OptionScores]:
        return await asyncio.to_thread(self.score, chats, options)

    def provenance(self) -> dict:
        """Which model answers: ``{"model", "revision", "weights_sha256", "base_url"}``.

        None where unknown; ``base_url`` never carries credentials (see :func:`public_url`).
        Backends override it; this default knows only the name.
        """
        return {"model": self.name, "revision": None, "weights_sha256": None, "base_url": None}

    def close(self) -> None:
        """Release resources (models, connections). Safe to call twice."""
