"""Round-robin tournaments of scripted and Axelrod strategies in ``repeated-game-v0``.

Axelrod's (1980) round robin, played in our world: every pair of distinct entrants meets
for ``turns`` rounds, ``repetitions`` times. Scores follow ``axelrod.Tournament`` /
``ResultSet`` (Knight et al. 2016): a player's ``total`` per repetition is the sum of its
match scores against every *other* entrant (axelrod also plays self-interactions but leaves
them out of ``scores``), and ``per_turn`` is the mean over opponents of its score per turn
(axelrod's ``normalised_scores``); both are averaged over repetitions here. With the same
strategies, turns and payoffs, deterministic strategies score exactly as in axelrod.

Entrants are names: plain names are :mod:`dilemmazoo.agents.matrix_strategies`
(``tit_for_tat``), ``axelrod:Name`` are Axelrod strategies (``axelrod:TitForTat``). The same
name may appear twice (two copies). Seeds: match ``k`` of repetition ``r`` resets the world
with ``seed + k + r * n_matches`` and seeds both agents from it, so results repeat exactly.

``dilemmazoo tournament`` prints the ranking (:func:`ranking`): rank, strategy, mean score per
turn with its 95% Student t-interval over the entrant's matches (every opponent in every
repetition), and wins; and writes it as CSV (``--csv FILE``, else ``--out DIR``, default
``runs/tournaments``, as ``<preset or "tournament">_<game>_t<turns>_r<repetitions>_s<seed>.csv``).
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

import numpy as np
import pandas as pd

from dilemmazoo.agents.axelrod_adapter import AxelrodAgent
from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.matrix_strategies import make_matrix_strategy
from dilemmazoo.envs.repeated_game import RepeatedGameEnv

__all__ = ["load_tournament", "main_tournament", "make_entrant", "play_match", "ranking", "round_robin",
           "tournament_presets"]

AXELROD_PREFIX = "axelrod:"


def make_entrant(name: str, *, payoffs: Any, turns: int, noise: float):
    """The agent for an entrant name (``axelrod:Name`` or a matrix strategy name)."""
    if name.startswith(AXELROD_PREFIX):
        return AxelrodAgent(name[len(AXELROD_PREFIX) :], payoffs=payoffs, match_length=turns, noise=noise)
    return make_matrix_strategy(name, payoffs=payoffs)


def play_match(env: RepeatedGameEnv, agents: list[Any], seed: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Play one game of ``env`` between ``agents`` (seats player_0, player_1).

    Returns the total payoffs of the two seats and the played actions per round.
    """
    rng = np.random.default_rng(seed)
    observations, _ = env.reset(seed=seed)
    for seat, agent in zip(env.possible_agents, agents):
        agent.reset(seat, env.rules(seat), np.random.default_rng(rng.integers(2**63 - 1)))
    totals = np.zeros(2)
    played: list[tuple[int, int]] = []
    step = 0
    while env.agents:
        actions = {}
        for seat, agent in zip(env.possible_agents, agents):
            request = Decision(
                agent_id=seat,
                observation=observations[seat],
                text=env.describe(seat),
                spec=env.action_spec(seat),
                rules="",
                step=step,
                episode=0,
            )
            actions[seat] = agent.act(request).value
        observations, rewards, _, _, infos = env.step(actions)
        totals += [rewards["player_0"], rewards["player_1"]]
        if infos["player_0"]["phase"] == "act":
            played.append((infos["player_0"]["played"], infos["player_1"]["played"]))
        step += 1
    return totals, played


def round_robin(
    strategies: list[str],
    *,
    turns: int,
    game: str = "prisoners_dilemma",
    repetitions: int = 1,
    seed: int = 0,
    noise: float = 0.0,
) -> pd.DataFrame:
    """Scores of a round robin among ``strategies`` (one row per entrant, in order).

    Columns: ``strategy``, ``total`` (sum over opponents of match scores, mean over
    repetitions; axelrod's ``scores``), ``per_turn`` (mean over opponents of score per turn,
    mean over repetitions; axelrod's ``normalised_scores``), ``wins`` (matches won, mean over
    repetitions).
    """
    return _play_round_robin(strategies, turns=turns, game=game, repetitions=repetitions, seed=seed,
                             noise=noise)[0]


