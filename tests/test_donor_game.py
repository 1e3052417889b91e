"""Exact tests of the Donor Game (Vallinder & Hughes 2024): payoffs, schedule, trace, parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dilemmazoo.envs import ActionParseError, Amount, Choice, make_world
from dilemmazoo.envs.donor_game import (
    DonorGameEnv,
    Encounter,
    format_percent,
    format_units,
    notebook_schedule,
    paper_schedule,
    punish,
    settle,
    split_halves,
    trace_lines,
)


def give(env: DonorGameEnv, fraction: float, move: str = "donate") -> dict:
    """Every live seat sends the same action (non-donors' actions are ignored)."""
    index = env.moves.index(move)
    return {a: {"move": np.int64(index), "fraction": np.array([fraction])} for a in env.agents}


def resources(observations: dict) -> dict[str, float]:
    return {a: float(o["resources"][0]) for a, o in observations.items()}


# --------------------------------------------------------------------------------------------
# Payoffs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "donor, recipient, move, fraction, expected",
    [
        (10.0, 10.0, "donate", 0.5, (5.0, 20.0, 5.0)),
        (10.0, 10.0, "donate", 1.0, (0.0, 30.0, 10.0)),
        (10.0, 10.0, "donate", 0.0, (10.0, 10.0, 0.0)),
        (8.0, 10.0, "punish", 0.25, (6.0, 6.0, 2.0)),  # spend 2, remove 4
        (10.0, 7.0, "punish", 0.5, (5.0, 0.0, 5.0)),  # would remove 10 from 7: floored at 0
        (10.0, 10.0, "refuse", 0.7, (10.0, 10.0, 0.0)),
        (10.0, 10.0, "abstain", 0.7, (10.0, 10.0, 0.0)),
    ],
)
def test_settle_table(donor, recipient, move, fraction, expected):
    assert settle(donor, recipient, move, fraction) == expected


def test_settle_multiplier_and_punishment_ratio():
    assert settle(10.0, 10.0, "donate", 0.4, donation_multiplier=1.5) == (6.0, 16.0, 4.0)
    assert settle(10.0, 10.0, "donate", 0.5, donation_multiplier=3.0) == (5.0, 25.0, 5.0)
    assert settle(10.0, 10.0, "punish", 0.25, punishment_effect_per_unit=3.0) == (7.5, 2.5, 2.5)
    with pytest.raises(ValueError):
        settle(10.0, 10.0, "steal", 0.5)


def test_punish_rule():
    assert punish(2.0, 10.0) == 6.0
    assert punish(5.0, 10.0) == 0.0
    assert punish(5.0, 7.0) == 0.0
    assert punish(1.0, 10.0, effect_per_unit=3.0) == 7.0
    assert punish(0.0, 4.0) == 4.0


def test_env_step_arithmetic_and_rewards():
    env = DonorGameEnv()
    env.reset(seed=0)
    donors = set(env.deciders())
    obs, rewards, terminations, truncations, infos = env.step(give(env, 0.5))
    for agent in env.possible_agents:
        if agent in donors:
            assert resources(obs)[agent] == 5.0 and rewards[agent] == -5.0
        else:
            assert resources(obs)[agent] == 20.0 and rewards[agent] == 10.0
    assert not any(terminations.values()) and not any(truncations.values())


def test_env_multiplier_option():
    env = DonorGameEnv(donation_multiplier=1.5)
    env.reset(seed=0)
    donors = set(env.deciders())
    obs, rewards, *_ = env.step(give(env, 0.5))
    assert {resources(obs)[a] for a in donors} == {5.0}
    assert {resources(obs)[a] for a in env.possible_agents if a not in donors} == {17.5}
    assert {rewards[a] for a in env.possible_agents if a not in donors} == {7.5}


def test_env_punishment_refusal_and_abstain():
    env = DonorGameEnv(punishment=True, partner_choice=True)
    assert env.moves == ("donate", "punish", "refuse", "abstain")
    env.reset(seed=0)
    donors = set(env.deciders())
    # round 1: everyone donates half -> donors 5, recipients 20
    env.step(give(env, 0.5))
    # round 2: the former recipients (20 each) punish with 25%: spend 5, remove 10 from 5 -> 0
    obs, rewards, *_ = env.step(give(env, 0.25, "punish"))
    for agent in env.possible_agents:
        expected = 0.0 if agent in donors else 15.0
        assert resources(obs)[agent] == expected
        assert rewards[agent] == -5.0  # punishers spend 5; the punished lose their last 5
    obs, rewards, *_ = env.step(give(env, 1.0, "refuse"))
    assert set(rewards.values()) == {0.0}
    obs, rewards, *_ = env.step(give(env, 1.0, "abstain"))
    assert set(rewards.values()) == {0.0}


