"""Mediation (norms/mediation.py): 0, 1 and all delegators worked by hand on the PD, the 3-player
public goods game, the commons and the Donor Game; the delegate option in distribution answers;
PettingZoo conformance; a run through the runner."""

import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test
from pettingzoo.utils.conversions import parallel_to_aec

from dilemmazoo.agents.backends.scripted import ScriptedBackend
from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.llm import LLMPolicy
from dilemmazoo.envs.commons import CommonsEnv
from dilemmazoo.envs.donor_game import DonorGameEnv
from dilemmazoo.envs.institutions.phases import DELEGATE, ApprovalBallot, MediatorDesign, WithDelegate
from dilemmazoo.envs.public_goods import PublicGoodsEnv
from dilemmazoo.envs.repeated_game import RepeatedGameEnv
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import execute
from dilemmazoo.norms.mediation import Mediation

C, D = np.int64(0), np.int64(1)


def pd(rounds=1):
    return RepeatedGameEnv(game="coopeval_pd", n_rounds=rounds, labels="indexed")


def chosen_mediator(world, mediators, seed=0):
    """Reset, design and vote so that the first seat's mediator wins."""
    world.reset(seed=seed)
    seats = world.possible_agents
    world.step(dict(zip(seats, mediators)))
    world.step({a: (True,) + (False,) * (len(seats) - 1) for a in seats})
    assert world.phase == "play" and world.winner == 1


@pytest.mark.parametrize("moves, played, rewards, k", [
    ((C, D), (0, 1), (0.0, 3.0), 0),                # no delegator: the base PD
    ((DELEGATE, C), (1, 0), (3.0, 0.0), 1),         # one delegator: the mediator defects for it
    ((D, DELEGATE), (1, 1), (1.0, 1.0), 1),
    ((DELEGATE, DELEGATE), (0, 0), (2.0, 2.0), 2),  # both delegate: it cooperates for both
])
def test_the_pd_mediator_plays_its_action_for_k_delegators(moves, played, rewards, k):
    world = Mediation().wrap(pd())
    chosen_mediator(world, [{1: 1, 2: 0}, {1: 0, 2: 1}])
    assert world.chosen == {1: 1, 2: 0}
    assert world._observation("player_1")["mechanism_mediator"].tolist() == [1, 0]
    spec = world.action_spec("player_0")
    assert isinstance(spec, WithDelegate) and spec.options() == ["Answer: A0", "Answer: A1", "Answer: delegate"]
    _, got, _, _, infos = world.step(dict(zip(world.possible_agents, moves)))
    assert tuple(got.values()) == rewards
    assert tuple(infos[a]["played"] for a in world.possible_agents) == played
    assert all(infos[a]["mechanism_delegators"] == k for a in infos)
    assert [infos[a]["mechanism_delegated"] for a in world.possible_agents] == [m is DELEGATE for m in moves]
    assert infos["player_0"]["mechanism_mediator"] == '{"1": 1, "2": 0}'


def test_the_design_and_vote_phases_ask_their_specs():
    world = Mediation().wrap(pd())
    world.reset(seed=0)
    spec = world.action_spec("player_1")
    assert isinstance(spec, MediatorDesign) and spec.n_seats == 2 and spec.labels == ("A0", "A1")
    world.step({"player_0": {1: 1, 2: 0}, "player_1": [0, 0]})  # a sequence lists k = 1..N
    ballot = world.action_spec("player_0")
    assert isinstance(ballot, ApprovalBallot) and ballot.keys == ("M1", "M2")
    assert ballot.proposals == ({1: 1, 2: 0}, {1: 0, 2: 0})
    assert "M1 (proposed by you): k=1: A1, k=2: A0" in world.describe("player_0")
    world.reset(seed=0, options={"names": {"player_0": "x", "player_1": "y"}})
    with pytest.raises(ValueError, match="delegate action"):
        world.step({"player_0": {1: 2, 2: 0}, "player_1": {1: 0, 2: 0}})  # 2 is the delegate action itself


def test_three_player_public_goods_mediation():
    # mediator: one delegator free-rides, two or three contribute. Two delegate, seat 2 free-rides:
    # k = 2, both delegators contribute: 2 contributors, share 1; payoffs 1, 1, 2.
    world = Mediation().wrap(PublicGoodsEnv(n_rounds=1))
    chosen_mediator(world, [{1: 1, 2: 0, 3: 0}] * 3)
    _, rewards, _, _, infos = world.step({"player_0": DELEGATE, "player_1": DELEGATE, "player_2": D})
    assert rewards == {"player_0": 1.0, "player_1": 1.0, "player_2": 2.0}
    assert [infos[a]["move"] for a in world.possible_agents] == ["contribute", "contribute", "free-ride"]
    assert all(infos[a]["mechanism_delegators"] == 2 for a in infos)


def test_a_numeric_mediator_on_the_commons_harvests_its_amount_for_each_delegator():
    world = Mediation().wrap(CommonsEnv(n_agents=3, n_months=2, communication=False))
    chosen_mediator(world, [{1: 5, 2: 7.5, 3: 9}, {1: 0, 2: 0, 3: 0}, {1: 0, 2: 0, 3: 0}])
    assert world.chosen == {1: 5.0, 2: 7.5, 3: 9.0}
    assert world.action_spec("player_0").options() is None  # an amount, with "delegate" beside it
    _, rewards, _, _, infos = world.step({"player_0": DELEGATE, "player_1": 20, "player_2": DELEGATE})
    # k = 2: each delegator asks 7.5 units, rounded down to 7 (the commons takes whole units)
    assert [infos[a]["requested"] for a in world.possible_agents] == [7, 20, 7]
    assert rewards == {"player_0": 7.0, "player_1": 20.0, "player_2": 7.0}


