"""Scripted GovSim harvesters: exact answers on hand-made decisions, and whole games played
through the commons world (5 sustainable players survive 12 months; 5 greedy collapse in month 1)."""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.agents.commons_strategies import (
    COMMONS_STRATEGIES,
    ConditionalCooperator,
    FixedAmount,
    Greedy,
    Sustainable,
)
from dilemmazoo.envs.base import Amount, Choice
from dilemmazoo.envs.commons import CommonsEnv
from dilemmazoo.envs.messages import BoundedMessage
from dilemmazoo.envs.split_nocomm import ItemProposal


def observation(*, threshold=10, stock=100, last_threshold=-1, last_harvests=(-1,) * 5, present=(1,) * 5, phase=0):
    return {
        "month": np.int64(2),
        "phase": np.int64(phase),
        "stock": np.int64(stock),
        "threshold": np.int64(threshold),
        "last_threshold": np.int64(last_threshold),
        "last_harvests": np.array(last_harvests, dtype=np.int64),
        "present": np.array(present, dtype=np.int8),
        "speaking": np.int64(phase),
    }


def amount_spec(high: float) -> Amount:
    return Amount(instruction="How many?", fallback=-1, low=0.0, high=float(high), make_action=lambda move, value: ("harvest", value))


def decide(strategy, obs, spec, agent="player_0") -> Action:
    strategy.reset(agent, "rules", np.random.default_rng(0))
    return strategy.act(Decision(agent_id=agent, observation=obs, text="", spec=spec, rules="", step=1, episode=0))


@pytest.mark.parametrize(
    "share, threshold, stock, expected",
    [(1.0, 10, 100, 10), (0.5, 10, 100, 5), (1.5, 10, 100, 15), (0.5, 9, 90, 4), (3.0, 10, 20, 20), (0.0, 10, 100, 0)],
)
def test_sustainable_takes_its_share_of_the_threshold(share, threshold, stock, expected):
    action = decide(Sustainable(share=share), observation(threshold=threshold, stock=stock), amount_spec(stock))
    assert action.value == ("harvest", float(expected)) and action.raw_text == f"Answer: {expected}"


@pytest.mark.parametrize("fraction, high, expected", [(1.0, 100, 100), (0.5, 100, 50), (0.5, 55, 27), (0.25, 10, 2), (0.0, 80, 0)])
def test_greedy_takes_a_fraction_of_the_stock(fraction, high, expected):
    action = decide(Greedy(fraction=fraction), observation(stock=high), amount_spec(high))
    assert action.value == ("harvest", float(expected))


@pytest.mark.parametrize("amount, high, expected", [(10, 100, 10), (30, 100, 30), (30, 12, 12), (0, 100, 0)])
def test_fixed_amount_is_clipped_to_the_allowed_range(amount, high, expected):
    assert decide(FixedAmount(amount=amount), observation(stock=high), amount_spec(high)).value == ("harvest", float(expected))


@pytest.mark.parametrize(
    "last_harvests, last_threshold, threshold, expected",
    [
        ((-1, -1, -1, -1, -1), -1, 10, 10),  # first month: the threshold
        ((10, 10, 10, 10, 10), 10, 9, 9),  # everyone kept to last month's threshold
        ((30, 10, 5, 10, 0), 10, 10, 10),  # only its own catch was high: it does not count
        ((10, 12, 10, 10, 10), 10, 10, 11),  # one other over: mean of others (12+10+10+10)/4 = 10.5 -> 11
        ((0, 20, 20, 0, 0), 10, 10, 10),  # mean (20+20+0+0)/4 = 10
        ((10, 30, 20, 10, -1), 10, 8, 20),  # the absent seat (-1) is ignored: (30+20+10)/3 = 20
    ],
)
def test_conditional_cooperator(last_harvests, last_threshold, threshold, expected):
    obs = observation(threshold=threshold, last_threshold=last_threshold, last_harvests=last_harvests)
    assert decide(ConditionalCooperator(), obs, amount_spec(100)).value == ("harvest", float(expected))


def test_conditional_cooperator_ignores_seats_not_present_now_and_reads_its_own_seat():
    obs = observation(last_threshold=10, last_harvests=(10, 10, 10, 10, 50), present=(1, 1, 1, 1, 0))
    assert decide(ConditionalCooperator(), obs, amount_spec(100)).value == ("harvest", 10.0)
    obs = observation(last_threshold=10, last_harvests=(10, 10, 10, 10, 50))
    assert decide(ConditionalCooperator(), obs, amount_spec(100), agent="player_4").value == ("harvest", 10.0)
    assert decide(ConditionalCooperator(), obs, amount_spec(100), agent="player_0").value == ("harvest", 20.0)  # (10+10+10+50)/4


def test_talk_messages_state_the_catch_and_the_proposal():
    spec = BoundedMessage(instruction="Say", fallback="", max_chars=500, make_action=lambda text: text)
    obs = observation(phase=1, threshold=10, last_threshold=10, last_harvests=(12, 10, 10, 10, 10))
    assert decide(Sustainable(), obs, spec).value == (
        "This month I took 12. I propose that each of us takes at most 10 so the resource can recover."
    )
    assert decide(Greedy(), obs, spec, agent="player_1").value == (
        "This month I took 10. I propose that each of us takes as much as we can while it lasts."
    )
    assert decide(FixedAmount(7), obs, spec).value.endswith("I will take 7 every month, and I propose that everyone does the same.")
    assert "as long as everyone else does" in decide(ConditionalCooperator(), obs, spec).value
    short = BoundedMessage(instruction="Say", fallback="", max_chars=12, make_action=lambda text: text)
    assert decide(Sustainable(), obs, short).value == "This month I"


