"""The mechanisms' phase answers (envs/institutions/phases.py): parsing by hand-written cases, and
malformed answers from a scripted model ending in counted fallbacks."""

import numpy as np
import pytest

from dilemmazoo.agents.backends.scripted import ScriptedBackend
from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.llm import LLMPolicy
from dilemmazoo.envs.base import ActionParseError, Amount, Choice
from dilemmazoo.envs.institutions.contracts import LinearContract
from dilemmazoo.envs.institutions.phases import (
    DELEGATE,
    ApprovalBallot,
    ContractDesign,
    MediatorDesign,
    Signature,
    WithDelegate,
    contract_text,
    last_json_object,
    mediator_text,
)
from dilemmazoo.envs.repeated_game import RepeatedGameEnv
from dilemmazoo.norms.contracting import Contracting
from dilemmazoo.norms.mediation import Mediation

PD_LABELS = ("A0", "A1")


def test_contract_values_are_int_cast_as_coopeval_does():
    spec = ContractDesign(labels=PD_LABELS)
    assert spec.parse('{"A0": 2.7, "A1": "-1"}') == (2, -1)
    assert spec.parse('{"A0": -2.7, "A1": " 3 "}') == (-2, 3)  # int() truncates toward zero
    assert spec.parse('Thinking. {"a0": 0, " A1 ": -2}') == (0, -2)  # case and spaces of keys ignored
    assert spec.fallback == (0, 0)
    for bad, message in [
        ('{"A0": true, "A1": 0}', 'value for "A0" must be an integer, got true'),
        ('{"A0": 0, "A1": null}', "got null"),
        ('{"A0": "2.7", "A1": 0}', 'got "2.7"'),  # Python's int("2.7") refuses it too
        ('{"A0": [1], "A1": 0}', "must be an integer"),
        ('{"A0": 1}', 'Missing key(s) "A1"'),
        ('{"A0": 1, "A1": 2, "A2": 3}', 'Unknown key(s) "A2"'),
        ('{"A0": 1, "A0": 2, "A1": 0}', "more than once"),
        ('{"A0": 1, "a0": 2, "A1": 0}', "given twice"),
        ('{"A0": 1e13, "A1": 0}', "at most"),
        ('{"A0": NaN, "A1": 0}', "No JSON object"),
        ("Answer: A0", "No JSON object"),
    ]:
        with pytest.raises(ActionParseError, match=message.replace("(", r"\(").replace(")", r"\)")):
            spec.parse(bad)


def test_the_answer_is_the_last_object_naming_the_keys():
    spec = ContractDesign(labels=PD_LABELS)
    # CoopEval's pitfall 5.5: a trailing unrelated object does not fail a valid answer
    assert spec.parse('{"A0": 0, "A1": -2} my confidence: {"level": "high"}') == (0, -2)
    assert spec.parse('{"contract": {"A0": 1, "A1": 0}}') == (1, 0)  # nested
    # an earlier valid draft does not rescue a malformed last attempt
    with pytest.raises(ActionParseError, match='Missing key'):
        spec.parse('draft {"A0": 0, "A1": -2} final {"A0": 0}')
    assert last_json_object('{"x": 1} {"rate": 1, "constant": 2}', ("rate", "constant")) == {"rate": 1, "constant": 2}


def test_a_numeric_contract_is_linear():
    spec = ContractDesign(numeric=True)
    assert spec.fallback == LinearContract(0.0, 0.0)
    assert spec.parse('{"rate": -0.5, "constant": "2"}') == LinearContract(-0.5, 2.0)
    with pytest.raises(ActionParseError, match='"rate" must be a number, got false'):
        spec.parse('{"rate": false, "constant": 0}')
    with pytest.raises(ActionParseError, match='Missing key'):
        spec.parse('{"rate": 1}')
    assert contract_text(LinearContract(-0.5, 2.0), None) == "c(x) = -0.5 * x + 2"
    assert contract_text((0, -2), PD_LABELS) == "A0: 0, A1: -2"
    with pytest.raises(ValueError, match="labels"):
        ContractDesign(labels=PD_LABELS, numeric=True)
    with pytest.raises(ValueError, match="delegate"):
        ContractDesign(labels=("A0", "Delegate"))


