# world: cleanup
# task: policy_synthesis, dense feedback (experiments/configs/cleanup_synthesis_dense.yaml)
# idioms: dataclasses with frozen=True/order=True, dataclasses.replace and asdict, sets of instances
import dataclasses
import numpy as np


@dataclasses.dataclass(frozen=True, order=True)
class Target:
    distance: int
    row: int
    col: int
    kind: str = "apple"


SEEN = set()


def policy(state, agent_id):
    grid = state.grid
    r0, c0 = (int(v) for v in state.positions[agent_id])
    targets = [Target(abs(r - r0) + abs(c - c0), int(r), int(c)) for r, c in np.argwhere(grid == 2)]
    targets += [Target(abs(r - r0) + abs(c - c0) + 3, int(r), int(c), "waste") for r, c in np.argwhere(grid == 4)]
    if not targets:
        return 7
    best = min(targets)
    SEEN.add(dataclasses.replace(best, distance=0))
    info = dataclasses.asdict(best)
    code = 2 if info["kind"] == "apple" else 4
    found = helpers.nearest(grid, (r0, c0), targets=code, walls=1)
    if found is None:
        return 7
    if code == 4 and found.distance <= 1:
        return 8
    return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
