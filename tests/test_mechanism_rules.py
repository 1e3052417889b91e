"""Exact tests of CoopEval's mechanism rules (Tewolde et al., arXiv 2604.15267) in the envs layer:
budget-balanced contract transfers, the mediator's remapping of delegators, approval voting."""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.envs import institutions
from dilemmazoo.envs.institutions import contracts, mediation, voting
from dilemmazoo.envs.institutions.contracts import LinearContract, contract_values, transfers
from dilemmazoo.envs.institutions.mediation import check_mediator, delegators, play
from dilemmazoo.envs.institutions.voting import approval_counts, approval_vote, approval_winners

# --------------------------------------------------------------------------------------------
# Contracts: transfer_i = c(a_i) - sum_{j != i} c(a_j) / (N - 1)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, actions, expected",
    [
        ([0, 1], [0, 1], [-1.0, 1.0]),  # PD contract paying 1 for action 1: the defector is paid by the cooperator
        ([0, 1], [1, 1], [0.0, 0.0]),  # same action: nothing changes hands
        ([0, -2], [1, 0], [-2.0, 2.0]),  # a negative value: playing it pays the other seat
        ((0, 1), [1, 0], [1.0, -1.0]),  # a 2-tuple is a per-action contract, not (rate, constant)
        ([3, 0, -3], [0, 1, 2], [4.5, 0.0, -4.5]),  # N = 3: 3 - (0 - 3)/2, 0 - (3 - 3)/2, -3 - (3 + 0)/2
        ([4, -2], [0, 1, 1], [6.0, -3.0, -3.0]),  # N = 3, negative: 4 - (-4)/2, -2 - (4 - 2)/2 twice
        ([5, 5, 5], [0, 1, 2], [0.0, 0.0, 0.0]),  # a flat contract pays nothing
    ],
)
def test_transfers_hand_computed(values, actions, expected):
    result = transfers(values, actions)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12)


def test_transfers_n4_are_budget_balanced_up_to_rounding():
    values, actions = [0.1, 0.7, -0.3], [0, 1, 2, 1]
    # (4 c_i - S) / 3 with S = 0.1 + 0.7 - 0.3 + 0.7 = 1.2
    expected = [(0.4 - 1.2) / 3, (2.8 - 1.2) / 3, (-1.2 - 1.2) / 3, (2.8 - 1.2) / 3]
    result = transfers(values, actions)
    np.testing.assert_allclose(result, expected, atol=1e-12)
    assert abs(result.sum()) < 1e-12  # spec 5.10: residues ~1e-16, so never compare the sum with == 0


def test_transfers_balance_and_ignore_a_constant_shift():
    rng = np.random.default_rng(24)
    for n_seats in (2, 3, 5):
        values = rng.integers(-10, 11, size=4)
        actions = rng.integers(0, 4, size=n_seats)
        result = transfers(values, actions)
        assert abs(result.sum()) < 1e-9
        np.testing.assert_allclose(transfers(values + 7, actions), result, atol=1e-12)
        np.testing.assert_allclose(transfers(values - 100, actions), result, atol=1e-12)


def test_linear_contract_on_a_numeric_action():
    # c(x) = 2x + 10; amounts 1, 4, 7: c = 12, 18, 24; transfer = c_i - mean of the others' c
    expected = [12 - 21.0, 18 - 18.0, 24 - 15.0]
    np.testing.assert_allclose(transfers(LinearContract(rate=2.0, constant=10.0), [1.0, 4.0, 7.0]), expected)
    np.testing.assert_allclose(transfers({"rate": 2.0, "constant": 10.0}, [1, 4, 7]), expected)
    np.testing.assert_allclose(transfers(LinearContract(rate=2.0), [1.0, 4.0, 7.0]), expected)  # the constant cancels
    np.testing.assert_allclose(contract_values(LinearContract(rate=-1.0, constant=3.0), [0.5, 2.0]), [2.5, 1.0])


@pytest.mark.parametrize(
    "values, actions, match",
    [
        ([0, 1], [0], "at least 2 seats"),
        ([0, 1], [[0, 1]], "1-D"),
        ([0, 1], [0, 2], r"indices 0\.\.1"),
        ([0, 1], [0, -1], r"indices 0\.\.1"),
        ([0, 1], [0.0, 1.0], "integer action indices"),
        ([True, False], [0, 1], "finite numbers"),
        ([0, np.nan], [0, 1], "finite numbers"),
        ([[0, 1]], [0, 1], "one value per action"),
        ({"rate": 1.0}, [0.0, 1.0], "'rate' and 'constant'"),
        ({"rate": 1.0, "constant": 0.0}, ["a", "b"], "finite amounts"),
    ],
)
def test_transfers_reject_bad_arguments(values, actions, match):
    with pytest.raises(ValueError, match=match):
        transfers(values, actions)


def test_linear_contract_rejects_non_numbers():
    with pytest.raises(ValueError, match="rate"):
        LinearContract(rate=float("inf"))
    with pytest.raises(ValueError, match="constant"):
        LinearContract(rate=1.0, constant=True)


# --------------------------------------------------------------------------------------------
# Mediation: the k delegators play mediator[k], the others keep their action
# --------------------------------------------------------------------------------------------

# Three seats, base actions 0 (C) and 1 (D), delegate = 2. The mediator cooperates only when
# at least two delegate.
MEDIATOR = {1: 1, 2: 0, 3: 0}


@pytest.mark.parametrize(
    "actions, expected",
    [
        ([0, 1, 1], [0, 1, 1]),  # k = 0: nobody delegates, nothing changes
        ([2, 0, 1], [1, 0, 1]),  # k = 1: the lone delegator plays mediator[1] = D
        ([0, 2, 2], [0, 0, 0]),  # k = 2: both delegators play mediator[2] = C
        ([2, 2, 2], [0, 0, 0]),  # k = 3: all delegate, all play mediator[3] = C
    ],
)
def test_mediator_remaps_delegators(actions, expected):
    played = play(MEDIATOR, actions, delegate=2)
    assert played.tolist() == expected
    assert played.dtype == np.int64


