"""Grids you can read: run folders named by cell and seed, the cell and provenance in
summary.json, one catalog column per swept key, and the progress bar's phases."""

import json
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from dilemmazoo.analysis import catalog
from dilemmazoo.analysis.catalog import grid_column_names
from dilemmazoo.experiments import store
from dilemmazoo.experiments.config import cell_values, expand_grid, run_id, validate
from dilemmazoo.experiments.provenance import agent_provenance, code_provenance, git_state
from dilemmazoo.experiments.runner import execute, run_experiment

MULTIPLIERS = [1.5, 2.0, 3.0]


def sweep(**extra):
    """Two players who give everything, two rounds: player_0 gives 10, player_1 receives 10m and
    gives all 10 + 10m back, so the rewards sum to -10 + 10m - (10 + 10m) + m(10 + 10m)."""
    data = {"name": "sweep", "world": {"id": "donor-game", "kwargs": {"n_agents": 2, "n_rounds": 2}},
            "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 1.0}},
            "seeds": 3, "grid": {"world.kwargs.donation_multiplier": MULTIPLIERS}}
    data.update(extra)
    return validate(data)


def total_reward(m):
    return -10 + 10 * m - (10 + 10 * m) + m * (10 + 10 * m)


def test_a_three_cell_three_seed_grid_is_readable_in_folders_catalog_and_report(tmp_path):
    from dilemmazoo.analysis import write_report

    results = run_experiment(sweep(), tmp_path, progress=False)
    assert len(results) == 9
    folders = sorted(r.run_dir.relative_to(tmp_path / "sweep").as_posix() for r in results)
    assert folders == sorted(f"donation_multiplier={m}/seed={s}" for m in MULTIPLIERS for s in range(3))
    assert sorted(store.run_folder_name(r) for r in expand_grid(sweep())) == folders
    for r in results:
        assert r.summary["cell"] == {"world.kwargs.donation_multiplier": r.summary["cell"]["world.kwargs.donation_multiplier"]}
        assert isinstance(r.summary["cell"]["world.kwargs.donation_multiplier"], float)
        assert (r.run_dir / store.RUN_ID_FILE).read_text().strip() == r.summary["run_id"]

    con = catalog(tmp_path / "sweep")
    types = dict(con.execute("select column_name, column_type from (describe runs)").fetchall())
    assert types["donation_multiplier"] == "DOUBLE"
    per_cell = con.execute(
        "select donation_multiplier, count(distinct seed), sum(reward) / count(distinct run_id) "
        "from steps join runs using (run_id) group by all order by all").fetchall()
    assert per_cell == [(m, 3, pytest.approx(total_reward(m))) for m in MULTIPLIERS]  # 17.5, 40, 100
    assert [total_reward(m) for m in MULTIPLIERS] == [17.5, 40.0, 100.0]

    html = Path(write_report(tmp_path / "sweep")).read_text()
    for m in MULTIPLIERS:
        assert f"donation_multiplier={m}" in html


def test_rerunning_a_grid_skips_finished_runs_and_redoes_damaged_ones(tmp_path):
    first = run_experiment(sweep(seeds=2), tmp_path, progress=False)
    damaged = first[3].run_dir
    (damaged / "summary.json").unlink()
    again = run_experiment(sweep(seeds=2), tmp_path, progress=False)
    assert [r.run_dir for r in again] == [r.run_dir for r in first]
    assert [r.skipped for r in again] == [i != 3 for i in range(6)]
    assert again[3].summary["run_id"] == first[3].summary["run_id"]


