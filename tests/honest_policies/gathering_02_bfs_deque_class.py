# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: BFS with collections.deque inside a small class, __init__, module constants
from collections import deque

DIRS = ((-1, 0), (0, 1), (1, 0), (0, -1))


class Navigator:
    def __init__(self, walls=(1,)):
        self.walls = set(walls)

    def first_move(self, grid, start, goal):
        rows, cols = grid.shape
        seen = {start: None}
        queue = deque([start])
        while queue:
            cell = queue.popleft()
            if grid[cell] == goal and cell != start:
                while seen[cell] is not None and seen[cell][0] != start:
                    cell = seen[cell][0]
                return seen[cell][1] if seen[cell] else None
            for d, (dr, dc) in enumerate(DIRS):
                nxt = (cell[0] + dr, cell[1] + dc)
                if 0 <= nxt[0] < rows and 0 <= nxt[1] < cols and nxt not in seen and int(grid[nxt]) not in self.walls:
                    seen[nxt] = (cell, d)
                    queue.append(nxt)
        return None


NAV = Navigator()


def policy(state, agent_id):
    start = (int(state.positions[agent_id][0]), int(state.positions[agent_id][1]))
    direction = NAV.first_move(state.grid, start, 2)
    if direction is None:
        return 7
    return [0, 3, 1, 2][(direction - int(state.orientations[agent_id])) % 4]
