"""The dashboard without a browser: its pure helpers with exact values, the replay's slicing of a
finished run's records, the live and replay components rendered by Solara, and the command line's errors."""

import json
from pathlib import Path

import ipyvuetify as v
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import solara
from matplotlib import colormaps
from matplotlib.colors import to_hex

from dilemmazoo.analysis import world_metrics
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.dashboard import (
    COUNTER_COLUMNS, FRONTEND_ASSETS, MISSING_COLOUR, Dashboard, DashboardError, Replay, ReplayRun, StockPlot,
    action_text, action_value, colour_options, draw_graph, find_runs, frame_figure, html_table, is_run_dir,
    latest_text, live_components, live_graph, main_dashboard, metrics_figure, missing_assets, model_params,
    node_colours, plot_columns, refresh, resolve_target, seat_table, settings_text,
)
from dilemmazoo.experiments.mesa_model import DilemmaModel
from dilemmazoo.experiments.runner import run_experiment

PD = {"name": "pd", "world": {"id": "dilemmazoo/repeated-game-v0",
                              "kwargs": {"game": "akata_prisoners_dilemma", "n_rounds": 4}},
      "agents": [{"kind": "scripted", "strategy": "tit_for_tat", "label": "tft", "seats": 1},
                 {"kind": "scripted", "strategy": "always_defect", "label": "alld"}],
      "seeds": [0]}