def _play_round_robin(
    strategies: list[str], *, turns: int, game: str, repetitions: int, seed: int, noise: float
) -> tuple[pd.DataFrame, list[list[float]]]:
    """:func:`round_robin`'s table, and each entrant's score per turn in every one of its matches."""
    if len(strategies) < 2:
        raise ValueError("a round robin needs at least two strategies")
    if isinstance(repetitions, bool) or not isinstance(repetitions, int) or repetitions < 1:
        raise ValueError(f"repetitions must be a positive integer, got {repetitions!r}")
    env = RepeatedGameEnv(game=game, n_rounds=turns, noise=noise)
    n = len(strategies)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    totals = np.zeros((repetitions, n))
    per_turn = np.zeros((repetitions, n))
    wins = np.zeros((repetitions, n))
    match_per_turn: list[list[float]] = [[] for _ in range(n)]
    for r in range(repetitions):
        for k, (i, j) in enumerate(pairs):
            agents = [make_entrant(strategies[x], payoffs=env.payoffs, turns=turns, noise=noise) for x in (i, j)]
            scores, _ = play_match(env, agents, seed + k + r * len(pairs))
            for x, s in zip((i, j), scores):
                totals[r, x] += s
                per_turn[r, x] += s / turns / (n - 1)
                match_per_turn[x].append(float(s / turns))
            if scores[0] != scores[1]:
                wins[r, (i, j)[int(np.argmax(scores))]] += 1
    return pd.DataFrame(
        {
            "strategy": list(strategies),
            "total": totals.mean(axis=0),
            "per_turn": per_turn.mean(axis=0),
            "wins": wins.mean(axis=0),
        }
    ), match_per_turn


def ranking(
    strategies: list[str],
    *,
    turns: int,
    game: str = "prisoners_dilemma",
    repetitions: int = 1,
    seed: int = 0,
    noise: float = 0.0,
) -> pd.DataFrame:
    """The ranked table of a :func:`round_robin` (same arguments): ``rank`` (1 = best; ties share
    the better rank), ``strategy``, ``mean_per_turn`` (mean score per turn over the entrant's
    matches, every opponent in every repetition: ``per_turn`` of :func:`round_robin`),
    ``ci95_low``/``ci95_high`` (the Student t-interval of that mean over those matches; NaN with
    a single match), ``total`` and ``wins``; best first."""
    from dilemmazoo.analysis.cell_plots import mean_interval

    scores, match_per_turn = _play_round_robin(strategies, turns=turns, game=game, repetitions=repetitions,
                                               seed=seed, noise=noise)
    rows = []
    for row, matches in zip(scores.itertuples(index=False), match_per_turn):
        mean, low, high = mean_interval(matches)
        rows.append({"strategy": row.strategy, "mean_per_turn": mean, "ci95_low": low, "ci95_high": high,
                     "total": float(row.total), "wins": float(row.wins)})
    table = pd.DataFrame(rows).sort_values("mean_per_turn", ascending=False, kind="stable")
    table.insert(0, "rank", table["mean_per_turn"].rank(method="min", ascending=False).astype(int))
    return table.reset_index(drop=True)


DEFAULTS = {"turns": 200, "game": "prisoners_dilemma", "repetitions": 1, "seed": 0, "noise": 0.0}
_SETTINGS = {"description", "strategies", *DEFAULTS}


