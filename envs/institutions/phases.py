"""The answers a mechanism's phases ask for: design a contract or a mediator, approve proposals,
sign, and play the base game with the added action "delegate".

Source: Tewolde, Zhang, Guzman Piedrahita, Conitzer, Jin, "CoopEval" (arXiv 2604.15267, ICML
2026), the Contracting and Mediation mechanisms (``mechanisms/contracting.py`` and
``mechanisms/mediation.py`` at commit 8559e85). There every player designs a contract (an integer
``c(a)`` per base action) or a mediator (a base action for every number ``k = 1..N`` of
delegators), approves or not each of the ``N`` designs (``{"C1": true, ...}``), and, for a
contract, signs or refuses (``{"sign": true}``). These specs are the same questions as
:class:`~dilemmazoo.envs.base.ActionSpec` objects, so an LLM policy asks them, retries on a parse
error and falls back to the declared ``fallback`` (counted), and a scripted strategy recognises
them by type and reads the fields (the labels, the proposals, who proposed them).

Answers
-------
- :class:`ContractDesign`: a JSON object with one key per base option label (``{"A0": 0,
  "A1": -2}``), or ``{"rate": r, "constant": k}`` for a numeric action (``c(x) = r x + k``).
  Per-option values are int-cast as CoopEval's parser does: a number is truncated toward zero
  (``2.7 -> 2``, ``-2.7 -> -2``), a string of an integer is read (``"-1" -> -1``); booleans,
  ``null``, fractional strings (``"2.7"``, which Python's ``int`` refuses too) and anything else
  are errors. Values are bounded by ``|c| <= 10**12`` (:data:`CONTRACT_LIMIT`): CoopEval sets no
  bound, this one keeps every transfer exact in float64. Rates and constants are any finite
  numbers (or numeric strings), not cast. Fallback: all zeros / ``LinearContract(0, 0)``, a
  contract that moves nothing.
- :class:`MediatorDesign`: ``{"1": "A0", "2": "A1", ...}`` with every ``k = 1..N``; each value an
  option label (or, for numeric labels such as a claim "5", the number), never "delegate"; for a
  numeric action an amount in ``[low, high]``. Parsed to ``{k: option index}`` or ``{k: amount}``.
  Fallback: ``fallback_action`` for every ``k``.
- :class:`ApprovalBallot`: ``{"C1": true, "C2": false, ...}``: exactly the keys, JSON booleans
  only (``1``, ``"true"`` and ``null`` are errors, as CoopEval rejects non-booleans). Parsed to a
  tuple of bools. Fallback: approve nothing (all proposals then tie and a seeded draw picks one,
  :func:`dilemmazoo.envs.institutions.voting.approval_vote`).
- :class:`Signature`: a :class:`~dilemmazoo.envs.base.Choice` between ``sign`` (True) and
  ``refuse`` (False), answered ``Answer: sign``; CoopEval's ``{"sign": true}`` is read too when
  the reply has no ``Answer:`` line. Fallback: False (no contract without consent).
- :class:`WithDelegate`: the base game's spec plus the answer ``delegate`` (:data:`DELEGATE`).

Which JSON object (the spec's pitfall 5.5, "decide deliberately"): CoopEval reads the last JSON
object of the reply, so a trailing unrelated ``{...}`` fails a valid answer. Here the answer is the
*last object that names at least one expected key* (case and surrounding spaces ignored), nested
objects included (``{"contract": {"A0": 0, "A1": -2}}`` is read); objects naming none are skipped.
A malformed last attempt is not rescued by an earlier valid draft: its error is reported. Keys
are matched ignoring case and surrounding spaces; a key given twice, a missing key or an unknown
key is an error naming them. Every error is an :class:`~dilemmazoo.envs.base.ActionParseError`
written for the model; CoopEval re-asks 5 times and then stops the run, here the policy retries
and then plays the declared fallback, counted in the records.

This module is in the envs layer (it imports ``dilemmazoo.envs`` only), so the agents layer's
scripted strategies can recognise the specs; the mechanisms of :mod:`dilemmazoo.norms` ask them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from dilemmazoo.envs.base import (
    NUMBER,
    ActionParseError,
    ActionSpec,
    Choice,
    answer_line,
    check_answer_words,
    format_number,
    normalize_answer,
)
from dilemmazoo.envs.institutions.contracts import LinearContract

__all__ = [
    "CONTRACT_LIMIT",
    "DELEGATE",
    "ApprovalBallot",
    "ContractDesign",
    "JsonAnswer",
    "MediatorDesign",
    "Signature",
    "WithDelegate",
    "contract_text",
    "last_json_object",
    "mediator_text",
]

#: the action (and the answer text) of a seat that lets the mediator play for it
DELEGATE = "delegate"
#: the largest magnitude of a per-option contract value (module docstring)
CONTRACT_LIMIT = 10**12


# -- reading JSON ---------------------------------------------------------------------------------
class _Pairs(dict):
    """A decoded JSON object that remembers the keys it gave more than once."""

    def __init__(self, pairs: list[tuple[str, Any]]):
        super().__init__(pairs)
        seen: dict[str, int] = {}
        for key, _ in pairs:
            seen[key] = seen.get(key, 0) + 1
        self.duplicates = [key for key, count in seen.items() if count > 1]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


_DECODER = json.JSONDecoder(object_pairs_hook=_Pairs, parse_constant=_no_constant)


def _objects_from_the_end(text: str) -> Iterator[_Pairs]:
    start = text.rfind("{")
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):  # not JSON from here, NaN/Infinity, or nested too deep
            pass
        else:
            yield value
        start = text.rfind("{", 0, start)


def _fold(key: str) -> str:
    return key.strip().casefold()


def _quoted(keys: Sequence[str]) -> str:
    return ", ".join(json.dumps(k, ensure_ascii=False) for k in keys)


def last_json_object(text: str, keys: Sequence[str]) -> dict[str, Any]:
    """The answer object of a reply: the last JSON object naming at least one of ``keys``, with its
    entries renamed to the expected keys (module docstring: which object, key matching).

    Raises :class:`ActionParseError` when there is none, or when it repeats, misses or adds a key.
    """
    wanted = {_fold(k): k for k in keys}
    listed = _quoted(keys)
    answer = None
    for candidate in _objects_from_the_end(text or ""):
        if any(_fold(key) in wanted for key in candidate):
            answer = candidate
            break
    if answer is None:
        raise ActionParseError(f"No JSON object with the keys {listed} was found. End your reply with one.")
    if answer.duplicates:
        raise ActionParseError(f"The key(s) {_quoted(answer.duplicates)} appear more than once; use exactly {listed}.")
    found: dict[str, Any] = {}
    unknown = []
    for key, value in answer.items():
        name = wanted.get(_fold(key))
        if name is None:
            unknown.append(key)
        elif name in found:
            raise ActionParseError(f"The key {json.dumps(name)} is given twice; use exactly {listed}.")
        else:
            found[name] = value
    if unknown:
        raise ActionParseError(f"Unknown key(s) {_quoted(unknown)}; use exactly the keys {listed}.")
    missing = [k for k in keys if k not in found]
    if missing:
        raise ActionParseError(f"Missing key(s) {_quoted(missing)}; use exactly the keys {listed}.")
    return {k: found[k] for k in keys}


def _int_value(key: str, value: Any) -> int:
    """CoopEval's ``int()`` cast of a contract value (module docstring), bounded."""
    if isinstance(value, bool) or value is None:
        raise ActionParseError(f"The value for {json.dumps(key)} must be an integer, got {json.dumps(value)}.")
    if isinstance(value, Real):
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        number = int(value)
    else:
        raise ActionParseError(f"The value for {json.dumps(key)} must be an integer, got {json.dumps(value)}.")
    if abs(number) > CONTRACT_LIMIT:
        raise ActionParseError(f"The value for {json.dumps(key)} must be at most {CONTRACT_LIMIT} in size.")
    return number


