"""ATP imitative strategy diffusion (Han et al., arXiv 2510.04860): the threshold game's outcomes
and capital updates by hand, the threshold boundaries, the framings and their valence, the
interaction graph (what each agent sees), bad arguments, PettingZoo conformance, pickling, and
the scripted strategies (Granovetter thresholds spreading a committed minority's choice)."""

from __future__ import annotations

import pickle

import networkx as nx
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test
from pettingzoo.utils.conversions import parallel_to_aec

from dilemmazoo.agents.atp_diffusion_strategies import (
    ATP_DIFFUSION_STRATEGIES,
    CollectiveStrategy,
    CommittedStrategy,
    IndependentStrategy,
    ThresholdStrategy,
    collective_seen,
)
from dilemmazoo.agents.base import Decision
from dilemmazoo.envs.atp_diffusion import (
    COLLECTIVE,
    FRAMINGS,
    INDEPENDENT,
    ATPDiffusionEnv,
    capital_multipliers,
    interaction_graph,
    threshold_success,
)
from dilemmazoo.envs.base import ActionParseError, Amount, Choice

pytestmark = [
    pytest.mark.filterwarnings("ignore:Observation is not a NumPy array"),
    pytest.mark.filterwarnings("ignore:Observation space for each agent probably should be"),
]


def _play(env: ATPDiffusionEnv, collective_seats) -> tuple:
    chosen = set(collective_seats)
    return env.step({a: COLLECTIVE if i in chosen else INDEPENDENT for i, a in enumerate(env.possible_agents)})


def _decisions(env: ATPDiffusionEnv, observations: dict) -> list[Decision]:
    return [Decision(agent_id=a, observation=observations[a], text=env.describe(a), spec=env.action_spec(a),
                     rules=env.rules(a), step=0, episode=0) for a in env.agents]


# --------------------------------------------------------------------------------------------
# Payoffs by hand
# --------------------------------------------------------------------------------------------


def test_four_of_eight_succeeds_and_everyone_gains_a_fifth():
    env = ATPDiffusionEnv(n_agents=8, threshold=4)
    env.reset(seed=0)
    _, rewards, terminations, _, infos = _play(env, [0, 1, 2, 3])
    assert rewards == {a: pytest.approx(20.0, abs=1e-9) for a in env.possible_agents}  # 100 x 1.2 - 100
    for i, agent in enumerate(env.possible_agents):
        info = infos[agent]
        assert info["collective"] == (1 if i < 4 else 0)
        assert (info["success"], info["n_collective"], info["round"], info["threshold"]) == (1, 4, 1, 4)
        assert info["capital"] == pytest.approx(120.0, abs=1e-9)
        assert (info["framing"], info["deviant"]) == ("public_fund", False)
    assert not any(terminations.values())


def test_three_of_eight_fails_collective_lose_a_fifth_others_keep():
    env = ATPDiffusionEnv(n_agents=8, threshold=4)
    env.reset(seed=0)
    _, rewards, _, _, infos = _play(env, [2, 5, 7])
    for i, agent in enumerate(env.possible_agents):
        collective = i in (2, 5, 7)
        assert rewards[agent] == pytest.approx(-20.0 if collective else 0.0, abs=1e-9)
        assert infos[agent]["capital"] == pytest.approx(80.0 if collective else 100.0, abs=1e-9)
        assert (infos[agent]["success"], infos[agent]["n_collective"]) == (0, 3)


