# world: cleanup
# task: policy_synthesis, dense feedback (experiments/configs/cleanup_synthesis_dense.yaml)
# idioms: np.isin, .mean() over a boolean mask, np.clip, typing annotations
from typing import Optional, Tuple
import numpy as np

Position = Tuple[int, int]


def nearest_of(grid: np.ndarray, here: Position, code: int) -> Optional[Position]:
    cells = np.argwhere(grid == code)
    if cells.size == 0:
        return None
    d = np.abs(cells - np.asarray(here)).sum(axis=1)
    r, c = cells[d.argmin()]
    return int(r), int(c)


def policy(state, agent_id: int) -> int:
    grid = state.grid
    river = np.isin(grid, (3, 4))
    pollution = float((grid[river] == 4).mean()) if river.any() else 0.0
    cleaners = int(np.clip(round(pollution * state.n_agents), 0, state.n_agents - 1))
    code = 4 if agent_id < cleaners else 2
    here = (int(state.positions[agent_id][0]), int(state.positions[agent_id][1]))
    target = nearest_of(grid, here, code)
    if target is None:
        return 7
    if code == 4 and abs(target[0] - here[0]) + abs(target[1] - here[1]) <= 1:
        return 8
    found = helpers.nearest(grid, here, targets=code, walls=1)
    return 7 if found is None else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
