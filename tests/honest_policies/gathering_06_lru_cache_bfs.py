# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: functools.lru_cache keyed by bytes of the grid, np.frombuffer, tuple returns
import functools
import numpy as np


@functools.lru_cache(maxsize=32)
def apple_distances(grid_bytes, rows, cols):
    grid = np.frombuffer(grid_bytes, dtype=np.uint8).reshape(rows, cols)
    return helpers.bfs_distances(grid, targets=2, walls=1)


def policy(state, agent_id):
    grid = state.grid
    dist = apple_distances(grid.tobytes(), *grid.shape)
    r, c = (int(x) for x in state.positions[agent_id])
    best_direction, best = None, None
    for direction, (dr, dc) in enumerate([(-1, 0), (0, 1), (1, 0), (0, -1)]):
        value = int(dist[r + dr, c + dc])
        if value >= 0 and (best is None or value < best):
            best_direction, best = direction, value
    if best_direction is None:
        return 7
    return helpers.direction_to_action(best_direction, int(state.orientations[agent_id]))
