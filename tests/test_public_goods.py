"""public-goods-v0: hand-computed payoffs, the language contract, PettingZoo conformance, metrics.

The world is not registered yet, so the registry-wide conformance tests do not reach it: the
same checks run here on the class directly, for both contribution modes.
"""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import data_equivalence
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, render_test, seed_test
from pettingzoo.utils.conversions import parallel_to_aec

from dilemmazoo.analysis.public_goods import (
    DESCRIPTIONS,
    contribution_by_round,
    contribution_rate,
    full_contribution_rate,
    mean_payoff,
    normalised_cooperation,
    public_goods_figures,
    public_goods_metrics,
    public_goods_outcome,
)
from dilemmazoo.envs import ActionParseError, ActionSpec, Amount, Choice
from dilemmazoo.envs.public_goods import PublicGoodsEnv, public_goods_payoffs, reference_payoffs

# Dict observations by design (ARCHITECTURE: "numpy arrays or Dicts of them"), as in test_worlds_conformance.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Observation is not a NumPy array"),
    pytest.mark.filterwarnings("ignore:Observation space for each agent probably should be"),
]

MODES = [{}, {"contributions": "any_amount"}]
SEATS = ["player_0", "player_1", "player_2"]

# CoopEval's game (N 3, e 1, m 1.5), by hand: k contributors, share 1.5 k / 3 = k / 2;
# a contributor gets the share, a free-rider 1 + share.
CONTRIBUTOR = {1: 0.5, 2: 1.0, 3: 1.5}
FREE_RIDER = {0: 1.0, 1: 1.5, 2: 2.0}


# -- pure rules ---------------------------------------------------------------------------------

def test_payoffs_by_hand():
    assert public_goods_payoffs([0, 0, 0]).tolist() == [1.0, 1.0, 1.0]
    assert public_goods_payoffs([1, 0, 0]).tolist() == [0.5, 1.5, 1.5]
    assert public_goods_payoffs([1, 1, 0]).tolist() == [1.0, 1.0, 2.0]
    assert public_goods_payoffs([1, 1, 1]).tolist() == [1.5, 1.5, 1.5]
    # any amounts: pi_i = e - c_i + m sum(c) / N; sum 1.5, so everyone gets 0.75 from the pool
    assert public_goods_payoffs([0.5, 0.0, 1.0]) == pytest.approx([1.25, 1.75, 0.75], abs=1e-12)
    # N 4, e 10, m 2, two contributors: share 2 * 2 * 10 / 4 = 10
    assert public_goods_payoffs([10, 0, 10, 0], endowment=10, multiplier=2).tolist() == [10.0, 20.0, 10.0, 20.0]


def test_payoff_rule_errors():
    with pytest.raises(ValueError, match="contributions"):
        public_goods_payoffs([1.5, 0, 0])
    with pytest.raises(ValueError, match="contributions"):
        public_goods_payoffs([[1, 0]])
    with pytest.raises(ValueError, match="endowment"):
        public_goods_payoffs([0, 0], endowment=0)


def test_reference_payoffs_are_coopevals_points():
    assert reference_payoffs() == (1.0, 1.5)
    assert reference_payoffs(endowment=20, multiplier=1.6) == (20.0, 32.0)


@pytest.mark.parametrize("n, multiplier", [(3, 1.5), (4, 2.0), (5, 1.0)])
def test_free_riding_is_dominant(n, multiplier):
    # Whatever the others do, keeping the endowment pays e (1 - m / N) >= 0 more than giving it.
    for others in itertools.product([0.0, 1.0], repeat=n - 1):
        give = public_goods_payoffs([1.0, *others], multiplier=multiplier)[0]
        keep = public_goods_payoffs([0.0, *others], multiplier=multiplier)[0]
        assert keep - give == pytest.approx(1 - multiplier / n, abs=1e-12)


# -- the world ----------------------------------------------------------------------------------

