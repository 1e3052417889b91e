# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: zone partition by columns with integer division, np.where on slices, copy of the grid
import numpy as np


def my_zone(cols, agent_id, n_agents):
    width = cols / n_agents
    return int(agent_id * width), int((agent_id + 1) * width)


def policy(state, agent_id):
    grid = state.grid
    low, high = my_zone(grid.shape[1], agent_id, state.n_agents)
    mine = grid.copy()
    mine[:, :low] = np.where(mine[:, :low] == 2, 0, mine[:, :low])
    mine[:, high:] = np.where(mine[:, high:] == 2, 0, mine[:, high:])
    here = state.positions[agent_id]
    found = helpers.nearest(mine, here, targets=2, walls=1)
    if found is None:
        found = helpers.nearest(grid, here, targets=2, walls=1)
    if found is None:
        return 7
    return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
