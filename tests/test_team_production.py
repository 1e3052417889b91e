"""Team production (Pant & Yu, arXiv 2601.16237): the world's payoffs by hand (one team and
several), clipping and bad input, the language view, seeding and pickling; the scripted members
(the free-riding equilibrium reached exactly, the grid's best point, heterogeneous loyalty); and
the world's metrics and figures on hand-computed records and on a real run."""

from __future__ import annotations

import math
import pickle

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import data_equivalence
from pettingzoo.test import parallel_api_test, seed_test
from pettingzoo.utils.conversions import parallel_to_aec

from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.scripted import ScriptedPolicy, make_scripted
from dilemmazoo.agents.team_strategies import (
    TEAM_STRATEGIES,
    FixedEffortMember,
    FreeRiderMember,
    FullEffortMember,
    TeamEquilibriumMember,
)
from dilemmazoo.analysis import team_production as tp
from dilemmazoo.analysis.team_production_plots import plot_effort_by_round, team_production_figures
from dilemmazoo.analysis.worlds import WORLD_METRICS, world_metrics
from dilemmazoo.envs import ActionParseError, Amount, Choice, make_world
from dilemmazoo.envs.loyalty import closed_form_effort
from dilemmazoo.envs.team_production import TeamProductionEnv, default_effort_grid

pytestmark = [
    pytest.mark.filterwarnings("ignore:Observation is not a NumPy array"),
    pytest.mark.filterwarnings("ignore:Observation space for each agent probably should be"),
]

# The paper's base case (omega 25, beta 0.7, c 1, n 5): the free-riding equilibrium total is
# S* = (omega beta / (n c))^(1/(1-beta)) = 3.5^(10/3) = 65.0969, so a* = S*/5 = 13.0194.
FREE_RIDING_EFFORT = 3.5 ** (10 / 3) / 5


def _efforts(env: TeamProductionEnv, efforts) -> dict:
    return {agent: np.array([float(e)]) for agent, e in zip(env.possible_agents, efforts)}


def _decisions(env: TeamProductionEnv, observations: dict) -> list[Decision]:
    return [Decision(agent_id=a, observation=observations[a], text=env.describe(a), spec=env.action_spec(a),
                     rules=env.rules(a), step=0, episode=0) for a in env.agents]


# --------------------------------------------------------------------------------------------
# Payoffs by hand
# --------------------------------------------------------------------------------------------


def test_one_round_by_hand():
    env = TeamProductionEnv(n_members=3, omega=25.0, beta=0.5, c=2.0, n_rounds=1)
    env.reset(seed=0)
    _, rewards, terminations, truncations, infos = env.step(_efforts(env, [1, 2, 5]))
    # S = 8, Q = 25 * sqrt(8) = 70.710678, Q / 3 = 23.570226; pi_i = 23.570226 - 2 a_i
    assert rewards["member_0"] == pytest.approx(23.570226039551585 - 2.0, abs=1e-12)  # 21.570226
    assert rewards["member_1"] == pytest.approx(23.570226039551585 - 4.0, abs=1e-12)  # 19.570226
    assert rewards["member_2"] == pytest.approx(23.570226039551585 - 10.0, abs=1e-12)  # 13.570226
    for i, agent in enumerate(env.possible_agents):
        info = infos[agent]
        assert info["effort"] == [1.0, 2.0, 5.0][i]
        assert info["cost"] == [2.0, 4.0, 10.0][i]
        assert info["output"] == pytest.approx(70.71067811865476, abs=1e-12)
        assert info["total_effort"] == 8.0
        assert (info["team"], info["team_size"], info["round"], info["clipped"]) == (0, 3, 1, False)
        assert (info["omega"], info["beta"], info["unit_cost"], info["a_min"], info["a_max"]) == (25.0, 0.5, 2.0, 0.01, 50.0)
    assert all(terminations.values()) and not any(truncations.values())
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step(_efforts(env, [1, 2, 5]))


def test_base_case_all_tens():
    env = TeamProductionEnv()
    env.reset(seed=0)
    _, rewards, *_ = env.step(_efforts(env, [10] * 5))
    # Q = 25 * 50^0.7 = 386.56187; pi = 386.56187 / 5 - 10 = 67.31237
    assert rewards["member_3"] == pytest.approx(67.31237367774791, abs=1e-9)


