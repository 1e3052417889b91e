"""LLM-Economist tax world — ``dilemmazoo/tax-world-v0``.

Sources: Karten et al., "LLM Economist: Large Population Models and Mechanism Design in
Multi-Agent Generative Simulacra" (arXiv 2507.15815; sethkarten/LLM-Economist, paper-era code),
and Zheng et al., "The AI Economist" (salesforce/ai-economist) for the second welfare function
and the binned Saez planner. The tax math (brackets, ``T(z)``, the lump sum, utility, Saez, SWF,
Gini) lives in :mod:`dilemmazoo.envs.tax` as pure functions; this module is the world around it.

The economy
-----------
``N`` workers with skills ``v_i``. Each work step every worker chooses weekly labour hours
``l_i in [0, max_hours]`` (language agents answer on ``hours_grid``, default 0, 10, ..., 100);
its pre-tax income is ``z_i = l_i v_i``; it pays ``T(z_i)``, the piecewise-linear marginal
schedule of the brackets and rates in force (``tax.tax_due``; income above ``top_edge`` is
untaxed, the reference's quirk, by default); all revenue comes back as an equal lump sum
``rebate = sum_j T(z_j) / N``; its utility is ``u_i = z_i - T(z_i) + rebate - c l_i^delta``
(``c = labour_cost = 0.0005``, ``delta = labour_exponent = 3.5``).

Welfare columns of every work step: ``swf_llm_economist = sum_i u_i / max(z_i, 1)`` (Karten et
al., unnormalised), ``swf_ai_economist`` (the same weights normalised to sum to 1, Zheng et
al.), ``gini_income`` (AI Economist ``get_gini``), ``productivity`` (sum of pre-tax incomes, ``tax.productivity``)
and ``equality_x_productivity`` (``tax.equality_times_productivity``: ``(1 - gini)`` times the
**mean** income, as the AI Economist's ``coin_eq_times_productivity``). Computed by
:class:`TaxCore` on arrays, with no Python loop per worker, so 10,000 workers step at numpy speed.

Arguments and defaults
----------------------
- ``n_workers=5`` (the reference's ``--num-agents``), ``n_steps=1000`` work steps (its
  ``--max-timesteps``), ``tax_year=25`` (its ``--two-timescale``): decisions on the rates are
  taken before work steps ``0, tax_year, 2 tax_year, ...`` that are ``>= warmup`` (``warmup=0``,
  the reference's ``--warmup``; so, as in the reference, the planner decides once before the
  first work step, from rates of 50% and no history).
- ``brackets="three"``: ``"flat"`` [0, inf), ``"three"`` [0, 90000, 159100, inf),
  ``"us_federal"`` (2024 single) or explicit edges (``tax.bracket_edges`` checks them).
- ``skills="gb2"``: drawn at every ``reset`` from the world's generator: ``"gb2"`` = annual
  incomes from the spec's GB2 (``tax.gb2_incomes``) divided by 40 (``tax.skills_from_incomes``),
  ``"uniform"`` = ``U(1.24, 159.1)`` (``tax.uniform_skills``), or an explicit list of ``N``
  finite non-negative skills (the same every episode).
- ``worker_type="egotistical"``: or ``"altruistic"``, ``"adversarial"``, or a list of ``N``.
- ``scenario="rational"`` | ``"bounded"`` | ``"democratic"`` (below);
  ``bounded_rationality=None`` (``None`` = on exactly in the bounded scenario; ``True`` adds the
  satisfaction question to the democratic scenario too; ``False`` with ``"bounded"`` is an error);
  ``no_satisfaction_factor=0.5`` (felt utility multiplier on NO).
- ``planner="seat"``: a ``planner`` agent decides (an LLM in-context planner or a scripted one).
  Fixed schedules, applied by the world itself at every decision point (no planner seat):
  ``"us_federal"`` (2024 single rates 10/12/22/24/32/35/37%; needs ``brackets="us_federal"``),
  ``"flat:RATE"`` (RATE percent in every bracket, e.g. ``"flat:30"``), ``"saez"``
  (``tax.saez_rates(method="llm_economist")``), ``"saez_binned"`` (``method="binned"``, the AI
  Economist's binned form) and ``"none"`` (0% everywhere).
- ``saez_incomes="skill_x_100"``: the incomes the Saez planners feed the formula. The paper-era
  reference feeds ``skill x 100`` (= 2.5 x the annual income the skill came from, i.e. every
  worker at the 100-hour cap), so its Saez rates never change; reproduced by default.
  ``"observed"`` feeds each worker's mean pre-tax income over the last tax year (``skill x
  max_hours`` before the first year is over), so the rates follow what the world has seen.
  When ``tax.saez_rates`` cannot estimate (fewer than two different incomes) the rates in
  force are kept (the starting rates, ``initial_rates``, at reset).
- ``elasticity=0.4`` (Saez 2002; a scalar or one per bracket, e.g. ``[0.18, 0.11, 0.57]``).
- ``initial_rates=50.0``: the starting rates of the planner seat and of the democratic scenario
  (a scalar or one per bracket, percent; the spec starts at 50% everywhere).
- ``hours_grid=(0, 10, ..., 100)``, ``max_hours=100``, ``labour_cost=0.0005``,
  ``labour_exponent=3.5``, ``top_edge=1e7`` (``math.inf`` taxes all income: the corrected form).
- ``planner_history=50``: the planner's prompt shows at most the last ``planner_history`` work
  steps (the reference's ``--history-len``; the reference shrinks it to 0 for 100 workers by an
  integer division, which is not copied: the bound here does not depend on ``N``);
  ``best_steps=5`` (the best steps by SWF shown), ``exploit_fraction=0.1`` (in the final 10% of
  work steps the planner is told to choose the best rates seen), ``utility_bins=5`` (the
  utility histogram's bins per step).
- ``render_mode=None | "ansi" | "human"``.

``reset(seed, options)``: the seed starts the world's one ``numpy.random.Generator`` (skills and
the tie-breaks of elections). ``options["names"]`` (every seat, distinct) sets display names.

Agents, phases and actions
--------------------------
Seats ``worker_0 .. worker_{N-1}``, plus ``planner`` when ``planner="seat"`` and the scenario
is not democratic. Phases (observation ``phase``): 0 work, 1 plan, 2 platform, 3 vote,
4 candidacy. A decision point opens with a plan step (``deciders() == ["planner"]``; workers
wait with :meth:`idle_action`) or, in the democratic scenario, a candidacy step (every worker:
run or abstain), a platform step (the candidates only) and a vote step (every worker); the
platform and vote steps are skipped when nobody runs. Then ``tax_year`` work steps follow
(workers decide, the planner waits). With a fixed schedule every step is a work step.

Worker action: ``Dict(hours=Box(0, max_hours, (1,)))``, plus ``satisfied=Discrete(2)`` (1 YES,
0 NO) with bounded rationality, plus ``run=Discrete(2)``, ``platform=Box(-20, 20, (K,), int64)``
and ``vote=Discrete(N)`` (the seat voted for) in the democratic scenario. Only the current
phase's keys are read; ``step`` also accepts a bare number as the hours of a work step.
Planner action: ``Dict(deltas=Box(-20, 20, (K,), int64), fallback=Discrete(2))``: the change of
each bracket's rate in percentage points, clipped to [-20, 20], rounded to a multiple of 10 and
the rates kept in [0, 100] (``tax.apply_deltas``); ``fallback=1`` marks the declared fallback
(rates unchanged, counted in ``planner_fallback``). A bare array of ``K`` deltas is accepted too.

Language view. Workers: ``action_spec`` is a :class:`~dilemmazoo.envs.base.Choice` over the
hours grid (``Answer: 40``); with bounded rationality an :class:`HoursAndSatisfaction`
(``Answer: 40, YES``); in the candidacy step a ``Choice`` of ``run`` or ``abstain`` (two answers:
a scored model weighs running against abstaining, not against each of 125 platforms); in the
platform step a :class:`Platform` (``Answer: run [10, 0, -10]``); in the vote step a ``Choice``
among the candidates' names. Planner: a
:class:`RateDeltas` (``Answer: [10, 0, -10]``, one number per bracket). ``RateDeltas`` and
``Platform`` offer every answer text for scoring (``options()``) when there are at most 125
delta vectors (three brackets or fewer); with US federal's seven brackets answers are generated.
``describe(planner)``
holds, per past work step (the last ``planner_history``): the rates in force, the income
histogram by bracket, the utility histogram, mean/median/std of z and u, and the SWF; then the
best ``best_steps`` steps by SWF; then the exploration instruction, or "choose the best" in the
final ``exploit_fraction`` of the work steps.

Scenarios
---------
- ``rational``: workers choose hours; the planner (or a fixed schedule) sets the rates.
- ``bounded``: workers also say whether they are satisfied with the tax policy, in the same
  answer as their hours (the reference asks after the step; here the answer of step t scales the
  felt utility of step t): YES scales the felt utility by 1.0, NO by ``no_satisfaction_factor``.
  The planner and the welfare columns see the raw ``u``.
- ``democratic``: no planner agent; at every decision point each worker runs or abstains, each
  candidate then gives a platform (one delta per bracket); then all vote for one candidate (a vote naming a seat that
  does not run is a spoiled ballot); plurality wins, ties broken at random with the world's
  generator (:func:`dilemmazoo.envs.institutions.voting.plurality`, one draw per election); the
  winner's platform is applied and the winner is the ``leader`` until the next election. Nobody
  running: no vote, rates unchanged, the leader stays.

Rewards
-------
Work steps: a worker's felt utility by type: egotistical its own ``u_i``, altruistic
``swf_llm_economist``, adversarial ``-swf_llm_economist``, times the satisfaction factor under
bounded rationality. The planner: ``swf_llm_economist``. Decision steps: 0 for everyone.

Infos (every agent every step, the same keys; scalars, never NaN; ``steps.parquet`` columns)
--------------------------------------------------------------------------------------------
World-level: ``round`` (the work step the row belongs to, from 1; a decision step carries the
number of the work step it precedes; 0 at reset), ``phase`` ("work" | "plan" | "candidacy" |
"platform" | "vote" | "reset"), ``round_end`` (True on work steps: filter on it for time series),
``tax_year`` (from 0), ``rate_0 .. rate_{K-1}`` (percent in force after the step, i.e. the
rates the work step was taxed at), ``delta_0 .. delta_{K-1}`` (applied this step, else 0),
``swf_llm_economist``, ``swf_ai_economist``, ``gini_income``, ``productivity``,
``equality_x_productivity`` (0.0 outside work steps), ``planner_fallback`` (1 when the
planner's action this step was its fallback), ``leader`` (elected seat index, -1 none),
``n_candidates`` (on the candidacy and platform steps, else 0). Worker-level (neutral for the planner and
outside work steps: -1.0 hours, skill and bracket, 0.0 money): ``hours``, ``income``, ``tax``,
``rebate``, ``utility_raw`` (u), ``felt_utility`` (the reward), ``bracket``, ``skill``,
``satisfied`` (1/0 with bounded rationality, else -1), ``ran`` (1/0 on the candidacy and
platform steps, else -1), ``vote`` (seat voted for on the vote step, else -1).

Fallbacks (answers that never parse; the runner counts each use)
----------------------------------------------------------------
Hours: the worker's previous hours (40 before any); satisfied: YES; candidacy: abstain; a
candidate's platform: all changes 0; vote:
the worker's own seat (a spoiled ballot unless it runs); planner: all deltas 0 with
``fallback=1``: the rates do not change.

Version history
---------------
- v0: first version.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs import tax
from dilemmazoo.envs.base import (
    NUMBER,
    ActionParseError,
    ActionSpec,
    Choice,
    LanguageWorld,
    answer_line,
    check_answer_words,
    format_number,
    normalize_answer,
)
from dilemmazoo.envs.checks import check_bool, check_choice, check_int, check_real
from dilemmazoo.envs.institutions.voting import plurality

__all__ = [
    "HoursAndSatisfaction",
    "PHASES",
    "Platform",
    "RateDeltas",
    "SCENARIOS",
    "TaxCore",
    "TaxOutcome",
    "TaxWorldEnv",
    "WORKER_TYPES",
    "parse_planner",
]

PHASES = ("work", "plan", "platform", "vote", "candidacy")
PHASE_WORK, PHASE_PLAN, PHASE_PLATFORM, PHASE_VOTE, PHASE_CANDIDACY = 0, 1, 2, 3, 4
SCENARIOS = ("rational", "bounded", "democratic")
WORKER_TYPES = ("egotistical", "altruistic", "adversarial")
FIXED_PLANNERS = ("us_federal", "saez", "saez_binned", "none")
SAEZ_INCOMES = ("skill_x_100", "observed")
FIRST_HOURS_FALLBACK = 40.0
MAX_DELTA = 20


def _fmt(value: float) -> str:
    return format_number(float(value))


def _fmt_money(value: float) -> str:
    return f"{float(value):,.0f}" if abs(value) >= 100 else _fmt(value)


def _deltas_list(values: Any) -> str:
    return "[" + ", ".join(f"{int(v):+d}" if v else "0" for v in values) + "]"


# ---------------------------------------------------------------------------------------------
# Array core
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxOutcome:
    """One work step of :class:`TaxCore`: arrays over workers and the step's welfare scalars."""

    hours: np.ndarray
    income: np.ndarray
    tax: np.ndarray
    utility: np.ndarray
    felt_utility: np.ndarray
    bracket: np.ndarray
    rebate: float
    swf_llm_economist: float
    swf_ai_economist: float
    gini_income: float
    productivity: float
    equality_x_productivity: float


