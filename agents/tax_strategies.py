"""Scripted workers and planner for the tax world (``dilemmazoo/tax-world-v0``).

Sources: Karten et al., "LLM Economist" (arXiv 2507.15815), whose rational workers best-respond
to the posted schedule; Zheng et al., "The AI Economist" for the same labour-utility model.

A worker with skill ``v`` who works ``l`` hours earns ``z = l v`` and keeps
``u = z - T(z) + rebate - c l^delta`` (``c = 0.0005``, ``delta = 3.5`` by default). Inside a
bracket with marginal rate ``tau`` the first-order condition gives the closed form
``l* = ((1 - tau) v / (c delta))^(1 / (delta - 1))``; across brackets the optimum may sit at a
kink, and it is capped at ``max_hours`` (100).

:class:`RationalTaxWorker` (``"tax_rational"``)
   The best response to the schedule in its observation (``"skill"``, ``"rates"`` in percent,
   ``"edges"``), computed by :func:`dilemmazoo.envs.tax.rational_hours`, the world's own function,
   with the rebate taken as given (a lump sum does not depend on one's own hours). When the
   world asks for hours as a :class:`~dilemmazoo.envs.base.Choice` over numeric labels (the
   10-hour grid), the answer is the best point of that grid by utility, not the rounded
   continuous optimum; for an :class:`~dilemmazoo.envs.base.Amount` it is the continuous
   optimum. Parameters ``c``, ``delta``, ``max_hours`` and ``top_edge`` default to the world's
   (:data:`~dilemmazoo.envs.tax.C_LABOUR`, :data:`~dilemmazoo.envs.tax.DELTA_LABOUR`,
   :data:`~dilemmazoo.envs.tax.MAX_HOURS`, :data:`~dilemmazoo.envs.tax.REFERENCE_TOP_EDGE`: the
   reference code leaves income above 1e7 untaxed); a world built with other values needs the
   same values here.

:class:`FixedHoursTaxWorker` (``"tax_fixed_hours"``)
   Always ``hours`` (default 40); on a grid, the closest grid point (ties: the lower); the
   ``satisfied`` parameter as for the rational worker.

:class:`HoldTaxPlanner` (``"tax_planner_hold"``)
   Answers a delta of 0 in every bracket (``Answer: [0, 0, 0]`` through the world's
   :class:`~dilemmazoo.envs.tax_world.RateDeltas`): the schedule never changes (a baseline for tests).

Batching: :meth:`RationalTaxWorker.act_many` answers all requests of one ``act_batch`` with one
vectorized ``rational_hours`` call per distinct (schedule, grid, parameters); requests that share
a schedule (a whole population in one step) are one call, with no Python loop over the
arithmetic. :data:`TAX_BATCH_ACTORS` names the batched form of each strategy for
:class:`~dilemmazoo.agents.scripted.ScriptedPolicy`.

Other decisions of the world's scenarios: with bounded rationality the hours come with a
YES/NO on the tax policy, which is the worker's ``satisfied`` parameter (default True: YES);
in the democratic scenario's candidacy step the scripted workers abstain (a choice, not a
fallback), so they never reach a platform step. A decision they have no rule for (the vote, whose platforms are not in the
observation) is answered with the world's declared fallback and marked ``fallback_used``, so it
is counted in the records, never passed off as a choice.

Registration: the strategies are found by name in :func:`~dilemmazoo.agents.scripted.make_scripted`
through :data:`TAX_STRATEGIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs import tax
from dilemmazoo.envs.base import Amount, Choice
from dilemmazoo.envs.checks import check_bool, check_non_negative, check_real
from dilemmazoo.envs.tax_world import HoursAndSatisfaction

__all__ = [
    "TAX_BATCH_ACTORS",
    "TAX_STRATEGIES",
    "FixedHoursTaxWorker",
    "HoldTaxPlanner",
    "RationalTaxWorker",
    "hours_action",
]


def _grid_values(spec: Any) -> np.ndarray | None:
    """The hours grid of a decision answered on a grid (a numeric Choice, or hours with
    satisfaction); None for any other spec."""
    if isinstance(spec, HoursAndSatisfaction):
        return np.asarray(spec.hours_grid, dtype=float)
    values = spec.number_values if isinstance(spec, Choice) else None
    return None if values is None else np.asarray(values, dtype=float)


def _is_hours_decision(spec: Any) -> bool:
    return isinstance(spec, Amount) or _grid_values(spec) is not None


def hours_action(spec: Any, hours: float, *, satisfied: bool = True) -> Action:
    """An :class:`Action` answering ``hours`` through the world's spec.

    A grid (a numeric :class:`Choice`, or :class:`~dilemmazoo.envs.tax_world.HoursAndSatisfaction`
    with ``satisfied`` as the YES/NO) gets its closest point (ties: the lower); an :class:`Amount`
    the value clipped to ``[low, high]``. Any other spec is a ``TypeError``.
    """
    grid = _grid_values(spec)
    if grid is not None:
        return _grid_action(spec, grid, _closest(grid, np.array([hours]))[0], satisfied)
    if isinstance(spec, Amount):
        value = float(np.clip(hours, spec.low, spec.high))
        return Action(value=spec.make_action(0, value), raw_text=f"Answer: {value:g}")
    raise TypeError(f"hours are answered through a numeric Choice, HoursAndSatisfaction or an Amount, "
                    f"got {type(spec).__name__}")


def _closest(grid: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Index of the grid point closest to each of ``hours`` (ties: the lower point)."""
    distance = np.abs(grid[None, :] - hours[:, None])
    # sort the grid ascending first, so that argmin's first hit among ties is the lower point
    order = np.argsort(grid, kind="stable")
    return order[np.argmin(distance[:, order], axis=1)]


