# world: cleanup
# task: policy_synthesis, dense feedback (experiments/configs/cleanup_synthesis_dense.yaml)
# idioms: typing.NamedTuple, sorted with tuple keys, List/Dict annotations
from typing import Dict, List, NamedTuple
import numpy as np


class Candidate(NamedTuple):
    distance: int
    row: int
    col: int
    crowd: int = 0


def candidates(grid: np.ndarray, here, others) -> List[Candidate]:
    out: List[Candidate] = []
    for r, c in np.argwhere(grid == 2):
        d = abs(int(r) - int(here[0])) + abs(int(c) - int(here[1]))
        crowd = sum(1 for o in others if abs(int(o[0]) - int(r)) + abs(int(o[1]) - int(c)) < d)
        out.append(Candidate(d, int(r), int(c), crowd))
    return sorted(out, key=lambda k: (k.crowd, k.distance))


def policy(state, agent_id):
    here = state.positions[agent_id]
    others = [p for i, p in enumerate(state.positions) if i != agent_id and p[0] >= 0]
    ranked = candidates(state.grid, here, others)
    if not ranked:
        return 7
    goal = ranked[0]
    marked = state.grid.copy()
    marked[marked == 2] = 0
    marked[goal.row, goal.col] = 2
    found = helpers.nearest(marked, here, targets=2, walls=1)
    if found is None:
        found = helpers.nearest(state.grid, here, targets=2, walls=1)
    counts: Dict[str, int] = {"candidates": len(ranked)}
    if found is None or counts["candidates"] == 0:
        return 7
    return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