def test_teams_share_only_their_own_output():
    env = TeamProductionEnv(n_members=4, omega=10.0, beta=0.5, c=1.0, teams=[["member_0", "member_1"], ["member_3", "member_2"]])
    observations, infos = env.reset(seed=0)
    assert [infos[a]["team"] for a in env.agents] == [0, 0, 1, 1]
    assert observations["member_2"]["team"].tolist() == [0, 0, 1, 1]
    observations, rewards, _, _, infos = env.step(_efforts(env, [4, 12, 1, 8]))
    # team 0: S = 16, Q = 10 * 4 = 40, shares 20: pi = 16, 8; team 1: S = 9, Q = 30, shares 15: pi = 14, 7
    assert [rewards[a] for a in env.possible_agents] == pytest.approx([16.0, 8.0, 14.0, 7.0], abs=1e-12)
    assert [infos[a]["output"] for a in env.possible_agents] == pytest.approx([40.0, 40.0, 30.0, 30.0])
    assert [infos[a]["team_size"] for a in env.possible_agents] == [2, 2, 2, 2]
    # each member sees its own team's efforts only
    assert observations["member_0"]["last_efforts"].tolist() == [4.0, 12.0, -1.0, -1.0]
    assert observations["member_3"]["last_efforts"].tolist() == [-1.0, -1.0, 1.0, 8.0]
    assert observations["member_3"]["last_output"].tolist() == pytest.approx([30.0])
    assert "member_2" not in env.describe("member_0") and "member_1" in env.describe("member_0")


def test_a_member_alone_keeps_its_whole_output():
    env = TeamProductionEnv(n_members=2, omega=10.0, beta=0.5, teams=[["member_0"], ["member_1"]])
    env.reset()
    _, rewards, *_ = env.step(_efforts(env, [4, 9]))
    assert [rewards["member_0"], rewards["member_1"]] == pytest.approx([20.0 - 4.0, 30.0 - 9.0])


# --------------------------------------------------------------------------------------------
# Clipping and bad input
# --------------------------------------------------------------------------------------------


def test_efforts_outside_the_range_are_clipped_and_counted():
    env = TeamProductionEnv(n_members=3, a_min=1.0, a_max=20.0, n_rounds=2)
    env.reset()
    _, _, _, _, infos = env.step({"member_0": np.array([60.0]), "member_1": -3.0, "member_2": np.float32(5.0)})
    assert [infos[a]["effort"] for a in env.possible_agents] == [20.0, 1.0, 5.0]
    assert [infos[a]["clipped"] for a in env.possible_agents] == [True, True, False]
    assert env.clipped_efforts == 2
    env.step(_efforts(env, [1, 1, 1]))
    assert env.clipped_efforts == 2
    env.reset()
    assert env.clipped_efforts == 0


@pytest.mark.parametrize("bad", [np.array([np.nan]), math.inf, "5", True, np.array([1.0, 2.0]), {"effort": 1.0}, None])
def test_an_action_that_is_not_one_finite_number_is_an_error(bad):
    env = TeamProductionEnv(n_members=2)
    env.reset()
    with pytest.raises(ValueError, match="member_0"):
        env.step({"member_0": bad, "member_1": np.array([1.0])})


def test_every_member_must_act():
    env = TeamProductionEnv(n_members=2)
    env.reset()
    with pytest.raises(ValueError, match="member_1 must send"):
        env.step({"member_0": np.array([1.0])})
    with pytest.raises(ValueError, match="not in the game"):
        env.step({"member_0": np.array([1.0]), "member_1": np.array([1.0]), "member_9": np.array([1.0])})


