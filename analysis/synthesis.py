"""LLM policy synthesis runs: metrics per iterate, sparse vs dense feedback, code diffs.

Source: Galle, "Cooperation and Exploitation in LLM Policy Synthesis for Sequential Social
Dilemmas" (2026): the model writes ``policy(state, agent_id)``, all agents run it, and it is
refined from the results; the paper compares sparse feedback (mean reward) with dense feedback
(adding efficiency, equality, sustainability, peace: Perolat et al. 2017).

A synthesis run's records (``policy_synthesis`` dynamics, see :mod:`dilemmazoo.norms.synthesis`):
one generation per iterate (``iteration = generation - 1``), the iterate's code as every
member's ``strategy``, its evaluation episodes in ``steps.parquet``, and in the members'
``params`` the feedback mode, validation result, sandbox failure counts and the sandbox's
isolation level (``sandbox_isolation``: bubblewrap, namespaces or process).

- :func:`synthesis_iterations`: one row per iterate: social outcomes (mean over its episodes),
  decisions, fallbacks with their most frequent reasons (:func:`fallback_reasons`), sandbox
  failures by kind and the isolation the code ran under;
- :func:`run_isolation`: the isolation levels a run's ``summary.json`` records;
- :func:`feedback_comparison`: those rows for many runs, labelled by feedback mode;
- :func:`code_diffs`: unified diffs between consecutive iterates (difflib);
- :func:`synthesis_figure`: a metric per iterate, one line per run.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dilemmazoo.envs.gridworld.metrics import social_outcomes

from .plots import _new_figure

__all__ = [
    "SYNTHESIS_METRICS",
    "code_diffs",
    "fallback_reasons",
    "feedback_comparison",
    "is_synthesis_population",
    "run_isolation",
    "synthesis_figure",
    "synthesis_iterations",
]

#: metrics per iterate and what they mean (shown in reports)
SYNTHESIS_METRICS = {
    "mean_reward": "mean over agents of the episode return R_i (the sparse feedback)",
    "efficiency": "U = sum_i R_i / T",
    "equality": "E = 1 - sum_ij |R_i - R_j| / (2 N sum_i R_i)",
    "sustainability": "S = mean over agents of the mean step of their positive rewards",
    "peace": "P = (N T - removed agent-steps) / T",
    "fallbacks": "decisions where the code failed and the agent stayed (the world's fallback was played)",
    "fallback_rate": "decisions where the code failed and the agent stayed / decisions",
    "fallback_reasons": "the most frequent reasons of those fallbacks, '<kind>: <message> (count)'; a reason naming "
                        "a module of numpy or of the standard library points at the sandbox, not the policy",
    "isolation": "the sandbox the code ran in: bubblewrap or namespaces (operating-system isolation), "
                 "or process (a plain process: weaker, chosen explicitly)",
}
_OUTCOMES = ("efficiency", "equality", "sustainability", "peace", "maximin")
REASONS_SHOWN = 3  # fallback reasons per iterate, most frequent first


def is_synthesis_population(population: pd.DataFrame) -> bool:
    """Whether the members' strategies are policy code (``def policy(``)."""
    if population.empty or "strategy" not in population:
        return False
    return bool(population["strategy"].fillna("").str.contains(r"def\s+policy\s*\(", regex=True).any())


def _params(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value) if isinstance(value, str) and value else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _episode_outcomes(episode: pd.DataFrame) -> dict[str, float]:
    rewards = episode.pivot_table(index="step", columns="agent", values="reward", aggfunc="sum", fill_value=0.0)
    tagged = None
    if "tagged" in episode:
        tagged = (episode.pivot_table(index="step", columns="agent", values="tagged", aggfunc="max", fill_value=False)
                  .reindex(index=rewards.index, columns=rewards.columns, fill_value=False).astype(bool).to_numpy())
    outcomes = social_outcomes(rewards.to_numpy(), tagged)
    outcomes["mean_reward"] = float(rewards.to_numpy().sum(axis=0).mean())
    return outcomes


