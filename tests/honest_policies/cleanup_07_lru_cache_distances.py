# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: functools.lru_cache on a hashable key, numpy distance field, np.where, .min()
from functools import lru_cache
import numpy as np

STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))


@lru_cache(maxsize=64)
def distance_field(key, shape):
    grid = np.frombuffer(key, dtype=np.uint8).reshape(shape)
    return helpers.bfs_distances(grid, targets=2, walls=1)


def policy(state, agent_id):
    grid = state.grid
    field_ = distance_field(grid.tobytes(), grid.shape)
    r, c = (int(v) for v in state.positions[agent_id])
    options = []
    for direction, (dr, dc) in enumerate(STEPS):
        nr, nc = r + dr, c + dc
        if 0 <= nr < grid.shape[0] and 0 <= nc < grid.shape[1] and field_[nr, nc] >= 0:
            options.append((int(field_[nr, nc]), direction))
    if not options or (field_ >= 0).sum() == 0:
        return 7
    best = min(options)[1]
    return helpers.direction_to_action(best, int(state.orientations[agent_id]))
