"""Experiment configs: validation names the bad field, overrides, grids, run ids."""

import pytest

from dilemmazoo.experiments import ConfigError, resolve
from dilemmazoo.experiments.config import apply_overrides, expand_grid, list_presets, parse_set, run_id, validate


def base(**extra):
    data = {"name": "t", "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 4}}}
    data.update(extra)
    return data


def test_presets_are_listed_and_valid():
    presets = list_presets()
    assert {"donor_game", "donor_game_demo"} <= set(presets)
    for name in presets:
        config = resolve(name)
        assert config.name == name


def test_paper_preset_has_paper_sizes():
    config = resolve("donor_game")
    kwargs = config.world.kwargs
    assert (kwargs["n_agents"], kwargs["n_rounds"], kwargs["donation_multiplier"]) == (12, 12, 2.0)
    assert config.population.generations == 10
    assert config.episodes_per_generation == 2
    assert config.seeds == [0, 1, 2, 3, 4]
    assert config.agents.temperature == 0.8


@pytest.mark.parametrize(
    "data, field",
    [
        (base(agents={"temperature": -1}), "agents.temperature"),
        (base(agents={"kind": "robot"}), "agents.kind"),
        (base(agents={"backnd": "embedded"}), "agents.backnd"),
        (base(seeds=[]), "seeds"),
        (base(episodes_per_generation=0), "episodes_per_generation"),
        (base(grid={"nonexistent.key": [1, 2]}), "nonexistent.key"),
        ({"world": {"id": "donor-game"}}, "name"),
    ],
)
def test_bad_configs_name_the_field(data, field):
    with pytest.raises(ConfigError) as info:
        validate(data)
    assert field in str(info.value)


def test_unknown_preset_lists_presets():
    with pytest.raises(ConfigError, match="donor_game_demo"):
        resolve("no_such_preset")


def test_overrides_and_set_parsing():
    assert parse_set("world.kwargs.n_agents=8") == ("world.kwargs.n_agents", 8)
    assert parse_set("seeds=[1, 2]") == ("seeds", [1, 2])
    assert parse_set("agents.backend=litellm:gpt-4o-mini") == ("agents.backend", "litellm:gpt-4o-mini")
    with pytest.raises(ConfigError):
        parse_set("novalue")
    data = apply_overrides(base(), {"world.kwargs.n_agents": 8, "agents.memory": 3})
    assert data["world"]["kwargs"] == {"n_agents": 8, "n_rounds": 4}
    assert data["agents"] == {"memory": 3}
    assert base()["world"]["kwargs"]["n_agents"] == 4  # the input is not modified


def test_grid_expands_points_times_seeds_with_distinct_ids():
    config = validate(base(seeds=[0, 1], grid={"world.kwargs.donation_multiplier": [1.5, 2.0, 3.0]}))
    runs = expand_grid(config)
    assert len(runs) == 6
    assert all(r.grid == {} and len(r.seeds) == 1 for r in runs)
    assert sorted({r.world.kwargs["donation_multiplier"] for r in runs}) == [1.5, 2.0, 3.0]
    assert len({run_id(r) for r in runs}) == 6


def test_run_id_is_stable_and_ignores_workers():
    a = validate(base())
    b = validate(base(workers=4, description="other words"))
    assert run_id(a) == run_id(b)
    assert run_id(a) != run_id(validate(base(seeds=[1])))


def test_labelled_grid_axes_name_the_cells_without_changing_run_ids():
    plain = validate({"name": "g", "world": {"id": "donor-game"}, "grid": {"world.kwargs.n_rounds": [2, 3]}})
    labelled = validate({"name": "g", "world": {"id": "donor-game"},
                         "grid": {"world.kwargs.n_rounds": {"short": 2, "long": 3}, "population": {"none": None}}})
    runs_plain, runs_labelled = expand_grid(plain), expand_grid(labelled)
    assert [r.cell for r in runs_labelled] == [
        {"world.kwargs.n_rounds": "short", "population": "none"}, {"world.kwargs.n_rounds": "long", "population": "none"}]
    assert [r.cell for r in runs_plain] == [{"world.kwargs.n_rounds": "2"}, {"world.kwargs.n_rounds": "3"}]
    assert [run_id(r) for r in runs_plain] == [run_id(r) for r in runs_labelled]
    with pytest.raises(ConfigError, match="labels"):
        validate({"name": "g", "world": {"id": "donor-game"}, "grid": {"world.kwargs.n_rounds": {"": 2}}})


def test_a_seed_count_means_the_first_seeds():
    assert validate({"name": "s", "world": {"id": "donor-game"}, "seeds": 3}).seeds == [0, 1, 2]
    assert validate({"name": "s", "world": {"id": "donor-game"}, "seeds": [5]}).seeds == [5]
    with pytest.raises(ConfigError, match="seed count"):
        validate({"name": "s", "world": {"id": "donor-game"}, "seeds": 0})


def test_repeated_episode_seeds_give_every_generation_the_same_games(tmp_path):
    from dilemmazoo.experiments.runner import execute

    data = {"name": "rep", "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 2}},
            "agents": {"kind": "scripted", "strategy": "fixed_fraction"},
            "population": {"dynamics": "cultural_evolution", "generations": 2}, "episodes_per_generation": 2}
    fresh = execute(validate(data), tmp_path, progress=False).episodes
    repeated = execute(validate({**data, "repeat_episode_seeds": True}), tmp_path, progress=False).episodes
    seeds = lambda episodes: episodes.groupby(["generation", "game"])["seed"].first().unstack()  # noqa: E731
    assert list(seeds(repeated).loc[1]) == list(seeds(repeated).loc[2])
    assert list(seeds(fresh).loc[1]) != list(seeds(fresh).loc[2])
    assert run_id(validate(data)) != run_id(validate({**data, "repeat_episode_seeds": True}))


# -- names, shapes and what to write --------------------------------------------------------

@pytest.mark.parametrize("name", ["a", "donor_game.v2", "A-1", "_draft", "n" * 100])
def test_safe_run_names_are_accepted(name):
    assert validate(base(name=name)).name == name


@pytest.mark.parametrize("name", ["..", ".", "a/b", "a\\b", "-rf", ".hidden", "", "a b", "n" * 101, "x\n"])
def test_run_names_that_are_not_one_safe_folder_are_refused(name):
    with pytest.raises(ConfigError, match="name: must be one folder name of at most 100 characters"):
        validate(base(name=name))


def _message(data) -> str:
    with pytest.raises(ConfigError) as info:
        validate(data)
    return str(info.value).split("\n", 1)[1]


def test_misshapen_agents_say_what_to_write():
    assert _message(base(agents="llm")) == (
        "  agents: must be a mapping like {kind: llm, backend: embedded} or a list of them; got 'llm'")
    assert _message(base(agents=[{"seats": 2}, "tit_for_tat"])) == (
        "  agents: item 1 must be a mapping like {kind: llm, backend: embedded}; got 'tit_for_tat'")
    assert _message(base(agents=[])) == (
        "  agents: is an empty list; write one group or more, like [{kind: llm, backend: embedded}]")


def test_missing_and_unknown_fields_say_what_to_write():
    assert _message({"world": {"id": "donor-game"}}) == "  name: missing; write name: my_experiment (one folder name)"
    assert _message({"name": "t"}).startswith("  world: missing; write world: {id: donor-game, kwargs:")
    assert _message(base(world="donor-game")).startswith("  world: got 'donor-game', not a mapping; write world: {id:")
    assert _message(base(utility={"kwargs": {}})).startswith("  utility.name: missing; write utility: {name:")
    assert _message(base(episodes=2)).startswith("  episodes: unknown field; the fields here are: agents, cache, ")
    assert "episodes_per_generation" in _message(base(episodes=2))
    assert _message(base(agents={"strategyy": "grim"})) == (
        "  agents.strategyy: not a setting of kind llm (its settings: backend, backend_options, decision, "
        "distribution_source, kind, label, max_retries, max_tokens, memory, persona, personas, score_grid, seats, "
        "temperature, top_p)")


SECRET = "sk-live-0123456789abcdefXYZ"


def test_a_key_as_a_backend_option_is_refused_without_showing_it():
    message = _message(base(agents={"backend": "openai:m", "backend_options": {"api_key": SECRET}}))
    assert "agents.backend_options: 'api_key' looks like a secret" in message and SECRET not in message
    message = _message(base(agents={"backend": "openai:m", "backend_options": SECRET}))
    assert message == "  agents.backend_options: not a mapping; write backend_options: {name: value, ...}"
    message = _message(base(agents={"backend": "openai:m", "backend_options": {"api_key_env": SECRET}}))
    assert "api_key_env names an environment variable" in message and SECRET not in message


def test_counts_named_like_tokens_and_nested_credentials_are_options_not_refusals():
    """``tokens_per_minute`` is a rate; keys inside headers, bodies and URLs have no variable to name,
    so they are accepted here and redacted wherever the config is copied (agents.backends.redaction)."""
    options = {"tokens_per_minute": 9000, "api_key_env": "MY_KEY", "base_url": "http://u:pw@host/v1",
               "extra_body": {"api_key": SECRET}}
    config = validate(base(agents={"backend": "openai:m", "backend_options": options}))
    assert config.agents.backend_options == options


@pytest.mark.parametrize("workers", [0, -3, True, 1.5])
def test_workers_must_be_a_whole_number_of_at_least_one(workers):
    with pytest.raises(ConfigError, match="workers"):
        validate(base(workers=workers))


# -- checks before anything is written (experiments.checks) ------------------------------------

def test_every_preset_passes_the_checks():
    from dilemmazoo.experiments.checks import check_experiment

    for name in list_presets():
        check_experiment(resolve(name))


def test_each_grid_point_is_checked_once_and_a_failure_names_its_cell(monkeypatch):
    from dilemmazoo.experiments import checks

    checked = []
    monkeypatch.setattr(checks, "_check_run", lambda run: checked.append(run.cell))
    checks.check_experiment(validate(base(seeds=3, grid={"world.kwargs.n_rounds": [2, 3]})))
    assert checked == [{"world.kwargs.n_rounds": "2"}, {"world.kwargs.n_rounds": "3"}]  # seeds share the checks
    monkeypatch.undo()
    with pytest.raises(ConfigError) as info:
        checks.check_experiment(validate(base(grid={"world.kwargs.n_agents": {"even": 4, "odd": 5}})))
    assert str(info.value).startswith("world.kwargs: cannot build 'donor-game'")
    assert str(info.value).endswith("(grid cell n_agents=odd)")


def test_a_script_needs_answers(tmp_path):
    from dilemmazoo.experiments.checks import check_experiment

    script = tmp_path / "answers.txt"
    for text, ok in [("Answer: C\n", True), ("---\n", False), ("\n\n", False), ("first\n---\n\n---\nthird\n", True)]:
        script.write_text(text)
        config = validate(base(agents={"kind": "llm", "backend": f"scripted:{script}"}))
        if ok:
            check_experiment(config)
        else:
            with pytest.raises(ConfigError, match="holds no answers"):
                check_experiment(config)
    script.write_bytes(b"\xff\xfe Answer")
    with pytest.raises(ConfigError, match="cannot read the scripted answers"):
        check_experiment(validate(base(agents={"kind": "llm", "backend": f"scripted:{script}"})))


def test_every_accepted_backend_option_passes_and_the_others_are_named():
    from dilemmazoo.agents.backends import backend_info
    from dilemmazoo.experiments.checks import check_experiment

    accepted = sorted(backend_info("openai:m").options - {"api_key", "api_key_env"})
    values = {"concurrency": 2, "max_retries": 1, "requests_per_minute": 60, "tokens_per_minute": None, "timeout_s": 5,
              "backoff_s": 0, "max_backoff_s": 1, "base_url": "http://127.0.0.1:9/v1", "name": "local"}
    options = {name: values.get(name) for name in accepted}
    check_experiment(validate(base(agents={"backend": "openai:m", "backend_options": options})))
    with pytest.raises(ConfigError) as info:
        check_experiment(validate(base(agents={"backend": "openai:m",
                                               "backend_options": {**options, "temprature": 1, "seeed": 2}})))
    assert str(info.value).startswith("agents.backend_options: unknown options 'seeed', 'temprature' for the openai "
                                      f"backend; it accepts: {', '.join(sorted(backend_info('openai:m').options))}")


# -- the plan ----------------------------------------------------------------------------------

def test_the_plan_counts_cells_runs_and_model_calls_as_a_real_run_makes_them(tmp_path):
    """Hand count: 4 donor-game players are 2 donors a round; 3 generations x 2 games; cultural
    evolution writes 4 strategies, then 2 newcomers' in each of the 2 later generations."""
    from dilemmazoo.experiments.checks import plan
    from dilemmazoo.experiments.runner import execute

    script = tmp_path / "answers.txt"
    script.write_text("My strategy will be to give half. Answer: 3\n")
    config = validate(base(
        world={"id": "donor-game", "kwargs": {"n_agents": 4}}, agents={"kind": "llm", "backend": f"scripted:{script}"},
        population={"dynamics": "cultural_evolution", "generations": 3}, episodes_per_generation=2, seeds=2,
        grid={"world.kwargs.n_rounds": [2, 4]}, cache=False))
    grid = plan(config)
    assert (grid.runs, grid.seeds, grid.episodes) == (4, (0, 1), 6)
    assert [c.label for c in grid.cells] == ["n_rounds=2", "n_rounds=4"]
    assert [c.decisions_per_episode for c in grid.cells] == [{f"llm:scripted:{script}": 4},
                                                             {f"llm:scripted:{script}": 8}]
    assert [c.calls_per_run for c in grid.cells] == [4 * 6 + 4 + 2 * 2, 8 * 6 + 4 + 2 * 2]
    assert grid.model_calls == 2 * 32 + 2 * 56
    assert grid.cells[0].run_folders == ("t/n_rounds=2/seed=0", "t/n_rounds=2/seed=1")
    first = expand_grid(config)[0]
    assert len(execute(first, tmp_path / "runs", progress=False).llm_calls) == grid.cells[0].calls_per_run


def test_scripted_seats_cost_no_model_calls():
    from dilemmazoo.experiments.checks import plan

    mixed = validate({"name": "mixed", "world": {"id": "repeated-game", "kwargs": {"n_rounds": 5}},
                      "agents": [{"kind": "llm", "backend": "embedded", "seats": 1},
                                 {"kind": "scripted", "strategy": "tit_for_tat"}],
                      "episodes_per_generation": 3})
    grid = plan(mixed)
    assert grid.cells[0].decisions_per_episode == {"0:llm:embedded": 5} and grid.model_calls == 15
    assert "model calls (estimate): 15" in str(grid)
    assert plan(validate(base(agents={"kind": "scripted"}))).model_calls == 0


def test_one_run_of_a_grid_is_checked_with_its_cell_named():
    from dilemmazoo.experiments.checks import check_experiment

    runs = expand_grid(validate(base(grid={"world.kwargs.n_agents": {"even": 4, "odd": 5}})))
    check_experiment(runs[0])
    with pytest.raises(ConfigError, match=r"n_agents must be even.*\(grid cell n_agents=odd\)$"):
        check_experiment(runs[1])


def test_the_checked_synthesis_options_are_the_policys_own():
    """Every option the checks accept is one SynthesizedPolicy takes (with a valid value), and its
    list of known options is the checks' list: the two cannot drift apart."""
    import re

    from dilemmazoo.agents.synthesis import SynthesizedPolicy
    from dilemmazoo.experiments.checks import SYNTHESIS_OPTIONS

    valid = {"game": "cleanup", "max_code_retries": 1, "smoke_steps": 0, "smoke_world": {}, "isolation": "process",
             "call_timeout_s": 0.5, "memory_mb": 512, "episode_budget_s": 30.0, "max_timeouts_per_episode": 2}
    assert set(valid) == set(SYNTHESIS_OPTIONS)
    assert all(SYNTHESIS_OPTIONS[name](value) is None for name, value in valid.items())
    SynthesizedPolicy(None, seed=0, **valid).close()  # every option accepted (isolation: process starts nothing)
    with pytest.raises(ValueError) as info:
        SynthesizedPolicy(None, seed=0, isolation="process", retries=2)
    known = re.search(r"known: \[(.*)\]", str(info.value)).group(1)
    assert sorted(name.strip("' ") for name in known.split(",")) == sorted(SYNTHESIS_OPTIONS)


def test_a_grid_value_pydantic_coerced_stays_the_plain_value_of_its_cell():
    # a language group's temperature axis written as 1 is the float 1.0 in the config and in the cell
    from dilemmazoo.experiments.config import cell_values

    config = validate(base(agents={"kind": "llm"}, grid={"agents.temperature": [1, 0.5]}))
    assert [cell_values(r) for r in expand_grid(config)] == [{"agents.temperature": 1.0},
                                                              {"agents.temperature": 0.5}]
    assert isinstance(cell_values(expand_grid(config)[0])["agents.temperature"], float)


def test_setting_a_groups_kind_starts_it_anew_as_that_kind():
    data = base(agents={"kind": "llm", "backend": "embedded", "temperature": 0.7, "decision": "score"})
    config = validate(apply_overrides(data, {"agents.strategy": "grim", "agents.kind": "scripted"}))
    assert config.model_dump()["agents"] == {"kind": "scripted", "seats": None, "label": "", "strategy": "grim",
                                             "params": {}}
    with pytest.raises(ConfigError, match="agents.temperature: not a setting of kind scripted"):
        validate(apply_overrides(data, {"agents.kind": "scripted", "agents.temperature": 0.2}))

