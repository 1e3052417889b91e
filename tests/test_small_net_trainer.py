"""Small-net PPO with the Advantage Alignment credit on the iterated prisoner's dilemma
(agents/trainers/small_net.py; Duque et al., "Advantage Alignment Algorithms", ICLR 2025)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dilemmazoo.agents.trainers.small_net import (  # noqa: E402  (after the torch check)
    MemoryOnePolicy,
    VectorIPD,
    conditional_cooperation,
    evaluate_against,
    ipd_observations,
    ipd_payoffs,
    reciprocity,
    train_ipd,
)

C, D = True, False


@pytest.mark.parametrize("own, other, expected", [(1, 1, 3.0), (1, 0, 0.0), (0, 1, 5.0), (0, 0, 1.0)])
def test_ipd_payoffs_table(own, other, expected):
    assert ipd_payoffs(own, other) == expected
    assert ipd_payoffs(torch.tensor([bool(own)]), torch.tensor([bool(other)])).item() == expected
    assert ipd_payoffs(np.array([own]), np.array([other]), R=4, S=-1, T=6, P=0)[0] == {
        (1, 1): 4, (1, 0): -1, (0, 1): 6, (0, 0): 0}[(own, other)]


def test_observations_encode_the_last_joint_move_from_each_seat():
    first = ipd_observations(None, None, 2)
    assert first.tolist() == [[1, 0, 0, 0, 0]] * 2
    own = torch.tensor([C, C, D, D])
    other = torch.tensor([C, D, C, D])
    assert ipd_observations(own, other, 4).tolist() == [
        [0, 1, 0, 0, 0],  # CC
        [0, 0, 1, 0, 0],  # CD: I cooperated, the other defected
        [0, 0, 0, 1, 0],  # DC
        [0, 0, 0, 0, 1],  # DD
    ]


def test_vector_ipd_plays_exact_payoffs_and_ends():
    env = VectorIPD(games=4, rounds=2)
    obs_first, obs_second = env.reset()
    assert obs_first[:, 0].tolist() == [1.0] * 4
    moves_first = torch.tensor([C, C, D, D])
    moves_second = torch.tensor([C, D, C, D])
    (obs_first, obs_second), (reward_first, reward_second), done = env.step(moves_first, moves_second)
    assert reward_first.tolist() == [3.0, 0.0, 5.0, 1.0]
    assert reward_second.tolist() == [3.0, 5.0, 0.0, 1.0]
    assert not done
    # each seat sees (own, other): game 1 is CD for the first seat and DC for the second
    assert obs_first.argmax(1).tolist() == [1, 2, 3, 4]
    assert obs_second.argmax(1).tolist() == [1, 3, 2, 4]
    _, (reward_first, _), done = env.step(torch.tensor([D] * 4), torch.tensor([D] * 4))
    assert reward_first.tolist() == [1.0] * 4
    assert done
    with pytest.raises(RuntimeError, match="reset"):
        env.step(moves_first, moves_second)


def test_vector_ipd_argument_errors():
    with pytest.raises(ValueError, match="games"):
        VectorIPD(games=0)
    with pytest.raises(ValueError, match="rounds"):
        VectorIPD(games=2, rounds=0)
    with pytest.raises(ValueError, match="payoffs"):
        VectorIPD(games=2, payoffs={"R": 3.0})


def test_reciprocity_reads_each_state_in_order():
    policy = MemoryOnePolicy(hidden=4)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.zero_()
        assert reciprocity(policy) == pytest.approx(
            {"p_c_first": 0.5, "p_c_after_CC": 0.5, "p_c_after_CD": 0.5, "p_c_after_DC": 0.5, "p_c_after_DD": 0.5})
        # one hidden unit fires only in state CD (input index 2) and pushes P(C) down there
        policy.net[0].weight[0, 2] = 10.0
        policy.net[2].weight[0, 0] = 10.0
        policy.net[4].weight[0, 0] = -10.0
    table = reciprocity(policy)
    assert table["p_c_after_CD"] < 1e-3
    assert [table[k] for k in ("p_c_first", "p_c_after_CC", "p_c_after_DC", "p_c_after_DD")] == [0.5] * 4


def test_conditional_cooperation_counts_visited_states():
    # seat 0: C C D ; seat 1: C D C  (one game, three rounds)
    actions = torch.tensor([[[C, C, D]], [[C, D, C]]])
    # rounds 2-3, opponent's previous move:
    #   seat 0 sees seat 1's C then D and plays C then D -> after C: 1/1, after D: 0/1
    #   seat 1 sees seat 0's C then C and plays D then C -> after C: 1/2
    rates = conditional_cooperation(actions)
    assert rates["p_c_given_opp_c"] == pytest.approx(2 / 3)
    assert rates["p_c_given_opp_d"] == pytest.approx(0.0)
    all_cooperate = torch.ones(2, 3, 4, dtype=torch.bool)
    assert math.isnan(conditional_cooperation(all_cooperate)["p_c_given_opp_d"])


def _constant_policy(probability: float) -> MemoryOnePolicy:
    policy = MemoryOnePolicy(hidden=2)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.zero_()
        policy.net[4].bias.fill_(math.log(probability / (1 - probability)) if 0 < probability < 1 else
                                 (50.0 if probability == 1 else -50.0))
    return policy


def test_evaluate_against_fixed_opponents_exact():
    cooperator, defector = _constant_policy(1.0), _constant_policy(0.0)
    assert evaluate_against(cooperator, "always_defect") == pytest.approx(
        {"return_per_round": 0.0, "opponent_return_per_round": 5.0, "cooperation_rate": 1.0})
    assert evaluate_against(defector, "always_cooperate") == pytest.approx(
        {"return_per_round": 5.0, "opponent_return_per_round": 0.0, "cooperation_rate": 0.0})
    assert evaluate_against(cooperator, cooperator, games=3, rounds=4)["return_per_round"] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="opponent"):
        evaluate_against(cooperator, "tit_for_tat")


def test_evaluate_against_is_seeded():
    coin = _constant_policy(0.5)
    first = evaluate_against(coin, coin, games=64, seed=3)
    assert first == evaluate_against(coin, coin, games=64, seed=3)
    assert first != evaluate_against(coin, coin, games=64, seed=4)
    assert 0.3 < first["cooperation_rate"] < 0.7


SMALL = dict(iterations=3, groups=4, group_size=4, rounds=5, hidden=8)


@pytest.mark.parametrize("method", ["naive", "sum_rewards", "aa"])
def test_a_few_iterations_run_with_finite_losses(method):
    result = train_ipd(method, seed=0, **SMALL)
    assert len(result.history) == 3
    assert [row["iteration"] for row in result.history] == [0, 1, 2]
    for row in result.history:
        assert math.isfinite(row["loss"]) and math.isfinite(row["entropy"])
        assert 0.0 <= row["cooperation_rate"] <= 1.0
        assert 0.0 <= row["mean_return_per_round"] <= 5.0
    assert result.final is result.history[-1]
    assert result.config["beta"] == 2.0 and result.config["reward_scale"] == 5.0


def test_seeded_runs_repeat_exactly_and_leave_global_torch_state_alone():
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    first = train_ipd("aa", seed=7, **SMALL)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    second = train_ipd("aa", seed=7, **SMALL)
    assert first.history == second.history
    for a, b in zip(first.policies, second.policies):
        for pa, pb in zip(a.parameters(), b.parameters()):
            assert torch.equal(pa, pb)
    other = train_ipd("aa", seed=8, **SMALL)
    assert other.history != first.history


def test_argument_errors():
    with pytest.raises(ValueError, match="method"):
        train_ipd("lola", **SMALL)
    with pytest.raises(ValueError, match="group_size"):
        train_ipd("aa", iterations=1, group_size=1)
    with pytest.raises(ValueError, match="iterations"):
        train_ipd("aa", iterations=0)
    with pytest.raises(ValueError, match="aa_form"):
        train_ipd("aa", iterations=1, aa_form="k<=t")


def test_naive_defects_and_advantage_alignment_reciprocates():
    """The paper's qualitative result at the default settings (about 5 s on one CPU core)."""
    naive = train_ipd("naive", iterations=120, seed=0)
    assert naive.final["cooperation_rate"] < 0.05
    assert naive.final["mean_return_per_round"] < 1.1
    aa = train_ipd("aa", iterations=200, seed=0)
    for policy in aa.policies:
        table = reciprocity(policy)
        assert table["p_c_first"] > 0.9
        assert table["p_c_after_CC"] > 0.9
        assert table["p_c_after_CD"] < 0.1  # retaliates against a defection
        assert table["p_c_after_DD"] < 0.1
    assert aa.final["mean_return_per_round"] > 2.3
    assert aa.final["p_c_given_opp_d"] < 0.1
    # reciprocity is what keeps it from being exploited: about tit-for-tat's 0.9 against always-defect
    for policy in aa.policies:
        assert evaluate_against(policy, "always_defect")["return_per_round"] > 0.85
