# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: heapq.nsmallest, zip/enumerate, sets of claimed targets
import heapq
import numpy as np


def claimed_targets(state, agent_id):
    claims = set()
    apples = [tuple(int(v) for v in a) for a in np.argwhere(state.grid == 2)]
    for other, pos in enumerate(state.positions):
        if other == agent_id or pos[0] < 0:
            continue
        closest = heapq.nsmallest(1, apples, key=lambda a: abs(a[0] - pos[0]) + abs(a[1] - pos[1]))
        claims.update(closest)
    return apples, claims


def policy(state, agent_id):
    apples, claims = claimed_targets(state, agent_id)
    here = state.positions[agent_id]
    free = [a for a in apples if a not in claims] or apples
    if not free:
        return 7
    goal = heapq.nsmallest(1, free, key=lambda a: abs(a[0] - here[0]) + abs(a[1] - here[1]))[0]
    grid = state.grid.copy()
    grid[grid == 2] = 0
    grid[goal] = 2
    found = helpers.nearest(grid, here, targets=2, walls=1)
    return 7 if found is None else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
