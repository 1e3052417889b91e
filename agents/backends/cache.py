"""An on-disk cache around any backend: reruns are free and exact.

:class:`CachedBackend` implements the same contract as the backend it wraps. Each answer is
stored under the sha256 of what determines it:

- ``generate``: (backend name and provenance, chat messages, every sampling argument including
  the seed, and the copy number of the chat among identical chats in the same call);
- ``score``: (backend name and provenance, chat messages, the options).

The provenance (:meth:`Backend.provenance`: model id, revision, weights-file hash and server
``base_url``) is part of every key, so two model files, two revisions or two servers behind one
backend name never share entries.

A call looks every chat up first and sends only the misses to the wrapped backend, as one
batched call, then stores what came back. Served answers have ``cached=True``, zero latency and
zero cost (nothing was spent this time); token counts are kept. Scores are cached the same way:
a served :class:`OptionScores` row has ``cached=True`` and keeps its prompt and option token
counts; ``hits`` and ``misses`` count score rows as well as completions.

Identical chats in one ``generate`` call with one seed are told apart by their copy number, so
two seats that see the same prompt keep the two different samples the model gave them, and a
rerun returns both unchanged.

The cache is exact for backends whose answer is a function of what the key holds. A backend
whose answers follow the order of the calls instead (``order_dependent``, e.g. ``scripted:``,
which replays a file) is not: a served answer does not move it on, so what it says next would
depend on what an earlier run happened to store. The runner never wraps such a backend
(:func:`dilemmazoo.experiments.runner.build_backend`); tests may, to exercise the cache itself.

Storage is one SQLite file, ``<cache_dir>/llm_cache.sqlite``, in WAL mode with a busy timeout,
so several worker processes may share a directory; a connection is opened per call, so the
object is safe to use from threads and after ``fork``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
from collections import Counter
from contextlib import closing
from dataclasses import asdict
from pathlib import Path

from dilemmazoo.agents.backends.base import Backend, Chat, Completion, GenerationParams, OptionScores

__all__ = ["CachedBackend"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def _key(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class CachedBackend(Backend):
    """Wraps ``inner`` with a cache in ``cache_dir``; ``hits`` and ``misses`` count chats.

    Args:
        inner: any backend; its ``name`` is part of every key, so give distinct models
            distinct names.
        cache_dir: a folder (created if missing) that several processes may share.
        timeout_s: how long to wait for another process's write lock before failing.
    """

    def __init__(self, inner: Backend, cache_dir: str | Path, *, timeout_s: float = 60.0):
        self.inner = inner
        self.name = inner.name
        self.can_score = inner.can_score
        self.can_prefill = inner.can_prefill
        self._identity: dict | None = None  # the inner backend's name and provenance, for keys
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.cache_dir / "llm_cache.sqlite"
        self.timeout_s = timeout_s
        self.hits = 0
        self.misses = 0
        self._count_lock = threading.Lock()
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                db.execute(_SCHEMA)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_count_lock"}  # locks do not pickle

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._count_lock = threading.Lock()

    # -- storage -----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self.timeout_s)

    def _get(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        with closing(self._connect()) as db:
            for start in range(0, len(unique), 500):  # stay under SQLite's bound-variable limit
                part = unique[start : start + 500]
                marks = ",".join("?" * len(part))
                found.update(db.execute(f"SELECT key, value FROM answers WHERE key IN ({marks})", part).fetchall())
        return found

    def _put(self, items: dict[str, str]) -> None:
        if not items:
            return
        with closing(self._connect()) as db, db:
            db.executemany("INSERT OR REPLACE INTO answers (key, value) VALUES (?, ?)", items.items())

    def _count(self, hits: int, misses: int) -> None:
        with self._count_lock:
            self.hits += hits
            self.misses += misses

    # -- keys --------------------------------------------------------------------------------
    def provenance(self) -> dict:
        """The wrapped backend's provenance."""
        return self.inner.provenance()

    def _backend_identity(self) -> dict:
        """What names the model in every key: the backend's name and provenance (asked once)."""
        if self._identity is None:
            self._identity = {"name": self.inner.name, **self.inner.provenance()}
        return self._identity

    def _generate_keys(self, chats: list[Chat], params: GenerationParams) -> list[str]:
        seen: Counter[str] = Counter()
        keys = []
        backend = self._backend_identity()
        for chat in chats:
            text = json.dumps(chat, sort_keys=True, ensure_ascii=False)
            payload = {"call": "generate", "backend": backend, "chat": chat, "params": params.key()}
            if seen[text]:
                payload["copy"] = seen[text]
            seen[text] += 1
            keys.append(_key(payload))
        return keys

    def _score_keys(self, chats: list[Chat], options: list[list[str]]) -> list[str]:
        backend = self._backend_identity()
        return [
            _key({"call": "score", "backend": backend, "chat": chat, "options": opts})
            for chat, opts in zip(chats, options)
        ]

    # -- generate ----------------------------------------------------------------------------
    def _served(self, keys: list[str], found: dict[str, str]) -> tuple[list[Completion | None], list[int]]:
        results: list[Completion | None] = [None] * len(keys)
        missing = []
        for i, key in enumerate(keys):
            if key in found:
                stored = json.loads(found[key])
                results[i] = Completion(**{**stored, "latency_s": 0.0, "cost_usd": 0.0, "retries": 0, "cached": True})
            else:
                missing.append(i)
        self._count(len(keys) - len(missing), len(missing))
        return results, missing

    @staticmethod
    def _record(completion: Completion) -> str:
        return json.dumps({**asdict(completion), "cached": False})

    def generate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        """Cached completions, computing the misses in one call to the wrapped backend."""
        keys = self._generate_keys(chats, params)
        results, missing = self._served(keys, self._get(keys))
        if missing:
            fresh = self.inner.generate([chats[i] for i in missing], params=params)
            self._put({keys[i]: self._record(c) for i, c in zip(missing, fresh)})
            for i, completion in zip(missing, fresh):
                results[i] = completion
        return results  # type: ignore[return-value]

    async def agenerate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        keys = self._generate_keys(chats, params)
        results, missing = self._served(keys, await asyncio.to_thread(self._get, keys))
        if missing:
            fresh = await self.inner.agenerate([chats[i] for i in missing], params=params)
            await asyncio.to_thread(self._put, {keys[i]: self._record(c) for i, c in zip(missing, fresh)})
            for i, completion in zip(missing, fresh):
                results[i] = completion
        return results  # type: ignore[return-value]

    # -- score -------------------------------------------------------------------------------
    @staticmethod
    def _stored_scores(value: str) -> OptionScores:
        stored = json.loads(value)
        return OptionScores(stored["scores"], prompt_tokens=stored["prompt_tokens"],
                            option_tokens=stored["option_tokens"], cached=True)

    @staticmethod
    def _score_record(row: OptionScores) -> str:
        # a scripted -inf is stored as -Infinity, which Python's json reads back
        return json.dumps({"scores": list(row), **row.accounting()})

    def _score_served(self, keys: list[str], found: dict[str, str]) -> tuple[list, list[int]]:
        results: list[OptionScores | None] = [self._stored_scores(found[k]) if k in found else None for k in keys]
        misses = [i for i, row in enumerate(results) if row is None]
        # a repeated (chat, options) pair is asked once: its answer is deterministic
        first_of_key = {keys[i]: i for i in reversed(misses)}
        asked = sorted(first_of_key.values())
        # a repeat of a row asked in this same call is served from that answer: a hit
        self._count(len(keys) - len(asked), len(asked))
        return results, asked

    def _fill_scores(self, keys, results, missing, fresh) -> list[OptionScores]:
        by_key = {keys[i]: (i, row) for i, row in zip(missing, fresh)}
        filled: list[OptionScores] = []
        for i, (key, row) in enumerate(zip(keys, results)):
            if row is None:
                asked_at, computed = by_key[key]
                # the row asked for is fresh; a repeat of it in the same call was served from it
                row = OptionScores(computed, **computed.accounting(), cached=i != asked_at)
            filled.append(row)
        return filled

    def score(self, chats: list[Chat], options: list[list[str]]) -> list[OptionScores]:
        """Cached scores, computing the misses in one call to the wrapped backend."""
        keys = self._score_keys(chats, options)
        results, missing = self._score_served(keys, self._get(keys))
        fresh: list[OptionScores] = []
        if missing:
            fresh = self.inner.score([chats[i] for i in missing], [options[i] for i in missing])
            self._put({keys[i]: self._score_record(row) for i, row in zip(missing, fresh)})
        return self._fill_scores(keys, results, missing, fresh)

    async def ascore(self, chats: list[Chat], options: list[list[str]]) -> list[OptionScores]:
        keys = self._score_keys(chats, options)
        results, missing = self._score_served(keys, await asyncio.to_thread(self._get, keys))
        fresh: list[OptionScores] = []
        if missing:
            fresh = await self.inner.ascore([chats[i] for i in missing], [options[i] for i in missing])
            await asyncio.to_thread(self._put, {keys[i]: self._score_record(row) for i, row in zip(missing, fresh)})
        return self._fill_scores(keys, results, missing, fresh)

    def close(self) -> None:
        self.inner.close()
