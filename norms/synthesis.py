"""Policy synthesis as population dynamics: write code, evaluate it in self-play, refine, K times.

Source: Galle, "Cooperation and Exploitation in LLM Policy Synthesis for Sequential Social
Dilemmas" (2026; code vicgalle/llm-policies-social-dilemmas). The paper's loop is: prompt
(rules, state API, objective) -> code -> validation -> evaluation in self-play over 5 seeds ->
feedback -> refinement; an initial policy and 3 refinements; 10 agents.

Mapping onto the runner: one *generation* is one iterate of the code and its *episodes* are the
evaluation seeds (``population: {dynamics: policy_synthesis, generations: 4}``,
``episodes_per_generation: 5``). Every member (one per seat) carries the same code as its
``strategy`` (self-play). The writer is the group's :class:`~dilemmazoo.agents.synthesis.SynthesizedPolicy`.

- ``initial``: one request for code (:func:`~dilemmazoo.agents.synthesis.synthesis_prompt`);
- ``next_generation``: the iterate's metrics from the generation's records, then one
  refinement request showing the latest code and the results of every iterate so far
  (:func:`~dilemmazoo.agents.synthesis.refinement_prompt`).

Feedback (``feedback=``): ``"sparse"`` tells the model the mean per-agent reward only;
``"dense"`` adds efficiency, equality, sustainability and peace (Perolat et al. 2017, with their
definitions in the prompt); the objective text is the same in both modes.

Metrics of an iterate (:func:`iteration_metrics`): per evaluation episode, the social outcomes
of :func:`dilemmazoo.envs.gridworld.metrics.social_outcomes` of the rewards ``(T, N)`` and the
``tagged`` infos, and the mean per-agent return; then the mean over episodes. They need the
generation's per-step records, which the runner passes as ``records`` to dynamics that set
``wants_records = True`` (:class:`~dilemmazoo.norms.base.PopulationDynamics`). Without them the dense metrics are ``None`` ("n/a" to the model) and
the mean reward comes from the scores.

Member params (saved in ``population.parquet``): ``iteration`` (0 = the initial code),
``feedback``, ``valid``, ``validation_errors``, ``reasoning`` (the model's answer without the
code), ``code_attempts``; after evaluation ``metrics``; and, written while playing,
``sandbox_failures`` (kind -> count for that seat) and ``sandbox_reasons`` (``"<kind>: <message>"``
-> count). The refinement prompt tells the model its failure counts and the most frequent reasons.

Members are named ``"{generation}_{index}"``; each has the member of its seat in the previous
generation as parent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from dilemmazoo.agents.synthesis import (
    FEEDBACK_MODES,
    OBJECTIVE,
    IterationResult,
    SynthesizedPolicy,
    refinement_prompt,
    synthesis_prompt,
)
from dilemmazoo.envs.gridworld.metrics import social_outcomes
from dilemmazoo.norms.base import Member, PopulationDynamics, StrategyWriter

__all__ = ["PolicySynthesis", "iteration_metrics"]

_DENSE = ("efficiency", "equality", "sustainability", "peace")


def iteration_metrics(records: pd.DataFrame) -> dict[str, float]:
    """Mean over episodes of the mean per-agent return and the social outcomes.

    ``records``: one generation's steps (columns ``episode``, ``step``, ``agent``, ``reward`` and,
    when the world reports it, ``tagged``).
    """
    missing = {"episode", "step", "agent", "reward"} - set(records.columns)
    if missing:
        raise ValueError(f"records lack the columns {sorted(missing)}")
    per_episode = []
    for _, episode in records.groupby("episode", sort=True):
        rewards = episode.pivot_table(index="step", columns="agent", values="reward", aggfunc="sum", fill_value=0.0)
        if "tagged" in episode:
            tagged = episode.pivot_table(index="step", columns="agent", values="tagged", aggfunc="max",
                                         fill_value=False)
            tagged = tagged.reindex(index=rewards.index, columns=rewards.columns, fill_value=False).astype(bool)
        else:
            tagged = None
        outcomes = social_outcomes(rewards.to_numpy(), None if tagged is None else tagged.to_numpy())
        outcomes["mean_reward"] = float(rewards.to_numpy().sum(axis=0).mean())
        per_episode.append(outcomes)
    if not per_episode:
        return {}
    return {key: _mean_defined([m[key] for m in per_episode]) for key in ("mean_reward", *_DENSE, "maximin")}


def _mean_defined(values: list[float]) -> float:
    """The mean over episodes where the metric is defined (equality is NaN for negative returns)."""
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def _synthesizer(writer: StrategyWriter) -> SynthesizedPolicy:
    """The writer as the policy that writes and runs the code (the group's ``synthesized`` agents)."""
    if not isinstance(writer, SynthesizedPolicy):
        raise TypeError("policy synthesis needs a SynthesizedPolicy as its strategy writer (agents kind "
                        f"'synthesized'), got {type(writer).__name__}")
    return writer


class PolicySynthesis(PopulationDynamics):
    """LLM policy synthesis with sparse or dense feedback (Galle 2026; see module docstring).

    Args:
        feedback: ``"sparse"`` or ``"dense"``.
        objective: the objective stated in every prompt.
        game: ``"cleanup"`` or ``"gathering"``; default: the writer's (read from the rules).
    """

    wants_records = True

    def __init__(self, feedback: str = "sparse", objective: str = OBJECTIVE, game: str | None = None):
        if feedback not in FEEDBACK_MODES:
            raise ValueError(f"feedback must be one of {FEEDBACK_MODES}, got {feedback!r}")
        if game is not None and game not in ("cleanup", "gathering"):
            raise ValueError(f"game must be 'cleanup' or 'gathering', got {game!r}")
        if not isinstance(objective, str) or not objective.strip():
            raise ValueError("objective must be a non-empty string")
        self.feedback = feedback
        self.objective = objective
        self.game = game
        self.history: list[IterationResult] = []

    def _context(self, writer: StrategyWriter) -> tuple[str, float]:
        writer = _synthesizer(writer)
        return self.game or writer.game or "cleanup", float(writer.limits.call_timeout_s)

    def _members(self, generation: int, size: int, code: str, writer: StrategyWriter,
                 previous: list[Member] | None = None) -> list[Member]:
        syntheses = _synthesizer(writer).last_syntheses
        extra = syntheses[0].to_params() if syntheses else {}
        members = []
        for i in range(size):
            params = {"iteration": generation - 1, "feedback": self.feedback, **extra}
            parents = (previous[i].name,) if previous else ()
            members.append(Member(name=f"{generation}_{i + 1}", generation=generation, strategy=code, params=params,
                                  parents=parents))
        return members

    def initial(self, size: int, writer: StrategyWriter, rng: np.random.Generator,
                params: dict[str, Any] | None = None) -> list[Member]:
        self.history = []
        game, timeout = self._context(writer)
        prompt = synthesis_prompt(game, size, objective=self.objective, feedback=self.feedback, call_timeout_s=timeout)
        [code] = writer.write_strategies([prompt], rng)
        return self._members(1, size, code, writer)

    def evaluate(self, members: list[Member], scores: Mapping[str, float],
                 records: pd.DataFrame | None) -> IterationResult:
        """The iterate the members play: its metrics and failure counts (also stored in their params)."""
        if records is not None and len(records):
            metrics = iteration_metrics(records)
        else:
            metrics = {"mean_reward": float(np.mean([scores[m.name] for m in members])), **dict.fromkeys(_DENSE)}
        failures: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        for m in members:
            failures.update(m.params.get("sandbox_failures", {}))
            reasons.update(m.params.get("sandbox_reasons", {}))
            m.params["metrics"] = dict(metrics)
        iteration = int(members[0].params.get("iteration", members[0].generation - 1))
        return IterationResult(iteration=iteration, code=members[0].strategy, metrics=metrics, failures=dict(failures),
                               reasons=dict(reasons.most_common()))

    def next_generation(self, members: list[Member], scores: Mapping[str, float], writer: StrategyWriter,
                        rng: np.random.Generator, generation: int, records: pd.DataFrame | None = None) -> list[Member]:
        self.history.append(self.evaluate(members, scores, records))
        game, timeout = self._context(writer)
        prompt = refinement_prompt(game, len(members), self.history, objective=self.objective, feedback=self.feedback,
                                   call_timeout_s=timeout)
        [code] = writer.write_strategies([prompt], rng)
        return self._members(generation, len(members), code, writer, previous=members)
