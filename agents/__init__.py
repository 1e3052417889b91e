"""Who decides: language-model, scripted, neural and synthesized agents, and their backends."""

from dilemmazoo.agents.base import Action, Agent, BatchPolicy, CallRecord, Decision, SequentialPolicy
from dilemmazoo.agents.llm import LLMPolicy
from dilemmazoo.agents.scripted import SCRIPTED_AGENTS, ScriptedPolicy, make_scripted

__all__ = [
    "Action",
    "Agent",
    "BatchPolicy",
    "CallRecord",
    "Decision",
    "LLMPolicy",
    "SCRIPTED_AGENTS",
    "ScriptedPolicy",
    "SequentialPolicy",
    "make_scripted",
]
