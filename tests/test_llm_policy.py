"""LLMPolicy: prompts, parse-retry-fallback accounting, scoring, strategy writing."""

import json

import numpy as np
import pytest

from dilemmazoo.agents.backends import BackendError
from dilemmazoo.agents.backends.cache import CachedBackend
from dilemmazoo.agents.backends.scripted import ScriptedBackend
from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.llm import LLMPolicy, PromptStyle, extract_strategy
from dilemmazoo.agents.synthesis import SynthesizedPolicy
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


# -- score mode: prompt and accounting ------------------------------------------------------

def test_score_prompts_ask_for_the_answer_line_not_for_reasoning():
    _, requests = donor_decisions()
    policy = LLMPolicy(ScriptedBackend(["Answer: 5"]), decision="score", score_grid=(0, 0.5, 1))
    generate_user = policy.chat_for(requests[0])[1]["content"]
    score_user = policy.chat_for(requests[0], mode="score")[1]["content"]
    assert generate_user.endswith(requests[0].spec.instruction)  # generate mode: the world's words
    assert "think" not in score_user.lower() and "justification" not in score_user.lower()
    assert score_user.endswith(". Reply with your answer line only.")
    policy.act_batch(requests[:1])
    assert json.loads(policy_call_prompt(policy, requests[:1]))[1]["content"] == score_user


def policy_call_prompt(policy, requests):
    return policy.act_batch(requests)[0].calls[0].prompt


def test_score_style_drops_only_whole_sentences_that_begin_with_think():
    style = PromptStyle()
    assert style.score_instruction("Think it through, then answer as 'Answer: ...'. Answer with C or D.") == (
        "Answer with C or D. Reply with your answer line only."
    )
    # "think" inside another sentence is kept: only sentences that invite reasoning are dropped
    assert style.score_instruction("What do you think is fair? Pick one.") == (
        "What do you think is fair? Pick one. Reply with your answer line only."
    )


def test_score_calls_record_their_tokens_and_cache_hits(tmp_path):
    _, requests = donor_decisions()
    script = ["Answer: 5", "Answer: 0"]
    policy = LLMPolicy(CachedBackend(ScriptedBackend(script), tmp_path), decision="score", score_grid=(0, 0.5, 1))
    first = [a.calls[0] for a in policy.act_batch(requests)]
    chats = [json.loads(call.prompt) for call in first]
    words = [sum(len(m["content"].split()) for m in chat) for chat in chats]
    assert [c.prompt_tokens for c in first] == words and all(w > 50 for w in words)
    assert [c.completion_tokens for c in first] == [6, 6]  # "Answer: 0", "Answer: 5", "Answer: 10"
    assert [c.cached for c in first] == [False, False]
    again = LLMPolicy(CachedBackend(ScriptedBackend(["never matches"]), tmp_path), decision="score",
                      score_grid=(0, 0.5, 1))
    # another script is another model: nothing is shared
    with pytest.raises(BackendError, match="matches none"):
        again.act_batch(requests)
    rerun = LLMPolicy(CachedBackend(ScriptedBackend(script), tmp_path), decision="score", score_grid=(0, 0.5, 1))
    second = [a.calls[0] for a in rerun.act_batch(requests)]
    assert [c.cached for c in second] == [True, True] and [c.latency_s for c in second] == [0.0, 0.0]
    assert [(c.prompt_tokens, c.completion_tokens, c.text) for c in second] == [
        (c.prompt_tokens, c.completion_tokens, c.text) for c in first
    ]


# -- strategies: prefill and honest acceptance ----------------------------------------------

def test_prefilled_strategies_continue_the_sentence_and_empty_ones_are_counted():
    backend = ScriptedBackend([" to give half and punish nobody.", "", " ...", " to give half."], prefill=True)
    policy = LLMPolicy(backend)
    strategies = policy.write_strategies(["p1", "p2", "p3"], np.random.default_rng(0))
    assert strategies[0] == "My strategy will be to give half and punish nobody."
    assert strategies[1:] == ["My strategy will be", "My strategy will be ..."]  # kept, but counted
    assert policy.strategy_failures == 2
    calls = policy.last_strategy_calls
    assert [bool(c.error) for c in calls] == [False, True, True]
    assert calls[0].text == strategies[0]
    assert json.loads(calls[0].prompt)[-1] == {"role": "assistant", "content": "My strategy will be"}


def test_without_prefill_the_prompt_alone_asks_for_the_sentence():
    policy = LLMPolicy(ScriptedBackend(["My strategy will be", "So: my strategy will be to share."]))
    assert policy.write_strategies(["p1", "p2"], np.random.default_rng(0)) == [
        "My strategy will be", "my strategy will be to share."
    ]
    assert policy.strategy_failures == 1  # the sentence with nothing after it is no strategy
    assert json.loads(policy.last_strategy_calls[0].prompt)[-1]["role"] == "user"


def test_a_whitespace_only_scripted_answer_is_a_counted_fallback(tmp_path):
    world, requests = donor_decisions()
    script = tmp_path / "answers.txt"
    script.write_text("   \n\t\n")
    policy = LLMPolicy(ScriptedBackend(script), decision="generate", max_retries=1)
    actions = policy.act_batch(requests)
    assert [c.text for c in actions[0].calls] == ["   ", "   "]
    assert [c.text for c in actions[1].calls] == ["\t", "\t"]
    assert all(a.fallback_used and a.parse_failures == 2 for a in actions)
    assert all(a.value == r.spec.fallback for a, r in zip(actions, requests))


# -- provenance -----------------------------------------------------------------------------

def test_policy_provenance_is_the_backends_plus_the_resolved_decision(tmp_path):
    backend = ScriptedBackend(["Answer: 5"])
    expected = {**backend.provenance()}
    assert LLMPolicy(backend, decision="generate").provenance() == {**expected, "decision": "generate"}
    auto = LLMPolicy(backend)
    assert auto.provenance()["decision"] == "score"  # what a small choice would get from a scoring backend
    _, requests = donor_decisions()
    auto.act_batch(requests[:1])  # an amount without a score grid is generated
    assert auto.provenance() == {**expected, "decision": "generate"}
    cached = LLMPolicy(CachedBackend(backend, tmp_path), decision="score", score_grid=(0, 1))
    assert cached.provenance() == {**expected, "decision": "score"}


def test_synthesized_policy_provenance_names_the_code_writer():
    from dilemmazoo.agents.sandbox import probe_isolation

    backend = ScriptedBackend(["```python\ndef act(obs):\n    return 0\n```"])
    # the code writer's model, no decision mode (written code plays), and the sandbox the code runs in
    assert SynthesizedPolicy(backend).provenance() == {**backend.provenance(), "decision": None,
                                                       "isolation": probe_isolation().level}
    assert SynthesizedPolicy(None).provenance() == {
        **dict.fromkeys(["model", "revision", "weights_sha256", "base_url", "decision"]), "isolation": probe_isolation().level}
