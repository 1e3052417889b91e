"""The ``echo`` backend: every chat is answered with one configured text.

Spec ``echo:TEXT`` (the entry point's name is the prefix; the text after the first colon is the
constructor's positional ``answer``), e.g. ``backend: "echo:Answer: Heads"``. It keeps the backend
contract (:mod:`dilemmazoo.agents.backends.base`) as a model would: one completion per chat,
never more than ``params.max_tokens`` tokens (whitespace-separated words; a cut answer is flagged
``truncated``), cut before the first of ``params.stop``, token counts in words, no cost.
"""

from __future__ import annotations

import re

from dilemmazoo.agents.backends.base import Backend, Chat, Completion, GenerationParams, truncate_at_stop

__all__ = ["EchoBackend"]

_WORD = re.compile(r"\S+")


class EchoBackend(Backend):
    """Answers every chat with the same configured text (an example plugin; deterministic)."""

    def __init__(self, answer: str, *, name: str | None = None):
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError(f"the echo backend needs a non-empty answer, as in 'echo:Answer: C'; got {answer!r}")
        self.answer = answer
        self.name = name or f"echo:{answer}"

    def generate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        text = truncate_at_stop(self.answer, params.stop)
        words = list(_WORD.finditer(text))
        truncated = len(words) > params.max_tokens
        if truncated:
            text = text[: words[params.max_tokens - 1].end()] if params.max_tokens > 0 else ""
        kept = min(len(words), params.max_tokens)
        return [
            Completion(
                text=text,
                prompt_tokens=sum(len(_WORD.findall(message.get("content", ""))) for message in chat),
                completion_tokens=kept,
                truncated=truncated,
            )
            for chat in chats
        ]
