"""Norm mechanisms: utility transforms, population dynamics and institutions.

Each is registered by one line below so configs can name it.

Importing this package does not load the agents layer: dynamics whose module imports agents
(``policy_synthesis``) are registered by the path of their class, ``"module:Class"``, and
imported when a config first names them (:func:`dynamics_class`).

Norm modules of other packages join from ``dilemmazoo.norms`` entry points (see
:mod:`dilemmazoo.envs.plugins`): the entry point's name is the name configs use and its object a
:class:`UtilityTransform`, :class:`PopulationDynamics` or :class:`Mechanism` subclass, which says
the field that may name it (``utility.name``, ``population.dynamics``, ``mechanism.name``). A
plugin is imported when a config names it and no built-in norm of that kind has the name; a
plugin that reuses any built-in norm's name is not used (:func:`norm_listing` says so).
"""

import importlib

from dilemmazoo.envs.plugins import BUILT_IN, NORMS, Listing, PluginError, first_line, plugins

from dilemmazoo.norms.base import Institution, Mechanism, Member, PopulationDynamics, StrategyWriter, UtilityTransform
from dilemmazoo.norms.cultural_evolution import CulturalEvolution
from dilemmazoo.norms.institutions import INSTITUTIONS, CostlyPunishment
from dilemmazoo.norms.loyalty import LoyaltyUtility
from dilemmazoo.norms.social_learning import SocialLearning
from dilemmazoo.norms.utilities import InequityAversion, WelfareInternalization

#: name -> the dynamics class, or ``"module:Class"`` for one imported on first use
POPULATION_DYNAMICS: dict[str, type[PopulationDynamics] | str] = {}
UTILITY_TRANSFORMS: dict[str, type] = {}


def register_dynamics(name: str, cls: type[PopulationDynamics] | str) -> None:
    """Register ``cls`` (a class, or ``"module:Class"`` to import on first use) as ``name``."""
    if name in POPULATION_DYNAMICS:
        raise ValueError(f"population dynamics {name!r} is already registered")
    if isinstance(cls, str) and cls.count(":") != 1:
        raise ValueError(f"population dynamics {name!r}: a deferred class is named 'module:Class', got {cls!r}")
    POPULATION_DYNAMICS[name] = cls


register_dynamics("cultural_evolution", CulturalEvolution)
register_dynamics("social_learning", SocialLearning)
register_dynamics("policy_synthesis", "dilemmazoo.norms.synthesis:PolicySynthesis")


#: what a norm plugin's class subclasses -> the kind of norm it is, as configs and listings name it
_KINDS: dict[type, tuple[str, str]] = {
    UtilityTransform: ("utility", "utility transform (utility.name)"),
    PopulationDynamics: ("dynamics", "population dynamics (population.dynamics)"),
    Mechanism: ("mechanism", "mechanism (mechanism.name)"),
}


def _built_in_names() -> set[str]:
    return {*POPULATION_DYNAMICS, *UTILITY_TRANSFORMS, *MECHANISMS, *INSTITUTIONS}


def _plugin_class(name: str, kind: type, what: str, known: list[str]) -> type:
    """The class of the norm plugin ``name`` when it is a ``kind``; else a ``ValueError`` that
    starts ``unknown <what> <name>`` and lists ``known`` (and a :class:`PluginError`, also a
    ``ValueError``, for a plugin that fails to import)."""
    plugin = plugins(NORMS).get(name)
    if plugin is None or name in _built_in_names():
        names = sorted({*known, *(n for n in plugins(NORMS) if n not in _built_in_names())})
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(names)}")
    cls = plugin.load(tuple(_KINDS))
    if not issubclass(cls, kind):
        other = next(label for base, (_, label) in _KINDS.items() if issubclass(cls, base))
        raise ValueError(f"unknown {what} {name!r}: {plugin} is a {other}")
    return cls


def dynamics_class(name: str) -> type[PopulationDynamics]:
    """The class registered as ``name``, importing its module if it was registered by path, or
    the plugin of that name (imported now)."""
    try:
        entry = POPULATION_DYNAMICS[name]
    except KeyError:
        return _plugin_class(name, PopulationDynamics, "population dynamics", list(POPULATION_DYNAMICS))
    if isinstance(entry, str):
        module, attribute = entry.split(":")
        return getattr(importlib.import_module(module), attribute)
    return entry