def _real_value(key: str, value: Any) -> float:
    """A finite number, written as a JSON number or a numeric string (booleans are not numbers)."""
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        value = float(value.strip().replace(",", ""))
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ActionParseError(f"The value for {json.dumps(key)} must be a number, got {json.dumps(value)}.")
    return float(value) + 0.0


# -- describing designs ---------------------------------------------------------------------------
def contract_text(contract: Any, labels: Sequence[str] | None) -> str:
    """A contract in words: ``A0: 0, A1: -2`` per option, or ``c(x) = rate * x + constant``."""
    if isinstance(contract, LinearContract):
        return f"c(x) = {format_number(contract.rate)} * x + {format_number(contract.constant)}"
    names = labels if labels is not None else [f"A{i}" for i in range(len(contract))]
    return ", ".join(f"{name}: {int(value)}" for name, value in zip(names, contract))


def mediator_text(mediator: Any, labels: Sequence[str] | None) -> str:
    """A mediator in words: ``k=1: A1, k=2: A0`` (options by label, amounts as numbers)."""
    parts = []
    for k in sorted(mediator):
        action = mediator[k]
        parts.append(f"k={k}: {labels[action] if labels is not None else format_number(action)}")
    return ", ".join(parts)


# -- the specs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JsonAnswer(ActionSpec):
    """A phase answer written as one JSON object (no options to weigh): an LLM policy generates
    it, also in ``decision="distribution"``, with its retries and counted fallback."""


