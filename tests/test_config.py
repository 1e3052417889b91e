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
