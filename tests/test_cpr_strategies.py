"""Rule-based agents for the effort-based commons: exact decisions on hand-made Decisions, and
whole games against the world (no runner) that reproduce the direction of Gupta et al.'s
findings (arXiv 2510.14401): sanctions cut over-usage, voting helps selfish groups, altruistic
groups outlive selfish ones."""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.cpr_strategies import CPR_STRATEGIES, PRIORS, FixedEffortCPRAgent, RuleBasedCPRAgent
from dilemmazoo.envs.cpr import EffortCPREnv


def _observation(phase=2, stock=80.0, norm=-1.0, sanctioned=0, n_agents=4, proposals=None):
    return {
        "round": np.int64(1),
        "phase": np.int64(phase),
        "stock_estimate": np.array([stock]),
        "own_harvest": np.array([0.0]),
        "group_norm": np.array([norm]),
        "sanctioned": np.int64(sanctioned),
        "proposals": np.full(n_agents, -1.0) if proposals is None else np.asarray(proposals, dtype=float),
        "harvest_rate": np.array([0.1]),
    }


def _harvest_spec():
    env = EffortCPREnv(n_agents=4)
    env.reset(seed=0)
    return env.action_spec("player_0")


def _decision(observation, spec, agent_id="player_0"):
    return Decision(agent_id=agent_id, observation=observation, text="", spec=spec, rules="", step=0, episode=0)


def _effort_of(agent, **observation):
    return float(agent.act(_decision(_observation(**observation), _harvest_spec())).value["effort"][0])


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


def test_priors_supply_defaults_and_explicit_params_win():
    selfish = RuleBasedCPRAgent(prior="selfish")
    assert (selfish.effort, selfish.compliance) == (0.75, 0.3)
    altruistic = RuleBasedCPRAgent()
    assert (altruistic.effort, altruistic.compliance) == (PRIORS["altruistic"]["effort"], 0.9)
    copied = RuleBasedCPRAgent(prior="selfish", effort=0.4)  # what social learning copies
    assert (copied.effort, copied.compliance) == (0.4, 0.3)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"prior": "greedy"}, "prior"),
        ({"effort": 1.5}, "effort"),
        ({"compliance": -0.1}, "compliance"),
        ({"noise": -1.0}, "noise"),
        ({"sanction_response": 2.0}, "sanction_response"),
        ({"endorsement": 1.1}, "endorsement"),
    ],
)
def test_bad_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RuleBasedCPRAgent(**kwargs)


def test_strategy_table():
    assert CPR_STRATEGIES == {"cpr_rule_based": RuleBasedCPRAgent, "cpr_fixed_effort": FixedEffortCPRAgent}


# --------------------------------------------------------------------------------------------
# Exact decisions
# --------------------------------------------------------------------------------------------


def test_effort_without_noise_or_norm():
    agent = RuleBasedCPRAgent(prior="selfish", noise=0.0)
    agent.reset("player_0", None, np.random.default_rng(0))
    assert _effort_of(agent) == 0.75


def test_noise_is_one_normal_draw_from_the_given_generator():
    agent = RuleBasedCPRAgent(effort=0.25, noise=0.05)
    agent.reset("player_0", None, np.random.default_rng(0))
    expected = 0.25 + 0.05 * np.random.default_rng(0).standard_normal()
    assert _effort_of(agent) == pytest.approx(expected)


def test_compliant_agent_keeps_within_the_norm_with_a_margin():
    # cap = (1 - 0.1) * G / (alpha * stock) = 0.9 * 1.0 / (0.1 * 80) = 0.1125
    agent = RuleBasedCPRAgent(prior="selfish", compliance=1.0, noise=0.0)
    agent.reset("player_0", None, np.random.default_rng(0))
    assert _effort_of(agent, norm=1.0) == pytest.approx(0.1125)
    assert _effort_of(agent, norm=9.0) == 0.75  # a loose norm does not bind


def test_non_compliant_agent_ignores_the_norm():
    agent = RuleBasedCPRAgent(prior="selfish", compliance=0.0, noise=0.0)
    agent.reset("player_0", None, np.random.default_rng(0))
    assert _effort_of(agent, norm=1.0) == 0.75


def test_sanction_halves_effort_for_the_rest_of_the_episode():
    agent = RuleBasedCPRAgent(prior="selfish", noise=0.0, sanction_response=0.5)
    agent.reset("player_0", None, np.random.default_rng(0))
    assert _effort_of(agent, sanctioned=1) == 0.375
    assert _effort_of(agent, sanctioned=0) == 0.375
    assert _effort_of(agent, sanctioned=1) == 0.1875
    agent.reset("player_0", None, np.random.default_rng(0))  # a new episode starts afresh
    assert _effort_of(agent) == 0.75


def test_proposals_universalise_with_probability_compliance():
    env = EffortCPREnv(n_agents=4, voting=True)
    env.reset(seed=0)
    spec = env.action_spec("player_0")
    sustainable = RuleBasedCPRAgent(prior="selfish", compliance=1.0)
    sustainable.reset("player_0", None, np.random.default_rng(0))
    # 0.1 * 83 / 4 = 2.075 -> 2.0 at proposal_step 0.5
    assert sustainable.act(_decision(_observation(phase=0, stock=83.0), spec)).value["proposal"][0] == 2.0
    own = RuleBasedCPRAgent(prior="selfish", compliance=0.0)
    own.reset("player_0", None, np.random.default_rng(0))
    # its own take: 0.1 * 0.75 * 83 = 6.225 -> 6.0
    assert own.act(_decision(_observation(phase=0, stock=83.0), spec)).value["proposal"][0] == 6.0


