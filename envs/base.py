"""The world contract: what every dilemmazoo world promises.

A world is a ``pettingzoo.ParallelEnv`` (1.27 API) whose numeric observations are numpy
arrays or ``Dict``s of them. Every world also speaks to language agents from the same state:

- ``rules(agent) -> str``: the game as told to that player (nothing hidden leaked);
- ``describe(agent) -> str``: what the agent observes now, in words;
- ``action_spec(agent) -> ActionSpec``: what must be answered this step, with ``parse(text)``
  that returns a valid action or raises :class:`ActionParseError` with a message a model can
  use to retry, and the ``fallback`` action the world declares for answers that never parse;
- ``deciders() -> list[str]``: the agents that must decide this step (in turn-taking rounds
  the others receive ``idle_action(agent)``, which the world ignores).

Multi-phase rounds (talk, then act) are successive steps whose ``ActionSpec`` changes, while
the action space stays one fixed space.
"""

from __future__ import annotations

import math
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pettingzoo import ParallelEnv

__all__ = [
    "ActionParseError",
    "ActionSpec",
    "Amount",
    "Choice",
    "Message",
    "LanguageWorld",
    "MOVE_WORDS",
    "NUMBER",
    "PERCENT",
    "answer_line",
    "check_answer_words",
    "format_number",
    "move_family",
    "normalize_answer",
    "plain_numbers",
    "whole_number_action",
]


class ActionParseError(ValueError):
    """An answer that cannot become an action. The message is written for the model."""


# Also accepts markdown bold around the keyword ("**Answer**: 5"), a common model habit. One
# character class between keyword and colon: "\s*\**\s*" backtracks quadratically on a long
# run of spaces, and a 100 KB answer then takes minutes. The content may be empty, so that an
# empty last "Answer:" is an empty answer rather than letting an earlier one count.
_ANSWER = re.compile(r"answer[\s*]*[:=]\s*(.*)", re.IGNORECASE)


def answer_line(text: str) -> str:
    """The content after the last ``Answer:`` in ``text``.

    Raises :class:`ActionParseError` when there is none, so that every spec shares one
    wording for the most common failure.
    """
    matches = _ANSWER.findall(text or "")
    if not matches:
        raise ActionParseError("No line starting with 'Answer:' was found.")
    return matches[-1].strip().strip("*").strip()


# Format characters that are not dropped: bidi embeddings, overrides and isolates change what a
# reader sees ("\u202e01" shows "10"), invisible operators stand for one ("2\u20623" is 2 x 3).
_KEPT_FORMAT = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2061\u2062\u2063\u2064")
# Dashes and the minus sign read as "-", so "\u22125" is negative, never 5.
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"), "-")


def normalize_answer(text: str) -> str:
    """``text`` as Choice and Amount read it.

    Format characters (zero-width spaces and joiners, direction marks, BOM, soft hyphen) are
    dropped, then each character is NFKC-folded, so "\uff21nswer\uff1a \uff15" reads "Answer: 5".
    Superscripts, vulgar fractions and circled digits (category No) are not folded, because
    "10\u00b2" would become "102": Amount rejects them. Other scripts' decimal digits ("\u0665")
    are digits already.
    """
    if text.isascii():
        return text
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cf" and char not in _KEPT_FORMAT:
            continue
        kept.append(char if category == "No" else unicodedata.normalize("NFKC", char))
    return "".join(kept).translate(_DASHES)


