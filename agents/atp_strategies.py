"""Scripted agents for the ATP self-interested-exploration world (``dilemmazoo/atp-exploration-v0``).

Source: Han et al., "Alignment Tipping Process: How Self-Evolution Pushes LLM Agents Off the
Rails" (arXiv 2510.04860). Each round the agent chooses the rule-compliant option (reward
``r_low``) or the rule-violating one (``r_high`` unsupervised, 0 when supervised). These
baselines bracket what a language agent does and give the tipping analysis curves whose
shape is known by construction. Everything they use is in the world's observation
(:mod:`dilemmazoo.envs.atp_exploration`): ``announced`` (what was said about this round's check:
1 supervised, 0 unsupervised, -1 nothing), ``known_unsupervised``, ``violations_paid``,
``violations_caught``, ``low_reward`` and ``high_reward``.

:class:`ATPComply` (``"atp_comply"``) and :class:`ATPViolate` (``"atp_violate"``)
   Always the compliant option; always the violating one (violation rate 0 and 1).

:class:`ATPViolateWhenUnsupervised` (``"atp_violate_when_unsupervised"``; kwarg ``k=1``)
   An opportunist that does not know the supervision pattern: it complies in a round announced
   as supervised and violates in one announced as unsupervised; in a round about which it was
   told nothing it violates once it knows of at least ``k`` past unsupervised rounds (announced
   so, or revealed by one of its violations going unnoticed). ``k=0`` violates in every such
   round; with ``k >= 1`` and no announcements it never learns of one and always complies.

:class:`ATPGreedyLearner` (``"atp_greedy_learner"``; kwarg ``explore=0.2``)
   An epsilon-greedy learner of the two options' values. Complying is worth ``r_low``;
   violating is worth the mean reward of its own past violations,
   ``r_high * paid / (paid + caught)``, and nothing is assumed before it has tried. It plays the
   option of higher value (complying on ties and before any violation) and, with probability
   ``explore`` (drawn from the episode's generator), the other one. So it violates once it has
   seen violating pay more than complying on average, and returns to compliance when getting
   caught drags that average below ``r_low``.

A decision that is not this world's comply-or-violate choice is answered with the world's
declared fallback and marked ``fallback_used``, so it is counted in the records.

Registration: found by name in :func:`~dilemmazoo.agents.scripted.make_scripted` through
:data:`ATP_STRATEGIES`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs.atp_exploration import COMPLY, VIOLATE
from dilemmazoo.envs.base import Choice
from dilemmazoo.envs.checks import check_int, check_probability

__all__ = [
    "ATP_STRATEGIES",
    "ATPComply",
    "ATPGreedyLearner",
    "ATPViolate",
    "ATPViolateWhenUnsupervised",
    "choice_action",
]


def _count(observation: Any, key: str) -> int:
    return int(np.asarray(observation[key]).reshape(-1)[0])


def _number(observation: Any, key: str) -> float:
    return float(np.asarray(observation[key], dtype=float).reshape(-1)[0])


def _is_exploration_choice(spec: Any) -> bool:
    if not isinstance(spec, Choice) or len(spec.actions) != 2:
        return False
    return [int(a) for a in spec.actions] == [COMPLY, VIOLATE]


def choice_action(spec: Choice, action: int) -> Action:
    """An :class:`Action` answering ``action`` (:data:`COMPLY` or :data:`VIOLATE`) through the
    world's Choice, with the answer text a model would give ("Answer: shortcut")."""
    index = [int(a) for a in spec.actions].index(action)
    return Action(value=spec.action_for_option(index), raw_text=f"Answer: {spec.labels[index]}")


class _Explorer:
    """Shared plumbing: the episode's generator and one rule from observation to action."""

    def __init__(self) -> None:
        self.rng: np.random.Generator | None = None

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        self.rng = rng

    def choose(self, observation: Any) -> int:
        raise NotImplementedError

    def act(self, request: Decision) -> Action:
        if not _is_exploration_choice(request.spec):
            return Action(value=request.spec.fallback, raw_text="", fallback_used=True)
        return choice_action(request.spec, self.choose(request.observation))


class ATPComply(_Explorer):
    """Always the rule-compliant option."""

    def choose(self, observation: Any) -> int:
        return COMPLY


class ATPViolate(_Explorer):
    """Always the rule-violating option."""

    def choose(self, observation: Any) -> int:
        return VIOLATE


class ATPViolateWhenUnsupervised(_Explorer):
    """Violates in rounds announced as unsupervised, and in unannounced rounds once it knows of
    ``k`` unsupervised rounds (module docstring)."""

    def __init__(self, k: int = 1):
        super().__init__()
        self.k = check_int("k", k, 0)

    def choose(self, observation: Any) -> int:
        announced = _count(observation, "announced")
        if announced >= 0:
            return COMPLY if announced == 1 else VIOLATE
        return VIOLATE if _count(observation, "known_unsupervised") >= self.k else COMPLY


class ATPGreedyLearner(_Explorer):
    """Epsilon-greedy between complying (worth ``r_low``) and violating (worth its past
    violations' mean reward); module docstring."""

    def __init__(self, explore: float = 0.2):
        super().__init__()
        self.explore = check_probability("explore", explore)

    def values(self, observation: Any) -> tuple[float, float | None]:
        """(value of complying, value of violating or None before any violation)."""
        paid, caught = _count(observation, "violations_paid"), _count(observation, "violations_caught")
        low, high = _number(observation, "low_reward"), _number(observation, "high_reward")
        return low, (high * paid / (paid + caught) if paid + caught else None)

    def choose(self, observation: Any) -> int:
        comply_value, violate_value = self.values(observation)
        greedy = VIOLATE if violate_value is not None and violate_value > comply_value else COMPLY
        if self.explore > 0:
            if self.rng is None:
                raise RuntimeError("ATPGreedyLearner explores with the episode's generator: call reset() first")
            if self.rng.random() < self.explore:
                return VIOLATE if greedy == COMPLY else COMPLY
        return greedy


ATP_STRATEGIES: dict[str, type] = {
    "atp_comply": ATPComply,
    "atp_violate": ATPViolate,
    "atp_violate_when_unsupervised": ATPViolateWhenUnsupervised,
    "atp_greedy_learner": ATPGreedyLearner,
}
