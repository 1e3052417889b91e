"""Scripted matrix-game strategies: Axelrod-style expected action sequences."""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.agents.base import Action, Agent, Decision
from dilemmazoo.agents.matrix_strategies import MATRIX_STRATEGIES, make_matrix_strategy
from dilemmazoo.envs.repeated_game import RepeatedGameEnv

C, D = 0, 1


class Sequence:
    """Plays a fixed cycle of action indices (the opponent in versus tests)."""

    def __init__(self, moves):
        self.moves, self.turn = list(moves), 0

    def reset(self, agent_id, rules, rng):
        self.turn = 0

    def act(self, request: Decision) -> Action:
        if int(request.observation["phase"]) == 1:
            return Action(value=request.spec.action_for_option(0))
        move = self.moves[self.turn % len(self.moves)]
        self.turn += 1
        return Action(value=request.spec.action_for_option(move))


def versus(first, second, turns, *, seed=0, **world):
    """Play ``first`` (player_0) against ``second`` (player_1); the played actions per seat."""
    env = RepeatedGameEnv(n_rounds=turns, **world)
    observations, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for seat, agent in zip(env.possible_agents, (first, second)):
        agent.reset(seat, env.rules(seat), rng)
    moves = ([], [])
    step = 0
    while env.agents:
        actions = {}
        for seat, agent in zip(env.possible_agents, (first, second)):
            request = Decision(seat, observations[seat], env.describe(seat), env.action_spec(seat), "", step, 0)
            action = agent.act(request)
            assert env.action_space(seat).contains(action.value)
            actions[seat] = action.value
        observations, _, _, _, infos = env.step(actions)
        if infos["player_0"]["phase"] == "act":
            moves[0].append(infos["player_0"]["played"])
            moves[1].append(infos["player_1"]["played"])
        step += 1
    return moves


def strategy(name, game="prisoners_dilemma", **params):
    return make_matrix_strategy(name, payoffs=RepeatedGameEnv(game=game).payoffs, **params)


@pytest.mark.parametrize(
    "name, opponent, expected",
    [
        ("always_cooperate", [D], [C, C, C, C]),
        ("always_defect", [C], [D, D, D, D]),
        ("tit_for_tat", [C, D, D, C, C], [C, C, D, D, C, C]),
        ("grim", [C, D, C, C, C, C], [C, C, D, D, D, D]),
        ("pavlov", [C, D, D, C, C, D], [C, C, D, C, C, C]),
        ("pavlov", [D], [C, D, C, D, C, D]),
        ("greedy", [C], [D, D, D, D]),
        ("welfare_maximiser", [D], [C, C, C, C]),
    ],
)
def test_versus_prisoners_dilemma(name, opponent, expected):
    mine, theirs = versus(strategy(name), Sequence(opponent), len(expected))
    assert mine == expected
    assert theirs == [opponent[i % len(opponent)] for i in range(len(expected))]


def test_strategies_play_the_second_seat_too():
    assert versus(Sequence([C, D, D, C]), strategy("tit_for_tat"), 4)[1] == [C, C, D, D]


def test_greedy_best_responds_and_opens_with_maximin():
    # stag hunt: maximin is Hare; then the best response to Stag is Stag
    assert versus(strategy("greedy", "stag_hunt"), Sequence([C]), 4, game="stag_hunt")[0] == [D, C, C, C]
    # battle of the sexes as the column player: follow the row player's last move
    bos = versus(Sequence([D]), strategy("greedy", "battle_of_the_sexes"), 4, game="battle_of_the_sexes")
    assert bos[1] == [C, D, D, D]


def test_strategies_take_the_game_by_name():
    by_name = make_matrix_strategy("greedy", game="stag_hunt")
    assert np.array_equal(by_name.payoffs, RepeatedGameEnv(game="stag_hunt").payoffs)
    with pytest.raises(ValueError, match="not both"):
        make_matrix_strategy("greedy", game="stag_hunt", payoffs=by_name.payoffs)
    with pytest.raises(ValueError, match="unknown game"):
        make_matrix_strategy("greedy", game="nope")


def test_welfare_maximiser_plays_its_part_of_the_best_profile():
    payoffs = np.array([[[1, 1], [2, 9]], [[0, 0], [0, 0]]], dtype=float)
    row = make_matrix_strategy("welfare_maximiser", payoffs=payoffs)
    col = make_matrix_strategy("welfare_maximiser", payoffs=payoffs)
    assert versus(row, col, 3, payoffs=payoffs) == ([0, 0, 0], [1, 1, 1])


def test_random_uses_the_reset_generator():
    first = versus(strategy("random"), strategy("random"), 200, seed=5)
    assert first == versus(strategy("random"), strategy("random"), 200, seed=5)
    assert 0.4 < np.mean(first[0]) < 0.6
    assert versus(strategy("random", p_first=1.0), Sequence([C]), 20)[0] == [C] * 20
    three = versus(make_matrix_strategy("random"), Sequence([0]), 300, payoffs=np.zeros((3, 3, 2)))[0]
    assert set(three) == {0, 1, 2}


def test_predictions_repeat_the_others_last_move():
    env = RepeatedGameEnv(n_rounds=3, predict_first=True)
    observations, _ = env.reset(seed=0)
    tft, opponent = strategy("tit_for_tat"), Sequence([D])
    for seat, agent in zip(env.possible_agents, (tft, opponent)):
        agent.reset(seat, "", np.random.default_rng(0))
    predictions = []
    for step in range(6):
        actions = {
            seat: agent.act(Decision(seat, observations[seat], "", env.action_spec(seat), "", step, 0)).value
            for seat, agent in zip(env.possible_agents, (tft, opponent))
        }
        observations, _, _, _, infos = env.step(actions)
        if infos["player_0"]["phase"] == "act":
            predictions.append(infos["player_0"]["prediction"])
    assert predictions == [C, D, D]


def test_registry_and_errors():
    assert set(MATRIX_STRATEGIES) == {
        "always_cooperate", "always_defect", "tit_for_tat", "grim", "pavlov", "random", "greedy", "welfare_maximiser"
    }
    for name in MATRIX_STRATEGIES:
        assert isinstance(make_matrix_strategy(name), Agent)
    with pytest.raises(ValueError, match="known: always_cooperate"):
        make_matrix_strategy("tft")
    with pytest.raises(ValueError, match="bad parameters"):
        make_matrix_strategy("grim", forgiveness=1)
    with pytest.raises(ValueError, match="needs the game's payoffs"):
        versus(make_matrix_strategy("greedy"), Sequence([C]), 1)