def test_mediator_sequence_forms_and_no_delegator_copy():
    for form in ([1, 0, 0], [None, 1, 0, 0], (1, 0, 0), np.array([1, 0, 0])):
        assert play(form, [2, 0, 1], delegate=2).tolist() == [1, 0, 1]
        assert play(form, [2, 2, 1], delegate=2).tolist() == [0, 0, 1]
    actions = np.array([0, 1, 1])
    played = play(MEDIATOR, actions, delegate=2)
    played[0] = 1
    assert actions.tolist() == [0, 1, 1]  # a copy, never the caller's array
    # two players, four base actions and delegate = 4 (TD): every k answered
    assert play({1: 3, 2: 3}, [4, 0], delegate=4).tolist() == [3, 0]
    assert play({1: 3, 2: 2}, [4, 4], delegate=4).tolist() == [2, 2]
    assert delegators([2, 0, 2], delegate=2).tolist() == [True, False, True]


def test_mediator_rejects_bad_designs():
    with pytest.raises(ValueError, match="not the delegate action"):
        play({1: 2, 2: 0, 3: 0}, [2, 0, 0], delegate=2)
    with pytest.raises(ValueError, match="no action for k = 2"):
        play({1: 1}, [2, 2, 0], delegate=2)
    with pytest.raises(ValueError, match=r"delegator counts 1\.\.3"):
        play({0: 1, 1: 1}, [0, 0, 0], delegate=2)
    with pytest.raises(ValueError, match="3 entries"):
        play([1, 0], [2, 0, 0], delegate=2)
    with pytest.raises(ValueError, match="integer >= 0"):
        play({1: "A1", 2: 0, 3: 0}, [2, 0, 0], delegate=2)
    with pytest.raises(ValueError, match="integer action indices"):
        play(MEDIATOR, [0.0, 2.0, 1.0], delegate=2)
    with pytest.raises(ValueError, match="mapping"):
        play("101", [0, 1, 1], delegate=2)


def test_check_mediator_requires_every_k_and_base_actions():
    assert check_mediator([1, 0, 0], n_seats=3, delegate=2, n_actions=2) == {1: 1, 2: 0, 3: 0}
    with pytest.raises(ValueError, match=r"missing \[2, 3\]"):
        check_mediator({1: 1}, n_seats=3, delegate=2)
    with pytest.raises(ValueError, match=r"base actions 0\.\.1"):
        check_mediator({1: 3, 2: 0, 3: 0}, n_seats=3, delegate=2, n_actions=2)


# --------------------------------------------------------------------------------------------
# Approval voting
# --------------------------------------------------------------------------------------------


class FixedDraw:
    """A generator stand-in whose ``random()`` returns given numbers, one per call."""

    def __init__(self, *draws: float):
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0)


@pytest.mark.parametrize(
    "ballots, counts, winners",
    [
        ([[True, False, True], [False, False, True], [True, False, False]], [2, 0, 2], [0, 2]),  # a tie
        ([[1, 1, 0], [0, 1, 0], [0, 1, 1]], [1, 3, 1], [1]),  # 0/1 approvals, one winner
        ([[False, False, False], [False, False, False]], [0, 0, 0], [0, 1, 2]),  # nobody approves: all tie
        (np.zeros((0, 3), dtype=bool), [0, 0, 0], [0, 1, 2]),  # no voters: all tie
        ([[True, True, True]], [1, 1, 1], [0, 1, 2]),  # approving everything says nothing
    ],
)
def test_approval_counts_and_tied_winners(ballots, counts, winners):
    assert approval_counts(ballots).tolist() == counts
    assert approval_winners(ballots) == winners


def test_approval_vote_breaks_ties_with_one_draw():
    ballots = [[True, False, True], [False, False, True], [True, False, False]]  # options 0 and 2 tie
    assert approval_vote(ballots, FixedDraw(0.25))[0] == 0  # floor(0.25 * 2) = 0 -> option 0
    assert approval_vote(ballots, FixedDraw(0.75))[0] == 2  # floor(0.75 * 2) = 1 -> option 2
    assert approval_vote([[False] * 3], FixedDraw(0.7))[0] == 2  # all tie: floor(0.7 * 3) = 2
    winner, counts = approval_vote([[0, 1, 0]], FixedDraw(0.99))
    assert (winner, counts.tolist()) == (1, [0, 1, 0])
    # seeded: the same seed picks the same winner, and exactly one number is drawn, tie or not
    for ballot in (ballots, [[0, 1, 0]]):
        rng, twin = np.random.default_rng(5), np.random.default_rng(5)
        approval_vote(ballot, rng)
        twin.random()
        assert rng.random() == twin.random()
    picks = {approval_vote(ballots, np.random.default_rng(seed))[0] for seed in range(20)}
    assert picks == {0, 2}


@pytest.mark.parametrize(
    "ballots, match",
    [([True, False], "2-D"), ([[0, 2, 1]], "booleans"), ([[0.5, 1.0]], "booleans"), (np.zeros((2, 0), bool), "2-D")],
)
def test_approval_rejects_bad_ballots(ballots, match):
    with pytest.raises(ValueError, match=match):
        approval_winners(ballots)


def test_plurality_is_unchanged_and_the_package_exports_its_rule_modules():
    assert voting.plurality([1, 1, 0], 3, FixedDraw(0.9))[0] == 1
    assert {institutions.contracts, institutions.mediation, institutions.voting} == {contracts, mediation, voting}
