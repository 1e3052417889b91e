# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: IntEnum for actions and directions, dict lookups, enum iteration
from enum import IntEnum


class Action(IntEnum):
    FORWARD = 0
    BACKWARD = 1
    STEP_LEFT = 2
    STEP_RIGHT = 3
    TURN_LEFT = 4
    TURN_RIGHT = 5
    FIRE = 6
    STAY = 7


class Heading(IntEnum):
    NORTH = 0
    EAST = 1
    SOUTH = 2
    WEST = 3


MOVE_FOR_TURN = {0: Action.FORWARD, 1: Action.STEP_RIGHT, 2: Action.BACKWARD, 3: Action.STEP_LEFT}


def policy(state, agent_id):
    found = helpers.nearest(state.grid, state.positions[agent_id], targets=2, walls=1)
    if found is None or found.direction is None:
        return int(Action.STAY)
    heading = Heading(int(state.orientations[agent_id]))
    wanted = Heading(found.direction)
    assert wanted in list(Heading)
    return int(MOVE_FOR_TURN[(wanted - heading) % 4])
