"""Pure grid helpers that LLM-written policies may call (injected by :mod:`.sandbox`).

The policy-synthesis setting of Galle ("Cooperation and Exploitation in LLM Policy Synthesis
for Sequential Social Dilemmas", 2026; code: vicgalle/llm-policies-social-dilemmas) has the
model write ``policy(state, agent_id) -> int`` for Cleanup/Gathering. Most written policies
start with the same two chores: find the nearest apple (or waste) by breadth-first search
around walls, and turn an absolute direction into an egocentric move. Offering those as
tested helpers keeps the written code short and keeps it from touching anything but the
read-only snapshot.

Conventions (the same as :mod:`dilemmazoo.envs.gridworld.core`, which follows vicgalle):

- positions are ``(row, col)``; directions and orientations are ``0 = north`` (row - 1),
  ``1 = east`` (col + 1), ``2 = south``, ``3 = west``;
- action indices ``FORWARD, BACKWARD, STEP_LEFT, STEP_RIGHT, TURN_LEFT, TURN_RIGHT, FIRE,
  STAY, CLEAN = 0..8``; moves are egocentric (relative to the agent's orientation);
- a grid is any 2-D array (characters such as ``"@"``, ``"A"`` or integer cell codes); the
  caller says which cell values are walls and which are targets. Cells outside the grid
  count as walls.

Every function is pure (no state, no randomness); ties are broken in the fixed direction
order north, east, south, west, so results are reproducible. This module imports nothing but
the standard library and numpy: the sandbox worker loads a fresh copy of this file by path,
so a policy that monkey-patches it changes only its own copy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "ACTION_NAMES",
    "BACKWARD",
    "CLEAN",
    "DIRECTION_NAMES",
    "DIRECTION_VECTORS",
    "EAST",
    "FIRE",
    "FORWARD",
    "NORTH",
    "PathStep",
    "SOUTH",
    "STAY",
    "STEP_LEFT",
    "STEP_RIGHT",
    "TURN_LEFT",
    "TURN_RIGHT",
    "WEST",
    "bfs_distances",
    "direction_between",
    "direction_to_action",
    "find_cells",
    "first_step_towards",
    "nearest",
    "neighbour",
    "turn_towards",
]

FORWARD, BACKWARD, STEP_LEFT, STEP_RIGHT, TURN_LEFT, TURN_RIGHT, FIRE, STAY, CLEAN = range(9)
ACTION_NAMES = ("forward", "backward", "step_left", "step_right", "turn_left", "turn_right", "fire", "stay", "clean")
NORTH, EAST, SOUTH, WEST = range(4)
DIRECTION_NAMES = ("north", "east", "south", "west")
DIRECTION_VECTORS = ((-1, 0), (0, 1), (1, 0), (0, -1))
# The egocentric move that goes in absolute direction d for an agent facing o, indexed by (d - o) % 4.
_MOVE_FOR_RELATIVE = (FORWARD, STEP_RIGHT, BACKWARD, STEP_LEFT)


class PathStep(NamedTuple):
    """The nearest target found by :func:`nearest`.

    ``distance`` is the number of moves; ``direction`` is the absolute direction of the first
    move (``None`` when already on a target); ``target`` is the target cell reached.
    """

    distance: int
    direction: int | None
    target: tuple[int, int]


def _as_set(values: Any) -> frozenset:
    if isinstance(values, (str, bytes, int, np.integer)):
        return frozenset([values.item() if isinstance(values, np.integer) else values])
    return frozenset(v.item() if isinstance(v, np.generic) else v for v in values)


def _cell_rows(grid: Any) -> list[list[Any]]:
    array = np.asarray(grid)
    if array.ndim != 2:
        raise ValueError(f"grid must be 2-D, got shape {array.shape}")
    return array.tolist()


def neighbour(position: Iterable[int], direction: int) -> tuple[int, int]:
    """The cell one step from ``position`` in absolute ``direction`` (0..3)."""
    row, col = (int(x) for x in position)
    d_row, d_col = DIRECTION_VECTORS[int(direction) % 4]
    return row + d_row, col + d_col


def direction_between(start: Iterable[int], end: Iterable[int]) -> int | None:
    """Absolute direction from ``start`` to an adjacent ``end``; ``None`` if not adjacent."""
    (r0, c0), (r1, c1) = (tuple(int(x) for x in start), tuple(int(x) for x in end))
    try:
        return DIRECTION_VECTORS.index((r1 - r0, c1 - c0))
    except ValueError:
        return None


def find_cells(grid: Any, values: Any) -> list[tuple[int, int]]:
    """All ``(row, col)`` whose value is in ``values``, in row-major order."""
    wanted = _as_set(values)
    return [(r, c) for r, row in enumerate(_cell_rows(grid)) for c, v in enumerate(row) if v in wanted]


def nearest(grid: Any, start: Iterable[int], targets: Any, walls: Any = ("@",)) -> PathStep | None:
    """Breadth-first search (4-neighbourhood) from ``start`` to the nearest cell in ``targets``.

    Cells whose value is in ``walls`` cannot be entered (the start cell always can be left).
    Returns ``None`` when no target is reachable. Among equally near targets the one found
    first wins, exploring north, east, south, west in that order from each cell.
    """
    rows = _cell_rows(grid)
    height, width = len(rows), len(rows[0]) if rows else 0
    wanted, blocked = _as_set(targets), _as_set(walls)
    r0, c0 = (int(x) for x in start)
    if not (0 <= r0 < height and 0 <= c0 < width):
        raise ValueError(f"start {(r0, c0)} is outside the {height}x{width} grid")
    if rows[r0][c0] in wanted:
        return PathStep(0, None, (r0, c0))
    first_direction = {(r0, c0): None}
    distance = {(r0, c0): 0}
    queue = deque([(r0, c0)])
    while queue:
        cell = queue.popleft()
        for direction, (d_row, d_col) in enumerate(DIRECTION_VECTORS):
            r, c = cell[0] + d_row, cell[1] + d_col
            if not (0 <= r < height and 0 <= c < width) or (r, c) in distance or rows[r][c] in blocked:
                continue
            distance[(r, c)] = distance[cell] + 1
            first_direction[(r, c)] = direction if cell == (r0, c0) else first_direction[cell]
            if rows[r][c] in wanted:
                return PathStep(distance[(r, c)], first_direction[(r, c)], (r, c))
            queue.append((r, c))
    return None


def first_step_towards(grid: Any, start: Iterable[int], targets: Any, walls: Any = ("@",)) -> int | None:
    """Absolute direction of the first move towards the nearest target (``None``: on one or none reachable)."""
    found = nearest(grid, start, targets, walls)
    return None if found is None else found.direction


def bfs_distances(grid: Any, targets: Any, walls: Any = ("@",)) -> np.ndarray:
    """Moves from every cell to its nearest target (multi-source BFS); ``-1`` where unreachable or a wall."""
    rows = _cell_rows(grid)
    height, width = len(rows), len(rows[0]) if rows else 0
    wanted, blocked = _as_set(targets), _as_set(walls)
    distances = np.full((height, width), -1, dtype=np.int64)
    queue = deque()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value in wanted and value not in blocked:
                distances[r, c] = 0
                queue.append((r, c))
    while queue:
        r0, c0 = queue.popleft()
        for d_row, d_col in DIRECTION_VECTORS:
            r, c = r0 + d_row, c0 + d_col
            if 0 <= r < height and 0 <= c < width and distances[r, c] < 0 and rows[r][c] not in blocked:
                distances[r, c] = distances[r0, c0] + 1
                queue.append((r, c))
    return distances


def direction_to_action(direction: int | None, orientation: int) -> int:
    """The egocentric move that goes in absolute ``direction`` for an agent facing ``orientation``.

    ``None`` (nothing to do) gives ``STAY``. Example: facing east (1), going north (0) is a
    step to the left.
    """
    if direction is None:
        return STAY
    return _MOVE_FOR_RELATIVE[(int(direction) - int(orientation)) % 4]


def turn_towards(direction: int, orientation: int) -> int | None:
    """The turn that brings ``orientation`` closer to ``direction``; ``None`` if already facing it.

    Facing the opposite way turns right (either turn is as short).
    """
    relative = (int(direction) - int(orientation)) % 4
    if relative == 0:
        return None
    return TURN_LEFT if relative == 3 else TURN_RIGHT
