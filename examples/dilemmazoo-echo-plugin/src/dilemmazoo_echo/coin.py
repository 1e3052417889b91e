"""Coin — ``dilemmazoo/coin-v0`` from the ``dilemmazoo.worlds`` entry point ``coin-v0``.

Matching pennies (von Neumann and Morgenstern 1944), a toy two-seat world that keeps
dilemmazoo's world contract (:mod:`dilemmazoo.envs.base`). Each of ``n_rounds`` rounds both players
call a side of a coin at the same time: when the calls match, the matcher (``player_0``) wins the
``stake``; when they differ, the mismatcher (``player_1``) wins it. The loser gets 0.

Arguments: ``n_rounds=3`` (>= 1), ``stake=1.0`` (finite, >= 0), ``render_mode=None | "ansi" |
"human"``.

Agents ``player_0`` and ``player_1``. Action: ``Discrete(2)``, 0 = Heads, 1 = Tails.
Observation: ``MultiDiscrete([n_rounds + 2, 3, 3])``: the round (1-based; ``n_rounds + 1`` once
over), the player's last call and the other's (2 before the first round).

Language view: ``rules`` tells the game, ``describe`` the round and the last calls,
``action_spec`` a :class:`~dilemmazoo.envs.base.Choice` of ``Heads``/``Tails`` (``Answer: Heads``),
fallback Heads. Infos: ``round`` (the round just played; 0 at reset), ``matched``.

Version history
---------------
- v0: first version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionSpec, Choice, LanguageWorld, format_number

__all__ = ["CALLS", "CoinEnv"]

#: the sides, in action order
CALLS = ("Heads", "Tails")
_NONE = 2  # "no call yet" in observations


class CoinEnv(LanguageWorld):
    """Matching pennies: two players call a coin at once; the matcher wins on a match, the other on a miss
    (an example plugin world)."""

    metadata = {"render_modes": ["human", "ansi"], "name": "coin_v0", "is_parallelizable": True}

    def __init__(self, n_rounds: int = 3, stake: float = 1.0, render_mode: str | None = None):
        if isinstance(n_rounds, bool) or not isinstance(n_rounds, int) or n_rounds < 1:
            raise ValueError(f"n_rounds must be a whole number >= 1, got {n_rounds!r}")
        if isinstance(stake, bool) or not isinstance(stake, (int, float)) or not math.isfinite(stake) or stake < 0:
            raise ValueError(f"stake must be a finite number >= 0, got {stake!r}")
        self.n_rounds = n_rounds
        self.stake = float(stake)
        self.render_mode = self._checked_render_mode(render_mode)
        self.possible_agents = ["player_0", "player_1"]
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        self._action_spaces = {agent: spaces.Discrete(2) for agent in self.possible_agents}
        self._observation_spaces = {agent: spaces.MultiDiscrete([n_rounds + 2, 3, 3]) for agent in self.possible_agents}
        self.round = 1
        self.calls: list[tuple[int, int]] = []
        self.scores = [0.0, 0.0]

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.agents = list(self.possible_agents)
        self.round = 1
        self.calls = []
        self.scores = [0.0, 0.0]
        return self._observations(), {agent: {"round": 0, "matched": False} for agent in self.agents}

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        calls = []
        for agent in self.possible_agents:
            if agent not in actions or int(actions[agent]) not in (0, 1):
                raise ValueError(f"{agent} must call 0 (Heads) or 1 (Tails), got {actions.get(agent)!r}")
            calls.append(int(actions[agent]))
        matched = calls[0] == calls[1]
        won = [self.stake, 0.0] if matched else [0.0, self.stake]
        self.calls.append((calls[0], calls[1]))
        self.scores = [score + gain for score, gain in zip(self.scores, won)]
        live = list(self.agents)
        rewards = {agent: won[self._seat[agent]] for agent in live}
        infos = {agent: {"round": self.round, "matched": matched} for agent in live}
        self.round += 1
        return self._end_step(live, self.round > self.n_rounds, rewards, infos)

    def rules(self, agent: str) -> str:
        stake = format_number(self.stake)
        wins = f"you win {stake} points when your calls match and the other player wins them when they differ" \
            if self._seat[agent] == 0 else \
            f"you win {stake} points when your calls differ and the other player wins them when they match"
        return (f"You and another player play {self.n_rounds} rounds. Each round you both call a side of a coin, "
                f"Heads or Tails, at the same time: {wins}.")

    def describe(self, agent: str) -> str:
        if not self.agents:
            return "The game is over." if self.calls else "The game has not started."
        me = self._seat[agent]
        lines = [f"It is round {self.round} of {self.n_rounds}. You have {format_number(self.scores[me])} points."]
        if self.calls:
            last = self.calls[-1]
            lines.append(f"Last round you called {CALLS[last[me]]} and the other player called {CALLS[last[1 - me]]}.")
        return "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        return Choice(instruction="Call the coin: end your reply with 'Answer: Heads' or 'Answer: Tails'.",
                      fallback=0, labels=CALLS, actions=(0, 1))

    def _render_text(self) -> str:
        return f"Coin: {len(self.calls)} of {self.n_rounds} rounds played; scores {self.scores}"

    def _observations(self) -> dict[str, np.ndarray]:
        last = self.calls[-1] if self.calls else (_NONE, _NONE)
        return {agent: np.array([min(self.round, self.n_rounds + 1), last[me], last[1 - me]], dtype=np.int64)
                for agent, me in self._seat.items()}
