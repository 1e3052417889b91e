"""repeated-game-v0: exact payoff tables, ordinal games, noise, Akata's predict-first variant."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from dilemmazoo.envs import ActionParseError, Choice, make_world
from dilemmazoo.envs.repeated_game import (
    N_ORDINAL_GAMES,
    RepeatedGameEnv,
    game_payoffs,
    named_game,
    ordinal_game,
    ordinal_games,
    stage_nash_equilibria,
)

pytestmark = [pytest.mark.filterwarnings("ignore:Observation is not a NumPy array")]

# (row, column) payoffs for profiles 00, 01, 10, 11, written out by hand from the sources.
EXPECTED = {
    "prisoners_dilemma": [(3, 3), (0, 5), (5, 0), (1, 1)],
    "akata_prisoners_dilemma": [(8, 8), (0, 10), (10, 0), (5, 5)],
    "battle_of_the_sexes": [(10, 7), (0, 0), (0, 0), (7, 10)],
    "stag_hunt": [(4, 4), (1, 3), (3, 1), (2, 2)],
    "chicken": [(3, 3), (1, 4), (4, 1), (0, 0)],
    "matching_pennies": [(1, -1), (-1, 1), (-1, 1), (1, -1)],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_named_game_payoffs_are_exact(name):
    payoffs = named_game(name)
    assert payoffs.shape == (2, 2, 2)
    cells = [tuple(payoffs[i, j]) for i, j in itertools.product(range(2), range(2))]
    assert cells == [tuple(float(v) for v in c) for c in EXPECTED[name]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_world_pays_each_profile(name):
    for i, j in itertools.product(range(2), range(2)):
        env = RepeatedGameEnv(game=name, n_rounds=1)
        env.reset(seed=0)
        _, rewards, terms, _, infos = env.step({"player_0": np.int64(i), "player_1": np.int64(j)})
        expected = EXPECTED[name][2 * i + j]
        assert (rewards["player_0"], rewards["player_1"]) == expected
        assert all(terms.values()) and env.agents == []
        assert infos["player_1"]["played"] == j and infos["player_1"]["other_played"] == i


def test_dilemma_orderings():
    r, s, t, p = 3, 0, 5, 1
    pd_ = named_game("prisoners_dilemma")
    assert (pd_[0, 0, 0], pd_[0, 1, 0], pd_[1, 0, 0], pd_[1, 1, 0]) == (r, s, t, p)
    akata = named_game("akata_prisoners_dilemma")
    assert akata[1, 0, 0] > akata[0, 0, 0] > akata[1, 1, 0] > akata[0, 1, 0]  # T > R > P > S
    assert stage_nash_equilibria(pd_) == [(1, 1)]
    assert stage_nash_equilibria(named_game("battle_of_the_sexes")) == [(0, 0), (1, 1)]
    assert stage_nash_equilibria(named_game("stag_hunt")) == [(0, 0), (1, 1)]
    assert stage_nash_equilibria(named_game("chicken")) == [(0, 1), (1, 0)]
    assert stage_nash_equilibria(named_game("matching_pennies")) == []


def test_ordinal_games_count_and_ranks():
    games = ordinal_games()
    assert games.shape == (N_ORDINAL_GAMES, 2, 2, 2) == (144, 2, 2, 2)
    for g in games:
        for player in range(2):
            assert sorted(g[:, :, player].ravel()) == [1, 2, 3, 4]
    # Canonical form: row player's 4 in row 0, column player's 4 in column 0.
    assert all((g[0, :, 0] == 4).any() and (g[:, 0, 1] == 4).any() for g in games)

    def orbit(g):
        variants = [g, g[::-1], g[:, ::-1], g[::-1, ::-1]]
        return {v.tobytes() for v in variants}

    # distinct under relabelling strategies: 144 classes covering all 576 rank pairs
    seen = set()
    for g in games:
        keys = orbit(g)
        assert not keys & seen
        seen |= keys
    assert len(seen) == 576

    # also identifying player swaps gives Rapoport & Guyer's 78
    def swap(g):
        return np.stack([g[:, :, 1].T, g[:, :, 0].T], axis=-1)

    classes = {min(orbit(g) | orbit(swap(g))) for g in games}
    assert len(classes) == 78


def test_ordinal_game_by_name_and_bad_index():
    assert np.array_equal(game_payoffs("ordinal:1"), ordinal_game(1))
    env = RepeatedGameEnv(game="ordinal:144")
    assert np.array_equal(env.payoffs, ordinal_game(144))
    assert env.labels == ("J", "F")
    for bad in (0, 145, 1.5, True):
        with pytest.raises(ValueError, match="1 to 144"):
            ordinal_game(bad)
    with pytest.raises(ValueError, match="ordinal:N"):
        RepeatedGameEnv(game="ordinal:x")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"game": "no_such_game"}, "unknown game"),
        ({"game": "prisoners_dilemma", "payoffs": np.zeros((2, 2, 2))}, "not both"),
        ({"payoffs": np.zeros((2, 3, 2))}, r"shape \(n, n, 2\)"),
        ({"payoffs": np.zeros((1, 1, 2))}, "n >= 2"),
        ({"payoffs": [[[1, np.nan], [0, 0]], [[0, 0], [0, 0]]]}, "finite"),
        ({"n_rounds": 0}, "n_rounds"),
        ({"noise": 1.5}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"labels": ["A"]}, "2 non-empty strings"),
        ({"labels": ["a", "A"]}, "differ"),
        ({"labels": "fancy"}, "labels"),
        ({"predict_first": 1}, "predict_first"),
        ({"render_mode": "rgb_array"}, "render_mode"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RepeatedGameEnv(**kwargs)


def test_invalid_actions():
    env = RepeatedGameEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="index"):
        env.step({"player_0": np.int64(2), "player_1": np.int64(0)})
    with pytest.raises(ValueError, match="must send an action"):
        env.step({"player_0": np.int64(0)})


def test_explicit_n_by_n_payoffs_and_labels():
    payoffs = np.arange(18, dtype=float).reshape(3, 3, 2)
    env = RepeatedGameEnv(payoffs=payoffs, n_rounds=2, labels=["Rock", "Paper", "Scissors"])
    env.reset(seed=0)
    spec = env.action_spec("player_1")
    assert isinstance(spec, Choice) and spec.labels == ("Rock", "Paper", "Scissors")
    assert spec.parse("I think... Answer: Paper") == 1
    with pytest.raises(ActionParseError):
        spec.parse("Answer: Lizard")
    _, rewards, *_ = env.step({"player_0": np.int64(2), "player_1": np.int64(1)})
    assert rewards == {"player_0": payoffs[2, 1, 0], "player_1": payoffs[2, 1, 1]}
    assert RepeatedGameEnv(payoffs=payoffs).labels == ("A", "B", "C")
    assert RepeatedGameEnv(game="akata_prisoners_dilemma", labels="neutral").labels == ("J", "F")


def test_rules_state_the_table_from_each_players_view():
    env = RepeatedGameEnv(game="battle_of_the_sexes", labels="neutral")
    row, col = env.rules("player_0"), env.rules("player_1")
    assert "If you choose Option J and the other player chooses Option J, then you win 10 points and the other player wins 7 points." in row
    assert "If you choose Option J and the other player chooses Option J, then you win 7 points and the other player wins 10 points." in col
    assert "10 rounds" in row


def test_describe_gives_history_and_scores():
    env = RepeatedGameEnv(game="akata_prisoners_dilemma", labels="neutral", n_rounds=3)
    env.reset(seed=0)
    env.step({"player_0": np.int64(0), "player_1": np.int64(1)})
    text = env.describe("player_0")
    assert "In round 1, you chose Option J and the other player played Option F." in text
    assert "you won 0 points and the other player won 10 points" in text
    assert "You have 0 points; the other player has 10 points." in text
    assert "round 2" in text


def test_fallback_is_action_zero():
    env = RepeatedGameEnv()
    env.reset(seed=0)
    assert env.action_spec("player_0").fallback == 0


def test_noise_statistics_with_a_fixed_seed():
    env = RepeatedGameEnv(n_rounds=2000, noise=0.1)
    env.reset(seed=7)
    flips = 0
    while env.agents:
        *_, infos = env.step({"player_0": np.int64(0), "player_1": np.int64(1)})
        for agent, intended in (("player_0", 0), ("player_1", 1)):
            assert infos[agent]["intended"] == intended
            flips += infos[agent]["played"] != intended
    assert 0.085 < flips / 4000 < 0.115
    # the same seed repeats, and no noise means no flips
    def played(seed, noise):
        env = RepeatedGameEnv(n_rounds=50, noise=noise)
        env.reset(seed=seed)
        out = []
        while env.agents:
            *_, infos = env.step({"player_0": np.int64(0), "player_1": np.int64(0)})
            out.append(infos["player_0"]["played"])
        return out

    assert played(3, 0.3) == played(3, 0.3)
    assert played(3, 0.0) == [0] * 50


def test_noise_on_n_by_n_picks_another_action():
    env = RepeatedGameEnv(payoffs=np.zeros((4, 4, 2)), n_rounds=300, noise=1.0)
    env.reset(seed=0)
    seen = set()
    while env.agents:
        *_, infos = env.step({"player_0": np.int64(2), "player_1": np.int64(2)})
        assert infos["player_0"]["played"] != 2
        seen.add(infos["player_0"]["played"])
    assert seen == {0, 1, 3}


def test_predict_first_phase_order_and_zero_reward():
    env = RepeatedGameEnv(game="battle_of_the_sexes", n_rounds=2, predict_first=True)
    observations, _ = env.reset(seed=0)
    phases, rewards_seen = [], []
    assert observations["player_0"]["phase"] == 1
    assert "predict" in env.action_spec("player_0").instruction
    step = 0
    while env.agents:
        predict = observations["player_0"]["phase"] == 1
        action = np.int64(1) if predict else np.int64(0)
        observations, rewards, _, _, infos = env.step({"player_0": action, "player_1": action})
        phases.append((infos["player_0"]["phase"], infos["player_0"]["round"]))
        rewards_seen.append(rewards["player_0"])
        if not predict:
            assert infos["player_0"]["prediction"] == 1 and infos["player_0"]["played"] == 0
        else:
            assert infos["player_0"]["played"] == -1
        step += 1
    assert phases == [("predict", 1), ("act", 1), ("predict", 2), ("act", 2)]
    assert rewards_seen == [0.0, 10.0, 0.0, 10.0]
    assert env.action_space("player_0").n == 2


@pytest.mark.parametrize("kwargs", [{"predict_first": True}, {"noise": 0.2}, {"game": "ordinal:17"}])
def test_variants_pass_the_parallel_api_test(kwargs):
    parallel_api_test(make_world("repeated-game", **kwargs), num_cycles=200)


def test_render_modes(capsys):
    env = RepeatedGameEnv(render_mode="ansi", n_rounds=1)
    env.reset(seed=0)
    env.step({"player_0": np.int64(0), "player_1": np.int64(1)})
    text = env.render()
    assert "player_0 Cooperate, player_1 Defect" in text and "player_1 5" in text
    env = RepeatedGameEnv(render_mode="human", n_rounds=1)
    env.reset(seed=0)
    env.step({"player_0": np.int64(0), "player_1": np.int64(1)})
    assert "scores" in capsys.readouterr().out