def parse_planner(planner: Any) -> tuple[str, float | None]:
    """``(kind, flat_rate)`` for a ``planner`` argument: ``"seat"``, a fixed schedule name, or
    ``"flat:RATE"`` (RATE in percent, 0..100); anything else is a ``ValueError`` naming ``planner``."""
    if isinstance(planner, str):
        if planner in ("seat", *FIXED_PLANNERS):
            return planner, None
        match = re.fullmatch(r"flat:\s*([-+]?\d+(?:\.\d+)?)\s*%?", planner.strip())
        if match:
            rate = float(match.group(1))
            if 0.0 <= rate <= 100.0:
                return "flat", rate
            raise ValueError(f"planner 'flat:RATE' needs RATE in percent from 0 to 100, got {planner!r}")
    raise ValueError(
        f"planner must be 'seat', 'us_federal', 'flat:RATE' (percent), 'saez', 'saez_binned' or 'none', got {planner!r}"
    )


class TaxCore:
    """The economy as arrays: one :meth:`step` taxes every worker at once (no loop per worker).

    ``skills`` (N,), ``edges`` (K+1,), ``rates`` (K,) percent, ``worker_types`` (N,) codes into
    :data:`WORKER_TYPES`. All tax arithmetic is :mod:`dilemmazoo.envs.tax`'s.
    """

    def __init__(
        self,
        skills: Any,
        edges: Any,
        rates: Any,
        *,
        worker_types: Any = None,
        labour_cost: float = tax.C_LABOUR,
        labour_exponent: float = tax.DELTA_LABOUR,
        max_hours: float = tax.MAX_HOURS,
        top_edge: float = tax.REFERENCE_TOP_EDGE,
        no_satisfaction_factor: float = 0.5,
    ):
        self.skills = np.asarray(skills, dtype=np.float64).reshape(-1)
        if self.skills.size == 0 or not np.all(np.isfinite(self.skills)) or np.any(self.skills < 0):
            raise ValueError(f"skills must be a non-empty array of finite numbers >= 0, got {skills!r:.200}")
        self.edges = tax.bracket_edges(edges)
        self.n_workers = self.skills.size
        self.n_brackets = self.edges.size - 1
        self.rates = self._checked_rates(rates)
        types = np.zeros(self.n_workers, dtype=np.int64) if worker_types is None else np.asarray(worker_types)
        if types.shape != (self.n_workers,) or types.dtype.kind not in "iu" or types.min() < 0 or types.max() > 2:
            raise ValueError(f"worker_types must be {self.n_workers} codes in 0..2, got {worker_types!r:.200}")
        self.worker_types = types.astype(np.int64)
        self.labour_cost = float(labour_cost)
        self.labour_exponent = float(labour_exponent)
        self.max_hours = float(max_hours)
        self.top_edge = float(top_edge)
        self.no_satisfaction_factor = float(no_satisfaction_factor)

    def _checked_rates(self, rates: Any) -> np.ndarray:
        array = np.asarray(rates, dtype=np.float64).reshape(-1)
        if array.shape != (self.n_brackets,) or not np.all(np.isfinite(array)) or np.any((array < 0) | (array > 100)):
            raise ValueError(f"rates must be {self.n_brackets} percentages in [0, 100], got {rates!r:.200}")
        return array

    def set_rates(self, rates: Any) -> None:
        self.rates = self._checked_rates(rates)

    def step(self, hours: Any, satisfied: Any = None) -> TaxOutcome:
        """Tax one work step: ``hours`` (N,) in ``[0, max_hours]``; ``satisfied`` (N,) of 0/1 or None."""
        hours_array = np.asarray(hours, dtype=np.float64).reshape(-1)
        if hours_array.shape != (self.n_workers,):
            raise ValueError(f"hours must hold one number per worker ({self.n_workers}), got shape {np.shape(hours)}")
        bad = ~np.isfinite(hours_array) | (hours_array < -1e-9) | (hours_array > self.max_hours + 1e-9)
        if np.any(bad):
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"hours must be numbers from 0 to {_fmt(self.max_hours)}; worker {first} has {hours_array[first]!r}"
            )
        hours_array = np.clip(hours_array, 0.0, self.max_hours)
        income = hours_array * self.skills
        taxes = np.asarray(tax.tax_due(income, self.edges, self.rates, top_edge=self.top_edge), dtype=np.float64)
        rebate = float(tax.lump_sum(taxes))
        utility = np.asarray(
            tax.worker_utility(income, taxes, rebate, hours_array, c=self.labour_cost, delta=self.labour_exponent),
            dtype=np.float64,
        )
        swf_llm = float(tax.swf(utility, income, kind="llm_economist"))
        swf_ai = float(tax.swf(utility, income, kind="ai_economist"))
        felt = np.where(self.worker_types == 0, utility, np.where(self.worker_types == 1, swf_llm, -swf_llm))
        if satisfied is not None:
            yes = np.asarray(satisfied).reshape(-1)
            if yes.shape != (self.n_workers,) or not np.all((yes == 0) | (yes == 1)):
                raise ValueError(f"satisfied must be {self.n_workers} values of 0 (NO) or 1 (YES), got {satisfied!r:.200}")
            felt = felt * np.where(yes == 1, 1.0, self.no_satisfaction_factor)
        return TaxOutcome(
            hours=hours_array,
            income=income,
            tax=taxes,
            utility=utility,
            felt_utility=felt.astype(np.float64),
            bracket=np.asarray(tax.bracket_index(income, self.edges), dtype=np.int64),
            rebate=rebate,
            swf_llm_economist=swf_llm,
            swf_ai_economist=swf_ai,
            gini_income=float(tax.gini(income)),
            productivity=float(tax.productivity(income)),
            equality_x_productivity=float(tax.equality_times_productivity(income)),
        )