def _labels(labels: Any, name: str) -> tuple[str, ...] | None:
    if labels is None:
        return None
    labels = tuple(labels)
    if not labels or not all(isinstance(x, str) and x.strip() for x in labels) or len(set(map(_fold, labels))) != len(labels):
        raise ValueError(f"{name} must be distinct non-empty strings (case-insensitively), got {labels!r}")
    if _fold(DELEGATE) in map(_fold, labels):
        raise ValueError(f"{name} may not contain {DELEGATE!r}, the mediator's added action")
    return labels


@dataclass(frozen=True)
class ContractDesign(JsonAnswer):
    """Design a contract: an integer per base option (``labels``), or a linear contract
    ``{"rate": r, "constant": k}`` when ``numeric`` (module docstring for the parsing rules)."""

    instruction: str = ""
    fallback: Any = None
    labels: tuple[str, ...] | None = None
    numeric: bool = False

    def __post_init__(self) -> None:
        labels = _labels(self.labels, "ContractDesign.labels")
        object.__setattr__(self, "labels", labels)
        if self.numeric == (labels is not None):
            raise ValueError("ContractDesign needs labels (a finite action set) or numeric=True, not both")
        if self.fallback is None:
            object.__setattr__(self, "fallback", LinearContract(0.0, 0.0) if self.numeric else (0,) * len(labels))
        if not self.instruction:
            if self.numeric:
                text = ('Propose a linear contract: playing amount x is worth c(x) = rate * x + constant in total, '
                        'paid equally by the other players (negative: paid to them). End your reply with a JSON '
                        'object {"rate": <number>, "constant": <number>}.')
            else:
                example = ", ".join(f'"{label}": <integer>' for label in labels)
                text = ("Propose a contract: an integer for every action; the player who plays an action receives "
                        "that amount in total, paid equally by the other players (a negative amount is paid to "
                        f"them). End your reply with a JSON object {{{example}}}.")
            object.__setattr__(self, "instruction", text)

    def parse(self, text: str) -> Any:
        if self.numeric:
            found = last_json_object(text, ("rate", "constant"))
            return LinearContract(_real_value("rate", found["rate"]), _real_value("constant", found["constant"]))
        found = last_json_object(text, self.labels)
        return tuple(_int_value(label, found[label]) for label in self.labels)