def tournament_presets() -> dict[str, Path]:
    """Tournament preset name -> YAML path (``experiments/configs/tournaments``)."""
    folder = resources.files("dilemmazoo.experiments") / "configs" / "tournaments"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def load_tournament(name_or_path: str) -> dict[str, Any]:
    """A tournament preset's settings; unknown keys are an error naming them."""
    path = Path(name_or_path)
    if not path.exists():
        presets = tournament_presets()
        if name_or_path not in presets:
            raise FileNotFoundError(f"no tournament preset or file {name_or_path!r}; presets: {', '.join(sorted(presets))}")
        path = presets[name_or_path]
    data = yaml.safe_load(path.read_text()) or {}
    unknown = set(data) - _SETTINGS
    if unknown:
        raise ValueError(f"{path}: unknown tournament settings {sorted(unknown)}; allowed: {sorted(_SETTINGS)}")
    return data


def _print_ranking(table: pd.DataFrame, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = Table(title=title, title_justify="left")
    for name, justify in (("rank", "right"), ("strategy", "left"), ("mean score per turn [95% interval]", "right"),
                          ("total", "right"), ("wins", "right")):
        shown.add_column(name, justify=justify)
    for row in table.itertuples(index=False):
        interval = "" if np.isnan(row.ci95_low) else f" [{row.ci95_low:.3f}, {row.ci95_high:.3f}]"
        wins = f"{row.wins:g}"
        shown.add_row(str(row.rank), row.strategy, f"{row.mean_per_turn:.3f}{interval}", f"{row.total:g}", wins)
    Console(width=max(100, len(title) + 10)).print(shown)


def main_tournament(argv: list[str] | None = None) -> int:
    """``dilemmazoo tournament STRATEGY... --turns 200``: print the ranking and write it as CSV."""
    parser = argparse.ArgumentParser(
        prog="dilemmazoo tournament",
        description="Round robin of matrix-game strategies in the repeated game: every pair meets for TURNS "
                    "rounds, REPETITIONS times. Prints the ranking (rank, strategy, mean score per turn with a 95%% "
                    "interval over the matches, total, wins) and writes it as CSV.",
    )
    parser.add_argument("strategies", nargs="*", help="matrix strategy names or axelrod:Name")
    parser.add_argument("--preset", help="a tournament preset name (see 'dilemmazoo list tournaments') or YAML file")
    parser.add_argument("--turns", type=int, help="turns per match (default 200)")
    parser.add_argument("--game", help="named game or ordinal:N (default prisoners_dilemma)")
    parser.add_argument("--repetitions", type=int, help="default 1")
    parser.add_argument("--seed", type=int, help="default 0")
    parser.add_argument("--noise", type=float, help="trembling-hand probability (default 0)")
    parser.add_argument("--out", default="runs/tournaments",
                        help="folder of the CSV ranking (default: runs/tournaments)")
    parser.add_argument("--csv", help="write the CSV ranking to this file instead")
    args = parser.parse_args(argv)
    try:
        settings = {**DEFAULTS, **(load_tournament(args.preset) if args.preset else {})}
        for key in ("turns", "game", "repetitions", "seed", "noise"):
            if getattr(args, key) is not None:
                settings[key] = getattr(args, key)
        if args.strategies:
            settings["strategies"] = args.strategies
        if not settings.get("strategies"):
            raise ValueError("name the strategies, or a --preset that lists them")
        table = ranking(
            list(settings["strategies"]),
            turns=int(settings["turns"]),
            game=str(settings["game"]),
            repetitions=int(settings["repetitions"]),
            seed=int(settings["seed"]),
            noise=float(settings["noise"]),
        )
    except (ValueError, ImportError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")
    label = Path(args.preset).stem if args.preset else "tournament"
    name = f"{label}_{settings['game']}_t{settings['turns']}_r{settings['repetitions']}_s{settings['seed']}"
    if float(settings["noise"]):
        name += f"_noise{settings['noise']}"
    path = Path(args.csv) if args.csv else Path(args.out) / f"{name.replace(':', '-')}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    _print_ranking(table, f"{label}: {settings['game']}, {settings['turns']} turns x {settings['repetitions']} "
                          f"repetition(s), seed {settings['seed']}")
    print(f"ranking: {path}")
    return 0
