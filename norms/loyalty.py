"""Loyalty-moderated utility (Pant & Yu) as a utility transform for any world with teams.

Source: Pant & Yu, "Computational Foundations for Strategic Coopetition: Formalizing Collective
Action and Loyalty" (arXiv 2601.16237; validation code vikpant/strategic-coopetition). A
member with loyalty ``theta_i`` in ``[0, 1]`` adds to its own reward ``r_i`` a share of its
teammates' welfare and discounts part of its own cost:

    U_i = r_i + theta_i * (phi_b * mean_{j in team(i), j != i} r_j + phi_c * cost_i)

``phi_b`` (default 0.8) weighs welfare internalisation, ``phi_c`` (default 0.3) cost
tolerance (the paper's base case). In the team-production world (``r_i = pi_i = Q/n - c a_i``,
``cost_i = c a_i``) this is exactly the paper's ``U_i = pi_i + theta_i (phi_b pibar_-i + phi_c c
a_i)``; the pure function is :func:`dilemmazoo.envs.loyalty.loyalty_utilities`.

Config: ``utility: {name: loyalty, kwargs: {theta, phi_b, phi_c, teams, cost_key}}``.

- ``theta``: one number for everyone, a list with one value per seat (in the order of the
  world's seats, ``possible_agents``), or a mapping seat -> theta naming every seat.
- ``teams``: a list of lists of seat names (default: everyone one team). A seat in no team is
  alone: it has no teammates, so no welfare term, only the cost tolerance. Only this step's
  rewarded (live) teammates enter the mean.
- ``cost_key="cost"``: the key of each agent's per-step cost in the world's ``infos``. Which
  worlds report one: the team-production world (``dilemmazoo/team-production-v0``) reports
  ``cost`` (``c * a_i``); the common-pool-resource world reports the cost of sanctioning others
  as ``punish_cost_paid`` (``cost_key: punish_cost_paid``). Where the world reports no cost for
  an agent, the transform applies the welfare part only (cost 0 for that agent), warns once
  (naming the key) and counts the steps where it happened in ``missing_cost_steps``.

Theory (re-exported from :mod:`dilemmazoo.envs.loyalty`, where the formulas are derived):
:func:`closed_form_effort`, :func:`best_response_equilibrium`, :func:`effort_ratio`,
:func:`sweep_table`; :func:`loyalty_sweep` is the study behind the ``loyalty_sweep`` preset (the
paper's 3,125-configuration sweep as a table; the six behavioural targets are scored in
:mod:`dilemmazoo.analysis.loyalty`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import pandas as pd

from dilemmazoo.envs.loyalty import (
    DEFAULTS,
    PAPER_SWEEP,
    best_response_equilibrium,
    closed_form_effort,
    desired_total_effort,
    effort_ratio,
    loyalty_utilities,
    sweep_table,
)
from dilemmazoo.envs.checks import check_real
from dilemmazoo.norms.base import UtilityTransform

__all__ = [
    "DEFAULTS",
    "PAPER_SWEEP",
    "LoyaltyUtility",
    "best_response_equilibrium",
    "closed_form_effort",
    "desired_total_effort",
    "effort_ratio",
    "loyalty_sweep",
    "sweep_table",
]


def _theta(name: str, value: Any) -> float:
    return check_real(name, value, low=0.0, high=1.0)


class LoyaltyUtility(UtilityTransform):
    """Loyalty-moderated utility (Pant & Yu 2026): ``U_i = r_i + theta_i (phi_b * teammates' mean reward + phi_c * cost_i)``.

    Arguments (defaults): ``theta=0.5`` (a number, a list with one value per seat in the
    world's seat order, or a mapping seat -> value; each in [0, 1]; 0.5 is the reference's
    default member loyalty), ``phi_b=0.8``, ``phi_c=0.3`` (the paper's base case; ``phi_b >= 0``,
    ``phi_c`` in [0, 1]), ``teams=None`` (lists of seat names; default everyone one team),
    ``cost_key="cost"`` (where each agent's per-step cost is read in the step's infos).

    A list or mapping of ``theta`` and the ``teams`` are matched to the seats at
    :meth:`reset` (a ``ValueError`` names a wrong length or an unknown seat); without a reset
    the first call's agents are taken as the seats. ``missing_cost_steps`` counts the steps in
    which some rewarded agent had no ``cost_key`` in its infos (those agents got the welfare
    part only); the first such step also warns.
    """

    def __init__(self, theta: float | Sequence[float] | Mapping[str, float] = 0.5, phi_b: float = 0.8,
                 phi_c: float = 0.3, teams: Sequence[Sequence[str]] | None = None, cost_key: str = "cost"):
        if isinstance(theta, Mapping):
            self.theta: float | list[float] | dict[str, float] = {
                str(agent): _theta(f"theta[{agent!r}]", value) for agent, value in theta.items()}
        elif isinstance(theta, Real) and not isinstance(theta, bool):
            self.theta = _theta("theta", theta)
        elif isinstance(theta, Sequence) and not isinstance(theta, (str, bytes)):
            self.theta = [_theta(f"theta[{i}]", value) for i, value in enumerate(theta)]
            if not self.theta:
                raise ValueError("theta must be a number, a non-empty list or a mapping seat -> theta, got []")
        else:
            raise ValueError(f"theta must be a number in [0, 1], a list of them or a mapping seat -> theta, got {theta!r}")
        self.phi_b = check_real("phi_b", phi_b, low=0.0)
        self.phi_c = check_real("phi_c", phi_c, low=0.0, high=1.0)
        self.teams = self._check_teams(teams)
        if not isinstance(cost_key, str) or not cost_key:
            raise ValueError(f"cost_key must be a non-empty string, got {cost_key!r}")
        self.cost_key = cost_key
        self.missing_cost_steps = 0
        self._warned = False
        self._thetas: dict[str, float] | None = None
        self._team_of: dict[str, int] = {}

    @staticmethod
    def _check_teams(teams: Any) -> list[list[str]] | None:
        if teams is None:
            return None
        if isinstance(teams, (str, bytes)) or not isinstance(teams, Sequence):
            raise ValueError(f"teams must be a list of lists of seat names, got {teams!r}")
        seen: set[str] = set()
        result = []
        for team in teams:
            if isinstance(team, (str, bytes)) or not isinstance(team, Sequence):
                raise ValueError(f"each team must be a list of seat names, got {team!r}")
            for agent in team:
                if not isinstance(agent, str):
                    raise ValueError(f"teams: a seat name must be a string, got {agent!r}")
                if agent in seen:
                    raise ValueError(f"teams: seat {agent!r} is in more than one team")
                seen.add(agent)
            result.append(list(team))
        return result

    def reset(self, agents: Sequence[str]) -> None:
        """Episode start: match ``theta`` and ``teams`` to the seats (``ValueError`` when they do not fit)."""
        seats = list(agents)
        if isinstance(self.theta, dict):
            unknown = sorted(set(self.theta) - set(seats))
            missing = [seat for seat in seats if seat not in self.theta]
            if unknown:
                raise ValueError(f"theta names unknown seat(s) {', '.join(map(repr, unknown))}; the seats are {seats}")
            if missing:
                raise ValueError(f"theta gives no loyalty for seat(s) {', '.join(map(repr, missing))}")
            thetas = dict(self.theta)
        elif isinstance(self.theta, list):
            if len(self.theta) != len(seats):
                raise ValueError(f"theta lists {len(self.theta)} values but the world has {len(seats)} seats {seats}")
            thetas = dict(zip(seats, self.theta))
        else:
            thetas = dict.fromkeys(seats, self.theta)
        team_of: dict[str, int] = {}
        if self.teams is None:
            team_of = dict.fromkeys(seats, 0)
        else:
            for index, team in enumerate(self.teams):
                for agent in team:
                    if agent not in thetas:
                        raise ValueError(f"teams names unknown seat {agent!r}; the seats are {seats}")
                    team_of[agent] = index
            for agent in seats:  # a seat in no team is alone
                team_of.setdefault(agent, len(self.teams) + seats.index(agent))
        self._thetas = thetas
        self._team_of = team_of

    def __call__(self, rewards: Mapping[str, float], state: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Each rewarded agent's loyalty utility from this step's rewards and the costs in ``state["infos"]``."""
        if not rewards:
            return {}
        if self._thetas is None:
            self.reset(list(rewards))
        agents = list(rewards)
        for agent in agents:
            if agent not in self._thetas:
                raise ValueError(f"agent {agent!r} was not a seat at reset; the seats are {list(self._thetas)}")
        infos = (state or {}).get("infos") or {}
        costs, missing = [], []
        for agent in agents:
            info = infos.get(agent) or {}
            if self.cost_key in info:
                costs.append(float(info[self.cost_key]))
            else:
                costs.append(0.0)
                missing.append(agent)
        if missing:
            self.missing_cost_steps += 1
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"loyalty: the world reports no {self.cost_key!r} in infos for {', '.join(missing)}; "
                    f"applying the welfare part only (cost tolerance needs a per-step cost; see cost_key)",
                    stacklevel=2,
                )
        groups: dict[int, list[int]] = {}
        for index, agent in enumerate(agents):
            groups.setdefault(self._team_of[agent], []).append(index)
        utilities = loyalty_utilities(
            [float(rewards[a]) for a in agents], costs, [self._thetas[a] for a in agents],
            self.phi_b, self.phi_c, teams=list(groups.values()),
        )
        return dict(zip(agents, utilities.tolist()))

    def __repr__(self) -> str:
        teams = "" if self.teams is None else f", teams={self.teams}"
        return (f"LoyaltyUtility(theta={self.theta}, phi_b={self.phi_b:g}, phi_c={self.phi_c:g}"
                f"{teams}, cost_key={self.cost_key!r})")


