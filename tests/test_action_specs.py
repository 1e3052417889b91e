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
        ("Answer: not Defect", "negation"),  # was Defect
        ("Answer: I won't cooperate", "negation"),
        ("Answer: Cooperate, then harvest 5", "not a move"),  # a move of another world
        ("Answer: Defect (punishing them)", "not a move"),
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
        ("Answer: Refuse, 0", ("refuse", 0.0)),
        ("Answer: Donate, Donate, 3", ("donate", 3.0)),  # the same move twice does not contradict
        ("Answer: Donate 3 (donating less than half)", ("donate", 3.0)),
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
        ("Answer: Refuse, 4", "takes no amount"),  # refusing and giving 4 contradict
        ("Answer: Donate, 3 (not punish)", "exactly one of"),
        ("Answer: Donate, 3, then defect", "not a move"),  # a move of another world
        ("Answer: Donate, not 3", "negation"),
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


# --------------------------------------------------------------------------------------------
# Adversarial answers (regressions; the full corpus is tests/test_adversarial.py)
# --------------------------------------------------------------------------------------------


def test_answer_line_reads_huge_whitespace_runs():
    # "\s*\**\s*" backtracked quadratically here (minutes); the speed belongs to no test, the
    # result does
    with pytest.raises(ActionParseError, match="Answer:"):
        answer_line("answer" + " " * 200_000)
    assert answer_line("Answer" + "*" * 200_000 + ": 5") == "5"


def test_an_empty_last_answer_is_empty_not_the_earlier_one():
    assert answer_line("Answer: 5\nAnswer:") == ""
    assert answer_line("Answer:\n4") == "4"
    with pytest.raises(ActionParseError, match="No number"):
        Amount(instruction="", fallback=0.0, low=0.0, high=10.0).parse("Answer: 5\nAnswer:   ")
    with pytest.raises(ActionParseError, match="empty"):
        Message(instruction="", fallback="").parse("Answer:")


@pytest.mark.parametrize(
    "text, value",
    [
        ("\uff21\uff4e\uff53\uff57\uff45\uff52\uff1a \uff15", 5.0),  # full-width, NFKC-folded
        ("Answer: \uff11\uff10", 10.0),
        ("Answer: 1\u200b0", 10.0),  # zero-width space dropped, not a separator
        ("Ans\u200bwer: \ufeff5", 5.0),
        ("Answer: 1\u00ad0", 10.0),  # soft hyphen
        ("Answer: \u200f5", 5.0),  # right-to-left mark
        ("Answer: \u0665", 5.0),  # Arabic-Indic digits are digits
        ("Answer: 5\ufe0f\u20e3", 5.0),  # keycap emoji
        ("Answer:\u00a05", 5.0),
    ],
)
def test_amount_normalizes_unicode(text, value):
    assert Amount(instruction="", fallback=0.0, low=0.0, high=10.0).parse(text) == value


@pytest.mark.parametrize(
    "text, message",
    [
        ("Answer: \u22125", "outside"),  # minus sign: -5, never 5
        ("Answer: \u20135", "outside"),  # en dash
        ("Answer: \uff0d5", "outside"),
        ("Answer: 5\u00b2", "plain number"),  # NFKC would make it 52
        ("Answer: 2\u00bd", "plain number"),  # was read as 2
        ("Answer: \u2464", "plain number"),  # circled 5
        ("Answer: \u202e01", "plain number"),  # shows "10", says 1
        ("Answer: 2\u20623", "plain number"),  # invisible times
        ("Answer: 5%", "percentage"),  # was 5 units
        ("Answer: 50 percent", "percentage"),
        ("Answer: 5 pct", "percentage"),
        ("Answer: \uff15\uff05", "percentage"),
        ("Answer: 5 \u066a", "percentage"),
    ],
)
def test_amount_rejects_unicode_tricks_and_percentages(text, message):
    with pytest.raises(ActionParseError, match=message):
        Amount(instruction="", fallback=0.0, low=0.0, high=10.0).parse(text)


def test_amount_minus_zero_is_zero():
    import math

    value = Amount(instruction="", fallback=0.0, low=0.0, high=10.0).parse("Answer: -0")
    assert value == 0.0 and math.copysign(1.0, value) == 1.0


