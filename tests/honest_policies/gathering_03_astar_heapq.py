# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: A* with heapq and an itertools.count tie-breaker, math.inf
import heapq
import itertools
import math
import numpy as np


def astar_first_step(grid, start, goals):
    if not goals:
        return None
    def h(cell):
        return min(abs(cell[0] - g[0]) + abs(cell[1] - g[1]) for g in goals)
    counter = itertools.count()
    frontier = [(h(start), next(counter), 0, start, None)]
    g_cost = {start: 0}
    goal_set = set(goals)
    while frontier:
        _, _, cost, cell, first = heapq.heappop(frontier)
        if cell in goal_set:
            return first
        if cost > g_cost.get(cell, math.inf):
            continue
        for direction, (dr, dc) in enumerate(((-1, 0), (0, 1), (1, 0), (0, -1))):
            nxt = (cell[0] + dr, cell[1] + dc)
            if grid[nxt] == 1:
                continue
            if cost + 1 < g_cost.get(nxt, math.inf):
                g_cost[nxt] = cost + 1
                heapq.heappush(frontier, (cost + 1 + h(nxt), next(counter), cost + 1, nxt,
                                          direction if first is None else first))
    return None


def policy(state, agent_id):
    grid = state.grid
    start = tuple(int(v) for v in state.positions[agent_id])
    goals = [tuple(int(v) for v in g) for g in np.argwhere(grid == 2)][:40]
    direction = astar_first_step(grid, start, goals)
    return 7 if direction is None else helpers.direction_to_action(direction, int(state.orientations[agent_id]))
