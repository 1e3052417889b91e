# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: np.array_split into zones, boolean masks on a copy, fallback to any apple
import numpy as np


def policy(state, agent_id):
    grid = state.grid
    apple_rows = np.flatnonzero((grid == 2).any(axis=1))
    if apple_rows.size == 0:
        return 7
    zones = np.array_split(np.arange(grid.shape[0]), state.n_agents)
    mine = zones[agent_id % len(zones)]
    masked = grid.copy()
    outside = np.ones(grid.shape[0], dtype=bool)
    outside[mine] = False
    masked[outside & np.ones_like(outside)] = np.where(masked[outside] == 2, 0, masked[outside])
    here = state.positions[agent_id]
    found = helpers.nearest(masked, here, targets=2, walls=1) or helpers.nearest(grid, here, targets=2, walls=1)
    if found is None:
        return 7
    return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
