"""Experiment configs: validated data, so a grid is just data.

An experiment YAML names a world and its keyword arguments, the agents, the population
dynamics, how many generations and episodes, the seeds, and an optional ``grid`` of dotted
keys to sweep. Everything is checked before anything runs; an error names the bad field.

    name: donor_game_demo
    world: {id: donor-game, kwargs: {n_agents: 6, n_rounds: 6}}
    agents: {kind: llm, backend: embedded, temperature: 0.8}
    population: {dynamics: cultural_evolution, generations: 3}
    episodes_per_generation: 2
    seeds: [0]
    grid: {world.kwargs.donation_multiplier: [1.5, 2.0, 3.0]}

A grid axis is a list of values or a mapping ``label -> value``; the labels name the cells in
reports (``population: {none: null, social_learning: {dynamics: social_learning}}``).

This module checks the shape of a config (fields, types, ranges, a ``name`` that is one safe
folder name); :mod:`dilemmazoo.experiments.checks` checks what needs the registries and the file
system (worlds, strategies, backends and their options, scripted files) before a run writes
anything. Messages name the field and, for a missing or misshapen one, say what to write.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError, field_validator,
                      model_validator)

from dilemmazoo.agents.backends.redaction import is_secret_name

__all__ = [
    "AGENT_KINDS",
    "AgentsConfig",
    "ConfigError",
    "ExperimentConfig",
    "GroupConfig",
    "LLMAgentsConfig",
    "PopulationConfig",
    "ScriptedAgentsConfig",
    "StudyConfig",
    "SynthesizedAgentsConfig",
    "TournamentConfig",
    "UtilityConfig",
    "WorldConfig",
    "apply_overrides",
    "cell_values",
    "expand_grid",
    "list_presets",
    "load_config",
    "member_params",
    "parse_set",
    "run_id",
    "without_flat_defaults",
]


#: a run name is one folder under ``--out``: no separators, no leading dot or dash, bounded
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
NAME_MAX_CHARS = 100
#: an ``*_env`` backend option names an environment variable (its value is never written)
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A config that cannot run; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorldConfig(_Strict):
    id: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class AgentsConfig(_Strict):
    """Who plays a group of seats: the settings every kind shares (the base of the three kinds).

    ``kind`` picks the model of the group's other settings: :class:`LLMAgentsConfig` (``llm``, the
    default when ``kind`` is left out), :class:`ScriptedAgentsConfig` (``scripted``) or
    :class:`SynthesizedAgentsConfig` (``synthesized``); a setting of another kind is an error that
    names it. ``seats`` is how many seats the group takes, in seat order; one group may leave it out
    and takes the seats the others leave. ``label`` names the group in the records.

    ``AgentsConfig.model_validate(data)`` reads ``kind`` and returns the model of that kind.
    """

    kind: Literal["llm", "scripted", "synthesized"] = "llm"
    seats: int | None = Field(None, ge=1)
    label: str = ""

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> AgentsConfig:  # type: ignore[override]
        """Validate one group; on the base class, as the model its ``kind`` names."""
        if cls is AgentsConfig:
            return _GROUP_ADAPTER.validate_python(obj, **kwargs)
        return super().model_validate(obj, **kwargs)


class _BackendGroup(AgentsConfig):
    """Settings of the kinds whose seats ask a backend (a language model)."""

    backend: str = "embedded"
    temperature: float = Field(0.8, ge=0.0, le=5.0)
    max_tokens: int = Field(200, ge=1, le=32768)
    backend_options: dict[str, Any] = Field(
        default_factory=dict,
        description="keyword arguments for the backend (base_url, concurrency, requests_per_minute, api_key_env, ...)",
    )

    @field_validator("backend_options")
    @classmethod
    def _keys_stay_in_the_environment(cls, options: dict[str, Any]) -> dict[str, Any]:
        # A key given as a backend option has an environment alternative (api_key_env, or the
        # provider's own variable), so it is refused here; credentials nested in headers, request
        # bodies or URLs have none, and are redacted wherever the config is copied
        # (dilemmazoo.agents.backends.redaction). No message repeats a value.
        for key, value in options.items():
            if is_secret_name(str(key)) and value not in (None, ""):
                raise ValueError(
                    f"{key!r} looks like a secret; configs are saved with every run. Put it in an environment "
                    f"variable and name the variable instead (e.g. api_key_env: OPENAI_API_KEY)"
                )
        for path, value in _env_fields(options):
            if not (isinstance(value, str) and ENV_NAME_PATTERN.fullmatch(value)):
                raise ValueError(
                    f"{path} names an environment variable (e.g. {path}: OPENAI_API_KEY); the value given is not "
                    "a variable name (not shown: it may be a key itself)"
                )
        return options


class LLMAgentsConfig(_BackendGroup):
    """``kind: llm``: a language model decides each step (:class:`dilemmazoo.agents.llm.LLMPolicy`)."""

    kind: Literal["llm"] = "llm"
    persona: str = ""
    personas: Literal["none", "census"] = Field(
        "none", description="census: each seat gets its own model-written persona from a census cell (agents/personas)"
    )
    decision: Literal["auto", "generate", "score", "distribution"] = Field(
        "auto", description="distribution: a probability per option, the action drawn from it (agents/llm)")
    distribution_source: Literal["generate", "score"] = Field(
        "generate", description="decision: distribution: a written JSON answer, or the options' log-likelihoods "
                                "(a backend that can score: embedded, hf)")
    max_retries: int = Field(2, ge=0, le=10)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    score_grid: tuple[float, ...] = ()
    memory: int = Field(0, ge=0, description="lines of the agent's own past steps shown in each prompt")

    @field_validator("score_grid")
    @classmethod
    def _grid_in_unit_interval(cls, grid: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 <= g <= 1.0 for g in grid):
            raise ValueError("score_grid values are fractions and must lie in [0, 1]")
        return grid


class ScriptedAgentsConfig(AgentsConfig):
    """``kind: scripted``: a fixed strategy (``dilemmazoo list`` names them; ``axelrod:Name``,
    ``neural:CHECKPOINT``) with its keyword arguments ``params``."""

    kind: Literal["scripted"] = "scripted"
    strategy: str = "fixed_fraction"
    params: dict[str, Any] = Field(default_factory=dict)


class SynthesizedAgentsConfig(_BackendGroup):
    """``kind: synthesized``: a language model writes Python policies that run in the sandbox
    (:class:`dilemmazoo.agents.synthesis.SynthesizedPolicy`). ``backend``, ``temperature`` and
    ``max_tokens`` are the code writer's; ``params`` holds the synthesis and sandbox options
    (``max_code_retries``, ``smoke_steps``, ``isolation``, ``call_timeout_s``, ...; checked by
    :mod:`dilemmazoo.experiments.checks`)."""

    kind: Literal["synthesized"] = "synthesized"
    params: dict[str, Any] = Field(default_factory=dict, description="synthesis and sandbox options")


#: the model of each agent kind
AGENT_KINDS: dict[str, type[AgentsConfig]] = {
    "llm": LLMAgentsConfig, "scripted": ScriptedAgentsConfig, "synthesized": SynthesizedAgentsConfig}


def _group_kind(value: Any) -> Any:
    """The ``kind`` of a group as given (``llm`` when left out)."""
    if isinstance(value, dict):
        return value.get("kind", "llm")
    return getattr(value, "kind", None)


#: one agents group: the model of its ``kind``
GroupConfig = Annotated[
    Annotated[LLMAgentsConfig, Tag("llm")] | Annotated[ScriptedAgentsConfig, Tag("scripted")]
    | Annotated[SynthesizedAgentsConfig, Tag("synthesized")],
    Discriminator(_group_kind, custom_error_type="agent_kind",
                  custom_error_message=f"kind must be one of {', '.join(AGENT_KINDS)}"),
]
_GROUP_ADAPTER: TypeAdapter[AgentsConfig] = TypeAdapter(GroupConfig)

def member_params(group: AgentsConfig) -> dict[str, Any]:
    """The parameters a group's members start with: a scripted or synthesized group's ``params``
    (a copy); a language-model group has none."""
    return dict(group.params) if isinstance(group, (ScriptedAgentsConfig, SynthesizedAgentsConfig)) else {}


#: what an older, one-model-for-all-kinds group held at its defaults: run ids hash a group with
#: these filled in, so the runs of unchanged configs keep their ids (and their folders resume)
_FLAT_GROUP_DEFAULTS: dict[str, Any] = {
    "kind": "llm", "seats": None, "label": "", "backend": "embedded", "persona": "", "personas": "none",
    "decision": "auto", "distribution_source": "generate", "max_retries": 2, "temperature": 0.8, "top_p": 1.0,
    "max_tokens": 200, "score_grid": (), "memory": 0, "backend_options": {}, "strategy": "fixed_fraction",
    "params": {},
}


def _env_fields(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted path, value)`` of every field ending in ``_env`` in nested options."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}{key}"
            if str(key).lower().endswith("_env"):
                found.append((path, value))
            else:
                found.extend(_env_fields(value, f"{path}."))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(_env_fields(item, f"{prefix}{index}."))
    return found


class PopulationConfig(_Strict):
    dynamics: str = "cultural_evolution"
    generations: int = Field(1, ge=1)
    kwargs: dict[str, Any] = Field(default_factory=dict)


class UtilityConfig(_Strict):
    """A utility transform applied to every step's rewards (e.g. inequity aversion)."""

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class MechanismConfig(_Strict):
    """A mechanism put on the world (``repetition``, ``reputation``, ``mediation``, ``contracting``):
    ``dilemmazoo list norms`` names them; ``kwargs`` are its parameters."""

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class TournamentConfig(_Strict):
    """Play the agent groups as K *types* against each other (CoopEval's tournament, Tewolde et al.
    2026, ``mechanisms/base.py``): every ordered seat profile of the world's N seats (K^N,
    self-play included, in ``itertools.product`` order) is one episode, and the whole tournament
    is played ``repeats`` times. Each type's policy is built once and plays whichever seats the
    profile gives it; its member at seat k is named ``<label>#P<k>`` (a mechanism remembers the
    designs of each name). With ``mechanism: {name: reputation}`` the whole population (K types x
    N seats, ``copies: K``) plays one world per repeat instead.

    ``focal`` names the types the headline numbers average (CoopEval averages its LLM types);
    empty: every type."""

    repeats: int = Field(1, ge=1, description="how many times every seat profile is played")
    focal: list[str] = Field(default_factory=list,
                             description="type labels the headline numbers average (default: every type)")


