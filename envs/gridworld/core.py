"""The batched numpy core of Cleanup and Gathering: B environments stepped at once.

State is kept as arrays with a leading batch axis ``B``; :meth:`GridCore.step` advances every
environment with array operations only (no Python loop over cells, agents or environments).
The PettingZoo worlds (:mod:`.cleanup`, :mod:`.gathering`) are views of a core with ``B = 1``;
:class:`VectorGridworld` is the public API for training many environments at once::

    vec = VectorGridworld("cleanup", batch_size=64, n_agents=10, rules="ssd")
    obs = vec.reset(seeds=range(64))                 # (B, N, h, w, 3) uint8
    rewards, dones, obs = vec.step(actions)          # actions (B, N) int

Layout. Grids are flattened and padded with walls by ``reach + 1`` cells (the longest view or
beam), so that moves and beams are plain index additions that never leave the array; one
extra "sentinel" cell at the end of each grid absorbs writes for agents that are not on the
map. Apples and waste are kept compactly, one column per apple cell / river cell (plus one
always-empty column, so that lookups for "no such cell" need no mask). Egocentric windows are
row copies out of four turned, pre-coloured copies of each map that are rewritten only where a
cell changed (:meth:`GridCore.observe`). Move claims and shared apples are resolved by
scattering priority keys onto a scratch grid (``np.maximum.at``: the highest key on a cell
wins), beam hits by ``np.add.at`` on it; beams stop at walls and agents read from one grid of
blockers. Every decision is the one the step made before issue 26 made it cheaper (the
seeded-state digests in ``tests/test_gridworld_step_speed.py``).

Differences from the sources, by design: all agents act simultaneously (vicgalle's code moves
agents one after another in index order, SSD in random order), observations do not show
beams, and new waste may appear under a player standing in the river (vicgalle's code skips
occupied cells).

Randomness. Environment ``b`` owns ``numpy.random.default_rng(seed_b)``. Every step consumes
a fixed number of uniforms per environment (``2 N + 2 + K``: movement priorities, respawn
choices, two for waste, one per apple cell), drawn in blocks of ``RNG_BLOCK`` steps, so env
``b``'s trajectory depends only on its own seed and actions: a batch of B gives exactly the
results of B single environments with the same seeds.

Step order (all agents act simultaneously):

1. removal timers count down; agents whose timer ends return (in place if
   ``tagged_stay_on_map``, else at a random spawn point, claimed like a move);
2. turns and moves. Without overlap a move succeeds when the target is not a wall, was free
   at the start of the step, and no agent with a higher random priority claims it (so agents
   cannot follow each other into a cell being vacated, and never swap);
3. beams from the agents' new positions: penalty beam (firer pays ``fire_cost``; each agent
   hit loses ``hit_penalty`` per hit and, after ``hits_to_tag`` hits, is removed for
   ``tag_steps`` steps), clean beam (removes waste, firer pays ``clean_cost``);
4. Cleanup: one clean river cell may become polluted (:func:`.rules.waste_spawn_probability`);
5. apples grow on empty apple cells without an agent on them, or on any empty apple cell
   under ``grow_under_agents`` (vicgalle Gathering: the timer does not wait)
   (Cleanup: :func:`.rules.apple_spawn_probability` of the waste density after step 4;
   Gathering: density table or fixed timer);
6. agents on apples collect them (+1; with overlap a random one of those on the cell), so an
   apple that grows under an agent in step 5 is collected in the same step;
   agents tagged in this step collect nothing;
7. the step counter advances; an environment is done after its episode length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dilemmazoo.envs.gridworld.maps import GridMap, get_map
from dilemmazoo.envs.gridworld.rules import (
    GridRules,
    apple_spawn_probability,
    get_rules,
    neighbourhood_offsets,
    waste_spawn_probability,
)

__all__ = [
    "ACTIONS",
    "CODE_NAMES",
    "GridCore",
    "PALETTE",
    "RNG_BLOCK",
    "StepResult",
    "VectorGridworld",
    "actions_for",
    "symbolic_from_rgb",
]

# Action indices follow vicgalle/llm-policies-social-dilemmas, so that policies written
# against it (returning 0..8) act the same here.
ACTIONS = ("forward", "backward", "step_left", "step_right", "turn_left", "turn_right", "fire", "stay", "clean")
FORWARD, BACKWARD, STEP_LEFT, STEP_RIGHT, TURN_LEFT, TURN_RIGHT, FIRE, STAY, CLEAN = range(9)
ORIENTATIONS = ("north", "east", "south", "west")
# (row, col) of one step forward when facing north, east, south, west
_FORWARD_VECTORS = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)], dtype=np.int64)

# Cell codes of the symbolic view; agents are coded by orientation (relative to the viewer in
# egocentric views, absolute in the global view and the render).
EMPTY, WALL, APPLE, RIVER, WASTE, STREAM = range(6)
AGENT_UP, AGENT_RIGHT, AGENT_DOWN, AGENT_LEFT = range(6, 10)
TAGGED, SELF = 10, 11
N_CODES = 12
CODE_NAMES = (
    "empty", "wall", "apple", "river", "waste", "stream",
    "agent_up", "agent_right", "agent_down", "agent_left", "tagged", "self",
)
PALETTE = np.array(
    [
        (0, 0, 0),  # empty
        (127, 127, 127),  # wall
        (0, 200, 0),  # apple
        (100, 180, 255),  # river (clean)
        (139, 90, 43),  # waste
        (0, 180, 200),  # stream
        (230, 40, 40),  # other agent facing up (same way as the viewer)
        (230, 110, 40),  # ... facing right
        (230, 40, 110),  # ... facing down
        (230, 110, 110),  # ... facing left
        (100, 100, 100),  # tagged-out agent (still on the map)
        (50, 100, 255),  # the viewer itself
    ],
    dtype=np.uint8,
)
AGENT_COLOURS = np.array(
    [(230, 40, 40), (50, 100, 255), (255, 200, 0), (200, 60, 230), (255, 140, 0), (0, 230, 230),
     (255, 105, 180), (160, 82, 45), (255, 255, 255), (128, 128, 0)],
    dtype=np.uint8,
)
RNG_BLOCK = 32  # steps of random numbers drawn per refill


def actions_for(game: str) -> tuple[str, ...]:
    """The action names of ``game`` (Gathering has no ``clean``)."""
    return ACTIONS if game == "cleanup" else ACTIONS[:-1]


def symbolic_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Cell codes of an egocentric RGB window (the palette is one-to-one)."""
    rgb = np.asarray(rgb, dtype=np.uint8)
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    keys = (PALETTE[:, 0].astype(np.int64) << 16) | (PALETTE[:, 1].astype(np.int64) << 8) | PALETTE[:, 2]
    order = np.argsort(keys)
    found = np.searchsorted(keys[order], packed)
    found = np.minimum(found, len(keys) - 1)
    if not np.all(keys[order][found] == packed):
        raise ValueError("the array holds colours that are not in the grid-world palette")
    return order[found].astype(np.uint8)


