"""Repeated-game metrics: hand-computed on a tiny frame, and through a run."""

import math

import pandas as pd
import pytest

from dilemmazoo.analysis import world_metrics
from dilemmazoo.analysis.repeated_game import cooperation_rate, repeated_game_metrics


def frame():
    rows = []
    # step 1: both cooperate; step 2: p0 defects; step 3: p1's answer fell back to action 0 (not a choice)
    for step, (a, b), fb in [(1, (0, 0), False), (2, (1, 0), False), (3, (1, 0), True)]:
        for agent, move, policy in (("player_0", a, "model"), ("player_1", b, "tft")):
            rows.append({"episode": 0, "step": step, "agent": agent, "policy": policy, "decided": True,
                         "fallback_used": fb and agent == "player_1", "intended": move, "played": move,
                         "phase": "act", "reward": {(0, 0): 3.0, (1, 0): 5.0 if agent == "player_0" else 0.0}[(a, b)]})
    rows.append({"episode": 0, "step": 4, "agent": "player_0", "policy": "model", "decided": True,
                 "fallback_used": False, "intended": 0, "played": 0, "phase": "predict", "reward": 0.0})
    return pd.DataFrame(rows)


def test_hand_computed_metrics():
    steps = frame()
    # real choices: p0 C D D, p1 C C (its step-3 fallback is left out) -> 3 of 5
    assert cooperation_rate(steps) == pytest.approx(3 / 5)
    assert cooperation_rate(steps, by="policy").to_dict() == pytest.approx({"model": 1 / 3, "tft": 1.0})
    m = repeated_game_metrics(steps)
    # rounds decided validly by both: 1 (C, C) and 2 (D, C); round 3 held a fallback -> 1 of 2
    assert m["mutual_cooperation_rate"] == pytest.approx(1 / 2)
    assert (m["valid_decisions"], m["fallbacks"]) == (5, 1)
    assert "nan_reasons" not in m
    assert m["mean_reward"] == pytest.approx((3 + 3 + 5 + 0 + 5 + 0) / 6)  # prediction steps are not rounds
    assert m["fallback_rate"] == pytest.approx(1 / 6)
    assert m["mean_reward_by_policy"] == pytest.approx({"model": 13 / 3, "tft": 1.0})
    assert world_metrics("dilemmazoo/repeated-game-v0", steps) == m
    with pytest.raises(ValueError, match="intended"):
        repeated_game_metrics(steps.drop(columns="intended"))
    assert math.isnan(cooperation_rate(steps[steps["phase"] == "predict"]))


def test_a_run_whose_every_decision_fell_back_has_no_rate():
    # was mutual_cooperation_rate = 1.0: both fallbacks play action 0
    steps = frame()
    steps["fallback_used"] = steps["phase"] == "act"
    m = repeated_game_metrics(steps)
    assert math.isnan(m["cooperation_rate"]) and math.isnan(m["mutual_cooperation_rate"])
    assert (m["valid_decisions"], m["fallbacks"], m["fallback_rate"]) == (0, 6, 1.0)
    assert m["nan_reasons"]["cooperation_rate"] == "no valid decision: all 6 action decisions were fallbacks"
    assert m["nan_reasons"]["mutual_cooperation_rate"] == m["nan_reasons"]["cooperation_rate"]
    assert math.isnan(m["cooperation_rate_by_policy"]["model"])
    assert m["nan_reasons"]["cooperation_rate_by_policy.tft"] == "this policy made no valid decision"
    assert m["mean_reward"] == pytest.approx(16 / 6)  # rewards are outcomes: fallbacks played them


def test_mutual_cooperation_needs_both_decisions_valid_in_the_round():
    steps = frame()
    steps.loc[(steps["step"] == 1) & (steps["agent"] == "player_0"), "fallback_used"] = True
    # rounds 1 and 3 hold a fallback; round 2 is (D, C): no mutual cooperation
    assert repeated_game_metrics(steps)["mutual_cooperation_rate"] == 0.0


def test_metrics_reach_summary_json(tmp_path):
    from dilemmazoo.experiments import run_grid

    result = run_grid("akata_repeated_games", out=tmp_path, progress=False, grid={}, agents=[
        {"kind": "scripted", "strategy": "always_cooperate", "seats": 1, "label": "nice"},
        {"kind": "scripted", "strategy": "tit_for_tat", "label": "tft"}])[0]
    metrics = result.summary["metrics"]
    assert metrics["cooperation_rate"] == 1.0 and metrics["mutual_cooperation_rate"] == 1.0
    assert metrics["mean_reward_by_policy"] == {"nice": 8.0, "tft": 8.0}
