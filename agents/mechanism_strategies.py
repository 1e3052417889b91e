"""Scripted players for mechanism worlds (contracting, mediation, repetition, reputation).

Source: the mechanisms of CoopEval (Tewolde, Zhang, Guzman Piedrahita, Conitzer, Jin, arXiv
2604.15267, ICML 2026; ``../shared/specs/mechanisms.md`` section 2). There every player is a
language model; these players answer the same questions from fixed parameters, as baselines, in
tests and in the presets that show a mechanism at work.

The phases
----------
A mechanism world (:mod:`dilemmazoo.norms`) asks its phases with the specs of
:mod:`dilemmazoo.envs.institutions.phases`; a :class:`MechanismPlayer` recognises them by type
and answers from its parameters. It writes the answer a model would write (the JSON object, or
``Answer: sign``) and reads it back with the spec's own ``parse``, so it never sends an answer
the world would not accept (a linear contract is sent as the mapping ``{"rate": r, "constant":
k}``, which the contracting world reads as the same contract and the records write as JSON).
Every other decision (the base game) goes to an inner scripted strategy: a
:class:`~dilemmazoo.envs.institutions.phases.WithDelegate` spec is unwrapped to its base spec
(unless the player delegates) and the observation is passed as it is (the base world's ``Dict``
plus the mechanism's ``mechanism_*`` keys); while a contract is active and the world's
observation does not say which, the player adds the contract it was asked to sign (or the
ballot's winner) under the keys :func:`active_contract` reads.

Parameters (``params: {mechanism: {...}}`` of a scripted group; every key optional):

- ``contract``: the contract it designs. A list of numbers, one per base option in the spec's
  order (``[0, -3]``); a mapping from option label (or index) to number, options left out are 0
  (``{"A1": -3}``); or ``{"rate": r, "constant": k}`` (``k`` optional, 0) for a numeric action,
  ``c(x) = r x + k``. Values of a per-option contract are whole numbers (CoopEval's contracts
  are integers). Default: the spec's fallback, a contract that moves nothing.
- ``mediator``: the mediator it designs, ``k -> action`` for ``k = 1..N`` delegators. A mapping
  ``{k: action}`` (keys ints or digit strings, every ``k`` covered), a list (entry ``i`` for
  ``k = i + 1``), or a single action for every ``k``. An action is an option label or index for
  a finite game, an amount for a numeric one. Default: the spec's fallback mediator.
- ``approve`` (which proposals its ballot approves): ``"all"`` (default), ``"none"``,
  ``"own"`` (only the proposal of its own seat), ``"best"`` (below).
- ``sign``: ``"always"`` (default), ``"never"``, ``"if_approved"`` (sign the chosen contract
  iff the ``approve`` rule approves it).
- ``delegate``: ``False`` (default), ``True``, or a probability in ``[0, 1]``, drawn for every
  delegation decision with the generator the episode's reset gives the agent (seeded).
- ``payoffs`` (an ``(n, n, 2)`` table as :mod:`~dilemmazoo.agents.matrix_strategies` takes it)
  or ``game`` (a name, e.g. ``"coopeval_pd"``): the stage game ``"best"`` judges with. Without
  them the inner strategy's table is used when it has one.
- ``unit_value``: the immediate payoff of one unit of a numeric action to the one who plays it
  (1 for a commons harvest, -1 for a Donor Game donation: both are read from the observation
  when this is not given; a public goods contribution pays ``m / N - 1``).

``approve: "best"`` keeps it simple: it approves a proposal when it makes the cooperative choice
at least as good for this seat as its stage best response, judged one step ahead:

- a per-option contract ``c`` with a two-player stage table ``u`` (own payoff first): option 0
  is a best response to option 0 with the transfers, ``u(0, 0) >= u(a, 0) + c(a) - c(0)`` for
  every option ``a`` (deviating alone to ``a`` earns the transfer ``c(a) - c(0)``). Without a
  table: ``c(0) > c(a)`` for every other option (the contract pays for option 0);
- a linear contract: it removes the private gain of the selfish direction,
  ``(unit_value + rate) * sign(unit_value) <= 0`` (in the commons, ``rate <= -1``: a unit
  harvested pays at most what it costs in transfers);
- a mediator ``m`` on a finite game: everyone delegating plays option 0 (``m[N] = 0``) and, with
  a two-player table, delegating when the other delegates is at least the best response to the
  mediator playing for the other alone, ``u(0, 0) >= max_a u(a, m[1])``;
- a mediator on a numeric action: its amount for ``k = N`` is the most cooperative among the
  ballot's proposals (the least when ``unit_value > 0``, the most when ``unit_value < 0``).

Generic base strategies
-----------------------
Inner strategies for every finite game (option 0 is the cooperative option of every CoopEval
game and the last option the stage-game Nash equilibrium one, ``../shared/specs/mechanisms.md``):

- ``first_option`` (:class:`FirstOption`): option 0 always;
- ``last_option`` (:class:`LastOption`): the last option always;
- ``mirror`` (:class:`Mirror`): what the co-players played last, by majority (ties to the lower
  option), option 0 before anything was played; read from the observation (see the class);
- ``myopic_best_response`` (:class:`MyopicBestResponse`): on a numeric action (a commons
  harvest, a Donor Game donation) the amount on a grid with the highest immediate payoff,
  the active contract's transfers included; on a finite two-player game given its table, the
  best reply to the co-player's last option with the contract's values added.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from numbers import Integral, Real
from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs.base import ActionSpec, Amount, Choice, Message
from dilemmazoo.envs.institutions.contracts import LinearContract
from dilemmazoo.envs.institutions.phases import (
    DELEGATE,
    ApprovalBallot,
    ContractDesign,
    MediatorDesign,
    Signature,
    WithDelegate,
)

__all__ = [
    "APPROVE_RULES",
    "FirstOption",
    "GENERIC_STRATEGIES",
    "LastOption",
    "MECHANISM_PARAMS",
    "MechanismPlayer",
    "Mirror",
    "MyopicBestResponse",
    "SIGN_RULES",
    "active_contract",
    "contract_keys",
    "is_phase_spec",
    "make_mechanism_player",
]

APPROVE_RULES = ("all", "none", "own", "best")
SIGN_RULES = ("always", "never", "if_approved")
MECHANISM_PARAMS = ("contract", "mediator", "approve", "sign", "delegate", "payoffs", "game", "unit_value")
_PHASE_SPECS = (ContractDesign, MediatorDesign, ApprovalBallot, Signature, WithDelegate)


def is_phase_spec(spec: ActionSpec) -> bool:
    """Whether ``spec`` is one a mechanism asks (a design, a ballot, a signature or the base game
    with ``delegate``), which a plain base-game strategy cannot answer."""
    return isinstance(spec, _PHASE_SPECS)


def _seat_index(agent_id: str) -> int:
    match = re.search(r"(\d+)$", agent_id or "")
    return int(match.group(1)) if match else 0


def _number(observation: Any, key: str) -> float | None:
    if not isinstance(observation, Mapping) or key not in observation:
        return None
    return float(np.asarray(observation[key], dtype=np.float64).reshape(-1)[0])


def active_contract(observation: Any, numeric: bool = True) -> Any:
    """The contract in force at this step, as the observation shows it: a
    :class:`~dilemmazoo.envs.institutions.contracts.LinearContract` (``numeric``), a tuple of
    per-option values, or ``None`` when no contract is active (or the world has none).

    Read from the contracting world's keys (:mod:`dilemmazoo.norms.contracting`):
    ``mechanism_contract_active`` (0/1) and the chosen contract, ``mechanism_contract_rate`` and
    ``mechanism_contract_constant`` on a numeric action, ``mechanism_contract`` (one value per
    option) otherwise. A :class:`MechanismPlayer` adds those keys to the observation it passes on,
    from the contract it was asked to sign (or the ballot's winner), when the world's observation
    lacks them.
    """
    if not _number(observation, "mechanism_contract_active"):
        return None
    if numeric:
        rate = _number(observation, "mechanism_contract_rate")
        return None if rate is None else LinearContract(rate, _number(observation, "mechanism_contract_constant") or 0.0)
    if "mechanism_contract" not in observation:
        return None
    return tuple(float(v) for v in np.asarray(observation["mechanism_contract"], dtype=np.float64).reshape(-1))


def contract_keys(contract: Any) -> dict[str, np.ndarray]:
    """``contract`` as the observation keys :func:`active_contract` reads (without the active flag)."""
    if isinstance(contract, LinearContract):
        return {"mechanism_contract_rate": np.array([contract.rate]),
                "mechanism_contract_constant": np.array([contract.constant])}
    return {"mechanism_contract": np.asarray(contract, dtype=np.float64).reshape(-1)}


def _answer(spec: ActionSpec, text: str) -> Action:
    """The action ``spec`` reads from ``text`` (the answer a model would write)."""
    return Action(value=spec.parse(text), raw_text=text)


def _option(spec: ActionSpec, index: int) -> Action:
    options = spec.options()
    if not options:
        raise TypeError(f"this strategy plays finite games; a {type(spec).__name__} spec has no options")
    index = int(index) if index >= 0 else len(options) + int(index)
    return Action(value=spec.action_for_option(index), raw_text=options[index])


# -- generic base strategies ----------------------------------------------------------------------
class _BaseStrategy:
    """Base of the generic strategies: ``reset`` keeps the seat and the generator."""

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        self.agent_id = agent_id
        self.rng = rng

    def act(self, request: Decision) -> Action:
        spec = request.spec
        if isinstance(spec, Message):  # a talk step: nothing to say
            return Action(value=spec.make_action(""), raw_text="Answer: ")
        return _option(spec, self.choose(request))

    def choose(self, request: Decision) -> int:
        raise NotImplementedError


class FirstOption(_BaseStrategy):
    """Option 0 every time (the cooperative option of every CoopEval game)."""

    def choose(self, request: Decision) -> int:
        return 0


class LastOption(_BaseStrategy):
    """The last option every time (the stage-game Nash equilibrium option of every CoopEval game)."""

    def choose(self, request: Decision) -> int:
        return -1


class Mirror(_BaseStrategy):
    """Play what the co-players played last: the option most of them played (ties to the lower
    index), option 0 when nothing has been played yet.

    The co-players' last options are read from the observation, the first key present of:
    ``mechanism_last_actions`` (the repetition and reputation worlds of
    :mod:`dilemmazoo.norms.repetition`: the option of every base seat of the seat's last match,
    -1 none; its own base seat, ``seat`` or the agent id's number modulo their count, is left
    out), ``last_other`` (the repeated game: the other's option, -1 none) and
    ``last_contributions`` with ``seat`` (the public goods game: a contribution above 0 is
    option 0, contribute; nothing is option 1; -1 none).
    """

    def choose(self, request: Decision) -> int:
        others = self.co_player_options(request.observation, request.agent_id)
        n = len(request.spec.options() or ())
        others = [a for a in others if 0 <= a < n]
        if not others:
            return 0
        counts = np.bincount(others, minlength=n)
        return int(np.argmax(counts))

    @staticmethod
    def co_player_options(observation: Any, agent_id: str = "") -> list[int]:
        """The co-players' last options (possibly empty), from the keys named in the class docstring."""
        if not isinstance(observation, Mapping):
            return []
        seat = int(np.asarray(observation["seat"]).reshape(-1)[0]) if "seat" in observation else _seat_index(agent_id)
        if "mechanism_last_actions" in observation:
            actions = np.asarray(observation["mechanism_last_actions"]).reshape(-1)
            return [int(a) for i, a in enumerate(actions) if i != seat % actions.size and a >= 0]
        if "last_other" in observation:
            return [int(a) for a in np.asarray(observation["last_other"]).reshape(-1) if a >= 0]
        if "last_contributions" in observation:
            values = np.asarray(observation["last_contributions"], dtype=np.float64).reshape(-1)
            return [0 if v > 0 else 1 for i, v in enumerate(values) if i != seat and v >= 0]
        return []


def _inferred_unit_value(observation: Any) -> float | None:
    """The immediate payoff of one unit of the numeric action in the worlds that say it by their
    observation: a commons harvest earns 1 per unit, a Donor Game donation costs the donor 1 per unit."""
    if isinstance(observation, Mapping):
        if "stock" in observation and "last_harvests" in observation:
            return 1.0
        if "partner_resources" in observation:
            return -1.0
    return None


class MyopicBestResponse(_BaseStrategy):
    """The amount with the highest immediate payoff, the active contract's transfers included.

    On an :class:`~dilemmazoo.envs.base.Amount` spec in ``[low, high]`` it scores every amount
    ``x`` of a grid and plays the best, ties to the smallest amount (restraint first):

        payoff(x) = own(x) + rate * x

    ``rate * x`` is the part of the transfer ``c(x) - sum_{j != i} c(x_j) / (N - 1)`` of an active
    linear contract ``c(x) = rate * x + constant`` that depends on ``x`` (:func:`active_contract`;
    no contract: 0). ``own(x)`` is:

    - in the GovSim commons (the observation has ``stock`` and ``last_harvests``) the units it
      expects to be granted when the others ask for what they took last month (``O``, the sum of
      the other present seats' last catches, 0 before any): ``x`` if ``x + O <= stock``, else
      ``stock * x / (x + O)`` (the random unit-by-unit allocation's expectation);
    - otherwise ``unit_value * x`` (``unit_value`` given, or -1 in the Donor Game: a donation
      costs the donor what it gives).

    ``grid``: ``None`` (the whole numbers from ``low`` to ``high`` when both are whole and at most
    1000 apart, else 11 evenly spaced amounts), an integer (that many evenly spaced amounts,
    at least 2) or a list of fractions of the range in ``[0, 1]``.

    On a finite two-player game (a :class:`~dilemmazoo.envs.base.Choice` with a stage table,
    ``payoffs=`` or ``game=`` as :mod:`~dilemmazoo.agents.matrix_strategies` takes them; the
    seat from the agent id's number, even: row player) it plays the option ``a`` maximising
    ``u(a, b) + c(a)``: ``b`` is what the co-player played last (:meth:`Mirror.co_player_options`;
    option 0 before anything was played) and ``c`` the active per-option contract (its transfer
    ``c(a) - c(b)`` up to the part that does not depend on ``a``); ties to the lower option. A
    one-option Choice (a wait step) is answered with that option; in a talk step it says nothing.
    """

    def __init__(self, grid: int | Sequence[float] | None = None, unit_value: float | None = None,
                 payoffs: Any = None, game: str | None = None):
        if grid is not None:
            if isinstance(grid, bool) or not isinstance(grid, Integral | Sequence) or isinstance(grid, str):
                raise ValueError(f"grid must be None, an integer >= 2 or a list of fractions in [0, 1], got {grid!r}")
            if isinstance(grid, Integral) and grid < 2:
                raise ValueError(f"grid must be at least 2 amounts, got {grid!r}")
            if not isinstance(grid, Integral):
                grid = [float(g) for g in grid]
                if not grid or not all(0.0 <= g <= 1.0 for g in grid):
                    raise ValueError(f"grid fractions must lie in [0, 1], got {grid!r}")
        if unit_value is not None and (isinstance(unit_value, bool) or not isinstance(unit_value, Real)
                                       or not math.isfinite(unit_value)):
            raise ValueError(f"unit_value must be a finite number, got {unit_value!r}")
        if payoffs is not None and game is not None:
            raise ValueError("give either payoffs or game, not both")
        if game is not None:
            from dilemmazoo.envs.repeated_game import game_payoffs

            payoffs = game_payoffs(game)
        self.grid = grid
        self.unit_value = None if unit_value is None else float(unit_value)
        self.payoffs_table = None if payoffs is None else np.asarray(payoffs, dtype=np.float64)
        if self.payoffs_table is not None and (self.payoffs_table.ndim != 3 or self.payoffs_table.shape[2] != 2
                                               or self.payoffs_table.shape[0] != self.payoffs_table.shape[1]):
            raise ValueError(f"payoffs must be a two-player table of shape (n, n, 2), got {self.payoffs_table.shape}")

    def act(self, request: Decision) -> Action:
        spec = request.spec
        if isinstance(spec, Amount):
            amounts = self.amounts(spec)
            payoffs = self.payoffs(amounts, request)
            best = float(amounts[int(np.argmax(payoffs))])  # argmax takes the first: the smallest best amount
            return Action(value=spec.make_action(0, best), raw_text=f"Answer: {best:g}")
        if isinstance(spec, Choice) and len(spec.labels) == 1:
            return _option(spec, 0)
        if isinstance(spec, Choice) and self.payoffs_table is not None:
            return _option(spec, int(np.argmax(self.option_payoffs(len(spec.labels), request))))
        if isinstance(spec, Message):
            return super().act(request)
        raise TypeError(f"myopic_best_response plays a numeric action (an Amount), or a finite game given its "
                        f"payoffs= or game=; not a {type(spec).__name__} spec")

    def option_payoffs(self, n_options: int, request: Decision) -> np.ndarray:
        """``u(a, b) + c(a)`` for every option ``a`` of a finite game (class docstring)."""
        table = self.payoffs_table
        if table is None or table.shape[0] != n_options:
            raise ValueError(f"myopic_best_response's payoffs are for {None if table is None else table.shape[0]} "
                             f"options; this game has {n_options}")
        own = table[:, :, 0] if _seat_index(request.agent_id) % 2 == 0 else table[:, :, 1].T
        others = Mirror.co_player_options(request.observation, request.agent_id)
        other = others[-1] if others else 0
        contract = active_contract(request.observation, numeric=False)
        bonus = np.zeros(n_options) if contract is None else np.asarray(contract, dtype=np.float64)[:n_options]
        return own[:, other] + bonus

    def amounts(self, spec: Amount) -> np.ndarray:
        """The grid of amounts it considers in ``[spec.low, spec.high]``, increasing."""
        low, high = float(spec.low), float(spec.high)
        if self.grid is None:
            if low == math.floor(low) and high == math.floor(high) and high - low <= 1000:
                return np.arange(low, high + 1.0)
            return np.linspace(low, high, 11)
        if isinstance(self.grid, Integral):
            return np.linspace(low, high, int(self.grid))
        return np.unique(low + np.asarray(self.grid) * (high - low))

    def payoffs(self, amounts: np.ndarray, request: Decision) -> np.ndarray:
        """The immediate payoff of each amount (class docstring)."""
        observation = request.observation
        contract = active_contract(observation, numeric=True)
        rate = contract.rate if contract is not None else 0.0
        return self.own_payoffs(amounts, observation, request.agent_id) + rate * amounts

    def own_payoffs(self, amounts: np.ndarray, observation: Any, agent_id: str) -> np.ndarray:
        """``own(x)`` of the class docstring for each amount."""
        if self.unit_value is None and isinstance(observation, Mapping) and "stock" in observation \
                and "last_harvests" in observation:
            stock = float(_number(observation, "stock"))
            last = np.asarray(observation["last_harvests"], dtype=np.float64).reshape(-1)
            present = np.asarray(observation.get("present", np.ones_like(last))).reshape(-1).astype(bool)
            mask = (last >= 0) & present
            seat = _seat_index(agent_id)
            if seat < mask.size:
                mask[seat] = False
            others = float(last[mask].sum())
            total = amounts + others
            with np.errstate(divide="ignore", invalid="ignore"):
                shared = np.where(total > 0, stock * amounts / np.where(total > 0, total, 1.0), 0.0)
            return np.where(total <= stock, amounts, shared)
        unit = self.unit_value if self.unit_value is not None else _inferred_unit_value(observation)
        if unit is None:
            raise ValueError("myopic_best_response needs unit_value (the immediate payoff of one unit of the "
                             "action) in this world; it reads it only in the commons and the Donor Game")
        return unit * amounts


GENERIC_STRATEGIES: dict[str, type] = {
    "first_option": FirstOption,
    "last_option": LastOption,
    "mirror": Mirror,
    "myopic_best_response": MyopicBestResponse,
}


# -- the mechanism player -------------------------------------------------------------------------
def _check_rule(name: str, value: Any, rules: Sequence[str]) -> str:
    if value not in rules:
        raise ValueError(f"mechanism.{name} must be one of {list(rules)}, got {value!r}")
    return value


def _check_contract(contract: Any) -> Any:
    if contract is None:
        return None
    if isinstance(contract, Mapping) and set(contract) <= {"rate", "constant"} and "rate" in contract:
        return LinearContract(contract["rate"], contract.get("constant", 0.0))
    values = contract.values() if isinstance(contract, Mapping) else contract
    if isinstance(contract, str) or not isinstance(contract, Mapping | Sequence):
        raise ValueError(f"mechanism.contract must be a list of numbers, a mapping option -> number or "
                         f"{{rate, constant}}, got {contract!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value != int(value):
            raise ValueError(f"mechanism.contract values must be whole numbers, got {value!r}")
    return contract


def _check_mediator(mediator: Any) -> Any:
    if isinstance(mediator, Mapping):
        for key in mediator:
            if isinstance(key, bool) or not (isinstance(key, Integral) or (isinstance(key, str) and key.isdigit())):
                raise ValueError(f"mechanism.mediator keys must be delegator counts k = 1..N, got {key!r}")
    return mediator


class MechanismPlayer:
    """Answers a mechanism's phases from its parameters and leaves the base game to ``inner``.

    ``inner`` is any scripted strategy (``reset``/``act``); the parameters are those of the
    module docstring. Build one from a config's mapping with :func:`make_mechanism_player`.
    """

    def __init__(
        self,
        inner: Any,
        contract: Any = None,
        mediator: Any = None,
        approve: str = "all",
        sign: str = "always",
        delegate: bool | float = False,
        payoffs: Any = None,
        game: str | None = None,
        unit_value: float | None = None,
    ):
        if isinstance(delegate, bool):
            delegate = float(delegate)
        if not isinstance(delegate, Real) or not 0.0 <= delegate <= 1.0:
            raise ValueError(f"mechanism.delegate must be true, false or a probability in [0, 1], got {delegate!r}")
        if payoffs is not None and game is not None:
            raise ValueError("mechanism: give either payoffs or game, not both")
        if game is not None:
            from dilemmazoo.envs.repeated_game import game_payoffs

            payoffs = game_payoffs(game)
        table = None if payoffs is None else np.asarray(payoffs, dtype=np.float64)
        if table is not None and (table.ndim != 3 or table.shape[0] != table.shape[1] or table.shape[2] != 2):
            raise ValueError(f"mechanism.payoffs must be a two-player table of shape (n, n, 2), got {table.shape}")
        if unit_value is not None and (isinstance(unit_value, bool) or not isinstance(unit_value, Real)):
            raise ValueError(f"mechanism.unit_value must be a number, got {unit_value!r}")
        self.inner = inner
        self.contract = _check_contract(contract)
        self.mediator = _check_mediator(mediator)
        self.approve = _check_rule("approve", approve, APPROVE_RULES)
        self.sign = _check_rule("sign", sign, SIGN_RULES)
        self.delegate = float(delegate)
        self.table = table
        self.unit_value = None if unit_value is None else float(unit_value)
        self.agent_id = ""
        self.rng = np.random.default_rng(0)
        self.forget()

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        self.agent_id, self.rng = agent_id, rng
        self.forget()
        self.inner.reset(agent_id, rules, rng)

    def forget(self) -> None:
        """Forget the episode's contract (a new episode votes and signs again)."""
        self.signed_contract: Any = None
        self.ballot: tuple[Any, ...] = ()

    def act(self, request: Decision) -> Action:
        spec = request.spec
        if isinstance(spec, ContractDesign):
            action = _answer(spec, self.contract_answer(spec))
            if isinstance(action.value, LinearContract):  # sent as the mapping the worlds read as the same contract
                action.value = {"rate": action.value.rate, "constant": action.value.constant}
            return action
        if isinstance(spec, MediatorDesign):
            return _answer(spec, self.mediator_answer(spec))
        if isinstance(spec, ApprovalBallot):
            self.ballot = tuple(spec.proposals)
            approvals = [bool(self.approves(p, who, request, spec.proposals)) for p, who in zip(spec.proposals, spec.proposers)]
            return _answer(spec, json.dumps(dict(zip(spec.keys, approvals))))
        if isinstance(spec, Signature):
            self.signed_contract = spec.contract
            return _option(spec, 0 if self.signs(spec, request) else 1)
        request = self.with_contract(request)
        if isinstance(spec, WithDelegate):
            if self.delegates():
                return _answer(spec, f"Answer: {DELEGATE}")
            return self.inner.act(replace(request, spec=spec.base))
        return self.inner.act(request)

    def with_contract(self, request: Decision) -> Decision:
        """``request`` with the contract's keys (:func:`contract_keys`) in its observation when a
        contract is active and the observation does not show which: the one it was asked to sign,
        else the winner of the ballot it saw (``mechanism_winner``, 1-based)."""
        observation = request.observation
        shown = ("mechanism_contract", "mechanism_contract_rate")
        if not _number(observation, "mechanism_contract_active") or any(key in observation for key in shown):
            return request
        contract = self.signed_contract
        winner = int(_number(observation, "mechanism_winner") or 0)
        if contract is None and 1 <= winner <= len(self.ballot):
            contract = self.ballot[winner - 1]
        if contract is None:
            return request
        return replace(request, observation={**observation, **contract_keys(contract)})

    # -- answers ---------------------------------------------------------------------------------
    def contract_answer(self, spec: ContractDesign) -> str:
        """The JSON text of its contract for ``spec`` (module docstring: ``contract``)."""
        contract = spec.fallback if self.contract is None else self.contract
        if spec.numeric:
            if not isinstance(contract, LinearContract):
                raise ValueError(f"mechanism.contract: this game's action is a number; give {{rate, constant}}, "
                                 f"not {contract!r}")
            return json.dumps({"rate": contract.rate, "constant": contract.constant})
        if isinstance(contract, LinearContract):
            raise ValueError(f"mechanism.contract: this game has options {list(spec.labels)}; give a value per "
                             "option, not {rate, constant}")
        labels = list(spec.labels)
        if isinstance(contract, Mapping):
            values = [0] * len(labels)
            for key, value in contract.items():
                values[self._option_index(key, labels, "contract")] = value
        else:
            values = list(contract)
            if len(values) != len(labels):
                raise ValueError(f"mechanism.contract has {len(values)} values; this game has {len(labels)} options "
                                 f"({', '.join(labels)})")
        return json.dumps({label: int(value) for label, value in zip(labels, values)})

    def mediator_answer(self, spec: MediatorDesign) -> str:
        """The JSON text of its mediator for ``spec`` (module docstring: ``mediator``)."""
        n = spec.n_seats
        mediator = self.mediator
        if mediator is None:
            entries = dict(spec.fallback)
        elif isinstance(mediator, Mapping):
            entries = {int(k): a for k, a in mediator.items()}
        elif isinstance(mediator, Sequence) and not isinstance(mediator, str):
            if len(mediator) != n:
                raise ValueError(f"mechanism.mediator lists {len(mediator)} actions; this game has k = 1..{n}")
            entries = {k: mediator[k - 1] for k in range(1, n + 1)}
        else:
            entries = {k: mediator for k in range(1, n + 1)}
        missing = [k for k in range(1, n + 1) if k not in entries]
        if missing or set(entries) - set(range(1, n + 1)):
            raise ValueError(f"mechanism.mediator must give an action for every k = 1..{n}, got keys {sorted(entries)}")
        answer = {}
        for k in range(1, n + 1):
            action = entries[k]
            if spec.labels is None:
                if isinstance(action, bool) or not isinstance(action, Real):
                    raise ValueError(f"mechanism.mediator[{k}] must be an amount for this numeric game, got {action!r}")
                answer[str(k)] = float(action)
            else:
                answer[str(k)] = spec.labels[self._option_index(action, list(spec.labels), f"mediator[{k}]")]
        return json.dumps(answer)

    @staticmethod
    def _option_index(key: Any, labels: list[str], name: str) -> int:
        if isinstance(key, str) and key in labels:
            return labels.index(key)
        if isinstance(key, Integral) and not isinstance(key, bool) and 0 <= key < len(labels):
            return int(key)
        raise ValueError(f"mechanism.{name}: {key!r} is not an option of this game ({', '.join(labels)}, or 0..{len(labels) - 1})")

    def delegates(self) -> bool:
        """Whether it delegates this time: the probability ``delegate``, drawn with its generator
        (no draw when it is 0 or 1)."""
        if self.delegate in (0.0, 1.0):
            return self.delegate == 1.0
        return bool(self.rng.random() < self.delegate)

    def signs(self, spec: Signature, request: Decision) -> bool:
        """Whether it signs the chosen contract (module docstring: ``sign``)."""
        if self.sign == "if_approved":
            return self.approves(spec.contract, spec.proposer, request, (spec.contract,))
        return self.sign == "always"

    def approves(self, proposal: Any, proposer: str, request: Decision, proposals: Sequence[Any]) -> bool:
        """Whether its ``approve`` rule approves ``proposal`` by seat ``proposer`` (module docstring)."""
        if self.approve in ("all", "none"):
            return self.approve == "all"
        if self.approve == "own":
            return proposer == request.agent_id
        if isinstance(proposal, LinearContract):
            unit = self._unit_value(request.observation)
            return bool((unit + proposal.rate) * np.sign(unit) <= 0)
        if isinstance(proposal, Mapping):
            return self._best_mediator(proposal, request, proposals)
        return self._best_contract([float(v) for v in proposal])

    def _unit_value(self, observation: Any) -> float:
        unit = self.unit_value
        if unit is None:
            unit = getattr(self.inner, "unit_value", None)
        if unit is None:
            unit = _inferred_unit_value(observation)
        if unit is None:
            raise ValueError("mechanism.approve 'best' on a numeric action needs mechanism.unit_value in this world")
        return float(unit)

    def _own_table(self, n_options: int) -> np.ndarray | None:
        """This seat's stage payoffs ``u[own, other]``, when a two-player table of the right size is known."""
        table = self.table if self.table is not None else self._inner_table()
        if table is None or table.shape != (n_options, n_options, 2):
            return None
        return table[:, :, 0] if _seat_index(self.agent_id) % 2 == 0 else table[:, :, 1].T

    def _inner_table(self) -> np.ndarray | None:
        """The inner strategy's stage table, when it has one (matrix strategies, the myopic best response)."""
        for name in ("payoffs", "payoffs_table"):
            value = getattr(self.inner, name, None)
            if isinstance(value, np.ndarray):
                return value
        return None

    def _best_contract(self, values: list[float]) -> bool:
        own = self._own_table(len(values))
        if own is None:
            return all(values[0] > v for v in values[1:])
        return all(own[0, 0] >= own[a, 0] + values[a] - values[0] for a in range(len(values)))

    def _best_mediator(self, mediator: Mapping, request: Decision, proposals: Sequence[Any]) -> bool:
        n = max(mediator)
        top = mediator[n]
        if isinstance(top, float) or not isinstance(top, Integral):  # a numeric action: the amounts for k = N
            unit = self._unit_value(request.observation)
            tops = [float(p[max(p)]) for p in proposals if isinstance(p, Mapping) and p]
            best = min(tops) if unit > 0 else max(tops)
            return math.isclose(float(top), best)
        if top != 0:
            return False
        table = self.table if self.table is not None else self._inner_table()
        own = None if table is None or n != 2 else self._own_table(np.asarray(table).shape[0])
        return own is None or own[0, 0] >= own[:, mediator[1]].max()


def make_mechanism_player(inner: Any, mechanism: Mapping[str, Any] | None) -> MechanismPlayer:
    """A :class:`MechanismPlayer` around ``inner`` from a config's ``mechanism`` mapping (keys of
    :data:`MECHANISM_PARAMS`; an unknown key is a ValueError naming the known ones)."""
    mechanism = dict(mechanism or {})
    unknown = sorted(set(mechanism) - set(MECHANISM_PARAMS))
    if unknown:
        raise ValueError(f"unknown mechanism parameter(s) {unknown}; known: {list(MECHANISM_PARAMS)}")
    return MechanismPlayer(inner, **mechanism)