def test_in_the_donor_game_k_counts_the_rounds_donors():
    world = Mediation(fixed_mediator={"1": 3, "2": 1, "3": 2, "4": 2}).wrap(DonorGameEnv(n_agents=4, n_rounds=2))
    world.reset(seed=5)
    assert world.phase == "play"  # imposed: no design, no vote
    donors = world.deciders()
    actions = {a: DELEGATE if a in donors else world.idle_action(a) for a in world.agents}
    _, rewards, _, _, infos = world.step(actions)
    # both donors delegate: k = 2 (of the round's 2 deciders), each gives 1 unit
    assert [infos[a]["amount"] for a in donors] == [1.0, 1.0]
    assert [rewards[a] for a in donors] == [-1.0, -1.0]
    assert all(infos[a]["mechanism_delegators"] == 2 for a in infos)
    assert sorted(a for a in infos if infos[a]["mechanism_delegated"]) == sorted(donors)


def test_delegate_is_one_more_key_of_a_distribution_answer():
    world = Mediation(fixed_mediator={1: 1, 2: 0}).wrap(pd())
    world.reset(seed=0)
    requests = [Decision(agent_id=a, observation=None, text=world.describe(a), spec=world.action_spec(a),
                         rules=world.rules(a), step=1, episode=0) for a in world.agents]
    policy = LLMPolicy(ScriptedBackend(['{"A0": 0, "A1": 0, "delegate": 100}', '{"A0": 100, "A1": 0, "delegate": 0}']),
                       decision="distribution")
    actions = policy.act_batch(requests)
    assert actions[0].value == DELEGATE and actions[0].raw_text == "Answer: delegate"
    assert int(actions[1].value) == 0
    _, rewards, *_ = world.step({a: act.value for a, act in zip(world.agents, actions)})
    assert rewards == {"player_0": 3.0, "player_1": 0.0}  # k = 1: the mediator defects against A0


def test_delegation_is_offered_in_the_play_step_only():
    world = Mediation(fixed_mediator={1: 1, 2: 0}).wrap(
        RepeatedGameEnv(game="coopeval_pd", n_rounds=1, labels="indexed", predict_first=True))
    world.reset(seed=0)
    assert not isinstance(world.action_spec("player_0"), WithDelegate)  # the prediction
    with pytest.raises(ValueError, match="integer action index"):
        world.step({"player_0": DELEGATE, "player_1": C})
    world.step({"player_0": C, "player_1": C})
    assert isinstance(world.action_spec("player_0"), WithDelegate)
    _, rewards, *_ = world.step({"player_0": DELEGATE, "player_1": DELEGATE})
    assert rewards == {"player_0": 2.0, "player_1": 2.0}


def test_bad_mediators_are_refused():
    with pytest.raises(ValueError, match="design"):
        Mediation(design="never")
    with pytest.raises(ValueError, match="fixed_mediator must map"):
        Mediation(fixed_mediator=[1, 0])
    with pytest.raises(ValueError, match="missing \\[2\\]"):
        Mediation(fixed_mediator={1: 0}).wrap(pd())
    with pytest.raises(ValueError, match="missing \\[3\\]"):
        Mediation(fixed_mediator={1: 0.0, 2: 1.0}).wrap(CommonsEnv(n_agents=3, communication=False))


@pytest.mark.parametrize("make", [pd, lambda: CommonsEnv(n_agents=3, n_months=3, communication=False)])
def test_pettingzoo_conformance(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PettingZoo's Box/Discrete recommendation for Dict observations
        parallel_api_test(Mediation().wrap(make()), num_cycles=30)
        api_test(parallel_to_aec(Mediation().wrap(make())), num_cycles=30)


def test_a_mediation_run_through_the_runner(tmp_path):
    mechanism = {"mediator": {"1": "A1", "2": "A0"}, "approve": "all", "delegate": True}
    config = validate({
        "name": "mediation",
        "world": {"id": "repeated-game", "kwargs": {"game": "coopeval_pd", "n_rounds": 2, "labels": "indexed"}},
        "agents": {"kind": "scripted", "strategy": "last_option", "params": {"mechanism": mechanism}},
        "mechanism": {"name": "mediation"},
        "episodes_per_generation": 1,
    })
    steps = execute(config, tmp_path / "a", progress=False).steps.sort_values(["step", "agent"])
    assert steps["mechanism_phase"].tolist() == ["design"] * 2 + ["vote"] * 2 + ["play"] * 4
    play = steps[steps["mechanism_phase"] == "play"]
    assert play["action"].tolist() == ['"delegate"'] * 4
    assert play["reward"].tolist() == [2.0] * 4  # both delegate in both rounds: the mediator cooperates
    assert (play["mechanism_delegators"] == 2).all()
    assert steps.equals(execute(config, tmp_path / "b", progress=False).steps.sort_values(["step", "agent"]))
