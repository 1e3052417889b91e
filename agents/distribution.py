"""Answers as distributions: read a probability per option from a reply, and sample from it.

CoopEval (Tewolde et al., 2026, arXiv 2604.15267; ``games/base.py`` at commit 8559e85) asks every
decision as a mixed strategy: a JSON object with exactly one key per option and integer
percentages in [0, 100] that sum to 100; the action is drawn from it and the other players see
only the drawn action. :class:`~dilemmazoo.agents.llm.LLMPolicy` does the same in
``decision="distribution"``; this module holds the pure parts.

Reading a reply (:func:`parse_distribution`):

- **Which object.** Every JSON object in the reply is found (nested ones too, in order of where
  they start). The answer is the *last object that names at least one option* (a key equal to
  an option, ignoring case and surrounding spaces). CoopEval reads the last JSON object of all,
  so a trailing unrelated ``{...}`` ("my confidence: {"level": "high"}") fails a valid answer
  (the spec's pitfall 5.5): objects that name no option are not answers and are skipped. An
  earlier valid draft does not rescue a malformed last attempt: the last attempt is what the
  model finally said, so its error is reported.
- **Keys.** Exactly the options, each once: a missing option, an unknown key or a key given
  twice (JSON allows it and keeps the last) is an error naming them. Keys match the option
  labels ignoring case and surrounding spaces, when that leaves no two options alike.
- **Values.** Numbers only: ``true``/``false`` (which Python would read as 1/0), strings
  (``"60"``, ``"60%"``), ``null``, ``NaN`` and ``Infinity`` are errors. With ``whole=True`` (the
  default, as CoopEval and the prompt ask) each is a whole number from 0 to 100; a whole float
  (``60.0``) is the same number and is accepted, a fractional one (``33.3``) is not: with
  three options 33.3/33.3/33.4 would need a tolerance on the sum, and whole percents keep
  the check exact. With ``whole=False`` any number in [0, 100] is accepted and the sum may miss
  100 by ``1e-6``.
- **Sum.** Exactly 100 (percentages, never probabilities summing to 1: ``{"A0": 1, "A1": 0}``
  would be read both ways).

Every error is an :class:`~dilemmazoo.envs.base.ActionParseError` whose message tells the model
what to fix; the policy sends it back (retry), then uses the world's fallback, counted.

Sampling (:func:`sample_index`): one uniform draw ``u`` from the given generator, and the
option ``i`` with ``W_{i-1} <= u * W_n < W_i`` for the cumulative weights ``W``: an option with
weight 0 is never drawn, and the same generator state draws the same option.

Log-likelihoods as a distribution (:func:`softmax`): ``p_i = exp(l_i) / sum_j exp(l_j)``, the
model's own probabilities renormalised over the options (computed with the maximum subtracted).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from dilemmazoo.envs.base import ActionParseError

__all__ = [
    "JsonObject",
    "distribution_record",
    "find_json_objects",
    "parse_distribution",
    "sample_index",
    "softmax",
]

#: how far the sum may miss 100 with ``whole=False``
SUM_TOLERANCE = 1e-6


class JsonObject(dict):
    """A decoded JSON object, with the keys it gave more than once (JSON allows it; ``dict`` keeps the last)."""

    def __init__(self, pairs: list[tuple[str, Any]]):
        super().__init__(pairs)
        counts: dict[str, int] = {}
        for key, _ in pairs:
            counts[key] = counts.get(key, 0) + 1
        self.duplicates = [key for key, count in counts.items() if count > 1]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


_DECODER = json.JSONDecoder(object_pairs_hook=JsonObject, parse_constant=_no_constants)


def find_json_objects(text: str) -> list[JsonObject]:
    """Every JSON object in ``text``, nested ones included, in the order they start.

    ``NaN`` and ``Infinity`` (which Python's json reads) make an object invalid; text that is not
    JSON, or JSON nested deeper than Python's recursion limit, is skipped.
    """
    return list(reversed(list(_objects_from_the_end(text))))


def _objects_from_the_end(text: str) -> Iterator[JsonObject]:
    """The JSON objects of ``text`` from the one starting last to the one starting first, decoded
    lazily: the answer is usually at the end, so a reader that stops at it decodes little."""
    start = text.rfind("{")
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):  # not JSON from here (or NaN/Infinity), or nested too deep
            pass
        else:
            yield value  # it starts with "{": an object
        start = text.rfind("{", 0, start)


def _fold(key: str) -> str:
    return key.strip().casefold()


def _key_matcher(options: Sequence[str]) -> dict[str, str]:
    """Written key -> option: exact, and folded (case, spaces) where no two options fold alike."""
    folded: dict[str, list[str]] = {}
    for option in options:
        folded.setdefault(_fold(option), []).append(option)
    return {_fold(option): option for option in options if len(folded[_fold(option)]) == 1}


def _quoted(keys: Sequence[str]) -> str:
    return ", ".join(json.dumps(k, ensure_ascii=False) for k in keys)


def parse_distribution(text: str, options: Sequence[str], *, whole: bool = True) -> dict[str, float]:
    """The percentages a reply gives each option, keyed by the option, in the options' order.

    Args:
        text: the model's reply.
        options: the option labels, which are the JSON keys asked for (distinct).
        whole: percentages must be whole numbers (module docstring).

    Returns:
        ``{option: percent}``; the percents are numbers in [0, 100] summing to 100.

    Raises:
        ActionParseError: with a message for the model (module docstring lists the rules).
        ValueError: ``options`` empty or not distinct.
    """
    options = list(options)
    if not options or len(set(options)) != len(options):
        raise ValueError(f"options must be distinct and at least one, got {options}")
    exact = set(options)
    folded = _key_matcher(options)

    def option_of(key: str) -> str | None:
        return key if key in exact else folded.get(_fold(key))

    wanted = _quoted(options)
    answer = None
    for candidate in _objects_from_the_end(text or ""):
        if any(option_of(key) is not None for key in candidate):
            answer = candidate
            break
    if answer is None:
        raise ActionParseError(
            f"No JSON object with the options as keys was found. End your reply with a JSON object with exactly "
            f"the keys {wanted} and a percentage for each.")
    if answer.duplicates:
        several = len(answer.duplicates) > 1
        raise ActionParseError(f"The key{'s' if several else ''} {_quoted(answer.duplicates)} "
                               f"appear{'' if several else 's'} more than once; give each option once: {wanted}.")
    percents: dict[str, float] = {}
    unknown = []
    for key, value in answer.items():
        option = option_of(key)
        if option is None:
            unknown.append(key)
        elif option in percents:  # two spellings of one option ("A0" and "a0")
            raise ActionParseError(f"The option {json.dumps(option)} is given twice; give each option once: {wanted}.")
        else:
            percents[option] = value
    if unknown:
        raise ActionParseError(f"Unknown key{'s' if len(unknown) > 1 else ''} {_quoted(unknown)}; "
                               f"use exactly the keys {wanted}.")
    missing = [option for option in options if option not in percents]
    if missing:
        raise ActionParseError(f"Missing key{'s' if len(missing) > 1 else ''} {_quoted(missing)}; "
                               f"give a percentage for every option: {wanted}.")
    what = "a whole number" if whole else "a number"
    result: dict[str, float] = {}
    for option in options:
        value = percents[option]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ActionParseError(f"The value for {json.dumps(option)} must be {what} from 0 to 100 "
                                   f"(a percentage, no quotes or % sign), got {json.dumps(value)}.")
        if whole and value != int(value):
            raise ActionParseError(f"The value for {json.dumps(option)} must be a whole number from 0 to 100, "
                                   f"got {value:g}.")
        if not 0 <= value <= 100:
            raise ActionParseError(f"The value for {json.dumps(option)} must be from 0 to 100, got {value:g}.")
        result[option] = int(value) if whole else float(value)
    total = sum(result.values())
    off = total != 100 if whole else abs(total - 100) > SUM_TOLERANCE
    if off:
        raise ActionParseError(f"The percentages must sum to 100; yours sum to {total:g}.")
    return result


def sample_index(weights: Sequence[float] | np.ndarray, rng: np.random.Generator) -> int:
    """An index drawn with probability ``weights[i] / sum(weights)``, from one ``rng.random()``.

    Raises:
        ValueError: ``weights`` empty, negative, not finite, or all zero.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"weights must be a non-empty 1-d sequence, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero, got {w.tolist()}")
    cumulative = np.cumsum(w)
    u = rng.random() * cumulative[-1]
    # side="right": an option of weight 0 has an empty interval and is never drawn
    return int(min(np.searchsorted(cumulative, u, side="right"), w.size - 1))


def softmax(log_likelihoods: Sequence[float] | np.ndarray) -> np.ndarray:
    """``exp(l_i) / sum_j exp(l_j)``; ``-inf`` entries get 0.

    Raises:
        ValueError: empty, ``nan`` or ``+inf`` entries, or every entry ``-inf``.
    """
    logp = np.asarray(log_likelihoods, dtype=float)
    if logp.ndim != 1 or logp.size == 0:
        raise ValueError(f"log_likelihoods must be a non-empty 1-d sequence, got shape {logp.shape}")
    if np.any(np.isnan(logp)) or np.any(logp == np.inf) or not np.any(np.isfinite(logp)):
        raise ValueError(f"log_likelihoods must be finite or -inf, and not all -inf, got {logp.tolist()}")
    z = np.exp(logp - logp.max())
    return z / z.sum()


def distribution_record(options: Sequence[str], weights: Sequence[float] | np.ndarray) -> dict[str, float]:
    """``{option: probability}`` for the records: the weights divided by their sum, in option order."""
    w = np.asarray(weights, dtype=float)
    if len(options) != w.size:
        raise ValueError(f"options and weights differ in length: {len(options)} and {w.size}")
    total = float(w.sum())
    return {str(option): float(value) / total for option, value in zip(options, w)}