@pytest.mark.parametrize("kwargs, name", [
    ({"n_members": 0}, "n_members"),
    ({"omega": 0.0}, "omega"),
    ({"beta": 1.0}, "beta"),
    ({"beta": 0.0}, "beta"),
    ({"c": -1.0}, "c"),
    ({"a_min": -0.5}, "a_min"),
    ({"a_min": 5.0, "a_max": 5.0}, "a_max"),
    ({"n_rounds": 0}, "n_rounds"),
    ({"history_rounds": 0}, "history_rounds"),
    ({"effort_grid": [0.01, 60.0]}, "effort_grid"),
    ({"effort_grid": [10.0, 5.0]}, "effort_grid"),
    ({"effort_grid": "fine"}, "effort_grid"),
    ({"effort_grid": [1.001, 1.002]}, "effort_grid"),
    ({"teams": [["member_0", "member_1"]], "n_members": 3}, "teams"),
    ({"teams": [["member_0", "member_0"], ["member_1"]], "n_members": 2}, "teams"),
    ({"teams": [["member_0", "member_7"], ["member_1"]], "n_members": 2}, "teams"),
    ({"teams": "member_0"}, "teams"),
    ({"render_mode": "rgb_array"}, "render_mode"),
    ({"told_loyalty": 1.5}, "told_loyalty"),
    ({"told_loyalty": "high"}, "told_loyalty"),
    ({"phi_c": 1.2}, "phi_c"),
])
def test_bad_constructor_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TeamProductionEnv(**kwargs)


def test_default_grid():
    assert default_effort_grid(0.01, 50.0) == (0.01, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0)
    assert default_effort_grid(0.0, 12.0) == (0.0, 5.0, 10.0, 12.0)
    assert TeamProductionEnv().effort_grid == default_effort_grid(0.01, 50.0)


# --------------------------------------------------------------------------------------------
# Language view
# --------------------------------------------------------------------------------------------


def test_rules_describe_and_the_grid_spec():
    env = TeamProductionEnv(n_members=3, omega=25.0, beta=0.5, n_rounds=3, history_rounds=1,
                            effort_grid=[0.01, 2.5, 10.0])
    env.reset(options={"names": {"member_0": "Ada", "member_1": "Bo", "member_2": "Cy"}})
    rules = env.rules("member_0")
    # the example: all choose 10 -> S = 30, Q = 25 sqrt(30) = 136.93, share 45.64, minus 10 = 35.64
    assert "25 x (total effort of the team)^0.5" in rules and "divided by 3" in rules
    assert "136.93" in rules and "45.64 - 10 = 35.64" in rules and "3 rounds" in rules
    spec = env.action_spec("member_0")
    assert isinstance(spec, Choice) and spec.labels == ("0.01", "2.5", "10")
    assert spec.parse("I will work hard. Answer: 2.50").tolist() == [2.5]
    assert spec.parse("Answer: 10").tolist() == [10.0]
    with pytest.raises(ActionParseError):
        spec.parse("Answer: 5")
    # first round: the fallback is the grid point closest to the middle of [0.01, 50]
    assert spec.fallback.tolist() == [10.0]
    env.step(_efforts(env, [1, 2, 5]))
    env.step(_efforts(env, [10, 2.5, 0.01]))
    text = env.describe("member_1")
    # only the last round is shown (history_rounds=1): S = 12.51, Q = 25 sqrt(12.51) = 88.42, share 29.47
    assert "(1 earlier rounds are not shown.)" in text
    assert "Round 2: efforts Ada 10 (payoff 19.47), you 2.5 (payoff 26.97), Cy 0.01 (payoff 29.46)" in text
    assert "team output 88.42" in text and "round 3 of 3" in text
    assert env.action_spec("member_1").fallback.tolist() == [2.5]  # its previous effort
    assert env.display_name("member_2") == "Cy"


def test_amount_spec_without_a_grid():
    env = TeamProductionEnv(effort_grid=None, n_rounds=2)
    env.reset()
    spec = env.action_spec("member_0")
    assert isinstance(spec, Amount) and (spec.low, spec.high) == (0.01, 50.0)
    assert spec.parse("Answer: 13.02").tolist() == [13.02]
    assert spec.fallback.tolist() == [25.005]
    with pytest.raises(ActionParseError):
        spec.parse("Answer: 70")
    assert "a number from 0.01 to 50" in env.describe("member_0")


def test_render_and_close():
    env = TeamProductionEnv(n_members=2, render_mode="ansi")
    env.reset()
    env.step(_efforts(env, [3, 4]))
    text = env.render()
    assert "1 of 10 rounds played" in text and "member_0 3, member_1 4" in text
    assert TeamProductionEnv().render() is None


# --------------------------------------------------------------------------------------------
# Seeding, pickling, PettingZoo tests
# --------------------------------------------------------------------------------------------