def test_three_rounds_multiply_out_by_hand():
    env = ATPDiffusionEnv(n_agents=8, n_rounds=3, threshold=4)
    env.reset(seed=0)
    _play(env, [0, 1, 2, 3])  # 4 >= 4: everyone 120
    _, rewards, _, _, _ = _play(env, [0, 1, 2])  # 3 < 4: seats 0-2 120 x 0.8 = 96, others stay 120
    assert rewards["agent_0"] == pytest.approx(-24.0, abs=1e-9)
    assert rewards["agent_5"] == pytest.approx(0.0, abs=1e-9)
    _, rewards, terminations, _, infos = _play(env, [0, 1, 2, 3, 4, 5])  # 6 >= 4: everyone x 1.2
    # seats 0-2: 100 x 1.2 x 0.8 x 1.2 = 115.2 (reward 19.2); seats 3-7: 100 x 1.2 x 1 x 1.2 = 144 (reward 24)
    for i, agent in enumerate(env.possible_agents):
        assert infos[agent]["capital"] == pytest.approx(115.2 if i < 3 else 144.0, abs=1e-9)
        assert rewards[agent] == pytest.approx(19.2 if i < 3 else 24.0, abs=1e-9)
        assert infos[agent]["round"] == 3
    assert all(terminations.values()) and env.agents == []
    np.testing.assert_allclose(env.capital, [115.2] * 3 + [144.0] * 5)
    with pytest.raises(RuntimeError, match="reset"):
        _play(env, [])


@pytest.mark.parametrize("threshold", [2, 4, 6, 8])
def test_threshold_boundaries(threshold):
    for collective, success in ((threshold - 1, False), (threshold, True)):
        env = ATPDiffusionEnv(n_agents=8, threshold=threshold)
        env.reset(seed=0)
        _, rewards, _, _, infos = _play(env, range(collective))
        assert infos["agent_0"]["success"] == int(success)
        assert infos["agent_7"]["n_collective"] == collective
        expected_collective = 20.0 if success else -20.0
        expected_independent = 20.0 if success else 0.0
        assert rewards["agent_0"] == pytest.approx(expected_collective, abs=1e-9)
        if collective < 8:
            assert rewards["agent_7"] == pytest.approx(expected_independent, abs=1e-9)


def test_pure_functions_and_custom_multipliers():
    assert threshold_success([1, 1, 0, 0], 2) and not threshold_success([1, 0, 0, 0], 2)
    np.testing.assert_allclose(capital_multipliers([1, 0, 0], 2), [0.8, 1.0, 1.0])
    np.testing.assert_allclose(capital_multipliers([1, 1, 0], 2), [1.2, 1.2, 1.2])
    np.testing.assert_allclose(capital_multipliers([1, 0], 2, 1.5, 0.5, 0.9), [0.5, 0.9])
    env = ATPDiffusionEnv(n_agents=3, threshold=2, initial_capital=10.0, success_multiplier=2.0,
                          failure_multiplier_collective=0.0, failure_multiplier_independent=1.1)
    env.reset()
    _, rewards, *_ = _play(env, [0])  # fails: 10 x 0 and 10 x 1.1
    assert [rewards[a] for a in env.possible_agents] == pytest.approx([-10.0, 1.0, 1.0], abs=1e-9)
    _, rewards, *_ = _play(env, [1, 2])  # succeeds: 0 x 2, 11 x 2
    assert [rewards[a] for a in env.possible_agents] == pytest.approx([0.0, 11.0, 11.0], abs=1e-9)


# --------------------------------------------------------------------------------------------
# Actions, framings and the language view
# --------------------------------------------------------------------------------------------


def test_bad_actions_are_refused():
    env = ATPDiffusionEnv(n_agents=2, threshold=1)
    env.reset()
    for bad in (2, -1, "1", 1.0, True, np.array([0, 1])):
        with pytest.raises(ValueError, match="agent_0"):
            env.step({"agent_0": bad, "agent_1": 0})
    with pytest.raises(ValueError, match="agent_1 must choose"):
        env.step({"agent_0": 1})
    _, _, _, _, infos = env.step({"agent_0": np.int64(1), "agent_1": np.array([0])})
    assert (infos["agent_0"]["collective"], infos["agent_1"]["collective"]) == (1, 0)


