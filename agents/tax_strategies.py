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
   Always ``hours`` (default 40); on a grid, the closest grid point (ties: the lower).

:class:`HoldTaxPlanner` (``"tax_planner_hold"``)
   Answers a delta of 0 in every bracket: the schedule never changes (a baseline for tests).

Batching: :meth:`RationalTaxWorker.act_many` answers all requests of one ``act_batch`` with one
vectorized ``rational_hours`` call per distinct (schedule, grid, parameters); requests that share
a schedule (a whole population in one step) are one call, with no Python loop over the
arithmetic. :data:`TAX_BATCH_ACTORS` names the batched form of each strategy for
:class:`~dilemmazoo.agents.scripted.ScriptedPolicy`.

Decisions the scripted workers have no rule for (a satisfaction question, a platform or a vote in
the democratic scenario) are answered with the world's declared fallback and marked
``fallback_used``, so they are counted in the records, never passed off as choices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs import tax
from dilemmazoo.envs.base import Amount, Choice
from dilemmazoo.envs.checks import check_non_negative, check_real

__all__ = [
    "TAX_BATCH_ACTORS",
    "TAX_STRATEGIES",
    "FixedHoursTaxWorker",
    "HoldTaxPlanner",
    "RationalTaxWorker",
    "hours_action",
]


def _grid_values(spec: Any) -> np.ndarray | None:
    """The hours grid of a Choice whose labels are all numbers; None for any other spec."""
    if not isinstance(spec, Choice):
        return None
    try:
        return np.array([float(label) for label in spec.labels])
    except ValueError:
        return None


def _is_hours_decision(spec: Any) -> bool:
    return isinstance(spec, Amount) or _grid_values(spec) is not None


def hours_action(spec: Any, hours: float) -> Action:
    """An :class:`Action` answering ``hours`` through the world's spec.

    A numeric :class:`Choice` gets its closest label (ties: the lower); an :class:`Amount` the
    value clipped to ``[low, high]``. Any other spec is a ``TypeError``.
    """
    grid = _grid_values(spec)
    if grid is not None:
        index = min(range(len(grid)), key=lambda k: (abs(grid[k] - hours), grid[k]))
        return Action(value=spec.action_for_option(index), raw_text=f"Answer: {spec.labels[index]}")
    if isinstance(spec, Amount):
        value = float(np.clip(hours, spec.low, spec.high))
        return Action(value=spec.make_action(0, value), raw_text=f"Answer: {value:g}")
    raise TypeError(f"hours are answered through a numeric Choice or an Amount, got {type(spec).__name__}")


def _declared_fallback(request: Decision) -> Action:
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
    ):
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
                actions[i] = _declared_fallback(request)
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
            for i, h in zip(members, hours):
                actions[i] = hours_action(requests[i].spec, float(h))
        return actions  # type: ignore[return-value]


class FixedHoursTaxWorker:
    """Always works ``hours`` (closest grid point on a grid)."""

    def __init__(self, hours: float = 40.0):
        self.hours = check_non_negative("hours", hours)

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        pass

    def act(self, request: Decision) -> Action:
        if not _is_hours_decision(request.spec):
            return _declared_fallback(request)
        return hours_action(request.spec, self.hours)

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
        text = "Answer: " + ", ".join(["0"] * n_brackets)
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
