"""Transcripts: every prompt and answer of a run, readable, filtered by agent, step or purpose.

``dilemmazoo transcript RUN [--agent A] [--step S] [--episode E] [--generation G]`` prints
them; :func:`transcript` returns the same text. System prompts repeat on every call, so they
are shown once per distinct text unless ``full`` is set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

__all__ = ["select_calls", "transcript"]


def select_calls(calls: pd.DataFrame, *, agent: str | None = None, step: int | None = None,
                 episode: int | None = None, generation: int | None = None, purpose: str | None = None) -> pd.DataFrame:
    """The rows of ``llm_calls`` matching every filter given (``agent`` is the seat, e.g. player_3)."""
    keep = pd.Series(True, index=calls.index)
    for column, value in (("step", step), ("episode", episode), ("generation", generation), ("purpose", purpose)):
        if value is not None:
            keep &= calls[column] == value
    if agent is not None:
        keep &= calls["agent"].astype(str) == str(agent)
    return calls[keep]


def _messages(prompt: str) -> list[dict]:
    try:
        messages = json.loads(prompt) if prompt else []
    except json.JSONDecodeError:
        return [{"role": "?", "content": prompt}]
    return messages if isinstance(messages, list) else [{"role": "?", "content": str(messages)}]


def transcript(run_dir: str | Path, *, full: bool = False, **filters) -> str:
    """The calls of one run as text, oldest first."""
    path = Path(run_dir) / "llm_calls.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no llm_calls.parquet (is it a finished run directory?)")
    calls = select_calls(pd.read_parquet(path), **filters)
    if calls.empty:
        return "no calls match"
    seen_system: dict[str, int] = {}
    blocks = []
    for number, row in enumerate(calls.itertuples(index=False), start=1):
        where = f"generation {row.generation} · episode {row.episode} · step {row.step}" if row.episode >= 0 \
            else f"generation {row.generation} · between episodes"
        cached = " · cached" if row.cached else ""
        lines = [f"━━ call {number}: {row.agent or 'population'} · {row.purpose} · {where} · "
                 f"{row.prompt_tokens}+{row.completion_tokens} tokens · {row.latency_s:.2f} s{cached}"]
        for message in _messages(getattr(row, "prompt", "")):
            role, content = message.get("role", "?"), str(message.get("content", ""))
            if role == "system" and not full:
                if content in seen_system:
                    lines.append(f"[system] (same as call {seen_system[content]})")
                    continue
                seen_system[content] = number
            lines.append(f"[{role}] {content}")
        lines.append(f"[answer] {row.text}")
        if row.error:
            lines.append(f"[error] {row.error}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
