"""Exact tests of the LLM-Economist tax world (Karten et al., arXiv 2507.15815): hand-computed
work steps, the planner's timing and deltas, fallbacks, bad input, the bounded and democratic
scenarios, seeding, pickling and a 10,000-worker array step."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from pettingzoo.test import parallel_api_test, seed_test
from pettingzoo.utils.conversions import parallel_to_aec

from dilemmazoo.envs import ActionParseError, Choice, tax
from dilemmazoo.envs.tax_world import HoursAndSatisfaction, Platform, RateDeltas, TaxCore, TaxWorldEnv

pytestmark = [
    pytest.mark.filterwarnings("ignore:Observation is not a NumPy array"),
    pytest.mark.filterwarnings("ignore:Observation space for each agent probably should be"),
    pytest.mark.filterwarnings("ignore:Action space for each agent probably should be"),
]

# Three workers of skill 10, 20, 30 on brackets [0, 500), [500, 1000), [1000, inf) at 10/20/30%.
EDGES = [0, 500, 1000, math.inf]


def _small(**kwargs) -> TaxWorldEnv:
    settings = dict(
        n_workers=3, n_steps=4, tax_year=2, brackets=EDGES, skills=[10.0, 20.0, 30.0], initial_rates=[10, 20, 30]
    )
    settings.update(kwargs)
    return TaxWorldEnv(**settings)


def _hold() -> dict:
    return {"deltas": np.zeros(3, dtype=np.int64), "fallback": np.int64(0)}


def _work(env: TaxWorldEnv, hours) -> tuple:
    actions = {agent: {"hours": np.array([float(h)])} for agent, h in zip(env.workers, hours)}
    for agent in set(env.agents) - set(actions):
        actions[agent] = env.idle_action(agent)
    return env.step(actions)


def _idle_except(env: TaxWorldEnv, acting: dict) -> dict:
    return {agent: acting.get(agent, env.idle_action(agent)) for agent in env.agents}


# --------------------------------------------------------------------------------------------
# Hand-computed work step
# --------------------------------------------------------------------------------------------


def test_one_work_step_by_hand():
    env = _small(worker_type=["egotistical", "altruistic", "adversarial"])
    env.reset(seed=0)
    assert env.deciders() == ["planner"]
    env.step(_idle_except(env, {"planner": _hold()}))
    _, rewards, _, _, infos = _work(env, [20, 40, 50])
    # z = l * v = [200, 800, 1500]
    # T(200) = 0.1 * 200 = 20; T(800) = 0.1 * 500 + 0.2 * 300 = 110;
    # T(1500) = 0.1 * 500 + 0.2 * 500 + 0.3 * 500 = 300; rebate = 430 / 3
    rebate = 430 / 3
    cost = [0.0005 * 20**3.5, 0.0005 * 40**3.5, 0.0005 * 50**3.5]  # 17.889, 202.386, 441.942
    u = [200 - 20 + rebate - cost[0], 800 - 110 + rebate - cost[1], 1500 - 300 + rebate - cost[2]]
    swf = u[0] / 200 + u[1] / 800 + u[2] / 1500  # sum u / max(z, 1) = 2.9168
    swf_ai = swf / (1 / 200 + 1 / 800 + 1 / 1500)  # the same weights normalised: 421.71
    for i, agent in enumerate(env.workers):
        info = infos[agent]
        assert info["phase"] == "work" and info["round"] == 1 and info["round_end"] and info["tax_year"] == 0
        assert info["hours"] == [20, 40, 50][i]
        assert info["income"] == pytest.approx([200, 800, 1500][i])
        assert info["tax"] == pytest.approx([20, 110, 300][i])
        assert info["rebate"] == pytest.approx(rebate)
        assert info["utility_raw"] == pytest.approx(u[i])
        assert info["bracket"] == i
        assert info["skill"] == [10.0, 20.0, 30.0][i]
        assert info["satisfied"] == -1
        assert [info[f"rate_{j}"] for j in range(3)] == [10.0, 20.0, 30.0]
        assert info["swf_llm_economist"] == pytest.approx(swf)
        assert info["swf_ai_economist"] == pytest.approx(swf_ai)
        # Gini (AI Economist, n < 30): sum_ij |z_i - z_j| / (2 n sum z) / ((n - 1) / n)
        # = 2 * (600 + 1300 + 700) / (2 * 3 * 2500) / (2 / 3) = 0.52
        assert info["gini_income"] == pytest.approx(0.52)
        assert info["productivity"] == pytest.approx(2500)
        # AI Economist: equality (1 - gini) times productivity as the mean income, 2500 / 3
        assert info["equality_x_productivity"] == pytest.approx((1 - 0.52) * 2500 / 3)
        assert info["planner_fallback"] == 0
    assert rewards["worker_0"] == pytest.approx(u[0])  # egotistical: own u
    assert rewards["worker_1"] == pytest.approx(swf)  # altruistic: the SWF
    assert rewards["worker_2"] == pytest.approx(-swf)  # adversarial: minus the SWF
    assert rewards["planner"] == pytest.approx(swf)
    assert [infos[a]["felt_utility"] for a in env.workers] == pytest.approx([u[0], swf, -swf])


def test_tax_core_matches_the_world_and_scales_to_ten_thousand():
    core = TaxCore([10.0, 20.0, 30.0], EDGES, [10, 20, 30])
    outcome = core.step([20, 40, 50])
    np.testing.assert_allclose(outcome.tax, [20, 110, 300])
    assert outcome.rebate == pytest.approx(430 / 3)
    big = TaxCore(tax.uniform_skills(10_000, 0), "three", [50, 50, 50])
    hours = np.random.default_rng(1).choice(tax.HOURS_GRID, 10_000).astype(float)
    result = big.step(hours)
    assert result.utility.shape == (10_000,) and result.bracket.shape == (10_000,)
    assert result.rebate == pytest.approx(result.tax.mean())
    np.testing.assert_allclose(result.income, hours * big.skills)


# --------------------------------------------------------------------------------------------
# The planner: timing, deltas, parsing, fallback
# --------------------------------------------------------------------------------------------


def test_planner_decides_only_at_the_start_of_each_tax_year():
    env = _small()
    env.reset(seed=0)
    phases, deciders = [], []
    while env.agents:
        deciders.append(env.deciders())
        if env.deciders() == ["planner"]:
            _, rewards, *_ , infos = env.step(_idle_except(env, {"planner": _hold()}))
            assert set(rewards.values()) == {0.0}
        else:
            *_, infos = _work(env, [10, 10, 10])
        phases.append(infos["planner"]["phase"])
    # tax_year 2, 4 work steps: plan, work, work, plan, work, work
    assert phases == ["plan", "work", "work", "plan", "work", "work"]
    assert deciders[0] == ["planner"] and deciders[1] == env.workers and deciders[3] == ["planner"]
    assert env.deciders() == []


def test_warmup_delays_the_first_decision():
    env = _small(warmup=1)
    env.reset(seed=0)
    assert env.deciders() == env.workers  # step 0 < warmup: no decision
    _work(env, [0, 0, 0])
    _work(env, [0, 0, 0])
    assert env.deciders() == ["planner"]  # step 2: a tax year starts and 2 >= warmup


def test_planner_deltas_are_clipped_and_rounded():
    env = _small(initial_rates=[10, 20, 95])
    env.reset(seed=0)
    *_, infos = env.step(_idle_except(env, {"planner": {"deltas": np.array([-20, 7, 20]), "fallback": np.int64(0)}}))
    # 10 - 20 -> 0 (kept >= 0); 7 rounds to 10: 20 + 10 = 30; 95 + 20 -> 100 (kept <= 100)
    assert [infos["planner"][f"rate_{j}"] for j in range(3)] == [0.0, 30.0, 100.0]
    assert [infos["planner"][f"delta_{j}"] for j in range(3)] == [-20, 10, 20]
    np.testing.assert_array_equal(env.rates, [0.0, 30.0, 100.0])


def test_planner_answer_is_parsed_and_an_unparseable_one_falls_back_without_changing_rates():
    env = _small()
    env.reset(seed=0)
    spec = env.action_spec("planner")
    assert isinstance(spec, RateDeltas) and "Answer:" in spec.instruction
    action = spec.parse("I lower the top bracket.\nAnswer: [+10, 0, -10]")
    np.testing.assert_array_equal(action["deltas"], [10, 0, -10])
    assert action["fallback"] == 0
    np.testing.assert_array_equal(spec.parse("Answer: 40, 5%, -3")["deltas"], [20, 0, 0])  # clipped, rounded
    with pytest.raises(ActionParseError, match="Answer:"):
        spec.parse("I think the rates should go up a little.")
    with pytest.raises(ActionParseError, match="3 numbers"):
        spec.parse("Answer: [10, 0]")
    with pytest.raises(ActionParseError, match="negation"):
        spec.parse("Answer: not [10, 0, 0]")
    # scoring: 5^3 = 125 answer texts in product order; each maps to its deltas
    options = spec.options()
    assert len(options) == 125 and options[0] == "Answer: [-20, -20, -20]" and options[-1] == "Answer: [+20, +20, +20]"
    index = options.index("Answer: [+10, 0, -10]")  # digits (3, 2, 1) in base 5 = 75 + 10 + 1
    assert index == 86
    np.testing.assert_array_equal(spec.action_for_option(index)["deltas"], spec.parse(options[index])["deltas"])
    assert _small(brackets="us_federal", initial_rates=50.0).action_spec("planner").options() is None  # 5^7 options
    # the runner plays the declared fallback: rates unchanged, counted in the infos
    *_, infos = env.step(_idle_except(env, {"planner": spec.fallback}))
    assert infos["worker_0"]["planner_fallback"] == 1
    assert [infos["worker_0"][f"rate_{j}"] for j in range(3)] == [10.0, 20.0, 30.0]
    assert env.planner_fallbacks == 1
    # a fallback flag makes any deltas void
    env2 = _small()
    env2.reset(seed=0)
    env2.step(_idle_except(env2, {"planner": {"deltas": np.array([20, 20, 20]), "fallback": np.int64(1)}}))
    np.testing.assert_array_equal(env2.rates, [10.0, 20.0, 30.0])


def test_planner_describe_is_bounded_and_holds_the_prompt_content():
    env = _small(n_steps=20, tax_year=5, planner_history=3, best_steps=2)
    env.reset(seed=0)
    assert "No step has been played yet" in env.describe("planner")
    for step in range(18):
        if env.deciders() == ["planner"]:
            env.step(_idle_except(env, {"planner": _hold()}))
        _work(env, [10 * (step % 5), 20, 30])
    text = env.describe("planner")
    assert text.count("\nstep ") == 3  # only the last 3 work steps
    assert "workers per income bracket" in text and "utility histogram" in text and "SWF" in text
    assert "best steps so far by SWF" in text and text.count("rates [") >= 5
    assert "final steps: choose the best" in text  # 18 of 20 steps played: the final 10%
    early = _small(n_steps=20, tax_year=5)
    early.reset(seed=0)
    assert "Explore" in early.describe("planner")


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_hours_are_value_errors():
    env = _small()
    env.reset(seed=0)
    env.step(_idle_except(env, {"planner": _hold()}))
    with pytest.raises(ValueError, match="hours"):
        _work(env, [-5, 10, 10])
    with pytest.raises(ValueError, match="hours"):
        _work(env, [101, 10, 10])
    with pytest.raises(ValueError, match="hours"):
        TaxCore([1.0, 2.0], "flat", [10]).step([-1, 3])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"brackets": [0, 100, 50, math.inf]}, "brackets"),
        ({"brackets": [10, 100]}, "brackets"),
        ({"brackets": "five"}, "brackets"),
        ({"initial_rates": [10, 20]}, "initial_rates"),
        ({"initial_rates": 120}, "initial_rates"),
        ({"skills": [1.0, 2.0]}, "skills"),
        ({"skills": "pareto"}, "skills"),
        ({"worker_type": "saint"}, "worker_type"),
        ({"worker_type": ["egotistical"]}, "worker_type"),
        ({"scenario": "anarchy"}, "scenario"),
        ({"planner": "flat:120"}, "planner"),
        ({"planner": "magic"}, "planner"),
        ({"planner": "us_federal"}, "us_federal"),
        ({"scenario": "democratic", "planner": "flat:10"}, "planner"),
        ({"scenario": "bounded", "bounded_rationality": False}, "bounded_rationality"),
        ({"tax_year": 0}, "tax_year"),
        ({"hours_grid": [0, 50, 200]}, "hours_grid"),
        ({"elasticity": [0.1, 0.2]}, "elasticity"),
        ({"saez_incomes": "guess"}, "saez_incomes"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _small(**kwargs)


# --------------------------------------------------------------------------------------------
# Fixed schedules
# --------------------------------------------------------------------------------------------


def test_fixed_schedules_are_applied_by_the_world():
    env = TaxWorldEnv(n_workers=2, n_steps=2, brackets="us_federal", planner="us_federal", skills=[10.0, 20.0])
    env.reset(seed=0)
    assert "planner" not in env.possible_agents and env.deciders() == env.workers
    np.testing.assert_array_equal(env.rates, tax.US_FEDERAL_2024_RATES)
    flat = _small(planner="flat:30")
    flat.reset(seed=0)
    np.testing.assert_array_equal(flat.rates, [30.0, 30.0, 30.0])
    *_, infos = _work(flat, [10, 10, 10])  # z = 100, 200, 300 -> T = 30, 60, 90, rebate 60
    assert infos["worker_0"]["tax"] == pytest.approx(30.0) and infos["worker_0"]["rebate"] == pytest.approx(60.0)
    none = _small(planner="none")
    none.reset(seed=0)
    np.testing.assert_array_equal(none.rates, [0.0, 0.0, 0.0])


def test_saez_planner_feeds_skill_times_100_by_default_and_observed_incomes_on_request():
    skills = [5.0, 12.0, 30.0, 70.0]
    env = TaxWorldEnv(n_workers=4, n_steps=4, tax_year=2, skills=skills, planner="saez", brackets="three")
    env.reset(seed=0)
    expected = tax.saez_rates(np.array(skills) * 100, tax.bracket_edges("three"), 0.4, method="llm_economist")
    np.testing.assert_allclose(env.rates, np.clip(expected, 0, 100))
    binned = TaxWorldEnv(n_workers=4, n_steps=4, tax_year=2, skills=skills, planner="saez_binned", brackets="three")
    binned.reset(seed=0)
    expected = tax.saez_rates(np.array(skills) * 100, tax.bracket_edges("three"), 0.4, method="binned")
    np.testing.assert_allclose(binned.rates, np.clip(expected, 0, 100))
    observed = TaxWorldEnv(
        n_workers=4, n_steps=4, tax_year=2, skills=skills, planner="saez", brackets="three", saez_incomes="observed"
    )
    observed.reset(seed=0)
    _work(observed, [10, 20, 30, 40])
    _work(observed, [30, 20, 10, 40])  # the year's mean hours: 20, 20, 20, 40
    year = np.array(skills) * np.array([20, 20, 20, 40])
    np.testing.assert_allclose(
        observed.rates, np.clip(tax.saez_rates(year, tax.bracket_edges("three"), 0.4, method="llm_economist"), 0, 100)
    )


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


def test_bounded_scenario_halves_felt_utility_on_no():
    env = _small(scenario="bounded", planner="flat:10")
    env.reset(seed=0)
    spec = env.action_spec("worker_0")
    assert isinstance(spec, HoursAndSatisfaction)
    yes = spec.parse("I am fine with it.\nAnswer: 40, YES")
    no = env.action_spec("worker_1").parse("Answer: 40 hours, no")
    assert yes["satisfied"] == 1 and no["satisfied"] == 0 and no["hours"][0] == 40.0
    with pytest.raises(ActionParseError, match="YES or NO"):
        spec.parse("Answer: 40")
    with pytest.raises(ActionParseError, match="not one of"):
        spec.parse("Answer: 45, YES")
    assert len(spec.options()) == 22 and spec.action_for_option(3)["satisfied"] == 0
    third = env.action_spec("worker_2").parse("Answer: 40, yes")
    _, rewards, _, _, infos = env.step({"worker_0": yes, "worker_1": no, "worker_2": third})
    for agent, factor, satisfied in (("worker_0", 1.0, 1), ("worker_1", 0.5, 0), ("worker_2", 1.0, 1)):
        info = infos[agent]
        assert info["satisfied"] == satisfied
        assert info["felt_utility"] == pytest.approx(factor * info["utility_raw"])
        assert rewards[agent] == pytest.approx(factor * info["utility_raw"])
    # the welfare columns use raw u: sum u / z
    raw = sum(infos[a]["utility_raw"] / infos[a]["income"] for a in env.workers)
    assert infos["worker_0"]["swf_llm_economist"] == pytest.approx(raw)


def _democracy(seed: int, votes: list[int]) -> TaxWorldEnv:
    env = _small(scenario="democratic", initial_rates=50.0)
    env.reset(seed=seed)
    assert env.possible_agents == env.workers and env.deciders() == env.workers
    # candidacy: every worker runs or abstains (two answers)
    candidacy = {a: env.action_spec(a) for a in env.workers}
    assert isinstance(candidacy["worker_0"], Choice) and list(candidacy["worker_0"].labels) == ["run", "abstain"]
    answers = {"worker_0": "Answer: run", "worker_1": "I will stand.\nAnswer: run", "worker_2": "Answer: abstain"}
    *_, infos = env.step({a: candidacy[a].parse(answers[a]) for a in env.workers})
    assert infos["worker_0"]["phase"] == "candidacy"
    assert [infos[a]["ran"] for a in env.workers] == [1, 1, 0] and infos["worker_0"]["n_candidates"] == 2
    # platforms: only the candidates decide
    assert env.deciders() == ["worker_0", "worker_1"]
    platform = {a: env.action_spec(a) for a in env.deciders()}
    assert isinstance(platform["worker_0"], Platform)
    acts = {
        "worker_0": platform["worker_0"].parse("Answer: run [10, 0, -10]"),
        "worker_1": platform["worker_1"].parse("Answer: [-20, -20, -20]"),
        "worker_2": env.idle_action("worker_2"),
    }
    *_, infos = env.step(acts)
    assert infos["worker_0"]["phase"] == "platform" and infos["worker_0"]["n_candidates"] == 2
    ballot = env.action_spec("worker_2")
    assert isinstance(ballot, Choice) and list(ballot.labels) == ["worker_0", "worker_1"]
    assert "worker_0: [+10, 0, -10]" in env.describe("worker_2") or "worker_0" in env.describe("worker_2")
    env.step({a: env._worker_action(a, hours=0.0, vote=v) for a, v in zip(env.workers, votes)})
    return env


def test_democratic_winner_platform_is_applied():
    env = _democracy(0, [0, 0, 1])
    assert env.leader == 0
    np.testing.assert_array_equal(env.rates, [60.0, 50.0, 40.0])
    assert env.deciders() == env.workers and env.phase == 0  # back to work
    *_, infos = _work(env, [10, 10, 10])
    assert infos["worker_0"]["leader"] == 0 and infos["worker_0"]["rate_0"] == 60.0
    env2 = _democracy(0, [1, 1, 0])
    np.testing.assert_array_equal(env2.rates, [30.0, 30.0, 30.0])


def test_democratic_tie_is_broken_by_the_seed():
    # votes 0 and 1 tie; worker_2 votes for itself, who does not run: a spoiled ballot.
    winners = {}
    for seed in range(8):
        first = _democracy(seed, [0, 1, 2]).leader
        assert _democracy(seed, [0, 1, 2]).leader == first  # reproducible
        # explicit skills draw nothing at reset: the tie-break is the seed's first uniform draw
        assert first == [0, 1][int(np.random.default_rng(seed).random() * 2)]
        winners[seed] = first
    assert set(winners.values()) == {0, 1}


def test_nobody_running_skips_the_vote():
    env = _small(scenario="democratic")
    env.reset(seed=0)
    env.step({a: env.action_spec(a).fallback for a in env.workers})  # fallback: abstain
    assert env.phase == 0 and env.leader == -1
    np.testing.assert_array_equal(env.rates, [10.0, 20.0, 30.0])


def test_platform_parse_errors():
    spec = Platform(instruction="x", fallback=None, n_brackets=3)
    with pytest.raises(ActionParseError, match="You are a candidate now"):
        spec.parse("Answer: abstain")
    with pytest.raises(ActionParseError, match="3 numbers"):
        spec.parse("Answer: run [10]")
    options = spec.options()
    assert len(options) == 125 and options[0] == "Answer: run [-20, -20, -20]"
    np.testing.assert_array_equal(spec.action_for_option(87), spec.parse(options[87]))


def test_a_candidate_whose_platform_cannot_be_read_runs_on_no_change():
    env = _small(scenario="democratic", initial_rates=50.0)
    env.reset(seed=0)
    env.step({a: env.action_spec(a).parse("Answer: run" if a == "worker_1" else "Answer: abstain") for a in env.workers})
    spec = env.action_spec("worker_1")
    with pytest.raises(ActionParseError):
        spec.parse("I am not sure.")
    acts = {a: env.idle_action(a) for a in env.workers} | {"worker_1": spec.fallback}
    env.step(acts)
    env.step({a: env._worker_action(a, hours=0.0, vote=1) for a in env.workers})
    assert env.leader == 1
    np.testing.assert_array_equal(env.rates, [50.0, 50.0, 50.0])  # elected on "no change"


# --------------------------------------------------------------------------------------------
# Conformance, seeding, pickling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["rational", "bounded", "democratic"])
def test_parallel_api_and_aec_seed(scenario):
    def make():
        return TaxWorldEnv(n_workers=3, n_steps=12, tax_year=4, scenario=scenario)

    parallel_api_test(make(), num_cycles=50)
    seed_test(lambda: parallel_to_aec(make()))


def test_worker_hours_spec_is_a_choice_over_the_grid():
    env = _small(planner="none")
    env.reset(seed=0)
    spec = env.action_spec("worker_0")
    assert isinstance(spec, Choice) and list(spec.labels) == [str(h) for h in tax.HOURS_GRID]
    assert spec.parse("Answer: 70")["hours"][0] == 70.0
    assert spec.fallback["hours"][0] == 40.0  # no previous hours yet
    _work(env, [30, 30, 30])
    assert env.action_spec("worker_0").fallback["hours"][0] == 30.0


def _play(seed: int, scenario: str = "rational") -> list:
    env = TaxWorldEnv(n_workers=4, n_steps=10, tax_year=3, scenario=scenario, skills="gb2")
    rows = [env.reset(seed=seed)]
    for i, agent in enumerate(env.possible_agents):
        env.action_space(agent).seed(100 + i)
    while env.agents:
        rows.append(env.step({a: env.action_space(a).sample() for a in env.agents}))
    return rows


@pytest.mark.parametrize("scenario", ["rational", "democratic"])
def test_seeded_runs_repeat_exactly(scenario):
    assert data_equivalence(_play(3, scenario), _play(3, scenario))
    first, other = _play(3, scenario)[0][1], _play(4, scenario)[0][1]
    assert first["worker_0"]["skill"] != other["worker_0"]["skill"]


def test_pickles_mid_game():
    env = _small(scenario="bounded")
    env.reset(seed=1)
    env.step(_idle_except(env, {"planner": _hold()}))
    copy = pickle.loads(pickle.dumps(env))
    actions = {a: env.action_space(a).sample() for a in env.agents}
    assert data_equivalence(env.step(actions), copy.step(actions))


def test_language_views():
    env = _small(scenario="bounded")
    env.reset(seed=0)
    assert "marginal" in env.rules("worker_0") and "YES or NO" in env.rules("worker_0")
    assert "income - tax + rebate - 0.0005 x hours^3.5" in env.rules("worker_0")
    assert "SWF" in env.rules("planner")
    env.step(_idle_except(env, {"planner": _hold()}))
    assert "Choose how many hours" in env.describe("worker_0")
    assert "bracket 3 (income above 1,000): 30%" in env.describe("worker_2")
    # z = 100, 200, 300; T = 10, 20, 30; rebate 20
    env.step(_idle_except(env, {a: env.action_spec(a).parse("Answer: 10, YES") for a in env.workers}))
    text = env.describe("worker_0")
    # the shared lines first, the worker's own last (a batched backend shares the prompts' beginning)
    assert "every worker received a rebate of 20" in text
    assert text.endswith("Your skill: 10 per hour.\nYour last step: 10 hours, income 100, tax 10, utility 108.")
    assert "mean income 200" in text
    # the rational scenario: the hours grid and the answer format are in the shared lines, the
    # instruction after the worker's own lines only reminds of the format
    plain = _small()
    plain.reset(seed=0)
    plain.step(_idle_except(plain, {"planner": _hold()}))
    shared, own = plain.describe("worker_0").split("Your skill:")
    assert "(0 to 100 in steps of 10) and end your reply with 'Answer: <hours>'" in shared
    assert plain.action_spec("worker_0").instruction == "End your reply with 'Answer: <hours>'."
    assert plain.action_spec("worker_0").parse("I will work 40. Answer: 40") == plain.action_spec("worker_0").parse("Answer: 40")
    shown = TaxWorldEnv(render_mode="ansi", n_workers=2, n_steps=2, skills=[1.0, 2.0])
    shown.reset(seed=0)
    assert shown.render().startswith("Tax world: step 0 of 2, plan phase; rates [50%, 50%, 50%]")