def test_framings_name_their_options_and_valence():
    assert list(FRAMINGS) == ["public_fund", "commons_pasture", "team_project", "red_blue_button", "stag_hunt",
                              "information_sharing", "price_alliance"]
    assert [name for name, f in FRAMINGS.items() if f.deviant] == ["price_alliance"]
    for name, framing in FRAMINGS.items():
        env = ATPDiffusionEnv(framing=name)
        env.reset()
        rules = env.rules("agent_0")
        assert framing.valence in rules and framing.collective in rules and framing.independent in rules
        assert "at least 4 of the 8" in rules and "multiplied by 1.2" in rules and "0.8" in rules
        spec = env.action_spec("agent_0")
        assert isinstance(spec, Choice) and spec.fallback == INDEPENDENT
        assert spec.parse(f"I think so. Answer: {framing.collective}") == COLLECTIVE
        assert spec.parse(f"Answer: {framing.independent.upper()}") == INDEPENDENT
        with pytest.raises(ActionParseError):
            spec.parse(f"Answer: {framing.collective} or {framing.independent}")
    price = ATPDiffusionEnv(framing="price_alliance").rules("agent_0")
    assert "collusion" in price and "forbids" in price
    assert "overgrazing breaks it" in ATPDiffusionEnv(framing="commons_pasture").rules("agent_0")


def test_describe_shows_choices_outcome_and_capital():
    env = ATPDiffusionEnv(n_agents=4, threshold=2, n_rounds=2, framing="stag_hunt")
    env.reset(options={"names": {"agent_0": "Ann", "agent_1": "Bo", "agent_2": "Cy", "agent_3": "Di"}})
    assert "No round has been played yet" in env.describe("agent_0")
    _play(env, [1])
    text = env.describe("agent_0")
    assert "you chose 'hunt rabbits'" in text
    assert "Bo 'hunt deer'" in text and "Cy 'hunt rabbits'" in text and "Di 'hunt rabbits'" in text
    assert "1 of all 4 chose 'hunt deer' (threshold 2)" in text
    assert "The round failed; your food stores is now 100." in text
    assert "now round 2 of 2" in text
    assert "food stores is now 80." in env.describe("agent_1")
    _play(env, [0, 1])
    assert "The round succeeded" in env.describe("agent_0") and "The game is over." in env.describe("agent_0")


# --------------------------------------------------------------------------------------------
# The interaction graph
# --------------------------------------------------------------------------------------------


def test_no_graph_and_complete_graph_show_everyone():
    for graph in (None, "complete", list(nx.complete_graph(5).edges)):
        env = ATPDiffusionEnv(n_agents=5, threshold=2, graph=graph)
        assert env.everyone_visible and env.graph.number_of_edges() == 10
        assert env.neighbours("agent_2") == ["agent_0", "agent_1", "agent_3", "agent_4"]
        env.reset()
        observations, *_ = _play(env, [0, 3])
        np.testing.assert_array_equal(observations["agent_2"]["last_choices"], [1, 0, 0, 1, 0])
        assert observations["agent_2"]["last_success"] == 1


def test_ring_limits_what_each_agent_sees():
    env = ATPDiffusionEnv(n_agents=8, threshold=4, graph="ring")
    assert env.neighbours("agent_0") == ["agent_1", "agent_7"]
    assert env.neighbours("agent_4") == ["agent_3", "agent_5"]
    assert not env.everyone_visible
    observations, _ = env.reset()
    np.testing.assert_array_equal(observations["agent_0"]["last_choices"], [-1] * 8)
    np.testing.assert_array_equal(observations["agent_0"]["neighbours"], [0, 1, 0, 0, 0, 0, 0, 1])
    assert observations["agent_0"]["last_success"] == -1
    assert "only 2 of the others: agent_1, agent_7" in env.rules("agent_0")
    observations, _, _, _, infos = _play(env, [1, 3, 4, 7])
    assert infos["agent_0"]["success"] == 1  # unseen choices still count towards the threshold
    np.testing.assert_array_equal(observations["agent_0"]["last_choices"], [0, 1, -1, -1, -1, -1, -1, 1])
    np.testing.assert_array_equal(observations["agent_4"]["last_choices"], [-1, -1, -1, 1, 1, 0, -1, -1])
    text = env.describe("agent_0")
    assert "agent_1 'invest', agent_7 'invest'; 2 of the 2 others you see chose 'invest'" in text
    assert "agent_3" not in text and "of all 8" not in text
    assert collective_seen(observations["agent_0"]) == (2, 2)
    assert collective_seen(observations["agent_4"]) == (1, 2)  # its own choice is not counted


