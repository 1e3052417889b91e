"""The norm contract: three hook points where mechanisms attach to any world and agent.

1. **Utility transforms** ``(rewards, state) -> utilities``, applied by the runner every step
   (loyalty, inequity aversion, welfare internalisation). The records keep both columns.
2. **Population dynamics** between episodes or generations, acting on the members'
   strategies (cultural evolution with selection and inheritance, social learning, voting).
   New strategy texts are written through a :class:`StrategyWriter` (an LLM policy or a
   scripted one), so the same dynamics serve language and parametric agents.
3. **Institutions** that change a world's action space (costly punishment, monitoring,
   sanctions). Worlds expose them as options and call the pure rule functions kept here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Institution", "Member", "PopulationDynamics", "StrategyWriter", "UtilityTransform"]


@runtime_checkable
class UtilityTransform(Protocol):
    """Maps the world's rewards to the utilities agents optimise, once per step."""

    def __call__(self, rewards: Mapping[str, float], state: Mapping[str, Any]) -> dict[str, float]: ...


@dataclass
class Member:
    """One member of a population: a name, a strategy (text or parameters) and lineage."""

    name: str
    generation: int
    strategy: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    parents: tuple[str, ...] = ()


@runtime_checkable
class StrategyWriter(Protocol):
    """Writes one strategy per prompt (an LLM policy, or a scripted stand-in)."""

    def write_strategies(self, prompts: list[str], rng: np.random.Generator) -> list[str]: ...


class PopulationDynamics(ABC):
    """Creates the first generation and each next one from the last one's scores."""

    @abstractmethod
    def initial(
        self, size: int, writer: StrategyWriter, rng: np.random.Generator, params: dict[str, Any] | None = None
    ) -> list[Member]:
        """The first generation; ``params`` seeds parametric members' strategies."""

    @abstractmethod
    def next_generation(
        self,
        members: list[Member],
        scores: Mapping[str, float],
        writer: StrategyWriter,
        rng: np.random.Generator,
        generation: int,
    ) -> list[Member]:
        """Generation ``generation`` (1-based) from the previous members and their scores."""


@runtime_checkable
class Institution(Protocol):
    """A rule that adds moves to a world (e.g. ``"punish"``) and says what they do."""

    name: str
    moves: tuple[str, ...]
