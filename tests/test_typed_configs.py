"""Typed configs (issue 27): bad agent groups and trainer configs stop at the CLI with rc 2 and name the key;
checkpoints that carry pickled Python objects are refused without running them.

Every case goes through the real command (``dilemmazoo run CONFIG``, ``dilemmazoo train CONFIG``,
``dilemmazoo train ippo --flag``) in-process; validation fails before any model is loaded.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import pytest

from dilemmazoo.experiments.cli import main

WORLD = "world: {id: donor-game, kwargs: {n_agents: 4, n_rounds: 2}}\n"


@dataclass(frozen=True)
class Bad:
    """A bad config: what the command is given, the key its message must name, and words it must say."""

    id: str
    text: str  # an experiment YAML (``run``), a training YAML (``train``) or ippo flags (``ippo``)
    key: str
    says: tuple[str, ...] = ()
    command: str = "run"


def agents(group: str) -> str:
    return f"name: bad\n{WORLD}agents: {group}\n"


def training(trainer: str, algorithm: str = "policy_gradient", evaluation: str = "{}") -> str:
    return f"name: bad_training\nalgorithm: {algorithm}\ntrainer: {trainer}\nevaluation: {evaluation}\n"


CASES = [
    # -- a setting of another agent kind ----------------------------------------------------------
    Bad("scripted-temperature", agents("{kind: scripted, strategy: fixed_fraction, temperature: 0.2}"),
        "agents.temperature", ("not a setting of kind scripted", "it belongs to kind llm and synthesized")),
    Bad("scripted-backend", agents("{kind: scripted, backend: embedded}"), "agents.backend",
        ("not a setting of kind scripted",)),
    Bad("scripted-persona", agents("{kind: scripted, persona: a saint}"), "agents.persona",
        ("not a setting of kind scripted", "it belongs to kind llm;")),
    Bad("scripted-backend-options", agents("{kind: scripted, backend_options: {concurrency: 2}}"),
        "agents.backend_options", ("not a setting of kind scripted",)),
    Bad("scripted-memory", agents("{kind: scripted, memory: 3}"), "agents.memory", ("not a setting of kind scripted",)),
    Bad("synthesized-persona", agents("{kind: synthesized, persona: x}"), "agents.persona",
        ("not a setting of kind synthesized",)),
    Bad("synthesized-decision", agents("{kind: synthesized, decision: score}"), "agents.decision",
        ("not a setting of kind synthesized",)),
    Bad("synthesized-strategy", agents("{kind: synthesized, strategy: grim}"), "agents.strategy",
        ("not a setting of kind synthesized", "it belongs to kind scripted")),
    Bad("llm-strategy", agents("{kind: llm, strategy: tit_for_tat}"), "agents.strategy",
        ("not a setting of kind llm",)),
    Bad("llm-params", agents("{kind: llm, params: {fraction: 0.5}}"), "agents.params",
        ("not a setting of kind llm", "it belongs to kind scripted and synthesized")),
    Bad("kind-left-out-is-llm", agents("{strategy: grim}"), "agents.strategy", ("not a setting of kind llm",)),
    Bad("second-group", agents("[{kind: scripted, seats: 2}, {kind: scripted, top_p: 0.5}]"), "agents.1.top_p",
        ("not a setting of kind scripted",)),
    # -- unknown keys, kinds, types and ranges ----------------------------------------------------
    Bad("unknown-key", agents("{kind: llm, temprature: 0.5}"), "agents.temprature",
        ("not a setting of kind llm (its settings: backend",)),
    Bad("unknown-kind", agents("{kind: neural}"), "agents.kind", ("must be one of llm, scripted, synthesized",)),
    Bad("temperature-wrong-type", agents("{temperature: hot}"), "agents.temperature", ("valid number",)),
    Bad("temperature-negative", agents("{temperature: -1}"), "agents.temperature", ("greater than or equal to 0",)),
    Bad("top-p-zero", agents("{top_p: 0}"), "agents.top_p", ("greater than 0",)),
    Bad("max-tokens-zero", agents("{max_tokens: 0}"), "agents.max_tokens", ("greater than or equal to 1",)),
    Bad("max-retries-negative", agents("{max_retries: -1}"), "agents.max_retries", ("greater than or equal to 0",)),
    Bad("seats-zero", agents("{kind: scripted, seats: 0}"), "agents.seats", ("greater than or equal to 1",)),
    Bad("score-grid-not-a-fraction", agents("{score_grid: [0.5, 1.5]}"), "agents.score_grid", ("[0, 1]",)),
    Bad("decision-unknown", agents("{decision: think}"), "agents.decision", ("'generate'",)),
    # -- the LoRA policy-gradient trainer ---------------------------------------------------------
    Bad("lr-inf", training("{lr: .inf}"), "trainer.lr", ("finite number", "inf"), "train"),
    Bad("lr-nan", training("{lr: .nan}"), "trainer.lr", ("finite number",), "train"),
    Bad("lr-zero", training("{lr: 0}"), "trainer.lr", ("> 0",), "train"),
    Bad("lr-negative", training("{lr: -0.001}"), "trainer.lr", ("> 0",), "train"),
    Bad("seed-negative", training("{seed: -3}"), "trainer.seed", ("integer >= 0", "-3"), "train"),
    Bad("seed-a-fraction", training("{seed: 1.5}"), "trainer.seed", ("must be an integer",), "train"),
    Bad("probability-above-one", training("{past_opponent_prob: 1.5}"), "trainer.past_opponent_prob", ("<= 1",),
        "train"),
    Bad("iterations-zero", training("{iterations: 0}"), "trainer.iterations", ("integer >= 1",), "train"),
    Bad("iterations-true", training("{iterations: true}"), "trainer.iterations", ("must be an integer",), "train"),
    Bad("group-size-one", training("{group_size: 1}"), "trainer.group_size", ("integer >= 2",), "train"),
    Bad("temperature-inf", training("{temperature: .inf}"), "trainer.temperature", ("finite number",), "train"),
    Bad("kl-negative", training("{kl_coef: -0.1}"), "trainer.kl_coef", (">= 0",), "train"),
    Bad("trainer-unknown-key", training("{learning_rate: 0.1}"), "trainer.learning_rate", ("unknown field",),
        "train"),
    Bad("agrae-not-a-bool", training("{agrae: maybe}"), "trainer.agrae", ("true or false",), "train"),
    Bad("credit-unknown", training("{credit: selfish}"), "trainer.credit", ("must be one of",), "train"),
    Bad("greedy-probe-without-opponent", training("{greedy_matches: 2}"), "greedy_matches",
        ("needs greedy_opponent",), "train"),
    Bad("evaluation-matches-zero", training("{}", evaluation="{matches: 0}"), "evaluation.matches",
        ("integer >= 1",), "train"),
    Bad("evaluation-seed-negative", training("{}", evaluation="{seed: -1}"), "evaluation.seed", ("integer >= 0",),
        "train"),
    # -- the GRPO baseline ------------------------------------------------------------------------
    Bad("grpo-lr-inf", training("{lr: .inf}", "grpo"), "trainer.lr", ("finite number",), "train"),
    Bad("grpo-seed-negative", training("{seed: -1}", "grpo"), "trainer.seed", ("integer >= 0",), "train"),
    Bad("grpo-one-generation", training("{num_generations: 1}", "grpo"), "trainer.num_generations",
        ("integer >= 2",), "train"),
    Bad("grpo-unknown-key", training("{groups: 4}", "grpo"), "trainer.groups", ("unknown field",), "train"),
    Bad("grpo-epsilon-zero", training("{epsilon: 0}", "grpo"), "trainer.epsilon", ("> 0",), "train"),
    # -- IPPO (command-line flags) ----------------------------------------------------------------
    Bad("ippo-lr-inf", "--lr inf", "lr", ("finite number",), "ippo"),
    Bad("ippo-lr-zero", "--lr 0", "lr", ("> 0",), "ippo"),
    Bad("ippo-seed-negative", "--seed -3", "seed", ("integer >= 0",), "ippo"),
    Bad("ippo-iterations-zero", "--iterations 0", "iterations", ("integer >= 1",), "ippo"),
    Bad("ippo-batch-size-zero", "--batch-size 0", "batch_size", ("integer >= 1",), "ippo"),
    Bad("ippo-aa-beta-negative", "--aa-beta -1", "aa_beta", (">= 0",), "ippo"),
]


def test_the_table_has_at_least_30_distinct_cases():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
    assert len({case.text for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_config_exits_2_and_names_the_key(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if case.command == "ippo":
        argv = ["train", "ippo", *case.text.split(), "--out", str(tmp_path / "out")]
    else:
        path = tmp_path / "config.yaml"
        path.write_text(case.text)
        argv = (["run", str(path), "--out", str(tmp_path / "out")] if case.command == "run"
                else ["train", str(path), "--out", str(tmp_path / "out")])
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing ran: no run folder printed
    assert not (tmp_path / "out").exists()
    message = captured.err
    assert case.key in message, message
    for words in case.says:
        assert words in message, (words, message)


def test_every_bad_key_is_named_on_one_line_with_its_kind():
    from dilemmazoo.experiments.config import ConfigError, validate

    data = {"name": "t", "world": {"id": "donor-game"},
            "agents": [{"kind": "scripted", "seats": 2, "temperature": 0.5, "backend": "embedded"},
                       {"kind": "llm", "strategy": "grim"}]}
    with pytest.raises(ConfigError) as caught:
        validate(data)
    lines = str(caught.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == ["agents.0.temperature", "agents.0.backend",
                                                                "agents.1.strategy"]


def test_each_kind_is_its_own_model_and_agentsconfig_picks_it():
    from dilemmazoo.experiments.config import (AgentsConfig, LLMAgentsConfig, ScriptedAgentsConfig,
                                               SynthesizedAgentsConfig, member_params, validate)

    assert type(AgentsConfig.model_validate({"kind": "scripted", "strategy": "grim"})) is ScriptedAgentsConfig
    assert type(AgentsConfig.model_validate({"backend": "embedded"})) is LLMAgentsConfig  # kind left out: llm
    synthesized = AgentsConfig.model_validate({"kind": "synthesized", "params": {"smoke_steps": 5}})
    assert type(synthesized) is SynthesizedAgentsConfig
    assert (synthesized.temperature, synthesized.max_tokens) == (0.8, 200)  # the older defaults: records hold
    config = validate({"name": "t", "world": {"id": "donor-game"}, "agents": {"kind": "scripted", "seats": 4}})
    assert config.model_dump()["agents"] == {"kind": "scripted", "seats": 4, "label": "", "strategy": "fixed_fraction",
                                             "params": {}}
    assert member_params(config.groups[0]) == {} and member_params(LLMAgentsConfig()) == {}


def test_run_ids_hash_groups_as_the_one_flat_model_did():
    """Run ids (and so resumable run folders) of unchanged configs stay what they were: the hash
    sees each group with every older flat field at its default."""
    import hashlib

    from dilemmazoo.experiments.config import run_id, validate

    config = validate({"name": "t", "world": {"id": "donor-game"},
                       "agents": {"kind": "scripted", "strategy": "grim", "seats": 4}})
    flat_group = {"kind": "scripted", "seats": 4, "label": "", "backend": "embedded", "persona": "",
                  "personas": "none", "decision": "auto", "distribution_source": "generate", "max_retries": 2,
                  "temperature": 0.8, "top_p": 1.0, "max_tokens": 200, "score_grid": [], "memory": 0,
                  "backend_options": {}, "strategy": "grim", "params": {}}
    data = {"name": "t", "world": {"id": "donor-game", "kwargs": {}}, "agents": flat_group, "population": None,
            "study": None, "episodes_per_generation": 1, "seeds": [0], "grid": {}, "cache": True}
    expected = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]
    assert run_id(config) == expected


def test_a_run_folder_written_with_flat_groups_still_validates():
    from dilemmazoo.experiments.config import ConfigError, validate, without_flat_defaults

    stored = {"name": "t", "world": {"id": "donor-game"},
              "agents": {"kind": "scripted", "strategy": "grim", "temperature": 0.8, "backend": "embedded",
                         "score_grid": [], "backend_options": {}}}
    assert validate(without_flat_defaults(stored)).groups[0].strategy == "grim"
    changed = {**stored, "agents": {**stored["agents"], "temperature": 0.3}}  # not a default: still refused
    with pytest.raises(ConfigError, match="agents.temperature: not a setting of kind scripted"):
        validate(without_flat_defaults(changed))


# -- trainer configs in Python ---------------------------------------------------------------------


def test_trainer_configs_keep_their_keywords_and_check_every_field():
    from dilemmazoo.agents.trainers.grpo import GRPOBaselineConfig
    from dilemmazoo.agents.trainers.ippo import IPPOConfig
    from dilemmazoo.agents.trainers.llm_trainer import LLMTrainerConfig
    from dilemmazoo.agents.trainers.settings import TrainerConfigError

    config = LLMTrainerConfig(lr=1e-4, seed=7, world_kwargs={"n_rounds": 3})
    assert (config.lr, config.seed, config.to_dict()["world_kwargs"]) == (1e-4, 7, {"n_rounds": 3})
    assert config.replace(lr=2e-4).lr == 2e-4 and config.lr == 1e-4  # a checked copy; the config is frozen
    for make in (LLMTrainerConfig, GRPOBaselineConfig, IPPOConfig):
        with pytest.raises(TrainerConfigError) as caught:
            make(lr=float("inf"), seed=-3)
        header, *lines = str(caught.value).splitlines()
        assert header == f"{make.__name__}: 2 bad fields"
        assert sorted(lines) == ["  lr must be a finite number, got inf", "  seed must be an integer >= 0, got -3"]
    with pytest.raises(TrainerConfigError, match="lr must be a finite number"):
        config.replace(lr=float("nan"))
    assert IPPOConfig.from_dict(IPPOConfig(lr=0.01).to_dict()) == IPPOConfig(lr=0.01)  # config.json round trip


# -- safe loading ----------------------------------------------------------------------------------


class _Payload:
    """Unpickling this writes a marker file: what a hostile checkpoint would do instead."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.write_text, (self.marker, "code ran"))


