"""Agents: one contract every policy meets, then exact scripted-strategy behaviour."""

import numpy as np
import pytest

from dilemmazoo.agents import SequentialPolicy, make_scripted
from dilemmazoo.agents.backends.scripted import ScriptedBackend
from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.llm import LLMPolicy
from dilemmazoo.agents.scripted import ScriptedPolicy
from dilemmazoo.envs import make_world
from dilemmazoo.norms import CostlyPunishment, list_norms


def round_one(seed=0, **kwargs):
    world = make_world("donor-game", **({"n_agents": 6, "n_rounds": 4} | kwargs))
    obs, _ = world.reset(seed=seed)
    requests = [Decision(agent_id=a, observation=obs[a], text=world.describe(a), spec=world.action_spec(a),
                         rules=world.rules(a), step=1, episode=0) for a in world.deciders()]
    return world, requests


POLICIES = {
    "scripted": lambda: ScriptedPolicy("reciprocator"),
    "llm-generate": lambda: LLMPolicy(ScriptedBackend(["Answer: 1", "nonsense", "Answer: 2"]), decision="generate"),
    "llm-score": lambda: LLMPolicy(ScriptedBackend(["Answer: 5"]), decision="score", score_grid=(0, 0.5, 1)),
    "sequential": lambda: SequentialPolicy({f"player_{i}": make_scripted("fixed_fraction", fraction=0.3) for i in range(6)}),
}


class TestPolicyContract:
    """What every BatchPolicy must do, whatever decides."""

    @pytest.mark.parametrize("make", POLICIES.values(), ids=POLICIES.keys())
    def test_one_valid_action_per_request_in_order(self, make):
        world, requests = round_one()
        actions = make().act_batch(requests)
        assert len(actions) == len(requests)
        for request, action in zip(requests, actions):
            assert world.action_space(request.agent_id).contains(action.value)
            assert action.parse_failures >= 0 and isinstance(action.fallback_used, bool)

    @pytest.mark.parametrize("make", POLICIES.values(), ids=POLICIES.keys())
    def test_empty_batch(self, make):
        assert make().act_batch([]) == []


def fraction_of(action):
    return float(action.value["fraction"][0])


def test_fixed_fraction_defector_and_reciprocator_in_round_one():
    _, requests = round_one()
    assert [fraction_of(make_scripted("fixed_fraction", fraction=0.25).act(r)) for r in requests] == [0.25] * 3
    assert [fraction_of(make_scripted("defector").act(r)) for r in requests] == [0.0] * 3
    # no history in round 1: the reciprocator opens with its initial fraction
    assert [fraction_of(make_scripted("reciprocator", initial=0.7).act(r)) for r in requests] == [0.7] * 3


def test_reciprocator_returns_what_the_recipient_gave():
    world, requests = round_one()
    actions = {r.agent_id: r.spec.make_action(0, 0.4 * r.spec.high) for r in requests}
    for a in world.agents:
        actions.setdefault(a, world.idle_action(a))
    obs, *_ = world.step(actions)
    request = Decision(agent_id=world.deciders()[0], observation=obs[world.deciders()[0]], text="", rules="",
                       spec=world.action_spec(world.deciders()[0]), step=2, episode=0)
    assert fraction_of(make_scripted("reciprocator", initial=1.0).act(request)) == pytest.approx(0.4)
    assert fraction_of(make_scripted("reciprocator", generosity=2.0).act(request)) == pytest.approx(0.8)


def test_bad_scripted_parameters():
    with pytest.raises(ValueError, match="known"):
        make_scripted("angel")
    with pytest.raises(ValueError):
        make_scripted("fixed_fraction", fraction=1.5)
    with pytest.raises(ValueError, match="bad parameters"):
        make_scripted("defector", fraction=0.5)


def test_costly_punishment_institution():
    rule = CostlyPunishment()
    assert rule.moves == ("punish",)
    assert rule.apply(3.0, 10.0) == 4.0
    assert rule.apply(6.0, 10.0) == 0.0  # floored at zero
    assert CostlyPunishment(effect_per_unit=3.0).apply(1.0, 10.0) == 7.0
    assert "institution:costly_punishment" in list_norms()
    rng = np.random.default_rng(0)
    assert ScriptedPolicy("defector").write_strategies(["a", "b"], rng) == ["", ""]


def test_every_seated_policy_inherits_the_declared_hooks_and_their_defaults_do_nothing():
    from dilemmazoo.agents.base import BatchPolicy
    from dilemmazoo.agents.neural import NeuralPolicy
    from dilemmazoo.agents.synthesis import SynthesizedPolicy

    for cls in (LLMPolicy, ScriptedPolicy, SynthesizedPolicy, NeuralPolicy, SequentialPolicy):
        assert issubclass(cls, BatchPolicy), cls
    with pytest.raises(TypeError, match="act_batch"):
        BatchPolicy()
    policy = LLMPolicy(ScriptedBackend(["Answer: 1"]), decision="generate")  # overrides set_strategies, not set_members
    assert policy.last_strategy_calls == () and policy.strategy_failures == 0
    assert policy.set_members({"player_0": {"fraction": 0.5}}) is None
    assert policy.start_episode({"player_0": "rules"}, np.random.default_rng(0)) is None
    assert policy.strategies == {} and policy.set_strategies({"player_0": "Share."}) is None
    assert policy.strategies == {"player_0": "Share."}
