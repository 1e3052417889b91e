"""Contracting (norms/contracting.py): transfers worked by hand on the PD, the 3-player public goods
game, the commons and the Donor Game; signatures, the seeded tie-break, designs remembered per
member, PettingZoo conformance, and a full run through the runner."""

import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test
from pettingzoo.utils.conversions import parallel_to_aec

from dilemmazoo.envs.commons import CommonsEnv
from dilemmazoo.envs.donor_game import DonorGameEnv
from dilemmazoo.envs.institutions.contracts import LinearContract
from dilemmazoo.envs.institutions.phases import ApprovalBallot, ContractDesign, Signature
from dilemmazoo.envs.public_goods import PublicGoodsEnv
from dilemmazoo.envs.repeated_game import RepeatedGameEnv
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import execute
from dilemmazoo.norms import make_mechanism
from dilemmazoo.norms.contracting import Contracting

C, D = np.int64(0), np.int64(1)


def pd(rounds=1):
    return RepeatedGameEnv(game="coopeval_pd", n_rounds=rounds, labels="indexed")


def signed_contract(world, contracts, approvals=None, signs=None, seed=0, names=None):
    """Reset and play design, vote and sign with the given answers; return the reset's infos."""
    _, infos = world.reset(seed=seed, options={"names": names} if names else None)
    seats = world.possible_agents
    if world.phase == "design":
        world.step({a: contracts[i] for i, a in enumerate(seats) if a in world.deciders()})
    approvals = approvals or [(True,) * len(seats)] * len(seats)
    world.step(dict(zip(seats, approvals)))
    if world.phase == "sign":
        world.step(dict(zip(seats, signs or [True] * len(seats))))
    return infos


@pytest.mark.parametrize("moves, rewards, paid", [
    ((C, C), (2.0, 2.0), (0.0, 0.0)),
    ((C, D), (2.0, 1.0), (2.0, -2.0)),  # base 0, 3; the defector pays c(C) - c(D) = 2 to the cooperator
    ((D, C), (1.0, 2.0), (-2.0, 2.0)),
    ((D, D), (1.0, 1.0), (0.0, 0.0)),
])
def test_a_contract_punishing_defection_on_the_pd(moves, rewards, paid):
    world = Contracting().wrap(pd())
    signed_contract(world, [(0, -2), (0, -2)])
    assert world.phase == "play" and world.active and world.chosen == (0, -2)
    shown = world._observation("player_0")
    assert shown["mechanism_contract"].tolist() == [0, -2] and shown["mechanism_contract_active"] == 1
    assert isinstance(world.action_spec("player_0"), type(pd().action_spec("player_0")))
    _, got, terminations, _, infos = world.step(dict(zip(world.possible_agents, moves)))
    assert tuple(got.values()) == rewards
    assert tuple(infos[a]["mechanism_transfer"] for a in world.possible_agents) == paid
    assert all(infos[a]["mechanism_phase"] == "play" and infos[a]["mechanism_contract_active"] for a in infos)
    assert infos["player_0"]["mechanism_contract"] == "[0, -2]"
    assert infos["player_0"]["played"] == int(moves[0])  # the base world's infos come along
    assert all(terminations.values()) and world.agents == []


def test_the_phases_pay_nothing_and_ask_their_specs():
    world = Contracting().wrap(pd())
    _, infos = world.reset(seed=0)
    assert world.phase == "design" and infos["player_0"]["mechanism_phase"] == "design"
    spec = world.action_spec("player_0")
    assert isinstance(spec, ContractDesign) and spec.labels == ("A0", "A1")
    observations, rewards, *_ , infos = world.step({"player_0": (0, -2), "player_1": (1, 0)})
    assert rewards == {"player_0": 0.0, "player_1": 0.0}
    assert infos["player_0"]["mechanism_phase"] == "design" and observations["player_0"]["mechanism_phase"] == 1
    ballot = world.action_spec("player_1")
    assert isinstance(ballot, ApprovalBallot) and ballot.keys == ("C1", "C2")
    assert ballot.proposals == ((0, -2), (1, 0)) and ballot.proposers == ("player_0", "player_1")
    assert "C2 (proposed by you): A0: 1, A1: 0" in world.describe("player_1")
    world.step({"player_0": (True, False), "player_1": (True, False)})
    signature = world.action_spec("player_0")
    assert isinstance(signature, Signature) and signature.contract == (0, -2) and signature.proposer == "player_0"
    assert "The chosen contract is C1, proposed by you: A0: 0, A1: -2" in world.describe("player_0")
    *_, infos = world.step({"player_0": True, "player_1": True})
    assert infos["player_1"]["mechanism_winner"] == 1 and infos["player_1"]["mechanism_signed"]
    assert "Contracting" in world.rules("player_0") and "Option" in world.rules("player_0")


