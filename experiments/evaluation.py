"""One evaluation protocol for every agent: a focal agent among held-out background populations.

After Melting Pot (Leibo et al. 2021, "Scalable Evaluation of Multi-Agent Reinforcement Learning
with Melting Pot"; Agapiou et al. 2022, Melting Pot 2.0): an agent under test (the *focal*
agent) takes some seats of a world whose other seats are played by a fixed *background*
population it was not tuned on, and is scored by its own return, normalised per scenario
between reference agents, beside what it does to the background.

Scenarios are data
------------------
A scenario set is a YAML file (``experiments/scenarios/<set>.yaml``, package data)::

    set: quick
    version: 1
    scenarios:
      - id: pd_noise_defectors
        world: {id: repeated-game, kwargs: {payoffs: [...], n_rounds: 5, noise: 0.05}}
        background: [{kind: scripted, strategy: always_defect, role: defector, seats: 1}]
        focal_seats: 1
        episodes: 2
        baselines: {zero: [scripted:always_defect, scripted:always_cooperate],
                    one: [scripted:always_cooperate, scripted:tit_for_tat, scripted:grim]}
        description: ...
        source: ...

A background item is an agents group as the experiment configs take it (``kind``, ``strategy``
or ``backend``, ``params``, ``seats``, ...) plus its ``role``: ``cooperator``, ``conditional``,
``defector`` or ``mixed``; the defectors' seats define :func:`~dilemmazoo.analysis.evaluation.
exploitation`. The focal group takes the first ``focal_seats`` seats, labelled ``focal``; the
background groups follow in order, labelled ``background<i>``.

:attr:`Scenario.content_hash` is the sha256 of the scenario's canonical JSON (sorted keys, no
whitespace, world id resolved to its registered ``-vN`` id; ``description`` and ``source`` are
prose and left out): any change to the world, its payoffs, the background, the seats, the
episodes or the baselines changes it. Every result
carries it, and a hash of the per-episode returns it came from, so silent drift (a world or a
strategy that plays differently under the same name) shows up as a changed hash.

Scores
------
For each scenario and seed the focal agent, and every baseline, play ``episodes`` episodes
through the project's runner (:func:`dilemmazoo.experiments.runner.run_experiment`), into
``<out>/runs/<scenario>-<scenario hash>-<agent hash>/seed=N``: finished runs are skipped, so a
rerun costs nothing, a killed evaluation resumes, and baselines are shared by every agent
evaluated into the same folder. Per scenario (definitions in
:mod:`dilemmazoo.analysis.evaluation`):

- ``focal_return``: mean return per focal seat per episode;
- ``normalised``: ``(x - zero) / (one - zero)`` where ``zero`` is the lowest mean focal return of
  the ``zero`` baselines and ``one`` the highest of the ``one`` baselines, over the same seeds
  (Melting Pot normalises each scenario between its baselines the same way). So the
  ``zero`` reference scores 0 and the best ``one`` reference 1; NaN where they do not separate;
- ``background_welfare``: mean return per background seat per episode, and its change from the
  same background beside the best ``one`` baseline (``background_welfare_change``);
- ``exploitation``: how far the background's defectors out-earn the focal agent.

The score bundle (:class:`ScoreBundle`) is ``scores.json`` (agent, scenario set and version,
hashes, per-scenario and per-world results), ``scores.parquet`` (one row per scenario and seed)
and ``report.html``; the same agent, seeds and cache give byte-identical files (sorted keys,
floats rounded to :data:`DECIMALS` places, no paths, no times).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from dilemmazoo.analysis.evaluation import (
    ROLES,
    background_welfare,
    exploitation,
    normalise,
    render_report,
    world_summary,
)

if TYPE_CHECKING:
    from dilemmazoo.experiments.config import ExperimentConfig

__all__ = [
    "DECIMALS",
    "EvaluationError",
    "Scenario",
    "ScenarioSet",
    "ScoreBundle",
    "agent_hash",
    "canonical_json",
    "evaluate",
    "list_scenario_sets",
    "load_scenario_set",
    "load_scenarios",
    "main_evaluate",
    "parse_agent_spec",
]

#: floats in the score bundle are rounded to this many decimal places
DECIMALS = 6
#: the fields of a scenario definition
SCENARIO_FIELDS = ("id", "world", "background", "focal_seats", "episodes", "baselines", "description", "source")
#: the fields that decide what is played and scored, and so enter the content hash (prose does not)
HASHED_FIELDS = ("id", "world", "background", "focal_seats", "episodes", "baselines")
FOCAL_LABEL = "focal"
#: a scenario id heads its runs' folder name (with two 8-character hashes)
MAX_ID_CHARS = 60


class EvaluationError(ValueError):
    """A bad agent spec, scenario set or scenario; the message names it."""


def canonical_json(data: Any) -> str:
    """The canonical JSON text of ``data``: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- agent specs -----------------------------------------------------------------------------

