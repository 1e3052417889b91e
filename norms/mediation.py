"""Mediation: players design mediators, approve one, and may let it play for them.

Source: Tewolde, Zhang, Guzman Piedrahita, Conitzer, Jin, "CoopEval" (arXiv 2604.15267, ICML
2026), the Mediation mechanism (``mechanisms/mediation.py`` at commit 8559e85; spec section 2):

1. **design**: every player designs a mediator, a base action for every number ``k = 1..N`` of
   players who delegate to it (every ``k`` covered; "delegate" is not an allowed output; see
   :class:`~dilemmazoo.envs.institutions.phases.MediatorDesign`);
2. **vote**: each player approves or not each of the ``N`` mediators ``M1..MN`` (seat order); the
   winner is uniform among the most approved;
3. **play**: the base game with one more action, ``delegate``
   (:class:`~dilemmazoo.envs.institutions.phases.WithDelegate`). With ``k >= 1`` delegators every
   delegator plays ``mediator[k]`` and the others keep their action
   (:func:`dilemmazoo.envs.institutions.mediation.play`); base payoffs follow. The mediator sees
   only ``k``; option indices are shared across seats (in Trust, ``A0`` is give for both roles).

The phases and their shared rules (designs remembered per member name, the seeded tie-break,
the play step of each world) are :mod:`dilemmazoo.norms.mechanism_world`'s.

What this project adds or decides
---------------------------------
- **Numeric actions**: the mediator names an amount for every ``k`` (in the play step's range
  when the world is wrapped); a delegator plays that amount, clamped to its current range
  (the commons' stock, a donor's resources) and rounded down where the world takes whole units
  only. Its move is the world's first (the Donor Game's "donate").
- **k** counts the delegators among the step's *deciders* (the Donor Game's donors of the
  round, the commons' present players); a seat that does not decide cannot delegate.
- **Repeated base games**: the chosen mediator serves every play step of the episode, and a seat
  may delegate in some rounds and not in others.
- **Fallbacks**: a design that never parses plays the base step's fallback option (a finite
  game) or the range's low end (a numeric one) for every ``k``; a ballot approves nothing; a
  play answer falls back to the base game's fallback (never to ``delegate``). CoopEval stops the
  run after 6 failures instead (spec 5.5).
- Options: ``fixed_mediator`` (``{k: label-index or amount}``) imposes one mediator without
  design and vote; ``design="episode"`` asks every episode instead of once per member.

Observation keys: the base world's plus ``mechanism_phase``, ``mechanism_winner`` and
``mechanism_mediator`` (the chosen mediator's action for ``k = 1..N``: option indices, -1 before
the vote, or amounts, the range's low end before the vote). Action
space: ``Dict(base, mechanism_design (MultiDiscrete of N option indices, or a Box of N amounts),
mechanism_approve (MultiBinary(N)), mechanism_delegate (Discrete(2): 1 delegates))``. Infos:
``mechanism_delegated`` (this seat delegated this step), ``mechanism_delegators`` (``k`` of the
step, 0 outside play), ``mechanism_mediator`` (the chosen mediator as JSON text, "" before the
vote), and the shared keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionSpec, Choice
from dilemmazoo.envs.institutions import mediation
from dilemmazoo.envs.institutions.phases import DELEGATE, MediatorDesign, WithDelegate, mediator_text
from dilemmazoo.norms.base import Mechanism
from dilemmazoo.norms.mechanism_world import (
    MechanismWorld,
    amount_parse_floor,
    design_json,
    option_index,
    play_step_open,
)

__all__ = ["Mediation", "MediationWorld"]


def _is_delegate(action: Any) -> bool:
    return isinstance(action, str) and action == DELEGATE


class MediationWorld(MechanismWorld):
    """A base world under mediation (module docstring)."""

    mechanism_name = "mediation"
    ballot_letter = "M"

    def __init__(self, base: Any, *, designs: dict, design: str = "once", fixed_mediator: Any = None):
        super().__init__(base, designs=designs, design=design, fixed_design=fixed_mediator)

    # -- designs ----------------------------------------------------------------------------------
    def _fallback_action(self) -> Any:
        if self.play.numeric:
            return self.play.low
        try:
            return option_index(self.play.spec, self.play.spec.fallback)
        except ValueError:
            return 0

    def design_spec(self, agent: str) -> ActionSpec:
        return MediatorDesign(n_seats=self.n_seats, labels=self.play.labels, low=self.play.low, high=self.play.high,
                              fallback_action=self._fallback_action())

    def check_design(self, value: Any) -> Any:
        if not self.play.numeric:
            return mediation.check_mediator(value, self.n_seats, delegate=self.play.n_options,
                                            n_actions=self.play.n_options)
        if not isinstance(value, Mapping):
            raise ValueError(f"a mediator on a numeric action maps every k = 1..{self.n_seats} to an amount, got {value!r}")
        entries = {}
        for key, amount in value.items():
            if isinstance(key, bool) or not isinstance(key, Integral) or not 1 <= key <= self.n_seats:
                raise ValueError(f"mediator keys must be delegator counts 1..{self.n_seats}, got {key!r}")
            if isinstance(amount, bool) or not isinstance(amount, Real) or not math.isfinite(amount):
                raise ValueError(f"mediator[{key}] must be a finite amount, got {amount!r}")
            entries[int(key)] = float(amount)
        missing = [k for k in range(1, self.n_seats + 1) if k not in entries]
        if missing:
            raise ValueError(f"mediator must cover every delegator count 1..{self.n_seats}; missing {missing}")
        return dict(sorted(entries.items()))

    def design_space(self) -> spaces.Space:
        if self.play.numeric:
            return spaces.Box(self.play.low, self.play.high, (self.n_seats,), np.float64)
        return spaces.MultiDiscrete([self.play.n_options] * self.n_seats)

    def design_from_sample(self, sample: Any) -> Any:
        values = np.asarray(sample).reshape(-1)
        cast = float if self.play.numeric else int
        return {k + 1: cast(v) for k, v in enumerate(values)}

    def design_text(self, design: Any) -> str:
        return mediator_text(design, self.play.labels)

    def extra_observation_spaces(self) -> dict[str, spaces.Space]:
        if self.play.numeric:
            return {"mechanism_mediator": spaces.Box(-np.inf, np.inf, (self.n_seats,), np.float64)}
        return {"mechanism_mediator": spaces.Box(-1, self.play.n_options - 1, (self.n_seats,), np.int64)}

    def extra_observation(self, agent: str) -> dict[str, Any]:
        if self.chosen is None:
            values = [self.play.low if self.play.numeric else -1] * self.n_seats
        else:
            values = [self.chosen[k] for k in range(1, self.n_seats + 1)]
        return {"mechanism_mediator": np.array(values, dtype=np.float64 if self.play.numeric else np.int64)}

    def extra_action_spaces(self) -> dict[str, spaces.Space]:
        return {**super().extra_action_spaces(), "mechanism_delegate": spaces.Discrete(2)}

    def base_answer_from_sample(self, sample: Mapping[str, Any]) -> Any:
        delegates = int(sample["mechanism_delegate"]) == 1 and play_step_open(self.base)
        return DELEGATE if delegates else sample["base"]

    # -- playing ----------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        super()._reset_state()
        self.delegated: set[str] = set()

    def play_spec(self, agent: str, base_spec: ActionSpec) -> ActionSpec:
        return WithDelegate(base=base_spec)

    def play_step(self, actions: Mapping[str, Any], deciders: list[str]) -> tuple:
        actions = dict(actions)
        self.delegated = {a for a in deciders if _is_delegate(actions[a])} if play_step_open(self.base) else set()
        if self.delegated:
            specs = {a: self.base.action_spec(a) for a in deciders}
            k = len(self.delegated)
            if self.play.numeric:
                amount = self.chosen[k]
                for agent in self.delegated:
                    actions[agent] = amount_parse_floor(specs[agent], amount)
            else:
                delegate = self.play.n_options
                indices = [delegate if a in self.delegated else option_index(specs[a], actions[a]) for a in deciders]
                played = mediation.play(self.chosen, indices, delegate=delegate)
                for agent, index in zip(deciders, played):
                    if agent in self.delegated:
                        spec = specs[agent]
                        actions[agent] = spec.actions[int(index)] if isinstance(spec, Choice) else int(index)
        return self.base.step(actions)

    def step(self, actions: Mapping[str, Any]):
        self.delegated = set()
        return super().step(actions)

    # -- views ------------------------------------------------------------------------------------
    def extra_infos(self, agent: str) -> dict[str, Any]:
        return {
            "mechanism_delegated": agent in self.delegated,
            "mechanism_delegators": len(self.delegated),
            "mechanism_mediator": design_json(self.chosen),
        }

    def mechanism_rules(self) -> str:
        what = "an amount" if self.play.numeric else "an action"
        if self.fixed_design is not None:
            start = f"A mediator is available to all players: {self.design_text(self.fixed_design)}."
        else:
            start = (f"Mediation: before the game, every player designs a mediator, which names {what} for every "
                     f"number k (1 to {self.n_seats}) of players who delegate to it; then every player approves or "
                     "not each mediator, and the most approved one is chosen (ties drawn at random).")
        return (f"{start} In the game you may answer '{DELEGATE}' instead of an action: if k players delegate, "
                f"the mediator plays its action for k for each of them; the others play their own choice. The "
                "mediator knows only k, not who delegated or what the others chose.")

    def state_text(self, agent: str) -> str:
        if self.chosen is None:
            return ""
        origin = (f"M{self.winner}, proposed by "
                  f"{'you' if self.possible_agents[self.winner - 1] == agent else self.base.display_name(self.possible_agents[self.winner - 1])}"
                  if self.winner else "the mediator")
        return f"The chosen mediator is {origin}: {self.design_text(self.chosen)}. You may answer '{DELEGATE}'."


@dataclass
class Mediation(Mechanism):
    """CoopEval's mediation on any world with a finite or numeric play step (module docstring).

    Args:
        fixed_mediator: a mediator imposed without design and vote, ``{k: option index}`` (or
            ``{k: amount}`` on a numeric action) for every ``k = 1..N``; None (default): designed.
        design: ``"once"`` (per member name, remembered across episodes) or ``"episode"``.
    """

    name: ClassVar[str] = "mediation"
    fixed_mediator: Any = None
    design: str = "once"
    _designs: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.design not in ("once", "episode"):
            raise ValueError(f"design must be 'once' or 'episode', got {self.design!r}")
        if self.fixed_mediator is not None:
            if not isinstance(self.fixed_mediator, Mapping):
                raise ValueError(f"fixed_mediator must map every k = 1..N to an action, got {self.fixed_mediator!r}")
            # YAML keys may be strings ("1": 0): read them as counts
            try:
                self.fixed_mediator = {int(k): v for k, v in self.fixed_mediator.items()}
            except (TypeError, ValueError):
                raise ValueError(f"fixed_mediator keys must be delegator counts, got {self.fixed_mediator!r}") from None

    def wrap(self, world: Any) -> MediationWorld:
        return MediationWorld(world, designs=self._designs, design=self.design, fixed_mediator=self.fixed_mediator)
