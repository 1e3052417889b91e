"""The runner: config -> world and agents -> records on disk.

One run is one resolved config (one grid point, one seed). For each generation and each of its
episodes the runner resets the world with the members' names, asks the world who decides,
hands all decisions of the step to the policy in ONE ``act_batch`` call, steps the world and
records one row per agent. Between generations the population dynamics (e.g. cultural
evolution) replace members. A ``tournament`` config plays its groups as types in every ordered
seat profile instead (:meth:`RunPlay.tournament_events`). Files are written by
:mod:`dilemmazoo.experiments.store`.

The runner calls the hooks that the contracts declare, at the points they name, on every
policy (:class:`~dilemmazoo.agents.base.BatchPolicy`), population dynamics
(:class:`~dilemmazoo.norms.base.PopulationDynamics`) and utility transform
(:class:`~dilemmazoo.norms.base.UtilityTransform`); it never asks an object whether it has one.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property, partial
from multiprocessing import get_context
from multiprocessing.connection import wait as wait_for
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dilemmazoo.agents.base import Action, BatchPolicy, CallRecord, Decision
from dilemmazoo.agents.progress import ProgressBar
from dilemmazoo.envs import world_id
from dilemmazoo.experiments.checks import check_experiment, configured_world, population_tournament, tournament_profiles
from dilemmazoo.experiments.config import (AgentsConfig, ConfigError, ExperimentConfig, cell_values, expand_grid,
                                          member_params, run_id)
from dilemmazoo.experiments.logs import configure_logging, run_log, terminal_level
from dilemmazoo.experiments.provenance import agent_provenance, code_provenance
from dilemmazoo.experiments.records import Summary
from dilemmazoo.experiments import store
from dilemmazoo.norms import Member, make_dynamics, make_utility

__all__ = ["RunEvent", "RunFailed", "RunPlay", "RunResult", "execute", "run_experiment"]

_log = logging.getLogger(__name__)


class RunFailed(RuntimeError):
    """A run stopped (backend failure, bad world input); finished runs are untouched.

    A failure with ``stops_grid`` (a budget reached: :class:`~dilemmazoo.experiments.budget.BudgetExceeded`)
    is raised from inside a run and stops the whole grid: the run fails (redone on resume), the
    finished runs are kept, and :func:`run_experiment` raises it as it is.
    """

    #: the grid stops at this failure instead of going on with the next run
    stops_grid: bool = False


@dataclass
class RunResult:
    """A finished run: where it is, what it says, and its records as DataFrames."""

    run_dir: Path
    summary: dict[str, Any]
    skipped: bool = False

    @cached_property
    def steps(self) -> pd.DataFrame:
        return pd.read_parquet(self.run_dir / "steps.parquet")

    @cached_property
    def episodes(self) -> pd.DataFrame:
        return pd.read_parquet(self.run_dir / "episodes.parquet")

    @cached_property
    def population(self) -> pd.DataFrame:
        return pd.read_parquet(self.run_dir / "population.parquet")

    @cached_property
    def llm_calls(self) -> pd.DataFrame:
        return pd.read_parquet(self.run_dir / "llm_calls.parquet")

    def __repr__(self) -> str:
        return f"RunResult({str(self.run_dir)!r}, status={self.summary.get('status')!r})"


# -- building the parts ----------------------------------------------------------------------

def cache_dir_for(out_root: Path) -> Path:
    return Path(os.environ.get("DILEMMAZOO_CACHE", out_root / ".llm_cache"))


def build_world(config: ExperimentConfig):
    """The world a run plays: the configured world, wrapped by the configured mechanism if any."""
    return configured_world(config)


#: ``wrap(backend, group) -> backend``: applied to every backend a run builds (a cluster-wide rate
#: limiter on Ray, a budget guard)
BackendWrapper = Callable[[Any, AgentsConfig], Any]


def build_backend(group: AgentsConfig, config: ExperimentConfig, out_root: Path, wrap: BackendWrapper | None = None):
    """The group's backend, behind the on-disk cache when the config asks for one (``cache``).

    A backend whose answers follow the order of the calls rather than what is asked
    (``order_dependent``: ``scripted:``, which replays its file in order) is never cached: a
    cache would serve the answers an earlier, killed attempt of the run got without moving the
    script on, so the redone run would drift from an uninterrupted one; and runs sharing the
    cache would hand each other answers. Such a backend costs nothing to ask again.
    """
    from dilemmazoo.agents.backends import make_backend

    backend = make_backend(group.backend, **group.backend_options)
    if config.cache and not backend.order_dependent:
        from dilemmazoo.agents.backends.cache import CachedBackend

        backend = CachedBackend(backend, cache_dir_for(out_root))
    return backend if wrap is None else wrap(backend, group)


def build_policy(group: AgentsConfig, config: ExperimentConfig, out_root: Path, backend=None,
                 wrap: BackendWrapper | None = None):
    """The BatchPolicy (and StrategyWriter) playing one group's seats."""
    seed = config.seeds[0]
    if group.kind == "scripted":
        from dilemmazoo.agents.scripted import ScriptedPolicy

        try:
            return ScriptedPolicy(group.strategy, group.params)
        except (ValueError, ImportError) as error:
            raise ConfigError(f"agents: {error}") from None
    from dilemmazoo.agents.llm import LLMPolicy

    if backend is None:
        backend = build_backend(group, config, out_root, wrap)
    if group.kind == "synthesized":  # LLM-written Python policies, run in a sandbox
        from dilemmazoo.agents.synthesis import SynthesizedPolicy

        try:
            return SynthesizedPolicy(backend, group, seed=seed)
        except ValueError as error:  # checked before the run already; this guards callers that skip the checks
            raise ConfigError(f"agents: {error}") from None
    return LLMPolicy(
        backend,
        persona=group.persona,
        personas=group.personas,
        decision=group.decision,
        max_retries=group.max_retries,
        temperature=group.temperature,
        max_tokens=group.max_tokens,
        top_p=group.top_p,
        score_grid=group.score_grid,
        seed=seed,
        distribution_source=group.distribution_source,
    )