def parse_agent_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    """One agents group (as :class:`~dilemmazoo.experiments.config.AgentsConfig` takes it) for a spec.

    ``spec`` is ``scripted:NAME`` (any scripted strategy: ``scripted:tit_for_tat``,
    ``scripted:commons_greedy``), ``axelrod:Name``, ``neural:CHECKPOINT``, ``llm:BACKEND``
    (``llm:embedded``, ``llm:openai:MODEL``, ``llm:litellm:MODEL``), ``synthesized:BACKEND``, the
    path of a YAML or JSON file holding one agents group, or such a group as a mapping. The answer
    is the group without ``seats`` and ``label`` and without fields left at their defaults (so
    equal agents give equal hashes), with ``kind`` and its ``strategy`` or ``backend`` always present.
    """
    from dilemmazoo.experiments.config import AgentsConfig

    data: Any
    if isinstance(spec, dict):
        data = dict(spec)
    elif isinstance(spec, str) and spec.strip():
        text = spec.strip()
        if text.startswith(("scripted:", "axelrod:", "neural:")):
            strategy = text.split(":", 1)[1] if text.startswith("scripted:") else text
            if not strategy:
                raise EvaluationError(f"agent spec {spec!r} names no strategy (e.g. scripted:tit_for_tat)")
            data = {"kind": "scripted", "strategy": strategy}
        elif text.startswith(("llm:", "synthesized:")):
            kind, backend = text.split(":", 1)
            if not backend:
                raise EvaluationError(f"agent spec {spec!r} names no backend (e.g. {kind}:embedded)")
            data = {"kind": kind, "backend": backend}
        elif Path(text).suffix.lower() in (".yaml", ".yml", ".json"):
            path = Path(text)
            if not path.is_file():
                raise EvaluationError(f"agent spec file {text!r} does not exist")
            try:
                data = yaml.safe_load(path.read_text())
            except yaml.YAMLError as error:
                raise EvaluationError(f"agent spec file {text!r} is not valid YAML/JSON: {error}") from None
            if not isinstance(data, dict):
                raise EvaluationError(f"agent spec file {text!r} must hold one agents group (a mapping like "
                                      "{kind: llm, backend: embedded})")
        else:
            raise EvaluationError(
                f"unknown agent spec {spec!r}; write scripted:NAME, axelrod:Name, neural:CHECKPOINT, llm:BACKEND "
                "(llm:embedded, llm:openai:MODEL), synthesized:BACKEND, or a .yaml/.json file holding one agents group")
    else:
        raise EvaluationError(f"an agent spec must be a non-empty string or a mapping, got {spec!r}")
    data.pop("seats", None)
    data.pop("label", None)
    try:
        group = AgentsConfig.model_validate(data)
    except Exception as error:  # pydantic's ValidationError: name the spec, keep pydantic's field list
        raise EvaluationError(f"agent spec {_shown(spec)} is not a valid agents group: {error}") from None
    if group.kind == "scripted":
        from dilemmazoo.agents.scripted import make_scripted

        try:
            make_scripted(group.strategy, **group.params)
        except (ValueError, ImportError) as error:
            raise EvaluationError(f"agent spec {_shown(spec)}: {error}") from None
    else:
        from dilemmazoo.agents.backends import check_backend_spec

        try:
            check_backend_spec(group.backend)
        except ValueError as error:
            raise EvaluationError(f"agent spec {_shown(spec)}: {error}") from None
    dumped = group.model_dump(mode="json", exclude_defaults=True, exclude={"seats", "label"})
    # what the agent is always shows, default or not
    dumped["kind"] = group.kind
    if group.kind == "scripted":
        dumped["strategy"] = group.strategy
    else:
        dumped["backend"] = group.backend
    return dumped


