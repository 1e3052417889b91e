"""Answer tables: every world's language decisions against at least 50 adversarial answers each.

Each world states one answer grammar (its module docstring; the shared rules are the docstrings
of ``Amount``, ``Choice`` and ``Message`` in ``envs/base.py``). Each row below is an answer and
what it must become: the action, read back into plain Python (a number, a label, a list), or
``INVALID`` (an :class:`ActionParseError`, which the runner turns into a counted fallback; never
a move). The rows cover words beside numbers, two moves, moves from other worlds, units,
negative, huge and fractional numbers, unicode digits, empty and whitespace-only answers,
markdown and several ``Answer:`` lines. The Donor Game's full corpus is
``tests/test_adversarial.py``; these tables hold every world to the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dilemmazoo.envs.base import ActionParseError, ActionSpec
from dilemmazoo.envs.messages import decode_message
from dilemmazoo.envs.registry import make_world

INVALID = object()

# Invalid in every world that reads a number, a choice or a list (messages excepted: see below).
NEVER_A_MOVE = [
    "",
    " ",
    "\n\t ",
    "\u3000",
    "\u200b",
    "Answer:",
    "Answer:   ",
    "Answer: \u200b",
    "Answer: N/A",
    "Answer: ?",
    "I'd rather not answer.",
    '{"answer": 5}',
    "<answer>5</answer>",
    "Answer 5",
    "Answer: 5\nAnswer:",  # the last Answer: counts, also when empty
]


def rows(table: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(text, INVALID) for text in NEVER_A_MOVE] + table


def check(spec: ActionSpec, read: Callable[[Any], Any], text: str, expected: Any) -> None:
    if expected is INVALID:
        with pytest.raises(ActionParseError):
            spec.parse(text)
        return
    got = read(spec.parse(text))
    if isinstance(expected, float):
        assert got == pytest.approx(expected, abs=1e-12)
    else:
        assert got == expected


# ---------------------------------------------------------------------------------------------
# Donor Game: plain ("Answer: <units>") and punishment ("Answer: Donate|Punish, <units>")
# ---------------------------------------------------------------------------------------------


def donor(punishment: bool = False, partner_choice: bool = False):
    world = make_world("donor-game", n_agents=2, n_rounds=1, punishment=punishment, partner_choice=partner_choice)
    world.reset(seed=0)
    donor_seat = world.deciders()[0]
    spec = world.action_spec(donor_seat)  # the donor holds the endowment, 10 units

    def read(action):
        move = world.moves[int(action["move"])]
        amount = float(action["fraction"][0]) * 10.0
        return amount if not (punishment or partner_choice) else (move, amount)

    return spec, read


DONOR_PLAIN = rows([
    ("Answer: 5", 5.0),
    ("Answer: 5 units", 5.0),
    ("Answer: I give 5", 5.0),
    ("Answer: I donate 5 units.", 5.0),
    ("Answer: Donate, 5", 5.0),  # the game's own move, named
    ("Answer: Donating 2.5", 2.5),
    ("Answer: about 5", 5.0),
    ("Answer: maybe 5 or 6", INVALID),  # two numbers
    ("Answer: 5-6", INVALID),
    ("Answer: 3, 4", INVALID),
    ("Answer: 2,5", INVALID),  # a decimal comma is two numbers, never 25
    ("Answer: Refuse, 5", INVALID),  # was a donation of 5
    ("Answer: Punish, Donate, 3", INVALID),  # was a donation of 3
    ("Answer: Punish, 3", INVALID),
    ("Answer: Cooperate, 5", INVALID),  # moves of other worlds
    ("Answer: Defect", INVALID),
    ("Answer: harvest 5", INVALID),
    ("Answer: split 5", INVALID),
    ("Answer: accept 5", INVALID),
    ("Answer: Abstain, 0", INVALID),
    ("Answer: not 5", INVALID),
    ("Answer: I won't give 5", INVALID),
    ("Answer: -1", INVALID),
    ("Answer: \u22125", INVALID),  # minus sign
    ("Answer: -0", 0.0),
    ("Answer: 0", 0.0),
    ("Answer: 10", 10.0),
    ("Answer: 10.5", INVALID),
    ("Answer: 1e309", INVALID),
    ("Answer: 99999999999999999999", INVALID),
    ("Answer: 3.25", 3.25),
    ("Answer: .5", 0.5),
    ("Answer: 1/2", INVALID),
    ("Answer: \u00bd", INVALID),
    ("Answer: 50%", INVALID),
    ("Answer: 5 percent", INVALID),
    ("Answer: \uff15", 5.0),  # full-width
    ("Answer: \u0665", 5.0),  # Arabic-Indic
    ("Answer: 5\u00b2", INVALID),  # superscript
    ("Answer: \u2464", INVALID),  # circled
    ("Answer: five", INVALID),
    ("**Answer:** 5", 5.0),
    ("Answer: **5**", 5.0),
    ("```\nAnswer: 5\n```", 5.0),
    ("Answer: 3\nAnswer: 4", 4.0),
    ("Answer: Punish, 3\nAnswer: 4", 4.0),
    ("Answer: 4\nAnswer: Punish, 3", INVALID),
    ("Justification: reciprocity. Answer: 7", 7.0),
    ("Answer: 5 to 1_2", INVALID),  # a name holding digits is a second number
])

DONOR_PUNISHMENT = rows([
    ("Answer: Donate, 5", ("donate", 5.0)),
    ("Answer: Punish, 3", ("punish", 3.0)),
    ("Answer: punish 2 units", ("punish", 2.0)),
    ("Answer: **Punish**, 4", ("punish", 4.0)),
    ("Answer: Donate, Donate, 3", ("donate", 3.0)),
    ("Answer: Donate 3 (donating less than half)", ("donate", 3.0)),
    ("Answer: Punish, Donate, 3", INVALID),
    ("Answer: Donate or Punish, 3", INVALID),
    ("Answer: Donate, 3 (punishment next time)", INVALID),
    ("Answer: 5", INVALID),  # no move
    ("Answer: Donate", INVALID),  # no amount
    ("Answer: Punish", INVALID),
    ("Answer: Refuse", INVALID),  # not offered here
    ("Answer: Refuse, 0", INVALID),
    ("Answer: Abstain, 0", INVALID),
    ("Answer: Cooperate, 5", INVALID),
    ("Answer: Defect, 5", INVALID),
    ("Answer: Donate, harvest 5", INVALID),
    ("Answer: Donate, split 5", INVALID),
    ("Answer: I will not punish, 2", INVALID),
    ("Answer: Don't punish. Donate, 2", INVALID),
    ("Answer: SYSTEM: Punish, 3", INVALID),  # the move must come first
    ("Answer: Donate, not 3", INVALID),
    ("Answer: Donate, 3 or 4", INVALID),
    ("Answer: Donate, -2", INVALID),
    ("Answer: Punish, 11", INVALID),
    ("Answer: Punish, 1e3", INVALID),
    ("Answer: Donate, 2.75", ("donate", 2.75)),
    ("Answer: Donate, 50%", INVALID),
    ("Answer: Donate, \uff13", ("donate", 3.0)),
    ("Answer: \uff30\uff55\uff4e\uff49\uff53\uff48\uff0c \uff13", ("punish", 3.0)),
    ("Answer: Donate, \u0663", ("donate", 3.0)),
    ("Answer: Donate, 3\u00bd", INVALID),
    ("Answer: Donate, 10", ("donate", 10.0)),
    ("Answer: Punish, 0", ("punish", 0.0)),
    ("Answer: Donate, 3\nAnswer: Punish, 1", ("punish", 1.0)),
    ("> Answer: Donate, 4", ("donate", 4.0)),
    ("Answer: Donate, 4 units to 1_2", INVALID),
])


def partner_choice_rows():
    return rows([
        ("Answer: Refuse", ("refuse", 0.0)),
        ("Answer: refuse.", ("refuse", 0.0)),
        ("Answer: Refuse, 0", ("refuse", 0.0)),
        ("Answer: Refuse, 4", INVALID),  # refusing and giving 4 contradict
        ("Answer: Refuse, donate 4", INVALID),
        ("Answer: Donate, 4", ("donate", 4.0)),
        ("Answer: Donate, 4 (refusal next time)", INVALID),
        ("Answer: Punish, 2", INVALID),  # punishment is off
        ("Answer: I refuse", INVALID),  # the move comes first
        ("Answer: Refuse, not donate", INVALID),
        ("Answer: Donate, 0", ("donate", 0.0)),
        ("Answer: Donate, 10.5", INVALID),
        ("Answer: Defect", INVALID),
        ("Answer: Donate, -0", ("donate", 0.0)),
        ("Answer: Donate, 1,000", INVALID),
        ("Answer: Donate, \u0666", ("donate", 6.0)),
        ("Answer: Refuse\nAnswer: Donate, 2", ("donate", 2.0)),
        ("Answer: Donate, 2\nAnswer: Refuse", ("refuse", 0.0)),
        ("**Answer**: **Refuse**", ("refuse", 0.0)),
        ("Answer: Donate 3 units, refuse nothing", INVALID),
        ("Answer: Donate, 3.5 units", ("donate", 3.5)),
        ("Answer: Donate, 3 or 4", INVALID),
        ("Answer: Abstain", INVALID),
        ("Answer: Accept", INVALID),
        ("Answer: Donate, 4 \U0001f381", ("donate", 4.0)),
        ("Answer: Donate,\u200b 4", ("donate", 4.0)),
        ("Answer: Donate, 50 percent", INVALID),
        ("Answer: Refuse \u2705", ("refuse", 0.0)),
        ("Answer: Donate, \uff14", ("donate", 4.0)),
        ("Answer: Donate, 4\u2075", INVALID),
        ("Answer: steal 4", INVALID),
        ("Answer: Donate, 10.0000000001", ("donate", 10.0)),  # within the tolerance, clipped
        ("Answer: Donate, 9.99", ("donate", 9.99)),
        ("Answer: Donate, 0.001", ("donate", 0.001)),
        ("Answer: Donate, nothing", INVALID),
    ])


@pytest.mark.parametrize("text, expected", DONOR_PLAIN)
def test_donor_game_plain(text, expected):
    check(*donor(), text, expected)


@pytest.mark.parametrize("text, expected", DONOR_PUNISHMENT)
def test_donor_game_punishment(text, expected):
    check(*donor(punishment=True), text, expected)


@pytest.mark.parametrize("text, expected", partner_choice_rows())
def test_donor_game_partner_choice(text, expected):
    check(*donor(partner_choice=True), text, expected)


# ---------------------------------------------------------------------------------------------
# Repeated game: "Answer: <option>" (named Cooperate/Defect, neutral J/F, predictions)
# ---------------------------------------------------------------------------------------------


def repeated(labels: str = "named", predict_first: bool = False):
    world = make_world("repeated-game", game="prisoners_dilemma", labels=labels, predict_first=predict_first)
    world.reset(seed=0)
    return world.action_spec("player_0"), lambda action: world.labels[int(action)]


REPEATED_NAMED = rows([
    ("Answer: Cooperate", "Cooperate"),
    ("Answer: Defect", "Defect"),
    ("answer: defect", "Defect"),
    ("Answer: I will cooperate.", "Cooperate"),
    ("Answer: Option Cooperate", "Cooperate"),
    ("Answer: **Defect**", "Defect"),
    ("Answer: Cooperate, cooperating pays", "Cooperate"),
    ("Answer: COOPERATE!!!", "Cooperate"),
    ("Answer: Cooperate or Defect", INVALID),
    ("Answer: Cooperate, then Defect", INVALID),
    ("Answer: not Defect", INVALID),  # was Defect
    ("Answer: never cooperate", INVALID),
    ("Answer: I won't defect", INVALID),
    ("Answer: Defect (defection pays)", "Defect"),
    ("Answer: Cooperate by donating 5", INVALID),  # a move of another world
    ("Answer: Cooperate and punish", INVALID),
    ("Answer: Defect, harvest", INVALID),
    ("Answer: Cooperate, split", INVALID),
    ("Answer: Donate", INVALID),
    ("Answer: J", INVALID),  # the neutral labels are not offered here
    ("Answer: C", INVALID),
    ("Answer: cooperation", INVALID),  # a topic, not an option
    ("Answer: 1", INVALID),
    ("Answer: 0", INVALID),
    ("Answer: Cooperate 5 times", "Cooperate"),  # words and numbers beside the option are not read
    ("Answer: \uff23\uff4f\uff4f\uff50\uff45\uff52\uff41\uff54\uff45", "Cooperate"),  # full-width
    ("Answer: Coop\u200berate", "Cooperate"),
    ("Answer: \u0421ooperate", INVALID),  # Cyrillic C
    ("Answer: Cooperate\nAnswer: Defect", "Defect"),
    ("Answer: Defect\nAnswer: Cooperate", "Cooperate"),
    ("Answer: Defect\nAnswer: both", INVALID),
    ("```\nAnswer: Defect\n```", "Defect"),
    ("# Answer: Cooperate", "Cooperate"),
    ("Answer: <Cooperate>", "Cooperate"),
    ("Justification: tit for tat. Answer: Cooperate", "Cooperate"),
    ("Answer: Cooperate-ish", "Cooperate"),
    ("Answer: Cooperated", INVALID),  # a past tense is no option, and names cooperate besides
    ("Answer: Defect \U0001f608", "Defect"),
])

REPEATED_NEUTRAL = rows([
    ("Answer: J", "J"),
    ("Answer: F", "F"),
    ("Answer: j", "J"),
    ("Answer: Option J", "J"),
    ("Answer: **F**", "F"),
    ("Answer: J or F", INVALID),
    ("Answer: J, not F", INVALID),
    ("Answer: not F", INVALID),
    ("Answer: J (cooperate)", INVALID),  # names a move the neutral game does not offer
    ("Answer: F (defect)", INVALID),
    ("Answer: Cooperate", INVALID),
    ("Answer: Defect", INVALID),
    ("Answer: Donate 5", INVALID),
    ("Answer: K", INVALID),
    ("Answer: JF", INVALID),
    ("Answer: Option Jay", INVALID),
    ("Answer: \uff2a", "J"),
    ("Answer: J\nAnswer: F", "F"),
    ("Answer: F\nAnswer: J", "J"),
    ("Answer: J.", "J"),
    ("Answer: J!", "J"),
    ("Answer: 'F'", "F"),
    ("Answer: [J]", "J"),
    ("Answer: I pick J this round", "J"),
    ("Answer: J J J", "J"),
    ("Answer: Option J, as before", "J"),
    ("Answer: J\u200b", "J"),
    ("Answer: 1", INVALID),
    ("Answer: -1", INVALID),
    ("Answer: F, harvesting", INVALID),
    ("Answer: J, punishing F", INVALID),
    ("Answer: Jump", INVALID),
    ("Answer: F\u0336", "F"),  # a combining mark after the letter is decoration
    ("Answer: \u0408", INVALID),  # Cyrillic Je
    ("Justification: they played J. Answer: J", "J"),
    ("<think>F?</think> Answer: J", "J"),
])


@pytest.mark.parametrize("text, expected", REPEATED_NAMED)
def test_repeated_game_named(text, expected):
    check(*repeated("named"), text, expected)


@pytest.mark.parametrize("text, expected", REPEATED_NEUTRAL)
def test_repeated_game_neutral(text, expected):
    check(*repeated("neutral"), text, expected)


@pytest.mark.parametrize("text, expected", REPEATED_NAMED)
def test_repeated_game_prediction_reads_the_same_grammar(text, expected):
    spec, read = repeated("named", predict_first=True)
    assert "predict" in spec.instruction
    check(spec, read, text, expected)


# ---------------------------------------------------------------------------------------------
# Trust-and-Split: messages ("Answer: <message>" or the whole reply) and "Answer: <coins>"
# ---------------------------------------------------------------------------------------------


def trust_split(phase: str):
    world = make_world("trust-split", max_message_chars=100)
    world.reset(seed=0)
    if phase == "proposal":
        for _ in range(2):
            speaker = world.deciders()[0]
            world.step({a: "hello" if a == speaker else world.idle_action(a) for a in world.agents})
        return world.action_spec("player_0"), lambda action: int(action["proposal"])
    speaker = world.deciders()[0]
    return world.action_spec(speaker), lambda action: decode_message(action["message"])


TRUST_SPLIT_PROPOSAL = rows([
    ("Answer: 5", 5),
    ("Answer: 10", 10),
    ("Answer: 0", 0),
    ("Answer: 5 coins", 5),
    ("Answer: I propose 7", 7),
    ("Answer: I keep 6 coins", 6),
    ("Answer: split: 5", 5),
    ("Answer: 5.0", 5),
    ("Answer: 5.5", INVALID),  # whole coins only
    ("Answer: 11", INVALID),
    ("Answer: -1", INVALID),
    ("Answer: -0", 0),
    ("Answer: 1e2", INVALID),
    ("Answer: 100000000000", INVALID),
    ("Answer: 5 or 6", INVALID),
    ("Answer: 5/10", INVALID),
    ("Answer: 5, you get 5", INVALID),
    ("Answer: 50%", INVALID),
    ("Answer: half", INVALID),
    ("Answer: not 5", INVALID),
    ("Answer: Accept 5", INVALID),  # a move of another world
    ("Answer: Reject", INVALID),
    ("Answer: Cooperate, 5", INVALID),
    ("Answer: Donate 5", INVALID),
    ("Answer: Defect, 10", INVALID),
    ("Answer: rock, 5", 5),  # a hand name is a word, not a move
    ("Answer: \uff17", 7),
    ("Answer: \u0667", 7),
    ("Answer: 7\u00b2", INVALID),
    ("Answer: \u2466", INVALID),
    ("Answer: **7**", 7),
    ("Answer: 3\nAnswer: 8", 8),
    ("Answer: 8\nAnswer: lots", INVALID),
    ("Answer: $7", 7),
    ("Answer: 7.", 7),
    ("Answer: +7", 7),
])


def message_rows(limit: int):
    long = "x" * (limit + 1)
    return [
        ("", INVALID),
        (" ", INVALID),
        ("\n\t ", INVALID),
        ("Answer:", INVALID),
        ("Answer:   ", INVALID),
        ("Answer: hello", "hello"),
        ("hello there", "hello there"),  # without Answer: the whole reply is the message
        ("  hello  ", "hello"),
        ("Answer: I have rock.", "I have rock."),
        ("Answer: I won't cooperate", "I won't cooperate"),  # a message says anything
        ("Answer: Punish, 3", "Punish, 3"),
        ("Answer: 5", "5"),
        ("Answer: 5 or 6", "5 or 6"),
        ("Answer: -1", "-1"),
        ("Answer: \u0665", "\u0665"),  # messages keep their text
        ("Answer: \uff21", "\uff21"),
        ("Answer: a\u200bb", "a\u200bb"),
        ("Answer: **bold**", "bold"),  # markdown around the answer line goes, as for every answer
        ("Answer: first\nAnswer: second", "second"),
        ("Answer: x\nAnswer:", INVALID),
        ("Answer: " + "x" * limit, "x" * limit),
        ("Answer: " + long, INVALID),  # over the limit: rejected, never truncated
        (long, INVALID),
        ("Answer: \U0001f91d", "\U0001f91d"),
        ("Answer: <script>", "<script>"),
        ("Answer: null", "null"),
        ('{"answer": "hi"}', '{"answer": "hi"}'),
        ("Answer: \x00hi", "hi"),  # NUL ends a code-point message: it is dropped
        ("Answer: \u200b", "\u200b"),  # not empty: a message is passed on as written
        ("Answer: ...", "..."),
        ("Answer: N/A", "N/A"),
        ("Answer: \u3000x", "x"),
        ("Answer: yes", "yes"),
        ("Answer: no", "no"),
        ("Answer: Let's split 5/5", "Let's split 5/5"),
        ("Answer: I have paper; you?", "I have paper; you?"),
        ("Answer: Cooperate", "Cooperate"),
        ("Answer: Defect", "Defect"),
        ("Answer: harvest 10", "harvest 10"),
        ("Answer: J", "J"),
        ("Answer: I'd rather not answer.", "I'd rather not answer."),
        ("I'd rather not answer.", "I'd rather not answer."),
        ("Answer: 1e309", "1e309"),
        ("Answer: hello \U0001f642", "hello \U0001f642"),
        ("Answer: tab\there", "tab\there"),
        ("Answer: a\nb", "a"),  # the Answer: line only
        ("<think>hm</think>", "<think>hm</think>"),
        ("Answer: ```code```", "```code```"),
        ("Answer: 50%", "50%"),
        ("Answer: \u202e01", "\u202e01"),
    ]


@pytest.mark.parametrize("text, expected", TRUST_SPLIT_PROPOSAL)
def test_trust_split_proposal(text, expected):
    check(*trust_split("proposal"), text, expected)


@pytest.mark.parametrize("text, expected", message_rows(100))
def test_trust_split_message(text, expected):
    check(*trust_split("message"), text, expected)


def test_trust_split_listener_only_waits():
    world = make_world("trust-split")
    world.reset(seed=0)
    listener = next(a for a in world.agents if a not in world.deciders())
    spec = world.action_spec(listener)
    assert spec.labels == ("Wait",)
    assert spec.parse("Answer: Wait") is not None
    for text in ("Answer: 5", "Answer: hello", "", "Answer: not wait"):
        with pytest.raises(ActionParseError):
            spec.parse(text)


# ---------------------------------------------------------------------------------------------
# Split No-Comm: "Answer: hats <n>, books <n>, balls <n>" or "Answer: <n>, <n>, <n>"
# ---------------------------------------------------------------------------------------------


def split_nocomm():
    world = make_world("split-nocomm")
    world.reset(seed=0)
    return world.action_spec("player_0"), lambda action: [int(x) for x in action]


SPLIT_NOCOMM = rows([
    ("Answer: hats 10, books 5, balls 0", [10, 5, 0]),
    ("Answer: 10, 5, 0", [10, 5, 0]),
    ("Answer: 10 5 0", [10, 5, 0]),
    ("Answer: books 5, balls 0, hats 10", [10, 5, 0]),  # by name, any order
    ("Answer: hats: 10, books: 5, balls: 0", [10, 5, 0]),
    ("Answer: hats=10 books=5 balls=0", [10, 5, 0]),
    ("Answer: I propose hats 1, books 2, balls 3", [1, 2, 3]),
    ("Answer: **hats 4**, books 4, balls 4", [4, 4, 4]),
    ("Answer: hats 10, books 5", INVALID),  # a number missing
    ("Answer: 10, 5", INVALID),
    ("Answer: 10, 5, 0, 3", INVALID),  # one too many
    ("Answer: hats 10, books 5, balls 0, and 3 more", INVALID),  # was [10, 5, 0]
    ("Answer: hats 10, 5, 0", INVALID),  # a mix of the two forms
    ("Answer: hats 10, hats 5, balls 0", INVALID),  # a name twice
    ("Answer: hats 10, books 5, balls 0.5", INVALID),
    ("Answer: hats 11, books 5, balls 0", INVALID),
    ("Answer: hats -1, books 5, balls 0", INVALID),
    ("Answer: hats -0, books 5, balls 0", [0, 5, 0]),
    ("Answer: hats 1e9, books 5, balls 0", INVALID),
    ("Answer: hats 100000000000000000000, books 5, balls 0", INVALID),
    ("Answer: hats 50%, books 5, balls 0", INVALID),
    ("Answer: hats 5\u00b2, books 5, balls 0", INVALID),
    ("Answer: hats \uff15, books \uff15, balls \uff10", [5, 5, 0]),
    ("Answer: \u0665, \u0665, \u0660", [5, 5, 0]),
    ("Answer: hats all, books 5, balls 0", INVALID),
    ("Answer: not 10, 5, 0", INVALID),
    ("Answer: hats 10, books 5, balls 0 (not more)", INVALID),
    ("Answer: accept 10, 5, 0", INVALID),  # a move of another world
    ("Answer: Cooperate: 5, 5, 5", INVALID),
    ("Answer: Donate 5, 5, 5", INVALID),
    ("Answer: split 5, 5, 5", [5, 5, 5]),
    ("Answer: hats 10, books 5, balls 0\nAnswer: 1, 2, 3", [1, 2, 3]),
    ("Answer: 1, 2, 3\nAnswer: hats 10", INVALID),
    ("Answer: 10,5,0", [10, 5, 0]),
    ("Answer: 1,000, 5, 0", INVALID),  # thousands: 1000 is out of range
    ("Answer: hat 10, book 5, ball 0", [10, 5, 0]),  # singular names are not item names: read in order
])


@pytest.mark.parametrize("text, expected", SPLIT_NOCOMM)
def test_split_nocomm(text, expected):
    check(*split_nocomm(), text, expected)


# ---------------------------------------------------------------------------------------------
# GovSim commons: "Answer: <units>" (whole units) and talk messages
# ---------------------------------------------------------------------------------------------


def commons(phase: str):
    world = make_world("commons", n_agents=2, max_message_chars=100)
    world.reset(seed=0)
    if phase == "talk":
        world.step({a: 10 for a in world.deciders()})
        speaker = world.deciders()[0]
        return world.action_spec(speaker), lambda action: decode_message(action["message"])
    return world.action_spec("player_0"), lambda action: int(action["harvest"])


COMMONS_HARVEST = rows([
    ("Answer: 10", 10),
    ("Answer: 10 tons", 10),
    ("Answer: 10 tons of fish", 10),
    ("Answer: I catch 10", 10),
    ("Answer: harvest 10", 10),
    ("Answer: I will harvest 10 units", 10),
    ("Answer: 0", 0),
    ("Answer: 100", 100),
    ("Answer: 101", INVALID),  # more than the stock
    ("Answer: -5", INVALID),
    ("Answer: -0", 0),
    ("Answer: 10.5", INVALID),  # whole units only
    ("Answer: 10.0", 10),
    ("Answer: 1e2", INVALID),
    ("Answer: 99999999999999999999", INVALID),
    ("Answer: 10 or 12", INVALID),
    ("Answer: 10-12", INVALID),
    ("Answer: between 5 and 10", INVALID),
    ("Answer: 10%", INVALID),
    ("Answer: ten", INVALID),
    ("Answer: not 10", INVALID),
    ("Answer: no more than 10", INVALID),
    ("Answer: Cooperate, 10", INVALID),  # moves of other worlds
    ("Answer: Defect", INVALID),
    ("Answer: Donate 10", INVALID),
    ("Answer: Punish John, 10", INVALID),
    ("Answer: split 10", INVALID),
    ("Answer: \uff11\uff10", 10),
    ("Answer: \u0661\u0660", 10),
    ("Answer: 1\u200b0", 10),
    ("Answer: 10\u00b2", INVALID),
    ("Answer: \u2469", INVALID),
    ("**Answer:** 10", 10),
    ("Answer: *10*", 10),
    ("Answer: 5\nAnswer: 10", 10),
    ("Answer: 10\nAnswer: as much as I can", INVALID),
    ("Justification: stay under the threshold. Answer: 9", 9),
    ("Answer: 10 (John takes 12)", INVALID),
])


@pytest.mark.parametrize("text, expected", COMMONS_HARVEST)
def test_commons_harvest(text, expected):
    check(*commons("harvest"), text, expected)


@pytest.mark.parametrize("text, expected", message_rows(100))
def test_commons_talk(text, expected):
    check(*commons("talk"), text, expected)


# ---------------------------------------------------------------------------------------------
# Effort CPR: "Answer: <units>" (propose), "Answer: <proposal>" (vote), "Answer: <effort>"
# ---------------------------------------------------------------------------------------------


def cpr(phase: str):
    world = make_world("cpr", n_agents=3, voting=True)  # alpha K = 10: proposals in [0, 10]
    world.reset(seed=0)
    if phase == "propose":
        return world.action_spec("player_0"), lambda action: float(action["proposal"][0])
    world.step({a: np.array([v]) for a, v in zip(world.agents, [2.0, 2.5, 10.0])})
    if phase == "vote":
        return world.action_spec("player_0"), lambda action: int(action["vote"])
    world.step({a: np.int64(0) for a in world.agents})
    return world.action_spec("player_0"), lambda action: float(action["effort"][0])


CPR_PROPOSE = rows([
    ("Answer: 2.5", 2.5),
    ("Answer: 2.5 units", 2.5),
    ("Answer: I propose 3", 3.0),
    ("Answer: a norm of 4 per member", 4.0),
    ("Answer: 0", 0.0),
    ("Answer: 10", 10.0),
    ("Answer: 10.5", INVALID),
    ("Answer: -1", INVALID),
    ("Answer: -0", 0.0),
    ("Answer: 1e9", INVALID),
    ("Answer: 3 or 4", INVALID),
    ("Answer: 3-4", INVALID),
    ("Answer: 25%", INVALID),
    ("Answer: not 3", INVALID),
    ("Answer: harvest 3", INVALID),  # harvesting is the next phase's move
    ("Answer: vote 3", INVALID),
    ("Answer: Cooperate, 3", INVALID),
    ("Answer: Punish, 3", INVALID),
    ("Answer: Donate 3", INVALID),
    ("Answer: \uff13", 3.0),
    ("Answer: \u0663.\u0665", 3.5),
    ("Answer: 3\u00bd", INVALID),
    ("Answer: **3**", 3.0),
    ("Answer: 3\nAnswer: 4", 4.0),
    ("Answer: 4\nAnswer: four", INVALID),
    ("Answer: .5", 0.5),
    ("Answer: 3.333", 3.333),
    ("Answer: three", INVALID),
    ("Answer: 3 (10 is too much)", INVALID),
    ("Answer: 1,000", INVALID),
    ("Answer: 9.9999999999", 9.9999999999),
    ("Answer: 10.0000000001", 10.0),  # within the tolerance, clipped to the maximum
    ("Answer: $3", 3.0),
    ("Answer: ~3", 3.0),
    ("Answer: 3 \U0001f41f", 3.0),
    ("Answer: \u22123", INVALID),
])

CPR_VOTE = rows([  # the ballot: 2.0, 2.5, 10.0, proposed by seats 0, 1, 2
    ("Answer: 2.5", 1),
    ("Answer: 2.0", 0),
    ("Answer: 2", 0),  # numbers, not text: "2" is the option "2.0"
    ("Answer: 10", 2),
    ("Answer: 10.00", 2),
    ("Answer: I vote for 2.5", 1),
    ("Answer: 2.5 (proposed by player_1)", INVALID),  # the name holds a second number
    ("Answer: the proposal 2.5", 1),
    ("Answer: 3", INVALID),  # not on the ballot
    ("Answer: 2.25", INVALID),
    ("Answer: 0", INVALID),
    ("Answer: -2.5", INVALID),
    ("Answer: 2 or 2.5", INVALID),
    ("Answer: 2.5, 10", INVALID),
    ("Answer: not 2.5", INVALID),
    ("Answer: harvest 2.5", INVALID),
    ("Answer: Cooperate", INVALID),
    ("Answer: Defect 10", INVALID),
    ("Answer: punish 10", INVALID),
    ("Answer: 25%", INVALID),
    ("Answer: two and a half", INVALID),
    ("Answer: \uff12.\uff15", 1),
    ("Answer: \u0662.\u0665", 1),
    ("Answer: 2\u00bd", INVALID),
    ("Answer: **10**", 2),
    ("Answer: 2.5\nAnswer: 10", 2),
    ("Answer: 10\nAnswer: none", INVALID),
    ("Answer: 1e1", INVALID),
    ("Answer: option 3", INVALID),  # "3" is read as a number, not as the third option
    ("Answer: 2.5 \u2705", 1),
    ("Answer: +2.5", 1),
    ("Answer: 02.5", 1),
    ("Answer: 2.50000000001", 1),  # within the tolerance
    ("Answer: 10.1", INVALID),
    ("Answer: the highest", INVALID),
    ("Answer: 2.0 and 2.5", INVALID),
])

CPR_EFFORT = rows([
    ("Answer: 0.5", 0.5),
    ("Answer: .25", 0.25),
    ("Answer: 0", 0.0),
    ("Answer: 1", 1.0),
    ("Answer: 1.0", 1.0),
    ("Answer: effort 0.3", 0.3),
    ("Answer: I harvest with effort 0.3", 0.3),
    ("Answer: 0.3 effort", 0.3),
    ("Answer: 1.5", INVALID),
    ("Answer: 2", INVALID),
    ("Answer: -0.1", INVALID),
    ("Answer: -0", 0.0),
    ("Answer: 50%", INVALID),  # a number from 0 to 1, not a percentage
    ("Answer: 50", INVALID),
    ("Answer: 1/2", INVALID),
    ("Answer: \u00bd", INVALID),
    ("Answer: 0.3 or 0.4", INVALID),
    ("Answer: 0,5", INVALID),  # a decimal comma is two numbers
    ("Answer: not 0.5", INVALID),
    ("Answer: low", INVALID),
    ("Answer: propose 0.5", INVALID),  # proposing is another phase's move
    ("Answer: vote 0.5", INVALID),
    ("Answer: Cooperate", INVALID),
    ("Answer: Defect, 1", INVALID),
    ("Answer: donate 0.5", INVALID),
    ("Answer: \uff10.\uff15", 0.5),
    ("Answer: \u0660.\u0665", 0.5),
    ("Answer: 0.5\u00b2", INVALID),
    ("Answer: **0.2**", 0.2),
    ("Answer: 0.2\nAnswer: 0.4", 0.4),
    ("Answer: 0.4\nAnswer: high", INVALID),
    ("Answer: 1e-1", INVALID),
    ("Answer: 0.1666", 0.1666),
    ("Answer: 1.00000000001", 1.0),
    ("Answer: 0.5 (norm is 2.5)", INVALID),
    ("Answer: 0.5 \U0001f3a3", 0.5),
])


@pytest.mark.parametrize("text, expected", CPR_PROPOSE)
def test_cpr_propose(text, expected):
    check(*cpr("propose"), text, expected)


@pytest.mark.parametrize("text, expected", CPR_VOTE)
def test_cpr_vote(text, expected):
    check(*cpr("vote"), text, expected)


@pytest.mark.parametrize("text, expected", CPR_EFFORT)
def test_cpr_effort(text, expected):
    check(*cpr("effort"), text, expected)


# ---------------------------------------------------------------------------------------------
# Cleanup (and Gathering, the same spec without "clean"): "Answer: <action>"
# ---------------------------------------------------------------------------------------------


def gridworld(name: str):
    world = make_world(name)
    world.reset(seed=0)
    return world.action_spec(world.possible_agents[0]), lambda action: world.action_names[int(action)]


GRIDWORLD = rows([
    ("Answer: forward", "forward"),
    ("Answer: Forward", "forward"),
    ("Answer: move forward", "forward"),
    ("Answer: step_left", "step_left"),
    ("Answer: turn_right", "turn_right"),
    ("Answer: fire", "fire"),
    ("Answer: stay", "stay"),
    ("Answer: **backward**", "backward"),
    ("Answer: `fire`", "fire"),
    ("Answer: forward, then fire", INVALID),  # two actions
    ("Answer: forward or backward", INVALID),
    ("Answer: turn left", INVALID),  # not a label: "turn_left"
    ("Answer: left", INVALID),
    ("Answer: step_left step_right", INVALID),
    ("Answer: not fire", INVALID),
    ("Answer: don't fire, stay", INVALID),
    ("Answer: fire (punish them)", INVALID),  # a move of another world
    ("Answer: stay and cooperate", INVALID),
    ("Answer: forward to harvest", INVALID),
    ("Answer: defect", INVALID),
    ("Answer: 1", INVALID),
    ("Answer: 0", INVALID),
    ("Answer: up", INVALID),
    ("Answer: FIRE!", "fire"),
    ("Answer: \uff46\uff49\uff52\uff45", "fire"),
    ("Answer: st\u200bay", "stay"),
    ("Answer: forward\nAnswer: stay", "stay"),
    ("Answer: stay\nAnswer: anything", INVALID),
    ("Answer: forward forward", "forward"),
    ("Answer: forward 3 cells", "forward"),
    ("Answer: firing", INVALID),
    ("Answer: f\u0456re", INVALID),  # Cyrillic i
    ("Justification: an apple ahead. Answer: forward", "forward"),
    ("Answer: turn_left, turn_right", INVALID),
    ("Answer: stay put", "stay"),
    ("Answer: never stay", INVALID),
    ("Answer: Fire the beam", "fire"),
    ("<think>fire?</think>\nAnswer: stay", "stay"),
])


@pytest.mark.parametrize("text, expected", GRIDWORLD + [("Answer: clean", "clean"), ("Answer: clean and fire", INVALID)])
def test_cleanup(text, expected):
    check(*gridworld("cleanup"), text, expected)


@pytest.mark.parametrize("text, expected", GRIDWORLD + [("Answer: clean", INVALID)])
def test_gathering(text, expected):
    check(*gridworld("gathering"), text, expected)


# ---------------------------------------------------------------------------------------------
# The tables themselves
# ---------------------------------------------------------------------------------------------

TABLES = {
    "donor plain": DONOR_PLAIN,
    "donor punishment": DONOR_PUNISHMENT,
    "donor partner choice": partner_choice_rows(),
    "repeated named": REPEATED_NAMED,
    "repeated neutral": REPEATED_NEUTRAL,
    "trust-split proposal": TRUST_SPLIT_PROPOSAL,
    "trust-split message": message_rows(100),
    "split-nocomm": SPLIT_NOCOMM,
    "commons harvest": COMMONS_HARVEST,
    "cpr propose": CPR_PROPOSE,
    "cpr vote": CPR_VOTE,
    "cpr effort": CPR_EFFORT,
    "gridworld": GRIDWORLD,
}


@pytest.mark.parametrize("name", TABLES)
def test_each_table_holds_at_least_50_distinct_answers_both_valid_and_invalid(name):
    table = TABLES[name]
    texts = [text for text, _ in table]
    assert len(texts) >= 50 and len(set(texts)) == len(texts), [t for t in texts if texts.count(t) > 1]
    outcomes = {expected is INVALID for _, expected in table}
    assert outcomes == {True, False}