SOCIAL = {"name": "commons", "world": {"id": "dilemmazoo/cpr-v0", "kwargs": {"n_agents": 6, "n_rounds": 4,
                                                                            "growth_rate": 0.5}},
          "agents": {"kind": "scripted", "strategy": "cpr_rule_based",
                     "params": {"prior": "selfish", "effort": 0.5, "compliance": 0.5}},
          "population": {"dynamics": "social_learning",
                         "kwargs": {"graph": "small_world", "graph_kwargs": {"k": 2, "p": 0.2}, "every_rounds": 1}},
          "grid": {"world.kwargs.voting": {"off": False, "on": True}},
          "seeds": [3]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished prisoner's dilemma run (tit for tat vs always defect, 4 rounds) and a two-cell commons grid."""
    root = tmp_path_factory.mktemp("runs")
    pd_run = run_experiment(validate(PD), root, progress=False)[0].run_dir
    run_experiment(validate(SOCIAL), root, progress=False)
    return {"root": root, "pd": pd_run, "commons": root / "commons"}


def html_of(rc) -> list[str]:
    return [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets]


# -- pure helpers -----------------------------------------------------------------------------


def test_action_value_reads_numbers_labels_and_the_first_field():
    assert action_value('{"effort": [0.34], "proposal": [0.0], "vote": 0}') == 0.34
    assert action_value("1") == 1.0
    assert action_value('"C"') == "C"
    assert action_value('{"move": ["D"]}') == "D"
    assert action_value("") is None and action_value(None) is None
    assert action_value("not json") == "not json"
    assert action_value("true") == "true"


def test_action_text_rounds_floats_and_unwraps_single_lists():
    assert action_text('{"effort": [0.2882677828], "proposal": [0.0], "vote": 0}') == \
        '{"effort": 0.288, "proposal": 0.0, "vote": 0}'
    assert action_text("1") == "1"
    assert action_text("") == ""
    assert action_text('{"amounts": [0.12345, 2]}', digits=2) == '{"amounts": [0.12, 2]}'


def test_node_colours_numbers_on_a_scale_categories_on_a_palette():
    viridis, tab10 = colormaps["viridis"], colormaps["tab10"]
    numeric = node_colours([0.0, 1.0, None, 0.5])
    assert numeric.scale == (0.0, 1.0) and numeric.legend == {}
    assert numeric.colours == [to_hex(viridis(0.0)), to_hex(viridis(1.0)), MISSING_COLOUR, to_hex(viridis(0.5))]
    assert node_colours([2.0, 2.0]).colours == [to_hex(viridis(0.5))] * 2  # all equal: the middle colour
    labels = node_colours(["D", "C", "", "D"])
    assert labels.legend == {"C": to_hex(tab10(0)), "D": to_hex(tab10(1))}
    assert labels.colours == [to_hex(tab10(1)), to_hex(tab10(0)), MISSING_COLOUR, to_hex(tab10(1))]
    assert node_colours([None, ""]).colours == [MISSING_COLOUR] * 2


def test_plot_columns_skips_counters_and_the_stock():
    headline = ["survival_time", "episodes", "gain", "stock", "n_rounds", "efficiency", "equality", "fallback_rate"]
    assert plot_columns(headline) == ["survival_time", "gain", "efficiency", "equality"]
    assert plot_columns(headline, limit=None) == ["survival_time", "gain", "efficiency", "equality", "fallback_rate"]
    assert {"episodes", "n_rounds", "valid_decisions"} <= set(COUNTER_COLUMNS)
    metrics = {"gain": 19.4321, "efficiency": float("nan"), "survival_time": 12, "label": "x"}
    assert latest_text(metrics, ["survival_time", "gain", "efficiency", "label"]) == "now: survival_time=12, gain=19.4"
    assert latest_text({}, ["gain"]) == "now: no values yet"


def test_html_table_escapes_and_rounds():
    text = html_table(pd.DataFrame({"name": ["<b>x</b>"], "score": [1.23456]}))
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td><td>1.23</td>" in text and "<th>name</th><th>score</th>" in text


def test_draw_graph_colours_nodes_and_labels_them_by_name():
    graph = nx.path_graph(["a", "b", "c"])
    for node, (name, action) in zip(graph.nodes, [("1_1", "0"), ("1_2", "1"), ("1_3", "")]):
        graph.nodes[node].update(name=name, action=action, score=1.0)
    figure = draw_graph(graph, "action")
    ax = figure.axes[0]
    nodes = ax.collections[-1]
    assert [to_hex(c) for c in nodes.get_facecolors()] == node_colours([0.0, 1.0, None]).colours
    assert sorted(t.get_text() for t in ax.texts) == ["1_1", "1_2", "1_3"]
    assert len(figure.axes) == 2  # the colour bar of a numeric colouring
    assert colour_options(graph) == ["action", "score"]


def test_metrics_figure_draws_one_line_per_column():
    frame = pd.DataFrame({"a": [1.0, 2.0, float("nan")], "b": [0.0, 0.5, 1.0]}, index=[1, 2, 3])
    ax = metrics_figure(frame, ["a", "b", "missing"]).axes[0]
    assert [line.get_label() for line in ax.lines] == ["a", "b"]
    assert list(ax.lines[1].get_ydata()) == [0.0, 0.5, 1.0]


def test_missing_assets_names_the_packages_not_in_the_cache(tmp_path):
    assert missing_assets(tmp_path) == list(FRONTEND_ASSETS)
    for name in FRONTEND_ASSETS[:2]:
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "package.json").write_text("{}")
    assert missing_assets(tmp_path) == [FRONTEND_ASSETS[2]]


# -- replay -------------------------------------------------------------------------------------


def test_find_runs_lists_a_run_or_the_runs_below_a_folder(runs, tmp_path):
    assert is_run_dir(runs["pd"]) and find_runs(runs["pd"]) == [runs["pd"]]
    cells = find_runs(runs["commons"])
    assert [p.relative_to(runs["commons"]).as_posix() for p in cells] == ["voting=off/seed=3", "voting=on/seed=3"]
    with pytest.raises(DashboardError, match="no finished runs"):
        find_runs(tmp_path)
    with pytest.raises(DashboardError, match="no such folder"):
        find_runs(tmp_path / "nowhere")