@dataclass
class Seating:
    """One agent group: its config, its policy and the seats it plays."""

    label: str
    group: AgentsConfig
    seats: list[str]
    policy: BatchPolicy | None = None


def seat_groups(config: ExperimentConfig, seats: list[str]) -> list[Seating]:
    """Seats handed to the groups in order; the group without ``seats`` takes the rest."""
    groups = config.groups
    fixed = sum(g.seats for g in groups if g.seats is not None)
    rest = len(seats) - fixed
    if rest < 0 or (rest > 0 and all(g.seats is not None for g in groups)) or (
            rest == 0 and any(g.seats is None for g in groups)):
        counts = [g.seats if g.seats is not None else "rest" for g in groups]
        raise ConfigError(f"agents: the groups' seats {counts} do not fill the world's {len(seats)} seats exactly")
    seatings, start = [], 0
    for i, g in enumerate(groups):
        count = g.seats if g.seats is not None else rest
        label = g.label or (f"{g.kind}:{g.backend}" if g.kind in ("llm", "synthesized") else f"scripted:{g.strategy}")
        if len(groups) > 1 and not g.label:
            label = f"{i}:{label}"
        seatings.append(Seating(label, g, seats[start:start + count]))
        start += count
    return seatings


def check_config(config: ExperimentConfig) -> None:
    """Everything that can be checked before anything is written (:mod:`.checks`)."""
    check_experiment(config)


# -- records ---------------------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return round(value, 10)
    return value


def action_json(value: Any) -> str:
    return json.dumps(_jsonable(value), sort_keys=True)


def scalar_infos(info: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in info.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (bool, int, float, str)) or value is None:
            out[key] = value
    return out


@dataclass
class _Recorder:
    steps: list[dict] = field(default_factory=list)
    episodes: list[dict] = field(default_factory=list)
    population: list[dict] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)

    def add_calls(self, calls: list[CallRecord], *, episode: int, generation: int, step: int, agent: str | None = None):
        for call in calls:
            row = asdict(call)
            row["agent"] = agent or row.pop("agent_id")
            row.pop("agent_id", None)
            self.calls.append({"episode": episode, "generation": generation, "step": step, **row})


# -- one run ---------------------------------------------------------------------------------

def _hand_members(seatings, member_of) -> None:
    """Give each policy its seats' strategy texts and parameters."""
    for s in seatings:
        s.policy.set_strategies({seat: member_of[seat].strategy for seat in s.seats})
        s.policy.set_members({seat: member_of[seat].params for seat in s.seats})


def _round_ended(infos: dict, live: list[str]) -> int | None:
    """The round a step completed, from the world's ``round_end``/``round`` infos, else ``None``."""
    for seat in live:
        info = infos.get(seat, {})
        if info.get("round_end"):
            return int(info.get("round", 0))
    return None


def _play_episode(world, seatings, members, *, episode, generation, game, seed, recorder, learn=None,
                  utility=None, live=None):
    """Play one episode, yielding after each world step; its return value maps names to returns.

    ``learn(round, scores)`` may return new members after a completed round: within-episode
    dynamics (social learning) keep the members' names and seats; the runner hands the new
    strategies to the policies at once, so the next round is played with them. ``utility`` (a
    norms utility transform) maps each step's rewards to the recorded utilities. ``live`` (a
    :class:`RunPlay`) is kept up to date with the members, names and returns for watchers.
    """
    seats = list(world.possible_agents)
    names = {seat: m.name for seat, m in zip(seats, members)}
    member_of = dict(zip(seats, members))
    observations, infos = world.reset(seed=seed, options={"names": names, "generation": generation, "game": game})
    if utility is not None:
        utility.reset(seats)
    rules = {seat: world.rules(seat) for seat in seats}
    seating_of = {seat: s for s in seatings for seat in s.seats}
    _hand_members(seatings, member_of)
    for s in seatings:
        s.policy.start_episode({seat: rules[seat] for seat in s.seats}, np.random.default_rng([seed, 3]))
        recorder.add_calls(list(s.policy.last_setup_calls), episode=episode, generation=generation, step=0)
    memory: dict[str, list[str]] = {seat: [] for seat in seats}
    returns = dict.fromkeys(seats, 0.0)
    utility_returns = dict.fromkeys(seats, 0.0)
    last_infos = {seat: scalar_infos(infos.get(seat, {})) for seat in seats}
    since_learning = dict.fromkeys(seats, 0.0)  # payoffs since the last learning event
    shows_rewards = world.shows_rewards  # worlds that hide payoffs keep them out of memory
    if live is not None:
        live.member_of, live.names, live.returns = member_of, names, returns
    step = 0
    while world.agents:
        step += 1
        deciders = world.deciders()
        decided: dict[str, Action] = {}
        for s in seatings:  # one act_batch per policy: its decisions of this step together
            mine = [seat for seat in deciders if seating_of[seat] is s]
            if not mine:
                continue
            keep = s.group.memory if s.group.kind == "llm" else 0  # memory lines are a language agent's setting
            requests = [
                Decision(
                    agent_id=seat, observation=observations[seat], text=world.describe(seat),
                    spec=world.action_spec(seat), rules=rules[seat], step=step, episode=episode, generation=generation,
                    memory=memory[seat][-keep:] if keep else [],
                )
                for seat in mine
            ]
            decided.update(zip(mine, s.policy.act_batch(requests)))
        actions = {seat: decided[seat].value if seat in decided else world.idle_action(seat) for seat in world.agents}
        live_seats = list(world.agents)
        observations, rewards, terminations, truncations, infos = world.step(actions)
        utilities = {seat: float(rewards.get(seat, 0.0)) for seat in live_seats}
        if utility is not None:
            transformed = utility({seat: utilities[seat] for seat in live_seats},
                                  {"step": step, "agents": live_seats, "infos": infos})
            utilities = {seat: float(transformed[seat]) for seat in live_seats}
        for seat in live_seats:
            action = decided.get(seat)
            info = scalar_infos(infos.get(seat, {}))
            last_infos[seat] = info
            reward = float(rewards.get(seat, 0.0))
            returns[seat] += reward
            utility_returns[seat] += utilities[seat]
            since_learning[seat] += reward
            recorder.steps.append(
                {
                    "episode": episode, "generation": generation, "game": game, "step": step, "agent": seat,
                    "name": names[seat], "policy": seating_of[seat].label, "decided": action is not None,
                    "action": action_json(action.value) if action else "", "reward": reward, "utility": utilities[seat],
                    "parse_failures": action.parse_failures if action else 0,
                    "fallback_used": action.fallback_used if action else False,
                    "distribution": json.dumps(action.distribution) if action and action.distribution else "",
                    **{k: v for k, v in info.items() if k not in _RESERVED},
                }
            )
            told = f"; your reward was {reward:+g}" if shows_rewards else ""
            if action is not None:
                answer = "the fallback (no valid answer)" if action.fallback_used else repr(action.raw_text.strip()[-80:])
                memory[seat].append(f"Step {step}: you answered {answer}{told}.")
            elif reward and shows_rewards:
                memory[seat].append(f"Step {step}: your reward was {reward:+g}.")
            if action is not None:
                recorder.add_calls(action.calls, episode=episode, generation=generation, step=step, agent=seat)
        finished_round = _round_ended(infos, live_seats) if learn is not None and world.agents else None
        if finished_round is not None:
            learned = learn(finished_round, {names[seat]: since_learning[seat] for seat in seats})
            if learned is not None:
                if [m.name for m in learned] != [names[seat] for seat in seats]:
                    raise RuntimeError("within-episode dynamics must keep the members and their order")
                member_of = dict(zip(seats, learned))
                _hand_members(seatings, member_of)
                since_learning = dict.fromkeys(seats, 0.0)
                if live is not None:
                    live.member_of = member_of
        yield step
    for seat in seats:
        recorder.episodes.append(
            {
                "episode": episode, "generation": generation, "game": game, "agent": seat, "name": names[seat],
                "policy": seating_of[seat].label, "return": returns[seat], "utility_return": utility_returns[seat], "steps": step,
                "seed": seed,
                **{k: v for k, v in last_infos[seat].items() if k not in _RESERVED},
            }
        )
    return {names[seat]: returns[seat] for seat in seats}