def test_pettingzoo_tests_one_shot_and_teams():
    parallel_api_test(TeamProductionEnv(n_rounds=1), num_cycles=10)
    parallel_api_test(TeamProductionEnv(n_members=4, teams=[["member_0", "member_2"], ["member_1", "member_3"]]),
                      num_cycles=20)
    seed_test(lambda: parallel_to_aec(TeamProductionEnv(n_members=3, n_rounds=4)))


def test_same_seed_same_game_and_pickles_mid_game():
    def play(seed):
        env = make_world("team-production", n_members=3, n_rounds=4)
        rows = [env.reset(seed=seed)]
        for i, agent in enumerate(env.possible_agents):
            env.action_space(agent).seed(10 + i)
        while env.agents:
            rows.append(env.step({a: env.action_space(a).sample() for a in env.agents}))
        return rows

    assert data_equivalence(play(5), play(5))
    env = TeamProductionEnv(n_members=3, n_rounds=3)
    env.reset(seed=1)
    env.step(_efforts(env, [1, 2, 3]))
    copy = pickle.loads(pickle.dumps(env))
    assert data_equivalence(env.step(_efforts(env, [4, 5, 6])), copy.step(_efforts(copy, [4, 5, 6])))
    assert copy.describe("member_0") == env.describe("member_0")


# --------------------------------------------------------------------------------------------
# Scripted members
# --------------------------------------------------------------------------------------------


def test_strategies_are_registered():
    assert set(TEAM_STRATEGIES) == {"team_equilibrium", "team_fixed_effort", "team_free_rider", "team_full_effort"}
    assert isinstance(make_scripted("team_equilibrium", theta=0.5), TeamEquilibriumMember)
    with pytest.raises(ValueError, match="theta"):
        make_scripted("team_equilibrium", theta=1.5)
    with pytest.raises(ValueError, match="theta"):
        make_scripted("team_equilibrium", theta="high")
    with pytest.raises(ValueError, match="effort"):
        make_scripted("team_fixed_effort", effort=-1.0)


def test_a_population_at_theta_zero_plays_the_free_riding_equilibrium_exactly():
    assert closed_form_effort(0.0, 25.0, 0.7, 1.0, 5, 0.8, 0.3, 50.0) == pytest.approx(FREE_RIDING_EFFORT, rel=1e-14)
    env = TeamProductionEnv(effort_grid=None, n_rounds=3)
    observations, _ = env.reset(seed=0)
    policy = ScriptedPolicy("team_equilibrium", {"theta": 0.0})
    policy.start_episode({a: env.rules(a) for a in env.agents}, np.random.default_rng(0))
    while env.agents:
        actions = policy.act_batch(_decisions(env, observations))
        observations, rewards, _, _, infos = env.step({a: act.value for a, act in zip(env.agents, actions)})
        for agent in infos:
            assert infos[agent]["effort"] == pytest.approx(FREE_RIDING_EFFORT, rel=1e-12)
            # pi* = 25 (5 a*)^0.7 / 5 - a* = 79.97616
            assert rewards[agent] == pytest.approx(79.97616204677526, rel=1e-12)
            # a Nash equilibrium: a unilateral step of 0.5 either way lowers the own payoff
            others = 4 * FREE_RIDING_EFFORT
            for step in (-0.5, 0.5):
                deviant = FREE_RIDING_EFFORT + step
                assert 25 * (others + deviant) ** 0.7 / 5 - deviant < rewards[agent]


def test_on_the_grid_the_equilibrium_member_takes_the_best_grid_point():
    env = TeamProductionEnv()
    observations, _ = env.reset()
    action = make_scripted("team_equilibrium").act(_decisions(env, observations)[0])
    # others at a* = 13.019: pi(10) = 25 (52.078 + 10)^0.7 / 5 - 10 = 79.9547 < pi(15) = 79.9672
    # (the closest grid point is 15 as well, but by utility, not by distance)
    assert action.value.tolist() == [15.0] and action.raw_text == "Answer: 15"
    others = 4 * FREE_RIDING_EFFORT
    assert 25 * (others + 10) ** 0.7 / 5 - 10 < 25 * (others + 15) ** 0.7 / 5 - 15


