# world: cleanup
# task: policy_synthesis, dense feedback (experiments/configs/cleanup_synthesis_dense.yaml)
# idioms: collections.namedtuple, Counter.most_common, defaultdict
from collections import Counter, defaultdict, namedtuple

Cell = namedtuple("Cell", ["row", "col"])
HISTORY = defaultdict(list)


def policy(state, agent_id):
    grid = state.grid
    here = Cell(int(state.positions[agent_id][0]), int(state.positions[agent_id][1]))
    HISTORY[agent_id].append(here)
    recent = Counter(HISTORY[agent_id][-6:])
    (most_common_cell, times), = recent.most_common(1)
    if times >= 4:
        return 4  # turning in place for too long: turn left to try another way
    values = Counter(int(v) for v in grid.ravel())
    target = 2 if values[2] > 0 else 4
    found = helpers.nearest(grid, here, targets=target, walls=1)
    if found is None:
        return 7
    if target == 4 and found.distance <= 1:
        return 8
    return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
