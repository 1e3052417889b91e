"""Evaluation scores: normalised focal return, background welfare, exploitation, per-world summary.

Pure functions for :mod:`dilemmazoo.experiments.evaluation` (which runs the scenarios) and the
score bundle's report page. A scenario places a *focal* agent among a *background* population
(Melting Pot's protocol: Leibo et al. 2021; Agapiou et al. 2022); all returns are per seat per
episode.

Normalised focal return
    ``normalise(x, zero, one) = (x - zero) / (one - zero)``, where ``zero`` is the lowest mean
    focal return of the scenario's ``zero`` references (e.g. always-defect, greedy) and ``one``
    the highest of its ``one`` references (the best cooperative scripted agent), over the same
    seeds. The ``zero`` reference scores 0, the best ``one`` reference 1; scores outside [0, 1]
    mean worse than the worst or better than the best reference. NaN when ``one - zero`` is not
    above :data:`SEPARATION` (references that do not separate give no scale).

Background welfare
    the mean return of the background seats; its *change* is that minus the same background's
    mean return beside the best ``one`` reference on the same seeds: positive when the focal
    agent leaves the others better off than the cooperative reference does.

Exploitation
    ``exploitation(D, F) = max(0, D - F)``: how far the background's defectors (background
    seats of role ``defector``) out-earn the focal agent, where ``D`` is the defectors' mean
    return per seat per episode and ``F`` the focal agent's; NaN when the background has no
    defector. It needs no reference run and is 0 for a focal agent that matches the defectors
    (defects back, sanctions, or leaves them nothing to take). Hand-checkable example: three
    rounds of the prisoner's dilemma (R=3, S=0, T=5, P=1) against always-defect: an
    always-cooperating focal agent earns F = 0 + 0 + 0 = 0 and the defector D = 5 + 5 + 5 = 15,
    so exploitation is 15; tit-for-tat earns F = 0 + 1 + 1 = 2 against D = 5 + 1 + 1 = 7, so 5;
    always-defect earns F = D = 3, so 0.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ROLES", "SEPARATION", "background_welfare", "exploitation", "normalise", "render_report", "world_summary"]

#: the roles a background group may have; ``defector`` seats define exploitation
ROLES = ("cooperator", "conditional", "defector", "mixed")
#: the references must separate by more than this for a normalised score
SEPARATION = 1e-9


def normalise(x: float, zero: float, one: float) -> float:
    """``(x - zero) / (one - zero)``; NaN if any is NaN or ``one - zero <= SEPARATION``."""
    values = [float(v) for v in (x, zero, one)]
    if not all(math.isfinite(v) for v in values) or values[2] - values[1] <= SEPARATION:
        return math.nan
    return (values[0] - values[1]) / (values[2] - values[1])


def exploitation(defector_return: float, focal_return: float) -> float:
    """``max(0, D - F)``: how far the background's defectors out-earn the focal agent (NaN without defectors)."""
    d, f = float(defector_return), float(focal_return)
    if not (math.isfinite(d) and math.isfinite(f)):
        return math.nan
    return max(0.0, d - f)


def background_welfare(returns: Iterable[float]) -> float:
    """The mean return of the background seats (per seat per episode); NaN when there are none."""
    values = np.asarray(list(returns), dtype=np.float64)
    return float(values.mean()) if values.size else math.nan


def world_summary(scenarios: pd.DataFrame) -> pd.DataFrame:
    """One row per world from the per-scenario rows: scenarios and how many were scored, and the
    means over its scored scenarios of ``normalised``, ``focal_return``, ``background_welfare_change``
    and ``exploitation`` (NaN entries skipped)."""
    columns = ["world", "scenarios", "scored", "normalised", "focal_return", "background_welfare_change", "exploitation"]
    if scenarios.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for world, group in scenarios.groupby("world", sort=True):
        scored = group[group["status"] == "scored"]
        row = {"world": world, "scenarios": int(len(group)), "scored": int(len(scored))}
        for column in columns[3:]:
            values = scored[column].astype(float)
            values = values[np.isfinite(values)]
            row[column] = float(values.mean()) if len(values) else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


