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
map. Apples and waste are kept compactly, one column per apple cell / river cell. Egocentric
windows are row copies out of four turned, pre-coloured copies of each map that are rewritten
only where a cell changed (:meth:`GridCore.observe`); collisions and beam hits are resolved with pairwise
(B, N, N) comparisons and ``np.add.at`` on a scratch grid.

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
        self.apples = np.zeros((B, K), dtype=bool)
        self.apple_timer = np.zeros((B, K), dtype=np.int64)
        self.waste = np.zeros((B, M), dtype=bool)
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
        # the same per cell, offset to copy o of the env's four: (S - 1, 4)
        self._turned_at = np.ascontiguousarray((self._turned_cell + np.arange(4)[:, None] * side * side).T)
        self._views: dict[str, tuple[np.ndarray, ...]] = {}  # per kind, built on demand
        self._batch_index = np.arange(B)[:, None]
        self._eye = np.eye(N, dtype=bool)
        self._index = np.arange(N)
        self._was_reset = False

    def __getstate__(self) -> dict[str, Any]:
        # the turned maps and their window views are a cache of the state: rebuilt after loading
        state = dict(self.__dict__)
        state["_views"] = {}
        return state

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
        self._was_reset = True

    def _draw(self) -> np.ndarray:
        """This step's uniforms, ``(B, draws_per_step)``; refills exhausted blocks per env."""
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
        B, N, K, M, S = self.batch_size, self.n_agents, self.n_apple_cells, self.n_river_cells, self.stride
        rules = self.rules
        a = np.asarray(actions)
        if a.shape != (B, N) or a.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array of shape ({B}, {N}), got {a.dtype} {a.shape}")
        if a.size and (a.min() < 0 or a.max() >= self.n_actions):
            raise ValueError(f"actions must be in 0..{self.n_actions - 1} ({', '.join(self.actions)})")
        a = a.astype(np.int64, copy=False)
        u = self._draw()
        priority = u[:, :N]
        respawn_u = u[:, N : 2 * N]
        waste_u = u[:, 2 * N : 2 * N + 2]
        apple_u = u[:, 2 * N + 2 :]
        # beats[b, i, j]: agent j wins a tie-break against agent i
        beats = (priority[:, None, :] > priority[:, :, None]) | (
            (priority[:, None, :] == priority[:, :, None]) & (self._index[None, :] < self._index[:, None])[None]
        )
        rewards = np.zeros((B, N))

        # 1. timers
        removed_before = self.removed_steps
        self.removed_steps = np.maximum(removed_before - 1, 0)
        active = self.removed_steps == 0
        returning = active & (removed_before > 0) & ~self.on_map
        acting = active & ~returning
        np.maximum(self.fire_cooldown - 1, 0, out=self.fire_cooldown)
        np.maximum(self.clean_cooldown - 1, 0, out=self.clean_cooldown)

        # 2. turns and moves
        self.orientation = (self.orientation + self._turn[a] * acting) % 4
        moving = acting & self._is_move[a]
        target = self.position + self._move_delta[self.orientation, a] * moving
        moving &= ~self.wall[target]
        if rules.agents_overlap:
            self.position = np.where(moving, target, self.position)
            if returning.any():
                self.on_map |= returning
        else:
            spawn_pick = np.minimum((respawn_u * len(self.spawn_flat)).astype(np.int64), len(self.spawn_flat) - 1)
            target = np.where(returning, self.spawn_flat[spawn_pick], np.where(moving, target, self.position))
            claiming = moving | returning
            occupant = self.on_map & ~returning  # cells held at the start of the step
            occupied = ((target[:, :, None] == self.position[:, None, :]) & occupant[:, None, :] & ~self._eye).any(-1)
            contested = ((target[:, :, None] == target[:, None, :]) & claiming[:, None, :] & beats).any(-1)
            success = claiming & ~occupied & ~contested
            self.position = np.where(success, target, self.position)
            self.on_map |= returning & success
            failed_return = returning & ~success
            if failed_return.any():
                self.removed_steps[failed_return] = 1  # try again next step
                active &= ~failed_return

        # 3. beams
        fired = acting & (a == FIRE) & (self.fire_cooldown == 0)
        hits = np.zeros((B, N), dtype=np.int64)
        tagged_now = np.zeros((B, N), dtype=bool)
        if fired.any():
            hits = self._fire(fired, active)
            rewards -= rules.fire_cost * fired
            rewards -= rules.hit_penalty * hits
            self.fire_cooldown[fired] = rules.fire_cooldown
            if rules.hits_to_tag > 0:
                self.hit_count += hits
                tagged_now = (hits > 0) & (self.hit_count >= rules.hits_to_tag)
                if tagged_now.any():
                    self.removed_steps[tagged_now] = rules.tag_steps
                    self.hit_count[tagged_now] = 0
                    if not rules.tagged_stay_on_map:
                        self.on_map &= ~tagged_now
        cleaned = np.zeros((B, N), dtype=bool)
        if self.game == "cleanup":
            cleaned = acting & (a == CLEAN) & (self.clean_cooldown == 0)
            if cleaned.any():
                self._clean(cleaned)
                rewards -= rules.clean_cost * cleaned
                self.clean_cooldown[cleaned] = rules.clean_cooldown

        # 4-5. waste and apples
        on_map_apple = np.where(self.on_map, self.cell_to_apple[self.position], K)
        under_agent = np.zeros((B, K + 1), dtype=bool)
        under_agent[np.arange(B)[:, None], on_map_apple] = True
        free = ~self.apples if rules.grow_under_agents else ~self.apples & ~under_agent[:, :K]
        if self.game == "cleanup":
            density = self._spawn_waste(waste_u)
            p = self._apple_probability(density)
            self.apples |= free & (apple_u < p[:, None])
        elif rules.regrowth == "timer":
            np.maximum(self.apple_timer - 1, 0, out=self.apple_timer)
            self.apples |= free & (self.apple_timer == 0)
        else:
            alive = np.concatenate([self.apples, np.zeros((B, 1), dtype=bool)], axis=1).view(np.uint8)
            neighbours = np.zeros((B, K), dtype=np.uint8)
            for offset in self._neighbours:  # 8 or 12 neighbourhood offsets, each a (B, K) gather
                neighbours += alive[:, offset]
            table = np.asarray(rules.regrowth_probs, dtype=np.float32)
            p = table[np.minimum(neighbours, len(table) - 1)]
            self.apples |= free & (apple_u < p)

        # 6. collection
        collectors = active & self.on_map & ~tagged_now
        apple_index = np.where(collectors, self.cell_to_apple[self.position], K)
        alive = np.concatenate([self.apples, np.zeros((B, 1), dtype=bool)], axis=1)
        rows = np.arange(B)[:, None]
        can = alive[rows, apple_index]
        if rules.agents_overlap:
            rival = (apple_index[:, :, None] == apple_index[:, None, :]) & can[:, None, :] & beats
            can &= ~rival.any(-1)
        eaten = np.where(can, apple_index, K)
        alive[rows, eaten] = False
        self.apples = alive[:, :K]
        if rules.regrowth == "timer" and self.game == "gathering":
            timer = np.concatenate([self.apple_timer, np.zeros((B, 1), dtype=np.int64)], axis=1)
            timer[rows, eaten] = rules.regrowth_delay
            self.apple_timer = timer[:, :K]
        rewards += can

        # 7. time
        self.step_count += 1
        self.last_rewards = rewards
        self.last_collected = can.astype(np.int64)
        self.last_fired, self.last_cleaned, self.last_hits = fired, cleaned, hits
        self.last_tagged = self.removed_steps > 0
        return rewards, self.step_count >= self.episode_length

    def _beam(self, firing: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cells of the firing agents' beams: ``(env, cells (F, L, W) flat, before_wall (F, L, W))``."""
        env, agent = np.nonzero(firing)
        cells = self.position[env, agent][:, None, None] + offsets[self.orientation[env, agent]]
        wall = self.wall[cells]
        return env, cells, wall

    @staticmethod
    def _before_first(mask: np.ndarray, inclusive: bool) -> np.ndarray:
        """Along each ray (axis 1): True up to the first True of ``mask`` (that cell included or not)."""
        seen = np.logical_or.accumulate(mask, axis=1)
        if inclusive:
            seen = np.concatenate([np.zeros_like(seen[:, :1]), seen[:, :-1]], axis=1)
        return ~seen

    def _fire(self, fired: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Hits each agent takes this step from the penalty beams of ``fired`` agents."""
        rules, S = self.rules, self.stride
        env, cells, wall = self._beam(fired, self._fire_offsets)
        reach = ~wall if rules.fire_shape == "area" else self._before_first(wall, inclusive=False)
        present = self._scratch
        target_flat = (self._batch_offset + self.position)[targets & self.on_map]
        global_cells = env[:, None, None] * S + cells
        if rules.fire_shape == "rays" and rules.fire_stops_at_agent:
            present[target_flat] = 1
            occupied = present[global_cells] > 0
            present[target_flat] = 0
            reach &= self._before_first(occupied, inclusive=True)
        marked = global_cells[reach]
        np.add.at(present, marked, 1)
        hits = np.zeros(self.position.shape, dtype=np.int64)
        hits[targets & self.on_map] = present[target_flat]
        present[marked] = 0
        return hits

    def _clean(self, cleaned: np.ndarray) -> None:
        rules, M = self.rules, self.n_river_cells
        env, cells, wall = self._beam(cleaned, self._clean_offsets)
        reach = ~wall if rules.clean_shape == "area" else self._before_first(wall, inclusive=False)
        river = self.cell_to_river[cells]
        waste = np.concatenate([self.waste, np.zeros((self.batch_size, 1), dtype=bool)], axis=1)
        polluted = waste[env[:, None, None], river]
        if rules.clean_shape == "rays" and rules.clean_first_waste_only:
            reach &= self._before_first(polluted, inclusive=True)
        hit = reach & polluted
        waste[np.broadcast_to(env[:, None, None], hit.shape)[hit], river[hit]] = False
        self.waste = waste[:, :M]

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
        """Maybe pollute one clean river cell per env; returns the density afterwards."""
        r, M = self.rules, self.n_river_cells
        n_clean = M - self.waste.sum(1)
        p = waste_spawn_probability(1.0 - n_clean / M, n_clean, self.step_count, mode=r.waste_spawn,
                                    spawn_prob=r.waste_spawn_prob, depletion_threshold=r.depletion_threshold,
                                    delay=r.waste_spawn_delay)
        spawn = waste_u[:, 0] < p
        if spawn.any():
            k = np.minimum((waste_u[:, 1] * n_clean).astype(np.int64), np.maximum(n_clean - 1, 0))
            rank = np.cumsum(~self.waste, axis=1)  # 1-based rank of each clean cell
            choice = np.argmax(rank > k[:, None], axis=1)
            envs = np.flatnonzero(spawn)
            self.waste[envs, choice[envs]] = True
            n_clean = n_clean - spawn
        return 1.0 - n_clean / M

    # -- views ----------------------------------------------------------------------------------

    def codes(self) -> np.ndarray:
        """The padded map as cell codes ``(B, stride)``; agents by absolute orientation."""
        codes = self._codes
        codes[:] = self.base_codes
        codes[:, self.apple_flat] = self.apples * np.uint8(APPLE)
        if self.n_river_cells:
            codes[:, self.river_flat] = RIVER + self.waste.view(np.uint8)
        on_map = self.on_map
        where = np.where(on_map, self._batch_offset + self.position, self._batch_offset + self.sentinel)
        active = self.removed_steps == 0
        codes.ravel()[where] = np.where(active, AGENT_UP + self.orientation, TAGGED).astype(np.uint8)
        return codes

    def _turned_maps(self, kind: str) -> np.ndarray:
        """Every env's map turned four ways in ``kind``'s values, brought up to date.

        Each env keeps, per viewer orientation ``o``, its padded map turned ``o`` quarter turns
        counter-clockwise and already coloured as a viewer facing ``o`` sees it (RGB bytes for
        ``"rgb"``, relative cell codes for ``"symbolic"``): a ``(B, 4, side, side, channels)``
        buffer, allocated once. Only the cells whose code changed since the last call are
        rewritten (apples eaten or grown, waste, agents that moved or turned: a few per env and
        step), in all four copies at once. Returns an overlapping strided view
        ``(starts, h, w * channels)`` of that buffer in which entry ``i`` is the window whose
        top-left cell is flat cell ``i``.
        """
        if kind == "rgb":
            lut = self._rgb_lut  # (4 * N_CODES, 3)
        elif kind == "symbolic":
            lut = self._symbolic_lut[:, None]  # (4 * N_CODES, 1)
        else:
            raise ValueError(f"kind must be 'rgb' or 'symbolic', got {kind!r}")
        B, side, channels = self.batch_size, self._side, lut.shape[1]
        if kind not in self._views:
            turned = np.zeros(B * 4 * side * side * channels, dtype=np.uint8)
            # per code, its values in the four copies; per cell, its bytes in the four copies
            colours = np.ascontiguousarray(lut.reshape(4, N_CODES, channels).transpose(1, 0, 2))  # (N_CODES, 4, ch)
            at = self._turned_at[:, :, None] * channels + np.arange(channels)  # (S - 1, 4, ch)
            shown = np.full((B, self.stride), 255, dtype=np.uint8)  # no cell holds code 255: all change
            h, w = self.view_shape
            starts = B * 4 * side * side - (h - 1) * side - (w - 1)
            windows = np.lib.stride_tricks.as_strided(turned, shape=(starts, h, w * channels),
                                                      strides=(channels, side * channels, 1), writeable=False)
            self._views[kind] = (turned, shown, windows, colours, at)
        turned, shown, windows, colours, at = self._views[kind]
        codes = self.codes()
        changed = np.flatnonzero(codes != shown)  # whole rows: one contiguous comparison
        if changed.size:
            code = codes.ravel()[changed]
            shown.ravel()[changed] = code
            env, cell = np.divmod(changed, self.stride)
            on_map = cell != self.sentinel  # the sentinel (agents off the map) is shown nowhere
            if not on_map.all():
                env, cell, code = env[on_map], cell[on_map], code[on_map]
            where = np.take(at, cell, axis=0) + (env * (4 * side * side * channels))[:, None, None]
            turned[where] = np.take(colours, code, axis=0)  # (n, 4, channels): all four copies
        return windows

    def observe(self, kind: str = "rgb") -> np.ndarray:
        """Egocentric windows of every agent: ``(B, N, h, w, 3)`` RGB or ``(B, N, h, w)`` codes.

        Every env keeps four turned, pre-coloured copies of its map (:meth:`_turned_maps`,
        rewritten only where a cell changed), so an agent's window is a plain rectangle of the
        copy that faces its way. All B x N windows are cut out by one fancy index of an
        overlapping strided view (one flat start cell per agent; h row copies of w cells each,
        no per-agent Python, no per-cell index arithmetic or colour lookup) into a new
        C-contiguous array; then the centre cell becomes the viewer itself.
        """
        windows = self._turned_maps(kind)
        B, N = self.position.shape
        h, w = self.view_shape
        side, o = self._side, self.orientation
        top_left = self._turned_cell[o, self.position] - (self.rules.view_ahead * side + self.rules.view_side)
        window = windows[(self._batch_index * 4 + o) * (side * side) + top_left]  # (B, N, h, w * channels)
        if kind == "rgb":
            window = window.reshape(B, N, h, w, 3)
            window[:, :, self.rules.view_ahead, self.rules.view_side] = PALETTE[SELF]
            return window
        window[:, :, self.rules.view_ahead, self.rules.view_side] = SELF
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