def synthesis_iterations(steps: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """One row per iterate (generation) of a synthesis run.

    Columns: ``generation``, ``iteration``, ``feedback``, ``valid`` (the code passed validation),
    ``code_lines``, ``mean_reward``, ``efficiency``, ``equality``, ``sustainability``, ``peace``,
    ``maximin`` (each the mean over the iterate's episodes), ``decisions``, ``fallbacks``,
    ``fallback_rate``, ``failures`` (sandbox failures), ``failure_kinds`` (e.g. ``"crash 120"``),
    ``fallback_reasons`` (:func:`fallback_reasons` of the members' ``sandbox_reasons``; ``""`` for
    runs made before reasons were recorded) and ``isolation`` (the members' ``sandbox_isolation``; ``""`` for runs made before it was recorded).
    """
    if not is_synthesis_population(population):
        raise ValueError("the population holds no policy code; not a policy-synthesis run")
    rows = []
    for generation, members in population.groupby("generation", sort=True):
        members = members[members["round"] == 0] if "round" in members else members
        params = [_params(p) for p in members.get("params", pd.Series([], dtype=object))]
        first = params[0] if params else {}
        failures: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        for p in params:
            failures.update(p.get("sandbox_failures", {}))
            reasons.update(p.get("sandbox_reasons", {}))
        code = str(members["strategy"].iloc[0])
        own = steps[steps["generation"] == generation] if not steps.empty else steps
        per_episode = [_episode_outcomes(e) for _, e in own.groupby("episode", sort=True)] if len(own) else []
        outcomes = {key: float(np.mean([m[key] for m in per_episode])) if per_episode else float("nan")
                    for key in ("mean_reward", *_OUTCOMES)}
        decided = own[own["decided"]] if len(own) and "decided" in own else own
        decisions = int(len(decided))
        fallbacks = int(decided["fallback_used"].sum()) if decisions else 0
        rows.append({
            "generation": int(generation),
            "iteration": int(first.get("iteration", int(generation) - 1)),
            "feedback": str(first.get("feedback", "")),
            "valid": bool(first.get("valid", True)),
            "code_lines": len(code.splitlines()),
            **outcomes,
            "decisions": decisions,
            "fallbacks": fallbacks,
            "fallback_rate": fallbacks / decisions if decisions else float("nan"),
            "failures": int(sum(failures.values())),
            "failure_kinds": ", ".join(f"{kind} {count}" for kind, count in sorted(failures.items())),
            "fallback_reasons": fallback_reasons(reasons),
            "isolation": ", ".join(sorted({str(p["sandbox_isolation"]) for p in params if p.get("sandbox_isolation")})),
        })
    return pd.DataFrame(rows)


def fallback_reasons(reasons: Mapping[str, int], shown: int = REASONS_SHOWN) -> str:
    """The ``shown`` most frequent reasons, ``"<kind>: <message> (count)"`` joined by ``"; "``,
    with how many other decisions failed for other reasons (``""`` when nothing failed)."""
    if shown < 1:
        raise ValueError(f"shown must be >= 1, got {shown}")
    counts = Counter({str(reason): int(count) for reason, count in reasons.items() if int(count) > 0})
    top = counts.most_common(shown)
    text = "; ".join(f"{reason} ({count})" for reason, count in top)
    rest = sum(counts.values()) - sum(count for _, count in top)
    if rest:
        text += f"; {rest} more for other reasons"
    return text


def run_isolation(summary: Mapping[str, Any]) -> str:
    """The isolation level(s) of a run's synthesized agent groups, from ``summary.json``'s
    ``provenance.agents[*].isolation`` (``""`` when none is recorded)."""
    agents = (summary.get("provenance") or {}).get("agents") or []
    levels = [str(agent["isolation"]) for agent in agents if isinstance(agent, Mapping) and agent.get("isolation")]
    return ", ".join(dict.fromkeys(levels))


def feedback_comparison(runs: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    """:func:`synthesis_iterations` of several runs (label -> (steps, population)), with a ``run``
    column; the ``feedback`` column tells sparse from dense."""
    tables = []
    for label, (steps, population) in runs.items():
        table = synthesis_iterations(steps, population)
        table.insert(0, "run", label)
        tables.append(table)
    if not tables:
        return pd.DataFrame()
    return pd.concat(tables, ignore_index=True)


def code_diffs(population: pd.DataFrame, context: int = 3) -> list[dict[str, Any]]:
    """Unified diffs between consecutive iterates' code: ``from_iteration``, ``to_iteration``,
    ``diff`` (text), ``added`` and ``removed`` (line counts)."""
    if not is_synthesis_population(population):
        return []
    firsts = population.sort_values("generation", kind="stable").drop_duplicates("generation")
    codes = [(int(g) - 1, str(code)) for g, code in zip(firsts["generation"], firsts["strategy"])]
    diffs = []
    for (before_iteration, before), (after_iteration, after) in zip(codes, codes[1:]):
        lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), f"iteration {before_iteration}",
                                          f"iteration {after_iteration}", n=context, lineterm=""))
        diffs.append({
            "from_iteration": before_iteration,
            "to_iteration": after_iteration,
            "diff": "\n".join(lines),
            "added": sum(1 for line in lines if line.startswith("+") and not line.startswith("+++")),
            "removed": sum(1 for line in lines if line.startswith("-") and not line.startswith("---")),
        })
    return diffs


def synthesis_figure(table: pd.DataFrame, metrics: Sequence[str] = ("mean_reward", "efficiency")) -> Figure:
    """``metrics`` per iterate, one line per run (``run`` column, labelled with the feedback mode)."""
    figure = _new_figure(4.2 * len(metrics), 3.2)
    if "run" not in table:
        table = table.assign(run="run")
    for index, metric in enumerate(metrics, start=1):
        axes = figure.add_subplot(1, len(metrics), index)
        for label, rows in table.groupby("run", sort=False):
            feedback = rows["feedback"].iloc[0] if "feedback" in rows and rows["feedback"].iloc[0] else ""
            name = f"{label} ({feedback})" if feedback else str(label)
            axes.plot(rows["iteration"], rows[metric], marker="o", label=name)
        axes.set_xlabel("iteration")
        axes.set_ylabel(metric)
        axes.set_title(metric.replace("_", " "))
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.legend(fontsize="small")
    return figure
