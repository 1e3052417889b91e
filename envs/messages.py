"""Messages as actions: the code-point encoding and the message spec the talking worlds share.

Worlds where players talk (``dilemmazoo/trust-split-v0``, ``dilemmazoo/commons-v0``) keep one
fixed action space, so a message travels as a fixed-length array rather than a string:

- **Encoding** (:func:`encode_message` / :func:`decode_message`): a message of at most
  ``max_chars`` characters is a ``Box(0, 0x10FFFF, (max_chars,), int32)`` of Unicode code
  points, padded with 0 (:func:`message_space`). A gymnasium ``Text`` space is not used
  because it only holds a fixed character set. The NUL character cannot be sent (it is the
  padding); a surrogate code point reads as U+FFFD.
- **Reading an action** (:func:`read_message`): a world accepts a ``str`` or such an array and
  gets the text; an array of the wrong shape or dtype, a value outside the code points, or a
  text over the limit is a ``ValueError`` naming the player.
- **Answer grammar** (:class:`BoundedMessage`): the text after the last ``Answer:`` (or the
  whole reply without one), as written, non-empty and at most ``max_chars`` characters; an
  over-long message is an :class:`~dilemmazoo.envs.base.ActionParseError` (the model retries),
  never truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionParseError, Message

__all__ = ["MAX_CODE_POINT", "BoundedMessage", "decode_message", "encode_message", "message_space", "read_message"]

MAX_CODE_POINT = 0x10FFFF


def message_space(max_chars: int) -> spaces.Box:
    """The space of a message of at most ``max_chars`` characters: code points padded with 0."""
    return spaces.Box(0, MAX_CODE_POINT, (max_chars,), np.int32)


def encode_message(text: str, max_chars: int) -> np.ndarray:
    """``text`` as ``max_chars`` code points (int32), padded with 0.

    Raises ``ValueError`` for a text over ``max_chars`` characters or holding NUL."""
    if not isinstance(text, str):
        raise ValueError(f"a message must be a str, got {type(text).__name__}")
    if len(text) > max_chars:
        raise ValueError(f"the message has {len(text)} characters; the limit is {max_chars}")
    if "\x00" in text:
        raise ValueError("a message cannot hold the NUL character")
    codes = np.zeros(max_chars, dtype=np.int32)
    codes[: len(text)] = [ord(c) for c in text]
    return codes


def decode_message(codes: Any) -> str:
    """The text of a code-point array: up to the first 0; surrogates read as U+FFFD."""
    chars = []
    for code in np.asarray(codes).reshape(-1).tolist():
        if code == 0:
            break
        chars.append("\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code))
    return "".join(chars)


def read_message(agent: str, message: Any, max_chars: int) -> str:
    """The text ``agent`` sends as ``message``: a ``str``, or ``max_chars`` code points.

    A ``str`` is checked as :func:`encode_message` checks it; an array must have the shape
    ``(max_chars,)``, an integer dtype and values within the code points."""
    if isinstance(message, str):
        return decode_message(encode_message(message, max_chars))
    codes = np.asarray(message)
    if codes.dtype.kind not in "iu" or codes.shape != (max_chars,):
        raise ValueError(
            f"{agent}'s message must be {max_chars} integer code points (encode_message), got "
            f"shape {codes.shape} and dtype {codes.dtype}; a longer message is over the limit"
        )
    if codes.min() < 0 or codes.max() > MAX_CODE_POINT:
        raise ValueError(f"{agent}'s message holds values outside the code points 0..{MAX_CODE_POINT}")
    return decode_message(codes)


@dataclass(frozen=True)
class BoundedMessage(Message):
    """A :class:`~dilemmazoo.envs.base.Message` that rejects, rather than truncates, a message
    over ``max_chars``; a NUL character in the answer is dropped (it cannot be encoded)."""

    def parse(self, text: str) -> Any:
        content = self.content(text)
        if len(content) > self.max_chars:
            raise ActionParseError(
                f"The message has {len(content)} characters; the limit is {self.max_chars}. Send a shorter message."
            )
        return self.make_action(content.replace("\x00", ""))
