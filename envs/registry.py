"""The dilemmazoo worlds, registered in PettingZoo 1.27's own registry.

Each world is one explicit line, ``register("parallel", "dilemmazoo/<name>-vN", ...)``; its
defaults live only in its constructor. :func:`make_world` accepts the short name
(``donor-game`` or ``donor_game``, latest version) or the full id.

Worlds of other packages join from ``dilemmazoo.worlds`` entry points (:mod:`dilemmazoo.envs.plugins`):
each is registered as ``dilemmazoo/<entry point name>`` the first time the worlds are listed or
a name is resolved, by the path of its class, so its module is imported only when the world is made
(:func:`make_world`) or described (:func:`world_listing`). Its name is lower-case words joined by
``-`` with a version, as the built-in worlds' (``coin-v0``), and may not take a registered world's name.
"""

from __future__ import annotations

import re
from typing import Any

from pettingzoo.env_registry.registration import make, parallel_registry, register

from dilemmazoo.envs.base import LanguageWorld
from dilemmazoo.envs.plugins import WORLDS, Listing, Plugin, first_line, plugin_listing, plugins

__all__ = ["NAMESPACE", "list_worlds", "make_world", "world_docs", "world_id", "world_listing"]

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
_PLUGIN_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*-v\d+")

#: registered id -> the plugin it came from
_PLUGIN_WORLDS: dict[str, Plugin] = {}
#: entry point name -> why the plugin world was not registered (a bad or taken name)
_REFUSED_WORLDS: dict[str, tuple[Plugin, str]] = {}


def _base_name(spec_id: str) -> str:
    """``dilemmazoo/coin-v0`` -> ``coin``."""
    name = spec_id[len(NAMESPACE) + 1 :]
    match = _VERSIONED.match(name)
    return match["name"] if match else name


def _sync_plugin_worlds() -> None:
    """Register the installed plugin worlds (metadata only; nothing is imported), and drop those
    no longer installed (after :func:`~dilemmazoo.envs.plugins.forget_plugins`)."""
    declared = plugins(WORLDS)
    if {p.name: p for p in _PLUGIN_WORLDS.values()} | {n: p for n, (p, _) in _REFUSED_WORLDS.items()} == declared:
        return
    for spec_id in _PLUGIN_WORLDS:
        parallel_registry.pop(spec_id, None)
    _PLUGIN_WORLDS.clear()
    _REFUSED_WORLDS.clear()
    own = {_base_name(spec_id) for spec_id in parallel_registry if spec_id.startswith(NAMESPACE + "/")}
    for name, plugin in sorted(declared.items()):
        spec_id = f"{NAMESPACE}/{name}"
        if not _PLUGIN_NAME.fullmatch(name):
            _REFUSED_WORLDS[name] = (plugin, f"{plugin} has a bad world name: use lower-case letters, digits and '-', "
                                             "ending in a version, like 'coin-v0'")
        elif _base_name(spec_id) in own:
            _REFUSED_WORLDS[name] = (plugin, f"{plugin} takes the name of the world {_base_name(spec_id)!r}, which "
                                             "is already registered; a plugin cannot replace it")
        else:
            register("parallel", spec_id, entry_point=plugin.target.replace(" ", ""))
            _PLUGIN_WORLDS[spec_id] = plugin


def list_worlds() -> list[str]:
    """The ids of all registered dilemmazoo worlds, plugins' included, sorted."""
    _sync_plugin_worlds()
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
    """A new world by name or id, with ``kwargs`` passed to its constructor.

    Raises:
        ValueError: an unknown name.
        PluginError: a plugin world that fails to import (naming the plugin and its package).
    """
    spec_id = world_id(name_or_id)
    plugin = _PLUGIN_WORLDS.get(spec_id)
    if plugin is not None:
        plugin.load(LanguageWorld)  # its import errors name the plugin, not a bare traceback
    return make("parallel", spec_id, **kwargs)


def world_listing() -> list[Listing]:
    """Every world with the first line of its class's docstring and where it comes from
    (``dilemmazoo list worlds``), sorted by id; imports each world's module. A plugin world that
    cannot be used is listed with its error."""
    import importlib

    rows = []
    for spec_id in list_worlds():
        plugin = _PLUGIN_WORLDS.get(spec_id)
        if plugin is not None:
            rows.append(plugin_listing(plugin, spec_id, LanguageWorld))
            continue
        entry = parallel_registry[spec_id].entry_point
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
        rows.append(Listing(spec_id, first_line(entry)))
    rows += [Listing(f"{NAMESPACE}/{name}", "", plugin.origin, reason) for name, (plugin, reason) in _REFUSED_WORLDS.items()]
    return sorted(rows, key=lambda row: row.name)


def world_docs() -> dict[str, str]:
    """Registered id -> first line of the world class's docstring, for every world that can be
    used (:func:`world_listing` also shows broken plugins)."""
    return {row.name: row.description for row in world_listing() if row.error is None}