_RESERVED = {"episode", "generation", "game", "step", "agent", "name", "policy", "decided", "action", "reward", "utility",
             "distribution",
             "parse_failures", "fallback_used", "return", "utility_return", "steps", "seed"}


def execute(config: ExperimentConfig, out_root: str | Path = "runs", *, progress: bool = True, backend=None,
            position: str = "", wait: bool = True, wrap_backend: BackendWrapper | None = None,
            budget=None) -> RunResult:
    """Run one single-seed, grid-free config, or return it if already finished.

    The run's folder is named by its grid cell and seed (:func:`store.run_dir_for`);
    ``position`` (e.g. ``run 4/9, cell 2/3``) heads its progress bar within a grid.

    The run is executed holding its lock (:func:`store.run_lock`): when another live process
    holds it, ``wait`` waits for that process (and then usually finds the run finished), and
    ``wait=False`` raises :class:`store.RunBusy` at once. ``wrap_backend`` is applied to every
    backend the run builds (:data:`BackendWrapper`). ``budget`` (a
    :class:`~dilemmazoo.experiments.budget.Budget`) is checked before the run starts and guards
    every backend it builds. A damaged folder is moved aside and
    the run redone; temporary files that killed writers left are removed
    (:func:`store.inspect_run`, :func:`store.move_aside`).
    """
    out_root = Path(out_root)
    rid = run_id(config)
    found = _finished(out_root, config, rid)  # a finished run is never written again: no lock needed to skip it
    if found is not None:
        return found
    check_config(config)
    if budget is not None:
        budget.check()  # reached already: no folder is made for this run
        wrap_backend = _guarded(wrap_backend, budget)
    with store.run_lock(out_root, config, rid, wait=wait):
        found = _finished(out_root, config, rid, repair=True)
        if found is not None:
            return found
        run_dir = store.run_dir_for(out_root, config, rid, claim=True)
        with run_log(run_dir):  # run.log in the folder: this execution's records, secrets redacted
            return _execute_logged(config, out_root, run_dir, rid, progress=progress, backend=backend,
                                   position=position, wrap_backend=wrap_backend)


def _execute_logged(config: ExperimentConfig, out_root: Path, run_dir: Path, rid: str, **options) -> RunResult:
    """:func:`_execute_claimed`, with the run's start, end or failure logged (into its ``run.log``)."""
    cell = ", ".join(f"{key}={label}" for key, label in config.cell.items())
    _log.info("run %s of %s started in %s (%sseed %d, process %d)", rid, config.name, run_dir,
              f"cell {cell}, " if cell else "", config.seeds[0], os.getpid())
    started = time.perf_counter()
    try:
        result = _execute_claimed(config, out_root, run_dir, rid, **options)
    except RunFailed as error:
        _log.error("run %s %s after %.1f s: %s", rid, "stopped" if error.stops_grid else "failed",
                   time.perf_counter() - started, error)
        raise
    except Exception as error:
        _log.error("run %s failed after %.1f s: %s: %s", rid, time.perf_counter() - started, type(error).__name__, error)
        raise
    except BaseException as error:  # Ctrl-C, exit: say so in run.log, then let it go on
        _log.warning("run %s interrupted after %.1f s (%s)", rid, time.perf_counter() - started, type(error).__name__)
        raise
    _log.info("run %s finished in %.1f s", rid, time.perf_counter() - started)
    return result


