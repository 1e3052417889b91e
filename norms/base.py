"""The norm contract: every hook the runner calls, when it calls it, and what it does by default.

Three kinds of norm attach to any world and any agent:

1. **Utility transforms** (:class:`UtilityTransform`): ``(rewards, state) -> utilities``,
   applied by the runner every step (loyalty, inequity aversion, welfare internalisation).
   The records keep both columns, ``reward`` (the world's) and ``utility``.
2. **Population dynamics** (:class:`PopulationDynamics`) between episodes or generations, and
   optionally within an episode after a round, acting on the members' strategies (cultural
   evolution with selection and inheritance, social learning, policy synthesis). New strategy
   texts are written through a :class:`StrategyWriter` (an LLM policy or a scripted one), so the
   same dynamics serve language and parametric agents.
3. **Institutions** (:class:`Institution`) that change a world's action space (costly
   punishment, monitoring, sanctions). Worlds expose them as options and call the pure rules.
4. **Mechanisms** (:class:`Mechanism`) that put an institution on any world by wrapping it
   (CoopEval's repetition, reputation, mediation and contracting): the wrapper is itself a
   world (a ``LanguageWorld``) that adds phases (design, vote, sign), actions (delegate),
   transfers or re-matching around the base world's steps, calling the pure rules of
   ``dilemmazoo.envs.institutions``.

When the runner (:mod:`dilemmazoo.experiments.runner`) calls each hook of a run:

==============================  =============================================================
point of the run                hook
==============================  =============================================================
run start                       :meth:`PopulationDynamics.initial` (the first generation)
episode start                   :meth:`UtilityTransform.reset`
every step                      :meth:`UtilityTransform.__call__`
within an episode, after a      :meth:`PopulationDynamics.learns_after_round`, then, when it
round (``within_episode``)      says yes, :meth:`PopulationDynamics.update`
between generations             :meth:`PopulationDynamics.next_generation`, given the
                                generation's step records when :attr:`~PopulationDynamics.wants_records`
run start, when the world is    :meth:`Mechanism.wrap` (the run then plays the world it returns)
built
==============================  =============================================================

The runner calls every declared hook and never asks an object whether it has one: a norm
overrides what it needs and inherits the do-nothing defaults for the rest. A new hook is added
here (with its default and its point), overridden in the norm's module, and called at its
point in the runner.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Institution", "Mechanism", "Member", "PopulationDynamics", "StrategyWriter", "UtilityTransform"]


class UtilityTransform(ABC):
    """Maps the world's rewards to the utilities agents optimise, once per step.

    Hooks, in the order the runner calls them in each episode: :meth:`reset` at the episode's
    start, then the transform itself after every step.
    """

    def reset(self, agents: Sequence[str]) -> None:
        """Episode start, after the world's reset: ``agents`` are the episode's seats.

        Transforms with memory (smoothed rewards) start again here. Default: nothing.
        """

    @abstractmethod
    def __call__(self, rewards: Mapping[str, float], state: Mapping[str, Any]) -> dict[str, float]:
        """Every step, after the world's step: the utility of each agent in ``rewards``.

        ``state`` is ``{"step": int, "agents": the live agents, "infos": the step's infos}``.
        """


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
    """Creates the first generation and each next one from the last one's scores.

    :meth:`initial` and :meth:`next_generation` are what every dynamics does; the other hooks
    have do-nothing defaults. The class attributes are read by the runner once per run.
    """

    #: Whether :meth:`learns_after_round` and :meth:`update` are asked within episodes. When
    #: false the runner does not look for completed rounds at all. Default: false.
    within_episode: bool = False

    #: Whether :meth:`next_generation` needs the generation's step records (``records``): they
    #: cost a DataFrame per generation, so the runner builds them only when asked. Default: false.
    wants_records: bool = False

    @abstractmethod
    def initial(
        self, size: int, writer: StrategyWriter, rng: np.random.Generator, params: dict[str, Any] | None = None
    ) -> list[Member]:
        """Run start, before the first episode: the first generation of ``size`` members.

        ``params`` seeds parametric members' strategies (the group's ``params``).
        """

    def learns_after_round(self, completed_rounds: int) -> bool:
        """Within an episode, after each completed round (only when :attr:`within_episode`):
        whether :meth:`update` runs now. Default: never."""
        return False

    def update(
        self,
        members: list[Member],
        scores: Mapping[str, float],
        writer: StrategyWriter,
        rng: np.random.Generator,
        round: int,
    ) -> list[Member]:
        """Within an episode, after round ``round`` when :meth:`learns_after_round` said yes.

        ``scores`` maps each member's name to its payoff since the last update. Returns the
        members with the same names in the same order (their strategies may change); the runner
        hands them to the policies before the next round. Default: the members unchanged.
        """
        return members

    @abstractmethod
    def next_generation(
        self,
        members: list[Member],
        scores: Mapping[str, float],
        writer: StrategyWriter,
        rng: np.random.Generator,
        generation: int,
        records: pd.DataFrame | None = None,
    ) -> list[Member]:
        """Between generations: generation ``generation`` (1-based) from the previous members.

        ``scores`` maps each member's name to its mean return over the generation's episodes.
        ``records`` holds the generation's rows of ``steps.parquet`` when :attr:`wants_records`,
        else ``None``.
        """


@runtime_checkable
class Institution(Protocol):
    """A rule that adds moves to a world (e.g. ``"punish"``) and says what they do."""

    name: str
    moves: tuple[str, ...]


class Mechanism(ABC):
    """Puts an institution on any world: ``wrap(world)`` returns the world the run plays.

    The returned world is a :class:`~dilemmazoo.envs.base.LanguageWorld` whose seats are the
    base world's (or, for a re-matching population, ``copies`` times as many); its steps include
    the mechanism's own phases, with their own :class:`~dilemmazoo.envs.base.ActionSpec`, and
    each step's infos carry ``mechanism_phase`` and ``mechanism_round``. One mechanism object
    serves the whole run (every episode), so it may remember what a member designed.
    """

    #: the name configs use (``mechanism: {name: ...}``)
    name: str = ""

    @abstractmethod
    def wrap(self, world: Any) -> Any:
        """Run start, when the world is built: the world to play, wrapping ``world``."""
