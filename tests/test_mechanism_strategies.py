"""Scripted mechanism players: every phase answered from the parameters, the generic base
strategies, and the myopic best response worked by hand on a tiny commons."""

import numpy as np
import pytest

from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.mechanism_strategies import MechanismPlayer, Mirror, MyopicBestResponse, active_contract
from dilemmazoo.agents.scripted import ScriptedPolicy, make_scripted
from dilemmazoo.envs.base import Amount, Choice
from dilemmazoo.envs.commons import CommonsEnv
from dilemmazoo.envs.institutions.contracts import LinearContract
from dilemmazoo.envs.institutions.phases import (
    DELEGATE,
    ApprovalBallot,
    ContractDesign,
    MediatorDesign,
    Signature,
    WithDelegate,
)

LABELS = ("A0", "A1")
PD_CHOICE = Choice(instruction="", fallback=1, labels=LABELS, actions=(0, 1))


def ask(player, spec, observation=None, seat="player_0"):
    return player.act(Decision(agent_id=seat, observation=observation or {}, text="", spec=spec, rules="", step=1,
                               episode=0))


def player(strategy="first_option", seat="player_0", seed=0, params=None, **mechanism):
    agent = make_scripted(strategy, **(params or {}), mechanism=mechanism)
    agent.reset(seat, "", np.random.default_rng(seed))
    return agent


# -- designs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("contract, expected", [
    ([0, -3], (0, -3)),
    ({"A1": -3}, (0, -3)),
    ({1: 4, 0: 2}, (2, 4)),
    (None, (0, 0)),
])
def test_contract_design_per_option(contract, expected):
    action = ask(player(contract=contract), ContractDesign(labels=LABELS))
    assert action.value == expected


def test_contract_design_linear_and_wrong_forms():
    spec = ContractDesign(numeric=True)
    assert ask(player(contract={"rate": -2}), spec).value == {"rate": -2.0, "constant": 0.0}
    assert ask(player(contract={"rate": 0.5, "constant": 3}), spec).value == {"rate": 0.5, "constant": 3.0}
    assert ask(player(), spec).value == {"rate": 0.0, "constant": 0.0}
    with pytest.raises(ValueError, match="rate, constant"):
        ask(player(contract=[0, 1]), spec)
    with pytest.raises(ValueError, match="value per option"):
        ask(player(contract={"rate": 1}), ContractDesign(labels=LABELS))
    with pytest.raises(ValueError, match="3 values"):
        ask(player(contract=[0, 1, 2]), ContractDesign(labels=LABELS))
    with pytest.raises(ValueError, match="whole numbers"):
        make_scripted("first_option", mechanism={"contract": [0.5, 1]})


@pytest.mark.parametrize("mediator, expected", [
    ({1: "A1", 2: "A0", 3: "A0"}, {1: 1, 2: 0, 3: 0}),
    ({"1": 1, "2": 0, "3": "A1"}, {1: 1, 2: 0, 3: 1}),
    (["A0", "A1", "A1"], {1: 0, 2: 1, 3: 1}),
    ("A1", {1: 1, 2: 1, 3: 1}),
    (None, {1: 0, 2: 0, 3: 0}),
])
def test_mediator_design_finite(mediator, expected):
    spec = MediatorDesign(n_seats=3, labels=LABELS, fallback_action=0)
    assert ask(player(mediator=mediator), spec).value == expected


def test_mediator_design_numeric_and_errors():
    spec = MediatorDesign(n_seats=2, labels=None, low=0.0, high=10.0, fallback_action=0.0)
    assert ask(player(mediator={1: 2.5, 2: 10}), spec).value == {1: 2.5, 2: 10.0}
    assert ask(player(mediator=4), spec).value == {1: 4.0, 2: 4.0}
    with pytest.raises(ValueError, match="every k"):
        ask(player(mediator={1: "A0"}), MediatorDesign(n_seats=2, labels=LABELS))
    with pytest.raises(ValueError, match="not an option"):
        ask(player(mediator="A7"), MediatorDesign(n_seats=2, labels=LABELS))


