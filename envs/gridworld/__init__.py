"""Batched numpy gridworlds (Cleanup, Gathering): a vectorized core (:mod:`.core`), rule
variants (:mod:`.rules`), maps (:mod:`.maps`), social outcome metrics (:mod:`.metrics`) and the
PettingZoo worlds ``dilemmazoo/cleanup-v0`` and ``dilemmazoo/gathering-v0``."""

from dilemmazoo.envs.gridworld.core import ACTIONS, GridCore, StepResult, VectorGridworld, actions_for
from dilemmazoo.envs.gridworld.maps import GridMap, get_map, parse_map
from dilemmazoo.envs.gridworld.rules import GridRules, get_rules

__all__ = [
    "ACTIONS",
    "GridCore",
    "GridMap",
    "GridRules",
    "StepResult",
    "VectorGridworld",
    "actions_for",
    "get_map",
    "get_rules",
    "parse_map",
]
