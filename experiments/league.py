"""Leagues: agents of any kind play each other across worlds; ratings with uncertainty.

``dilemmazoo league SPEC SPEC ... [--worlds pd_noise stag_hunt donor_game] [--seeds N] [--out DIR]``

A league is a sequence of *rounds*; a round is a round robin of the entrants in one world under
one seed: every pair of entrants that has a strategy in that world meets once (Axelrod's 1980
round robin, as :mod:`.tournament` plays it). Rounds run seed by seed, world by world, pairs in
entrant order, so the match order is fixed and the league repeats exactly. Ratings:
:mod:`dilemmazoo.analysis.league` ranks the entrants in each round by their round-robin total
and fits OpenSkill ratings (mu, sigma and the conservative ordinal mu - 3 sigma; why OpenSkill
and why totals rather than head-to-head wins: see that module).

Agent specs
-----------
- a scripted strategy: ``tit_for_tat`` or ``scripted:tit_for_tat`` (any name
  :func:`dilemmazoo.agents.scripted.make_scripted` knows), ``axelrod:Grudger``;
- a language model: ``llm:BACKEND`` with any backend spec (``llm:embedded``, ``llm:openai:MODEL``,
  ``llm:litellm:MODEL``, ``llm:scripted:FILE`` for a replayed script), default options;
- a YAML or JSON file holding one agents group as a config takes it (``{kind: llm, backend:
  embedded, temperature: 0.2}``), any kind the configs accept.
The same spec given twice enters twice (named ``spec#2``).

What a spec means in each world
-------------------------------
A language agent plays every world as it is (the world tells it the rules). A scripted
strategy is a rule for one kind of world, so each league world says what it becomes there, or
that it has no meaning there; an entrant without one sits that world out (said in the notes):

Worlds (:data:`LEAGUE_WORLDS`; ``--set WORLD.KEY=VALUE`` changes any keyword argument): ``pd``,
the prisoner's dilemma R3 S0 T5 P1 for 10 rounds without noise; ``pd_noise``, the same for 20
rounds with a 5% trembling hand; ``stag_hunt`` (SS 4, SH 1, HS 3, HH 2), 20 rounds;
``donor_game``, 4 players, 4 rounds, endowment 10, multiplier 2 (the world splits the seats
into donor halves at random from the match seed).

- ``pd`` / ``pd_noise`` / ``stag_hunt`` (``dilemmazoo/repeated-game-v0``, two seats): matrix
  strategies (:mod:`dilemmazoo.agents.matrix_strategies`) are told the world's game;
  ``axelrod:Name`` gets the payoffs, match length and noise as ``tournament.make_entrant`` gives
  them. Action 0 (cooperate; Stag in the stag hunt) is the cooperative move.
- ``donor_game`` (``dilemmazoo/donor-game-v0``, a mixed group: each entrant takes half the
  seats): the Donor Game strategies (``fixed_fraction``, ``reciprocator``, ``defector``) play as
  they are; ``always_cooperate`` becomes ``fixed_fraction`` with fraction 1 (always give
  everything: the all-donate society whose maximum Vallinder & Hughes 2024 state),
  ``always_defect`` becomes ``defector``, ``tit_for_tat`` becomes ``reciprocator`` with
  initial 1 and generosity 1 (give everything to a newcomer, then return the recipient's own
  last donation fraction). Other matrix and Axelrod strategies have no Donor Game meaning.

A match score is an entrant's mean return per seat in the match (in the repeated games its
total payoff over the rounds; in the Donor Game its change in resources). In two-seat worlds the
entrants swap seats on odd rounds. Match ``k`` of round ``r`` plays with seed ``seed + k + r *
n_pairs``, as the tournament seeds its matches.

Outputs (``--out``, default ``runs/league``): ``leaderboard.csv``, ``matches.csv``,
``rounds.csv``, ``league.json`` (settings, ratings, notes) and ``leaderboard.html`` (a
self-contained page); the leaderboard is printed as a table. Language agents' calls are cached in
``OUT/.llm_cache`` (or ``$DILEMMAZOO_CACHE``), so a rerun is free and exact.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from dilemmazoo.analysis.league import fit_ratings, leaderboard, leaderboard_page, round_scores
from dilemmazoo.experiments.config import AgentsConfig, ConfigError, ExperimentConfig

__all__ = ["DEFAULT_WORLDS", "LEAGUE_WORLDS", "Entrant", "Leaderboard", "LeagueWorld", "league", "main_league",
           "parse_spec"]


# -- entrants -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entrant:
    """One league entrant: its name on the leaderboard, the spec it came from and its agents group
    (an :class:`~dilemmazoo.experiments.config.AgentsConfig` as a dict, without seats or label)."""

    name: str
    spec: str
    group: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.group.get("kind", "llm"))


def parse_spec(spec: str) -> dict[str, Any]:
    """The agents group (a dict an AgentsConfig accepts) an agent spec stands for (module docstring)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"an agent spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise ValueError(f"agent spec {spec!r} names a file that does not exist")
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{spec}: must hold one agents group as a mapping, like {{kind: llm, backend: embedded}}")
        group = dict(data)
    elif spec.startswith("llm:"):
        backend = spec[len("llm:"):]
        if not backend:
            raise ValueError(f"agent spec {spec!r} names no backend; write llm:embedded or llm:openai:MODEL")
        group = {"kind": "llm", "backend": backend}
    else:
        strategy = spec[len("scripted:"):] if spec.startswith("scripted:") else spec
        if not strategy:
            raise ValueError(f"agent spec {spec!r} names no strategy; write scripted:tit_for_tat")
        group = {"kind": "scripted", "strategy": strategy}
    for key in ("seats", "label"):
        group.pop(key, None)
    try:
        AgentsConfig.model_validate(group)
    except Exception as error:  # pydantic's message names the bad field
        raise ValueError(f"agent spec {spec!r}: {error}") from None
    return group


