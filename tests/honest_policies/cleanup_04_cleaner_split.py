# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: role split by agent id, numpy boolean masks and .mean(), policy helpers (BFS)
import numpy as np

CLEANER_SHARE = 0.4


def policy(state, agent_id):
    grid = state.grid
    river = np.isin(grid, [3, 4])
    waste_share = float((grid == 4).sum()) / max(int(river.sum()), 1)
    n_cleaners = max(1, int(round(state.n_agents * CLEANER_SHARE)))
    here = state.positions[agent_id]
    facing = int(state.orientations[agent_id])
    if agent_id < n_cleaners and waste_share > 0.2:
        dr, dc = [(-1, 0), (0, 1), (1, 0), (0, -1)][facing]
        ahead = (int(here[0]) + dr, int(here[1]) + dc)
        if 0 <= ahead[0] < grid.shape[0] and 0 <= ahead[1] < grid.shape[1] and grid[ahead] == 4:
            return 8  # clean the waste in front
        found = helpers.nearest(grid, here, targets=4, walls=[1])
    else:
        found = helpers.nearest(grid, here, targets=2, walls=[1])
    if found is None:
        return helpers.STAY
    if found.distance <= 1 and found.direction is not None and agent_id < n_cleaners:
        turn = helpers.turn_towards(found.direction, facing)
        if turn is not None:
            return turn
    return helpers.direction_to_action(found.direction, facing)