def test_a_refused_signature_leaves_no_transfers():
    world = Contracting().wrap(pd())
    signed_contract(world, [(0, -2), (0, -2)], signs=[True, False])
    assert world.phase == "play" and not world.active
    assert "was refused by player_1" in world.describe("player_0")
    _, rewards, _, _, infos = world.step({"player_0": C, "player_1": D})
    assert rewards == {"player_0": 0.0, "player_1": 3.0}  # the base PD
    assert all(infos[a]["mechanism_transfer"] == 0.0 and not infos[a]["mechanism_contract_active"] for a in infos)


def test_without_signing_the_chosen_contract_is_active_in_every_round():
    world = Contracting(sign=False).wrap(pd(rounds=2))
    signed_contract(world, [(0, -2), (0, -2)])
    assert world.active
    for _ in range(2):
        _, rewards, *_ = world.step({"player_0": C, "player_1": D})
        assert rewards == {"player_0": 2.0, "player_1": 1.0}


def test_steps_other_than_the_play_step_pass_through_without_transfers():
    world = Contracting(fixed_contract=[0, -2], sign=False).wrap(
        RepeatedGameEnv(game="coopeval_pd", n_rounds=1, labels="indexed", predict_first=True))
    world.reset(seed=0)
    assert world.play.labels == ("A0", "A1")  # read from the act step although a prediction opens
    _, rewards, _, _, infos = world.step({"player_0": D, "player_1": C})  # the predictions
    assert rewards == {"player_0": 0.0, "player_1": 0.0} and infos["player_0"]["mechanism_transfer"] == 0.0
    assert infos["player_0"]["phase"] == "predict"
    _, rewards, *_ = world.step({"player_0": C, "player_1": D})
    assert rewards == {"player_0": 2.0, "player_1": 1.0}


def test_three_player_public_goods_with_a_contract():
    # k = 2 contributors of 3: share 1.5 * 2 / 3 = 1; contributors get 1, the free-rider 1 + 1 = 2.
    # c = (0, -3): transfers 0 - (0 - 3) / 2 = 1.5 to each contributor, -3 - 0 = -3 for the free-rider.
    world = Contracting().wrap(PublicGoodsEnv(n_rounds=1))
    signed_contract(world, [(0, -3), (0, -3), (0, -3)])
    _, rewards, _, _, infos = world.step({"player_0": C, "player_1": C, "player_2": D})
    assert rewards == {"player_0": 2.5, "player_1": 2.5, "player_2": -1.0}
    assert [infos[a]["mechanism_transfer"] for a in world.possible_agents] == [1.5, 1.5, -3.0]
    assert [infos[a]["payoff"] for a in world.possible_agents] == [1.0, 1.0, 2.0]  # the base game's


def test_a_linear_contract_on_the_commons_pays_rate_times_the_difference_to_the_others_mean():
    world = Contracting(fixed_contract={"rate": -1, "constant": 5}, sign=False).wrap(
        CommonsEnv(n_agents=3, n_months=2, communication=False))
    observations, _ = world.reset(seed=0)
    assert world.phase == "play" and world.chosen == LinearContract(-1.0, 5.0)  # imposed: no design, no vote
    assert observations["player_1"]["mechanism_contract_rate"].tolist() == [-1.0]
    assert observations["player_1"]["mechanism_contract_constant"].tolist() == [5.0]
    _, rewards, _, _, infos = world.step({"player_0": 10, "player_1": 4, "player_2": 1})
    # transfer_i = -1 * (x_i - mean_{j != i} x_j): -(10 - 2.5), -(4 - 5.5), -(1 - 7)
    assert [infos[a]["mechanism_transfer"] for a in world.possible_agents] == [-7.5, 1.5, 6.0]
    assert rewards == {"player_0": 2.5, "player_1": 5.5, "player_2": 7.0}  # the catches 10, 4, 1 plus those


def test_in_the_donor_game_only_the_rounds_donors_settle():
    def donor_round(wrap):
        world = DonorGameEnv(n_agents=4, n_rounds=2)
        world = wrap(world) if wrap else world
        world.reset(seed=5)
        donors = world.deciders()
        answers = dict(zip(donors, ["Answer: 4", "Answer: 0"]))
        actions = {a: world.action_spec(a).parse(answers[a]) if a in answers else world.idle_action(a)
                   for a in world.agents}
        return donors, world.step(actions)

    donors, (_, base, *_) = donor_round(None)
    wrapped_donors, (_, rewards, _, _, infos) = donor_round(
        Contracting(fixed_contract={"rate": 1, "constant": 0}, sign=False).wrap)
    assert wrapped_donors == donors and len(donors) == 2
    # the two donors gave 4 and 0 units: transfers 1 * (4 - 0) and 1 * (0 - 4); recipients none
    expected = {a: {donors[0]: 4.0, donors[1]: -4.0}.get(a, 0.0) for a in infos}
    assert {a: infos[a]["mechanism_transfer"] for a in infos} == expected
    assert rewards == {a: base[a] + expected[a] for a in base}
    assert base[donors[0]] == -4.0