class StudyConfig(_Strict):
    """A computation run in place of episodes (e.g. ``loyalty_sweep``: a theory sweep).

    ``name`` is a study registered in :mod:`dilemmazoo.experiments.studies`; ``kwargs`` are its
    parameters. The world names the game the study is about; agents and episodes are unused.
    """

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class RayConfig(_Strict):
    """How a grid runs on Ray (:mod:`dilemmazoo.experiments.ray_executor`); not part of a run's identity."""

    address: str | None = Field(
        None, description="an existing cluster to join (ray://host:10001 or auto); default: start a local instance")
    store: Literal["driver", "shared"] = Field(
        "driver", description="driver: each task returns its run's files and the driver writes them; "
                              "shared: tasks write into --out directly (a path every node sees)")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local instance (default: workers)")


class ExperimentConfig(_Strict):
    name: str = Field(description="the experiment's folder under --out: one safe folder name")
    description: str = ""
    world: WorldConfig
    agents: GroupConfig | list[GroupConfig] = LLMAgentsConfig()
    population: PopulationConfig | None = None
    utility: UtilityConfig | None = None
    mechanism: MechanismConfig | None = Field(
        None, description="an institution wrapped around the world: repetition, reputation, mediation, contracting")
    tournament: TournamentConfig | None = Field(
        None, description="the agent groups are types; every ordered seat profile is played (K^N episodes)")
    study: StudyConfig | None = Field(
        None, description="a registered study computed in place of episodes (its table is study.parquet)")
    episodes_per_generation: int = Field(1, ge=1)
    repeat_episode_seeds: bool = Field(
        False, description="every generation plays its games on the same seeds (compare iterates on equal terms)")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1,
                             description="the seeds to run; a count n means seeds 0..n-1")
    grid: dict[str, list[Any] | dict[str, Any]] = Field(
        default_factory=dict,
        description="dotted key -> values to sweep: a list, or a mapping label -> value (labels name report cells)",
    )
    cell: dict[str, str] = Field(
        default_factory=dict,
        description="set by the grid expansion: grid key -> the label of this run's value (not part of the run id)",
    )
    cache: bool = True
    workers: int = Field(1, ge=1, strict=True, description="runs at once (processes); at least 1")
    executor: Literal["local", "ray"] = Field(
        "local", description="where the grid's runs execute: local processes, or Ray tasks (`--executor ray`)")
    ray: RayConfig = Field(default_factory=lambda: RayConfig(), description="Ray options (with executor: ray)")

    @field_validator("name")
    @classmethod
    def _one_safe_folder_name(cls, name: str) -> str:
        # The name is a folder under --out: '..', '/', a leading '.' or '-' would put runs
        # elsewhere, hide them or read as an option.
        if not NAME_PATTERN.fullmatch(name) or len(name) > NAME_MAX_CHARS:
            raise ValueError(
                f"must be one folder name of at most {NAME_MAX_CHARS} characters: letters, digits, '_', '-' "
                f"and '.', not starting with '.' or '-' (e.g. name: donor_game_sweep); got {_shown(name)}"
            )
        return name

    @field_validator("agents", mode="before")
    @classmethod
    def _groups_are_mappings(cls, agents: Any) -> Any:
        if isinstance(agents, list):
            if not agents:
                raise ValueError(f"is an empty list; write one group or more, like [{_GROUP_EXAMPLE}]")
            for index, group in enumerate(agents):
                if not isinstance(group, dict):
                    raise ValueError(f"item {index} must be a mapping like {_GROUP_EXAMPLE}; got {_shown(group)}")
        elif not isinstance(agents, (dict, AgentsConfig)):
            raise ValueError(f"must be a mapping like {_GROUP_EXAMPLE} or a list of them; got {_shown(agents)}")
        return agents

    @field_validator("seeds", mode="before")
    @classmethod
    def _count_means_the_first_seeds(cls, seeds: Any) -> Any:
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise ValueError(f"a seed count must be at least 1, got {seeds}")
            return list(range(seeds))
        return seeds

    @model_validator(mode="after")
    def _grid_keys_exist(self) -> ExperimentConfig:
        data = self.model_dump()
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"grid.{key}: has no values; write a list like [1, 2] or a mapping label -> value")
            if isinstance(values, dict) and not all(isinstance(label, str) and label for label in values):
                raise ValueError(f"grid.{key}: the labels of a labelled axis must be non-empty strings")
            head = key.split(".")[0]
            if head in ("grid", "seeds") or head not in data:
                raise ValueError(f"grid: the key {key!r} does not name a config field (a dotted path such as "
                                 "world.kwargs.n_rounds; seeds are set with seeds:, not swept)")
        return self

    @model_validator(mode="after")
    def _groups_fit(self) -> ExperimentConfig:
        groups = self.groups
        if self.tournament is None and sum(g.seats is None for g in groups) > 1:
            raise ValueError("agents: at most one group may leave out 'seats' (it takes the remaining seats)")
        if len(groups) > 1 and self.population is not None:
            raise ValueError("population: dynamics need a single agents group (they replace every member); "
                             "write agents as one mapping, or leave population out")
        labels = [g.label for g in groups if g.label]
        if len(labels) != len(set(labels)):
            twice = sorted({label for label in labels if labels.count(label) > 1})
            raise ValueError(f"agents: group labels must be unique; used more than once: {', '.join(map(repr, twice))}")
        return self

    @model_validator(mode="after")
    def _tournament_types(self) -> ExperimentConfig:
        if self.tournament is None:
            return self
        groups = self.groups
        if self.population is not None:
            raise ValueError("tournament: the agent groups are fixed types; leave population out")
        if self.episodes_per_generation != 1:
            raise ValueError("tournament: the tournament sets the episodes (every seat profile, times repeats); "
                             "leave episodes_per_generation out")
        with_seats = [i for i, g in enumerate(groups) if g.seats is not None]
        if with_seats:
            raise ValueError(f"tournament: the agent groups are types that play every seat; leave 'seats' out "
                             f"(agents.{with_seats[0]} gives seats: {groups[with_seats[0]].seats})")
        unlabelled = [i for i, g in enumerate(groups) if not g.label or "#" in g.label]
        if unlabelled:
            raise ValueError(f"tournament: every type needs a label without '#' (it names the type in the records); "
                             f"agents.{unlabelled[0]} has {groups[unlabelled[0]].label!r}")
        unknown = [label for label in self.tournament.focal if label not in {g.label for g in groups}]
        if unknown:
            raise ValueError(f"tournament.focal: {unknown[0]!r} is not a type label; the types are "
                             f"{', '.join(repr(g.label) for g in groups)}")
        return self

    @property
    def groups(self) -> list[AgentsConfig]:
        """The agent groups, in seat order (one group when ``agents`` is a mapping)."""
        return list(self.agents) if isinstance(self.agents, list) else [self.agents]

    @property
    def type_labels(self) -> list[str]:
        """A tournament's type labels, in config order (the type index of each)."""
        return [g.label for g in self.groups]

    @property
    def generations(self) -> int:
        return self.population.generations if self.population else 1