# -- the report page -------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
th { background: #f3f3f3; }
.note { color: #555; font-size: 0.9em; }
code { font-size: 0.9em; }
"""


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def _short_world(world_id: str) -> str:
    """``dilemmazoo/cleanup-v0`` -> ``cleanup-v0`` (the page is about dilemmazoo worlds only)."""
    return world_id.split("/", 1)[-1]


def _bars(items: list[tuple[str, float | None]], *, width: int = 640, bar_height: int = 18) -> str:
    """An inline SVG bar chart of normalised scores, with the 0 and 1 references marked."""
    finite = [v for _, v in items if v is not None and math.isfinite(v)]
    low, high = min([0.0, *finite]), max([1.0, *finite])
    label_width, pad = 220, 10
    scale = (width - label_width - 2 * pad) / (high - low)
    height = bar_height * len(items) + 30

    def x(v: float) -> float:
        return label_width + pad + (v - low) * scale

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="normalised focal return per scenario">']
    for reference in (0.0, 1.0):
        parts.append(f'<line x1="{x(reference):.1f}" y1="0" x2="{x(reference):.1f}" y2="{height - 20}" '
                     f'stroke="#999" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x(reference):.1f}" y="{height - 6}" font-size="11" text-anchor="middle">'
                     f'{reference:g}</text>')
    for row, (label, value) in enumerate(items):
        y = row * bar_height + 2
        parts.append(f'<text x="{label_width}" y="{y + bar_height - 6}" font-size="12" text-anchor="end">'
                     f'{html.escape(label)}</text>')
        if value is None or not math.isfinite(value):
            parts.append(f'<text x="{x(0.0) + 4:.1f}" y="{y + bar_height - 6}" font-size="11" fill="#888">n/a</text>')
            continue
        start, end = sorted((x(0.0), x(value)))
        colour = "#3a7d44" if value >= 0 else "#b03a2e"
        parts.append(f'<rect x="{start:.1f}" y="{y}" width="{max(end - start, 1):.1f}" height="{bar_height - 4}" '
                     f'fill="{colour}"><title>{html.escape(label)}: {value:.3f}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def render_report(bundle: dict[str, Any]) -> str:
    """A self-contained HTML page of a score bundle (the ``scores.json`` document): the per-world
    table, a bar plot of the normalised scores per scenario, and the per-scenario table with hashes."""
    agent = bundle["agent"]
    name = agent.get("strategy") if agent.get("kind") == "scripted" else agent.get("backend")
    title = f"Evaluation of {agent.get('kind')}:{name}"
    scenario_set = bundle["scenario_set"]
    lines = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f'<p>Scenario set <code>{html.escape(str(scenario_set["name"]))}</code> version '
             f'{scenario_set["version"]} (hash <code>{html.escape(scenario_set["hash"][:16])}</code>), seeds '
             f'{html.escape(", ".join(map(str, bundle["seeds"])))}; agent hash '
             f'<code>{html.escape(bundle["agent_hash"][:16])}</code>.</p>',
             '<p class="note">Normalised focal return: 0 is the scenario\'s lowest <em>zero</em> reference (e.g. '
             "always-defect), 1 its best cooperative <em>one</em> reference, on the same seeds. Background welfare "
             "change: the background's mean return beside this agent minus beside the <em>one</em> reference. "
             "Exploitation: how far the background's defectors out-earn the focal agent, max(0, D - F), per seat "
             "per episode.</p>",
             "<h2>Per world</h2><table><tr><th>world</th><th>scored</th><th>normalised</th><th>focal return</th>"
             "<th>background welfare change</th><th>exploitation</th></tr>"]
    for row in bundle["worlds"]:
        lines.append(f"<tr><td>{_cell(_short_world(row['world']))}</td><td>{row['scored']}/{row['scenarios']}</td>"
                     f"<td>{_cell(row['normalised'])}</td><td>{_cell(row['focal_return'])}</td>"
                     f"<td>{_cell(row['background_welfare_change'])}</td><td>{_cell(row['exploitation'])}</td></tr>")
    lines.append("</table><h2>Normalised focal return per scenario</h2>")
    lines.append(_bars([(s["scenario"], s["normalised"]) for s in bundle["scenarios"]]))
    lines.append("<h2>Per scenario</h2><table><tr><th>scenario</th><th>world</th><th>focal return</th>"
                 "<th>zero (agent)</th><th>one (agent)</th><th>normalised</th><th>background welfare</th>"
                 "<th>change</th><th>exploitation</th><th>scenario hash</th><th>returns hash</th><th>status</th></tr>")
    for s in bundle["scenarios"]:
        lines.append(
            f"<tr><td>{_cell(s['scenario'])}</td><td class=\"text\">{_cell(_short_world(s['world']))}</td>"
            f"<td>{_cell(s['focal_return'])}</td><td>{_cell(s['zero_return'])} ({_cell(s['zero_agent'])})</td>"
            f"<td>{_cell(s['one_return'])} ({_cell(s['one_agent'])})</td><td>{_cell(s['normalised'])}</td>"
            f"<td>{_cell(s['background_welfare'])}</td><td>{_cell(s['background_welfare_change'])}</td>"
            f"<td>{_cell(s['exploitation'])}</td><td class=\"text\"><code>{_cell(s['scenario_hash'][:12])}</code></td>"
            f"<td class=\"text\"><code>{_cell(s['episode_returns_hash'][:12])}</code></td>"
            f"<td class=\"text\">{_cell(s['status'])}</td></tr>")
    lines.append("</table>")
    failed = [s for s in bundle["scenarios"] if s.get("error")]
    if failed:
        lines.append("<h2>Scenarios not scored</h2><ul>")
        lines.extend(f"<li><code>{_cell(s['scenario'])}</code>: {_cell(s['error'])}</li>" for s in failed)
        lines.append("</ul>")
    lines.append("</body></html>")
    return "\n".join(lines) + "\n"
