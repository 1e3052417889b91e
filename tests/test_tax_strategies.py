"""Scripted tax-world agents (Karten et al., "LLM Economist", arXiv 2507.15815): the rational
best response on hand-computed skills and schedules (closed form, the 100-hour cap, a kink, the
10-hour grid), fixed hours, the holding planner, and batching that equals one-at-a-time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.tax_strategies import (
    TAX_BATCH_ACTORS,
    TAX_STRATEGIES,
    FixedHoursTaxWorker,
    HoldTaxPlanner,
    RationalTaxWorker,
    hours_action,
)
from dilemmazoo.envs import tax
from dilemmazoo.envs.base import Amount, Choice
from dilemmazoo.envs.tax_world import TaxWorldEnv

INF = math.inf
FLAT = (0.0, INF)
THREE = (0.0, 90000.0, 159100.0, INF)


def _grid_spec() -> Choice:
    labels = [str(h) for h in tax.HOURS_GRID]
    actions = [{"hours": np.array([float(h)], dtype=np.float32)} for h in tax.HOURS_GRID]
    return Choice(instruction="Answer: HOURS", fallback=actions[4], labels=labels, actions=actions)


def _amount_spec() -> Amount:
    return Amount(instruction="Answer: HOURS", fallback={"hours": np.array([40.0])}, low=0.0, high=100.0,
                  make_action=lambda move, value: {"hours": np.array([value])})


def _vote_spec() -> Choice:
    return Choice(instruction="Answer: YES or NO", fallback=1, labels=["YES", "NO"], actions=[1, 0])


def _observation(skill, edges=FLAT, rates=(50.0,)):
    return {
        "step": np.int64(0),
        "phase": np.int64(0),
        "skill": np.array([skill], dtype=np.float32),
        "rates": np.array(rates, dtype=np.float32),
        "edges": np.array(edges, dtype=np.float64),
        "last_hours": np.array([0.0], dtype=np.float32),
        "last_income": np.array([0.0], dtype=np.float32),
        "rebate": np.array([0.0], dtype=np.float32),
    }


def _decision(observation, spec, agent_id="worker_0"):
    return Decision(agent_id=agent_id, observation=observation, text="", spec=spec, rules="", step=0, episode=0)


def _hours(action) -> float:
    return float(np.asarray(action.value["hours"]).reshape(-1)[0])


# --------------------------------------------------------------------------------------------
# The rational best response
# --------------------------------------------------------------------------------------------

# c = 0.0005, delta = 3.5, so c * delta = 0.00175 and 1 / (delta - 1) = 0.4.
# u(l) = (1 - tau) v l - 0.0005 l^3.5 (+ the rebate, which does not depend on l).
@pytest.mark.parametrize(
    "skill, edges, rates, continuous, on_grid",
    [
        # flat 50 %, v = 10: l* = (0.5 * 10 / 0.00175)^0.4 = 2857.14^0.4 = 24.12;
        # grid: u(20) = 100 - 0.0005 * 20^3.5 = 100 - 17.89 = 82.11 > u(30) = 150 - 73.94 = 76.06 -> 20
        (10.0, FLAT, (50.0,), (0.5 * 10 / 0.00175) ** 0.4, 20.0),
        # flat 50 %, v = 11: l* = (5.5 / 0.00175)^0.4 = 25.06, which rounds to 30, but the grid's
        # best is 20: u(20) = 110 - 17.89 = 92.11 > u(30) = 165 - 73.94 = 91.06 (the cost is convex)
        (11.0, FLAT, (50.0,), (0.5 * 11 / 0.00175) ** 0.4, 20.0),
        # no tax, v = 100: l* = (100 / 0.00175)^0.4 = 79.94;
        # grid: u(80) = 8000 - 2289.73 = 5710.27 beats u(70) = 5565.13 and u(90) = 5542.05 -> 80
        (100.0, FLAT, (0.0,), (100 / 0.00175) ** 0.4, 80.0),
        # flat 50 %, v = 1000: l* = (500 / 0.00175)^0.4 = 152.19, capped at 100 hours
        (1000.0, FLAT, (50.0,), 100.0, 100.0),
        # three brackets at 10/90/90 %, v = 1000: below the 90,000 edge l* = (900 / 0.00175)^0.4 = 192
        # is cut at the edge, l = 90000 / 1000 = 90; above it l* = (100 / 0.00175)^0.4 = 79.9 < 90,
        # so the worker stops at the kink: 90 hours (z = 90,000 counts in the lower bracket)
        (1000.0, THREE, (10.0, 90.0, 90.0), 90.0, 90.0),
        # three brackets at 0/50/50 %, v = 1000: u(90) = 90000 - 0.0005 * 90^3.5 = 90000 - 3457.95 = 86542;
        # u(100) = 100000 - 0.5 * 10000 (tax above the edge) - 0.0005 * 100^3.5 = 100000 - 5000 - 5000
        # = 90000 > 86542: working on past the kink still pays -> 100
        (1000.0, THREE, (0.0, 50.0, 50.0), 100.0, 100.0),
        # zero skill works zero hours
        (0.0, FLAT, (50.0,), 0.0, 0.0),
    ],
)
def test_rational_worker_best_responds(skill, edges, rates, continuous, on_grid):
    worker = RationalTaxWorker()
    amount = worker.act(_decision(_observation(skill, edges, rates), _amount_spec()))
    assert _hours(amount) == pytest.approx(continuous, rel=1e-6, abs=1e-9)
    grid = worker.act(_decision(_observation(skill, edges, rates), _grid_spec()))
    assert _hours(grid) == on_grid
    assert grid.raw_text == f"Answer: {int(on_grid)}" and not grid.fallback_used


def test_rational_worker_parameters_change_the_answer():
    # c = 0.001 doubles the cost: l* = (0.5 * 10 / 0.0035)^0.4 = 1428.57^0.4 = 18.27
    worker = RationalTaxWorker(c=0.001)
    action = worker.act(_decision(_observation(10.0), _amount_spec()))
    assert _hours(action) == pytest.approx((5 / 0.0035) ** 0.4)
    # max_hours = 50 caps v = 1000 at 50
    capped = RationalTaxWorker(max_hours=50).act(_decision(_observation(1000.0), _amount_spec()))
    assert _hours(capped) == 50.0


def test_reference_top_edge_quirk_and_its_correction():
    # flat 100 %, v = 200,000. The reference leaves income above its 1e7 edge untaxed: at 100 hours
    # z = 2e7 keeps 2e7 - 1e7 = 1e7 and costs 0.0005 * 100^3.5 = 5000, so u = 9,995,000 > u(0) = 0
    # -> 100 hours. With top_edge=inf every dollar is taxed at 100 %, u(l) = -0.0005 l^3.5 -> 0 hours.
    observation = _observation(200000.0, FLAT, (100.0,))
    reference = RationalTaxWorker().act(_decision(observation, _grid_spec()))
    corrected = RationalTaxWorker(top_edge=INF).act(_decision(observation, _grid_spec()))
    assert (_hours(reference), _hours(corrected)) == (100.0, 0.0)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"c": 0.0}, "c"), ({"c": -1.0}, "c"), ({"delta": 1.0}, "delta"), ({"max_hours": -5}, "max_hours"),
     ({"top_edge": 0.0}, "top_edge"), ({"top_edge": float("nan")}, "top_edge")],
)
def test_bad_rational_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RationalTaxWorker(**kwargs)


# --------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------


def _mixed_requests():
    schedules = [(FLAT, (50.0,)), (THREE, (10.0, 90.0, 90.0)), (THREE, (0.0, 50.0, 50.0))]
    requests = []
    for k, skill in enumerate([10.0, 11.0, 100.0, 1000.0, 3.5, 250.0, 40.0, 1000.0, 720.0]):
        edges, rates = schedules[k % 3]
        spec = _grid_spec() if k % 2 == 0 else _amount_spec()
        requests.append(_decision(_observation(skill, edges, rates), spec, agent_id=f"worker_{k}"))
    requests.append(_decision(_observation(10.0), _vote_spec(), agent_id="worker_9"))
    return requests


def test_batch_equals_one_at_a_time_and_calls_once_per_schedule(monkeypatch):
    requests = _mixed_requests()
    agents = [RationalTaxWorker() for _ in requests]
    single = [agent.act(request) for agent, request in zip(agents, requests)]

    calls = []
    original = tax.rational_hours

    def counting(skills, *args, **kwargs):
        calls.append(np.asarray(skills).size)
        return original(skills, *args, **kwargs)

    monkeypatch.setattr(tax, "rational_hours", counting)
    batched = TAX_BATCH_ACTORS["tax_rational"](agents, requests)
    # 3 schedules x 2 answer kinds (grid, continuous) = 6 groups for 9 hours decisions
    assert len(calls) == 6 and sum(calls) == 9
    assert [a.raw_text for a in batched] == [a.raw_text for a in single]
    for b, s in zip(batched[:-1], single[:-1]):
        assert _hours(b) == _hours(s)
    # the vote is no hours decision: the world's fallback, counted
    assert batched[-1].value == 1 and batched[-1].fallback_used and single[-1].fallback_used


def test_one_schedule_for_a_whole_population_is_one_call(monkeypatch):
    rng = np.random.default_rng(0)
    skills = tax.skills_from_incomes(tax.gb2_incomes(500, rng))
    requests = [_decision(_observation(v, THREE, (20.0, 40.0, 60.0)), _grid_spec(), agent_id=f"worker_{i}")
                for i, v in enumerate(skills)]
    calls = []
    original = tax.rational_hours

    def counting(skills, *args, **kwargs):
        calls.append(np.asarray(skills).size)
        return original(skills, *args, **kwargs)

    monkeypatch.setattr(tax, "rational_hours", counting)
    actions = RationalTaxWorker.act_many([RationalTaxWorker() for _ in requests], requests)
    assert calls == [500]
    # skills pass through float32 observations, as the world sends them
    expected = original(np.asarray(skills, dtype=np.float32), THREE, (20.0, 40.0, 60.0), grid=tax.HOURS_GRID)
    assert [_hours(a) for a in actions] == list(expected)


def test_agents_with_different_parameters_are_grouped_apart():
    requests = [_decision(_observation(10.0), _amount_spec(), agent_id=f"worker_{i}") for i in range(2)]
    actions = RationalTaxWorker.act_many([RationalTaxWorker(), RationalTaxWorker(c=0.001)], requests)
    assert _hours(actions[0]) == pytest.approx((5 / 0.00175) ** 0.4)
    assert _hours(actions[1]) == pytest.approx((5 / 0.0035) ** 0.4)
    with pytest.raises(ValueError, match="2 agents but 1 requests"):
        RationalTaxWorker.act_many([RationalTaxWorker(), RationalTaxWorker()], requests[:1])


# --------------------------------------------------------------------------------------------
# Fixed hours, the holding planner, the tables
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hours, on_grid", [(40, 40.0), (45, 40.0), (47, 50.0), (0, 0.0), (130, 100.0)])
def test_fixed_hours_on_the_grid_and_as_an_amount(hours, on_grid):
    worker = FixedHoursTaxWorker(hours=hours)
    assert _hours(worker.act(_decision(_observation(10.0), _grid_spec()))) == on_grid  # ties go lower
    assert _hours(worker.act(_decision(_observation(10.0), _amount_spec()))) == min(hours, 100)
    vote = worker.act(_decision(_observation(10.0), _vote_spec()))
    assert vote.fallback_used and vote.value == 1


def test_fixed_hours_refuses_negative_hours():
    with pytest.raises(ValueError, match="hours"):
        FixedHoursTaxWorker(hours=-10)
    assert FixedHoursTaxWorker().hours == 40.0


def test_hold_planner_answers_zero_in_every_bracket():
    env = TaxWorldEnv(n_workers=2, n_steps=2, skills=[10.0, 100.0], planner="seat")
    observations, _ = env.reset(seed=0)
    assert env.deciders() == ["planner"]
    action = HoldTaxPlanner().act(_decision(observations["planner"], env.action_spec("planner"), "planner"))
    assert action.raw_text == "Answer: [0, 0, 0]" and not action.fallback_used
    assert list(action.value["deltas"]) == [0, 0, 0] and action.value["fallback"] == 0
    _, _, _, _, infos = env.step({**{a: env.idle_action(a) for a in env.agents}, "planner": action.value})
    # the rates stay at the initial 50 % and the answer was no fallback
    assert [infos["planner"][f"rate_{j}"] for j in range(3)] == [50.0, 50.0, 50.0]
    assert infos["planner"]["planner_fallback"] == 0


def test_hours_action_refuses_a_non_hours_spec():
    with pytest.raises(TypeError, match="numeric Choice, HoursAndSatisfaction or an Amount"):
        hours_action(_vote_spec(), 40)


def test_strategy_tables():
    assert TAX_STRATEGIES == {"tax_rational": RationalTaxWorker, "tax_fixed_hours": FixedHoursTaxWorker,
                              "tax_planner_hold": HoldTaxPlanner}
    assert set(TAX_BATCH_ACTORS) == set(TAX_STRATEGIES)


# --------------------------------------------------------------------------------------------
# Against the world
# --------------------------------------------------------------------------------------------


def _work_step(env, observations, agents):
    """One step with every decider answered by its scripted agent, in one act_many call."""
    deciders = env.deciders()
    requests = [_decision(observations[a], env.action_spec(a), a) for a in deciders]
    actions = type(agents[deciders[0]]).act_many([agents[a] for a in deciders], requests)
    joint = {a: env.idle_action(a) for a in env.agents}
    joint.update({a: action.value for a, action in zip(deciders, actions)})
    observations, _, _, _, infos = env.step(joint)
    return observations, infos, actions


def test_rational_workers_in_the_world_work_the_hand_computed_hours():
    # flat 50 %: v = 10 -> 20 hours, v = 11 -> 20, v = 100 -> l* = (50 / 0.00175)^0.4 = 60.6 -> grid:
    # u(60) = 3000 - 0.0005 * 60^3.5 = 3000 - 836.6 = 2163.4 > u(70) = 3500 - 1434.9 = 2065.1 -> 60;
    # v = 1000 -> capped at 100
    env = TaxWorldEnv(n_workers=4, n_steps=3, brackets="flat", skills=[10.0, 11.0, 100.0, 1000.0], planner="flat:50")
    observations, _ = env.reset(seed=0)
    agents = {a: RationalTaxWorker() for a in env.possible_agents}
    for _ in range(3):
        observations, infos, actions = _work_step(env, observations, agents)
        assert [infos[f"worker_{i}"]["hours"] for i in range(4)] == [20.0, 20.0, 60.0, 100.0]
        assert not any(a.fallback_used for a in actions)


def test_bounded_workers_answer_hours_and_their_satisfaction():
    env = TaxWorldEnv(n_workers=2, n_steps=1, brackets="flat", skills=[10.0, 1000.0], planner="flat:50",
                      scenario="bounded")
    observations, _ = env.reset(seed=0)
    agents = {"worker_0": RationalTaxWorker(satisfied=False), "worker_1": RationalTaxWorker()}
    _, infos, actions = _work_step(env, observations, agents)
    assert [a.raw_text for a in actions] == ["Answer: 20, NO", "Answer: 100, YES"]
    assert (infos["worker_0"]["satisfied"], infos["worker_1"]["satisfied"]) == (0, 1)
    assert (infos["worker_0"]["hours"], infos["worker_1"]["hours"]) == (20.0, 100.0)


def test_democratic_workers_abstain_and_then_work():
    env = TaxWorldEnv(n_workers=2, n_steps=2, brackets="flat", skills=[10.0, 1000.0], scenario="democratic",
                      planner="seat")
    observations, _ = env.reset(seed=0)
    agents = {a: FixedHoursTaxWorker(hours=30) for a in env.possible_agents}
    observations, infos, actions = _work_step(env, observations, agents)  # the candidacy step
    assert [a.raw_text for a in actions] == ["Answer: abstain"] * 2 and not any(a.fallback_used for a in actions)
    assert infos["worker_0"]["ran"] == 0 and infos["worker_0"]["n_candidates"] == 0
    _, infos, _ = _work_step(env, observations, agents)  # nobody ran: no vote, a work step
    assert infos["worker_1"]["hours"] == 30.0