def test_replay_of_the_prisoners_dilemma_matches_hand_computed_records(runs):
    replay = ReplayRun(runs["pd"])
    assert replay.length == 4 and replay.timeline == [(0, 1), (0, 2), (0, 3), (0, 4)]
    # tit for tat cooperates (0) first, then copies always-defect's 1; payoffs T=10, P=5, S=0
    assert replay.actions_at(1) == {"player_0": "0", "player_1": "1"}
    assert replay.actions_at(2) == {"player_0": "1", "player_1": "1"}
    assert replay.metrics_at(1)["cooperation_rate"] == 0.5
    assert replay.metrics_at(2)["cooperation_rate"] == 0.25
    assert replay.metrics_at(4)["cooperation_rate"] == 0.125
    assert replay.metrics_at(4) == replay.summary["metrics"]  # the whole run: what summary.json says
    board = replay.leaderboard(2)
    assert board.to_dict("list") == {"rank": [1, 2], "name": ["player_1", "player_0"], "seat": ["player_1", "player_0"],
                                     "score": [15.0, 5.0]}
    assert replay.caption(2) == "Step 2 of 4: generation 1, episode 0, step 2"
    assert list(replay.history(3)["cooperation_rate"]) == [0.5, 0.25, 1 / 6]
    assert replay.stock_history(2) is None
    graph = replay.graph_at(1)
    assert sorted(graph.edges) == [("player_0", "player_1")]
    assert graph.nodes["player_1"]["score"] == 10.0 and graph.nodes["player_0"]["action"] == "0"
    with pytest.raises(ValueError, match=r"position must be an integer in 1..4, got 5"):
        replay.rows_at(5)


def test_replay_at_each_step_shows_exactly_the_records_and_their_metrics(runs):
    run_dir = find_runs(runs["commons"])[1]  # voting on: propose/vote steps between harvests
    replay = ReplayRun(run_dir)
    steps = pd.read_parquet(run_dir / "steps.parquet")
    order = sorted({(int(e), int(s)) for e, s in zip(steps["episode"], steps["step"])})
    assert replay.timeline == order and replay.length > 4
    config = validate(json.loads(json.dumps(replay.config_data)))
    for k in (1, 3, replay.length):
        episode, step = order[k - 1]
        at = steps[(steps["episode"] == episode) & (steps["step"] == step)]
        assert replay.actions_at(k) == dict(zip(at["agent"], at["action"]))
        assert replay.step_table(k)["action"].tolist() == [action_text(a) for a in at["action"]]
        upto = steps[[(int(e), int(s)) <= (episode, step) for e, s in zip(steps["episode"], steps["step"])]]
        assert replay.metrics_at(k) == world_metrics("dilemmazoo/cpr-v0", upto, config.world.kwargs)
        scores = upto.groupby("name")["reward"].sum()
        board = replay.leaderboard(k)
        assert dict(zip(board["name"], board["score"])) == pytest.approx(scores.to_dict())
        assert list(board["score"]) == sorted(board["score"], reverse=True)
    assert replay.stock_history(2).tolist() == [float(steps[(steps["episode"] == order[i][0])
                                                             & (steps["step"] == order[i][1])]["stock"].iloc[0])
                                                for i in range(2)]


def test_replay_graph_is_the_runs_social_learning_graph(runs):
    run_dir = find_runs(runs["commons"])[0]
    replay = ReplayRun(run_dir)
    model = DilemmaModel(replay.config_data, seed=3, out_root=runs["root"])
    model.step()  # the population (and its graph) is made as the run starts
    assert sorted(replay.graph().edges) == sorted(model.interaction_graph().edges)
    assert not nx.is_isomorphic(replay.graph(), nx.complete_graph(6))


def test_replay_graph_is_the_worlds_own_graph(tmp_path):
    atp = {"name": "atp", "world": {"id": "dilemmazoo/atp-diffusion-v0",
                                    "kwargs": {"n_agents": 6, "n_rounds": 2, "graph": "ring"}},
           "agents": {"kind": "scripted", "strategy": "atp_threshold"}, "seeds": [0]}
    replay = ReplayRun(run_experiment(validate(atp), tmp_path, progress=False)[0].run_dir)
    ring = [("agent_0", "agent_1"), ("agent_0", "agent_5"), ("agent_1", "agent_2"), ("agent_2", "agent_3"),
            ("agent_3", "agent_4"), ("agent_4", "agent_5")]
    assert sorted(tuple(sorted(e)) for e in replay.graph().edges) == ring
    model = DilemmaModel(atp, out_root=tmp_path)
    assert sorted(tuple(sorted(e)) for e in model.interaction_graph().edges) == ring


