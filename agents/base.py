"""The agent contract: who decides, and what they are given to decide with.

Agents never see other agents' objects or the world itself: the runner hands each one a
:class:`Decision` (observation, text view, action spec, memory) and receives an
:class:`Action`. All decisions of one step that belong to the same policy are passed to
``act_batch`` in one call; that is where LLM batching and API concurrency happen.

An ``Action`` carries the parsed action plus the accounting the records need: how many
answers failed to parse, whether the world's fallback was used, and the backend calls made.
"""

from __future__ import annotations

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


@runtime_checkable
class Agent(Protocol):
    """One decision at a time. ``rng`` is the only source of randomness an agent may use."""

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None: ...

    def act(self, request: Decision) -> Action: ...


@runtime_checkable
class BatchPolicy(Protocol):
    """Many decisions at once (all decisions of one step that this policy owns)."""

    def act_batch(self, requests: list[Decision]) -> list[Action]: ...


class SequentialPolicy:
    """Adapts a mapping of plain :class:`Agent` objects to :class:`BatchPolicy`."""

    def __init__(self, agents: dict[str, Agent]):
        self.agents = agents

    def start_episode(self, rules: dict[str, str], rng: np.random.Generator) -> None:
        """Reset every agent at the start of an episode (the runner calls this)."""
        for seat, agent in self.agents.items():
            agent.reset(seat, rules.get(seat), rng)

    def act_batch(self, requests: list[Decision]) -> list[Action]:
        return [self.agents[r.agent_id].act(r) for r in requests]
