"""Utility transforms: Fehr-Schmidt inequity aversion (Hughes et al. 2018) and welfare internalisation.

Every expected number is computed by hand in the comment next to it.
"""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.norms.base import UtilityTransform
from dilemmazoo.norms.utilities import (
    UTILITY_TRANSFORMS_AVAILABLE,
    InequityAversion,
    WelfareInternalization,
    fehr_schmidt,
    smooth_rewards,
    welfare_mix,
)


def _ssd_sign(rewards, smoothed, alpha, beta):
    """The flipped advantageous term of SSD's code: + beta instead of - beta (NOT Fehr-Schmidt)."""
    r, e = np.asarray(rewards, float), np.asarray(smoothed, float)
    n = len(r)
    gap = e[None, :] - e[:, None]
    return r - alpha / (n - 1) * np.maximum(gap, 0).sum(1) + beta / (n - 1) * np.maximum(-gap, 0).sum(1)


class TestFehrSchmidt:
    def test_two_agents_both_signs(self):
        # e = [3, 1]. Agent 0 is ahead by 2: u0 = 1 - 0.05 * 2 = 0.9.
        # Agent 1 is behind by 2: u1 = 0 - 5 * 2 = -10.
        u = fehr_schmidt(np.array([1.0, 0.0]), np.array([3.0, 1.0]), alpha=5.0, beta=0.05)
        np.testing.assert_allclose(u, [0.9, -10.0])

    def test_three_agents(self):
        # r = [2, 0, 1], e = [4, 1, 2], alpha = 5, beta = 0.05, N - 1 = 2.
        # agent 0: behind nobody; ahead by 3 + 2 = 5 -> 2 - 0.05/2 * 5 = 1.875
        # agent 1: behind by 3 + 1 = 4 -> 0 - 5/2 * 4 = -10
        # agent 2: behind by 2 -> -5/2*2 = -5; ahead by 1 -> -0.05/2 = -0.025 -> 1 - 5 - 0.025 = -4.025
        u = fehr_schmidt(np.array([2.0, 0.0, 1.0]), np.array([4.0, 1.0, 2.0]), alpha=5.0, beta=0.05)
        np.testing.assert_allclose(u, [1.875, -10.0, -4.025])

    def test_advantage_lowers_utility_unlike_ssd(self):
        # Being ahead costs utility: u0 = 1 - 0.05 * 2 = 0.9 < r0 = 1. SSD's flipped sign
        # would give 1 + 0.05 * 2 = 1.1, rewarding the leader.
        rewards, smoothed = [1.0, 0.0], [3.0, 1.0]
        ours = fehr_schmidt(np.array(rewards), np.array(smoothed), 5.0, 0.05)
        flipped = _ssd_sign(rewards, smoothed, 5.0, 0.05)
        assert ours[0] == pytest.approx(0.9)
        assert flipped[0] == pytest.approx(1.1)
        assert ours[0] < rewards[0] < flipped[0]
        # three agents: agent 2 is ahead of agent 1; ours subtracts 0.025, SSD adds it
        ours3 = fehr_schmidt(np.array([2.0, 0.0, 1.0]), np.array([4.0, 1.0, 2.0]), 5.0, 0.05)
        flipped3 = _ssd_sign([2.0, 0.0, 1.0], [4.0, 1.0, 2.0], 5.0, 0.05)
        assert flipped3[2] == pytest.approx(-3.975)
        assert ours3[2] == pytest.approx(-4.025)

    def test_equal_smoothed_rewards_leave_rewards_unchanged(self):
        u = fehr_schmidt(np.array([1.0, 2.0, 3.0]), np.array([5.0, 5.0, 5.0]), 5.0, 0.05)
        np.testing.assert_array_equal(u, [1.0, 2.0, 3.0])

    def test_single_agent_has_no_one_to_envy(self):
        np.testing.assert_array_equal(fehr_schmidt(np.array([2.5]), np.array([9.0]), 5.0, 0.05), [2.5])

    def test_batched_on_last_axis(self):
        rewards = np.array([[1.0, 0.0], [0.0, 0.0]])
        smoothed = np.array([[3.0, 1.0], [0.0, 2.0]])
        # row 1: e = [0, 2]: u0 = 0 - 5*2 = -10, u1 = 0 - 0.05*2 = -0.1
        np.testing.assert_allclose(fehr_schmidt(rewards, smoothed, 5.0, 0.05), [[0.9, -10.0], [-10.0, -0.1]])

    def test_shape_mismatch_is_an_error(self):
        with pytest.raises(ValueError, match="same shape"):
            fehr_schmidt(np.zeros(2), np.zeros(3), 5.0, 0.05)