def _guarded(wrap: BackendWrapper | None, budget) -> BackendWrapper:
    """``wrap``, then the budget's guard around what it returns."""
    if wrap is None:
        return budget.guard
    return lambda backend, group: budget.guard(wrap(backend, group), group)


def _finished(out_root: Path, config: ExperimentConfig, rid: str, *, repair: bool = False) -> RunResult | None:
    """The finished run ``rid``, skipped; else ``None``. With ``repair`` (holding the run's lock) a
    damaged folder is moved aside, and stale temporary and claim files are removed."""
    run_dir = store.run_dir_for(out_root, config, rid)
    if run_dir is None:
        if repair:
            store.remove_stale_claims(out_root, config, rid)
        return None
    state = store.inspect_run(run_dir, rid)
    if state.finished:
        return RunResult(run_dir, state.summary, skipped=True)
    if repair:
        store.remove_stale_temporaries(run_dir)
        store.remove_stale_claims(out_root, config, rid)
        if state.damage:
            aside = store.move_aside(out_root / config.name, run_dir, state.damage)
            _log.warning("run %s was damaged (%s); moved aside to %s and redone", run_dir, "; ".join(state.damage), aside)
    return None


@dataclass
class RunEvent:
    """Where a run stands after one of its steps (:meth:`RunPlay.events`).

    ``kind`` is ``"step"`` after a world step (``step`` counts from 1 in the episode) and
    ``"generation"`` after the population dynamics made the next generation (``generation`` is
    then the new one). ``episode`` counts from 0 across the run, ``game`` from 1 within the
    generation (the records' numbering).
    """

    kind: str
    generation: int
    episode: int
    game: int
    step: int = 0