def _grid_action(spec: Any, grid: np.ndarray, index: int, satisfied: bool) -> Action:
    if isinstance(spec, HoursAndSatisfaction):
        answer = "YES" if satisfied else "NO"
        return Action(value=spec.make_action(float(grid[index]), int(satisfied)),
                      raw_text=f"Answer: {grid[index]:g}, {answer}")
    return Action(value=spec.action_for_option(int(index)), raw_text=f"Answer: {spec.labels[index]}")


def _other_decision(request: Decision) -> Action:
    """A decision that is not about hours: abstain in the candidacy step; else the world's
    declared fallback, marked ``fallback_used`` (counted in the records)."""
    if isinstance(request.spec, Choice) and "abstain" in request.spec.labels:
        index = list(request.spec.labels).index("abstain")
        return Action(value=request.spec.action_for_option(index), raw_text="Answer: abstain")
    return Action(value=request.spec.fallback, raw_text="", fallback_used=True)


def _vector(observation: Any, key: str) -> np.ndarray:
    return np.asarray(observation[key], dtype=float).reshape(-1)


class RationalTaxWorker:
    """Works the hours that maximise its own utility under the posted schedule (see module docstring)."""

    def __init__(
        self,
        c: float = tax.C_LABOUR,
        delta: float = tax.DELTA_LABOUR,
        max_hours: float = tax.MAX_HOURS,
        top_edge: float = tax.REFERENCE_TOP_EDGE,
        satisfied: bool = True,
    ):
        self.satisfied = check_bool("satisfied", satisfied)
        self.c = check_real("c", c, low=0.0, low_open=True)
        self.delta = check_real("delta", delta, low=1.0, low_open=True)  # a convex labour cost
        self.max_hours = check_non_negative("max_hours", max_hours)
        # math.inf is the corrected schedule (income above the reference's 1e7 edge taxed too)
        if isinstance(top_edge, bool) or not isinstance(top_edge, Real) or not top_edge > 0:
            raise ValueError(f"top_edge must be a number > 0 (math.inf allowed), got {top_edge!r}")
        self.top_edge = float(top_edge)

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        pass

    def _key(self) -> tuple[float, float, float, float]:
        return (self.c, self.delta, self.max_hours, self.top_edge)

    def act(self, request: Decision) -> Action:
        return self.act_many([self], [request])[0]

    @staticmethod
    def act_many(agents: Sequence[RationalTaxWorker], requests: Sequence[Decision]) -> list[Action]:
        """One answer per request; all hours decisions that share a schedule, a grid and the
        agents' parameters are computed in one vectorized ``rational_hours`` call."""
        if len(agents) != len(requests):
            raise ValueError(f"act_many: {len(agents)} agents but {len(requests)} requests")
        actions: list[Action | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        skills = np.empty(len(requests))
        schedules: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        for i, (agent, request) in enumerate(zip(agents, requests)):
            if not _is_hours_decision(request.spec):
                actions[i] = _other_decision(request)
                continue
            observation = request.observation
            skills[i] = _vector(observation, "skill")[0]
            edges, rates = _vector(observation, "edges"), _vector(observation, "rates")
            grid = _grid_values(request.spec)
            key = (edges.tobytes(), rates.tobytes(), None if grid is None else grid.tobytes(), agent._key())
            schedules.setdefault(key, (edges, rates, grid))
            groups.setdefault(key, []).append(i)
        for key, members in groups.items():
            edges, rates, grid = schedules[key]
            c, delta, max_hours, top_edge = key[3]
            hours = np.asarray(
                tax.rational_hours(skills[members], edges, rates, c=c, delta=delta, max_hours=max_hours,
                                   grid=None if grid is None else tuple(grid), top_edge=top_edge),
                dtype=float,
            ).reshape(-1)
            if grid is None:
                for i, h in zip(members, hours):
                    actions[i] = hours_action(requests[i].spec, float(h))
            else:
                for i, index in zip(members, _closest(grid, hours)):
                    actions[i] = _grid_action(requests[i].spec, grid, index, agents[i].satisfied)
        return actions  # type: ignore[return-value]


class FixedHoursTaxWorker:
    """Always works ``hours`` (closest grid point on a grid)."""

    def __init__(self, hours: float = 40.0, satisfied: bool = True):
        self.hours = check_non_negative("hours", hours)
        self.satisfied = check_bool("satisfied", satisfied)

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        pass

    def act(self, request: Decision) -> Action:
        if not _is_hours_decision(request.spec):
            return _other_decision(request)
        return hours_action(request.spec, self.hours, satisfied=self.satisfied)

    @staticmethod
    def act_many(agents: Sequence[FixedHoursTaxWorker], requests: Sequence[Decision]) -> list[Action]:
        if len(agents) != len(requests):
            raise ValueError(f"act_many: {len(agents)} agents but {len(requests)} requests")
        return [agent.act(request) for agent, request in zip(agents, requests)]


class HoldTaxPlanner:
    """Keeps the schedule: a delta of 0 in every bracket."""

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        pass

    def act(self, request: Decision) -> Action:
        n_brackets = len(_vector(request.observation, "rates"))
        text = "Answer: [" + ", ".join(["0"] * n_brackets) + "]"
        return Action(value=request.spec.parse(text), raw_text=text)

    @staticmethod
    def act_many(agents: Sequence[HoldTaxPlanner], requests: Sequence[Decision]) -> list[Action]:
        return [agent.act(request) for agent, request in zip(agents, requests)]


TAX_STRATEGIES: dict[str, type] = {
    "tax_rational": RationalTaxWorker,
    "tax_fixed_hours": FixedHoursTaxWorker,
    "tax_planner_hold": HoldTaxPlanner,
}

#: the batched form of each strategy: ``act_many(agents, requests) -> actions``
TAX_BATCH_ACTORS: dict[str, Callable[[Sequence[Any], Sequence[Decision]], list[Action]]] = {
    name: cls.act_many for name, cls in TAX_STRATEGIES.items()
}