def agent_hash(spec: str | dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the parsed spec (:func:`parse_agent_spec`)."""
    return _sha256(canonical_json(parse_agent_spec(spec)))


def agent_name(group: dict[str, Any]) -> str:
    """A short readable name of a parsed group (``scripted:tit_for_tat``, ``llm:embedded``)."""
    if group["kind"] == "scripted":
        strategy = group.get("strategy", "fixed_fraction")
        name = strategy if ":" in strategy and not strategy.startswith("scripted") else f"scripted:{strategy}"
        params = group.get("params")
        return name + (canonical_json(params) if params else "")
    return f"{group['kind']}:{group.get('backend', 'embedded')}"


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- scenarios -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """One evaluation scenario: a world, its background population, the focal seats, baselines.

    ``definition`` is the scenario as data (world id resolved); ``set_name`` and ``set_version``
    say which set it was loaded from and stay out of its hash.
    """

    definition: dict[str, Any]
    set_name: str = ""
    set_version: int = 0

    @property
    def id(self) -> str:
        return self.definition["id"]

    @property
    def world(self) -> str:
        return self.definition["world"]["id"]

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the scenario's definition (its prose left out)."""
        return _sha256(canonical_json({key: self.definition[key] for key in HASHED_FIELDS}))

    @property
    def episodes(self) -> int:
        return self.definition["episodes"]

    @property
    def focal_seats(self) -> int:
        return self.definition["focal_seats"]

    @property
    def background(self) -> list[dict[str, Any]]:
        return self.definition["background"]

    def baselines(self, which: str) -> list[dict[str, Any]]:
        """The parsed agent specs of the ``zero`` or ``one`` baselines."""
        return [parse_agent_spec(spec) for spec in self.definition["baselines"][which]]

    def experiment(self, group: dict[str, Any], seeds: list[int]) -> ExperimentConfig:
        """The experiment config of ``group`` in the focal seats of this scenario."""
        from dilemmazoo.experiments.config import validate

        groups = [{**group, "seats": self.focal_seats, "label": FOCAL_LABEL}]
        for index, item in enumerate(self.background):
            groups.append({**{k: v for k, v in item.items() if k != "role"}, "label": f"background{index}"})
        name = f"{self.id}-{self.content_hash[:8]}-{_sha256(canonical_json(group))[:8]}"
        return validate({
            "name": name,
            "description": f"evaluation scenario {self.id} ({self.set_name} v{self.set_version}), focal {agent_name(group)}",
            "world": self.definition["world"],
            "agents": groups,
            "episodes_per_generation": self.episodes,
            "seeds": list(seeds),
            "cache": True,
        }, source=f"scenario {self.id}")


@dataclass(frozen=True)
class ScenarioSet:
    """A versioned list of scenarios (one YAML file)."""

    name: str
    version: int
    scenarios: tuple[Scenario, ...]

    @property
    def content_hash(self) -> str:
        """sha256 over the set's name, version and its scenarios' hashes in order."""
        return _sha256(canonical_json({"set": self.name, "version": self.version,
                                       "scenarios": [s.content_hash for s in self.scenarios]}))


def list_scenario_sets() -> dict[str, Path]:
    """Shipped set name -> YAML path (``experiments/scenarios``)."""
    folder = resources.files("dilemmazoo.experiments") / "scenarios"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def load_scenario_set(set_name_or_path: str | Path) -> ScenarioSet:
    """A shipped set by name (``quick``, ``full``) or a scenario YAML file, checked."""
    path = Path(set_name_or_path)
    shipped = list_scenario_sets()
    if str(set_name_or_path) in shipped:
        path = shipped[str(set_name_or_path)]
    elif not path.is_file():
        raise EvaluationError(f"no scenario set or file named {str(set_name_or_path)!r}; "
                              f"shipped sets: {', '.join(sorted(shipped))}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise EvaluationError(f"scenario file {path.name} is not valid YAML: {error}") from None
    where = f"scenario set {path.name}"
    if not isinstance(data, dict) or set(data) != {"set", "version", "scenarios"}:
        raise EvaluationError(f"{where}: write a mapping with exactly set, version and scenarios "
                              f"(got {sorted(data) if isinstance(data, dict) else type(data).__name__})")
    name, version, items = data["set"], data["version"], data["scenarios"]
    if not isinstance(name, str) or not name:
        raise EvaluationError(f"{where}: set must be a non-empty name, got {name!r}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise EvaluationError(f"{where}: version must be a positive integer, got {version!r}")
    if not isinstance(items, list) or not items:
        raise EvaluationError(f"{where}: scenarios must be a non-empty list")
    scenarios = tuple(Scenario(_checked_scenario(item, index, where), name, version) for index, item in enumerate(items))
    ids = [s.id for s in scenarios]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise EvaluationError(f"{where}: scenario ids must be unique; repeated: {', '.join(twice)}")
    return ScenarioSet(name, version, scenarios)


def load_scenarios(set_name_or_path: str | Path) -> list[Scenario]:
    """The scenarios of a shipped set (``quick``, ``full``) or a scenario YAML file."""
    return list(load_scenario_set(set_name_or_path).scenarios)


def _checked_scenario(item: Any, index: int, where: str) -> dict[str, Any]:
    """The scenario's definition with its world id resolved; errors name the scenario and field."""
    from dilemmazoo.envs import world_id

    if not isinstance(item, dict):
        raise EvaluationError(f"{where}: scenario {index} must be a mapping")
    sid = item.get("id")
    label = f"{where}: scenario {sid if isinstance(sid, str) else index}"
    unknown = sorted(set(item) - set(SCENARIO_FIELDS))
    missing = sorted(set(SCENARIO_FIELDS) - set(item) - {"description", "source"})
    if unknown or missing:
        raise EvaluationError(f"{label}: " + "; ".join(
            ([f"unknown fields {unknown}"] if unknown else []) + ([f"missing {missing}"] if missing else []))
            + f" (fields: {', '.join(SCENARIO_FIELDS)})")
    if (not isinstance(sid, str) or not sid.replace("_", "").isalnum() or not sid.isascii() or not sid.islower()
            or len(sid) > MAX_ID_CHARS):
        raise EvaluationError(f"{label}: id must be at most {MAX_ID_CHARS} lower-case letters, digits and '_', "
                              f"got {sid!r}")
    world = item["world"]
    if not isinstance(world, dict) or "id" not in world or set(world) - {"id", "kwargs"}:
        raise EvaluationError(f"{label}: world must be {{id: NAME, kwargs: {{...}}}}")
    try:
        resolved = world_id(world["id"])
    except ValueError as error:
        raise EvaluationError(f"{label}: world: {error}") from None
    focal = item["focal_seats"]
    if isinstance(focal, bool) or not isinstance(focal, int) or focal < 1:
        raise EvaluationError(f"{label}: focal_seats must be a positive integer, got {focal!r}")
    episodes = item["episodes"]
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise EvaluationError(f"{label}: episodes must be a positive integer, got {episodes!r}")
    background = item["background"]
    if not isinstance(background, list) or not background:
        raise EvaluationError(f"{label}: background must be a non-empty list of agents groups with a role")
    for number, group in enumerate(background):
        if not isinstance(group, dict) or group.get("role") not in ROLES:
            raise EvaluationError(f"{label}: background item {number} needs a role, one of {', '.join(ROLES)}")
        if "label" in group:
            raise EvaluationError(f"{label}: background item {number}: labels are given by the evaluation")
        try:
            parse_agent_spec({k: v for k, v in group.items() if k != "role"})
        except EvaluationError as error:
            raise EvaluationError(f"{label}: background item {number}: {error}") from None
    baselines = item["baselines"]
    if not isinstance(baselines, dict) or set(baselines) != {"zero", "one"}:
        raise EvaluationError(f"{label}: baselines must be {{zero: [SPEC, ...], one: [SPEC, ...]}}")
    listed = {}
    for which, specs in baselines.items():
        specs = specs if isinstance(specs, list) else [specs]
        if not specs:
            raise EvaluationError(f"{label}: baselines.{which} names no agent")
        for spec in specs:
            try:
                parse_agent_spec(spec)
            except EvaluationError as error:
                raise EvaluationError(f"{label}: baselines.{which}: {error}") from None
        listed[which] = specs
    definition = {
        "id": sid,
        "world": {"id": resolved, "kwargs": dict(world.get("kwargs") or {})},
        "background": background,
        "focal_seats": focal,
        "episodes": episodes,
        "baselines": listed,
        "description": str(item.get("description", "")),
        "source": str(item.get("source", "")),
    }
    try:
        canonical_json(definition)
    except (TypeError, ValueError) as error:
        raise EvaluationError(f"{label}: the definition must be plain data (numbers, strings, lists, "
                              f"mappings): {error}") from None
    return json.loads(canonical_json(definition))


# -- running ---------------------------------------------------------------------------------

@dataclass
class _Play:
    """The per-seed returns of one agent in one scenario."""

    focal: dict[int, float]
    background: dict[int, float]
    defectors: dict[int, float]
    episodes: dict[int, list[dict[str, Any]]]


def _play(scenario: Scenario, group: dict[str, Any], seeds: list[int], runs_root: Path) -> _Play:
    from dilemmazoo.experiments.runner import run_experiment

    config = scenario.experiment(group, seeds)
    results = run_experiment(config, runs_root, workers=1, progress=False)
    roles = {f"background{i}": item["role"] for i, item in enumerate(scenario.background)}
    play = _Play({}, {}, {}, {})
    for result in results:
        seed = int(result.summary["seed"])
        frame = result.episodes
        is_focal = frame["policy"] == FOCAL_LABEL
        is_defector = frame["policy"].map(lambda label: roles.get(label) == "defector")
        play.focal[seed] = float(frame.loc[is_focal, "return"].mean())
        play.background[seed] = background_welfare(frame.loc[~is_focal, "return"])
        play.defectors[seed] = float(frame.loc[is_defector, "return"].mean()) if is_defector.any() else math.nan
        ordered = frame.sort_values(["episode", "agent"], kind="stable")
        play.episodes[seed] = [
            {"episode": int(r["episode"]), "agent": str(r["agent"]), "policy": str(r["policy"]),
             "return": _rounded(float(r["return"]))}
            for r in ordered[["episode", "agent", "policy", "return"]].to_dict("records")
        ]
    return play


def _rounded(value: float) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    rounded = round(float(value), DECIMALS)
    return 0.0 if rounded == 0 else rounded  # no "-0.0"


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


@dataclass
class ScoreBundle:
    """The scores of one agent on one scenario set: per seed, per scenario, per world.

    ``table``: one row per scenario and seed (scenario, world, seed, focal_return, zero_return,
    one_return, normalised, background_welfare, background_welfare_one, background_welfare_change,
    exploitation, episode_returns_hash, scenario_hash, status, error). ``scenarios``: one row per
    scenario (means over seeds, the baselines that set zero and one). ``summary``: one row per
    world (:func:`~dilemmazoo.analysis.evaluation.world_summary`).
    """

    agent: dict[str, Any]
    scenario_set: dict[str, Any]
    seeds: list[int]
    table: pd.DataFrame
    scenarios: pd.DataFrame
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``scores.json`` (floats rounded, NaN as null)."""
        per_seed = {sid: rows for sid, rows in self.table.groupby("scenario", sort=True)}
        scenarios = []
        for record in self.scenarios.to_dict("records"):
            rows = per_seed.get(record["scenario"], pd.DataFrame())
            scenarios.append({**_clean(record), "seeds": [_clean(r) for r in rows.drop(columns=["scenario"]).to_dict("records")]})
        return {
            "agent": self.agent,
            "agent_hash": _sha256(canonical_json(self.agent)),
            "scenario_set": self.scenario_set,
            "seeds": list(self.seeds),
            "decimals": DECIMALS,
            "scenarios": scenarios,
            "worlds": [_clean(r) for r in self.summary.to_dict("records")],
        }

    def write(self, out: str | Path) -> dict[str, Path]:
        """Write ``scores.json``, ``scores.parquet`` and ``report.html`` into ``out``; their paths."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        document = self.to_dict()
        paths = {"json": out / "scores.json", "parquet": out / "scores.parquet", "report": out / "report.html"}
        _write_atomic(paths["json"], (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False,
                                                 allow_nan=False) + "\n").encode("utf-8"))
        table = self.table.copy()
        for column in table.columns:
            if table[column].dtype.kind == "f":
                table[column] = table[column].round(DECIMALS)
        temporary = paths["parquet"].with_name(paths["parquet"].name + ".tmp")
        table.to_parquet(temporary, index=False)
        temporary.replace(paths["parquet"])
        _write_atomic(paths["report"], render_report(document).encode("utf-8"))
        return paths


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in record.items():
        if isinstance(value, (float, np.floating)):
            out[key] = _rounded(float(value))
        elif isinstance(value, np.integer):
            out[key] = int(value)
        elif isinstance(value, np.bool_):
            out[key] = bool(value)
        else:
            out[key] = value
    return out


def _episode_returns_hash(episodes: list[dict[str, Any]]) -> str:
    return _sha256(canonical_json(episodes))


def evaluate(agent_spec: str | dict[str, Any], scenarios: str | Path | ScenarioSet | list[Scenario], seeds: int = 1,
             out: str | Path = "evaluation", *, progress: bool = True, runs: str | Path | None = None) -> ScoreBundle:
    """Score ``agent_spec`` in the focal seats of every scenario, over seeds ``0..seeds-1``.

    ``scenarios`` is a set name (``quick``, ``full``), a scenario YAML path, a loaded
    :class:`ScenarioSet` or a list of :class:`Scenario`. Runs go to ``runs`` (default
    ``<out>/runs``; cached and resumable: give several agents one ``runs`` folder and the
    baselines are run once); the bundle is returned, not written (:meth:`ScoreBundle.write`). A scenario the
    agent cannot play (a scripted strategy of another world, a failing backend) gets
    ``status`` ``failed`` with the reason and NaN scores; the others are scored.
    """
    group = parse_agent_spec(agent_spec)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise EvaluationError(f"seeds must be a positive number of seeds, got {seeds!r}")
    if isinstance(scenarios, (str, Path)):
        scenario_set = load_scenario_set(scenarios)
    elif isinstance(scenarios, ScenarioSet):
        scenario_set = scenarios
    else:
        listed = tuple(scenarios)
        if not listed or not all(isinstance(s, Scenario) for s in listed):
            raise EvaluationError("scenarios must be a set name, a scenario file, or a non-empty list of Scenario")
        scenario_set = ScenarioSet(listed[0].set_name, listed[0].set_version, listed)
    seed_list = list(range(seeds))
    runs_root = Path(runs) if runs is not None else Path(out) / "runs"
    rows: list[dict[str, Any]] = []
    scenario_rows: list[dict[str, Any]] = []
    from dilemmazoo.agents.progress import ProgressBar

    bar = ProgressBar(len(scenario_set.scenarios), f"evaluate {agent_name(group)}", unit="scenarios",
                      disable=not progress)
    try:
        for scenario in scenario_set.scenarios:
            bar.describe(scenario.id)
            seed_rows, summary_row = _score_scenario(scenario, group, seed_list, runs_root)
            rows.extend(seed_rows)
            scenario_rows.append(summary_row)
            bar.advance()
    finally:
        bar.close()
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS).sort_values(["scenario", "seed"], kind="stable")
    table = table.reset_index(drop=True)
    per_scenario = pd.DataFrame(scenario_rows).sort_values("scenario", kind="stable").reset_index(drop=True)
    return ScoreBundle(
        agent=group,
        scenario_set={"name": scenario_set.name, "version": scenario_set.version, "hash": scenario_set.content_hash},
        seeds=seed_list,
        table=table,
        scenarios=per_scenario,
        summary=world_summary(per_scenario),
    )


TABLE_COLUMNS = ["scenario", "world", "seed", "focal_return", "zero_return", "one_return", "normalised",
                 "background_welfare", "background_welfare_one", "background_welfare_change", "exploitation",
                 "episode_returns_hash", "scenario_hash", "status", "error"]


def _score_scenario(scenario: Scenario, group: dict[str, Any], seeds: list[int], runs_root: Path):
    """The per-seed rows and the per-scenario row of ``group`` in ``scenario``."""
    from dilemmazoo.experiments.config import ConfigError
    from dilemmazoo.experiments.runner import RunFailed

    base = {"scenario": scenario.id, "world": scenario.world, "scenario_hash": scenario.content_hash}
    # the baselines first: a focal agent that fails should not hide a scenario whose baselines fail
    plays: dict[str, _Play] = {}
    references = {which: scenario.baselines(which) for which in ("zero", "one")}
    for spec in references["zero"] + references["one"]:
        key = canonical_json(spec)
        if key not in plays:
            plays[key] = _play(scenario, spec, seeds, runs_root)
    def mean_return(spec: dict[str, Any]) -> float:
        return _mean(list(plays[canonical_json(spec)].focal.values()))

    # the lowest zero and the highest one reference; ties go to the first in canonical order
    zero_spec = sorted(references["zero"], key=lambda s: (mean_return(s), canonical_json(s)))[0]
    one_spec = sorted(references["one"], key=lambda s: (-mean_return(s), canonical_json(s)))[0]
    zero, one = plays[canonical_json(zero_spec)], plays[canonical_json(one_spec)]
    zero_mean, one_mean = _mean(list(zero.focal.values())), _mean(list(one.focal.values()))
    error = ""
    try:
        key = canonical_json(group)
        if key not in plays:
            plays[key] = _play(scenario, group, seeds, runs_root)
        focal = plays[key]
    except (ConfigError, RunFailed, ValueError) as failure:
        focal, error = None, _short_error(failure, runs_root)
    rows = []
    for seed in seeds:
        row = {**base, "seed": seed, "zero_return": zero.focal[seed], "one_return": one.focal[seed],
               "background_welfare_one": one.background[seed], "status": "scored" if focal else "failed",
               "error": error}
        if focal is None:
            row.update(focal_return=math.nan, normalised=math.nan, background_welfare=math.nan,
                       background_welfare_change=math.nan, exploitation=math.nan, episode_returns_hash="")
        else:
            row.update(
                focal_return=focal.focal[seed],
                normalised=normalise(focal.focal[seed], zero_mean, one_mean),
                background_welfare=focal.background[seed],
                background_welfare_change=focal.background[seed] - one.background[seed],
                exploitation=exploitation(focal.defectors[seed], focal.focal[seed]),
                episode_returns_hash=_episode_returns_hash(focal.episodes[seed]),
            )
        rows.append(row)
    scored = [r for r in rows if r["status"] == "scored"]
    summary = {
        **base,
        "description": scenario.definition["description"],
        "zero_agent": agent_name(zero_spec), "one_agent": agent_name(one_spec),
        "zero_return": zero_mean, "one_return": one_mean,
        "status": "scored" if scored else "failed", "error": error,
        "episode_returns_hash": _sha256(canonical_json([r["episode_returns_hash"] for r in rows])) if scored else "",
    }
    for column in ("focal_return", "normalised", "background_welfare", "background_welfare_one",
                   "background_welfare_change", "exploitation"):
        summary[column] = _mean([r[column] for r in scored]) if scored else math.nan
    return rows, summary


def _short_error(error: Exception, runs_root: Path) -> str:
    """The failure's first lines, without this machine's paths (the bundle holds no paths)."""
    text = str(error).replace(str(runs_root.resolve()), "<runs>").replace(str(runs_root), "<runs>")
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[:3])[:400]


