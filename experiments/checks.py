"""Everything a config can be checked for before a run writes anything, and the plan of a grid.

:func:`check_experiment` takes a validated :class:`~dilemmazoo.experiments.config.ExperimentConfig`
(a whole grid, or one run of it) and raises :class:`~dilemmazoo.experiments.config.ConfigError`
naming the field at the first problem a run would meet later. It builds nothing that runs: no
model is loaded, no backend built, no policy process started (the sandbox's isolation probe
aside, once per process), nothing written. For every
distinct grid point (seeds do not change what is checked) it checks

- the world: its id and its keyword arguments (the world is built, and closed);
- the seats: the groups' ``seats`` fill the world's seats exactly (a ``tournament``'s groups are
  types without seats: each is checked holding every seat, and under reputation ``copies`` is
  the number of types, :func:`mechanism_kwargs`);
- the population dynamics and the utility transform: registered names, valid arguments, and
  that policy synthesis and ``kind: synthesized`` come together;
- scripted groups: the strategy and its parameters, and that each group's first decision in
  this world succeeds (a strategy of another world fails here, not in a run);
- language-model groups: the backend spec, the backend's optional packages, each
  ``backend_options`` key against the options the backend declares (an unknown one is named,
  with the accepted ones listed), the types of the common numeric options, ``decision: score``
  against the backend's declared ability to return log-probabilities and against the world's
  decisions (one episode at the fallback actions: each needs options, or an amount and a
  ``score_grid``; ``decision: distribution`` likewise, messages aside, and with
  ``distribution_source: score`` a backend that can score), that a ``scripted:PATH``
  file exists, reads as UTF-8 and holds answers, that an ``hf:`` folder given as a path
  exists, and that an API backend will find the key variable it is told to read (the variable is
  named, never its value);
- synthesized groups: a grid world, their options (names and types, :data:`SYNTHESIS_OPTIONS`),
  and ``isolation``: the level asked for must be one this machine gives
  (:func:`dilemmazoo.agents.sandbox.resolve_isolation`; ``auto`` refuses a machine with process
  isolation only, and ``isolation: process`` is the explicit weaker choice). ``sandbox`` is gone.

The shape of the config (missing fields, types, ranges, the run name, worker counts) is
checked when it is validated (:mod:`dilemmazoo.experiments.config`).

:func:`plan` expands the grid into cells, seeds and runs and estimates the model calls;
``dilemmazoo run --check CONFIG`` prints it. The estimate plays one episode of each cell's world
with every decision at the world's declared fallback action and counts the decisions of each
language-model group (one model call each; retries after unparseable answers add up to
``max_retries`` more per decision, and cached calls cost nothing), plus the strategies the
population dynamics ask the model to write. A tournament's calls are each type's decisions with
the type in every seat, times the episodes (:func:`tournament_profiles`), over the number of
types (each type holds that share of all seats). Worlds whose length depends on the moves (a commons
that runs out early) may differ.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dilemmazoo.experiments.config import AgentsConfig, ConfigError, ExperimentConfig, expand_grid

__all__ = ["CellPlan", "GridPlan", "SYNTHESIS_OPTIONS", "check_experiment", "configured_world", "mechanism_kwargs",
           "plan", "population_tournament", "tournament_profiles"]

#: the grid worlds synthesized policies are written for (agents.synthesis: cleanup, gathering)
SYNTHESIS_WORLDS = ("dilemmazoo/cleanup-v0", "dilemmazoo/gathering-v0")
#: the isolation levels a synthesized group may ask for (agents.sandbox.probe_isolation)
ISOLATION_LEVELS = ("auto", "bubblewrap", "namespaces", "process")


def _int_at_least(low: int):
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            return f"must be a whole number >= {low}"
        return None
    return check


def _positive_number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
        return "must be a number > 0"
    return None


def _positive_number_or_null(value: Any) -> str | None:
    return None if value is None else _positive_number(value)


def _number_at_least_zero(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or not math.isfinite(value):
        return "must be a number >= 0"
    return None


def _mapping(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict) else "must be a mapping of world keyword arguments"


def _game(value: Any) -> str | None:
    return None if value in (None, "cleanup", "gathering") else "must be 'cleanup' or 'gathering' (or left out)"


def _isolation(value: Any) -> str | None:
    if value not in ISOLATION_LEVELS:
        return f"must be one of {', '.join(ISOLATION_LEVELS)}"
    return None


#: a synthesized group's ``params`` (agents.synthesis.SynthesizedPolicy's options) -> value check
SYNTHESIS_OPTIONS = {
    "game": _game,
    "max_code_retries": _int_at_least(0),
    "smoke_steps": _int_at_least(0),
    "smoke_world": _mapping,
    "isolation": _isolation,
    "call_timeout_s": _positive_number,
    "memory_mb": _int_at_least(1),
    "episode_budget_s": _positive_number_or_null,
    "max_timeouts_per_episode": _int_at_least(1),
}

#: value checks of backend options that several backends share (applied where a backend takes them)
BACKEND_OPTION_CHECKS = {
    "concurrency": _int_at_least(1),
    "max_retries": _int_at_least(0),
    "requests_per_minute": _positive_number_or_null,
    "tokens_per_minute": _positive_number_or_null,
    "timeout_s": _positive_number,
    "backoff_s": _number_at_least_zero,
    "max_backoff_s": _number_at_least_zero,
    "max_batch_size": _int_at_least(1),
    "max_batch_tokens": _int_at_least(1),
}


# -- checks --------------------------------------------------------------------------------------

def check_experiment(config: ExperimentConfig) -> None:
    """Raise :class:`ConfigError` naming the field if any run of ``config`` would fail for its config.

    Every distinct grid point is checked once (its seeds share the checks); see the module
    docstring for what is checked. Nothing is built that runs and nothing is written.
    """
    seen: set[str] = set()
    # a grid-free config (one run of a grid among them) is checked as it is, keeping its cell
    for run in expand_grid(config) if config.grid else [config]:
        point = json.dumps(run.model_dump(exclude={"seeds", "cell", "workers", "description"}), sort_keys=True,
                           default=str)
        if point in seen:
            continue
        seen.add(point)
        try:
            _check_run(run)
        except ConfigError as error:
            if not run.cell:
                raise
            raise ConfigError(f"{error} (grid cell {_cell_label(run)})") from None


def _check_run(config: ExperimentConfig) -> None:
    if config.study is not None:  # a computation, not episodes: the world must build, the study take its kwargs
        from dilemmazoo.experiments.studies import check_study

        _world_seats(config)
        try:
            check_study(config.study.name, config.world.kwargs, config.study.kwargs)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"study: {_error_text(error)}") from None
        return
    seats = _world_seats(config)
    if config.tournament is None:
        _check_seats(config, seats)
    _check_norms(config)
    for index, group in enumerate(config.groups):
        where = _group_field(config, index)
        if group.kind == "scripted":
            _check_scripted(group, where)
        else:
            _check_backend(group, where)
        if group.kind == "synthesized":
            _check_synthesized(config, group, where)
    if any(g.kind == "llm" and g.decision in ("score", "distribution") for g in config.groups):
        _check_scored_decisions(config)
    if any(g.kind == "scripted" for g in config.groups):
        _check_scripted_first_moves(config)


def configured_world(config: ExperimentConfig):
    """The world a run of ``config`` plays: the configured world, wrapped by its mechanism if any.

    Bad world arguments and a mechanism that cannot go on the world are :class:`ConfigError`.
    """
    from dilemmazoo.envs import make_world, world_id
    from dilemmazoo.envs.plugins import PluginError
    from dilemmazoo.norms import make_mechanism

    try:
        world_id(config.world.id)
    except ValueError as error:
        raise ConfigError(f"world.id: {error}") from None
    try:
        world = make_world(config.world.id, **config.world.kwargs)
    except PluginError as error:  # a plugin world that fails to import: the name is what cannot be used
        raise ConfigError(f"world.id: {_error_text(error)}") from None
    except (TypeError, ValueError, KeyError, OSError) as error:
        raise ConfigError(f"world.kwargs: cannot build {config.world.id!r} with {config.world.kwargs}: "
                          f"{_error_text(error)}") from None
    if config.mechanism is None:
        return world
    try:
        return make_mechanism(config.mechanism.name, **mechanism_kwargs(config)).wrap(world)
    except (TypeError, ValueError) as error:
        field_name = "mechanism.name" if "unknown mechanism" in str(error) else "mechanism"
        raise ConfigError(f"{field_name}: cannot put {config.mechanism.name!r} on {config.world.id!r}: "
                          f"{_error_text(error)}") from None


def mechanism_kwargs(config: ExperimentConfig) -> dict[str, Any]:
    """The mechanism's keyword arguments as a run builds it: a tournament under ``reputation``
    plays the whole population in one world, so ``copies`` is the number of types K (given, it
    must be K)."""
    kwargs = dict(config.mechanism.kwargs) if config.mechanism else {}
    if config.tournament is not None and config.mechanism is not None and config.mechanism.name == "reputation":
        types = len(config.groups)
        if kwargs.get("copies", types) != types:
            raise ConfigError(f"mechanism.kwargs.copies: a tournament under reputation plays one copy of the world "
                              f"per type ({types} types); leave copies out or write copies: {types}")
        kwargs["copies"] = types
    return kwargs


def population_tournament(config: ExperimentConfig) -> bool:
    """Whether ``config`` is a tournament whose whole population plays one world (reputation)."""
    return config.tournament is not None and config.mechanism is not None and config.mechanism.name == "reputation"


def tournament_profiles(config: ExperimentConfig, seats: list[str]) -> list[tuple[int, ...]]:
    """The seat profiles a tournament plays, in order: each a type index per seat of ``seats``
    (the world the run plays). Every ordered profile (``itertools.product``, K^N, self-play
    included) once per repeat; under reputation the whole population, type k in seats
    ``k*N .. k*N+N-1`` (copy k of the world), once per repeat."""
    import itertools

    types = len(config.groups)
    if population_tournament(config):
        if len(seats) % types:
            raise ConfigError(f"mechanism: reputation gave {len(seats)} seats, not a multiple of the {types} types")
        size = len(seats) // types
        profiles = [tuple(seat // size for seat in range(len(seats)))]
    else:
        profiles = list(itertools.product(range(types), repeat=len(seats)))
    return profiles * config.tournament.repeats


def _world_seats(config: ExperimentConfig) -> list[str]:
    """The world's seats, after building it once from the config (then closed)."""
    world = configured_world(config)
    try:
        return list(world.possible_agents)
    finally:
        world.close()


def _check_seats(config: ExperimentConfig, seats: list[str]) -> None:
    """The groups' seats fill the world's exactly (one group may leave ``seats`` out: the rest)."""
    groups = config.groups
    fixed = sum(g.seats for g in groups if g.seats is not None)
    rest = len(seats) - fixed
    open_groups = sum(g.seats is None for g in groups)
    if rest < 0 or (rest > 0 and open_groups == 0) or (rest == 0 and open_groups > 0):
        counts = [g.seats if g.seats is not None else "rest" for g in groups]
        raise ConfigError(
            f"agents.seats: the groups' seats {counts} do not fill the world's {len(seats)} seats exactly "
            f"({config.world.id} with {config.world.kwargs or 'its defaults'}); give one group no 'seats' to take "
            "the rest, or change the counts")


def _check_norms(config: ExperimentConfig) -> None:
    from dilemmazoo.envs.plugins import PluginError
    from dilemmazoo.norms import make_dynamics, make_mechanism, make_utility

    if config.population:
        try:
            make_dynamics(config.population.dynamics, **config.population.kwargs)
        except (ValueError, TypeError) as error:
            named = "unknown population dynamics" in str(error) or isinstance(error, PluginError)
            field_name = "population.dynamics" if named else "population.kwargs"
            raise ConfigError(f"{field_name}: {_error_text(error)}") from None
    if config.utility:
        try:
            make_utility(config.utility.name, **config.utility.kwargs)
        except (ValueError, TypeError) as error:
            named = "unknown utility" in str(error) or isinstance(error, PluginError)
            field_name = "utility.name" if named else "utility.kwargs"
            raise ConfigError(f"{field_name}: {_error_text(error)}") from None
    if config.mechanism:
        try:
            make_mechanism(config.mechanism.name, **mechanism_kwargs(config))
        except (ValueError, TypeError) as error:
            named = "unknown mechanism" in str(error) or isinstance(error, PluginError)
            field_name = "mechanism.name" if named else "mechanism.kwargs"
            raise ConfigError(f"{field_name}: {_error_text(error)}") from None
    synthesizing = config.population is not None and config.population.dynamics == "policy_synthesis"
    kinds = {g.kind for g in config.groups}
    if synthesizing and kinds != {"synthesized"}:
        raise ConfigError("population.dynamics: policy_synthesis has the model write Python policies; it needs "
                          "agents: {kind: synthesized, backend: ...}")
    if "synthesized" in kinds and not synthesizing:
        raise ConfigError("agents.kind: synthesized agents play the code the model writes, which policy synthesis "
                          "asks for; write population: {dynamics: policy_synthesis, generations: 4}")


