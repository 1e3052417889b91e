"""Answers as distributions: parsing, seeded sampling, retries and fallbacks, scored probabilities."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from dilemmazoo.agents.backends.base import Backend, OptionScores
from dilemmazoo.agents.backends.scripted import ScriptedBackend
from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.distribution import (
    distribution_record,
    find_json_objects,
    parse_distribution,
    sample_index,
    softmax,
)
from dilemmazoo.agents.llm import LLMPolicy
from dilemmazoo.envs import make_world
from dilemmazoo.envs.base import ActionParseError, Amount, Choice, Message

AB = ("A0", "A1")


# -- parsing --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ('Thinking it over. {"A0": 60, "A1": 40}', {"A0": 60, "A1": 40}),
    ('{"A0": 100, "A1": 0}', {"A0": 100, "A1": 0}),
    ('{"A1": 25, "A0": 75}', {"A0": 75, "A1": 25}),  # key order does not matter; the result is in option order
    ('{"A0": 60.0, "A1": 40}', {"A0": 60, "A1": 40}),  # a whole float is that whole number
    ('```json\n{"A0": 30, "A1": 70}\n```', {"A0": 30, "A1": 70}),
    # a trailing unrelated object does not fail a valid answer (CoopEval's pitfall, spec 5.5)
    ('{"A0": 70, "A1": 30}\nConfidence: {"level": "high"}', {"A0": 70, "A1": 30}),
    ('{"answer": {"A0": 20, "A1": 80}}', {"A0": 20, "A1": 80}),  # nested: the inner object names the options
    ('Draft {"A0": 50, "A1": 50}. Final: {"A0": 90, "A1": 10}', {"A0": 90, "A1": 10}),  # the last answer counts
    ('{" a0 ": 55, "A1": 45}', {"A0": 55, "A1": 45}),  # case and spaces around a key are not read
])
def test_valid_distributions_are_read(text, expected):
    result = parse_distribution(text, AB)
    assert result == expected
    assert list(result) == list(AB)
    assert all(type(v) is int for v in result.values())


@pytest.mark.parametrize("text, message", [
    ('{"A0": 60, "A1": 30}', "sum to 100; yours sum to 90"),
    ('{"A0": 60, "A1": 40, "A2": 0}', 'Unknown key "A2"'),
    ('{"A0": 100}', 'Missing key "A1"'),
    ('{"A0": 33.5, "A1": 66.5}', 'whole number from 0 to 100, got 33.5'),
    ('{"A0": true, "A1": 0}', 'got true'),  # Python would read true as 1
    ('{"A0": false, "A1": 100}', 'got false'),
    ('{"A0": "60", "A1": "40"}', 'got "60"'),
    ('{"A0": "60%", "A1": "40%"}', 'got "60%"'),
    ('{"A0": null, "A1": 100}', 'got null'),
    ('{"A0": -10, "A1": 110}', 'from 0 to 100, got -10'),
    ('{"A0": 60, "A0": 40, "A1": 0}', 'The key "A0" appears more than once'),
    ('{"A0": 50, "a0": 0, "A1": 50}', 'The option "A0" is given twice'),
    ('{"A0": NaN, "A1": 100}', "No JSON object with the options as keys"),  # NaN is not JSON
    ("A0: 60, A1: 40", "No JSON object with the options as keys"),
    ("{'A0': 60, 'A1': 40}", "No JSON object with the options as keys"),  # a Python dict, not JSON
    ('{"note": 1}', "No JSON object with the options as keys"),
    ("", "No JSON object with the options as keys"),
    # the last attempt is what the model finally said: an earlier valid draft does not rescue it
    ('{"A0": 50, "A1": 50} then {"A0": 70, "A1": 20}', "yours sum to 90"),
])
def test_malformed_distributions_raise_a_message_for_the_model(text, message):
    with pytest.raises(ActionParseError) as error:
        parse_distribution(text, AB)
    assert message in str(error.value)


def test_fractional_percentages_are_read_when_whole_is_off():
    result = parse_distribution('{"A0": 33.3, "A1": 33.3, "A2": 33.4}', ("A0", "A1", "A2"), whole=False)
    assert result == {"A0": 33.3, "A1": 33.3, "A2": 33.4}
    with pytest.raises(ActionParseError, match="sum to 100; yours sum to 99.9"):
        parse_distribution('{"A0": 33.3, "A1": 33.3, "A2": 33.3}', ("A0", "A1", "A2"), whole=False)


def test_named_labels_are_the_keys_and_unrelated_objects_are_skipped():
    labels = ("Cooperate", "Defect")
    text = 'Plan: {"step": 1}. {"cooperate": 35, "DEFECT": 65} {"meta": {"x": 2}}'
    assert parse_distribution(text, labels) == {"Cooperate": 35, "Defect": 65}
    assert [list(o) for o in find_json_objects(text)] == [["step"], ["cooperate", "DEFECT"], ["meta"], ["x"]]


def test_a_deeply_nested_answer_is_read_from_the_end():
    depth = 1500  # the wrappers are nested beyond json's recursion limit; the answer is found first
    text = '{"a": ' * depth + '{"A0": 40, "A1": 60}' + "}" * depth
    assert parse_distribution(text, AB) == {"A0": 40, "A1": 60}


def test_options_must_be_distinct():
    with pytest.raises(ValueError, match="distinct"):
        parse_distribution('{"A0": 100}', ("A0", "A0"))
    with pytest.raises(ValueError, match="distinct"):
        parse_distribution('{"A0": 100}', ())


# -- sampling -------------------------------------------------------------------------------------

def test_seeded_sampling_reproduces_and_matches_the_distribution():
    weights = [60, 30, 10, 0]
    draws = [sample_index(weights, rng) for rng in [np.random.default_rng(7)] for _ in range(20000)]
    again = [sample_index(weights, rng) for rng in [np.random.default_rng(7)] for _ in range(20000)]
    assert draws == again
    other = [sample_index(weights, rng) for rng in [np.random.default_rng(8)] for _ in range(20000)]
    assert draws != other
    frequencies = np.bincount(draws, minlength=4) / len(draws)
    # a binomial share's standard deviation is at most sqrt(0.25 / 20000) = 0.0035: 0.015 is > 4 of them
    assert frequencies == pytest.approx([0.6, 0.3, 0.1, 0.0], abs=0.015)
    assert frequencies[3] == 0  # weight 0 is never drawn


def test_sampling_is_the_inverse_cdf_of_one_uniform():
    weights = [25, 50, 25]
    for seed in range(20):
        u = np.random.default_rng(seed).random()
        expected = 0 if u < 0.25 else 1 if u < 0.75 else 2
        assert sample_index(weights, np.random.default_rng(seed)) == expected
    assert sample_index([0, 0, 5], np.random.default_rng(0)) == 2


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1], [1, math.inf], [1, math.nan]])
def test_sampling_refuses_bad_weights(weights):
    with pytest.raises(ValueError, match="weights"):
        sample_index(weights, np.random.default_rng(0))


def test_softmax_follows_the_log_likelihoods():
    logp = np.log([0.5, 0.3, 0.2]) - 40.0  # shifted: only differences matter
    assert softmax(logp) == pytest.approx([0.5, 0.3, 0.2], abs=1e-12)
    assert softmax([0.0, -math.inf]).tolist() == [1.0, 0.0]
    assert softmax([-1000.0, -1000.0 + math.log(3)]) == pytest.approx([0.25, 0.75], abs=1e-12)
    for bad in ([], [-math.inf, -math.inf], [0.0, math.nan], [math.inf, 0.0]):
        with pytest.raises(ValueError, match="log_likelihoods"):
            softmax(bad)


def test_distribution_record_is_probabilities_in_option_order():
    assert distribution_record(["A0", "A1", "A2"], [60, 30, 10]) == {"A0": 0.6, "A1": 0.3, "A2": 0.1}
    with pytest.raises(ValueError, match="length"):
        distribution_record(["A0"], [50, 50])


# -- the policy -----------------------------------------------------------------------------------

_DECISIONS = {}


def pd_decisions(step=1, episode=0, labels="indexed"):
    """The prisoner's dilemma's first decisions (labels A0, A1), told as step ``step``."""
    if labels not in _DECISIONS:
        world = make_world("repeated-game", game="prisoners_dilemma", n_rounds=3, labels=labels)
        obs, _ = world.reset(seed=0)
        _DECISIONS[labels] = world, [
            Decision(agent_id=a, observation=obs[a], text=world.describe(a), spec=world.action_spec(a),
                     rules=world.rules(a), step=1, episode=0)
            for a in world.agents
        ]
    world, requests = _DECISIONS[labels]
    return world, [replace(r, step=step, episode=episode) for r in requests]


def test_the_prompt_asks_for_a_distribution_over_the_world_keys():
    _, requests = pd_decisions()
    policy = LLMPolicy(ScriptedBackend(['{"A0": 50, "A1": 50}']), decision="distribution")
    user = policy.chat_for(requests[0], mode="distribution")[1]["content"]
    assert "Which option do you choose in round 1?" in user
    assert "'Answer: <option>'" not in user  # the world's one-answer sentence is replaced
    assert 'exactly one key per option ("A0", "A1")' in user
    assert "integer percentages from 0 to 100 that sum to 100" in user
    _, named = pd_decisions(labels="named")
    assert '("Cooperate", "Defect")' in policy.chat_for(named[0], mode="distribution")[1]["content"]


def test_a_written_distribution_is_sampled_recorded_and_counted_as_valid():
    world, requests = pd_decisions()
    policy = LLMPolicy(ScriptedBackend(['Reasoning... {"A0": 100, "A1": 0}', '{"A0": 0, "A1": 100}']),
                       decision="distribution", seed=3)
    actions = policy.act_batch(requests)
    assert [int(a.value) for a in actions] == [0, 1]
    assert [a.raw_text for a in actions] == ["Answer: A0", "Answer: A1"]  # what the agent's memory shows
    assert [a.distribution for a in actions] == [{"A0": 1.0, "A1": 0.0}, {"A0": 0.0, "A1": 1.0}]
    assert [(a.parse_failures, a.fallback_used) for a in actions] == [(0, False), (0, False)]
    assert [[c.purpose for c in a.calls] for a in actions] == [["act"], ["act"]]
    assert actions[0].calls[0].text.startswith("Reasoning")  # the full reply stays in the call record
    assert policy.provenance()["decision"] == "distribution"
    assert policy.provenance()["distribution_source"] == "generate"


def test_sampling_in_the_policy_reproduces_with_the_seed_and_follows_the_answer():
    def play(seed):
        policy = LLMPolicy(ScriptedBackend(['{"A0": 70, "A1": 30}']), decision="distribution", seed=seed)
        chosen = []
        for step in range(1, 301):
            _, requests = pd_decisions(step=step)
            chosen += [int(a.value) for a in policy.act_batch(requests)]
        return chosen

    first = play(11)
    assert first == play(11)
    assert first != play(12)
    # 600 draws at p = 0.3: standard deviation 0.019; 0.08 is 4 of them
    assert np.mean(first) == pytest.approx(0.3, abs=0.08)


def test_malformed_distributions_are_retried_with_the_error_then_succeed():
    _, requests = pd_decisions()
    backend = ScriptedBackend(["I cooperate.", '{"A0": 50, "A1": 50}',  # seat 0 fails, seat 1 is valid
                               '{"A0": 60}', '{"A0": 60, "A1": 40, "A2": 0}', '{"A0": 100, "A1": 0}'])
    policy = LLMPolicy(backend, decision="distribution", max_retries=3)
    actions = policy.act_batch(requests)
    first, second = actions
    assert first.parse_failures == 3 and not first.fallback_used
    assert [c.purpose for c in first.calls] == ["act", "retry", "retry", "retry"]
    assert "No JSON object" in first.calls[0].error
    assert 'Missing key "A1"' in first.calls[1].error
    assert 'Unknown key "A2"' in first.calls[2].error
    assert first.distribution == {"A0": 1.0, "A1": 0.0} and int(first.value) == 0
    assert second.parse_failures == 0 and second.distribution == {"A0": 0.5, "A1": 0.5}


def test_the_retry_message_carries_the_error_and_the_format():
    _, requests = pd_decisions()
    seen = []

    class Recording(ScriptedBackend):
        def generate(self, chats, *, params):
            seen.extend(chats)
            return super().generate(chats, params=params)

    policy = LLMPolicy(Recording(['{"A0": 60, "A1": 30}', '{"A0": 60, "A1": 40}']), decision="distribution")
    policy.act_batch(requests[:1])
    retry = seen[-1][-1]["content"]
    assert "The percentages must sum to 100; yours sum to 90." in retry
    assert 'exactly one key per option ("A0", "A1")' in retry
    assert seen[-1][-2] == {"role": "assistant", "content": '{"A0": 60, "A1": 30}'}


def test_distributions_that_never_parse_end_in_the_counted_fallback():
    _, requests = pd_decisions()
    policy = LLMPolicy(ScriptedBackend(['{"A0": true, "A1": false}', '{"A0": 60, "A1": 60}']),
                       decision="distribution", max_retries=1)
    actions = policy.act_batch(requests)
    assert [a.parse_failures for a in actions] == [2, 2]
    assert all(a.fallback_used for a in actions)
    assert all(a.value == r.spec.fallback for a, r in zip(actions, requests))
    assert all(getattr(a, "distribution", None) is None for a in actions)  # no distribution was given


class FixedScores(Backend):
    """A scoring backend whose options get fixed log-likelihoods, in order."""

    name = "fixed-scores"
    can_score = True

    def __init__(self, logp):
        self.logp = list(logp)
        self.calls = 0

    def generate(self, chats, *, params):
        raise AssertionError("score-sourced distributions must not generate")

    def score(self, chats, options):
        self.calls += 1
        return [OptionScores(self.logp[: len(opts)], prompt_tokens=5, option_tokens=len(opts)) for opts in options]


def test_score_sourced_probabilities_are_the_softmax_of_the_log_likelihoods():
    _, requests = pd_decisions()
    backend = FixedScores(np.log([0.8, 0.2]) - 3.0)
    policy = LLMPolicy(backend, decision="distribution", distribution_source="score", seed=5, temperature=0.1)
    actions = policy.act_batch(requests)
    assert backend.calls == 1  # one scoring pass for the step
    for action in actions:
        assert list(action.distribution) == ["A0", "A1"]
        assert sum(action.distribution.values()) == pytest.approx(1.0, abs=1e-12)
        # temperature 1, whatever the sampling temperature: the model's own probabilities
        assert list(action.distribution.values()) == pytest.approx([0.8, 0.2], abs=1e-12)
        assert [c.purpose for c in action.calls] == ["score"]
        assert action.raw_text in ("Answer: A0", "Answer: A1")
        assert int(action.value) == ["Answer: A0", "Answer: A1"].index(action.raw_text)
    assert policy.provenance()["distribution_source"] == "score"
    # the draws follow the probabilities over many decisions
    chosen = []
    for step in range(1, 201):
        _, requests = pd_decisions(step=step)
        chosen += [int(a.value) for a in policy.act_batch(requests)]
    assert np.mean(chosen) == pytest.approx(0.2, abs=0.06)  # 400 draws: sd 0.02


def test_score_sourced_distribution_from_the_scripted_backend():
    _, requests = pd_decisions()
    policy = LLMPolicy(ScriptedBackend(["Answer: A1", "Answer: A0"]), decision="distribution",
                       distribution_source="score")
    actions = policy.act_batch(requests)
    assert [a.distribution for a in actions] == [{"A0": 0.0, "A1": 1.0}, {"A0": 1.0, "A1": 0.0}]
    assert [int(a.value) for a in actions] == [1, 0]


def test_every_option_impossible_is_a_counted_fallback():
    _, requests = pd_decisions()
    policy = LLMPolicy(FixedScores([-math.inf, -math.inf]), decision="distribution", distribution_source="score")
    actions = policy.act_batch(requests)
    assert all(a.fallback_used and a.parse_failures == 1 for a in actions)
    assert "no distribution from the scores" in actions[0].calls[0].error


def test_options_and_sources_are_checked():
    class CannotScore(ScriptedBackend):
        can_score = False

    with pytest.raises(ValueError, match="distribution_source 'score' needs a backend that can score"):
        LLMPolicy(CannotScore(["x"]), decision="distribution", distribution_source="score")
    with pytest.raises(ValueError, match="distribution_source must be one of"):
        LLMPolicy(ScriptedBackend(["x"]), decision="distribution", distribution_source="written")


def decision_for(spec):
    return Decision(agent_id="p0", observation=None, text="You play.", spec=spec, rules="Rules.", step=1, episode=0)


def test_numbers_and_several_fields_are_refused_with_the_action_kind():
    from dilemmazoo.envs.split_nocomm import ItemProposal

    policy = LLMPolicy(ScriptedBackend(['{"x": 1}']), decision="distribution")
    amount = Amount(instruction="End your reply with 'Answer: <amount>'.", fallback=0.0, low=0.0, high=10.0)
    with pytest.raises(ValueError, match=r"a number \(Amount\); give score_grid"):
        policy.act_batch([decision_for(amount)])
    several = ItemProposal.__new__(ItemProposal)  # the kind is what is refused; no field is read
    with pytest.raises(ValueError, match=r"answer \(ItemProposal\) has several fields"):
        policy.act_batch([decision_for(several)])


def test_an_amount_with_a_grid_is_a_distribution_over_the_grid():
    spec = Amount(instruction="How much? End your reply with 'Answer: <amount>'.", fallback=0.0, low=0.0, high=10.0)
    policy = LLMPolicy(ScriptedBackend(['{"0": 0, "5": 0, "10": 100}']), decision="distribution",
                       score_grid=(0.0, 0.5, 1.0))
    [action] = policy.act_batch([decision_for(spec)])
    assert action.value == 10.0
    assert action.distribution == {"0": 0.0, "5": 0.0, "10": 1.0}
    assert '("0", "5", "10")' in policy.chat_for(decision_for(spec), mode="distribution")[1]["content"]


def test_talk_is_generated_as_text_in_distribution_mode():
    talk = Message(instruction="Say something. End your reply with 'Answer: <message>'.", fallback="")
    choice = Choice(instruction="Pick. End your reply with 'Answer: <option>'.", fallback="a", labels=("x", "y"),
                    actions=("a", "b"))
    policy = LLMPolicy(ScriptedBackend(["Answer: hello there", '{"x": 0, "y": 100}']), decision="distribution")
    said, picked = policy.act_batch([decision_for(talk), decision_for(choice)])
    assert said.value == "hello there" and getattr(said, "distribution", None) is None
    assert picked.value == "b" and picked.distribution == {"x": 0.0, "y": 1.0}
    assert policy.modes_used == {"generate", "distribution"}


@pytest.mark.slow
def test_embedded_model_probabilities_sum_to_one_and_follow_its_scores(embedded_backend):
    class Recording(Backend):  # the embedded model, keeping the log-likelihoods it returned
        name = embedded_backend.name
        can_score = True
        rows = []

        def generate(self, chats, *, params):
            raise AssertionError("score-sourced distributions must not generate")

        def score(self, chats, options):
            self.rows = embedded_backend.score(chats, options)
            return self.rows

    _, requests = pd_decisions(labels="named")
    backend = Recording()
    policy = LLMPolicy(backend, decision="distribution", distribution_source="score", seed=1)
    [action] = policy.act_batch(requests[:1])
    probabilities = np.array(list(action.distribution.values()))
    assert list(action.distribution) == ["Cooperate", "Defect"]
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.all(probabilities > 0)
    [logp] = backend.rows
    assert np.all(np.isfinite(logp)) and logp[0] != logp[1]
    # p_C / p_D = exp(l_C - l_D): the probabilities follow the model's own log-likelihoods
    assert math.log(probabilities[0] / probabilities[1]) == pytest.approx(logp[0] - logp[1], abs=1e-9)
    assert action.raw_text in ("Answer: Cooperate", "Answer: Defect")
    assert json.loads(json.dumps(action.distribution)) == action.distribution