class RunPlay:
    """One run's world, agents and records, played one world step at a time.

    :func:`execute` drives it to the end and writes the files; the Mesa model
    (:mod:`dilemmazoo.experiments.mesa_model`) advances it one :class:`RunEvent` per Mesa step,
    so a dashboard shows exactly what a run records. While it plays, ``member_of`` (seat ->
    :class:`~dilemmazoo.norms.Member`), ``names`` (seat -> member name) and ``returns`` (seat ->
    return so far in the episode) describe the current episode; ``recorder`` holds every row so far.
    """

    def __init__(self, config: ExperimentConfig, out_root: str | Path = "runs", *, backend=None,
                 wrap_backend: BackendWrapper | None = None):
        self.config = config
        self.out_root = Path(out_root)
        self.backend = backend
        self.wrap_backend = wrap_backend
        self.seed = config.seeds[0]
        self.world = build_world(config)
        self.dynamics = make_dynamics(config.population.dynamics, **config.population.kwargs) if config.population else None
        self.utility = make_utility(config.utility.name, **config.utility.kwargs) if config.utility else None
        self.recorder = _Recorder()
        #: a tournament's seat profiles, in play order (a type index per seat); empty otherwise
        self.profiles: list[tuple[int, ...]] = []
        if config.tournament is not None:  # the groups are types; each episode seats them by its profile
            self.seatings = [Seating(label, group, []) for label, group in zip(config.type_labels, config.groups)]
            self.profiles = tournament_profiles(config, list(self.world.possible_agents))
        else:
            self.seatings = seat_groups(config, list(self.world.possible_agents))
        self.members: list[Member] = []
        self.member_of: dict[str, Member] = {}
        self.names: dict[str, str] = {}
        self.returns: dict[str, float] = {}
        self.episodes_played = 0

    @property
    def total_games(self) -> int:
        if self.config.tournament is not None:
            return len(self.profiles)
        return self.config.generations * self.config.episodes_per_generation

    def events(self, describe: Callable[[str], None] = lambda text: None,
               advance: Callable[[], None] = lambda: None) -> Iterator[RunEvent]:
        """Play the whole run, yielding after every world step and every new generation.

        ``describe`` hears the phase (for a progress bar); ``advance`` is called after each game.
        A tournament plays its seat profiles instead (:meth:`tournament_events`).
        """
        if self.config.tournament is not None:
            yield from self.tournament_events(describe, advance)
            return
        config, world, dynamics, recorder, seatings = self.config, self.world, self.dynamics, self.recorder, self.seatings
        seed = self.seed
        population_rng = np.random.default_rng([seed, 1])
        episode_rng = np.random.default_rng([seed, 2])
        size = len(world.possible_agents)
        describe("loading agents")
        for s in seatings:
            s.policy = build_policy(s.group, config, self.out_root, backend=self.backend, wrap=self.wrap_backend)
            s.policy.set_rules(world.rules(s.seats[0]))
        # population dynamics act on a single group (the config validator makes sure)
        policy = seatings[0].policy
        if dynamics is not None:
            describe(f"writing strategies: initial population of {size}")
            self.members = dynamics.initial(size, policy, population_rng, params=member_params(config.groups[0]))
            recorder.add_calls(policy.last_strategy_calls, episode=-1, generation=1, step=0)
        else:
            # without population dynamics the members are the world's own players, named as it names them
            # (GovSim's John, Kate, ...); a throwaway reset reads the names
            world.reset(seed=seed)
            self.members = [Member(name=world.display_name(seat), generation=1, params=member_params(s.group))
                            for s in seatings for seat in s.seats]
        within = dynamics is not None and dynamics.within_episode
        for generation in range(1, config.generations + 1):
            scores = {m.name: 0.0 for m in self.members}
            games = config.episodes_per_generation
            for game in range(1, games + 1):
                deciding = f"deciding: gen {generation}/{config.generations}, game {game}/{games}"
                describe(deciding)
                episode = self.episodes_played

                def learn(round_number, window_scores, generation=generation, episode=episode):
                    if not dynamics.learns_after_round(round_number):
                        return None
                    policy.last_strategy_calls = []
                    self.members = dynamics.update(self.members, window_scores, policy, population_rng, round_number)
                    recorder.add_calls(policy.last_strategy_calls, episode=episode, generation=generation, step=0)
                    for m in self.members:
                        recorder.population.append(_population_row(m, generation, window_scores[m.name], True,
                                                                   episode=episode, round_number=round_number))
                    return self.members

                episode_seed = int(episode_rng.integers(2**31))
                if config.repeat_episode_seeds:  # every generation plays games 1..G on the same seeds
                    episode_seed = int(np.random.default_rng([seed, 2, game]).integers(2**31))
                playing = _play_episode(
                    world, seatings, self.members, episode=episode, generation=generation, game=game,
                    seed=episode_seed, recorder=recorder, learn=learn if within else None, utility=self.utility,
                    live=self,
                )
                while True:
                    try:
                        step = next(playing)
                    except StopIteration as finished:
                        result = finished.value
                        break
                    describe(f"{deciding}, step {step}")
                    yield RunEvent("step", generation, episode, game, step)
                for name, ret in result.items():
                    scores[name] += ret / config.episodes_per_generation
                self.episodes_played += 1
                advance()
            next_members = None
            if dynamics is not None and generation < config.generations:
                policy.last_strategy_calls = []
                records = None
                if dynamics.wants_records:  # e.g. policy synthesis: its metrics need every step
                    records = pd.DataFrame([row for row in recorder.steps if row["generation"] == generation])
                describe(f"writing strategies: generation {generation + 1}/{config.generations} ({size} members)")
                next_members = dynamics.next_generation(self.members, scores, policy, population_rng, generation + 1,
                                                        records=records)
                recorder.add_calls(policy.last_strategy_calls, episode=-1, generation=generation + 1, step=0)
            carried = {m.name for m in next_members} if next_members else set()
            for m in self.members:
                recorder.population.append(_population_row(m, generation, scores[m.name], m.name in carried))
            if next_members is not None:
                self.members = next_members
                yield RunEvent("generation", generation + 1, self.episodes_played, 0)

    def tournament_events(self, describe: Callable[[str], None] = lambda text: None,
                          advance: Callable[[], None] = lambda: None) -> Iterator[RunEvent]:
        """Play a tournament (``config.tournament``): one episode per seat profile, in
        :attr:`profiles` order, yielding after every world step.

        The groups are types: each type's policy is built once and plays the seats its type holds
        in the episode's profile; the member at seat k (1-based; under reputation, k is the base
        seat within the type's copy) is named ``<label>#P<k>``, so a mechanism that remembers
        designs by name remembers each (type, seat) agent's own, as CoopEval does. Episode seeds
        are drawn in order from the run's seed; the records' ``policy`` is each seat's type.
        """
        config, world, recorder, types = self.config, self.world, self.recorder, self.seatings
        seats = list(world.possible_agents)
        size = len(seats) // len(types) if population_tournament(config) else len(seats)
        describe("loading agents")
        for t in types:
            t.policy = build_policy(t.group, config, self.out_root, backend=self.backend, wrap=self.wrap_backend)
            t.policy.set_rules(world.rules(seats[0]))
        episode_rng = np.random.default_rng([self.seed, 2])
        for episode, profile in enumerate(self.profiles):
            game = episode + 1
            describe(f"deciding: profile {game}/{len(self.profiles)} "
                     f"({', '.join(types[k].label for k in profile[:size])}{', ...' if len(profile) > size else ''})")
            seatings = [Seating(t.label, t.group, [seat for seat, k in zip(seats, profile) if k == index], t.policy)
                        for index, t in enumerate(types) if index in profile]
            self.members = [Member(name=f"{types[k].label}#P{i % size + 1}", generation=1, params=member_params(types[k].group))
                            for i, k in enumerate(profile)]
            playing = _play_episode(world, seatings, self.members, episode=episode, generation=1, game=game,
                                    seed=int(episode_rng.integers(2**31)), recorder=recorder, utility=self.utility,
                                    live=self)
            while True:
                try:
                    step = next(playing)
                except StopIteration:
                    break
                yield RunEvent("step", 1, episode, game, step)
            self.episodes_played += 1
            advance()

    def frames(self) -> dict[str, pd.DataFrame]:
        """The records so far as the run's tables (``steps``, ``episodes``, ``population``, ``llm_calls``)."""
        return store.frames(self.recorder)

    def metrics(self, steps: pd.DataFrame | None = None) -> dict[str, Any]:
        """The world's headline metrics over the steps so far (what ``summary.json`` holds at the end)."""
        steps = self.frames()["steps"] if steps is None else steps
        metrics = _world_metrics(world_id(self.config.world.id), steps, self.config.world.kwargs)
        if self.config.tournament is not None and not steps.empty:
            from dilemmazoo.analysis.mechanisms import tournament_metrics

            try:  # the run's records stand even if its evaluation fails (the report recomputes it)
                metrics.update(tournament_metrics(steps, self.config.model_dump()))
            except (ValueError, RuntimeError) as error:
                _log.warning("tournament metrics of %s failed: %s", self.config.name, error)
        return metrics

    def summary(self, rid: str, execution: dict, started: float) -> tuple[dict[str, pd.DataFrame], Summary]:
        """The finished run's tables and :class:`Summary`."""
        config = self.config
        summary = Summary(
            experiment=config.name, run_id=rid, world=world_id(config.world.id), seed=self.seed,
            episodes=self.episodes_played, generations=config.generations,
            wall_time_s=round(time.perf_counter() - started, 3), cell=cell_values(config), execution=execution,
        )
        frames = self.frames()
        summary.counts = _counts(frames, [s.policy for s in self.seatings])
        summary.metrics = self.metrics(frames["steps"])
        summary.provenance = {**code_provenance(),
                              "agents": [agent_provenance(s.label, s.group, s.policy) for s in self.seatings]}
        return frames, summary

    def close(self) -> None:
        self.world.close()