def test_smooth_rewards_recurrence():
    # gamma * lam = 0.9 * 0.5 = 0.45: e = 0.45 * [2, -4] + [1, 1] = [1.9, -0.8]
    np.testing.assert_allclose(smooth_rewards(np.array([2.0, -4.0]), np.array([1.0, 1.0]), 0.9, 0.5), [1.9, -0.8])


class TestInequityAversion:
    def test_defaults(self):
        ia = InequityAversion()
        assert (ia.alpha, ia.beta, ia.gamma, ia.lam) == (5.0, 0.05, 0.99, 0.95)
        assert isinstance(ia, UtilityTransform)

    def test_smoothing_over_three_steps_and_reset(self):
        # gamma * lam = 0.25, alpha = 1, beta = 0.5, N - 1 = 1.
        # step 1: r = [4, 0]  e = [4, 0]                         u = [4 - 0.5*4, 0 - 4]       = [2, -4]
        # step 2: r = [0, 8]  e = [1, 8]                         u = [0 - 7, 8 - 0.5*7]       = [-7, 4.5]
        # step 3: r = [2, 2]  e = [0.25 + 2, 2 + 2] = [2.25, 4]  u = [2 - 1.75, 2 - 0.875]    = [0.25, 1.125]
        ia = InequityAversion(alpha=1.0, beta=0.5, gamma=0.5, lam=0.5)
        ia.reset(["a", "b"])
        state = {"step": 1, "agents": ["a", "b"], "infos": {}}
        assert ia({"a": 4.0, "b": 0.0}, state) == pytest.approx({"a": 2.0, "b": -4.0})
        assert ia.smoothed == pytest.approx({"a": 4.0, "b": 0.0})
        assert ia({"a": 0.0, "b": 8.0}, state) == pytest.approx({"a": -7.0, "b": 4.5})
        assert ia.smoothed == pytest.approx({"a": 1.0, "b": 8.0})
        assert ia({"a": 2.0, "b": 2.0}, state) == pytest.approx({"a": 0.25, "b": 1.125})
        assert ia.smoothed == pytest.approx({"a": 2.25, "b": 4.0})
        ia.reset(["a", "b"])  # a new episode forgets the traces
        assert ia({"a": 4.0, "b": 0.0}, state) == pytest.approx({"a": 2.0, "b": -4.0})

    def test_default_smoothing_factor(self):
        # gamma * lam = 0.99 * 0.95 = 0.9405; e(2) = 0.9405 * 1 + 0 = 0.9405 for a, 0 for b
        ia = InequityAversion()
        ia.reset(["a", "b"])
        ia({"a": 1.0, "b": 0.0}, {})
        utilities = ia({"a": 0.0, "b": 0.0}, {})
        assert ia.smoothed["a"] == pytest.approx(0.9405)
        # u_a = 0 - 0.05 * 0.9405, u_b = 0 - 5 * 0.9405
        assert utilities == pytest.approx({"a": -0.047025, "b": -4.7025})

    def test_absent_agents_decay_and_are_not_compared(self):
        # gamma * lam = 0.25, alpha = 1, beta = 0.5.
        # step 1: all three; step 2: c is gone (not in rewards): its trace decays 6 -> 1.5,
        # and a, b compare only with each other: e = [0.5, 0] -> u_a = -0.5*0.5 = -0.25, u_b = -0.5
        ia = InequityAversion(alpha=1.0, beta=0.5, gamma=0.5, lam=0.5)
        ia.reset(["a", "b", "c"])
        ia({"a": 2.0, "b": 0.0, "c": 6.0}, {})
        assert ia({"a": 0.0, "b": 0.0}, {}) == pytest.approx({"a": -0.25, "b": -0.5})
        assert ia.smoothed == pytest.approx({"a": 0.5, "b": 0.0, "c": 1.5})

    def test_works_without_reset(self):
        ia = InequityAversion(alpha=1.0, beta=0.5)
        assert ia({"a": 1.0, "b": 0.0}, {}) == pytest.approx({"a": 0.5, "b": -1.0})

    @pytest.mark.parametrize(
        ("kwargs", "name"),
        [({"alpha": -1.0}, "alpha"), ({"beta": float("nan")}, "beta"), ({"gamma": 1.5}, "gamma"),
         ({"lam": -0.1}, "lam"), ({"alpha": "5"}, "alpha")],
    )
    def test_bad_arguments_name_the_argument(self, kwargs, name):
        with pytest.raises(ValueError, match=name):
            InequityAversion(**kwargs)


