# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: beam look-ahead with numpy slicing, np.isin on agent codes, conditional fire
import numpy as np

AGENT_CODES = np.arange(6, 10)
VECTORS = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])


def policy(state, agent_id):
    grid = state.grid
    here = np.asarray(state.positions[agent_id])
    facing = int(state.orientations[agent_id])
    apples_left = int(np.count_nonzero(grid == 2))
    ahead = here + VECTORS[facing] * np.arange(1, 4)[:, None]
    ahead = ahead[(ahead[:, 0] > 0) & (ahead[:, 0] < grid.shape[0] - 1) & (ahead[:, 1] > 0) & (ahead[:, 1] < grid.shape[1] - 1)]
    rival_ahead = bool(np.isin(grid[ahead[:, 0], ahead[:, 1]], AGENT_CODES).any()) if len(ahead) else False
    if apples_left < 5 and rival_ahead:
        return 6  # apples are scarce: tag the rival in front
    found = helpers.nearest(grid, here, targets=2, walls=1)
    return 7 if found is None else helpers.direction_to_action(found.direction, facing)
