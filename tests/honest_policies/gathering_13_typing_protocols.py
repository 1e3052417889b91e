# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: typing (Optional, List, Tuple, Dict, Callable), type aliases, helper functions
from typing import Callable, Dict, List, Optional, Tuple
import numpy as np

Cell = Tuple[int, int]
Scorer = Callable[[Cell, Cell], float]


def manhattan(a: Cell, b: Cell) -> float:
    return float(abs(a[0] - b[0]) + abs(a[1] - b[1]))


def pick(apples: List[Cell], here: Cell, score: Scorer) -> Optional[Cell]:
    if not apples:
        return None
    return min(apples, key=lambda a: score(a, here))


def policy(state, agent_id: int) -> int:
    grid: np.ndarray = state.grid
    here: Cell = (int(state.positions[agent_id][0]), int(state.positions[agent_id][1]))
    apples: List[Cell] = [(int(r), int(c)) for r, c in np.argwhere(grid == 2)]
    goal = pick(apples, here, manhattan)
    table: Dict[str, int] = {"stay": 7}
    if goal is None:
        return table["stay"]
    found = helpers.nearest(grid, here, targets=2, walls=1)
    return table["stay"] if found is None else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
