"""Scripted grid-world agents: exact decisions on small views, and the reference baselines."""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.grid_strategies import (
    GRID_STRATEGIES,
    AppleSeeker,
    Cleaner,
    GridRandom,
    RoleSplit,
    distance_field,
)
from dilemmazoo.envs.gridworld.cleanup import CleanupEnv
from dilemmazoo.envs.gridworld.core import APPLE, EMPTY, PALETTE, SELF, WALL, WASTE
from dilemmazoo.envs.gridworld.gathering import GatheringEnv
from dilemmazoo.envs.gridworld.metrics import social_outcomes


def decide(agent, env, observation, seat="player_0"):
    return agent.act(Decision(seat, observation, "", env.action_spec(seat), "", 0, 0)).value


def window(rows):
    """A symbolic egocentric window from strings: '@' self, 'A' apple, 'W' waste, '#' wall."""
    codes = {".": EMPTY, "#": WALL, "A": APPLE, "W": WASTE, "@": SELF}
    return np.array([[codes[c] for c in row] for row in rows], dtype=np.uint8)


def test_distance_field():
    passable = np.array([[1, 1, 1], [0, 0, 1], [1, 1, 1]], dtype=bool)
    sources = np.zeros((3, 3), dtype=bool)
    sources[0, 0] = True
    assert distance_field(passable, sources).tolist() == [[0, 1, 2], [-1, -1, 3], [6, 5, 4]]


def test_apple_seeker_takes_the_shortest_path():
    env = GatheringEnv()
    seeker = AppleSeeker()
    seeker.reset("player_0", None, np.random.default_rng(0))
    assert decide(seeker, env, window(["..A", "...", ".@."])) == 0  # forward first
    assert decide(seeker, env, window(["...", "A@.", "..."])) == 2  # step_left
    assert decide(seeker, env, window(["...", ".@.", ".A."])) == 1  # backward
    # the RGB window reads the same
    assert decide(seeker, env, PALETTE[window(["...", ".@A", "..."])]) == 3  # step_right
    # global view: facing east with the apple north of it -> step_left
    grid = window(["#####", "#.A.#", "#.@.#", "#####"])
    grid[2, 2] = 7  # the agent itself, as the global map codes it
    obs = {"map": grid, "position": np.array([2, 2]), "orientation": np.int64(1)}
    assert decide(seeker, env, obs) == 2


def test_cleaner_cleans_waste_in_reach_and_turns_towards_it():
    env = CleanupEnv()
    cleaner = Cleaner()
    cleaner.reset("player_0", None, np.random.default_rng(0))
    assert decide(cleaner, env, window([".W...", ".....", "..@.."])) == 8  # 2 ahead, 1 left: clean
    assert decide(cleaner, env, window([".....", "..@.W", "....."])) == 5  # to the right: turn_right
    assert decide(cleaner, env, window([".....", "W.@..", "....."])) == 4  # to the left: turn_left
    assert decide(cleaner, env, window(["W....", ".....", ".....", "..@.."])) == 0  # out of reach: walk


def test_role_split_by_seat_and_random_is_seeded():
    env = CleanupEnv()
    view = window(["A.W", "...", ".@."])
    roles = []
    for seat in ("player_0", "player_1", "player_2"):
        agent = RoleSplit(n_cleaners=2)
        agent.reset(seat, None, np.random.default_rng(0))
        roles.append((agent.role, int(decide(agent, env, view, seat))))
    assert roles == [("cleaner", 8), ("cleaner", 8), ("harvester", 0)]

    def draws(seed):
        agent = GridRandom()
        agent.reset("player_0", None, np.random.default_rng(seed))
        return [int(decide(agent, env, view)) for _ in range(20)]

    assert draws(1) == draws(1) and draws(1) != draws(2)
    assert set(GRID_STRATEGIES) == {"grid_random", "grid_bfs", "grid_cleaner", "grid_roles"}


def play(env, make_agent, seed=0):
    observations, _ = env.reset(seed=seed)
    agents = {seat: make_agent() for seat in env.possible_agents}
    for i, (seat, agent) in enumerate(agents.items()):
        agent.reset(seat, None, np.random.default_rng(100 + i))
    rewards, tagged = [], []
    while env.agents:
        actions = {seat: decide(agents[seat], env, observations[seat], seat) for seat in env.agents}
        observations, reward, _, _, infos = env.step(actions)
        rewards.append([reward[s] for s in env.possible_agents])
        tagged.append([infos[s]["tagged"] for s in env.possible_agents])
    return np.array(rewards), np.array(tagged)


@pytest.mark.parametrize("observation", ["global", "rgb"])
def test_never_cleaning_agents_collect_exactly_the_initial_103_apples(observation):
    # the vicgalle reference point: orchard full, waste density 0.47 >= 0.4, so nothing regrows
    env = CleanupEnv(n_agents=10, rules="vicgalle", observation=observation)
    rewards, tagged = play(env, AppleSeeker)
    assert rewards.shape == (1000, 10)
    assert rewards.sum() == 103
    outcome = social_outcomes(rewards, tagged)
    assert outcome["efficiency"] == pytest.approx(0.103) and outcome["peace"] == 10.0


def test_cleaners_make_apples_grow():
    env = CleanupEnv(n_agents=5, rules="ssd", observation="global", episode_length=400)
    rewards, _ = play(env, lambda: RoleSplit(n_cleaners=2))
    assert rewards[:, 2:].sum() > 50  # SSD's orchard starts empty: every apple here regrew
    assert rewards[:, :2].sum() == 0  # cleaning is free under SSD rules and cleaners never harvest
