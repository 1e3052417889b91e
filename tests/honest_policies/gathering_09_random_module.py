# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: module-level random (seeded), random.choices with weights, random.shuffle
import random

random.seed(42)
MOVES = [0, 1, 2, 3]


def policy(state, agent_id):
    found = helpers.nearest(state.grid, state.positions[agent_id], targets=2, walls=1)
    if found is not None and found.direction is not None:
        return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
    options = MOVES[:]
    random.shuffle(options)
    return random.choices(options + [7], weights=[1, 1, 1, 1, 4], k=1)[0]