def _execute_claimed(config: ExperimentConfig, out_root: Path, run_dir: Path, rid: str, *, progress: bool, backend,
                     position: str, wrap_backend: BackendWrapper | None = None) -> RunResult:
    """Run ``config`` in its claimed folder ``run_dir`` (holding the run's lock)."""
    from dilemmazoo.agents.backends.redaction import redact_text

    store.prepare(run_dir, config)
    execution = store.new_execution()
    started = time.perf_counter()
    if config.study is not None:
        return _execute_study(config, out_root, run_dir, rid, execution, started, progress=progress, position=position)
    play = RunPlay(config, out_root, backend=backend, wrap_backend=wrap_backend)
    where = run_dir.relative_to(out_root / config.name).as_posix()
    title = f"{config.name} ({position}) {where}" if position else f"{config.name} {where}"
    bar = ProgressBar(play.total_games, title, unit="games", disable=not progress)
    try:
        for _ in play.events(bar.describe, bar.advance):
            pass
    except Exception as error:  # noqa: BLE001 - any failure ends this run cleanly, records kept aside
        bar.close()
        store.write_failure(run_dir, error)
        if isinstance(error, RunFailed) and error.stops_grid:  # a budget reached: the grid stops with it
            raise
        raise RunFailed(redact_text(f"run {run_dir} failed: {type(error).__name__}: {error}")) from error
    finally:
        play.close()
    bar.describe("summarising")
    try:
        frames, summary = play.summary(rid, execution, started)
    finally:
        bar.close()
    store.finish(run_dir, frames, summary.to_dict(), execution["id"])
    return RunResult(run_dir, summary.to_dict())


def _execute_study(config: ExperimentConfig, out_root: Path, run_dir: Path, rid: str, execution: dict, started: float,
                   *, progress: bool, position: str) -> RunResult:
    """Compute ``config.study`` (:mod:`.studies`) in its claimed folder: ``study.parquet`` beside
    empty episode tables, the study's headline numbers as the run's metrics."""
    from dilemmazoo.agents.backends.redaction import redact_text
    from dilemmazoo.experiments.studies import run_study

    where = run_dir.relative_to(out_root / config.name).as_posix()
    title = f"{config.name} ({position}) {where}" if position else f"{config.name} {where}"
    bar = ProgressBar(1, title, unit="studies", disable=not progress)
    try:
        bar.describe(f"computing study {config.study.name}")
        table, metrics = run_study(config.study.name, config.world.kwargs, config.study.kwargs)
        bar.advance()
    except Exception as error:  # noqa: BLE001 - as a failed episode: recorded, raised as RunFailed
        bar.close()
        store.write_failure(run_dir, error)
        raise RunFailed(redact_text(f"run {run_dir} failed: {type(error).__name__}: {error}")) from error
    bar.close()
    summary = Summary(
        experiment=config.name, run_id=rid, world=world_id(config.world.id), seed=config.seeds[0], episodes=0,
        generations=0, wall_time_s=round(time.perf_counter() - started, 3), cell=cell_values(config),
        execution=execution,
    )
    frames = store.frames(_Recorder())
    frames["study"] = table
    summary.counts = _counts(frames, [])
    summary.metrics = metrics
    summary.provenance = {**code_provenance(), "agents": [], "study": config.study.name}
    store.finish(run_dir, frames, summary.to_dict(), execution["id"])
    return RunResult(run_dir, summary.to_dict())


def _population_row(member: Member, generation: int, score: float, survived: bool, *, episode: int = -1,
                    round_number: int = 0) -> dict[str, Any]:
    return {
        "generation": generation, "name": member.name, "strategy": member.strategy,
        "params": json.dumps(_jsonable(member.params), sort_keys=True), "parents": ",".join(member.parents),
        "score": score, "survived": survived, "episode": episode, "round": round_number,
    }


def _counts(frames: dict[str, pd.DataFrame], policies: list) -> dict[str, int]:
    steps, calls = frames["steps"], frames["llm_calls"]
    decided = steps[steps["decided"]] if len(steps) else steps
    return {
        "steps": int(len(steps[["episode", "step"]].drop_duplicates())) if len(steps) else 0,
        "decisions": int(len(decided)),
        "parse_failures": int(decided["parse_failures"].sum()) if len(decided) else 0,
        "fallbacks": int(decided["fallback_used"].sum()) if len(decided) else 0,
        "llm_calls": int(len(calls)),
        "cache_hits": int(calls["cached"].sum()) if len(calls) else 0,
        "strategy_failures": sum(int(p.strategy_failures) for p in policies),
    }