def make_dynamics(name: str, **kwargs) -> PopulationDynamics:
    cls = dynamics_class(name)
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"bad arguments for population dynamics {name!r}: {error}") from None


def register_utility(name: str, cls: type) -> None:
    if name in UTILITY_TRANSFORMS:
        raise ValueError(f"utility transform {name!r} is already registered")
    UTILITY_TRANSFORMS[name] = cls


def make_utility(name: str, **kwargs) -> UtilityTransform:
    """The utility transform registered as ``name`` (or the plugin of that name), built with ``kwargs``."""
    try:
        cls = UTILITY_TRANSFORMS[name]
    except KeyError:
        cls = _plugin_class(name, UtilityTransform, "utility transform", list(UTILITY_TRANSFORMS))
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"bad arguments for utility transform {name!r}: {error}") from None


register_utility("inequity_aversion", InequityAversion)
register_utility("welfare", WelfareInternalization)
register_utility("loyalty", LoyaltyUtility)


#: name -> ``"module:Class"`` of a :class:`Mechanism`, imported when a config first names it
MECHANISMS: dict[str, str] = {
    "repetition": "dilemmazoo.norms.repetition:Repetition",
    "reputation": "dilemmazoo.norms.repetition:Reputation",
    "mediation": "dilemmazoo.norms.mediation:Mediation",
    "contracting": "dilemmazoo.norms.contracting:Contracting",
}


def mechanism_class(name: str) -> type[Mechanism]:
    """The mechanism class registered as ``name`` (its module is imported on first use), or the
    plugin of that name (imported now)."""
    try:
        module, attribute = MECHANISMS[name].split(":")
    except KeyError:
        return _plugin_class(name, Mechanism, "mechanism", list(MECHANISMS))
    return getattr(importlib.import_module(module), attribute)


def make_mechanism(name: str, **kwargs) -> Mechanism:
    cls = mechanism_class(name)
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"bad arguments for mechanism {name!r}: {error}") from None


def list_norms() -> dict[str, str]:
    """``kind:name`` -> the first line of its docstring, for every norm that can be used (imports
    every deferred dynamics and every plugin; :func:`norm_listing` also shows broken plugins)."""
    return {row.name: row.description for row in norm_listing() if row.error is None}


def norm_listing() -> list[Listing]:
    """Every norm as ``kind:name`` with its description and where it comes from (``dilemmazoo list
    norms``): the built-in ones, then the installed plugins by name, each imported to learn its
    kind; a plugin that cannot be used is listed under its bare name with its error."""
    entries = {f"dynamics:{k}": dynamics_class(k) for k in POPULATION_DYNAMICS}
    entries.update({f"utility:{k}": v for k, v in UTILITY_TRANSFORMS.items()})
    entries.update({f"institution:{k}": v for k, v in INSTITUTIONS.items()})
    entries.update({f"mechanism:{k}": mechanism_class(k) for k in MECHANISMS})
    rows = [Listing(name, first_line(cls), BUILT_IN) for name, cls in entries.items()]
    for name, plugin in sorted(plugins(NORMS).items()):
        if name in _built_in_names():
            rows.append(Listing(name, "", plugin.origin, f"{plugin} is not used: {name!r} names a built-in norm"))
            continue
        try:
            cls = plugin.load(tuple(_KINDS))
        except PluginError as error:
            rows.append(Listing(name, "", plugin.origin, str(error)))
            continue
        kind = next(short for base, (short, _) in _KINDS.items() if issubclass(cls, base))
        rows.append(Listing(f"{kind}:{name}", first_line(cls), plugin.origin))
    return rows


__all__ = [
    "CostlyPunishment",
    "CulturalEvolution",
    "INSTITUTIONS",
    "InequityAversion",
    "MECHANISMS",
    "Mechanism",
    "Institution",
    "LoyaltyUtility",
    "Member",
    "POPULATION_DYNAMICS",
    "PopulationDynamics",
    "SocialLearning",
    "StrategyWriter",
    "UtilityTransform",
    "WelfareInternalization",
    "dynamics_class",
    "list_norms",
    "make_dynamics",
    "make_mechanism",
    "mechanism_class",
    "make_utility",
    "norm_listing",
    "register_dynamics",
    "register_utility",
]
