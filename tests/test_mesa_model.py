"""The Mesa model of an experiment: its DataCollector frames are the runner's records for the same
config and seed (actions, rewards, utilities, metrics), population dynamics are steps, batch_run works."""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dilemmazoo.analysis import world_metrics
from dilemmazoo.experiments.config import ConfigError, validate
from dilemmazoo.experiments.mesa_model import BASE_REPORTERS, DilemmaModel, mesa, resolve_config
from dilemmazoo.experiments.runner import execute


def donor_evolution():
    return validate({
        "name": "donor", "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 4}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}},
        "population": {"dynamics": "cultural_evolution", "generations": 3, "kwargs": {"mutation_sd": 0.2}},
        "episodes_per_generation": 2, "seeds": [3],
    })


def cpr_learning():
    return validate({
        "name": "cpr", "world": {"id": "cpr", "kwargs": {"n_agents": 4, "n_rounds": 6, "voting": True, "vote_every": 3,
                                                            "monitoring_prob": 0.3}},
        "agents": {"kind": "scripted", "strategy": "cpr_rule_based", "params": {"prior": "selfish", "effort": 0.75,
                                                                                 "compliance": 0.3}},
        "population": {"dynamics": "social_learning",
                       "kwargs": {"graph": "small_world", "graph_kwargs": {"k": 2, "p": 0.1}, "every_rounds": 1}},
        "seeds": [1],
    })


def ipd_two_groups():
    return validate({
        "name": "ipd", "world": {"id": "repeated-game", "kwargs": {"game": "prisoners_dilemma", "n_rounds": 5, "noise": 0.2}},
        "agents": [{"kind": "scripted", "strategy": "tit_for_tat", "seats": 1},
                   {"kind": "scripted", "strategy": "always_defect"}],
        "seeds": [7],
    })


def llm_with_garbage(tmp_path):
    script = tmp_path / "answers.txt"
    script.write_text("\n---\n".join(["I give 50%", "banana", "banana", "banana", "Answer: 20%"] * 40))
    return validate({
        "name": "llm", "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 2}},
        "agents": {"kind": "llm", "backend": f"scripted:{script}", "decision": "generate", "max_retries": 1},
        "seeds": [0],
    })


def run_model(model: DilemmaModel) -> DilemmaModel:
    while model.running:
        model.step()
    return model


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == pytest.approx(b, rel=1e-9, abs=1e-12)


CONFIGS = {"donor_evolution": donor_evolution, "cpr_social_learning": cpr_learning, "ipd_two_groups": ipd_two_groups}


