# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: collections.namedtuple with defaults, ._replace-free updates, deque as a bounded history
from collections import deque, namedtuple

Plan = namedtuple("Plan", "target distance age", defaults=(0,))
PLANS = {}
HISTORY = deque(maxlen=20)


def policy(state, agent_id):
    grid = state.grid
    here = tuple(int(v) for v in state.positions[agent_id])
    HISTORY.append((agent_id, here))
    plan = PLANS.get(agent_id)
    if plan is not None and (grid[plan.target] != 2 or plan.age > 8):
        plan = None
    if plan is None:
        found = helpers.nearest(grid, here, targets=2, walls=1)
        if found is None:
            return 7
        plan = Plan(tuple(int(v) for v in found.target), found.distance)
    PLANS[agent_id] = Plan(plan.target, plan.distance, plan.age + 1)
    marked = grid.copy()
    marked[plan.target] = 13
    step = helpers.nearest(marked, here, targets=13, walls=1)
    if step is None or step.direction is None:
        return 7
    return helpers.direction_to_action(step.direction, int(state.orientations[agent_id]))