# -- command line ----------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dilemmazoo evaluate",
        description="Score an agent in the focal seats of held-out scenarios: normalised focal return, background "
                    "welfare and exploitation per scenario and per world. Writes scores.json, scores.parquet and "
                    "report.html into --out; runs are cached there, so a rerun is free and a killed one resumes.")
    parser.add_argument("agent", help="scripted:NAME, axelrod:Name, neural:CHECKPOINT, llm:BACKEND (llm:embedded, "
                                      "llm:openai:MODEL), synthesized:BACKEND, or a YAML/JSON file holding one agents group")
    parser.add_argument("--scenarios", default="quick", help="a shipped set (quick, full) or a scenario YAML file")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    parser.add_argument("--out", default="evaluation", help="folder for the runs and the score bundle")
    parser.add_argument("--runs", default=None, help="folder for the runs (default OUT/runs); share one between "
                                                     "agents and the baselines run once")
    parser.add_argument("--worlds", default="", help="only these worlds, comma-separated (e.g. repeated-game,commons)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main_evaluate(argv: list[str] | None = None) -> int:
    """``dilemmazoo evaluate AGENT_SPEC [--scenarios SET] [--seeds N] [--out DIR] [--runs DIR] [--worlds W,...]``.

    Exit codes: 0 scored (some scenarios may have failed; they are listed), 1 every scenario
    failed, 2 bad arguments (spec, set, seeds, worlds).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        group = parse_agent_spec(args.agent)
        if args.seeds < 1:
            raise EvaluationError(f"--seeds must be at least 1, got {args.seeds}")
        scenario_set = load_scenario_set(args.scenarios)
        scenarios = list(scenario_set.scenarios)
        if args.worlds:
            from dilemmazoo.envs import world_id

            try:
                wanted = {world_id(w) for w in args.worlds.split(",") if w.strip()}
            except ValueError as error:
                raise EvaluationError(f"--worlds: {error}") from None
            scenarios = [s for s in scenarios if s.world in wanted]
            if not scenarios:
                raise EvaluationError(f"--worlds {args.worlds!r}: the set {scenario_set.name!r} has no scenario "
                                      f"in these worlds")
            scenario_set = ScenarioSet(scenario_set.name, scenario_set.version, tuple(scenarios))
    except EvaluationError as error:
        print(f"dilemmazoo evaluate: error: {error}", file=sys.stderr)
        return 2
    bundle = evaluate(group, scenario_set, args.seeds, args.out, progress=not args.no_progress, runs=args.runs)
    paths = bundle.write(args.out)
    _print_summary(bundle)
    for path in paths.values():
        print(path)
    failed = bundle.scenarios[bundle.scenarios["status"] == "failed"]
    for row in failed.itertuples(index=False):
        print(f"scenario {row.scenario} failed: {row.error}", file=sys.stderr)
    return 1 if len(failed) == len(bundle.scenarios) else 0


def _print_summary(bundle: ScoreBundle) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{agent_name(bundle.agent)} on {bundle.scenario_set['name']} "
                        f"v{bundle.scenario_set['version']} ({len(bundle.seeds)} seeds)")
    for column in ("world", "scenarios", "normalised", "background welfare change", "exploitation"):
        table.add_column(column, justify="left" if column == "world" else "right")
    for row in bundle.summary.to_dict("records"):
        table.add_row(str(row["world"]).removeprefix("dilemmazoo/"), f"{row['scored']}/{row['scenarios']}", _number(row["normalised"]),
                      _number(row["background_welfare_change"]), _number(row["exploitation"]))
    Console(stderr=True).print(table)


def _number(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.3f}"
