"""The runner end to end on the Donor Game: records, counts, determinism, resume, grids, CLI."""

import hashlib
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from dilemmazoo.experiments import ConfigError, RunFailed, run, run_grid
from dilemmazoo.experiments.cli import main
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.records import EPISODE_COLUMNS, LLM_CALL_COLUMNS, POPULATION_COLUMNS, STEP_COLUMNS
from dilemmazoo.experiments.runner import execute


def scripted(fraction=1.0, **extra):
    data = {
        "name": "t",
        "world": {"id": "donor-game", "kwargs": {"n_agents": 12, "n_rounds": 12}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": fraction}},
        "population": {"dynamics": "cultural_evolution", "generations": 2, "kwargs": {"mutation_sd": 0.0}},
        "episodes_per_generation": 2,
    }
    data.update(extra)
    return validate(data)


def llm(tmp_path, answers, **extra):
    script = tmp_path / "answers.txt"
    script.write_text("\n---\n".join(answers))
    data = {
        "name": "llm",
        "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 4}},
        "agents": {"kind": "llm", "backend": f"scripted:{script}", "decision": "generate", "max_retries": 2},
        "population": {"dynamics": "cultural_evolution", "generations": 2},
        "episodes_per_generation": 2,
    }
    data.update(extra)
    return validate(data)


def test_all_donate_run_reaches_the_paper_maximum_and_writes_every_file(tmp_path):
    result = execute(scripted(1.0), tmp_path, progress=False)
    for name in ("config.yaml", "steps.parquet", "episodes.parquet", "population.parquet", "llm_calls.parquet", "summary.json"):
        assert (result.run_dir / name).exists(), name
    assert result.summary["metrics"]["avg_final_resources_by_generation"] == {"1": 30720.0, "2": 30720.0}
    steps = result.steps
    assert list(steps.columns[: len(STEP_COLUMNS)]) == list(STEP_COLUMNS)
    assert len(steps) == 2 * 2 * 12 * 12  # generations x games x rounds x agents
    assert steps["decided"].sum() == 2 * 2 * 12 * 6  # half the seats donate each round
    assert list(result.episodes.columns[: len(EPISODE_COLUMNS)]) == list(EPISODE_COLUMNS)
    assert result.episodes["return"].sum() == pytest.approx(2 * 2 * (30720 - 10) * 12)
    population = result.population
    assert list(population.columns[: len(POPULATION_COLUMNS)]) == list(POPULATION_COLUMNS)
    assert population.groupby("generation")["survived"].sum().to_dict() == {1: 6, 2: 0}
    assert list(result.llm_calls.columns) == list(LLM_CALL_COLUMNS) and len(result.llm_calls) == 0
    assert result.summary["counts"]["fallbacks"] == 0


def test_garbage_answers_complete_and_every_failure_is_counted(tmp_path):
    config = llm(tmp_path, ["I am a teapot.", "Let me think about the weather."])
    result = execute(config, tmp_path / "runs", progress=False)
    steps = result.steps
    donors = steps[steps["decided"]]
    assert len(donors) == 2 * 2 * 4 * 2
    assert (donors["parse_failures"] == 3).all()  # first answer + 2 retries
    assert donors["fallback_used"].all()
    assert set(donors["move"]) == {"abstain"}
    assert (steps["amount"] == 0).all() and (steps["reward"] == 0).all()
    counts = result.summary["counts"]
    assert counts["decisions"] == len(donors) and counts["fallbacks"] == len(donors)
    assert counts["parse_failures"] == 3 * len(donors)
    assert result.summary["metrics"]["fallback_rate"] == 1.0
    assert math.isnan(result.summary["metrics"]["initial_cooperation"])  # no valid decision: no rate
    assert "initial_cooperation" in result.summary["metrics"]["nan_reasons"]
    assert result.summary["metrics"]["valid_decisions"] == 0
    calls = result.llm_calls
    assert (calls["purpose"] == "act").sum() == len(donors)
    assert (calls["purpose"] == "retry").sum() == 2 * len(donors)
    assert calls.loc[calls["purpose"] != "strategy", "error"].str.len().gt(0).all()
    assert counts["strategy_failures"] == 4 + 2  # no 'My strategy will be' in any strategy answer


def test_valid_answers_become_donations(tmp_path):
    config = llm(tmp_path, ["My strategy will be to give half.", "Justification: fair. Answer: 5"])
    result = execute(config, tmp_path / "runs", progress=False)
    donors = result.steps[result.steps["decided"]]
    assert not donors["fallback_used"].any()
    assert set(donors["move"]) == {"donate"}
    strategies = result.population["strategy"]
    assert strategies.str.startswith("My strategy will be").sum() >= 1


def test_same_config_seed_and_cache_give_identical_steps(tmp_path):
    config = llm(tmp_path, ["Answer: 3", "junk", "Answer: 7", "Answer: 1.5"])
    first = execute(config, tmp_path / "a", progress=False)
    second = execute(config, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(first.steps, second.steps)
    scripted_a = execute(scripted(0.5, seeds=[3]), tmp_path / "a", progress=False)
    scripted_b = execute(scripted(0.5, seeds=[3]), tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(scripted_a.steps, scripted_b.steps)
    other_seed = execute(scripted(0.5, seeds=[4]), tmp_path / "a", progress=False)
    assert not scripted_a.steps["partner"].equals(other_seed.steps["partner"])


def test_a_redone_scripted_run_replays_its_script_from_the_start_and_is_never_cached(tmp_path):
    config = llm(tmp_path, ["Answer: 3", "junk", "Answer: 7"])
    first = execute(config, tmp_path / "runs", progress=False)
    steps, calls = first.steps, first.llm_calls
    (first.run_dir / "summary.json").unlink()  # damaged: moved aside and redone
    second = execute(config, tmp_path / "runs", progress=False)
    assert not second.skipped and second.run_dir == first.run_dir
    assert not second.llm_calls["cached"].any() and second.summary["counts"]["cache_hits"] == 0
    pd.testing.assert_frame_equal(steps, second.steps)
    pd.testing.assert_frame_equal(calls, second.llm_calls)
    assert not (tmp_path / "runs" / ".llm_cache").exists()  # the script is the answer; nothing to cache


def test_runs_sharing_a_cache_folder_do_not_hand_each_other_scripted_answers(tmp_path):
    """Two configs whose first prompts coincide (one plays one game per generation, the other
    two): a cache shared by their runs would serve the second run the first one's answers
    without moving its script on, and its records would depend on which ran first."""
    answers = ["My strategy will be to give 3.", "Answer: 3", "junk", "Answer: 7", "Answer: 1"]
    short, long = llm(tmp_path, answers, episodes_per_generation=1), llm(tmp_path, answers, episodes_per_generation=2)
    alone = execute(long, tmp_path / "alone", progress=False)
    execute(short, tmp_path / "shared", progress=False)
    after = execute(long, tmp_path / "shared", progress=False)
    pd.testing.assert_frame_equal(alone.steps, after.steps)
    pd.testing.assert_frame_equal(alone.llm_calls, after.llm_calls)


def test_the_scripted_backend_keeps_max_tokens_words_and_flags_the_cut():
    from dilemmazoo.agents.backends import GenerationParams
    from dilemmazoo.agents.backends.scripted import ScriptedBackend

    chat = [{"role": "user", "content": "Your move?"}]
    backend = ScriptedBackend(["one  two\nthree four", "Answer: 5", "  padded  words  ", "a b\nc d e", "one two three\nfour"])
    cut, whole, padded = backend.generate([chat] * 3, params=GenerationParams(max_tokens=2))
    assert (cut.text, cut.truncated, cut.completion_tokens) == ("one  two", True, 2)  # the spacing kept stays
    assert (whole.text, whole.truncated, whole.completion_tokens) == ("Answer: 5", False, 2)
    assert (padded.text, padded.truncated) == ("  padded  words  ", False)
    stopped, long = backend.generate([chat] * 2, params=GenerationParams(max_tokens=2, stop=("\n",)))
    assert (stopped.text, stopped.truncated) == ("a b", False)  # the stop string came first
    assert (long.text, long.truncated) == ("one two", True)


def test_a_run_records_scripted_answers_cut_at_max_tokens(tmp_path):
    config = llm(tmp_path, ["Answer: 5 and that is final"], agents={
        "kind": "llm", "backend": f"scripted:{tmp_path}/answers.txt", "decision": "generate", "max_tokens": 3})
    result = execute(config, tmp_path / "runs", progress=False)
    assert set(result.llm_calls["text"]) == {"Answer: 5 and"}
    assert set(result.llm_calls["completion_tokens"]) == {3}


def test_finished_runs_are_skipped(tmp_path):
    config = scripted(0.2)
    first = execute(config, tmp_path, progress=False)
    again = execute(config, tmp_path, progress=False)
    assert again.skipped and again.run_dir == first.run_dir and again.summary == first.summary


def test_a_failing_run_leaves_finished_runs_and_a_failure_note(tmp_path):
    good = execute(scripted(0.3), tmp_path, progress=False)
    # an answer no option matches fails at run time (scoring a script is not possible)
    (tmp_path / "banana.txt").write_text("banana\n")
    bad = validate({**scripted(0.3).model_dump(), "name": "t", "population": None,
                    "agents": {"kind": "llm", "backend": f"scripted:{tmp_path}/banana.txt", "decision": "score",
                               "score_grid": [0, 0.5, 1]}})
    with pytest.raises(RunFailed, match="matches none of the options"):
        execute(bad, tmp_path, progress=False)
    failed_dirs = [p.parent for p in tmp_path.glob("t/*/failure.json")]
    assert len(failed_dirs) == 1 and not (failed_dirs[0] / "summary.json").exists()
    assert (good.run_dir / "summary.json").exists()


def test_world_kwargs_errors_fail_before_running(tmp_path):
    bad = scripted(0.5, world={"id": "donor-game", "kwargs": {"n_agents": 5}})
    with pytest.raises(ConfigError, match="world"):
        execute(bad, tmp_path, progress=False)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ConfigError, match="scripted strategy"):
        execute(scripted(0.5, agents={"kind": "scripted", "strategy": "saint"}), tmp_path, progress=False)


def test_python_api_run_and_grid(tmp_path):
    r = run("donor_game_demo", out=tmp_path, progress=False, agents__kind="scripted", agents__strategy="reciprocator",
            agents__params={"initial": 1.0})
    assert r.summary["world"] == "dilemmazoo/donor-game-v0" and len(r.steps) > 0
    with pytest.raises(ConfigError, match="run_grid"):
        run("donor_game", out=tmp_path, progress=False)
    results = run_grid("donor_game_demo", out=tmp_path, progress=False, workers=2, agents__kind="scripted",
                       seeds=[0, 1], population__generations=1, episodes_per_generation=1)
    assert len(results) == 2 and len({r.run_dir for r in results}) == 2
    assert sorted(r.summary["seed"] for r in results) == [0, 1]


def test_cli_run_list_report(tmp_path, capsys):
    code = main(["run", "donor_game_demo", "--out", str(tmp_path), "--quiet", "--set", "agents.kind=scripted",
                 "--set", "population.generations=2", "--report"])
    captured = capsys.readouterr()
    out = captured.out.strip().splitlines()
    assert code == 0
    run_dir = tmp_path / "donor_game_demo"
    assert out == [str(run_dir / "seed=0")]  # stdout: run folders only; the report's path is on stderr
    report_line = captured.err.strip().splitlines()[-1]
    assert report_line.startswith("report: ")
    summary = json.loads((Path(out[0]) / "summary.json").read_text())
    assert summary["generations"] == 2
    html = Path(report_line.split(": ", 1)[1]).read_text()
    assert "data:image/png;base64," in html
    assert main(["report", str(run_dir)]) == 0
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "dilemmazoo/donor-game-v0" in listing and "donor_game_demo" in listing and "embedded" in listing
    assert main(["run", "donor_game_demo", "--set", "agents.temperature=-2", "--out", str(tmp_path)]) == 2
    assert "agents.temperature" in capsys.readouterr().err


def test_duckdb_catalog_queries_across_a_grid(tmp_path):
    from dilemmazoo.analysis import catalog

    results = run_grid("donor_game_demo", out=tmp_path, progress=False, agents__kind="scripted", seeds=[0, 1],
                       grid={"agents.params.fraction": [0.0, 1.0]}, population__generations=1, episodes_per_generation=1)
    assert len(results) == 4
    con = catalog(tmp_path / "donor_game_demo")
    assert con.execute("select count(*) from runs").fetchall() == [(4,)]
    joined = con.execute("select count(*) from steps join runs using (run_id)").fetchall()[0][0]
    assert joined == sum(len(r.steps) for r in results)
    by_run = dict(con.execute("select run_id, sum(reward) from steps group by run_id").fetchall())
    expected = {r.summary["run_id"]: r.steps["reward"].sum() for r in results}
    assert by_run == pytest.approx(expected)
    by_fraction = con.execute("select fraction, count(*) from runs group by all order by all").fetchall()
    assert by_fraction == [(0.0, 2), (1.0, 2)]  # the swept key is a column, numbers stay numbers
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no finished runs"):
        catalog(tmp_path / "empty")


def test_transcript_shows_prompts_answers_and_errors(tmp_path, capsys):
    from dilemmazoo.analysis.transcript import transcript

    result = execute(llm(tmp_path, ["My strategy will be kindness.", "nonsense", "Answer: 4"]), tmp_path / "runs", progress=False)
    calls = result.llm_calls
    assert calls["prompt"].str.startswith('[{"role": "system"').all()
    text = transcript(result.run_dir, step=1, episode=0)
    blocks = text.split("\n\n━━ ")
    assert len(blocks) == len(calls[(calls.step == 1) & (calls.episode == 0)])
    assert "[user] This is generation 1" in text and "[answer] " in text
    assert "[error] No line starting with 'Answer:'" in text
    assert "(same as call 1)" in text  # the rules are printed once
    first_seat = calls.loc[(calls.episode == 0) & (calls.step == 1), "agent"].iloc[0]
    only = transcript(result.run_dir, agent=first_seat, purpose="act")
    assert only.count("━━ call") == ((calls.agent == first_seat) & (calls.purpose == "act")).sum()
    assert transcript(result.run_dir, step=999) == "no calls match"
    assert main(["transcript", str(result.run_dir), "--purpose", "strategy"]) == 0
    assert "[answer] My strategy will be kindness." in capsys.readouterr().out
    assert main(["transcript", str(tmp_path / "nowhere")]) == 2


def test_secrets_cannot_enter_configs_and_options_reach_the_backend(tmp_path):
    with pytest.raises(ConfigError, match="environment variable"):
        validate({"name": "x", "world": {"id": "donor-game"}, "agents": {"backend_options": {"api_key": "sk-live-123"}}})
    ok = validate({"name": "x", "world": {"id": "donor-game"}, "agents": {"backend_options": {"api_key_env": "MY_KEY"}}})
    assert ok.agents.backend_options == {"api_key_env": "MY_KEY"}
    with pytest.raises(ConfigError, match="unknown option 'bogus_option' for the scripted backend"):
        execute(llm(tmp_path, ["Answer: 1"], agents={"kind": "llm", "backend": f"scripted:{tmp_path}/answers.txt",
                                                      "backend_options": {"bogus_option": 1}}), tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists()


def test_agent_groups_share_the_seats_and_are_recorded(tmp_path):
    script = tmp_path / "answers.txt"
    script.write_text("Answer: 2")
    config = validate({
        "name": "groups", "world": {"id": "donor-game", "kwargs": {"n_agents": 6, "n_rounds": 4}},
        "agents": [
            {"kind": "llm", "backend": f"scripted:{script}", "decision": "generate", "seats": 2, "label": "model"},
            {"kind": "scripted", "strategy": "defector", "seats": 1},
            {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 1.0}},
        ],
        "episodes_per_generation": 2,
    })
    result = execute(config, tmp_path / "runs", progress=False)
    steps = result.steps
    seats = steps.groupby("agent")["policy"].first().to_dict()
    assert seats == {"player_0": "model", "player_1": "model", "player_2": "1:scripted:defector",
                     "player_3": "2:scripted:fixed_fraction", "player_4": "2:scripted:fixed_fraction",
                     "player_5": "2:scripted:fixed_fraction"}
    donors = steps[steps["decided"]]
    by_policy = donors.groupby("policy")["fraction"].agg(["min", "max"])
    assert by_policy.loc["1:scripted:defector"].tolist() == [0.0, 0.0]
    givers = donors[donors["policy"] == "2:scripted:fixed_fraction"]
    assert ((givers["fraction"] == 1.0) | (givers["amount"] == 0.0)).all()  # all they have, when they have any
    assert (givers["fraction"] == 1.0).any()
    model_rows = donors[donors["policy"] == "model"]
    assert (model_rows["amount"] == 2.0).all() and len(result.llm_calls) == len(model_rows)
    assert set(result.episodes["policy"]) == set(seats.values())
    agents = result.summary["provenance"]["agents"]
    assert [(a["label"], a["kind"], a["backend"], a["decision"]) for a in agents] == [
        ("model", "llm", f"scripted:{script}", "generate"), ("1:scripted:defector", "scripted", None, None),
        ("2:scripted:fixed_fraction", "scripted", None, None)]
    assert agents[0]["weights_sha256"] == hashlib.sha256(script.read_bytes()).hexdigest()  # the script's bytes


def test_agent_group_errors_and_overrides(tmp_path):
    base = {"name": "g", "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 4}}}
    too_many = validate({**base, "agents": [{"kind": "scripted", "seats": 3}, {"kind": "scripted", "seats": 2}]})
    with pytest.raises(ConfigError, match="do not fill the world's 4 seats"):
        execute(too_many, tmp_path, progress=False)
    with pytest.raises(ConfigError, match="at most one group"):
        validate({**base, "agents": [{"kind": "scripted"}, {"kind": "scripted"}]})
    with pytest.raises(ConfigError, match="single agents group"):
        validate({**base, "agents": [{"kind": "scripted", "seats": 2}, {"kind": "scripted"}],
                  "population": {"generations": 2}})
    with pytest.raises(ConfigError, match=r"agents\.1\.temperature"):
        validate({**base, "agents": [{"kind": "scripted", "seats": 2}, {"kind": "llm", "temperature": -1}]})
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps({**base, "agents": [{"kind": "llm", "seats": 2}, {"kind": "scripted", "params": {"fraction": 0.5}}]}))
    from dilemmazoo.experiments import resolve

    config = resolve(path, backend="litellm:gpt-4o-mini", overrides={"agents.1.params.fraction": 0.25})
    assert config.groups[0].backend == "litellm:gpt-4o-mini" and config.groups[1].kind == "scripted"  # no backend
    assert config.groups[1].params == {"fraction": 0.25}
    with pytest.raises(ConfigError, match="not an index"):
        resolve(path, overrides={"agents.7.seats": 1})


def test_repeated_game_llm_against_a_scripted_opponent(tmp_path):
    script = tmp_path / "answers.txt"
    script.write_text("I trust you. Answer: J\n---\nnope\n---\nAnswer: F")
    from dilemmazoo.experiments import resolve

    config = resolve("akata_repeated_games", overrides={
        "agents.0.backend": f"scripted:{script}", "agents.0.decision": "generate", "grid": {},
        "agents.1.strategy": "tit_for_tat", "world.kwargs.n_rounds": 4})
    result = execute(config, tmp_path / "runs", progress=False)
    steps = result.steps.sort_values(["step", "agent"])
    model = steps[steps["agent"] == "player_0"]
    other = steps[steps["agent"] == "player_1"]
    # script: J, then "nope" (retry) F, then J, then nope -> F: played J F J F; tit-for-tat copies with a lag
    assert model["played"].tolist() == [0, 1, 0, 1]
    assert other["played"].tolist() == [0, 0, 1, 0]
    assert model["parse_failures"].tolist() == [0, 1, 0, 1] and not model["fallback_used"].any()
    assert model["reward"].tolist() == [8.0, 10.0, 0.0, 10.0]  # Akata's 8/8, 10/0, 0/10
    assert set(steps["policy"]) == {"model", "opponent"}


def test_akata_preset_grid_expands_and_axelrod_opponents_play(tmp_path):
    from dilemmazoo.experiments import resolve
    from dilemmazoo.experiments.config import expand_grid

    assert len(expand_grid(resolve("akata_repeated_games"))) == 12
    results = run_grid("akata_repeated_games", out=tmp_path, progress=False, agents=[
        {"kind": "scripted", "strategy": "tit_for_tat", "seats": 1}, {"kind": "scripted", "strategy": "axelrod:Alternator"}],
        grid={"world.kwargs.predict_first": [False, True]})
    assert len(results) == 2
    alternator = results[0].steps[results[0].steps["agent"] == "player_1"]
    assert alternator["played"].tolist() == [0, 1] * 5


def test_the_runner_calls_declared_hooks_and_never_probes_for_them():
    """Hooks are declared on the contracts (agents/base.py, norms/base.py), so the runner has no
    ``hasattr``/``getattr`` on the objects it drives."""
    import ast

    import dilemmazoo.experiments.runner as runner

    tree = ast.parse(Path(runner.__file__).read_text())
    probes = [node.lineno for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr")]
    assert probes == []
