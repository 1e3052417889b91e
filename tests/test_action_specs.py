"""Exact parsing tests for the world contract's answer specs (envs/base.py)."""

from __future__ import annotations

import pytest

from dilemmazoo.envs.base import ActionParseError, Amount, Choice, Message, answer_line

# --------------------------------------------------------------------------------------------
# answer_line
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Answer: 5", "5"),
        ("answer: cooperate", "cooperate"),
        ("ANSWER = 3", "3"),
        ("Justification: because. Answer: 2.5 units", "2.5 units"),
        ("Answer: 1\nThinking again...\nAnswer: 2", "2"),  # the last one counts
        ("**Answer:** 7", "7"),
        ("**Answer**: 7", "7"),
        ("Answer:   Donate, 3  ", "Donate, 3"),
        ("Answer:\n4", "4"),
    ],
)
def test_answer_line(text, expected):
    assert answer_line(text) == expected


@pytest.mark.parametrize("text", ["", "5", "I give 5 units.", None])
def test_answer_line_missing(text):
    with pytest.raises(ActionParseError, match="Answer:"):
        answer_line(text)


def test_parse_error_is_a_value_error():
    assert issubclass(ActionParseError, ValueError)


# --------------------------------------------------------------------------------------------
# Choice
# --------------------------------------------------------------------------------------------


def choice() -> Choice:
    return Choice(instruction="Answer: Cooperate or Defect", fallback="D", labels=("Cooperate", "Defect"), actions=("C", "D"))


@pytest.mark.parametrize(
    "text, action",
    [
        ("Answer: Cooperate", "C"),
        ("answer: defect", "D"),
        ("Justification: trust. Answer: I will cooperate.", "C"),
        ("Answer: **Defect**", "D"),
    ],
)
def test_choice_parses(text, action):
    assert choice().parse(text) == action


@pytest.mark.parametrize(
    "text, message",
    [
        ("Answer: Cooperate or Defect", "more than one"),
        ("Answer: maybe", "none"),
        ("Answer: cooperation", "none"),  # whole words only
        ("Cooperate", "Answer:"),
    ],
)
def test_choice_rejects(text, message):
    with pytest.raises(ActionParseError, match=message):
        choice().parse(text)


def test_choice_options_and_construction():
    spec = choice()
    assert spec.options() == ["Answer: Cooperate", "Answer: Defect"]
    assert spec.action_for_option(1) == "D"
    assert spec.fallback == "D"
    with pytest.raises(ValueError):
        Choice(instruction="", fallback=None, labels=("A", "B"), actions=("a",))
    with pytest.raises(ValueError):
        Choice(instruction="", fallback=None, labels=(), actions=())


# --------------------------------------------------------------------------------------------
# Amount
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("Answer: 5", 5.0),
        ("Answer: 2.5 units", 2.5),
        ("Answer: .5", 0.5),
        ("Answer: 0", 0.0),
        ("Answer: 10", 10.0),
        ("Answer: 10.0000000001", 10.0),  # within tolerance, clipped to high
        ("Answer: $3", 3.0),
        ("Answer: 7.", 7.0),
    ],
)
def test_amount_parses(text, value):
    assert Amount(instruction="", fallback=0.0, low=0.0, high=10.0).parse(text) == value


def test_amount_thousands_separator():
    spec = Amount(instruction="", fallback=0.0, low=0.0, high=5000.0)
    assert spec.parse("Answer: 1,234.5") == 1234.5
    assert spec.parse("Answer: 1234") == 1234.0


@pytest.mark.parametrize(
    "text, message",
    [
        ("Answer: 11", "outside the allowed range"),
        ("Answer: -1", "outside the allowed range"),
        ("Answer: nothing", "No number"),
        ("Answer: 2 or 3", "one number"),
        ("Answer: 2,5", "one number"),  # a decimal comma is never read as 25
        ("I give 5", "Answer:"),
    ],
)
def test_amount_rejects(text, message):
    with pytest.raises(ActionParseError, match=message):
        Amount(instruction="", fallback=0.0, low=0.0, high=10.0).parse(text)


def amount_with_moves() -> Amount:
    return Amount(
        instruction="",
        fallback=("abstain", 0.0),
        low=0.0,
        high=10.0,
        moves=("Donate", "Punish", "Refuse"),
        make_action=lambda move, value: (["donate", "punish", "refuse"][move], value),
        moves_without_amount=("Refuse",),
    )


@pytest.mark.parametrize(
    "text, action",
    [
        ("Answer: Donate, 3.5", ("donate", 3.5)),
        ("Answer: punish, 2", ("punish", 2.0)),
        ("Answer: Punish 2 units", ("punish", 2.0)),
        ("Answer: Refuse", ("refuse", 0.0)),
        ("Answer: Refuse, 4", ("refuse", 0.0)),
    ],
)
def test_amount_with_moves_parses(text, action):
    assert amount_with_moves().parse(text) == action


@pytest.mark.parametrize(
    "text, message",
    [
        ("Answer: 3", "exactly one of"),
        ("Answer: Donate or Punish, 3", "exactly one of"),
        ("Answer: Donation, 3", "exactly one of"),
        ("Answer: Donate", "No number"),
        ("Answer: Punish, 30", "outside"),
    ],
)
def test_amount_with_moves_rejects(text, message):
    with pytest.raises(ActionParseError, match=message):
        amount_with_moves().parse(text)


def test_amount_defaults():
    spec = Amount(instruction="say a number", fallback=None)
    assert (spec.low, spec.high, spec.moves, spec.moves_without_amount) == (0.0, 1.0, (), ())
    assert spec.parse("Answer: 0.25") == 0.25
    assert spec.options() is None
    with pytest.raises(TypeError):
        spec.action_for_option(0)


# --------------------------------------------------------------------------------------------
# Message
# --------------------------------------------------------------------------------------------


def test_message():
    spec = Message(instruction="", fallback="", max_chars=10)
    assert spec.parse("Answer: hello there") == "hello ther"
    assert spec.parse("  no answer line  ") == "no answer "
    assert spec.parse("Thoughts.\nAnswer: hi") == "hi"
    with pytest.raises(ActionParseError, match="empty"):
        spec.parse("   ")
    with pytest.raises(ActionParseError, match="empty"):
        spec.parse("")
    wrapped = Message(instruction="", fallback="", make_action=lambda text: {"message": text})
    assert wrapped.parse("Answer: x") == {"message": "x"}
