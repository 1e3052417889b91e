"""Exact tests of Trust-and-Split (TAS-RPS, arXiv 2511.19405): allocation, payoffs, phase order,
message limits, hidden information, a game driven by parsed answers, and its metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from dilemmazoo.analysis import WORLD_METRICS, world_metrics
from dilemmazoo.analysis.trust_split import (
    claimed_hand,
    exploitation,
    honesty_rate,
    mean_proposal_by_hand,
    message_is_honest,
    split_efficiency,
    trust_split_metrics,
)
from dilemmazoo.envs import ActionParseError, Amount, Message, make_world
from dilemmazoo.envs.base import format_number
from dilemmazoo.envs.messages import BoundedMessage, decode_message, encode_message, message_space, read_message
from dilemmazoo.envs.split_rule import proportional_allocation, split_rewards
from dilemmazoo.envs.trust_split import HANDS, TrustSplitEnv, draw_hands, hand_beats

# --------------------------------------------------------------------------------------------
# Pure mechanics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "xa, xb, expected",
    [
        (10, 10, (5.0, 5.0)),  # both greedy
        (5, 5, (5.0, 5.0)),
        (10, 0, (10.0, 0.0)),
        (3, 4, (3.0, 4.0)),  # fits: leftover 3 wasted
        (0, 0, (0.0, 0.0)),
        (6, 4, (6.0, 4.0)),  # exactly the pool
        (8, 4, (20 / 3, 10 / 3)),  # 10 * 8 / 12, 10 * 4 / 12
        (10, 5, (20 / 3, 10 / 3)),
        (7, 7, (5.0, 5.0)),
        (9, 3, (7.5, 2.5)),
    ],
)
def test_proportional_allocation_table(xa, xb, expected):
    assert proportional_allocation(xa, xb, 10) == pytest.approx(expected, abs=1e-12)


def test_allocation_rejects_negative_claims():
    with pytest.raises(ValueError):
        proportional_allocation(-1, 3, 10)


@pytest.mark.parametrize(
    "xa, xb, va, vb, expected",
    [
        (10, 10, 10, 1, (50.0, 5.0)),  # greedy/greedy: welfare 55
        (5, 5, 10, 1, (50.0, 5.0)),  # uninformed 5/5: welfare 55
        (10, 0, 10, 1, (100.0, 0.0)),  # all to the winner: 100
        (0, 10, 10, 1, (0.0, 10.0)),  # all to the loser: 10
        (9, 3, 1, 10, (7.5, 25.0)),
        (8, 4, 10, 1, (200 / 3, 10 / 3)),
    ],
)
def test_split_rewards_one_item(xa, xb, va, vb, expected):
    assert split_rewards([xa], [xb], [va], [vb], 10) == pytest.approx(expected)


def test_hands():
    rock, paper, scissors = range(3)
    assert hand_beats(paper, rock) and hand_beats(scissors, paper) and hand_beats(rock, scissors)
    assert not hand_beats(rock, paper) and not hand_beats(paper, scissors) and not hand_beats(scissors, rock)
    assert not any(hand_beats(h, h) for h in range(3))
    rng = np.random.default_rng(0)
    draws = [draw_hands(rng) for _ in range(300)]
    assert all(a != b for a, b in draws)
    assert {a for a, _ in draws} == {0, 1, 2}


def test_message_encoding_round_trips():
    text = "I have paper — trust me ✓ 🙂"
    codes = encode_message(text, 40)
    assert codes.shape == (40,) and codes.dtype == np.int32
    assert decode_message(codes) == text
    assert decode_message(encode_message("", 5)) == ""
    assert decode_message(np.array([0xD800, 65, 0, 66])) == "\ufffdA"
    with pytest.raises(ValueError, match="limit is 3"):
        encode_message("four", 3)


def test_read_message_takes_text_or_code_points_and_names_the_player():
    # dilemmazoo.envs.messages serves Trust-and-Split and the GovSim commons alike.
    space = message_space(4)
    assert space.shape == (4,) and space.dtype == np.int32 and space.high.max() == 0x10FFFF
    assert read_message("player_0", "hi", 4) == "hi"
    assert read_message("player_0", np.array([104, 105, 0, 0], dtype=np.int64), 4) == "hi"
    assert space.contains(encode_message("🙂ok", 4))
    with pytest.raises(ValueError, match="limit is 4"):
        read_message("player_0", "hello", 4)
    with pytest.raises(ValueError, match="NUL"):
        read_message("player_0", "a\x00b", 4)
    with pytest.raises(ValueError, match=r"player_1's message must be 4 integer code points.*shape \(5,\)"):
        read_message("player_1", np.zeros(5, dtype=np.int32), 4)
    with pytest.raises(ValueError, match="dtype float64"):
        read_message("player_1", np.zeros(4), 4)
    with pytest.raises(ValueError, match=r"player_1's message holds values outside the code points 0..1114111"):
        read_message("player_1", np.array([65, 0x110000, 0, 0]), 4)
    with pytest.raises(ValueError, match="outside the code points"):
        read_message("player_1", np.array([-1, 0, 0, 0]), 4)


def test_bounded_message_refuses_what_message_truncates():
    cut = Message(instruction="Say", fallback="", max_chars=5)
    bounded = BoundedMessage(instruction="Say", fallback="", max_chars=5)
    assert cut.parse("Thinking.\nAnswer: too long") == "too l"
    with pytest.raises(ActionParseError, match="has 8 characters; the limit is 5"):
        bounded.parse("Thinking.\nAnswer: too long")
    assert bounded.parse("Answer:  a\x00b ") == "ab"  # NUL cannot be encoded, so it is dropped
    assert bounded.parse(" hi ") == "hi"  # without an Answer: line, the whole reply
    for spec in (cut, bounded):
        with pytest.raises(ActionParseError, match="empty"):
            spec.parse("Answer:   ")


@pytest.mark.parametrize("value, text", [(5.0, "5"), (3.14159, "3.14"), (-0.001, "0"), (np.float64(2.5), "2.5"),
                                         (100, "100"), (1e-7, "0")])
def test_numbers_in_the_language_view(value, text):
    assert format_number(value) == text


# --------------------------------------------------------------------------------------------
# The world: phases, payoffs, errors
# --------------------------------------------------------------------------------------------


def new_env(**kwargs) -> TrustSplitEnv:
    env = TrustSplitEnv(**kwargs)
    env.reset(seed=0)
    return env


def say(env: TrustSplitEnv, text: str) -> dict:
    """The speaker sends ``text``; the other sends its idle action."""
    return {a: (text if a in env.deciders() else env.idle_action(a)) for a in env.agents}


def propose(env: TrustSplitEnv, x0: int, x1: int) -> dict:
    return {"player_0": {"proposal": np.int64(x0)}, "player_1": {"proposal": np.int64(x1)}}


def test_round_is_two_messages_then_simultaneous_proposals():
    env = new_env()
    starter = env.possible_agents[env.starter]
    other = env.possible_agents[1 - env.starter]
    assert env.deciders() == [starter]
    obs, rewards, *_ , infos = env.step(say(env, "hello"))
    assert rewards == {"player_0": 0.0, "player_1": 0.0}
    assert infos[starter]["message"] == "hello" and infos[starter]["message_length"] == 5
    assert infos[other]["message"] == ""
    assert decode_message(obs[other]["other_message"]) == "hello"
    assert env.deciders() == [other]
    env.step(say(env, "hi"))
    assert env.deciders() == ["player_0", "player_1"]
    assert int(env._observations()["player_0"]["phase"]) == 2
    env.step(propose(env, 5, 5))
    # the starter alternates
    assert env.deciders() == [other]


@pytest.mark.parametrize("x0, x1", [(10, 10), (5, 5), (10, 0), (3, 4), (8, 4), (0, 10)])
def test_proposal_step_pays_exactly(x0, x1):
    env = new_env()
    env.step(say(env, "a"))
    env.step(say(env, "b"))
    values = env.values()
    q = proportional_allocation(x0, x1, 10)
    _, rewards, terminations, _, infos = env.step(propose(env, x0, x1))
    assert rewards["player_0"] == pytest.approx(q[0] * values[0])
    assert rewards["player_1"] == pytest.approx(q[1] * values[1])
    assert sorted(values) == [1.0, 10.0]
    assert infos["player_0"]["coins"] == pytest.approx(q[0]) and infos["player_1"]["other_coins"] == pytest.approx(q[0])
    assert infos["player_0"]["proposal"] == x0 and infos["player_0"]["other_proposal"] == x1
    assert infos["player_0"]["max_welfare"] == 100.0
    assert infos["player_0"]["upper"] == (values[0] == 10.0)
    assert not any(terminations.values())


def test_fixed_hands_give_hand_computed_rewards():
    env = new_env()
    env.hands = (1, 0)  # player_0 paper beats player_1 rock
    env.step(say(env, "x"))
    env.step(say(env, "y"))
    _, rewards, *_ = env.step(propose(env, 8, 4))
    assert rewards == pytest.approx({"player_0": 200 / 3, "player_1": 10 / 3})


def test_parameters_are_configurable():
    env = new_env(n_rounds=2, coins=6, high_value=4.0, low_value=2.0, max_message_chars=8)
    env.hands = (0, 2)  # rock beats scissors
    env.step(say(env, "x"))
    env.step(say(env, "y"))
    _, rewards, *_ = env.step(propose(env, 6, 3))  # 6 * 6 / 9 = 4, 6 * 3 / 9 = 2
    assert rewards == pytest.approx({"player_0": 16.0, "player_1": 4.0})
    assert env.action_space("player_0")["proposal"].n == 7
    assert env.action_space("player_0")["message"].shape == (8,)
    for _ in range(3):
        env.step(say(env, "z") if env.speaker() is not None else propose(env, 1, 1))
    assert env.agents == []


def test_game_ends_after_n_rounds_of_three_steps():
    env = new_env(n_rounds=3)
    steps = 0
    while env.agents:
        _, _, terminations, _, _ = env.step(say(env, "m") if env.speaker() is not None else propose(env, 5, 5))
        steps += 1
    assert steps == 9 and all(terminations.values())
    with pytest.raises(RuntimeError, match="reset"):
        env.step(propose(env, 5, 5))


@pytest.mark.parametrize(
    "bad_action",
    [{"proposal": np.int64(3)}, np.int64(3), 3],
)
def test_a_proposal_in_the_message_phase_is_refused(bad_action):
    env = new_env()
    speaker = env.deciders()[0]
    actions = {a: env.idle_action(a) for a in env.agents}
    actions[speaker] = bad_action
    with pytest.raises(ValueError, match="message phase"):
        env.step(actions)


def test_a_message_in_the_proposal_phase_is_refused():
    env = new_env()
    env.step(say(env, "a"))
    env.step(say(env, "b"))
    for bad in ("I take all", {"message": encode_message("x", 500)}):
        with pytest.raises(ValueError, match="proposal phase"):
            env.step({"player_0": bad, "player_1": {"proposal": np.int64(5)}})


def test_step_refuses_over_long_and_malformed_messages():
    env = new_env(max_message_chars=10)
    speaker = env.deciders()[0]
    actions = {a: env.idle_action(a) for a in env.agents}
    with pytest.raises(ValueError, match="limit is 10"):
        env.step({**actions, speaker: "x" * 11})
    with pytest.raises(ValueError, match="10 integer code points"):
        env.step({**actions, speaker: {"message": np.zeros(11, dtype=np.int32)}})
    with pytest.raises(ValueError, match="code points"):
        env.step({**actions, speaker: {"message": np.full(10, -1)}})
    env.step({**actions, speaker: "x" * 10})  # exactly the limit is fine


def test_bad_proposals_and_missing_agents_are_refused():
    env = new_env()
    env.step(say(env, "a"))
    env.step(say(env, "b"))
    with pytest.raises(ValueError, match="from 0 to 10"):
        env.step(propose(env, 11, 5))
    with pytest.raises(ValueError, match="from 0 to 10"):
        env.step({"player_0": {"proposal": 2.5}, "player_1": {"proposal": np.int64(5)}})
    with pytest.raises(ValueError, match="player_1 must send"):
        env.step({"player_0": {"proposal": np.int64(5)}})


@pytest.mark.parametrize(
    "kwargs",
    [{"n_rounds": 0}, {"coins": 0}, {"high_value": -1.0}, {"low_value": math.nan}, {"max_message_chars": 0},
     {"render_mode": "rgb"}, {"n_rounds": True}],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        TrustSplitEnv(**kwargs)


def test_bad_render_mode_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"render_mode must be None or one of \['human', 'ansi'\], got 'rgb'"):
        TrustSplitEnv(render_mode="rgb")


def test_seeded_reproducibility_and_starter_draw():
    def hands_and_starters(seed):
        env = TrustSplitEnv(n_rounds=5)
        env.reset(seed=seed)
        out = []
        while env.agents:
            if env.phase == 0:
                out.append((env.hands, env.starter))
            env.step(say(env, "m") if env.speaker() is not None else propose(env, 5, 5))
        return out

    assert hands_and_starters(7) == hands_and_starters(7)
    starters = [s for _, s in hands_and_starters(7)]
    assert starters == [(starters[0] + r) % 2 for r in range(5)]
    firsts = {hands_and_starters(seed)[0][1] for seed in range(20)}
    assert firsts == {0, 1}


# --------------------------------------------------------------------------------------------
# Language view
# --------------------------------------------------------------------------------------------


def test_rules_tell_what_the_player_knows():
    env = new_env()
    rules = env.rules("player_0")
    for phrase in ("10 coins", "rock", "paper", "scissors", "only your own hand", "10 points", "1 point",
                   "at most 500 characters", "alternates", "at the same time", "in proportion", "upper or the lower hand"):
        assert phrase in rules, phrase


def test_describe_hides_the_other_hand_until_the_next_round():
    env = new_env(n_rounds=3)
    for _ in range(3):
        for agent in env.possible_agents:
            me = env._seat[agent]
            text = env.describe(agent)
            assert f"Your hand this round is {HANDS[env.hands[me]]}." in text
            assert HANDS[env.hands[1 - me]] not in text  # messages here name no hand
        env.step(say(env, "hello there") if env.speaker() is not None else propose(env, 7, 2))
    previous = env.history[-1]
    upper0 = hand_beats(previous["hands"][0], previous["hands"][1])
    text0 = env.describe("player_0")
    assert f"the other player had the {'lower' if upper0 else 'upper'} hand and proposed 2 coins" in text0
    assert "proposed 7 coins" in text0


def test_describe_shows_messages_of_the_round():
    env = new_env()
    speaker = env.deciders()[0]
    listener = [a for a in env.agents if a != speaker][0]
    env.step(say(env, "I hold the lower hand"))
    assert "The other player said: 'I hold the lower hand'" in env.describe(listener)
    assert "It is your turn to send a message" in env.describe(listener)
    assert "You said: 'I hold the lower hand'" in env.describe(speaker)


def test_message_spec_rejects_over_long_messages_and_builds_actions():
    env = new_env(max_message_chars=20)
    speaker = env.deciders()[0]
    spec = env.action_spec(speaker)
    assert isinstance(spec, BoundedMessage) and "at most 20 characters" in spec.instruction
    with pytest.raises(ActionParseError, match="limit is 20"):
        spec.parse("Answer: " + "y" * 21)
    with pytest.raises(ActionParseError, match="empty"):
        spec.parse("Answer:   ")
    action = spec.parse("Thinking...\nAnswer: I have rock")
    assert env.action_space(speaker).contains(action)
    assert decode_message(action["message"]) == "I have rock"


def test_proposal_spec_needs_a_whole_number_in_range():
    env = new_env()
    env.step(say(env, "a"))
    env.step(say(env, "b"))
    spec = env.action_spec("player_0")
    assert isinstance(spec, Amount)
    assert int(spec.parse("Answer: 7")["proposal"]) == 7
    assert int(spec.fallback["proposal"]) == 5
    for bad, match in (("Answer: 7.5", "whole number"), ("Answer: 11", "outside"), ("Answer: none", "No number")):
        with pytest.raises(ActionParseError, match=match):
            spec.parse(bad)


def test_a_tiny_game_driven_by_parsed_answers():
    """Truthful talk, then the winner takes all: welfare 100 every round."""
    env = TrustSplitEnv(n_rounds=2)
    env.reset(seed=3)
    total = {a: 0.0 for a in env.possible_agents}
    while env.agents:
        actions = {}
        for agent in env.agents:
            if agent not in env.deciders():
                actions[agent] = env.idle_action(agent)
                continue
            spec = env.action_spec(agent)
            me = env._seat[agent]
            if env.speaker() is not None:
                answer = f"Reasoning.\nAnswer: My hand is {HANDS[env.hands[me]]}."
            else:
                answer = f"Answer: {10 if hand_beats(env.hands[me], env.hands[1 - me]) else 0}"
            actions[agent] = spec.parse(answer)
        _, rewards, *_ = env.step(actions)
        for agent, reward in rewards.items():
            total[agent] += reward
    assert sum(total.values()) == 200.0


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def test_claims_and_honesty_verdicts():
    assert claimed_hand("I have PAPER, what about you? rock?") == "paper"
    assert claimed_hand("Rocks are strong") == "rock"
    assert claimed_hand("I hold the upper hand") == "upper"
    assert claimed_hand("let's split fairly") is None
    assert message_is_honest("I have scissors", "scissors", True) is True
    assert message_is_honest("I have scissors", "rock", False) is False
    assert message_is_honest("I have the lower hand", "rock", False) is True
    assert message_is_honest("I have the upper hand", "rock", False) is False
    assert message_is_honest("hello", "rock", False) is None


def _row(episode, rnd, agent, phase, *, policy="llm", reward=0.0, message="", hand="rock", upper=False,
         proposal=-1, fallback=False):
    return {"episode": episode, "round": rnd, "agent": agent, "policy": policy, "phase": phase, "reward": reward,
            "message": message, "hand": hand, "upper": upper, "proposal": proposal, "max_welfare": 100.0,
            "decided": True, "fallback_used": fallback}


def _frame():
    rows = [
        # episode 0: both LLMs; round 1 truthful and welfare-maximising, round 2 both greedy
        _row(0, 1, "player_0", "message", message="I have paper", hand="paper", upper=True),
        _row(0, 1, "player_1", "message", message="I have rock", hand="rock"),
        _row(0, 1, "player_0", "proposal", reward=100.0, hand="paper", upper=True, proposal=10),
        _row(0, 1, "player_1", "proposal", reward=0.0, hand="rock", proposal=0),
        _row(0, 2, "player_1", "message", message="Upper hand here!", hand="scissors"),  # a lie
        _row(0, 2, "player_0", "message", message="ok", hand="rock", upper=True),  # no claim
        _row(0, 2, "player_0", "proposal", reward=50.0, hand="rock", upper=True, proposal=10),
        _row(0, 2, "player_1", "proposal", reward=5.0, hand="scissors", proposal=10),
        # episode 1: player_1 is greedy
        _row(1, 1, "player_0", "message", message="", fallback=True),
        _row(1, 1, "player_1", "message", policy="scripted:greedy", message="Give me all", hand="paper", upper=True),
        _row(1, 1, "player_0", "proposal", reward=5.0, proposal=5, fallback=True),
        _row(1, 1, "player_1", "proposal", policy="scripted:greedy", reward=50.0, hand="paper", upper=True, proposal=10),
        _row(1, 2, "player_0", "proposal", reward=20.0, hand="paper", upper=True, proposal=2),
        _row(1, 2, "player_1", "proposal", policy="scripted:greedy", reward=8.0, hand="rock", proposal=10),
    ]
    return pd.DataFrame(rows)


def test_metrics_hand_computed():
    steps = _frame()
    # rounds: 100 + 55 + 55 + 28 over 4 * 100
    assert split_efficiency(steps) == pytest.approx(238 / 400)
    # claims: paper (true), rock (true), upper by the lower hand (false); "ok" and "Give me all" make none
    assert honesty_rate(steps) == pytest.approx(2 / 3)
    # upper: 10, 10, 10, 2 (the fallback 5 is left out) -> 8; lower: 0, 10, 10 -> 20/3
    assert mean_proposal_by_hand(steps) == pytest.approx({"upper": 8.0, "lower": 20 / 3})
    # episode 1 only: agent (5 + 20) / 2 = 12.5, greedy (50 + 8) / 2 = 29
    assert exploitation(steps) == pytest.approx(12.5 - 29.0)
    assert math.isnan(exploitation(steps[steps["episode"] == 0]))
    metrics = trust_split_metrics(steps)
    assert metrics["average_reward"] == pytest.approx(238 / 8)
    assert metrics["fallback_rate"] == pytest.approx(2 / 14)
    assert json.loads(json.dumps(metrics)) == metrics
    assert world_metrics("dilemmazoo/trust-split-v0", steps) == metrics
    assert WORLD_METRICS["dilemmazoo/trust-split-v0"] is trust_split_metrics


def test_metrics_name_missing_columns():
    with pytest.raises(ValueError, match="max_welfare"):
        trust_split_metrics(_frame().drop(columns="max_welfare"))


def test_metrics_read_a_real_game_record():
    """Infos of the world are the columns the metrics read."""
    env = TrustSplitEnv(n_rounds=2)
    _, infos = env.reset(seed=0)
    rows = []
    while env.agents:
        action = say(env, "I have the upper hand") if env.speaker() is not None else propose(env, 10, 10)
        _, rewards, _, _, infos = env.step(action)
        for agent in env.possible_agents:
            rows.append({"episode": 0, "agent": agent, "policy": "x", "reward": rewards[agent], **infos[agent]})
    metrics = trust_split_metrics(pd.DataFrame(rows))
    assert metrics["split_efficiency"] == pytest.approx(0.55)
    assert metrics["honesty_rate"] == pytest.approx(0.5)
    assert metrics["mean_proposal_upper"] == metrics["mean_proposal_lower"] == 10.0


def test_make_world_builds_it():
    env = make_world("trust-split", n_rounds=1)
    assert isinstance(env, TrustSplitEnv) and env.n_rounds == 1


def test_a_recorded_run_yields_the_metrics(tmp_path):
    """Runner -> steps.parquet -> summary metrics, with a scripted greedy liar against a truthful 5-taker."""
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import execute

    # One answer serves both phases: a message, and (holding one number) a proposal.
    (tmp_path / "greedy.txt").write_text("Answer: I have the upper hand, I keep 10\n")
    (tmp_path / "fair.txt").write_text("Answer: I have rock, I keep 5\n")
    config = validate(
        {
            "name": "ts",
            "world": {"id": "trust-split", "kwargs": {"n_rounds": 3}},
            "agents": [
                {"kind": "llm", "backend": f"scripted:{tmp_path}/fair.txt", "decision": "generate", "seats": 1, "label": "fair"},
                {"kind": "llm", "backend": f"scripted:{tmp_path}/greedy.txt", "decision": "generate", "label": "greedy"},
            ],
            "seeds": [0],
        }
    )
    result = execute(config, tmp_path / "runs", progress=False)
    steps = result.steps
    assert len(steps) == 18 and int(steps["decided"].sum()) == 12
    proposals = steps[steps["phase"] == "proposal"]
    assert set(proposals.loc[proposals["policy"] == "greedy", "proposal"]) == {10}
    assert set(proposals.loc[proposals["policy"] == "fair", "proposal"]) == {5}
    metrics = json.loads((result.run_dir / "summary.json").read_text())["metrics"]
    assert metrics == pytest.approx(trust_split_metrics(steps))
    # 5 vs 10: the fair player gets 10/3 coins and the greedy one 20/3, whoever holds the upper hand
    fair = proposals.loc[proposals["policy"] == "fair"]
    expected = (fair["value"] * 10 / 3).sum() / 3 - (fair["other_value"] * 20 / 3).sum() / 3
    assert metrics["exploitation"] == pytest.approx(expected)


def test_the_listener_has_nothing_to_decide():
    env = new_env()
    listener = [a for a in env.agents if a not in env.deciders()][0]
    spec = env.action_spec(listener)
    assert spec.options() == ["Answer: Wait"]
    assert np.array_equal(spec.fallback["message"], env.idle_action(listener)["message"])