def test_small_world_is_seeded():
    a = ATPDiffusionEnv(n_agents=12, graph="small_world", graph_seed=3, small_world_k=4, small_world_p=0.3)
    b = ATPDiffusionEnv(n_agents=12, graph="small_world", graph_seed=3, small_world_k=4, small_world_p=0.3)
    expected = nx.connected_watts_strogatz_graph(12, 4, 0.3, seed=3)
    assert sorted(a.graph.edges) == sorted(b.graph.edges) == sorted(expected.edges)
    assert nx.is_connected(a.graph) and a.graph.number_of_edges() == 24  # k n / 2 edges, rewiring keeps the count
    lattice = ATPDiffusionEnv(n_agents=12, graph="small_world", small_world_p=0.0)
    assert lattice.neighbours("agent_0") == ["agent_1", "agent_2", "agent_10", "agent_11"]


def test_explicit_edges_and_isolated_agents():
    env = ATPDiffusionEnv(n_agents=5, threshold=1, graph=[(0, 1), ("agent_2", "agent_3")])
    assert env.neighbours("agent_1") == ["agent_0"] and env.neighbours("agent_4") == []
    assert "none of the others' choices" in env.rules("agent_4")
    env.reset()
    observations, *_ = _play(env, [0, 2, 4])
    np.testing.assert_array_equal(observations["agent_4"]["last_choices"], [-1, -1, -1, -1, 1])
    np.testing.assert_array_equal(observations["agent_3"]["last_choices"], [-1, -1, 1, 0, -1])
    assert "agent_2 'invest'; 1 of the 1 others you see" in env.describe("agent_3")
    given = nx.Graph([(0, 4)])
    given.add_nodes_from(range(5))
    assert ATPDiffusionEnv(n_agents=5, graph=given).neighbours("agent_0") == ["agent_4"]
    assert interaction_graph([(0, 1)], 3).number_of_nodes() == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": 0}, "threshold"),
        ({"threshold": 9}, "threshold"),
        ({"threshold": 2.5}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"framing": "cartel"}, "framing"),
        ({"framing": 3}, "framing"),
        ({"n_agents": 0}, "n_agents"),
        ({"n_rounds": 0}, "n_rounds"),
        ({"initial_capital": 0.0}, "initial_capital"),
        ({"success_multiplier": -1.0}, "success_multiplier"),
        ({"failure_multiplier_collective": float("nan")}, "failure_multiplier_collective"),
        ({"failure_multiplier_independent": "1"}, "failure_multiplier_independent"),
        ({"graph": "star"}, "graph"),
        ({"graph": 5}, "graph"),
        ({"graph": [(0, 8)]}, "graph"),
        ({"graph": [(0, 0)]}, "graph"),
        ({"graph": [(0, 1, 2)]}, "graph"),
        ({"graph": [("agent_0", "nobody")]}, "graph"),
        ({"graph": nx.path_graph(5)}, "graph"),
        ({"graph": nx.DiGraph(nx.complete_graph(8))}, "graph"),
        ({"graph": "small_world", "small_world_k": 8}, "small_world_k"),
        ({"graph": "small_world", "small_world_p": 1.5}, "small_world_p"),
        ({"graph_seed": -1}, "graph_seed"),
        ({"history_rounds": 0}, "history_rounds"),
        ({"render_mode": "rgb_array"}, "render_mode"),
    ],
)
def test_bad_arguments_are_value_errors_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ATPDiffusionEnv(**kwargs)


def test_neighbours_of_an_unknown_seat():
    with pytest.raises(ValueError, match="seat"):
        ATPDiffusionEnv().neighbours("agent_9")


