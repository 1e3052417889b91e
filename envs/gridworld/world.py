"""The PettingZoo view (B = 1) of the batched grid-world core, shared by Cleanup and Gathering.

The game pages are the module docstrings of :mod:`.cleanup` and :mod:`.gathering`; this module
holds what both worlds do alike: spaces, the step plumbing, infos, rendering and the language
interface.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionSpec, Choice, LanguageWorld
from dilemmazoo.envs.checks import check_choice
from dilemmazoo.envs.gridworld.core import (
    AGENT_DOWN,
    AGENT_LEFT,
    AGENT_RIGHT,
    AGENT_UP,
    APPLE,
    EMPTY,
    N_CODES,
    ORIENTATIONS,
    RIVER,
    SELF,
    STAY,
    STREAM,
    TAGGED,
    WALL,
    WASTE,
    GridCore,
)
from dilemmazoo.envs.gridworld.maps import GridMap
from dilemmazoo.envs.gridworld.rules import get_rules

__all__ = ["GridWorldEnv", "OBSERVATION_KINDS", "VIEW_CHARS", "view_text"]

OBSERVATION_KINDS = ("rgb", "symbolic", "global")

# One character per cell code for text views (egocentric: the viewer is "@", facing up).
VIEW_CHARS = {
    EMPTY: ".", WALL: "#", APPLE: "A", RIVER: "~", WASTE: "W", STREAM: "=",
    AGENT_UP: "^", AGENT_RIGHT: ">", AGENT_DOWN: "v", AGENT_LEFT: "<", TAGGED: "x", SELF: "@",
}
_CHAR_LUT = np.array([VIEW_CHARS[c] for c in range(N_CODES)])

_ACTION_HELP = {
    "forward": "move one cell forward",
    "backward": "move one cell backward",
    "step_left": "move one cell to your left without turning",
    "step_right": "move one cell to your right without turning",
    "turn_left": "turn 90 degrees to the left",
    "turn_right": "turn 90 degrees to the right",
    "fire": "fire the penalty beam ahead of you",
    "stay": "do nothing",
    "clean": "fire the cleaning beam ahead of you to remove waste from the river",
}


def view_text(codes: np.ndarray) -> str:
    """A symbolic window (cell codes) as rows of characters (legend: :data:`VIEW_CHARS`)."""
    return "\n".join("".join(row) for row in _CHAR_LUT[np.asarray(codes)])


class GridWorldEnv(LanguageWorld):
    """Base of the grid worlds: a :class:`GridCore` with ``batch_size=1`` behind the PettingZoo API."""

    game = "cleanup"
    default_map = "cleanup"
    title = "Cleanup"
    metadata = {"render_modes": ["human", "ansi", "rgb_array"], "name": "gridworld_v0", "is_parallelizable": True,
                "render_fps": 8}

    def __init__(
        self,
        n_agents: int = 5,
        rules: str = "ssd",
        grid_map: str | GridMap | None = None,
        observation: str = "rgb",
        episode_length: int | tuple[int, int] | None = None,
        rule_overrides: dict[str, Any] | None = None,
        render_mode: str | None = None,
    ):
        overrides = dict(rule_overrides or {})
        if episode_length is not None:
            overrides["episode_length"] = tuple(episode_length) if isinstance(episode_length, list) else episode_length
        self.rule_set = get_rules(self.game, rules, overrides)
        self.observation_kind = check_choice("observation", observation, OBSERVATION_KINDS)
        self.render_mode = self._checked_render_mode(render_mode)
        self.core = GridCore(self.game, grid_map if grid_map is not None else self.default_map, self.rule_set,
                             n_agents, batch_size=1)
        self.n_agents = self.core.n_agents
        self.action_names = self.core.actions
        self.possible_agents = [f"player_{i}" for i in range(self.n_agents)]
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        self._action_spaces = {agent: spaces.Discrete(len(self.action_names)) for agent in self.possible_agents}
        h, w = self.core.view_shape
        height, width = self.core.map.height, self.core.map.width
        if observation == "rgb":
            make_space = lambda: spaces.Box(0, 255, (h, w, 3), np.uint8)  # noqa: E731
        elif observation == "symbolic":
            make_space = lambda: spaces.Box(0, N_CODES - 1, (h, w), np.uint8)  # noqa: E731
        else:
            make_space = lambda: spaces.Dict(  # noqa: E731
                {
                    "map": spaces.Box(0, N_CODES - 1, (height, width), np.uint8),
                    "position": spaces.Box(0, max(height, width) - 1, (2,), np.int64),
                    "orientation": spaces.Discrete(4),
                }
            )
        self._observation_spaces = {agent: make_space() for agent in self.possible_agents}
        self.scores = np.zeros(self.n_agents)
        self._started = False

    # -- PettingZoo API -------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is None and self._started:
            seed = int(self.core._generators[0].integers(2**63))  # continue this world's own stream
        self.core.reset([seed])
        self._started = True
        self.agents = list(self.possible_agents)
        self.scores = np.zeros(self.n_agents)
        infos = {agent: self._info(i) for i, agent in enumerate(self.possible_agents)}
        return self._observations(), infos

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        chosen = np.full((1, self.n_agents), STAY, dtype=np.int64)
        for agent, action in actions.items():
            chosen[0, self._seat[agent]] = self._decode(agent, action)
        rewards, dones = self.core.step(chosen)
        self.scores += rewards[0]
        live = list(self.agents)
        reward_dict = {agent: float(rewards[0, self._seat[agent]]) for agent in live}
        infos = {agent: self._info(self._seat[agent]) for agent in live}
        return self._end_step(live, bool(dones[0]), reward_dict, infos)

    def _decode(self, agent: str, action: Any) -> int:
        value = np.asarray(action)
        if value.shape != () or value.dtype.kind not in "iu":
            raise ValueError(f"{agent}'s action must be an integer in 0..{len(self.action_names) - 1}, got {action!r}")
        index = int(value)
        if not 0 <= index < len(self.action_names):
            raise ValueError(f"{agent}'s action must be in 0..{len(self.action_names) - 1} "
                             f"({', '.join(self.action_names)}), got {index}")
        return index

    def _observations(self) -> dict[str, Any]:
        core = self.core
        if self.observation_kind == "global":
            grid = core.global_codes(0).copy()
            grid.flags.writeable = False  # one array shared by every agent's observation
            rc = core.cell_of(core.position[0])
            return {
                agent: {"map": grid, "position": rc[i].astype(np.int64),
                        "orientation": np.int64(core.orientation[0, i])}
                for i, agent in enumerate(self.possible_agents)
            }
        windows = core.observe(self.observation_kind)[0]
        return {agent: windows[i] for i, agent in enumerate(self.possible_agents)}

    def _info(self, seat: int) -> dict[str, Any]:
        core = self.core
        return {
            "step": int(core.step_count[0]),
            "apples_collected": int(core.last_collected[0, seat]),
            "fired": bool(core.last_fired[0, seat]),
            "cleaned": bool(core.last_cleaned[0, seat]),
            "hits_taken": int(core.last_hits[0, seat]),
            "tagged": bool(core.last_tagged[0, seat]),
            "apples_on_map": int(core.apples[0].sum()),
            "waste_density": float(core.waste_density()[0]),
        }

    # -- turn-taking ----------------------------------------------------------------------------

    def deciders(self) -> list[str]:
        """Agents that can act: every live agent not removed by a beam."""
        if not self.agents:
            return []
        removed = self.core.removed_steps[0]
        return [a for a in self.agents if removed[self._seat[a]] <= 1]

    def idle_action(self, agent: str) -> np.int64:
        return np.int64(STAY)

    # -- rendering ------------------------------------------------------------------------------

    def render(self):
        if self.render_mode == "rgb_array":
            return self.core.render_rgb(0)
        return super().render()

    def _render_text(self) -> str:
        core = self.core
        chars = np.array(list("".join(core.map.rows))).reshape(core.map.height, core.map.width)
        chars = np.where(np.isin(chars, ["P", "."]), " ", chars)
        chars = np.where(chars == "H", "R", chars)  # river cells, polluted or not, redrawn below
        apples = core.map.apple_cells
        chars[apples[:, 0], apples[:, 1]] = np.where(core.apples[0], "A", " ")
        river = core.map.river_cells
        if len(river):
            chars[river[:, 0], river[:, 1]] = np.where(core.waste[0], "H", "R")
        rc = core.cell_of(core.position[0])
        for i in range(self.n_agents):
            if core.on_map[0, i]:
                chars[rc[i, 0], rc[i, 1]] = str(i % 10) if core.removed_steps[0, i] == 0 else "x"
        header = (
            f"{self.title} ({self.rule_set.name} rules), step {int(core.step_count[0])} of "
            f"{int(core.episode_length[0])}; scores: " + ", ".join(f"{s:g}" for s in self.scores)
        )
        if self.game == "cleanup":
            header += f"; waste density {float(core.waste_density()[0]):.2f}"
        return header + "\n" + "\n".join("".join(row) for row in chars)

    # -- language view --------------------------------------------------------------------------

    def _rules_mechanics(self) -> list[str]:
        raise NotImplementedError

    def rules(self, agent: str) -> str:
        r = self.rule_set
        lines = [
            f"You are one of {self.n_agents} players in {self.title}, a grid world seen from above. "
            f"The game lasts {self._length_text()} steps; every step all players act at the same time.",
            "You collect an apple (+1 point) by stepping onto its cell.",
            *self._rules_mechanics(),
        ]
        fire = []
        if r.fire_cost:
            fire.append(f"firing costs you {r.fire_cost:g} point")
        if r.hit_penalty:
            fire.append(f"each player hit loses {r.hit_penalty:g} points")
        if r.hits_to_tag:
            hits = "a hit removes" if r.hits_to_tag == 1 else f"{r.hits_to_tag} hits remove"
            fire.append(f"{hits} a player from the game for {r.tag_steps} steps")
        lines.append(
            f"The penalty beam reaches {r.fire_length} cells ahead and {2 * r.fire_half_width + 1} cells wide; "
            + ("; ".join(fire) if fire else "it has no effect on points") + "."
        )
        if not r.agents_overlap:
            lines.append("Two players cannot stand on the same cell.")
        lines.append("Moves are relative to the way you face. Actions: " + "; ".join(
            f"{name} ({_ACTION_HELP[name]})" for name in self.action_names) + ".")
        lines.append("Your goal is to collect as many points as possible by the end of the game.")
        return "\n".join(lines)

    def _length_text(self) -> str:
        length = self.rule_set.episode_length
        return f"between {length[0]} and {length[1]}" if isinstance(length, tuple) else str(length)

    def describe(self, agent: str) -> str:
        core, seat = self.core, self._seat[agent]
        if not self._started:
            return "The game has not started."
        if not self.agents:
            return f"The game is over. Your score: {self.scores[seat]:g}."
        row, col = core.cell_of(core.position[0, seat])
        facing = ORIENTATIONS[int(core.orientation[0, seat])]
        lines = [f"Step {int(core.step_count[0]) + 1} of {int(core.episode_length[0])}. You are {agent} at row {row}, "
                 f"column {col}, facing {facing}. Your score so far: {self.scores[seat]:g}."]
        removed = int(core.removed_steps[0, seat])
        if removed > 1:
            lines.append(f"You were hit and are out of the game for {removed - 1} more steps; you cannot act.")
        lines.append(f"Apples on the map: {int(core.apples[0].sum())}.")
        if self.game == "cleanup":
            density = float(core.waste_density()[0])
            lines.append(
                f"River pollution: {density:.0%} of the river cells (apples only grow while it is below "
                f"{self.rule_set.depletion_threshold:.0%}, fastest when the river is clean)."
            )
        window = core.observe("symbolic")[0, seat]
        h, w = window.shape
        apples = np.argwhere(window == APPLE)
        if len(apples):
            ahead = self.rule_set.view_ahead - apples[:, 0]
            right = apples[:, 1] - self.rule_set.view_side
            nearest = int(np.argmin(np.abs(ahead) + np.abs(right)))
            lines.append(f"Nearest apple in view: {_relative(int(ahead[nearest]), int(right[nearest]))}.")
        else:
            lines.append("No apple in view.")
        others = int(np.isin(window, [AGENT_UP, AGENT_RIGHT, AGENT_DOWN, AGENT_LEFT]).sum())
        lines.append(f"Other active players in view: {others}.")
        lines.append(
            f"Your view ({h} x {w} cells, you are '@' facing up; A apple, # wall, ~ river, W waste, = stream, "
            "^ > v < other players by the way they face, x removed player, . empty):"
        )
        lines.append(view_text(window))
        return "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        """A :class:`~dilemmazoo.envs.base.Choice` over the action names. Answer grammar: the last
        ``Answer:`` line names exactly one action as written ("turn_left", not "turn left"); two
        actions, a negation ("not fire") or another world's move ("fire to punish") is invalid."""
        labels = tuple(self.action_names)
        return Choice(
            instruction="Choose your action for this step. End your reply with 'Answer: <action>', where <action> is "
            "one of: " + ", ".join(labels) + ".",
            fallback=np.int64(STAY),
            labels=labels,
            actions=tuple(np.int64(i) for i in range(len(labels))),
        )


def _relative(ahead: int, right: int) -> str:
    parts = []
    if ahead:
        parts.append(f"{abs(ahead)} {'ahead' if ahead > 0 else 'behind'}")
    if right:
        parts.append(f"{abs(right)} to the {'right' if right > 0 else 'left'}")
    return ", ".join(parts) or "under you"
