"""The mechanism tournament in the runner (config ``tournament``): every ordered seat profile once per
repeat, types named by seat, the reputation population, config errors, and the coopeval presets."""

from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest

from dilemmazoo.experiments.checks import check_experiment, plan
from dilemmazoo.experiments.config import ConfigError, expand_grid, load_config, run_id, validate
from dilemmazoo.experiments.runner import execute, run_experiment

PD = {"id": "repeated-game", "kwargs": {"game": "coopeval_pd", "n_rounds": 1, "labels": "indexed"}}
PG = {"id": "public-goods", "kwargs": {"n_players": 3, "n_rounds": 1, "labels": "indexed"}}
TYPES = [{"kind": "scripted", "strategy": "first_option", "label": "C"},
         {"kind": "scripted", "strategy": "last_option", "label": "D"}]


def _config(world=PD, agents=TYPES, **extra):
    return validate({"name": "tour", "world": world, "agents": agents, "tournament": {"repeats": 1}, "seeds": [3],
                     **extra})


def _profiles(steps: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each episode's profile: the type label of every seat, in seat order, episodes in order."""
    first = steps[steps["step"] == 1].sort_values(["episode", "agent"])
    return [tuple(play["policy"]) for _, play in first.groupby("episode", sort=True)]


@pytest.mark.parametrize("world, seats", [(PD, 2), (PG, 3)])
def test_every_ordered_profile_is_played_exactly_once_in_product_order(tmp_path, world, seats):
    result = execute(_config(world), tmp_path, progress=False)
    steps = result.steps
    expected = list(itertools.product(["C", "D"], repeat=seats))
    assert _profiles(steps) == expected  # K^N = 4 or 8 episodes, self-play included, fixed order
    # the member at seat k is <type>#P<k>; C plays option 0, D the last option, at every seat
    for row in steps.itertuples():
        seat = int(row.agent.rsplit("_", 1)[1])
        assert row.name == f"{row.policy}#P{seat + 1}"
        assert row.action == ("0" if row.policy == "C" else "1")
    # all-C pays the cooperative payoff to everyone, all-D the equilibrium one (PD 2 / 1; PG 1.5 / 1)
    rewards = steps.groupby("episode")["reward"].mean()
    assert (rewards.iloc[0], rewards.iloc[-1]) == ((2.0, 1.0) if seats == 2 else (1.5, 1.0))
    assert result.summary["episodes"] == 2**seats
    seeds = result.episodes.groupby("episode")["seed"].first()
    assert seeds.nunique() == 2**seats  # every episode its own seed, drawn in order from the run's


def test_repeats_play_the_whole_schedule_again_and_runs_repeat_exactly(tmp_path):
    config = _config(tournament={"repeats": 2})
    first = execute(config, tmp_path / "a", progress=False)
    assert _profiles(first.steps) == list(itertools.product(["C", "D"], repeat=2)) * 2
    again = execute(config, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(first.steps, again.steps)
    assert first.summary["metrics"]["tournament_mean"] == 1.5  # (2 + 0 + 3 + 1) / 4 at every repeat


def test_reputation_plays_the_population_in_one_world_with_one_copy_per_type(tmp_path):
    config = _config(mechanism={"name": "reputation", "kwargs": {"rounds": 3, "nesting": 1}})
    result = execute(config, tmp_path, progress=False)
    steps = result.steps
    assert steps["episode"].unique().tolist() == [0]  # one world, once per repeat
    seats = steps[steps["step"] == 1].sort_values("agent")
    # 2 types x 2 seats: type t holds seats 2t, 2t+1 (copy t of the world), named by base seat
    assert seats["policy"].tolist() == ["C", "C", "D", "D"]
    assert seats["name"].tolist() == ["C#P1", "C#P2", "D#P1", "D#P2"]
    assert sorted(steps["mechanism_round"].unique().tolist()) == [1, 2, 3]
    with pytest.raises(ConfigError, match="copies"):
        check_experiment(_config(mechanism={"name": "reputation", "kwargs": {"copies": 3}}))


def test_tournament_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="leave 'seats' out"):
        _config(agents=[{**TYPES[0], "seats": 1}, TYPES[1]])
    with pytest.raises(ConfigError, match="label"):
        _config(agents=[TYPES[0], {"kind": "scripted", "strategy": "last_option"}])
    with pytest.raises(ConfigError, match="tournament.focal"):
        _config(tournament={"focal": ["E"]})
    with pytest.raises(ConfigError, match="episodes_per_generation"):
        _config(episodes_per_generation=2)
    # absent, the section stays out of the run id (old run ids hold)
    plain = validate({"name": "tour", "world": PD, "agents": {"kind": "scripted", "strategy": "first_option"}})
    assert "tournament" not in plain.model_dump(exclude_none=True)
    assert run_id(plain) == run_id(plain.model_copy(update={"tournament": None}))


def test_the_plan_counts_a_tournaments_episodes():
    config = _config(PG, [TYPES[0], {"kind": "llm", "backend": "embedded", "label": "M", "decision": "distribution",
                                     "distribution_source": "score"}])
    cell = plan(config).cells[0]
    # with M in every seat one episode has 3 decisions; M holds half of the 8 profiles' 24 seats
    assert cell.decisions_per_episode == {"M": 3}
    assert cell.calls_per_run == 12


def test_coopeval_presets_sweep_four_games_and_six_mechanisms():
    for name, kind in (("coopeval_quick", "embedded"), ("coopeval", "litellm")):
        config = validate(load_config(name))
        runs = expand_grid(config)
        assert len({tuple(r.cell.items()) for r in runs}) == 24 and len(runs) == 24 * len(config.seeds)
        assert {r.cell["world"] for r in runs} == {"PD", "PG", "TD", "Trust"}
        assert {r.cell["mechanism"] for r in runs} == {"none", "repetition", "reputation-", "reputation+",
                                                       "mediation", "contracting"}
        nesting = {r.cell["mechanism"]: r.mechanism.kwargs.get("nesting") for r in runs if r.mechanism}
        assert (nesting["reputation-"], nesting["reputation+"]) == (1, 3)
        models = [g for g in config.groups if g.kind == "llm"]
        assert models and all(g.backend.startswith(kind) and g.decision == "distribution" for g in models)
    check_experiment(config)  # the hosted preset passes every check (it is not run here)
    counted = {cell.label: cell for cell in plan(config).cells}
    # six types: 36 profiles x 15 rounds x 2 seats decisions under repetition; one population world
    # of 6 x 2 seats x 15 rounds under reputation
    assert counted["cell.world=PD,mechanism=repetition"].calls_per_run == 36 * 15 * 2
    assert counted["cell.world=PD,mechanism=reputation-"].calls_per_run == 6 * 2 * 15


def test_a_scaled_down_coopeval_quick_reproduces_its_steps(tmp_path):
    data = load_config("coopeval_quick")
    data["agents"] = [g for g in data["agents"] if g["kind"] == "scripted"]
    data["tournament"] = {"repeats": 1, "focal": ["mirror"]}
    data["grid"] = {"world": {"PD": data["grid"]["world"]["PD"]}, "mechanism": data["grid"]["mechanism"]}
    config = validate(data)
    first = run_experiment(config, tmp_path / "a", progress=False)
    again = run_experiment(config, tmp_path / "b", progress=False)
    assert len(first) == 6  # the six mechanisms on the prisoner's dilemma
    for one, two in zip(first, again):
        pd.testing.assert_frame_equal(one.steps, two.steps)
    by_mechanism = {r.summary["cell"]["mechanism"]: r for r in first}
    assert len(by_mechanism["repetition"].steps) == 9 * 5 * 2  # 3^2 profiles x 5 rounds x 2 seats
    assert len(by_mechanism["reputation+"].steps) == 5 * 6  # 5 rounds x 3 types x 2 seats
    # contracting: the defector signs whatever is chosen; against a co-player playing option 0 under the
    # cooperator's or mirror's contract (11 for option 0) it earns 3 - 11 = -8; against itself the
    # transfers cancel and it earns 1
    contracting = by_mechanism["contracting"].steps
    bound = contracting[(contracting["mechanism_phase"] == "play") & contracting["mechanism_contract_active"]
                        & (contracting["policy"] == "defector")]
    assert set(bound["reward"]) == {-8.0, 1.0}


def test_the_embedded_model_is_built_once_and_plays_whichever_seats_its_type_holds(tmp_path, embedded_backend,
                                                                                  monkeypatch):
    from dilemmazoo.experiments import runner

    built = []
    real = runner.build_policy
    monkeypatch.setattr(runner, "build_policy", lambda group, *a, **k: built.append(group.label) or real(group, *a, **k))
    model = {"kind": "llm", "backend": "embedded", "label": "M", "decision": "distribution",
             "distribution_source": "score"}
    result = execute(_config(agents=[TYPES[0], model]), tmp_path, progress=False, backend=embedded_backend)
    assert built == ["C", "M"]  # one policy per type, for the whole tournament
    steps = result.steps
    assert _profiles(steps) == list(itertools.product(["C", "M"], repeat=2))
    mine = steps[steps["policy"] == "M"]
    assert len(mine) == 4 and mine["name"].tolist() == ["M#P2", "M#P1", "M#P1", "M#P2"]
    assert all(json.loads(d).keys() == {"A0", "A1"} for d in mine["distribution"])  # drawn from its scores
    assert (steps[steps["policy"] == "C"]["distribution"] == "").all()