@dataclass(frozen=True)
class MediatorDesign(JsonAnswer):
    """Design a mediator: for every number ``k = 1..n_seats`` of delegators, the base option
    (``labels``) or amount (``labels=None``: a number in ``[low, high]``) it plays for each of them."""

    instruction: str = ""
    fallback: Any = None
    n_seats: int = 2
    labels: tuple[str, ...] | None = None
    low: float = 0.0
    high: float = 1.0
    fallback_action: Any = 0

    def __post_init__(self) -> None:
        if isinstance(self.n_seats, bool) or not isinstance(self.n_seats, Integral) or self.n_seats < 1:
            raise ValueError(f"MediatorDesign.n_seats must be an integer >= 1, got {self.n_seats!r}")
        labels = _labels(self.labels, "MediatorDesign.labels")
        object.__setattr__(self, "labels", labels)
        if labels is None:
            if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
                raise ValueError(f"MediatorDesign needs finite low <= high, got {self.low!r}, {self.high!r}")
            if not self.low <= self.fallback_action <= self.high:
                raise ValueError(f"MediatorDesign.fallback_action must lie in [low, high], got {self.fallback_action!r}")
        elif not (isinstance(self.fallback_action, Integral) and 0 <= self.fallback_action < len(labels)):
            raise ValueError(f"MediatorDesign.fallback_action must be an option index, got {self.fallback_action!r}")
        if self.fallback is None:
            object.__setattr__(self, "fallback", {k: self.fallback_action for k in range(1, self.n_seats + 1)})
        if not self.instruction:
            what = (f"one of {', '.join(labels)}" if labels is not None
                    else f"an amount from {format_number(self.low)} to {format_number(self.high)}")
            example = ", ".join(f'"{k}": <action>' for k in range(1, self.n_seats + 1))
            text = (f"Design a mediator: for every number k of players who delegate to it (1 to {self.n_seats}), "
                    f"the action it plays for each of them, {what} ({DELEGATE} is not allowed). End your reply "
                    f"with a JSON object {{{example}}}.")
            object.__setattr__(self, "instruction", text)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(str(k) for k in range(1, self.n_seats + 1))

    def parse(self, text: str) -> Any:
        found = last_json_object(text, self.keys)
        return {int(k): self._action(k, value) for k, value in found.items()}

    def _action(self, key: str, value: Any) -> Any:
        if isinstance(value, str) and _fold(value) == DELEGATE:
            raise ActionParseError(f'The mediator cannot answer "{DELEGATE}" (k={key}); choose a base action.')
        if self.labels is None:
            amount = _real_value(key, value)
            if not self.low - 1e-9 <= amount <= self.high + 1e-9:
                raise ActionParseError(
                    f"The amount for k={key} must be from {format_number(self.low)} to {format_number(self.high)}, "
                    f"got {format_number(amount)}.")
            return min(max(amount, self.low), self.high)
        folded = [_fold(label) for label in self.labels]
        if isinstance(value, str) and _fold(value) in folded:
            return folded.index(_fold(value))
        if isinstance(value, Real) and not isinstance(value, bool):  # a numeric label ("5") written as 5
            for index, label in enumerate(self.labels):
                if NUMBER.fullmatch(label.strip()) and float(label) == value:
                    return index
        raise ActionParseError(f"The action for k={key} must be one of {', '.join(self.labels)}, got {json.dumps(value)}.")