class TestWelfareInternalization:
    def test_mix(self):
        # mean of [3, 0, 0] = 1; w = 0.5: [1.5 + 0.5, 0 + 0.5, 0 + 0.5] = [2, 0.5, 0.5]
        utilities = WelfareInternalization(weight=0.5)({"a": 3.0, "b": 0.0, "c": 0.0}, {})
        assert utilities == pytest.approx({"a": 2.0, "b": 0.5, "c": 0.5})

    def test_extremes(self):
        rewards = np.array([3.0, 0.0, 0.0])
        np.testing.assert_array_equal(welfare_mix(rewards, 0.0), rewards)
        np.testing.assert_array_equal(welfare_mix(rewards, 1.0), [1.0, 1.0, 1.0])

    def test_total_is_preserved(self):
        utilities = WelfareInternalization(weight=0.3)({"a": 5.0, "b": -1.0, "c": 2.0, "d": 0.0}, {})
        assert sum(utilities.values()) == pytest.approx(6.0)
        assert utilities["a"] == pytest.approx(0.7 * 5 + 0.3 * 1.5)  # 3.95

    def test_bad_weight(self):
        with pytest.raises(ValueError, match="weight"):
            WelfareInternalization(weight=1.5)

    def test_empty_rewards(self):
        transform = WelfareInternalization()
        transform.reset([])
        assert transform({}, {}) == {}


def test_available_names():
    assert UTILITY_TRANSFORMS_AVAILABLE == {"inequity_aversion": InequityAversion, "welfare": WelfareInternalization}
    for cls in UTILITY_TRANSFORMS_AVAILABLE.values():
        assert (cls.__doc__ or "").strip()
        assert isinstance(cls(), UtilityTransform)


def test_runner_records_inequity_averse_utilities(tmp_path, monkeypatch):
    """A real Cleanup run with ``utility: inequity_aversion``: the recorded utilities are the transform's."""
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import execute
    from dilemmazoo.norms import UTILITY_TRANSFORMS

    if "inequity_aversion" not in UTILITY_TRANSFORMS:  # until norms/__init__.py registers it
        monkeypatch.setitem(UTILITY_TRANSFORMS, "inequity_aversion", InequityAversion)
    config = validate({
        "name": "inequity_run",
        "world": {"id": "cleanup-v0", "kwargs": {"n_agents": 3, "grid_map": "small_cleanup", "episode_length": 25,
                                                 "rules": "vicgalle"}},
        "agents": [{"kind": "scripted", "strategy": "grid_bfs", "seats": 2},
                   {"kind": "scripted", "strategy": "grid_random"}],
        "utility": {"name": "inequity_aversion", "kwargs": {"alpha": 5.0, "beta": 0.05}},
        "episodes_per_generation": 2,
    })
    result = execute(config, tmp_path, progress=False)
    steps = result.steps
    assert (steps["utility"] != steps["reward"]).any()
    expected_utility = InequityAversion(alpha=5.0, beta=0.05)
    for episode, rows in steps.groupby("episode"):
        expected_utility.reset(["player_0", "player_1", "player_2"])  # a fresh start every episode
        for _, step_rows in rows.groupby("step"):
            expected = expected_utility(dict(zip(step_rows["agent"], step_rows["reward"])), {})
            assert dict(zip(step_rows["agent"], step_rows["utility"])) == pytest.approx(expected, abs=1e-9)
    totals = steps.groupby(["episode", "agent"])["utility"].sum()
    episodes = result.episodes.set_index(["episode", "agent"])["utility_return"]
    assert episodes.to_dict() == pytest.approx(totals.to_dict(), abs=1e-9)