def test_the_approval_tie_break_is_seeded():
    def winner(seed):
        world = Contracting().wrap(pd())
        signed_contract(world, [(0, -2), (1, 0)], approvals=[(False, False), (False, False)], seed=seed)
        return world.winner

    winners = [winner(seed) for seed in range(12)]
    assert winners == [winner(seed) for seed in range(12)]
    assert set(winners) == {1, 2}  # no approvals: both tie, each wins for some seed
    world = Contracting().wrap(pd())
    signed_contract(world, [(0, -2), (1, 0)], approvals=[(False, True), (True, True)], seed=0)
    assert world.winner == 2 and world.approvals.tolist() == [1, 2]


def test_designs_are_made_once_per_member_name_and_remembered():
    mechanism = Contracting(sign=False)
    world = mechanism.wrap(pd())
    signed_contract(world, [(0, -2), (3, 0)], names={"player_0": "ann", "player_1": "bob"})
    world.reset(seed=1, options={"names": {"player_0": "bob", "player_1": "ann"}})
    assert world.phase == "vote" and world.deciders() == ["player_0", "player_1"]
    assert world.action_spec("player_0").proposals == ((3, 0), (0, -2))  # bob's first, his seat now
    world.reset(seed=2, options={"names": {"player_0": "cid", "player_1": "ann"}})
    assert world.phase == "design" and world.deciders() == ["player_0"]  # only the newcomer designs
    again = mechanism.wrap(pd())  # the mechanism object remembers, for every world it wraps
    again.reset(seed=3, options={"names": {"player_0": "ann", "player_1": "bob"}})
    assert again.phase == "vote"
    every = Contracting(design="episode").wrap(pd())
    signed_contract(every, [(0, -2), (3, 0)])
    every.reset(seed=1)
    assert every.phase == "design" and every.deciders() == ["player_0", "player_1"]


def test_bad_arguments_and_worlds_are_refused():
    with pytest.raises(ValueError, match="design"):
        Contracting(design="always")
    with pytest.raises(ValueError, match="sign"):
        Contracting(sign="yes")
    with pytest.raises(ValueError, match="fixed_contract must hold integers"):
        Contracting(fixed_contract=[0, True])
    with pytest.raises(ValueError, match="one integer per option"):
        Contracting(fixed_contract=[0, -1, 2]).wrap(pd())
    with pytest.raises(ValueError, match="LinearContract"):
        Contracting(fixed_contract=[0, -1]).wrap(CommonsEnv(n_agents=3, communication=False))
    world = pd()
    world._observation_spaces = {a: world.observation_space(a)["round"] for a in world.possible_agents}
    with pytest.raises(ValueError, match="Dict"):
        Contracting().wrap(world)
    assert make_mechanism("contracting", sign=False).sign is False


@pytest.mark.parametrize("make", [pd, lambda: CommonsEnv(n_agents=3, n_months=3, communication=False)])
def test_pettingzoo_conformance(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PettingZoo's Box/Discrete recommendation for Dict observations
        parallel_api_test(Contracting().wrap(make()), num_cycles=30)
        api_test(parallel_to_aec(Contracting().wrap(make())), num_cycles=30)


def test_a_contracting_run_through_the_runner_records_the_phases_and_transfers(tmp_path):
    mechanism = {"contract": [0, -2], "approve": "all", "sign": "always"}
    config = validate({
        "name": "contracting",
        "world": {"id": "repeated-game", "kwargs": {"game": "coopeval_pd", "n_rounds": 1, "labels": "indexed"}},
        "agents": [
            {"kind": "scripted", "label": "cooperator", "strategy": "first_option", "seats": 1,
             "params": {"mechanism": mechanism}},
            {"kind": "scripted", "label": "defector", "strategy": "last_option", "seats": 1,
             "params": {"mechanism": mechanism}},
        ],
        "mechanism": {"name": "contracting"},
        "episodes_per_generation": 2,
    })
    steps = execute(config, tmp_path / "a", progress=False).steps
    phases = steps.sort_values(["episode", "step", "agent"]).groupby("episode")["mechanism_phase"].apply(list)
    first, second = phases.tolist()
    assert first == ["design"] * 2 + ["vote"] * 2 + ["sign"] * 2 + ["play"] * 2
    assert second == ["vote"] * 2 + ["sign"] * 2 + ["play"] * 2  # the members' designs are remembered
    designs = steps[steps["mechanism_phase"] == "design"]
    assert designs["action"].tolist() == ["[0, -2]", "[0, -2]"]
    play = steps[steps["mechanism_phase"] == "play"].set_index(["episode", "agent"])
    for episode in (0, 1):
        assert play.loc[(episode, "player_0"), "reward"] == 2.0  # 0 in the PD, + 2 from the defector
        assert play.loc[(episode, "player_1"), "reward"] == 1.0  # 3 in the PD, - 2
        assert play.loc[(episode, "player_0"), "mechanism_transfer"] == 2.0
    assert (steps.loc[steps["mechanism_phase"] != "play", "reward"] == 0.0).all()
    again = execute(config, tmp_path / "b", progress=False).steps
    assert steps.equals(again)
