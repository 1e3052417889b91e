"""Contracting: players design contracts, approve one, sign it, and play with its transfers.

Source: Tewolde, Zhang, Guzman Piedrahita, Conitzer, Jin, "CoopEval" (arXiv 2604.15267, ICML
2026), the Contracting mechanism (``mechanisms/contracting.py`` at commit 8559e85; spec section 2):

1. **design**: every player proposes a contract, an integer ``c(a)`` for every base action ``a``
   (any sign, no bound in CoopEval; parsing int-casts, see
   :class:`~dilemmazoo.envs.institutions.phases.ContractDesign`);
2. **vote**: each player approves or not each of the ``N`` contracts ``C1..CN`` (seat order); the
   winner is uniform among the most approved;
3. **sign**: each player signs or refuses, seeing the chosen contract and who proposed it; the
   contract is active only if *all* sign;
4. **play**: the base game; after each play step every deciding seat ``i`` receives, on top of
   its base payoff, ``transfer_i = c(a_i) - sum_{j != i} c(a_j) / (N - 1)``
   (:func:`dilemmazoo.envs.institutions.contracts.transfers`; budget-balanced, a constant added to
   ``c`` changes nothing).

The phases and their shared rules (designs remembered per member name, the seeded tie-break,
the play step of each world) are :mod:`dilemmazoo.norms.mechanism_world`'s.

What this project adds or decides
---------------------------------
- **Numeric actions** (the commons harvest, the effort CPR's effort, the Donor Game's units, a
  public goods amount): a *linear* contract ``c(x) = rate * x + constant``
  (``{"rate": r, "constant": k}``), so the transfer is ``rate * (x_i - mean_{j != i} x_j)``; the
  amount ``x_i`` is the one the base step's infos report (the commons' *request*, not the
  possibly rationed catch). On a finite action set the contract is per action, as in CoopEval.
- **Who pays**: transfers run over the step's *deciders* only (``N`` = their number). In the
  Donor Game only the donors of a round decide, so the donors settle among themselves and the
  recipients get no transfer; a step with fewer than two deciders has no transfers. In the
  repeated game with trembles (``noise``) the contract reads the intended action, the one the
  seat sent (CoopEval has no trembles; it reads the sampled action).
- **Repeated base games**: the contract stays active for every play step of the episode.
- **Fallbacks**: a design that never parses is the all-zero contract (it moves nothing), a
  ballot approves nothing, a signature refuses (no contract without consent). CoopEval stops the
  run after 6 failures instead (spec 5.5).
- Options: ``sign=False`` makes the chosen contract active without a sign phase;
  ``fixed_contract`` (per-action values, or ``{"rate", "constant"}``) imposes one contract
  without design and vote (for sweeps; the sign phase still runs when ``sign``);
  ``design="episode"`` asks for a new design every episode instead of once per member;
  ``amount_info`` names the base info key of the numeric amount played (default per world).

Observation keys: the base world's plus ``mechanism_phase``, ``mechanism_winner``,
``mechanism_contract_active`` (Discrete(2): the contract is in force in this play step) and the
chosen contract (zeros before the vote): ``mechanism_contract`` (Box of one integer per option)
on a finite action set, ``mechanism_contract_rate`` and ``mechanism_contract_constant`` (Box(1,)
each) on a numeric one. Action space: ``Dict(base, mechanism_design (Box of
per-action integers, or (rate, constant)), mechanism_approve (MultiBinary(N)), mechanism_sign
(Discrete(2)))``. Infos: ``mechanism_transfer`` (float, 0.0 outside play), ``mechanism_contract_active``
(bool), ``mechanism_contract`` (the chosen contract as JSON text, "" before the vote),
``mechanism_signed`` (this seat signed; False before the sign phase), and the shared keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionSpec, format_number
from dilemmazoo.envs.institutions import contracts
from dilemmazoo.envs.institutions.contracts import LinearContract
from dilemmazoo.envs.institutions.phases import CONTRACT_LIMIT, ContractDesign, Signature, contract_text
from dilemmazoo.norms.base import Mechanism
from dilemmazoo.norms.mechanism_world import MechanismWorld, design_json, option_index, play_step_open

__all__ = ["Contracting", "ContractingWorld"]


class ContractingWorld(MechanismWorld):
    """A base world under contracting (module docstring)."""

    mechanism_name = "contracting"
    ballot_letter = "C"

    def __init__(self, base: Any, *, designs: dict, design: str = "once", fixed_contract: Any = None,
                 sign: bool = True, amount_info: str = ""):
        super().__init__(base, designs=designs, design=design, fixed_design=fixed_contract, sign=sign,
                         amount_info=amount_info)

    # -- designs ----------------------------------------------------------------------------------
    def design_spec(self, agent: str) -> ActionSpec:
        if self.play.numeric:
            return ContractDesign(numeric=True)
        return ContractDesign(labels=self.play.labels)

    def check_design(self, value: Any) -> Any:
        if self.play.numeric:
            if isinstance(value, LinearContract):
                return value
            if isinstance(value, Mapping) and set(value) == {"rate", "constant"}:
                return LinearContract(float(value["rate"]), float(value["constant"]))
            raise ValueError(f"a contract on a numeric action is a LinearContract or {{'rate', 'constant'}}, got {value!r}")
        n = self.play.n_options
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray) or len(value) != n:
            raise ValueError(f"a contract needs one integer per option {list(self.play.labels)}, got {value!r}")
        checked = []
        for entry in value:
            if isinstance(entry, bool | np.bool_) or not isinstance(entry, Real) or entry != int(entry) \
                    or abs(int(entry)) > CONTRACT_LIMIT:
                raise ValueError(f"contract values must be integers of size at most {CONTRACT_LIMIT}, got {value!r}")
            checked.append(int(entry))
        return tuple(checked)

    def design_space(self) -> spaces.Space:
        if self.play.numeric:
            return spaces.Box(-np.inf, np.inf, (2,), np.float64)
        return spaces.Box(-CONTRACT_LIMIT, CONTRACT_LIMIT, (self.play.n_options,), np.int64)

    def design_from_sample(self, sample: Any) -> Any:
        values = np.asarray(sample).reshape(-1)
        if self.play.numeric:
            return LinearContract(float(values[0]), float(values[1]))
        return tuple(int(v) for v in values)

    def design_text(self, design: Any) -> str:
        return contract_text(design, self.play.labels)

    def extra_action_spaces(self) -> dict[str, spaces.Space]:
        return {**super().extra_action_spaces(), "mechanism_sign": spaces.Discrete(2)}

    def extra_observation_spaces(self) -> dict[str, spaces.Space]:
        if self.play.numeric:
            terms = {name: spaces.Box(-np.inf, np.inf, (1,), np.float64)
                     for name in ("mechanism_contract_rate", "mechanism_contract_constant")}
        else:
            terms = {"mechanism_contract": spaces.Box(-CONTRACT_LIMIT, CONTRACT_LIMIT, (self.play.n_options,), np.int64)}
        return {"mechanism_contract_active": spaces.Discrete(2), **terms}

    # -- signing ----------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        super()._reset_state()
        self.signed: dict[str, bool] = {}
        self.active = False
        self.transfers_paid: dict[str, float] = {}

    def sign_phase(self) -> bool:
        return self.sign

    def proposer(self) -> str:
        """The seat whose contract was chosen ("" for a fixed contract)."""
        return self.possible_agents[self.winner - 1] if self.winner else ""

    def signature_spec(self, agent: str) -> ActionSpec:
        return Signature(contract=self.chosen, proposer=self.proposer())

    def record_signatures(self, answers: dict[str, bool]) -> None:
        self.signed = dict(answers)

    def after_vote(self) -> None:
        self.active = all(self.signed.get(a, False) for a in self.agents) if self.sign else True

    # -- playing ----------------------------------------------------------------------------------
    def play_step(self, actions: Mapping[str, Any], deciders: list[str]) -> tuple:
        specs = {a: self.base.action_spec(a) for a in deciders}
        settles = self.active and len(deciders) >= 2 and play_step_open(self.base)
        observations, rewards, terminations, truncations, infos = self.base.step(actions)
        rewards = dict(rewards)
        self.transfers_paid = {}
        if settles:
            if self.play.numeric:
                played = [self._amount(a, actions[a], infos) for a in deciders]
            else:
                played = [option_index(specs[a], actions[a]) for a in deciders]
            paid = contracts.transfers(self.chosen, played)
            for agent, transfer in zip(deciders, paid):
                self.transfers_paid[agent] = float(transfer)
                rewards[agent] = float(rewards.get(agent, 0.0)) + float(transfer)
        return observations, rewards, terminations, truncations, infos

    def _amount(self, agent: str, action: Any, infos: Mapping[str, Any]) -> float:
        if self.amount_info:
            value = infos.get(agent, {}).get(self.amount_info)
            if value is None:
                raise ValueError(f"the base world's infos have no {self.amount_info!r} for {agent}")
            return float(value)
        array = np.asarray(action, dtype=np.float64).reshape(-1)
        if array.size != 1:
            raise ValueError(f"cannot read an amount from {agent}'s action {action!r}; set amount_info")
        return float(array[0])

    # -- views ------------------------------------------------------------------------------------
    def extra_observation(self, agent: str) -> dict[str, Any]:
        shown: dict[str, Any] = {"mechanism_contract_active": np.int64(self.active and self.phase == "play")}
        if self.play.numeric:
            contract = self.chosen or LinearContract(0.0, 0.0)
            shown["mechanism_contract_rate"] = np.array([contract.rate], dtype=np.float64)
            shown["mechanism_contract_constant"] = np.array([contract.constant], dtype=np.float64)
        else:
            values = self.chosen if self.chosen is not None else (0,) * self.play.n_options
            shown["mechanism_contract"] = np.array(values, dtype=np.int64)
        return shown

    def extra_infos(self, agent: str) -> dict[str, Any]:
        return {
            "mechanism_transfer": self.transfers_paid.get(agent, 0.0),
            "mechanism_contract_active": bool(self.active and self.phase == "play"),
            "mechanism_contract": design_json(self.chosen),
            "mechanism_signed": bool(self.signed.get(agent, False)),
        }

    def step(self, actions: Mapping[str, Any]):
        self.transfers_paid = {}
        return super().step(actions)

    def mechanism_rules(self) -> str:
        if self.play.numeric:
            form = ("A contract names a rate r and a constant k: a player who plays amount x receives "
                    "c(x) = r * x + k in total, paid equally by the other players who decide in that step")
        else:
            form = ("A contract names an integer for every action: the player who plays an action receives that "
                    "amount in total, paid equally by the other players who decide in that step (a negative "
                    "amount is paid to them)")
        transfer = ("so each player gets c(own action) minus the average of the others' c(action), and the "
                    "payments sum to zero.")
        if self.fixed_design is not None:
            start = f"A contract is proposed to all players: {self.design_text(self.fixed_design)}."
        else:
            start = ("Contracting: before the game, every player proposes a contract; then every player approves "
                     "or not each proposal, and the most approved one is chosen (ties drawn at random).")
        sign = (" Then every player signs or refuses it; it is active only if every player signs."
                if self.sign else " It is active without signatures.")
        return f"{start} {form}, {transfer}{sign} An active contract applies to every round of the game."

    def state_text(self, agent: str) -> str:
        if self.chosen is None:
            return ""
        origin = (f"C{self.winner}, proposed by "
                  f"{'you' if self.proposer() == agent else self.base.display_name(self.proposer())}"
                  if self.winner else "the proposed contract")
        text = f"{origin}: {self.design_text(self.chosen)}"
        if self.phase == "sign":
            return f"The chosen contract is {text}. Sign it or refuse it."
        if self.active:
            paid = self.transfers_paid.get(agent)
            last = f" Your last transfer: {format_number(paid)}." if paid is not None else ""
            return f"The active contract is {text}.{last}"
        refusers = [("you" if a == agent else self.base.display_name(a)) for a in self.possible_agents
                    if a in self.signed and not self.signed[a]]
        return f"No contract is active: {text}, was refused by {', '.join(refusers)}."


@dataclass
class Contracting(Mechanism):
    """CoopEval's contracting on any world with a finite or numeric play step (module docstring).

    Args:
        sign: whether all players must sign the chosen contract (CoopEval: yes).
        fixed_contract: a contract imposed without design and vote: one integer per option, or
            ``{"rate": r, "constant": k}`` on a numeric action; None (default): designed and voted.
        design: ``"once"`` (per member name, remembered across episodes, as CoopEval designs once
            per seat-agent) or ``"episode"`` (every episode).
        amount_info: the base info key of the numeric amount played ("" = the world's default).
    """

    name: ClassVar[str] = "contracting"
    sign: bool = True
    fixed_contract: Any = None
    design: str = "once"
    amount_info: str = ""
    _designs: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.sign, bool):
            raise ValueError(f"sign must be true or false, got {self.sign!r}")
        if self.design not in ("once", "episode"):
            raise ValueError(f"design must be 'once' or 'episode', got {self.design!r}")
        if not isinstance(self.amount_info, str):
            raise ValueError(f"amount_info must be an info key (a string), got {self.amount_info!r}")
        if self.fixed_contract is not None and not isinstance(self.fixed_contract, Mapping | Sequence | LinearContract):
            raise ValueError(f"fixed_contract must be a list of integers or {{rate, constant}}, got {self.fixed_contract!r}")
        if isinstance(self.fixed_contract, Sequence) and not isinstance(self.fixed_contract, str):
            if not all(isinstance(v, Integral) and not isinstance(v, bool) for v in self.fixed_contract):
                raise ValueError(f"fixed_contract must hold integers, got {self.fixed_contract!r}")

    def wrap(self, world: Any) -> ContractingWorld:
        return ContractingWorld(world, designs=self._designs, design=self.design, fixed_contract=self.fixed_contract,
                                sign=self.sign, amount_info=self.amount_info)
