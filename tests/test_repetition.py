"""Repetition and reputation (CoopEval's mechanisms, Tewolde et al. 2026) wrapped around any world:
round weights, the history texts, seeded rematching, the random horizon, PettingZoo conformance
and runs through the runner."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test
from pettingzoo.utils.conversions import parallel_to_aec

from dilemmazoo.analysis.evolution import discount_weights
from dilemmazoo.envs import make_world
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.runner import execute
from dilemmazoo.norms import make_mechanism, mechanism_class
from dilemmazoo.norms.repetition import Play, Repetition, Reputation, agent_name, reputation_history

pytestmark = [
    pytest.mark.filterwarnings("ignore:Observation is not a NumPy array"),
    pytest.mark.filterwarnings("ignore:Observation space for each agent probably should be"),
    pytest.mark.filterwarnings("ignore:Action space for each agent probably should be"),
]

PD = {"game": "coopeval_pd", "n_rounds": 1, "labels": "indexed"}  # CC 2,2  CD 0,3  DC 3,0  DD 1,1


def pd(**kwargs):
    return make_world("repeated-game", **{**PD, **kwargs})


def play(world, profiles):
    """Step ``world`` with one action index per seat per step; the step infos."""
    infos = []
    for profile in profiles:
        infos.append(world.step({agent: np.int64(a) for agent, a in zip(world.possible_agents, profile)})[4])
    return infos


def test_registry_names_the_classes():
    assert mechanism_class("repetition") is Repetition and mechanism_class("reputation") is Reputation
    assert make_mechanism("reputation", nesting=1).nesting == 1


def test_round_weights_are_hand_computed():
    assert Repetition(discount=0.5).round_weights(3) == pytest.approx([0.5, 0.25, 0.25])
    assert Repetition(discount=1.0).round_weights(3) == pytest.approx([0.0, 0.0, 1.0])  # only the last round
    assert Repetition(discount=0.0).round_weights(2) == pytest.approx([1.0, 0.0])  # only the first
    assert Reputation(discount=0.5, horizon="random").round_weights(4) == pytest.approx([0.25] * 4)
    # the tournament's analysis computes the same weights for the fixed horizon
    assert Repetition().round_weights(15) == pytest.approx(discount_weights(15, 0.8))
    assert Repetition().round_weights(15)[-1] == pytest.approx(0.8**14)  # CoopEval's tail, ~0.044
    with pytest.raises(ValueError, match="n_rounds"):
        Repetition().round_weights(0)


def test_repetition_shows_this_matchups_last_rounds_newest_first_without_payoffs():
    world = Repetition(rounds=4, lookup_depth=2).wrap(pd())
    world.reset(seed=0)
    assert world.describe("player_0").endswith("\n\nYou have not played any rounds with these co-players yet.")
    play(world, [(0, 1), (1, 1), (0, 0)])
    tail = world.describe("player_0").split("\n\n")[-1].splitlines()
    assert tail == [
        "You have played 3 rounds with the same co-players so far.",
        "Your last rounds with them, newest first:",
        "- Round 3: you played A0; Player 2 played A0.",
        "- Round 2: you played A1; Player 2 played A1.",
    ]
    assert world.describe("player_1").splitlines()[-1] == "- Round 2: you played A1; Player 1 played A1."
    rules = world.rules("player_0")
    assert rules.startswith(pd().rules("player_0"))
    assert "another round follows with probability 80%" in rules and "in the last 2 rounds" in rules


# Seats 0, 2 play base seat 0 (the row), seats 1, 3 base seat 1; three rounds of CoopEval's PD.
HAND_BUILT = [
    Play(1, 0, (0, 1), ("A0", "A0"), (2.0, 2.0)), Play(1, 1, (2, 3), ("A1", "A0"), (3.0, 0.0)),
    Play(2, 0, (0, 3), ("A0", "A1"), (0.0, 3.0)), Play(2, 1, (2, 1), ("A1", "A1"), (1.0, 1.0)),
    Play(3, 0, (2, 3), ("A1", "A1"), (1.0, 1.0)), Play(3, 1, (0, 1), ("A0", "A0"), (2.0, 2.0)),
]


def test_reputation_history_depth_one_lists_self_and_co_player():
    lines = reputation_history(HAND_BUILT, 0, 4, 3, 1, agent_name, match=(0, 3))
    assert lines == [
        "You have played 3 rounds so far, each with co-players met at random.",
        "In this round you play with Agent #3.",
        "Your recent rounds, newest first:",
        "- Round 3: you played A0 and got 2 points; Agent #1 played A0 and got 2 points.",
        "- Round 2: you played A0 and got 0 points; Agent #3 played A1 and got 3 points.",
        "- Round 1: you played A0 and got 2 points; Agent #1 played A0 and got 2 points.",
        "Agent #3's recent rounds, newest first:",
        "- Round 3: Agent #3 played A1 and got 1 point; Agent #2 played A1 and got 1 point.",
        "- Round 2: Agent #3 played A1 and got 3 points; you played A0 and got 0 points.",
        "- Round 1: Agent #3 played A0 and got 0 points; Agent #2 played A1 and got 3 points.",
    ]
    # the window is rounds max(1, r - lookup_depth) .. r - 1
    assert [line for line in reputation_history(HAND_BUILT, 0, 4, 1, 1, agent_name, match=(0, 3))
            if line.startswith("- ")] == [lines[3], lines[7]]
    assert reputation_history([], 1, 1, 3, 3, agent_name, match=(0, 1)) == [
        "You have played 0 rounds so far, each with co-players met at random.",
        "In this round you play with Agent #0.",
        "You have not played this game before.",
        "Agent #0 has not played this game before.",
    ]


def test_reputation_history_depth_two_nests_co_players_earlier_rounds():
    lines = reputation_history(HAND_BUILT, 0, 4, 3, 2, agent_name, match=(0, 3))
    assert lines[2:] == [
        "Your recent rounds, newest first:",
        "- Round 3: you played A0 and got 2 points; Agent #1 played A0 and got 2 points.",
        "    Before round 3, Agent #1 had played:",
        "    - Round 2: Agent #1 played A1 and got 1 point; Agent #2 played A1 and got 1 point.",
        "    - Round 1: Agent #1 played A0 and got 2 points; you played A0 and got 2 points.",
        "- Round 2: you played A0 and got 0 points; Agent #3 played A1 and got 3 points.",
        "    Before round 2, Agent #3 had played:",
        "    - Round 1: Agent #3 played A0 and got 0 points; Agent #2 played A1 and got 3 points.",
        "- Round 1: you played A0 and got 2 points; Agent #1 played A0 and got 2 points.",
        "Agent #3's recent rounds, newest first:",
        "- Round 3: Agent #3 played A1 and got 1 point; Agent #2 played A1 and got 1 point.",
        "    Before round 3, Agent #2 had played:",
        "    - Round 2: Agent #2 played A1 and got 1 point; Agent #1 played A1 and got 1 point.",
        "    - Round 1: Agent #2 played A1 and got 3 points; Agent #3 played A0 and got 0 points.",
        "- Round 2: Agent #3 played A1 and got 3 points; you played A0 and got 0 points.",
        "    Before round 2, you had played:",
        "    - Round 1: you played A0 and got 2 points; Agent #1 played A0 and got 2 points.",
        "- Round 1: Agent #3 played A0 and got 0 points; Agent #2 played A1 and got 3 points.",
    ]
    # depth 3 adds a third level where a second-level round has an earlier one
    deeper = reputation_history(HAND_BUILT, 0, 4, 3, 3, agent_name, match=(0, 3))
    assert deeper[5:8] == [
        "    - Round 2: Agent #1 played A1 and got 1 point; Agent #2 played A1 and got 1 point.",
        "        Before round 2, Agent #2 had played:",
        "        - Round 1: Agent #2 played A1 and got 3 points; Agent #3 played A0 and got 0 points.",
    ]


def test_trust_names_the_roles():
    world = Reputation(rounds=2, copies=2).wrap(pd(game="trust"))
    assert world.seat_roles and not Reputation(copies=2).wrap(pd()).seat_roles
    world.reset(seed=0)
    assert "In this round you play as Player 1 with Agent #" in world.describe("player_0")
    assert world.describe("player_1").count("as Player 2 with Agent #") == 1


def matches_by_round(seed, rounds=6, copies=3):
    world = Reputation(rounds=rounds, copies=copies).wrap(pd())
    world.reset(seed=seed)
    rng = np.random.default_rng(seed)
    result = []
    while world.agents:
        infos = world.step({a: np.int64(rng.integers(2)) for a in world.agents})[4]
        assert set(infos) == set(world.possible_agents)  # every seat plays every round
        result.append({agent: (info["mechanism_round"], info["match"]) for agent, info in infos.items()})
    return world, result


def test_reputation_rematches_with_the_seed_and_every_match_has_each_seat_group():
    world, first = matches_by_round(5)
    assert first == matches_by_round(5)[1]
    assert first != matches_by_round(6)[1]
    assert [sorted({r for r, _ in rows.values()}) for rows in first] == [[r] for r in range(1, 7)]
    assert len({tuple(rows[a][1] for a in world.possible_agents) for rows in first}) > 1  # the matches change
    for rows in first:
        for match in range(3):
            seats = sorted(int(agent.split("_")[1]) for agent, (_, m) in rows.items() if m == match)
            assert sorted(s % 2 for s in seats) == [0, 1]  # one member of each seat group
    # the recorded plays say the same, and describe reads them
    assert [(p.round, p.match, tuple(sorted(p.seats))) for p in world.plays] == [
        (r, m, tuple(sorted(int(a.split("_")[1]) for a, (rr, mm) in rows.items() if mm == m)))
        for r, rows in enumerate(first, start=1) for m in range(3)]


def test_three_player_public_goods_population_keeps_names_and_pays_each_match():
    world = Reputation(rounds=2, copies=2).wrap(make_world("public-goods", n_rounds=1))
    names = {f"player_{s}": f"member {s}" for s in range(6)}
    world.reset(seed=0, options={"names": names})
    assert world.display_name("player_4") == "member 4"
    for agent in world.possible_agents:  # each copy knows its players by their member names
        match, base_agent = world.place(agent)
        assert world.worlds[match].display_name(base_agent) == names[agent]
    assert "In this round you play with Agent #" in world.describe("player_0")  # anonymous in the history
    contribute = {agent: np.int64(0 if agent in ("player_0", "player_1", "player_5") else 1) for agent in world.agents}
    rewards, infos = world.step(contribute)[1::3]
    for match in range(2):
        seats = [a for a in world.possible_agents if infos[a]["match"] == match]
        assert sorted(int(a.split("_")[1]) % 3 for a in seats) == [0, 1, 2]
        share = 1.5 * sum(contribute[a] == 0 for a in seats) / 3
        assert [rewards[a] for a in seats] == pytest.approx([share + (contribute[a] == 1) for a in seats])
    plain = Repetition(rounds=2).wrap(make_world("public-goods", n_rounds=1))
    plain.reset(seed=0, options={"names": {"player_0": "Ann", "player_1": "Bo", "player_2": "Cy"}})
    assert plain.display_name("player_1") == "Bo"


def test_random_horizon_is_seeded_and_capped():
    mechanism = Repetition(horizon="random", discount=0.8, max_rounds=4)

    def length(seed):
        world = mechanism.wrap(pd())
        world.reset(seed=seed)
        steps = 0
        while world.agents:
            play(world, [(0, 0)])
            steps += 1
        assert steps == world.n_rounds
        return steps

    lengths = [length(seed) for seed in range(20)]
    assert lengths == [length(seed) for seed in range(20)]
    assert max(lengths) == 4 and min(lengths) < 4
    draws = [Repetition(horizon="random", max_rounds=10**6).draw_rounds(np.random.default_rng(s)) for s in range(4000)]
    assert np.mean(draws) == pytest.approx(5.0, abs=0.3)  # geometric with continuation 0.8: mean 1 / 0.2


@pytest.mark.parametrize("mechanism", [Repetition(rounds=3), Reputation(rounds=3, copies=2, nesting=2)])
def test_wrapped_pd_passes_the_pettingzoo_api_tests(mechanism):
    parallel_api_test(mechanism.wrap(pd()), num_cycles=100)
    api_test(parallel_to_aec(mechanism.wrap(pd())), num_cycles=100)


def test_wrapped_worlds_repeat_with_the_seed_and_pickle_mid_game():
    parallel_seed_test(lambda: Reputation(rounds=3, copies=2).wrap(pd(noise=0.3)))
    seed_test(lambda: parallel_to_aec(Reputation(rounds=3, copies=2).wrap(pd(noise=0.3))))
    world = Reputation(rounds=3, copies=2).wrap(pd(noise=0.3))
    world.reset(seed=1)
    play(world, [(0, 1, 1, 0)])
    twin = pickle.loads(pickle.dumps(world))
    actions = {agent: np.int64(1) for agent in world.agents}
    assert data_equivalence(world.step(actions), twin.step(actions))
    assert world.describe("player_2") == twin.describe("player_2")


def test_a_multi_step_base_world_is_one_round():
    world = Repetition(rounds=2).wrap(pd(n_rounds=2))
    world.reset(seed=0)
    infos = play(world, [(0, 1), (1, 1), (0, 0), (0, 0)])
    assert [info["player_0"]["mechanism_round"] for info in infos] == [1, 1, 2, 2]
    assert world.plays[0].actions == ("A0, A1", "A1 (2 times)") and world.plays[0].points == (1.0, 4.0)


@pytest.mark.parametrize("kwargs, name", [
    ({"rounds": 0}, "rounds"), ({"discount": 1.5}, "discount"), ({"horizon": "forever"}, "horizon"),
    ({"lookup_depth": -1}, "lookup_depth"), ({"max_rounds": 0}, "max_rounds"), ({"nesting": 0}, "nesting"),
    ({"copies": 0}, "copies"), ({"seat_roles": "yes"}, "seat_roles"),
    ({"horizon": "random", "discount": 1.0}, "discount"),
])
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Reputation(**kwargs)


def test_a_world_without_dict_observations_is_refused():
    world = pd()
    world._observation_spaces = {agent: world.observation_space(agent)["round"] for agent in world.possible_agents}
    with pytest.raises(ValueError, match="Dict"):
        Repetition().wrap(world)


def config(mechanism):
    return validate({
        "name": "mechanism", "world": {"id": "repeated-game", "kwargs": PD},
        "agents": {"kind": "scripted", "strategy": "random"},
        "mechanism": mechanism, "episodes_per_generation": 2,
    })


def test_repetition_through_the_runner_records_rounds_and_repeats(tmp_path):
    run = config({"name": "repetition", "kwargs": {"rounds": 3}})
    steps = execute(run, tmp_path / "a", progress=False).steps
    assert len(steps) == 2 * 3 * 2  # episodes x rounds x seats
    for _, episode in steps.groupby("episode"):
        assert episode.sort_values(["step", "agent"])["mechanism_round"].tolist() == [1, 1, 2, 2, 3, 3]
    assert set(steps["mechanism_phase"]) == {"play"}
    payoffs = {(0, 0): 2.0, (0, 1): 0.0, (1, 0): 3.0, (1, 1): 1.0}
    assert all(payoffs[(row.played, row.other_played)] == row.reward for row in steps.itertuples())
    assert steps["played"].nunique() == 2  # the random players did play both options
    again = execute(run, tmp_path / "b", progress=False).steps
    assert steps.equals(again)


def test_reputation_through_the_runner_plays_four_seats_in_two_matches(tmp_path):
    steps = execute(config({"name": "reputation", "kwargs": {"rounds": 3, "copies": 2}}), tmp_path,
                    progress=False).steps
    assert sorted(steps["agent"].unique()) == [f"player_{s}" for s in range(4)]
    assert sorted(steps["name"].unique()) == [f"Agent #{s}" for s in range(4)]
    for (_, mechanism_round), rows in steps.groupby(["episode", "mechanism_round"]):
        assert len(rows) == 4
        for _, match in rows.groupby("match"):
            assert sorted(int(a.split("_")[1]) % 2 for a in match["agent"]) == [0, 1]
    assert sorted(steps["mechanism_round"].unique()) == [1, 2, 3]


def test_reputation_metrics_measure_each_match_as_its_own_game(tmp_path):
    """Two cooperators and two defectors re-matched for 6 rounds (reputation, copies 2): seats 0 and 1
    cooperate, 2 and 3 defect; a round's mutual cooperation rate is 1/2 when seats 0 and 1 met (one of
    its two matches is C-C) and 0 otherwise. The whole population never cooperates as one."""

    config = validate({
        "name": "rep_metrics",
        "world": {"id": "repeated-game", "kwargs": {"game": "coopeval_pd", "n_rounds": 1, "labels": "indexed"}},
        "mechanism": {"name": "reputation", "kwargs": {"rounds": 6, "copies": 2, "nesting": 1}},
        "agents": [{"kind": "scripted", "strategy": "first_option", "seats": 2},
                   {"kind": "scripted", "strategy": "last_option", "seats": 2}],
    })
    result = execute(config, tmp_path, progress=False)
    play = result.steps[result.steps["mechanism_phase"] == "play"]
    match = play.pivot_table(index="mechanism_round", columns="agent", values="match")
    met = (match["player_0"] == match["player_1"]).to_numpy()
    assert 0 < met.sum() < len(met)  # this seed gives both kinds of rounds
    assert result.summary["metrics"]["mutual_cooperation_rate"] == met.mean() / 2
    assert result.summary["metrics"]["cooperation_rate"] == 0.5
    # the report's world table measures the same matches
    from dilemmazoo.analysis.report import write_report

    html = write_report(result.run_dir, tmp_path / "report.html").read_text()
    assert f'<td class="num">{met.mean() / 2:.4g}</td>' in html
