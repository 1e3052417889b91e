# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: np.errstate around divisions, np.nan_to_num, np.nanargmax, float formatting
import numpy as np


def policy(state, agent_id):
    grid = state.grid
    here = np.asarray(state.positions[agent_id])
    apples = np.argwhere(grid == 2)
    if apples.size == 0:
        return 7
    distance = np.abs(apples - here).sum(axis=1).astype(float)
    with np.errstate(divide="ignore"):
        value = np.where(distance > 0, 1.0 / distance, np.inf)
    value = np.nan_to_num(value, posinf=2.0)
    best = apples[int(np.nanargmax(value))]
    label = f"{value.max():.2f} {value.dtype}"
    marked = grid.copy()
    marked[best[0], best[1]] = 15
    found = helpers.nearest(marked, here, targets=[15, 2], walls=1)
    if found is None or not label:
        return 7
    return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