# -- ballots and signatures -------------------------------------------------------------------------
BALLOT = ApprovalBallot(keys=("C1", "C2", "C3"), proposals=((0, -3), (0, 0), (2, 0)),
                        proposers=("player_0", "player_1", "player_2"))


@pytest.mark.parametrize("rule, expected", [
    ("all", (True, True, True)),
    ("none", (False, False, False)),
    ("own", (True, False, False)),
])
def test_ballot_simple_rules(rule, expected):
    assert ask(player(approve=rule), BALLOT).value == expected
    assert ask(player(approve="own", seat="player_2"), BALLOT, seat="player_2").value == (False, False, True)


def test_ballot_best_contracts():
    # CoopEval's PD: R = u(C,C) = 2, T = u(D,C) = 3. (0, -3): deviating earns 3 - 3 = 0 <= 2; (0, 0): 3 > 2;
    # (2, 0): 3 - 2 = 1 <= 2.
    assert ask(player(approve="best", game="coopeval_pd"), BALLOT).value == (True, False, True)
    # without a table: the contract must pay option 0 strictly more than every other option
    assert ask(player(approve="best"), BALLOT).value == (True, False, True)
    assert ask(player(approve="best"), ApprovalBallot(keys=("C1",), proposals=((1, 1),), proposers=("player_0",))).value == (False,)
    linear = ApprovalBallot(keys=("C1", "C2", "C3"), proposers=("player_0", "player_1", "player_2"),
                            proposals=(LinearContract(-2.0), LinearContract(-0.5), LinearContract(-1.0)))
    commons = {"stock": 10, "last_harvests": np.array([-1, -1])}
    assert ask(player(approve="best"), linear, commons).value == (True, False, True)
    donor = {"partner_resources": np.array([10.0])}  # a donation costs 1 per unit: approve rate >= 1
    assert ask(player(approve="best"), linear, donor).value == (False, False, False)


def test_ballot_best_mediators():
    ballot = ApprovalBallot(keys=("M1", "M2", "M3"), proposals=({1: 1, 2: 0}, {1: 0, 2: 0}, {1: 1, 2: 1}),
                            proposers=("player_0", "player_1", "player_0"))
    # PD: everyone delegating cooperates, and R = 2 >= the best reply to the mediator alone: to D (P = 1), to C (T = 3)
    assert ask(player(approve="best", game="coopeval_pd"), ballot).value == (True, False, False)
    assert ask(player(approve="best"), ballot).value == (True, True, False)
    numeric = ApprovalBallot(keys=("M1", "M2"), proposals=({1: 5.0, 2: 3.0}, {1: 0.0, 2: 8.0}),
                             proposers=("player_0", "player_1"))
    assert ask(player(approve="best"), numeric, {"stock": 10, "last_harvests": np.array([-1, -1])}).value == (True, False)
    assert ask(player(approve="best"), numeric, {"partner_resources": np.array([1.0])}).value == (False, True)


def test_signature_rules():
    good, bad = Signature(contract=(0, -3), proposer="player_1"), Signature(contract=(0, 0), proposer="player_1")
    assert [ask(player(sign="always"), s).value for s in (good, bad)] == [True, True]
    assert [ask(player(sign="never"), s).value for s in (good, bad)] == [False, False]
    conditional = player(sign="if_approved", approve="best", game="coopeval_pd")
    assert [ask(conditional, s).value for s in (good, bad)] == [True, False]
    assert ask(conditional, good).raw_text == "Answer: sign"


