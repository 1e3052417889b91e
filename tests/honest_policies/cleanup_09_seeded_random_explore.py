# world: cleanup
# task: policy_synthesis, dense feedback (experiments/configs/cleanup_synthesis_dense.yaml)
# idioms: seeded random (module functions and random.Random), epsilon-greedy
import random

EPSILON = 0.1
random.seed(1234)
RNGS = {}


def policy(state, agent_id):
    rng = RNGS.setdefault(agent_id, random.Random(agent_id))
    if rng.random() < EPSILON:
        return rng.choice([0, 2, 3, 4, 5])
    found = helpers.nearest(state.grid, state.positions[agent_id], targets=2, walls=1)
    if found is None:
        return random.choice([4, 5, 7])
    return helpers.direction_to_action(found.direction, state.orientations[agent_id])
