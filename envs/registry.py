"""The dilemmazoo worlds, registered in PettingZoo 1.27's own registry.

Each world is one explicit line, ``register("parallel", "dilemmazoo/<name>-vN", ...)``; its
defaults live only in its constructor. :func:`make_world` accepts the short name
(``donor-game`` or ``donor_game``, latest version) or the full id.
"""

from __future__ import annotations

import re
from typing import Any

from pettingzoo.env_registry.registration import make, parallel_registry, register

from dilemmazoo.envs.base import LanguageWorld

__all__ = ["NAMESPACE", "list_worlds", "make_world", "world_docs", "world_id"]

NAMESPACE = "dilemmazoo"

register("parallel", "dilemmazoo/atp-diffusion-v0", entry_point="dilemmazoo.envs.atp_diffusion:ATPDiffusionEnv")
register("parallel", "dilemmazoo/atp-exploration-v0", entry_point="dilemmazoo.envs.atp_exploration:ATPExplorationEnv")
register("parallel", "dilemmazoo/cleanup-v0", entry_point="dilemmazoo.envs.gridworld.cleanup:CleanupEnv")
register("parallel", "dilemmazoo/commons-v0", entry_point="dilemmazoo.envs.commons:CommonsEnv")
register("parallel", "dilemmazoo/cpr-v0", entry_point="dilemmazoo.envs.cpr:EffortCPREnv")
register("parallel", "dilemmazoo/donor-game-v0", entry_point="dilemmazoo.envs.donor_game:DonorGameEnv")
register("parallel", "dilemmazoo/gathering-v0", entry_point="dilemmazoo.envs.gridworld.gathering:GatheringEnv")
register("parallel", "dilemmazoo/public-goods-v0", entry_point="dilemmazoo.envs.public_goods:PublicGoodsEnv")
register("parallel", "dilemmazoo/repeated-game-v0", entry_point="dilemmazoo.envs.repeated_game:RepeatedGameEnv")
register("parallel", "dilemmazoo/split-nocomm-v0", entry_point="dilemmazoo.envs.split_nocomm:SplitNoCommEnv")
register("parallel", "dilemmazoo/tax-world-v0", entry_point="dilemmazoo.envs.tax_world:TaxWorldEnv")
register("parallel", "dilemmazoo/team-production-v0", entry_point="dilemmazoo.envs.team_production:TeamProductionEnv")
register("parallel", "dilemmazoo/trust-split-v0", entry_point="dilemmazoo.envs.trust_split:TrustSplitEnv")

_VERSIONED = re.compile(r"^(?P<name>.+)-v(?P<version>\d+)$")


def list_worlds() -> list[str]:
    """The ids of all registered dilemmazoo worlds, sorted."""
    return sorted(spec_id for spec_id in parallel_registry if spec_id.startswith(NAMESPACE + "/"))


def world_id(name_or_id: str) -> str:
    """The registered id for ``name_or_id``: a full id, or a name with ``-``/``_`` and an
    optional ``-vN`` (without one, the latest version)."""
    if not isinstance(name_or_id, str) or not name_or_id.strip():
        raise ValueError(f"a world name must be a non-empty string, got {name_or_id!r}; known worlds: {list_worlds()}")
    name = name_or_id.strip()
    if name.startswith(NAMESPACE + "/"):
        name = name[len(NAMESPACE) + 1 :]
    name = name.replace("_", "-")
    known = list_worlds()
    if f"{NAMESPACE}/{name}" in known:
        return f"{NAMESPACE}/{name}"
    versions = []
    for spec_id in known:
        match = _VERSIONED.match(spec_id[len(NAMESPACE) + 1 :])
        if match and match["name"] == name:
            versions.append((int(match["version"]), spec_id))
    if not versions:
        raise ValueError(f"unknown world {name_or_id!r}; known worlds: {', '.join(known)}")
    return max(versions)[1]


def make_world(name_or_id: str, **kwargs: Any) -> LanguageWorld:
    """A new world by name or id, with ``kwargs`` passed to its constructor."""
    return make("parallel", world_id(name_or_id), **kwargs)


def world_docs() -> dict[str, str]:
    """Registered id -> first line of the world class's docstring (for ``dilemmazoo list``)."""
    import importlib

    docs = {}
    for spec_id in list_worlds():
        entry = parallel_registry[spec_id].entry_point
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
        docs[spec_id] = ((entry.__doc__ or "").strip().splitlines() or [""])[0]
    return docs