def test_ballots_take_json_booleans_and_exactly_the_keys():
    spec = ApprovalBallot(keys=("C1", "C2", "C3"), proposals=((0, 0), (0, -2), (1, 0)),
                          proposers=("player_0", "player_1", "player_2"))
    assert spec.parse('{"C1": true, "C2": false, "C3": true}') == (True, False, True)
    assert spec.fallback == (False, False, False)
    for bad, message in [
        ('{"C1": 1, "C2": false, "C3": true}', 'value for "C1" must be true or false, got 1'),
        ('{"C1": "true", "C2": false, "C3": true}', 'got "true"'),
        ('{"C1": null, "C2": false, "C3": true}', "got null"),
        ('{"C1": true, "C2": false}', 'Missing key\\(s\\) "C3"'),
        ('{"C1": true, "C2": false, "C3": true, "C4": true}', 'Unknown key\\(s\\) "C4"'),
    ]:
        with pytest.raises(ActionParseError, match=message):
            spec.parse(bad)
    with pytest.raises(ValueError, match="one proposal and one proposer per key"):
        ApprovalBallot(keys=("C1", "C2"), proposals=((0, 0),), proposers=("player_0",))


def test_mediator_designs_cover_every_k_and_never_delegate():
    spec = MediatorDesign(n_seats=2, labels=PD_LABELS, fallback_action=0)
    assert spec.parse('{"1": "A1", "2": "a0"}') == {1: 1, 2: 0}
    assert spec.fallback == {1: 0, 2: 0}
    with pytest.raises(ActionParseError, match="cannot answer \"delegate\""):
        spec.parse('{"1": "delegate", "2": "A0"}')
    with pytest.raises(ActionParseError, match='Missing key\\(s\\) "2"'):
        spec.parse('{"1": "A0"}')
    with pytest.raises(ActionParseError, match="must be one of A0, A1, got \"A2\""):
        spec.parse('{"1": "A2", "2": "A0"}')
    claims = MediatorDesign(n_seats=2, labels=("2", "3", "4", "5"), fallback_action=3)
    assert claims.parse('{"1": 5, "2": "2"}') == {1: 3, 2: 0}  # a numeric label may be written as a number
    amounts = MediatorDesign(n_seats=3, low=0.0, high=10.0, fallback_action=0.0)
    assert amounts.parse('{"1": 3, "2": "4.5", "3": 10}') == {1: 3.0, 2: 4.5, 3: 10.0}
    with pytest.raises(ActionParseError, match="from 0 to 10, got 11"):
        amounts.parse('{"1": 11, "2": 0, "3": 0}')
    assert mediator_text({1: 1, 2: 0}, PD_LABELS) == "k=1: A1, k=2: A0"
    assert mediator_text({1: 2.5, 2: 0.0}, None) == "k=1: 2.5, k=2: 0"


def test_signatures_are_a_choice_and_read_coopevals_json_too():
    spec = Signature(contract=(0, -2), proposer="player_1")
    assert spec.options() == ["Answer: sign", "Answer: refuse"]
    assert spec.parse("Answer: sign") is True
    assert spec.parse("Answer: I refuse.") is False
    assert spec.parse('I agree. {"sign": true}') is True
    assert spec.parse('{"sign": false}') is False
    assert spec.fallback is False
    with pytest.raises(ActionParseError):
        spec.parse("Answer: I do not sign")
    with pytest.raises(ActionParseError, match="true or false"):
        spec.parse('{"sign": "yes"}')


def test_with_delegate_adds_one_option_to_the_base_game():
    base = Choice(instruction="Answer: A0 or A1.", fallback=np.int64(1), labels=PD_LABELS,
                  actions=(np.int64(0), np.int64(1)))
    spec = WithDelegate(base=base)
    assert spec.options() == ["Answer: A0", "Answer: A1", "Answer: delegate"]
    assert spec.action_for_option(2) == DELEGATE and spec.action_for_option(1) == 1
    assert spec.parse("Answer: delegate") == DELEGATE
    assert spec.parse("Answer: A1") == 1
    assert spec.fallback == 1  # never the delegation
    with pytest.raises(ActionParseError, match="not both"):
        spec.parse("Answer: A0 or delegate")
    numeric = WithDelegate(base=Amount(instruction="Answer: <amount>", fallback=0.0, low=0.0, high=10.0))
    assert numeric.options() is None
    assert numeric.parse("Answer: 3") == 3.0 and numeric.parse("Answer: I delegate") == DELEGATE
    with pytest.raises(ActionParseError):
        numeric.parse("Answer: delegate 3")