def test_replay_component_scrubs_through_the_records(runs):
    box, rc = solara.render(Replay(runs["pd"]), handle_error=False)
    try:
        assert any("Step 1 of 4: generation 1, episode 0, step 1" in text for text in html_of(rc))
        rc.find(v.Slider).widget.v_model = 3
        texts = html_of(rc)
        assert any("Step 3 of 4" in text for text in texts)
        actions = next(t for t in texts if "dz-actions" in t)
        assert "<td>player_0</td><td>player_0</td><td>1</td><td>5</td>" in actions
        board = next(t for t in texts if "dz-leaderboard" in t)
        assert "<td>1</td><td>player_1</td><td>player_1</td><td>20</td>" in board  # 10 + 5 + 5
        rc.find(v.Btn, children=["◀ previous"]).widget.click()
        assert any("Step 2 of 4" in text for text in html_of(rc))
    finally:
        rc.close()


def test_replay_component_lists_the_runs_of_a_folder(runs):
    box, rc = solara.render(Replay(runs["commons"]), handle_error=False)
    try:
        select = rc.find(v.Select, label="run").widget
        assert select.items == ["voting=off/seed=3", "voting=on/seed=3"]
        select.v_model = "voting=on/seed=3"
        steps = len(pd.read_parquet(runs["commons"] / "voting=on/seed=3/steps.parquet")[["episode", "step"]]
                    .drop_duplicates())
        assert any(f"Step 1 of {steps}" in text for text in html_of(rc))
    finally:
        rc.close()


# -- live ---------------------------------------------------------------------------------------


@pytest.fixture
def commons_model(tmp_path):
    data = {k: v for k, v in SOCIAL.items() if k != "grid"}
    return DilemmaModel(data, out_root=tmp_path)


def test_seat_table_and_graph_follow_the_model(commons_model):
    model = commons_model
    model.step()
    model.step()
    table = seat_table(model)
    assert table["seat"].tolist() == [a.seat for a in model.seat_agents]
    assert table["action"].tolist() == [action_text(a.action) for a in model.seat_agents]
    assert table["score"].tolist() == [a.score for a in model.seat_agents]
    steps = model.records()["steps"]
    assert table["score"].tolist() == pytest.approx(steps.groupby("agent", sort=False)["reward"].sum().tolist())
    graph = live_graph(model)
    assert colour_options(graph) == ["action", "strategy", "score", "policy", "param:compliance", "param:effort"]
    assert [graph.nodes[a.seat]["param:effort"] for a in model.seat_agents] == [a.params["effort"]
                                                                                for a in model.seat_agents]


def test_live_components_and_parameters(commons_model):
    model = commons_model
    assert StockPlot in live_components(model)
    params = model_params(model)
    assert params["config"] is model.config
    assert params["seed"] == {"type": "SliderInt", "value": 3, "label": "seed", "min": 0, "max": 99, "step": 1}
    assert params["world.kwargs.n_rounds"]["value"] == 4
    # Reset rebuilds the model from these: the same run
    again = DilemmaModel(**{k: (p["value"] if isinstance(p, dict) else p) for k, p in params.items()})
    assert again.config == model.config


def test_dashboard_component_steps_the_model(commons_model):
    model = commons_model
    box, rc = solara.render(Dashboard(model), handle_error=False)
    try:
        rc.find(v.Btn, children=["Step"]).widget.click()
        rc.find(v.Btn, children=["Step"]).widget.click()
        assert model.steps == 2
        rc.find(children=["Step: 2"]).assert_single()
        caption = next(t for t in html_of(rc) if "Seats" in t)
        assert "model step 2" in caption and "game 1, step 2" in caption
        table = next(t for t in html_of(rc) if "dz-table" in t)
        for agent in model.seat_agents:
            assert f"<td>{agent.seat}</td><td>{agent.name}</td>" in table
        model.step()  # stepped in code (a notebook cell): refresh() redraws the panels
        rc.find(children=["Step: 2"]).assert_single()
        refresh()
        rc.find(children=["Step: 3"]).assert_single()
        # the sliders set what Reset builds: a new model with that seed and world setting, at step 0
        rc.find(v.Slider, label="seed").widget.v_model = 5
        rc.find(v.Slider, label="n_rounds").widget.v_model = 3
        assert model.config.world.kwargs["n_rounds"] == 4  # nothing changes before Reset
        rc.find(v.Btn, children=["Reset"]).widget.click()
        rc.find(children=["Step: 0"]).assert_single()
        settings = next(t for t in html_of(rc) if t.startswith("seed "))
        assert settings.startswith("seed 5 · ") and "n_rounds=3" in settings
        assert settings == settings_text(DilemmaModel({k: v for k, v in SOCIAL.items() if k != "grid"}, seed=5,
                                                      settings={"world.kwargs.n_rounds": 3}))
    finally:
        rc.close()


