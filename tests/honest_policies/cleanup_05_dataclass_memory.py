# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: dataclasses (field(default_factory)), module-level state persisting between calls
from dataclasses import dataclass, field
import numpy as np


@dataclass
class AgentMemory:
    visits: dict = field(default_factory=dict)
    last_target: tuple = None
    steps_stuck: int = 0
    last_position: tuple = (-1, -1)


MEMORY = {}


def policy(state, agent_id):
    memory = MEMORY.setdefault(agent_id, AgentMemory())
    here = (int(state.positions[agent_id][0]), int(state.positions[agent_id][1]))
    memory.visits[here] = memory.visits.get(here, 0) + 1
    memory.steps_stuck = memory.steps_stuck + 1 if here == memory.last_position else 0
    memory.last_position = here
    if memory.steps_stuck > 2:
        memory.steps_stuck = 0
        return 5  # turn right to get unstuck
    found = helpers.nearest(state.grid, here, targets=2, walls=1)
    if found is None:
        return 7
    memory.last_target = tuple(int(v) for v in found.target)
    return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
