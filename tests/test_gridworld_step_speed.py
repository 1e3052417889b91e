"""The faster batched step of the grid-world core (issue 26) decides exactly as before.

The step now draws the waste cell by its offset in a list of every env's clean cells, looks
waste and apple probabilities up in tables of the number of clean river cells (apples compared
in float32 against the smallest float32 not below the float64 probability), resolves move
claims and shared apples with a scatter of priority keys on a scratch grid, traces beams
through one grid of blockers, and keeps its random-number cursor as one number while every
env sits at the same place of its block. Here each of those decisions is checked against hand
computed outcomes or the float64 rule, and whole seeded episodes (every piece of state, every
step, seven rule variants with tagging, respawns, overlaps, cooldowns and env-by-env resets)
hash to the digests the step had before the change (commit 25072b5).
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest

from dilemmazoo.envs.gridworld.core import FORWARD, STAY, GridCore, VectorGridworld
from dilemmazoo.envs.gridworld.maps import parse_map
from dilemmazoo.envs.gridworld.rules import apple_spawn_probability, get_rules

EAST, WEST = 1, 3

OPEN = """\
@@@@@@@@
@PPPP  @
@      @
@      @
@@@@@@@@"""


def set_next_draws(core: GridCore, columns: slice, values) -> None:
    """Set uniforms the next step uses, ``(B, draws_per_step)[:, columns]``: priorities ``N``,
    respawn choices ``N``, waste 2, apples ``K`` (the layout of the module docstring)."""
    at = np.full(core.batch_size, core._block_cursor) if getattr(core, "_aligned", False) else core._cursor
    assert (at < core._uniforms.shape[1]).all()  # not at a refill
    core._uniforms[np.arange(core.batch_size), at, columns] = values


def test_waste_spawns_on_the_clean_cell_of_rank_k_in_each_env():
    # small_cleanup's six river cells in map order; at most two polluted keeps the density < 0.4
    core = GridCore("cleanup", "small_cleanup", get_rules("cleanup", "ssd"), 1, batch_size=4)
    core.reset([1, 2, 3, 4])
    core.waste[:] = np.array([[1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0]])
    set_next_draws(core, 2, 0.0)  # every env whose probability is positive spawns
    set_next_draws(core, 3, [0.55, 0.0, 0.999, 0.0])  # rank floor(u * clean cells): 2 of 4, 0 of 6, 3 of 4
    core.step(np.full((4, 1), STAY))
    assert core.waste.astype(int).tolist() == [
        [1, 0, 0, 1, 1, 0],  # clean cells 1, 2, 4, 5: rank 2 is cell 4
        [1, 0, 0, 0, 0, 0],  # all clean: rank 0 is cell 0
        [0, 1, 1, 0, 0, 1],  # clean cells 0, 3, 4, 5: rank 3 is cell 5
        [1, 1, 1, 0, 0, 0],  # density 0.5 >= 0.4: nothing spawns
    ]


@pytest.mark.parametrize(("rules", "overrides"), [("ssd", {}), ("meltingpot", {}), ("vicgalle", {}),
                                                  ("ssd", {"restoration_threshold": 0.1, "apple_respawn_prob": 0.07})])
def test_float32_apple_thresholds_decide_like_the_float64_probability(rules, overrides):
    resolved = get_rules("cleanup", rules, overrides)
    core = GridCore("cleanup", "cleanup", resolved, 2)
    M = core.n_river_cells
    n = np.arange(M + 1)
    p = apple_spawn_probability(1.0 - n / M, respawn_prob=resolved.apple_respawn_prob,
                                depletion_threshold=resolved.depletion_threshold,
                                restoration_threshold=resolved.restoration_threshold)
    assert p.dtype == np.float64 and len(set(p.tolist())) > 10
    near = p.astype(np.float32)
    u = np.concatenate([np.stack([near, np.nextafter(near, np.float32(0)), np.nextafter(near, np.float32(1))], 1),
                        np.broadcast_to(np.linspace(0, 0.06, 61, dtype=np.float32), (M + 1, 61))], axis=1)
    growth = u < core._apple_threshold[:, None]
    assert np.array_equal(growth, u.astype(np.float64) < p[:, None])
    assert growth.any() and not growth.all()


@pytest.mark.parametrize(("priorities", "winner"), [((0.5, 0.5), 0), ((0.3, 0.7), 1), ((0.7, 0.3), 0)])
def test_a_claim_goes_to_the_higher_priority_and_a_tie_to_the_lower_index(priorities, winner):
    core = GridCore("gathering", parse_map(OPEN), get_rules("gathering", "ssd"), 3)
    core.reset([0])
    for agent, (col, facing) in enumerate([(2, EAST), (4, WEST), (5, WEST)]):
        core.position[0, agent], core.orientation[0, agent] = core.flat_of(2, col), facing
    # 0 and 1 claim (2, 3); 2 claims (2, 4), which 1 leaves but holds at the start of the step
    set_next_draws(core, slice(0, 3), np.array([*priorities, 0.99], dtype=np.float32))
    core.step(np.array([[FORWARD, FORWARD, FORWARD]]))
    cells = [tuple(core.cell_of(core.position[0, i])) for i in range(3)]
    loser = 1 - winner
    assert cells[winner] == (2, 3)
    assert cells[loser] == ((2, 2), (2, 4))[loser]
    assert cells[2] == (2, 5)


@pytest.mark.parametrize(("priorities", "collector"), [((0.2, 0.9, 0.9), 1), ((0.9, 0.2, 0.3), 0),
                                                        ((0.4, 0.1, 0.6), 2)])
def test_agents_sharing_an_apple_it_goes_to_the_highest_priority(priorities, collector):
    core = GridCore("gathering", "small_harvest", get_rules("gathering", "vicgalle"), 3)
    core.reset([0])
    cell = core.apple_flat[0]
    assert core.apples[0, 0]
    core.position[0] = cell
    set_next_draws(core, slice(0, 3), np.array(priorities, dtype=np.float32))
    rewards, _ = core.step(np.full((1, 3), STAY))
    assert rewards[0].tolist() == [float(i == collector) for i in range(3)]
    assert not core.apples[0, 0] and core.apple_timer[0, 0] == 25


def test_envs_reset_one_by_one_still_equal_single_environments():
    # random episode lengths and a manual reset put the envs at different places of their
    # blocks of uniforms; crossing several blocks, the batch must equal three single envs
    def world(batch):
        return VectorGridworld("cleanup", batch, 4, rules="meltingpot", grid_map="small_cleanup", observation="rgb",
                               autoreset=True, rule_overrides={"episode_length": (5, 12), "waste_spawn_delay": 0})

    seeds = [21, 22, 23]
    batch, singles = world(3), [world(1) for _ in seeds]
    batch.reset(seeds)
    for single, seed in zip(singles, seeds):
        single.reset([seed])
    actions = np.random.default_rng(9).integers(0, 9, (110, 3, 4))
    resets = 0
    for t in range(110):
        if t == 40:
            batch.core.reset([77], [1])
            singles[1].core.reset([77])
        rewards, dones, obs = batch.step(actions[t])
        resets += int(dones.sum())
        for b, single in enumerate(singles):
            r, d, o = single.step(actions[t][b: b + 1])
            assert (r[0] == rewards[b]).all() and d[0] == dones[b] and (o[0] == obs[b]).all()
            assert (single.core.waste[0] == batch.core.waste[b]).all()
            assert (single.core.position[0] == batch.core.position[b]).all()
    assert resets > 20


def test_state_arrays_are_views_and_assignment_copies_in():
    vec = VectorGridworld("cleanup", 2, 2, rules="vicgalle", grid_map="small_cleanup", observation=None)
    vec.reset([0, 1])
    core = vec.core
    pattern = np.zeros((2, core.n_river_cells), dtype=bool)
    pattern[1, :2] = True
    core.waste = pattern
    pattern[0] = True  # the core holds a copy
    assert core.waste_density().tolist() == [0.0, 2 / core.n_river_cells]
    # an agent on an apple cell whose apple is removed in place collects nothing; after
    # pickling, in-place edits still reach the copy's state
    core.position[:, 0] = core.apple_flat[0]
    core.apples[0, 0] = False
    rewards, _ = core.step(np.full((2, 2), 7))
    assert rewards[0, 0] == 0.0 and rewards[1, 0] == 1.0
    copy = pickle.loads(pickle.dumps(core))
    copy.apples[:, 0] = True
    copy.position[:, 0] = copy.apple_flat[0]
    rewards, _ = copy.step(np.full((2, 2), 7))
    assert rewards[:, 0].tolist() == [1.0, 1.0] and not copy.apples[:, 0].any()
    with pytest.raises(ValueError, match="actions must be in"):
        core.step(np.full((2, 2), -1))
    with pytest.raises(ValueError, match="actions must be in"):
        core.step(np.full((2, 2), 2**63 + 5, dtype=np.uint64))


STATE = ("position", "orientation", "removed_steps", "hit_count", "on_map", "apples", "apple_timer", "waste",
         "fire_cooldown", "clean_cooldown", "step_count", "last_collected", "last_fired", "last_cleaned", "last_hits",
         "last_tagged")

# sha256 (first 32 hex digits) of every step's rewards, dones and the whole state above,
# computed with the step as it was before this change (commit 25072b5; the same digests come
# from commit db7c91a, before issue 26)
DIGESTS = [
    (("cleanup", "ssd", "cleanup", 7, 8, {}), "97b5b77686c8e30781578e1f2b6bb05a"),
    (("cleanup", "meltingpot", "cleanup", 7, 6, {"episode_length": (60, 90)}), "b0dd55718c1d0961f5226cdef21e482e"),
    (("cleanup", "vicgalle", "cleanup", 10, 5, {"episode_length": (70, 80)}), "d70553a33013a5dec780bf94cf5a50ac"),
    (("cleanup", "ssd", "small_cleanup", 4, 6,
      {"fire_stops_at_agent": False, "clean_first_waste_only": False, "hits_to_tag": 2, "tag_steps": 3,
       "fire_cooldown": 2, "waste_spawn_delay": 10, "clean_cost": 0.5, "episode_length": (30, 50)}),
     "55ea869a9db0a649c1013c555e552387"),
    (("gathering", "ssd", "harvest", 7, 4, {"hits_to_tag": 1, "tag_steps": 4, "tagged_stay_on_map": True}),
     "b3beb5e7395f62667640aacda0d9ae88"),
    (("gathering", "meltingpot", "small_harvest", 3, 5, {"episode_length": (40, 60)}), "62bee3735e2d93609b3eab30894dab08"),
    (("gathering", "vicgalle", "small_harvest", 4, 4, {"episode_length": 45}), "adee55d37aa2e91cab388cf29e3df1fd"),
]


@pytest.mark.parametrize(("case", "digest"), DIGESTS)
def test_seeded_episodes_step_exactly_as_before(case, digest):
    game, rules, grid_map, n_agents, batch, overrides = case
    vec = VectorGridworld(game, batch, n_agents, rules=rules, grid_map=grid_map, observation=None, autoreset=True,
                          rule_overrides=overrides)
    vec.reset(seeds=[101 + b for b in range(batch)])
    rng = np.random.default_rng(7)
    sha = hashlib.sha256()
    events = dict.fromkeys(("collected", "fired", "hits_taken", "cleaned", "tagged", "done"), 0)
    for _ in range(250):
        rewards, dones, _ = vec.step(rng.integers(0, len(vec.actions), (batch, n_agents)))
        for array in (rewards, dones, *(getattr(vec.core, name) for name in STATE)):
            sha.update(np.ascontiguousarray(array).tobytes())
        info = vec.last_step_info()
        for name in events:
            events[name] += int(dones.sum()) if name == "done" else int(info[name].sum())
    assert sha.hexdigest()[:32] == digest
    # the episodes exercised the mechanics the digest covers
    assert events["collected"] > 0 and events["fired"] > 0
    if game == "cleanup":
        assert events["cleaned"] > 0
    if rules != "ssd" or overrides.get("hits_to_tag"):
        assert events["hits_taken"] > 0 and events["tagged"] > 0
    if "episode_length" in overrides:
        assert events["done"] > 0
