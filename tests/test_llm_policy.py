"""LLMPolicy: prompts, parse-retry-fallback accounting, scoring, strategy writing."""

import numpy as np
import pytest

from dilemmazoo.agents.backends.scripted import ScriptedBackend
from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.llm import LLMPolicy, extract_strategy
from dilemmazoo.envs import make_world


def donor_decisions(world_kwargs=None, seed=0):
    world = make_world("donor-game", **({"n_agents": 4, "n_rounds": 4} | (world_kwargs or {})))
    obs, _ = world.reset(seed=seed)
    return world, [
        Decision(agent_id=a, observation=obs[a], text=world.describe(a), spec=world.action_spec(a),
                 rules=world.rules(a), step=1, episode=0)
        for a in world.deciders()
    ]


def test_valid_answers_become_actions_without_failures():
    world, requests = donor_decisions()
    policy = LLMPolicy(ScriptedBackend(["Justification: fair. Answer: 5", "Answer: 2.5"]), decision="generate")
    actions = policy.act_batch(requests)
    assert [a.parse_failures for a in actions] == [0, 0]
    assert [a.fallback_used for a in actions] == [False, False]
    moves = world.moves
    assert [moves[a.value["move"]] for a in actions] == ["donate", "donate"]
    assert [float(a.value["fraction"][0]) for a in actions] == [0.5, 0.25]
    assert [len(a.calls) for a in actions] == [1, 1]
    assert actions[0].calls[0].purpose == "act"


def test_retry_sends_the_parse_error_back_then_succeeds():
    _, requests = donor_decisions()
    backend = ScriptedBackend(["I like turtles", "Answer: 1", "Answer: 20", "Answer: 4"])
    policy = LLMPolicy(backend, decision="generate", max_retries=2)
    actions = policy.act_batch(requests)
    # seat 1: garbage then 20 (> 10 units, out of range) then 4 -> two failures; seat 2: "Answer: 1" at once.
    assert [a.parse_failures for a in actions] == [2, 0]
    assert float(actions[0].value["fraction"][0]) == pytest.approx(0.4)
    assert [c.purpose for c in actions[0].calls] == ["act", "retry", "retry"]
    assert "No line starting with 'Answer:'" in actions[0].calls[0].error
    assert "outside the allowed range" in actions[0].calls[1].error


def test_unparseable_answers_end_in_the_declared_fallback_and_are_counted():
    world, requests = donor_decisions()
    policy = LLMPolicy(ScriptedBackend(["blah blah", "no idea"]), decision="generate", max_retries=2)
    actions = policy.act_batch(requests)
    assert [a.parse_failures for a in actions] == [3, 3]
    assert all(a.fallback_used for a in actions)
    assert all(world.moves[a.value["move"]] == "abstain" for a in actions)
    assert all(a.value == r.spec.fallback for a, r in zip(actions, requests))


def test_score_mode_picks_from_the_grid_through_the_world_spec():
    world, requests = donor_decisions()
    policy = LLMPolicy(ScriptedBackend(["Answer: 5", "Answer: 0"]), decision="score", score_grid=(0, 0.5, 1), temperature=0.8)
    assert policy.scoring_options(requests[0].spec) == ["Answer: 0", "Answer: 5", "Answer: 10"]
    actions = policy.act_batch(requests)
    assert [float(a.value["fraction"][0]) for a in actions] == [0.5, 0.0]
    assert [a.calls[0].purpose for a in actions] == ["score", "score"]


def test_scoring_options_never_exceed_the_maximum():
    from dilemmazoo.envs.base import Amount

    policy = LLMPolicy(ScriptedBackend(["x"]), decision="score", score_grid=(0.0, 1.0))
    spec = Amount(instruction="", fallback=None, low=0.0, high=3.3359)
    options = policy.scoring_options(spec)
    assert options == ["Answer: 0", "Answer: 3.33"]
    assert all(spec.parse(o) is not None for o in options)


def test_prompt_carries_persona_rules_strategy_memory_and_instruction():
    _, requests = donor_decisions()
    policy = LLMPolicy(ScriptedBackend(["Answer: 1"]), persona="You are careful.")
    policy.set_strategies({requests[0].agent_id: "My strategy will be to give half."})
    requests[0].memory = ["Step 1: your reward was +2."]
    system, user = policy.chat_for(requests[0])
    assert system["content"].startswith("You are careful.")
    assert requests[0].rules in system["content"]
    assert system["content"].endswith("Your strategy: My strategy will be to give half.")
    assert user["content"].startswith(requests[0].text)
    assert "Step 1: your reward was +2." in user["content"]
    assert user["content"].endswith(requests[0].spec.instruction)


def test_strategy_writing_extracts_the_sentence_and_counts_misses():
    policy = LLMPolicy(ScriptedBackend(["Thinking... My strategy will be to reciprocate.", "I refuse."]))
    strategies = policy.write_strategies(["p1", "p2"], np.random.default_rng(0))
    assert strategies == ["My strategy will be to reciprocate.", "I refuse."]
    assert policy.strategy_failures == 1
    assert extract_strategy("a. my strategy will be x. My strategy will be y.") == ("My strategy will be y.", True)


def test_bad_settings_are_rejected():
    backend = ScriptedBackend(["x"])
    with pytest.raises(ValueError):
        LLMPolicy(backend, decision="vote")
    with pytest.raises(ValueError):
        LLMPolicy(backend, max_retries=-1)


def test_score_grid_covers_every_offered_move_in_the_punishment_variant():
    world, requests = donor_decisions({"punishment": True, "partner_choice": True})
    policy = LLMPolicy(ScriptedBackend(["Answer: Punish, 5"]), decision="score", score_grid=(0, 0.5, 1))
    options = policy.scoring_options(requests[0].spec)
    assert len(options) == 3 * 2 + 1  # donate and punish with 3 amounts each, refuse once
    parsed = [requests[0].spec.parse(o) for o in options]
    assert {world.moves[p["move"]] for p in parsed} == {"donate", "punish", "refuse"}
    action = policy.act_batch(requests[:1])[0]
    assert world.moves[action.value["move"]] == "punish" and float(action.value["fraction"][0]) == 0.5
