# world: cleanup
# task: policy_synthesis, dense feedback (experiments/configs/cleanup_synthesis_dense.yaml)
# idioms: broadcasting an agents x apples distance matrix, greedy assignment with argmin/inf masks
import numpy as np


def assign(agents, apples):
    cost = np.abs(agents[:, None, :] - apples[None, :, :]).sum(axis=2).astype(float)
    assignment = {}
    for _ in range(min(len(agents), len(apples))):
        i, j = np.unravel_index(np.argmin(cost), cost.shape)
        if not np.isfinite(cost[i, j]):
            break
        assignment[int(i)] = apples[j]
        cost[i, :] = np.inf
        cost[:, j] = np.inf
    return assignment


def policy(state, agent_id):
    grid = state.grid
    apples = np.argwhere(grid == 2)
    active = np.flatnonzero(state.positions[:, 0] >= 0)
    if apples.size == 0 or agent_id not in active:
        return 7
    mapping = assign(state.positions[active], apples)
    index = int(np.flatnonzero(active == agent_id)[0])
    goal = mapping.get(index)
    target = grid.copy()
    if goal is not None:
        target[target == 2] = 0
        target[goal[0], goal[1]] = 2
    found = helpers.nearest(target, state.positions[agent_id], targets=2, walls=1)
    return 7 if found is None else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
