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