def test_punishment_cost_effect_ratio():
    env = DonorGameEnv(punishment=True, punishment_cost=1.0, punishment_effect=3.0)
    env.reset(seed=0)
    donors = set(env.deciders())
    obs, *_ = env.step(give(env, 0.25, "punish"))  # spend 2.5, remove 7.5
    for agent in env.possible_agents:
        assert resources(obs)[agent] == (7.5 if agent in donors else 2.5)


def test_final_resources_equal_endowment_plus_return():
    env = DonorGameEnv()
    env.reset(seed=5)
    returns = dict.fromkeys(env.possible_agents, 0.0)
    fractions = [0.1, 0.9, 0.5, 0.25, 1.0, 0.0, 0.3, 0.7, 0.6, 0.2, 0.8, 0.4]
    for f in fractions:
        obs, rewards, terminations, *_ = env.step(give(env, f))
        for agent, r in rewards.items():
            returns[agent] += r
    assert all(terminations.values()) and env.agents == []
    for agent in env.possible_agents:
        assert math.isclose(resources(obs)[agent], 10.0 + returns[agent], abs_tol=1e-9)


# --------------------------------------------------------------------------------------------
# All-donate maxima (the paper's check)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule, expected", [("paper", 30_720.0), ("notebook", 15_360.0)])
def test_all_donate_average(schedule, expected):
    env = DonorGameEnv(schedule=schedule)
    env.reset(seed=11)
    rounds = 0
    while env.agents:
        obs, *_ = env.step(give(env, 1.0))
        rounds += 1
    assert rounds == 12
    assert np.mean(list(resources(obs).values())) == expected
    assert 180 * 2**11 / 12 == 30_720


def test_all_donate_average_with_multiplier_three():
    env = DonorGameEnv(donation_multiplier=3.0)
    env.reset(seed=0)
    while env.agents:
        obs, *_ = env.step(give(env, 1.0))
    assert np.mean(list(resources(obs).values())) == 10 * (1 + 3) / 2 * 3**11 == 3_542_940


# --------------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------------


def check_paper_properties(rounds, first, second):
    seen = set()
    for r, pairs in enumerate(rounds, start=1):
        donors = {d for d, _ in pairs}
        recipients = {x for _, x in pairs}
        expected_donors, expected_recipients = (set(first), set(second)) if r % 2 else (set(second), set(first))
        assert donors == expected_donors and recipients == expected_recipients  # strict alternation
        assert len(pairs) == len(donors) == len(recipients)  # perfect matching
        for pair in pairs:
            assert pair not in seen  # no ordered pair twice
            seen.add(pair)


def test_paper_schedule_properties():
    rng = np.random.default_rng(0)
    first, second = split_halves(12, rng)
    assert sorted(first + second) == list(range(12)) and len(first) == len(second) == 6
    rounds = paper_schedule(first, second, 12, rng)
    assert len(rounds) == 12
    check_paper_properties(rounds, first, second)
    # each unordered pair meets at most twice (once each way)
    counts: dict[frozenset, int] = {}
    for pairs in rounds:
        for d, x in pairs:
            counts[frozenset((d, x))] = counts.get(frozenset((d, x)), 0) + 1
    assert max(counts.values()) <= 2


def test_paper_schedule_avoids_meeting_twice_when_it_can():
    rng = np.random.default_rng(7)
    for _ in range(20):
        first, second = split_halves(12, rng)
        rounds = paper_schedule(first, second, 6, rng)
        met = [frozenset(p) for pairs in rounds for p in pairs]
        assert len(met) == len(set(met)) == 36


def test_paper_schedule_needs_enough_partners():
    with pytest.raises(ValueError):
        paper_schedule((0, 1), (2, 3), 5, np.random.default_rng(0))


def test_env_schedule_and_game_two_swaps_roles():
    env = DonorGameEnv()
    env.reset(seed=3, options={"game": 1})
    game1 = env.pairings
    half_a = {d for d, _ in game1[0]}
    half_b = set(env.possible_agents) - half_a
    check_paper_properties(game1, half_a, half_b)
    env.reset(seed=4, options={"game": 2})
    game2 = env.pairings
    check_paper_properties(game2, half_b, half_a)  # same halves, B donates first
    last_recipients = {x for _, x in game1[-1]} | {x for _, x in game2[-1]}
    assert last_recipients == set(env.possible_agents)  # everyone is a final-round recipient once
    env.reset(seed=5, options={"game": 3})
    assert env.deciders() == sorted({d for d, _ in env.pairings[0]}, key=env.possible_agents.index)