# pydantic names the branch of ``agents: GroupConfig | list[GroupConfig]`` in error paths (then,
# inside a group, the kind it was read as); keep only the branch the input took, and drop the names.
_BRANCHES = {"tagged-union[": dict, "list[tagged-union[": list}

_GROUP_EXAMPLE = "{kind: llm, backend: embedded}"
#: what to write, for a field that is missing or not a mapping (keys: the path, list indexes as N)
_WRITE = {
    "name": "name: my_experiment (one folder name)",
    "world": "world: {id: donor-game, kwargs: {n_agents: 4}} ('dilemmazoo list worlds' names the worlds)",
    "world.id": "world: {id: donor-game} ('dilemmazoo list worlds' names the worlds)",
    "agents": f"agents: {_GROUP_EXAMPLE}, or a list of such groups",
    "agents.N": "a group like {kind: scripted, strategy: tit_for_tat, seats: 2}",
    "population": "population: {dynamics: cultural_evolution, generations: 3}, or leave it out",
    "utility": "utility: {name: inequity_aversion, kwargs: {alpha: 5, beta: 0.05}}, or leave it out",
    "utility.name": "utility: {name: inequity_aversion} ('dilemmazoo list norms' names them)",
    "mechanism": "mechanism: {name: contracting}, or leave it out ('dilemmazoo list norms' names them)",
    "mechanism.name": "mechanism: {name: mediation} ('dilemmazoo list norms' names them)",
    "tournament": "tournament: {repeats: 1}, or leave it out",
    "seeds": "seeds: [0, 1, 2], or a count: seeds: 3",
    "grid": "grid: {world.kwargs.n_rounds: [5, 10]}",
}


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _write_hint(loc: list) -> str | None:
    key = ".".join("N" if isinstance(p, int) else str(p) for p in loc)
    if key in _WRITE:
        return _WRITE[key]
    if key.endswith("kwargs") or key.endswith("params") or key.endswith("backend_options"):
        return f"{loc[-1]}: {{name: value, ...}}"
    return None