# -- command line -------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, message", [
    (["no_such_preset"], "no config file or preset named 'no_such_preset'"),
    (["missing/config.yaml"], "missing/config.yaml: no such file or folder"),
    (["cpr_social_learning", "--set", "world.kwargs.n_agents=-3"], "n_agents"),
    (["cpr_social_learning", "--set", "oops"], "--set expects dotted.key=value"),
    (["cpr_social_learning", "--cell", "99"], "cell 99 does not exist"),
    (["cpr_social_learning", "--port", "0"], "--port must be in 1..65535"),
])
def test_cli_rejects_bad_targets_with_exit_2(argv, message, capsys):
    assert main_dashboard(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_folders_without_runs_and_other_files(tmp_path, runs, capsys):
    assert main_dashboard([str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert main_dashboard([str(tmp_path / "notes.txt")]) == 2
    assert "not a config YAML" in capsys.readouterr().err
    assert main_dashboard([str(runs["pd"]), "--seed", "2"]) == 2
    assert "not to a replayed run" in capsys.readouterr().err


def test_resolve_target_tells_live_from_replay(runs, tmp_path):
    assert resolve_target(str(runs["commons"])) == {"mode": "replay", "target": str(runs["commons"].resolve())}
    spec = resolve_target("cpr_social_learning", settings={"world.kwargs.n_rounds": 3}, cell=2, out_root=str(tmp_path))
    assert spec == {"mode": "live", "target": "cpr_social_learning", "settings": {"world.kwargs.n_rounds": 3},
                    "seed": None, "cell": 2, "out_root": str(tmp_path)}
    config = tmp_path / "pd.yaml"
    config.write_text(json.dumps(PD))
    assert resolve_target(str(config))["target"] == str(config.resolve())
    assert not any(Path(tmp_path).glob("**/summary.json"))  # checking a target writes no run


# -- grid worlds ----------------------------------------------------------------------------------

CLEANUP = {"name": "cleanup", "world": {"id": "dilemmazoo/cleanup-v0", "kwargs": {"n_agents": 3, "episode_length": 6}},
           "agents": {"kind": "scripted", "strategy": "grid_bfs"}, "seeds": [1]}


def test_a_grid_world_shows_its_frame_live_and_in_the_replay(tmp_path):
    model = DilemmaModel(CLEANUP, out_root=tmp_path)
    assert [c.__name__ for c in live_components(model)] == ["MetricsPlot", "WorldFrame", "GraphPanel", "SeatTable"]
    live = []
    while model.running:
        model.step()
        if model.event.kind == "step":
            live.append(model.frame())
    assert len(live) == 6
    image = frame_figure(live[2]).axes[0].images[0].get_array()
    assert (np.asarray(image) == live[2]).all()
    replay = ReplayRun(run_experiment(validate(CLEANUP), tmp_path / "runs", progress=False)[0].run_dir)
    assert replay.length == 6
    for k in (3, 1, 6):  # back and forth: the frames are kept, made once
        assert (replay.frame_at(k) == live[k - 1]).all()
    assert replay.frame_error == ""


def test_a_world_without_frames_replays_without_them(runs):
    replay = ReplayRun(runs["pd"])
    assert replay.frame_at(2) is None
    assert "has no rgb_array rendering" in replay.frame_error