# -- delegation and the base game -------------------------------------------------------------------
def test_delegation_passes_the_base_spec_or_delegates():
    spec = WithDelegate(base=PD_CHOICE)
    assert ask(player("last_option", delegate=False), spec).value == 1
    assert ask(player("first_option", delegate=True), spec).value == DELEGATE
    draws = [ask(player(delegate=0.3, seed=7), spec).value for _ in range(1)]
    assert draws == [DELEGATE if np.random.default_rng(7).random() < 0.3 else 0]
    agent = player(delegate=0.3, seed=11)
    expected = [DELEGATE if u < 0.3 else 0 for u in np.random.default_rng(11).random(40)]
    assert [ask(agent, spec).value for _ in range(40)] == expected
    assert DELEGATE in expected and 0 in expected
    amount = WithDelegate(base=Amount(instruction="", fallback=0.0, low=0.0, high=10.0))
    assert ask(player("fixed_fraction", params={"fraction": 0.2}), amount).value == pytest.approx(2.0)
    assert ask(player("fixed_fraction", delegate=True), amount).value == DELEGATE


def test_generic_finite_strategies():
    four = Choice(instruction="", fallback=3, labels=("A0", "A1", "A2", "A3"), actions=(0, 1, 2, 3))
    assert ask(player("first_option"), four).value == 0
    assert ask(player("last_option"), four).value == 3
    mirror = player("mirror")
    assert ask(mirror, four, {"last_other": np.int64(-1)}).value == 0  # nothing played yet
    assert ask(mirror, four, {"last_other": np.int64(2)}).value == 2
    # repetition/reputation: every base seat's last option, its own left out (player_4 is base seat 4 % 4 = 0)
    assert ask(mirror, four, {"mechanism_last_actions": np.array([0, 3, 1, 3])}).value == 3
    assert ask(mirror, four, {"mechanism_last_actions": np.array([3, 2, 1, 3])}, seat="player_4").value == 1
    assert ask(mirror, four, {"mechanism_last_actions": np.array([-1, -1])}, seat="player_1").value == 0
    public_goods = {"seat": np.int64(1), "last_contributions": np.array([0.0, 1.0, 0.0, 1.0])}
    assert ask(mirror, PD_CHOICE, public_goods).value == 1  # others: free-ride, free-ride, contribute
    assert Mirror.co_player_options({"seat": np.int64(0), "last_contributions": np.array([-1.0, -1.0])}) == []
    with pytest.raises(TypeError, match="finite"):
        ask(player("first_option"), Amount(instruction="", fallback=0.0))


def test_unknown_parameters_and_default_phase_answers():
    with pytest.raises(ValueError, match="unknown mechanism parameter"):
        make_scripted("first_option", mechanism={"aprove": "all"})
    with pytest.raises(ValueError, match="approve"):
        make_scripted("first_option", mechanism={"approve": "most"})
    with pytest.raises(ValueError, match="delegate"):
        make_scripted("first_option", mechanism={"delegate": 1.5})
    assert isinstance(make_scripted("tit_for_tat", mechanism={}), MechanismPlayer)
    # a strategy without mechanism parameters answers the phases with the defaults
    policy = ScriptedPolicy("tit_for_tat")
    policy.start_episode({"player_0": ""}, np.random.default_rng(0))
    request = Decision(agent_id="player_0", observation={}, text="", spec=BALLOT, rules="", step=1, episode=0)
    design = Decision(agent_id="player_0", observation={}, text="", spec=ContractDesign(labels=LABELS), rules="",
                      step=1, episode=0)
    assert [a.value for a in policy.act_batch([request, design])] == [(True, True, True), (0, 0)]


# -- the myopic best response, by hand ----------------------------------------------------------------
def commons_request(env, seat, extra=None):
    observation = {**env._observations()[seat], **(extra or {})}
    return Decision(agent_id=seat, observation=observation, text="", spec=env.action_spec(seat), rules="", step=1,
                    episode=0)


def contract_keys(rate):
    return {"mechanism_contract_active": np.int64(1), "mechanism_contract_rate": np.array([rate]),
            "mechanism_contract_constant": np.array([0.0])}