def _field_names(loc: list) -> list[str]:
    """The fields allowed where the unknown field at ``loc`` was given (list indexes skipped)."""
    sections = {"world": WorldConfig, "population": PopulationConfig, "utility": UtilityConfig,
                "mechanism": MechanismConfig, "tournament": TournamentConfig}
    parents = [p for p in loc[:-1] if not isinstance(p, int)]
    if not parents:
        return sorted(set(ExperimentConfig.model_fields) - {"cell"})
    if len(parents) == 1 and parents[0] in sections:
        return sorted(sections[parents[0]].model_fields)
    return []


def _not_a_setting(key: str, kind: str) -> str:
    """The message for a group key that the group's ``kind`` does not have."""
    settings = ", ".join(sorted(AGENT_KINDS[kind].model_fields))
    others = [other for other, model in AGENT_KINDS.items() if other != kind and key in model.model_fields]
    where = f"it belongs to kind {' and '.join(others)}; " if others else ""
    return f"not a setting of kind {kind} ({where}its settings: {settings})"


def _message(item: dict, loc: list, group_kind: str | None = None) -> str:
    kind, message = item["type"], item["msg"]
    if kind == "missing":
        hint = _write_hint(loc)
        return f"missing; write {hint}" if hint else "missing"
    if kind == "extra_forbidden":
        if group_kind is not None and len(loc) == (3 if isinstance(loc[1], int) else 2):
            return _not_a_setting(str(loc[-1]), group_kind)
        known = _field_names(loc)
        return f"unknown field; the fields here are: {', '.join(known)}" if known else "unknown field"
    if kind == "agent_kind":
        given = item.get("input", {}).get("kind") if isinstance(item.get("input"), dict) else None
        return f"must be one of {', '.join(AGENT_KINDS)}; got {_shown(given)}"
    # a value is quoted only for a top-level section: deeper ones (backend options) may hold a key
    given = f"got {_shown(item.get('input'))}, " if len(loc) == 1 else ""
    if kind in ("model_type", "dict_type"):
        hint = _write_hint(loc)
        return f"{given}not a mapping; write {hint}" if hint else f"{given}not a mapping"
    if kind == "list_type" and (hint := _write_hint(loc)):
        return f"{given}not a list; write {hint}"
    return message.removeprefix("Value error, ")


