"""Report parts of the repeated matrix games (``dilemmazoo/repeated-game-v0``).

- cooperation by round: the share of real choices (fallbacks left out) that are action 0, the
  first-named move ("Cooperate" in the dilemmas; Akata et al. 2023, Fig. 2 style);
- the outcome matrix per pair of players: how often each played profile occurred;
- the mean payoff per round of each player against the stage game's one-shot Nash payoffs
  and its Pareto frontier.

The stage game comes from the run's ``world.kwargs`` through the world itself
(:class:`dilemmazoo.envs.repeated_game.RepeatedGameEnv`), so named games, ``ordinal:N`` and
explicit payoff arrays all work. Nash payoffs: every pure equilibrium
(:func:`~dilemmazoo.envs.repeated_game.stage_nash_equilibria`) and, in 2 x 2 games, the
completely mixed equilibrium where it exists: the column player's mix ``q`` on action 0 makes
the row player indifferent, ``q = (a11 - a01) / (a00 - a01 - a10 + a11)``, and the row mix
``p = (b11 - b10) / (b00 - b10 - b01 + b11)`` does the same for the column player (e.g.
Osborne 2004, *An Introduction to Game Theory*, §4.3). The Pareto frontier is that of the
feasible set of the repeated game, the convex hull of the stage outcomes (Fudenberg & Maskin
1986): its upper-right boundary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dilemmazoo.envs.repeated_game import RepeatedGameEnv, stage_nash_equilibria

from .plots import _new_figure, note_figure, plot_share_by_round

__all__ = [
    "StageGame",
    "cooperation_by_round",
    "mean_payoffs_by_pair",
    "nash_payoffs",
    "outcome_counts",
    "pareto_frontier",
    "repeated_game_figures",
    "repeated_game_tables",
    "short_policy",
    "stage_game",
]

_SEATS = ("player_0", "player_1")


@dataclass(frozen=True)
class StageGame:
    """The stage game of a run: ``payoffs[i, j, k]`` to player k when player_0 plays i and player_1 j."""

    payoffs: np.ndarray
    labels: tuple[str, ...]


def stage_game(world_kwargs: Mapping[str, Any] | None) -> StageGame:
    """The stage game a run's ``world.kwargs`` define (the world's own defaults apply)."""
    kwargs = {key: value for key, value in (world_kwargs or {}).items() if key in ("game", "payoffs", "labels")}
    world = RepeatedGameEnv(**kwargs)
    return StageGame(payoffs=np.array(world.payoffs), labels=tuple(world.labels))


def nash_payoffs(payoffs: np.ndarray, labels: Sequence[str] | None = None) -> list[tuple[str, float, float]]:
    """``(description, payoff to player_0, payoff to player_1)`` of the stage game's Nash equilibria:
    every pure one (described by the action labels, else indices), and the completely mixed one
    of a 2 x 2 game where it exists (p, q: the probabilities of action 0)."""
    p = np.asarray(payoffs, dtype=float)
    name = (lambda i: labels[i]) if labels is not None else str
    found = [(f"{name(i)}/{name(j)}", float(p[i, j, 0]), float(p[i, j, 1])) for i, j in stage_nash_equilibria(p)]
    if p.shape[0] == 2:
        a, b = p[:, :, 0], p[:, :, 1]
        q_den = a[0, 0] - a[0, 1] - a[1, 0] + a[1, 1]
        p_den = b[0, 0] - b[1, 0] - b[0, 1] + b[1, 1]
        if q_den != 0 and p_den != 0:
            q = (a[1, 1] - a[0, 1]) / q_den
            row_mix = (b[1, 1] - b[1, 0]) / p_den
            if 0 < q < 1 and 0 < row_mix < 1:
                row = q * a[0, 0] + (1 - q) * a[0, 1]
                column = row_mix * b[0, 0] + (1 - row_mix) * b[1, 0]
                found.append((f"mixed (p={row_mix:.3g}, q={q:.3g})", float(row), float(column)))
    return found


def pareto_frontier(payoffs: np.ndarray) -> np.ndarray:
    """Vertices ``(k, 2)`` of the Pareto frontier of the convex hull of the stage outcomes,
    from the best for player_1 to the best for player_0 (x ascending)."""
    points = np.asarray(payoffs, dtype=float).reshape(-1, 2)
    points = np.unique(points, axis=0)
    efficient = np.array([
        point for point in points
        if not any((other >= point).all() and (other > point).any() for other in points)
    ])
    efficient = efficient[np.argsort(efficient[:, 0])]
    hull: list[np.ndarray] = []  # the concave (upper) chain: drop points under a chord
    for point in efficient:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(point)
    return np.array(hull)


def _act_rows(steps: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("episode", "round", "agent", "phase", "decided", "fallback_used", "intended", "played", "reward")
               if c not in steps]
    if missing:
        raise ValueError(f"steps lack the repeated-game columns {missing}")
    return steps[(steps["phase"] == "act") & steps["decided"].fillna(False).astype(bool)]


def _fell_back(rows: pd.DataFrame) -> pd.Series:
    return rows["fallback_used"].fillna(False).astype(bool)


def cooperation_by_round(steps: pd.DataFrame) -> pd.Series:
    """Per round, the share of real choices (fallbacks left out) that are action 0; NaN for a
    round where every choice fell back."""
    rows = _act_rows(steps)
    real = rows[~_fell_back(rows)]
    share = (real["intended"] == 0).groupby(real["round"]).mean()
    return share.reindex(sorted(rows["round"].unique())).astype(float).rename("cooperation")


_MAX_POLICY_CHARS = 40


def short_policy(policy: str) -> str:
    """A policy name for legends and tables: a path inside it (``llm:scripted:/long/path/answers.txt``)
    by its file name, and at most 40 characters."""
    parts = [part.rsplit("/", 1)[-1] if "/" in part else part for part in str(policy).split(":")]
    text = ":".join(parts)
    return text if len(text) <= _MAX_POLICY_CHARS else text[: _MAX_POLICY_CHARS - 1] + "…"


def _pair_of(episode_rows: pd.DataFrame) -> str:
    by_seat = episode_rows.groupby("agent")["policy"].first() if "policy" in episode_rows else pd.Series(dtype=str)
    return " vs ".join(short_policy(by_seat.get(seat, seat)) for seat in _SEATS)


def _profiles(steps: pd.DataFrame) -> pd.DataFrame:
    """One row per episode and round: pair, both played actions and rewards, whether a seat fell back."""
    rows = _act_rows(steps)
    pairs = {episode: _pair_of(group) for episode, group in rows.groupby("episode")}
    wide = rows.pivot_table(index=["episode", "round"], columns="agent",
                            values=["played", "reward", "fallback_used"], aggfunc="first")
    frame = pd.DataFrame({
        "episode": wide.index.get_level_values("episode"),
        "round": wide.index.get_level_values("round"),
        "row": wide[("played", _SEATS[0])].to_numpy(), "column": wide[("played", _SEATS[1])].to_numpy(),
        "reward_0": wide[("reward", _SEATS[0])].to_numpy(dtype=float),
        "reward_1": wide[("reward", _SEATS[1])].to_numpy(dtype=float),
        "fallback": (wide[("fallback_used", _SEATS[0])].astype(bool) | wide[("fallback_used", _SEATS[1])].astype(bool)).to_numpy(),
    })
    frame["pair"] = frame["episode"].map(pairs)
    return frame


def outcome_counts(steps: pd.DataFrame, n_actions: int) -> dict[str, tuple[np.ndarray, int]]:
    """Per pair of players (``"<player_0 policy> vs <player_1 policy>"``): the ``(n, n)`` counts
    of played profiles (row: player_0's action) over rounds where neither seat fell back, and
    the number of rounds left out because one did."""
    profiles = _profiles(steps)
    found = {}
    for pair, rows in profiles.groupby("pair", sort=True):
        real = rows[~rows["fallback"]]
        counts = np.zeros((n_actions, n_actions), dtype=int)
        np.add.at(counts, (real["row"].astype(int).to_numpy(), real["column"].astype(int).to_numpy()), 1)
        found[str(pair)] = (counts, int(rows["fallback"].sum()))
    return found


def mean_payoffs_by_pair(steps: pd.DataFrame) -> pd.DataFrame:
    """Per pair: rounds, rounds with a fallback, and the mean payoff per round of each seat
    (every round: a fallback move was still played and paid)."""
    profiles = _profiles(steps)
    table = profiles.groupby("pair", sort=True).agg(
        rounds=("round", "size"), rounds_with_fallback=("fallback", "sum"),
        payoff_0=("reward_0", "mean"), payoff_1=("reward_1", "mean"),
    )
    return table.reset_index()


def _pooled(steps_by_run: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    frames = [frame.assign(episode=frame["episode"].astype(str) + f"@{label}") for label, frame in steps_by_run.items()
              if not frame.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _plot_cooperation(steps_by_run: Mapping[str, pd.DataFrame]) -> Figure:
    title = "Cooperation by round (action 0, real choices only)"
    series = {label: cooperation_by_round(frame) for label, frame in steps_by_run.items() if not frame.empty}
    series = {label: s for label, s in series.items() if s.notna().any()}
    if not series:
        return note_figure(title, "no real choice was recorded (every decision fell back)")
    return plot_share_by_round(series, title, "share choosing action 0")


def _plot_payoffs(steps: pd.DataFrame, game: StageGame) -> Figure:
    title = "Mean payoff per round against the stage game"
    points = game.payoffs.reshape(-1, 2)
    figure = _new_figure(6.5, 5.0)
    axes = figure.add_subplot()
    frontier = pareto_frontier(game.payoffs)
    axes.plot(frontier[:, 0], frontier[:, 1], color="0.3", linewidth=1.4, label="Pareto frontier")
    axes.scatter(points[:, 0], points[:, 1], color="0.55", s=25, zorder=3, label="stage outcomes")
    n = game.payoffs.shape[0]
    names: dict[tuple[float, float], list[str]] = {}  # profiles with equal payoffs share one label
    for i in range(n):
        for j in range(n):
            names.setdefault(tuple(game.payoffs[i, j]), []).append(f"{game.labels[i]}/{game.labels[j]}")
    for point, profiles in names.items():
        axes.annotate(", ".join(profiles), point, textcoords="offset points", xytext=(4, 4), fontsize="x-small", color="0.35")
    for index, (name, row, column) in enumerate(nash_payoffs(game.payoffs)):
        axes.scatter([row], [column], marker="*", s=160, color="firebrick", zorder=4,
                     label="one-shot Nash" if index == 0 else None)
    table = mean_payoffs_by_pair(steps)
    for index, row in enumerate(table.to_dict("records")):
        axes.scatter([row["payoff_0"]], [row["payoff_1"]], marker="o", s=70, color=f"C{index % 10}", edgecolor="black",
                     zorder=5, label=row["pair"])
    axes.set_xlabel("player_0 payoff per round")
    axes.set_ylabel("player_1 payoff per round")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.legend(fontsize="x-small", loc="outside lower center", ncols=2)
    return figure


def repeated_game_figures(steps_by_run: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any] | None = None
                          ) -> list[tuple[str, Figure]]:
    """Cooperation by round and the payoff plot, as (title, figure) pairs."""
    figures = [("Cooperation by round", _plot_cooperation(steps_by_run))]
    pooled = _pooled(steps_by_run)
    if pooled.empty:
        figures.append(("Payoffs against Nash and the Pareto frontier", note_figure("Payoffs", "no step records")))
    else:
        figures.append(("Payoffs against Nash and the Pareto frontier", _plot_payoffs(pooled, stage_game(world_kwargs))))
    return figures


def _share(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.0f}%)" if total else str(count)


def repeated_game_tables(steps_by_run: Mapping[str, pd.DataFrame], world_kwargs: Mapping[str, Any] | None = None
                         ) -> list[dict[str, Any]]:
    """Report tables: the payoffs per pair against Nash and the best total, then one outcome
    matrix per pair. Each table is ``{"title", "note", "columns", "rows"}``."""
    pooled = _pooled(steps_by_run)
    if pooled.empty:
        return []
    game = stage_game(world_kwargs)
    nash = nash_payoffs(game.payoffs, game.labels)
    nash_text = "; ".join(f"{name}: {row:g}, {column:g}" for name, row, column in nash) or "none"
    best_total = float(game.payoffs.sum(axis=2).max())
    payoffs = mean_payoffs_by_pair(pooled)
    tables = [{
        "title": "Mean payoff per round against the one-shot Nash payoffs",
        "note": (f"Stage-game Nash payoffs (player_0, player_1): {nash_text}. Best total of one round (the utilitarian "
                 f"point of the Pareto frontier): {best_total:g}. Payoffs count every round; rounds with a fallback "
                 "are counted beside them."),
        "columns": ["pair (player_0 vs player_1)", "rounds", "rounds with a fallback", "player_0", "player_1", "total",
                    "gap to the best total"],
        "rows": [[row["pair"], int(row["rounds"]), int(row["rounds_with_fallback"]), row["payoff_0"], row["payoff_1"],
                  row["payoff_0"] + row["payoff_1"], best_total - row["payoff_0"] - row["payoff_1"]]
                 for row in payoffs.to_dict("records")],
    }]
    for pair, (counts, left_out) in outcome_counts(pooled, game.payoffs.shape[0]).items():
        total = int(counts.sum())
        tables.append({
            "title": f"Outcome matrix: {pair}",
            "note": (f"Played profiles over {total} rounds without a fallback (row: player_0, column: player_1); "
                     f"{left_out} round(s) with a fallback left out."),
            "columns": ["player_0 \\ player_1", *game.labels],
            "rows": [[game.labels[i], *(_share(int(counts[i, j]), total) for j in range(len(game.labels)))]
                     for i in range(len(game.labels))],
        })
    return tables