@pytest.mark.parametrize("moves", list(itertools.product([0, 1], repeat=3)))
def test_world_pays_every_profile(moves):
    env = PublicGoodsEnv(n_rounds=1)
    env.reset(seed=0)
    _, rewards, terminations, _, infos = env.step({a: np.int64(m) for a, m in zip(SEATS, moves)})
    k = moves.count(0)
    for agent, move in zip(SEATS, moves):
        expected = CONTRIBUTOR[k] if move == 0 else FREE_RIDER[k]
        assert rewards[agent] == expected
        info = infos[agent]
        assert (info["round"], info["round_end"], info["contributors"], info["payoff"]) == (1, True, k, expected)
        assert info["move"] == ("contribute" if move == 0 else "free-ride")
        assert info["contribution"] == (1.0 if move == 0 else 0.0)
        assert info["share"] == k / 2
    assert all(terminations.values()) and env.agents == []  # one-shot


def test_amounts_are_paid_and_clipped():
    env = PublicGoodsEnv(contributions="any_amount", endowment=10, multiplier=2, n_players=4, n_rounds=2)
    env.reset(seed=0)
    actions = {"player_0": 10.0, "player_1": np.array([2.5]), "player_2": 12.0, "player_3": -1}
    _, rewards, _, _, infos = env.step(actions)
    # clipped to 10 and 0: pool 22.5, share 2 * 22.5 / 4 = 11.25
    assert [rewards[f"player_{i}"] for i in range(4)] == [11.25, 18.75, 11.25, 21.25]
    assert [infos[f"player_{i}"]["clipped"] for i in range(4)] == [False, False, True, True]
    assert [infos[f"player_{i}"]["move"] for i in range(4)] == ["contribute", "partial", "contribute", "free-ride"]
    assert infos["player_0"]["contributors"] == 3
    with pytest.raises(ValueError, match="player_0"):
        env.step({"player_0": "all", "player_1": 0.0, "player_2": 0.0, "player_3": 0.0})


def test_repeated_play_observes_the_last_round():
    env = PublicGoodsEnv(n_rounds=3)
    observations, infos = env.reset(seed=1)
    assert observations["player_0"]["last_contributions"].tolist() == [-1.0, -1.0, -1.0]
    assert observations["player_0"]["last_contributors"] == -1
    assert infos["player_0"] == {
        "round": 0, "round_end": False, "move": "", "contribution": 0.0, "contributors": -1, "share": 0.0,
        "payoff": 0.0, "clipped": False, "n_players": 3, "endowment": 1.0, "multiplier": 1.5,
    }
    totals = dict.fromkeys(SEATS, 0.0)
    for moves in [(0, 0, 1), (1, 1, 1), (0, 0, 0)]:
        observations, rewards, terminations, _, _ = env.step({a: np.int64(m) for a, m in zip(SEATS, moves)})
        for agent in rewards:
            totals[agent] += rewards[agent]
    assert totals == {"player_0": 1.0 + 1.0 + 1.5, "player_1": 1.0 + 1.0 + 1.5, "player_2": 2.0 + 1.0 + 1.5}
    assert all(terminations.values())
    assert observations["player_2"]["last_contributions"].tolist() == [1.0, 1.0, 1.0]
    assert observations["player_2"]["last_contributors"] == 3 and observations["player_2"]["round"] == 4