def _agents_location(loc: list, agents: Any) -> tuple[list, str | None] | None:
    """``loc`` of an error under ``agents`` without pydantic's branch and kind names, and the kind
    the group was read as; ``None`` for an error of the branch the input did not take."""
    if len(loc) < 2 or loc[0] != "agents" or not isinstance(loc[1], str):
        return loc, None
    branch = next((name for name in sorted(_BRANCHES, key=len, reverse=True) if loc[1].startswith(name)), None)
    if branch is None:
        return loc, None
    if not isinstance(agents, _BRANCHES[branch]):
        return None
    loc = [loc[0], *loc[2:]]
    at = 2 if len(loc) > 1 and isinstance(loc[1], int) else 1
    group_kind = None
    if len(loc) > at and loc[at] in AGENT_KINDS:
        group_kind = str(loc.pop(at))
    return loc, group_kind


def _format_validation(error: ValidationError, source: str, data: Any) -> str:
    lines = [f"invalid experiment config ({source}):"]
    agents = data.get("agents") if isinstance(data, dict) else None
    for item in error.errors():
        located = _agents_location(list(item["loc"]), agents)
        if located is None:
            continue
        loc, group_kind = located
        if item["type"] == "agent_kind":
            loc = [*loc, "kind"]
        message = _message(item, loc, group_kind)
        lines.append(f"  {'.'.join(str(p) for p in loc)}: {message}" if loc else f"  {message}")
    return "\n".join(lines)


