# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: numpy argwhere, broadcasting, .sum(axis=1), .argmin(), int() of reductions
import numpy as np

RELATIVE = (0, 3, 1, 2)  # forward, step_right, backward, step_left for a turn of 0..3 quarter turns


def policy(state, agent_id):
    grid = state["grid"]
    n = int((grid == 2).sum())
    m = int(grid.max())
    if n == 0:
        return 7
    me = state["positions"][agent_id]
    apples = np.argwhere(grid == 2)
    nearest = apples[np.abs(apples - me).sum(axis=1).argmin()]
    dr, dc = (nearest - me).tolist()
    if abs(dr) >= abs(dc):
        direction = 0 if dr < 0 else 2
    else:
        direction = 1 if dc > 0 else 3
    if m > 10:
        return 7
    return RELATIVE[(direction - int(state["orientations"][agent_id])) % 4]
