"""Rule variants of Cleanup and Gathering, and the pure functions of their dynamics.

Implementations of these games disagree on many details; each set is offered by name
(``rules="ssd"`` | ``"meltingpot"`` | ``"vicgalle"``) and any field can be overridden
(``rule_overrides={"tag_steps": 10}``). Sources:

- ``ssd``: eugenevinitsky/sequential_social_dilemma_games (Vinitsky et al.), the open
  implementation of Leibo et al. 2017 / Hughes et al. 2018. Cleanup: orchard empty at start,
  about one waste cell per step while the density is below 0.4, clean beam of 3 rays x 5 cells
  (each ray clears the first waste it reaches), penalty beam 3 rays x 5 cells stopping at the
  first agent, firer -1, agent hit -50, no removal, no overlap, 15 x 15 view centred on the
  agent. Harvest: regrowth ``P[min(n, 3)] = [0, 0.005, 0.02, 0.05]`` with ``n`` live apples in
  the 3 x 3 block around the cell.
- ``meltingpot``: google-deepmind/meltingpot ``clean_up`` and ``commons_harvest``: orchard
  empty at start (clean_up), dirt spawns with probability 0.5 per step only after step 50,
  cleaning beam length 3 and radius 1 (3 x 3 cells) with cooldown 2 and no cost, zapped agents
  are removed for 50 frames and respawn at a spawn point, no reward cost for zapping, 11 x 11
  view (9 ahead, 1 behind, 5 each side); commons_harvest regrowth
  ``[0, 0.0025, 0.005, 0.025]`` over the L2 disc of radius 2. Simplification: the zapper has
  no cooldown here and uses the cleaning beam's 3 x 3 shape.
- ``vicgalle``: vicgalle/llm-policies-social-dilemmas (2026), the rules of the LLM policy
  synthesis experiments. Cleanup: orchard full at start (a population that never cleans earns
  exactly the 103 initial apples), waste spawns one random clean river cell with probability
  0.5 while the density is below 0.4, clean beam = every waste cell in the 5 x 3 rectangle in
  front, costing -1; penalty beam on the same rectangle: firer -1, agent hit -50 and tagged
  out for 25 steps; agents may overlap; view 7 ahead and 7 each side (8 x 15). Gathering
  (Leibo et al. 2017): an eaten apple returns 25 steps later, a beam 20 long and 1 wide, two
  hits tag an agent out for 25 steps, no reward cost; view 15 ahead and 10 each side. The
  respawn timer does not wait for the cell to be empty: an apple eaten at step ``t`` is back
  at step ``t + 25`` even under an agent, and since the reference respawns before it collects
  (``gathering_env.py``: "Respawn apples (before collection so timer is accurate)"), an agent
  standing on the cell collects it in that same step (``grow_under_agents=True``). Every other
  variant, vicgalle's Cleanup included, grows nothing under an agent.

Cleanup's apple regrowth (Hughes et al. 2018, all variants): with waste density ``d`` (polluted
river cells / river cells), an empty apple cell grows an apple with probability
``0 if d >= 0.4; 0.05 if d <= 0; else 0.05 * (1 - d / 0.4)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "GAMES",
    "GridRules",
    "RULE_SETS",
    "apple_spawn_probability",
    "density_regrowth_probability",
    "get_rules",
    "neighbourhood_offsets",
    "waste_spawn_probability",
]

GAMES = ("cleanup", "gathering")
RULE_SETS = ("ssd", "meltingpot", "vicgalle")


@dataclass(frozen=True)
class GridRules:
    """Every mechanic that differs between implementations, as data.

    Beams are rectangles in front of the agent: ``length`` cells ahead by ``2 * half_width + 1``
    cells across. ``shape="rays"``: each column of the rectangle is a ray from the agent that
    stops at the first wall (and, for the penalty beam with ``fire_stops_at_agent``, at the
    first agent; for the clean beam with ``clean_first_waste_only``, at the first waste).
    ``shape="area"``: every non-wall cell of the rectangle, walls do not block.
    """

    game: Literal["cleanup", "gathering"]
    name: str
    episode_length: int | tuple[int, int] = 1000
    orchard_full_at_start: bool = False
    agents_overlap: bool = False
    # egocentric window: cells ahead of, behind and to each side of the agent
    view_ahead: int = 7
    view_behind: int = 7
    view_side: int = 7
    # penalty ("fire", "zap") beam
    fire_shape: Literal["rays", "area"] = "rays"
    fire_length: int = 5
    fire_half_width: int = 1
    fire_stops_at_agent: bool = True
    fire_cost: float = 1.0
    hit_penalty: float = 50.0
    hits_to_tag: int = 0  # 0: hits never remove an agent
    tag_steps: int = 0
    tagged_stay_on_map: bool = False  # removed agents stay in place (else they leave and respawn)
    fire_cooldown: int = 0
    # cleaning beam (Cleanup)
    clean_shape: Literal["rays", "area"] = "rays"
    clean_length: int = 5
    clean_half_width: int = 1
    clean_first_waste_only: bool = True
    clean_cost: float = 0.0
    clean_cooldown: int = 0
    # Cleanup dynamics (Hughes et al. 2018)
    apple_respawn_prob: float = 0.05
    depletion_threshold: float = 0.4
    restoration_threshold: float = 0.0
    waste_spawn: Literal["ssd", "bernoulli"] = "ssd"
    waste_spawn_prob: float = 0.5
    waste_spawn_delay: int = 0
    # Gathering dynamics
    regrowth: Literal["density", "timer"] = "density"
    regrowth_probs: tuple[float, ...] = (0.0, 0.005, 0.02, 0.05)
    regrowth_radius_sq: int = 2  # cells with dr^2 + dc^2 <= this count as neighbours
    regrowth_delay: int = 25
    # may an apple appear on a cell while an agent stands on it? SSD and vicgalle's Cleanup
    # skip occupied cells; vicgalle's Gathering timer does not wait (the agent collects it at once)
    grow_under_agents: bool = False

    @property
    def view_shape(self) -> tuple[int, int]:
        return (self.view_ahead + 1 + self.view_behind, 2 * self.view_side + 1)

    @property
    def reach(self) -> int:
        """How far from an agent any view or beam reaches (the padding of the core's grids)."""
        return max(
            self.view_ahead, self.view_behind, self.view_side, self.fire_length, self.clean_length,
            self.fire_half_width, self.clean_half_width,
        )

    @property
    def max_episode_length(self) -> int:
        return self.episode_length[1] if isinstance(self.episode_length, tuple) else self.episode_length

    def validate(self) -> GridRules:
        if self.game not in GAMES:
            raise ValueError(f"game must be one of {GAMES}, got {self.game!r}")
        length = self.episode_length
        if isinstance(length, tuple):
            if len(length) != 2 or not all(isinstance(x, int) and x >= 1 for x in length) or length[0] > length[1]:
                raise ValueError(f"episode_length must be an int >= 1 or a (low, high) pair, got {length!r}")
        elif isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"episode_length must be an int >= 1 or a (low, high) pair, got {length!r}")
        for field in ("view_ahead", "view_behind", "view_side", "fire_length", "fire_half_width", "clean_length",
                      "clean_half_width", "hits_to_tag", "tag_steps", "fire_cooldown", "clean_cooldown",
                      "waste_spawn_delay", "regrowth_delay", "regrowth_radius_sq"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{field} must be a non-negative integer, got {value!r}")
        if self.fire_length < 1 or self.clean_length < 1:
            raise ValueError("fire_length and clean_length must be at least 1")
        for field in ("fire_shape", "clean_shape"):
            if getattr(self, field) not in ("rays", "area"):
                raise ValueError(f"{field} must be 'rays' or 'area', got {getattr(self, field)!r}")
        if self.waste_spawn not in ("ssd", "bernoulli"):
            raise ValueError(f"waste_spawn must be 'ssd' or 'bernoulli', got {self.waste_spawn!r}")
        if self.regrowth not in ("density", "timer"):
            raise ValueError(f"regrowth must be 'density' or 'timer', got {self.regrowth!r}")
        if self.hits_to_tag > 0 and self.tag_steps < 1:
            raise ValueError("tag_steps must be at least 1 when hits_to_tag > 0")
        if not isinstance(self.grow_under_agents, bool):
            raise ValueError(f"grow_under_agents must be true or false, got {self.grow_under_agents!r}")
        if not self.regrowth_probs or not all(0.0 <= p <= 1.0 for p in self.regrowth_probs):
            raise ValueError(f"regrowth_probs must be probabilities, got {self.regrowth_probs!r}")
        if not self.restoration_threshold < self.depletion_threshold:
            raise ValueError("restoration_threshold must be below depletion_threshold")
        return self


_SSD = dict(view_ahead=7, view_behind=7, view_side=7, fire_shape="rays", fire_length=5, fire_half_width=1,
            fire_stops_at_agent=True, fire_cost=1.0, hit_penalty=50.0, hits_to_tag=0, tag_steps=0,
            agents_overlap=False)
_MELTINGPOT = dict(view_ahead=9, view_behind=1, view_side=5, fire_shape="rays", fire_length=3, fire_half_width=1,
                   fire_stops_at_agent=False, fire_cost=0.0, hit_penalty=0.0, hits_to_tag=1, tag_steps=50,
                   tagged_stay_on_map=False, agents_overlap=False)

_VARIANTS: dict[tuple[str, str], dict[str, Any]] = {
    ("cleanup", "ssd"): dict(
        _SSD, orchard_full_at_start=False, clean_shape="rays", clean_length=5, clean_half_width=1,
        clean_first_waste_only=True, clean_cost=0.0, waste_spawn="ssd",
    ),
    ("cleanup", "meltingpot"): dict(
        _MELTINGPOT, orchard_full_at_start=False, clean_shape="rays", clean_length=3, clean_half_width=1,
        clean_first_waste_only=False, clean_cost=0.0, clean_cooldown=2, waste_spawn="bernoulli",
        waste_spawn_prob=0.5, waste_spawn_delay=50,
    ),
    ("cleanup", "vicgalle"): dict(
        orchard_full_at_start=True, agents_overlap=True, view_ahead=7, view_behind=0, view_side=7,
        fire_shape="area", fire_length=5, fire_half_width=1, fire_stops_at_agent=False, fire_cost=1.0,
        hit_penalty=50.0, hits_to_tag=1, tag_steps=25, tagged_stay_on_map=True,
        clean_shape="area", clean_length=5, clean_half_width=1, clean_first_waste_only=False, clean_cost=1.0,
        waste_spawn="bernoulli", waste_spawn_prob=0.5,
    ),
    ("gathering", "ssd"): dict(
        _SSD, orchard_full_at_start=True, regrowth="density", regrowth_probs=(0.0, 0.005, 0.02, 0.05),
        regrowth_radius_sq=2,
    ),
    ("gathering", "meltingpot"): dict(
        _MELTINGPOT, orchard_full_at_start=True, regrowth="density", regrowth_probs=(0.0, 0.0025, 0.005, 0.025),
        regrowth_radius_sq=4,
    ),
    ("gathering", "vicgalle"): dict(
        orchard_full_at_start=True, agents_overlap=True, view_ahead=15, view_behind=0, view_side=10,
        fire_shape="area", fire_length=20, fire_half_width=0, fire_stops_at_agent=False, fire_cost=0.0,
        hit_penalty=0.0, hits_to_tag=2, tag_steps=25, tagged_stay_on_map=True, regrowth="timer",
        regrowth_delay=25, grow_under_agents=True,
    ),
}


def get_rules(game: str, rules: str | GridRules = "ssd", overrides: dict[str, Any] | None = None) -> GridRules:
    """The named rule set of ``game`` with ``overrides`` applied (validated)."""
    if game not in GAMES:
        raise ValueError(f"game must be one of {GAMES}, got {game!r}")
    if isinstance(rules, GridRules):
        base = rules
    else:
        if rules not in RULE_SETS:
            raise ValueError(f"rules must be one of {RULE_SETS}, got {rules!r}")
        base = GridRules(game=game, name=rules, **_VARIANTS[(game, rules)])
    if overrides:
        known = {f.name for f in dataclasses.fields(GridRules)} - {"game", "name"}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown rule fields {sorted(unknown)}; known: {sorted(known)}")
        values = dict(overrides)
        if isinstance(values.get("episode_length"), list):
            values["episode_length"] = tuple(values["episode_length"])
        if "regrowth_probs" in values:
            values["regrowth_probs"] = tuple(float(p) for p in values["regrowth_probs"])
        base = dataclasses.replace(base, **values)
    return base.validate()


# ---------------------------------------------------------------------------------------------
# Pure dynamics
# ---------------------------------------------------------------------------------------------


def apple_spawn_probability(
    waste_density: np.ndarray | float,
    *,
    respawn_prob: float = 0.05,
    depletion_threshold: float = 0.4,
    restoration_threshold: float = 0.0,
) -> np.ndarray:
    """Cleanup's per-cell apple growth probability for a waste density (Hughes et al. 2018).

    ``0`` at or above ``depletion_threshold``, ``respawn_prob`` at or below
    ``restoration_threshold``, linear in between:
    ``respawn_prob * (1 - (d - restoration) / (depletion - restoration))``.
    """
    d = np.asarray(waste_density, dtype=np.float64)
    fraction = (d - restoration_threshold) / (depletion_threshold - restoration_threshold)
    p = respawn_prob * (1.0 - fraction)
    p = np.where(d <= restoration_threshold, respawn_prob, p)
    return np.where(d >= depletion_threshold, 0.0, p)


def waste_spawn_probability(
    waste_density: np.ndarray | float,
    clean_cells: np.ndarray | int,
    step: np.ndarray | int,
    *,
    mode: str = "ssd",
    spawn_prob: float = 0.5,
    depletion_threshold: float = 0.4,
    delay: int = 0,
) -> np.ndarray:
    """Probability that one clean river cell (chosen uniformly) becomes polluted this step.

    Zero when the density is at or above ``depletion_threshold``, before step ``delay`` or when
    no river cell is clean. ``mode="bernoulli"`` (vicgalle, Melting Pot): ``spawn_prob``.
    ``mode="ssd"``: SSD visits the clean cells in random order and pollutes the first whose
    coin (``spawn_prob``) comes up, so one cell is polluted with probability
    ``1 - (1 - spawn_prob) ** clean_cells``.
    """
    d = np.asarray(waste_density, dtype=np.float64)
    clean = np.asarray(clean_cells)
    if mode == "ssd":
        p = 1.0 - (1.0 - spawn_prob) ** clean.astype(np.float64)
    elif mode == "bernoulli":
        p = np.full(np.broadcast(d, clean).shape, spawn_prob, dtype=np.float64)
    else:
        raise ValueError(f"mode must be 'ssd' or 'bernoulli', got {mode!r}")
    allowed = (d < depletion_threshold) & (np.asarray(step) >= delay) & (clean > 0)
    return np.where(allowed, p, 0.0)


def density_regrowth_probability(live_neighbours: np.ndarray, probs: tuple[float, ...]) -> np.ndarray:
    """``probs[min(n, len(probs) - 1)]`` for each count ``n`` of live apples nearby."""
    table = np.asarray(probs, dtype=np.float64)
    n = np.minimum(np.asarray(live_neighbours).astype(np.int64), len(table) - 1)
    return table[n]


def neighbourhood_offsets(radius_sq: int) -> list[tuple[int, int]]:
    """``(dr, dc) != (0, 0)`` with ``dr^2 + dc^2 <= radius_sq``: 2 is the 3 x 3 block (SSD),
    4 the L2 disc of radius 2 (Melting Pot, 12 neighbours)."""
    reach = int(np.floor(np.sqrt(radius_sq)))
    return [
        (dr, dc)
        for dr in range(-reach, reach + 1)
        for dc in range(-reach, reach + 1)
        if (dr, dc) != (0, 0) and dr * dr + dc * dc <= radius_sq
    ]
