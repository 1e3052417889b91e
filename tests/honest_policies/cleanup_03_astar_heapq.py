# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: A* with heapq, numpy argwhere/argmin, tuples as priority-queue entries
import heapq
import numpy as np

NEIGHBOURS = ((-1, 0, 0), (0, 1, 1), (1, 0, 2), (0, -1, 3))


def manhattan(a, b):
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def astar(grid, start, goal):
    open_heap = [(manhattan(start, goal), 0, start, None)]
    best = {start: 0}
    while open_heap:
        _, cost, cell, first = heapq.heappop(open_heap)
        if cell == goal:
            return first
        for dr, dc, direction in NEIGHBOURS:
            nxt = (cell[0] + dr, cell[1] + dc)
            if not (0 <= nxt[0] < grid.shape[0] and 0 <= nxt[1] < grid.shape[1]) or grid[nxt] == 1:
                continue
            if cost + 1 < best.get(nxt, 10**9):
                best[nxt] = cost + 1
                heapq.heappush(open_heap, (cost + 1 + manhattan(nxt, goal), cost + 1, nxt,
                                           direction if first is None else first))
    return None


def policy(state, agent_id):
    grid = state.grid
    me = tuple(int(v) for v in state.positions[agent_id])
    apples = np.argwhere(grid == 2)
    if len(apples) == 0:
        return 7
    closest = apples[np.argmin(np.abs(apples - np.array(me)).sum(axis=1))]
    direction = astar(grid, me, (int(closest[0]), int(closest[1])))
    if direction is None:
        return 7
    return (0, 3, 1, 2)[(direction - int(state.orientations[agent_id])) % 4]
