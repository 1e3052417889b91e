"""``dilemmazoo check-backend SPEC``: a conformance kit for backend authors.

    dilemmazoo check-backend SPEC [--option key=value]... [--json] [--quick] [--only CHECK,...]

Runs one backend through the contract of :mod:`dilemmazoo.agents.backends.base` and prints a
table with one row per check: ``pass``, ``fail`` or ``skip`` (with the reason), a detail line and
the seconds the check took, then the measured latency and throughput. ``--json`` prints the
report as one JSON object on the last line. Exit code 0 when every applicable check passes, 1
when one fails, 2 when the spec (or an ``--option``) is bad and nothing could be checked.

Checks
    ``generate``   one :class:`Completion` per chat, in order (none for no chats); text is
                   ``str``, token counts are ``>= 0``, latency is recorded. The chats ask for
                   distinct words ("Say the word apple three times."; a backend that can
                   prefill gets ``"apple, apple,"`` as the start of its reply, which even a 135M
                   model continues), so the order is read off the answers; where an answer says
                   no word it is compared with the same chat sent alone (greedy, same seed).
    ``seeds``      the same chats, parameters and seed twice (temperature 1) give the same texts.
                   Skipped where the backend does not promise it (API providers: a seed is a
                   best-effort hint) or where answers follow the call order (``scripted:``).
    ``batching``   a batch of N equals the N chats sent one at a time (greedy, same seed).
                   Exact where the backend promises it; a local model in bfloat16/float16 may
                   round differently with padding, so there each differing answer must still be
                   nearest (longest common start) to its own single answer.
    ``async``      ``agenerate`` gives what ``generate`` gives (and ``ascore`` what ``score``
                   gives, where the backend scores).
    ``score``      where ``can_score``: one finite log-likelihood ``<= 0`` per option, in order
                   (the options reversed give the scores reversed), one row per chat; the greedy
                   answer with more words appended scores lower than the answer alone, and the
                   greedy answer scores highest (generate and score agree), when the greedy answer
                   ended by itself.
    ``retry-429``, ``retry-5xx``, ``timeout``, ``malformed``
                   HTTP backends only (``openai:``, ``litellm:``): the kit points the backend at
                   its own :class:`~dilemmazoo.agents.backends.loopback.FakeOpenAIServer` on
                   127.0.0.1 and scripts faults: 429 with ``Retry-After`` then ok (retried after
                   the wait, succeeds), 500/503/a dropped connection (retried), a hang longer than
                   the timeout (retried; hanging every time ends in a ``BackendError`` naming the
                   backend, long before the hang would), a body that is not JSON and a completion
                   without choices (retried and counted; every time: ``BackendError``).
    ``throughput`` calls/s and completion tokens/s for one batch of 8 chats (4 with ``--quick``).
    ``secrets``    HTTP backends only: a fake API key given to the backend is sent (the server
                   checks it) and never appears in a completion (also when the server puts it in
                   an answer), an error message, ``repr``, the provenance, a pickle, or a log line
                   or terminal line captured during the checks (a server that quotes the request
                   headers back in its error, the ``echo`` mode, is among them).

What each built-in backend promises beyond the base class (:func:`promises_for`): ``embedded`` and
``hf:`` are the same class (:class:`~dilemmazoo.agents.backends.hf.HFBackend`; ``embedded`` is it
pointed at the SmolLM2 GGUF file), seeded and batch-exact in float32; ``openai:`` and ``litellm:``
send the seed but do not promise reproducible sampling; ``scripted:`` is ``order_dependent``:
answers follow the call order, so seeds are skipped and every check runs on a fresh copy of the
backend as it was handed in (batch and singles from the same position). A new backend's class
promises everything unless :func:`check_backend` is given other :class:`Promises`.

HTTP backends are always run against the loopback server (the backend's code is checked, not a
provider, and nothing is spent): ``base_url``/``api_base`` and ``api_key`` are the kit's, other
``--option`` values pass through.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import copy
import io
import json
import logging
import math
import os
import pickle
import re
import secrets as secrets_module
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from dilemmazoo.agents.backends import (
    Backend,
    BackendError,
    Chat,
    Completion,
    GenerationParams,
    check_backend_spec,
    make_backend,
)
from dilemmazoo.agents.backends.loopback import Behaviour, FakeOpenAIServer
from dilemmazoo.agents.backends.redaction import redact_text

__all__ = [
    "CHECKS",
    "WORDS",
    "CheckResult",
    "ConformanceReport",
    "Promises",
    "check_backend",
    "main_check_backend",
    "promises_for",
]

#: the rows of a report, in order
CHECKS = ("generate", "seeds", "batching", "async", "score", "retry-429", "retry-5xx", "timeout", "malformed",
          "throughput", "secrets")
#: distinct answers the chats ask for; each is one token or two in common tokenizers
WORDS = ("apple", "river", "candle", "tiger", "violin", "marble", "copper", "meadow")
#: appended to an answer for the "a longer continuation scores lower" case
LONGER_TAIL = " and then I would like to add a few more words about something else entirely"
#: what the kit's loopback server answers when a chat asks for the secret (redaction must blank it)
SECRET_PROMPT = "Say the secret."
#: the HTTP libraries whose log records are captured (at DEBUG) while an HTTP backend is checked
CAPTURED_LOGGERS = ("openai", "httpx", "httpcore", "LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm",
                    "dilemmazoo")

_HF = "dilemmazoo.agents.backends.hf.HFBackend"
_SCRIPTED = "dilemmazoo.agents.backends.scripted.ScriptedBackend"
_OPENAI = "dilemmazoo.agents.backends.openai_backend.OpenAIBackend"
_LITELLM = "dilemmazoo.agents.backends.litellm_backend.LiteLLMBackend"
_CACHED = "dilemmazoo.agents.backends.cache.CachedBackend"


# -- report ---------------------------------------------------------------------------------

@dataclass
class CheckResult:
    """One row: ``status`` is ``pass``, ``fail`` or ``skip``; ``detail`` says what was seen or why
    the check does not apply; ``seconds`` is the check's wall time."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0