def _entrants(specs: Sequence[str]) -> list[Entrant]:
    seen: dict[str, int] = {}
    entrants = []
    for spec in specs:
        seen[spec] = seen.get(spec, 0) + 1
        name = spec if seen[spec] == 1 else f"{spec}#{seen[spec]}"
        group = parse_spec(spec)
        if group.get("kind") == "scripted":
            from dilemmazoo.agents.scripted import make_scripted

            try:  # an unknown name is an error, not an agent that sits out every world
                make_scripted(str(group.get("strategy")), **dict(group.get("params") or {}))
            except (ValueError, ImportError) as error:
                raise ValueError(f"agent spec {spec!r}: {error}") from None
        entrants.append(Entrant(name, spec, group))
    return entrants


# -- worlds -------------------------------------------------------------------------------------

Translate = Callable[[str, dict[str, Any], dict[str, Any]], "tuple[str, dict[str, Any]] | None"]


@dataclass(frozen=True)
class LeagueWorld:
    """A world the league plays: the registered world, its keyword arguments, how many seats each
    entrant takes in a match (``None``: half the world's ``n_agents``), and ``translate(strategy,
    params, kwargs)`` -> ``(strategy, params)`` a scripted strategy plays here, or ``None``."""

    name: str
    world_id: str
    kwargs: dict[str, Any]
    description: str
    translate: Translate
    seats_each: int | None = 1

    def seats(self, kwargs: Mapping[str, Any]) -> int:
        if self.seats_each is not None:
            return self.seats_each
        n_agents = int(kwargs.get("n_agents", 0))
        if n_agents < 2 or n_agents % 2:
            raise ValueError(f"league world {self.name}: n_agents must be even and at least 2, got {n_agents}")
        return n_agents // 2


