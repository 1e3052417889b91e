"""Exact tests of the GovSim commons (Piatti et al., NeurIPS 2024): regrowth, thresholds,
allocation, collapse, the sustainable path, talk order, newcomer, framings, parsing and fallbacks."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence

from dilemmazoo.envs import ActionParseError, Amount, Choice, make_world
from dilemmazoo.envs.commons import (
    FRAMINGS,
    CommonsEnv,
    allocate,
    per_agent_threshold,
    regrow,
    sustainable_total,
)
from dilemmazoo.envs.messages import BoundedMessage, decode_message, encode_message

SEATS5 = [f"player_{i}" for i in range(5)]

# --------------------------------------------------------------------------------------------
# Pure mechanics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stock, expected",
    [(0, 0), (1, 2), (5, 10), (30, 60), (49, 98), (50, 100), (51, 100), (60, 100), (100, 100)],
)
def test_doubling_regrowth(stock, expected):
    assert regrow(stock, regrowth="doubling", capacity=100) == expected


def test_doubling_regrowth_respects_the_capacity():
    assert regrow(40, regrowth="doubling", capacity=70) == 70
    assert regrow(30, regrowth="doubling", capacity=70) == 60


@pytest.mark.parametrize(
    "stock, r, expected",
    [
        (0, 0.5, 0),
        (10, 0.5, 14),  # 10 + 0.5 * 10 * 0.9 = 14.5, rounded down
        (50, 0.5, 62),  # 50 + 0.5 * 50 * 0.5 = 62.5
        (90, 0.5, 94),  # 90 + 0.5 * 90 * 0.1 = 94.5
        (100, 0.5, 100),  # no growth at capacity
        (10, 0.3, 12),  # 10 + 0.3 * 10 * 0.9 = 12.7
        (50, 0.3, 57),  # 50 + 0.3 * 25 = 57.5
        (90, 0.3, 92),  # 90 + 2.7
    ],
)
def test_logistic_regrowth_rounds_down(stock, r, expected):
    assert regrow(stock, regrowth="logistic", capacity=100, growth_rate=r) == expected


def test_logistic_regrowth_with_another_capacity():
    # 50 + 0.3 * 50 * (1 - 50/150) = 60 exactly
    assert regrow(50, regrowth="logistic", capacity=150, growth_rate=0.3) == 60


def test_regrowth_refuses_unknown_models_and_negative_stock():
    with pytest.raises(ValueError, match="regrowth"):
        regrow(10, regrowth="linear")
    with pytest.raises(ValueError):
        regrow(-1)


@pytest.mark.parametrize("stock, expected", [(100, 50), (99, 49), (50, 25), (10, 5), (5, 2), (1, 0), (0, 0)])
def test_sustainable_total_under_doubling_is_half(stock, expected):
    assert sustainable_total(stock) == expected
    # by definition: taking x keeps the stock, x + 1 does not
    assert regrow(stock - expected) >= stock
    if expected < stock:
        assert regrow(stock - expected - 1) < stock


@pytest.mark.parametrize(
    "stock, expected",
    [
        (100, 0),  # logistic growth is 0 at capacity
        (50, 11),  # regrow(39) = 39 + 11.895 -> 50; regrow(38) = 49
        (20, 6),  # regrow(14) = 20; regrow(13) = 18
        (10, 3),  # regrow(7) = 10; regrow(6) = 8
    ],
)
def test_sustainable_total_under_logistic_growth(stock, expected):
    assert sustainable_total(stock, regrowth="logistic", capacity=100, growth_rate=0.5) == expected


@pytest.mark.parametrize("stock, n, expected", [(100, 5, 10), (100, 4, 12), (50, 5, 5), (99, 5, 9), (8, 5, 0), (100, 1, 50)])
def test_per_agent_threshold(stock, n, expected):
    assert per_agent_threshold(stock, n) == expected


def test_per_agent_threshold_needs_someone_present():
    with pytest.raises(ValueError, match="n_present"):
        per_agent_threshold(100, 0)


def test_allocation_grants_requests_that_fit_without_drawing():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert allocate([10, 10, 10, 10, 10], 100, rng).tolist() == [10, 10, 10, 10, 10]
    assert allocate([60, 40], 100, rng).tolist() == [60, 40]  # exactly the stock
    assert allocate([0, 0], 0, rng).tolist() == [0, 0]
    assert rng.bit_generator.state == state  # no randomness used


def test_over_demand_allocation_is_exact_with_a_seed():
    assert allocate([20] * 5, 50, np.random.default_rng(0)).tolist() == [13, 12, 6, 8, 11]
    assert allocate([30, 0, 50, 40], 60, np.random.default_rng(7)).tolist() == [17, 0, 27, 16]
    # [2, 1] from 2: tags [0, 0, 1]; default_rng(0).permutation(3) = [2, 0, 1] -> units 1 and 0 granted
    assert np.random.default_rng(0).permutation(3).tolist() == [2, 0, 1]
    assert allocate([2, 1], 2, np.random.default_rng(0)).tolist() == [1, 1]


def test_over_demand_allocation_follows_the_documented_rule():
    requests, stock = [7, 3, 0, 5], 9
    tags = np.repeat(np.arange(4), requests)
    order = np.random.default_rng(42).permutation(tags.size)
    expected = np.bincount(tags[order][:stock], minlength=4)
    assert allocate(requests, stock, np.random.default_rng(42)).tolist() == expected.tolist()


def test_over_demand_allocation_invariants_and_mean_shares():
    rng = np.random.default_rng(1)
    requests = np.array([40, 20, 0, 60])
    draws = np.array([allocate(requests, 60, rng) for _ in range(2000)])
    assert (draws.sum(axis=1) == 60).all()
    assert (draws <= requests).all() and (draws >= 0).all()
    assert (draws[:, 2] == 0).all()
    # each requester expects stock * request / total = 20, 10, 0, 30
    assert draws.mean(axis=0) == pytest.approx([20, 10, 0, 30], abs=0.4)


def test_random_unit_allocation_between_two_has_the_hypergeometric_mean_over_seeds():
    # requests 30 and 10 from a stock of 20: seat 0's units are a hypergeometric draw,
    # mean 20 * 30 / 40 = 15, variance 20 * 0.75 * 0.25 * 20 / 39 = 1.92 (s.e. over 4000 seeds 0.022)
    draws = np.array([allocate([30, 10], 20, np.random.default_rng(seed)) for seed in range(4000)])
    assert (draws.sum(axis=1) == 20).all() and (draws <= [30, 10]).all()
    assert draws[:, 0].mean() == pytest.approx(15.0, abs=0.1)
    assert draws[:, 0].var() == pytest.approx(20 * 0.75 * 0.25 * 20 / 39, rel=0.1)
    # one unit for requests 2 and 1: seat 0 gets it with probability 2/3 (s.e. 0.009 over 3000 seeds)
    first = np.mean([allocate([2, 1], 1, np.random.default_rng(seed))[0] for seed in range(3000)])
    assert first == pytest.approx(2 / 3, abs=0.03)


def test_proportional_allocation_uses_largest_remainders_without_drawing():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    # 9 * (7, 3, 0, 5) / 15 = 4.2, 1.8, 0, 3.0: floors 4, 1, 0, 3 and the one unit left to 1.8
    assert allocate([7, 3, 0, 5], 9, rng, "proportional").tolist() == [4, 2, 0, 3]
    assert allocate([1, 1, 1], 2, rng, "proportional").tolist() == [1, 1, 0]  # equal remainders: lower seats
    assert allocate([100, 50], 100, rng, "proportional").tolist() == [67, 33]
    assert allocate([10, 10], 30, rng, "proportional").tolist() == [10, 10]  # they fit: granted in full
    assert rng.bit_generator.state == state
    with pytest.raises(ValueError, match="rule"):
        allocate([1, 2], 1, rng, "fair")


def test_the_world_allocates_at_random_by_default_and_proportionally_on_request():
    assert CommonsEnv().allocation == "random_units"
    world = CommonsEnv(n_agents=2, communication=False, allocation="proportional")
    world.reset(seed=3)
    _, rewards, *_ = world.step({"player_0": 100, "player_1": 50})
    assert rewards == {"player_0": 67.0, "player_1": 33.0}
    assert "in proportion to the requests, in whole units" in world.rules("player_0")
    draws = []
    for _ in range(2):  # the same seed, the same draw
        seeded = CommonsEnv(n_agents=2, communication=False)
        seeded.reset(seed=3)
        _, rewards, *_ = seeded.step({"player_0": 100, "player_1": 50})
        draws.append(rewards)
    assert draws[0] == draws[1] and sum(draws[0].values()) == 100.0
    assert "one unit at a time in random order" in seeded.rules("player_0")
    with pytest.raises(ValueError, match="allocation"):
        CommonsEnv(allocation="equal")


def test_allocation_refuses_negative_and_fractional_requests():
    with pytest.raises(ValueError, match="non-negative"):
        allocate([-1, 5], 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="whole numbers"):
        allocate([2.5, 5], 10, np.random.default_rng(0))


# --------------------------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------------------------


def new_env(seed: int = 0, **kwargs) -> CommonsEnv:
    env = CommonsEnv(**kwargs)
    env.reset(seed=seed)
    return env


def harvest(env: CommonsEnv, amounts) -> tuple:
    """Every agent asks for ``amounts[seat]`` (absent seats send their idle action)."""
    return env.step({a: int(amounts[i]) if a in env.deciders() else env.idle_action(a) for i, a in enumerate(env.agents)})


def say(env: CommonsEnv, text: str) -> tuple:
    return env.step({a: text if a in env.deciders() else env.idle_action(a) for a in env.agents})


def test_month_one_collapse_ends_the_episode_after_the_harvest():
    env = new_env()
    obs, rewards, terminations, truncations, infos = harvest(env, [20] * 5)
    assert rewards == dict.fromkeys(SEATS5, 20.0)
    assert terminations == dict.fromkeys(SEATS5, True)
    assert truncations == dict.fromkeys(SEATS5, False)
    assert env.agents == [] and env.deciders() == []
    info = infos["player_0"]
    assert info["collapsed"] is True and info["round_end"] is True
    assert (info["round"], info["phase"]) == (1, "harvest")
    assert (info["stock_before"], info["stock_after_harvest"], info["stock"]) == (100, 0, 0)  # no regrowth
    assert (info["requested"], info["harvest"], info["threshold"], info["sustainable_total"]) == (20, 20.0, 10, 50)
    assert all(i["collapsed"] for i in infos.values())
    assert int(obs["player_0"]["month"]) == 1 and int(obs["player_0"]["stock"]) == 0
    assert "collapses" in env.describe("player_0")
    with pytest.raises(RuntimeError, match="over"):
        harvest(env, [0] * 5)


def test_collapse_is_strictly_below_the_threshold():
    env = new_env(communication=False)
    *_, terminations, _, infos = harvest(env, [19, 19, 19, 19, 19])  # 5 left: not below 5
    assert not any(terminations.values()) and infos["player_0"]["stock"] == 10
    env = new_env(communication=False)
    *_, terminations, _, infos = harvest(env, [20, 19, 19, 19, 19])  # 4 left
    assert all(terminations.values()) and infos["player_0"]["collapsed"]


def test_everyone_at_the_threshold_survives_twelve_months():
    env = new_env()
    totals = dict.fromkeys(SEATS5, 0.0)
    steps = month_ends = 0
    while env.agents:
        deciders = env.deciders()
        if int(env._observations()["player_0"]["phase"]) == 0:
            assert deciders == SEATS5
            actions = {a: env.action_spec(a).parse("I take my share. Answer: 10") for a in env.agents}
        else:
            assert len(deciders) == 1
            actions = {a: "We keep to 10 each." if a in deciders else env.idle_action(a) for a in env.agents}
        _, rewards, terminations, _, infos = env.step(actions)
        steps += 1
        for agent, reward in rewards.items():
            totals[agent] += reward
        info = infos["player_0"]
        assert not info["collapsed"]
        if info["phase"] == "harvest":
            assert (info["stock_before"], info["stock_after_harvest"], info["threshold"]) == (100, 50, 10)
        if info["round_end"]:
            month_ends += 1
            assert info["stock"] == 100  # back at 100 each month
    assert steps == 12 * (1 + 10) and month_ends == 12
    assert totals == dict.fromkeys(SEATS5, 120.0)
    assert sum(totals.values()) == 600
    assert all(terminations.values())
    assert "over after 12 months" in env.describe("player_3")


def test_without_communication_a_month_is_one_step():
    env = new_env(communication=False)
    steps = 0
    while env.agents:
        _, _, _, _, infos = harvest(env, [10] * 5)
        steps += 1
        assert infos["player_2"]["round"] == steps and infos["player_2"]["round_end"] is True
        assert infos["player_2"]["stock"] == 100
    assert steps == 12
    assert "cannot talk" in env.rules("player_0")


def test_rewards_are_zero_in_talk_steps_and_the_stock_regrows_at_the_last_utterance():
    env = new_env(max_utterances=2)
    _, rewards, _, _, infos = harvest(env, [5, 10, 15, 0, 10])
    assert rewards == {"player_0": 5.0, "player_1": 10.0, "player_2": 15.0, "player_3": 0.0, "player_4": 10.0}
    assert infos["player_0"]["stock"] == 60 and not infos["player_0"]["round_end"]
    _, rewards, _, _, infos = say(env, "hello")
    assert set(rewards.values()) == {0.0}
    assert infos["player_0"]["stock"] == 60 and infos["player_0"]["round_end"] is False
    assert infos["player_0"]["requested"] == -1 and infos["player_0"]["harvest"] == 0.0
    _, rewards, _, _, infos = say(env, "hi")
    assert infos["player_0"]["round_end"] is True and infos["player_0"]["stock"] == 100
    assert (infos["player_0"]["stock_before"], infos["player_0"]["stock_after_harvest"]) == (100, 60)
    assert env.month == 2 and env.deciders() == SEATS5


def test_over_demand_in_the_world_uses_the_seeded_allocation():
    env = new_env(seed=5)
    _, rewards, terminations, _, infos = harvest(env, [100, 50, 0, 0, 50])
    expected = allocate([100, 50, 0, 0, 50], 100, np.random.default_rng(5))
    assert [rewards[a] for a in SEATS5] == expected.astype(float).tolist()
    assert sum(rewards.values()) == 100.0 and all(terminations.values())
    assert [infos[a]["requested"] for a in SEATS5] == [100, 50, 0, 0, 50]


def test_talk_order_rotates_the_first_speaker_each_month():
    env = new_env(max_utterances=7)
    spoken = []
    for _ in range(2):
        harvest(env, [10] * 5)
        month = []
        for turn in range(7):
            (speaker,) = env.deciders()
            month.append(speaker)
            assert env.action_spec(speaker).parse(f"Answer: turn {turn}") is not None
            obs, _, _, _, infos = say(env, f"turn {turn}")
            assert infos[speaker]["speaker"] is True and infos[speaker]["message"] == f"turn {turn}"
            assert sum(i["speaker"] for i in infos.values()) == 1
            assert all(i["message"] == "" for a, i in infos.items() if a != speaker)
        spoken.append([int(s[-1]) for s in month])
    assert spoken == [[0, 1, 2, 3, 4, 0, 1], [1, 2, 3, 4, 0, 1, 2]]


def test_talk_describe_shows_the_moderator_line_and_the_conversation():
    env = new_env(max_utterances=3)
    harvest(env, [10, 12, 8, 10, 10])
    text = env.describe("player_1")
    assert "Moderator: this month John caught 10 tons of fish, Kate caught 12 tons of fish, Jack caught 8 tons of fish" in text
    assert "There are 50 tons of fish in the lake." in text
    assert "John is speaking now" in text
    say(env, "I kept to 10.")
    env.step({"player_1": {"message": encode_message("", 500)}})  # the empty fallback message
    text = env.describe("player_2")
    assert "John: I kept to 10." in text and "Kate said nothing." in text and "It is your turn to speak" in text
    assert "You: I kept to 10." in env.describe("player_0")
    obs = env._observations()
    assert [int(obs[a]["speaking"]) for a in SEATS5] == [0, 0, 1, 0, 0]
    assert obs["player_0"]["last_harvests"].tolist() == [10, 12, 8, 10, 10]


def test_harvest_describe_shows_stock_threshold_and_last_catches():
    env = new_env(communication=False)
    first = env.describe("player_0")
    assert "month 1 of 12" in first and "There are 100 tons of fish in the lake." in first
    assert "catch at most 10 tons of fish this month" in first and "Last month" not in first
    harvest(env, [10, 20, 5, 10, 10])  # 45 left -> 90
    text = env.describe("player_1")
    assert "Last month John caught 10 tons of fish, you caught 20 tons of fish, Jack caught 5 tons of fish" in text
    assert "That left 45 tons of fish, which grew back to 90 tons of fish." in text
    assert "There are 90 tons of fish in the lake." in text
    assert "catch at most 9 tons of fish this month" in text  # (90 // 2) // 5
    assert "So far you have earned 20 units of income." in text


def test_observations_before_and_after_a_harvest():
    env = CommonsEnv()
    obs, infos = env.reset(seed=0)
    o = obs["player_3"]
    assert (int(o["month"]), int(o["phase"]), int(o["stock"]), int(o["threshold"]), int(o["last_threshold"])) == (1, 0, 100, 10, -1)
    assert o["last_harvests"].tolist() == [-1] * 5 and o["present"].tolist() == [1] * 5 and int(o["speaking"]) == 0
    assert infos["player_3"] == {
        "round": 0, "phase": "harvest", "round_end": False, "stock_before": 100, "stock_after_harvest": 100,
        "stock": 100, "sustainable_total": 50, "threshold": 10, "requested": -1, "harvest": 0.0, "present": True,
        "collapsed": False, "collapse_threshold": 5.0, "n_present": 5, "speaker": False, "message": "",
    }
    obs, *_ = harvest(env, [10, 10, 10, 10, 6])
    o = obs["player_3"]
    assert (int(o["phase"]), int(o["stock"]), int(o["threshold"]), int(o["last_threshold"])) == (1, 54, 10, 10)
    assert o["last_harvests"].tolist() == [10, 10, 10, 10, 6] and int(obs["player_0"]["speaking"]) == 1
    assert all(env.observation_space(a).contains(obs[a]) for a in SEATS5)


def test_newcomer_is_absent_before_its_month_and_joins_after():
    env = new_env(newcomer_month=3, n_months=4, communication=False)
    newcomer = "player_4"
    assert "you join in month 3" in env.rules(newcomer) and "You and 4 other fishermen" in env.rules(newcomer)
    assert "join" not in env.rules("player_0") and "You and 3 other fishermen" in env.rules("player_0")
    for month in (1, 2):
        assert env.deciders() == SEATS5[:4]
        assert isinstance(env.action_spec(newcomer), Choice)
        assert "You have not arrived yet" in env.describe(newcomer)
        assert "12 tons of fish this month" in env.describe("player_0")  # (100 // 2) // 4
        obs, rewards, _, _, infos = harvest(env, [12, 12, 12, 12, 99])
        assert rewards[newcomer] == 0.0 and infos[newcomer]["requested"] == -1 and infos[newcomer]["present"] is False
        assert infos["player_0"]["n_present"] == 4 and infos["player_0"]["threshold"] == 12
        assert obs["player_0"]["last_harvests"].tolist() == [12, 12, 12, 12, -1]
        assert infos["player_0"]["stock"] == 100  # 52 left, doubled and capped
    assert env.deciders() == SEATS5
    assert "A newcomer, Luke, has joined you at the lake this month." in env.describe("player_0")
    assert "This is your first month at the lake." in env.describe(newcomer)
    assert env._observations()["player_0"]["present"].tolist() == [1] * 5
    _, rewards, _, _, infos = harvest(env, [10] * 5)
    assert rewards[newcomer] == 10.0 and infos[newcomer]["present"] is True and infos[newcomer]["n_present"] == 5
    assert infos["player_0"]["threshold"] == 10
    assert "newcomer" not in env.describe("player_0")


def test_newcomer_is_not_in_the_talk_before_joining():
    env = new_env(newcomer_month=2, n_months=2, max_utterances=5)
    harvest(env, [10, 10, 10, 10, 0])
    speakers = []
    for _ in range(5):
        speakers.append(env.deciders()[0])
        say(env, "x")
    assert speakers == ["player_0", "player_1", "player_2", "player_3", "player_0"]
    harvest(env, [10] * 5)
    speakers = []
    for _ in range(5):
        speakers.append(env.deciders()[0])
        say(env, "x")
    assert speakers == ["player_1", "player_2", "player_3", "player_4", "player_0"]
    assert env.agents == []


@pytest.mark.parametrize("framing", ["pasture", "pollution"])
def test_framings_change_words_only(framing):
    def play(framing_name):
        env = new_env(seed=3, framing=framing_name, max_utterances=2)
        texts, results = [env.rules("player_0")], []
        for step in range(4):  # month 1, its talk, then an over-demand collapse in month 2
            texts += [env.describe(a) for a in SEATS5]
            if step % 3 == 0:
                results.append(harvest(env, [10, 14, 9, 10, 30]))
            else:
                results.append(say(env, "hello"))
        texts += [env.describe(a) for a in SEATS5]
        return texts, results

    fish_texts, fish_results = play("fishery")
    texts, results = play(framing)
    assert data_equivalence(fish_results, results)
    numbers = [re.findall(r"\d+", t) for t in fish_texts[1:]]
    assert numbers == [re.findall(r"\d+", t) for t in texts[1:]]
    assert fish_texts[1:] != texts[1:]
    words = FRAMINGS[framing]
    joined = "\n".join(texts)
    assert words.roles in texts[0] and "fish" not in joined
    if framing == "pasture":
        assert "hectares of grass" in joined and "sheep" in joined and "1 hectare" in texts[0]
    else:
        assert "% unpolluted water" in joined and "pallets of widgets" in joined and "1%" in texts[0]


def test_universalization_hint_only_when_enabled_and_only_in_harvest_steps():
    plain = new_env()
    hinted = new_env(universalization=True)
    assert "more than" not in plain.describe("player_0")
    text = hinted.describe("player_0")
    assert "if every fisherman caught more than 10 tons of fish this month, there would be less next month" in text
    harvest(hinted, [10] * 5)
    assert "more than" not in hinted.describe("player_0")


def test_logistic_world_regrows_by_the_logistic_rule():
    env = new_env(communication=False, regrowth="logistic", growth_rate=0.5, initial_stock=50)
    assert env.threshold() == 11 // 5  # sustainable_total(50) = 11
    _, _, _, _, infos = harvest(env, [2] * 5)
    assert infos["player_0"]["stock_after_harvest"] == 40
    assert infos["player_0"]["stock"] == regrow(40, regrowth="logistic", growth_rate=0.5) == 52
    assert "grows by 0.5 x s x (1 - s / 100)" in env.rules("player_0")


def test_names_option_and_default_personas():
    env = new_env()
    assert [env.display_name(a) for a in SEATS5] == ["John", "Kate", "Jack", "Emma", "Luke"]
    names = {a: f"Fisher {i}" for i, a in enumerate(SEATS5)}
    env.reset(seed=0, options={"names": names, "generation": 2, "game": 1})
    assert env.display_name("player_2") == "Fisher 2"
    assert "You are Fisher 2" in env.rules("player_2")
    seven = CommonsEnv(n_agents=7)
    assert [seven.display_name(a) for a in seven.possible_agents][4:] == ["Luke", "Player 6", "Player 7"]
    with pytest.raises(ValueError, match="names"):
        env.reset(options={"names": {"player_0": "A"}})
    with pytest.raises(ValueError, match="distinct"):
        env.reset(options={"names": dict.fromkeys(SEATS5, "Same")})


# --------------------------------------------------------------------------------------------
# Specs, parsing, fallbacks, refused actions
# --------------------------------------------------------------------------------------------


def test_harvest_spec_parses_whole_units_up_to_the_stock():
    env = new_env()
    spec = env.action_spec("player_0")
    assert isinstance(spec, Amount) and (spec.low, spec.high) == (0.0, 100.0)
    assert int(spec.parse("I think 7 is fair.\nAnswer: 7")["harvest"]) == 7
    assert int(spec.parse("Answer: 100 tons")["harvest"]) == 100
    for bad in ("Answer: 7.5", "Answer: 101", "Answer: -3", "seven", "Answer: 5 or 6", "Answer: 50%"):
        with pytest.raises(ActionParseError):
            spec.parse(bad)
    assert env.action_space("player_0").contains(spec.parse("Answer: 3"))


def test_harvest_fallback_is_the_threshold_then_the_previous_request_capped_at_the_stock():
    env = new_env(n_agents=2, communication=False)
    assert [int(env.action_spec(a).fallback["harvest"]) for a in env.agents] == [25, 25]  # (100 // 2) // 2
    harvest(env, [70, 0])  # 30 left -> 60
    assert int(env.action_spec("player_0").fallback["harvest"]) == 60  # previous 70, capped at the stock
    assert int(env.action_spec("player_1").fallback["harvest"]) == 0  # previous request, not the threshold
    assert env.action_spec("player_0").fallback["message"].tolist() == [0] * 500


def test_message_spec_rejects_over_long_messages_and_falls_back_to_silence():
    env = new_env(max_message_chars=20)
    harvest(env, [10] * 5)
    spec = env.action_spec("player_0")
    assert isinstance(spec, BoundedMessage) and spec.max_chars == 20
    assert decode_message(spec.parse("Hmm.\nAnswer: take 10 each")["message"]) == "take 10 each"
    with pytest.raises(ActionParseError, match="limit is 20"):
        spec.parse("Answer: " + "y" * 21)
    with pytest.raises(ActionParseError, match="empty"):
        spec.parse("Answer:   ")
    assert decode_message(spec.fallback["message"]) == ""
    wait = env.action_spec("player_1")
    assert isinstance(wait, Choice) and wait.labels == ("Wait",)
    assert data_equivalence(wait.fallback, env.idle_action("player_1"))
    with pytest.raises(ValueError, match="limit is 20"):
        say(env, "z" * 21)
    with pytest.raises(ValueError, match="20 integer code points"):
        env.step({"player_0": {"message": np.zeros(21, dtype=np.int32)}})


def test_actions_of_the_wrong_kind_are_refused():
    env = new_env()
    with pytest.raises(ValueError, match="harvest step"):
        env.step({a: "ten please" for a in SEATS5})
    with pytest.raises(ValueError, match="harvest step"):
        env.step({a: {"message": encode_message("hi", 500)} for a in SEATS5})
    with pytest.raises(ValueError, match="from 0 to 100"):
        env.step({a: 101 for a in SEATS5})
    with pytest.raises(ValueError, match="from 0 to 100"):
        env.step({a: 2.5 for a in SEATS5})
    with pytest.raises(ValueError, match="player_4 must decide"):
        env.step({a: 10 for a in SEATS5[:4]})
    with pytest.raises(ValueError, match="not in the game"):
        env.step({**{a: 10 for a in SEATS5}, "player_9": 10})
    assert env.month == 1 and env.stock == 100  # nothing changed
    env.step({a: {"harvest": np.int64(10)} for a in SEATS5})  # a dict with only the key needed
    with pytest.raises(ValueError, match="talk step"):
        env.step({"player_0": 10})
    env.step({"player_0": {"message": "ok"}})  # only the speaker's action is required
    assert env.talk_turn == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_agents": 1},
        {"n_agents": 2.0},
        {"n_months": 0},
        {"capacity": 0},
        {"initial_stock": 101},
        {"initial_stock": -1},
        {"collapse_threshold": -1},
        {"collapse_threshold": float("nan")},
        {"initial_stock": 4},  # below the collapse threshold
        {"communication": "yes"},
        {"max_utterances": 0},
        {"framing": "forest"},
        {"universalization": 1},
        {"newcomer_month": 1},
        {"newcomer_month": 13},
        {"newcomer_month": True},
        {"regrowth": "linear"},
        {"growth_rate": 0},
        {"growth_rate": 1.5},
        {"max_message_chars": 0},
        {"render_mode": "rgb_array"},
    ],
)
def test_bad_arguments_name_the_argument(kwargs):
    name = next(iter(kwargs))
    expected = "collapse_threshold" if kwargs == {"initial_stock": 4} else name
    with pytest.raises(ValueError, match=expected):
        CommonsEnv(**kwargs)


def test_seeded_games_repeat_and_seeds_differ():
    def play(seed):
        env = CommonsEnv(communication=False, n_months=3)
        rows = [env.reset(seed=seed)]
        while env.agents:
            rows.append(harvest(env, [40, 30, 10, 25, 15]))  # 120 > 100: random allocation, then collapse
        return rows

    assert data_equivalence(play(4), play(4))
    assert not data_equivalence(play(4), play(5))


def test_made_by_name_renders_and_pickles():
    env = make_world("commons", render_mode="ansi", communication=False)
    assert isinstance(env, CommonsEnv) and env.metadata["name"] == "commons_v0"
    env.reset(seed=0)
    harvest(env, [10, 10, 10, 10, 15])  # 45 left -> 90
    text = env.render()
    assert "month 2 of 12" in text and "stock 90 tons of fish" in text and "John 10" in text
    copy = pickle.loads(pickle.dumps(env))
    assert data_equivalence(harvest(env, [30] * 5), harvest(copy, [30] * 5))
    assert "collapsed in month 2" in env.render()