# ---------------------------------------------------------------------------------------------
# Action specs
# ---------------------------------------------------------------------------------------------


def _delta_numbers(content: str, n_brackets: int, example: str) -> list[int]:
    """Exactly ``n_brackets`` numbers in ``content``, each in [-100, 100]; a trailing "%" is allowed.

    Returned as given; the world clips and rounds them (``tax.apply_deltas``)."""
    numbers = NUMBER.findall(content.replace("%", " "))
    if len(numbers) != n_brackets:
        raise ActionParseError(
            f"Give exactly one change per tax bracket ({n_brackets} numbers, each one of -20, -10, 0, 10, 20), "
            f"e.g. {example}; found {len(numbers)} numbers."
        )
    values = []
    for token in numbers:
        value = float(token.replace(",", ""))
        if not math.isfinite(value) or abs(value) > 100:
            raise ActionParseError(f"Each change must be one of -20, -10, 0, 10, 20 percentage points, got {token}.")
        values.append(value)
    return values


def _sanitized_deltas(values: Sequence[float]) -> np.ndarray:
    """Deltas as the world applies them: clipped to [-20, 20] and rounded to a multiple of 10
    (``tax.apply_deltas`` on a rate of 50, which no delta can push out of [0, 100])."""
    middle = np.full(len(values), 50.0)
    return np.rint(tax.apply_deltas(middle, np.asarray(values, dtype=np.float64)) - middle).astype(np.int64)


@dataclass(frozen=True)
class RateDeltas(ActionSpec):
    """The planner's answer: one change per bracket in percentage points.

    Grammar: the last ``Answer:`` of the normalized text holds exactly ``n_brackets`` numbers, in
    bracket order, with or without brackets, signs and "%" (``Answer: [10, 0, -10]``). Each is
    clipped to [-20, 20] and rounded to a multiple of 10. A missing answer line, a wrong count,
    a number beyond +-100 or a negation is an :class:`ActionParseError`.
    """

    n_brackets: int = 3
    make_action: Callable[[np.ndarray], Any] = field(default=lambda deltas: deltas)
    max_options: int = 125

    def parse(self, text: str) -> Any:
        content = answer_line(normalize_answer(text or ""))
        check_answer_words(content, ())
        example = "'Answer: [" + ", ".join(["10", "0", "-10"][i % 3] for i in range(self.n_brackets)) + "]'"
        return self.make_action(_sanitized_deltas(_delta_numbers(content, self.n_brackets, example)))

    def options(self) -> list[str] | None:
        return _delta_options(self.n_brackets, self.max_options)

    def action_for_option(self, index: int) -> Any:
        return self.make_action(_delta_option(self.n_brackets, index))


def _delta_option(n_brackets: int, index: int) -> np.ndarray:
    """The ``index``-th vector of :func:`_delta_options` (``itertools.product`` order)."""
    choices = tax.DELTA_CHOICES
    digits = []
    for _ in range(n_brackets):
        index, digit = divmod(index, len(choices))
        digits.append(choices[digit])
    return np.array(digits[::-1], dtype=np.int64)


def _delta_options(n_brackets: int, max_options: int) -> list[str] | None:
    """Every vector of deltas as an answer text, when there are at most ``max_options`` (125 for
    three brackets; US federal's seven brackets give 78,125: then ``None``, answers are generated)."""
    count = len(tax.DELTA_CHOICES) ** n_brackets
    if count > max_options:
        return None
    return [f"Answer: {_deltas_list(_delta_option(n_brackets, i))}" for i in range(count)]


