"""dilemmazoo worlds: PettingZoo parallel environments that also speak to language agents.

Importing this package registers every world in PettingZoo's registry; build one with
``make_world("donor-game", **kwargs)`` and list them with ``list_worlds()``. The contract
every world keeps is in :mod:`dilemmazoo.envs.base`.
"""

from dilemmazoo.envs.base import ActionParseError, ActionSpec, Amount, Choice, LanguageWorld, Message, answer_line
from dilemmazoo.envs.registry import list_worlds, make_world, world_docs, world_id

__all__ = [
    "ActionParseError",
    "ActionSpec",
    "Amount",
    "Choice",
    "LanguageWorld",
    "Message",
    "answer_line",
    "list_worlds",
    "make_world",
    "world_docs",
    "world_id",
]