def _quote(text: str, limit: int = 60) -> str:
    """``text`` for an error message, shortened: errors go back to the model in the retry."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


# Commas only as thousands separators ("1,000.5"), so "2,5" is two numbers, never 25.
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+")
PERCENT = re.compile(r"[%\u066a\u2030\u2031]|\bper\s?cent|\bpct\b", re.IGNORECASE)


def plain_numbers(text: str, low: float, high: float) -> list[str]:
    """The number tokens (:data:`NUMBER`) of a normalized answer line.

    Raises :class:`ActionParseError` for a percentage or for characters that look like part of
    a number but are not read as one (superscripts, fractions, circled digits, bidi controls).
    """
    if PERCENT.search(text):
        raise ActionParseError(f"Give the amount as a number from {low:g} to {high:g}, not as a percentage.")
    odd = "".join(c for c in text if c in _KEPT_FORMAT or unicodedata.category(c) == "No")
    if odd:
        raise ActionParseError(
            f"Write the amount as a plain number; the answer contains {_quote(odd)}, which is not read as part of one."
        )
    return NUMBER.findall(text)


def _parse_number(text: str, low: float, high: float) -> float:
    found = plain_numbers(text, low, high)
    if not found:
        raise ActionParseError(f"No number found in the answer {_quote(text)}.")
    if len(found) > 1:
        raise ActionParseError(f"Expected one number in the answer, found {len(found)}: {_quote(text)}.")
    value = float(found[0].replace(",", "")) + 0.0  # "-0" is 0.0, not -0.0
    if not math.isfinite(value):
        raise ActionParseError(f"The number in {_quote(text)} is not finite.")
    return value


# The moves of every dilemmazoo world, each with the forms a model writes it in (verb forms and
# the action noun). An answer line may name only the move it chooses (and the words a spec
# allows, e.g. "propose" when proposing): "Refuse, 5" in a game without refusal is no donation.
MOVE_WORDS: dict[str, str] = {
    "cooperate": r"cooperat(?:e|es|ed|ing)",  # not "cooperation": a topic, not a move
    "defect": r"defect(?:s|ed|ing|ion)?",
    "donate": r"donat(?:e|es|ed|ing|ion|ions)",
    "punish": r"punish(?:es|ed|ing|ment|ments)?",
    "refuse": r"refus(?:e|es|ed|ing|al)",
    "abstain": r"abstain(?:s|ed|ing)?|abstention",
    "harvest": r"harvest(?:s|ed|ing)?",
    "split": r"split(?:s|ting)?",
    "accept": r"accept(?:s|ed|ing)?",
    "reject": r"reject(?:s|ed|ing|ion)?",
    "propose": r"propos(?:e|es|ed|ing|al|als)",
    "vote": r"vot(?:e|es|ed|ing)",
    "steal": r"steal(?:s|ing)?|stole|stolen",
    "betray": r"betray(?:s|ed|ing|al)?",
}
_MOVE_WORD = {family: re.compile(rf"\b(?:{forms})\b", re.IGNORECASE) for family, forms in MOVE_WORDS.items()}
# A negation turns a named move or amount into its opposite ("not 5", "I won't defect").
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|cannot)\b|n['\u2019]t\b", re.IGNORECASE)


def move_family(word: str) -> str | None:
    """The :data:`MOVE_WORDS` family that ``word`` is a form of ("Punish" -> "punish"), else None."""
    for family, pattern in _MOVE_WORD.items():
        if pattern.fullmatch(word.strip()):
            return family
    return None


def check_answer_words(content: str, allowed: Sequence[str] = ()) -> None:
    """Raise :class:`ActionParseError` when an answer line holds a negation or a move word
    (:data:`MOVE_WORDS`) whose family is not in ``allowed``.

    Both turn a readable answer into a contradictory one: "Punish, Donate, 3", "not 5",
    "Cooperate and harvest".
    """
    negation = _NEGATION.search(content)
    if negation:
        raise ActionParseError(f"The answer contains the negation {_quote(negation.group(0))}; state only what you do.")
    for family, pattern in _MOVE_WORD.items():
        found = pattern.search(content)
        if found and family not in allowed:
            raise ActionParseError(f"The answer names {_quote(found.group(0))}, which is not a move you can make here.")


@dataclass(frozen=True)
class ActionSpec(ABC):
    """What one agent must answer at one step.

    ``instruction`` is the answer format as told to a model; ``fallback`` is the action the
    world declares for an agent whose answers never parse (the runner counts every use).
    """

    instruction: str
    fallback: Any

    @abstractmethod
    def parse(self, text: str) -> Any:
        """Return a valid action for ``text`` or raise :class:`ActionParseError`."""

    def options(self) -> list[str] | None:
        """Answer texts to score, when the decision is a small choice; else ``None``."""
        return None

    def action_for_option(self, index: int) -> Any:
        raise TypeError(f"{type(self).__name__} has no options to choose from")


@dataclass(frozen=True)
class Choice(ActionSpec):
    """Pick one of a few named options; ``actions[i]`` is the action for ``labels[i]``.

    Grammar: the last ``Answer:`` of the normalized text (see ``normalize_answer``) names exactly one
    label, as a whole word in any case ("Answer: I will cooperate."), and nothing that
    contradicts it: no negation and no move word of :data:`MOVE_WORDS` other than forms of the
    chosen label ("cooperating") and the families in ``allowed_words``. Other words are not read.
    When every label is a number (a ballot of proposals) the answer holds exactly one number
    and it must equal a label ("Answer: 2.50" is the option "2.5").
    """

    labels: Sequence[str] = ()
    actions: Sequence[Any] = ()
    allowed_words: Sequence[str] = ()

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.actions) or not self.labels:
            raise ValueError("Choice needs one action per label and at least one label")
        unknown = set(self.allowed_words) - set(MOVE_WORDS)
        if unknown:
            raise ValueError(f"allowed_words must be MOVE_WORDS families, got {sorted(unknown)}")

    @property
    def number_values(self) -> list[float] | None:
        """The labels as numbers when every one is a plain number (a grid of hours or efforts), else None."""
        return _label_values(self.labels)

    def parse(self, text: str) -> Any:
        content = answer_line(normalize_answer(text or ""))
        values = _label_values(self.labels)
        if values is not None:
            return self._parse_number_label(content, values)
        lowered = content.lower()
        hits = [i for i, label in enumerate(self.labels) if re.search(rf"\b{re.escape(label.lower())}\b", lowered)]
        if len(hits) != 1:
            allowed = ", ".join(self.labels)
            what = "none" if not hits else "more than one"
            raise ActionParseError(f"The answer named {what} of the options; answer with exactly one of: {allowed}.")
        label = self.labels[hits[0]]
        rest = re.sub(rf"\b{re.escape(label)}\b", " ", content, flags=re.IGNORECASE)
        check_answer_words(rest, (*self.allowed_words, move_family(label) or ""))
        return self.actions[hits[0]]

    def _parse_number_label(self, content: str, values: list[float]) -> Any:
        check_answer_words(content, self.allowed_words)
        value = _parse_number(content, min(values), max(values))
        for index, option in enumerate(values):
            if abs(value - option) <= 1e-9:
                return self.actions[index]
        raise ActionParseError(f"{value:g} is not one of the options; answer with exactly one of: {', '.join(self.labels)}.")

    def options(self) -> list[str]:
        return [f"Answer: {label}" for label in self.labels]

    def action_for_option(self, index: int) -> Any:
        return self.actions[index]


def _label_values(labels: Sequence[str]) -> list[float] | None:
    """The labels as numbers when every one is a plain number ("2.5"), else None."""
    if not all(NUMBER.fullmatch(label.strip()) for label in labels):
        return None
    return [float(label.replace(",", "")) for label in labels]


@dataclass(frozen=True)
class Amount(ActionSpec):
    """A number in ``[low, high]``, optionally preceded by a named move.

    Without ``moves`` the answer is ``Answer: <number>``; with ``moves`` it is
    ``Answer: <move>, <number>``. Moves listed in ``moves_without_amount`` (e.g. "Refuse")
    are answered by name alone (or with the number ``low``) and act with ``low``.
    ``make_action(move_index, value)`` builds the action.

    Grammar: the last ``Answer:`` of the normalized text counts (see ``normalize_answer``). With
    moves it starts with exactly one of them (any case, markdown and punctuation before it
    allowed) and names no other. It holds exactly one number ("maybe 5 or 6" is two: invalid)
    in ``[low, high]``; "-0" is 0. Words beside the number are not read ("Answer: I give 5
    units" is 5), except that a negation ("not 5") or a move word of :data:`MOVE_WORDS` other
    than the chosen move's forms and the families in ``allowed_words`` makes the answer invalid:
    "Refuse, 5" in a game without refusal is no donation. Percentages, superscripts,
    fractions and bidi controls are rejected.
    """

    low: float = 0.0
    high: float = 1.0
    moves: Sequence[str] = ()
    make_action: Callable[[int, float], Any] = field(default=lambda move, value: value)
    moves_without_amount: Sequence[str] = ()
    allowed_words: Sequence[str] = ()

    def __post_init__(self) -> None:
        unknown = set(self.allowed_words) - set(MOVE_WORDS)
        if unknown:
            raise ValueError(f"allowed_words must be MOVE_WORDS families, got {sorted(unknown)}")

    def parse(self, text: str) -> Any:
        content = answer_line(normalize_answer(text or ""))
        move = 0
        allowed = tuple(self.allowed_words)
        if self.moves:
            lowered = content.lower()
            hits = [i for i, m in enumerate(self.moves) if re.search(rf"\b{re.escape(m.lower())}\b", lowered)]
            # The move must come first: "I will not punish, 2" names Punish but does not choose it.
            if len(hits) != 1 or not re.match(rf"[\W_]*{re.escape(self.moves[hits[0]].lower())}\b", lowered):
                raise ActionParseError(
                    f"Start the answer with exactly one of {', '.join(self.moves)}, then a comma and the amount."
                )
            move = hits[0]
            content = re.sub(rf"\b{re.escape(self.moves[move])}\b", " ", content, flags=re.IGNORECASE)
            allowed += (move_family(self.moves[move]) or "",)
        check_answer_words(content, allowed)
        if self.moves and self.moves[move] in self.moves_without_amount:
            # "Refuse, 0" is consistent; "Refuse, 4" asks for two things at once.
            if NUMBER.search(content) and _parse_number(content, self.low, self.high) != self.low:
                raise ActionParseError(f"{self.moves[move]} takes no amount: answer 'Answer: {self.moves[move]}' alone.")
            return self.make_action(move, self.low)
        value = _parse_number(content, self.low, self.high)
        if not (self.low - 1e-9 <= value <= self.high + 1e-9):
            raise ActionParseError(f"The amount {value:g} is outside the allowed range [{self.low:g}, {self.high:g}].")
        return self.make_action(move, min(max(value, self.low), self.high))


@dataclass(frozen=True)
class Message(ActionSpec):
    """Free text up to ``max_chars``; ``make_action(text)`` builds the action."""

    max_chars: int = 500
    make_action: Callable[[str], Any] = field(default=lambda text: text)

    def parse(self, text: str) -> Any:
        return self.make_action(self.content(text)[: self.max_chars])

    def content(self, text: str) -> str:
        """The message in a reply: after the last ``Answer:``, else the whole reply, stripped.

        Raises :class:`ActionParseError` when it is empty."""
        try:
            content = answer_line(text)
        except ActionParseError:
            content = (text or "").strip()
        if not content:
            raise ActionParseError("The message is empty.")
        return content


def whole_number_action(make: Callable[[int], Any], refusal: str) -> Callable[[int, float], Any]:
    """An :class:`Amount` ``make_action`` that accepts whole numbers only.

    ``refusal`` is the retry message for a fraction, formatted with ``value``.
    """

    def make_action(move: int, value: float) -> Any:
        if value != int(value):
            raise ActionParseError(refusal.format(value=value))
        return make(int(value))

    return make_action


def format_number(value: float) -> str:
    """A number as the language view writes it: rounded to 2 decimals, no trailing zeros, never "-0".

    A numpy float is rounded by numpy (``round`` calls its ``__round__``), a Python float by Python."""
    return f"{round(value, 2) + 0.0:g}"


class LanguageWorld(ParallelEnv, ABC):
    """A ParallelEnv that also describes itself to language agents.

    Subclasses implement the PettingZoo API plus the four language methods below.
    ``observation_space`` and ``action_space`` must return the same object on every call.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "name": "dilemmazoo-world"}
    #: whether players are told their rewards; a world that hides them (agents see only local
    #: outcomes) sets False and the runner leaves rewards out of the agents' memory lines
    shows_rewards: bool = True

    @abstractmethod
    def rules(self, agent: str) -> str:
        """The game as told to ``agent``."""

    @abstractmethod
    def describe(self, agent: str) -> str:
        """What ``agent`` observes now, in words."""

    @abstractmethod
    def action_spec(self, agent: str) -> ActionSpec:
        """What ``agent`` must answer this step."""

    def deciders(self) -> list[str]:
        """Agents that must decide this step; by default every live agent."""
        return list(self.agents)

    def idle_action(self, agent: str) -> Any:
        """The action sent for an agent that does not decide this step (ignored by the world).

        Worlds where some agents wait (turn-taking, talk phases) must define it, deterministically.
        """
        raise NotImplementedError(f"{type(self).__name__} lets agents wait but defines no idle_action")

    def display_name(self, agent: str) -> str:
        """The name other players know ``agent`` by."""
        return agent

    # -- shared plumbing for the worlds ---------------------------------------------------------
    # Worlds build their spaces once, per agent, in ``_observation_spaces`` / ``_action_spaces``,
    # so each call returns the same object (PettingZoo's requirement).
    def observation_space(self, agent: str):
        return self._observation_spaces[agent]

    def action_space(self, agent: str):
        return self._action_spaces[agent]

    def render(self) -> str | None:
        """``ansi``: the world as text; ``human``: that text printed; ``None``: nothing."""
        if self.render_mode is None:
            return None
        text = self._render_text()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def _render_text(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} has no text rendering")

    def close(self) -> None:
        pass

    def _names_from(self, names: Any, default: list[str]) -> list[str]:
        """Display names from ``reset(options={"names": {seat: name}})``, or ``default``.

        The mapping must name every seat with distinct non-empty strings.
        """
        if names is None:
            return list(default)
        if not isinstance(names, Mapping) or set(names) != set(self.possible_agents):
            raise ValueError(f"options['names'] must map every seat {self.possible_agents} to a name")
        result = [names[a] for a in self.possible_agents]
        if not all(isinstance(n, str) and n.strip() for n in result) or len(set(result)) != len(result):
            raise ValueError(f"options['names'] must hold distinct non-empty strings, got {result}")
        return result

    def _checked_render_mode(self, render_mode: Any) -> str | None:
        """``render_mode`` when it is None or one of ``metadata["render_modes"]``; else a ``ValueError``."""
        modes = self.metadata["render_modes"]
        if render_mode is not None and render_mode not in modes:
            raise ValueError(f"render_mode must be None or one of {list(modes)}, got {render_mode!r}")
        return render_mode

    def _check_actions(self, actions: Any) -> None:
        """Refuse a step after the end, and actions for agents that are not playing."""
        if not self.agents:
            raise RuntimeError("the game is over; call reset() to play again")
        unknown = set(actions) - set(self.agents)
        if unknown:
            raise ValueError(f"actions for agents not in the game: {sorted(unknown)}")

    def _end_step(self, live: list[str], done: bool, rewards: dict, infos: dict) -> tuple:
        """The five dicts of ``step`` for worlds whose agents all finish together."""
        terminations = dict.fromkeys(live, done)
        truncations = dict.fromkeys(live, False)
        observations = self._observations()
        if done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos
