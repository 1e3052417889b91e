"""Gridworld headline metrics from step records, against hand-computed social outcomes."""

import pandas as pd
import pytest

from dilemmazoo.analysis import world_metrics
from dilemmazoo.analysis.gridworld import episode_outcomes


def _steps(rewards, tagged, episode=0):
    rows = []
    for t, (r_row, g_row) in enumerate(zip(rewards, tagged), start=1):
        for i, (r, g) in enumerate(zip(r_row, g_row)):
            rows.append({"episode": episode, "step": t, "agent": f"player_{i}", "reward": r, "tagged": g,
                         "apples_collected": int(r > 0)})
    return pd.DataFrame(rows)


def test_two_agents_four_steps_by_hand():
    # returns R = (2, 0) over T = 4: efficiency 2/4, equality 1 - (|2-0|*2) / (2*2*2) = 0.5,
    # sustainability: agent 0 rewarded at steps 1 and 3 -> mean 2, agent 1 never -> 0 (mean 1.0 over agents),
    # peace: (N*T - tagged agent-steps) / T = (8 - 2) / 4 = 1.5, maximin 0
    steps = _steps([[1, 0], [0, 0], [1, 0], [0, 0]], [[False, True], [False, True], [False, False], [False, False]])
    row = episode_outcomes(steps).iloc[0]
    assert row["efficiency"] == 0.5 and row["equality"] == 0.5 and row["peace"] == 1.5 and row["maximin"] == 0
    assert row["apples"] == 2


def test_runs_average_their_episodes_and_register_for_both_worlds():
    steps = pd.concat([_steps([[1, 1]], [[False, False]], 0), _steps([[0, 0]], [[True, True]], 1)])
    for world in ("dilemmazoo/cleanup-v0", "dilemmazoo/gathering-v0"):
        metrics = world_metrics(world, steps)
        assert metrics["efficiency"] == 1.0 and metrics["peace"] == 1.0 and metrics["episodes"] == 2
    with pytest.raises(ValueError, match="tagged"):
        episode_outcomes(steps.drop(columns="tagged"))


def test_equality_is_nan_with_a_reason_when_a_return_is_negative():
    # returns (-1, -10): the formula would give 1 - 18 / (2 * 2 * -11) = 1.41, outside [0, 1]
    negative = _steps([[-1, -10]], [[False, False]])
    assert pd.isna(episode_outcomes(negative).iloc[0]["equality"])
    metrics = world_metrics("dilemmazoo/gathering-v0", negative)
    assert pd.isna(metrics["equality"]) and "negative" in metrics["nan_reasons"]["equality"]
    # returns (60, -50) sum to 10 > 0, yet 1 - G = 1 - 220 / 40 = -4.5: undefined too
    assert pd.isna(episode_outcomes(_steps([[60, -50]], [[False, False]])).iloc[0]["equality"])
    # equal returns are equal whatever their sign
    assert episode_outcomes(_steps([[-3, -3]], [[False, False]])).iloc[0]["equality"] == 1.0


def test_run_equality_averages_the_episodes_where_it_is_defined():
    # episode 0: returns (2, 0) -> 0.5; episode 1: returns (1, -4), total -3 -> undefined
    steps = pd.concat([_steps([[1, 0], [1, 0]], [[False, False]] * 2, 0), _steps([[1, -4]], [[False, False]], 1)])
    metrics = world_metrics("dilemmazoo/cleanup-v0", steps)
    assert metrics["equality"] == 0.5 and metrics["equality_undefined_episodes"] == 1
    assert "nan_reasons" not in metrics
    # efficiency: (2/2 + (-3)/1) / 2 = -1.0
    assert metrics["efficiency"] == -1.0


def test_decision_counts_sit_beside_the_outcomes():
    steps = _steps([[1, 0], [0, 1]], [[False, False]] * 2)
    steps["fallback_used"] = [False, True, False, False]
    metrics = world_metrics("dilemmazoo/gathering-v0", steps)
    assert (metrics["valid_decisions"], metrics["fallbacks"]) == (3, 1)
    assert metrics["equality"] == 1.0
