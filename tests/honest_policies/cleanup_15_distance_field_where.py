# world: cleanup
# task: policy_synthesis, dense feedback (experiments/configs/cleanup_synthesis_dense.yaml)
# idioms: helpers.bfs_distances, np.where, masked argmin over neighbours, np.inf
import numpy as np


def policy(state, agent_id):
    grid = state.grid
    dist = helpers.bfs_distances(grid, targets=2, walls=1)
    dist = np.where(dist < 0, np.inf, dist.astype(float))
    r, c = int(state.positions[agent_id][0]), int(state.positions[agent_id][1])
    padded = np.pad(dist, 1, constant_values=np.inf)
    around = np.array([padded[r, c + 1], padded[r + 1, c + 2], padded[r + 2, c + 1], padded[r + 1, c]])
    if np.isinf(around).all():
        return 7
    direction = int(np.argmin(around))
    return helpers.direction_to_action(direction, int(state.orientations[agent_id]))
