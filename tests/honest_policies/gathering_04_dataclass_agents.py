# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: @dataclass with defaults and methods, dict of per-agent state, numpy .any()/.mean()
from dataclasses import dataclass
import numpy as np


@dataclass
class AgentState:
    patience: int = 3
    waits: int = 0
    harvested_cells: int = 0

    def tired(self):
        return self.waits > self.patience


AGENTS = {}


def policy(state, agent_id):
    me = AGENTS.setdefault(agent_id, AgentState())
    grid = state.grid
    if not (grid == 2).any():
        me.waits += 1
        return 4 if me.tired() else 7
    me.waits = 0
    crowding = float((state.positions[:, 0] >= 0).mean())
    found = helpers.nearest(grid, state.positions[agent_id], targets=2, walls=1)
    if found is None:
        return 7
    if found.distance == 1:
        me.harvested_cells += 1
    if crowding > 2:
        return 7
    return helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
