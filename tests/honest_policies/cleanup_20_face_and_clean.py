# world: cleanup
# task: policy_synthesis, dense feedback (experiments/configs/cleanup_synthesis_dense.yaml)
# idioms: orientation vectors as a numpy array, beam look-ahead with slicing, .any()
import numpy as np

VECTORS = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])
BEAM = 5


def cells_ahead(grid, here, facing, length):
    steps = here + VECTORS[facing] * np.arange(1, length + 1)[:, None]
    inside = (steps >= 0).all(axis=1) & (steps[:, 0] < grid.shape[0]) & (steps[:, 1] < grid.shape[1])
    steps = steps[inside]
    return grid[steps[:, 0], steps[:, 1]]


def policy(state, agent_id):
    grid = state.grid
    here = np.asarray(state.positions[agent_id])
    facing = int(state.orientations[agent_id])
    waste_left = int((grid == 4).sum())
    if agent_id == 0 and waste_left > 0:
        if (cells_ahead(grid, here, facing, BEAM) == 4).any():
            return 8
        found = helpers.nearest(grid, here, targets=4, walls=1)
    else:
        found = helpers.nearest(grid, here, targets=2, walls=1)
    if found is None:
        return 7
    return helpers.direction_to_action(found.direction, facing)
