"""A backend that replays fixed answers: deterministic LLM agents for tests and teaching.

Spec ``scripted:PATH``. :class:`ScriptedBackend` hands out its answers in order, one per chat,
across calls, and starts again from the first after the last (it cycles). Prompts, seeds and
sampling arguments do not change what comes next; only the order of requests does.

File format (UTF-8 text):

- **Blocks.** If any line consists of ``---`` alone (surrounding spaces allowed), the file is a
  list of answers separated by such lines. An answer may span several lines; blank lines at the
  start and end of each answer are dropped, and empty answers are skipped::

      I will cooperate.
      Answer: C
      ---
      Answer: D

- **Lines.** Otherwise every non-blank line is one answer (trailing spaces are dropped)::

      Answer: C
      Answer: D

Scoring (``can_score = True``): ``score`` also takes the next answer for each chat, and an
option gets log-likelihood ``0.0`` (probability 1) if it equals that answer, ignoring case and
surrounding whitespace, and ``-inf`` otherwise -- the script is a "model" that only ever says
its answer. If no option matches, ``score`` raises :class:`BackendError` rather than
silently picking one, so a script meant for scoring must contain one of the options.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

from dilemmazoo.agents.backends import truncate_at_stop
from dilemmazoo.agents.backends.base import Backend, BackendError, Chat, Completion, GenerationParams

__all__ = ["ScriptedBackend", "parse_script"]

_SEPARATOR = re.compile(r"^[ \t]*---[ \t]*$", re.MULTILINE)


def parse_script(text: str) -> list[str]:
    """The answers in a script's text (see the module docstring for the two formats)."""
    if _SEPARATOR.search(text):
        return [_trim_blank_lines(block) for block in _SEPARATOR.split(text) if block.strip()]
    return [line.rstrip() for line in text.splitlines() if line.strip()]


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

    Token counts are whitespace-separated words (there is no tokenizer); latency and cost are 0.
    ``params.stop`` is honoured by truncation, ``max_tokens`` is not (a script says what it says).
    """

    can_score = True

    def __init__(self, source: str | Path | list[str], *, name: str | None = None):
        if isinstance(source, (str, Path)):
            path = Path(source)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as error:
                raise BackendError(f"cannot read scripted answers from {str(path)!r}: {error}") from error
            self.answers = parse_script(text)
            label = path.name
        else:
            self.answers = [str(answer) for answer in source]
            label = "list"
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
        """The next ``len(chats)`` answers, cut at the first stop string."""
        completions = []
        for chat, answer in zip(chats, self._take(len(chats))):
            text = truncate_at_stop(answer, params.stop)
            completions.append(
                Completion(
                    text=text,
                    prompt_tokens=sum(len(m.get("content", "").split()) for m in chat),
                    completion_tokens=len(text.split()),
                )
            )
        return completions

    def score(self, chats: list[Chat], options: list[list[str]]) -> list[list[float]]:
        """``0.0`` for the option equal to the next answer, ``-inf`` for the others."""
        if len(chats) != len(options):
            raise ValueError(f"score: {len(chats)} chats but {len(options)} option lists")
        scores = []
        for answer, opts in zip(self._take(len(chats)), options):
            wanted = answer.strip().casefold()
            row = [0.0 if option.strip().casefold() == wanted else float("-inf") for option in opts]
            if opts and 0.0 not in row:
                raise BackendError(f"{self.name}: scripted answer {answer!r} matches none of the options {opts}")
            scores.append(row)
        return scores
