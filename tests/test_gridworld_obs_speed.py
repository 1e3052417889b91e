"""The fast egocentric observations of the grid-world core (issue 26) equal a plain reference.

:meth:`GridCore.observe` keeps four turned, pre-coloured copies of each map and rewrites only
the cells that changed; here every window is recomputed from the state alone, one agent at a
time, by the most direct route (build the padded map from base codes, apples, waste and agents;
turn it with ``np.rot90``; slice the rectangle; make other agents' orientations relative; mark
the viewer), and the two must agree byte for byte: across maps, rule sets (view shapes with and
without cells behind the agent), all four orientations, agents in the corners of the map,
overlapping and tagged agents, batch sizes, partial resets, pickling, and both observation kinds
read in turn from one core. A seeded episode's observations, rewards and dones hash to the
digests the code had before the change.
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest

from dilemmazoo.envs.gridworld.core import (
    AGENT_UP,
    APPLE,
    EMPTY,
    PALETTE,
    RIVER,
    SELF,
    TAGGED,
    WASTE,
    GridCore,
    VectorGridworld,
)


def reference_grid(core: GridCore, env: int) -> np.ndarray:
    """The padded map of ``env`` as codes ``(Hp, Wp)``, built cell by cell from the state."""
    grid = core.base_codes[:-1].copy()
    for k, cell in enumerate(core.apple_flat):
        grid[cell] = APPLE if core.apples[env, k] else EMPTY
    for k, cell in enumerate(core.river_flat):
        grid[cell] = WASTE if core.waste[env, k] else RIVER
    for agent in range(core.n_agents):  # in index order: the last agent on a cell shows
        if core.on_map[env, agent]:
            active = core.removed_steps[env, agent] == 0
            grid[core.position[env, agent]] = AGENT_UP + core.orientation[env, agent] if active else TAGGED
    return grid.reshape(core.padded_height, core.padded_width)


def reference_window(core: GridCore, env: int, agent: int) -> np.ndarray:
    """Agent ``agent``'s egocentric window ``(h, w)`` of cell codes, the direct way."""
    rules, facing = core.rules, int(core.orientation[env, agent])
    # turning the map counter-clockwise by the agent's orientation makes it face up
    turned = np.rot90(reference_grid(core, env), facing)
    cells = np.rot90(np.arange(core.padded_height * core.padded_width).reshape(core.padded_height,
                                                                              core.padded_width), facing)
    (row,), (col,) = np.nonzero(cells == core.position[env, agent])
    window = turned[row - rules.view_ahead: row + rules.view_behind + 1,
                    col - rules.view_side: col + rules.view_side + 1].copy()
    assert window.shape == core.view_shape
    others = (window >= AGENT_UP) & (window < AGENT_UP + 4)
    window[others] = AGENT_UP + (window[others] - AGENT_UP - facing) % 4
    window[rules.view_ahead, rules.view_side] = SELF
    return window


def assert_matches_reference(core: GridCore) -> None:
    symbolic = core.observe("symbolic")
    rgb = core.observe("rgb")
    B, N = core.batch_size, core.n_agents
    assert symbolic.shape == (B, N, *core.view_shape) and symbolic.dtype == np.uint8
    assert rgb.shape == (B, N, *core.view_shape, 3) and rgb.dtype == np.uint8
    expected = np.stack([np.stack([reference_window(core, b, i) for i in range(N)]) for b in range(B)])
    np.testing.assert_array_equal(symbolic, expected)
    np.testing.assert_array_equal(rgb, PALETTE[expected])
    np.testing.assert_array_equal(core.observe_by_offsets("rgb"), rgb)


CASES = [
    ("cleanup", "ssd", "cleanup", 7, 1),
    ("cleanup", "meltingpot", "cleanup", 6, 3),
    ("cleanup", "vicgalle", "small_cleanup", 4, 2),
    ("gathering", "ssd", "harvest", 5, 2),
    ("gathering", "vicgalle", "small_harvest", 3, 4),
    ("gathering", "meltingpot", "harvest", 10, 1),
]


@pytest.mark.parametrize(("game", "rules", "grid_map", "n_agents", "batch"), CASES)
def test_windows_equal_the_reference_while_an_episode_runs(game, rules, grid_map, n_agents, batch):
    vec = VectorGridworld(game, batch, n_agents, rules=rules, grid_map=grid_map, observation=None,
                          rule_overrides={"hits_to_tag": 1, "tag_steps": 3})
    vec.reset(range(batch))
    core = vec.core
    assert_matches_reference(core)
    rng = np.random.default_rng(1)
    for t in range(24):
        vec.step(rng.integers(0, len(vec.actions), (batch, n_agents)))
        if t % 6 == 5:
            assert_matches_reference(core)
    # a partial reset (as auto-reset does) changes many cells of one env at once
    core.reset([99], [batch - 1])
    assert_matches_reference(core)


