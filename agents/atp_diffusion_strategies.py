"""Scripted players for the ATP threshold game (``dilemmazoo/atp-diffusion-v0``).

Source: Han et al., "Alignment Tipping Process" (arXiv 2510.04860), the imitative strategy
diffusion setting (:mod:`dilemmazoo.envs.atp_diffusion`); the threshold rule is Granovetter's
("Threshold Models of Collective Behavior", American Journal of Sociology 83, 1978): an actor
joins a collective behaviour once at least ``m`` others it can see have joined.

:class:`CollectiveStrategy` (``"atp_collective"``)
   Always the collective option.
:class:`IndependentStrategy` (``"atp_independent"``)
   Always the independent option.
:class:`ThresholdStrategy` (``"atp_threshold"``; kwargs ``m=1``, ``initial=None``)
   Collective when at least ``m`` of the choices it saw last round (its neighbours' choices in
   the observation's ``last_choices``, its own excluded) were collective, else independent. In
   the first round it has seen nothing: it plays ``initial`` (``"collective"`` or
   ``"independent"``) when given, else the same rule with zero seen (collective only when
   ``m == 0``).
:class:`CommittedStrategy` (``"atp_committed"``)
   Always collective, and marked ``committed = True``: the committed minority of the tipping
   experiments (Centola et al. 2018), which never changes its choice whatever it sees.

Every strategy has the class attribute ``committed`` (False except for the committed one). They
answer through the world's :class:`~dilemmazoo.envs.base.Choice` (the option whose action is
1 collective or 0 independent), so they never send an action the world would not accept; a
decision that is not such a choice is answered with the world's declared fallback and marked
``fallback_used``, so it is counted in the records.

Registration: found by name in :func:`~dilemmazoo.agents.scripted.make_scripted` through
:data:`ATP_DIFFUSION_STRATEGIES`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs.atp_diffusion import COLLECTIVE, INDEPENDENT
from dilemmazoo.envs.base import Choice
from dilemmazoo.envs.checks import check_choice, check_int

__all__ = [
    "ATP_DIFFUSION_STRATEGIES",
    "CollectiveStrategy",
    "CommittedStrategy",
    "IndependentStrategy",
    "ThresholdStrategy",
    "choice_action",
    "collective_seen",
]


def _option_index(spec: Any, action: int) -> int | None:
    """The index of the option of ``spec`` whose action is ``action``, when ``spec`` is a Choice that has one."""
    if not isinstance(spec, Choice):
        return None
    for index, candidate in enumerate(spec.actions):
        if isinstance(candidate, (int, np.integer)) and int(candidate) == action:
            return index
    return None


def choice_action(request: Decision, action: int) -> Action:
    """An :class:`Action` choosing ``action`` (1 collective, 0 independent) through the world's
    Choice; the declared fallback, marked ``fallback_used``, when the decision offers no such option."""
    index = _option_index(request.spec, action)
    if index is None:
        return Action(value=request.spec.fallback, raw_text="", fallback_used=True)
    return Action(value=request.spec.action_for_option(index), raw_text=f"Answer: {request.spec.labels[index]}")


def collective_seen(observation: Any) -> tuple[int, int]:
    """How many of the others' choices seen last round were collective, and how many were seen.

    Reads ``last_choices`` (-1 unseen or no round yet), ``neighbours`` and ``seat`` of an
    ATP-diffusion observation; one's own choice is not counted."""
    last = np.asarray(observation["last_choices"]).reshape(-1)
    neighbours = np.asarray(observation["neighbours"]).reshape(-1).astype(bool)
    seat = int(np.asarray(observation["seat"]).reshape(-1)[0])
    others = neighbours.copy()
    others[seat] = False
    seen = others & (last >= 0)
    return int(np.count_nonzero(last[seen] == COLLECTIVE)), int(np.count_nonzero(seen))


class _Player:
    """Shared plumbing: no episode state, one choice rule."""

    committed: ClassVar[bool] = False

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        pass

    def choose(self, observation: Any) -> int:
        raise NotImplementedError

    def act(self, request: Decision) -> Action:
        return choice_action(request, self.choose(request.observation))


class CollectiveStrategy(_Player):
    """Always the collective option."""

    def choose(self, observation: Any) -> int:
        return COLLECTIVE


class IndependentStrategy(_Player):
    """Always the independent option."""

    def choose(self, observation: Any) -> int:
        return INDEPENDENT


class CommittedStrategy(CollectiveStrategy):
    """Always collective, whatever it sees: a member of the committed minority."""

    committed: ClassVar[bool] = True


class ThresholdStrategy(_Player):
    """Granovetter's threshold: collective once at least ``m`` seen choices were collective (module docstring)."""

    def __init__(self, m: int = 1, initial: str | None = None):
        self.m = check_int("m", m, 0)
        self.initial = None if initial is None else check_choice("initial", initial, ("collective", "independent"))

    def choose(self, observation: Any) -> int:
        collective, seen = collective_seen(observation)
        first_round = int(np.asarray(observation["last_success"]).reshape(-1)[0]) < 0
        if first_round and self.initial is not None:
            return COLLECTIVE if self.initial == "collective" else INDEPENDENT
        return COLLECTIVE if collective >= self.m else INDEPENDENT


ATP_DIFFUSION_STRATEGIES: dict[str, type] = {
    "atp_collective": CollectiveStrategy,
    "atp_independent": IndependentStrategy,
    "atp_threshold": ThresholdStrategy,
    "atp_committed": CommittedStrategy,
}