def validate(data: dict[str, Any], source: str = "config") -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation(error, source, data)) from None


def without_flat_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A stored config (a run folder's ``config.yaml``) as it validates today.

    Runs written while one model held the settings of every agent kind list each group's unused
    settings at their defaults (a scripted group's ``temperature: 0.8``); those are left out here.
    A setting of another kind at any other value stays, and fails validation as it should.
    """
    agents = data.get("agents")
    if not isinstance(agents, (dict, list)):
        return data
    groups = []
    for group in agents if isinstance(agents, list) else [agents]:
        model = AGENT_KINDS.get(group.get("kind", "llm")) if isinstance(group, dict) else None
        if model is not None:
            group = {key: value for key, value in group.items() if key in model.model_fields
                     or key not in _FLAT_GROUP_DEFAULTS or not _json_equal(value, _FLAT_GROUP_DEFAULTS[key])}
        groups.append(group)
    return {**data, "agents": groups if isinstance(agents, list) else groups[0]}


def _json_equal(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def list_presets() -> dict[str, Path]:
    """Preset name -> YAML path, from ``experiments/configs``."""
    folder = resources.files("dilemmazoo.experiments") / "configs"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def load_config(name_or_path: str | Path) -> dict[str, Any]:
    """Raw config data from a preset name or a YAML file (validated later, after overrides)."""
    path = Path(name_or_path)
    if not path.exists():
        presets = list_presets()
        if str(name_or_path) not in presets:
            raise ConfigError(f"no config file or preset named {str(name_or_path)!r}; presets: {', '.join(sorted(presets))}")
        path = presets[str(name_or_path)]
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def parse_set(text: str) -> tuple[str, Any]:
    """``dotted.key=value`` with the value read as YAML (numbers, lists, booleans)."""
    if "=" not in text:
        raise ConfigError(f"--set expects dotted.key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with dotted keys set (``world.kwargs.n_agents``).

    Setting a group's ``kind`` to another kind (``agents.kind=scripted`` on a language-model
    preset) starts the group anew as that kind: the settings the new kind does not have are taken
    out. Kinds are set first, so a setting given alongside (``agents.temperature``) is checked
    against the new kind.
    """
    out = copy.deepcopy(data)
    kinds_first = sorted(overrides.items(), key=lambda item: not _is_group_kind(item[0]))
    for key, value in kinds_first:
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            if isinstance(node, list):  # agents.1.backend: an index into a list
                node = _list_item(node, part, key)
                continue
            if node.get(part) is None:
                node[part] = {}
            if not isinstance(node[part], (dict, list)):
                raise ConfigError(f"cannot set {key!r}: {part!r} is not a mapping")
            node = node[part]
        if isinstance(node, list):
            node[_index(node, parts[-1], key)] = value
        else:
            if _is_group_kind(key) and value in AGENT_KINDS and value != node.get("kind", "llm"):
                for setting in [k for k in node if k not in AGENT_KINDS[value].model_fields]:
                    del node[setting]
            node[parts[-1]] = value
    return out


def _is_group_kind(key: str) -> bool:
    """Whether a dotted key is an agents group's ``kind`` (``agents.kind``, ``agents.1.kind``)."""
    parts = key.split(".")
    group = len(parts) == 2 or (len(parts) == 3 and parts[1].isdigit())
    return group and parts[0] == "agents" and parts[-1] == "kind"


def _index(items: list, part: str, key: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError(f"cannot set {key!r}: {part!r} is not an index of a list of {len(items)}")
    return int(part)


def _list_item(items: list, part: str, key: str):
    item = items[_index(items, part, key)]
    if not isinstance(item, (dict, list)):
        raise ConfigError(f"cannot set {key!r}: item {part} is not a mapping")
    return item


def expand_grid(config: ExperimentConfig) -> list[ExperimentConfig]:
    """One single-seed, grid-free config per grid point and seed."""
    base = config.model_dump()
    keys = list(config.grid)
    axes = [_secret_safe_labels(k, _labelled_values(config.grid[k])) for k in keys]
    runs = []
    for choice in itertools.product(*axes):
        values = [value for _, value in choice]
        point = apply_overrides(base, dict(zip(keys, values)))
        point["grid"] = {}
        point["cell"] = {key: label for key, (label, _) in zip(keys, choice)}
        for seed in config.seeds:
            runs.append(validate({**point, "seeds": [seed]}, source=f"grid point {point['cell']}"))
    return runs


def _secret_safe_labels(key: str, pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """An axis whose labels would quote a secret (the values of a credential field, a header or a
    URL password inside a mapping, anything key-shaped) is labelled by position instead: ``1``,
    ``2``, ... Labels become folder names, progress lines, summary cells and catalog columns."""
    from dilemmazoo.agents.backends.redaction import redact_text, secrets_in_config

    found = secrets_in_config({key: [value for _, value in pairs]}, environ={})
    if any(redact_text(label, found) != label for label, _ in pairs):
        return [(str(position), value) for position, (_, value) in enumerate(pairs, start=1)]
    return pairs


def _labelled_values(values: list[Any] | dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) pairs of one grid axis.

    A plain list labels each value by its text; a mapping in the list (an agents group, say) by its
    ``label``, ``strategy`` or ``name`` field when those tell the axis's values apart, else by its
    YAML text.
    """
    if isinstance(values, dict):
        return list(values.items())
    labels = [_short_text(value) for value in values]
    for field_name in ("label", "strategy", "name"):
        named = [value.get(field_name) if isinstance(value, dict) else None for value in values]
        if all(isinstance(n, str) and n for n in named) and len(set(named)) == len(named):
            labels = named
            break
    return list(zip(labels, values))


def _short_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip()
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def cell_values(config: ExperimentConfig) -> dict[str, Any]:
    """This run's grid cell as dotted key -> value, for ``summary.json``.

    A plain-list axis keeps the raw scalar (``1.5``, ``True``, ``"tft"``) so tables stay typed;
    a labelled axis, or a value that is not a number, boolean or string, gives its label.
    The value is read from the resolved config, so numbers pydantic coerced (``1`` for a float
    field) still count as the plain value they came from.
    """
    data = config.model_dump()
    out: dict[str, Any] = {}
    for key, label in config.cell.items():
        value = _lookup(data, key)
        out[key] = value if _is_plain_value(value, label) else label
    return out


def _lookup(data: Any, key: str) -> Any:
    node = data
    for part in key.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def _is_plain_value(value: Any, label: str) -> bool:
    """Whether ``label`` is the text a plain-list axis gives ``value`` (a scalar)."""
    if isinstance(value, (bool, str)):
        return _short_text(value) == label
    if isinstance(value, (int, float)):
        try:
            return _short_text(value) == label or float(label) == value
        except ValueError:
            return False
    return False


def run_id(config: ExperimentConfig) -> str:
    """Hash of the resolved config: a run's identity (stored in ``summary.json``; the folder is
    named by the grid cell and seed, see :func:`dilemmazoo.experiments.store.run_dir_for`)."""
    data = config.model_dump(exclude={"workers", "description", "cell", "executor", "ray"})
    if data.get("utility") is None:  # fields added later stay out of the hash when unused, so old run ids hold
        data.pop("utility", None)
    if data.get("mechanism") is None:
        data.pop("mechanism", None)
    if data.get("tournament") is None:
        data.pop("tournament", None)
    if not data.get("repeat_episode_seeds"):
        data.pop("repeat_episode_seeds", None)
    # a group is hashed as the one model of all kinds held it, so runs of unchanged configs keep their ids
    groups = data["agents"] if isinstance(data["agents"], list) else [data["agents"]]
    flat = [{**_FLAT_GROUP_DEFAULTS, **group} for group in groups]
    data["agents"] = flat if isinstance(data["agents"], list) else flat[0]
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
