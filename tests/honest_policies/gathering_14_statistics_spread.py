# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: statistics.fmean/median on numpy values, np.mean(axis=0), np.linalg.norm
import statistics
import numpy as np


def policy(state, agent_id):
    grid = state.grid
    apples = np.argwhere(grid == 2)
    here = np.asarray(state.positions[agent_id], dtype=float)
    if len(apples) == 0:
        return 7
    centre = apples.mean(axis=0)
    spread = statistics.fmean(np.linalg.norm(apples - centre, axis=1).tolist())
    others = state.positions[state.active & (np.arange(state.n_agents) != agent_id)]
    crowd = statistics.median([float(np.linalg.norm(o - here)) for o in others]) if len(others) else 99.0
    target = 2
    found = helpers.nearest(grid, here.astype(int), targets=target, walls=1)
    if found is None:
        return 7
    if crowd < 1.0 and spread > 50:
        return 5
    return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