@pytest.mark.parametrize("kwargs, name", [
    ({"n_players": 1}, "n_players"),
    ({"multiplier": 0.9}, "multiplier"),
    ({"multiplier": 3.5}, "multiplier"),
    ({"endowment": 0}, "endowment"),
    ({"n_rounds": 0}, "n_rounds"),
    ({"contributions": "some"}, "contributions"),
    ({"labels": ["Give", "give"]}, "labels"),
    ({"labels": "neutral"}, "labels"),
    ({"fallback_move": "cooperate"}, "fallback_move"),
    ({"history_rounds": 0}, "history_rounds"),
    ({"render_mode": "rgb_array"}, "render_mode"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PublicGoodsEnv(**kwargs)


def test_multiplier_may_reach_n():
    assert PublicGoodsEnv(n_players=4, multiplier=4).multiplier == 4.0


# -- language view ------------------------------------------------------------------------------

def test_rules_give_each_option_from_the_players_side():
    rules = PublicGoodsEnv(n_rounds=1).rules("player_1")
    assert "You play one round." in rules
    assert "If 0 of the other 2 players contribute: Option Contribute earns you 0.5 points and Option Free-ride earns you 1 point." in rules
    assert "If 1 of the other 2 players contributes: Option Contribute earns you 1 point and Option Free-ride earns you 1.5 points." in rules
    assert "If 2 of the other 2 players contribute: Option Contribute earns you 1.5 points and Option Free-ride earns you 2 points." in rules
    assert "over all rounds" not in rules
    assert "You play 10 rounds with the same players." in PublicGoodsEnv().rules("player_0")
    amounts = PublicGoodsEnv(contributions="any_amount").rules("player_0")
    assert "each point you put in returns 0.5 points to you" in amounts
    assert "if everyone contributes 1, everyone earns 1.5 points" in amounts


def test_describe_names_the_others():
    env = PublicGoodsEnv(n_rounds=2)
    env.reset(seed=0, options={"names": {"player_0": "Ann", "player_1": "Bob", "player_2": "Cy"}})
    assert env.describe("player_0").endswith("It is now round 1 of 2.")
    env.step({"player_0": np.int64(0), "player_1": np.int64(1), "player_2": np.int64(0)})
    text = env.describe("player_1")
    assert ("Round 1: Ann chose Option Contribute, you chose Option Free-ride, Cy chose Option Contribute; "
            "2 of 3 contributed, so each share was 1; you earned 2 points.") in text
    assert "Your total so far: 2 points." in text and env.display_name("player_2") == "Cy"


def test_choice_grammar_and_fallback():
    spec = PublicGoodsEnv().action_spec("player_0")
    assert isinstance(spec, Choice) and spec.fallback == 1  # free-ride by default
    assert spec.parse("I will put it in.\nAnswer: Contribute") == 0
    assert spec.parse("Answer: **free-ride**") == 1
    for bad in ["Answer: Contribute or Free-ride", "Answer: not Contribute", "Answer: Contribute and cooperate", "Contribute"]:
        with pytest.raises(ActionParseError):
            spec.parse(bad)
    assert PublicGoodsEnv(fallback_move="contribute").action_spec("player_0").fallback == 0
    indexed = PublicGoodsEnv(labels="indexed").action_spec("player_0")
    assert indexed.labels == ("A0", "A1") and indexed.parse("Answer: A1") == 1


def test_amount_grammar_and_fallback():
    spec = PublicGoodsEnv(contributions="any_amount", endowment=20).action_spec("player_0")
    assert isinstance(spec, Amount)
    assert spec.parse("Answer: 7.5").tolist() == [7.5]
    assert spec.fallback.tolist() == [0.0]
    for bad in ["Answer: 25", "Answer: 50%", "Answer: 5 or 6"]:
        with pytest.raises(ActionParseError):
            spec.parse(bad)
    contribute = PublicGoodsEnv(contributions="any_amount", endowment=20, fallback_move="contribute")
    assert contribute.action_spec("player_0").fallback.tolist() == [20.0]


# -- conformance (what tests/test_worlds_conformance.py runs on registered worlds) ---------------

@pytest.mark.parametrize("kwargs", MODES)
def test_pettingzoo_conformance(kwargs):
    parallel_api_test(PublicGoodsEnv(**kwargs), num_cycles=1000)
    api_test(parallel_to_aec(PublicGoodsEnv(**kwargs)), num_cycles=1000)
    parallel_seed_test(lambda: PublicGoodsEnv(**kwargs))
    seed_test(lambda: parallel_to_aec(PublicGoodsEnv(**kwargs)))
    render_test(lambda render_mode=None: parallel_to_aec(PublicGoodsEnv(render_mode=render_mode, **kwargs)))


@pytest.mark.parametrize("kwargs", MODES)
def test_pickles_mid_game_and_repeats_with_the_seed(kwargs):
    env = PublicGoodsEnv(**kwargs)
    env.reset(seed=1)
    env.step({a: env.action_spec(a).fallback for a in env.agents})
    copy = pickle.loads(pickle.dumps(env))
    actions = {a: env.action_space(a).sample() for a in env.agents}
    assert data_equivalence(env.step(actions), copy.step(actions))

    def play(seed):
        world = PublicGoodsEnv(**kwargs)
        rows = [world.reset(seed=seed)]
        for i, agent in enumerate(world.possible_agents):
            world.action_space(agent).seed(100 + i)
        while world.agents:
            rows.append(world.step({a: world.action_space(a).sample() for a in world.agents}))
        return rows

    assert data_equivalence(play(3), play(3))


@pytest.mark.parametrize("kwargs", MODES)
def test_language_interface_plays_through_on_fallbacks(kwargs):
    env = PublicGoodsEnv(**kwargs)
    _, infos = env.reset(seed=0)
    keys = {a: set(i) for a, i in infos.items()}
    scalar = (str, int, float, bool, type(None), np.generic)
    while env.agents:
        assert env.deciders() == env.agents
        actions = {}
        for agent in env.agents:
            spec = env.action_spec(agent)
            assert env.rules(agent).strip() and env.describe(agent).strip() and isinstance(spec, ActionSpec)
            assert env.action_space(agent).contains(spec.fallback)
            actions[agent] = spec.fallback
        *_, infos = env.step(actions)
        for agent, info in infos.items():
            assert set(info) == keys[agent] and all(isinstance(v, scalar) for v in info.values())
    assert env.deciders() == [] and env.describe("player_0").endswith("The game is over.")


def test_module_docstring_is_the_world_spec_page():
    import dilemmazoo.envs.public_goods as module

    first = module.__doc__.splitlines()[0]
    assert first == "The public goods game — ``dilemmazoo/public-goods-v0``."
    assert "Version history" in module.__doc__


# -- metrics ------------------------------------------------------------------------------------

def _records(moves_by_round, fallbacks=(), policies=None, **kwargs) -> pd.DataFrame:
    """Play the world and record rows the way the runner does (decided, fallback_used, reward, infos)."""
    env = PublicGoodsEnv(n_rounds=len(moves_by_round), **kwargs)
    env.reset(seed=0)
    rows = []
    for step, moves in enumerate(moves_by_round, start=1):
        _, rewards, _, _, infos = env.step({a: m for a, m in zip(env.possible_agents, moves)})
        for seat, agent in enumerate(env.possible_agents):
            rows.append({"episode": 0, "step": step, "agent": agent, "decided": True,
                         "fallback_used": (step, agent) in fallbacks, "reward": rewards[agent],
                         "policy": (policies or {}).get(agent, "p"), **infos[agent]})
    return pd.DataFrame(rows)


def test_metrics_by_hand():
    c, f = np.int64(0), np.int64(1)
    # round 1: C C F (payoffs 1, 1, 2); round 2: C F F (0.5, 1.5, 1.5), player_2's F a fallback
    steps = _records([(c, c, f), (c, f, f)], fallbacks={(2, "player_2")},
                     policies={"player_0": "a", "player_1": "a", "player_2": "b"})
    assert contribution_rate(steps) == pytest.approx(3 / 5)  # 3 contributions in 5 valid decisions
    assert contribution_rate(steps, by="policy").to_dict() == pytest.approx({"a": 3 / 4, "b": 0.0})
    assert full_contribution_rate(steps) == 0.0  # round 2 has a fallback; round 1 is not full
    assert mean_payoff(steps) == pytest.approx((1 + 1 + 2 + 0.5 + 1.5 + 1.5) / 6)
    metrics = public_goods_metrics(steps)
    assert metrics["normalised_cooperation"] == pytest.approx((7.5 / 6 - 1) / 0.5)
    assert (metrics["valid_decisions"], metrics["fallbacks"], metrics["fallback_rate"]) == (5, 1, pytest.approx(1 / 6))
    # a: player_0 1, 0.5 and player_1 1, 1.5; b: player_2 2, 1.5
    assert metrics["mean_payoff_by_policy"] == pytest.approx({"a": 4.0 / 4, "b": 3.5 / 2})
    assert "nan_reasons" not in metrics


def test_metrics_extremes_and_amounts():
    c, f = np.int64(0), np.int64(1)
    everyone = public_goods_metrics(_records([(c, c, c)]))
    assert (everyone["contribution_rate"], everyone["full_contribution_rate"], everyone["normalised_cooperation"]) == (1, 1, 1)
    nobody = public_goods_metrics(_records([(f, f, f)]))
    assert (nobody["contribution_rate"], nobody["normalised_cooperation"]) == (0, 0)
    amounts = _records([(5.0, 0.0, 10.0)], contributions="any_amount", endowment=10, multiplier=3)
    assert contribution_rate(amounts) == pytest.approx(0.5)
    # pool 15, share 15; payoffs 20, 25, 15; mean 20, NE 10, coop 30
    assert public_goods_metrics(amounts)["normalised_cooperation"] == pytest.approx(0.5)


def test_metrics_nan_reasons():
    c = np.int64(0)
    steps = _records([(c, c, c)], fallbacks={(1, a) for a in SEATS})
    metrics = public_goods_metrics(steps)
    assert math.isnan(metrics["contribution_rate"]) and "fallbacks" in metrics["nan_reasons"]["contribution_rate"]
    flat = public_goods_metrics(_records([(c, c, c)], multiplier=1.0))
    assert math.isnan(flat["normalised_cooperation"]) and "multiplier 1" in flat["nan_reasons"]["normalised_cooperation"]
    with pytest.raises(ValueError, match="contribution"):
        public_goods_metrics(steps.drop(columns=["contribution"]))


def test_normalised_cooperation():
    assert normalised_cooperation(1.25, 1.0, 1.5) == 0.5
    assert normalised_cooperation(-1.0, -1.0, 0.0) == 0.0  # matching pennies' points
    assert normalised_cooperation(4.0, 2.0, 5.0) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="differ"):
        normalised_cooperation(1.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="value"):
        normalised_cooperation(math.nan, 1.0, 2.0)


def test_report_helpers():
    c, f = np.int64(0), np.int64(1)
    steps = _records([(c, c, f), (c, f, f), (f, f, f)], fallbacks={(2, "player_2")})
    assert contribution_by_round(steps).to_dict() == pytest.approx({1: 2 / 3, 2: 1 / 2, 3: 0.0})
    # payoffs: round 1: 1, 1, 2; round 2: 0.5, 1.5, 1.5; round 3: 1, 1, 1 -> mean 10.5 / 9
    assert public_goods_outcome(steps) == (
        "contribution rate 0.375; mean payoff 1.17 per player and round (all free-ride 1, all contribute 1.5)"
    )
    assert public_goods_outcome(steps.iloc[0:0]) == "no round played"
    [(title, figure)] = public_goods_figures({"seed 0": steps, "seed 1": steps}, {})
    assert title == "Contribution rate by round" and len(figure.axes[0].lines) == 3  # two runs and their mean
    [(_, note)] = public_goods_figures({"seed 0": steps.drop(columns=["round"])}, {})
    assert "round" in note.axes[0].texts[0].get_text()
    metrics = public_goods_metrics(_records([(c, f, f)], policies={"player_0": "a"}))
    assert set(metrics) - {"nan_reasons", "valid_decisions", "fallbacks"} <= set(DESCRIPTIONS)
