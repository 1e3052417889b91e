"""Scripted members for the team-production world (``dilemmazoo/team-production-v0``).

Source: Pant & Yu, "Computational Foundations for Strategic Coopetition: Formalizing Collective
Action and Loyalty" (arXiv 2601.16237).
Team output ``Q = omega * S^beta``, base payoff ``pi_i = Q / n - c a_i``; a member with loyalty
``theta`` maximises ``U_i = pi_i + theta (phi_b * mean_{j != i} pi_j + phi_c * c a_i)``. The
equilibrium math is :mod:`dilemmazoo.envs.loyalty`'s (``closed_form_effort``,
``best_response_equilibrium``, ``loyalty_utilities``); every parameter of the world (``omega``,
``beta``, ``c``, ``a_min``, ``a_max``, the own team) is read from the observation.

:class:`TeamEquilibriumMember` (``"team_equilibrium"``; kwargs ``theta=0.0``, ``phi_b=0.8``, ``phi_c=0.3``)
   Plays its own effort in the best-response equilibrium of its team when every member has
   loyalty ``theta``. ``theta`` is one number (the member assumes its whole team shares it:
   the symmetric closed form, clipped to ``[a_min, a_max]``; theta 0 is the free-riding Nash
   equilibrium ``S*/n = (omega beta / (n c))^(1/(1-beta)) / n``) or a per-seat list of
   ``n_members`` numbers indexed by the world's seat (the heterogeneous equilibrium of
   ``best_response_equilibrium`` over the team's members; every member given the same list
   computes the same profile, so together they play it). On an
   :class:`~dilemmazoo.envs.base.Amount` it answers the exact effort; on the world's effort grid
   (a numeric :class:`~dilemmazoo.envs.base.Choice`) the grid point with the highest own
   utility ``U_i`` when the teammates play their equilibrium efforts (the utility is concave in
   one's own effort, so this is one of the two grid points around the continuous optimum).

:class:`FixedEffortMember` (``"team_fixed_effort"``; kwarg ``effort=10.0``)
   Always ``effort``: clipped to ``[a_min, a_max]`` on an ``Amount``, the closest grid point
   (ties: the lower) on a grid.

:class:`FreeRiderMember` (``"team_free_rider"``) and :class:`FullEffortMember` (``"team_full_effort"``)
   Always ``a_min`` (the least effort the world allows) and always ``a_max``: the defector and
   the cooperator of the Schelling diagram.

A decision that is not an effort (none exists in this world yet) is answered with the world's
declared fallback and marked ``fallback_used``, so it is counted in the records.

Registration: found by name in :func:`~dilemmazoo.agents.scripted.make_scripted` through
:data:`TEAM_STRATEGIES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs.base import Amount, Choice
from dilemmazoo.envs.checks import check_real
from dilemmazoo.envs.loyalty import (
    base_payoffs,
    best_response_equilibrium,
    closed_form_effort,
    loyalty_utilities,
)

__all__ = [
    "TEAM_STRATEGIES",
    "FixedEffortMember",
    "FreeRiderMember",
    "FullEffortMember",
    "TeamEquilibriumMember",
    "effort_action",
    "world_parameters",
]


def _scalar(observation: Any, key: str) -> float:
    return float(np.asarray(observation[key], dtype=float).reshape(-1)[0])


def world_parameters(observation: Any) -> dict[str, Any]:
    """The world's parameters and the member's team, from a team-production observation:
    ``omega``, ``beta``, ``c``, ``a_min``, ``a_max`` (floats), ``seat`` (int) and ``team`` (the
    seats of the member's team, ascending, itself included)."""
    mask = np.asarray(observation["team"]).reshape(-1)
    return {
        **{key: _scalar(observation, key) for key in ("omega", "beta", "c", "a_min", "a_max")},
        "seat": int(np.asarray(observation["seat"]).reshape(-1)[0]),
        "team": [int(j) for j in np.flatnonzero(mask)],
    }


def _grid_values(spec: Any) -> np.ndarray | None:
    """The efforts of a grid decision (a Choice whose labels are all numbers), else None."""
    values = spec.number_values if isinstance(spec, Choice) else None
    return None if values is None else np.asarray(values, dtype=float)


def _closest(grid: np.ndarray, effort: float) -> int:
    """Index of the grid point closest to ``effort`` (ties: the lower point)."""
    order = np.argsort(grid, kind="stable")
    return int(order[np.argmin(np.abs(grid[order] - effort))])


def effort_action(spec: Any, effort: float) -> Action:
    """An :class:`Action` answering ``effort`` through the world's spec: on a numeric
    :class:`Choice` its closest point (ties: the lower), on an :class:`Amount` the value clipped
    to ``[low, high]``. Any other spec is a ``TypeError``."""
    grid = _grid_values(spec)
    if grid is not None:
        index = _closest(grid, effort)
        return Action(value=spec.action_for_option(index), raw_text=f"Answer: {spec.labels[index]}")
    if isinstance(spec, Amount):
        value = float(np.clip(effort, spec.low, spec.high))
        return Action(value=spec.make_action(0, value), raw_text=f"Answer: {value!r}")
    raise TypeError(f"an effort is answered through a numeric Choice or an Amount, got {type(spec).__name__}")


def _is_effort_decision(spec: Any) -> bool:
    return isinstance(spec, Amount) or _grid_values(spec) is not None


def _not_an_effort(request: Decision) -> Action:
    return Action(value=request.spec.fallback, raw_text="", fallback_used=True)


class _Member:
    """Shared plumbing: no episode state, one effort rule."""

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        pass

    def effort(self, observation: Any) -> float:
        raise NotImplementedError

    def act(self, request: Decision) -> Action:
        if not _is_effort_decision(request.spec):
            return _not_an_effort(request)
        return effort_action(request.spec, self.effort(request.observation))


class FixedEffortMember(_Member):
    """Always ``effort`` (see the module docstring)."""

    def __init__(self, effort: float = 10.0):
        self.fixed = check_real("effort", effort, low=0.0)

    def effort(self, observation: Any) -> float:
        return self.fixed


class FreeRiderMember(_Member):
    """Always the least effort the world allows, ``a_min``."""

    def effort(self, observation: Any) -> float:
        return _scalar(observation, "a_min")


class FullEffortMember(_Member):
    """Always the most effort the world allows, ``a_max``."""

    def effort(self, observation: Any) -> float:
        return _scalar(observation, "a_max")


class TeamEquilibriumMember(_Member):
    """Plays its effort in the loyalty best-response equilibrium of its team (module docstring)."""

    def __init__(self, theta: float | Sequence[float] = 0.0, phi_b: float = 0.8, phi_c: float = 0.3):
        if isinstance(theta, (str, bytes)) or not isinstance(theta, (Real, Sequence, np.ndarray)):
            raise ValueError(f"theta must be a number in [0, 1] or a per-seat list of them, got {theta!r:.200}")
        if isinstance(theta, Real):
            self.theta: float | tuple[float, ...] = check_real("theta", theta, low=0.0, high=1.0)
        else:
            values = tuple(check_real("theta", t, low=0.0, high=1.0) for t in theta)
            if not values:
                raise ValueError("theta must be a number in [0, 1] or a non-empty per-seat list of them")
            self.theta = values
        self.phi_b = check_real("phi_b", phi_b, low=0.0)
        self.phi_c = check_real("phi_c", phi_c, low=0.0)
        if self.phi_c * max(self._thetas_given()) >= 1.0:
            raise ValueError(f"theta * phi_c must stay below 1 (cost tolerance cannot exceed the cost), "
                             f"got phi_c={phi_c!r} with theta={theta!r}")

    def _thetas_given(self) -> tuple[float, ...]:
        return (self.theta,) if isinstance(self.theta, float) else self.theta

    def team_thetas(self, params: dict[str, Any], n_members: int) -> np.ndarray:
        """The loyalty of each member of the team (in the order of ``params["team"]``)."""
        team = params["team"]
        if isinstance(self.theta, float):
            return np.full(len(team), self.theta)
        if len(self.theta) != n_members:
            raise ValueError(f"theta lists one value per seat of the world: {n_members} needed, got {len(self.theta)}")
        return np.array([self.theta[j] for j in team])

    def equilibrium(self, observation: Any) -> tuple[np.ndarray, int, dict[str, Any], np.ndarray]:
        """The team's equilibrium efforts, the member's position in the team, the world's
        parameters and the team's thetas."""
        params = world_parameters(observation)
        n_members = int(np.asarray(observation["team"]).size)
        thetas = self.team_thetas(params, n_members)
        team, position = params["team"], params["team"].index(params["seat"])
        n = len(team)
        common = dict(omega=params["omega"], beta=params["beta"], c=params["c"], n=n, phi_b=self.phi_b,
                      phi_c=self.phi_c)
        if np.all(thetas == thetas[0]):
            # equal loyalty: only the total is unique, and the symmetric profile is the closed form
            mean = closed_form_effort(float(thetas[0]), a_max=params["a_max"], a_min=params["a_min"], **common)
            efforts = np.full(n, mean)
        else:
            efforts, _ = best_response_equilibrium(thetas, a_min=params["a_min"], a_max=params["a_max"], **common)
            efforts = np.asarray(efforts, dtype=float)
        return efforts, position, params, thetas

    def effort(self, observation: Any) -> float:
        efforts, position, _, _ = self.equilibrium(observation)
        return float(efforts[position])

    def act(self, request: Decision) -> Action:
        spec = request.spec
        grid = _grid_values(spec)
        if grid is None:
            return super().act(request)
        efforts, position, params, thetas = self.equilibrium(request.observation)
        profiles = np.repeat(efforts[None, :], len(grid), axis=0)
        profiles[:, position] = grid
        utilities = [
            loyalty_utilities(
                base_payoffs(profile, params["omega"], params["beta"], params["c"]),
                params["c"] * profile, thetas, self.phi_b, self.phi_c,
            )[position]
            for profile in profiles
        ]
        index = int(np.argmax(utilities))  # first of equal utilities: the lower effort
        return Action(value=spec.action_for_option(index), raw_text=f"Answer: {spec.labels[index]}")


TEAM_STRATEGIES: dict[str, type] = {
    "team_equilibrium": TeamEquilibriumMember,
    "team_fixed_effort": FixedEffortMember,
    "team_free_rider": FreeRiderMember,
    "team_full_effort": FullEffortMember,
}
