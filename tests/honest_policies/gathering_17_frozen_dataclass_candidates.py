# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: frozen/ordered dataclass, field(compare=False), min() over instances, set membership
from dataclasses import dataclass, field
import numpy as np


@dataclass(frozen=True, order=True)
class Option:
    cost: float
    cell: tuple = field(compare=False)
    note: str = field(default="", compare=False)


VISITED = set()


def policy(state, agent_id):
    grid = state.grid
    here = tuple(int(v) for v in state.positions[agent_id])
    VISITED.add(here)
    options = [Option(float(abs(r - here[0]) + abs(c - here[1])) + (0.5 if (int(r), int(c)) in VISITED else 0.0),
                      (int(r), int(c))) for r, c in np.argwhere(grid == 2)]
    if not options:
        return 7
    best = min(options)
    marked = grid.copy()
    marked[best.cell] = 14
    found = helpers.nearest(marked, here, targets=[14, 2], walls=1)
    return 7 if found is None else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