def test_loyal_members_work_more_and_heterogeneous_loyalty_leaves_the_work_to_the_most_loyal():
    env = TeamProductionEnv(effort_grid=None, a_max=2000.0)
    observations, _ = env.reset()
    loyal = TeamEquilibriumMember(theta=0.5).effort(observations["member_0"])
    # W(0.5) = [(1 + 0.4) 17.5 / (5 (1 - 0.15))]^(10/3) = 5.7647^(10/3); a = W / 5
    assert loyal == pytest.approx((1.4 * 17.5 / (5 * 0.85)) ** (10 / 3) / 5, rel=1e-12)
    mixed = TeamEquilibriumMember(theta=[0.9, 0, 0, 0, 0])
    efforts = [mixed.effort(observations[a]) for a in env.agents]
    # only member_0 works: a_0 = W(0.9) - 4 a_min, W(0.9) = [1.72 * 17.5 / (5 * 0.73)]^(10/3)
    assert efforts[0] == pytest.approx((1.72 * 17.5 / (5 * 0.73)) ** (10 / 3) - 4 * 0.01, rel=1e-12)
    assert efforts[1:] == [0.01] * 4
    with pytest.raises(ValueError, match="one value per seat"):
        TeamEquilibriumMember(theta=[0.9, 0.0]).effort(observations["member_0"])


def test_fixed_free_rider_and_full_effort_members():
    env = TeamProductionEnv(n_members=2)
    observations, _ = env.reset()
    (decision, _) = _decisions(env, observations)
    assert FixedEffortMember(12.5).act(decision).value.tolist() == [10.0]  # a tie: the lower point
    assert FixedEffortMember(13.0).act(decision).value.tolist() == [15.0]
    assert FreeRiderMember().act(decision).value.tolist() == [0.01]
    assert FullEffortMember().act(decision).value.tolist() == [50.0]
    env = TeamProductionEnv(n_members=2, effort_grid=None, a_max=30.0)
    observations, _ = env.reset()
    (decision, _) = _decisions(env, observations)
    assert FixedEffortMember(12.5).act(decision).value.tolist() == [12.5]
    assert FixedEffortMember(99.0).act(decision).value.tolist() == [30.0]
    assert FullEffortMember().act(decision).value.tolist() == [30.0]


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


def _records(env: TeamProductionEnv, rounds, fallbacks=frozenset(), utility_bonus: float = 0.0) -> pd.DataFrame:
    """Steps records as the runner writes them: one row per member per step, infos as columns."""
    env.reset(seed=0)
    rows = []
    for step, efforts in enumerate(rounds, start=1):
        _, rewards, _, _, infos = env.step(_efforts(env, efforts))
        for agent, info in infos.items():
            rows.append({"episode": 0, "step": step, "agent": agent, "decided": True,
                         "fallback_used": (step, agent) in fallbacks, "reward": rewards[agent],
                         "utility": rewards[agent] + utility_bonus, **info})
    return pd.DataFrame(rows)


def _two_rounds(**kwargs) -> pd.DataFrame:
    env = TeamProductionEnv(n_members=2, omega=10.0, beta=0.5, c=1.0, a_min=0.0, a_max=100.0, n_rounds=2)
    # round 1: S = 16, Q = 40: pi = 16, 8; round 2: S = 9, Q = 30: pi = 7, 14
    return _records(env, [[4, 12], [8, 1]], **kwargs)


def test_metrics_by_hand():
    metrics = tp.team_production_metrics(_two_rounds())
    # free riding with n = 2: S* = (10 * 0.5 / 2)^2 = 6.25, a* = 3.125; team optimum S = (10 * 0.5)^2 = 25,
    # a = 12.5, payoff 10 * 5 / 2 - 12.5 = 12.5
    assert metrics["mean_effort"] == pytest.approx(6.25)
    assert metrics["final_mean_effort"] == pytest.approx(4.5)
    assert metrics["mean_output"] == pytest.approx(35.0)
    assert metrics["mean_payoff"] == pytest.approx(11.25)
    assert metrics["mean_utility"] == pytest.approx(11.25)
    assert metrics["equilibrium_effort"] == pytest.approx(3.125)
    assert metrics["team_optimum_effort"] == pytest.approx(12.5)
    assert metrics["effort_ratio_to_equilibrium"] == pytest.approx(2.0)
    assert metrics["efficiency"] == pytest.approx(0.9)
    assert (metrics["rounds"], metrics["members"], metrics["episodes"]) == (2, 2, 1)
    assert (metrics["valid_decisions"], metrics["fallbacks"], metrics["clipped_efforts"]) == (4, 0, 0)
    assert "nan_reasons" not in metrics
    assert WORLD_METRICS[tp.WORLD_ID] is tp.team_production_metrics
    assert world_metrics(tp.WORLD_ID, _two_rounds()) == metrics


