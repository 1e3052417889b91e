# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: bisect on a sorted list, operator.itemgetter, functools.reduce
import bisect
import functools
import operator
import numpy as np

THRESHOLDS = [0, 3, 8, 15]  # apple counts separating "scarce", "few", "some", "many"


def policy(state, agent_id):
    grid = state.grid
    apples = int(np.sum(grid == 2))
    level = bisect.bisect_right(THRESHOLDS, apples)
    total_waste = functools.reduce(operator.add, (int(v) for v in (grid == 4).sum(axis=0)), 0)
    if level <= 1 and total_waste > 0 and agent_id % 2 == 0:
        found = helpers.nearest(grid, state.positions[agent_id], targets=4, walls=1)
        if found is not None and found.distance <= 1:
            return 8
    else:
        found = helpers.nearest(grid, state.positions[agent_id], targets=2, walls=1)
    if found is None:
        return 7
    ranked = sorted([(found.distance, found.direction)], key=operator.itemgetter(0))
    return helpers.direction_to_action(ranked[0][1], int(state.orientations[agent_id]))