def test_game_two_needs_a_previous_game():
    with pytest.raises(ValueError, match="odd game first"):
        DonorGameEnv().reset(seed=0, options={"game": 2})


def test_bad_reset_options_change_nothing():
    env = DonorGameEnv()
    env.reset(seed=0, options={"generation": 2})
    before = (env.pairings, env.generation, [env.display_name(a) for a in env.agents])
    for options in ({"generation": 0}, {"game": "2"}, {"names": {"player_0": "x"}}):
        with pytest.raises(ValueError):
            env.reset(seed=1, options=options)
        assert (env.pairings, env.generation, [env.display_name(a) for a in env.agents]) == before
    env.reset(seed=0, options={"whatever": 1})  # unknown keys are ignored (PettingZoo's api_test sends some)


@pytest.mark.parametrize("seed", range(10))
def test_notebook_schedule_pairs_meet_twice(seed):
    rng = np.random.default_rng(seed)
    first, second = split_halves(12, rng)
    rounds = notebook_schedule(first, second, 12, rng)
    check_paper_properties(rounds[:6], first, second)
    for k in range(6):
        assert rounds[6 + k] == [(x, d) for d, x in rounds[k]]  # the replay, roles swapped
    counts: dict[frozenset, int] = {}
    for pairs in rounds:
        for d, x in pairs:
            counts[frozenset((d, x))] = counts.get(frozenset((d, x)), 0) + 1
    assert set(counts.values()) == {2} and len(counts) == 36  # every pair that meets, meets twice


def test_same_seed_same_schedule():
    a, b = DonorGameEnv(), DonorGameEnv()
    a.reset(seed=42)
    b.reset(seed=42)
    assert a.pairings == b.pairings
    c = DonorGameEnv()
    c.reset(seed=43)
    assert c.pairings != a.pairings
    a.reset(seed=42)  # reseeding repeats the game exactly
    assert a.pairings == b.pairings


def test_deciders_are_the_donors_and_idle_actions_are_ignored():
    env = DonorGameEnv()
    env.reset(seed=2)
    donors = env.deciders()
    assert donors == [d for d, _ in sorted(env.pairings[0], key=lambda p: env.possible_agents.index(p[0]))]
    actions = give(env, 0.5)
    for agent in env.agents:
        if agent not in donors:
            actions[agent] = env.idle_action(agent)
    other = DonorGameEnv()
    other.reset(seed=2)
    wild = give(other, 0.5)
    for agent in other.agents:
        if agent not in donors:
            wild[agent] = {"move": np.int64(0), "fraction": np.array([1.0])}
    assert resources(env.step(actions)[0]) == resources(other.step(wild)[0])
    idle = env.idle_action("player_0")
    assert env.moves[int(idle["move"])] == "abstain" and idle["fraction"][0] == 0.0
    assert env.action_space("player_0").contains(idle)


def test_bad_actions_raise():
    env = DonorGameEnv()
    env.reset(seed=0)
    donor = env.deciders()[0]
    missing = give(env, 0.5)
    del missing[donor]
    with pytest.raises(ValueError, match="must send an action"):
        env.step(missing)
    for bad in (
        {"move": 7, "fraction": [0.5]},
        {"move": 0.7, "fraction": [0.5]},
        {"move": 0, "fraction": [1.5]},
        {"move": 0, "fraction": [float("nan")]},
        {"move": 0},
        None,
    ):
        actions = give(env, 0.5)
        actions[donor] = bad
        with pytest.raises(ValueError):
            env.step(actions)
    with pytest.raises(ValueError, match="not in the game"):
        env.step({**give(env, 0.5), "stranger": {"move": 0, "fraction": [0.5]}})


def test_step_after_the_end_raises():
    env = DonorGameEnv(n_agents=2, n_rounds=2)
    env.reset(seed=0)
    env.step(give(env, 0.5))
    env.step(give(env, 0.5))
    assert env.agents == [] and env.deciders() == []
    with pytest.raises(RuntimeError):
        env.step({})


# --------------------------------------------------------------------------------------------
# Trace
# --------------------------------------------------------------------------------------------