def test_vote_for_the_option_closest_to_the_own_proposal():
    env = EffortCPREnv(n_agents=4, voting=True)
    env.reset(seed=0)
    agent = RuleBasedCPRAgent(prior="selfish", compliance=1.0)
    agent.reset("player_0", None, np.random.default_rng(0))
    agent.act(_decision(_observation(phase=0, stock=83.0), env.action_spec("player_0")))  # proposes 2.0
    env.step({"player_0": 1.0, "player_1": 2.0, "player_2": 6.0, "player_3": 2.0})
    spec = env.action_spec("player_0")
    assert tuple(spec.labels) == ("1.0", "2.0", "6.0")
    with pytest.raises(TypeError, match="Amount"):
        agent.act(_decision(_observation(phase=0), spec))
    action = agent.act(_decision(_observation(phase=1), spec))
    assert action.value["vote"] == 1 and action.raw_text == "Answer: 2.0"
    agent.last_proposal = 1.5  # equidistant from 1.0 and 2.0: the lower option
    assert agent.act(_decision(_observation(phase=1), spec)).value["vote"] == 0


def test_voting_raises_compliance_with_the_elected_norm():
    agent = RuleBasedCPRAgent(prior="selfish")
    assert agent.norm_compliance() == 0.3
    agent.voted = True
    assert agent.norm_compliance() == pytest.approx(0.3 + 0.8 * 0.7)


def test_without_reset_the_generator_is_seeded_from_the_agent_id_and_round():
    def first_effort(round_number, agent_id="player_3"):
        agent = RuleBasedCPRAgent(noise=0.1)
        observation = _observation() | {"round": np.int64(round_number)}
        return float(agent.act(_decision(observation, _harvest_spec(), agent_id)).value["effort"][0])

    assert first_effort(1) == first_effort(1) != 0.25
    assert first_effort(2) != first_effort(1)  # an agent rebuilt every round does not repeat its draw
    assert first_effort(1, "player_4") != first_effort(1)


def test_set_params_keeps_the_episode_state():
    agent = RuleBasedCPRAgent(prior="selfish", noise=0.0)
    agent.reset("player_0", None, np.random.default_rng(0))
    agent.voted = True
    agent.set_params(effort=0.2, compliance=0.5)
    assert (agent.effort, agent.current_effort, agent.compliance, agent.voted) == (0.2, 0.2, 0.5, True)
    assert _effort_of(agent) == 0.2
    with pytest.raises(ValueError, match="noise"):
        agent.set_params(noise=0.5)
    with pytest.raises(ValueError, match="effort"):
        agent.set_params(effort=3.0)


def test_fixed_effort_agent():
    agent = FixedEffortCPRAgent(effort=0.3)
    agent.reset("player_0", None, np.random.default_rng(0))
    for stock in (100.0, 20.0):
        assert float(agent.act(_decision(_observation(stock=stock), _harvest_spec())).value["effort"][0]) == 0.3
    with pytest.raises(ValueError, match="effort"):
        FixedEffortCPRAgent(effort=2.0)


# --------------------------------------------------------------------------------------------
# Whole games against the world
# --------------------------------------------------------------------------------------------


def play(seed, prior, **world_kwargs):
    """Survival round and over-usage (share of harvests above the norm) of one game."""
    env = EffortCPREnv(**world_kwargs)
    observations, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed + 1000)
    agents = {a: RuleBasedCPRAgent(prior=prior) for a in env.possible_agents}
    for seat, agent in agents.items():
        agent.reset(seat, env.rules(seat), rng)
    over = harvests = survival = step = 0
    while env.agents:
        actions = {
            a: agents[a].act(Decision(a, observations[a], env.describe(a), env.action_spec(a), "", step, 0)).value
            for a in env.agents
        }
        observations, _, _, _, infos = env.step(actions)
        step += 1
        for info in infos.values():
            if info["phase"] == "harvest":
                survival = info["round"]
                harvests += 1
                over += info["over_norm"]
    return survival, over / harvests


SEEDS = range(5)


def test_games_repeat_with_the_seed():
    assert play(3, "selfish", voting=True, monitoring_prob=0.5) == play(3, "selfish", voting=True, monitoring_prob=0.5)


def test_sanctions_reduce_over_usage_by_selfish_agents():
    without = [play(s, "selfish", group_norm=1.0, monitoring_prob=0.0)[1] for s in SEEDS]
    with_sanctions = [play(s, "selfish", group_norm=1.0, monitoring_prob=1.0, punish_prob=1.0)[1] for s in SEEDS]
    assert np.mean(with_sanctions) < 0.5 * np.mean(without)


def test_voting_lets_selfish_groups_survive_longer():
    without = [play(s, "selfish")[0] for s in SEEDS]
    with_votes = [play(s, "selfish", voting=True)[0] for s in SEEDS]
    assert without == [3] * len(SEEDS)  # 75% of the stock a round empties it in three rounds
    assert np.mean(with_votes) > np.mean(without) + 2


def test_altruistic_groups_outlive_selfish_groups():
    altruistic = [play(s, "altruistic")[0] for s in SEEDS]
    selfish = [play(s, "selfish")[0] for s in SEEDS]
    assert min(altruistic) > max(selfish)
