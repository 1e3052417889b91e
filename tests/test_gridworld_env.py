"""The PettingZoo worlds over the grid core: spaces, infos, views, rendering, language interface.

Registry-wide conformance (api tests, seeding, pickling) is in test_worlds_conformance.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.envs import ActionParseError, make_world
from dilemmazoo.envs.gridworld.cleanup import CleanupEnv
from dilemmazoo.envs.gridworld.core import CLEAN, FIRE, STAY, VectorGridworld
from dilemmazoo.envs.gridworld.gathering import GatheringEnv

INFO_KEYS = {"step", "apples_collected", "fired", "cleaned", "hits_taken", "tagged", "apples_on_map", "waste_density"}


@pytest.mark.parametrize(("world", "n_actions"), [("cleanup", 9), ("gathering", 8)])
def test_defaults_spaces_and_infos(world, n_actions):
    env = make_world(world)
    obs, infos = env.reset(seed=0)
    assert env.possible_agents == [f"player_{i}" for i in range(5)]
    assert env.action_space("player_0").n == n_actions
    assert obs["player_0"].shape == (15, 15, 3) and obs["player_0"].dtype == np.uint8
    assert all(set(info) == INFO_KEYS for info in infos.values())
    assert env.rule_set.name == "ssd" and env.rule_set.episode_length == 1000


def test_observation_kinds():
    env = CleanupEnv(observation="symbolic", rules="vicgalle")
    obs, _ = env.reset(seed=0)
    assert obs["player_0"].shape == (8, 15) and env.observation_space("player_0").contains(obs["player_0"])
    env = GatheringEnv(observation="global")
    obs, _ = env.reset(seed=0)
    first = obs["player_0"]
    assert first["map"].shape == (16, 38) and env.observation_space("player_0").contains(first)
    row, col = first["position"]
    assert first["map"][row, col] in range(6, 10)  # an agent code
    with pytest.raises(ValueError, match="observation must be one of"):
        CleanupEnv(observation="pixels")
    with pytest.raises(ValueError, match="render_mode"):
        CleanupEnv(render_mode="video")
    with pytest.raises(ValueError, match="rules must be one of"):
        CleanupEnv(rules="deepmind")


def test_the_world_is_the_b1_view_of_the_vector_core():
    env = CleanupEnv(n_agents=5, rules="vicgalle")
    vec = VectorGridworld("cleanup", 1, 5, rules="vicgalle")
    obs, _ = env.reset(seed=7)
    vec_obs = vec.reset([7])
    assert (obs["player_3"] == vec_obs[0, 3]).all()
    actions = np.random.default_rng(1).integers(0, 9, (100, 5))
    for a in actions:
        obs, rewards, *_ = env.step({f"player_{i}": np.int64(a[i]) for i in range(5)})
        vec_rewards, _, vec_obs = vec.step(a[None])
        assert [rewards[f"player_{i}"] for i in range(5)] == vec_rewards[0].tolist()
    assert (obs["player_4"] == vec_obs[0, 4]).all()


def test_infos_report_beams_and_tagging():
    env = CleanupEnv(n_agents=2, rules="vicgalle", grid_map="small_cleanup")
    env.reset(seed=0)
    core = env.core
    core.position[0] = [core.flat_of(2, 4), core.flat_of(2, 6)]
    core.orientation[0] = [1, 0]  # player_0 faces east towards player_1
    _, rewards, _, _, infos = env.step({"player_0": np.int64(FIRE), "player_1": np.int64(CLEAN)})
    assert rewards == {"player_0": -1.0, "player_1": -51.0}
    assert infos["player_0"]["fired"] and infos["player_1"]["hits_taken"] == 1 and infos["player_1"]["tagged"]
    assert infos["player_1"]["cleaned"]  # it acted before the beam landed
    assert env.deciders() == ["player_0"]
    assert "out of the game for 24 more steps" in env.describe("player_1")


def test_language_view():
    env = CleanupEnv(rules="vicgalle", n_agents=10)
    env.reset(seed=0)
    rules = env.rules("player_0")
    assert "10 players" in rules and "clean" in rules and "costs you 1 point" in rules
    text = env.describe("player_0")
    assert "Step 1 of 1000" in text and "River pollution: 47%" in text and "Apples on the map: 103" in text
    view = text.splitlines()[-8:]  # the 8 x 15 window; the viewer is '@' on the bottom row, centred
    assert all(len(line) == 15 for line in view) and view[-1][7] == "@"
    assert sum(line.count("@") for line in view) == 1
    spec = env.action_spec("player_0")
    assert spec.parse("I will go for it.\nAnswer: clean") == CLEAN
    assert spec.fallback == STAY and env.idle_action("player_0") == STAY
    with pytest.raises(ActionParseError):
        spec.parse("Answer: jump")
    gathering = GatheringEnv(rules="vicgalle")
    gathering.reset(seed=0)
    assert "25 steps later" in gathering.rules("player_0")
    assert "clean" not in gathering.action_spec("player_0").labels


def test_rendering():
    env = CleanupEnv(render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (25 * 8, 18 * 8, 3) and image.dtype == np.uint8
    text = CleanupEnv(render_mode="ansi")
    text.reset(seed=0)
    lines = text.render().splitlines()
    assert lines[0].startswith("Cleanup (ssd rules), step 0 of 1000") and len(lines) == 26
    assert sum(line.count("H") for line in lines[1:]) == 56


def test_reset_without_seed_continues_the_worlds_own_stream():
    def positions(env):
        return env.core.position.copy()

    a, b = GatheringEnv(), GatheringEnv()
    a.reset(seed=3)
    b.reset(seed=3)
    a.reset()
    b.reset()
    assert (positions(a) == positions(b)).all()


def test_bad_actions_are_refused():
    env = GatheringEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="0..7"):
        env.step({"player_0": np.int64(8)})
    with pytest.raises(ValueError, match="integer"):
        env.step({"player_0": 1.5})
    with pytest.raises(ValueError, match="not in the game"):
        env.step({"player_9": np.int64(0)})


@pytest.mark.filterwarnings("ignore:Observation is not a NumPy array")
@pytest.mark.filterwarnings("ignore:Observation space for each agent probably should be")
@pytest.mark.parametrize(("world", "rules", "observation"), [
    ("cleanup", "vicgalle", "symbolic"), ("cleanup", "meltingpot", "global"),
    ("gathering", "vicgalle", "global"), ("gathering", "meltingpot", "symbolic"),
])
def test_other_variants_and_observation_kinds_pass_the_pettingzoo_api_test(world, rules, observation):
    from pettingzoo.test import parallel_api_test

    env = make_world(world, rules=rules, observation=observation, n_agents=4, episode_length=150)
    parallel_api_test(env, num_cycles=200)
