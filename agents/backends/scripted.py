"""A backend that replays fixed answers: deterministic LLM agents for tests and teaching.

Spec ``scripted:PATH``. :class:`ScriptedBackend` hands out its answers in order, one per chat,
across calls, and starts again from the first after the last (it cycles). Prompts, seeds and
sampling arguments do not change what comes next; only the order of requests does.

File format (UTF-8 text):

- **Blocks.** If any line consists of ``---`` alone (surrounding spaces allowed), the file is a
  list of answers separated by such lines. An answer may span several lines; blank lines at the
  start and end of each answer are dropped. Every block between two separators is an answer,
  also a blank one: a block of spaces only is passed on as those spaces, an empty block as
  ``""`` (a model may say nothing; the agent's parser then counts the failure). Only a blank
  stretch before the first separator or after the last is no answer (the file's edges)::

      I will cooperate.
      Answer: C
      ---
      Answer: D

- **Lines.** Otherwise every non-empty line is one answer: trailing spaces are dropped, and a
  line of spaces or tabs only is passed on unchanged as a whitespace-only answer; empty lines
  are skipped::

      Answer: C
      Answer: D

Scoring (``can_score = True``): ``score`` also takes the next answer for each chat, and an
option gets log-likelihood ``0.0`` (probability 1) if it equals that answer, ignoring case and
surrounding whitespace, and ``-inf`` otherwise -- the script is a "model" that only ever says
its answer. If no option matches, ``score`` raises :class:`BackendError` rather than
silently picking one, so a script meant for scoring must contain one of the options.

Tokens are whitespace-separated words: ``max_tokens`` keeps an answer's first that many words
and flags the completion ``truncated`` (see :class:`ScriptedBackend`).
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

from dilemmazoo.agents.backends.base import (
    Backend,
    BackendError,
    Chat,
    Completion,
    GenerationParams,
    OptionScores,
    truncate_at_stop,
)

__all__ = ["ScriptedBackend", "first_words", "parse_script"]

_SEPARATOR = re.compile(r"^[ \t]*---[ \t]*$", re.MULTILINE)


def parse_script(text: str) -> list[str]:
    """The answers in a script's text (see the module docstring for the two formats)."""
    if _SEPARATOR.search(text):
        blocks = _SEPARATOR.split(text)
        last = len(blocks) - 1
        return [
            _block_answer(block) for k, block in enumerate(blocks) if block.strip() or 0 < k < last
        ]
    return [line if not line.strip() else line.rstrip() for line in text.splitlines() if line]


def _block_answer(block: str) -> str:
    if not block.strip():  # a whitespace-only answer: keep its spaces, not the separators' line breaks
        return block.strip("\r\n")
    return _trim_blank_lines(block)


def _trim_blank_lines(block: str) -> str:
    lines = [line.rstrip() for line in block.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


class ScriptedBackend(Backend):
    """Replays ``answers`` in order, cycling; one answer per chat.

    Args:
        source: a path to a script file, or the answers themselves as a list of strings.
        name: identity in records and cache keys; defaults to ``scripted:<file or list>@<hash>``
            so that editing the script changes the cache key.
        prefill: read the answers as continuations of a prefilled assistant message
            (``can_prefill``; see the module docstring).

    Tokens are whitespace-separated words (there is no tokenizer): token counts count them,
    and ``params.max_tokens`` keeps the first that many words of an answer (the text up to the
    end of the last word kept), as a model stops at its token limit; a cut answer is flagged
    ``Completion.truncated``, as every backend flags it. ``params.stop`` is honoured by
    truncation, before the limit. Latency and cost are 0.

    ``order_dependent``: what comes next depends on how many chats came before, not on what is
    asked, so the runner never puts this backend behind the answer cache (a cache hit would not
    move the script on; see :func:`dilemmazoo.experiments.runner.build_backend`). Each run
    builds its own backend, so every run starts from the first answer.
    """

    can_score = True
    order_dependent = True

    def __init__(self, source: str | Path | list[str], *, name: str | None = None, prefill: bool = False):
        if isinstance(source, (str, Path)):
            path = Path(source)
            try:
                raw = path.read_bytes()
                text = raw.decode("utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise BackendError(f"cannot read scripted answers from {str(path)!r}: {error}") from error
            self.answers = parse_script(text)
            label = path.name
            self.source_label = str(path)
            self.source_sha256 = hashlib.sha256(raw).hexdigest()
        else:
            self.answers = [str(answer) for answer in source]
            label = "list"
            self.source_label = "list"
            self.source_sha256 = hashlib.sha256("\x1e".join(self.answers).encode()).hexdigest()
        self.can_prefill = prefill
        if not self.answers:
            raise ValueError(f"scripted backend {label!r} has no answers")
        digest = hashlib.sha256("\x1e".join(self.answers).encode()).hexdigest()[:8]
        self.name = name or f"scripted:{label}@{digest}"
        self._position = 0
        self._lock = threading.Lock()  # the async forms run in worker threads

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}  # locks do not pickle

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def provenance(self) -> dict:
        """The script's path and the sha256 of its bytes (see the module docstring)."""
        return {"model": self.source_label, "revision": None, "weights_sha256": self.source_sha256, "base_url": None}

    @property
    def position(self) -> int:
        """Index of the answer the next chat will get."""
        return self._position

    def reset(self) -> None:
        """Start again from the first answer."""
        with self._lock:
            self._position = 0

    def _take(self, count: int) -> list[str]:
        with self._lock:
            taken = [self.answers[(self._position + k) % len(self.answers)] for k in range(count)]
            self._position = (self._position + count) % len(self.answers)
        return taken

    def generate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        """The next ``len(chats)`` answers, cut at the first stop string and after ``max_tokens`` words."""
        completions = []
        for chat, answer in zip(chats, self._take(len(chats))):
            text, cut = first_words(truncate_at_stop(answer, params.stop), params.max_tokens)
            completions.append(
                Completion(
                    text=text,
                    prompt_tokens=_words(chat),
                    completion_tokens=len(text.split()),
                    truncated=cut,
                )
            )
        return completions

    def score(self, chats: list[Chat], options: list[list[str]]) -> list[OptionScores]:
        """``0.0`` for the option equal to the next answer, ``-inf`` for the others.

        Tokens are counted as words: the chat's for the prompt, all the options' for the options.
        """
        if len(chats) != len(options):
            raise ValueError(f"score: {len(chats)} chats but {len(options)} option lists")
        scores = []
        for chat, answer, opts in zip(chats, self._take(len(chats)), options):
            wanted = answer.strip().casefold()
            row = [0.0 if option.strip().casefold() == wanted else float("-inf") for option in opts]
            if opts and 0.0 not in row:
                raise BackendError(f"{self.name}: scripted answer {answer!r} matches none of the options {opts}")
            scores.append(OptionScores(row, prompt_tokens=_words(chat),
                                       option_tokens=sum(len(option.split()) for option in opts)))
        return scores


def first_words(text: str, limit: int) -> tuple[str, bool]:
    """``text`` up to the end of its ``limit``-th whitespace-separated word (the scripted backend's
    tokens), and whether anything was cut; the spacing between the words kept stays as it was."""
    words = list(re.finditer(r"\S+", text))
    if len(words) <= limit:
        return text, False
    return (text[: words[limit - 1].end()] if limit > 0 else ""), True


def _words(chat: Chat) -> int:
    return sum(len(m.get("content", "").split()) for m in chat)