def test_fallbacks_are_left_out_of_the_effort_but_not_of_the_payoff():
    metrics = tp.team_production_metrics(_two_rounds(fallbacks={(2, "member_1")}))
    assert metrics["mean_effort"] == pytest.approx((4 + 12 + 8) / 3)
    assert metrics["final_mean_effort"] == pytest.approx(8.0)
    assert metrics["mean_payoff"] == pytest.approx(11.25)
    assert (metrics["valid_decisions"], metrics["fallbacks"]) == (3, 1)
    every = tp.team_production_metrics(_two_rounds(fallbacks={(1, "member_0"), (1, "member_1"), (2, "member_0"),
                                                              (2, "member_1")}))
    assert math.isnan(every["mean_effort"]) and "4 fallbacks" in every["nan_reasons"]["mean_effort"]
    table = tp.round_table(_two_rounds(fallbacks={(2, "member_1")}))
    assert table["mean_effort"].tolist() == pytest.approx([8.0, 8.0]) and table["fallbacks"].tolist() == [0, 1]


def test_metrics_of_nothing_and_of_other_records():
    empty = tp.team_production_metrics(pd.DataFrame())
    assert math.isnan(empty["mean_effort"]) and empty["nan_reasons"]["mean_effort"] == "no steps recorded"
    with pytest.raises(ValueError, match="effort"):
        tp.team_production_metrics(pd.DataFrame({"episode": [0], "step": [1], "agent": ["x"], "reward": [1.0]}))


def test_per_member_table_and_outcome():
    frame = tp.payoff_by_member(_two_rounds())
    assert frame["agent"].tolist() == ["member_0", "member_1"]
    assert frame["mean_effort"].tolist() == pytest.approx([6.0, 6.5])
    assert frame["mean_payoff"].tolist() == pytest.approx([11.5, 11.0])
    assert frame["total_payoff"].tolist() == pytest.approx([23.0, 22.0])
    assert tp.team_production_outcome(_two_rounds()) == (
        "mean effort 6.25 (free-riding equilibrium 3.125, team optimum 12.5); mean payoff 11.25 per member and round")


def test_figures_draw_and_say_when_utility_is_not_the_reward():
    figures = team_production_figures({"run": _two_rounds()})
    assert [title for title, _ in figures] == ["Effort by round against the equilibrium", "Effort and payoff per member",
                                               "Chosen effort against the equilibrium curve"]
    effort_axes = figures[0][1].axes[0]
    labels = effort_axes.get_legend_handles_labels()[1]
    assert "free-riding equilibrium (theta 0): 3.125" in labels and "team optimum: 12.5" in labels
    assert "utility differs" not in effort_axes.get_title()
    transformed = plot_effort_by_round(_two_rounds(utility_bonus=1.0), theta=[0.0, 0.5])
    assert "utility differs from reward (a utility transform" in transformed.axes[0].get_title()
    # theta 0.5 with n = 2: W = [1.4 * 10 * 0.5 / (2 * 0.85)]^2 = 4.1176^2 = 16.955, a = 8.478
    assert f"equilibrium at theta 0.5: {(1.4 * 5 / 1.7) ** 2 / 2:.4g}" in transformed.axes[0].get_legend_handles_labels()[1]
    missing = plot_effort_by_round(pd.DataFrame({"episode": [0]}))
    assert "skipped" in missing.axes[0].texts[0].get_text()
    plt.close("all")


def test_a_real_run_through_the_runner(tmp_path):
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import execute

    config = validate({"name": "tiny-team", "seeds": [0],
                       "world": {"id": "team-production", "kwargs": {"n_rounds": 2, "effort_grid": None}},
                       "agents": {"kind": "scripted", "strategy": "team_equilibrium"}})
    result = execute(config, tmp_path / "runs", progress=False)
    steps = pd.read_parquet(result.run_dir / "steps.parquet")
    metrics = tp.team_production_metrics(steps)
    assert metrics["mean_effort"] == pytest.approx(FREE_RIDING_EFFORT, rel=1e-12)
    assert metrics["equilibrium_effort"] == pytest.approx(FREE_RIDING_EFFORT, rel=1e-12)
    assert metrics["effort_ratio_to_equilibrium"] == pytest.approx(1.0, rel=1e-12)
    # the equilibrium payoff 79.976 against the team optimum (everyone at a_max = 50): 25 * 250^0.7 / 5 - 50 = 188.52
    assert metrics["efficiency"] == pytest.approx(79.97616204677526 / 188.52176283216795, rel=1e-9)
    assert (metrics["rounds"], metrics["valid_decisions"], metrics["fallbacks"]) == (2, 10, 0)


