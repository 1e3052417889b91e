# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: np.pad and shifted slices for a local density map, np.unravel_index, np.max with keepdims
import numpy as np

WINDOW = 2


def apple_density(grid):
    apples = (grid == 2).astype(np.int32)
    padded = np.pad(apples, WINDOW)
    total = np.zeros_like(apples)
    for dr in range(-WINDOW, WINDOW + 1):
        for dc in range(-WINDOW, WINDOW + 1):
            total += padded[WINDOW + dr: WINDOW + dr + grid.shape[0], WINDOW + dc: WINDOW + dc + grid.shape[1]]
    return total


def policy(state, agent_id):
    grid = state.grid
    density = apple_density(grid)
    if density.max(keepdims=True)[0, 0] == 0:
        return 7
    walkable = grid != 1
    score = np.where(walkable, density, -1)
    target = np.unravel_index(int(np.argmax(score)), score.shape)
    here = state.positions[agent_id]
    if int((grid == 2).sum()) and abs(int(here[0]) - target[0]) + abs(int(here[1]) - target[1]) <= WINDOW:
        found = helpers.nearest(grid, here, targets=2, walls=1)
    else:
        marked = grid.copy()
        marked[target] = 11
        found = helpers.nearest(marked, here, targets=11, walls=1)
    if found is None:
        return 7
    return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