def _matrix_translate(strategy: str, params: dict[str, Any], kwargs: dict[str, Any]):
    from dilemmazoo.agents.matrix_strategies import MATRIX_STRATEGIES
    from dilemmazoo.envs.repeated_game import game_payoffs

    game = str(kwargs.get("game", "prisoners_dilemma"))
    if strategy.startswith("axelrod:"):
        told = {"payoffs": game_payoffs(game).tolist(), "match_length": int(kwargs.get("n_rounds", 10)),
                "noise": float(kwargs.get("noise", 0.0))}
        return strategy, {**told, **params}
    if strategy in MATRIX_STRATEGIES:
        return strategy, params if ("game" in params or "payoffs" in params) else {**params, "game": game}
    return None


#: matrix strategy -> its Donor Game counterpart (module docstring)
DONOR_COUNTERPARTS: dict[str, tuple[str, dict[str, Any]]] = {
    "always_cooperate": ("fixed_fraction", {"fraction": 1.0}),
    "always_defect": ("defector", {}),
    "tit_for_tat": ("reciprocator", {"initial": 1.0, "generosity": 1.0}),
}


def _donor_translate(strategy: str, params: dict[str, Any], kwargs: dict[str, Any]):
    from dilemmazoo.agents.scripted import SCRIPTED_AGENTS

    if strategy in SCRIPTED_AGENTS:
        return strategy, params
    if strategy in DONOR_COUNTERPARTS and not params:
        name, counterpart = DONOR_COUNTERPARTS[strategy]
        return name, dict(counterpart)
    return None


_REPEATED = "dilemmazoo/repeated-game-v0"
#: the worlds a league can play, by name
LEAGUE_WORLDS: dict[str, LeagueWorld] = {
    "pd": LeagueWorld("pd", _REPEATED, {"game": "prisoners_dilemma", "n_rounds": 10},
                      "prisoner's dilemma (R3 S0 T5 P1), no noise", _matrix_translate),
    "pd_noise": LeagueWorld("pd_noise", _REPEATED, {"game": "prisoners_dilemma", "n_rounds": 20, "noise": 0.05},
                            "prisoner's dilemma (R3 S0 T5 P1) with a trembling hand", _matrix_translate),
    "stag_hunt": LeagueWorld("stag_hunt", _REPEATED, {"game": "stag_hunt", "n_rounds": 20},
                             "stag hunt (SS 4, SH 1, HS 3, HH 2)", _matrix_translate),
    "donor_game": LeagueWorld(
        "donor_game", "dilemmazoo/donor-game-v0",
        {"n_agents": 4, "n_rounds": 4, "endowment": 10.0, "donation_multiplier": 2.0},
        "Donor Game (Vallinder & Hughes 2024), a mixed group: half the seats per entrant",
        _donor_translate, seats_each=None),
}
DEFAULT_WORLDS = ("pd_noise", "stag_hunt", "donor_game")