def _world_metrics(world_id: str, steps: pd.DataFrame, world_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    from dilemmazoo.analysis import world_metrics

    return world_metrics(world_id, steps, world_kwargs)


# -- many runs -------------------------------------------------------------------------------

def _cell_positions(runs: list[ExperimentConfig]) -> list[tuple[int, int]]:
    """Each run's grid cell as (index from 1, number of cells), cells in expansion order."""
    cells = list(dict.fromkeys(json.dumps(r.cell, sort_keys=True) for r in runs))
    return [(cells.index(json.dumps(r.cell, sort_keys=True)) + 1, len(cells)) for r in runs]


def _describe_run(config: ExperimentConfig, out_root: str | Path) -> str:
    """A run for messages: its folder (where it is or would go), grid cell and seed."""
    folder = store.run_dir_for(out_root, config, run_id(config)) or Path(out_root) / config.name / store.run_folder_name(config)
    cell = ", ".join(f"{key}={label}" for key, label in config.cell.items())
    return f"{folder} ({f'cell {cell}, ' if cell else ''}seed {config.seeds[0]})"


def run_experiment(
    config: ExperimentConfig,
    out_root: str | Path = "runs",
    *,
    workers: int | None = None,
    progress: bool = True,
    on_result: Callable[[RunResult], None] | None = None,
    executor: str | None = None,
    address: str | None = None,
    budget=None,
) -> list[RunResult]:
    """Every grid point and seed; finished runs are skipped, failures reported at the end.

    A run that another process is executing (two commands on one output folder) is put back
    and taken up after the others, waiting for that process, so that each run is executed once
    and the other process's finished run is then skipped. With more than one worker the runs
    go to worker processes (:class:`_Workers`) that die with this process; a worker that dies
    (killed, out of memory) fails its run with a message naming it, is replaced, and the grid
    goes on. ``executor="ray"`` (default: the config's ``executor``) sends each run to Ray as a
    task (:mod:`.ray_executor`; ``address`` joins a cluster). :class:`RunFailed` at the end lists
    every failed run.

    ``budget`` (:class:`~dilemmazoo.experiments.budget.Budget`) counts the grid's finished runs,
    then guards every backend of every run; when it is reached the run in progress fails (it is
    redone on resume), no further run starts, and its
    :class:`~dilemmazoo.experiments.budget.BudgetExceeded` is raised once the runs in flight end.
    """
    check_config(config)  # the whole grid, before any folder is made
    runs = expand_grid(config)
    executor = executor or config.executor
    workers = min(workers or config.workers, len(runs))
    results: list[RunResult] = []
    failures: list[str] = []
    cells = _cell_positions(runs)
    stopped: list[RunFailed] = []  # a budget reached
    if budget is not None:
        budget.count_finished(out_root, runs)

    def finished(result: RunResult) -> None:
        results.append(result)
        if on_result:
            on_result(result)

    if executor == "ray":
        from dilemmazoo.experiments.ray_executor import run_on_ray

        ledger = None
        if budget is not None and budget.limited:
            if (address or config.ray.address) and config.ray.store != "shared":
                raise ConfigError("a budget (--budget-usd, --max-calls) on a Ray cluster needs ray.store: shared "
                                  "(the tasks count together in a file under --out, which every node must see)")
            # the tasks count together in a file under --out (a local instance's tasks share this machine)
            Path(out_root).mkdir(parents=True, exist_ok=True)
            ledger = Path(out_root).resolve() / f".budget-{os.getpid()}.json"
            ledger.write_text("")
            budget.share(str(ledger))

        todo = []
        for run in runs:  # finished runs are skipped before anything is submitted
            found = _finished(Path(out_root), run, run_id(run))
            if found is not None:
                finished(found)
            else:
                todo.append(run)
        bar = ProgressBar(len(todo), f"{config.name} (ray)", unit="runs", disable=not progress)
        try:
            run_on_ray(config, todo, out_root, workers=workers or 1, bar=bar, failed=failures.append,
                       execute=execute if ledger is None else partial(execute, budget=budget),
                       finished=lambda run_dir, skipped: finished(
                           RunResult(run_dir, store.load_summary(run_dir) or {}, skipped=skipped)),
                       stopped=stopped.append, address=address)
        finally:
            bar.close()
            if ledger is not None:
                ledger.unlink(missing_ok=True)
    elif workers <= 1:
        def attempt(i: int, *, wait: bool) -> bool:
            """Run ``runs[i]``; False when another process holds it (and ``wait`` is off)."""
            cell, cell_count = cells[i]
            position = f"run {i + 1}/{len(runs)}, cell {cell}/{cell_count}" if len(runs) > 1 else ""
            try:
                finished(execute(runs[i], out_root, progress=progress, position=position, wait=wait, budget=budget))
            except store.RunBusy:
                return False
            except RunFailed as error:
                if error.stops_grid:
                    raise
                failures.append(str(error))
            return True

        held_elsewhere = [i for i in range(len(runs)) if not attempt(i, wait=False)]
        for i in held_elsewhere:  # the other process has probably finished them by now
            attempt(i, wait=True)
    else:
        bar = ProgressBar(len(runs), f"{config.name} ({workers} workers)", unit="runs", disable=not progress)
        cell_count = cells[0][1]
        left_in_cell = Counter(cell for cell, _ in cells)
        bar.describe(f"cells finished 0/{cell_count}")
        ledger = None
        if budget is not None:  # the workers count together in a file
            import tempfile

            handle, ledger = tempfile.mkstemp(prefix="dilemmazoo-budget-", suffix=".json")
            os.close(handle)
            budget.share(ledger)
        try:
            with _Workers(workers, out_root) as pool:
                for index, outcome in pool.run([r.model_dump() for r in runs], budget=budget,
                                               describe=lambda i: _describe_run(runs[i], out_root)):
                    left_in_cell[cells[index][0]] -= 1
                    bar.describe(f"cells finished {sum(1 for left in left_in_cell.values() if left == 0)}/{cell_count}")
                    bar.advance()
                    if isinstance(outcome, RunResult):
                        finished(outcome)
                    elif isinstance(outcome, RunFailed):  # stops the grid: the worker wrote failure.json if it began
                        stopped.append(outcome)
                    else:
                        failures.append(outcome)
                        _note_failure(runs[index], out_root, outcome)
        finally:
            bar.close()
            if ledger is not None:
                Path(ledger).unlink(missing_ok=True)
    if stopped:
        raise stopped[0]
    if failures:
        done = len(results)
        raise RunFailed(f"{len(failures)} of {len(runs)} runs failed ({done} finished and kept):\n" + "\n".join(failures))
    return results


def _note_failure(config: ExperimentConfig, out_root: str | Path, message: str) -> None:
    """Write ``failure.json`` for a failed run unless its worker did (a worker that died could
    not; it may have died before making the run's folder), the run is finished, or another
    process has taken it up since."""
    rid = run_id(config)
    try:
        with store.run_lock(out_root, config, rid, wait=False):
            run_dir = store.run_dir_for(out_root, config, rid, claim=True)
            if not store.inspect_run(run_dir, rid).finished and not (run_dir / "failure.json").exists():
                store.write_failure(run_dir, message)
                with run_log(run_dir):  # its worker could not say it in run.log: the main process does
                    _log.error("%s", message)
    except store.RunBusy:
        pass


# -- worker processes ------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1  # prctl option, <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """Make this process die when ``parent_pid`` (its parent) does, however the parent dies.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (prctl(2)), checked against a parent that died
    before the call. Elsewhere a thread watches the parent id once a second.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            armed = False
    if os.getppid() != parent_pid:  # the parent is already gone: we were re-parented
        os._exit(1)
    if not armed:  # pragma: no cover - not Linux
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _worker_main(conn, parent_pid: int, out_root: str, log_level: int | None = None) -> None:
    """A worker process: run the runs it is sent, one at a time, and answer each. ``log_level``:
    the main process's terminal level (:func:`~dilemmazoo.experiments.logs.configure_logging`), if set."""
    from dilemmazoo.agents.backends.redaction import (
        install_log_redaction,
        redact_text,
        register_secrets,
        secrets_in_config,
        secrets_in_environment,
    )

    _die_with_parent(parent_pid)
    # a spawned worker inherits no registered secrets: every log line and error it makes is redacted too
    install_log_redaction()
    register_secrets(secrets_in_environment())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it stops the workers
    if log_level is not None:  # its retries and fallbacks show on the same stderr as the main process's
        configure_logging(log_level)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        config_data, wait, budget = task
        register_secrets(secrets_in_config(config_data))
        config = ExperimentConfig.model_validate(config_data)
        try:
            result = execute(config, out_root, progress=False, wait=wait, budget=budget)
            reply = ("done", str(result.run_dir), result.summary, result.skipped)
        except store.RunBusy:
            reply = ("busy",)
        except RunFailed as error:
            reply = ("stop", error) if error.stops_grid else ("failed", str(error))
        except Exception as error:  # noqa: BLE001 - anything else fails this run, not the grid
            reply = ("failed", redact_text(f"run {_describe_run(config, out_root)} failed: {type(error).__name__}: {error}"))
        conn.send(reply)


def _death(exitcode: int | None) -> str:
    """How a worker process ended, in words."""
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (the system may have run out of memory)" if -exitcode == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with status {exitcode}"


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Any

    def receive(self):
        """The worker's answer, or ``None`` when it died instead of answering."""
        try:
            if self.conn.poll():
                return self.conn.recv()
        except (EOFError, OSError):
            pass
        return None


class _Workers:
    """Worker processes that run a grid's runs, one run each at a time.

    Workers are spawned (fresh interpreters) and die with the main process, however it dies
    (:func:`_die_with_parent`); leaving the ``with`` block stops them. A worker that dies while
    running a run (killed, out of memory) makes that run fail with a message naming it; a new
    worker takes its place and the other runs go on, untouched. A run another process holds
    (:class:`store.RunBusy`) is put back and sent again, waiting, once nothing else is left.
    """

    def __init__(self, count: int, out_root: str | Path):
        self.count = count
        self.out_root = str(out_root)
        self.context = get_context("spawn")
        self.idle: list[_Worker] = []
        self.busy: dict[_Worker, int] = {}

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> _Worker:
        mine, theirs = self.context.Pipe()
        process = self.context.Process(target=_worker_main, args=(theirs, os.getpid(), self.out_root, terminal_level()),
                                       daemon=True,
                                       name="dilemmazoo-worker")
        process.start()
        theirs.close()
        return _Worker(process, mine)

    def run(self, tasks: list[dict], *, describe: Callable[[int], str],
            budget=None) -> Iterator[tuple[int, RunResult | RunFailed | str]]:
        """Run every task (a config as data); yields ``(index, RunResult or failure message)`` as runs end.

        A run stopped by ``budget`` yields its :class:`RunFailed` (``stops_grid``), and no further
        run is sent; the runs in flight end first."""
        pending = deque((index, False) for index in range(len(tasks)))
        held_elsewhere: list[int] = []
        while pending or self.busy or held_elsewhere:
            if not pending and not self.busy:
                pending.extend((index, True) for index in held_elsewhere)
                held_elsewhere.clear()
            while pending and (self.idle or len(self.busy) < self.count):
                worker = self.idle.pop() if self.idle else self._start()
                index, wait = pending.popleft()
                try:
                    worker.conn.send((tasks[index], wait, budget))
                except OSError:  # it died while idle
                    self._reap(worker)
                    pending.appendleft((index, wait))
                    continue
                self.busy[worker] = index
            ready = set(wait_for([w.conn for w in self.busy] + [w.process.sentinel for w in self.busy]))
            for worker, index in list(self.busy.items()):
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                reply = worker.receive()
                if reply is None and (worker.process.sentinel in ready or not worker.process.is_alive()):
                    del self.busy[worker]
                    how = _death(self._reap(worker))
                    yield index, f"run {describe(index)} failed: its worker process (pid {worker.process.pid}) {how}"
                    continue
                if reply is None:
                    continue
                del self.busy[worker]
                self.idle.append(worker)
                if reply[0] == "busy":
                    held_elsewhere.append(index)
                elif reply[0] == "stop":
                    pending.clear()
                    held_elsewhere.clear()
                    yield index, reply[1]
                elif reply[0] == "done":
                    yield index, RunResult(Path(reply[1]), reply[2], skipped=reply[3])
                else:
                    yield index, reply[1]

    def _reap(self, worker: _Worker) -> int | None:
        worker.process.join(timeout=5)
        worker.conn.close()
        return worker.process.exitcode

    def close(self) -> None:
        """Stop every worker: idle ones are told to leave, busy ones (an interrupted grid) are terminated."""
        for worker in self.idle:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self.busy:
            worker.process.terminate()
        for worker in [*self.idle, *self.busy]:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self.idle, self.busy = [], {}