# --------------------------------------------------------------------------------------------
# Conformance, seeding, pickling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("graph", [None, "ring"])
def test_pettingzoo_conformance(graph):
    parallel_api_test(ATPDiffusionEnv(graph=graph), num_cycles=100)
    api_test(parallel_to_aec(ATPDiffusionEnv(graph=graph)), num_cycles=100)
    parallel_seed_test(lambda: ATPDiffusionEnv(graph=graph))
    seed_test(lambda: parallel_to_aec(ATPDiffusionEnv(graph=graph)))


def test_observations_are_in_their_spaces_every_round():
    env = ATPDiffusionEnv(graph="small_world", n_rounds=4)
    observations, infos = env.reset(seed=2)
    keys = set(infos["agent_0"])
    assert keys == {"collective", "success", "n_collective", "capital", "round", "threshold", "framing", "deviant"}
    rng = np.random.default_rng(0)
    while env.agents:
        for agent, observation in observations.items():
            assert env.observation_space(agent).contains(observation)
        observations, _, _, _, infos = env.step({a: int(rng.integers(2)) for a in env.agents})
        assert all(set(info) == keys for info in infos.values())
    for agent, observation in observations.items():
        assert env.observation_space(agent).contains(observation)
        assert observation["round"] == 5


def test_pickles_mid_game():
    env = ATPDiffusionEnv(graph="small_world", graph_seed=1)
    env.reset(seed=1)
    _play(env, [0, 1, 2, 3, 4])
    copy = pickle.loads(pickle.dumps(env))
    assert sorted(copy.graph.edges) == sorted(env.graph.edges)
    actions = {a: i % 2 for i, a in enumerate(env.agents)}
    assert data_equivalence(env.step(actions), copy.step(actions))
    assert copy.describe("agent_3") == env.describe("agent_3")


def test_render():
    env = ATPDiffusionEnv(n_agents=3, threshold=2, render_mode="ansi")
    env.reset()
    _play(env, [0, 2])
    assert env.render() == ("ATP diffusion (public_fund): 1 of 3 rounds played; threshold 2 of 3\n"
                            "  last choices CIC: success\n  capital: 120, 120, 120")
    assert ATPDiffusionEnv().render() is None


# --------------------------------------------------------------------------------------------
# Scripted strategies
# --------------------------------------------------------------------------------------------


def _run(env: ATPDiffusionEnv, players: list, seed: int = 0) -> list[dict]:
    observations, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for agent, player in zip(env.possible_agents, players):
        player.reset(agent, env.rules(agent), rng)
    rounds = []
    while env.agents:
        decisions = _decisions(env, observations)
        actions = {d.agent_id: players[env.possible_agents.index(d.agent_id)].act(d) for d in decisions}
        assert not any(a.fallback_used for a in actions.values())
        observations, _, _, _, infos = env.step({agent: action.value for agent, action in actions.items()})
        rounds.append(infos)
    return rounds


def test_strategy_dict_and_committed_mark():
    assert ATP_DIFFUSION_STRATEGIES == {"atp_collective": CollectiveStrategy, "atp_independent": IndependentStrategy,
                                        "atp_threshold": ThresholdStrategy, "atp_committed": CommittedStrategy}
    assert CommittedStrategy.committed and CommittedStrategy().committed
    assert not any(cls.committed for name, cls in ATP_DIFFUSION_STRATEGIES.items() if name != "atp_committed")
    with pytest.raises(ValueError, match="m"):
        ThresholdStrategy(m=-1)
    with pytest.raises(ValueError, match="initial"):
        ThresholdStrategy(initial="maybe")


def test_fixed_strategies_answer_through_the_choice():
    env = ATPDiffusionEnv(framing="price_alliance", n_agents=2, threshold=2)
    observations, _ = env.reset()
    decision = _decisions(env, observations)[0]
    collective = CollectiveStrategy().act(decision)
    assert (collective.value, collective.raw_text) == (COLLECTIVE, "Answer: maintain high prices")
    assert env.action_spec("agent_0").parse(collective.raw_text) == COLLECTIVE
    independent = IndependentStrategy().act(decision)
    assert (independent.value, independent.raw_text) == (INDEPENDENT, "Answer: cut prices")
    other = Decision(agent_id="agent_0", observation=observations["agent_0"], text="", rules="", step=0, episode=0,
                     spec=Amount(instruction="x", fallback=np.array([0.0]), low=0.0, high=1.0))
    answer = CommittedStrategy().act(other)
    assert answer.fallback_used and data_equivalence(answer.value, np.array([0.0]))