@pytest.mark.parametrize("name", [*CONFIGS, "llm_with_garbage"])
def test_datacollector_frames_equal_the_runner_records(name, tmp_path):
    config = llm_with_garbage(tmp_path) if name == "llm_with_garbage" else CONFIGS[name]()
    result = execute(config, tmp_path / "runs", progress=False)
    model = run_model(DilemmaModel(config))
    steps = result.steps

    # the model's records are the run's tables, row for row
    pd.testing.assert_frame_equal(model.records()["steps"].reset_index(drop=True), steps, check_dtype=False)
    pd.testing.assert_frame_equal(model.records()["episodes"].reset_index(drop=True), result.episodes, check_dtype=False)

    # the agent reporters: one row per seat per world step, equal to the step's records
    model_vars = model.datacollector.get_model_vars_dataframe()
    agent_vars = model.datacollector.get_agent_vars_dataframe().reset_index()
    world_steps = model_vars[model_vars["kind"] == "step"]
    assert len(world_steps) == len(steps[["episode", "step"]].drop_duplicates())
    for mesa_step, row in world_steps.iterrows():
        recorded = steps[(steps["episode"] == row["episode"]) & (steps["step"] == row["world_step"])].set_index("agent")
        shown = agent_vars[agent_vars["Step"] == mesa_step].set_index("seat")
        for seat, want in recorded.iterrows():
            got = shown.loc[seat]
            assert got["action"] == want["action"] and got["decided"] == want["decided"]
            assert got["reward"] == want["reward"] and got["utility"] == want["utility"]
            assert got["name"] == want["name"] and got["fallback_used"] == want["fallback_used"]
        assert row["mean_reward"] == pytest.approx(recorded["reward"].reindex(shown.index, fill_value=0.0).mean())
        assert row["fallbacks"] == int(steps[(steps["episode"] < row["episode"]) | (
            (steps["episode"] == row["episode"]) & (steps["step"] <= row["world_step"]))]["fallback_used"].sum())

    # the model reporters: the world's headline metrics; the last row is summary.json's
    metrics = result.summary["metrics"]
    assert model.headline, "the world's numeric metrics become model reporters"
    for metric in model.headline:
        want = metrics[metric]
        assert same(float(model_vars[metric].iloc[-1]), float("nan") if want is None else float(want)), metric
    # ... and every row is the metrics over the records up to that step
    middle = world_steps.iloc[len(world_steps) // 2]
    upto = steps[(steps["episode"] < middle["episode"]) | ((steps["episode"] == middle["episode"])
                                                          & (steps["step"] <= middle["world_step"]))]
    expected = world_metrics(model.world_id, upto, config.world.kwargs)
    for metric in model.headline:
        if metric in expected:
            assert same(float(middle[metric]), float(expected[metric])), metric
    # the agents' scores are their summed rewards over the run
    totals = steps.groupby("agent")["reward"].sum()
    for agent in model.seat_agents:
        assert agent.score == pytest.approx(totals[agent.seat])


def test_the_garbage_answers_show_as_counted_fallbacks(tmp_path):
    model = run_model(DilemmaModel(llm_with_garbage(tmp_path)))
    steps = model.records()["steps"]
    assert steps["fallback_used"].sum() > 0
    assert model.datacollector.get_model_vars_dataframe()["fallbacks"].iloc[-1] == steps["fallback_used"].sum()


def test_generations_are_steps_and_carry_the_new_members():
    model = DilemmaModel(donor_evolution())
    kinds = []
    while model.running:
        before = [a.name for a in model.seat_agents]
        model.step()
        kinds.append(model.event.kind)
        if model.event.kind == "generation":
            assert [a.name for a in model.seat_agents] != before
            # the survivors keep their names; the newcomers are named by their generation
            assert [a.name for a in model.seat_agents] == [m.name for m in model.play.members]
            assert sum(a.name.startswith(f"{model.event.generation}_") for a in model.seat_agents) == 2
            assert all(a.action == "" and a.reward == 0.0 for a in model.seat_agents)
    assert kinds.count("generation") == 2  # 3 generations: two made by the dynamics
    population = model.records()["population"]
    assert set(population["generation"]) == {1, 2, 3}
    model_vars = model.datacollector.get_model_vars_dataframe()
    assert list(model_vars.columns[:len(BASE_REPORTERS)]) == list(BASE_REPORTERS)
    assert model_vars["kind"].iloc[0] == "start" and model.steps == len(model_vars) - 1


def test_the_same_seed_gives_the_same_frames_and_another_seed_differs():
    frames = []
    for seed in (1, 1, 2):
        model = run_model(DilemmaModel(cpr_learning(), seed=seed))
        frames.append(model.datacollector.get_agent_vars_dataframe())
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert not frames[0]["action"].equals(frames[2]["action"])


def test_live_state_for_pages():
    model = DilemmaModel(cpr_learning())
    assert model.stock() == pytest.approx(100.0)  # the CPR commons starts at its capacity
    assert model.frame() is None
    for _ in range(3):
        model.step()
    graph = model.interaction_graph()
    assert set(graph.nodes) == {a.seat for a in model.seat_agents}
    assert graph.number_of_edges() == 4  # a ring of 4 with k=2 (one rewiring draw may keep it a ring)
    assert all(graph.nodes[seat]["action"] for seat in graph.nodes)
    sliders = model.parameters()
    assert sliders["world.kwargs.n_rounds"] == {"type": "SliderInt", "value": 6, "label": "n_rounds", "min": 1,
                                                "max": 12, "step": 1}
    assert sliders["world.kwargs.monitoring_prob"]["max"] == 1.0
    ipd = DilemmaModel(ipd_two_groups())
    assert ipd.stock() is None
    assert ipd.interaction_graph().number_of_edges() == 1  # two players: everyone meets everyone


def test_dotted_settings_and_grid_cells_resolve_like_run_set():
    model = DilemmaModel(ipd_two_groups(), **{"world.kwargs.n_rounds": 3})
    assert model.config.world.kwargs["n_rounds"] == 3
    model = DilemmaModel(ipd_two_groups(), world__kwargs__n_rounds=2, seed=11)
    assert model.config.world.kwargs["n_rounds"] == 2 and model.config.seeds == [11]
    run_model(model)
    assert model.datacollector.get_model_vars_dataframe()["world_step"].max() == 2
    grid = resolve_config("cpr_social_learning", {"world.kwargs.n_rounds": 2}, seed=4, cell=1)
    assert grid.seeds == [4] and grid.cell["world.kwargs.growth_rate"] == "rich"
    with pytest.raises(ConfigError, match="grid cell"):
        resolve_config("cpr_social_learning", cell=99)
    with pytest.raises(ConfigError, match="study"):
        resolve_config("loyalty_sweep")


def test_metrics_every_carries_the_last_values_forward():
    model = run_model(DilemmaModel(cpr_learning(), metrics_every=4))
    model_vars = model.datacollector.get_model_vars_dataframe()
    steps = model_vars[model_vars["kind"] == "step"].set_index("world_step")
    gain = steps["gain"]
    # 6 rounds with votes every 3 are 10 world steps; metrics at steps 4, 8 and 10 (the episode's end)
    assert len(steps) == 10 and gain.loc[1:3].isna().all()
    assert gain.loc[5] == gain.loc[6] == gain.loc[7] == gain.loc[4] != gain.loc[8] != gain.loc[10]
    assert gain.loc[10] == pytest.approx(model.metrics["gain"])
    with pytest.raises(ValueError, match="metrics_every"):
        DilemmaModel(cpr_learning(), metrics_every=0)


def test_batch_run_sweeps_dotted_keys():
    results = mesa.batch_run(DilemmaModel, parameters={"config": [ipd_two_groups().model_dump()],
                                                       "world.kwargs.n_rounds": [2, 4]},
                             iterations=1, number_processes=1, data_collection_period=-1, display_progress=False)
    table = pd.DataFrame(results)
    # batch_run reports the row before the last: the last world step (the closing "end" row follows it)
    assert set(table["kind"]) == {"step"}
    by_rounds = table.drop_duplicates("world.kwargs.n_rounds").set_index("world.kwargs.n_rounds")["world_step"]
    assert by_rounds.to_dict() == {2: 2, 4: 4}


def test_importing_the_model_keeps_multiprocessing_start_method():
    code = ("import multiprocessing as m; m.set_start_method('fork'); "
            "import dilemmazoo.experiments.mesa_model; print(m.get_start_method())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "fork"


def test_a_gridworld_shows_its_frame():
    config = validate({
        "name": "grid", "world": {"id": "cleanup", "kwargs": {"episode_length": 5}},
        "agents": {"kind": "scripted", "strategy": "grid_random"}, "seeds": [0],
    })
    model = DilemmaModel(config)
    model.step()
    frame = model.frame()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert json.dumps(model.metrics, default=str)
