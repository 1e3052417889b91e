# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: enum (IntEnum for actions, Enum for modes), numpy counts
from enum import Enum, IntEnum
import numpy as np


class Act(IntEnum):
    FORWARD = 0
    BACKWARD = 1
    STEP_LEFT = 2
    STEP_RIGHT = 3
    TURN_LEFT = 4
    TURN_RIGHT = 5
    FIRE = 6
    STAY = 7
    CLEAN = 8


class Mode(Enum):
    HARVEST = "harvest"
    CLEAN = "clean"


def choose_mode(grid, agent_id):
    waste = int(np.count_nonzero(grid == 4))
    apples = int(np.count_nonzero(grid == 2))
    if agent_id % 2 == 1 and waste > apples:
        return Mode.CLEAN
    return Mode.HARVEST


def policy(state, agent_id):
    grid = state.grid
    mode = choose_mode(grid, agent_id)
    target = 4 if mode is Mode.CLEAN else 2
    found = helpers.nearest(grid, state.positions[agent_id], targets=target, walls=1)
    if found is None:
        return int(Act.STAY)
    if mode is Mode.CLEAN and found.distance <= 2:
        turn = helpers.turn_towards(found.direction, int(state.orientations[agent_id])) if found.direction is not None else None
        return int(turn) if turn is not None else int(Act.CLEAN)
    return int(helpers.direction_to_action(found.direction, int(state.orientations[agent_id])))
