# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: itertools.groupby, itertools.chain, sorted keys, operator.itemgetter
import itertools
import operator
import numpy as np


def policy(state, agent_id):
    grid = state.grid
    apples = sorted((int(r), int(c)) for r, c in np.argwhere(grid == 2))
    if not apples:
        return 7
    by_row = {row: [c for _, c in cells] for row, cells in itertools.groupby(apples, key=operator.itemgetter(0))}
    richest_row = max(by_row, key=lambda row: len(by_row[row]))
    here = state.positions[agent_id]
    nearby = list(itertools.chain.from_iterable(by_row.get(int(here[0]) + d, []) for d in (-1, 0, 1)))
    targets = 2 if nearby or richest_row == int(here[0]) else 2
    found = helpers.nearest(grid, here, targets=targets, walls=1)
    return 7 if found is None else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
