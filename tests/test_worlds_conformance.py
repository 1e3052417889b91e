"""Conformance of every registered world: PettingZoo's own tests plus the language contract.

Walks ``list_worlds()``, so a newly registered world is covered without editing this file.
"""

from __future__ import annotations

import importlib
import pickle
import re

import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from pettingzoo.env_registry.registration import parallel_registry
from pettingzoo.env_registry.spec import _load_env_creator
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, render_test, seed_test
from pettingzoo.utils.conversions import parallel_to_aec

from dilemmazoo.envs import ActionSpec, LanguageWorld, list_worlds, make_world
from dilemmazoo.envs.registry import world_id

WORLDS = list_worlds()

# Worlds observe and act through gymnasium Dict spaces by design (ARCHITECTURE: "numpy arrays
# or Dicts of them"); PettingZoo's api_test only recommends Box/Discrete.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Observation is not a NumPy array"),
    pytest.mark.filterwarnings("ignore:Observation space for each agent probably should be"),
    pytest.mark.filterwarnings("ignore:Action space for each agent probably should be"),
]


def test_worlds_are_registered():
    assert "dilemmazoo/donor-game-v0" in WORLDS


def test_names_are_unique():
    # world_id treats "_" and "-" and letter case alike, so ids must differ after that
    normalized = [w.lower().replace("_", "-") for w in WORLDS]
    assert len(normalized) == len(set(normalized))
    names = [make_world(w).metadata["name"] for w in WORLDS]
    assert len(names) == len(set(names)), "each world needs its own metadata['name']"


@pytest.mark.parametrize("world", WORLDS)
def test_registered_name_imports(world):
    assert re.fullmatch(r"dilemmazoo/[a-z0-9]+(-[a-z0-9]+)*-v\d+", world)
    creator = _load_env_creator(parallel_registry[world].entry_point)
    assert isinstance(creator, type) and issubclass(creator, LanguageWorld)


def _world_module(world: str):
    return importlib.import_module(parallel_registry[world].entry_point.partition(":")[0])


def test_each_world_has_a_module_of_its_own():
    modules = [_world_module(world).__name__ for world in WORLDS]
    assert len(modules) == len(set(modules)), dict(zip(WORLDS, modules))


@pytest.mark.parametrize("world", WORLDS)
def test_world_module_docstring_is_the_world_spec_page(world):
    # The module docstring opens with "<title> — ``<id>``." and speaks of no other world's id.
    doc = _world_module(world).__doc__ or ""
    assert re.fullmatch(rf".+ — ``{re.escape(world)}``\.", doc.splitlines()[0])
    assert "Version history" in doc
    assert [other for other in WORLDS if other != world and other in doc] == []


@pytest.mark.parametrize("world", WORLDS)
def test_shows_rewards_is_declared(world):
    assert "shows_rewards" in vars(LanguageWorld)
    assert isinstance(make_world(world).shows_rewards, bool)


@pytest.mark.parametrize("world", WORLDS)
def test_short_names_resolve(world):
    name = re.sub(r"-v\d+$", "", world.split("/", 1)[1])
    for alias in (world, name, name.replace("-", "_"), world.split("/", 1)[1]):
        assert world_id(alias) == world


def test_unknown_world_lists_the_known_ones():
    with pytest.raises(ValueError, match="donor-game"):
        make_world("no-such-world")
    with pytest.raises(ValueError):
        make_world("")


@pytest.mark.parametrize("world", WORLDS)
def test_parallel_api(world):
    parallel_api_test(make_world(world), num_cycles=1000)


@pytest.mark.parametrize("world", WORLDS)
def test_aec_api(world):
    api_test(parallel_to_aec(make_world(world)), num_cycles=1000)


@pytest.mark.parametrize("world", WORLDS)
def test_seeding(world):
    # parallel_seed_test compares a single step in PettingZoo 1.27, so the AEC conversion's
    # seed_test (which plays whole games) is run as well.
    parallel_seed_test(lambda: make_world(world))
    seed_test(lambda: parallel_to_aec(make_world(world)))


@pytest.mark.parametrize("world", WORLDS)
def test_whole_games_repeat_with_the_seed(world):
    def play(seed):
        env = make_world(world)
        rows = [env.reset(seed=seed)]
        for i, agent in enumerate(env.possible_agents):
            env.action_space(agent).seed(100 + i)
        while env.agents:
            rows.append(env.step({a: env.action_space(a).sample() for a in env.agents}))
        return rows

    assert data_equivalence(play(3), play(3))


@pytest.mark.parametrize("world", WORLDS)
def test_render(world):
    def env_fn(render_mode=None):
        return parallel_to_aec(make_world(world, render_mode=render_mode))

    render_test(env_fn)


@pytest.mark.parametrize("world", WORLDS)
def test_pickles_mid_game(world):
    env = make_world(world)
    env.reset(seed=1)
    env.step({a: env.idle_action(a) if a not in env.deciders() else env.action_spec(a).fallback for a in env.agents})
    copy = pickle.loads(pickle.dumps(env))
    actions = {a: env.action_space(a).sample() for a in env.agents}
    assert data_equivalence(env.step(actions), copy.step(actions))


@pytest.mark.parametrize("world", WORLDS)
def test_language_interface(world):
    """Every decider gets rules, a description and an ActionSpec whose fallback is a valid
    action; the others get an idle action; a whole game plays through on fallbacks."""
    env = make_world(world)
    env.reset(seed=0)
    steps = 0
    while env.agents:
        deciders = env.deciders()
        assert deciders and set(deciders) <= set(env.agents)
        actions = {}
        for agent in env.agents:
            assert isinstance(env.display_name(agent), str) and env.display_name(agent)
            if agent in deciders:
                rules, text, spec = env.rules(agent), env.describe(agent), env.action_spec(agent)
                assert isinstance(rules, str) and rules.strip()
                assert isinstance(text, str) and text.strip()
                assert isinstance(spec, ActionSpec) and spec.instruction.strip()
                assert env.action_space(agent).contains(spec.fallback)
                actions[agent] = spec.fallback
            else:
                idle = env.idle_action(agent)
                assert env.action_space(agent).contains(idle)
                assert data_equivalence(idle, env.idle_action(agent))  # deterministic
                actions[agent] = idle
        env.step(actions)
        steps += 1
        assert steps < 10_000
    assert env.deciders() == []


@pytest.mark.parametrize("world", WORLDS)
def test_infos_hold_scalars_with_fixed_keys(world):
    env = make_world(world)
    _, infos = env.reset(seed=0)
    keys = {a: set(i) for a, i in infos.items()}
    scalar = (str, int, float, bool, type(None), np.generic)
    while env.agents:
        *_, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
        for agent, info in infos.items():
            assert set(info) == keys[agent]
            assert all(isinstance(v, scalar) for v in info.values()), info