NAMES = ["A", "B", "C", "D"]
HISTORY = [
    Encounter(1, 0, 2, "donate", 0.5, 5.0),
    Encounter(1, 1, 3, "donate", 1 / 3, 10 / 3),
    Encounter(2, 2, 1, "punish", 0.25, 5.0),
    Encounter(2, 3, 0, "refuse", 0.0, 0.0),
    Encounter(3, 0, 3, "abstain", 0.0, 0.0),
    Encounter(3, 1, 2, "donate", 1.0, 6.0),
]


def test_trace_lines_hand_built():
    assert trace_lines(HISTORY[:0], 2, 1, 3, NAMES) == ["C did not have any previous interactions."]
    assert trace_lines(HISTORY[:2], 0, 2, 3, NAMES) == ["In round 1, A donated 50% of their resources to C."]
    assert trace_lines(HISTORY[:4], 3, 3, 3, NAMES) == [
        "In round 2, D refused to play with A.",
        "In round 1, A donated 50% of their resources to C.",
    ]
    assert trace_lines(HISTORY, 1, 4, 3, NAMES) == [
        "In round 3, B donated 100% of their resources to C.",
        "In round 2, C spent 25% of their resources to punish B.",
        "In round 1, B donated 33.3% of their resources to D.",
    ]
    assert trace_lines(HISTORY, 0, 4, 3, NAMES) == [
        "In round 3, A gave nothing to D (no valid answer).",
        "In round 2, D refused to play with A.",
        "In round 1, A donated 50% of their resources to C.",
    ]


def test_trace_depth_one_and_two():
    assert trace_lines(HISTORY, 1, 4, 1, NAMES) == ["In round 3, B donated 100% of their resources to C."]
    assert trace_lines(HISTORY, 1, 4, 2, NAMES) == [
        "In round 3, B donated 100% of their resources to C.",
        "In round 2, C spent 25% of their resources to punish B.",
    ]


def test_trace_ignores_the_current_and_later_rounds():
    assert trace_lines(HISTORY, 1, 3, 3, NAMES) == ["In round 1, B donated 33.3% of their resources to D."]


def test_format_percent_and_units():
    assert [format_percent(f) for f in (0.5, 1 / 3, 1.0, 0.0, 0.125, 2 / 3)] == ["50", "33.3", "100", "0", "12.5", "66.7"]
    assert [format_units(x) for x in (10.0, 12.5, 30720.0, 3.336, 0.29, 0.0)] == ["10", "12.5", "30720", "3.33", "0.29", "0"]


def trace_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("In round") or "did not have any" in line]


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_env_trace_lengths_and_text(depth):
    env = DonorGameEnv(trace_depth=depth)
    env.reset(seed=9, options={"names": {a: f"n{i}" for i, a in enumerate(env.possible_agents)}})
    fractions = [0.5, 0.25, 1.0, 0.1, 0.2, 0.3]
    name = env.display_name
    for r, f in enumerate(fractions, start=1):
        for donor in env.deciders():
            recipient = next(x for d, x in env.pairings[r - 1] if d == donor)
            lines = trace_of(env.describe(donor))
            if r == 1:
                assert lines == [f"{name(recipient)} did not have any previous interactions."]
                continue
            assert len(lines) == min(r - 1, depth)
            # follow the chain by hand through the schedule
            expected, who = [], recipient
            for k in range(r - 1, r - 1 - len(lines), -1):
                to = next(x for d, x in env.pairings[k - 1] if d == who)
                expected.append(f"In round {k}, {name(who)} donated {format_percent(fractions[k - 1])}% of their resources to {name(to)}.")
                who = to
            assert lines == expected
        env.step(give(env, f))


def test_env_trace_depth_zero_shows_no_trace():
    env = DonorGameEnv(trace_depth=0)
    env.reset(seed=0)
    env.step(give(env, 0.5))
    assert trace_of(env.describe(env.deciders()[0])) == []


# --------------------------------------------------------------------------------------------
# Observations, infos, names, language view
# --------------------------------------------------------------------------------------------


