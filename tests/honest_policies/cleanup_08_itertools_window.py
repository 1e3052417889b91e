# world: cleanup
# task: policy_synthesis, dense feedback (experiments/configs/cleanup_synthesis_dense.yaml)
# idioms: itertools.product, math.hypot, generator expressions, max with a key
import itertools
import math

RADIUS = 4


def policy(state, agent_id):
    grid = state.grid
    rows, cols = grid.shape
    r0, c0 = int(state.positions[agent_id][0]), int(state.positions[agent_id][1])
    best, best_score = None, -math.inf
    for dr, dc in itertools.product(range(-RADIUS, RADIUS + 1), repeat=2):
        r, c = r0 + dr, c0 + dc
        if (dr, dc) == (0, 0) or not (0 <= r < rows and 0 <= c < cols):
            continue
        if grid[r, c] == 2:
            score = 1.0 / (1.0 + math.hypot(dr, dc))
            if score > best_score:
                best, best_score = (dr, dc), score
    if best is None:
        found = helpers.nearest(grid, (r0, c0), targets=2, walls=1)
        return 7 if found is None else helpers.direction_to_action(found.direction, int(state.orientations[agent_id]))
    dr, dc = best
    direction = (0 if dr < 0 else 2) if abs(dr) >= abs(dc) else (1 if dc > 0 else 3)
    nr, nc = r0 + [(-1, 0), (0, 1), (1, 0), (0, -1)][direction][0], c0 + [(-1, 0), (0, 1), (1, 0), (0, -1)][direction][1]
    if grid[nr, nc] == 1:
        return 5
    return helpers.direction_to_action(direction, int(state.orientations[agent_id]))