@dataclass(frozen=True)
class HoursAndSatisfaction(ActionSpec):
    """Hours on a grid and YES/NO: ``Answer: 40, YES``.

    Grammar: the last ``Answer:`` line names exactly one of YES and NO (whole words, any case) and
    holds exactly one number, equal to a value of ``hours_grid``; a negation other than the NO
    answer ("not"), or a move word, is invalid. ``make_action(hours, satisfied)`` builds the action.
    """

    hours_grid: Sequence[float] = ()
    make_action: Callable[[float, int], Any] = field(default=lambda hours, satisfied: (hours, satisfied))

    def parse(self, text: str) -> Any:
        content = answer_line(normalize_answer(text or ""))
        words = re.findall(r"\b(yes|no)\b", content, flags=re.IGNORECASE)
        if len({w.lower() for w in words}) != 1:
            raise ActionParseError(
                "Say YES or NO (exactly one) after your hours, e.g. 'Answer: 40, YES'."
            )
        satisfied = 1 if words[0].lower() == "yes" else 0
        rest = re.sub(r"\b(yes|no)\b", " ", content, flags=re.IGNORECASE)
        check_answer_words(rest, ())
        numbers = NUMBER.findall(rest)
        grid = ", ".join(_fmt(h) for h in self.hours_grid)
        if len(numbers) != 1:
            raise ActionParseError(f"Give exactly one number of hours (one of {grid}) and YES or NO, e.g. 'Answer: 40, YES'.")
        value = float(numbers[0].replace(",", ""))
        for hours in self.hours_grid:
            if abs(value - float(hours)) <= 1e-9:
                return self.make_action(float(hours), satisfied)
        raise ActionParseError(f"{numbers[0]} hours is not one of the options; choose one of: {grid}.")

    def options(self) -> list[str]:
        return [f"Answer: {_fmt(h)}, {word}" for h in self.hours_grid for word in ("YES", "NO")]

    def action_for_option(self, index: int) -> Any:
        hours = self.hours_grid[index // 2]
        return self.make_action(float(hours), 1 if index % 2 == 0 else 0)


@dataclass(frozen=True)
class Platform(ActionSpec):
    """A candidate's platform, after it chose to run: ``Answer: run [10, 0, -10]`` ("run" optional).

    Grammar: the last ``Answer:`` line holds exactly ``n_brackets`` numbers (one change per
    bracket, clipped to [-20, 20] and rounded to a multiple of 10). Abstaining is no longer an
    answer here (it was the candidacy step's choice); a negation or another move word is invalid.
    """

    n_brackets: int = 3
    make_action: Callable[[np.ndarray], Any] = field(default=lambda deltas: deltas)
    max_options: int = 125

    def parse(self, text: str) -> Any:
        content = answer_line(normalize_answer(text or ""))
        check_answer_words(content, ("abstain", "propose", "vote"))
        example = "'Answer: run [" + ", ".join(["10", "0", "-10"][i % 3] for i in range(self.n_brackets)) + "]'"
        if re.search(r"\babstain", content, flags=re.IGNORECASE):
            raise ActionParseError(f"You are a candidate now: give your platform, e.g. {example}.")
        return self.make_action(_sanitized_deltas(_delta_numbers(content, self.n_brackets, example)))

    def options(self) -> list[str] | None:
        """"Answer: run [...]" for every vector of deltas, when at most ``max_options``; else ``None``."""
        runs = _delta_options(self.n_brackets, self.max_options)
        return None if runs is None else [o.replace("Answer: ", "Answer: run ") for o in runs]

    def action_for_option(self, index: int) -> Any:
        return self.make_action(_delta_option(self.n_brackets, index))


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------


class TaxWorldEnv(LanguageWorld):
    """Workers choose labour hours under an income tax that a planner, a fixed schedule or an elected worker sets (LLM Economist, arXiv 2507.15815)."""

    metadata = {"render_modes": ["ansi", "human"], "name": "tax_world_v0", "is_parallelizable": True}
    shows_rewards = True

    def __init__(
        self,
        n_workers: int = 5,
        n_steps: int = 1000,
        tax_year: int = 25,
        brackets: str | Sequence[float] = "three",
        skills: str | Sequence[float] = "gb2",
        worker_type: str | Sequence[str] = "egotistical",
        scenario: str = "rational",
        planner: str = "seat",
        bounded_rationality: bool | None = None,
        no_satisfaction_factor: float = 0.5,
        initial_rates: float | Sequence[float] = 50.0,
        warmup: int = 0,
        saez_incomes: str = "skill_x_100",
        elasticity: float | Sequence[float] = 0.4,
        hours_grid: Sequence[float] = tax.HOURS_GRID,
        max_hours: float = tax.MAX_HOURS,
        labour_cost: float = tax.C_LABOUR,
        labour_exponent: float = tax.DELTA_LABOUR,
        top_edge: float = tax.REFERENCE_TOP_EDGE,
        planner_history: int = 50,
        best_steps: int = 5,
        exploit_fraction: float = 0.1,
        utility_bins: int = 5,
        render_mode: str | None = None,
    ):
        self.n_workers = check_int("n_workers", n_workers, 1)
        self.n_steps = check_int("n_steps", n_steps, 1)
        self.tax_year = check_int("tax_year", tax_year, 1)
        self.warmup = check_int("warmup", warmup, 0)
        try:
            self.edges = tax.bracket_edges(brackets)
        except (ValueError, TypeError) as error:
            raise ValueError(f"brackets: {error}") from None
        self.brackets = brackets if isinstance(brackets, str) else tuple(float(e) for e in self.edges)
        self.n_brackets = self.edges.size - 1
        self.scenario = check_choice("scenario", scenario, SCENARIOS)
        if bounded_rationality is None:
            bounded_rationality = scenario == "bounded"
        self.bounded_rationality = check_bool("bounded_rationality", bounded_rationality)
        if scenario == "bounded" and not self.bounded_rationality:
            raise ValueError("bounded_rationality must be True (or None) in the bounded scenario")
        self.no_satisfaction_factor = check_real("no_satisfaction_factor", no_satisfaction_factor, low=0.0, high=1.0)
        self.planner_kind, self.flat_rate = parse_planner(planner)
        self.planner = planner
        if scenario == "democratic" and self.planner_kind != "seat":
            raise ValueError(
                f"planner must be 'seat' in the democratic scenario (the elected worker sets the rates), got {planner!r}"
            )
        if self.planner_kind == "us_federal" and (
            self.n_brackets != len(tax.US_FEDERAL_2024_RATES) or not np.array_equal(self.edges, tax.bracket_edges("us_federal"))
        ):
            raise ValueError(f"planner 'us_federal' needs brackets='us_federal', got brackets={brackets!r}")
        self.saez_incomes = check_choice("saez_incomes", saez_incomes, SAEZ_INCOMES)
        self.elasticity = self._checked_per_bracket("elasticity", elasticity, low=0.0, low_open=True, high=math.inf)
        self.initial_rates = self._checked_per_bracket("initial_rates", initial_rates, low=0.0, high=100.0)
        self.max_hours = check_real("max_hours", max_hours, low=0.0, low_open=True)
        grid = tuple(hours_grid) if isinstance(hours_grid, Sequence) and not isinstance(hours_grid, str) else ()
        checked = [check_real("hours_grid", h, low=0.0, high=self.max_hours) for h in grid]
        if not checked or any(b <= a for a, b in zip(checked, checked[1:])):
            raise ValueError(f"hours_grid must be increasing hours from 0 to max_hours={_fmt(self.max_hours)}, got {hours_grid!r}")
        self.hours_grid = tuple(checked)
        self.labour_cost = check_real("labour_cost", labour_cost, low=0.0, low_open=True)
        self.labour_exponent = check_real("labour_exponent", labour_exponent, low=1.0, low_open=True)
        if isinstance(top_edge, bool) or not isinstance(top_edge, (int, float)) or not top_edge > 0:
            raise ValueError(f"top_edge must be a number > 0 (math.inf taxes all income), got {top_edge!r}")
        self.top_edge = float(top_edge)
        self.planner_history = check_int("planner_history", planner_history, 1)
        self.best_steps = check_int("best_steps", best_steps, 0)
        self.exploit_fraction = check_real("exploit_fraction", exploit_fraction, low=0.0, high=1.0)
        self.utility_bins = check_int("utility_bins", utility_bins, 1)
        self.skills_spec = self._checked_skills(skills)
        self.worker_types = self._checked_types(worker_type)
        self.render_mode = self._checked_render_mode(render_mode)

        self.workers = [f"worker_{i}" for i in range(self.n_workers)]
        self.has_planner_seat = self.planner_kind == "seat" and scenario != "democratic"
        self.possible_agents = self.workers + (["planner"] if self.has_planner_seat else [])
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.workers)}
        self._build_spaces()

        self._rng: np.random.Generator | None = None
        self._names = list(self.possible_agents)
        self.core: TaxCore | None = None
        self.rates = self.initial_rates.copy()
        self.t = 0
        self.phase = PHASE_WORK
        self.last: TaxOutcome | None = None
        self._init_state()

    # -- argument checks ------------------------------------------------------------------------

    def _checked_per_bracket(self, name: str, value: Any, *, low: float, high: float, low_open: bool = False) -> np.ndarray:
        if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
            return np.full(self.n_brackets, check_real(name, value, low=low, high=high, low_open=low_open))
        values = [check_real(name, v, low=low, high=high, low_open=low_open) for v in value]
        if len(values) != self.n_brackets:
            raise ValueError(f"{name} needs one value per bracket ({self.n_brackets}) or one number, got {list(value)!r}")
        return np.array(values, dtype=np.float64)

    def _checked_skills(self, skills: Any) -> str | np.ndarray:
        if isinstance(skills, str):
            return check_choice("skills", skills, ("gb2", "uniform"))
        if not isinstance(skills, (Sequence, np.ndarray)) or len(skills) != self.n_workers:
            raise ValueError(f"skills must be 'gb2', 'uniform' or a list of {self.n_workers} numbers, got {skills!r:.200}")
        return np.array([check_real("skills", s, low=0.0) for s in skills], dtype=np.float64)

    def _checked_types(self, worker_type: Any) -> np.ndarray:
        if isinstance(worker_type, str):
            return np.full(self.n_workers, WORKER_TYPES.index(check_choice("worker_type", worker_type, WORKER_TYPES)))
        if not isinstance(worker_type, Sequence) or len(worker_type) != self.n_workers:
            raise ValueError(
                f"worker_type must be one of {list(WORKER_TYPES)} or a list of {self.n_workers} of them, got {worker_type!r:.200}"
            )
        return np.array([WORKER_TYPES.index(check_choice("worker_type", t, WORKER_TYPES)) for t in worker_type])

    def _build_spaces(self) -> None:
        k, n = self.n_brackets, self.n_workers
        worker_action: dict[str, spaces.Space] = {"hours": spaces.Box(0.0, self.max_hours, (1,), np.float64)}
        if self.bounded_rationality:
            worker_action["satisfied"] = spaces.Discrete(2)
        if self.scenario == "democratic":
            worker_action["run"] = spaces.Discrete(2)
            worker_action["platform"] = spaces.Box(-MAX_DELTA, MAX_DELTA, (k,), np.int64)
            worker_action["vote"] = spaces.Discrete(n)
        self._action_spaces = {a: spaces.Dict(dict(worker_action)) for a in self.workers}
        common = {
            "step": spaces.Discrete(self.n_steps + 1),
            "phase": spaces.Discrete(len(PHASES)),
            "rates": spaces.Box(0.0, 100.0, (k,), np.float64),
            "edges": spaces.Box(0.0, np.inf, (k + 1,), np.float64),
        }
        self._observation_spaces = {
            a: spaces.Dict(
                {
                    **common,
                    "skill": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "last_hours": spaces.Box(0.0, self.max_hours, (1,), np.float64),
                    "last_income": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "rebate": spaces.Box(0.0, np.inf, (1,), np.float64),
                }
            )
            for a in self.workers
        }
        if self.has_planner_seat:
            self._action_spaces["planner"] = spaces.Dict(
                {"deltas": spaces.Box(-MAX_DELTA, MAX_DELTA, (k,), np.int64), "fallback": spaces.Discrete(2)}
            )
            self._observation_spaces["planner"] = spaces.Dict(
                {
                    **common,
                    "income_by_bracket": spaces.Box(0.0, np.inf, (k,), np.float64),
                    "mean_income": spaces.Box(0.0, np.inf, (1,), np.float64),
                    "mean_utility": spaces.Box(-np.inf, np.inf, (1,), np.float64),
                    "swf": spaces.Box(-np.inf, np.inf, (1,), np.float64),
                }
            )

    # -- state ----------------------------------------------------------------------------------

    def _init_state(self) -> None:
        n, k = self.n_workers, self.n_brackets
        self.t = 0
        self.phase = PHASE_WORK
        self.last = None
        self.last_hours = np.full(n, -1.0)  # -1: no work step yet
        self.leader = -1
        self.running = np.zeros(n, dtype=bool)
        self.platforms = np.zeros((n, k), dtype=np.int64)
        self.last_election: dict[str, Any] | None = None
        self.last_deltas = np.zeros(k, dtype=np.int64)
        self.planner_fallbacks = 0
        self.swf_history: list[float] = []
        self.rates_history: list[np.ndarray] = []
        self.summaries: deque[dict[str, Any]] = deque(maxlen=self.planner_history)
        self.year_income_sum = np.zeros(n)
        self.year_steps = 0
        self.last_year_income: np.ndarray | None = None
        self.last_satisfied: np.ndarray | None = None

    def _draw_skills(self) -> np.ndarray:
        if isinstance(self.skills_spec, np.ndarray):
            return self.skills_spec.copy()
        if self.skills_spec == "gb2":
            return np.asarray(tax.skills_from_incomes(tax.gb2_incomes(self.n_workers, self._rng)), dtype=np.float64)
        return np.asarray(tax.uniform_skills(self.n_workers, self._rng), dtype=np.float64)

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self._names = self._names_from((options or {}).get("names"), self.possible_agents)
        self._init_state()
        self.core = TaxCore(
            self._draw_skills(),
            self.edges,
            self.initial_rates,
            worker_types=self.worker_types,
            labour_cost=self.labour_cost,
            labour_exponent=self.labour_exponent,
            max_hours=self.max_hours,
            top_edge=self.top_edge,
            no_satisfaction_factor=self.no_satisfaction_factor,
        )
        self.rates = self.initial_rates.copy()
        if self.planner_kind not in ("seat",):
            self.rates = self._fixed_rates()
            self.core.set_rates(self.rates)
        self.agents = list(self.possible_agents)
        self.phase = self._opening_phase()
        infos = self._infos("reset", None)
        return self._observations(), infos

    @property
    def skills(self) -> np.ndarray:
        return self.core.skills if self.core is not None else np.zeros(self.n_workers)

    def _is_decision_point(self) -> bool:
        return self.t % self.tax_year == 0 and self.t >= self.warmup

    def _opening_phase(self) -> int:
        """The phase that starts work step ``t``: a decision (plan or platform) at a decision point."""
        if not self._is_decision_point():
            return PHASE_WORK
        if self.scenario == "democratic":
            return PHASE_CANDIDACY
        if self.has_planner_seat:
            return PHASE_PLAN
        if self.t > 0:  # a fixed schedule: the world re-applies it at the start of every tax year
            self.rates = self._fixed_rates()
            self.core.set_rates(self.rates)
        return PHASE_WORK

    def _fixed_rates(self) -> np.ndarray:
        k = self.n_brackets
        if self.planner_kind == "us_federal":
            return np.array(tax.US_FEDERAL_2024_RATES, dtype=np.float64)
        if self.planner_kind == "flat":
            return np.full(k, self.flat_rate)
        if self.planner_kind == "none":
            return np.zeros(k)
        method = "llm_economist" if self.planner_kind == "saez" else "binned"
        if self.saez_incomes == "skill_x_100" or self.last_year_income is None:
            hours = 100.0 if self.saez_incomes == "skill_x_100" else self.max_hours
            incomes = self.core.skills * hours
        else:
            incomes = self.last_year_income
        elasticity = self.elasticity if k > 1 else float(self.elasticity[0])
        try:
            rates = np.asarray(tax.saez_rates(incomes, self.edges, elasticity, method=method), dtype=np.float64)
        except ValueError:  # e.g. fewer than two different incomes: no density to estimate
            return self.rates.copy()
        return np.clip(np.nan_to_num(rates, nan=0.0), 0.0, 100.0)

    # -- stepping -------------------------------------------------------------------------------

    def deciders(self) -> list[str]:
        if not self.agents:
            return []
        if self.phase == PHASE_PLAN:
            return ["planner"]
        if self.phase == PHASE_PLATFORM:  # only the candidates write platforms
            return [agent for agent, runs in zip(self.workers, self.running) if runs]
        return list(self.workers)

    def idle_action(self, agent: str) -> Any:
        if agent == "planner":
            return {"deltas": np.zeros(self.n_brackets, dtype=np.int64), "fallback": np.int64(0)}
        return self._worker_action(agent, hours=0.0)

    def _worker_action(
        self, agent: str, *, hours: float, satisfied: int = 1, platform: np.ndarray | None = None, vote: int | None = None
    ) -> dict[str, Any]:
        action: dict[str, Any] = {"hours": np.array([hours], dtype=np.float64)}
        if self.bounded_rationality:
            action["satisfied"] = np.int64(satisfied)
        if self.scenario == "democratic":
            action["run"] = np.int64(platform is not None)
            action["platform"] = np.zeros(self.n_brackets, np.int64) if platform is None else np.asarray(platform, np.int64)
            action["vote"] = np.int64(self._seat[agent] if vote is None else vote)
        return action

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        live = list(self.agents)
        for agent in self.deciders():
            if agent not in actions:
                raise ValueError(f"{agent} must act in the {PHASES[self.phase]} phase")
        phase = self.phase
        rewards = dict.fromkeys(live, 0.0)
        deltas = np.zeros(self.n_brackets, dtype=np.int64)
        fallback = 0
        if phase == PHASE_PLAN:
            deltas, fallback = self._planner_action(actions["planner"])
            if not fallback:
                self._apply_deltas(deltas)
            self.planner_fallbacks += fallback
            self.phase = PHASE_WORK
            infos = self._infos("plan", None, deltas=deltas, planner_fallback=fallback)
        elif phase == PHASE_CANDIDACY:
            infos = self._candidacy_step(actions)
        elif phase == PHASE_PLATFORM:
            infos = self._platform_step(actions)
        elif phase == PHASE_VOTE:
            infos = self._vote_step(actions)
        else:
            infos = self._work_step(actions, rewards)
        done = self.t >= self.n_steps
        if not done and phase == PHASE_WORK:
            self.phase = self._opening_phase()
        return self._end_step(live, done, rewards, infos)

    def _work_step(self, actions: Mapping[str, Any], rewards: dict[str, float]) -> dict:
        hours = np.array([self._hours_of(a, actions[a]) for a in self.workers], dtype=np.float64)
        satisfied = None
        if self.bounded_rationality:
            satisfied = np.array([self._satisfied_of(a, actions[a]) for a in self.workers], dtype=np.int64)
        outcome = self.core.step(hours, satisfied)
        self.last = outcome
        self.last_hours = outcome.hours
        self.last_satisfied = satisfied
        self.swf_history.append(outcome.swf_llm_economist)
        self.rates_history.append(self.rates.copy())
        self.summaries.append(self._summary(outcome))
        self.year_income_sum += outcome.income
        self.year_steps += 1
        self.t += 1
        if self.t % self.tax_year == 0:
            self.last_year_income = self.year_income_sum / self.year_steps
            self.year_income_sum = np.zeros(self.n_workers)
            self.year_steps = 0
        for i, agent in enumerate(self.workers):
            rewards[agent] = float(outcome.felt_utility[i])
        if self.has_planner_seat:
            rewards["planner"] = outcome.swf_llm_economist
        return self._infos("work", outcome)

    def _candidacy_step(self, actions: Mapping[str, Any]) -> dict:
        running = np.array([self._binary_of(a, actions[a], "run") for a in self.workers], dtype=bool)
        self.running = running
        self.platforms = np.zeros((self.n_workers, self.n_brackets), dtype=np.int64)
        self.last_election = None
        self.phase = PHASE_PLATFORM if running.any() else PHASE_WORK
        if not running.any():
            self.last_election = {"candidates": [], "counts": [], "winner": -1, "spoiled": 0}
        return self._infos("candidacy", None, ran=running.astype(np.int64), n_candidates=int(running.sum()))

    def _platform_step(self, actions: Mapping[str, Any]) -> dict:
        for i in np.flatnonzero(self.running):
            agent = self.workers[i]
            _, platform = self._platform_of(agent, actions[agent])
            self.platforms[i] = platform
        self.phase = PHASE_VOTE
        return self._infos("platform", None, ran=self.running.astype(np.int64), n_candidates=int(self.running.sum()))

    def _vote_step(self, actions: Mapping[str, Any]) -> dict:
        votes = np.array([self._vote_of(a, actions[a]) for a in self.workers], dtype=np.int64)
        candidates = np.flatnonzero(self.running)
        position = np.full(self.n_workers, -1, dtype=np.int64)
        position[candidates] = np.arange(candidates.size)
        ballots = position[votes]
        valid = ballots[ballots >= 0]
        winner_index, counts = plurality(valid, candidates.size, self._rng)
        winner = int(candidates[winner_index])
        deltas = self.platforms[winner].copy()
        self._apply_deltas(deltas)
        self.leader = winner
        self.last_election = {
            "candidates": candidates.tolist(),
            "counts": counts.tolist(),
            "winner": winner,
            "spoiled": int((ballots < 0).sum()),
        }
        self.running = np.zeros(self.n_workers, dtype=bool)
        self.phase = PHASE_WORK
        return self._infos("vote", None, deltas=deltas, vote=votes)

    def _apply_deltas(self, deltas: np.ndarray) -> None:
        self.rates = np.asarray(tax.apply_deltas(self.rates, deltas), dtype=np.float64)
        self.last_deltas = np.asarray(deltas, dtype=np.int64)
        self.core.set_rates(self.rates)

    # -- reading actions ------------------------------------------------------------------------

    def _field(self, agent: str, action: Any, key: str, bare_ok: bool) -> Any:
        if isinstance(action, Mapping):
            if key not in action:
                raise ValueError(
                    f"the {PHASES[self.phase]} phase needs the key {key!r} in {agent}'s action, got keys {sorted(action)}"
                )
            return action[key]
        if not bare_ok:
            raise ValueError(f"{agent}'s action in the {PHASES[self.phase]} phase must be a dict with the key {key!r}")
        return action

    def _hours_of(self, agent: str, action: Any) -> float:
        value = self._field(agent, action, "hours", True)
        array = np.asarray(value)
        if isinstance(value, (str, bool)) or array.dtype.kind not in "iuf" or array.size != 1:
            raise ValueError(f"{agent}'s hours must be one number from 0 to {_fmt(self.max_hours)}, got {value!r:.80}")
        hours = float(array.reshape(-1)[0])
        if not (math.isfinite(hours) and -1e-9 <= hours <= self.max_hours + 1e-9):
            raise ValueError(f"{agent}'s hours must be a number from 0 to {_fmt(self.max_hours)}, got {hours!r}")
        return min(max(hours, 0.0), self.max_hours)

    def _binary_of(self, agent: str, action: Any, key: str) -> int:
        value = self._field(agent, action, key, False)
        array = np.asarray(value)
        if isinstance(value, (str, float)) or array.dtype.kind not in "iub" or array.size != 1 or int(array.reshape(-1)[0]) not in (0, 1):
            raise ValueError(f"{agent}'s {key} must be 0 or 1, got {value!r:.80}")
        return int(array.reshape(-1)[0])

    def _satisfied_of(self, agent: str, action: Any) -> int:
        return self._binary_of(agent, action, "satisfied")

    def _deltas_array(self, who: str, value: Any) -> np.ndarray:
        array = np.asarray(value)
        if array.shape != (self.n_brackets,) or array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
            raise ValueError(f"{who} must be {self.n_brackets} numbers (percentage points per bracket), got {value!r:.120}")
        return _sanitized_deltas(array.astype(np.float64))

    def _planner_action(self, action: Any) -> tuple[np.ndarray, int]:
        if isinstance(action, Mapping):
            fallback = self._binary_of("planner", action, "fallback") if "fallback" in action else 0
            deltas = self._deltas_array("the planner's deltas", self._field("planner", action, "deltas", False))
        else:
            fallback, deltas = 0, self._deltas_array("the planner's deltas", action)
        if fallback:
            deltas = np.zeros(self.n_brackets, dtype=np.int64)
        return deltas, fallback

    def _platform_of(self, agent: str, action: Any) -> tuple[bool, np.ndarray]:
        run = self._binary_of(agent, action, "run")
        platform = self._field(agent, action, "platform", False)
        return bool(run), self._deltas_array(f"{agent}'s platform", platform)

    def _vote_of(self, agent: str, action: Any) -> int:
        value = self._field(agent, action, "vote", False)
        array = np.asarray(value)
        if isinstance(value, (str, bool)) or array.dtype.kind not in "iu" or array.size != 1:
            raise ValueError(f"{agent}'s vote must be a seat index from 0 to {self.n_workers - 1}, got {value!r:.80}")
        seat = int(array.reshape(-1)[0])
        if not 0 <= seat < self.n_workers:
            raise ValueError(f"{agent}'s vote must be a seat index from 0 to {self.n_workers - 1}, got {seat}")
        return seat

    # -- records ----------------------------------------------------------------------------------

    def _summary(self, outcome: TaxOutcome) -> dict[str, Any]:
        """What the planner's prompt keeps of one work step (bounded size, whatever N)."""
        u, z = outcome.utility, outcome.income
        counts, bin_edges = np.histogram(u, bins=self.utility_bins)
        return {
            "step": self.t + 1,
            "rates": self.rates.copy(),
            "income_by_bracket": np.bincount(outcome.bracket, minlength=self.n_brackets)[: self.n_brackets],
            "utility_hist": counts,
            "utility_range": (float(bin_edges[0]), float(bin_edges[-1])),
            "z": (float(z.mean()), float(np.median(z)), float(z.std())),
            "u": (float(u.mean()), float(np.median(u)), float(u.std())),
            "swf": outcome.swf_llm_economist,
        }

    def _infos(self, phase: str, outcome: TaxOutcome | None, *, deltas: Any = None, planner_fallback: int = 0,
               ran: Any = None, vote: Any = None, n_candidates: int = 0) -> dict[str, dict[str, Any]]:
        round_number = self.t if phase == "work" else (self.t + 1 if phase != "reset" else 0)
        world: dict[str, Any] = {
            "round": int(round_number),
            "phase": phase,
            "round_end": phase == "work",
            "tax_year": int(max(round_number - 1, 0) // self.tax_year),
        }
        for j in range(self.n_brackets):
            world[f"rate_{j}"] = float(self.rates[j])
        for j in range(self.n_brackets):
            world[f"delta_{j}"] = int(deltas[j]) if deltas is not None else 0
        welfare = ("swf_llm_economist", "swf_ai_economist", "gini_income", "productivity", "equality_x_productivity")
        for key in welfare:
            world[key] = float(getattr(outcome, key)) if outcome is not None else 0.0
        world["planner_fallback"] = int(planner_fallback)
        world["leader"] = int(self.leader)
        world["n_candidates"] = int(n_candidates)
        skills = self.skills
        infos = {}
        for i, agent in enumerate(self.workers):
            info = dict(world)
            info.update(
                hours=-1.0, income=0.0, tax=0.0, rebate=0.0, utility_raw=0.0, felt_utility=0.0, bracket=-1,
                skill=float(skills[i]), satisfied=-1, ran=-1, vote=-1,
            )
            if outcome is not None:
                info.update(
                    hours=float(outcome.hours[i]),
                    income=float(outcome.income[i]),
                    tax=float(outcome.tax[i]),
                    rebate=float(outcome.rebate),
                    utility_raw=float(outcome.utility[i]),
                    felt_utility=float(outcome.felt_utility[i]),
                    bracket=int(outcome.bracket[i]),
                )
                if self.bounded_rationality:
                    info["satisfied"] = int(self.last_satisfied[i])
            if ran is not None:
                info["ran"] = int(ran[i])
            if vote is not None:
                info["vote"] = int(vote[i])
            infos[agent] = info
        if self.has_planner_seat:
            info = dict(world)
            info.update(
                hours=-1.0, income=0.0, tax=0.0, rebate=float(outcome.rebate) if outcome is not None else 0.0,
                utility_raw=0.0, felt_utility=0.0, bracket=-1, skill=-1.0, satisfied=-1, ran=-1, vote=-1,
            )
            infos["planner"] = info
        return infos

    def _observations(self) -> dict[str, dict[str, Any]]:
        step = np.int64(min(self.t, self.n_steps))
        phase = np.int64(self.phase)
        rates = self.rates.astype(np.float64)
        edges = self.edges.astype(np.float64)
        rebate = np.array([self.last.rebate if self.last is not None else 0.0])
        last_hours = np.maximum(self.last_hours, 0.0)
        last_income = self.last.income if self.last is not None else np.zeros(self.n_workers)
        skills = self.skills
        observations = {}
        for i, agent in enumerate(self.workers):
            observations[agent] = {
                "step": step,
                "phase": phase,
                "rates": rates.copy(),
                "edges": edges.copy(),
                "skill": np.array([skills[i]], dtype=np.float64),
                "last_hours": np.array([last_hours[i]], dtype=np.float64),
                "last_income": np.array([last_income[i]], dtype=np.float64),
                "rebate": rebate.copy(),
            }
        if self.has_planner_seat:
            last = self.last
            observations["planner"] = {
                "step": step,
                "phase": phase,
                "rates": rates.copy(),
                "edges": edges.copy(),
                "income_by_bracket": (
                    np.bincount(last.bracket, minlength=self.n_brackets)[: self.n_brackets].astype(np.float64)
                    if last is not None else np.zeros(self.n_brackets)
                ),
                "mean_income": np.array([last.income.mean() if last is not None else 0.0]),
                "mean_utility": np.array([last.utility.mean() if last is not None else 0.0]),
                "swf": np.array([last.swf_llm_economist if last is not None else 0.0]),
            }
        return observations

    # -- language view ----------------------------------------------------------------------------

    def display_name(self, agent: str) -> str:
        return self._names[self.possible_agents.index(agent)]

    def _schedule_lines(self, rates: np.ndarray | None = None) -> list[str]:
        rates = self.rates if rates is None else rates
        lines = []
        for j in range(self.n_brackets):
            low, high = self.edges[j], self.edges[j + 1]
            span = f"above {_fmt_money(low)}" if math.isinf(high) else f"from {_fmt_money(low)} to {_fmt_money(high)}"
            lines.append(f"  bracket {j + 1} (income {span}): {_fmt(rates[j])}%")
        return lines

    def _rates_list(self, rates: np.ndarray) -> str:
        return "[" + ", ".join(f"{_fmt(r)}%" for r in rates) + "]"

    def rules(self, agent: str) -> str:
        if agent == "planner":
            return self._planner_rules()
        me = self._seat[agent]
        goal = {
            0: "Your goal is to make your own utility as high as possible.",
            1: "You care about everyone: your goal is to make the social welfare of all workers as high as possible.",
            2: "Your goal is to make the social welfare of all workers as low as possible.",
        }[int(self.worker_types[me])]
        grid = ", ".join(_fmt(h) for h in self.hours_grid)
        lines = [
            f"You are one of {self.n_workers} workers in an economy that runs for {self.n_steps} steps.",
            f"Each step you choose how many hours to work this week (one of {grid}). Your pre-tax income is your "
            f"hours times your skill (your pay per hour).",
            "You pay income tax on a marginal schedule: each part of your income inside a bracket is taxed at that "
            "bracket's rate. All tax collected is shared equally among all workers as a rebate.",
            f"Your utility each step is: income - tax + rebate - {self.labour_cost:g} x hours^{_fmt(self.labour_exponent)} "
            "(long hours cost you more and more effort).",
            goal,
        ]
        if self.scenario == "democratic":
            lines.append(
                f"Every {self.tax_year} steps there is an election: each worker may run with a platform (a change of "
                "-20, -10, 0, +10 or +20 percentage points to each bracket's tax rate) or abstain; then everyone votes "
                "for one candidate. The candidate with the most votes wins (ties are broken at random) and their "
                "platform is applied to the tax rates."
            )
        else:
            who = "A tax planner" if self.has_planner_seat else "The government"
            lines.append(f"{who} may change the tax rates every {self.tax_year} steps.")
        if self.bounded_rationality:
            lines.append(
                "Each step you also say whether you are satisfied with the tax policy (YES or NO). If you say NO, the "
                f"utility you feel that step is multiplied by {_fmt(self.no_satisfaction_factor)}."
            )
        return "\n".join(lines)

    def _planner_rules(self) -> str:
        k = self.n_brackets
        return "\n".join(
            [
                f"You are the tax planner of an economy of {self.n_workers} workers that runs for {self.n_steps} steps.",
                "Each step every worker chooses how many hours to work; its pre-tax income is hours times its skill. "
                "Taxes follow a marginal schedule over the brackets below, and all revenue is returned to the workers "
                "as an equal rebate. A worker's utility is income - tax + rebate - "
                f"{self.labour_cost:g} x hours^{_fmt(self.labour_exponent)}.",
                "Brackets (pre-tax income per step):",
                *[line.split(":")[0] for line in self._schedule_lines()],
                f"Every {self.tax_year} steps you change each bracket's rate by -20, -10, 0, +10 or +20 percentage "
                "points (rates stay between 0% and 100%).",
                "Your goal is to maximise the social welfare SWF = sum over workers of utility / max(income, 1): "
                "it weighs the utility of low earners more.",
                f"Answer with one change per bracket ({k} numbers), in bracket order.",
            ]
        )

    def describe(self, agent: str) -> str:
        if agent == "planner":
            return self._planner_view()
        if not self.agents and self.last is None:
            return "The game has not started."
        me = self._seat[agent]
        # What every worker shares comes first and the worker's own lines last: a batched backend
        # runs the shared beginning of many prompts once (with the answer format among the shared
        # lines, one batched step of 100 workers is about 7x faster than 100 calls on a CPU).
        lines = []
        if not self.agents:
            lines.append(f"The economy is over after {self.n_steps} steps.")
        else:
            lines.append(f"It is step {self.t + 1} of {self.n_steps}.")
        lines.append("The tax rates now:")
        lines.extend(self._schedule_lines())
        own = []
        if self.agents:
            own.append(f"Your skill: {_fmt(self.skills[me])} per hour.")
        if self.last is not None:
            last = self.last
            lines.append(
                f"Across all workers last step: mean income {_fmt_money(last.income.mean())}, mean utility "
                f"{_fmt_money(last.utility.mean())}, social welfare (SWF) {_fmt(last.swf_llm_economist)}; every "
                f"worker received a rebate of {_fmt_money(last.rebate)}."
            )
            own.append(
                f"Your last step: {_fmt(last.hours[me])} hours, income {_fmt_money(last.income[me])}, tax "
                f"{_fmt_money(last.tax[me])}, utility {_fmt_money(last.utility[me])}."
            )
        if self.leader >= 0:
            lines.append(f"The elected leader is {self._names[self.leader]}.")
        if not self.agents:
            return "\n".join(lines + own)
        if self.phase == PHASE_CANDIDACY:
            lines.append(
                "An election is held now. Decide whether to run for leader or abstain: a candidate offers a platform "
                "(one change of -20, -10, 0, +10 or +20 percentage points per bracket), everyone votes, and the "
                "winner's platform changes the rates."
            )
        elif self.phase == PHASE_PLATFORM:
            lines.append(
                "You are running for leader. Choose your platform: one change of -20, -10, 0, +10 or +20 percentage "
                "points per bracket."
            )
        elif self.phase == PHASE_VOTE:
            listed = "; ".join(
                f"{self._names[c]}: {_deltas_list(self.platforms[c])}" for c in np.flatnonzero(self.running)
            )
            lines.append(f"The candidates and their platforms (changes per bracket): {listed}. Vote for one of them.")
        elif self.phase == PHASE_WORK:
            if self.bounded_rationality:
                lines.append(f"Choose how many hours to work this step ({self._grid_words()}).")
                lines.append("Also say whether you are satisfied with the tax policy (YES or NO).")
            else:
                # the answer format is shared by all workers, so it goes here, before the worker's own
                # lines; the instruction after them is a short reminder
                lines.append(
                    f"Choose how many hours to work this step ({self._grid_words()}) and end your reply with "
                    "'Answer: <hours>'."
                )
        else:
            lines.append("The tax planner is setting the rates; wait.")
        return "\n".join(lines + own)

    def _grid_words(self) -> str:
        """The hours grid in few words when it is evenly spaced from 0 ("0 to 100 in steps of 10")."""
        grid = np.asarray(self.hours_grid, dtype=float)
        steps = np.diff(grid)
        if len(grid) > 2 and grid[0] == 0 and np.all(steps == steps[0]):
            return f"{_fmt(grid[0])} to {_fmt(grid[-1])} in steps of {_fmt(steps[0])}"
        return "one of " + ", ".join(_fmt(h) for h in self.hours_grid)

    def _planner_view(self) -> str:
        lines = []
        if not self.agents:
            lines.append(f"The economy is over after {self.n_steps} steps.")
        else:
            lines.append(f"It is step {self.t + 1} of {self.n_steps}.")
        lines.append("The tax rates now: " + self._rates_list(self.rates))
        if not self.summaries:
            lines.append("No step has been played yet.")
        else:
            lines.append(f"The last {len(self.summaries)} steps (income mean/median/std; utility mean/median/std):")
            for s in self.summaries:
                low, high = s["utility_range"]
                lines.append(
                    f"step {s['step']}: rates {self._rates_list(s['rates'])}; workers per income bracket "
                    f"{[int(c) for c in s['income_by_bracket']]}; utility histogram {[int(c) for c in s['utility_hist']]} "
                    f"over [{_fmt_money(low)}, {_fmt_money(high)}]; income {'/'.join(_fmt_money(v) for v in s['z'])}; "
                    f"utility {'/'.join(_fmt_money(v) for v in s['u'])}; SWF {_fmt(s['swf'])}"
                )
        if self.best_steps and self.swf_history:
            order = np.argsort(-np.asarray(self.swf_history), kind="stable")[: self.best_steps]
            best = "; ".join(
                f"step {int(i) + 1}: rates {self._rates_list(self.rates_history[int(i)])}, SWF {_fmt(self.swf_history[int(i)])}"
                for i in order
            )
            lines.append(f"The best steps so far by SWF: {best}.")
        if self.agents:
            if self.t >= (1.0 - self.exploit_fraction) * self.n_steps:
                lines.append(
                    "The economy is in its final steps: choose the best rates you have seen, the ones with the highest SWF."
                )
            else:
                lines.append(
                    "Explore: try changes to different brackets to learn how the workers respond, and keep what raises "
                    "the SWF."
                )
        return "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        k = self.n_brackets
        if agent == "planner":
            example = "[" + ", ".join(["10", "0", "-10"][i % 3] for i in range(k)) + "]"
            return RateDeltas(
                instruction=(
                    f"Choose the change of each bracket's tax rate. End your reply with 'Answer: {example}': {k} numbers "
                    "in bracket order, each one of -20, -10, 0, 10, 20."
                ),
                fallback={"deltas": np.zeros(k, dtype=np.int64), "fallback": np.int64(1)},
                n_brackets=k,
                make_action=lambda deltas: {"deltas": np.asarray(deltas, dtype=np.int64), "fallback": np.int64(0)},
            )
        me = self._seat[agent]
        previous = float(self.last_hours[me]) if self.last_hours[me] >= 0 else min(FIRST_HOURS_FALLBACK, self.max_hours)
        if self.phase == PHASE_CANDIDACY:
            return Choice(
                instruction="Run for election or abstain. End your reply with 'Answer: run' or 'Answer: abstain'.",
                fallback=self._worker_action(agent, hours=previous),
                labels=("run", "abstain"),
                actions=(self._worker_action(agent, hours=previous, platform=np.zeros(k, np.int64)),
                         self._worker_action(agent, hours=previous)),
                allowed_words=("abstain",),
            )
        if self.phase == PHASE_PLATFORM:
            example = "[" + ", ".join(["10", "0", "-10"][i % 3] for i in range(k)) + "]"
            return Platform(
                instruction=(
                    f"Choose your platform. End your reply with 'Answer: run {example}' ({k} changes in bracket "
                    "order, each one of -20, -10, 0, 10, 20)."
                ),
                # a candidate whose platform cannot be read runs on changing nothing (counted)
                fallback=self._worker_action(agent, hours=previous, platform=np.zeros(k, np.int64)),
                n_brackets=k,
                make_action=lambda deltas: self._worker_action(agent, hours=previous, platform=deltas),
            )
        if self.phase == PHASE_VOTE:
            candidates = [int(c) for c in np.flatnonzero(self.running)]
            labels = [self._names[c] for c in candidates]
            return Choice(
                instruction=f"Vote for one candidate. End your reply with 'Answer: <name>', one of: {', '.join(labels)}.",
                fallback=self._worker_action(agent, hours=previous),
                labels=tuple(labels),
                actions=tuple(self._worker_action(agent, hours=previous, vote=c) for c in candidates),
                allowed_words=("vote",),
            )
        grid = ", ".join(_fmt(h) for h in self.hours_grid)
        if self.bounded_rationality:
            return HoursAndSatisfaction(
                instruction=(
                    f"Choose your hours and say whether you are satisfied with the tax policy. End your reply with "
                    f"'Answer: <hours>, YES' or 'Answer: <hours>, NO', hours one of {grid}."
                ),
                fallback=self._worker_action(agent, hours=previous),
                hours_grid=self.hours_grid,
                make_action=lambda hours, yes: self._worker_action(agent, hours=hours, satisfied=yes),
            )
        return Choice(
            # the allowed hours and the answer format are in the shared lines of describe(); a short
            # instruction keeps each worker's own part of a batched prompt short (its skill and last
            # step are the rest)
            instruction="End your reply with 'Answer: <hours>'.",
            fallback=self._worker_action(agent, hours=previous),
            labels=tuple(_fmt(h) for h in self.hours_grid),
            actions=tuple(self._worker_action(agent, hours=h) for h in self.hours_grid),
        )

    def _render_text(self) -> str:
        status = f"step {self.t} of {self.n_steps}, {PHASES[self.phase]} phase" if self.agents else f"over after {self.t} steps"
        lines = [f"Tax world: {status}; rates {self._rates_list(self.rates)}"]
        if self.last is not None:
            last = self.last
            lines.append(
                f"  mean hours {_fmt(last.hours.mean())}, mean income {_fmt_money(last.income.mean())}, rebate "
                f"{_fmt_money(last.rebate)}, SWF {_fmt(last.swf_llm_economist)}"
            )
        return "\n".join(lines)
