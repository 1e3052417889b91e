"""Plugins: worlds, backends and norm modules that other packages add, found by entry points.

A package extends dilemmazoo by declaring entry points in its ``pyproject.toml``; once it is
installed, configs and the command line can name what it provides, and no user code imports it::

    [project.entry-points."dilemmazoo.backends"]
    echo = "dilemmazoo_echo.backend:EchoBackend"

    [project.entry-points."dilemmazoo.worlds"]
    coin-v0 = "dilemmazoo_echo.coin:CoinEnv"

    [project.entry-points."dilemmazoo.norms"]
    stubborn = "dilemmazoo_echo.norms:Stubborn"

The entry point's **name** is the name configs use, and its **object is a class** of the layer's
contract (nothing needs to call a registration function):

===========================  ======================================================================
``dilemmazoo.backends``      a :class:`~dilemmazoo.agents.backends.base.Backend` subclass; the spec
                             is ``NAME:ARG`` when its constructor has a positional parameter (it gets
                             ``ARG``), else ``NAME``; keyword-only parameters are its
                             ``backend_options``; its docstring's first line describes it
``dilemmazoo.worlds``        a :class:`~dilemmazoo.envs.base.LanguageWorld` subclass, registered in
                             PettingZoo's registry as ``dilemmazoo/NAME`` (so name it ``coin-v0``:
                             ``world: {id: coin}`` then takes the latest version)
``dilemmazoo.norms``         a ``UtilityTransform``, ``PopulationDynamics`` or ``Mechanism``
                             subclass (:mod:`dilemmazoo.norms.base`); its base class says which
                             config field names it: ``utility.name``, ``population.dynamics`` or
                             ``mechanism.name``
===========================  ======================================================================

Lazily: :func:`plugins` reads the installed distributions' entry-point metadata only (one scan per
process); a plugin's module is imported when a config or command names it, or when
``dilemmazoo list`` shows its description. A plugin whose import fails, whose object is missing or
is not the class its group needs raises :class:`PluginError`, which names the plugin, its package
and the error; ``dilemmazoo list`` shows such a plugin as broken rather than failing. Built-in names
win: a plugin that reuses one is listed as broken, with the reason.

This module is the one discovery helper of the three registries (worlds here; backends in
:mod:`dilemmazoo.agents.backends`; norms in :mod:`dilemmazoo.norms`); it lives in envs, the lowest
layer that uses it, and knows nothing of the layers above.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "BACKENDS",
    "BUILT_IN",
    "GROUPS",
    "NORMS",
    "WORLDS",
    "Listing",
    "Plugin",
    "PluginError",
    "first_line",
    "forget_plugins",
    "plugin_listing",
    "plugins",
]

BACKENDS = "dilemmazoo.backends"
WORLDS = "dilemmazoo.worlds"
NORMS = "dilemmazoo.norms"
#: the entry-point groups dilemmazoo reads
GROUPS = (BACKENDS, WORLDS, NORMS)
#: the origin of what dilemmazoo itself registers
BUILT_IN = "built-in"


class PluginError(ImportError, ValueError):
    """A plugin cannot be used: its module failed to import, its object is missing, it is not the
    class its group needs, or two packages claim its name.

    An ``ImportError`` (the cause is an import) and a ``ValueError`` (the name a config gave cannot
    be used), so that config checks that report either name the field.
    """


@dataclass(frozen=True)
class Plugin:
    """One entry point of a :data:`GROUPS` group, as the package metadata declares it (nothing
    imported). ``conflict`` explains why the name cannot be used, when two packages claim it."""

    group: str
    name: str
    #: ``"module:attribute"``, the entry point's value
    target: str
    #: the distribution (package) that declares it, as ``pip`` names it
    distribution: str
    version: str
    conflict: str = ""

    @property
    def origin(self) -> str:
        """Where it comes from, for listings: ``"dilemmazoo-echo-plugin 0.1.0"``."""
        return f"{self.distribution} {self.version}".strip()

    def __str__(self) -> str:
        return f"plugin {self.name!r} of package {self.origin} ({self.group} entry point {self.name} = {self.target})"

    def load(self, kind: type | tuple[type, ...] | None = None) -> type:
        """The plugin's class, importing its module; ``kind``: the class(es) it must subclass.

        Raises:
            PluginError: naming this plugin and its package, with the import error's type and
                message (the original exception is chained as ``__cause__``).
        """
        if self.conflict:
            raise PluginError(f"{self} cannot be used: {self.conflict}")
        module_name, _, attribute = self.target.partition(":")
        try:
            found: Any = importlib.import_module(module_name.strip())
            for part in attribute.strip().split(".") if attribute.strip() else ():
                found = getattr(found, part)
        except Exception as error:  # noqa: BLE001 - whatever someone else's import raises is reported alike
            raise PluginError(f"{self} failed to import: {type(error).__name__}: {error}") from error
        if kind is not None and not (isinstance(found, type) and issubclass(found, kind)):
            wanted = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise PluginError(f"{self} is {found!r}, not a subclass of {wanted}")
        return found


@dataclass(frozen=True)
class Listing:
    """One row of ``dilemmazoo list``: a name, what it is and where it comes from (:data:`BUILT_IN`
    or a plugin's package and version). ``error`` says why a plugin cannot be used (broken)."""

    name: str
    description: str
    origin: str = BUILT_IN
    error: str | None = None


def first_line(obj: Any) -> str:
    """The first line of ``obj``'s docstring, or ``""``."""
    return ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]


def plugin_listing(plugin: Plugin, name: str, kind: type | tuple[type, ...] | None = None) -> Listing:
    """The listing row of ``plugin`` shown as ``name``: loaded for its description, or broken."""
    try:
        return Listing(name, first_line(plugin.load(kind)), plugin.origin)
    except PluginError as error:
        return Listing(name, "", plugin.origin, str(error))


@functools.cache
def _declared() -> dict[str, dict[str, Plugin]]:
    """Every group's plugins by name, from one scan of the installed distributions' metadata."""
    from importlib.metadata import entry_points  # here: importing the worlds costs no metadata machinery

    found: dict[str, dict[str, Plugin]] = {group: {} for group in GROUPS}
    every = entry_points()
    for group in GROUPS:
        for point in every.select(group=group):
            plugin = _plugin(point)
            earlier = found[group].get(plugin.name)
            if earlier is None:
                found[group][plugin.name] = plugin
            elif earlier.distribution != plugin.distribution:  # one package seen twice is one plugin
                clash = (f"packages {earlier.origin} and {plugin.origin} both declare a {group} entry point named "
                         f"{plugin.name!r}; uninstall one of them")
                found[group][plugin.name] = replace(earlier, conflict=clash)
    return found


def _plugin(point: EntryPoint) -> Plugin:
    dist = getattr(point, "dist", None)
    name = dist.name if dist is not None and dist.name else "(unknown package)"
    version = dist.version if dist is not None and dist.version else ""
    return Plugin(point.group, point.name, point.value, name, version)


def plugins(group: str) -> dict[str, Plugin]:
    """The plugins installed for ``group`` (one of :data:`GROUPS`), by name; reads metadata only.

    The scan is made once per process; :func:`forget_plugins` makes the next call scan again.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}; dilemmazoo reads {', '.join(GROUPS)}")
    return dict(_declared()[group])


def forget_plugins() -> None:
    """Scan the installed packages again at the next :func:`plugins` call (after installing one
    into a running process, or in tests)."""
    _declared.cache_clear()
