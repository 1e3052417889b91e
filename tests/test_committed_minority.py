"""Committed-minority sweep: on ATP diffusion populations whose critical mass is known by
construction (Granovetter threshold players with threshold m flip in round 2 iff the k
committed players they see number at least m), the sweep finds k = m; a registered world by
id works too; critical_k reads monotone and non-monotone sweeps."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dilemmazoo.agents.atp_diffusion_strategies import CommittedStrategy, ThresholdStrategy
from dilemmazoo.envs.atp_diffusion import ATPDiffusionEnv
from dilemmazoo.experiments.committed_minority import committed_minority_sweep, critical_k


def threshold_players(m: int):
    def factory():
        return ThresholdStrategy(m=m)

    factory.__name__ = f"atp_threshold(m={m})"
    return factory


@pytest.mark.parametrize("m", [1, 3, 5])
def test_sweep_finds_the_threshold_as_the_critical_k(m):
    frame = committed_minority_sweep(
        ATPDiffusionEnv, committed=CommittedStrategy, rest=threshold_players(m),
        world_kwargs={"n_agents": 8, "n_rounds": 3, "threshold": 4}, seeds=[0, 1],
    )
    assert frame["k"].tolist() == list(range(8))
    # the rest flip iff k >= m: all of them or none, on every seed
    assert frame["adoption"].tolist() == [1.0 if k >= m else 0.0 for k in range(8)]
    assert frame["flipped"].tolist() == [k >= m for k in range(8)]
    assert frame["adoption_sd"].tolist() == [0.0] * 8
    assert math.isnan(frame["committed_adoption"].iloc[0]) and frame["committed_adoption"].iloc[1:].tolist() == [1.0] * 7
    assert critical_k(frame) == m
    assert set(frame["n"]) == {8} and set(frame["seeds"]) == {2}
    assert frame["rest"].iloc[0] == f"atp_threshold(m={m})" and frame["world"].iloc[0] == "ATPDiffusionEnv"


def test_one_round_is_too_short_for_anyone_to_flip():
    # in round 1 the threshold players have seen nothing: with m >= 1 nobody follows yet
    frame = committed_minority_sweep(ATPDiffusionEnv, committed=CommittedStrategy, rest=threshold_players(2),
                                     world_kwargs={"n_agents": 6, "n_rounds": 1}, k_values=[0, 2, 5])
    assert frame["adoption"].tolist() == [0.0, 0.0, 0.0]
    assert critical_k(frame) is None


def test_on_a_ring_each_player_sees_two_neighbours():
    # a ring of 6 with threshold m = 1: one committed player's two neighbours follow in round 2,
    # theirs in round 3, the opposite seat in round 4; 3 rounds leave it out: 4 of 5 adopted
    frame = committed_minority_sweep(ATPDiffusionEnv, committed=CommittedStrategy, rest=threshold_players(1),
                                     world_kwargs={"n_agents": 6, "n_rounds": 3, "graph": "ring"}, k_values=[0, 1])
    assert frame["adoption"].tolist() == pytest.approx([0.0, 0.8])
    assert critical_k(frame) == 1


def test_a_registered_world_by_name_with_scripted_strategies():
    # repeated prisoner's dilemma: a committed defector turns tit-for-tat into a defector from round 2
    frame = committed_minority_sweep("repeated-game", committed="always_defect", rest="tit_for_tat",
                                     world_kwargs={"game": "prisoners_dilemma", "n_rounds": 3}, column="played")
    assert frame["k"].tolist() == [0, 1]
    assert frame["adoption"].tolist() == [0.0, 1.0]
    assert critical_k(frame) == 1
    assert frame["world"].iloc[0] == "dilemmazoo/repeated-game-v0"


def test_the_sweep_is_seeded_and_reproducible():
    kwargs = dict(committed=CommittedStrategy, rest=threshold_players(1),
                  world_kwargs={"n_agents": 6, "n_rounds": 2, "graph": "ring"}, k_values=[1, 2], seeds=[3, 4, 5])
    first = committed_minority_sweep(ATPDiffusionEnv, **kwargs)
    pd.testing.assert_frame_equal(first, committed_minority_sweep(ATPDiffusionEnv, **kwargs))


def test_critical_k_needs_every_larger_k_flipped():
    frame = pd.DataFrame({"k": [0, 1, 2, 3, 4], "flipped": [False, True, False, True, True]})
    assert critical_k(frame) == 3
    assert critical_k(frame.iloc[::-1]) == 3  # order does not matter
    assert critical_k(pd.DataFrame({"k": [0, 1], "flipped": [True, False]})) is None
    with pytest.raises(ValueError, match="flipped"):
        critical_k(pd.DataFrame({"k": [1]}))


@pytest.mark.parametrize("kwargs, message", [
    ({"k_values": [8]}, "k_values"),
    ({"k_values": [-1]}, "k_values"),
    ({"seeds": []}, "seeds"),
    ({"column": "no_such_info"}, "no_such_info"),
    ({"flip_level": 1.0}, "flip_level"),
    ({"world_kwargs": {"n_agents": 8, "colour": "red"}}, "world_kwargs"),
    ({"rest": 7}, "rest"),
    ({"rest": "no_such_strategy"}, "rest"),
])
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"committed": CommittedStrategy, "rest": threshold_players(2), "world_kwargs": {"n_agents": 8},
                 **kwargs}
    with pytest.raises(ValueError, match=message):
        committed_minority_sweep(ATPDiffusionEnv, **arguments)


def test_a_world_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="world"):
        committed_minority_sweep(42, committed=CommittedStrategy, rest=threshold_players(1))
