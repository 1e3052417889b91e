"""Exact tests of the batched grid-world core: each mechanic per rule variant on tiny maps."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from dilemmazoo.envs.gridworld.core import (
    APPLE,
    AGENT_LEFT,
    AGENT_RIGHT,
    CLEAN,
    FIRE,
    FORWARD,
    BACKWARD,
    PALETTE,
    SELF,
    STAY,
    STEP_LEFT,
    STEP_RIGHT,
    TURN_LEFT,
    TURN_RIGHT,
    GridCore,
    VectorGridworld,
    symbolic_from_rgb,
)
from dilemmazoo.envs.gridworld.maps import CLEANUP_MAP, HARVEST_MAP, get_map, parse_map
from dilemmazoo.envs.gridworld.rules import (
    apple_spawn_probability,
    density_regrowth_probability,
    get_rules,
    neighbourhood_offsets,
    waste_spawn_probability,
)

NORTH, EAST, SOUTH, WEST = range(4)

OPEN = """\
@@@@@@@@@@@@
@PPPP      @
@          @
@          @
@          @
@          @
@@@@@@@@@@@@"""

WALLED = """\
@@@@@@@@@@@@
@PPPP      @
@          @
@  @       @
@          @
@@@@@@@@@@@@"""

RIVER = """\
@@@@@@@@@@
@P HHHH  @
@P HHHH  @
@P HHHH  @
@P RRRR A@
@@@@@@@@@@"""

ORCHARD = """\
@@@@@@@@@
@AAAAA P@
@   PPP @
@@@@@@@@@"""


def make(game, rules, ascii_map, n_agents, seed=0, batch_size=1, **overrides):
    core = GridCore(game, parse_map(ascii_map), get_rules(game, rules, overrides), n_agents, batch_size)
    core.reset([seed + b for b in range(batch_size)])
    return core


def place(core, agent, row, col, orientation, env=0):
    core.position[env, agent] = core.flat_of(row, col)
    core.orientation[env, agent] = orientation


def where(core, agent, env=0):
    return tuple(int(x) for x in core.cell_of(core.position[env, agent]))


def step(core, *actions):
    return core.step(np.array([actions], dtype=np.int64))


# -- pure dynamics ------------------------------------------------------------------------------


def test_apple_spawn_probability_follows_waste_density():
    d = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.47, -0.1])
    expected = [0.05, 0.0375, 0.025, 0.0125, 0.0, 0.0, 0.05]
    assert apple_spawn_probability(d) == pytest.approx(expected)


def test_waste_spawn_probability_by_mode():
    ssd = waste_spawn_probability([0.0, 0.0, 0.3, 0.4], [1, 2, 3, 3], 0, mode="ssd")
    assert ssd == pytest.approx([0.5, 0.75, 0.875, 0.0])
    meltingpot = waste_spawn_probability([0.0, 0.0], [5, 5], [49, 50], mode="bernoulli", delay=50)
    assert meltingpot == pytest.approx([0.0, 0.5])
    assert waste_spawn_probability(0.0, 0, 0, mode="bernoulli") == 0.0
    with pytest.raises(ValueError, match="mode"):
        waste_spawn_probability(0.0, 1, 0, mode="other")


def test_density_regrowth_tables():
    assert density_regrowth_probability(np.array([0, 1, 2, 3, 8]), (0, 0.005, 0.02, 0.05)) == pytest.approx(
        [0, 0.005, 0.02, 0.05, 0.05]
    )
    assert len(neighbourhood_offsets(2)) == 8  # SSD: the 3 x 3 block
    assert len(neighbourhood_offsets(4)) == 12  # Melting Pot: L2 disc of radius 2
    assert (2, 0) in neighbourhood_offsets(4) and (2, 0) not in neighbourhood_offsets(2)


def test_standard_maps_have_the_ssd_counts():
    cleanup, harvest = parse_map(CLEANUP_MAP), parse_map(HARVEST_MAP)
    assert (cleanup.height, cleanup.width) == (25, 18)
    assert len(cleanup.apple_cells) == 103
    assert len(cleanup.river_cells) == 119 and cleanup.polluted_at_start.sum() == 56
    assert len(cleanup.stream_cells) == 12 and len(cleanup.spawn_cells) == 10
    assert (harvest.height, harvest.width) == (16, 38)
    assert len(harvest.apple_cells) == 155 and len(harvest.spawn_cells) == 20


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="rules must be one of"):
        get_rules("cleanup", "deepmind")
    with pytest.raises(ValueError, match="game must be one of"):
        get_rules("harvest")
    with pytest.raises(ValueError, match="unknown rule fields"):
        get_rules("cleanup", "ssd", {"beam": 3})
    with pytest.raises(ValueError, match="same length"):
        parse_map("@@@\n@P@@\n@@@")
    with pytest.raises(ValueError, match="border"):
        parse_map("@@@\n P@\n@@@")
    with pytest.raises(ValueError, match="spawn points"):
        GridCore("gathering", parse_map(OPEN), get_rules("gathering", "ssd"), 5)
    core = make("gathering", "ssd", OPEN, 2)
    with pytest.raises(ValueError, match="actions must be in 0..7"):
        step(core, 8, 0)


# -- movement and collisions --------------------------------------------------------------------


def test_egocentric_moves_and_turns():
    core = make("gathering", "ssd", OPEN, 1)
    place(core, 0, 3, 5, EAST)
    step(core, FORWARD)
    assert where(core, 0) == (3, 6)
    step(core, STEP_LEFT)  # facing east, left is north
    assert where(core, 0) == (2, 6)
    step(core, STEP_RIGHT)
    step(core, BACKWARD)
    assert where(core, 0) == (3, 5)
    step(core, TURN_RIGHT)
    assert core.orientation[0, 0] == SOUTH
    step(core, TURN_LEFT)
    step(core, TURN_LEFT)
    assert core.orientation[0, 0] == NORTH
    place(core, 0, 1, 5, NORTH)
    step(core, FORWARD)  # wall
    assert where(core, 0) == (1, 5)


@pytest.mark.parametrize("seed", range(3))
def test_two_agents_claiming_one_cell_one_wins(seed):
    core = make("gathering", "ssd", OPEN, 2, seed=seed)
    place(core, 0, 2, 3, EAST)
    place(core, 1, 2, 5, WEST)
    step(core, FORWARD, FORWARD)
    cells = {where(core, 0), where(core, 1)}
    assert (2, 4) in cells and len(cells) == 2


def test_the_winner_of_a_claim_is_random_over_seeds():
    winners = set()
    for seed in range(12):
        core = make("gathering", "ssd", OPEN, 2, seed=seed)
        place(core, 0, 2, 3, EAST)
        place(core, 1, 2, 5, WEST)
        step(core, FORWARD, FORWARD)
        winners.add(0 if where(core, 0) == (2, 4) else 1)
    assert winners == {0, 1}


def test_no_following_and_no_swapping_without_overlap():
    core = make("gathering", "ssd", OPEN, 2)
    place(core, 0, 2, 3, EAST)
    place(core, 1, 2, 4, EAST)
    step(core, FORWARD, FORWARD)
    assert (where(core, 0), where(core, 1)) == ((2, 3), (2, 5))
    place(core, 1, 2, 4, WEST)
    step(core, FORWARD, FORWARD)  # swap
    assert (where(core, 0), where(core, 1)) == ((2, 3), (2, 4))


def test_agents_may_share_a_cell_under_vicgalle_rules():
    core = make("gathering", "vicgalle", OPEN, 2)
    place(core, 0, 2, 3, EAST)
    place(core, 1, 2, 5, WEST)
    step(core, FORWARD, FORWARD)
    assert where(core, 0) == where(core, 1) == (2, 4)


# -- penalty beams ------------------------------------------------------------------------------


def _firing_line(rules, ascii_map=OPEN, **overrides):
    """Agent 0 at (3, 2) faces east and fires; 1 at (3, 4), 2 behind it at (3, 5), 3 at (2, 6)."""
    core = make("gathering", rules, ascii_map, 4, **overrides)
    place(core, 0, 3, 2, EAST)
    place(core, 1, 3, 4, NORTH)
    place(core, 2, 3, 5, NORTH)
    place(core, 3, 2, 6, NORTH)
    rewards, _ = step(core, FIRE, STAY, STAY, STAY)
    return core, rewards[0]


def test_ssd_beam_rays_stop_at_the_first_agent():
    core, rewards = _firing_line("ssd")
    assert rewards.tolist() == [-1.0, -50.0, 0.0, -50.0]
    assert core.last_hits[0].tolist() == [0, 1, 0, 1]
    assert not core.last_tagged.any()  # SSD never removes


def test_vicgalle_beam_hits_the_whole_rectangle_and_tags_for_25_steps():
    core = make("cleanup", "vicgalle", RIVER, 3, waste_spawn_prob=0.0)
    place(core, 0, 2, 2, EAST)
    place(core, 1, 2, 4, NORTH)
    place(core, 2, 3, 5, NORTH)
    rewards, _ = step(core, FIRE, STAY, STAY)
    assert rewards[0].tolist() == [-1.0, -50.0, -50.0]
    tagged_steps = 1
    for _ in range(30):
        step(core, STAY, FORWARD, STAY)
        tagged_steps += int(core.last_tagged[0, 1])
        if where(core, 1) != (2, 4):
            break
    # out for steps 1..25 (25 tagged steps), moves again at step 26
    assert tagged_steps == 25 and core.step_count[0] == 26 and where(core, 1) == (1, 4)


def test_gathering_vicgalle_needs_two_hits():
    core = make("gathering", "vicgalle", OPEN, 2)
    place(core, 0, 3, 2, EAST)
    place(core, 1, 3, 10, NORTH)  # 8 cells ahead: the beam reaches 20
    rewards, _ = step(core, FIRE, STAY)
    assert rewards[0].tolist() == [0.0, 0.0]
    assert core.hit_count[0, 1] == 1 and core.removed_steps[0, 1] == 0
    step(core, FIRE, STAY)
    assert core.removed_steps[0, 1] == 25 and core.hit_count[0, 1] == 0


def test_walls_block_rays_but_not_areas():
    core, rewards = _firing_line("ssd", WALLED)  # wall at (3, 3) between firer and agent 1
    assert rewards.tolist() == [-1.0, 0.0, 0.0, -50.0]
    core, rewards = _firing_line("vicgalle", WALLED)
    assert rewards.tolist() == [0.0, 0.0, 0.0, 0.0]  # gathering/vicgalle beam is 1 wide
    assert core.last_hits[0].tolist() == [0, 1, 1, 0]


def test_meltingpot_zap_removes_and_respawns_at_a_spawn_point():
    core, rewards = _firing_line("meltingpot")
    assert rewards.tolist() == [0.0, 0.0, 0.0, 0.0]  # no reward cost for zapping
    assert core.last_hits[0].tolist() == [0, 1, 1, 0]  # 3 long: agent 3, 4 ahead, is out of reach
    assert core.on_map[0].tolist() == [True, False, False, True]
    for _ in range(49):
        step(core, STAY, STAY, STAY, STAY)
    assert not core.on_map[0, 1] and core.last_tagged[0, 1]
    step(core, STAY, STAY, STAY, STAY)  # step 51: back
    assert core.on_map[0, 1] and core.on_map[0, 2]
    spawns = {tuple(c) for c in parse_map(OPEN).spawn_cells.tolist()}
    assert where(core, 1) in spawns and where(core, 2) in spawns and where(core, 1) != where(core, 2)


# -- cleaning -----------------------------------------------------------------------------------


def _clean(rules, **overrides):
    core = make("cleanup", rules, RIVER, 1, waste_spawn_prob=0.0, **overrides)
    place(core, 0, 2, 2, EAST)
    rewards, _ = step(core, CLEAN)
    waste = np.zeros((4, 10), dtype=bool)
    cells = core.map.river_cells[core.waste[0]]
    waste[cells[:, 0], cells[:, 1]] = True
    return core, rewards[0, 0], waste[1:4, 3:7]


def test_ssd_clean_rays_clear_the_first_waste_each():
    _, reward, waste = _clean("ssd")
    assert reward == 0.0
    assert waste.tolist() == [[False, True, True, True]] * 3


def test_vicgalle_clean_area_clears_all_and_costs_one():
    _, reward, waste = _clean("vicgalle")
    assert reward == -1.0 and not waste.any()


def test_meltingpot_clean_reaches_three_and_has_a_cooldown():
    core, reward, waste = _clean("meltingpot")
    assert reward == 0.0
    assert waste.tolist() == [[False, False, False, True]] * 3
    core.waste[0] = core.map.polluted_at_start
    step(core, CLEAN)  # cooling down
    assert core.waste[0].sum() == 12 and not core.last_cleaned[0, 0]
    step(core, CLEAN)
    assert core.waste[0].sum() == 3 and core.last_cleaned[0, 0]


# -- waste and apples ---------------------------------------------------------------------------

CLEAN_RIVER = RIVER.replace("H", "R")


def test_waste_spawns_one_cell_per_step_until_the_threshold():
    core = make("cleanup", "vicgalle", CLEAN_RIVER, 1, waste_spawn_prob=1.0)
    counts = []
    for _ in range(10):
        step(core, STAY)
        counts.append(int(core.waste[0].sum()))
    # 16 river cells: spawning stops once 7/16 = 0.4375 >= 0.4
    assert counts == [1, 2, 3, 4, 5, 6, 7, 7, 7, 7]


def test_meltingpot_waste_waits_for_step_50():
    core = make("cleanup", "meltingpot", CLEAN_RIVER, 1, waste_spawn_prob=1.0)
    for _ in range(50):
        step(core, STAY)
    assert core.waste[0].sum() == 0
    step(core, STAY)
    assert core.waste[0].sum() == 1


def test_ssd_waste_spawn_frequency_matches_its_formula():
    # two clean river cells: 1 - 0.5**2 = 0.75
    two_cells = "@@@@@@\n@RR P@\n@  PA@\n@@@@@@"
    core = make("cleanup", "ssd", two_cells, 1, batch_size=4000)
    core.step(np.full((4000, 1), STAY))
    assert core.waste.any(1).mean() == pytest.approx(0.75, abs=0.03)


def test_cleanup_apples_grow_with_the_density_probability():
    batch = 2000
    core = make("cleanup", "ssd", RIVER, 1, batch_size=batch, waste_spawn_prob=0.0, apple_respawn_prob=0.5)
    core.waste[:] = False
    core.waste[:, :4] = True  # d = 4/16 = 0.25 -> p = 0.5 * (1 - 0.25/0.4) = 0.1875
    core.step(np.full((batch, 1), STAY))
    assert core.apples.mean() == pytest.approx(0.1875, abs=0.015)


def test_no_apple_grows_above_the_threshold_or_under_an_agent():
    core = make("cleanup", "ssd", RIVER, 1, waste_spawn_prob=0.0, apple_respawn_prob=1.0)
    for _ in range(20):
        step(core, STAY)  # d = 12/16
    assert not core.apples.any()
    core.waste[0] = False
    place(core, 0, 4, 8, NORTH)  # on the only apple cell
    step(core, STAY)
    assert not core.apples.any()
    step(core, STEP_LEFT)  # leaves: the cell grows this step
    assert core.apples[0].all() and where(core, 0) == (4, 7)


@pytest.mark.parametrize(("rules", "grown"), [("ssd", [True, True, False, False, False]),
                                              ("meltingpot", [True, True, True, False, False])])
def test_density_regrowth_neighbourhoods(rules, grown):
    core = make("gathering", rules, ORCHARD, 1, regrowth_probs=(0.0, 1.0))
    core.apples[0] = [True, False, False, False, False]  # row 1, columns 1..5
    step(core, STAY)
    assert core.apples[0].tolist() == grown


def test_eaten_apple_returns_after_25_steps_under_the_timer():
    core = make("gathering", "vicgalle", ORCHARD, 1)
    place(core, 0, 2, 5, NORTH)
    rewards, _ = step(core, FORWARD)  # onto (1, 5), the last apple cell
    assert rewards[0, 0] == 1.0 and not core.apples[0, 4]
    step(core, BACKWARD)
    present = []
    for _ in range(25):
        step(core, STAY)
        present.append(bool(core.apples[0, 4]))
    # eaten at step 1, back at step 26 (the loop covers steps 3..27)
    assert present == [False] * 23 + [True, True]


def test_vicgalle_timer_does_not_wait_for_the_agent_to_leave():
    # vicgalle's gathering_env.py respawns before it collects: an agent that stays on the cell
    # eats at step 1, the apple is back at step 26 and eaten at once, again at step 51
    core = make("gathering", "vicgalle", ORCHARD, 1)
    place(core, 0, 2, 5, NORTH)
    earned = [step(core, FORWARD)[0][0, 0]] + [step(core, STAY)[0][0, 0] for _ in range(50)]
    assert [t + 1 for t, r in enumerate(earned) if r] == [1, 26, 51]
    assert not core.apples[0, 4]


def test_without_growth_under_agents_the_apple_waits_until_the_cell_is_empty():
    core = make("gathering", "vicgalle", ORCHARD, 1, grow_under_agents=False, regrowth_delay=3)
    place(core, 0, 2, 5, NORTH)
    earned = [step(core, FORWARD)[0][0, 0]] + [step(core, STAY)[0][0, 0] for _ in range(9)]
    assert earned == [1.0] + [0.0] * 9 and not core.apples[0, 4]
    step(core, BACKWARD)  # step 11: the timer ran out at step 4, the cell is free now
    assert core.apples[0, 4]
    with pytest.raises(ValueError, match="grow_under_agents"):
        get_rules("gathering", "vicgalle", {"grow_under_agents": "yes"})


def test_overlapping_agents_share_one_apple():
    core = make("gathering", "vicgalle", ORCHARD, 2)
    place(core, 0, 2, 5, NORTH)
    place(core, 1, 2, 5, NORTH)
    rewards, _ = step(core, FORWARD, FORWARD)
    assert sorted(rewards[0].tolist()) == [0.0, 1.0]


# -- observations -------------------------------------------------------------------------------


def test_egocentric_window_rotates_with_the_agent():
    core = make("gathering", "ssd", ORCHARD, 2)
    place(core, 0, 2, 4, EAST)
    place(core, 1, 2, 6, SOUTH)
    core.apples[0] = False
    core.apples[0, 4] = True  # (1, 5): facing east, 1 ahead and 1 to the left
    window = core.observe("symbolic")[0, 0]
    centre = 7
    assert window[centre, centre] == SELF
    assert window[centre - 1, centre - 1] == APPLE
    # agent 1 two cells ahead, facing south = to the viewer's right
    assert window[centre - 2, centre] == AGENT_RIGHT
    rgb = core.observe("rgb")[0, 0]
    assert rgb.dtype == np.uint8 and rgb.shape == (15, 15, 3)
    assert (rgb == PALETTE[window]).all()
    assert (symbolic_from_rgb(rgb) == window).all()
    # seen from agent 1 (facing south), agent 0 is two cells to the right and faces the viewer's left
    other = core.observe("symbolic")[0, 1]
    assert other[centre, centre + 2] == AGENT_LEFT


@pytest.mark.parametrize("game", ["cleanup", "gathering"])
@pytest.mark.parametrize("rules", ["ssd", "meltingpot", "vicgalle"])
def test_rotated_block_windows_equal_cell_by_cell_gathers(game, rules):
    vec = VectorGridworld(game, 4, 10, rules=rules, observation=None)
    vec.reset(range(4))
    actions = np.random.default_rng(0).integers(0, len(vec.actions), (60, 4, 10))
    for a in actions:
        vec.step(a)
    for kind in ("rgb", "symbolic"):
        assert (vec.core.observe(kind) == vec.core.observe_by_offsets(kind)).all()


def test_a_pickled_core_keeps_observing_its_own_state():
    vec = VectorGridworld("cleanup", 2, 5)
    vec.reset([0, 1])
    copy = pickle.loads(pickle.dumps(vec))
    actions = np.random.default_rng(0).integers(0, 9, (30, 2, 5))
    for a in actions:
        first, second = vec.step(a), copy.step(a)
        assert (first.observations == second.observations).all() and (first.rewards == second.rewards).all()


def test_view_shapes_per_variant():
    assert VectorGridworld("cleanup", 1, 5, rules="ssd").reset([0]).shape == (1, 5, 15, 15, 3)
    assert VectorGridworld("cleanup", 1, 5, rules="vicgalle").reset([0]).shape == (1, 5, 8, 15, 3)
    assert VectorGridworld("cleanup", 1, 5, rules="meltingpot").reset([0]).shape == (1, 5, 11, 11, 3)
    assert VectorGridworld("gathering", 1, 5, rules="vicgalle").reset([0]).shape == (1, 5, 16, 21, 3)


# -- batching and seeds -------------------------------------------------------------------------


@pytest.mark.parametrize("game", ["cleanup", "gathering"])
@pytest.mark.parametrize("rules", ["ssd", "meltingpot", "vicgalle"])
def test_a_batch_equals_single_environments_with_the_same_seeds(game, rules):
    seeds = [11, 12, 13]
    actions = np.random.default_rng(5).integers(0, 9 if game == "cleanup" else 8, (120, 3, 10))
    batch = VectorGridworld(game, 3, 10, rules=rules, observation="symbolic")
    singles = [VectorGridworld(game, 1, 10, rules=rules, observation="symbolic") for _ in seeds]
    obs = batch.reset(seeds)
    single_obs = [s.reset([seed]) for s, seed in zip(singles, seeds)]
    assert all((obs[b] == single_obs[b][0]).all() for b in range(3))
    total = np.zeros((3, 10))
    for t in range(120):
        rewards, dones, obs = batch.step(actions[t])
        total += rewards
        for b, single in enumerate(singles):
            r, d, o = single.step(actions[t][b : b + 1])
            assert (r[0] == rewards[b]).all() and d[0] == dones[b] and (o[0] == obs[b]).all()
    assert (batch.core.apples == np.concatenate([s.core.apples for s in singles])).all()
    assert total.any()
    info = batch.last_step_info()
    assert info["tagged"].shape == (3, 10) and info["waste_density"].shape == (3,)
    assert (info["tagged"][1] == singles[1].last_step_info()["tagged"][0]).all()


def test_same_seed_same_trajectory_and_different_seed_differs():
    def run(seed):
        vec = VectorGridworld("cleanup", 2, 5, observation=None)
        vec.reset([seed, seed + 1])
        actions = np.random.default_rng(0).integers(0, 9, (200, 2, 5))
        return np.stack([vec.step(a).rewards for a in actions]), vec.core.position.copy()

    (r1, p1), (r2, p2), (r3, p3) = run(1), run(1), run(2)
    assert (r1 == r2).all() and (p1 == p2).all()
    assert not ((r1 == r3).all() and (p1 == p3).all())


def test_autoreset_and_random_episode_lengths():
    vec = VectorGridworld("gathering", 4, 3, grid_map="small_harvest", observation=None, autoreset=True,
                          rule_overrides={"episode_length": (5, 9)})
    vec.reset(range(4))
    lengths = vec.core.episode_length.copy()
    assert ((lengths >= 5) & (lengths <= 9)).all()
    done_at = np.full(4, -1)
    for t in range(1, 10):
        result = vec.step(np.full((4, 3), STAY))
        done_at[result.dones & (done_at < 0)] = t
    assert (done_at == lengths).all()
    assert (vec.core.step_count < lengths.max()).all()  # the finished ones started over


def test_full_size_maps_step_with_many_agents():
    for game in ("cleanup", "gathering"):
        vec = VectorGridworld(game, 8, 10, rules="ssd")
        obs = vec.reset(range(8))
        rewards, dones, obs = vec.step(np.random.default_rng(0).integers(0, 8, (8, 10)))
        assert obs.shape == (8, 10, 15, 15, 3) and rewards.shape == (8, 10) and dones.shape == (8,)
    assert get_map("cleanup").height == 25


@pytest.mark.parametrize(("game", "rules", "apples", "waste"), [
    ("cleanup", "ssd", 0, 56), ("cleanup", "meltingpot", 0, 56), ("cleanup", "vicgalle", 103, 56),
    ("gathering", "ssd", 155, 0), ("gathering", "meltingpot", 155, 0), ("gathering", "vicgalle", 155, 0),
])
def test_orchard_and_river_at_the_start(game, rules, apples, waste):
    vec = VectorGridworld(game, 2, 10, rules=rules, observation=None)
    vec.reset([0, 1])
    assert vec.core.apples.sum(1).tolist() == [apples, apples]
    assert vec.core.waste.sum(1).tolist() == [waste, waste]
    spawns = {tuple(c) for c in vec.core.map.spawn_cells.tolist()}
    cells = [tuple(c) for c in vec.core.cell_of(vec.core.position[0]).tolist()]
    assert set(cells) <= spawns and len(set(cells)) == 10  # distinct spawn points