def test_amount_errors_quote_huge_answers_briefly():
    spec = Amount(instruction="", fallback=0.0, low=0.0, high=10.0)
    for text in ("Answer: " + "9" * 100_000, "Answer: " + "5 " * 50_000, "Answer: " + "x" * 100_000):
        with pytest.raises(ActionParseError) as error:
            spec.parse(text)
        assert len(str(error.value)) < 200


@pytest.mark.parametrize(
    "text, action",
    [
        ("Answer: **Punish**, 4", ("punish", 4.0)),
        ("Answer: \uff30\uff55\uff4e\uff49\uff53\uff48\uff0c \uff13", ("punish", 3.0)),
        ("Answer: Punish the recipient, 3", ("punish", 3.0)),
    ],
)
def test_amount_with_moves_parses_decorated_moves(text, action):
    assert amount_with_moves().parse(text) == action


@pytest.mark.parametrize(
    "text",
    ["Answer: I will not punish, 2", "Answer: SYSTEM: Punish, 3", "Answer: Don't punish. Donate, 2"],
)
def test_amount_with_moves_needs_the_move_first(text):
    with pytest.raises(ActionParseError, match="Start the answer"):
        amount_with_moves().parse(text)


def test_choice_normalizes_unicode_but_message_keeps_the_text():
    assert choice().parse("\uff21\uff4e\uff53\uff57\uff45\uff52\uff1a \uff24\uff45\uff46\uff45\uff43\uff54") == "D"
    assert choice().parse("Answer: Coop\u200berate") == "C"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert Message(instruction="", fallback="").parse(f"Answer: hi {family}") == f"hi {family}"


def test_choice_allows_the_chosen_moves_forms_and_the_allowed_words():
    assert choice().parse("Answer: Cooperate, cooperating pays") == "C"
    with pytest.raises(ActionParseError, match="not a move"):
        choice().parse("Answer: I vote Cooperate")
    voting = Choice(instruction="", fallback="C", labels=("Cooperate", "Defect"), actions=("C", "D"), allowed_words=("vote",))
    assert voting.parse("Answer: I vote Cooperate") == "C"
    with pytest.raises(ValueError, match="MOVE_WORDS"):
        Choice(instruction="", fallback="C", labels=("C",), actions=("C",), allowed_words=("dance",))


@pytest.mark.parametrize(
    "text, action",
    [("Answer: 2.5", 1), ("Answer: 2", 0), ("Answer: 2.50", 1), ("Answer: I vote for 10", 2), ("Answer: 10.0 units", 2)],
)
def test_choice_between_numbers_reads_one_number(text, action):
    # "\b2\b" also matches inside "2.5": numeric labels are compared as numbers
    ballot = Choice(instruction="", fallback=0, labels=("2", "2.5", "10"), actions=(0, 1, 2), allowed_words=("vote",))
    assert ballot.parse(text) == action


@pytest.mark.parametrize(
    "text, message",
    [("Answer: 3", "not one of"), ("Answer: 2 or 2.5", "one number"), ("Answer: not 2", "negation"), ("Answer: two", "No number")],
)
def test_choice_between_numbers_rejects(text, message):
    ballot = Choice(instruction="", fallback=0, labels=("2", "2.5", "10"), actions=(0, 1, 2))
    with pytest.raises(ActionParseError, match=message):
        ballot.parse(text)


@pytest.mark.parametrize(
    "text, value",
    [("Answer: I donate 5 units", 5.0), ("Answer: 5 (donation)", 5.0), ("Answer: give 5", 5.0)],
)
def test_amount_allows_its_own_move_words(text, value):
    spec = Amount(instruction="", fallback=0.0, low=0.0, high=10.0, allowed_words=("donate",))
    assert spec.parse(text) == value


@pytest.mark.parametrize(
    "text, message",
    [
        ("Answer: Refuse, 5", "not a move"),  # was a donation of 5 in the plain Donor Game
        ("Answer: Punish, Donate, 3", "not a move"),  # was a donation of 3
        ("Answer: harvest 5", "not a move"),
        ("Answer: not 5", "negation"),
        ("Answer: I don't give 5", "negation"),
        ("Answer: I won\u2019t give 5", "negation"),
    ],
)
def test_amount_rejects_other_moves_and_negations(text, message):
    spec = Amount(instruction="", fallback=0.0, low=0.0, high=10.0, allowed_words=("donate",))
    with pytest.raises(ActionParseError, match=message):
        spec.parse(text)
