"""LLM policy synthesis (issue 8): prompts, feedback, validation with retries, the loop through
the runner with the scripted backend, the analysis of its records, and one short run with the
embedded model (slow)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from dilemmazoo.agents.backends.scripted import ScriptedBackend
from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.synthesis import (
    BFS_POLICY,
    DENSE_METRIC_DEFINITIONS,
    IDLE_POLICY,
    IterationResult,
    SynthesizedPolicy,
    build_snapshot,
    cross_play_matrix,
    feedback_text,
    refinement_prompt,
    seat_number,
    synthesis_prompt,
)
from dilemmazoo.agents.sandbox import probe_isolation
from dilemmazoo.analysis.synthesis import (
    code_diffs,
    feedback_comparison,
    is_synthesis_population,
    run_isolation,
    synthesis_iterations,
)
from dilemmazoo.envs import make_world
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import execute
from dilemmazoo.norms import POPULATION_DYNAMICS, register_dynamics
from dilemmazoo.norms.synthesis import PolicySynthesis, iteration_metrics

if "policy_synthesis" not in POPULATION_DYNAMICS:  # until norms/__init__.py registers it
    register_dynamics("policy_synthesis", PolicySynthesis)

CRASHING = "I will pick from a short list.\n```python\ndef policy(state, agent_id):\n    return [1, 2][5]\n```\n"
BFS_ANSWER = f"Walk to the nearest apple.\n```python\n{BFS_POLICY}```\n"
FORWARD_ANSWER = "Always go forward.\n```python\ndef policy(state, agent_id):\n    return 0\n```\n"
WORLD = {"n_agents": 3, "rules": "vicgalle", "observation": "global", "grid_map": "small_cleanup", "episode_length": 20}


def small_world(**overrides):
    return make_world("dilemmazoo/cleanup-v0", **{**WORLD, **overrides})


# -- prompts and feedback (exact text) ----------------------------------------------------------

def test_feedback_text_sparse_and_dense():
    result = IterationResult(iteration=2, code="...", metrics={
        "mean_reward": 1.5, "efficiency": 0.25, "equality": 0.875, "sustainability": 12.0, "peace": 3.0},
        failures={"timeout": 2, "crash": 1})
    assert feedback_text(result, "sparse") == (
        "Iteration 2: mean reward per agent 1.500. Decisions where your code failed and the agent stayed: "
        "crash 1, timeout 2.")
    assert feedback_text(result, "dense") == (
        "Iteration 2: mean reward per agent 1.500; efficiency 0.250; equality 0.875; sustainability 12.000; "
        "peace 3.000. Decisions where your code failed and the agent stayed: crash 1, timeout 2.")
    unknown = IterationResult(iteration=0, code="", metrics={"mean_reward": 0.0, "efficiency": None})
    assert feedback_text(unknown, "dense") == (
        "Iteration 0: mean reward per agent 0.000; efficiency n/a; equality n/a; sustainability n/a; peace n/a.")
    with pytest.raises(ValueError, match="feedback must be one of"):
        feedback_text(result, "verbose")


def test_prompts_document_the_state_api_and_differ_only_in_the_metrics():
    sparse = synthesis_prompt("cleanup", 10, feedback="sparse")
    dense = synthesis_prompt("cleanup", 10, feedback="dense")
    for prompt in (sparse, dense):
        assert "`policy(state, agent_id)`" in prompt and "state.grid" in prompt and "helpers.nearest" in prompt
        assert "8 clean" in prompt and "0..9" in prompt and "READ-ONLY" in prompt
    assert DENSE_METRIC_DEFINITIONS not in sparse and DENSE_METRIC_DEFINITIONS in dense
    assert dense.replace(DENSE_METRIC_DEFINITIONS + "\n\n", "") == sparse
    gathering = synthesis_prompt("gathering", 4)
    assert "8 clean" not in gathering and "0..3" in gathering
    history = [IterationResult(0, "def policy(state, agent_id):\n    return 7", {"mean_reward": 0.0}),
               IterationResult(1, "def policy(state, agent_id):\n    return 0", {"mean_reward": 2.0})]
    refine = refinement_prompt("cleanup", 10, history)
    assert "Iteration 0: mean reward per agent 0.000.\nIteration 1: mean reward per agent 2.000." in refine
    assert "latest code (iteration 1):\n```python\ndef policy(state, agent_id):\n    return 0\n```" in refine
    with pytest.raises(ValueError, match="at least one"):
        refinement_prompt("cleanup", 10, [])
    with pytest.raises(ValueError, match="game must be one of"):
        synthesis_prompt("harvest", 10)


def test_snapshot_from_decisions_is_read_only_and_complete():
    world = small_world()
    observations, _ = world.reset(seed=0)
    requests = [Decision(agent_id=a, observation=observations[a], text="", spec=world.action_spec(a), rules="",
                         step=1, episode=0) for a in ("player_0", "player_2")]
    state = build_snapshot(requests, n_agents=3, game="cleanup", actions=world.action_names)
    np.testing.assert_array_equal(state.grid, observations["player_0"]["map"])
    np.testing.assert_array_equal(state.positions[0], observations["player_0"]["position"])
    assert state.positions[1].tolist() == [-1, -1] and state.orientations[1] == -1
    assert state.active.tolist() == [True, False, True]
    assert (state.step, state.n_agents, state.game, state.codes["waste"]) == (1, 3, "cleanup", 4)
    with pytest.raises(ValueError, match="read-only"):
        state.grid[0, 0] = 2
    assert seat_number("player_12") == 12
    with pytest.raises(ValueError, match="seat number"):
        seat_number("alice")


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="unknown synthesized-policy options \\['retries'\\]"):
        SynthesizedPolicy(None, retries=3)
    with pytest.raises(ValueError, match="game must be one of"):
        SynthesizedPolicy(None, game="harvest")
    with pytest.raises(ValueError, match=r"`sandbox: False` is gone.*write `isolation: process` instead"):
        SynthesizedPolicy(None, sandbox=False)
    with pytest.raises(ValueError, match="isolation must be one of auto, bubblewrap, namespaces, process"):
        SynthesizedPolicy(None, isolation="chroot")
    with pytest.raises(ValueError, match="episode_budget_s must be > 0"):
        SynthesizedPolicy(None, episode_budget_s=0)
    with pytest.raises(ValueError, match="feedback must be one of"):
        PolicySynthesis(feedback="rich")
    with pytest.raises(ValueError, match="no backend"):
        SynthesizedPolicy(None).write_strategies(["write code"], np.random.default_rng(0))


# -- validation with retries -------------------------------------------------------------------

def writer(answers, **options):
    policy = SynthesizedPolicy(ScriptedBackend(answers), seed=1, smoke_steps=10, **options)
    policy.set_rules(small_world().rules("player_0"))
    return policy


def test_validation_reports_rejections_and_smoke_test_crashes():
    policy = writer(["unused"], smoke_world={"grid_map": "small_cleanup"})
    assert policy.game == "cleanup"
    assert policy.validate(BFS_ANSWER) == ""
    assert policy.validate("```python\nimport os\ndef policy(state, agent_id):\n    return 7\n```").startswith(
        "Your policy was rejected (line 1): import of 'os' is not allowed")
    assert "must define a top-level function" in policy.validate("```python\nx = 1\n```")
    crash = policy.validate(CRASHING)
    assert crash.startswith("in a 10-step test game, agent 0 at step 1: crash: IndexError: list index out of range")
    assert "policy line 2" in crash
    assert "invalid_action" in policy.validate("```python\ndef policy(state, agent_id):\n    return 42\n```")


def test_write_strategies_retries_with_the_error_and_records_every_call():
    policy = writer([CRASHING, BFS_ANSWER])
    [code] = policy.write_strategies(["write a policy"], np.random.default_rng(0))
    assert code == BFS_POLICY.rstrip("\n")
    [attempt] = policy.last_syntheses
    assert attempt.valid and len(attempt.codes) == 2 and attempt.reasoning == "Walk to the nearest apple."
    assert attempt.to_params()["validation_errors"][0].startswith("in a 10-step test game, agent 0 at step 1: crash")
    first, retry = policy.last_strategy_calls
    assert (first.purpose, retry.purpose) == ("strategy", "strategy_retry")
    assert first.error.startswith("in a 10-step test game") and retry.error == ""
    sent = json.loads(retry.prompt)
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == CRASHING and "IndexError" in sent[3]["content"]
    assert policy.strategy_failures == 0


def test_code_that_never_validates_is_kept_and_counted():
    policy = writer([CRASHING], max_code_retries=2)
    [code] = policy.write_strategies(["write a policy"], np.random.default_rng(0))
    assert code == "def policy(state, agent_id):\n    return [1, 2][5]"
    assert len(policy.last_strategy_calls) == 3 and policy.strategy_failures == 1
    assert not policy.last_syntheses[0].valid


# -- the loop through the runner ---------------------------------------------------------------

def synthesis_config(tmp_path, answers, *, feedback="dense", retries=3, generations=2, name="synth"):
    script = tmp_path / f"{name}.txt"
    script.write_text("".join(answer + "\n---\n" for answer in answers))  # separators: multi-line answers
    return validate({
        "name": name,
        "world": {"id": "cleanup", "kwargs": WORLD},
        "agents": {"kind": "synthesized", "backend": f"scripted:{script}", "label": "synthesized",
                   "params": {"smoke_steps": 10, "max_code_retries": retries,
                              "smoke_world": {"grid_map": "small_cleanup"}}},
        "population": {"dynamics": "policy_synthesis", "generations": generations, "kwargs": {"feedback": feedback}},
        "episodes_per_generation": 2,
    })


@pytest.fixture(scope="module")
def crash_then_bfs(tmp_path_factory):
    """Iterate 0 crashes and is played as written (no retries); iterate 1 is the BFS policy."""
    tmp_path = tmp_path_factory.mktemp("synthesis")
    return execute(synthesis_config(tmp_path, [CRASHING, BFS_ANSWER], retries=0), tmp_path / "runs", progress=False)


def test_loop_records_code_failures_metrics_and_calls(crash_then_bfs):
    result = crash_then_bfs
    population = result.population
    assert population.groupby("generation")["strategy"].nunique().to_dict() == {1: 1, 2: 1}  # self-play
    codes = population.drop_duplicates("generation")["strategy"].tolist()
    assert codes == ["def policy(state, agent_id):\n    return [1, 2][5]", BFS_POLICY.rstrip("\n")]
    params = [json.loads(p) for p in population["params"]]
    first = [p for p, g in zip(params, population["generation"]) if g == 1]
    # iterate 0 crashed at every decision: 3 seats x 20 steps x 2 episodes, each seat its own 40
    assert [p["sandbox_failures"] for p in first] == [{"crash": 40}] * 3
    assert first[0]["valid"] is False and first[0]["iteration"] == 0 and first[0]["feedback"] == "dense"
    assert {p["sandbox_isolation"] for p in params} == {probe_isolation().level}  # the sandbox the code ran in
    assert first[0]["metrics"]["mean_reward"] == 0.0
    steps = result.steps
    gen1, gen2 = steps[steps["generation"] == 1], steps[steps["generation"] == 2]
    assert gen1["fallback_used"].all() and (gen1["parse_failures"] == 1).all() and (gen1["action"] == "7").all()
    assert not gen2["fallback_used"].any() and gen2["reward"].sum() > 0
    assert result.summary["counts"]["fallbacks"] == 120 and result.summary["counts"]["strategy_failures"] == 1
    calls = result.llm_calls
    assert calls["purpose"].tolist() == ["strategy", "strategy"] and calls["generation"].tolist() == [1, 2]
    refinement = json.loads(calls["prompt"].iloc[1])[-1]["content"]
    assert "Iteration 0: mean reward per agent 0.000; efficiency " in refinement
    assert "Decisions where your code failed and the agent stayed: crash 120." in refinement
    assert "return [1, 2][5]" in refinement


def test_loop_is_reproducible(tmp_path, crash_then_bfs):
    again = execute(synthesis_config(tmp_path, [CRASHING, BFS_ANSWER], retries=0), tmp_path / "runs", progress=False)
    pd.testing.assert_frame_equal(again.steps, crash_then_bfs.steps)


def test_metrics_with_records_match_the_analysis(crash_then_bfs):
    steps, population = crash_then_bfs.steps, crash_then_bfs.population
    table = synthesis_iterations(steps, population)
    assert table["iteration"].tolist() == [0, 1]
    assert table["fallback_rate"].tolist() == [1.0, 0.0]
    assert table["failures"].tolist() == [120, 0] and table["valid"].tolist() == [False, True]
    assert table["isolation"].tolist() == [probe_isolation().level] * 2
    gen2 = steps[steps["generation"] == 2]
    direct = iteration_metrics(gen2)
    for key in ("mean_reward", "efficiency", "equality", "sustainability", "peace"):
        assert table.loc[1, key] == pytest.approx(direct[key]), key
    episodes = crash_then_bfs.episodes
    returns = episodes[episodes["generation"] == 2].groupby("episode")["return"]
    assert direct["mean_reward"] == pytest.approx(returns.mean().mean())
    assert direct["efficiency"] == pytest.approx((returns.sum() / 20).mean())
    assert direct["peace"] == 3.0  # nobody fires
    # the dynamics fill the members' metrics from records the same way
    dynamics = PolicySynthesis(feedback="dense")
    members = [_member(row) for row in population[population["generation"] == 2].to_dict("records")]
    evaluated = dynamics.evaluate(members, {}, gen2)
    assert evaluated.metrics == direct and members[0].params["metrics"] == direct


def test_run_isolation_reads_the_provenance():
    summary = {"provenance": {"agents": [
        {"label": "honest", "kind": "scripted"},
        {"label": "writers", "kind": "synthesized", "isolation": "bubblewrap"},
        {"label": "more writers", "kind": "synthesized", "isolation": "process"},
    ]}}
    assert run_isolation(summary) == "bubblewrap, process"
    assert run_isolation({"provenance": {"agents": [{"kind": "llm"}]}}) == "" and run_isolation({}) == ""


def _member(row):
    from dilemmazoo.norms import Member

    return Member(name=row["name"], generation=row["generation"], strategy=row["strategy"],
                  params=json.loads(row["params"]))


def test_code_diffs_between_iterates(crash_then_bfs):
    [diff] = code_diffs(crash_then_bfs.population)
    assert (diff["from_iteration"], diff["to_iteration"]) == (0, 1)
    assert "-    return [1, 2][5]" in diff["diff"] and "+    found = helpers.nearest(" in diff["diff"]
    assert diff["added"] == len(BFS_POLICY.splitlines()) - 1 and diff["removed"] == 1
    assert is_synthesis_population(crash_then_bfs.population)
    assert not is_synthesis_population(pd.DataFrame({"strategy": ["My strategy will be to give."]}))


def test_sparse_and_dense_compared(tmp_path, crash_then_bfs):
    sparse = execute(synthesis_config(tmp_path, [CRASHING, BFS_ANSWER], retries=0, feedback="sparse", name="sparse"),
                     tmp_path / "runs", progress=False)
    refinement = json.loads(sparse.llm_calls["prompt"].iloc[1])[-1]["content"]
    assert "Iteration 0: mean reward per agent 0.000. Decisions" in refinement and "efficiency" not in refinement
    table = feedback_comparison({"dense run": (crash_then_bfs.steps, crash_then_bfs.population),
                                 "sparse run": (sparse.steps, sparse.population)})
    assert sorted(table["feedback"].unique()) == ["dense", "sparse"]
    assert table.groupby("feedback")["iteration"].apply(list).to_dict() == {"dense": [0, 1], "sparse": [0, 1]}
    # the same code on the same seeds: the feedback mode changes what the model reads, not the play
    dense_rows, sparse_rows = table[table["feedback"] == "dense"], table[table["feedback"] == "sparse"]
    assert dense_rows["mean_reward"].tolist() == sparse_rows["mean_reward"].tolist()
    # both in one report: the sparse-against-dense table
    from dilemmazoo.analysis.report import write_report

    execute(synthesis_config(tmp_path, [CRASHING, BFS_ANSWER], retries=0), tmp_path / "runs", progress=False)
    html = write_report(tmp_path / "runs", tmp_path / "both.html").read_text()
    assert "Sparse against dense feedback" in html
    assert html.count("metrics per iteration</h3>") == 2


def test_report_has_a_synthesis_section(tmp_path, crash_then_bfs):
    from dilemmazoo.analysis.report import write_report

    html = write_report(crash_then_bfs.run_dir, tmp_path / "report.html").read_text()
    assert 'id="synthesis"' in html and "Policy synthesis" in html
    assert "+    found = helpers.nearest(" in html.replace("&#34;", '"').replace("&#39;", "'")
    assert 'alt="metrics per iteration"' in html
    # the crashing iterate's fallbacks are shown with their most frequent reason and its count
    assert "crash: IndexError: list index out of range (policy line 2: return [1, 2][5]) (120)" in html.replace("&#39;", "'")


def test_cross_play_matrix_of_idle_and_bfs():
    matrix = cross_play_matrix([IDLE_POLICY, BFS_POLICY], lambda: small_world(episode_length=15), seeds=[0])
    assert matrix.shape == (2, 2)
    assert matrix[0, 0] == 0 and matrix[0, 1] == 0  # an idle focal agent never eats
    assert matrix[1, 0] > 0  # a BFS agent among idle ones eats
    assert matrix[1, 0] >= matrix[1, 1]  # and no less than among BFS rivals


HANGING = "Think forever.\n```python\ndef policy(state, agent_id):\n    while True:\n        pass\n```\n"


def test_hanging_code_is_cut_off_and_every_decision_counted(tmp_path):
    """A policy that never returns times out on its first step's 3 decisions and is then not called
    again in the episode: 3 x 20 x 2 decisions fall back, yet the run takes seconds."""
    data = synthesis_config(tmp_path, [HANGING], retries=0, generations=1).model_dump()
    data["agents"]["params"].update({"call_timeout_s": 0.1, "max_timeouts_per_episode": 3})
    result = execute(validate(data), tmp_path / "runs", progress=False)
    assert result.summary["wall_time_s"] < 20
    params = [json.loads(p) for p in result.population["params"]]
    assert [p["sandbox_failures"] for p in params] == [{"timeout": 40}] * 3
    assert params[0]["validation_errors"][0].startswith("in a 10-step test game, agent 0 at step 1: timeout")
    assert result.steps["fallback_used"].all() and len(result.steps) == 120


def test_dense_feedback_reports_the_metrics_of_the_records(tmp_path):
    result = execute(synthesis_config(tmp_path, [BFS_ANSWER, BFS_ANSWER]), tmp_path / "runs", progress=False)
    steps = result.steps
    metrics = iteration_metrics(steps[steps["generation"] == 1])
    first = json.loads(result.population["params"].iloc[0])
    assert first["metrics"] == pytest.approx(metrics)
    refinement = json.loads(result.llm_calls["prompt"].iloc[1])[-1]["content"]
    assert (f"Iteration 0: mean reward per agent {metrics['mean_reward']:.3f}; efficiency {metrics['efficiency']:.3f}; "
            f"equality {metrics['equality']:.3f}; sustainability {metrics['sustainability']:.3f}; "
            f"peace {metrics['peace']:.3f}.") in refinement


@pytest.mark.slow
def test_embedded_model_runs_end_to_end(tmp_path, embedded_backend):
    """The embedded SmolLM2-135M writes poor code; every failure is handled and counted."""
    config = validate({
        "name": "embedded_synthesis",
        "world": {"id": "cleanup", "kwargs": {**WORLD, "n_agents": 2, "episode_length": 10}},
        "agents": {"kind": "synthesized", "backend": "embedded", "label": "synthesized", "max_tokens": 48,
                   "params": {"smoke_steps": 5, "max_code_retries": 0, "call_timeout_s": 0.25,
                              "smoke_world": {"grid_map": "small_cleanup"}}},
        "population": {"dynamics": "policy_synthesis", "generations": 2, "kwargs": {"feedback": "dense"}},
        "episodes_per_generation": 1,
    })
    result = execute(config, tmp_path / "runs", progress=False, backend=embedded_backend)
    calls = result.llm_calls
    assert calls["purpose"].tolist() == ["strategy", "strategy"] and (calls["completion_tokens"] > 0).all()
    steps = result.steps
    assert len(steps) == 2 * 10 * 2
    params = [json.loads(p) for p in result.population["params"]]
    failures = sum(sum(p.get("sandbox_failures", {}).values()) for p in params)
    assert failures == int(steps["fallback_used"].sum())
    assert Counter(p["iteration"] for p in params) == Counter({0: 2, 1: 2})


@pytest.mark.parametrize("preset", ["cleanup_synthesis_sparse", "cleanup_synthesis_dense", "gathering_synthesis_dense"])
def test_presets_run_with_any_backend(preset, tmp_path):
    """The presets at the paper's sizes validate; shortened, they run with the scripted backend."""
    from dilemmazoo.experiments.config import apply_overrides, load_config
    from dilemmazoo.experiments.runner import check_config

    data = load_config(preset)
    full = validate(data)
    check_config(full)
    assert (full.world.kwargs["n_agents"], full.world.kwargs["rules"], full.generations,
            full.episodes_per_generation) == (10, "vicgalle", 4, 5)
    assert full.population.kwargs["feedback"] == preset.rsplit("_", 1)[1]
    script = tmp_path / "bfs.txt"
    script.write_text(BFS_ANSWER + "\n---\n")  # a separator: one multi-line answer, not one per line
    short = validate(apply_overrides(data, {
        "agents.backend": f"scripted:{script}", "world.kwargs.episode_length": 12, "population.generations": 2,
        "episodes_per_generation": 1, "agents.params.smoke_steps": 3,
    }))
    result = execute(short, tmp_path / "runs", progress=False)
    assert len(result.steps) == 2 * 12 * 10
    assert not result.steps["fallback_used"].any()
    assert result.population["strategy"].unique().tolist() == [BFS_POLICY.rstrip("\n")]
    # the isolation the code ran under is recorded with the run and named in the report
    from dilemmazoo.agents.sandbox import probe_isolation
    from dilemmazoo.analysis.report import write_report

    level = probe_isolation().level
    recorded = [agent.get("isolation") for agent in result.summary["provenance"]["agents"]]
    assert recorded == [level]
    html = write_report(result.run_dir).read_text()
    assert f"isolation <strong>{level}</strong>" in html