def test_a_changed_config_never_takes_over_a_finished_folder(tmp_path):
    base = validate({"name": "one", "world": {"id": "donor-game", "kwargs": {"n_agents": 2, "n_rounds": 2}},
                     "agents": {"kind": "scripted", "params": {"fraction": 1.0}}})
    changed = validate({**base.model_dump(), "world": {"id": "donor-game", "kwargs": {"n_agents": 2, "n_rounds": 2,
                                                                                       "donation_multiplier": 3.0}}})
    original = execute(base, tmp_path, progress=False)
    before = (original.run_dir / "summary.json").read_bytes()
    other = execute(changed, tmp_path, progress=False)
    assert original.run_dir == tmp_path / "one" / "seed=0"
    assert other.run_dir == tmp_path / "one" / f"seed=0-{run_id(changed)[:6]}"
    assert (original.run_dir / "summary.json").read_bytes() == before
    # both resume into their own folders
    assert execute(base, tmp_path, progress=False).run_dir == original.run_dir
    assert execute(changed, tmp_path, progress=False).skipped
    con = catalog(tmp_path / "one")
    assert sorted(con.execute("select run_id, sum(reward) from steps group by run_id").fetchall()) == sorted(
        [(run_id(base), total_reward(2.0)), (run_id(changed), total_reward(3.0))])


def test_a_folder_holding_something_else_is_left_alone(tmp_path):
    config = sweep(seeds=1, grid={})
    foreign = tmp_path / "sweep" / "seed=0"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    result = execute(config, tmp_path, progress=False)
    assert result.run_dir.name == f"seed=0-{run_id(config)[:6]}"
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert store.run_dir_for(tmp_path, config, run_id(config)) == result.run_dir  # found without claiming


def test_cell_folder_names_are_short_safe_and_bounded():
    assert store.cell_folder({}) == ""
    assert store.cell_folder({"world.kwargs.donation_multiplier": "2.0", "population": "none"}) == (
        "donation_multiplier=2.0,population=none")
    # two keys ending alike keep their dotted names; 'seed' is the seed folder's, so it stays dotted too
    assert store.cell_folder({"agents.0.backend": "embedded", "agents.1.backend": "hf:/m/q", "world.kwargs.seed": "3"}) == (
        "agents.0.backend=embedded,agents.1.backend=hf_m_q,world.kwargs.seed=3")
    assert store.cell_folder({"a.b": ".hidden"}) == "b=_hidden"
    assert store.cell_folder({"a.b": "{x: 1, y: [2, 3]}"}) == "b=_x_1_y_2_3_"
    empty = store.cell_folder({"a.b": "//"})
    assert empty.startswith("b=_") and len(empty) == len("b=_") + 6
    long_one, long_two = store.cell_folder({"k": "x" * 200}), store.cell_folder({"k": "x" * 199 + "y"})
    assert len(long_one) <= 62 and long_one != long_two and "~" in long_one
    wide = store.cell_folder({f"key{i}": "v" * 50 for i in range(10)})
    assert len(wide) <= 180


def test_grid_column_names():
    assert grid_column_names(["world.kwargs.donation_multiplier", "population"]) == {
        "world.kwargs.donation_multiplier": "donation_multiplier", "population": "population"}
    assert grid_column_names(["agents.0.backend", "agents.1.backend"]) == {
        "agents.0.backend": "agents.0.backend", "agents.1.backend": "agents.1.backend"}
    assert grid_column_names(["world.kwargs.seed", "world"]) == {"world.kwargs.seed": "world.kwargs.seed", "world": "cell.world"}
    # a list index is no name: it keeps its list
    assert grid_column_names(["agents.1", "world.kwargs.voting"]) == {"agents.1": "agents.1", "world.kwargs.voting": "voting"}


