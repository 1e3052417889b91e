"""Split No-Comm — ``dilemmazoo/split-nocomm-v0``.

Source: "Learning Robust Social Strategies with Large Language Models" (arXiv 2511.19405;
dereckpiche/AdAlignLLM), the Split game without communication; after Duque et al.,
"Advantage Alignment Algorithms" (ICLR 2025).

The game
--------
Items (``items=("hats", "books", "balls")``), ``units=10`` of each, ``n_rounds=10``. Each
round per-item values are drawn from ``item_values=(1.0, 10.0)`` for both players and are
public (:func:`draw_item_values`); they are redrawn until some item *conflicts* (both players
give it the higher value) and both players' value sums are equal. No messages: every step both
players propose, per item, how many units they keep; each item is shared by the proportional
allocation rule of :mod:`dilemmazoo.envs.split_rule` (claims that fit the ``units`` are granted,
the rest wasted; otherwise ``q_i = units * x_i / (x_A + x_B)``), and the reward is the sum over
items of ``q_item * value_item``. The spec's fixed opponents are greedy (keeps everything) and
welfare-maximiser (item to the higher valuer, ties 5/5); they are players, not part of this
world (:mod:`dilemmazoo.agents.split_strategies`).

Arguments: ``n_rounds=10``, ``items=("hats", "books", "balls")`` (distinct lower-case names),
``units=10``, ``item_values=(1.0, 10.0)`` (at least two different finite non-negative values),
``render_mode=None | "ansi" | "human"``.

Agents ``player_0`` and ``player_1``. Action: ``Box(0, units, (len(items),), int64)``.
Observation: ``round``, ``values``, ``other_values`` (Box, this round),
``last_other_proposal`` (Box(-1, units), -1 before the first round), ``last_reward``.

Language view: ``rules`` tells the items, the public values, the allocation rule and that there
is no talk; ``describe`` the round, both players' values this round, the previous round's
proposals and the player's points. ``action_spec``: an :class:`ItemProposal`.

Infos: ``round``, ``value_<item>``, ``other_value_<item>``, ``proposal_<item>``,
``other_proposal_<item>``, ``coins_<item>`` (units received; -1 / 0.0 at reset),
``max_welfare`` (sum over items of ``units * max(v_A, v_B)``). Answer grammar
(:class:`ItemProposal`): ``Answer: hats 10, books 5, balls 0`` (every item named once, any
order) or ``Answer: 10, 5, 0`` (in item order); exactly one whole number per item. Fallback:
half of every item (``units // 2``).

Version history
---------------
- v0: first version (the Trust-and-Split module held it until the worlds got one module each;
  mechanics unchanged).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import (
    NUMBER, ActionParseError, ActionSpec, LanguageWorld, answer_line, check_answer_words, format_number,
    normalize_answer, plain_numbers,
)
from dilemmazoo.envs.checks import check_int
from dilemmazoo.envs.split_rule import check_unit_value, proportional_allocation

__all__ = ["ItemProposal", "SplitNoCommEnv", "draw_item_values"]


# ---------------------------------------------------------------------------------------------
# Pure mechanics
# ---------------------------------------------------------------------------------------------


def draw_item_values(
    rng: np.random.Generator, n_items: int, levels: Sequence[float] = (1.0, 10.0), max_tries: int = 10_000
) -> tuple[np.ndarray, np.ndarray]:
    """Per-item values for both players, redrawn until some item conflicts (both give it the
    highest level) and both value sums are equal."""
    levels_array = np.asarray(levels, dtype=np.float64)
    top = levels_array.max()
    for _ in range(max_tries):
        values = rng.choice(levels_array, size=(2, n_items))
        if np.any((values[0] == top) & (values[1] == top)) and values[0].sum() == values[1].sum():
            return values[0], values[1]
    raise ValueError(f"no values with a conflict and equal sums found for {n_items} items and levels {list(levels)}")


# ---------------------------------------------------------------------------------------------
# Action spec
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemProposal(ActionSpec):
    """Whole units to keep of each item; ``make_action(list[int])`` builds the action.

    Grammar: the last ``Answer:`` of the normalized text (as :class:`~dilemmazoo.envs.base.Amount`
    reads it) holds exactly one number per item, either each right after its item's name, every
    name once (``Answer: hats 10, books 5, balls 0``, any order, ``:`` or ``=`` allowed), or
    without names in the order of ``items`` (``Answer: 10, 5, 0``). A mix, a missing or extra
    number, a name twice, a fraction, a number outside ``0..units``, a percentage, a negation or
    a move word other than "propose"/"split" (:data:`~dilemmazoo.envs.base.MOVE_WORDS`) is invalid.
    """

    items: Sequence[str] = ()
    units: int = 10
    make_action: Any = None

    def parse(self, text: str) -> Any:
        content = answer_line(normalize_answer(text or ""))
        check_answer_words(content, ("propose", "split"))
        lowered = content.lower()
        numbers = plain_numbers(lowered, 0, self.units)
        named = [re.findall(rf"\b{re.escape(item.lower())}\b\s*[:=]?\s*({NUMBER.pattern})?", lowered) for item in self.items]
        example = f"'Answer: {', '.join(f'{item} {self.units // 2}' for item in self.items)}'"
        if len(numbers) != len(self.items):
            raise ActionParseError(
                f"Give one whole number per item ({', '.join(self.items)}), e.g. {example}; found {len(numbers)} numbers."
            )
        if all(not hits for hits in named):
            raw = numbers
        elif all(len(hits) == 1 and hits[0] for hits in named):
            raw = [hits[0] for hits in named]
        else:
            raise ActionParseError(f"Name every item once, each followed by its number, e.g. {example}; or give the numbers alone.")
        values = []
        for item, token in zip(self.items, raw):
            number = float(token.replace(",", "")) + 0.0
            if number != int(number) or not 0 <= number <= self.units:
                raise ActionParseError(f"The amount for {item} must be a whole number from 0 to {self.units}, got {token}.")
            values.append(int(number))
        return self.make_action(values)


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------


class SplitNoCommEnv(LanguageWorld):
    """Split items with public values by simultaneous proposals, without talk (Split No-Comm, arXiv 2511.19405)."""

    metadata = {"render_modes": ["human", "ansi"], "name": "split_nocomm_v0", "is_parallelizable": True}

    def __init__(
        self,
        n_rounds: int = 10,
        items: Sequence[str] = ("hats", "books", "balls"),
        units: int = 10,
        item_values: Sequence[float] = (1.0, 10.0),
        render_mode: str | None = None,
    ):
        self.n_rounds = check_int("n_rounds", n_rounds, 1)
        if isinstance(items, str) or not isinstance(items, Sequence) or not items:
            raise ValueError(f"items must be a non-empty list of names, got {items!r}")
        names = tuple(items)
        if not all(isinstance(x, str) and re.fullmatch(r"[a-z][a-z_]*", x) for x in names) or len(set(names)) != len(names):
            raise ValueError(f"items must be distinct lower-case names (letters and _), got {list(names)}")
        self.items = names
        self.units = check_int("units", units, 1)
        levels = tuple(check_unit_value("item_values", v) for v in item_values) if isinstance(item_values, Sequence) else ()
        if len(set(levels)) < 2:
            raise ValueError(f"item_values must hold at least two different values, got {item_values!r}")
        self.item_values = levels
        self.render_mode = self._checked_render_mode(render_mode)
        self.possible_agents = ["player_0", "player_1"]
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        k, top = len(self.items), max(levels)
        self._action_spaces = {a: spaces.Box(0, self.units, (k,), np.int64) for a in self.possible_agents}
        self._observation_spaces = {
            agent: spaces.Dict(
                {
                    "round": spaces.Discrete(self.n_rounds + 2),
                    "values": spaces.Box(0.0, top, (k,), np.float64),
                    "other_values": spaces.Box(0.0, top, (k,), np.float64),
                    "last_other_proposal": spaces.Box(-1, self.units, (k,), np.int64),
                    "last_reward": spaces.Box(0.0, np.inf, (1,), np.float64),
                }
            )
            for agent in self.possible_agents
        }
        self._rng: np.random.Generator | None = None
        self.round = 1
        self.current_values = np.ones((2, k))
        self.history: list[dict[str, Any]] = []
        self.scores = np.zeros(2, dtype=np.float64)

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self.round = 1
        self.history = []
        self.scores = np.zeros(2, dtype=np.float64)
        self.current_values = np.stack(draw_item_values(self._rng, len(self.items), self.item_values))
        self.agents = list(self.possible_agents)
        return self._observations(), {a: self._info(a, 0, None) for a in self.agents}

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        proposals = []
        for agent in self.possible_agents:
            if agent not in actions:
                raise ValueError(f"{agent} must propose every step")
            proposals.append(self._proposal_of(agent, actions[agent]))
        values = self.current_values
        got = np.array([proportional_allocation(a, b, self.units) for a, b in zip(*proposals)]).T  # (2, k)
        earned = (got * values).sum(axis=1)
        self.scores += earned
        record = {"values": values, "proposals": np.array(proposals), "coins": got, "rewards": earned}
        self.history.append(record)
        live, played = list(self.agents), self.round
        rewards = {a: float(earned[self._seat[a]]) for a in live}
        infos = {a: self._info(a, played, record) for a in live}
        self.round += 1
        done = self.round > self.n_rounds
        if not done:
            self.current_values = np.stack(draw_item_values(self._rng, len(self.items), self.item_values))
        return self._end_step(live, done, rewards, infos)

    def _render_text(self) -> str:
        return (f"Split No-Comm: {len(self.history)} of {self.n_rounds} rounds played; "
                f"scores {format_number(self.scores[0])}, {format_number(self.scores[1])}")

    def rules(self, agent: str) -> str:
        items, n = ", ".join(self.items), self.units
        return "\n".join(
            [
                f"You are playing a game with another player for {self.n_rounds} rounds. Each round there are "
                f"{n} units each of {items} to split between you. There is no way to talk to the other player.",
                "Each round both players' values per unit of every item are shown to both of you.",
                f"Both of you, at the same time, propose how many units of each item (a whole number from 0 to {n}) "
                f"you keep. For each item: if the two proposals add up to {n} or less, each gets what they proposed "
                f"and the rest is lost; otherwise the item is shared in proportion to the proposals: you get "
                f"{n} * (your proposal) / (sum of both proposals) units.",
                "Your points in a round are the sum over items of the units you get times your value per unit. "
                "The rounds are independent.",
                "Your goal is to win as many points as possible over all rounds.",
            ]
        )

    def describe(self, agent: str) -> str:
        me = self._seat[agent]
        score = f"You have {format_number(self.scores[me])} points; the other player has {format_number(self.scores[1 - me])} points."
        if not self.agents:
            return f"The game is over. {score}" if self.history else "The game has not started."
        lines = [f"It is round {self.round} of {self.n_rounds}."]
        if self.history:
            last = self.history[-1]
            mine = ", ".join(f"{item} {int(x)}" for item, x in zip(self.items, last["proposals"][me]))
            theirs = ", ".join(f"{item} {int(x)}" for item, x in zip(self.items, last["proposals"][1 - me]))
            lines.append(
                f"In the previous round you proposed {mine}; the other player proposed {theirs}. "
                f"You won {format_number(last['rewards'][me])} points."
            )
        lines.append(score)
        values = self.current_values
        lines.append("Values per unit this round: " + "; ".join(
            f"{item}: you {format_number(values[me][i])}, the other player {format_number(values[1 - me][i])}" for i, item in enumerate(self.items)
        ) + ".")
        return "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        half = self.units // 2
        example = ", ".join(f"{item} <units>" for item in self.items)
        return ItemProposal(
            instruction=(
                f"How many units of each item do you keep? End your reply with 'Answer: {example}', "
                f"each a whole number from 0 to {self.units}."
            ),
            fallback=np.full(len(self.items), half, dtype=np.int64),
            items=self.items,
            units=self.units,
            make_action=lambda values: np.array(values, dtype=np.int64),
        )

    def _proposal_of(self, agent: str, action: Any) -> np.ndarray:
        array = np.asarray(action)
        k = len(self.items)
        if array.dtype.kind not in "iu" or array.shape != (k,):
            raise ValueError(f"{agent}'s proposal must be {k} integers (units of {', '.join(self.items)}), got {action!r}")
        if array.min() < 0 or array.max() > self.units:
            raise ValueError(f"{agent}'s proposal must be in 0..{self.units} per item, got {array.tolist()}")
        return array.astype(np.int64)

    def _observations(self) -> dict[str, dict[str, Any]]:
        last = self.history[-1] if self.history else None
        k = len(self.items)
        return {
            agent: {
                "round": np.int64(min(self.round, self.n_rounds + 1)),
                "values": self.current_values[me].astype(np.float64),
                "other_values": self.current_values[1 - me].astype(np.float64),
                "last_other_proposal": np.full(k, -1, np.int64) if last is None else last["proposals"][1 - me].astype(np.int64),
                "last_reward": np.array([0.0 if last is None else last["rewards"][me]], dtype=np.float64),
            }
            for agent, me in self._seat.items()
        }

    def _info(self, agent: str, played: int, record: dict | None) -> dict[str, Any]:
        me = self._seat[agent]
        values = record["values"] if record else self.current_values
        info: dict[str, Any] = {"round": played}
        for i, item in enumerate(self.items):
            info[f"value_{item}"] = float(values[me][i])
            info[f"other_value_{item}"] = float(values[1 - me][i])
            info[f"proposal_{item}"] = int(record["proposals"][me][i]) if record else -1
            info[f"other_proposal_{item}"] = int(record["proposals"][1 - me][i]) if record else -1
            info[f"coins_{item}"] = float(record["coins"][me][i]) if record else 0.0
        info["max_welfare"] = float((self.units * values.max(axis=0)).sum())
        return info