def test_observations_and_infos():
    env = DonorGameEnv(n_agents=4, n_rounds=4)
    obs, infos = env.reset(seed=1, options={"names": {"player_0": "Ann", "player_1": "Bo", "player_2": "Cy", "player_3": "Di"}})
    donors = env.deciders()
    partner = {d: x for d, x in env.pairings[0]}
    for agent in env.possible_agents:
        o = obs[agent]
        assert o["round"] == 1 and o["role"] == (1 if agent in donors else 2)
        assert o["partner_last_fraction"][0] == -1.0 and o["partner_resources"][0] == 10.0
        assert env.observation_space(agent).contains(o)
        assert infos[agent] == {"role": "idle", "partner": "", "move": "", "amount": 0.0, "fraction": None, "resources": 10.0, "round": 0}
    obs, _, _, _, infos = env.step(give(env, 0.5))
    for donor, recipient in partner.items():
        assert infos[donor] == {
            "role": "donor", "partner": env.display_name(recipient), "move": "donate",
            "amount": 5.0, "fraction": 0.5, "resources": 5.0, "round": 1,
        }
        assert infos[recipient] == {
            "role": "recipient", "partner": env.display_name(donor), "move": "",
            "amount": 5.0, "fraction": None, "resources": 20.0, "round": 1,
        }
        # round 2: the former recipients donate; they see their partner's last fraction 0.5
        assert obs[recipient]["role"] == 1 and obs[recipient]["round"] == 2
        assert obs[recipient]["partner_last_fraction"][0] in (0.5,)
        assert obs[donor]["partner_last_fraction"][0] == -1.0  # the round-2 donors have not donated
    while env.agents:
        obs, *_ = env.step(give(env, 0.5))
    for agent in env.possible_agents:
        assert obs[agent]["round"] == 5 and obs[agent]["role"] == 0
        assert env.observation_space(agent).contains(obs[agent])


def test_names_generation_and_defaults():
    env = DonorGameEnv()
    env.reset(seed=0, options={"generation": 3})
    assert [env.display_name(a) for a in env.possible_agents[:3]] == ["3_1", "3_2", "3_3"]
    donor = env.deciders()[0]
    assert env.describe(donor).startswith("This is generation 3. It is now round 1.")
    with pytest.raises(ValueError):
        env.reset(seed=0, options={"names": {"player_0": "x"}})
    with pytest.raises(ValueError):
        env.reset(seed=0, options={"names": dict.fromkeys(env.possible_agents, "same")})


def test_language_view():
    env = DonorGameEnv()
    env.reset(seed=0)
    donor = env.deciders()[0]
    recipient = next(x for d, x in env.pairings[0] if d == donor)
    text = env.describe(donor)
    assert f"You are {env.display_name(donor)}." in text
    assert f"paired with {env.display_name(recipient)}, who currently has 10 units" in text
    assert "You currently have 10 units" in text
    assert env.describe(recipient).startswith("This is generation 1. It is now round 1.")
    assert "You are not donating this round" in env.describe(recipient)
    rules = env.rules(donor)
    assert "10 units" in rules and "2 times" in rules and "12" not in rules  # the number of rounds is not told
    assert "punish" not in rules.lower() and "refuse" not in rules.lower()
    variant = DonorGameEnv(punishment=True, partner_choice=True).rules("player_0").lower()
    assert "punish" in variant and "refuse" in variant


# --------------------------------------------------------------------------------------------
# The donor's ActionSpec
# --------------------------------------------------------------------------------------------


def donor_spec(**kwargs):
    env = DonorGameEnv(**kwargs)
    env.reset(seed=0)
    donor = env.deciders()[0]
    return env, donor, env.action_spec(donor)


def decoded(env, action):
    return env.moves[int(action["move"])], float(action["fraction"][0])


def test_amount_spec_parsing():
    env, donor, spec = donor_spec()
    assert isinstance(spec, Amount) and spec.moves == () and spec.low == 0.0 and spec.high == 10.0
    assert "Justification:" in spec.instruction and "Answer:" in spec.instruction
    assert decoded(env, spec.parse("Answer: 5")) == ("donate", 0.5)
    assert decoded(env, spec.parse("Justification: x. Answer: 2.5 units")) == ("donate", 0.25)
    assert decoded(env, spec.parse("I think so.\nJustification: fair.\nAnswer: 10")) == ("donate", 1.0)
    assert decoded(env, spec.parse("Answer: 0")) == ("donate", 0.0)
    for bad in ("Answer: 11", "Answer: -1", "I don't know", "Answer: lots", "Answer: 2,5", ""):
        with pytest.raises(ActionParseError):
            spec.parse(bad)
    assert decoded(env, spec.fallback) == ("abstain", 0.0)
    assert env.action_space(donor).contains(spec.parse("Answer: 3"))


