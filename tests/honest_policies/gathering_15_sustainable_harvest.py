# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: counting neighbours with np.roll, sustainable harvesting (skip last apples of a patch)
import numpy as np


def neighbour_counts(mask):
    total = np.zeros(mask.shape, dtype=np.int32)
    for shift, axis in ((1, 0), (-1, 0), (1, 1), (-1, 1)):
        total += np.roll(mask, shift, axis=axis)
    return total


def policy(state, agent_id):
    grid = state.grid
    apples = grid == 2
    counts = neighbour_counts(apples.astype(np.int32))
    # leave isolated apples alone so that the patch regrows
    harvestable = apples & (counts >= 1)
    if not harvestable.any():
        harvestable = apples
    if not harvestable.any():
        return 7
    marked = grid.copy()
    marked[apples & ~harvestable] = 0
    found = helpers.nearest(marked, state.positions[agent_id], targets=2, walls=1)
    return 7 if found is None else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
