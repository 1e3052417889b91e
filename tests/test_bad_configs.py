"""Bad configs through the command line: each exits with 2, names the field, and writes nothing.

Every case is a YAML text (``{tmp}`` stands for a scratch folder holding helper files) and
command-line arguments. ``dilemmazoo run CONFIG --out OUT`` (no ``--check``: the real run path)
must return 2, print a message on stderr that names the field, and leave no folder behind: the
scratch folder holds exactly what it held before. Most cases call ``cli.main`` in this process;
the issue's own cases also run as a real subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from dilemmazoo.experiments.cli import main

WORLD = "world: {id: donor-game, kwargs: {n_agents: 4, n_rounds: 2}}\n"
SCRIPTED = "agents: {kind: scripted, strategy: fixed_fraction}\n"
ANSWERS = "{tmp}/answers.txt"  # a valid script file (written for every case)
LLM = "agents: {kind: llm, backend: 'scripted:" + ANSWERS + "'"  # close with "}\n"
SYNTH_WORLD = "world: {id: cleanup, kwargs: {n_agents: 2, grid_map: small_cleanup, episode_length: 5}}\n"
SYNTH_POPULATION = "population: {dynamics: policy_synthesis, generations: 2}\n"
CANARY = "sk-canary-0123456789abcdef"


def good(*, name: str = "bad", world: str = WORLD, agents: str = SCRIPTED, extra: str = "") -> str:
    return f"name: {name}\n{world}{agents}{extra}"


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    field: str  # must appear in the message
    args: tuple[str, ...] = ()
    says: tuple[str, ...] = ()  # more text the message must hold
    hides: tuple[str, ...] = ()  # text the output must not hold (secrets)
    env: tuple[tuple[str, str], ...] = ()  # environment variables set for the case


CASES = [
    # -- the issue's cases -------------------------------------------------------------------
    Case("agents-bare-string", good(agents="agents: llm\n"), "agents",
         says=("must be a mapping like {kind: llm, backend: embedded} or a list of them", "'llm'")),
    Case("name-dotdot", good(name="'..'"), "name", says=("one folder name",)),
    Case("scripted-file-missing", good(agents="agents: {kind: llm, backend: 'scripted:{tmp}/nowhere.txt'}\n"),
         "agents.backend", says=("nowhere.txt", "no such file")),
    Case("unknown-backend-option", good(agents=LLM + ", backend_options: {temprature: 0.3}}\n"),
         "agents.backend_options", says=("'temprature'", "it accepts: name, prefill")),
    Case("score-without-logprobs", good(agents="agents: {kind: llm, backend: 'openai:gpt-4o-mini', decision: score, "
                                               "backend_options: {base_url: 'http://127.0.0.1:9/v1'}}\n"),
         "agents.decision", says=("log-probabilities", "decision: generate")),
    Case("workers-negative-flag", good(), "--workers", args=("--workers", "-3")),
    # -- names -------------------------------------------------------------------------------
    Case("name-dot", good(name="'.'"), "name"),
    Case("name-slash", good(name="a/b"), "name"),
    Case("name-leading-dash", good(name="-rf"), "name"),
    Case("name-leading-dot", good(name=".hidden"), "name"),
    Case("name-empty", good(name="''"), "name"),
    Case("name-too-long", good(name="n" * 101), "name", says=("at most 100 characters",)),
    Case("name-missing", WORLD + SCRIPTED, "name", says=("missing; write name:",)),
    # -- world -------------------------------------------------------------------------------
    Case("world-missing", "name: bad\n" + SCRIPTED, "world", says=("missing; write world: {id:",)),
    Case("world-a-string", good(world="world: donor-game\n"), "world", says=("not a mapping; write world:",)),
    Case("world-id-missing", good(world="world: {kwargs: {n_agents: 4}}\n"), "world.id", says=("missing",)),
    Case("world-unknown", good(world="world: {id: prisoners-delight}\n"), "world.id",
         says=("unknown world", "donor-game")),
    Case("world-bad-kwarg-value", good(world="world: {id: donor-game, kwargs: {n_agents: -1}}\n"), "world.kwargs",
         says=("n_agents",)),
    Case("world-unknown-kwarg", good(world="world: {id: donor-game, kwargs: {n_agentz: 4}}\n"), "world.kwargs",
         says=("n_agentz",)),
    # -- grid and seeds ----------------------------------------------------------------------
    Case("grid-unknown-key", good(extra="grid: {nonexistent.key: [1, 2]}\n"), "nonexistent.key"),
    Case("grid-empty-axis", good(extra="grid: {world.kwargs.n_rounds: []}\n"), "grid.world.kwargs.n_rounds",
         says=("no values",)),
    Case("grid-value-breaks-world", good(extra="grid: {world.kwargs.n_rounds: [2, 0]}\n"), "world.kwargs",
         says=("n_rounds=0",)),
    Case("grid-empty-label", good(extra="grid: {world.kwargs.n_rounds: {'': 2}}\n"), "grid.world.kwargs.n_rounds",
         says=("labels",)),
    Case("grid-sweeps-seeds", good(extra="grid: {seeds: [[0], [1]]}\n"), "seeds"),
    Case("seeds-empty", good(extra="seeds: []\n"), "seeds"),
    Case("seeds-zero-count", good(extra="seeds: 0\n"), "seeds", says=("seed count",)),
    Case("seeds-text", good(extra="seeds: many\n"), "seeds", says=("not a list; write seeds:",)),
    Case("episodes-negative", good(extra="episodes_per_generation: -1\n"), "episodes_per_generation"),
    Case("workers-zero-in-config", good(extra="workers: 0\n"), "workers"),
    Case("workers-zero-flag", good(), "--workers", args=("--workers", "0")),
    Case("workers-not-a-number", good(), "--workers", args=("--workers", "two")),
    # -- scripted groups ---------------------------------------------------------------------
    Case("strategy-unknown", good(agents="agents: {kind: scripted, strategy: tit_for_tatt}\n"), "agents.strategy",
         says=("unknown scripted strategy", "known:")),
    Case("strategy-bad-param-value", good(agents="agents: {kind: scripted, strategy: fixed_fraction, "
                                                  "params: {fraction: 5}}\n"), "agents.params", says=("fraction",)),
    Case("strategy-unknown-param", good(agents="agents: {kind: scripted, strategy: fixed_fraction, "
                                               "params: {bogus: 1}}\n"), "agents.params", says=("bogus",)),
    Case("strategy-of-another-world", good(agents="agents: {kind: scripted, strategy: grid_bfs}\n"), "agents.strategy",
         says=("'grid_bfs' cannot play donor-game", "KeyError")),
    Case("strategy-of-another-world-in-a-group", good(
        agents="agents: [{kind: scripted, strategy: fixed_fraction, seats: 2}, {kind: scripted, strategy: "
               "tit_for_tat}]\n"), "agents.1.strategy", says=("'tit_for_tat' cannot play donor-game",)),
    Case("kind-unknown", good(agents="agents: {kind: robot}\n"), "agents.kind"),
    Case("agents-empty-list", good(agents="agents: []\n"), "agents", says=("empty list",)),
    Case("agents-item-a-string", good(agents="agents: [{kind: scripted, strategy: fixed_fraction, seats: 2}, llm]\n"),
         "agents", says=("item 1 must be a mapping",)),
    Case("agents-unknown-field", good(agents="agents: {kind: scripted, stratgy: fixed_fraction}\n"), "agents.stratgy",
         says=("not a setting of kind scripted", "strategy")),
    Case("scripted-takes-no-temperature", good(agents="agents: {kind: scripted, strategy: fixed_fraction, "
                                                   "temperature: 0.2}\n"), "agents.temperature",
         says=("not a setting of kind scripted", "it belongs to kind llm and synthesized")),
    # -- seats and labels --------------------------------------------------------------------
    Case("too-many-seats", good(agents="agents: [{kind: scripted, seats: 3}, {kind: scripted, seats: 3}]\n"),
         "agents.seats", says=("[3, 3]", "4 seats")),
    Case("too-few-seats", good(agents="agents: [{kind: scripted, seats: 1}, {kind: scripted, seats: 1}]\n"),
         "agents.seats"),
    Case("two-groups-without-seats", good(agents="agents: [{kind: scripted}, {kind: scripted}]\n"), "agents",
         says=("at most one group may leave out 'seats'",)),
    Case("seats-zero", good(agents="agents: [{kind: scripted, seats: 0}, {kind: scripted}]\n"), "agents.0.seats"),
    Case("label-clash", good(agents="agents: [{kind: scripted, seats: 2, label: a}, {kind: scripted, label: a}]\n"),
         "agents", says=("labels must be unique; used more than once: 'a'",)),
    # -- norms -------------------------------------------------------------------------------
    Case("dynamics-unknown", good(extra="population: {dynamics: cultural_revolution}\n"), "population.dynamics",
         says=("cultural_evolution",)),
    Case("dynamics-bad-kwargs", good(extra="population: {dynamics: cultural_evolution, "
                                           "kwargs: {survivor_fraction: 2}}\n"), "population.kwargs",
         says=("survivor_fraction",)),
    Case("generations-zero", good(extra="population: {dynamics: cultural_evolution, generations: 0}\n"),
         "population.generations"),
    Case("population-a-string", good(extra="population: cultural_evolution\n"), "population",
         says=("not a mapping; write population:",)),
    Case("dynamics-with-two-groups", good(agents="agents: [{kind: scripted, seats: 2}, {kind: scripted}]\n",
                                          extra="population: {dynamics: cultural_evolution}\n"), "population",
         says=("single agents group",)),
    Case("utility-unknown", good(extra="utility: {name: envy}\n"), "utility.name", says=("inequity_aversion",)),
    Case("utility-bad-kwargs", good(extra="utility: {name: inequity_aversion, kwargs: {alfa: 1}}\n"), "utility.kwargs",
         says=("alfa",)),
    Case("utility-name-missing", good(extra="utility: {kwargs: {alpha: 1}}\n"), "utility.name", says=("missing",)),
    # -- language-model groups and backends --------------------------------------------------
    Case("backend-unknown", good(agents="agents: {kind: llm, backend: 'gpt5:large'}\n"), "agents.backend",
         says=("unknown backend spec", "openai:ARG")),
    Case("backend-needs-argument", good(agents="agents: {kind: llm, backend: openai}\n"), "agents.backend",
         says=("needs an argument",)),
    Case("backend-flag-unknown", good(agents="agents: {kind: llm}\n"), "agents.backend",
         args=("--backend", "nonsense")),
    Case("scripted-file-is-a-folder", good(agents="agents: {kind: llm, backend: 'scripted:{tmp}'}\n"),
         "agents.backend", says=("a folder",)),
    Case("scripted-file-empty", good(agents="agents: {kind: llm, backend: 'scripted:{tmp}/empty.txt'}\n"),
         "agents.backend", says=("holds no answers",)),
    Case("score-on-an-amount-without-grid", good(agents=LLM + ", decision: score}\n"), "agents.score_grid",
         says=("decision 'score' on an amount (step 1, player_0)",)),
    Case("score-on-a-message", good(world="world: {id: trust-split}\n", agents=LLM + ", decision: score}\n"),
         "agents.decision", says=("BoundedMessage decision at step 1",)),
    Case("score-on-litellm", good(agents="agents: {kind: llm, backend: 'litellm:gpt-4o-mini', decision: score}\n"),
         "agents.decision"),
    Case("backend-option-bad-value", good(agents="agents: {kind: llm, backend: 'openai:m', backend_options: "
                                                 "{base_url: 'http://127.0.0.1:9/v1', concurrency: 0}}\n"),
         "agents.backend_options.concurrency", says=(">= 1",)),
    Case("openai-key-variable-unset", good(agents="agents: {kind: llm, backend: 'openai:gpt-4o-mini', "
                                                  "backend_options: {api_key_env: DZ_UNSET_KEY_VARIABLE}}\n"),
         "agents.backend_options.api_key_env", says=("DZ_UNSET_KEY_VARIABLE", "not set")),
    Case("litellm-key-variable-unset", good(agents="agents: {kind: llm, backend: 'litellm:gpt-4o-mini', "
                                                   "backend_options: {api_key_env: DZ_UNSET_KEY_VARIABLE}}\n"),
         "agents.backend_options.api_key_env", says=("DZ_UNSET_KEY_VARIABLE is not set",)),
    Case("hf-folder-missing", good(agents="agents: {kind: llm, backend: 'hf:{tmp}/no-model'}\n"), "agents.backend",
         says=("no model folder",)),
    Case("temperature-negative", good(agents=LLM + ", temperature: -1}\n"), "agents.temperature"),
    Case("score-grid-outside-unit", good(agents=LLM + ", score_grid: [0.5, 1.5]}\n"), "agents.score_grid"),
    Case("max-tokens-zero", good(agents=LLM + ", max_tokens: 0}\n"), "agents.max_tokens"),
    Case("memory-negative", good(agents=LLM + ", memory: -2}\n"), "agents.memory"),
    Case("api-key-in-config", good(agents=LLM + f", backend_options: {{api_key: {CANARY}}}}}\n"),
         "agents.backend_options", says=("api_key_env",), hides=(CANARY,)),
    Case("key-instead-of-variable-name", good(agents=LLM + f", backend_options: {{api_key_env: {CANARY}}}}}\n"),
         "agents.backend_options", says=("names an environment variable",), hides=(CANARY,)),
    # -- synthesized groups ------------------------------------------------------------------
    Case("synthesized-on-donor-game", good(agents="agents: {kind: synthesized, backend: 'scripted:" + ANSWERS + "'}\n",
                                           extra=SYNTH_POPULATION), "agents.kind", says=("grid worlds",)),
    Case("synthesized-sandbox-false", good(world=SYNTH_WORLD, extra=SYNTH_POPULATION,
                                           agents="agents: {kind: synthesized, backend: 'scripted:" + ANSWERS
                                                  + "', params: {sandbox: false}}\n"),
         "agents.params.sandbox", says=("isolation: process",)),
    Case("synthesized-unknown-option", good(world=SYNTH_WORLD, extra=SYNTH_POPULATION,
                                            agents="agents: {kind: synthesized, backend: 'scripted:" + ANSWERS
                                                   + "', params: {retries: 2}}\n"),
         "agents.params", says=("'retries'", "max_code_retries")),
    Case("synthesized-bad-isolation", good(world=SYNTH_WORLD, extra=SYNTH_POPULATION,
                                           agents="agents: {kind: synthesized, backend: 'scripted:" + ANSWERS
                                                  + "', params: {isolation: chroot}}\n"),
         "agents.params.isolation", says=("auto, bubblewrap, namespaces, process",)),
    Case("synthesized-bad-timeout", good(world=SYNTH_WORLD, extra=SYNTH_POPULATION,
                                         agents="agents: {kind: synthesized, backend: 'scripted:" + ANSWERS
                                                + "', params: {call_timeout_s: 0}}\n"),
         "agents.params.call_timeout_s", says=("> 0",)),
    Case("synthesized-without-os-isolation", good(world=SYNTH_WORLD, extra=SYNTH_POPULATION,
                                                  agents="agents: {kind: synthesized, backend: 'scripted:" + ANSWERS
                                                         + "'}\n"),
         "agents.params.isolation", says=("isolation: process",),
         env=(("DILEMMAZOO_SANDBOX_PRETEND_MISSING", "bubblewrap,namespaces"),)),
    Case("synthesized-bubblewrap-missing", good(world=SYNTH_WORLD, extra=SYNTH_POPULATION,
                                                agents="agents: {kind: synthesized, backend: 'scripted:" + ANSWERS
                                                       + "', params: {isolation: bubblewrap}}\n"),
         "agents.params.isolation", says=("isolation: bubblewrap is not available on this machine",),
         env=(("DILEMMAZOO_SANDBOX_PRETEND_MISSING", "bubblewrap"),)),
    Case("synthesized-without-synthesis", good(world=SYNTH_WORLD,
                                               agents="agents: {kind: synthesized, backend: 'scripted:" + ANSWERS
                                                      + "'}\n"), "agents.kind", says=("policy_synthesis",)),
    Case("synthesis-with-llm-agents", good(agents=LLM + "}\n", extra=SYNTH_POPULATION), "population.dynamics",
         says=("kind: synthesized",)),
    # -- the file and the command line -------------------------------------------------------
    Case("extra-top-level-field", good(extra="episodes: 3\n"), "episodes",
         says=("unknown field", "episodes_per_generation")),
    Case("yaml-syntax-error", "name: bad\nworld: {id: donor-game\nagents: {backend_options: {api_key: " + CANARY
         + "}\n", "YAML", says=("line",), hides=(CANARY,)),
    Case("top-level-a-list", "- name: bad\n- world: donor-game\n", "top level", says=("mapping",)),
    Case("set-missing-index", good(agents="agents: [{kind: scripted, seats: 2}, {kind: scripted}]\n"),
         "agents.3.seats", args=("--set", "agents.3.seats=1"), says=("not an index of a list of 2",)),
    Case("set-through-a-value", good(), "world.id.name", args=("--set", "world.id.name=x")),
    Case("set-without-value", good(), "--set", args=("--set", "seeds")),
    Case("preset-unknown", "", "no config file or preset", args=("--config-name", "no_such_preset")),
]


def _prepare(tmp_path, case: Case):
    """The scratch folder with its helper files and the config; returns (config argument, out, args)."""
    (tmp_path / "answers.txt").write_text("Answer: C\n")
    (tmp_path / "empty.txt").write_text("\n\n")
    args = list(case.args)
    if args[:1] == ["--config-name"]:  # a preset name instead of a file
        target, args = args[1], args[2:]
    else:
        target = str(tmp_path / "config.yaml")
        (tmp_path / "config.yaml").write_text(case.text.replace("{tmp}", str(tmp_path)))
    return target, tmp_path / "runs", args


def _contents(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as done:  # argparse refuses a flag with exit code 2
        return done.code


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_config_exits_2_names_the_field_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DZ_UNSET_KEY_VARIABLE", raising=False)
    for name, value in case.env:
        monkeypatch.setenv(name, value)
    target, out, args = _prepare(tmp_path, case)
    before = _contents(tmp_path)
    code = _main(["run", target, "--out", str(out), "--quiet", *args])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert case.field in captured.err, captured.err
    for text in case.says:
        assert text in captured.err, (text, captured.err)
    for text in case.hides:
        assert text not in captured.out + captured.err
    assert not out.exists()
    assert _contents(tmp_path) == before  # nothing written anywhere, '..' included


def test_there_are_at_least_40_cases_with_distinct_ids():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


def test_check_mode_refuses_the_same_configs(tmp_path, capsys):
    """``run --check`` fails the same way (a sample: schema, world, backend and file checks)."""
    for case_id in ("agents-bare-string", "world-unknown-kwarg", "unknown-backend-option", "scripted-file-missing"):
        case = next(c for c in CASES if c.id == case_id)
        folder = tmp_path / case_id
        folder.mkdir()
        target, out, args = _prepare(folder, case)
        assert _main(["run", target, "--out", str(out), "--check", *args]) == 2, case_id
        assert case.field in capsys.readouterr().err
        assert not out.exists()


def test_an_out_path_that_is_a_file_is_refused_and_kept(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text(good())
    out = tmp_path / "runs"
    out.write_text("notes")
    assert _main(["run", str(tmp_path / "config.yaml"), "--out", str(out), "--quiet"]) == 2
    assert "--out" in capsys.readouterr().err
    assert out.read_text() == "notes"


@pytest.mark.parametrize("case_id", ["agents-bare-string", "name-dotdot", "workers-negative-flag"])
def test_the_issues_cases_through_a_real_process(case_id, tmp_path):
    case = next(c for c in CASES if c.id == case_id)
    target, out, args = _prepare(tmp_path, case)
    before = _contents(tmp_path)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, "-m", "dilemmazoo.experiments.cli", "run", target, "--out", str(out),
                           "--quiet", *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert case.field in done.stderr and all(text in done.stderr for text in case.says)
    assert "Traceback" not in done.stderr
    assert not out.exists() and _contents(tmp_path) == before
