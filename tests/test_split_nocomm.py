"""Exact tests of Split No-Comm (arXiv 2511.19405): value draws, per-item proportional payoffs,
proposals, parsing, a game driven by parsed answers, and its metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pettingzoo.env_registry.registration import parallel_registry

from dilemmazoo.analysis import world_metrics
from dilemmazoo.analysis.trust_split import exploitation, split_efficiency, split_nocomm_metrics
from dilemmazoo.envs import ActionParseError, make_world
from dilemmazoo.envs.split_nocomm import ItemProposal, SplitNoCommEnv, draw_item_values
from dilemmazoo.envs.split_rule import split_rewards


def new_env(**kwargs) -> SplitNoCommEnv:
    env = SplitNoCommEnv(**kwargs)
    env.reset(seed=0)
    return env


def act(x0, x1) -> dict:
    return {"player_0": np.array(x0, dtype=np.int64), "player_1": np.array(x1, dtype=np.int64)}


def test_value_draws_conflict_and_balance():
    rng = np.random.default_rng(1)
    for _ in range(200):
        a, b = draw_item_values(rng, 3)
        assert set(a) | set(b) <= {1.0, 10.0}
        assert a.sum() == b.sum()
        assert np.any((a == 10) & (b == 10))
    with pytest.raises(ValueError, match="no values"):
        draw_item_values(rng, 1, levels=(1.0, 2.0), max_tries=0)


@pytest.mark.parametrize(
    "x0, x1, v0, v1, expected",
    [
        # values A (10, 10, 1), B (10, 1, 10): sums 21
        ([10, 10, 10], [10, 10, 10], [10, 10, 1], [10, 1, 10], (50 + 50 + 5, 50 + 5 + 50)),  # greedy both
        ([5, 10, 0], [5, 0, 10], [10, 10, 1], [10, 1, 10], (50 + 100, 50 + 100)),  # welfare maximiser both
        ([10, 10, 10], [5, 0, 10], [10, 10, 1], [10, 1, 10], (200 / 3 + 100 + 5, 100 / 3 + 50)),  # greedy vs wm
        ([3, 0, 0], [4, 0, 0], [10, 10, 1], [10, 1, 10], (30, 40)),  # leftovers wasted
    ],
)
def test_split_rewards_per_item(x0, x1, v0, v1, expected):
    assert split_rewards(x0, x1, v0, v1, 10) == pytest.approx(expected)


def test_step_pays_the_drawn_values_exactly():
    env = new_env()
    env.current_values = np.array([[10.0, 10.0, 1.0], [10.0, 1.0, 10.0]])
    _, rewards, terminations, _, infos = env.step(act([10, 10, 10], [5, 0, 10]))
    assert rewards == pytest.approx({"player_0": 200 / 3 + 100 + 5, "player_1": 100 / 3 + 50})
    info = infos["player_0"]
    assert info["proposal_hats"] == 10 and info["other_proposal_hats"] == 5
    assert info["coins_hats"] == pytest.approx(20 / 3) and info["coins_books"] == 10.0
    assert info["value_balls"] == 1.0 and info["other_value_balls"] == 10.0
    assert info["max_welfare"] == 300.0  # 10 * (10 + 10 + 10)
    assert infos["player_1"]["max_welfare"] == 300.0
    assert not any(terminations.values())


def test_game_ends_after_n_rounds_and_values_are_public():
    env = new_env(n_rounds=3)
    obs = env._observations()
    assert np.array_equal(obs["player_0"]["values"], obs["player_1"]["other_values"])
    steps = 0
    while env.agents:
        *_, terminations, _, _ = env.step(act([5, 5, 5], [5, 5, 5]))
        steps += 1
    assert steps == 3 and all(terminations.values())


def test_bad_proposals_are_refused():
    env = new_env()
    with pytest.raises(ValueError, match="3 integers"):
        env.step(act([5, 5], [5, 5, 5]))
    with pytest.raises(ValueError, match="0..10"):
        env.step(act([11, 5, 5], [5, 5, 5]))
    with pytest.raises(ValueError, match="3 integers"):
        env.step({"player_0": np.array([1.5, 2.0, 3.0]), "player_1": np.array([5, 5, 5])})
    with pytest.raises(ValueError, match="player_1 must propose"):
        env.step({"player_0": np.array([5, 5, 5])})


@pytest.mark.parametrize("kwargs", [{"items": ()}, {"items": ("hats", "hats")}, {"items": "hats"}, {"units": 0},
                                    {"item_values": (5.0, 5.0)}, {"n_rounds": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SplitNoCommEnv(**kwargs)


@pytest.mark.parametrize("kwargs, says", [
    ({"item_values": (1.0, -2.0)}, "item_values must be a finite non-negative number, got -2.0"),
    ({"item_values": (1.0, True)}, "item_values must be a finite non-negative number, got True"),
    ({"render_mode": "rgb"}, r"render_mode must be None or one of \['human', 'ansi'\], got 'rgb'"),
])
def test_bad_arguments_are_named(kwargs, says):
    with pytest.raises(ValueError, match=says):
        SplitNoCommEnv(**kwargs)


def test_registered_from_its_own_module():
    assert parallel_registry["dilemmazoo/split-nocomm-v0"].entry_point == "dilemmazoo.envs.split_nocomm:SplitNoCommEnv"
    assert type(make_world("split-nocomm")) is SplitNoCommEnv


def test_configurable_items_and_units():
    env = new_env(items=("coins", "gems"), units=4, item_values=(2.0, 3.0))
    assert env.action_space("player_0").shape == (2,)
    values = env.current_values
    assert values[0].sum() == values[1].sum()
    _, rewards, *_ = env.step(act([4, 4], [4, 0]))
    expected = split_rewards([4, 4], [4, 0], values[0], values[1], 4)
    assert (rewards["player_0"], rewards["player_1"]) == pytest.approx(expected)


def test_seeded_values_repeat():
    def values(seed):
        env = SplitNoCommEnv(n_rounds=4)
        env.reset(seed=seed)
        out = []
        while env.agents:
            out.append(env.current_values.tolist())
            env.step(act([5, 5, 5], [5, 5, 5]))
        return out

    assert values(4) == values(4) and values(4) != values(5)


def test_language_view():
    env = new_env()
    rules = env.rules("player_0")
    for phrase in ("hats, books, balls", "no way to talk", "shown to both", "in proportion", "at the same time"):
        assert phrase in rules, phrase
    v = env.current_values
    text = env.describe("player_0")
    assert f"hats: you {v[0][0]:g}, the other player {v[1][0]:g}" in text
    env.step(act([1, 2, 3], [4, 5, 6]))
    assert "you proposed hats 1, books 2, balls 3; the other player proposed hats 4, books 5, balls 6" in env.describe(
        "player_0"
    )


def test_proposal_spec_parses_names_or_order():
    env = new_env()
    spec = env.action_spec("player_0")
    assert isinstance(spec, ItemProposal)
    assert spec.parse("Answer: hats 10, books 5, balls 0").tolist() == [10, 5, 0]
    assert spec.parse("Answer: balls: 1, hats: 2, books: 3").tolist() == [2, 3, 1]
    assert spec.parse("I think... Answer: 7, 0, 3").tolist() == [7, 0, 3]
    assert env.action_space("player_0").contains(spec.parse("Answer: 7, 0, 3"))
    assert spec.fallback.tolist() == [5, 5, 5]
    for bad, match in (("Answer: 1, 2", "one whole number per item"), ("Answer: 1, 2, 11", "from 0 to 10"),
                       ("Answer: 1, 2.5, 3", "whole number"), ("no answer", "Answer:")):
        with pytest.raises(ActionParseError, match=match):
            spec.parse(bad)


def test_a_tiny_game_driven_by_parsed_answers():
    """Both play the welfare maximiser (item to the higher valuer, ties 5/5): efficiency 1."""
    env = make_world("split-nocomm", n_rounds=3)
    env.reset(seed=2)
    rows = []
    while env.agents:
        actions = {}
        for agent in env.agents:
            me = env._seat[agent]
            mine, theirs = env.current_values[me], env.current_values[1 - me]
            keep = [10 if a > b else 0 if a < b else 5 for a, b in zip(mine, theirs)]
            answer = "Answer: " + ", ".join(f"{item} {k}" for item, k in zip(env.items, keep))
            actions[agent] = env.action_spec(agent).parse(answer)
        _, rewards, _, _, infos = env.step(actions)
        rows += [{"episode": 0, "agent": a, "policy": "wm", "reward": rewards[a], **infos[a]} for a in env.possible_agents]
    steps = pd.DataFrame(rows)
    assert split_efficiency(steps) == pytest.approx(1.0)


def test_metrics_hand_computed():
    steps = pd.DataFrame(
        [
            {"episode": 0, "round": 1, "agent": "player_0", "policy": "llm", "reward": 150.0, "max_welfare": 300.0},
            {"episode": 0, "round": 1, "agent": "player_1", "policy": "llm", "reward": 150.0, "max_welfare": 300.0},
            {"episode": 1, "round": 1, "agent": "player_0", "policy": "llm", "reward": 100 / 3 + 50, "max_welfare": 300.0},
            {"episode": 1, "round": 1, "agent": "player_1", "policy": "greedy", "reward": 200 / 3 + 105, "max_welfare": 300.0},
        ]
    )
    assert split_efficiency(steps) == pytest.approx((300 + 255) / 600)
    assert exploitation(steps) == pytest.approx(100 / 3 + 50 - 200 / 3 - 105)
    metrics = split_nocomm_metrics(steps)
    assert set(metrics) == {"split_efficiency", "average_reward", "exploitation", "fallback_rate", "valid_decisions", "fallbacks"}
    assert metrics["average_reward"] == pytest.approx(555 / 4)
    assert json.loads(json.dumps(metrics)) == metrics
    assert world_metrics("dilemmazoo/split-nocomm-v0", steps) == metrics
