# world: cleanup
# task: policy_synthesis, sparse feedback (experiments/configs/cleanup_synthesis_sparse.yaml)
# idioms: BFS with collections.deque, helper functions, module constants
from collections import deque

WALL = 1
APPLE = 2
MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]


def bfs_first_direction(grid, start, goal_value):
    rows, cols = grid.shape
    start = (int(start[0]), int(start[1]))
    queue = deque([start])
    first = {start: None}
    while queue:
        r, c = queue.popleft()
        if grid[r, c] == goal_value and (r, c) != start:
            return first[(r, c)]
        for d, (dr, dc) in enumerate(MOVES):
            nr, nc = r + dr, c + dc
            if 0 <= nr < rows and 0 <= nc < cols and (nr, nc) not in first and grid[nr, nc] != WALL:
                first[(nr, nc)] = d if (r, c) == start else first[(r, c)]
                queue.append((nr, nc))
    return None


def to_action(direction, orientation):
    if direction is None:
        return 7
    return [0, 3, 1, 2][(direction - orientation) % 4]


def policy(state, agent_id):
    direction = bfs_first_direction(state.grid, state.positions[agent_id], APPLE)
    return to_action(direction, int(state.orientations[agent_id]))