@pytest.mark.parametrize("rules", ["ssd", "meltingpot", "vicgalle"])
def test_all_orientations_in_the_corners_of_the_map(rules):
    vec = VectorGridworld("cleanup", 2, 4, rules=rules, observation=None, rule_overrides={"agents_overlap": True})
    vec.reset([3, 4])
    core = vec.core
    height, width = core.map.height, core.map.width
    corners = core.flat_of([0, 0, height - 1, height - 1], [0, width - 1, 0, width - 1])
    for turn in range(4):
        core.position[:] = corners
        core.orientation[0] = (np.arange(4) + turn) % 4
        core.orientation[1] = turn
        assert_matches_reference(core)
    # all agents on one cell: the last one shows, each sees itself at the centre
    core.position[:] = core.flat_of(height // 2, width // 2)
    core.orientation[0] = [0, 1, 2, 3]
    assert_matches_reference(core)


def test_tagged_and_removed_agents_and_both_kinds_in_turn():
    vec = VectorGridworld("gathering", 3, 4, rules="ssd", grid_map="small_harvest", observation=None)
    vec.reset([5, 6, 7])
    core = vec.core
    core.removed_steps[0, 1] = 4  # tagged, still on the map: shown as TAGGED
    core.removed_steps[1, 2], core.on_map[1, 2] = 4, False  # removed: not shown anywhere
    core.apples[2] = False
    assert_matches_reference(core)
    # one kind read many steps later than the other still shows the current state
    rng = np.random.default_rng(2)
    for t in range(12):
        vec.step(rng.integers(0, len(vec.actions), (3, 4)))
        core.observe("rgb")
    assert_matches_reference(core)


def test_observations_are_fresh_arrays_and_survive_pickling():
    vec = VectorGridworld("cleanup", 2, 3, rules="ssd", observation="rgb")
    first = vec.reset([0, 1])
    kept = first.copy()
    rng = np.random.default_rng(3)
    second = vec.step(rng.integers(0, 9, (2, 3))).observations
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)  # the next step did not overwrite it
    copy = pickle.loads(pickle.dumps(vec))
    for _ in range(5):
        a = rng.integers(0, 9, (2, 3))
        np.testing.assert_array_equal(vec.step(a).observations, copy.step(a).observations)
    assert_matches_reference(copy.core)


# sha256 (first 32 hex digits) of a seeded episode's observations, rewards and dones, computed
# with the observation code before issue 26 (commit db7c91a); each step also reads the other
# observation kind, so both kinds and their interleaving are covered
DIGESTS = [
    (("cleanup", "ssd", "cleanup", 7, 3, "rgb", {"episode_length": 70}), "708252361dab969cf46ef1605ff05a8a"),
    (("cleanup", "meltingpot", "small_cleanup", 3, 2, "symbolic", {"episode_length": (40, 60)}),
     "a28422af9c3b090666423342a5d952e8"),
    (("gathering", "vicgalle", "harvest", 4, 2, "rgb", {}), "b1cef09fc77ef966dcdb90a94b08b945"),
    (("gathering", "ssd", "small_harvest", 3, 3, "symbolic", {"hits_to_tag": 1, "tag_steps": 5, "episode_length": 55}),
     "8a142c67b460cbbefc97ece4ee72fa33"),
    (("cleanup", "vicgalle", "cleanup", 10, 2, "rgb", {"tagged_stay_on_map": True, "hits_to_tag": 2, "tag_steps": 4}),
     "ce90c89c998fc75526095b2582497bd8"),
]


@pytest.mark.parametrize(("case", "digest"), DIGESTS)
def test_seeded_episodes_are_unchanged(case, digest):
    game, rules, grid_map, n_agents, batch, kind, overrides = case
    vec = VectorGridworld(game, batch, n_agents, rules=rules, grid_map=grid_map, observation=kind, autoreset=True,
                          rule_overrides=overrides)
    other = "symbolic" if kind == "rgb" else "rgb"
    sha = hashlib.sha256()
    sha.update(np.ascontiguousarray(vec.reset(seeds=[11 + b for b in range(batch)])).tobytes())
    rng = np.random.default_rng(5)
    for _ in range(150):
        rewards, dones, observations = vec.step(rng.integers(0, len(vec.actions), (batch, n_agents)))
        for array in (observations, rewards, dones, vec.core.observe(other)):
            sha.update(np.ascontiguousarray(array).tobytes())
    assert sha.hexdigest()[:32] == digest
