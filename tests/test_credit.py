"""Exact tests of the trainers' credit math (agents/trainers/credit.py) against hand-computed tables.

Sources of the formulas: Duque et al., "Advantage Alignment Algorithms" (ICLR 2025); arXiv 2511.19405
(group-relative baseline, presets); Yu et al., arXiv 2602.05548 (A-GRAE, the form documented in credit.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.agents.trainers.credit import (
    CREDIT_PRESETS,
    advantage_alignment_credit,
    advantage_alignment_weights,
    agrae_advantages,
    agrae_weights,
    credit_from_rewards,
    group_advantages,
    leave_one_out_baseline,
    n_player_aa_credit,
    n_player_credit,
    naive_credit,
    returns_to_go,
    round_credit_to_tokens,
    sum_of_rewards_credit,
)

# K = 3 matches, T = 3 steps, gamma = 0.5, worked by hand:
#   [1, 2, 3]: G_2 = 3, G_1 = 2 + 0.5 * 3 = 3.5, G_0 = 1 + 0.5 * 3.5 = 2.75
#   [4, 0, 2]: G_2 = 2, G_1 = 0 + 1 = 1,          G_0 = 4 + 0.5 = 4.5
#   [0, 0, 0]: all 0
REWARDS = [[1.0, 2.0, 3.0], [4.0, 0.0, 2.0], [0.0, 0.0, 0.0]]
RETURNS = [[2.75, 3.5, 3.0], [4.5, 1.0, 2.0], [0.0, 0.0, 0.0]]
# mean of the other two rows at each step
BASELINE = [[2.25, 0.5, 1.0], [1.375, 1.75, 1.5], [3.625, 2.25, 2.5]]
ADVANTAGES = [[0.5, 3.0, 2.0], [3.125, -0.75, 0.5], [-3.625, -2.25, -2.5]]


def test_returns_to_go_table():
    assert returns_to_go(REWARDS, gamma=0.5) == pytest.approx(np.array(RETURNS))


def test_returns_to_go_scale_and_gamma_one():
    assert returns_to_go([[1.0, 2.0, 3.0]], gamma=0.5, scale=2.0) == pytest.approx(np.array([[1.375, 1.75, 1.5]]))
    assert returns_to_go([1.0, 2.0, 3.0], gamma=1.0) == pytest.approx(np.array([6.0, 5.0, 3.0]))
    assert returns_to_go([1.0, 2.0, 3.0], gamma=0.0) == pytest.approx(np.array([1.0, 2.0, 3.0]))


def test_leave_one_out_baseline_and_advantages_table():
    assert leave_one_out_baseline(RETURNS) == pytest.approx(np.array(BASELINE))
    assert group_advantages(RETURNS) == pytest.approx(np.array(ADVANTAGES))


def test_group_advantages_sum_to_zero_over_the_group():
    returns = np.random.default_rng(0).normal(size=(5, 7))
    assert group_advantages(returns).sum(axis=0) == pytest.approx(np.zeros(7), abs=1e-12)


def test_group_axis_handles_a_batch_of_groups():
    rng = np.random.default_rng(1)
    batch = rng.normal(size=(4, 3, 6))  # (groups, K, T)
    batched = group_advantages(batch, group_axis=1)
    for g in range(4):
        assert batched[g] == pytest.approx(group_advantages(batch[g]))


def test_baseline_needs_two_matches():
    with pytest.raises(ValueError, match="K >= 2"):
        leave_one_out_baseline([[1.0, 2.0]])
    with pytest.raises(ValueError, match="group_axis"):
        leave_one_out_baseline([[1.0, 2.0]], group_axis=3)


def test_bad_discount_and_scale():
    with pytest.raises(ValueError, match="gamma"):
        returns_to_go([1.0], gamma=1.5)
    with pytest.raises(ValueError, match="scale"):
        returns_to_go([1.0], gamma=0.5, scale=0.0)
    with pytest.raises(ValueError, match="time last"):
        returns_to_go(3.0, gamma=0.5)


def test_naive_and_sum_of_rewards():
    own = np.array([[1.0, -2.0], [0.5, 0.0]])
    other = np.array([[3.0, 1.0], [-0.5, 2.0]])
    assert naive_credit(own) == pytest.approx(own)
    assert naive_credit(own) is not own
    assert sum_of_rewards_credit(own, other) == pytest.approx(np.array([[4.0, -1.0], [0.0, 2.0]]))
    with pytest.raises(ValueError, match="same shape"):
        sum_of_rewards_credit(own, other[:, :1])


# Advantage Alignment, gamma_aa = 0.5, beta = 2, A1 = [1, 2, -1], A2 = [3, -1, 2]:
#   original: w = 0.5 * [0, 0.5 * 1, 0.25 * 1 + 0.5 * 2] = [0, 0.25, 0.625]
#             credit = [1 + 0, 2 + 2 * 0.25 * -1, -1 + 2 * 0.625 * 2] = [1, 1.5, 1.5]
#   jit:      w = 0.5 * [1, 0.5 + 2, 0.25 + 1 - 1] = [0.5, 1.25, 0.125]
#             credit = [1 + 2 * 0.5 * 3, 2 + 2 * 1.25 * -1, -1 + 2 * 0.125 * 2] = [4, -0.5, -0.5]
A1 = [1.0, 2.0, -1.0]
A2 = [3.0, -1.0, 2.0]


@pytest.mark.parametrize(
    "form, weights, credit",
    [("original", [0.0, 0.25, 0.625], [1.0, 1.5, 1.5]), ("jit", [0.5, 1.25, 0.125], [4.0, -0.5, -0.5])],
)
def test_advantage_alignment_table(form, weights, credit):
    assert advantage_alignment_weights(A1, 0.5, form) == pytest.approx(np.array(weights))
    assert advantage_alignment_credit(A1, A2, beta=2.0, gamma_aa=0.5, form=form) == pytest.approx(np.array(credit))


def test_advantage_alignment_over_matches_is_row_by_row():
    own = np.array([A1, [0.0, 1.0, 1.0]])
    other = np.array([A2, [1.0, 1.0, 1.0]])
    # second row, original form: w = 0.5 * [0, 0, 0.5 * 1] = [0, 0, 0.25]; credit = [0, 1, 1 + 2 * 0.25]
    expected = np.array([[1.0, 1.5, 1.5], [0.0, 1.0, 1.5]])
    assert advantage_alignment_credit(own, other, beta=2.0, gamma_aa=0.5) == pytest.approx(expected)


def test_advantage_alignment_matches_the_double_sum():
    rng = np.random.default_rng(2)
    own, other = rng.normal(size=(2, 4, 6))
    beta, gamma_aa = 0.7, 0.9
    for form, inclusive in (("original", 0), ("jit", 1)):
        expected = np.empty_like(own)
        for t in range(6):
            past = sum(gamma_aa ** (t - k) * own[:, k] for k in range(t + inclusive))
            expected[:, t] = own[:, t] + beta * gamma_aa * past * other[:, t]
        assert advantage_alignment_credit(own, other, beta, gamma_aa, form) == pytest.approx(expected)


@pytest.mark.parametrize("form", ["original", "jit"])
def test_beta_zero_is_naive(form):
    rng = np.random.default_rng(3)
    for _ in range(5):
        own, other = rng.normal(size=(2, 3, 5))
        assert advantage_alignment_credit(own, other, 0.0, 0.9, form) == pytest.approx(naive_credit(own))
        # a co-player whose advantage is 0 adds nothing either
        assert advantage_alignment_credit(own, np.zeros_like(own), 2.0, 0.9, form) == pytest.approx(own)


def test_advantage_alignment_errors():
    with pytest.raises(ValueError, match="form"):
        advantage_alignment_credit(A1, A2, 1.0, 0.9, form="k<=t")
    with pytest.raises(ValueError, match="gamma_aa"):
        advantage_alignment_credit(A1, A2, 1.0, -0.1)
    with pytest.raises(ValueError, match="same shape"):
        advantage_alignment_credit(A1, A2[:2], 1.0, 0.9)


# N = 3 agents, T = 3, beta = 1 (t 1-based):
#   agent 0: [1, 2, 3], agent 1: [0, -1, 2], agent 2: [2, 1, -1]
#   t = 1: aa = 0 for everyone (empty past)
#   t = 2: past = (1, 0, 2), others = (-1 + 1, 2 + 1, 2 - 1) = (0, 3, 1) -> aa = (0, 0, 1)
#   t = 3: past = (3, -1, 3), others = (2 - 1, 3 - 1, 3 + 2) = (1, 2, 5) -> aa = (1, -2/3, 5)
N_PLAYER_A = [[1.0, 2.0, 3.0], [0.0, -1.0, 2.0], [2.0, 1.0, -1.0]]
N_PLAYER_CREDIT = [[1.0, 2.0, 4.0], [0.0, -1.0, 4.0 / 3.0], [2.0, 2.0, 4.0]]


def test_n_player_aa_table():
    assert n_player_aa_credit(N_PLAYER_A, beta=1.0) == pytest.approx(np.array(N_PLAYER_CREDIT))
    # beta scales the term: beta = 0.5 halves (0, 0, 1) and (1, -2/3, 5)
    half = n_player_aa_credit(N_PLAYER_A, beta=0.5)
    assert half[:, 2] == pytest.approx(np.array([3.5, 2.0 - 1.0 / 3.0, 1.5]))


def test_n_player_aa_batched_over_matches_and_first_step():
    rng = np.random.default_rng(4)
    advantages = rng.normal(size=(5, 3, 4))  # (K, N, T)
    credit = n_player_aa_credit(advantages, beta=2.0)
    assert credit.shape == (5, 3, 4)
    assert credit[:, :, 0] == pytest.approx(advantages[:, :, 0])  # t = 1: no past
    assert credit[1] == pytest.approx(n_player_aa_credit(advantages[1], beta=2.0))
    assert n_player_aa_credit(advantages, beta=0.0) == pytest.approx(advantages)


def test_n_player_aa_errors():
    with pytest.raises(ValueError, match="N >= 2"):
        n_player_aa_credit([[1.0, 2.0]], beta=1.0)
    with pytest.raises(ValueError, match="dimension"):
        n_player_aa_credit([1.0, 2.0], beta=1.0)


@pytest.mark.parametrize(
    "success, progress, expected",
    [
        ([True, True, False, False], 0.0, [0.7, 0.7, 1.0, 1.0]),  # rate 1/2: curriculum weight 1
        ([True, True, True, False], 0.0, [0.875, 0.875, 0.875, 1.25]),  # easy group early: 1 + 0.25
        ([True, True, True, False], 0.5, [0.7, 0.7, 0.7, 1.0]),  # mid-training: 1
        ([True, True, True, False], 1.0, [0.525, 0.525, 0.525, 0.75]),  # easy group late: 1 - 0.25
        ([False, False, False, True], 1.0, [1.25, 1.25, 1.25, 0.875]),  # hard group late: 1 + 0.25
    ],
)
def test_agrae_weights_table(success, progress, expected):
    weights = agrae_weights(np.array(success), progress, suppression=0.3, curriculum=1.0)
    assert weights == pytest.approx(np.array(expected))


def test_agrae_advantages_table():
    advantages = np.array([[1.0, -1.0], [0.5, 0.5], [-2.0, 1.0], [-1.0, 3.0]])  # (K=4, T=2)
    success = np.array([True, True, True, False])
    # curriculum weight 1.25 (rate 3/4, progress 0); successful positive entries also * 0.7
    expected = np.array([[0.875, -1.25], [0.4375, 0.4375], [-2.5, 0.875], [-1.25, 3.75]])
    assert agrae_advantages(advantages, success, 0.0, suppression=0.3, curriculum=1.0) == pytest.approx(expected)
    # no suppression, no curriculum: unchanged
    assert agrae_advantages(advantages, success, 0.3, suppression=0.0, curriculum=0.0) == pytest.approx(advantages)


def test_agrae_errors():
    with pytest.raises(ValueError, match="progress"):
        agrae_weights(np.array([True, False]), 1.5)
    with pytest.raises(ValueError, match="boolean"):
        agrae_weights(np.array([1, 0]), 0.5)
    with pytest.raises(ValueError, match="curriculum"):
        agrae_weights(np.array([True, False]), 0.5, curriculum=3.0)
    with pytest.raises(ValueError, match="success_mask shape"):
        agrae_advantages(np.zeros((3, 2)), np.array([True, False]), 0.5)


def test_credit_presets():
    assert set(CREDIT_PRESETS) == {"trust_split", "ipd", "split_nocomm"}
    values = {name: (p.beta, p.gamma_aa, p.gamma, p.reward_scale, p.group_size) for name, p in CREDIT_PRESETS.items()}
    assert values == {
        "trust_split": (2.0, 0.96, 0.96, 100.0, 8),
        "ipd": (0.5, 0.9, 0.9, 5.0, 8),
        "split_nocomm": (1.0, 0.9, 0.9, 100.0, 8),
    }


def test_round_credit_to_tokens():
    tokens = round_credit_to_tokens([10.0, 20.0, 30.0], [-1, 0, 0, 1, 2, 2, -1])
    assert tokens == pytest.approx(np.array([0.0, 10.0, 10.0, 20.0, 30.0, 30.0, 0.0]))
    batched = round_credit_to_tokens([[1.0, 2.0], [3.0, 4.0]], [[0, 1, -1], [1, 1, 0]], fill=-9.0)
    assert batched == pytest.approx(np.array([[1.0, 2.0, -9.0], [4.0, 4.0, 3.0]]))
    # one index row shared by every match
    shared = round_credit_to_tokens([[1.0, 2.0], [3.0, 4.0]], [1, 0])
    assert shared == pytest.approx(np.array([[2.0, 1.0], [4.0, 3.0]]))


def test_round_credit_to_tokens_errors():
    with pytest.raises(ValueError, match=r"\[-1, 2\]"):
        round_credit_to_tokens([1.0, 2.0, 3.0], [0, 3])
    with pytest.raises(ValueError, match="integers"):
        round_credit_to_tokens([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="does not fit"):
        round_credit_to_tokens([[1.0, 2.0], [3.0, 4.0]], [[0, 1], [1, 0], [0, 0]])


def test_credit_from_rewards_pipeline():
    other_rewards = [[0.0, 1.0, 0.0], [2.0, 2.0, 2.0], [1.0, 0.0, 1.0]]
    own_adv = group_advantages(returns_to_go(REWARDS, 0.5))
    other_adv = group_advantages(returns_to_go(other_rewards, 0.5))
    kwargs = dict(gamma=0.5, reward_scale=1.0, beta=2.0, gamma_aa=0.5)
    assert credit_from_rewards("naive", REWARDS, other_rewards, **kwargs) == pytest.approx(np.array(ADVANTAGES))
    assert credit_from_rewards("sum_rewards", REWARDS, other_rewards, **kwargs) == pytest.approx(own_adv + other_adv)
    assert credit_from_rewards("aa", REWARDS, other_rewards, **kwargs) == pytest.approx(
        advantage_alignment_credit(own_adv, other_adv, 2.0, 0.5))
    with pytest.raises(ValueError, match="method"):
        credit_from_rewards("lola", REWARDS, other_rewards, gamma=0.5)


# n_player_credit on the N = 3 table above: the sums over agents at t = 1, 2, 3 are
#   1 + 0 + 2 = 3, 2 - 1 + 1 = 2, 3 + 2 - 1 = 4, so sum_rewards gives every agent [3, 2, 4];
#   agent 1 at t = 3, say: own 2 plus the co-players' 3 - 1 = 2 -> 4.
N_PLAYER_SUM_REWARDS = [[3.0, 2.0, 4.0], [3.0, 2.0, 4.0], [3.0, 2.0, 4.0]]


def test_n_player_credit_dispatches_to_the_three_rules():
    advantages = np.array(N_PLAYER_A)
    naive = n_player_credit("naive", advantages, beta=5.0)  # beta is ignored by naive
    assert np.array_equal(naive, advantages) and naive is not advantages
    assert n_player_credit("sum_rewards", advantages) == pytest.approx(np.array(N_PLAYER_SUM_REWARDS))
    assert n_player_credit("aa", advantages, beta=1.0) == pytest.approx(np.array(N_PLAYER_CREDIT))
    assert n_player_credit("aa", advantages, beta=0.0) == pytest.approx(advantages)
    # two players: the same numbers as the two-player sum-of-rewards rule
    two = np.array([[1.0, -2.0, 0.5], [3.0, 1.0, -1.0]])
    assert n_player_credit("sum_rewards", two) == pytest.approx(
        np.stack([sum_of_rewards_credit(two[0], two[1]), sum_of_rewards_credit(two[1], two[0])]))
    assert np.array_equal(advantages, np.array(N_PLAYER_A))  # input untouched


def test_n_player_credit_batched_over_episodes():
    advantages = np.random.default_rng(6).normal(size=(4, 3, 5))  # (episodes, N, T)
    for method in ("naive", "sum_rewards", "aa"):
        credit = n_player_credit(method, advantages, beta=0.7)
        assert credit.shape == advantages.shape
        assert credit[2] == pytest.approx(n_player_credit(method, advantages[2], beta=0.7))
    assert n_player_credit("aa", advantages, beta=0.7) == pytest.approx(n_player_aa_credit(advantages, 0.7))


def test_n_player_credit_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        n_player_credit("lola", N_PLAYER_A)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        n_player_credit("aa", N_PLAYER_A, beta=-1.0)
    with pytest.raises(ValueError, match="dimension"):
        n_player_credit("sum_rewards", [1.0, 2.0])
    with pytest.raises(ValueError, match="N >= 2"):
        n_player_credit("aa", [[1.0, 2.0]], beta=1.0)


def test_agrae_success_mask_against_the_group_mean_or_a_threshold():
    from dilemmazoo.agents.trainers.credit import agrae_success_mask

    scores = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 1.0]])
    # groups on axis 1: means 2 and 3
    assert agrae_success_mask(scores, group_axis=1).tolist() == [[False, False, True], [True, True, False]]
    # groups on axis 0: column means 2.5, 3, 2
    assert agrae_success_mask(scores).tolist() == [[False, False, True], [True, True, False]]
    assert agrae_success_mask(scores, threshold=2.0).tolist() == [[False, False, True], [True, True, False]]
    assert agrae_success_mask([1.0, 1.0]).tolist() == [False, False]  # equal to the mean: no success
