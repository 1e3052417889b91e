# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: statistics (mean, median, pstdev), list comprehensions over np.argwhere
import statistics
import numpy as np


def policy(state, agent_id):
    grid = state.grid
    here = state.positions[agent_id]
    apples = np.argwhere(grid == 2)
    if len(apples) < 2:
        found = helpers.nearest(grid, here, targets=[2, 4], walls=1)
        if found is None:
            return 7
        return 8 if found.distance <= 1 and grid[found.target] == 4 else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
    distances = [abs(int(r) - int(here[0])) + abs(int(c) - int(here[1])) for r, c in apples]
    typical = statistics.median(distances)
    spread = statistics.pstdev(distances)
    mean_col = statistics.mean(int(c) for _, c in apples)
    if min(distances) > typical + spread and mean_col > here[1]:
        return helpers.direction_to_action(1, int(state.orientations[agent_id]))
    found = helpers.nearest(grid, here, targets=2, walls=1)
    return 7 if found is None else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