def loyalty_sweep(*, omega: Any = PAPER_SWEEP["omega"], beta: Any = PAPER_SWEEP["beta"], c: Any = PAPER_SWEEP["c"],
                  n: Any = PAPER_SWEEP["n"], theta: Any = PAPER_SWEEP["theta"], phi_b: float = 0.8, phi_c: float = 0.3,
                  a_min: float = 0.01, a_max: float = 50.0, numeric: bool = True,
                  ratio_thetas: Sequence[float] = (0.9, 0.1), synergy_theta: float = 0.7) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The paper's sweep as a DataFrame, one row per configuration, and a figures dict (empty).

    The arguments are those of :func:`dilemmazoo.envs.loyalty.sweep_table` (its docstring lists
    the columns): the axes ``omega``, ``beta``, ``c``, ``n``, ``theta`` (each a number or a list;
    default the paper's 3,125-configuration grid, :data:`PAPER_SWEEP`) and the fixed ``phi_b``,
    ``phi_c``, ``a_min``, ``a_max``; ``numeric=True`` also solves every configuration by
    best response. The norms layer cannot import the analysis layer, so the figures dict is
    empty: the six behavioural targets and the plots are computed from this table by
    :mod:`dilemmazoo.analysis.loyalty` (``behavioural_targets``, ``plot_sweep``,
    ``plot_effort_ratios``), which is what the ``loyalty_sweep`` preset's report shows.
    """
    ratio = tuple(ratio_thetas)
    if len(ratio) != 2:
        raise ValueError(f"ratio_thetas must be two loyalties (high, low), got {ratio_thetas!r}")
    table = sweep_table(omega=omega, beta=beta, c=c, n=n, theta=theta, phi_b=phi_b, phi_c=phi_c, a_min=a_min,
                        a_max=a_max, numeric=numeric, ratio_thetas=ratio, synergy_theta=synergy_theta)
    return pd.DataFrame(table), {}