def _optimizer_state():
    import torch

    parameter = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([parameter], lr=0.1)
    parameter.grad = torch.full((3,), 0.5)
    optimizer.step()
    return optimizer.state_dict()


def test_a_trainer_checkpoint_carrying_a_pickle_is_refused_and_its_code_never_runs(tmp_path):
    import torch

    from dilemmazoo.agents.neural import UnsafeCheckpointError, read_checkpoint
    from dilemmazoo.agents.trainers.llm_trainer import read_trainer_state

    marker = tmp_path / "pwned.txt"
    checkpoint = tmp_path / "iter_000001"
    checkpoint.mkdir()
    torch.save({"optimizer": _optimizer_state(), "extra": _Payload(marker)}, checkpoint / "trainer_state.pt")
    with pytest.raises(UnsafeCheckpointError, match="refused to load.*could run code"):
        read_trainer_state(checkpoint)
    assert not marker.exists()
    torch.save({"format": "x", "payload": _Payload(marker)}, tmp_path / "checkpoint.pt")  # an IPPO checkpoint
    with pytest.raises(UnsafeCheckpointError, match="refused to load"):
        read_checkpoint(tmp_path)
    assert not marker.exists()
    # the payload is live: an unsafe load would have run it
    torch.load(checkpoint / "trainer_state.pt", weights_only=False)
    assert marker.read_text() == "code ran"


def test_trainer_state_round_trips_through_tensors_and_json(tmp_path):
    import numpy as np
    import torch

    from dilemmazoo.agents.trainers.llm_trainer import read_trainer_state

    rng = np.random.default_rng(5)
    rng.random(3)
    optimizer = _optimizer_state()
    new = tmp_path / "new"
    new.mkdir()
    torch.save({"optimizer": optimizer}, new / "trainer_state.pt")
    (new / "trainer_state.json").write_text(json.dumps({"iteration": 4, "rng": rng.bit_generator.state}))
    old = tmp_path / "old"  # the layout of earlier versions: everything in the .pt, the generator as JSON text
    old.mkdir()
    torch.save({"iteration": 4, "optimizer": optimizer, "rng": json.dumps(rng.bit_generator.state)},
               old / "trainer_state.pt")
    following = np.random.default_rng(5)
    following.random(3)
    next_draw = following.random()  # what the saved generator draws next
    for folder in (new, old):
        state = read_trainer_state(folder)
        restored = np.random.default_rng()
        restored.bit_generator.state = state["rng"]
        assert state["iteration"] == 4 and restored.random() == next_draw
        assert torch.equal(state["optimizer"]["state"][0]["exp_avg"], optimizer["state"][0]["exp_avg"])
