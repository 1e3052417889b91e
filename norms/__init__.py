"""Norm mechanisms: utility transforms, population dynamics and institutions.

Each is registered by one line below so configs can name it.
"""

from dilemmazoo.norms.base import Institution, Member, PopulationDynamics, StrategyWriter, UtilityTransform
from dilemmazoo.norms.cultural_evolution import CulturalEvolution
from dilemmazoo.norms.institutions import INSTITUTIONS, CostlyPunishment
from dilemmazoo.norms.social_learning import SocialLearning
from dilemmazoo.norms.synthesis import PolicySynthesis
from dilemmazoo.norms.utilities import InequityAversion, WelfareInternalization

POPULATION_DYNAMICS: dict[str, type[PopulationDynamics]] = {}
UTILITY_TRANSFORMS: dict[str, type] = {}


def register_dynamics(name: str, cls: type[PopulationDynamics]) -> None:
    if name in POPULATION_DYNAMICS:
        raise ValueError(f"population dynamics {name!r} is already registered")
    POPULATION_DYNAMICS[name] = cls


register_dynamics("cultural_evolution", CulturalEvolution)
register_dynamics("social_learning", SocialLearning)
register_dynamics("policy_synthesis", PolicySynthesis)


def make_dynamics(name: str, **kwargs) -> PopulationDynamics:
    try:
        cls = POPULATION_DYNAMICS[name]
    except KeyError:
        raise ValueError(f"unknown population dynamics {name!r}; known: {', '.join(sorted(POPULATION_DYNAMICS))}") from None
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


def list_norms() -> dict[str, str]:
    """Registered norm names with the first line of their docstrings."""
    entries = {f"dynamics:{k}": v for k, v in POPULATION_DYNAMICS.items()}
    entries.update({f"utility:{k}": v for k, v in UTILITY_TRANSFORMS.items()})
    entries.update({f"institution:{k}": v for k, v in INSTITUTIONS.items()})
    return {k: (v.__doc__ or "").strip().splitlines()[0] for k, v in entries.items()}


__all__ = [
    "CostlyPunishment",
    "CulturalEvolution",
    "INSTITUTIONS",
    "InequityAversion",
    "Institution",
    "Member",
    "POPULATION_DYNAMICS",
    "PolicySynthesis",
    "PopulationDynamics",
    "SocialLearning",
    "StrategyWriter",
    "UtilityTransform",
    "WelfareInternalization",
    "list_norms",
    "make_dynamics",
    "make_utility",
    "register_dynamics",
    "register_utility",
]
