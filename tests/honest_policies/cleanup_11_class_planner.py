# world: cleanup
# task: policy_synthesis, dense feedback (experiments/configs/cleanup_synthesis_dense.yaml)
# idioms: a small class with methods, module-level instance, numpy masks
import numpy as np


class Planner:
    def __init__(self, clean_threshold=0.35):
        self.clean_threshold = clean_threshold
        self.calls = 0

    def waste_density(self, grid):
        river = (grid == 3) | (grid == 4)
        return (grid == 4).sum() / max(river.sum(), 1)

    def should_clean(self, grid, agent_id, n_agents):
        return agent_id < n_agents // 3 + 1 and self.waste_density(grid) > self.clean_threshold

    def act(self, state, agent_id):
        self.calls += 1
        grid = state.grid
        facing = int(state.orientations[agent_id])
        here = state.positions[agent_id]
        if self.should_clean(grid, agent_id, state.n_agents):
            found = helpers.nearest(grid, here, targets=4, walls=1)
            if found is not None and found.distance <= 1:
                return 8
        else:
            found = helpers.nearest(grid, here, targets=2, walls=1)
        if found is None:
            return 7
        return helpers.direction_to_action(found.direction, facing)


PLANNER = Planner()


def policy(state, agent_id):
    return PLANNER.act(state, agent_id)
