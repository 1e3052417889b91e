"""Norm mechanisms: utility transforms, population dynamics and institutions.

Each is registered by one line below so configs can name it.

Importing this package does not load the agents layer: dynamics whose module imports agents
(``policy_synthesis``) are registered by the path of their class, ``"module:Class"``, and
imported when a config first names them (:func:`dynamics_class`).
"""

import importlib

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


def dynamics_class(name: str) -> type[PopulationDynamics]:
    """The class registered as ``name``, importing its module if it was registered by path."""
    try:
        entry = POPULATION_DYNAMICS[name]
    except KeyError:
        raise ValueError(f"unknown population dynamics {name!r}; known: {', '.join(sorted(POPULATION_DYNAMICS))}") from None
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
    try:
        cls = UTILITY_TRANSFORMS[name]
    except KeyError:
        raise ValueError(f"unknown utility transform {name!r}; known: {', '.join(sorted(UTILITY_TRANSFORMS))}") from None
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
    """The mechanism class registered as ``name`` (its module is imported on first use)."""
    try:
        module, attribute = MECHANISMS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown mechanism {name!r}; known: {', '.join(sorted(MECHANISMS))}") from None
    return getattr(importlib.import_module(module), attribute)


def make_mechanism(name: str, **kwargs) -> Mechanism:
    cls = mechanism_class(name)
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"bad arguments for mechanism {name!r}: {error}") from None


def list_norms() -> dict[str, str]:
    """Registered norm names with the first line of their docstrings (imports every deferred dynamics)."""
    entries = {f"dynamics:{k}": dynamics_class(k) for k in POPULATION_DYNAMICS}
    entries.update({f"utility:{k}": v for k, v in UTILITY_TRANSFORMS.items()})
    entries.update({f"institution:{k}": v for k, v in INSTITUTIONS.items()})
    entries.update({f"mechanism:{k}": mechanism_class(k) for k in MECHANISMS})
    return {k: (v.__doc__ or "").strip().splitlines()[0] for k, v in entries.items()}


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
    "register_dynamics",
    "register_utility",
]