def test_messages_fit_a_world_with_a_small_limit():
    env = CommonsEnv(max_message_chars=15, max_utterances=1, n_months=1)
    totals, infos_log, messages = play(env, {a: Sustainable() for a in env.possible_agents})
    assert messages == ["This month I to"] and totals == dict.fromkeys(env.possible_agents, 10.0)


def test_waiting_and_unknown_specs():
    wait = Choice(instruction="Wait", fallback="idle", labels=("Wait",), actions=("idle",))
    assert decide(Greedy(), observation(), wait).value == "idle"
    with pytest.raises(TypeError, match="cannot answer"):
        decide(Greedy(), observation(), ItemProposal(instruction="x", fallback=None))


@pytest.mark.parametrize(
    "cls, kwargs",
    [(Sustainable, {"share": -1}), (Greedy, {"fraction": 1.5}), (FixedAmount, {"amount": -2}), (FixedAmount, {"amount": 2.5})],
)
def test_bad_parameters(cls, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        cls(**kwargs)


def test_seat_names_must_be_readable():
    with pytest.raises(ValueError, match="player_<i>"):
        Sustainable().reset("alice", None, np.random.default_rng(0))


def test_registry_dict():
    assert COMMONS_STRATEGIES == {
        "sustainable": Sustainable,
        "greedy": Greedy,
        "fixed_amount": FixedAmount,
        "conditional_cooperator": ConditionalCooperator,
    }


# --------------------------------------------------------------------------------------------
# Whole games through the world (no runner)
# --------------------------------------------------------------------------------------------


def play(env: CommonsEnv, strategies: dict, seed: int = 0) -> tuple[dict, list[dict], list[str]]:
    observations, _ = env.reset(seed=seed)
    rules = {a: env.rules(a) for a in env.agents}
    for agent, strategy in strategies.items():
        strategy.reset(agent, rules[agent], np.random.default_rng(seed))
    totals = dict.fromkeys(env.agents, 0.0)
    infos_log, messages = [], []
    step = 0
    while env.agents:
        step += 1
        deciders = env.deciders()
        actions = {}
        for agent in env.agents:
            if agent in deciders:
                request = Decision(agent_id=agent, observation=observations[agent], text=env.describe(agent),
                                   spec=env.action_spec(agent), rules=rules[agent], step=step, episode=0)
                actions[agent] = strategies[agent].act(request).value
            else:
                actions[agent] = env.idle_action(agent)
        observations, rewards, _, _, infos = env.step(actions)
        for agent, reward in rewards.items():
            totals[agent] += reward
        infos_log.append(infos)
        messages += [i["message"] for i in infos.values() if i["speaker"]]
    return totals, infos_log, messages


def test_five_sustainable_players_survive_twelve_months():
    env = CommonsEnv()
    totals, infos_log, messages = play(env, {a: Sustainable() for a in env.possible_agents})
    assert totals == dict.fromkeys(env.possible_agents, 120.0)
    assert not infos_log[-1]["player_0"]["collapsed"] and infos_log[-1]["player_0"]["round"] == 12
    assert len(infos_log) == 12 * 11 and len(messages) == 12 * 10
    assert messages[0] == "This month I took 10. I propose that each of us takes at most 10 so the resource can recover."


def test_five_greedy_players_collapse_in_month_one():
    env = CommonsEnv()
    totals, infos_log, _ = play(env, {a: Greedy() for a in env.possible_agents}, seed=2)
    assert len(infos_log) == 1
    info = infos_log[0]["player_0"]
    assert info["collapsed"] and info["round"] == 1 and info["stock"] == 0
    assert sum(totals.values()) == 100.0  # the whole stock, shared at random
    assert [i["requested"] for i in infos_log[0].values()] == [100] * 5


def test_conditional_cooperators_follow_an_overharvester_into_collapse():
    # Month 1: 10, 10, 10, 10, 20 -> 40 left -> 80. Month 2 (threshold 8): the cooperators see
    # one catch above last month's 10 and match the others' mean, (10+10+10+20)/4 = 12.5 -> 13: 72 of 80.
    env = CommonsEnv(communication=False)
    strategies = {a: ConditionalCooperator() for a in env.possible_agents[:4]} | {"player_4": FixedAmount(20)}
    totals, infos_log, _ = play(env, strategies)
    assert [i["requested"] for i in infos_log[0].values()] == [10, 10, 10, 10, 20]
    assert [i["requested"] for i in infos_log[1].values()] == [13, 13, 13, 13, 20]
    assert infos_log[1]["player_0"]["stock_after_harvest"] == 8
    assert infos_log[1]["player_0"]["stock"] == 16
    # Month 3 (threshold (16 // 2) // 5 = 1): the others took (13+13+13+20)/4 = 14.75 -> 15 each; the
    # fixed 20 is clipped to the stock, 16; 76 > 16 collapses the lake.
    assert [i["requested"] for i in infos_log[2].values()] == [15, 15, 15, 15, 16]
    assert len(infos_log) == 3 and infos_log[2]["player_0"]["collapsed"]
