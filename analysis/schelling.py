"""Schelling diagrams and the social-dilemma conditions read off them.

The numbers come from :func:`dilemmazoo.experiments.schelling.schelling_payoffs` (which runs
the world); this module only reads its frame: columns ``others_cooperating``, ``role``
("cooperator" | "defector") and ``payoff``; ``cooperators``, ``group_payoff`` and ``n`` where
present.

The diagram (Schelling, J. Conflict Resolution 1973; as drawn by Hughes et al., "Inequity
aversion improves cooperation in intertemporal social dilemmas", NeurIPS 2018, and Leibo et
al.'s sequential social dilemmas): for ``n`` players, the payoff ``C(l)`` of a cooperator and
``D(l)`` of a defector when ``l = 0 .. n-1`` *other* players cooperate.

Dilemma conditions
------------------
Macy & Flache ("Learning dynamics in social dilemmas", PNAS 2002) call a two-player game with
payoffs R (mutual cooperation), P (mutual defection), S (sucker) and T (temptation) a social
dilemma when

1. ``R > P``: mutual cooperation is preferred to mutual defection;
2. ``R > S``: mutual cooperation is preferred to being exploited by a defector;
3. ``2R > T + S``: mutual cooperation is preferred to an equal chance of exploiting and being
   exploited;
4. greed ``T > R`` (exploiting a cooperator is preferred to mutual cooperation) or fear
   ``P > S`` (mutual defection is preferred to being exploited), or both.

Hughes et al. 2018 (section 2) carry these to ``n`` players through the Schelling curves. In
the curves' terms (the two-player game is the case ``n = 2``):

- ``R = C(n-1)`` (all cooperate), ``P = D(0)`` (all defect), ``S = C(0)`` (a lone cooperator),
  ``T = D(n-1)`` (a lone defector);
- conditions 1-3 read these four end points: ``C(n-1) > D(0)``, ``C(n-1) > C(0)``,
  ``2 C(n-1) > D(n-1) + C(0)``;
- fear: ``D(l) > C(l)`` for sufficiently small ``l``, read here at ``l = 0`` (``P > S``);
- greed: ``D(l) > C(l)`` for sufficiently large ``l``, read here at ``l = n-1`` (``T > R``).

Hughes et al.'s ``n``-player definition asks for 1, 2 and fear or greed; it drops 3, which
compares a lone defector's gain with a lone cooperator's loss and says little once ``n > 2``
(in a commons one defector among many cooperators can gain far more than ``2R - S``). So
:func:`dilemma_conditions` reports all five inequalities and two verdicts, ``macy_flache``
(1-3 and fear or greed) and ``hughes`` (1, 2 and fear or greed); ``social_dilemma`` is the
former for two players and the latter for more.

:func:`dilemma_conditions` also lists every ``l`` where defecting pays (``D(l) > C(l)``).
Comparisons are strict, with a tolerance ``tol`` (relative to the payoffs' scale) so that
equal payoffs measured with float rounding are not read as an inequality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .metrics import require_columns
from .plots import _finish, _new_figure, integer_axis

__all__ = ["dilemma_conditions", "plot_schelling", "schelling_curves"]

ROLES = ("cooperator", "defector")


def schelling_curves(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(C, D)``: the cooperator and defector payoffs indexed by ``l = 0 .. n-1`` other cooperators.

    Raises ``ValueError`` when the frame lacks a column, holds another role, or a curve does
    not have exactly one payoff for each ``l = 0 .. n-1``.
    """
    require_columns(frame, ("others_cooperating", "role", "payoff"), "Schelling")
    if frame.empty:
        raise ValueError("frame: no Schelling payoffs (empty frame)")
    unknown = sorted(set(frame["role"]) - set(ROLES))
    if unknown:
        raise ValueError(f"frame: role must be 'cooperator' or 'defector', found {unknown}")
    counts = {role: int((frame["role"] == role).sum()) for role in ROLES}
    n = int(frame["n"].iloc[0]) if "n" in frame.columns else max(counts.values())
    curves = []
    for role in ROLES:
        rows = frame[frame["role"] == role]
        others = sorted(int(x) for x in rows["others_cooperating"])
        if others != list(range(n)):
            raise ValueError(f"frame: the {role} curve needs one payoff for each of 0..{n - 1} other cooperators, "
                             f"found {others}")
        curves.append(rows.sort_values("others_cooperating")["payoff"].to_numpy(dtype=float))
    return curves[0], curves[1]


def _title(frame: pd.DataFrame) -> str:
    setup = frame.attrs.get("setup")
    world = frame.attrs.get("world") or (frame["world"].iloc[0] if "world" in frame.columns else "")
    name = setup or world or "world"
    n = len(schelling_curves(frame)[0])
    return f"Schelling diagram: {name} (n = {n})"


