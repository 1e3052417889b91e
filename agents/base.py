"""The agent contract: who decides, and what they are given to decide with.

Agents never see other agents' objects or the world itself: the runner hands each one a
:class:`Decision` (observation, text view, action spec, memory) and receives an
:class:`Action`. All decisions of one step that belong to the same policy are passed to
``act_batch`` in one call; that is where LLM batching and API concurrency happen.

An ``Action`` carries the parsed action plus the accounting the records need: how many
answers failed to parse, whether the world's fallback was used, and the backend calls made.

Every policy the runner seats subclasses :class:`BatchPolicy`, which declares each hook the
runner calls and when, with a do-nothing default: a policy overrides what it needs, and the
runner calls every hook without asking whether the policy has it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dilemmazoo.envs.base import ActionSpec

__all__ = ["Action", "Agent", "BatchPolicy", "CallRecord", "Decision", "SequentialPolicy"]


@dataclass
class Decision:
    """Everything one agent may use for one decision."""

    agent_id: str
    observation: Any
    text: str
    spec: ActionSpec
    rules: str
    step: int
    episode: int
    generation: int = 0
    memory: list[str] = field(default_factory=list)


@dataclass
class CallRecord:
    """One backend call made for a decision (one row of ``llm_calls.parquet``)."""

    agent_id: str
    purpose: str  # "act", "retry", "score", "strategy", ...
    prompt_hash: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool
    cost_usd: float
    text: str
    error: str = ""
    prompt: str = ""  # the chat sent, as JSON (for transcripts)
    retries: int = 0  # transport-level retries inside the backend
    truncated: bool = False  # the answer was cut at max_tokens


@dataclass
class Action:
    """A decided action with its accounting."""

    value: Any
    parse_failures: int = 0
    fallback_used: bool = False
    raw_text: str = ""
    calls: list[CallRecord] = field(default_factory=list)
    #: the probability the agent gave each option, ``{option: probability}``, when it answered
    #: with a distribution and the action was drawn from it (``decision: distribution``); else None
    distribution: dict[str, float] | None = None


@runtime_checkable
class Agent(Protocol):
    """One decision at a time. ``rng`` is the only source of randomness an agent may use."""

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None: ...

    def act(self, request: Decision) -> Action: ...


class BatchPolicy(ABC):
    """Many decisions at once (all decisions of one step that this policy owns).

    The runner (:mod:`dilemmazoo.experiments.runner`) calls these hooks on every policy, in this
    order:

    - once, when the run's policies are built: :meth:`set_rules`;
    - at each episode's start, after the world's reset: :meth:`set_strategies` and
      :meth:`set_members` (the seats' members), then :meth:`start_episode`;
    - every step: :meth:`act_batch`, once, with all of the step's decisions this policy owns;
    - within an episode, after population dynamics changed the members: :meth:`set_strategies`
      and :meth:`set_members` again.

    A policy that writes strategies for population dynamics (a
    :class:`~dilemmazoo.norms.base.StrategyWriter`) also keeps :attr:`last_strategy_calls` and
    :attr:`strategy_failures`, which the runner reads into the records and the summary.
    """

    #: The backend calls of the latest ``write_strategies``. The runner sets it to ``[]`` before
    #: each dynamics step and records what is there after it (``llm_calls.parquet``).
    #: Default: no calls.
    last_strategy_calls: Sequence[CallRecord] = ()

    #: The backend calls of the latest :meth:`start_episode` that were not decisions (e.g. the
    #: census personas an LLM policy writes for its seats). The runner records them after each
    #: ``start_episode`` (``llm_calls.parquet``, step 0). Default: no calls.
    last_setup_calls: Sequence[CallRecord] = ()

    #: Strategies asked for that came back unusable, counted over the run (``summary.json``'s
    #: ``counts.strategy_failures``). Default: 0.
    strategy_failures: int = 0

    def set_rules(self, rules: str) -> None:
        """Once, after the policy is built: the world's rules as told to the group's first seat
        (e.g. for prompts that write strategies). Default: nothing."""

    def set_strategies(self, strategies: Mapping[str, str]) -> None:
        """Episode start and after each within-episode update: each seat's strategy text
        (``seat -> text``; ``""`` for none). Default: nothing."""

    def set_members(self, params: Mapping[str, dict[str, Any]]) -> None:
        """Episode start and after each within-episode update: each seat's member parameters
        (``seat -> params``). Default: nothing."""

    def start_episode(self, rules: Mapping[str, str], rng: np.random.Generator) -> None:
        """Episode start, after :meth:`set_strategies` and :meth:`set_members`: each seat's rules
        and the episode's generator. Default: nothing."""

    @abstractmethod
    def act_batch(self, requests: list[Decision]) -> list[Action]:
        """Every step: one :class:`Action` per request, in the requests' order."""


class SequentialPolicy(BatchPolicy):
    """Adapts a mapping of plain :class:`Agent` objects to :class:`BatchPolicy`."""

    def __init__(self, agents: dict[str, Agent]):
        self.agents = agents

    def start_episode(self, rules: dict[str, str], rng: np.random.Generator) -> None:
        """Reset every agent at the start of an episode (the runner calls this)."""
        for seat, agent in self.agents.items():
            agent.reset(seat, rules.get(seat), rng)

    def act_batch(self, requests: list[Decision]) -> list[Action]:
        return [self.agents[r.agent_id].act(r) for r in requests]
