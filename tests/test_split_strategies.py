"""Fixed opponents of the splitting worlds, and the presets that use them, through the runner."""

import numpy as np
import pytest

from dilemmazoo.agents import make_scripted
from dilemmazoo.experiments import resolve, run_grid
from dilemmazoo.experiments.config import expand_grid


def test_welfare_maximisers_reach_full_efficiency_and_greedy_players_do_not(tmp_path):
    both_fair = run_grid("split_nocomm", out=tmp_path, progress=False, grid={},
                         agents=[{"kind": "scripted", "strategy": "split_welfare_maximiser", "seats": 1},
                                 {"kind": "scripted", "strategy": "split_welfare_maximiser"}])[0]
    assert both_fair.summary["metrics"]["split_efficiency"] == pytest.approx(1.0)
    both_greedy = run_grid("split_nocomm", out=tmp_path, progress=False, grid={},
                           agents=[{"kind": "scripted", "strategy": "split_greedy", "seats": 1},
                                   {"kind": "scripted", "strategy": "split_greedy"}])[0]
    assert both_greedy.summary["metrics"]["split_efficiency"] < 1.0


def test_trust_split_truth_tellers_give_the_coins_to_the_winner(tmp_path):
    result = run_grid("trust_split", out=tmp_path, progress=False, grid={},
                      agents=[{"kind": "scripted", "strategy": "split_welfare_maximiser", "seats": 1},
                              {"kind": "scripted", "strategy": "split_welfare_maximiser"}])[0]
    metrics = result.summary["metrics"]
    # the first speaker cannot know the other's hand yet and takes half; the second always knows,
    # so each round ends with the winner holding the coins or the 5/5 of the uninformed opener
    assert metrics["split_efficiency"] > 0.55
    proposals = result.steps[result.steps["decided"] & (result.steps["phase"] == "proposal")]
    assert set(proposals["proposal"].dropna().astype(int)) <= {0, 5, 10}


def test_greedy_liar_is_measured_as_an_exploiter(tmp_path):
    result = run_grid("trust_split", out=tmp_path, progress=False, grid={},
                      agents=[{"kind": "scripted", "strategy": "split_welfare_maximiser", "seats": 1, "label": "fair"},
                              {"kind": "scripted", "strategy": "split_greedy", "label": "greedy"}])[0]
    assert result.summary["metrics"]["exploitation"] < 0  # the fair player earns less than the greedy one


def test_presets_expand_and_unknown_strategies_are_listed():
    assert len(expand_grid(resolve("trust_split"))) == 2
    assert len(expand_grid(resolve("split_nocomm"))) == 2
    with pytest.raises(ValueError, match="split_greedy"):
        make_scripted("split_generous")
    agent = make_scripted("split_greedy", message="hello")
    assert agent.message({}) == "hello" and agent.coins({}, 10) == 10
    assert make_scripted("split_welfare_maximiser").coins({"hand": np.int64(1), "other_message": np.array([0])}, 10) == 5
