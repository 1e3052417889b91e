# world: gathering
# task: policy_synthesis, dense feedback (experiments/configs/gathering_synthesis_dense.yaml)
# idioms: a small class with __init__, __repr__, __lt__ and __hash__; heapq over instances; set
import heapq


class Node:
    def __init__(self, cost, cell, first):
        self.cost = cost
        self.cell = cell
        self.first = first

    def __lt__(self, other):
        return self.cost < other.cost

    def __repr__(self):
        return f"Node({self.cost}, {self.cell})"

    def __hash__(self):
        return hash(self.cell)

    def __eq__(self, other):
        return self.cell == other.cell


def policy(state, agent_id):
    grid = state.grid
    start = (int(state.positions[agent_id][0]), int(state.positions[agent_id][1]))
    heap = [Node(0, start, None)]
    closed = set()
    while heap:
        node = heapq.heappop(heap)
        if node in closed:
            continue
        closed.add(node)
        if grid[node.cell] == 2 and node.cell != start:
            return helpers.direction_to_action(node.first, int(state.orientations[agent_id]))
        for direction, (dr, dc) in enumerate(((-1, 0), (0, 1), (1, 0), (0, -1))):
            nxt = (node.cell[0] + dr, node.cell[1] + dc)
            if grid[nxt] != 1:
                heapq.heappush(heap, Node(node.cost + 1, nxt, direction if node.first is None else node.first))
    return 7