def test_myopic_best_response_on_a_tiny_commons():
    env = CommonsEnv(n_agents=2, n_months=3, initial_stock=10, capacity=10, collapse_threshold=1, communication=False)
    env.reset(seed=0)
    best = MyopicBestResponse()
    best.reset("player_0", "", np.random.default_rng(0))
    harvest = lambda extra=None: int(best.act(commons_request(env, "player_0", extra)).value["harvest"])  # noqa: E731
    # month 1, nobody has fished: x units pay x, so take the whole stock of 10
    assert harvest() == 10
    assert active_contract(contract_keys(-2.0)) == LinearContract(-2.0, 0.0)
    assert harvest(contract_keys(-2.0)) == 0  # x - 2x: restraint pays
    assert harvest({**contract_keys(-2.0), "mechanism_contract_active": np.int64(0)}) == 10  # signed by nobody
    env.step({"player_0": 0, "player_1": 4})  # stock 10 - 4 = 6 doubles back to 10
    # month 2, the other took 4: own(x) = x up to 6, then 10 x / (x + 4)
    # no contract: own(10) = 100/14 = 7.14 > own(6) = 6 -> 10
    assert harvest() == 10
    # rate -0.5: x = 6 pays 6 - 3 = 3.0; x = 7 pays 70/11 - 3.5 = 2.86; x = 10 pays 7.14 - 5 = 2.14 -> 6
    payoffs = best.payoffs(np.arange(11.0), commons_request(env, "player_0", contract_keys(-0.5)))
    assert payoffs[6] == pytest.approx(3.0) and payoffs[7] == pytest.approx(70 / 11 - 3.5)
    assert harvest(contract_keys(-0.5)) == 6
    assert harvest(contract_keys(-1.0)) == 0  # x - x = 0 up to 6: ties go to the smallest amount


def test_the_player_shows_the_contract_it_signed_when_the_observation_does_not():
    env = CommonsEnv(n_agents=2, n_months=2, initial_stock=10, capacity=10, collapse_threshold=1, communication=False)
    env.reset(seed=0)
    harvest = lambda agent, extra: int(agent.act(commons_request(env, "player_0", extra)).value["harvest"])  # noqa: E731
    active = {"mechanism_contract_active": np.int64(1), "mechanism_winner": np.int64(2)}
    signer = player("myopic_best_response")
    assert harvest(signer, active) == 10  # it knows of no contract yet
    ask(signer, Signature(contract=LinearContract(-2.0), proposer="player_1"))
    assert harvest(signer, active) == 0
    assert harvest(signer, {**active, "mechanism_contract_active": np.int64(0)}) == 10  # refused by someone
    assert harvest(signer, {**active, **contract_keys(-0.5)}) == 10  # the world's own keys come first
    voter = player("myopic_best_response")  # no sign phase: the ballot's winner (2nd proposal)
    ask(voter, ApprovalBallot(keys=("C1", "C2"), proposals=(LinearContract(0.0), LinearContract(-3.0)),
                              proposers=("player_0", "player_1")), {"stock": 10, "last_harvests": np.array([-1, -1])})
    assert harvest(voter, active) == 0
    voter.reset("player_0", "", np.random.default_rng(0))  # a new episode votes again
    assert harvest(voter, active) == 10


def test_myopic_best_response_on_a_donation():
    spec = Amount(instruction="", fallback=0.0, low=0.0, high=8.0)
    donor = {"partner_resources": np.array([5.0])}
    best = make_scripted("myopic_best_response")
    assert ask(best, spec, donor).value == 0.0  # a gift costs what it gives
    assert ask(best, spec, {**donor, **contract_keys(1.5)}).value == 8.0  # -x + 1.5 x
    assert ask(make_scripted("myopic_best_response", grid=[0.0, 0.25]), spec, {**donor, **contract_keys(1.5)}).value == 2.0
    with pytest.raises(ValueError, match="unit_value"):
        ask(best, spec, {})
    assert ask(make_scripted("myopic_best_response", unit_value=-0.5), spec, contract_keys(1.0)).value == 8.0