@dataclass(frozen=True)
class ApprovalBallot(JsonAnswer):
    """Approve or not each proposal: ``{"C1": true, "C2": false, ...}`` with exactly ``keys``.
    ``proposals[i]`` is the design behind ``keys[i]``, proposed by seat ``proposers[i]``."""

    instruction: str = ""
    fallback: Any = None
    keys: tuple[str, ...] = ()
    proposals: tuple[Any, ...] = ()
    proposers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        keys = tuple(self.keys)
        if not keys or len(set(map(_fold, keys))) != len(keys):
            raise ValueError(f"ApprovalBallot.keys must be distinct and at least one, got {keys!r}")
        if len(self.proposals) != len(keys) or len(self.proposers) != len(keys):
            raise ValueError("ApprovalBallot needs one proposal and one proposer per key")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "proposals", tuple(self.proposals))
        object.__setattr__(self, "proposers", tuple(self.proposers))
        if self.fallback is None:
            object.__setattr__(self, "fallback", (False,) * len(keys))
        if not self.instruction:
            example = ", ".join(f'"{k}": <true or false>' for k in keys)
            text = ("Approve or not each proposal (approve as many as you like; the most approved one is chosen, "
                    f"ties drawn at random). End your reply with a JSON object {{{example}}}.")
            object.__setattr__(self, "instruction", text)

    def parse(self, text: str) -> tuple[bool, ...]:
        found = last_json_object(text, self.keys)
        for key, value in found.items():
            if not isinstance(value, bool):
                raise ActionParseError(f"The value for {json.dumps(key)} must be true or false, got {json.dumps(value)}.")
        return tuple(found[k] for k in self.keys)


@dataclass(frozen=True)
class Signature(Choice):
    """Sign (True) or refuse (False) the chosen ``contract``, proposed by seat ``proposer``."""

    instruction: str = ""
    fallback: Any = False
    labels: Sequence[str] = ("sign", "refuse")
    actions: Sequence[Any] = (True, False)
    contract: Any = None
    proposer: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.instruction:
            object.__setattr__(self, "instruction", "Sign the contract or refuse it (it is active only if every "
                                                    "player signs). End your reply with 'Answer: sign' or "
                                                    "'Answer: refuse'.")

    def parse(self, text: str) -> Any:
        try:
            return super().parse(text)
        except ActionParseError as error:
            if _ANSWER_WORD.search(text or ""):
                raise
            try:  # CoopEval's form, {"sign": true}, when the reply has no Answer line
                found = last_json_object(text, ("sign",))
            except ActionParseError:
                raise error from None
            if not isinstance(found["sign"], bool):
                raise ActionParseError(f'The value for "sign" must be true or false, got {json.dumps(found["sign"])}.')
            return found["sign"]


_ANSWER_WORD = re.compile(r"answer[\s*]*[:=]", re.IGNORECASE)
_DELEGATE_WORD = re.compile(r"\bdelegat(?:e|es|ed|ing|ion)\b", re.IGNORECASE)


@dataclass(frozen=True)
class WithDelegate(ActionSpec):
    """The base game's spec ``base`` plus the answer ``delegate`` (:data:`DELEGATE`), which lets
    the mediator play for this seat. With a Choice base the options are the base options and
    ``Answer: delegate`` last; a numeric base has no options."""

    instruction: str = ""
    fallback: Any = None
    base: ActionSpec | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.base, ActionSpec) or isinstance(self.base, WithDelegate):
            raise ValueError(f"WithDelegate.base must be a base game's ActionSpec, got {self.base!r}")
        if self.fallback is None:
            object.__setattr__(self, "fallback", self.base.fallback)
        if not self.instruction:
            object.__setattr__(self, "instruction", f"{self.base.instruction} Or answer 'Answer: {DELEGATE}' to let "
                                                    "the chosen mediator play for you.")

    def parse(self, text: str) -> Any:
        content = answer_line(normalize_answer(text or ""))
        if not _DELEGATE_WORD.search(content):
            return self.base.parse(text)
        rest = _DELEGATE_WORD.sub(" ", content)
        labels = getattr(self.base, "labels", ()) or ()
        named = [label for label in labels if re.search(rf"\b{re.escape(label)}\b", rest, re.IGNORECASE)]
        if named or NUMBER.search(rest):
            raise ActionParseError(f"Answer either '{DELEGATE}' or an action of the game, not both.")
        check_answer_words(rest)
        return DELEGATE

    def options(self) -> list[str] | None:
        base = self.base.options()
        return None if base is None else [*base, f"Answer: {DELEGATE}"]

    def action_for_option(self, index: int) -> Any:
        base = self.base.options()
        if base is not None and index == len(base):
            return DELEGATE
        return self.base.action_for_option(index)
