"""Exact tests of the evolutionary evaluation (CoopEval, Tewolde et al., arXiv 2604.15267; deviation
ratings of Marris et al., arXiv 2502.11645): discounted score, seat-symmetrised metagame tensor,
replicator dynamics and the unique deviation ratings."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from dilemmazoo.analysis.evolution import (
    deviation_ratings,
    discount_weights,
    discounted_score,
    fitness,
    metagame_tensor,
    rating_ranks,
    replicator_dynamics,
)

# Prisoner's Dilemma metagame of the types Cooperator (0) and Defector (1), CoopEval's payoffs
# CC 2, CD 0, DC 3, DD 1 (spec section 1).
PD = np.array([[2.0, 0.0], [3.0, 1.0]])
# Spec 5.2: several optimal joint distributions; the vertex rule gives 0, 0, -1.
SPEC_3X3 = np.array([[2.0, 2.0, 1.0], [2.0, 2.0, 2.0], [1.0, 2.0, 1.0]])


def clone(tensor: np.ndarray, type_index: int) -> np.ndarray:
    """The 2-seat metagame with a copy of ``type_index`` appended as a new last type."""
    index = [*range(len(tensor)), type_index]
    return np.asarray(tensor)[np.ix_(index, index)]


def public_goods_plays() -> list[tuple[tuple[int, ...], list[float]]]:
    """Every ordered profile of CoopEval's 3-seat public goods game (endowment 1, multiplier 1.5):
    type 0 contributes, type 1 free-rides; with k contributors each gets 1.5 k / 3, free-riders +1."""
    plays = []
    for profile in itertools.product((0, 1), repeat=3):
        share = 1.5 * profile.count(0) / 3
        plays.append((profile, [share if t == 0 else 1.0 + share for t in profile]))
    return plays


# --------------------------------------------------------------------------------------------
# Discounted score
# --------------------------------------------------------------------------------------------


def test_discount_weights_hand_computed():
    np.testing.assert_allclose(discount_weights(4, 0.8), [0.2, 0.16, 0.128, 0.512])  # tail 0.8^3 on the last
    assert discount_weights(15, 0.8)[-1] == pytest.approx(0.8**14)  # the spec's 0.044 on round 15
    for n_rounds, d in ((1, 0.3), (15, 0.8), (7, 0.0), (7, 1.0)):
        assert discount_weights(n_rounds, d).sum() == pytest.approx(1.0, abs=1e-12)
    assert discount_weights(3, 1.0).tolist() == [0.0, 0.0, 1.0]
    assert discount_weights(3, 0.0).tolist() == [1.0, 0.0, 0.0]


def test_discounted_score_hand_computed():
    assert discounted_score([2, 2, 0], 0.5) == pytest.approx(0.5 * 2 + 0.25 * 2 + 0.25 * 0)
    assert discounted_score([5, 1, 3], 1.0) == 3.0  # d = 1: the last round only
    assert discounted_score([5, 1, 3], 0.0) == 5.0  # d = 0: the first round only
    assert discounted_score([4.0], 0.8) == 4.0
    assert discounted_score([1, 3, 3, 3], 0.8) == pytest.approx(0.2 * 1 + 0.16 * 3 + 0.128 * 3 + 0.512 * 3)


@pytest.mark.parametrize(
    "payoffs, discount, match",
    [([], 0.8, "non-empty"), ([[1, 2]], 0.8, "1-D"), ([1, np.nan], 0.8, "finite"), ([1, 2], 1.2, "discount"), ([1], True, "discount")],
)
def test_discounted_score_rejects_bad_arguments(payoffs, discount, match):
    with pytest.raises(ValueError, match=match):
        discounted_score(payoffs, discount)


# --------------------------------------------------------------------------------------------
# Metagame tensor
# --------------------------------------------------------------------------------------------


def test_metagame_of_the_pd_and_its_fitness():
    plays = [((0, 0), (2, 2)), ((0, 1), (0, 3)), ((1, 0), (3, 0)), ((1, 1), (1, 1))]
    tensor = metagame_tensor(plays)
    np.testing.assert_array_equal(tensor, PD)
    # f_C = 2 x_C, f_D = 3 x_C + x_D
    np.testing.assert_allclose(fitness(tensor, [0.25, 0.75]), [0.5, 1.5])


def test_metagame_averages_seat_roles_and_repeated_plays():
    # CoopEval's simultaneous Trust game (seat 1 gives/keeps, seat 2 gives/keeps): types give (0) and keep (1)
    plays = [((0, 0), (10, 10)), ((0, 1), (0, 20)), ((1, 0), (6, 2)), ((1, 1), (4, 4))]
    # T[give, keep] = mean(0 as seat 1, 2 as seat 2) = 1; T[keep, give] = mean(20, 6) = 13
    np.testing.assert_allclose(metagame_tensor(plays), [[10.0, 1.0], [13.0, 4.0]])
    # a second seed of (give, give) with 6, 8; self-play counts both seats: T[0, 0] = mean(10, 10, 6, 8)
    np.testing.assert_allclose(metagame_tensor([*plays, ((0, 0), (6, 8))]), [[8.5, 1.0], [13.0, 4.0]])


def test_metagame_of_three_seats_is_symmetric_in_the_co_players():
    tensor = metagame_tensor(public_goods_plays())
    expected = np.empty((2, 2, 2))
    expected[0] = [[1.5, 1.0], [1.0, 0.5]]  # contributor with 2, 1, 0 other contributors
    expected[1] = [[2.0, 1.5], [1.5, 1.0]]  # free-rider: +1
    np.testing.assert_allclose(tensor, expected)
    np.testing.assert_allclose(fitness(tensor, [0.5, 0.5]), [1.0, 1.5])  # (1.5 + 1 + 1 + 0.5) / 4, (2 + 1.5 + 1.5 + 1) / 4


def test_metagame_dataframe_forms_match_the_pairs():
    plays = [((0, 1), (0.0, 3.0)), ((1, 0), (3.0, 0.0)), ((0, 0), (2.0, 2.0)), ((1, 1), (1.0, 1.0))]
    wide = pd.DataFrame({"profile": [p for p, _ in plays], "payoffs": [s for _, s in plays]})
    long = pd.DataFrame(
        [
            {"matchup": f"m{number}", "seat": seat, "type": profile[seat], "score": scores[seat]}
            for number, (profile, scores) in enumerate(plays)
            for seat in (1, 0)  # rows in any order
        ]
    )
    np.testing.assert_array_equal(metagame_tensor(wide), PD)
    np.testing.assert_array_equal(metagame_tensor(long), PD)


def test_metagame_rejects_bad_observations():
    with pytest.raises(ValueError, match="never played"):
        metagame_tensor([((0, 0), (2, 2)), ((1, 1), (1, 1))])  # {0, 1} missing
    with pytest.raises(ValueError, match="never played"):
        metagame_tensor([((0, 0), (2, 2))], n_types=2)
    with pytest.raises(ValueError, match="n_types is 1"):
        metagame_tensor([((0, 1), (2, 2))], n_types=1)
    with pytest.raises(ValueError, match="the first one has 2"):
        metagame_tensor([((0, 0), (2, 2)), ((0, 0, 0), (1, 1, 1))])
    with pytest.raises(ValueError, match="one per seat"):
        metagame_tensor([((0, 0), (2, 2, 2))])
    with pytest.raises(ValueError, match="pair"):
        metagame_tensor([(0, 0, 1)])
    with pytest.raises(ValueError, match="at least one play"):
        metagame_tensor([])
    with pytest.raises(ValueError, match="columns"):
        metagame_tensor(pd.DataFrame({"type": [0], "score": [1.0]}))
    with pytest.raises(ValueError, match="seats 0..N-1"):
        metagame_tensor(pd.DataFrame({"matchup": [0, 0], "seat": [0, 2], "type": [0, 0], "score": [1.0, 1.0]}))


# --------------------------------------------------------------------------------------------
# Replicator dynamics
# --------------------------------------------------------------------------------------------


def test_replicator_dynamics_on_the_pd_tends_to_all_defect():
    history, final_fitness = replicator_dynamics(PD)
    np.testing.assert_array_equal(history[0], [0.5, 0.5])
    # f_D - f_C = 1 at every x, so log(x_C / x_D) falls by exactly eta = 0.1 per step
    for t in range(1, 6):
        assert history[t, 0] / history[t, 1] == pytest.approx(math.exp(-0.1 * t), rel=1e-12)
    assert np.all(np.diff(history[:, 1]) > 0)
    np.testing.assert_allclose(history.sum(axis=1), 1.0)
    # settled once x_C <= 1e-9 (extinct, and it cannot invade) and f_D - fbar = x_C < 1e-6:
    # x_C = 1 / (1 + e^(0.1 t)) <= 1e-9 first at t = ceil(10 ln(1e9 - 1)) = 208, so 209 entries
    assert history.shape == (209, 2)
    assert history[-1, 1] > 1 - 1e-9
    np.testing.assert_allclose(final_fitness, [0.0, 1.0], atol=1e-8)  # f_C = 2 x_C, f_D = 1 + 2 x_C


def test_replicator_dynamics_with_coopevals_stop_test_runs_every_step():
    history, final_fitness = replicator_dynamics(PD, extinct=0.0)
    assert history.shape == (1001, 2)  # spec 5.3: the test over every type never fires
    assert history[-1, 0] == pytest.approx(1 / (1 + math.exp(100.0)), rel=1e-9)  # ~3.7e-44, still > 0
    np.testing.assert_allclose(final_fitness, [0.0, 1.0], atol=1e-40)
    assert replicator_dynamics(PD, steps=10)[0].shape == (11, 2)


def test_replicator_dynamics_sqrt_schedule():
    history, _ = replicator_dynamics(PD, steps=3, schedule="sqrt")
    for t in range(1, 4):
        expected = -0.1 * sum(1 / math.sqrt(s) for s in range(1, t + 1))
        assert math.log(history[t, 0] / history[t, 1]) == pytest.approx(expected, rel=1e-12)


def test_replicator_dynamics_settles_at_an_interior_rest_point():
    # Hawk-Dove: f_H = 3 x_D, f_D = x_H + 2 x_D, equal at x_H = 1/2
    history, final_fitness = replicator_dynamics([[0.0, 3.0], [1.0, 2.0]], x0=[0.9, 0.1])
    assert len(history) < 1001
    np.testing.assert_allclose(history[-1], [0.5, 0.5], atol=1e-5)
    # the stop test that ended it: every type within tol = 1e-6 of the mean fitness
    assert np.all(np.abs(final_fitness - history[-1] @ final_fitness) < 1e-6)


def test_replicator_dynamics_absent_and_rare_types():
    # a type absent from x0 never enters, so a population of Cooperators alone is at rest
    history, final_fitness = replicator_dynamics(PD, x0=[1.0, 0.0])
    assert history.tolist() == [[1.0, 0.0]]
    np.testing.assert_allclose(final_fitness, [2.0, 3.0])
    # a rare type that can invade is not "extinct" for the stop test: one Defector in 1e12 takes over
    history, _ = replicator_dynamics(PD, x0=[1 - 1e-12, 1e-12])
    assert history[-1, 1] > 1 - 1e-9
    # 3-seat public goods: free-riding (gain 0.5 always) takes over
    history, final_fitness = replicator_dynamics(metagame_tensor(public_goods_plays()))
    assert history[-1, 1] > 1 - 1e-9
    np.testing.assert_allclose(final_fitness, [0.5, 1.0], atol=1e-8)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"tensor": [[1, 2, 3], [4, 5, 6]]}, "shape"),
        ({"tensor": [1.0, 2.0]}, "shape"),
        ({"tensor": [[1, np.inf], [0, 1]]}, "finite"),
        ({"x0": [0.5, 0.6]}, "x0"),
        ({"x0": [1.5, -0.5]}, "x0"),
        ({"x0": [1.0]}, "x0"),
        ({"steps": -1}, "steps"),
        ({"eta": 0.0}, "eta"),
        ({"tol": -1e-6}, "tol"),
        ({"schedule": "linear"}, "schedule"),
        ({"extinct": 1.0}, "extinct"),
    ],
)
def test_replicator_dynamics_rejects_bad_arguments(kwargs, match):
    arguments = {"tensor": PD, **kwargs}
    with pytest.raises(ValueError, match=match):
        replicator_dynamics(**arguments)


# --------------------------------------------------------------------------------------------
# Deviation ratings
# --------------------------------------------------------------------------------------------


def test_deviation_ratings_of_the_spec_example_are_the_unique_ones():
    # Strategy 1 weakly dominates, so its row is 0 at every optimum (rated 0 first). Rows 0 and 2
    # can each be -1 (at (0,0), resp. via (1,2)), but together no lower than -0.5: half (1,2) and
    # half (2,1) gives -0.5 to both.
    np.testing.assert_allclose(deviation_ratings(SPEC_3X3), [-0.5, 0.0, -0.5], atol=1e-9)
    assert rating_ranks(deviation_ratings(SPEC_3X3)).tolist() == [2.5, 1.0, 2.5]


def test_deviation_ratings_hand_computed_games():
    np.testing.assert_allclose(deviation_ratings(PD), [-1.0, 0.0], atol=1e-9)  # at DD, deviating to C loses 1
    # 3 seats: free-riding always gains 0.5, so at all free-ride contributing is rated -0.5
    np.testing.assert_allclose(deviation_ratings(metagame_tensor(public_goods_plays())), [-0.5, 0.0], atol=1e-9)
    rock_paper_scissors = [[0, -1, 1], [1, 0, -1], [-1, 1, 0]]
    np.testing.assert_allclose(deviation_ratings(rock_paper_scissors), [0.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_array_equal(deviation_ratings(np.full((3, 3), 4.0)), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("tensor", [SPEC_3X3, PD, np.random.default_rng(3).normal(size=(4, 4))], ids=["spec", "pd", "random"])
def test_deviation_ratings_do_not_change_when_a_strategy_is_cloned(tensor):
    ratings = deviation_ratings(tensor)
    for type_index in range(len(tensor)):
        cloned = deviation_ratings(clone(tensor, type_index))
        np.testing.assert_allclose(cloned[:-1], ratings, atol=1e-8)
        assert cloned[-1] == pytest.approx(ratings[type_index], abs=1e-8)


def test_deviation_ratings_offset_and_scale():
    tensor = np.random.default_rng(7).normal(size=(4, 4))
    np.testing.assert_allclose(deviation_ratings(3.0 * tensor + 7.0), 3.0 * deviation_ratings(tensor), atol=1e-8)


def test_deviation_ratings_reject_bad_tensors():
    asymmetric = np.zeros((2, 2, 2))
    asymmetric[0, 0, 1] = 1.0  # T[0, 0, 1] != T[0, 1, 0]
    with pytest.raises(ValueError, match="co-player axes"):
        deviation_ratings(asymmetric)
    with pytest.raises(ValueError, match="shape"):
        deviation_ratings([[1.0, 2.0]])
    with pytest.raises(ValueError, match="tol"):
        deviation_ratings(PD, tol=0.0)
    with pytest.raises(ValueError, match="ratings"):
        rating_ranks([[0.0]])