def _check_scripted(group: AgentsConfig, where: str) -> None:
    from dilemmazoo.agents.scripted import make_scripted

    try:
        make_scripted(group.strategy, **group.params)
    except (ValueError, TypeError, ImportError, OSError) as error:
        text = _error_text(error)
        field_name = "params" if group.params and not text.startswith("unknown") else "strategy"
        raise ConfigError(f"{where}.{field_name}: {text}") from None


def _check_backend(group: AgentsConfig, where: str) -> None:
    """The backend a language-model group names: spec, packages, options, scoring, files, key."""
    from dilemmazoo.agents.backends import backend_info

    try:
        info = backend_info(group.backend)
    except ValueError as error:
        raise ConfigError(f"{where}.backend: {_error_text(error)}") from None
    except ImportError as error:
        raise ConfigError(f"{where}.backend: {group.backend!r} cannot be used here: {_error_text(error)}") from None
    options = group.backend_options
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        accepted = ", ".join(sorted(info.options)) or "none"
        raise ConfigError(
            f"{where}.backend_options: unknown option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)} for the {info.prefix} backend; it accepts: {accepted}")
    for name, value in options.items():
        check = BACKEND_OPTION_CHECKS.get(name)
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{where}.backend_options.{name}: {problem}, got {value!r}")
    if group.kind == "llm" and group.decision == "score" and not info.can_score:
        raise ConfigError(
            f"{where}.decision: 'score' needs a backend that returns log-probabilities; {group.backend!r} cannot "
            "score. Write decision: generate (or auto), or use a local backend (embedded, hf:MODEL)")
    if group.kind == "llm" and group.decision == "distribution" and group.distribution_source == "score" \
            and not info.can_score:
        raise ConfigError(
            f"{where}.distribution_source: 'score' needs a backend that returns log-probabilities; "
            f"{group.backend!r} cannot score. Write distribution_source: generate (a written answer), or use a "
            "local backend (embedded, hf:MODEL)")
    argument = group.backend.partition(":")[2]
    if info.prefix == "scripted":
        _check_script(argument, f"{where}.backend")
    elif info.prefix == "hf" and argument.startswith(("/", "./", "../", "~")):
        folder = Path(argument).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"{where}.backend: no model folder at {str(folder)!r} (hf:PATH names a local folder, "
                              "hf:ORG/NAME a model in the local Hugging Face cache)")
    elif info.prefix == "openai":
        variable = options.get("api_key_env", "OPENAI_API_KEY")
        if not options.get("base_url") and not os.environ.get(variable):
            raise ConfigError(
                f"{where}.backend_options.api_key_env: the openai backend reads its key from the environment "
                f"variable {variable}, which is not set; set it, or give base_url for a server that needs no key")
    elif info.prefix == "litellm" and options.get("api_key_env") and not os.environ.get(options["api_key_env"]):
        raise ConfigError(f"{where}.backend_options.api_key_env: the environment variable {options['api_key_env']} "
                          "is not set; set it, or leave api_key_env out for the provider's own variable")