@dataclass
class ConformanceReport:
    """The rows of :data:`CHECKS` for one backend and what was measured on the way.

    ``measurements``: ``latency_s`` (mean wall time of one single-chat ``generate``),
    ``batch_size``, ``calls_per_s`` and ``tokens_per_s`` (completion tokens) of the throughput batch.
    """

    backend: str
    rows: list[CheckResult] = field(default_factory=list)
    measurements: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no applicable check failed."""
        return not any(row.status == "fail" for row in self.rows)

    @property
    def failed(self) -> list[str]:
        return [row.name for row in self.rows if row.status == "fail"]

    def row(self, name: str) -> CheckResult:
        """The row of check ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no check named {name!r}; checks: {', '.join(r.name for r in self.rows)}")

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "passed": self.passed, "failed": self.failed,
                "checks": [asdict(row) for row in self.rows], "measurements": dict(self.measurements),
                "notes": list(self.notes)}

    def text(self, width: int = 110) -> str:
        """The table as the CLI prints it (rich), then the verdict."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=f"check-backend {self.backend}", title_justify="left")
        table.add_column("check")
        table.add_column("result")
        table.add_column("s", justify="right")
        table.add_column("detail", overflow="fold")
        colours = {"pass": "green", "fail": "bold red", "skip": "yellow"}
        for row in self.rows:
            table.add_row(escape(row.name), f"[{colours[row.status]}]{row.status}[/]", f"{row.seconds:.2f}",
                          escape(row.detail))
        out = io.StringIO()
        console = Console(file=out, width=width, force_terminal=False, color_system=None)
        console.print(table)
        for note in self.notes:
            console.print(note, markup=False, highlight=False)
        if self.measurements:
            console.print("measured: " + ", ".join(f"{k}={_number(v)}" for k, v in self.measurements.items()),
                          markup=False, highlight=False)
        verdict = "PASS: every applicable check passed" if self.passed else f"FAIL: {', '.join(self.failed)}"
        console.print(verdict, markup=False, highlight=False)
        return out.getvalue()


def _number(value: float) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# -- what backends promise ------------------------------------------------------------------

@dataclass(frozen=True)
class Promises:
    """What a backend promises beyond what the base class declares (``can_score``,
    ``can_prefill``, ``order_dependent``).

    Args:
        reproducible_seeds: the same chats, params and seed give the same texts at temperature > 0.
        exact_batching: a batch gives exactly what its chats give one at a time (greedy).
        finite_scores: every log-likelihood is finite (a script that only ever says one thing
            gives the other options ``-inf``).
        http: ``"openai"`` or ``"litellm"`` for a backend that speaks the OpenAI wire protocol
            (the fault and secrets checks run against the loopback server), else None.
        note: why a promise is not made, shown in the skipped or relaxed rows.
    """

    reproducible_seeds: bool = True
    exact_batching: bool = True
    finite_scores: bool = True
    http: str | None = None
    note: str = ""

    def __post_init__(self):
        if self.http not in (None, "openai", "litellm"):
            raise ValueError(f"http must be None, 'openai' or 'litellm', got {self.http!r}")


def _class_names(backend: Backend) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(backend).__mro__}


def promises_for(backend: Backend) -> Promises:
    """What the built-in backend classes promise (a subclass inherits its base's promises);
    :class:`Promises()` (everything) for any other class. A ``CachedBackend`` promises what
    the backend it wraps promises."""
    names = _class_names(backend)
    if _CACHED in names:
        return promises_for(backend.inner)
    if _HF in names:
        exact = str(backend.dtype) == "torch.float32"
        note = "" if exact else (f"{backend.dtype} rounds differently with padding, so a batch may differ from "
                                 "single calls in a late token (float32 is exact)")
        return Promises(exact_batching=exact, note=note)
    if _SCRIPTED in names:
        return Promises(finite_scores=False, note="answers follow the call order, not the seed (order_dependent)")
    if _OPENAI in names or _LITELLM in names:
        return Promises(reproducible_seeds=False, http="openai" if _OPENAI in names else "litellm",
                        note="not deterministic: the seed is sent, but an API provider's sampling is best-effort")
    return Promises()


# -- the kit's own loopback answers ---------------------------------------------------------

def word_chat(word: str, *, prefill: bool) -> Chat:
    """The chat that asks for ``word``; with ``prefill`` the reply is started with it."""
    chat = [{"role": "user", "content": f"Say the word {word} three times."}]
    if prefill:
        chat.append({"role": "assistant", "content": f"{word}, {word},"})
    return chat


def sentence_chat(word: str) -> Chat:
    """An open question (answers vary with sampling), for the seeds check."""
    return [{"role": "user", "content": f"Write one short sentence about a {word}."}]


#: chats whose greedy answers are short and end by themselves, for the score check
SCORE_CHATS = (
    [{"role": "user", "content": "Which letter comes after A in the alphabet? Answer with the letter only."}],
    [{"role": "user", "content": "What is the opposite of hot? Answer with one word."}],
)


def _loopback_answer(secret: str) -> Callable[[Any], str]:
    """The server's reply: the word the chat asks for, three times; the secret when asked for it."""
    def answer(body: Any) -> str:
        messages = body.get("messages", []) if isinstance(body, dict) else []
        last = str(messages[-1].get("content", "")) if messages else ""
        if SECRET_PROMPT in last:
            return f"the key is {secret}"
        found = re.search(r"the word (\w+)|about a (\w+)", last)
        word = (found.group(1) or found.group(2)) if found else "nothing"
        return f"{word}, {word}, {word}"

    return answer


# -- running the checks ---------------------------------------------------------------------

class _Skip(Exception):
    """A check that does not apply: its message is the reason."""


class _Fail(AssertionError):
    """A check that failed: its message is what was seen."""


@dataclass
class _Kit:
    """What the checks share: the backend, its promises, the settings, and what was seen so far."""

    backend: Backend
    promises: Promises
    quick: bool
    seed: int
    batch_size: int
    #: copies of the backend as handed in (order-dependent backends only)
    pristine: Backend | None = None
    measurements: dict[str, float] = field(default_factory=dict)
    singles_cache: dict[Any, list[Completion]] = field(default_factory=dict)
    batch_cache: dict[Any, list[Completion]] = field(default_factory=dict)
    #: every text the checks saw (answers, errors): the secrets check searches them
    seen: list[str] = field(default_factory=list)

    def fresh(self) -> Backend:
        """The backend to call: itself, or for an order-dependent one a copy as it was handed in."""
        return copy.deepcopy(self.pristine) if self.pristine is not None else self.backend

    def generate(self, chats: list[Chat], params: GenerationParams, backend: Backend | None = None) -> list[Completion]:
        completions = (backend or self.fresh()).generate(chats, params=params)
        self.seen.extend(c.text for c in completions if isinstance(c, Completion) and isinstance(c.text, str))
        return completions

    @property
    def prefill(self) -> bool:
        return bool(self.backend.can_prefill)

    def word_chats(self) -> list[Chat]:
        return [word_chat(w, prefill=self.prefill) for w in WORDS[: self.batch_size]]

    def greedy(self) -> GenerationParams:
        """Greedy decoding: 6 tokens with ``quick`` (enough to say a word), else 12."""
        return GenerationParams(max_tokens=6 if self.quick else 12, temperature=0.0, seed=self.seed)

    def batch(self, chats: list[Chat], params: GenerationParams) -> list[Completion]:
        """The chats as one batch (cached: generate and batching share it)."""
        key = (json.dumps(chats), params)
        if key not in self.batch_cache:
            self.batch_cache[key] = self.generate(chats, params)
        return self.batch_cache[key]

    def singles(self, chats: list[Chat], params: GenerationParams) -> list[Completion]:
        """Each chat sent alone (cached: generate and batching share them); records the latency."""
        key = (json.dumps(chats), params)
        if key not in self.singles_cache:
            backend = self.fresh()  # one copy for all: an order-dependent one moves on as a batch would
            walls, answers = [], []
            for chat in chats:
                start = time.perf_counter()
                answers.extend(self.generate([chat], params, backend))
                walls.append(time.perf_counter() - start)
            self.measurements.setdefault("latency_s", statistics.mean(walls))
            self.singles_cache[key] = answers
        return self.singles_cache[key]


def _run_check(name: str, body: Callable[[], str]) -> CheckResult:
    start = time.perf_counter()
    try:
        detail = body()
        status = "pass"
    except _Skip as reason:
        status, detail = "skip", str(reason)
    except _Fail as failure:
        status, detail = "fail", str(failure)
    except Exception as error:  # noqa: BLE001 - a crash is a failure of the check, said loudly
        status, detail = "fail", f"raised {type(error).__name__}: {error}"
    return CheckResult(name, status, redact_text(detail), time.perf_counter() - start)


def _clip(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _words_in(text: str) -> set[str]:
    return {w for w in WORDS if re.search(rf"\b{w}\b", text, flags=re.IGNORECASE)}


def _common_start(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _nearest(text: str, candidates: list[str]) -> list[int]:
    """Indices of the candidates sharing the longest start with ``text`` (ties: several)."""
    lengths = [_common_start(text, c) for c in candidates]
    best = max(lengths)
    return [j for j, n in enumerate(lengths) if n == best] if best > 0 else []


# -- the checks -----------------------------------------------------------------------------

def _check_generate(kit: _Kit) -> str:
    chats = kit.word_chats()
    params = kit.greedy()
    answers = kit.batch(chats, params)
    if not isinstance(answers, list) or len(answers) != len(chats):
        count = len(answers) if isinstance(answers, list) else type(answers).__name__
        raise _Fail(f"{len(chats)} chats gave {count} completions")
    for i, c in enumerate(answers):
        if not isinstance(c, Completion):
            raise _Fail(f"completion {i} is a {type(c).__name__}, not a Completion")
        if not isinstance(c.text, str):
            raise _Fail(f"completion {i}: text is a {type(c.text).__name__}, not str")
        for label in ("prompt_tokens", "completion_tokens"):
            value = getattr(c, label)
            if not isinstance(value, int) or value < 0:
                raise _Fail(f"completion {i}: {label} = {value!r}, not an int >= 0")
        if not isinstance(c.latency_s, (int, float)) or not math.isfinite(c.latency_s) or c.latency_s < 0:
            raise _Fail(f"completion {i}: latency_s = {c.latency_s!r}, not a finite number >= 0")
    nothing = kit.fresh().generate([], params=params)
    if nothing != []:
        raise _Fail(f"generate([]) gave {nothing!r}, not []")
    texts = [c.text for c in answers]
    if kit.backend.order_dependent:
        alone = [c.text for c in kit.singles(chats, params)]
        if texts != alone:
            raise _Fail(f"order-dependent backend: the batch gave {texts} but the same chats one at a time "
                        f"from the same state gave {alone}")
        return f"{len(chats)} completions; order follows the call order (checked against single calls on a copy)"
    by_content, by_singles, untold = 0, 0, 0
    for i, (word, text) in enumerate(zip(WORDS, texts)):
        found = _words_in(text)
        if word in found:
            by_content += 1
            continue
        if found:
            raise _Fail(f"order lost: answer {i} (asked for {word!r}) says {sorted(found)}: {_clip(text)}")
        alone = [c.text for c in kit.singles(chats, params)]
        nearest = _nearest(text, alone)
        if nearest and i not in nearest:
            raise _Fail(f"order lost: answer {i} {_clip(text)} is chat {nearest[0]}'s answer alone, "
                        f"not chat {i}'s {_clip(alone[i])}")
        if nearest == [i]:
            by_singles += 1
        else:
            untold += 1
    tokens = sum(c.completion_tokens for c in answers)
    parts = [f"{len(chats)} completions, {tokens} completion tokens; order: {by_content} answers say their own word"]
    if by_singles:
        parts.append(f"{by_singles} match their chat sent alone")
    if untold:
        parts.append(f"{untold} cannot be told apart")
    return ", ".join(parts)


def _check_seeds(kit: _Kit) -> str:
    if kit.backend.order_dependent:
        raise _Skip("order_dependent: answers follow the call order; seeds do not change them")
    if not kit.promises.reproducible_seeds:
        raise _Skip(kit.promises.note or "the backend does not promise reproducible seeds")
    chats = [sentence_chat(w) for w in WORDS[: min(4, kit.batch_size)]]
    params = GenerationParams(max_tokens=8 if kit.quick else 20, temperature=1.0, top_p=1.0, seed=kit.seed)
    first = [c.text for c in kit.generate(chats, params)]
    second = [c.text for c in kit.generate(chats, params)]
    differ = [i for i, (a, b) in enumerate(zip(first, second)) if a != b]
    if differ or len(first) != len(second):
        i = differ[0] if differ else 0
        raise _Fail(f"seed {kit.seed} twice at temperature 1 gave different texts for {len(differ)}/{len(chats)} "
                    f"chats, e.g. chat {i}: {_clip(first[i])} then {_clip(second[i])} (the seed is ignored)")
    same = f"seed {kit.seed} twice (temperature 1): {len(chats)}/{len(chats)} texts identical"
    if kit.quick:
        return same
    other = [c.text for c in kit.generate(chats, GenerationParams(**{**params.key(), "seed": kit.seed + 1}))]
    changed = sum(a != b for a, b in zip(first, other))
    return f"{same}; seed {kit.seed + 1} changed {changed}/{len(chats)}"


def _check_batching(kit: _Kit) -> str:
    chats = kit.word_chats()
    params = kit.greedy()
    batch = [c.text for c in kit.batch(chats, params)]
    alone = [c.text for c in kit.singles(chats, params)]
    if len(batch) != len(alone):
        raise _Fail(f"a batch of {len(chats)} gave {len(batch)} completions")
    differ = [i for i, (a, b) in enumerate(zip(batch, alone)) if a != b]
    if not differ:
        return f"a batch of {len(chats)} equals the {len(chats)} single calls (greedy, seed {kit.seed})"
    i = differ[0]
    example = f"chat {i}: batch {_clip(batch[i])}, alone {_clip(alone[i])}"
    if kit.promises.exact_batching:
        raise _Fail(f"{len(differ)}/{len(chats)} answers differ from the same chat sent alone; {example}")
    strays = [j for j in differ if _nearest(batch[j], alone) != [j]]
    if strays:
        raise _Fail(f"{len(differ)}/{len(chats)} differ and {len(strays)} are nearer another chat's single answer "
                    f"than their own (order lost?); {example}")
    return (f"{len(chats) - len(differ)}/{len(chats)} identical to single calls; {len(differ)} differ after a common "
            f"start ({example}): {kit.promises.note}")


def _in_a_thread(coroutine_fn: Callable[[], Any]) -> Any:
    """``asyncio.run`` of the coroutine on a worker thread (works under a running loop too)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coroutine_fn())).result()


def _check_async(kit: _Kit) -> str:
    chats = kit.word_chats()[: 2 if kit.quick else 4]
    seeded = kit.promises.reproducible_seeds and not kit.backend.order_dependent
    params = GenerationParams(max_tokens=6 if kit.quick else 12, temperature=0.8 if seeded else 0.0, seed=kit.seed)
    backend = kit.fresh()
    answers = _in_a_thread(lambda: backend.agenerate(chats, params=params))
    kit.seen.extend(c.text for c in answers if isinstance(c, Completion))
    sync = [c.text for c in kit.generate(chats, params)]
    texts = [c.text if isinstance(c, Completion) else c for c in answers]
    if texts != sync:
        raise _Fail(f"agenerate gave {[_clip(str(t)) for t in texts]}, generate gave {[_clip(t) for t in sync]}")
    done = f"agenerate equals generate for {len(chats)} chats ({'temperature 0.8, seeded' if seeded else 'greedy'})"
    if kit.backend.can_score:
        options = [["yes", "no"], ["no", "maybe", "yes"]]
        chats2 = list(SCORE_CHATS)
        if kit.backend.order_dependent:  # a script scores only its next answers: ask for those
            peek = [c.text for c in kit.generate(chats2, _peek_params(kit))]
            options = [[peek[0], "zebra"], ["zebra", peek[1]]]
        scored = kit.fresh().score(chats2, options)
        backend = kit.fresh()
        ascored = _in_a_thread(lambda: backend.ascore(chats2, options))
        if not _rows_close(scored, ascored, kit.promises.exact_batching):
            raise _Fail(f"ascore gave {ascored}, score gave {scored}")
        done += "; ascore equals score"
    return done


def _peek_params(kit: _Kit) -> GenerationParams:
    """Greedy parameters long enough for an answer to end by itself (a script's answers cost nothing)."""
    return GenerationParams(max_tokens=10_000 if kit.backend.order_dependent else 24 if kit.quick else 48,
                            temperature=0.0, seed=kit.seed)


def _close(a: float, b: float, exact: bool) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-4 if exact else 0.03, abs_tol=1e-3 if exact else 0.5)


def _rows_close(one: list[list[float]], two: list[list[float]], exact: bool) -> bool:
    return len(one) == len(two) and all(
        len(a) == len(b) and all(_close(x, y, exact) for x, y in zip(a, b)) for a, b in zip(one, two)
    )


def _check_score(kit: _Kit) -> str:
    backend = kit.backend
    if not backend.can_score:
        raise _Skip("can_score = False: agents fall back to generate + parse")
    chats = list(SCORE_CHATS)
    greedy = kit.generate(chats, _peek_params(kit))
    answers = [c.text for c in greedy]
    if not answers[0].strip():
        raise _Fail(f"the greedy answer to {chats[0][-1]['content']!r} is empty: nothing to score")
    other = "zebra" if answers[0].strip().casefold() != "zebra" else "quokka"
    options = [[answers[0], answers[0] + LONGER_TAIL, other], [other, answers[1]]]
    rows = kit.fresh().score(chats, options)
    if len(rows) != len(chats):
        raise _Fail(f"{len(chats)} chats gave {len(rows)} score rows")
    for i, (row, opts) in enumerate(zip(rows, options)):
        if len(row) != len(opts):
            raise _Fail(f"chat {i}: {len(opts)} options gave {len(row)} scores")
        for value in row:
            if not isinstance(value, float) or math.isnan(value) or value > 1e-4:
                raise _Fail(f"chat {i}: log-likelihood {value!r} is not a float <= 0")
            if kit.promises.finite_scores and not math.isfinite(value):
                raise _Fail(f"chat {i}: log-likelihood {value!r} is not finite")
    reversed_rows = kit.fresh().score(chats, [list(reversed(opts)) for opts in options])
    back = [list(reversed(row)) for row in reversed_rows]
    if not _rows_close(rows, back, kit.promises.exact_batching):
        raise _Fail(f"scores do not follow the options' order: {rows[0]} for {options[0]}, "
                    f"{reversed_rows[0]} for them reversed")
    answer, longer, odd = rows[0]
    if not longer < answer:
        raise _Fail(f"the answer {_clip(answers[0])} scores {answer:.3f}, the same with more words appended "
                    f"{longer:.3f}: a longer continuation must score lower")
    agreement = "generate's answer scores highest"
    if greedy[0].truncated:
        agreement = "the greedy answer did not end within its tokens: agreement not checked"
    elif not answer > odd:
        raise _Fail(f"generate answered {_clip(answers[0])} but score prefers {other!r} ({odd:.3f} > {answer:.3f})")
    return (f"{sum(len(o) for o in options)} options over {len(chats)} chats: finite"
            f"{'' if kit.promises.finite_scores else ' or -inf'}, <= 0, in order; longer scores lower "
            f"({longer:.2f} < {answer:.2f}); {agreement}")


def _check_throughput(kit: _Kit) -> str:
    size = 4 if kit.quick else 8
    chats = [sentence_chat(w) for w in WORDS[:size]]
    params = GenerationParams(max_tokens=16 if kit.quick else 32, temperature=0.8, seed=kit.seed)
    backend = kit.fresh()
    start = time.perf_counter()
    answers = kit.generate(chats, params, backend)
    wall = time.perf_counter() - start
    tokens = sum(c.completion_tokens for c in answers)
    kit.measurements.update(batch_size=size, batch_s=wall, calls_per_s=size / wall if wall > 0 else math.inf,
                            tokens_per_s=tokens / wall if wall > 0 else math.inf)
    latency = kit.measurements.get("latency_s")
    single = f"; one chat alone took {latency:.3f} s" if latency is not None else ""
    return (f"a batch of {size} in {wall:.3f} s: {kit.measurements['calls_per_s']:.3g} calls/s, "
            f"{kit.measurements['tokens_per_s']:.3g} completion tokens/s ({tokens} tokens){single}")


# -- HTTP faults ----------------------------------------------------------------------------

@dataclass
class _Http:
    """The loopback server and how to build a backend pointed at it."""

    server: FakeOpenAIServer
    build: Callable[..., Backend]
    key: str
    timeout_s: float
    retry_after_s: float
    built: list[Backend] = field(default_factory=list)

    def faulty(self) -> Backend:
        """The backend for the fault checks, built once: 2 fast retries and a short timeout.

        One object for every check, so one event loop: LiteLLM keeps one logging task per process
        and leaves it pending on each loop it moves away from."""
        if not self.built:
            self.built.append(self.build(max_retries=2, backoff_s=0.01,
                                         max_backoff_s=max(1.0, 2 * self.retry_after_s), timeout_s=self.timeout_s))
        return self.built[0]


def _one(kit: _Kit, backend: Backend, word: str = "apple") -> Completion:
    [completion] = kit.generate([word_chat(word, prefill=False)], kit.greedy(), backend)
    if word not in completion.text:
        raise _Fail(f"after the fault the answer is {_clip(completion.text)}, not the server's {word!r} answer")
    return completion


def _must_fail(kit: _Kit, backend: Backend, label: str) -> BackendError:
    try:
        kit.generate([word_chat("river", prefill=False)], kit.greedy(), backend)
    except BackendError as error:
        kit.seen.extend([str(error), repr(error)])
        if backend.name not in str(error):
            raise _Fail(f"{label}: the BackendError does not name the backend {backend.name!r}: {error}") from None
        return error
    except Exception as error:  # noqa: BLE001
        kit.seen.extend([str(error), repr(error)])
        raise _Fail(f"{label}: raised {type(error).__name__}, not BackendError: {error}") from None
    raise _Fail(f"{label}: the call succeeded although every attempt failed")


def _counted(completion: Completion, requests: list, faults: int, label: str) -> None:
    """The answer came after at least one retry per fault, and ``Completion.retries`` counts every
    request but the first (a slow machine may add a retry; it must still be counted)."""
    if len(requests) < faults + 1:
        raise _Fail(f"{label}: {len(requests)} requests reached the server, not {faults + 1}: no retry")
    if completion.retries != len(requests) - 1:
        raise _Fail(f"{label}: {len(requests)} requests but Completion.retries = {completion.retries}, "
                    f"not {len(requests) - 1}: retries are not counted")


def _served(http: _Http, behaviours: list[str | Behaviour]) -> None:
    http.server.reset()
    http.server.enqueue(*behaviours)


def _check_retry_429(kit: _Kit, http: _Http | None) -> str:
    if http is None:
        raise _Skip("not an HTTP backend")
    backend = http.faulty()
    wait = http.retry_after_s
    _served(http, [Behaviour("429", retry_after=f"{wait:g}")])
    completion = _one(kit, backend)
    requests = http.server.completions
    _counted(completion, requests, 1, "429 then ok")
    gap = requests[1].received_at - requests[0].received_at
    if gap < 0.75 * wait:
        raise _Fail(f"the retry came {gap:.3f} s after the 429, before its Retry-After of {wait:g} s")
    _served(http, ["429"] * 3)
    error = _must_fail(kit, backend, "429 every time")
    return (f"429 (Retry-After {wait:g} s) then ok: retried after {gap:.2f} s, succeeded, retries counted; "
            f"429 every time: 3 attempts then BackendError ({_clip(str(error), 60)})")


def _check_retry_5xx(kit: _Kit, http: _Http | None) -> str:
    if http is None:
        raise _Skip("not an HTTP backend")
    backend = http.faulty()
    seen = []
    for faults in (["500"], ["503"], ["disconnect"], ["500", "503"]):
        _served(http, faults)
        completion = _one(kit, backend)
        _counted(completion, http.server.completions, len(faults), f"{' then '.join(faults)} then ok")
        seen.append("+".join(faults))
    _served(http, ["500"] * 3)
    _must_fail(kit, backend, "500 every time")
    return f"{', '.join(seen)} then ok: retried, succeeded, retries counted; 500 every time: BackendError"


def _check_timeout(kit: _Kit, http: _Http | None) -> str:
    if http is None:
        raise _Skip("not an HTTP backend")
    backend = http.faulty()
    hang = http.server.hang_s
    _served(http, ["timeout"])
    _counted(_one(kit, backend), http.server.completions, 1, "a hang then ok")
    _served(http, ["timeout"] * 3)
    start = time.perf_counter()
    error = _must_fail(kit, backend, f"a hang ({hang:g} s) every time")
    took = time.perf_counter() - start
    attempts = len(http.server.completions)
    if attempts != 3:
        raise _Fail(f"a hang every time: {attempts} attempts, not 3 (max_retries=2)")
    if took >= hang:
        raise _Fail(f"a hang every time: gave up after {took:.2f} s, not before the {hang:g} s hang "
                    f"(timeout_s={http.timeout_s:g})")
    return (f"hang > timeout_s={http.timeout_s:g} s then ok: retried, succeeded; hang every time: 3 attempts, "
            f"BackendError after {took:.2f} s ({_clip(str(error), 60)})")


def _check_malformed(kit: _Kit, http: _Http | None) -> str:
    if http is None:
        raise _Skip("not an HTTP backend")
    backend = http.faulty()
    for fault in ("garbage", "no_choices"):
        _served(http, [fault])
        _counted(_one(kit, backend), http.server.completions, 1, f"{fault} then ok")
    outcomes = []
    for fault in ("garbage", "no_choices"):
        _served(http, [fault] * 3)
        _must_fail(kit, backend, f"{fault} every time")
        outcomes.append(f"{fault}: {len(http.server.completions)} attempts")
    return ("a body that is not JSON, a completion without choices, then ok: retried once, counted; every time: "
            f"BackendError ({'; '.join(outcomes)})")


def _check_secrets(kit: _Kit, http: _Http | None, captured: Callable[[], str]) -> str:
    if http is None:
        raise _Skip("not an HTTP backend: it takes no credentials")
    key = http.key
    backend = http.faulty()
    [answer] = kit.generate([[{"role": "user", "content": SECRET_PROMPT}]], kit.greedy(), backend)
    if "the key is" not in answer.text:
        raise _Fail(f"the server's answer quoting the key came back as {_clip(answer.text)}")
    _served(http, ["echo"] * 3)
    _must_fail(kit, backend, "a server quoting the request headers")
    sent = [r.authorized for r in http.server.completions]
    if not all(sent):
        raise _Fail(f"the key did not reach the server ({sent.count(False)}/{len(sent)} requests unauthorized)")
    backends = list({id(b): b for b in [kit.backend, *http.built]}.values())
    places = {
        "a completion or an error message": "\n".join(kit.seen),
        "repr(backend)": "\n".join(repr(b) for b in backends),
        "str(backend)": "\n".join(str(b) for b in backends),
        "provenance()": "\n".join(json.dumps(b.provenance(), default=str) for b in backends),
        "a log or terminal line": captured(),
    }
    leaks = [where for where, text in places.items() if key in text]
    for b in backends:
        if key.encode() in pickle.dumps(b):
            leaks.append(f"pickle of {b.name}")
    if leaks:
        raise _Fail(f"the API key appeared in: {', '.join(leaks)}")
    return (f"the key reached the server ({len(sent)} requests checked) and appeared nowhere: completions "
            f"(also one the server put it in), errors (also a server quoting the headers), repr, provenance, "
            f"pickles, {captured().count(chr(10))} captured log/terminal lines")


class _Tee(io.TextIOBase):
    """Writes go to ``target`` and are kept in ``copy_to``."""

    def __init__(self, target, copy_to: io.StringIO):
        super().__init__()
        self.target, self.copy_to = target, copy_to

    def write(self, text: str) -> int:
        self.copy_to.write(text)
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()


class _Capture(logging.Handler):
    """Keeps the text of every record of ``logger``; hands on to the parent logger only what the
    logger let through before the kit lowered its level (``passed_level``)."""

    def __init__(self, buffer: io.StringIO, logger: logging.Logger, passed_level: int):
        super().__init__(logging.DEBUG)
        self.buffer, self.logger, self.passed_level = buffer, logger, passed_level
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.buffer.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - a record that cannot be formatted holds no text to leak
            pass
        if record.levelno >= self.passed_level and self.logger.parent is not None:
            self.logger.parent.handle(record)


@contextlib.contextmanager
def _capture_output() -> Iterator[Callable[[], str]]:
    """Every log record of the HTTP libraries (:data:`CAPTURED_LOGGERS`, at DEBUG) and every
    terminal line written while inside; the terminal and the root logger get what they would
    have got without the kit."""
    buffer = io.StringIO()
    saved_logging = []
    for name in CAPTURED_LOGGERS:
        logger = logging.getLogger(name)
        passed = logger.getEffectiveLevel()
        capture = _Capture(buffer, logger, passed)
        saved_logging.append((logger, logger.level, logger.propagate, [(h, h.level) for h in logger.handlers], capture))
        for handler in logger.handlers:  # a library's own terminal handler shows no more than before
            handler.setLevel(max(handler.level, passed))
        logger.addHandler(capture)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False  # the capture hands on what would have propagated
    saved_streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(saved_streams[0], buffer), _Tee(saved_streams[1], buffer)
    try:
        yield buffer.getvalue
    finally:
        sys.stdout, sys.stderr = saved_streams
        for logger, level, propagate, handlers, capture in saved_logging:
            logger.removeHandler(capture)
            logger.setLevel(level)
            logger.propagate = propagate
            for handler, handler_level in handlers:
                handler.setLevel(handler_level)


# -- entry points ---------------------------------------------------------------------------

#: the environment variable the kit hands a ``litellm:`` backend its key in (``api_key_env``)
KEY_ENV = "DILEMMAZOO_CHECK_BACKEND_KEY"


def _http_builder(prefix: str, model: str, server: FakeOpenAIServer, key: str,
                  options: dict[str, Any]) -> Callable[..., Backend]:
    """``build(**overrides)``: the backend ``prefix:model`` pointed at the loopback server, with
    the key given as each backend documents it stays secret: ``api_key=`` for ``openai:``,
    ``api_key_env`` for ``litellm:`` (LiteLLM's own arguments are pickled as given)."""
    if prefix == "openai":
        fixed = {"base_url": server.url, "api_key": key}
    else:
        fixed = {"api_base": server.url, "custom_llm_provider": "openai", "api_key_env": KEY_ENV}

    def build(**overrides: Any) -> Backend:
        return make_backend(f"{prefix}:{model}", **{**options, **overrides, **fixed})

    return build


def _start_server(key: str, timeout_s: float, retry_after_s: float) -> FakeOpenAIServer:
    """The kit's loopback server: answers what the chats ask, wants ``key``, hangs 8 timeouts long."""
    return FakeOpenAIServer(answer=_loopback_answer(key), expected_api_key=key, retry_after=f"{retry_after_s:g}",
                            hang_s=8 * timeout_s).start()


def check_backend(spec_or_backend: str | Backend, *, options: dict[str, Any] | None = None, quick: bool = False,
                  promises: Promises | None = None, seed: int = 7, timeout_s: float = 0.5,
                  retry_after_s: float = 0.2, only: Iterable[str] | None = None) -> ConformanceReport:
    """Run a backend through the contract; see the module docstring for the checks.

    Args:
        spec_or_backend: a spec (``embedded``, ``scripted:answers.txt``, ``openai:MODEL``...) or a
            backend object already built (a loaded model is then not loaded twice; it is not
            closed). HTTP specs are pointed at the kit's loopback server.
        options: keyword arguments for ``make_backend`` (a spec's ``--option`` values).
        quick: 4 chats instead of 8 and fewer tokens.
        promises: what the backend promises (default: :func:`promises_for`).
        seed: the seed of every generation.
        timeout_s: the request timeout of the HTTP fault checks (the server hangs 8 times longer).
        retry_after_s: the ``Retry-After`` the server sends with its 429.
        only: run these checks (names from :data:`CHECKS`); the others are skipped as not selected.

    Raises:
        ValueError: a bad spec or option (nothing was checked).
        ImportError: the backend's optional dependencies are missing.
        BackendError: the backend could not be built.
    """
    options = dict(options or {})
    selected = tuple(CHECKS if only is None else only)
    unknown = sorted(set(selected) - set(CHECKS))
    if unknown:
        raise ValueError(f"only: unknown check{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                         f"checks: {', '.join(CHECKS)}")
    if timeout_s <= 0 or retry_after_s < 0:
        raise ValueError(f"timeout_s must be > 0 and retry_after_s >= 0, got {timeout_s} and {retry_after_s}")
    if isinstance(spec_or_backend, Backend):
        if options:
            raise ValueError("options are for a spec; a backend object is already built")
        backend, spec, owned = spec_or_backend, None, False
    elif isinstance(spec_or_backend, str):
        spec, backend, owned = spec_or_backend, None, True
        prefix, argument = check_backend_spec(spec)
    else:
        raise ValueError(f"spec_or_backend must be a spec string or a Backend, got {type(spec_or_backend).__name__}")

    key = "conformance-canary-" + secrets_module.token_hex(12)  # not key-shaped: only registration hides it
    server: FakeOpenAIServer | None = None
    http: _Http | None = None
    saved_env = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = key
    try:
        if backend is None and prefix in ("openai", "litellm"):
            server = _start_server(key, timeout_s, retry_after_s)
            http = _Http(server, _http_builder(prefix, argument, server, key, options), key, timeout_s, retry_after_s)
            backend = http.faulty()  # the contract checks and the fault checks share one backend
        elif backend is None:
            backend = make_backend(spec, **options)
        kit_promises = promises or promises_for(backend)
        if http is None and kit_promises.http is not None and hasattr(backend, "model"):
            # a built HTTP backend: its contract runs where it points, the faults on the loopback server
            server = _start_server(key, timeout_s, retry_after_s)
            http = _Http(server, _http_builder(kit_promises.http, backend.model, server, key, {}), key, timeout_s,
                         retry_after_s)
        return _run_all(backend, kit_promises, http, quick=quick, seed=seed, selected=selected)
    finally:
        if saved_env is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = saved_env
        if server is not None:
            server.stop()
        for built in {id(b): b for b in ([backend] if owned and backend is not None else []) +
                      (http.built if http else [])}.values():
            with contextlib.suppress(Exception):
                built.close()


def _run_all(backend: Backend, promises: Promises, http: _Http | None, *, quick: bool, seed: int,
             selected: tuple[str, ...]) -> ConformanceReport:
    kit = _Kit(backend, promises, quick=quick, seed=seed, batch_size=4 if quick else 8,
               pristine=copy.deepcopy(backend) if backend.order_dependent else None)
    report = ConformanceReport(backend.name)
    if http is not None:
        report.notes.append(f"HTTP faults and secrets checked against the kit's loopback server {http.server.url}")
    if promises.note:
        report.notes.append(f"{backend.name}: {promises.note}")
    with _capture_output() if http is not None else contextlib.nullcontext(lambda: "") as captured:
        checks: dict[str, Callable[[], str]] = {
            # async first: its event loop is closed before the backend's own loop starts (LiteLLM
            # leaves a logging task pending on any loop it moves away from)
            "async": lambda: _check_async(kit),
            "generate": lambda: _check_generate(kit),
            "seeds": lambda: _check_seeds(kit),
            "batching": lambda: _check_batching(kit),
            "score": lambda: _check_score(kit),
            "retry-429": lambda: _check_retry_429(kit, http),
            "retry-5xx": lambda: _check_retry_5xx(kit, http),
            "timeout": lambda: _check_timeout(kit, http),
            "malformed": lambda: _check_malformed(kit, http),
            "throughput": lambda: _check_throughput(kit),
            "secrets": lambda: _check_secrets(kit, http, captured),
        }
        results = {name: _run_check(name, body) if name in selected else
                   CheckResult(name, "skip", "not selected (--only)") for name, body in checks.items()}
    report.rows = [results[name] for name in CHECKS]
    report.measurements = dict(kit.measurements)
    return report


def _parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as YAML (numbers, booleans, lists)."""
    key, equals, raw = text.partition("=")
    if not equals or not key.strip():
        raise ValueError(f"--option expects key=value, got {text!r}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def main_check_backend(argv: list[str] | None = None) -> int:
    """``dilemmazoo check-backend SPEC``: print the report; 0 all pass, 1 a check failed, 2 bad spec."""
    parser = argparse.ArgumentParser(
        prog="dilemmazoo check-backend",
        description="Run a backend through the backend contract (generate, seeds, batching, async, score, "
                    "retries, timeouts, malformed answers, secrets) and measure its latency and throughput. "
                    "HTTP backends (openai:, litellm:) are pointed at a loopback server the kit starts.",
    )
    parser.add_argument("spec", help="a backend spec: embedded, hf:PATH, scripted:FILE, openai:MODEL, litellm:MODEL")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a keyword argument for the backend (value read as YAML); repeatable")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
    parser.add_argument("--quick", action="store_true", help="4 chats instead of 8, fewer tokens")
    parser.add_argument("--seed", type=int, default=7, help="the seed of every generation (default 7)")
    parser.add_argument("--timeout-s", type=float, default=0.5, help="request timeout of the HTTP fault checks")
    parser.add_argument("--only", metavar="CHECK,...", help=f"run only these checks: {', '.join(CHECKS)}")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        options = dict(_parse_option(item) for item in args.option)
        only = None if args.only is None else [name.strip() for name in args.only.split(",") if name.strip()]
        report = check_backend(args.spec, options=options, quick=args.quick, seed=args.seed, timeout_s=args.timeout_s,
                               only=only)
    except (ValueError, TypeError, ImportError, BackendError) as error:
        print(redact_text(f"error: cannot check {args.spec!r}: {error}"), file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - the traceback, with secrets removed
        print(redact_text(traceback.format_exc()), file=sys.stderr, end="")
        return 2
    print(report.text(), end="")
    if args.json:
        print(json.dumps(report.to_dict(), default=str))
    return 0 if report.passed else 1