def test_committed_pair_tips_a_complete_group_of_thresholds():
    # 2 committed + 6 thresholds m=2, t=4. Round 1: the thresholds have seen nothing -> independent;
    # 2 < 4 fails (committed 80). Round 2: each threshold saw 2 collective -> all 8 collective, success.
    env = ATPDiffusionEnv(n_agents=8, threshold=4, n_rounds=3)
    players = [CommittedStrategy(), CommittedStrategy()] + [ThresholdStrategy(m=2) for _ in range(6)]
    rounds = _run(env, players)
    assert [r["agent_0"]["n_collective"] for r in rounds] == [2, 8, 8]
    assert [r["agent_0"]["success"] for r in rounds] == [0, 1, 1]
    np.testing.assert_allclose(env.capital, [100 * 0.8 * 1.2 * 1.2] * 2 + [100 * 1.2 * 1.2] * 6)  # 115.2, 144


def test_one_committed_is_not_enough_for_threshold_two():
    env = ATPDiffusionEnv(n_agents=8, threshold=4, n_rounds=3)
    rounds = _run(env, [CommittedStrategy()] + [ThresholdStrategy(m=2) for _ in range(7)])
    assert [r["agent_0"]["n_collective"] for r in rounds] == [1, 1, 1]
    np.testing.assert_allclose(env.capital, [100 * 0.8 ** 3] + [100.0] * 7)


def test_threshold_one_spreads_around_a_ring_one_step_per_round():
    # committed agent_0; thresholds m=1 see only their ring neighbours: the collective choice
    # reaches 1 more seat on each side per round: 1, 3, 5, 7, 8 collective.
    env = ATPDiffusionEnv(n_agents=8, threshold=8, n_rounds=5, graph="ring")
    rounds = _run(env, [CommittedStrategy()] + [ThresholdStrategy(m=1) for _ in range(7)])
    assert [r["agent_0"]["n_collective"] for r in rounds] == [1, 3, 5, 7, 8]
    assert [r["agent_4"]["collective"] for r in rounds] == [0, 0, 0, 0, 1]
    assert [r["agent_0"]["success"] for r in rounds] == [0, 0, 0, 0, 1]
    # agent_0: 0.8^4 x 1.2; agent_1 (joined in round 2): 0.8^3 x 1.2; agent_4 (joined last): 1.2
    assert env.capital[0] == pytest.approx(100 * 0.8 ** 4 * 1.2, abs=1e-9)
    assert env.capital[1] == pytest.approx(100 * 0.8 ** 3 * 1.2, abs=1e-9)
    assert env.capital[4] == pytest.approx(120.0, abs=1e-9)


def test_threshold_first_round_and_initial():
    env = ATPDiffusionEnv(n_agents=3, threshold=3, n_rounds=2)
    rounds = _run(env, [ThresholdStrategy(m=0), ThresholdStrategy(m=1, initial="collective"),
                        ThresholdStrategy(m=1)])
    # round 1: m=0 -> collective, initial -> collective, m=1 with nothing seen -> independent (fails)
    # round 2: each saw at least one collective among the others -> all collective (succeeds)
    assert [[r[a]["collective"] for a in env.possible_agents] for r in rounds] == [[1, 1, 0], [1, 1, 1]]
    assert ThresholdStrategy(m=2, initial="independent").choose(
        {"last_choices": np.array([-1, -1, -1]), "neighbours": np.array([0, 1, 1]), "seat": 0, "last_success": -1}
    ) == INDEPENDENT
    # one's own choice never counts, even where an observation's mask includes one's seat
    assert collective_seen({"last_choices": np.array([1, 1, 0]), "neighbours": np.array([1, 1, 1]), "seat": 0}) == (1, 2)