def _group_in(entrant: Entrant, world: LeagueWorld, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The entrant's agents group in ``world``, or ``None`` where its strategy means nothing there."""
    if entrant.kind != "scripted":
        return dict(entrant.group)
    found = world.translate(str(entrant.group.get("strategy")), dict(entrant.group.get("params") or {}), kwargs)
    if found is None:
        return None
    strategy, params = found
    from dilemmazoo.agents.scripted import make_scripted

    try:
        make_scripted(strategy, **params)  # a bad name or parameter fails here, before any match
    except (ValueError, ImportError) as error:
        raise ValueError(f"agent {entrant.name!r} in world {world.name}: {error}") from None
    return {**entrant.group, "strategy": strategy, "params": params}


# -- playing ------------------------------------------------------------------------------------

@dataclass
class Leaderboard:
    """A played league: ``table`` (:func:`~dilemmazoo.analysis.league.leaderboard`), ``ratings``,
    ``matches`` (one row per match), ``rounds`` (one row per agent per round), ``settings`` and
    ``notes`` (who sat out where)."""

    table: pd.DataFrame
    ratings: pd.DataFrame
    matches: pd.DataFrame
    rounds: pd.DataFrame
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    worlds: dict[str, str] = field(default_factory=dict)

    def order(self) -> list[str]:
        """Agent names, best first."""
        return list(self.table["agent"])

    def write(self, out: str | Path) -> dict[str, Path]:
        """Write ``leaderboard.csv``, ``matches.csv``, ``rounds.csv``, ``league.json`` and
        ``leaderboard.html`` into ``out``; returns their paths by name."""
        from dilemmazoo.analysis.html import write_html

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {name: out / name for name in ("leaderboard.csv", "matches.csv", "rounds.csv", "league.json",
                                               "leaderboard.html")}
        self.table.to_csv(paths["leaderboard.csv"], index=False)
        self.matches.to_csv(paths["matches.csv"], index=False)
        self.rounds.to_csv(paths["rounds.csv"], index=False)
        document = {"settings": self.settings, "notes": self.notes,
                    "ratings": json.loads(self.table.to_json(orient="records"))}
        paths["league.json"].write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        page = leaderboard_page(self.table, self.rounds, title=f"League: {len(self.table)} agents",
                                worlds=self.worlds, settings=yaml.safe_dump(self.settings, sort_keys=False),
                                notes=self.notes, model=str(self.settings.get("model", "PlackettLuce")),
                                z=float(self.settings.get("z", 3.0)))
        write_html(paths["leaderboard.html"], page)
        return paths


def _play(config: ExperimentConfig, out: Path, labels: tuple[str, str],
          backend=None) -> dict[str, tuple[float, int, int]]:
    """One match: ``label -> (mean return per seat, decisions, fallbacks)``."""
    from dilemmazoo.experiments.runner import RunPlay

    play = RunPlay(config, out, backend=backend)
    try:
        for _ in play.events():
            pass
        frames = play.frames()
    finally:
        play.close()
    episodes, steps = frames["episodes"], frames["steps"]
    decided = steps[steps["decided"].astype(bool)] if len(steps) else steps
    result = {}
    for label in labels:
        mine = episodes[episodes["policy"] == label]
        own = decided[decided["policy"] == label] if len(decided) else decided
        fallbacks = int(own["fallback_used"].fillna(False).astype(bool).sum()) if len(own) else 0
        result[label] = (float(mine["return"].mean()), int(len(own)), fallbacks)
    return result


def league(specs: Sequence[str], worlds: Sequence[str] = DEFAULT_WORLDS, seeds: int = 2, out: str | Path | None = None,
           *, seed: int = 0, world_kwargs: Mapping[str, Mapping[str, Any]] | None = None, model: str = "PlackettLuce",
           z: float = 3.0, cache: bool = True, backend=None, progress: bool = False) -> Leaderboard:
    """Play a league among ``specs`` in ``worlds`` (names of :data:`LEAGUE_WORLDS`), ``seeds``
    rounds per world, and rate it; with ``out`` the outputs are written there as well.

    ``seed`` is the first match seed; ``world_kwargs`` overrides a world's keyword arguments
    (``{"pd_noise": {"noise": 0.1}}``); ``model`` and ``z`` choose the OpenSkill model and the
    ordinal's z; ``cache`` caches language agents' calls under ``out`` (or a temporary folder's
    ``.llm_cache`` when no ``out`` is given, which is not kept); ``backend``, an already built
    backend, is used by every language entrant instead of the one its spec names (one loaded
    model for a notebook or a test).
    """
    if len(specs) < 2:
        raise ValueError(f"a league needs at least two agent specs, got {len(specs)}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer (rounds per world), got {seeds!r}")
    if not worlds:
        raise ValueError(f"name at least one world; known: {', '.join(LEAGUE_WORLDS)}")
    unknown = [w for w in worlds if w not in LEAGUE_WORLDS]
    if unknown:
        raise ValueError(f"unknown league world(s) {unknown}; known: {', '.join(LEAGUE_WORLDS)}")
    if len(set(worlds)) != len(worlds):
        raise ValueError(f"worlds must not repeat: {list(worlds)}")
    overrides = {str(k): dict(v) for k, v in (world_kwargs or {}).items()}
    stray = [k for k in overrides if k not in worlds]
    if stray:
        raise ValueError(f"world_kwargs names world(s) {stray} that the league does not play ({list(worlds)})")
    entrants = _entrants(specs)
    notes: list[str] = []
    plan = []  # (world, kwargs, {entrant index: group})
    for name in worlds:
        world = LEAGUE_WORLDS[name]
        kwargs = {**copy.deepcopy(world.kwargs), **overrides.get(name, {})}
        groups = {i: g for i, e in enumerate(entrants) if (g := _group_in(e, world, kwargs)) is not None}
        away = [e.name for i, e in enumerate(entrants) if i not in groups]
        if away:
            notes.append(f"{name}: {', '.join(away)} sat out (no strategy of that name in this world)")
        if len(groups) < 2:
            notes.append(f"{name}: fewer than two agents have a strategy here; no match played")
        plan.append((world, kwargs, groups))

    if out is None:
        import tempfile

        scratch = tempfile.TemporaryDirectory(prefix="dilemmazoo-league-")
        root = Path(scratch.name)
    else:
        scratch, root = None, Path(out)
    rows = []
    try:
        for r in range(seeds):
            for world, kwargs, groups in plan:
                members = sorted(groups)
                pairs = [(i, j) for a, i in enumerate(members) for j in members[a + 1:]]
                each = world.seats(kwargs)
                if progress and pairs:
                    print(f"round {r + 1}/{seeds}, {world.name}: {len(pairs)} matches", flush=True)
                for k, (i, j) in enumerate(pairs):
                    first, second = (i, j) if r % 2 == 0 or each > 1 else (j, i)
                    match_seed = seed + k + r * len(pairs)
                    config = ExperimentConfig.model_validate({
                        "name": "league", "world": {"id": world.world_id, "kwargs": kwargs},
                        "agents": [{**groups[first], "seats": each, "label": "a"}, {**groups[second], "label": "b"}],
                        "seeds": [match_seed], "cache": cache,
                    })
                    try:
                        played = _play(config, root, ("a", "b"), backend)
                    except ConfigError as error:
                        raise ValueError(f"{world.name}: {error}") from None
                    except Exception as error:  # a backend or agent failure: say which match, keep the cause
                        raise RuntimeError(f"league match failed ({world.name}, round {r}: {entrants[first].name} vs "
                                           f"{entrants[second].name}): {type(error).__name__}: {error}") from error
                    (score_a, decisions_a, fallbacks_a), (score_b, decisions_b, fallbacks_b) = played["a"], played["b"]
                    if (first, second) != (i, j):  # report in entrant order
                        score_a, score_b = score_b, score_a
                        decisions_a, decisions_b = decisions_b, decisions_a
                        fallbacks_a, fallbacks_b = fallbacks_b, fallbacks_a
                    rows.append({
                        "world": world.name, "round": r, "seed": match_seed, "match": k,
                        "agent_a": entrants[i].name, "agent_b": entrants[j].name, "score_a": score_a,
                        "score_b": score_b, "fallbacks_a": fallbacks_a, "fallbacks_b": fallbacks_b,
                        "decisions_a": decisions_a, "decisions_b": decisions_b,
                        "seat_first": entrants[first].name,
                    })
    finally:
        if scratch is not None:
            scratch.cleanup()
    matches = pd.DataFrame(rows)
    if matches.empty:
        raise ValueError("no match could be played: no world has two agents with a strategy there")
    rounds = round_scores(matches)
    ratings = fit_ratings(rounds, [e.name for e in entrants], model=model, z=z)
    table = leaderboard(ratings, matches)
    settings = {
        "agents": [{"name": e.name, "spec": e.spec, "group": e.group} for e in entrants],
        "worlds": {w.name: {"id": w.world_id, "kwargs": kw} for w, kw, _ in plan},
        "seeds": seeds, "first_seed": seed, "model": model, "z": z,
        "rating": "OpenSkill; one update per round (a round robin in one world under one seed), ranked by totals",
    }
    board = Leaderboard(table, ratings, matches, rounds, settings, notes,
                        {w.name: f"{w.description}; {w.world_id} with {json.dumps(kw, sort_keys=True)}"
                         for w, kw, _ in plan})
    if out is not None:
        board.write(out)
    return board


# -- command line -------------------------------------------------------------------------------

def _print_table(board: Leaderboard) -> None:
    from rich.console import Console
    from rich.table import Table

    worlds = list(board.worlds)
    shown = Table(title=f"League: {len(board.table)} agents, {board.settings['seeds']} round(s) per world",
                  title_justify="left")
    for name, justify in (("rank", "right"), ("agent", "left"), ("ordinal (mu-3σ)", "right"), ("mu", "right"),
                          ("sigma", "right")):
        shown.add_column(name, justify=justify, no_wrap=name == "agent")
    for world in worlds:
        shown.add_column(f"{world} /match", justify="right")
    shown.add_column("fallbacks", justify="right")
    for row in board.table.to_dict("records"):
        cells = [str(row["rank"]), str(row["agent"]),
                 *(f"{row[key]:.2f}" for key in ("ordinal", "mu", "sigma"))]
        cells += ["–" if world not in row or np.isnan(row[world]) else f"{row[world]:.2f}" for world in worlds]
        cells.append(f"{row['fallbacks']}/{row['decisions']}")
        shown.add_row(*cells)
    longest = max((len(str(name)) for name in board.table["agent"]), default=5)
    Console(width=max(100, longest + 60 + 16 * len(worlds))).print(shown)
    for note in board.notes:
        print(f"note: {note}")


def _parse_set(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        world, dot, name = key.partition(".")
        if not sep or not dot or not world or not name:
            raise ValueError(f"--set takes WORLD.KEY=VALUE (e.g. pd_noise.noise=0.1), got {item!r}")
        found.setdefault(world, {})[name] = yaml.safe_load(value)
    return found


def main_league(argv: list[str] | None = None) -> int:
    """``dilemmazoo league SPEC SPEC ... [--worlds ...] [--seeds N] [--out DIR]``: play, rate, print, write."""
    parser = argparse.ArgumentParser(
        prog="dilemmazoo league",
        description="Agents play each other across worlds (every pair once per world per seed, in a fixed order); "
                    "OpenSkill ratings with uncertainty from each round's round-robin totals. Prints the leaderboard "
                    "and writes leaderboard.csv/html, matches.csv, rounds.csv and league.json to --out.",
    )
    parser.add_argument("specs", nargs="+", metavar="SPEC",
                        help="tit_for_tat, scripted:NAME, axelrod:Name, llm:BACKEND (llm:embedded, llm:openai:MODEL) "
                             "or a YAML/JSON file holding one agents group")
    parser.add_argument("--worlds", nargs="+", default=list(DEFAULT_WORLDS),
                        help=f"league worlds (default: {' '.join(DEFAULT_WORLDS)}; known: {', '.join(LEAGUE_WORLDS)})")
    parser.add_argument("--seeds", type=int, default=2, help="rounds per world (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="first match seed (default 0)")
    parser.add_argument("--set", action="append", default=[], metavar="WORLD.KEY=VALUE",
                        help="override a world's keyword argument, e.g. pd_noise.noise=0.1 (repeatable)")
    parser.add_argument("--model", default="PlackettLuce", help="OpenSkill model (default PlackettLuce)")
    parser.add_argument("--no-cache", action="store_true", help="do not cache language agents' calls")
    parser.add_argument("--out", default="runs/league", help="output folder (default runs/league)")
    args = parser.parse_args(argv)
    try:
        board = league(args.specs, args.worlds, args.seeds, args.out, seed=args.seed, world_kwargs=_parse_set(args.set),
                       model=args.model, cache=not args.no_cache, progress=True)
    except (ValueError, ImportError, FileNotFoundError, RuntimeError) as error:
        parser.exit(2, f"error: {error}\n")
    _print_table(board)
    print(f"leaderboard: {Path(args.out) / 'leaderboard.html'}")
    return 0