@dataclass
class StepResult:
    """What one batched step returns. ``observations`` is ``None`` when not requested."""

    rewards: np.ndarray  # (B, N) float64
    dones: np.ndarray  # (B,) bool
    observations: np.ndarray | None

    def __iter__(self):
        return iter((self.rewards, self.dones, self.observations))


class GridCore:
    """B environments of one game, map and rule set, with N agents each.

    ``observation`` is ``"rgb"`` (``(B, N, h, w, 3)`` uint8), ``"symbolic"`` (``(B, N, h, w)``
    uint8 cell codes) or ``None`` (no observations: fastest).
    """

    def __init__(
        self,
        game: str,
        grid_map: str | GridMap,
        rules: GridRules,
        n_agents: int,
        batch_size: int = 1,
    ):
        self.game = game
        self.map = get_map(grid_map)
        self.rules = rules
        if isinstance(n_agents, bool) or not isinstance(n_agents, (int, np.integer)) or n_agents < 1:
            raise ValueError(f"n_agents must be a positive integer, got {n_agents!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.n_agents = N = int(n_agents)
        self.batch_size = B = int(batch_size)
        self.actions = actions_for(game)
        self.n_actions = len(self.actions)
        m = self.map
        if game == "cleanup" and len(m.river_cells) == 0:
            raise ValueError("a Cleanup map needs river cells ('H' or 'R')")
        if not rules.agents_overlap and N > len(m.spawn_cells):
            raise ValueError(
                f"n_agents ({N}) exceeds the map's {len(m.spawn_cells)} spawn points, and agents may not overlap "
                f"under rules {rules.name!r}"
            )

        # -- static layout, padded and flattened ------------------------------------------------
        self.pad = pad = rules.reach + 1
        self.padded_width = Wp = m.width + 2 * pad
        self.padded_height = Hp = m.height + 2 * pad
        self.stride = S = Hp * Wp + 1  # last cell: sentinel for agents not on the map
        self.sentinel = S - 1

        def flat(cells: np.ndarray) -> np.ndarray:
            return ((cells[:, 0] + pad) * Wp + cells[:, 1] + pad).astype(np.int64)

        self.apple_flat = flat(m.apple_cells)
        self.river_flat = flat(m.river_cells)
        self.spawn_flat = flat(m.spawn_cells)
        self.n_apple_cells = K = len(self.apple_flat)
        self.n_river_cells = M = len(self.river_flat)
        wall = np.ones((Hp, Wp), dtype=bool)
        wall[pad : pad + m.height, pad : pad + m.width] = m.wall
        self.wall = np.append(wall.ravel(), True)
        base = np.where(self.wall, WALL, EMPTY).astype(np.uint8)
        base[self.river_flat] = RIVER
        base[flat(m.stream_cells)] = STREAM
        self.base_codes = base
        self.cell_to_apple = np.full(S, K, dtype=np.int64)
        self.cell_to_apple[self.apple_flat] = np.arange(K)
        self.cell_to_river = np.full(S, M, dtype=np.int64)
        self.cell_to_river[self.river_flat] = np.arange(M)
        rows, cols = np.meshgrid(np.arange(m.height) + pad, np.arange(m.width) + pad, indexing="ij")
        self.interior_flat = (rows * Wp + cols).ravel()

        forward = _FORWARD_VECTORS[:, 0] * Wp + _FORWARD_VECTORS[:, 1]  # (4,)
        right = np.roll(forward, -1)  # facing o, "right" is the forward of o + 1
        self._forward_flat, self._right_flat = forward, right
        delta = np.zeros((4, 9), dtype=np.int64)
        delta[:, FORWARD], delta[:, BACKWARD] = forward, -forward
        delta[:, STEP_LEFT], delta[:, STEP_RIGHT] = -right, right
        self._move_delta = delta
        self._turn = np.zeros(9, dtype=np.int64)
        self._turn[TURN_LEFT], self._turn[TURN_RIGHT] = -1, 1
        self._is_move = np.zeros(9, dtype=bool)
        self._is_move[[FORWARD, BACKWARD, STEP_LEFT, STEP_RIGHT]] = True

        self._fire_offsets = self._rectangle(rules.fire_length, rules.fire_half_width)
        self._clean_offsets = self._rectangle(rules.clean_length, rules.clean_half_width)
        h, w = rules.view_shape
        self.view_shape = (h, w)
        i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        ahead, lateral = (rules.view_ahead - i).ravel(), (j - rules.view_side).ravel()
        self._view_offsets = ahead[None, :] * forward[:, None] + lateral[None, :] * right[:, None]  # (4, h*w)
        self._self_cell = rules.view_ahead * w + rules.view_side

        # LUTs indexed by viewer_orientation * N_CODES + code: agents' orientations relative
        # to the viewer, everything else unchanged.
        relative = np.tile(np.arange(N_CODES), (4, 1))
        for viewer in range(4):
            for absolute in range(4):
                relative[viewer, AGENT_UP + absolute] = AGENT_UP + (absolute - viewer) % 4
        self._symbolic_lut = relative.ravel().astype(np.uint8)
        self._rgb_lut = PALETTE[self._symbolic_lut]

        if game == "gathering" and rules.regrowth == "density":
            # for each neighbourhood offset, the apple index of the neighbouring cell (K: none);
            # counting by gathers, not a (K, K) matrix product, keeps BLAS threads out of the step
            index = {tuple(c): a for a, c in enumerate(m.apple_cells.tolist())}
            offsets = neighbourhood_offsets(rules.regrowth_radius_sq)
            self._neighbours = np.array(
                [[index.get((r + dr, c + dc), K) for r, c in m.apple_cells.tolist()] for dr, dc in offsets],
                dtype=np.int64,
            ).reshape(len(offsets), K)
            self._neighbours_flat = self._neighbours.ravel()
            # growth probability by live neighbours, float32 as the uniforms: probs[min(n, last)]
            probs = np.asarray(rules.regrowth_probs, dtype=np.float32)
            self._regrowth_table = probs[np.minimum(np.arange(len(offsets) + 1), len(probs) - 1)]
        # uniforms per step: priorities N, respawn choices N, waste 2, apples K
        self.draws_per_step = 2 * N + 2 + K

        # -- dynamic state ----------------------------------------------------------------------
        self.position = np.zeros((B, N), dtype=np.int64)  # flat padded cell
        self.orientation = np.zeros((B, N), dtype=np.int64)
        self.removed_steps = np.zeros((B, N), dtype=np.int64)
        self.hit_count = np.zeros((B, N), dtype=np.int64)
        self.fire_cooldown = np.zeros((B, N), dtype=np.int64)
        self.clean_cooldown = np.zeros((B, N), dtype=np.int64)
        self.on_map = np.ones((B, N), dtype=bool)
        # apples (B, K), apple_timer (B, K) and waste (B, M) are views of stores with one more
        # column, "no such cell", that stays empty: agents off the apple cells and beam cells
        # off the river index it without a mask (see the properties)
        self._apples_store = np.zeros((B, K + 1), dtype=bool)
        self._timer_store = np.zeros((B, K + 1), dtype=np.int64)
        self._waste_store = np.zeros((B, M + 1), dtype=bool)
        self._apple_row = np.arange(B, dtype=np.int64)[:, None] * (K + 1)
        self.step_count = np.zeros(B, dtype=np.int64)
        self.episode_length = np.full(B, rules.max_episode_length, dtype=np.int64)
        self.seeds: list[Any] = [None] * B
        # what the last step did, per agent (for infos and records)
        self.last_rewards = np.zeros((B, N))
        self.last_collected = np.zeros((B, N), dtype=np.int64)
        self.last_fired = np.zeros((B, N), dtype=bool)
        self.last_cleaned = np.zeros((B, N), dtype=bool)
        self.last_hits = np.zeros((B, N), dtype=np.int64)
        self.last_tagged = np.zeros((B, N), dtype=bool)

        self._generators: list[np.random.Generator] = [np.random.default_rng(0) for _ in range(B)]
        self._uniforms = np.zeros((B, RNG_BLOCK, self.draws_per_step), dtype=np.float32)
        self._cursor = np.full(B, RNG_BLOCK, dtype=np.int64)
        self._batch_offset = (np.arange(B, dtype=np.int64) * S)[:, None]
        self._scratch = np.zeros(B * S, dtype=np.int64)  # zero between uses
        self._codes = np.zeros((B, S), dtype=np.uint8)
        # where each padded cell lands in the copy of the map turned o quarter turns
        # counter-clockwise (so that an agent facing o looks "up" in it): (4, S - 1) flat
        # offsets into a (side, side) block
        self._side = side = max(Hp, Wp)
        row, col = np.divmod(np.arange(S - 1, dtype=np.int64), Wp)
        turned_row = np.stack([row, Wp - 1 - col, Hp - 1 - row, col])
        turned_col = np.stack([col, row, Wp - 1 - col, Hp - 1 - row])
        self._turned_cell = turned_row * side + turned_col
        # the same per cell, offset to copy o of the env's four: (S, 4); the sentinel goes to four
        # spare cells after the copies, seen by no window
        self._env_cells = 4 * side * side + 4  # cells of one env's four copies and the spare ones
        self._turned_at = np.concatenate([(self._turned_cell + np.arange(4)[:, None] * side * side).T,
                                          4 * side * side + np.arange(4)[None, :]])
        # every apple cell and river cell of every env in the batched flat grid: (B, K), (B, M)
        # (and for the stores' extra column, the env's sentinel): (B, K + 1), (B, M + 1)
        self._apple_at = self._batch_offset + np.append(self.apple_flat, self.sentinel)
        self._river_at = self._batch_offset + np.append(self.river_flat, self.sentinel)
        # per cell of the batched flat grid, its pixel in each of its env's four turned copies
        # (B * S, 4), built with the first observation
        self._pixel_at: np.ndarray | None = None
        # per viewer orientation and padded cell, the flat pixel at which that viewer's window
        # starts in the env's four turned copies (the window's top-left cell, in copy o)
        view_corner = rules.view_ahead * side + rules.view_side
        self._window_start = self._turned_cell - view_corner + np.arange(4)[:, None] * side * side  # (4, S - 1)
        # per env, where its four copies begin, and the offsets of a window's h rows: (B, 1, h)
        self._window_rows = (np.arange(B, dtype=np.int64) * self._env_cells)[:, None, None] + np.arange(h) * side
        self._views: dict[str, dict[str, Any]] = {}  # per kind, built on demand
        # the code of an apple cell / a river cell without and with its apple / waste
        self._apple_values = np.array([EMPTY, APPLE], dtype=np.uint8)
        self._river_values = np.array([RIVER, WASTE], dtype=np.uint8)
        self._batch_index = np.arange(B)[:, None]
        self._index = np.arange(N)
        # tie-break part of the movement priority key: a lower index wins ties
        self._tiebreak = (N - 1 - self._index).astype(np.int64)
        self._held_key = np.int64(2**31 * N)  # above every key
        # beam blockers of every env's grid: bit 2 on walls (permanent), bit 1 on agents that
        # stop the penalty beam (set and cleared within :meth:`_fire`)
        self._blockers = np.tile(np.where(self.wall, np.uint8(2), np.uint8(0)), B)
        # per flat cell of every env, its index into the (B, M + 1) padded waste array (M: none)
        self._river_of = (np.arange(B, dtype=np.int64)[:, None] * (M + 1) + self.cell_to_river[None, :]).ravel()
        if game == "cleanup":
            # waste and apple probabilities as tables of the number of clean river cells: the same
            # element-wise float arithmetic as the rule functions, looked up instead of recomputed
            n = np.arange(M + 1)
            self._waste_p_table = waste_spawn_probability(
                1.0 - n / M, n, rules.waste_spawn_delay, mode=rules.waste_spawn, spawn_prob=rules.waste_spawn_prob,
                depletion_threshold=rules.depletion_threshold, delay=rules.waste_spawn_delay)
            # growth compares a float32 uniform with a float64 probability: ``u < p`` holds exactly
            # when ``u`` is below the smallest float32 that is >= p, so compare in float32
            apple_p = self._apple_probability(1.0 - n / M)
            threshold = apple_p.astype(np.float32)
            low = threshold.astype(np.float64) < apple_p
            threshold[low] = np.nextafter(threshold[low], np.float32(np.inf))
            self._apple_threshold = threshold
        # when every env is at the same place in its block of uniforms (always, unless envs were
        # reset one by one), that place is one number and ``_cursor`` is not kept up to date
        self._aligned = False
        self._block_cursor = RNG_BLOCK
        self._was_reset = False

    def __getstate__(self) -> dict[str, Any]:
        # the turned maps and their window views are a cache of the state: rebuilt after loading
        state = dict(self.__dict__)
        state["_views"], state["_pixel_at"] = {}, None
        return state

    @property
    def apples(self) -> np.ndarray:
        """``(B, K)`` bool: which apple cells hold an apple (a view; assigning copies into it)."""
        return self._apples_store[:, :-1]

    @apples.setter
    def apples(self, value: np.ndarray) -> None:
        self._apples_store[:, :-1] = value

    @property
    def apple_timer(self) -> np.ndarray:
        """``(B, K)`` int: steps until an eaten apple returns (Gathering's timer regrowth)."""
        return self._timer_store[:, :-1]

    @apple_timer.setter
    def apple_timer(self, value: np.ndarray) -> None:
        self._timer_store[:, :-1] = value

    @property
    def waste(self) -> np.ndarray:
        """``(B, M)`` bool: which river cells are polluted (a view; assigning copies into it)."""
        return self._waste_store[:, :-1]

    @waste.setter
    def waste(self, value: np.ndarray) -> None:
        self._waste_store[:, :-1] = value

    # -- geometry -------------------------------------------------------------------------------

    def _rectangle(self, length: int, half_width: int) -> np.ndarray:
        """Flat offsets ``(4, length, 2 * half_width + 1)`` of a beam, per orientation."""
        ahead = np.arange(1, length + 1)[:, None]
        lateral = np.arange(-half_width, half_width + 1)[None, :]
        f, r = self._forward_flat[:, None, None], self._right_flat[:, None, None]
        return ahead[None] * f + lateral[None] * r

    def cell_of(self, flat_cells: np.ndarray) -> np.ndarray:
        """``(row, col)`` on the unpadded map of flat padded cells (shape ``(..., 2)``)."""
        flat_cells = np.asarray(flat_cells)
        return np.stack([flat_cells // self.padded_width - self.pad, flat_cells % self.padded_width - self.pad], -1)

    def flat_of(self, row: np.ndarray | int, col: np.ndarray | int) -> np.ndarray:
        return (np.asarray(row) + self.pad) * self.padded_width + np.asarray(col) + self.pad

    # -- reset ----------------------------------------------------------------------------------

    def reset(self, seeds: Sequence[Any] | None = None, env_ids: Sequence[int] | None = None) -> None:
        """Reset environments ``env_ids`` (default: all) with one seed each (``None``: fresh entropy)."""
        ids = list(range(self.batch_size)) if env_ids is None else [int(i) for i in env_ids]
        if seeds is None:
            seeds = [None] * len(ids)
        seeds = list(seeds)
        if len(seeds) != len(ids):
            raise ValueError(f"seeds must hold one seed per environment reset ({len(ids)}), got {len(seeds)}")
        m, rules, N = self.map, self.rules, self.n_agents
        n_spawns = len(self.spawn_flat)
        if self._aligned:
            self._cursor[:] = self._block_cursor
            self._aligned = False
        for b, seed in zip(ids, seeds):
            generator = np.random.default_rng(seed)
            self._generators[b] = generator
            self.seeds[b] = seed
            order = np.argsort(generator.random(n_spawns), kind="stable")
            spawn = np.resize(order, N)  # more agents than spawns only when they may overlap
            self.position[b] = self.spawn_flat[spawn]
            self.orientation[b] = generator.integers(0, 4, N)
            if isinstance(rules.episode_length, tuple):
                low, high = rules.episode_length
                self.episode_length[b] = generator.integers(low, high + 1)
            else:
                self.episode_length[b] = rules.episode_length
            self._uniforms[b] = generator.random((RNG_BLOCK, self.draws_per_step), dtype=np.float32)
            self._cursor[b] = 0
        idx = np.asarray(ids, dtype=np.int64)
        self.removed_steps[idx] = 0
        self.hit_count[idx] = 0
        self.fire_cooldown[idx] = 0
        self.clean_cooldown[idx] = 0
        self.on_map[idx] = True
        self.apples[idx] = rules.orchard_full_at_start
        self.apple_timer[idx] = 0
        self.waste[idx] = m.polluted_at_start[None, :] if self.game == "cleanup" else False
        self.step_count[idx] = 0
        for array in (self.last_rewards, self.last_collected, self.last_fired, self.last_cleaned, self.last_hits,
                      self.last_tagged):
            array[idx] = 0
        if np.all(self._cursor == self._cursor[0]):
            self._aligned, self._block_cursor = True, int(self._cursor[0])
        self._was_reset = True

    def _draw(self) -> np.ndarray:
        """This step's uniforms, ``(B, draws_per_step)``; refills exhausted blocks per env."""
        if self._aligned:
            at = self._block_cursor
            if at >= RNG_BLOCK:  # once every RNG_BLOCK steps, one call per environment
                for generator, block in zip(self._generators, self._uniforms):
                    generator.random(out=block, dtype=np.float32)
                at = 0
            self._block_cursor = at + 1
            return self._uniforms[:, at]
        empty = np.flatnonzero(self._cursor >= RNG_BLOCK)
        for b in empty:  # once every RNG_BLOCK steps, one call per environment
            self._generators[b].random(out=self._uniforms[b], dtype=np.float32)
            self._cursor[b] = 0
        cursor = self._cursor
        if cursor.min() == cursor.max():
            draws = self._uniforms[:, cursor[0]]
        else:
            draws = self._uniforms[np.arange(self.batch_size), cursor]
        self._cursor += 1
        return draws

    # -- step -----------------------------------------------------------------------------------

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance all B environments; returns ``(rewards (B, N), dones (B,))``.

        Environments that are already done are advanced too (the caller resets them); their
        ``dones`` stay True.
        """
        if not self._was_reset:
            raise RuntimeError("call reset() before step()")
        B, N, K = self.batch_size, self.n_agents, self.n_apple_cells
        rules = self.rules
        a = np.asarray(actions)
        if a.shape != (B, N) or a.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array of shape ({B}, {N}), got {a.dtype} {a.shape}")
        a = a.astype(np.int64, copy=False)
        # negative actions (and uint64 ones past int64) read as huge unsigned values: one
        # reduction checks both bounds
        if a.size and a.view(np.uint64).max() >= self.n_actions:
            raise ValueError(f"actions must be in 0..{self.n_actions - 1} ({', '.join(self.actions)})")
        u = self._draw()
        priority = u[:, :N]
        respawn_u = u[:, N : 2 * N]
        waste_u = u[:, 2 * N : 2 * N + 2]
        apple_u = u[:, 2 * N + 2 :]
        # agent j beats agent i in a tie-break when key[j] > key[i]: the higher priority, then the
        # lower index (uniforms in [0, 1) order like the integers of their float32 bits)
        key = priority.view(np.int32).astype(np.int64) * N + self._tiebreak
        rewards = np.zeros((B, N))

        # 1. timers (while nobody is removed, a cooldown rule is 0 and no cooldown runs, they
        # change nothing and are skipped)
        removed_before = self.removed_steps
        if removed_before.any():
            self.removed_steps = np.maximum(removed_before - 1, 0)
            active = self.removed_steps == 0
            returning = active & (removed_before > 0) & ~self.on_map
            any_returning = bool(returning.any())
            acting = active & ~returning if any_returning else active
        else:
            active = np.ones((B, N), dtype=bool)
            returning, any_returning, acting = None, False, active
        fire_cooling = rules.fire_cooldown > 0 or self.fire_cooldown.any()
        if fire_cooling:
            np.maximum(self.fire_cooldown - 1, 0, out=self.fire_cooldown)
        clean_cooling = self.game == "cleanup" and (rules.clean_cooldown > 0 or self.clean_cooldown.any())
        if clean_cooling:
            np.maximum(self.clean_cooldown - 1, 0, out=self.clean_cooldown)

        # 2. turns and moves (a move that is not made keeps its agent's cell as its target)
        self.orientation = (self.orientation + self._turn[a] * acting) & 3
        moving = acting & self._is_move[a]
        target = self.position + self._move_delta[self.orientation, a] * moving
        moving &= ~self.wall[target]
        if rules.agents_overlap:
            self.position = np.where(moving, target, self.position)
            if any_returning:
                self.on_map |= returning
        else:
            claiming = moving
            if any_returning:
                spawn_pick = np.minimum((respawn_u * len(self.spawn_flat)).astype(np.int64), len(self.spawn_flat) - 1)
                target = np.where(returning, self.spawn_flat[spawn_pick], target)
                claiming = moving | returning
            # A claim fails when its cell was held at the start of the step or a claimer with a
            # higher key wants it: on the scratch grid, held cells get a key above all keys, each
            # claimed cell the highest key of its claimers, and a claim succeeds when that is its
            # own. (A claimer's target is never its own cell: moves change it, returning agents
            # hold none.)
            scratch = self._scratch
            holding = self.on_map & ~returning if any_returning else self.on_map
            held = self._batch_offset + np.where(holding, self.position, self.sentinel)
            claimed = self._batch_offset + target
            scratch[held] = self._held_key
            np.maximum.at(scratch, claimed, np.where(claiming, key, -1))
            success = claiming & (scratch[claimed] <= key)
            scratch[held] = 0
            scratch[claimed] = 0
            self.position = np.where(success, target, self.position)
            if any_returning:
                self.on_map |= returning & success
                failed_return = returning & ~success
                if failed_return.any():
                    self.removed_steps[failed_return] = 1  # try again next step
                    active &= ~failed_return

        # 3. beams
        fired = acting & (a == FIRE)
        if fire_cooling:
            fired &= self.fire_cooldown == 0
        hits = None
        tagged_now = None  # agents tagged in this step, when any
        at = self._batch_offset + self.position  # each agent's cell in the batched flat grid
        if fired.any():
            hits = self._fire(fired, active, at)
            if rules.fire_cost:  # x - 0.0 == x: skipping a zero cost changes no reward
                rewards -= rules.fire_cost * fired
            if rules.hit_penalty:
                rewards -= rules.hit_penalty * hits
            if rules.fire_cooldown:
                self.fire_cooldown[fired] = rules.fire_cooldown
            if rules.hits_to_tag > 0:
                self.hit_count += hits
                tagged = (hits > 0) & (self.hit_count >= rules.hits_to_tag)
                if tagged.any():
                    tagged_now = tagged
                    self.removed_steps[tagged_now] = rules.tag_steps
                    self.hit_count[tagged_now] = 0
                    if not rules.tagged_stay_on_map:
                        self.on_map &= ~tagged_now
        if hits is None:
            hits = np.zeros((B, N), dtype=np.int64)
        cleaned = np.zeros((B, N), dtype=bool)
        if self.game == "cleanup":
            cleaned = acting & (a == CLEAN)
            if clean_cooling:
                cleaned &= self.clean_cooldown == 0
            if cleaned.any():
                self._clean(cleaned, at)
                if rules.clean_cost:
                    rewards -= rules.clean_cost * cleaned
                if rules.clean_cooldown:
                    self.clean_cooldown[cleaned] = rules.clean_cooldown

        # 4-5. waste and apples
        apple_of_agent = self.cell_to_apple[self.position]  # K: not on an apple cell
        apples = self.apples
        if rules.grow_under_agents:
            free = ~apples
        else:
            under_agent = np.zeros((B, K + 1), dtype=bool)
            under_agent.ravel()[self._apple_row + np.where(self.on_map, apple_of_agent, K)] = True
            free = ~(apples | under_agent[:, :K])
        if self.game == "cleanup":
            n_clean = self._spawn_waste(waste_u)
            # apple_u < _apple_probability(1 - n_clean / M), compared in float32
            apples |= free & (apple_u < self._apple_threshold[n_clean][:, None])
        elif rules.regrowth == "timer":
            timer = self.apple_timer
            np.maximum(timer - 1, 0, out=timer)
            apples |= free & (timer == 0)
        else:
            # live neighbours of every apple cell: one gather of all offsets from the apples laid
            # out cell-major, so that each index copies the B envs' bytes at once (column K: none)
            by_cell = np.ascontiguousarray(self._apples_store.view(np.uint8).T)  # (K + 1, B)
            alive = np.take(by_cell, self._neighbours_flat, axis=0)  # (offsets * K, B)
            neighbours = alive.reshape(len(self._neighbours), K, B).sum(0, dtype=np.uint8).T
            apples |= free & (apple_u < np.take(self._regrowth_table, neighbours))

        # 6. collection
        collectors = active & self.on_map
        if tagged_now is not None:
            collectors &= ~tagged_now
        apple_index = np.where(collectors, apple_of_agent, K)
        where = self._apple_row + apple_index  # into the flat apple store
        can = np.take(self._apples_store, where)
        if rules.agents_overlap:  # of several agents on one apple, the highest key collects it
            scratch = self._scratch
            np.maximum.at(scratch, where, np.where(can, key, -1))
            can &= scratch[where] <= key
            scratch[where] = 0
        eaten = where[can]
        self._apples_store.ravel()[eaten] = False
        if rules.regrowth == "timer" and self.game == "gathering":
            self._timer_store.ravel()[eaten] = rules.regrowth_delay
        rewards += can

        # 7. time
        self.step_count += 1
        self.last_rewards = rewards
        self.last_collected = can.astype(np.int64)
        self.last_fired, self.last_cleaned, self.last_hits = fired, cleaned, hits
        self.last_tagged = self.removed_steps > 0
        return rewards, self.step_count >= self.episode_length

    def _beam(self, firing: np.ndarray, offsets: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Cells of the firing agents' beams in the batched flat grid ``(F, length, width)``;
        ``at``: every agent's cell in that grid ``(B, N)``."""
        which = np.flatnonzero(firing)
        return np.take(at, which)[:, None, None] + np.take(offsets, np.take(self.orientation, which), axis=0)

    def _fire(self, fired: np.ndarray, targets: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Hits each agent takes this step from the penalty beams of ``fired`` agents.

        Along a ray (axis 1) a cell is reached when it is no wall and no earlier cell is a wall
        or (``fire_stops_at_agent``) an agent that can be hit; with ``fire_shape="area"`` every
        cell that is no wall is reached.
        """
        rules = self.rules
        cells = self._beam(fired, self._fire_offsets, at)
        blockers = self._blockers
        hittable = targets & self.on_map
        target_flat = at[hittable]
        stops = rules.fire_shape == "rays" and rules.fire_stops_at_agent
        if stops:
            blockers[target_flat] |= 1
        seen = blockers[cells]
        reach = seen < 2  # not a wall
        if rules.fire_shape == "rays":  # ... and nothing before it on the ray: its running sum is its own
            reach &= np.cumsum(seen, axis=1, dtype=np.uint16) == seen
        if stops:
            blockers[target_flat] &= 2
        present = self._scratch
        marked = cells[reach]
        np.add.at(present, marked, 1)
        hits = np.zeros(self.position.shape, dtype=np.int64)
        hits[hittable] = present[target_flat]
        present[marked] = 0
        return hits

    def _clean(self, cleaned: np.ndarray, at: np.ndarray) -> None:
        """Clear the waste that the clean beams of ``cleaned`` agents reach (rays stop at walls
        and, with ``clean_first_waste_only``, after the first waste)."""
        rules = self.rules
        cells = self._beam(cleaned, self._clean_offsets, at)
        river = self._river_of[cells]
        waste = self._waste_store.ravel()  # column M: not a river cell, never polluted
        polluted = waste[river]
        if rules.clean_shape == "area":
            hit = polluted  # river cells are never walls
        else:
            # blockers on the ray: walls (2; no agents are marked outside _fire) and, with
            # clean_first_waste_only, waste (1; never on a wall); a cell is reached when the
            # running sum of blockers before it is 0
            stop = self._blockers[cells]
            if rules.clean_first_waste_only:
                stop = stop + polluted
            hit = polluted & (np.cumsum(stop, axis=1, dtype=np.uint16) == stop)
        waste[river[hit]] = False

    def waste_density(self) -> np.ndarray:
        """Polluted river cells / river cells, per environment (zeros in Gathering)."""
        if self.n_river_cells == 0:
            return np.zeros(self.batch_size)
        return self.waste.sum(1) / self.n_river_cells

    def _apple_probability(self, density: np.ndarray) -> np.ndarray:
        r = self.rules
        return apple_spawn_probability(density, respawn_prob=r.apple_respawn_prob,
                                       depletion_threshold=r.depletion_threshold,
                                       restoration_threshold=r.restoration_threshold)

    def _spawn_waste(self, waste_u: np.ndarray) -> np.ndarray:
        """Maybe pollute one clean river cell per env; returns the clean river cells afterwards.

        Env ``b`` spawns when ``waste_u[b, 0]`` is below :func:`.rules.waste_spawn_probability`
        and then pollutes its clean cell of rank ``k = floor(waste_u[b, 1] * clean_cells)``
        (in river-cell order), found in the list of all envs' clean cells at the offset where
        env ``b``'s begin.
        """
        M, store = self.n_river_cells, self._waste_store
        n_clean = M - store.sum(1)  # the store's extra column is never polluted
        p = self._waste_p_table[n_clean]
        if self.rules.waste_spawn_delay > 0:
            p = np.where(self.step_count >= self.rules.waste_spawn_delay, p, 0.0)
        envs = np.flatnonzero(waste_u[:, 0] < p)
        if envs.size:
            n = n_clean[envs]
            k = np.minimum((waste_u[envs, 1] * n).astype(np.int64), np.maximum(n - 1, 0))
            # every clean cell of the store, env-major: env b's n_clean[b] river cells in river
            # order, then its extra column
            clean = np.flatnonzero(~store)
            first = np.cumsum(n_clean + 1) - (n_clean + 1)  # where each env's clean cells begin
            store.ravel()[clean[first[envs] + k]] = True
            n_clean[envs] -= 1
        return n_clean

    # -- views ----------------------------------------------------------------------------------

    def _terrain(self) -> np.ndarray:
        """The padded map as cell codes ``(B, stride)`` without agents (a new array)."""
        terrain = np.repeat(self.base_codes[None, :], self.batch_size, axis=0)
        terrain[:, self.apple_flat] = self.apples * np.uint8(APPLE)
        if self.n_river_cells:
            terrain[:, self.river_flat] = RIVER + self.waste.view(np.uint8)
        return terrain

    def _agent_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """Where each agent shows in the batched flat grid (the env's sentinel when off the map)
        and its code there (absolute orientation, or tagged): two ``(B, N)`` arrays."""
        cell = self._batch_offset + np.where(self.on_map, self.position, self.sentinel)
        code = np.where(self.removed_steps == 0, AGENT_UP + self.orientation, TAGGED).astype(np.uint8)
        return cell, code

    def codes(self) -> np.ndarray:
        """The padded map as cell codes ``(B, stride)``; agents by absolute orientation."""
        codes = self._codes
        codes[:] = self._terrain()
        cell, code = self._agent_codes()
        codes.ravel()[cell] = code  # in index order: the last agent on a cell shows
        return codes

    def _turned_maps(self, kind: str) -> np.ndarray:
        """Every env's map turned four ways in ``kind``'s values, brought up to date.

        Each env keeps, per viewer orientation ``o``, its padded map turned ``o`` quarter turns
        counter-clockwise and already coloured as a viewer facing ``o`` sees it (RGB bytes for
        ``"rgb"``, relative cell codes for ``"symbolic"``): a buffer of ``B`` blocks of four
        ``(side, side, channels)`` copies, allocated once. Only cells whose code may have
        changed since the last call are rewritten, in all four copies at once: found by
        comparing the state (apples, waste, each agent's cell and code) with the state last
        shown, not by rebuilding the map. Returns a strided view ``(starts,)`` of
        ``w * channels``-byte rows of that buffer in which entry ``i`` is the window row that
        starts at pixel ``i``.
        """
        if kind == "rgb":
            lut = self._rgb_lut  # (4 * N_CODES, 3)
        elif kind == "symbolic":
            lut = self._symbolic_lut[:, None]  # (4 * N_CODES, 1)
        else:
            raise ValueError(f"kind must be 'rgb' or 'symbolic', got {kind!r}")
        view = self._views.get(kind)
        if view is None:
            B, channels = self.batch_size, lut.shape[1]
            row_bytes = self.view_shape[1] * channels
            turned = np.zeros(B * self._env_cells * channels + row_bytes, dtype=np.uint8)  # slack for the last row
            rows = np.lib.stride_tricks.as_strided(turned[:row_bytes].view(np.dtype((np.void, row_bytes))),
                                                   shape=(B * self._env_cells,), strides=(channels,),
                                                   writeable=False)
            terrain = self._terrain().ravel()
            cell, code = self._agent_codes()
            pixel = np.dtype((np.void, channels))  # one cell's bytes, copied as one item
            view = {
                "turned": turned, "rows": rows, "pixels": turned[:B * self._env_cells * channels].view(pixel),
                # per code, its pixel in each of the four copies (N_CODES, 4)
                "colours": np.ascontiguousarray(lut.reshape(4, N_CODES, channels).transpose(1, 0, 2)).view(pixel)[..., 0],
                # what the copies show: codes without and with agents, and the state they show
                "terrain": terrain, "codes": terrain.copy(), "apples": self._apples_store.copy(),
                "waste": self._waste_store.copy(), "cell": cell, "code": code,
            }
            view["codes"][cell] = code
            self._views[kind] = view
            self._rewrite(view, np.arange(B * self.stride))
            return rows
        terrain, codes = view["terrain"], view["codes"]
        changed = []
        for now, name, cells, values in ((self._apples_store, "apples", self._apple_at, self._apple_values),
                                         (self._waste_store, "waste", self._river_at, self._river_values)):
            diff = now != view[name]
            if diff.any():
                where = cells[diff]
                terrain[where] = codes[where] = values[now[diff].view(np.uint8)]
                view[name][...] = now
                changed.append(where)
        cell, code = self._agent_codes()
        moved = (cell != view["cell"]) | (code != view["code"])
        if moved.any():
            before = view["cell"][moved]
            codes[before] = terrain[before]
            changed += [before, cell[moved]]
            view["cell"], view["code"] = cell, code
        if changed:
            codes[cell] = code  # in index order: the last agent on a cell shows
            self._rewrite(view, np.concatenate(changed))
        return view["rows"]

    def _rewrite(self, view: dict[str, Any], where: np.ndarray) -> None:
        """Write the codes of batched flat cells ``where`` into all four turned copies."""
        if self._pixel_at is None:
            env_start = np.arange(self.batch_size, dtype=np.int64)[:, None, None] * self._env_cells
            self._pixel_at = (env_start + self._turned_at[None]).reshape(-1, 4)
        at = np.take(self._pixel_at, where, axis=0)  # (n, 4) pixels
        view["pixels"][at] = np.take(view["colours"], view["codes"][where], axis=0)

    def observe(self, kind: str = "rgb") -> np.ndarray:
        """Egocentric windows of every agent: ``(B, N, h, w, 3)`` RGB or ``(B, N, h, w)`` codes.

        Every env keeps four turned, pre-coloured copies of its map (:meth:`_turned_maps`,
        rewritten only where a cell changed), so an agent's window is a plain rectangle of the
        copy that faces its way: ``h`` rows of ``w`` cells, each row contiguous. All B x N x h
        rows are gathered by one fancy index of a strided view whose items are whole rows
        (numpy copies each as one block of bytes; no per-agent Python, no per-cell index
        arithmetic or colour lookup) into a new C-contiguous array; then the centre cell
        becomes the viewer itself.
        """
        rows = self._turned_maps(kind)
        B, N = self.position.shape
        h, w = self.view_shape
        start = self._window_start[self.orientation, self.position]  # (B, N)
        window = rows[start[:, :, None] + self._window_rows].view(np.uint8)  # (B, N, h * w * channels)
        ahead, side = self.rules.view_ahead, self.rules.view_side
        if kind == "rgb":
            window = window.reshape(B, N, h, w, 3)
            window[:, :, ahead, side] = PALETTE[SELF]
            return window
        window = window.reshape(B, N, h, w)
        window[:, :, ahead, side] = SELF
        return window

    def observe_by_offsets(self, kind: str = "rgb") -> np.ndarray:
        """The same windows as :meth:`observe`, gathered cell by cell (a slower reference)."""
        codes = self.codes().ravel()
        h, w = self.view_shape
        index = (self._batch_offset + self.position)[:, :, None] + self._view_offsets[self.orientation]
        window = np.take(codes, index)
        window[:, :, self._self_cell] = SELF
        lut_index = window + (self.orientation * N_CODES)[:, :, None].astype(np.uint8)
        B, N = self.position.shape
        if kind == "rgb":
            return np.take(self._rgb_lut, lut_index, axis=0).reshape(B, N, h, w, 3)
        return np.take(self._symbolic_lut, lut_index).reshape(B, N, h, w)

    def global_codes(self, env: int = 0) -> np.ndarray:
        """The unpadded map of env ``env`` as codes ``(H, W)``, agents by absolute orientation."""
        return self.codes()[env, self.interior_flat].reshape(self.map.height, self.map.width)

    def render_rgb(self, env: int = 0, cell_size: int = 8) -> np.ndarray:
        """The whole map of env ``env`` as an RGB image; each agent in its own colour."""
        codes = self.global_codes(env)
        image = PALETTE[codes]
        for_agents = np.flatnonzero(self.on_map[env])
        rc = self.cell_of(self.position[env, for_agents])
        colours = AGENT_COLOURS[for_agents % len(AGENT_COLOURS)]
        tagged = self.removed_steps[env, for_agents] > 0
        colours = np.where(tagged[:, None], PALETTE[TAGGED], colours)
        image[rc[:, 0], rc[:, 1]] = colours
        return np.repeat(np.repeat(image, cell_size, axis=0), cell_size, axis=1)


class VectorGridworld:
    """B environments of one grid world for training: arrays in, arrays out.

    ``reset(seeds)`` -> observations; ``step(actions (B, N) int)`` ->
    ``StepResult(rewards (B, N), dones (B,), observations)`` (unpackable as a triple).
    ``observation``: ``"rgb"`` (``(B, N, h, w, 3)`` uint8), ``"symbolic"`` (``(B, N, h, w)``)
    or ``None``. With ``autoreset=True`` environments that finish are reset at once with a
    seed drawn from their own generator (deterministic), and the observations returned for
    them are the first of the new episode. :meth:`last_step_info` gives the per-agent flags of
    the step just taken (tagging for the peace metric, beams, apples).
    """

    def __init__(
        self,
        game: str,
        batch_size: int,
        n_agents: int = 10,
        rules: str | GridRules = "ssd",
        grid_map: str | GridMap | None = None,
        observation: str | None = "rgb",
        autoreset: bool = False,
        rule_overrides: dict[str, Any] | None = None,
    ):
        if observation not in ("rgb", "symbolic", None):
            raise ValueError(f"observation must be 'rgb', 'symbolic' or None, got {observation!r}")
        resolved = get_rules(game, rules, rule_overrides)
        default_map = "cleanup" if game == "cleanup" else "harvest"
        self.core = GridCore(game, grid_map if grid_map is not None else default_map, resolved, n_agents, batch_size)
        self.observation = observation
        self.autoreset = autoreset
        self.actions = self.core.actions

    @property
    def batch_size(self) -> int:
        return self.core.batch_size

    @property
    def n_agents(self) -> int:
        return self.core.n_agents

    def reset(self, seeds: Sequence[Any] | None = None) -> np.ndarray | None:
        self.core.reset(seeds)
        return self.core.observe(self.observation) if self.observation else None

    def last_step_info(self) -> dict[str, np.ndarray]:
        """Per-agent arrays ``(B, N)`` of the last step (``collected``, ``fired``, ``cleaned``,
        ``hits_taken``, ``tagged``) and ``waste_density`` ``(B,)``: what the social outcome
        metrics (:mod:`.metrics`) and records need besides rewards."""
        core = self.core
        return {
            "collected": core.last_collected.copy(),
            "fired": core.last_fired.copy(),
            "cleaned": core.last_cleaned.copy(),
            "hits_taken": core.last_hits.copy(),
            "tagged": core.last_tagged.copy(),
            "waste_density": core.waste_density(),
        }

    def step(self, actions: np.ndarray) -> StepResult:
        rewards, dones = self.core.step(actions)
        dones = dones.copy()
        if self.autoreset and dones.any():
            done_ids = np.flatnonzero(dones)
            seeds = [int(self.core._generators[b].integers(2**63)) for b in done_ids]
            self.core.reset(seeds, done_ids)
        observations = self.core.observe(self.observation) if self.observation else None
        return StepResult(rewards, dones, observations)