def _check_script(path_text: str, where: str) -> None:
    """A ``scripted:PATH`` file: it exists, reads as UTF-8 and holds at least one answer."""
    from dilemmazoo.agents.backends.scripted import parse_script

    path = Path(path_text)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise ConfigError(f"{where}: scripted:PATH needs a file of answers; {str(path)!r} is {what} "
                          f"(relative paths are read from {os.getcwd()})")
    try:
        answers = parse_script(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{where}: cannot read the scripted answers in {str(path)!r}: {error}") from None
    if not answers:
        raise ConfigError(f"{where}: {str(path)!r} holds no answers (one per line, or blocks separated by ---)")


def _check_synthesized(config: ExperimentConfig, group: AgentsConfig, where: str) -> None:
    from dilemmazoo.envs import world_id

    if world_id(config.world.id) not in SYNTHESIS_WORLDS:
        raise ConfigError(f"{where}.kind: synthesized policies are written for the grid worlds (cleanup, gathering); "
                          f"the world is {config.world.id!r}")
    params = group.params
    if "sandbox" in params:
        hint = ("write isolation: process to run the code with process isolation only (a warning is shown on every "
                "run)" if params["sandbox"] is False else "leave it out (isolation: auto, the strongest this machine "
                "gives)")
        raise ConfigError(f"{where}.params.sandbox: the option is gone (code never runs in the host process); {hint}")
    unknown = sorted(set(params) - set(SYNTHESIS_OPTIONS))
    if unknown:
        raise ConfigError(f"{where}.params: unknown synthesized-policy option{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(repr(u) for u in unknown)}; the options are: {', '.join(SYNTHESIS_OPTIONS)}")
    for name, value in params.items():
        problem = SYNTHESIS_OPTIONS[name](value)
        if problem:
            raise ConfigError(f"{where}.params.{name}: {problem}, got {value!r}")
    from dilemmazoo.agents.sandbox import SandboxUnavailable, resolve_isolation

    try:  # what this machine gives is probed once per process (a few short-lived probe processes)
        resolve_isolation(params.get("isolation", "auto"))
    except SandboxUnavailable as error:
        raise ConfigError(f"{where}.params.isolation: {error}") from None


def _check_scored_decisions(config: ExperimentConfig) -> None:
    """``decision: score`` needs options at every decision: a choice, or an amount with ``score_grid``;
    ``decision: distribution`` too, except at messages (talk is written as text).

    One episode is played at the world's fallback actions and each decision of a scoring group
    is looked at (agents.llm.LLMPolicy.scoring_options is the rule).
    """
    from dilemmazoo.envs import Amount, Message
    from dilemmazoo.envs.institutions.phases import JsonAnswer

    groups = config.groups
    problems: list[str] = []

    def visit(step: int, seat: str, index: int, spec) -> None:
        group = groups[index]
        if problems or group.kind != "llm" or group.decision not in ("score", "distribution") \
                or spec.options() is not None:
            return
        if group.decision == "distribution":  # talk and a mechanism's JSON designs are written; numbers need a
            if isinstance(spec, Message | JsonAnswer):  # grid; other several-field answers: none
                return
            if isinstance(spec, Amount) and not group.score_grid:
                problems.append(f"{_group_field(config, index)}.score_grid: decision 'distribution' on an amount "
                                f"(step {step}, {seat}) needs amounts to weigh; write score_grid: [0, 0.25, 0.5, "
                                "0.75, 1] (fractions of the range), or decision: generate")
            elif not isinstance(spec, Amount):
                problems.append(f"{_group_field(config, index)}.decision: 'distribution' weighs options, and the "
                                f"{type(spec).__name__} decision at step {step} ({seat}) has several fields or no "
                                "options; write decision: generate (or auto)")
            return
        if isinstance(spec, Amount):
            if not group.score_grid:
                problems.append(f"{_group_field(config, index)}.score_grid: decision 'score' on an amount "
                                f"(step {step}, {seat}) needs amounts to score; write score_grid: [0, 0.25, 0.5, 0.75, "
                                "1] (fractions of the range), or decision: generate (or auto)")
        else:
            problems.append(f"{_group_field(config, index)}.decision: 'score' needs options to score, and the "
                            f"{type(spec).__name__} decision at step {step} ({seat}) offers none; write decision: "
                            "auto (scores the choices it can, generates the rest) or generate")

    _play_at_fallbacks(config, visit)
    if problems:
        raise ConfigError(problems[0])


def _owner_maps(config: ExperimentConfig, seats: list[str]) -> list[dict[str, int]]:
    """The seatings a check plays: the groups' own (:func:`_seat_owners`), or in a tournament one
    seating per type with the type in every seat (what each type must be able to play)."""
    if config.tournament is None:
        return [_seat_owners(config, seats)]
    return [dict.fromkeys(seats, index) for index in range(len(config.groups))]


def _seat_owners(config: ExperimentConfig, seats: list[str]) -> dict[str, int]:
    """Seat -> index of the group playing it (in seat order; the group without ``seats`` takes the rest)."""
    groups = config.groups
    fixed = sum(g.seats for g in groups if g.seats is not None)
    owner, start = {}, 0
    for index, g in enumerate(groups):
        count = g.seats if g.seats is not None else len(seats) - fixed
        owner.update({seat: index for seat in seats[start:start + count]})
        start += count
    return owner


_FIRST_MOVE_STEPS = 100  # how far to play for every scripted group to decide once


def _check_scripted_first_moves(config: ExperimentConfig) -> None:
    """Each scripted group makes its first decision in this world (a strategy written for another
    world fails here, not in a run). The world plays its fallback actions meanwhile. In a
    tournament each scripted type plays every seat once."""
    groups = config.groups
    world = configured_world(config)
    try:
        seats = list(world.possible_agents)
    finally:
        world.close()
    for owner in _owner_maps(config, seats):
        waiting = {owner[seat] for seat in seats if groups[owner[seat]].kind == "scripted"}
        if waiting:
            _first_moves(config, owner, waiting)


def _first_moves(config: ExperimentConfig, owner: dict[str, int], waiting: set[int]) -> None:
    """Play the world at its fallbacks until every group in ``waiting`` (seated by ``owner``) decided once."""
    import numpy as np

    from dilemmazoo.agents.base import Decision
    from dilemmazoo.agents.scripted import ScriptedPolicy

    groups = config.groups
    world = configured_world(config)
    try:
        seats = list(world.possible_agents)
        observations, _ = world.reset(seed=config.seeds[0])
        policies = {}
        for i in waiting:
            mine = [seat for seat in seats if owner[seat] == i]
            policies[i] = ScriptedPolicy(groups[i].strategy, groups[i].params)
            policies[i].set_members({seat: dict(groups[i].params) for seat in mine})
            policies[i].start_episode({seat: world.rules(seat) for seat in mine}, np.random.default_rng([0, 3]))
        step = 0
        while world.agents and waiting and step < _FIRST_MOVE_STEPS:
            step += 1
            deciders = world.deciders()
            for i in sorted(waiting):
                mine = [seat for seat in deciders if owner[seat] == i]
                if not mine:
                    continue
                requests = [Decision(agent_id=seat, observation=observations[seat], text=world.describe(seat),
                                     spec=world.action_spec(seat), rules=world.rules(seat), step=step, episode=0,
                                     generation=1) for seat in mine]
                try:
                    policies[i].act_batch(requests)
                except Exception as error:  # noqa: BLE001 - whatever the strategy raises, it cannot play here
                    raise ConfigError(
                        f"{_group_field(config, i)}.strategy: {groups[i].strategy!r} cannot play {config.world.id} "
                        f"(its first decision failed: {type(error).__name__}: {error}); 'dilemmazoo list' and the "
                        "README name the strategies of each world") from None
                waiting.discard(i)
            actions = {seat: world.action_spec(seat).fallback if seat in deciders else world.idle_action(seat)
                       for seat in world.agents}
            observations, *_ = world.step(actions)
    finally:
        world.close()


def _play_at_fallbacks(config: ExperimentConfig, visit) -> None:
    """Play one episode of the config's world with every decision at the world's declared fallback.

    ``visit(step, seat, group_index, spec)`` sees each decision. Errors of the world propagate.
    """
    world = configured_world(config)
    try:
        owners = _owner_maps(config, list(world.possible_agents))
    finally:
        world.close()
    for owner in owners:  # a tournament: each type in every seat, once
        _play_seated_at_fallbacks(config, owner, visit)


def _play_seated_at_fallbacks(config: ExperimentConfig, owner: dict[str, int], visit) -> None:
    world = configured_world(config)
    try:
        world.reset(seed=config.seeds[0])
        step = 0
        while world.agents and step < _MAX_STEPS:
            step += 1
            deciders = set(world.deciders())
            actions = {}
            for seat in world.agents:
                if seat in deciders:
                    spec = world.action_spec(seat)
                    visit(step, seat, owner[seat], spec)
                    actions[seat] = spec.fallback
                else:
                    actions[seat] = world.idle_action(seat)
            world.step(actions)
    finally:
        world.close()


_MAX_STEPS = 1_000_000  # a guard against a world that never ends


def _group_field(config: ExperimentConfig, index: int) -> str:
    return f"agents.{index}" if isinstance(config.agents, list) else "agents"


def _error_text(error: BaseException) -> str:
    text = str(error)
    return text.strip("'\"") if isinstance(error, KeyError) else text


def _cell_label(config: ExperimentConfig) -> str:
    from dilemmazoo.experiments.store import cell_folder

    return cell_folder(dict(config.cell))


# -- the plan ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CellPlan:
    """One grid cell: its label (``key=value,...``, ``""`` without a grid), seeds and estimate."""

    label: str
    values: dict[str, str]
    seeds: tuple[int, ...]
    run_folders: tuple[str, ...]
    decisions_per_episode: dict[str, int]  # language-model group label -> decisions in one episode
    calls_per_run: int
    notes: tuple[str, ...] = ()

    @property
    def model_calls(self) -> int:
        return self.calls_per_run * len(self.seeds)


@dataclass(frozen=True)
class GridPlan:
    """The expanded grid of a config: cells, seeds, runs, and the model calls they should take."""

    name: str
    cells: tuple[CellPlan, ...]
    seeds: tuple[int, ...]
    episodes: int  # episodes per run: generations x episodes per generation (0: a tournament's, by cell)
    notes: tuple[str, ...] = field(default=())

    @property
    def runs(self) -> int:
        return sum(len(c.seeds) for c in self.cells)

    @property
    def model_calls(self) -> int:
        return sum(c.model_calls for c in self.cells)

    def text(self, out_root: str | Path | None = None) -> str:
        """The plan in words; run folders under ``out_root`` when given."""
        seeds = ", ".join(str(s) for s in self.seeds)
        episodes = f"{self.episodes} episode(s) per run" if self.episodes else "episodes per run: by cell (a tournament)"
        lines = [f"{self.name}: {len(self.cells)} cell(s) x {len(self.seeds)} seed(s) = {self.runs} run(s); "
                 f"seeds {seeds}; {episodes}",
                 f"model calls (estimate): {self.model_calls}"]
        for cell in self.cells:
            per_episode = ", ".join(f"{label}: {n}" for label, n in cell.decisions_per_episode.items())
            decisions = f"; decisions per episode: {per_episode}" if per_episode else ""
            lines.append(f"  cell {cell.label or '(no grid)'}: {len(cell.seeds)} run(s), "
                         f"{cell.model_calls} model call(s){decisions}")
            lines.extend(f"    note: {note}" for note in cell.notes)
        lines.append("estimated: " + " ".join(self.notes))
        lines.append("run folders:")
        root = Path(out_root) if out_root is not None else None
        lines.extend(f"  {root / folder if root is not None else folder}"
                     for cell in self.cells for folder in cell.run_folders)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


_HOW = ("one episode of each cell's world played with every decision at the world's fallback action; each decision "
        "of a language-model group is one call, x episodes per generation x generations x seeds; strategy writing "
        "by the population dynamics added; retries after unparseable answers (up to max_retries per decision) and "
        "cache hits not counted; a world whose length depends on the moves may differ.")


def plan(config: ExperimentConfig) -> GridPlan:
    """Cells, seeds, runs and estimated model calls of ``config`` (see the module docstring)."""
    from dilemmazoo.experiments.store import cell_folder, run_folder_name

    runs = expand_grid(config)
    by_cell: dict[str, list[ExperimentConfig]] = {}
    for run in runs:
        by_cell.setdefault(json.dumps(run.cell, sort_keys=True), []).append(run)
    cells = []
    for members in by_cell.values():
        first = members[0]
        decisions, notes = _decisions_per_episode(first)
        calls, more = _calls_per_run(first, decisions)
        cells.append(CellPlan(
            label=cell_folder(dict(first.cell)), values=dict(first.cell), seeds=tuple(r.seeds[0] for r in members),
            run_folders=tuple(f"{config.name}/{run_folder_name(r)}" for r in members),
            decisions_per_episode=decisions, calls_per_run=calls, notes=(*notes, *more),
        ))
    episodes = 0 if config.tournament is not None else config.generations * config.episodes_per_generation
    return GridPlan(name=config.name, cells=tuple(cells), seeds=tuple(config.seeds), episodes=episodes, notes=(_HOW,))


def _group_labels(config: ExperimentConfig) -> list[str]:
    """The groups' labels as the runner names them (``label``, else kind and backend or strategy)."""
    groups = config.groups
    labels = []
    for i, g in enumerate(groups):
        label = g.label or (f"{g.kind}:{g.backend}" if g.kind in ("llm", "synthesized") else f"scripted:{g.strategy}")
        labels.append(f"{i}:{label}" if len(groups) > 1 and not g.label else label)
    return labels


def _decisions_per_episode(config: ExperimentConfig) -> tuple[dict[str, int], tuple[str, ...]]:
    """Decisions of each language-model group in one episode played at the fallback actions."""
    groups = config.groups
    if not any(g.kind == "llm" for g in groups):
        return {}, ()
    counts = [0] * len(groups)

    def count(step: int, seat: str, index: int, spec) -> None:
        counts[index] += 1

    try:
        _play_at_fallbacks(config, count)
    except Exception as error:  # noqa: BLE001 - an estimate only: the run itself reports real failures
        return {}, (f"decisions not estimated: playing the world at its fallback actions failed "
                    f"({type(error).__name__}: {error})",)
    labels = _group_labels(config)
    return {labels[i]: counts[i] for i, g in enumerate(groups) if g.kind == "llm"}, ()


def _calls_per_run(config: ExperimentConfig, decisions: dict[str, int]) -> tuple[int, tuple[str, ...]]:
    """Model calls of one run: decisions x episodes, plus the strategies the dynamics have written.

    A tournament's ``decisions`` are each type's in an episode where it holds every seat; each
    type holds 1/K of all seat-episodes, so a run makes ``episodes x sum / K`` calls."""
    if config.tournament is not None:
        world = configured_world(config)
        seats = list(world.possible_agents)
        world.close()
        episodes = len(tournament_profiles(config, seats))
        return round(sum(decisions.values()) * episodes / len(config.groups)), (
            f"tournament: {episodes} episode(s) per run; decisions per episode counted with the type in every seat",)
    episodes = config.generations * config.episodes_per_generation
    calls = sum(decisions.values()) * episodes
    notes: list[str] = []
    writer = config.groups[0]
    if config.population is None or writer.kind == "scripted":
        return calls, ()
    world = configured_world(config)
    size = len(world.possible_agents)
    world.close()
    dynamics, generations = config.population.dynamics, config.generations
    if dynamics == "cultural_evolution":
        survivors = max(1, math.floor(size * float(config.population.kwargs.get("survivor_fraction", 0.5))))
        writes = size + (generations - 1) * (size - survivors)
        notes.append(f"strategy writing: {size} initial + {size - survivors} newcomers in each later generation")
    elif dynamics == "policy_synthesis":
        retries = int(writer.params.get("max_code_retries", 3))
        writes = generations
        notes.append(f"code writing: one code per generation, up to {retries} more per code that fails validation")
    else:
        writes = 0
        notes.append(f"strategy writing by {dynamics} depends on play and is not counted")
    return calls + writes, tuple(notes)
