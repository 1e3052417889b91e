"""Cultural evolution: selection of the best, inheritance of their strategies.

Source: Vallinder & Hughes, "Cultural Evolution of Cooperation among LLM Agents"
(arXiv 2412.10270). After each generation the members are ranked by score (their mean final
resources over the generation's games); the top ``survivor_fraction`` (50% in the paper)
survive unchanged, and the rest are replaced by new members. A new language member writes its
strategy after reading the survivors' strategy texts *with their scores* (the paper; the
public notebook passes no scores: ``show_scores=False``). A new parametric member copies a
random survivor's parameters with Gaussian noise of ``mutation_sd`` on each number.

Names follow the paper: ``"{generation}_{index}"``; survivors keep theirs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from dilemmazoo.norms.base import Member, PopulationDynamics, StrategyWriter

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CulturalEvolution", "rank_members"]

INITIAL_PROMPT = (
    "Your name is {name}. Based on the description of the game, create a strategy that you will "
    "follow in the game. Think step by step about what strategy to follow in order to do well, "
    "then write one sentence that begins with 'My strategy will be'."
)
INHERIT_PROMPT = (
    "How did the previous generation do? Here is the advice of the best-performing {percent}% of "
    "the previous generation{with_scores}. Modify this advice to create your own strategy.\n{advice}"
)


def rank_members(members: list[Member], scores: Mapping[str, float], rng: np.random.Generator) -> list[Member]:
    """Members from best to worst score; ties are broken at random (by ``rng``), not by name."""
    missing = [m.name for m in members if m.name not in scores]
    if missing:
        raise KeyError(f"no score for members {missing}")
    order = rng.permutation(len(members))
    shuffled = [members[i] for i in order]
    return sorted(shuffled, key=lambda m: -scores[m.name])


class CulturalEvolution(PopulationDynamics):
    """Top-fraction selection with strategy inheritance (see module docstring)."""

    def __init__(
        self,
        survivor_fraction: float = 0.5,
        show_scores: bool = True,
        mutation_sd: float = 0.1,
        initial_prompt: str = INITIAL_PROMPT,
        inherit_prompt: str = INHERIT_PROMPT,
    ):
        if not 0.0 < survivor_fraction < 1.0:
            raise ValueError(f"survivor_fraction must be in (0, 1), got {survivor_fraction}")
        if mutation_sd < 0:
            raise ValueError("mutation_sd must be >= 0")
        self.survivor_fraction = survivor_fraction
        self.show_scores = show_scores
        self.mutation_sd = mutation_sd
        self.initial_prompt = initial_prompt
        self.inherit_prompt = inherit_prompt

    def initial(self, size: int, writer: StrategyWriter, rng: np.random.Generator, params: dict | None = None) -> list[Member]:
        names = [f"1_{i + 1}" for i in range(size)]
        strategies = writer.write_strategies([self.initial_prompt.format(name=n) for n in names], rng)
        return [Member(name=n, generation=1, strategy=s, params=dict(params or {})) for n, s in zip(names, strategies)]

    def advice(self, survivors: list[Member], scores: Mapping[str, float]) -> str:
        lines = []
        for m in survivors:
            score = f" (final score {scores[m.name]:.2f})" if self.show_scores else ""
            lines.append(f"- {m.name}{score}: {m.strategy}")
        return "\n".join(lines)

    def next_generation(
        self,
        members: list[Member],
        scores: Mapping[str, float],
        writer: StrategyWriter,
        rng: np.random.Generator,
        generation: int,
        records: pd.DataFrame | None = None,
    ) -> list[Member]:
        """The top ``survivor_fraction`` survive; newcomers write strategies from their advice
        (``records`` are not used: scores decide)."""
        ranked = rank_members(members, scores, rng)
        n_survivors = max(1, math.floor(len(members) * self.survivor_fraction))
        survivors = ranked[:n_survivors]
        n_new = len(members) - n_survivors
        names = [f"{generation}_{i + 1}" for i in range(n_new)]
        prompt_tail = self.inherit_prompt.format(
            percent=round(100 * self.survivor_fraction),
            with_scores=", along with their final scores" if self.show_scores else "",
            advice=self.advice(survivors, scores),
        )
        prompts = [self.initial_prompt.format(name=n) + "\n\n" + prompt_tail for n in names]
        strategies = writer.write_strategies(prompts, rng)
        newcomers = []
        for name, strategy in zip(names, strategies):
            model = survivors[int(rng.integers(len(survivors)))]
            newcomers.append(
                Member(
                    name=name,
                    generation=generation,
                    strategy=strategy,
                    params=self.mutate(model.params, rng),
                    parents=tuple(m.name for m in survivors) if strategy else (model.name,),
                )
            )
        return survivors + newcomers

    def mutate(self, params: dict, rng: np.random.Generator) -> dict:
        """Copy ``params`` with Gaussian noise on numbers in [0, 1] (fractions), clipped."""
        out = dict(params)
        for key, value in params.items():
            if isinstance(value, float) and 0.0 <= value <= 1.0 and self.mutation_sd > 0:
                out[key] = float(np.clip(value + rng.normal(0.0, self.mutation_sd), 0.0, 1.0))
        return out
