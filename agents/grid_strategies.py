"""Scripted agents for the grid worlds (Cleanup, Gathering): baselines and test opponents.

- :class:`GridRandom` picks an action uniformly at random (from its own ``rng``).
- :class:`AppleSeeker` walks the shortest path (breadth-first search) to the nearest apple it
  can see and never cleans or fires: the "BFS harvester" baseline of vicgalle's LLM policy
  synthesis paper (Cleanup all-BFS efficiency 0.103, Gathering 1.545 under its rules).
- :class:`Cleaner` walks to the nearest waste it can see and fires the cleaning beam when waste
  lies in the beam's footprint ahead (turning towards waste beside or behind it first).
- :class:`RoleSplit` divides the seats: the first ``n_cleaners`` seats (``player_0`` ..) clean,
  the others harvest, the classic division of labour in Cleanup (Hughes et al. 2018 observe
  it emerging in inequity-averse populations).

They read only their own observation: an egocentric window (``observation="rgb"`` or
``"symbolic"``; the viewer's own cell marks where it stands, "up" is forward) or the full-state
``"global"`` view. Agents that see no target explore: forward until a wall, then a random
turn. They answer through the world's :class:`~dilemmazoo.envs.base.Choice` spec by action
name, so Gathering (no ``clean``) and Cleanup share them.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs.base import Choice
from dilemmazoo.envs.gridworld.core import APPLE, SELF, WALL, WASTE, symbolic_from_rgb

__all__ = [
    "AppleSeeker",
    "Cleaner",
    "GRID_STRATEGIES",
    "GridRandom",
    "RoleSplit",
    "distance_field",
    "read_grid",
]

# Grid directions: up, right, down, left as (row, col) steps.
_STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))
# The move that goes in grid direction d for an agent facing f: index (d - f) % 4.
_MOVE_FOR_RELATIVE = ("forward", "step_right", "backward", "step_left")


def distance_field(passable: np.ndarray, sources: np.ndarray, stop_at: tuple[int, int] | None = None) -> np.ndarray:
    """Breadth-first distances (4-neighbourhood) from the nearest source; -1 where unreachable.

    Computed a whole wavefront at a time with array shifts; stops early once ``stop_at`` is
    reached.
    """
    dist = np.full(passable.shape, -1, dtype=np.int64)
    frontier = sources & passable
    dist[frontier] = 0
    d = 0
    while frontier.any():
        if stop_at is not None and dist[stop_at] >= 0:
            break
        d += 1
        grown = np.zeros_like(frontier)
        grown[1:] |= frontier[:-1]
        grown[:-1] |= frontier[1:]
        grown[:, 1:] |= frontier[:, :-1]
        grown[:, :-1] |= frontier[:, 1:]
        frontier = grown & passable & (dist < 0)
        dist[frontier] = d
    return dist


def read_grid(observation: Any) -> tuple[np.ndarray, tuple[int, int], int]:
    """``(codes, own cell, facing)`` from any grid observation kind.

    Egocentric windows face up (``facing = 0``); the global view gives the absolute facing
    (0 north, 1 east, 2 south, 3 west) with north up.
    """
    if isinstance(observation, dict):
        position = np.asarray(observation["position"]).astype(int)
        return np.asarray(observation["map"]), (int(position[0]), int(position[1])), int(observation["orientation"])
    array = np.asarray(observation)
    codes = symbolic_from_rgb(array) if array.ndim == 3 else array
    where = np.argwhere(codes == SELF)
    if len(where) != 1:
        raise ValueError("an egocentric window must show the viewer exactly once")
    return codes, (int(where[0, 0]), int(where[0, 1])), 0


def _answer(request: Decision, name: str) -> Action:
    spec = request.spec
    if not isinstance(spec, Choice):
        raise TypeError(f"grid strategies answer Choice specs, got {type(spec).__name__}")
    labels = list(spec.labels)
    if name not in labels:
        name = "stay" if "stay" in labels else labels[0]
    return Action(value=spec.actions[labels.index(name)], raw_text=f"Answer: {name}")


class _GridAgent:
    """Shared plumbing: seat, rng, and moving along a distance field."""

    def __init__(self) -> None:
        self.agent_id = ""
        self.rng = np.random.default_rng(0)

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        self.agent_id = agent_id
        self.rng = rng

    @staticmethod
    def _step_towards(codes: np.ndarray, me: tuple[int, int], facing: int, targets: np.ndarray) -> str | None:
        """The move along a shortest path to the nearest target; ``None`` when none is reachable."""
        passable = codes != WALL
        passable[me] = True
        dist = distance_field(passable, targets, stop_at=me)
        here = dist[me]
        if here < 0:
            return None
        if here == 0:
            return "stay"
        # prefer forward, then sideways, then backward: fewer surprises for agents behind
        for relative in (0, 3, 1, 2):
            direction = (relative + facing) % 4
            r, c = me[0] + _STEPS[direction][0], me[1] + _STEPS[direction][1]
            if 0 <= r < dist.shape[0] and 0 <= c < dist.shape[1] and dist[r, c] == here - 1:
                return _MOVE_FOR_RELATIVE[relative]
        return None

    def _explore(self, codes: np.ndarray, me: tuple[int, int], facing: int) -> str:
        """Forward until a wall (or, one time in ten, anyway), then a random turn."""
        r, c = me[0] + _STEPS[facing][0], me[1] + _STEPS[facing][1]
        ahead = codes[r, c] if 0 <= r < codes.shape[0] and 0 <= c < codes.shape[1] else WALL
        if ahead != WALL and self.rng.random() >= 0.1:
            return "forward"
        return "turn_left" if self.rng.random() < 0.5 else "turn_right"


class GridRandom(_GridAgent):
    """A uniformly random action each step."""

    def act(self, request: Decision) -> Action:
        labels = list(request.spec.labels)
        return _answer(request, labels[int(self.rng.integers(len(labels)))])


class AppleSeeker(_GridAgent):
    """Shortest path to the nearest visible apple; explores when none is in view."""

    def act(self, request: Decision) -> Action:
        return _answer(request, self.harvest(request.observation))

    def harvest(self, observation: Any) -> str:
        codes, me, facing = read_grid(observation)
        move = self._step_towards(codes, me, facing, codes == APPLE)
        return move if move is not None else self._explore(codes, me, facing)


class Cleaner(_GridAgent):
    """Walks to visible waste and cleans it when it lies in the beam's footprint ahead.

    ``beam_length`` and ``beam_half_width`` describe the cleaning beam (5 and 1 under the
    ``ssd`` and ``vicgalle`` rules, 3 and 1 under ``meltingpot``).
    """

    def __init__(self, beam_length: int = 5, beam_half_width: int = 1):
        super().__init__()
        if beam_length < 1 or beam_half_width < 0:
            raise ValueError("beam_length must be >= 1 and beam_half_width >= 0")
        self.beam_length = beam_length
        self.beam_half_width = beam_half_width

    def act(self, request: Decision) -> Action:
        return _answer(request, self.clean(request.observation))

    def _waste_in_footprint(self, waste: np.ndarray, me: tuple[int, int], direction: int) -> bool:
        forward, right = _STEPS[direction], _STEPS[(direction + 1) % 4]
        for ahead in range(1, self.beam_length + 1):
            for lateral in range(-self.beam_half_width, self.beam_half_width + 1):
                r = me[0] + ahead * forward[0] + lateral * right[0]
                c = me[1] + ahead * forward[1] + lateral * right[1]
                if 0 <= r < waste.shape[0] and 0 <= c < waste.shape[1] and waste[r, c]:
                    return True
        return False

    def clean(self, observation: Any) -> str:
        codes, me, facing = read_grid(observation)
        waste = codes == WASTE
        if not waste.any():
            return self._explore(codes, me, facing)
        for relative, move in ((0, "clean"), (1, "turn_right"), (3, "turn_left"), (2, "turn_right")):
            if self._waste_in_footprint(waste, me, (facing + relative) % 4):
                return move
        move = self._step_towards(codes, me, facing, waste)
        return move if move is not None else self._explore(codes, me, facing)


class RoleSplit(_GridAgent):
    """Seats ``player_0 .. player_{n_cleaners - 1}`` clean, every other seat harvests."""

    def __init__(self, n_cleaners: int = 2, beam_length: int = 5, beam_half_width: int = 1):
        super().__init__()
        if n_cleaners < 0:
            raise ValueError(f"n_cleaners must be >= 0, got {n_cleaners}")
        self.n_cleaners = n_cleaners
        self._cleaner = Cleaner(beam_length, beam_half_width)
        self._harvester = AppleSeeker()

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        super().reset(agent_id, rules, rng)
        self._cleaner.reset(agent_id, rules, rng)
        self._harvester.reset(agent_id, rules, rng)

    @property
    def role(self) -> str:
        match = re.search(r"(\d+)$", self.agent_id)
        seat = int(match.group(1)) if match else 0
        return "cleaner" if seat < self.n_cleaners else "harvester"

    def act(self, request: Decision) -> Action:
        if self.role == "cleaner":
            return _answer(request, self._cleaner.clean(request.observation))
        return _answer(request, self._harvester.harvest(request.observation))


GRID_STRATEGIES: dict[str, type] = {
    "grid_random": GridRandom,
    "grid_bfs": AppleSeeker,
    "grid_cleaner": Cleaner,
    "grid_roles": RoleSplit,
}
