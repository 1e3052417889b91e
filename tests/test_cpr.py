"""Exact tests of the effort-based commons (Gupta et al., arXiv 2510.14401): harvest rule,
proportional rationing, logistic regrowth, collapse, sanctions, propose-and-vote, noisy readings."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from pettingzoo.test import parallel_api_test

from dilemmazoo.envs import Amount, Choice, make_world
from dilemmazoo.envs.cpr import (
    EffortCPREnv,
    effort_harvests,
    logistic_regrowth,
    max_sustainable_yield,
    noisy_readings,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:Observation is not a NumPy array"),
    pytest.mark.filterwarnings("ignore:Observation space for each agent probably should be"),
    pytest.mark.filterwarnings("ignore:Action space for each agent probably should be"),
]


def _efforts(env, *values):
    return {agent: {"effort": np.array([v])} for agent, v in zip(env.possible_agents, values)}


# --------------------------------------------------------------------------------------------
# Pure mechanics
# --------------------------------------------------------------------------------------------


def test_harvest_is_alpha_times_effort_times_stock():
    np.testing.assert_allclose(effort_harvests([0.5, 1.0, 0.0], 100.0, 0.1), [5.0, 10.0, 0.0])
    np.testing.assert_allclose(effort_harvests([0.25], 40.0, 0.2), [2.0])


@pytest.mark.parametrize(
    "efforts, stock, alpha, expected",
    [
        ([1.0, 0.5], 10.0, 0.6, [6.0, 3.0]),  # demand 9 <= 10: as asked
        ([1.0, 1.0], 10.0, 0.6, [5.0, 5.0]),  # demand 12 > 10: scaled by 10/12
        ([1.0, 1.0, 1.0], 60.0, 0.5, [20.0, 20.0, 20.0]),  # demand 90 > 60
        ([1.0, 0.5], 100.0, 1.0, [200 / 3, 100 / 3]),  # demand 150 > 100
    ],
)
def test_over_demand_is_scaled_in_proportion(efforts, stock, alpha, expected):
    harvests = effort_harvests(efforts, stock, alpha)
    np.testing.assert_allclose(harvests, expected)
    assert harvests.sum() <= stock + 1e-12


def test_effort_harvests_rejects_bad_efforts():
    with pytest.raises(ValueError, match="efforts"):
        effort_harvests([1.2], 10.0, 0.1)
    with pytest.raises(ValueError, match="stock"):
        effort_harvests([0.5], -1.0, 0.1)


@pytest.mark.parametrize(
    "stock, r, capacity, expected",
    [
        (50.0, 0.4, 100.0, 60.0),  # 50 + 0.4 * 50 * 0.5
        (90.0, 0.4, 100.0, 93.6),  # 90 + 0.4 * 90 * 0.1
        (25.0, 0.4, 100.0, 32.5),  # 25 + 0.4 * 25 * 0.75
        (0.0, 0.4, 100.0, 0.0),  # an empty commons stays empty
        (100.0, 0.4, 100.0, 100.0),
        (40.0, 3.0, 100.0, 100.0),  # 40 + 3 * 40 * 0.6 = 112, capped at K
    ],
)
def test_logistic_regrowth_table(stock, r, capacity, expected):
    assert logistic_regrowth(stock, r, capacity) == pytest.approx(expected)


def test_max_sustainable_yield():
    assert max_sustainable_yield(0.4, 100.0) == 10.0
    # The yield is replaced exactly at a post-harvest stock of K / 2.
    assert logistic_regrowth(50.0, 0.4, 100.0) - 50.0 == pytest.approx(max_sustainable_yield(0.4, 100.0))


def test_noisy_readings_are_multiplicative_and_seeded():
    z = np.random.default_rng(7).standard_normal(3)
    readings = noisy_readings(80.0, 0.1, np.random.default_rng(7), 3)
    np.testing.assert_allclose(readings, 80.0 * (1 + 0.1 * z))
    assert np.all(noisy_readings(80.0, 50.0, np.random.default_rng(0), 1000) >= 0.0)  # floored at 0
    np.testing.assert_array_equal(noisy_readings(80.0, 0.0, np.random.default_rng(0), 2), [80.0, 80.0])


# --------------------------------------------------------------------------------------------
# The world: rounds, rewards, regrowth, collapse
# --------------------------------------------------------------------------------------------


def test_harvest_step_exact_numbers():
    env = EffortCPREnv(n_agents=2, observation_noise=0.0, consumption=0.5)
    observations, infos = env.reset(seed=0)
    assert infos["player_0"]["phase"] == "harvest" and infos["player_0"]["round"] == 0
    assert observations["player_0"]["phase"] == 2 and observations["player_0"]["stock_estimate"][0] == 100.0
    observations, rewards, terms, truncs, infos = env.step(_efforts(env, 0.5, 1.0))
    # harvests 0.1 * 0.5 * 100 = 5 and 10; 85 left; regrowth 85 + 0.4 * 85 * 0.15 = 90.1
    assert rewards == pytest.approx({"player_0": 4.5, "player_1": 9.5})
    info = infos["player_1"]
    assert info["harvest"] == pytest.approx(10.0) and info["effort"] == 1.0
    assert info["stock_before"] == 100.0 and info["stock_after_harvest"] == pytest.approx(85.0)
    assert info["stock"] == pytest.approx(90.1) and env.stock == pytest.approx(90.1)
    assert info["round_end"] and info["round"] == 1 and not info["collapsed"]
    assert info["wealth"] == pytest.approx(9.5) and info["max_sustainable_yield"] == 10.0
    assert observations["player_0"]["own_harvest"][0] == pytest.approx(5.0)
    assert observations["player_0"]["stock_estimate"][0] == pytest.approx(90.1)  # no noise
    assert observations["player_0"]["round"] == 2
    # round 2: both at full effort take 9.01 each of 90.1; 72.08 left, then logistic regrowth
    _, rewards, *_, infos = env.step(_efforts(env, 1.0, 1.0))
    assert rewards["player_0"] == pytest.approx(9.01 - 0.5)
    assert infos["player_0"]["wealth"] == pytest.approx(4.5 + 8.51)
    assert env.stock == pytest.approx(72.08 + 0.4 * 72.08 * (1 - 0.7208))


def test_over_demand_in_the_world_and_collapse_without_regrowth():
    env = EffortCPREnv(n_agents=2, harvest_rate=1.0, observation_noise=0.0)
    env.reset(seed=0)
    _, rewards, terms, _, infos = env.step(_efforts(env, 1.0, 0.5))
    assert infos["player_0"]["harvest"] == pytest.approx(200 / 3)
    assert infos["player_1"]["harvest"] == pytest.approx(100 / 3)
    assert infos["player_0"]["collapsed"] and infos["player_0"]["stock"] == pytest.approx(0.0)
    assert all(terms.values()) and env.agents == []
    assert "collapsed in round 1" in env.describe("player_0")


def test_selfish_effort_collapses_in_round_three():
    # 10 agents at 0.75 take 75% a round: 100 -> 25 -> 32.5 -> 8.125 -> 11.11 -> 2.78 < 5.
    env = EffortCPREnv(observation_noise=0.0)
    env.reset(seed=0)
    stocks = []
    for _ in range(3):
        *_, terms, _, infos = env.step(_efforts(env, *[0.75] * 10))
        stocks.append(infos["player_0"]["stock_after_harvest"])
    np.testing.assert_allclose(stocks, [25.0, 8.125, 0.25 * (32.5 * 0.25 + 0.4 * 32.5 * 0.25 * (1 - 0.08125))])
    assert infos["player_3"]["collapsed"] and infos["player_3"]["round"] == 3
    assert all(terms.values()) and env.agents == []


def test_game_ends_after_n_rounds():
    env = EffortCPREnv(n_agents=3, n_rounds=4)
    env.reset(seed=1)
    steps = 0
    while env.agents:
        *_, terms, truncs, infos = env.step(_efforts(env, 0.1, 0.1, 0.1))
        steps += 1
    assert steps == 4 and all(terms.values()) and not any(truncs.values())
    assert infos["player_0"]["round"] == 4 and not infos["player_0"]["collapsed"]
    with pytest.raises(RuntimeError):
        env.step(_efforts(env, 0.1, 0.1, 0.1))


# --------------------------------------------------------------------------------------------
# Sanctions
# --------------------------------------------------------------------------------------------


def test_full_monitoring_exact_fines_costs_and_rewards():
    env = EffortCPREnv(n_agents=2, group_norm=2.0, monitoring_prob=1.0, punish_prob=1.0, observation_noise=0.0)
    env.reset(seed=0)
    observations, rewards, _, _, infos = env.step(_efforts(env, 0.5, 0.1))
    # harvests 5 (over the norm 2) and 1; player_1 inspects player_0 and punishes: pays 1, fine 2
    assert rewards == pytest.approx({"player_0": 5.0 - 0.5 - 2.0, "player_1": 1.0 - 0.5 - 1.0})
    p0, p1 = infos["player_0"], infos["player_1"]
    assert p0["over_norm"] and p0["inspected"] and p0["sanctioned"] and p0["fine_paid"] == 2.0
    assert p0["punish_cost_paid"] == 0.0 and p0["punishments_made"] == 0 and p0["group_norm"] == 2.0
    assert not p1["over_norm"] and not p1["sanctioned"] and p1["punish_cost_paid"] == 1.0 and p1["punishments_made"] == 1
    assert observations["player_0"]["sanctioned"] == 1 and observations["player_1"]["sanctioned"] == 0
    assert "You were sanctioned" in env.describe("player_0") and "fined you 2 units" in env.describe("player_0")
    assert "You inspected player_0" in env.describe("player_1") and "punished them" in env.describe("player_1")
    assert "within the group norm" in env.describe("player_0")  # player_0 inspected player_1 (1 <= 2)


def test_graduated_fines_grow_with_offences():
    env = EffortCPREnv(n_agents=2, group_norm=2.0, monitoring_prob=1.0, graduated=True, max_fine_multiplier=3.0,
                       observation_noise=0.0, growth_rate=0.0, capacity=100.0)
    env.reset(seed=0)
    fines = []
    for _ in range(4):
        *_, infos = env.step(_efforts(env, 0.5, 0.0))
        fines.append(infos["player_0"]["fine_paid"])
    assert fines == [2.0, 4.0, 6.0, 6.0]


def test_no_norm_no_punishment_even_with_monitoring():
    env = EffortCPREnv(n_agents=3, monitoring_prob=1.0, observation_noise=0.0)
    env.reset(seed=0)
    *_, infos = env.step(_efforts(env, 1.0, 1.0, 1.0))
    assert not any(i["sanctioned"] or i["over_norm"] for i in infos.values())
    assert all(i["inspected"] is False or i["fine_paid"] == 0.0 for i in infos.values())


def test_sanction_parameters_do_not_shift_the_other_random_numbers():
    # monitor_and_punish draws the same amount whatever m, so the stock readings agree.
    readings = []
    for m in (0.0, 1.0):
        env = EffortCPREnv(n_agents=4, group_norm=1.0, monitoring_prob=m)
        env.reset(seed=9)
        observations, *_ = env.step(_efforts(env, 0.05, 0.05, 0.05, 0.05))
        readings.append(observations["player_2"]["stock_estimate"][0])
    assert readings[0] == readings[1]


# --------------------------------------------------------------------------------------------
# Propose and vote
# --------------------------------------------------------------------------------------------


def test_voting_round_propose_vote_harvest():
    env = EffortCPREnv(n_agents=3, voting=True, vote_every=2, observation_noise=0.0)
    observations, _ = env.reset(seed=0)
    assert observations["player_0"]["phase"] == 0 and env.deciders() == env.possible_agents
    spec = env.action_spec("player_0")
    assert isinstance(spec, Amount) and spec.high == pytest.approx(10.0)
    assert spec.fallback["proposal"][0] == 5.0  # alpha K / 2: no proposal and no norm yet
    observations, rewards, _, _, infos = env.step({"player_0": 1.0, "player_1": {"proposal": np.array([1.04])},
                                                   "player_2": 3.0})
    assert rewards == {"player_0": 0.0, "player_1": 0.0, "player_2": 0.0}
    assert infos["player_1"]["phase"] == "propose" and infos["player_1"]["proposal"] == 1.04
    assert not infos["player_1"]["round_end"] and infos["player_1"]["effort"] == -1.0
    assert observations["player_2"]["phase"] == 1
    np.testing.assert_allclose(observations["player_2"]["proposals"], [1.0, 1.04, 3.0])
    choice = env.action_spec("player_2")
    assert isinstance(choice, Choice) and tuple(choice.labels) == ("1.0", "3.0")
    assert choice.parse("I support the higher one. Answer: 3.0")["vote"] == 2  # first seat proposing 3.0
    assert choice.fallback["vote"] == 2  # own seat
    assert "1.0 (2 members), 3.0 (1 member)" in env.describe("player_2")
    observations, rewards, _, _, infos = env.step({"player_0": 2, "player_1": {"vote": 2}, "player_2": np.int64(1)})
    assert all(r == 0.0 for r in rewards.values())
    assert [infos[a]["voted_norm"] for a in env.possible_agents] == [3.0, 3.0, 1.0]
    assert infos["player_0"]["elected_norm"] == 3.0 and infos["player_0"]["group_norm"] == 3.0
    assert infos["player_0"]["vote"] == 2 and infos["player_0"]["proposal"] == -1.0
    assert observations["player_0"]["group_norm"][0] == 3.0 and observations["player_0"]["phase"] == 2
    np.testing.assert_array_equal(observations["player_0"]["proposals"], [-1.0, -1.0, -1.0])
    assert "3.0 won with 2 of 3 votes" in env.describe("player_1")
    *_, infos = env.step(_efforts(env, 0.5, 0.2, 0.2))  # harvest 5 > 3: over the norm
    assert infos["player_0"]["over_norm"] and not infos["player_1"]["over_norm"]
    assert infos["player_0"]["elected_norm"] == -1.0 and infos["player_0"]["group_norm"] == 3.0
    assert env.phase == 2 and env.round == 2  # round 2 has no vote
    env.step(_efforts(env, 0.1, 0.1, 0.1))
    assert env.phase == 0 and env.round == 3  # round 3 votes again
    assert env.action_spec("player_1").fallback["proposal"][0] == pytest.approx(1.04)  # last proposal


def test_tied_vote_is_broken_reproducibly():
    def winner(seed):
        env = EffortCPREnv(n_agents=2, voting=True, observation_noise=0.0)
        env.reset(seed=seed)
        env.step({"player_0": 1.0, "player_1": 2.0})
        *_, infos = env.step({"player_0": 0, "player_1": 1})
        return infos["player_0"]["elected_norm"]

    winners = [winner(seed) for seed in range(30)]
    assert set(winners) == {1.0, 2.0}
    assert winners == [winner(seed) for seed in range(30)]


def test_proposal_fallback_uses_the_norm_when_there_is_no_proposal():
    env = EffortCPREnv(n_agents=2, voting=True, group_norm=1.5)
    env.reset(seed=0)
    assert env.action_spec("player_0").fallback["proposal"][0] == 1.5


def test_effort_fallback_is_the_previous_effort():
    env = EffortCPREnv(n_agents=2)
    env.reset(seed=0)
    assert env.action_spec("player_0").fallback["effort"][0] == 0.5
    env.step(_efforts(env, 0.2, 0.9))
    assert env.action_spec("player_0").fallback["effort"][0] == 0.2
    assert env.action_spec("player_1").parse("Answer: 0.3")["effort"][0] == 0.3


def test_voting_world_passes_the_parallel_api_and_pickles():
    env = EffortCPREnv(n_agents=4, voting=True, vote_every=3, monitoring_prob=0.5, group_norm=1.0, graduated=True)
    parallel_api_test(env, num_cycles=200)
    env.reset(seed=2)
    env.step({a: env.action_spec(a).fallback for a in env.agents})
    copy = pickle.loads(pickle.dumps(env))
    actions = {a: env.action_space(a).sample() for a in env.agents}
    assert data_equivalence(env.step(actions), copy.step(actions))


def test_voting_world_infos_keep_their_keys_and_observations_their_space():
    env = EffortCPREnv(n_agents=3, voting=True, vote_every=2, monitoring_prob=1.0)
    _, infos = env.reset(seed=5)
    keys = set(infos["player_0"])
    for agent in env.possible_agents:
        env.action_space(agent).seed(1)
    while env.agents:
        observations, *_, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
        for agent, info in infos.items():
            assert set(info) == keys
            assert not any(isinstance(v, float) and np.isnan(v) for v in info.values())
            assert env.observation_space(agent).contains(observations[agent])


# --------------------------------------------------------------------------------------------
# Observation noise, language view, errors
# --------------------------------------------------------------------------------------------


def test_noise_is_reproducible_with_the_seed():
    def readings(seed):
        env = EffortCPREnv(n_agents=5, observation_noise=0.1)
        observations, _ = env.reset(seed=seed)
        return [observations[a]["stock_estimate"][0] for a in env.possible_agents]

    assert readings(3) == readings(3)
    assert readings(3) != readings(4)
    expected = 100.0 * np.maximum(0.0, 1 + 0.1 * np.random.default_rng(3).standard_normal(5))
    np.testing.assert_allclose(readings(3), expected)


def test_describe_shows_local_outcomes_only():
    env = EffortCPREnv(n_agents=2, observation_noise=0.0)
    env.reset(seed=0)
    env.step(_efforts(env, 0.3, 0.8))  # harvests 3 and 8; rewards 2.5 and 7.5
    text = env.describe("player_0")
    assert "you took 3 units" in text and "about 92.92 units" in text  # 89 + 0.4 * 89 * 0.11 = 92.916
    assert "8" not in text.replace("89", "") and "2.5" not in text
    assert "reward" not in text.lower() and "wealth" not in text.lower()


def test_display_names_from_reset_options():
    env = EffortCPREnv(n_agents=2, group_norm=2.0, monitoring_prob=1.0)
    env.reset(seed=0, options={"names": {"player_0": "Ada", "player_1": "Bo"}, "generation": 1})
    assert env.display_name("player_1") == "Bo"
    env.step(_efforts(env, 0.5, 0.1))
    assert "You inspected Ada" in env.describe("player_1")
    with pytest.raises(ValueError, match="names"):
        env.reset(seed=0, options={"names": {"player_0": "Ada"}})
    with pytest.raises(ValueError, match="names"):
        env.reset(seed=0, options={"names": {"player_0": "Ada", "player_1": "Ada"}})


def test_rules_mention_the_active_institutions():
    plain = EffortCPREnv().rules("player_0")
    assert "0.1 x your effort" in plain and "Monitoring" not in plain and "votes" not in plain
    full = EffortCPREnv(monitoring_prob=0.5, voting=True, graduated=True).rules("player_0")
    assert "Monitoring" in full and "probability 0.5" in full and "vote" in full and "repeated offence" in full


def test_registered_and_renders(capsys):
    env = make_world("cpr", n_agents=3, render_mode="ansi")
    env.reset(seed=0)
    assert env.render().startswith("Effort CPR: round 1 of 50, harvest phase; stock 100 of 100; group norm none")
    human = EffortCPREnv(n_agents=2, harvest_rate=1.0, observation_noise=0.0, render_mode="human")
    human.reset(seed=0)
    human.step(_efforts(human, 1.0, 1.0))  # takes everything: collapse in round 1
    assert "Effort CPR: collapsed in round 1; stock 0 of 100" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_agents": 0}, "n_agents"),
        ({"n_rounds": 1.5}, "n_rounds"),
        ({"capacity": 0.0}, "capacity"),
        ({"initial_stock": 200.0}, "initial_stock"),
        ({"growth_rate": -0.1}, "growth_rate"),
        ({"harvest_rate": 0.0}, "harvest_rate"),
        ({"harvest_rate": 1.5}, "harvest_rate"),
        ({"consumption": float("nan")}, "consumption"),
        ({"collapse_threshold": 101.0}, "collapse_threshold"),
        ({"monitoring_prob": 2.0}, "monitoring_prob"),
        ({"punish_prob": -1.0}, "punish_prob"),
        ({"fine": -2.0}, "fine"),
        ({"graduated": 1}, "graduated"),
        ({"max_fine_multiplier": 0.5}, "max_fine_multiplier"),
        ({"group_norm": 20.0}, "group_norm"),  # above alpha K = 10
        ({"voting": "yes"}, "voting"),
        ({"vote_every": 0}, "vote_every"),
        ({"proposal_decimals": 9}, "proposal_decimals"),
        ({"observation_noise": -0.1}, "observation_noise"),
        ({"render_mode": "rgb_array"}, "render_mode"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        EffortCPREnv(**kwargs)


def test_bad_actions_are_refused():
    env = EffortCPREnv(n_agents=2, voting=True)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="proposal"):
        env.step({"player_0": {"effort": np.array([0.5])}, "player_1": 1.0})
    with pytest.raises(ValueError, match="proposal"):
        env.step({"player_0": 11.0, "player_1": 1.0})  # above alpha K
    with pytest.raises(ValueError, match="must send an action"):
        env.step({"player_0": 1.0})
    env.step({"player_0": 1.0, "player_1": 2.0})
    with pytest.raises(ValueError, match="seat index"):
        env.step({"player_0": 0.5, "player_1": 0})
    with pytest.raises(ValueError, match="seat index"):
        env.step({"player_0": 2, "player_1": 0})
    env.step({"player_0": 0, "player_1": 0})
    with pytest.raises(ValueError, match="effort"):
        env.step({"player_0": 1.5, "player_1": 0.5})
    with pytest.raises(ValueError, match="effort"):
        env.step({"player_0": "half", "player_1": 0.5})
