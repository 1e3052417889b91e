"""What the model calls of runs took: calls, cache hits, tokens and cost, per run and per backend.

Read from ``llm_calls.parquet`` (one row per backend call, :data:`dilemmazoo.experiments.records.LLM_CALL_COLUMNS`):

- ``calls``: rows; ``cache_hits``: rows with ``cached`` (answered from the on-disk cache, free);
  ``model_calls = calls - cache_hits``: calls a model answered (what ``--max-calls`` counts);
  ``cache_hit_rate = cache_hits / calls`` (0.0 without calls);
- ``prompt_tokens``, ``completion_tokens``: sums as the backend counted them (a scored decision's
  completion tokens are its options' tokens);
- ``cost_usd``: the sum of ``cost_usd`` (0 where the backend knows no price: local models,
  servers without one; what ``--budget-usd`` counts).

A call belongs to the agent group of its ``agent`` (a seat, or a member's name) as the run's
``steps.parquet`` names it (``policy``), and the group to its backend spec through the run's
``summary.json`` provenance (``agents``: ``label`` -> ``backend``). Calls outside the seats
(strategies written for the population dynamics, agent ``""``) belong to the run's one
language-model group when it has one; otherwise their backend is :data:`UNATTRIBUTED`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["COST_COLUMNS", "UNATTRIBUTED", "call_backends", "cost_stats", "costs_by", "label_calls"]

#: the backend of a call no group can be found for
UNATTRIBUTED = "(unattributed)"
#: the columns of :func:`costs_by`'s table after its key columns
COST_COLUMNS = ("runs", "calls", "model_calls", "cache_hits", "cache_hit_rate", "prompt_tokens", "completion_tokens",
                "cost_usd")


def cost_stats(llm_calls: pd.DataFrame) -> dict[str, Any]:
    """Totals of one table of calls (see the module docstring for each key)."""
    calls = len(llm_calls)

    def total(column: str) -> float:
        return float(llm_calls[column].fillna(0).sum()) if calls and column in llm_calls else 0.0

    hits = int(llm_calls["cached"].fillna(False).astype(bool).sum()) if calls and "cached" in llm_calls else 0
    return {
        "calls": calls,
        "model_calls": calls - hits,
        "cache_hits": hits,
        "cache_hit_rate": hits / calls if calls else 0.0,
        "prompt_tokens": int(total("prompt_tokens")),
        "completion_tokens": int(total("completion_tokens")),
        "cost_usd": total("cost_usd"),
    }


def call_backends(llm_calls: pd.DataFrame, steps: pd.DataFrame, agents: Sequence[Mapping[str, Any]]) -> pd.Series:
    """The backend spec of each call of one run (a Series aligned with ``llm_calls``).

    ``agents``: the run's agent groups as ``summary.json`` records them (``label``, ``kind``,
    ``backend``; ``backend`` is None for scripted groups). ``steps`` maps seats and member names to
    group labels (``agent``/``name`` -> ``policy``).
    """
    backend_of = {str(a.get("label")): a.get("backend") for a in agents}
    model_groups = [a.get("backend") for a in agents if a.get("backend")]
    label_of: dict[str, str] = {}
    if len(steps) and "policy" in steps:
        for column in ("name", "agent"):  # a seat id wins over a member's name that happens to be the same
            if column in steps:
                label_of.update(dict(zip(steps[column].astype(str), steps["policy"].astype(str))))

    def backend(agent: Any) -> str:
        label = label_of.get(str(agent))
        found = backend_of.get(label) if label is not None else None
        if found:
            return str(found)
        return str(model_groups[0]) if len(model_groups) == 1 else UNATTRIBUTED

    if "agent" not in llm_calls:
        return pd.Series([backend(None)] * len(llm_calls), index=llm_calls.index, dtype=object)
    return llm_calls["agent"].map(backend).astype(object)


def label_calls(runs: Sequence[tuple[str, pd.DataFrame, pd.DataFrame, Sequence[Mapping[str, Any]]]]) -> pd.DataFrame:
    """Every call of ``runs`` (``(run label, llm_calls, steps, agents)`` each) in one table, with
    ``run`` and ``backend`` columns added."""
    frames = []
    for label, llm_calls, steps, agents in runs:
        frame = llm_calls.copy()
        frame["backend"] = call_backends(llm_calls, steps, agents)
        frame["run"] = label
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["run", "backend"])
    return pd.concat(frames, ignore_index=True)


def costs_by(calls: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """:func:`cost_stats` per value of ``keys`` (e.g. ``["backend"]`` or ``["run", "backend"]``) of a
    :func:`label_calls` table, in order of first appearance; ``runs`` counts the runs of each row."""
    keys = list(keys)
    if not len(calls):
        return pd.DataFrame(columns=[*keys, *COST_COLUMNS])
    rows = []
    for values, group in calls.groupby(keys, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        rows.append({**dict(zip(keys, values)), "runs": int(group["run"].nunique()) if "run" in group else 1,
                     **cost_stats(group)})
    return pd.DataFrame(rows, columns=[*keys, *COST_COLUMNS])
