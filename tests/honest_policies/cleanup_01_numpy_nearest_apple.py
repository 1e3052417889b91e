# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: numpy reductions (.sum/.max), argwhere, broadcasting, argmin
import numpy as np

APPLE, WASTE = 2, 4
# (row, col) step of each absolute direction: north, east, south, west
DELTAS = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])
RELATIVE_MOVE = {0: 0, 1: 3, 2: 1, 3: 2}  # forward, step_right, backward, step_left


def policy(state, agent_id):
    grid = state["grid"]
    n_apples = int((grid == APPLE).sum())
    if n_apples == 0 or int(grid.max()) < APPLE:
        return 7
    me = np.array(state["positions"][agent_id])
    apples = np.argwhere(grid == APPLE)
    distances = np.abs(apples - me).sum(axis=1)
    target = apples[int(distances.argmin())]
    delta = np.sign(target - me)
    # prefer the axis with the larger gap
    gaps = np.abs(target - me)
    if gaps[0] >= gaps[1]:
        direction = 0 if delta[0] < 0 else 2
    else:
        direction = 1 if delta[1] > 0 else 3
    step = me + DELTAS[direction]
    if grid[step[0], step[1]] == 1:
        direction = (direction + 1) % 4
    orientation = int(state["orientations"][agent_id])
    return RELATIVE_MOVE[(direction - orientation) % 4]
