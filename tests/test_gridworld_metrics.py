"""Social outcome metrics (Perolat et al. 2017) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dilemmazoo.envs.gridworld.metrics import efficiency, equality, maximin, peace, social_outcomes, sustainability

# 4 steps, 3 agents: returns R = (2, 1, 0)
REWARDS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=float)
TAGGED = np.array([[0, 0, 1], [0, 0, 1], [0, 1, 0], [0, 0, 0]], dtype=bool)


def test_each_metric_by_hand():
    assert efficiency(REWARDS) == 3 / 4
    # sum_ij |R_i - R_j| = 2 * (1 + 2 + 1) = 8; 1 - 8 / (2 * 3 * 3) = 5/9
    assert equality(REWARDS) == pytest.approx(5 / 9)
    # agent 0 rewarded at steps 0 and 3 (mean 1.5), agent 1 at step 1; agent 2 never
    assert sustainability(REWARDS) == pytest.approx((1.5 + 1.0) / 2)
    assert peace(TAGGED) == (3 * 4 - 3) / 4
    assert maximin(REWARDS) == 0.0


def test_equality_edge_cases():
    assert equality(np.ones((5, 4))) == 1.0
    assert equality(np.zeros((5, 4))) == 1.0
    # returns (60, -50): 1 - 2 * 110 / (2 * 2 * 10) = -4.5, below zero as the spec allows
    assert math.isnan(equality(np.array([[60.0, -50.0]])))  # a negative return: 1 - G would be -4.5
    assert equality(np.array([[-3.0, -3.0]])) == 1.0  # equal returns are equal whatever their sign
    assert math.isnan(equality(np.array([[1.0, -1.0]])))


def test_social_outcomes_bundle_and_shapes():
    outcome = social_outcomes(REWARDS, TAGGED)
    assert outcome == {
        "efficiency": 0.75,
        "equality": pytest.approx(5 / 9),
        "sustainability": 1.25,
        "peace": 2.25,
        "maximin": 0.0,
    }
    assert social_outcomes(REWARDS)["peace"] == 3.0
    with pytest.raises(ValueError, match="steps, agents"):
        efficiency(np.zeros(3))
    with pytest.raises(ValueError, match="shape of rewards"):
        social_outcomes(REWARDS, TAGGED[:2])