def test_an_axis_of_agent_groups_is_named_by_their_labels_or_strategies():
    base = {"name": "x", "world": {"id": "repeated-game"},
            "agents": [{"kind": "scripted", "strategy": "tit_for_tat", "seats": 1}, {"kind": "scripted", "strategy": "grim"}]}
    by_strategy = [{"kind": "scripted", "strategy": "always_cooperate"}, {"kind": "scripted", "strategy": "always_defect"}]
    runs = expand_grid(validate({**base, "grid": {"agents.1": by_strategy}}))
    assert [store.run_folder_name(r) for r in runs] == ["agents.1=always_cooperate/seed=0", "agents.1=always_defect/seed=0"]
    labelled = [{**group, "label": name} for group, name in zip(by_strategy, ("saint", "sinner"))]
    runs = expand_grid(validate({**base, "grid": {"agents.1": labelled}}))
    assert [r.cell for r in runs] == [{"agents.1": "saint"}, {"agents.1": "sinner"}]
    # groups the fields do not tell apart fall back to their YAML text
    same = [{"kind": "scripted", "strategy": "greedy", "params": {"p": p}} for p in (1, 2)]
    runs = expand_grid(validate({**base, "grid": {"agents.1": same}}))
    assert len({r.cell["agents.1"] for r in runs}) == 2 and all("greedy" in r.cell["agents.1"] for r in runs)


def test_summary_cells_keep_plain_values_typed_and_labelled_axes_named(tmp_path):
    config = validate({"name": "cells", "world": {"id": "donor-game", "kwargs": {"n_agents": 2, "n_rounds": 2}},
                       "agents": {"kind": "scripted", "params": {"fraction": 1.0}},
                       "grid": {"world.kwargs.punishment": [False, True], "agents.params.fraction": {"half": 0.5},
                                "agents.seats": [2], "world.kwargs.n_rounds": [2]}})
    runs = expand_grid(config)
    assert [cell_values(r) for r in runs] == [
        {"world.kwargs.punishment": flag, "agents.params.fraction": "half", "agents.seats": 2,
         "world.kwargs.n_rounds": 2} for flag in (False, True)]
    assert runs[0].cell == {"world.kwargs.punishment": "false", "agents.params.fraction": "half",
                            "agents.seats": "2", "world.kwargs.n_rounds": "2"}  # config.yaml keeps the labels
    results = run_experiment(config, tmp_path, progress=False)
    assert results[1].run_dir.relative_to(tmp_path).as_posix() == (
        "cells/punishment=true,fraction=half,seats=2,n_rounds=2/seed=0")
    con = catalog(tmp_path / "cells")
    columns = con.execute("select * from runs order by punishment").df()
    assert list(columns.columns[:7]) == ["run_id", "experiment", "world", "punishment", "fraction", "seats",
                                         "n_rounds"]
    types = dict(con.execute("select column_name, column_type from (describe runs)").fetchall())
    assert (types["punishment"], types["fraction"], types["seats"], types["n_rounds"]) == (
        "BOOLEAN", "VARCHAR", "BIGINT", "BIGINT")
    assert columns["punishment"].tolist() == [False, True] and columns["fraction"].tolist() == ["half", "half"]
    assert json.loads((results[0].run_dir / "summary.json").read_text())["cell"]["world.kwargs.punishment"] is False


def test_catalog_counts_a_run_found_in_two_folders_once(tmp_path):
    alone = sweep(seeds=1, grid={}, world={"id": "donor-game", "kwargs": {"n_agents": 2, "n_rounds": 2,
                                                                           "donation_multiplier": 2.0}})
    execute(alone, tmp_path, progress=False)
    run_experiment(sweep(seeds=1), tmp_path, progress=False)
    con = catalog(tmp_path / "sweep")
    rows = con.execute("select donation_multiplier, run_dir from runs order by 1").fetchall()
    assert [m for m, _ in rows] == MULTIPLIERS
    assert rows[1][1].endswith("donation_multiplier=2.0/seed=0")
    assert con.execute("select count(*) from steps").fetchone() == (3 * 4,)


