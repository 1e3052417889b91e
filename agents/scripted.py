"""Scripted agents: fixed rules with parameters, for baselines, tests and teaching.

Donor Game strategies (Vallinder & Hughes 2024 discuss these archetypes):

- :class:`FixedFraction` always gives ``fraction`` of its resources.
- :class:`Reciprocator` gives what the recipient last gave (as a fraction of the recipient's
  resources then), times ``generosity``; ``initial`` when the recipient has no history.
- :class:`Defector` never gives.

Scripted agents answer through the world's own :class:`~dilemmazoo.envs.base.Amount` spec
(``spec.make_action``), so they can never send an action the world would not accept.
Other worlds' scripted agents live beside their worlds' strategies and are found by name in
:func:`make_scripted`: matrix games, the splitting worlds, GovSim's commons (``commons_sustainable``,
``commons_greedy``, ``commons_fixed_amount``, ``commons_conditional_cooperator``), the effort CPR's
(``cpr_rule_based``, ``cpr_fixed_effort``), the gridworlds' (``grid_random``, ``grid_bfs``,
``grid_cleaner``, ``grid_roles``), the team-production world's (``team_equilibrium``,
``team_fixed_effort``, ``team_free_rider``, ``team_full_effort``), the ATP exploration world's
(``atp_comply``, ``atp_violate``, ``atp_violate_when_unsupervised``, ``atp_greedy_learner``) and the
ATP diffusion world's (``atp_collective``, ``atp_independent``, ``atp_threshold``, ``atp_committed``),
and the generic ones of :mod:`dilemmazoo.agents.mechanism_strategies` (``first_option``,
``last_option``, ``mirror``, ``myopic_best_response``).

Mechanism worlds (:mod:`dilemmazoo.norms`: contracting, mediation): the parameter ``mechanism``
(``params: {mechanism: {contract, mediator, approve, sign, delegate, ...}}``) wraps any strategy
in a :class:`~dilemmazoo.agents.mechanism_strategies.MechanismPlayer`, which answers the
mechanism's phases from those parameters and passes the base game to the strategy. A strategy
without it answers the phases with the player's defaults (the spec's neutral contract and
mediator, approve all, sign, never delegate).

:class:`ScriptedPolicy` gives a population of such agents the BatchPolicy and StrategyWriter
interfaces; their strategies are parameters, so they write no strategy text.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, BatchPolicy, Decision
from dilemmazoo.envs.base import Amount

__all__ = ["Defector", "FixedFraction", "Reciprocator", "SCRIPTED_AGENTS", "ScriptedPolicy", "make_scripted"]


def _give(request: Decision, fraction: float) -> Action:
    spec = request.spec
    if not isinstance(spec, Amount):
        raise TypeError(f"donation strategies answer Amount specs, got {type(spec).__name__}")
    fraction = float(np.clip(fraction, 0.0, 1.0))
    amount = spec.low + fraction * (spec.high - spec.low)
    return Action(value=spec.make_action(0, amount), raw_text=f"Answer: {amount:g}")


class FixedFraction:
    """Always donate ``fraction`` of current resources."""

    def __init__(self, fraction: float = 0.5):
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        self.fraction = fraction

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        pass

    def act(self, request: Decision) -> Action:
        return _give(request, self.fraction)


class Defector(FixedFraction):
    """Never donate."""

    def __init__(self) -> None:
        super().__init__(0.0)


class Reciprocator:
    """Give back what the recipient last gave (scaled by ``generosity``), else ``initial``."""

    def __init__(self, initial: float = 0.5, generosity: float = 1.0):
        if not 0.0 <= initial <= 1.0 or generosity < 0:
            raise ValueError("initial must be in [0, 1] and generosity >= 0")
        self.initial = initial
        self.generosity = generosity

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        pass

    def act(self, request: Decision) -> Action:
        last = float(np.asarray(request.observation["partner_last_fraction"]).reshape(-1)[0])
        return _give(request, self.initial if last < 0 else last * self.generosity)


SCRIPTED_AGENTS: dict[str, type] = {
    "fixed_fraction": FixedFraction,
    "reciprocator": Reciprocator,
    "defector": Defector,
}


def _world_strategies() -> dict[str, type]:
    """The other worlds' scripted agents; GovSim's carry a ``commons_`` prefix (``greedy`` is a matrix strategy)."""
    from dilemmazoo.agents.atp_diffusion_strategies import ATP_DIFFUSION_STRATEGIES
    from dilemmazoo.agents.atp_strategies import ATP_STRATEGIES
    from dilemmazoo.agents.commons_strategies import COMMONS_STRATEGIES
    from dilemmazoo.agents.cpr_strategies import CPR_STRATEGIES
    from dilemmazoo.agents.grid_strategies import GRID_STRATEGIES
    from dilemmazoo.agents.mechanism_strategies import GENERIC_STRATEGIES
    from dilemmazoo.agents.split_strategies import SPLIT_STRATEGIES
    from dilemmazoo.agents.tax_strategies import TAX_STRATEGIES
    from dilemmazoo.agents.team_strategies import TEAM_STRATEGIES

    commons = {f"commons_{name}": cls for name, cls in COMMONS_STRATEGIES.items()}
    return {**SPLIT_STRATEGIES, **commons, **CPR_STRATEGIES, **GRID_STRATEGIES, **TAX_STRATEGIES, **TEAM_STRATEGIES,
            **ATP_STRATEGIES, **ATP_DIFFUSION_STRATEGIES, **GENERIC_STRATEGIES}


def _batch_actors() -> dict:
    """Strategies that answer a whole step at once: ``act_many(agents, requests) -> actions``
    (the tax world's rational workers: one vectorized best response for thousands of seats)."""
    from dilemmazoo.agents.tax_strategies import TAX_BATCH_ACTORS

    return dict(TAX_BATCH_ACTORS)


def make_scripted(strategy: str, **params: Any):
    """Build a scripted agent by name: a Donor Game strategy above, a matrix-game strategy
    (:mod:`dilemmazoo.agents.matrix_strategies`), a splitting-world opponent
    (:mod:`dilemmazoo.agents.split_strategies`), ``axelrod:Name`` or ``neural:CHECKPOINT`` (a trained torch policy). Unknown names list the known ones.

    ``mechanism={...}`` among the parameters wraps the strategy in a
    :class:`~dilemmazoo.agents.mechanism_strategies.MechanismPlayer` with those parameters."""
    if "mechanism" in params:
        from dilemmazoo.agents.mechanism_strategies import make_mechanism_player

        mechanism = params.pop("mechanism")
        if mechanism is not None and not isinstance(mechanism, dict):
            raise ValueError(f"mechanism must be a mapping of mechanism parameters, got {mechanism!r}")
        return make_mechanism_player(make_scripted(strategy, **params), mechanism)
    if strategy.startswith("neural:"):
        from dilemmazoo.agents.neural import make_neural

        return make_neural(strategy.split(":", 1)[1], **params)
    if strategy.startswith("axelrod:"):
        from dilemmazoo.agents.axelrod_adapter import AxelrodAgent

        try:
            return AxelrodAgent(strategy.split(":", 1)[1], **params)
        except TypeError as error:
            raise ValueError(f"bad parameters for {strategy!r}: {error}") from None
    from dilemmazoo.agents.matrix_strategies import MATRIX_STRATEGIES, make_matrix_strategy

    if strategy in MATRIX_STRATEGIES:
        return make_matrix_strategy(strategy, **params)
    others = _world_strategies()
    try:
        cls = {**SCRIPTED_AGENTS, **others}[strategy]
    except KeyError:
        known = ", ".join(sorted(SCRIPTED_AGENTS) + sorted(MATRIX_STRATEGIES) + sorted(others) + ["axelrod:Name"])
        raise ValueError(f"unknown scripted strategy {strategy!r}; known: {known}") from None
    try:
        return cls(**params)
    except TypeError as error:
        raise ValueError(f"bad parameters for scripted strategy {strategy!r}: {error}") from None


class ScriptedPolicy(BatchPolicy):
    """Seats played by scripted agents, rebuilt from each member's parameters."""

    def __init__(self, strategy: str, params: dict[str, Any] | None = None):
        self.strategy = strategy
        self.params = dict(params or {})
        make_scripted(strategy, **self.params)  # fail early on bad config
        # a whole step in one call, where the strategy has one (not behind a mechanism player)
        self.act_many = None if "mechanism" in self.params else _batch_actors().get(strategy)
        self.agents: dict[str, Any] = {}
        self.member_params: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, str] = {}
        self.rng: np.random.Generator | None = None
        self.default_players: dict[str, Any] = {}  # mechanism players with default parameters, per seat

    def set_members(self, seat_params: dict[str, dict[str, Any]]) -> None:
        """Rebuild the seats whose parameters changed; the others keep their state.

        Mid-episode (social learning) a rebuilt agent is reset with the episode's rules and
        random generator, so it plays on with its new parameters.
        """
        for seat, p in seat_params.items():
            merged = {**self.params, **p}
            old = self.member_params.get(seat)
            if seat in self.agents and old == merged:
                continue
            agent = self.agents.get(seat)
            if agent is not None and old is not None and hasattr(agent, "set_params") and set(old) == set(merged):
                # agents that can change their parameters in place keep their episode state
                agent.set_params(**{k: v for k, v in merged.items() if old[k] != v})
                self.member_params[seat] = merged
                continue
            self.agents[seat] = make_scripted(self.strategy, **merged)
            self.member_params[seat] = merged
            if seat in self.rules:
                self.agents[seat].reset(seat, self.rules[seat], self.rng)

    def agent(self, seat: str):
        if seat not in self.agents:
            self.agents[seat] = make_scripted(self.strategy, **self.params)
            self.member_params[seat] = dict(self.params)
        return self.agents[seat]

    def start_episode(self, rules: dict[str, str], rng: np.random.Generator) -> None:
        self.rules, self.rng = dict(rules), rng
        self.default_players = {}
        for seat, text in rules.items():
            self.agent(seat).reset(seat, text, rng)

    def act_batch(self, requests: list[Decision]) -> list[Action]:
        from dilemmazoo.agents.mechanism_strategies import MechanismPlayer, is_phase_spec

        if self.act_many is not None and requests and not any(is_phase_spec(r.spec) for r in requests):
            return self.act_many([self.agent(r.agent_id) for r in requests], requests)
        actions = []
        for request in requests:
            seat = request.agent_id
            agent = self.agent(seat)
            default = self.default_players.get(seat)
            if default is not None and default.inner is agent:
                agent = default  # it saw this episode's phases: it knows the contract
            elif is_phase_spec(request.spec) and not isinstance(agent, MechanismPlayer):
                agent = self.default_players[seat] = self._default_player(seat, agent)
            actions.append(agent.act(request))
        return actions

    def _default_player(self, seat: str, agent: Any):
        """A mechanism player with the default parameters around a strategy that has none."""
        from dilemmazoo.agents.mechanism_strategies import MechanismPlayer

        player = MechanismPlayer(agent)
        player.agent_id = seat
        if self.rng is not None:
            player.rng = self.rng
        return player

    def write_strategies(self, prompts: list[str], rng: np.random.Generator) -> list[str]:
        return ["" for _ in prompts]