def test_loyal_members_under_the_loyalty_utility_through_the_runner(tmp_path):
    from dilemmazoo.envs.loyalty import loyalty_utilities
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import execute

    config = validate({"name": "loyal-team", "seeds": [0],
                       "world": {"id": "team-production", "kwargs": {"n_rounds": 2, "effort_grid": None, "a_max": 100.0}},
                       "agents": {"kind": "scripted", "strategy": "team_equilibrium", "params": {"theta": 0.5}},
                       "utility": {"name": "loyalty", "kwargs": {"theta": 0.5}}})
    steps = pd.read_parquet(execute(config, tmp_path / "runs", progress=False).run_dir / "steps.parquet")
    # W(0.5) = [1.4 * 17.5 / (5 * 0.85)]^(10/3) = 343.2, a = 68.64 (below a_max = 100)
    loyal = (1.4 * 17.5 / (5 * 0.85)) ** (10 / 3) / 5
    assert steps["effort"].to_numpy() == pytest.approx(np.full(10, loyal), rel=1e-12)
    # the utility is the paper's U_i = pi_i + theta (phi_b pibar_-i + phi_c c a_i), from the world's cost column
    first = steps[steps["step"] == 1].sort_values("agent")
    expected = loyalty_utilities(first["reward"].to_numpy(), first["cost"].to_numpy(), 0.5, 0.8, 0.3)
    assert first["utility"].to_numpy() == pytest.approx(expected, rel=1e-12)
    metrics = tp.team_production_metrics(steps)
    assert tp.utility_differs(steps) and metrics["mean_utility"] > metrics["mean_payoff"]
    assert metrics["effort_ratio_to_equilibrium"] == pytest.approx(loyal / FREE_RIDING_EFFORT, rel=1e-12)


def test_a_told_loyalty_is_in_the_rules_and_the_records_and_drawn_on_the_curve(tmp_path):
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import execute

    plain = TeamProductionEnv(n_members=3)
    told = TeamProductionEnv(n_members=3, told_loyalty=0.7)
    assert "loyal" not in plain.rules("member_0")
    # theta phi_B = 0.7 x 0.8 = 0.56 of a point per teammate point; theta phi_C = 0.7 x 0.3 = 0.21 of own cost
    text = told.rules("member_0")
    assert "loyalty 0.7" in text and "at 0.56 of a point" in text and "count 0.21 of each point" in text
    assert "as many points as possible" not in text
    assert "loyal" not in TeamProductionEnv(n_members=1, told_loyalty=0.7).rules("member_0")  # no teammates to care about
    config = validate({
        "name": "told", "world": {"id": "team-production", "kwargs": {"n_members": 3, "n_rounds": 2, "told_loyalty": 0.7}},
        "agents": {"kind": "scripted", "strategy": "team_fixed_effort", "params": {"effort": 20.0}},
    })
    steps = execute(config, tmp_path, progress=False).steps
    played = tp.member_rows(steps)
    assert set(played["told_loyalty"]) == {0.7} and set(played["effort"]) == {20.0}
    figures = dict(team_production_figures({"run": steps}))
    effort_labels = figures["Effort by round against the equilibrium"].axes[0].get_legend_handles_labels()[1]
    loyal = closed_form_effort(0.7, omega=25.0, beta=0.7, c=1.0, n=3, phi_b=0.8, phi_c=0.3, a_max=50.0)
    assert any(label.startswith("equilibrium at theta 0.7") for label in effort_labels) and loyal == 50.0
    curve = figures["Chosen effort against the equilibrium curve"].axes[0]
    points = curve.collections[0].get_offsets()
    assert points.tolist() == [[0.7, 20.0]]  # the run's mean chosen effort at the loyalty it was told
    plt.close("all")