def test_amount_spec_with_moves():
    env, donor, spec = donor_spec(punishment=True)
    assert spec.moves == ("Donate", "Punish")
    assert decoded(env, spec.parse("Answer: Punish, 2")) == ("punish", 0.2)
    assert decoded(env, spec.parse("Justification: kind. Answer: Donate, 3.5")) == ("donate", 0.35)
    for bad in ("Answer: 5", "Answer: Punish, 12", "Answer: Donate, punish, 2", "Answer: Abstain, 1"):
        with pytest.raises(ActionParseError):
            spec.parse(bad)
    assert "abstain" not in spec.instruction.lower()
    env, donor, spec = donor_spec(partner_choice=True)
    assert spec.moves == ("Donate", "Refuse")
    assert decoded(env, spec.parse("Answer: Refuse")) == ("refuse", 0.0)
    assert decoded(env, spec.parse("Answer: Refuse, 0")) == ("refuse", 0.0)
    assert decoded(env, spec.parse("Answer: Donate, 1")) == ("donate", 0.1)


def test_spec_for_non_deciders_and_after_the_end():
    env = DonorGameEnv(n_agents=2, n_rounds=2)
    env.reset(seed=0)
    ((donor, recipient),) = env.pairings[0]
    spec = env.action_spec(recipient)
    assert isinstance(spec, Choice) and decoded(env, spec.fallback) == ("abstain", 0.0)
    env.step(give(env, 1.0))  # the donor now has 0; the recipient has 30 and donates next
    spec = env.action_spec(recipient)
    assert isinstance(spec, Amount) and spec.high == 30.0
    env.step(give(env, 0.0))
    spec = env.action_spec(recipient)
    assert isinstance(spec, Choice) and decoded(env, spec.fallback) == ("abstain", 0.0)
    assert env.describe(recipient) == "The game is over."


def test_donor_without_resources_gives_fraction_zero():
    env = DonorGameEnv(n_agents=4, n_rounds=3)
    env.reset(seed=0)
    env.step(give(env, 1.0))
    env.step(give(env, 0.0))
    donor = env.deciders()[0]  # gave everything in round 1 and received nothing in round 2
    spec = env.action_spec(donor)
    assert spec.high == 0.0
    assert decoded(env, spec.parse("Answer: 0")) == ("donate", 0.0)
    with pytest.raises(ActionParseError):
        spec.parse("Answer: 1")


# --------------------------------------------------------------------------------------------
# Arguments, render, spaces
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_agents": 3},
        {"n_agents": 0},
        {"n_agents": 12.0},
        {"n_agents": True},
        {"n_rounds": 0},
        {"n_rounds": 13},
        {"endowment": 0},
        {"endowment": -1.0},
        {"endowment": float("nan")},
        {"donation_multiplier": 0},
        {"trace_depth": -1},
        {"punishment": "yes"},
        {"partner_choice": 1},
        {"punishment_cost": 0},
        {"punishment_effect": -1},
        {"schedule": "random"},
        {"schedule": "notebook", "n_rounds": 11},
        {"schedule": "notebook", "n_agents": 4, "n_rounds": 6},
        {"render_mode": "rgb_array"},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        DonorGameEnv(**kwargs)


def test_valid_edge_arguments():
    DonorGameEnv(n_agents=2, n_rounds=2)
    DonorGameEnv(n_agents=4, n_rounds=4, schedule="notebook")
    DonorGameEnv(trace_depth=0, punishment_effect=0.0)


def test_render_modes(capsys):
    env = DonorGameEnv(render_mode="ansi")
    env.reset(seed=0)
    env.step(give(env, 0.5))
    text = env.render()
    assert isinstance(text, str) and "1 of 12 rounds played" in text and "donated 50%" in text
    human = DonorGameEnv(render_mode="human")
    human.reset(seed=0)
    assert human.render() is None
    assert "Donor Game" in capsys.readouterr().out
    assert DonorGameEnv().render() is None


def test_spaces_are_cached_and_match_the_moves():
    env = DonorGameEnv(punishment=True)
    assert env.action_space("player_3") is env.action_space("player_3")
    assert env.observation_space("player_3") is env.observation_space("player_3")
    assert env.action_space("player_3").spaces["move"].n == 3
    assert env.observation_space("player_3").spaces["round"].n == 14


def test_make_world_builds_a_donor_game():
    env = make_world("donor-game", n_agents=4, n_rounds=4)
    assert isinstance(env, DonorGameEnv) and env.n_agents == 4
