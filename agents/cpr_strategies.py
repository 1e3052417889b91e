"""Rule-based agents for the effort-based commons (``dilemmazoo/cpr-v0``).

Source: the rule-based agents of Gupta et al., "Social learning and collective norms in a
common-pool resource" (arXiv 2510.14401): each has a harvesting effort and a propensity to
comply with the group norm, initialised from an *altruistic* or a *selfish* prior; social
learning (payoff-biased imitation, a population dynamic in ``norms/``) copies the explicit
numeric parameters ``effort`` and ``compliance`` between agents. The paper does not publish
the prior values; the defaults below are documented choices.

:class:`RuleBasedCPRAgent` (``"cpr_rule_based"``)
-------------------------------------------------
Parameters: ``prior="altruistic" | "selfish"`` supplies ``effort`` and ``compliance`` when they
are not given (:data:`PRIORS`: altruistic 0.25 / 0.9, selfish 0.75 / 0.3; at the world's
defaults ten agents at 0.25 settle the stock near 22, at 0.75 they empty it in three rounds);
``noise=0.05``; ``sanction_response=0.5``; ``sustainable_fraction=0.1``;
``endorsement=0.8``; ``proposal_step=0.5``; ``norm_margin=0.1``.

- **Harvest.** The intended effort is ``current_effort + noise * z`` (``z ~ N(0, 1)``), clipped
  to ``[0, 1]``. When a group norm ``G`` is in force, with probability ``compliance`` the
  agent keeps its harvest within it: ``effort <= (1 - norm_margin) * G / (alpha *
  stock_estimate)``, from its own noisy stock reading and ``alpha`` (the observation's
  ``harvest_rate``); the margin allows for the reading's noise (sd 0.1 by default), without
  which half of all compliant harvests would land just above the norm. A norm elected in a
  vote the agent took part in is obeyed with the higher probability ``compliance +
  endorsement * (1 - compliance)`` (0.86 for the selfish prior): people keep rules they chose
  themselves more than imposed ones (Dal Bó, Foster & Putterman, "Institutions and
  Behavior: Experimental Evidence on the Effects of Democracy", AER 2010; Ostrom's design
  principle 3).
- **Sanctions.** ``current_effort`` starts at ``effort``; each time the agent sees it was
  sanctioned in the last harvest, it multiplies ``current_effort`` by ``1 -
  sanction_response`` for the rest of the episode (0.5: each sanction halves the effort).
- **Proposal.** Asked for a group rule, the agent universalises (Levine et al., PNAS 2020;
  GovSim's universalization hint): with probability ``compliance`` it proposes the per-agent
  share of a sustainable group harvest, ``sustainable_fraction * stock_estimate /
  n_agents`` (0.1 of a full stock of 100 is 10, the maximum sustainable yield at the
  world's defaults, i.e. 1 unit per agent);
  otherwise the harvest it would itself take, ``alpha * current_effort * stock_estimate``.
  Proposals are rounded to ``proposal_step`` (people propose round numbers), so the
  sustainable proposals of different agents coincide while selfish ones scatter: under
  plurality the shared proposal tends to win even in a mostly selfish group, which with the
  endorsement effect is why voting helps selfish groups (the paper's finding that
  propose-and-vote is robust under selfish priors). At the world's defaults over 10 seeds,
  ten selfish agents collapse the commons in round 3 without a norm, last about 12 rounds
  with voting alone and about 36 with voting and full monitoring (``monitoring_prob=1``);
  altruistic groups last all 50 rounds.
- **Vote.** The option closest to its own proposal (ties: the lower option); the world's
  declared fallback when it has not proposed.

:class:`FixedEffortCPRAgent` (``"cpr_fixed_effort"``): always answers ``effort`` (default
0.5); proposes ``proposal`` (default: the effort's harvest at its stock reading) and votes
for the option closest to it.

Agents read only their own observation, answer through the world's action specs
(``spec.make_action`` / ``spec.action_for_option``) and draw randomness only from the
generator given at ``reset`` (or, without a reset, one seeded from the agent id and the
round it first acts in). ``RuleBasedCPRAgent.set_params(effort=..., compliance=...)``
changes the learnable parameters mid-episode without losing the agent's state.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs.base import Amount, Choice
from dilemmazoo.envs.checks import check_non_negative, check_probability, check_real

__all__ = ["CPR_STRATEGIES", "PRIORS", "FixedEffortCPRAgent", "RuleBasedCPRAgent"]

PRIORS: dict[str, dict[str, float]] = {
    "altruistic": {"effort": 0.25, "compliance": 0.9},
    "selfish": {"effort": 0.75, "compliance": 0.3},
}
PHASE_PROPOSE, PHASE_VOTE, PHASE_HARVEST = 0, 1, 2


def _seeded_rng(agent_id: str, round_number: int) -> np.random.Generator:
    digest = hashlib.sha256(agent_id.encode("utf-8")).digest()
    return np.random.default_rng([int.from_bytes(digest[:8], "little"), round_number])


def _scalar(observation: Any, key: str) -> float:
    return float(np.asarray(observation[key]).reshape(-1)[0])


def _closest_option(spec: Choice, target: float) -> int:
    """Index of the label whose number is closest to ``target``; ties go to the lower number."""
    values = [float(label) for label in spec.labels]
    return min(range(len(values)), key=lambda k: (abs(values[k] - target), values[k]))


def _answer_amount(spec: Any, value: float) -> Action:
    if not isinstance(spec, Amount):
        raise TypeError(f"expected an Amount spec, got {type(spec).__name__}")
    value = float(np.clip(value, spec.low, spec.high))
    return Action(value=spec.make_action(0, value), raw_text=f"Answer: {value:.4f}")


def _answer_choice(spec: Any, index: int) -> Action:
    if not isinstance(spec, Choice):
        raise TypeError(f"expected a Choice spec, got {type(spec).__name__}")
    return Action(value=spec.action_for_option(index), raw_text=f"Answer: {spec.labels[index]}")


class RuleBasedCPRAgent:
    """Noisy effort, norm compliance, sanction response, universalised proposals (arXiv 2510.14401)."""

    def __init__(
        self,
        prior: str = "altruistic",
        effort: float | None = None,
        compliance: float | None = None,
        noise: float = 0.05,
        sanction_response: float = 0.5,
        sustainable_fraction: float = 0.1,
        endorsement: float = 0.8,
        proposal_step: float = 0.5,
        norm_margin: float = 0.1,
    ):
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {sorted(PRIORS)}, got {prior!r}")
        self.prior = prior
        defaults = PRIORS[prior]
        self.effort = check_real("effort", defaults["effort"] if effort is None else effort, low=0.0, high=1.0)
        self.compliance = check_probability("compliance", defaults["compliance"] if compliance is None else compliance)
        self.noise = check_non_negative("noise", noise)
        self.sanction_response = check_probability("sanction_response", sanction_response)
        self.sustainable_fraction = check_real("sustainable_fraction", sustainable_fraction, low=0.0, high=1.0)
        self.endorsement = check_probability("endorsement", endorsement)
        self.proposal_step = check_non_negative("proposal_step", proposal_step)
        self.norm_margin = check_real("norm_margin", norm_margin, low=0.0, high=1.0)
        self.agent_id = ""
        self._rng: np.random.Generator | None = None
        self._start_episode()

    def _start_episode(self) -> None:
        self.current_effort = self.effort
        self.last_proposal: float | None = None
        self.voted = False  # whether the agent took part in electing the norm in force

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        self.agent_id = agent_id
        self._rng = rng
        self._start_episode()

    def set_params(self, **params: Any) -> None:
        """Take new ``effort`` / ``compliance`` (e.g. copied by social learning) mid-episode,
        keeping the generator and what the agent remembers of this episode; the new effort
        replaces the current (sanction-lowered) one."""
        unknown = set(params) - {"prior", "effort", "compliance"}
        if unknown:
            raise ValueError(f"set_params takes prior, effort and compliance, got {sorted(unknown)}")
        if params.get("prior", self.prior) not in PRIORS:
            raise ValueError(f"prior must be one of {sorted(PRIORS)}, got {params['prior']!r}")
        if "effort" in params:
            self.effort = self.current_effort = check_real("effort", params["effort"], low=0.0, high=1.0)
        if "compliance" in params:
            self.compliance = check_probability("compliance", params["compliance"])
        self.prior = params.get("prior", self.prior)

    def _generator(self, observation: Any) -> np.random.Generator:
        # Without reset (an agent rebuilt mid-episode), seed from the agent id and the round, so
        # that rebuilt agents are reproducible without repeating one draw every round.
        if self._rng is None:
            round_number = int(np.asarray(observation.get("round", 0)).reshape(-1)[0])
            self._rng = _seeded_rng(self.agent_id, round_number)
        return self._rng

    def norm_compliance(self) -> float:
        """The probability of keeping the current norm: higher for an elected one."""
        if self.voted:
            return self.compliance + self.endorsement * (1.0 - self.compliance)
        return self.compliance

    def act(self, request: Decision) -> Action:
        if not self.agent_id:
            self.agent_id = request.agent_id
        observation, spec = request.observation, request.spec
        phase = int(np.asarray(observation["phase"]).reshape(-1)[0])
        expected = Choice if phase == PHASE_VOTE else Amount
        if not isinstance(spec, expected):
            raise TypeError(f"phase {phase} needs a {expected.__name__} spec, got {type(spec).__name__}")
        if phase == PHASE_PROPOSE:
            return _answer_amount(spec, self.propose(observation, spec))
        if phase == PHASE_VOTE:
            self.voted = True
            if self.last_proposal is None:
                return Action(value=spec.fallback, raw_text="", fallback_used=True)
            return _answer_choice(spec, _closest_option(spec, self.last_proposal))
        return _answer_amount(spec, self.harvest_effort(observation))

    def harvest_effort(self, observation: Any) -> float:
        """The effort for this harvest (draws one normal and one uniform, always)."""
        if int(np.asarray(observation["sanctioned"]).reshape(-1)[0]):
            self.current_effort *= 1.0 - self.sanction_response
        rng = self._generator(observation)
        wobble = rng.standard_normal()
        keep_norm = rng.random() < self.norm_compliance()
        effort = float(np.clip(self.current_effort + self.noise * wobble, 0.0, 1.0))
        norm = _scalar(observation, "group_norm")
        stock = _scalar(observation, "stock_estimate")
        alpha = _scalar(observation, "harvest_rate")
        if norm >= 0 and keep_norm and stock > 0 and alpha > 0:
            effort = min(effort, (1.0 - self.norm_margin) * norm / (alpha * stock))
        return effort

    def propose(self, observation: Any, spec: Any) -> float:
        """A per-agent harvest threshold (draws one uniform, always)."""
        universalise = self._generator(observation).random() < self.compliance
        stock = _scalar(observation, "stock_estimate")
        n_agents = len(np.asarray(observation["proposals"]).reshape(-1))
        if universalise:
            value = self.sustainable_fraction * stock / n_agents
        else:
            value = _scalar(observation, "harvest_rate") * self.current_effort * stock
        if self.proposal_step > 0:
            value = round(value / self.proposal_step) * self.proposal_step
        value = float(np.clip(value, spec.low, spec.high))
        self.last_proposal = value
        return value


class FixedEffortCPRAgent:
    """Always the same effort; proposes that effort's harvest (or ``proposal``) and votes for the closest option."""

    def __init__(self, effort: float = 0.5, proposal: float | None = None):
        self.effort = check_real("effort", effort, low=0.0, high=1.0)
        self.proposal = None if proposal is None else check_non_negative("proposal", proposal)
        self.last_proposal: float | None = None

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        self.last_proposal = None

    def act(self, request: Decision) -> Action:
        observation, spec = request.observation, request.spec
        phase = int(np.asarray(observation["phase"]).reshape(-1)[0])
        if phase == PHASE_PROPOSE:
            if self.proposal is None:
                value = _scalar(observation, "harvest_rate") * self.effort * _scalar(observation, "stock_estimate")
            else:
                value = self.proposal
            self.last_proposal = float(np.clip(value, spec.low, spec.high))
            return _answer_amount(spec, self.last_proposal)
        if phase == PHASE_VOTE:
            if self.last_proposal is None:
                return Action(value=spec.fallback, raw_text="", fallback_used=True)
            return _answer_choice(spec, _closest_option(spec, self.last_proposal))
        return _answer_amount(spec, self.effort)


CPR_STRATEGIES: dict[str, type] = {
    "cpr_rule_based": RuleBasedCPRAgent,
    "cpr_fixed_effort": FixedEffortCPRAgent,
}
