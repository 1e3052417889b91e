# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: structural pattern matching on tuples, math.copysign, helper returning a tuple
import math


def step_towards(dr, dc):
    match (int(math.copysign(1, dr)) if dr else 0, int(math.copysign(1, dc)) if dc else 0):
        case (-1, _):
            return 0
        case (1, _):
            return 2
        case (0, 1):
            return 1
        case (0, -1):
            return 3
        case _:
            return None


def policy(state, agent_id):
    found = helpers.nearest(state.grid, state.positions[agent_id], targets=2, walls=1)
    if found is None:
        return 7
    if found.direction is not None:
        return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
    here = state.positions[agent_id]
    direction = step_towards(found.target[0] - here[0], found.target[1] - here[1])
    return 7 if direction is None else helpers.direction_to_action(direction, int(state.orientations[agent_id]))