def _decisions(world):
    return [Decision(agent_id=a, observation=None, text=world.describe(a), spec=world.action_spec(a),
                     rules=world.rules(a), step=1, episode=0) for a in world.deciders()]


def pd():
    return RepeatedGameEnv(game="coopeval_pd", n_rounds=1, labels="indexed")


@pytest.mark.parametrize("decision", ["generate", "distribution"])
def test_malformed_phase_answers_are_counted_fallbacks_and_the_run_goes_on(decision):
    world = Contracting().wrap(pd())
    world.reset(seed=0)
    # design: seat 0 never writes a valid contract, seat 1 does on its retry
    backend = ScriptedBackend(['{"A0": true, "A1": 0}', '{"A0": 0, "A1": -2}', "no json", '{"A0": 5}'])
    policy = LLMPolicy(backend, decision=decision, max_retries=1)
    designs = policy.act_batch(_decisions(world))
    assert [(a.parse_failures, a.fallback_used) for a in designs] == [(2, True), (0, False)]
    assert designs[0].value == (0, 0) and designs[1].value == (0, -2)
    world.step({a: d.value for a, d in zip(world.agents, designs)})
    assert world.phase == "vote" and world.proposals == [(0, 0), (0, -2)]
    ballots = LLMPolicy(ScriptedBackend(['{"C1": 1, "C2": true}', '{"C1": false, "C2": true}']),
                        decision=decision, max_retries=0).act_batch(_decisions(world))
    assert [(a.parse_failures, a.fallback_used) for a in ballots] == [(1, True), (0, False)]
    assert ballots[0].value == (False, False) and ballots[1].value == (False, True)
    world.step({a: b.value for a, b in zip(world.agents, ballots)})
    assert world.winner == 2 and world.chosen == (0, -2)  # one approval beats none
    signatures = LLMPolicy(ScriptedBackend(["Answer: maybe"] if decision == "generate" else ['{"sign": 100}']),
                           decision=decision, max_retries=0).act_batch(_decisions(world))
    assert all(s.fallback_used and s.value is False for s in signatures)  # no contract without consent
    world.step({a: s.value for a, s in zip(world.agents, signatures)})
    assert world.phase == "play" and not world.active


def test_a_malformed_mediator_is_the_counted_fallback():
    world = Mediation().wrap(pd())
    world.reset(seed=0)
    policy = LLMPolicy(ScriptedBackend(['{"1": "delegate", "2": "A0"}', '{"1": "A1", "2": "A0"}']), max_retries=0,
                       decision="generate")
    designs = policy.act_batch(_decisions(world))
    assert designs[0].fallback_used and designs[0].value == {1: 0, 2: 0}  # the base fallback option, A0
    assert "cannot answer" in designs[0].calls[0].error
    assert not designs[1].fallback_used and designs[1].value == {1: 1, 2: 0}
    world.step({a: d.value for a, d in zip(world.agents, designs)})
    assert world.phase == "vote"


def test_a_run_whose_model_never_answers_ends_on_counted_fallbacks(tmp_path):
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import execute

    script = tmp_path / "answers.txt"
    script.write_text("I would rather not say.\n")
    config = validate({
        "name": "silent",
        "world": {"id": "repeated-game", "kwargs": {"game": "coopeval_pd", "n_rounds": 1, "labels": "indexed"}},
        "agents": {"kind": "llm", "backend": f"scripted:{script}", "decision": "generate", "max_retries": 1},
        "mechanism": {"name": "contracting"},
        "episodes_per_generation": 1,
    })
    steps = execute(config, tmp_path / "runs", progress=False).steps.sort_values(["step", "agent"])
    assert steps["mechanism_phase"].tolist() == ["design"] * 2 + ["vote"] * 2 + ["sign"] * 2 + ["play"] * 2
    assert steps["fallback_used"].all() and (steps["parse_failures"] == 2).all()
    assert steps["action"].tolist()[:6] == ["[0, 0]"] * 2 + ["[false, false]"] * 2 + ["false"] * 2
    assert steps["reward"].tolist()[-2:] == [2.0, 2.0]  # the PD's fallback, A0 for both; no contract
