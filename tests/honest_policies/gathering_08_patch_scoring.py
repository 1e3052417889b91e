# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: np.pad + cumulative sums for patch totals, np.unravel_index, np.argmax
import numpy as np

RADIUS = 2


def patch_totals(grid):
    apples = np.pad((grid == 2).astype(np.int64), ((1, 0), (1, 0)))
    integral = apples.cumsum(axis=0).cumsum(axis=1)
    rows, cols = grid.shape
    r0 = np.clip(np.arange(rows) - RADIUS, 0, rows)
    r1 = np.clip(np.arange(rows) + RADIUS + 1, 0, rows)
    c0 = np.clip(np.arange(cols) - RADIUS, 0, cols)
    c1 = np.clip(np.arange(cols) + RADIUS + 1, 0, cols)
    return (integral[r1][:, c1] - integral[r0][:, c1] - integral[r1][:, c0] + integral[r0][:, c0])


def policy(state, agent_id):
    grid = state.grid
    totals = patch_totals(grid)
    here = state.positions[agent_id]
    if totals.max() == 0:
        return 7
    if totals[int(here[0]), int(here[1])] >= totals.max() // 2:
        found = helpers.nearest(grid, here, targets=2, walls=1)
    else:
        goal = np.unravel_index(np.argmax(totals), totals.shape)
        marked = grid.copy()
        marked[goal] = 12
        found = helpers.nearest(marked, here, targets=[12, 2], walls=1)
    return 7 if found is None else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