def test_myopic_best_response_on_a_finite_game():
    best = make_scripted("myopic_best_response", game="coopeval_pd")  # R = 2, T = 3, S = 0, P = 1
    assert ask(best, PD_CHOICE, {"last_other": np.int64(-1)}).value == 1  # T = 3 > R = 2 against C
    assert ask(best, PD_CHOICE, {"last_other": np.int64(1)}).value == 1  # P = 1 > S = 0 against D
    deterrent = {"mechanism_contract_active": np.int64(1), "mechanism_contract": np.array([0.0, -2.0])}
    assert ask(best, PD_CHOICE, {"last_other": np.int64(-1), **deterrent}).value == 0  # 2 > 3 - 2
    assert ask(best, PD_CHOICE, {"last_other": np.int64(1), **deterrent}, seat="player_1").value == 0  # 0 > 1 - 2
    weak = {"mechanism_contract_active": np.int64(1), "mechanism_contract": np.array([0.0, -1.0])}
    assert ask(best, PD_CHOICE, {"last_other": np.int64(-1), **weak}).value == 0  # 2 = 3 - 1: ties to the lower option
    # approve "best" reads the inner strategy's table: (0, -1) deters (2 >= 3 - 1), (0, 0) does not
    ballot = ApprovalBallot(keys=("C1", "C2"), proposals=((0, -1), (0, 0)), proposers=("player_0", "player_1"))
    agent = make_scripted("myopic_best_response", game="coopeval_pd", mechanism={"approve": "best"})
    agent.reset("player_0", "", np.random.default_rng(0))
    assert ask(agent, ballot).value == (True, False)
    with pytest.raises(TypeError, match="payoffs= or game="):
        ask(make_scripted("myopic_best_response"), PD_CHOICE)


# -- through a contracting world ----------------------------------------------------------------------
def play_requests(world, policy, seed=0):
    """Every harvest request of a contracting commons episode played by ``policy``."""
    observations, _ = world.reset(seed=seed)
    policy.set_members({seat: {} for seat in world.possible_agents})
    policy.start_episode({seat: world.rules(seat) for seat in world.possible_agents}, np.random.default_rng(seed))
    requests = []
    while world.agents:
        deciders = world.deciders()
        decisions = [Decision(agent_id=seat, observation=observations[seat], text="", spec=world.action_spec(seat),
                              rules="", step=0, episode=0) for seat in deciders]
        answers = dict(zip(deciders, (a.value for a in policy.act_batch(decisions))))
        actions = {seat: answers.get(seat, world.idle_action(seat)) for seat in world.agents}
        observations, _, _, _, infos = world.step(actions)
        requests += [info["requested"] for info in infos.values() if info.get("mechanism_phase") == "play"]
    return requests


@pytest.mark.parametrize("kwargs, mechanism, expected", [
    # no sign phase: the contract is the ballot's winner (every proposal is -2)
    ({"sign": False}, {"contract": {"rate": -2.0}}, [0, 0, 0, 0]),
    ({"sign": False}, {"contract": {"rate": 0.0}}, [10, 10]),  # both ask for all 10: collapse in month 1
    # an imposed contract, signed by a strategy without mechanism parameters (the defaults sign)
    ({"fixed_contract": {"rate": -2.0, "constant": 0.0}}, None, [0, 0, 0, 0]),
    ({"fixed_contract": {"rate": -2.0, "constant": 0.0}}, {"sign": "never"}, [10, 10]),
])
def test_the_contract_reaches_the_inner_strategy(kwargs, mechanism, expected):
    from dilemmazoo.norms.contracting import Contracting

    base = CommonsEnv(n_agents=2, n_months=2, initial_stock=10, capacity=10, collapse_threshold=1, communication=False)
    params = {} if mechanism is None else {"mechanism": mechanism}
    policy = ScriptedPolicy("myopic_best_response", params)
    assert play_requests(Contracting(**kwargs).wrap(base), policy) == expected