def plot_schelling(frame: pd.DataFrame, *, title: str | None = None, group_mean: bool = True,
                   path: str | Path | None = None) -> Figure:
    """The Schelling diagram: cooperator and defector payoff against the number of other cooperators.

    With ``group_mean`` (and a ``group_payoff`` column) a dashed line shows the mean payoff of the
    whole group against the number of cooperators in it (``0 .. n``; at ``x = n - 1`` a cooperator's
    view and a defector's differ, so the line is drawn over all cooperators, not others).
    ``path`` also saves the figure as PNG.
    """
    cooperator, defector = schelling_curves(frame)
    n = len(cooperator)
    others = np.arange(n)
    figure = _new_figure(7.0, 4.5)
    axes = figure.add_subplot()
    label_c = "cooperator" + (f": {frame['cooperate'].iloc[0]}" if "cooperate" in frame.columns else "")
    label_d = "defector" + (f": {frame['defect'].iloc[0]}" if "defect" in frame.columns else "")
    axes.plot(others, cooperator, marker="o", color="tab:blue", label=label_c)
    axes.plot(others, defector, marker="s", color="tab:red", label=label_d)
    if group_mean and {"group_payoff", "cooperators"} <= set(frame.columns):
        group = frame.drop_duplicates("cooperators").sort_values("cooperators")
        axes.plot(group["cooperators"], group["group_payoff"], linestyle="--", color="0.4",
                  label="group mean (x = cooperators in the group)")
    integer_axis(axes, "number of other cooperators")
    axes.set_ylabel("payoff per agent per episode")
    axes.set_title(title or _title(frame))
    axes.legend(fontsize="small")
    return _finish(figure, path)


def _greater(left: float, right: float, tol: float) -> bool:
    return bool(left - right > tol * max(1.0, abs(left), abs(right)))


def dilemma_conditions(frame: pd.DataFrame, *, tol: float = 1e-9) -> dict[str, Any]:
    """Which social-dilemma inequalities (Macy & Flache 2002; Hughes et al. 2018) the diagram meets.

    Returns ``{"n", "R", "P", "S", "T", "conditions", "fear", "greed", "defection_pays_at",
    "macy_flache", "hughes", "social_dilemma"}``: ``conditions`` is a list of ``{"name",
    "curves", "meaning", "left", "right", "holds"}`` for ``R > P``, ``R > S``, ``2R > T + S``, greed ``T > R`` and fear
    ``P > S`` (the module docstring gives the curve form of each); ``defection_pays_at`` the
    numbers of other cooperators ``l`` with ``D(l) > C(l)``; ``macy_flache``: the first three
    hold and greed or fear (or both) does; ``hughes``: ``R > P``, ``R > S`` and greed or fear;
    ``social_dilemma``: ``macy_flache`` for two players, ``hughes`` for more.
    """
    cooperator, defector = schelling_curves(frame)
    n = len(cooperator)
    R, S = float(cooperator[-1]), float(cooperator[0])
    T, P = float(defector[-1]), float(defector[0])
    last = n - 1
    table = [
        ("R > P", f"C({last}) > D(0)", "mutual cooperation is preferred to mutual defection", R, P),
        ("R > S", f"C({last}) > C(0)", "mutual cooperation is preferred to being exploited by defectors", R, S),
        ("2R > T + S", f"2 C({last}) > D({last}) + C(0)",
         "mutual cooperation is preferred to an equal chance of exploiting and being exploited", 2 * R, T + S),
        ("greed: T > R", f"D({last}) > C({last})", "exploiting cooperators is preferred to mutual cooperation", T, R),
        ("fear: P > S", "D(0) > C(0)", "mutual defection is preferred to being exploited", P, S),
    ]
    conditions = [
        {"name": name, "curves": curves, "meaning": meaning, "left": left, "right": right,
         "holds": _greater(left, right, tol)}
        for name, curves, meaning, left, right in table
    ]
    holds = [c["holds"] for c in conditions]
    greed_or_fear = holds[3] or holds[4]
    macy_flache = bool(all(holds[:3]) and greed_or_fear)
    hughes = bool(holds[0] and holds[1] and greed_or_fear)
    return {
        "n": n, "R": R, "P": P, "S": S, "T": T,
        "conditions": conditions,
        "greed": holds[3],
        "fear": holds[4],
        "defection_pays_at": [others for others in range(n)
                              if _greater(float(defector[others]), float(cooperator[others]), tol)],
        "macy_flache": macy_flache,
        "hughes": hughes,
        "social_dilemma": macy_flache if n == 2 else hughes,
    }