def test_summary_provenance_names_code_and_agents(tmp_path):
    result = execute(sweep(seeds=1, grid={}), tmp_path, progress=False)
    provenance = result.summary["provenance"]
    assert provenance["dilemmazoo_version"] == metadata.version("dilemmazoo")
    assert provenance["torch"] == metadata.version("torch")
    assert provenance["transformers"] == metadata.version("transformers")
    assert provenance["python"].count(".") == 2
    assert (provenance["git_commit"], provenance["git_dirty"]) == git_state()
    assert provenance["agents"] == [{"label": "scripted:fixed_fraction", "kind": "scripted", "backend": None,
                                     "decision": None, "model": None, "revision": None, "weights_sha256": None,
                                     "base_url": None}]
    assert json.loads((result.run_dir / "summary.json").read_text())["provenance"] == provenance


class StandInPolicy:
    """What LLMPolicy.provenance promises: the backend's model fields and the resolved decision mode."""

    def provenance(self):
        return {"model": "SmolLM2-135M-Instruct", "revision": "abc123", "weights_sha256": "f" * 64,
                "base_url": None, "decision": "score"}


class StandInSynthesized:
    """What SynthesizedPolicy.provenance promises: the code-writing backend's fields, no decision mode,
    and the sandbox isolation the code ran under."""

    def provenance(self):
        return {"model": "gpt-x", "revision": None, "weights_sha256": None, "base_url": "https://api.example/v1",
                "decision": None, "isolation": "bubblewrap"}


def test_agent_provenance_asks_the_policy():
    llm = validate({"name": "p", "world": {"id": "donor-game"}, "agents": {"kind": "llm", "backend": "embedded"}})
    assert agent_provenance("model", llm.groups[0], StandInPolicy()) == {
        "label": "model", "kind": "llm", "backend": "embedded", "decision": "score", "model": "SmolLM2-135M-Instruct",
        "revision": "abc123", "weights_sha256": "f" * 64, "base_url": None}
    synthesized = validate({"name": "p", "world": {"id": "donor-game"},
                            "agents": {"kind": "synthesized", "backend": "litellm:gpt-x"}})
    assert agent_provenance("coders", synthesized.groups[0], StandInSynthesized()) == {
        "label": "coders", "kind": "synthesized", "backend": "litellm:gpt-x", "decision": None, "model": "gpt-x",
        "revision": None, "weights_sha256": None, "base_url": "https://api.example/v1", "isolation": "bubblewrap"}


def _git(folder, *args):
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def test_git_state_reads_the_source_checkout_only(tmp_path, monkeypatch):
    import dilemmazoo.experiments.provenance as provenance

    monkeypatch.setattr(provenance, "_SOURCE_ROOT", tmp_path)
    assert git_state() == (None, None)  # not a repository
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert git_state() == (head, False)
    (tmp_path / "untracked.txt").write_text("not counted")
    assert git_state() == (head, False)
    (tmp_path / "a.txt").write_text("two")
    assert git_state() == (head, True)
    inner = tmp_path / "site-packages"
    inner.mkdir()
    monkeypatch.setattr(provenance, "_SOURCE_ROOT", inner)  # an installed copy inside someone's checkout
    assert git_state() == (None, None)
    assert code_provenance()["git_commit"] is None


def test_progress_names_runs_cells_phases_and_time_left(tmp_path, capsys):
    run_experiment(sweep(seeds=1), tmp_path, progress=False)
    assert capsys.readouterr() == ("", "")  # progress=False is silent
    config = sweep(seeds=2, name="shown", population={"dynamics": "cultural_evolution", "generations": 2})
    run_experiment(config, tmp_path, progress=True)
    shown = capsys.readouterr()
    text = shown.err  # progress goes to stderr: stdout carries the run folders
    assert "run 4/6, cell 2/3" in text and "donation_multiplier=2.0/seed=1" in text
    assert "games" in text and "left" in text and "episodes" not in text
    many = run_experiment(sweep(seeds=2, name="pool", workers=2), tmp_path, progress=True)
    assert len(many) == 6
    shown = capsys.readouterr()
    text = shown.err  # progress goes to stderr: stdout carries the run folders
    assert "6/6 runs" in text and "cells finished 3/3" in text and "episodes" not in text
