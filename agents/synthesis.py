"""LLM policy synthesis for the grid worlds: the model writes ``policy(state, agent_id) -> int``.

Source: Galle, "Cooperation and Exploitation in LLM Policy Synthesis for Sequential Social
Dilemmas" (2026; code vicgalle/llm-policies-social-dilemmas). A language model writes one
Python policy for Cleanup or Gathering; every agent runs it (self-play); the code is evaluated
over several seeds and the model refines it from the results, ``K`` times (the paper: an
initial policy and 3 refinements, 10 agents, 5 evaluation seeds). The refinement loop itself is
the population dynamics ``policy_synthesis`` (:mod:`dilemmazoo.norms.synthesis`); this module
holds what an agent kind needs:

- :class:`SynthesizedPolicy`: the ``synthesized`` agent kind. As a ``BatchPolicy`` it plays
  its seats with the code handed over by ``set_strategies``, run in the sandbox
  (:mod:`.sandbox`); as a ``StrategyWriter`` it asks its backend for code, validates it and
  retries with the error (``write_strategies``).
- the prompt (:func:`synthesis_prompt`, :func:`refinement_prompt`) with the documented state API
  (:data:`STATE_API`), and the feedback text (:func:`feedback_text`: sparse or dense);
- :func:`play_codes`: one episode of a world with given code per seat (attack tests, the
  smoke test, :func:`cross_play_matrix`);
- reference policies: :data:`BFS_POLICY` (vicgalle's BFS harvester), :data:`ZONE_POLICY` (zone
  partition), :data:`IDLE_POLICY` (always ``stay``, the fallback).

The policy's view (``state``)
-----------------------------
A read-only :class:`~.sandbox.Snapshot` built from the world's ``observation="global"`` view;
``agent_id`` is the seat number ``i`` of ``player_i``. Entries (also in :data:`STATE_API`):

- ``grid``: ``(rows, cols)`` uint8 cell codes of the whole map (:data:`CELL_CODES`: 0 empty,
  1 wall, 2 apple, 3 clean river, 4 waste, 5 stream, 6-9 an active player facing north, east,
  south, west, 10 a removed player); a player's cell shows the player;
- ``positions``: ``(n_agents, 2)`` int64 ``(row, col)`` of every seat this policy plays that may
  act this step, ``(-1, -1)`` for the others; ``orientations``: ``(n_agents,)`` 0..3 (north,
  east, south, west), ``-1`` for the others; ``active``: ``(n_agents,)`` bool;
- ``step`` (1-based, the step being decided), ``n_agents``, ``game`` (``"cleanup"`` or
  ``"gathering"``), ``actions`` (the action names by index), ``codes`` (name -> cell code);
- ``state.helpers`` / the global ``helpers``: :mod:`.policy_helpers` (BFS ``nearest``,
  ``bfs_distances``, ``direction_to_action``, the action and direction constants).

Failures
--------
A policy that cannot be compiled, crashes, hangs, returns an invalid action or tries something
forbidden gets the world's fallback (``stay``) for that decision: the :class:`Action` has
``fallback_used=True``, ``parse_failures=1`` and ``raw_text`` ``"sandbox <kind>: <message>"``.
Per seat, the policy writes the failure counts of the current generation into the member's
params (``params["sandbox_failures"]``, kind -> count, and ``params["sandbox_reasons"]``,
``"<kind>: <message>"`` -> count, at most :data:`REASONS_KEPT` distinct reasons), which the
runner saves in ``population.parquet``; ``failures`` holds the counts of the whole run. The
refinement prompt and the report show the most frequent reasons. A reason that names a module
of numpy or of the standard library (``import of 'numpy._core._methods'``) points at the
sandbox, not at the policy: a sandbox bug (see :mod:`.sandbox.warmup`).

Options (``agents.params`` of a ``kind: synthesized`` group; defaults)
----------------------------------------------------------------------
- ``game=None``: ``"cleanup"`` or ``"gathering"``; read from the world's rules text when left out;
- ``max_code_retries=3``: re-asks with the validation error (vicgalle: 3);
- ``smoke_steps=50``: self-play steps of the validation run (vicgalle: 50; 0 skips it);
- ``smoke_world={}``: world keyword arguments of the validation run (default: the game's map,
  ``rules="vicgalle"``, the number of players stated in the rules);
- ``isolation="auto"``: how the sandbox worker is fenced in (:mod:`.sandbox.isolation`):
  ``auto`` takes the strongest level the machine gives (``bubblewrap``, else ``namespaces``) and
  refuses to run the code when neither is there; ``bubblewrap`` or ``namespaces`` ask for that
  level (an error when missing); ``process`` runs the worker as a plain process, weaker, with a
  warning on stderr on every run. The level reached is in :meth:`SynthesizedPolicy.provenance`
  (so in ``summary.json``) and in each member's params (``sandbox_isolation``). There is no
  in-process option: code from a model never runs in the experiment's process;
- ``call_timeout_s=1.0``: time limit per decision; ``memory_mb=1024``: the worker's memory cap;
- ``episode_budget_s=120.0``: wall time a code may use for all its decisions of one episode;
  once spent, its remaining decisions of the episode fall back, reported as ``timeout``;
- ``max_timeouts_per_episode=10``: after this many timed-out decisions in an episode a code is no
  longer called until the next episode (its decisions fall back, reported as ``timeout``), so a
  hanging policy costs seconds, not ``call_timeout_s`` for every decision of a 1000-step episode.

Version history: v1 (issue 8). v2 (issue 15): the ``sandbox`` option is gone (``isolation``
instead); ``episode_budget_s``; the isolation reached is recorded.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dilemmazoo.agents.backends.base import Chat, Completion, GenerationParams, chat_hash
from dilemmazoo.agents.base import Action, BatchPolicy, CallRecord, Decision
from dilemmazoo.agents.sandbox import (
    ALLOWED_MODULES,
    ALLOWED_SPECIAL_METHODS,
    REQUESTS,
    FailureReport,
    PolicyResult,
    PolicySandbox,
    RejectedPolicy,
    SandboxLimits,
    Snapshot,
    UnsafeInProcessPolicy,
    compile_policy,
    extract_code,
    make_snapshot,
    resolve_isolation,
    warn_weak_isolation,
)

__all__ = [
    "BFS_POLICY",
    "CELL_CODES",
    "DENSE_METRIC_DEFINITIONS",
    "FEEDBACK_MODES",
    "IDLE_POLICY",
    "OBJECTIVE",
    "STATE_API",
    "ZONE_POLICY",
    "CodePlayResult",
    "IterationResult",
    "SynthesisAttempt",
    "SynthesizedPolicy",
    "build_snapshot",
    "cross_play_matrix",
    "fallback_reason",
    "feedback_text",
    "play_codes",
    "refinement_prompt",
    "seat_number",
    "synthesis_prompt",
]

GAMES = ("cleanup", "gathering")
REASONS_SHOWN = 3  # fallback reasons shown to the model and in the report, most frequent first
REASONS_KEPT = 20  # distinct reasons a member's params keep per generation; the rest count as "other reasons"
REASON_CHARS = 300
FEEDBACK_MODES = ("sparse", "dense")
CELL_CODES = {
    "empty": 0, "wall": 1, "apple": 2, "river": 3, "waste": 4, "stream": 5,
    "agent_north": 6, "agent_east": 7, "agent_south": 8, "agent_west": 9, "removed_agent": 10,
}

OBJECTIVE = (
    "Write a policy that maximises the mean reward per agent over the episode. Every agent runs your "
    "policy, so the agents' rewards depend on how well the copies of your code work together."
)

STATE_API = """\
The function is called once per agent and step as `policy(state, agent_id)` and must return an int
action index (0 forward, 1 backward, 2 step_left, 3 step_right, 4 turn_left, 5 turn_right, 6 fire,
7 stay{clean}). Moves are relative to the way the agent faces. `agent_id` is the agent's number 0..{last}.

`state` is READ-ONLY (arrays cannot be written; copy them with `.copy()` if you need to change them):
- state.grid: 2-D numpy uint8 array (rows x columns) of the whole map. Cell codes: 0 empty, 1 wall,
  2 apple, 3 clean river, 4 river waste, 5 stream, 6/7/8/9 an agent facing north/east/south/west,
  10 an agent removed by a beam. An agent's cell shows the agent. Row 0 is north; column 0 is west.
- state.positions: numpy int array (n_agents x 2): (row, col) of each agent; (-1, -1) if unknown.
  Your own cell is state.positions[agent_id].
- state.orientations: numpy int array (n_agents,): 0 north, 1 east, 2 south, 3 west; -1 if unknown.
- state.active: numpy bool array (n_agents,): which agents act this step.
- state.step (1-based step number), state.n_agents, state.game ("{game}"), state.actions (names by
  index), state.codes (dict: cell name -> code).

Helpers (the global `helpers`, also `state.helpers`; positions are (row, col), directions
0 north, 1 east, 2 south, 3 west):
- helpers.nearest(grid, start, targets, walls) -> None or (distance, direction, target): breadth-first
  search to the nearest cell whose code is in `targets`; `direction` is the first move (None if already there).
  Example: helpers.nearest(state.grid, state.positions[agent_id], targets=2, walls=1).
- helpers.bfs_distances(grid, targets, walls) -> array of moves to the nearest target (-1 unreachable).
- helpers.direction_to_action(direction, orientation) -> the move action going that way (7 stay for None).
- helpers.turn_towards(direction, orientation) -> 4 turn_left / 5 turn_right / None.
- helpers.neighbour(position, direction), helpers.find_cells(grid, values), helpers.direction_between(a, b).
- constants helpers.FORWARD .. helpers.CLEAN (0..8) and helpers.NORTH .. helpers.WEST (0..3).

Rules for the code: define `def policy(state, agent_id):` at top level. You may import only
{modules}. numpy works as usual (arrays, reductions such as .sum()/.max()/.mean()/.any(), argwhere,
argmin, where, clip, broadcasting, numpy.linalg, numpy.random) except file input/output; `random` and
`numpy.random` are seeded; dataclasses, enum, collections.namedtuple and typing.NamedTuple work.
The usual builtins work (len, range, min, max, sum, sorted, abs, enumerate, zip, isinstance, print...),
but not open, eval, exec, compile, getattr, setattr, hasattr, globals, vars, type, object or super: no
file, network or system access. Attributes starting with an underscore and names with double
underscores are not allowed (write `self.count`, not `self._count`); a class may define {special}.
Module-level variables persist between calls within an episode; each call must finish within
{timeout:g} s. A call that fails, runs too long or returns anything but a valid action index makes
the agent stay."""

DENSE_METRIC_DEFINITIONS = """\
Metrics (Perolat et al. 2017), for N agents over T steps, R_i = agent i's return:
- efficiency U = sum_i R_i / T (reward per step of the whole group);
- equality E = 1 - sum_i sum_j |R_i - R_j| / (2 N sum_i R_i) (1 = perfectly equal);
- sustainability S = mean over agents of the mean time step at which they got a positive reward
  (later = the resource lasts);
- peace P = (N T - agent-steps spent removed by a beam) / T (at most N)."""

_ANSWER_FORMAT = (
    "Think about what the agents should do, then give the complete code in one ```python block "
    "that defines `policy(state, agent_id)`."
)
_RETRY = (
    "Your code could not be used: {error}\n"
    "Fix it and answer again with the complete corrected code in one ```python block."
)


def _modules_text() -> str:
    return ", ".join(sorted(ALLOWED_MODULES))


def _special_methods_text() -> str:
    return ", ".join(sorted(ALLOWED_SPECIAL_METHODS))


def state_api(game: str, n_agents: int, call_timeout_s: float = 1.0) -> str:
    """:data:`STATE_API` filled in for a game and a number of agents."""
    _check_game(game)
    return STATE_API.format(
        clean=", 8 clean" if game == "cleanup" else "", last=max(n_agents - 1, 0), game=game,
        modules=_modules_text(), special=_special_methods_text(), timeout=call_timeout_s,
    )


def synthesis_prompt(game: str, n_agents: int, *, objective: str = OBJECTIVE, feedback: str = "sparse",
                     call_timeout_s: float = 1.0) -> str:
    """The first request: objective, state API, answer format (the rules are in the system prompt).

    With ``feedback="dense"`` the metric definitions are stated up front, as the refinements will
    report them (vicgalle's dense mode; the objective text stays the same).
    """
    _check_feedback(feedback)
    parts = [
        f"Write a Python policy for the {game.capitalize()} game described above, played by {n_agents} agents "
        "that all run your code.",
        f"Objective: {objective}",
        state_api(game, n_agents, call_timeout_s),
    ]
    if feedback == "dense":
        parts.append(DENSE_METRIC_DEFINITIONS)
    parts.append(_ANSWER_FORMAT)
    return "\n\n".join(parts)


@dataclass
class IterationResult:
    """One evaluated iterate: its code and the metrics of its evaluation episodes."""

    iteration: int
    code: str
    metrics: dict[str, float]
    failures: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # "kind: message" -> decisions, most frequent first


def feedback_text(result: IterationResult, feedback: str) -> str:
    """One iterate's results as told to the model.

    Sparse: the mean per-agent reward only. Dense: that plus efficiency, equality,
    sustainability and peace (their definitions are in the prompt). Both mention how many
    decisions fell back to ``stay`` because the code failed, by kind, and the most frequent
    reasons (at most :data:`REASONS_SHOWN`).
    """
    _check_feedback(feedback)
    m = result.metrics
    line = f"Iteration {result.iteration}: mean reward per agent {_fmt(m.get('mean_reward'))}"
    if feedback == "dense":
        line += (f"; efficiency {_fmt(m.get('efficiency'))}; equality {_fmt(m.get('equality'))}; "
                 f"sustainability {_fmt(m.get('sustainability'))}; peace {_fmt(m.get('peace'))}")
    if result.failures:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(result.failures.items()))
        line += f". Decisions where your code failed and the agent stayed: {kinds}"
    line += "."
    if result.reasons:
        top = Counter(result.reasons).most_common(REASONS_SHOWN)
        line += " Most frequent reasons: " + "; ".join(f"{reason} ({count}x)" for reason, count in top) + "."
    return line


def refinement_prompt(game: str, n_agents: int, history: Sequence[IterationResult], *, objective: str = OBJECTIVE,
                      feedback: str = "sparse", call_timeout_s: float = 1.0) -> str:
    """A refinement request: the previous code and the results of every iterate so far."""
    if not history:
        raise ValueError("history must hold at least one evaluated iterate")
    _check_feedback(feedback)
    parts = [
        f"You are improving a Python policy for the {game.capitalize()} game described above, played by "
        f"{n_agents} agents that all run your code.",
        f"Objective: {objective}",
        state_api(game, n_agents, call_timeout_s),
    ]
    if feedback == "dense":
        parts.append(DENSE_METRIC_DEFINITIONS)
    parts.append("Results so far (mean over the evaluation episodes):\n"
                 + "\n".join(feedback_text(result, feedback) for result in history))
    parts.append(f"Your latest code (iteration {history[-1].iteration}):\n```python\n{history[-1].code}\n```")
    parts.append("Improve the policy. " + _ANSWER_FORMAT)
    return "\n\n".join(parts)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{float(value):.3f}"


def _check_game(game: str) -> None:
    if game not in GAMES:
        raise ValueError(f"game must be one of {GAMES}, got {game!r}")


def _check_feedback(feedback: str) -> None:
    if feedback not in FEEDBACK_MODES:
        raise ValueError(f"feedback must be one of {FEEDBACK_MODES}, got {feedback!r}")


# ---------------------------------------------------------------------------------------------
# Reference policies (written against the state API above)
# ---------------------------------------------------------------------------------------------

BFS_POLICY = '''\
def policy(state, agent_id):
    """vicgalle's BFS harvester: shortest path to the nearest apple, never cleans or fires."""
    found = helpers.nearest(state.grid, state.positions[agent_id], targets=2, walls=1)
    if found is None:
        return helpers.STAY
    return helpers.direction_to_action(found.direction, state.orientations[agent_id])
'''

ZONE_POLICY = '''\
def policy(state, agent_id):
    """Zone partition: agent i harvests the i-th vertical strip of the map (nearest apple by BFS),
    and any apple when its strip is empty."""
    grid = state.grid
    cols = grid.shape[1]
    low = cols * agent_id // state.n_agents
    high = cols * (agent_id + 1) // state.n_agents
    mine = grid.copy()
    mine[:, :low][mine[:, :low] == 2] = 0
    mine[:, high:][mine[:, high:] == 2] = 0
    here = state.positions[agent_id]
    found = helpers.nearest(mine, here, targets=2, walls=1)
    if found is None:
        found = helpers.nearest(grid, here, targets=2, walls=1)
    if found is None:
        return helpers.STAY
    return helpers.direction_to_action(found.direction, state.orientations[agent_id])
'''

IDLE_POLICY = '''\
def policy(state, agent_id):
    """Always stay (what the sandbox answers for a failed call)."""
    return 7
'''


# ---------------------------------------------------------------------------------------------
# Snapshots and playing code
# ---------------------------------------------------------------------------------------------

_SEAT = re.compile(r"(\d+)$")


def seat_number(agent: str) -> int:
    """``player_7`` -> 7 (the ``agent_id`` a policy receives)."""
    match = _SEAT.search(str(agent))
    if match is None:
        raise ValueError(f"agent {agent!r} has no seat number (expected names like 'player_3')")
    return int(match.group(1))


def build_snapshot(requests: Sequence[Decision], *, n_agents: int, game: str, actions: Sequence[str]) -> Snapshot:
    """The read-only ``state`` for one step from the deciding seats' global observations."""
    if not requests:
        raise ValueError("build_snapshot needs at least one decision")
    first = requests[0].observation
    if not (isinstance(first, Mapping) and {"map", "position", "orientation"} <= set(first)):
        raise ValueError("synthesized policies need the world's global view: build the world with observation='global'")
    positions = np.full((n_agents, 2), -1, dtype=np.int64)
    orientations = np.full(n_agents, -1, dtype=np.int64)
    active = np.zeros(n_agents, dtype=bool)
    for request in requests:
        seat = seat_number(request.agent_id)
        if not 0 <= seat < n_agents:
            raise ValueError(f"seat {seat} is outside 0..{n_agents - 1}")
        positions[seat] = np.asarray(request.observation["position"], dtype=np.int64)
        orientations[seat] = int(request.observation["orientation"])
        active[seat] = True
    return make_snapshot(
        {"grid": np.asarray(first["map"], dtype=np.uint8), "positions": positions, "orientations": orientations,
         "active": active},
        {"step": int(requests[0].step), "n_agents": int(n_agents), "game": game, "actions": tuple(actions),
         "codes": dict(CELL_CODES)},
    )


class _CodeRunner:
    """Runs each distinct code of a set of seats in its own sandbox, one call per step (or, for
    trusted code in tests and benchmarks only, in this process: ``unsafe_in_process``)."""

    def __init__(self, *, isolation: str, limits: SandboxLimits, unsafe_in_process: bool = False):
        self.isolation = isolation
        self.limits = limits
        self.unsafe_in_process = unsafe_in_process
        self.runners: dict[str, Any] = {}

    def start(self, codes: Sequence[str], *, n_actions: int, fallback_action: int, seed: int) -> None:
        self.close()
        for code in dict.fromkeys(codes):
            if self.unsafe_in_process:
                runner = UnsafeInProcessPolicy(code, n_actions=n_actions, fallback_action=fallback_action, seed=seed)
            else:
                runner = PolicySandbox(code, n_actions=n_actions, fallback_action=fallback_action,
                                       limits=self.limits, seed=seed, isolation=self.isolation, warn=False)
                runner.start()
            self.runners[code] = runner

    def close(self) -> None:
        for runner in self.runners.values():
            if isinstance(runner, PolicySandbox):
                runner.close()
        self.runners = {}

    def reports(self) -> list[FailureReport]:
        return [report for runner in self.runners.values() for report in runner.reports]


def fallback_reason(kind: str, message: str) -> str:
    """The reason of a failed decision as counted and shown: ``"<kind>: <message>"`` (cut to
    :data:`REASON_CHARS`)."""
    reason = f"{kind}: {message}" if message else kind
    return reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 3] + "..."


def _count_reason(counts: dict[str, int], reason: str) -> None:
    if reason not in counts and len(counts) >= REASONS_KEPT:
        reason = "other reasons"
    counts[reason] = counts.get(reason, 0) + 1


def _spec_numbers(spec: Any) -> tuple[int, int, tuple[str, ...]]:
    labels = tuple(getattr(spec, "labels", ()))
    actions = getattr(spec, "actions", ())
    if not labels:
        raise TypeError(f"synthesized policies answer Choice specs, got {type(spec).__name__}")
    fallback = [i for i, action in enumerate(actions) if action == spec.fallback]
    return len(labels), fallback[0] if fallback else labels.index("stay"), labels


class SynthesizedPolicy(BatchPolicy):
    """LLM-written Python policies for the grid worlds, run in the sandbox (see module docstring).

    Args:
        backend: the backend that writes code (``None``: the policy can play code but not write it).
        group: the :class:`~dilemmazoo.experiments.config.SynthesizedAgentsConfig` of its seats, or ``None``;
            ``temperature`` and ``max_tokens`` are read from it, options from ``group.params``.
        seed: the run seed (sampling seeds and the policies' ``random`` seeds derive from it).
        unsafe_in_process: UNSAFE, for trusted code in tests and benchmarks only: run the code in
            this process with no isolation (warns). No config reaches it.
        **options: the options of the module docstring (override ``group.params``).

    Raises :class:`~.sandbox.SandboxUnavailable` (a ValueError) when the requested isolation
    cannot be reached, saying what is missing and how to get it.
    """

    def __init__(self, backend: Any = None, group: Any = None, *, seed: int = 0, unsafe_in_process: bool = False,
                 **options: Any):
        params = dict(getattr(group, "params", None) or {})
        params.update(options)
        if "sandbox" in params:
            raise ValueError(
                f"the synthesized-policy option `sandbox: {params['sandbox']}` is gone: written code always runs in "
                "the sandbox worker. Remove it; to run the worker without operating-system isolation (weaker, "
                "warned on every run) write `isolation: process` instead")
        known = {"game", "max_code_retries", "smoke_steps", "smoke_world", "isolation", "call_timeout_s", "memory_mb",
                 "episode_budget_s", "max_timeouts_per_episode"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown synthesized-policy options {unknown}; known: {sorted(known)}")
        self.backend = backend
        self.seed = int(seed)
        self.game = params.get("game")
        if self.game is not None:
            _check_game(self.game)
        self.max_code_retries = int(params.get("max_code_retries", 3))
        if self.max_code_retries < 0:
            raise ValueError(f"max_code_retries must be >= 0, got {self.max_code_retries}")
        self.smoke_steps = int(params.get("smoke_steps", 50))
        if self.smoke_steps < 0:
            raise ValueError(f"smoke_steps must be >= 0, got {self.smoke_steps}")
        self.smoke_world = dict(params.get("smoke_world") or {})
        self.max_timeouts_per_episode = int(params.get("max_timeouts_per_episode", 10))
        if self.max_timeouts_per_episode < 1:
            raise ValueError(f"max_timeouts_per_episode must be >= 1, got {self.max_timeouts_per_episode}")
        requested = params.get("isolation", "auto")
        if requested not in REQUESTS:
            raise ValueError(f"isolation must be one of {', '.join(REQUESTS)}, got {requested!r}")
        if unsafe_in_process:
            self.isolation = "unsafe_in_process"
        else:
            self.isolation = resolve_isolation(requested).level
            if self.isolation == "process":
                label = getattr(group, "label", None)
                warn_weak_isolation(f"the synthesized agents{f' {label!r}' if label else ''}")
        budget = params.get("episode_budget_s", 120.0)
        self.limits = SandboxLimits(call_timeout_s=float(params.get("call_timeout_s", 1.0)),
                                    memory_mb=int(params.get("memory_mb", 1024)),
                                    episode_budget_s=None if budget is None else float(budget))
        self.generation_params = GenerationParams(
            max_tokens=int(getattr(group, "max_tokens", 1500) if group is not None else 1500),
            temperature=float(getattr(group, "temperature", 0.7) if group is not None else 0.7),
            seed=self.seed,
        )
        self.runner = _CodeRunner(isolation=self.isolation, limits=self.limits, unsafe_in_process=unsafe_in_process)
        self.rules_text = ""
        self.strategies: dict[str, str] = {}
        self.member_params: dict[str, dict[str, Any]] = {}
        self.n_agents = 0
        self.failures: Counter[str] = Counter()
        self.strategy_failures = 0  # written code that never passed validation
        self.last_strategy_calls: list[CallRecord] = []
        self.last_syntheses: list[SynthesisAttempt] = []
        self._episode_seed = self.seed
        self._started_codes: tuple[str, ...] = ()
        self._timeouts: Counter[str] = Counter()  # timed-out decisions per code in this episode

    def provenance(self) -> dict:
        """The code-writing backend's provenance (all None without one), ``decision`` None
        (decisions are made by the written code in the sandbox, not by scoring or generating)
        and ``isolation``: the sandbox level the code runs under (``bubblewrap``,
        ``namespaces`` or ``process``)."""
        if self.backend is None:
            return {"model": None, "revision": None, "weights_sha256": None, "base_url": None, "decision": None,
                    "isolation": self.isolation}
        return {**self.backend.provenance(), "decision": None, "isolation": self.isolation}

    # -- runner hooks ----------------------------------------------------------------------
    def set_rules(self, rules: str) -> None:
        """The world's rules (the system prompt when writing code; game and size are read from it)."""
        self.rules_text = rules
        if self.game is None:
            self.game = _game_from_rules(rules)
        self.n_agents = max(self.n_agents, _players_from_rules(rules) or 0)

    def set_strategies(self, strategies: Mapping[str, str]) -> None:
        """Seat -> code for the coming episode (all seats share one code in self-play)."""
        self.strategies = dict(strategies)
        self.n_agents = max(self.n_agents, max((seat_number(s) for s in self.strategies), default=-1) + 1)

    def set_members(self, params: Mapping[str, dict[str, Any]]) -> None:
        """Seat -> the member's params dict; the isolation level and the failures of the
        generation are written into it."""
        self.member_params = dict(params)
        for member in self.member_params.values():
            member["sandbox_isolation"] = self.isolation

    def start_episode(self, rules: Mapping[str, str], rng: np.random.Generator) -> None:
        """A fresh worker per code for each episode, seeded from ``rng`` (module state starts empty)."""
        self._episode_seed = int(rng.integers(2**31))
        self.runner.close()
        self._started_codes = ()
        self._timeouts = Counter()
        if rules and not self.rules_text:
            self.set_rules(next(iter(rules.values())))

    def close(self) -> None:
        """Stop the sandbox workers."""
        self.runner.close()
        self._started_codes = ()

    # -- playing ---------------------------------------------------------------------------
    def act_batch(self, requests: list[Decision]) -> list[Action]:
        if not requests:
            return []
        n_actions, fallback, labels = _spec_numbers(requests[0].spec)
        game = self.game or ("cleanup" if "clean" in labels else "gathering")
        codes = [self.strategies.get(r.agent_id, "") for r in requests]
        wanted = tuple(dict.fromkeys(self.strategies.values())) or tuple(dict.fromkeys(codes))
        if not set(codes) <= set(self._started_codes):
            wanted = tuple(dict.fromkeys([*wanted, *codes]))
            self.runner.start(wanted, n_actions=n_actions, fallback_action=fallback, seed=self._episode_seed)
            self._started_codes = wanted
        n_agents = max(self.n_agents, max(seat_number(r.agent_id) for r in requests) + 1)
        state = build_snapshot(requests, n_agents=n_agents, game=game, actions=labels)
        results: dict[int, Any] = {}
        by_code: dict[str, list[int]] = {}
        for index, code in enumerate(codes):
            by_code.setdefault(code, []).append(index)
        for code, indices in by_code.items():
            seats = [seat_number(requests[i].agent_id) for i in indices]
            if self._timeouts[code] >= self.max_timeouts_per_episode:
                message = (f"the policy timed out {self._timeouts[code]} times this episode and is no longer called "
                           "until the next one")
                answers = [PolicyResult(seat, fallback, False, "timeout", message) for seat in seats]
            else:
                answers = self.runner.runners[code].call(state, seats)
                self._timeouts[code] += sum(1 for answer in answers if answer.error == "timeout")
            results.update(zip(indices, answers))
        actions = []
        for index, request in enumerate(requests):
            result = results[index]
            spec = request.spec
            if result.ok:
                actions.append(Action(value=spec.action_for_option(result.action),
                                      raw_text=f"Answer: {labels[result.action]}"))
                continue
            self.failures[result.error] += 1
            params = self.member_params.get(request.agent_id)
            if params is not None:
                counts = params.setdefault("sandbox_failures", {})
                counts[result.error] = counts.get(result.error, 0) + 1
                _count_reason(params.setdefault("sandbox_reasons", {}), fallback_reason(result.error, result.message))
            actions.append(Action(value=spec.fallback, parse_failures=1, fallback_used=True,
                                  raw_text=f"sandbox {result.error}: {result.message}"))
        return actions

    # -- writing ---------------------------------------------------------------------------
    def system_prompt(self) -> str:
        return self.rules_text.strip()

    def write_strategies(self, prompts: list[str], rng: np.random.Generator) -> list[str]:
        """One validated code per prompt (StrategyWriter protocol).

        Each answer's code is extracted and validated (:meth:`validate`: static checks, then a
        self-play smoke run in the sandbox); a failing one is sent back with the error, at most
        ``max_code_retries`` times. Code that never passes is returned as it is (it will play
        with fallbacks, each counted). ``last_syntheses`` keeps every attempt's code, error and
        the model's reasoning; ``last_strategy_calls`` every backend call.
        """
        if self.backend is None:
            raise ValueError("this SynthesizedPolicy has no backend, so it cannot write code")
        system = self.system_prompt()
        preamble = [{"role": "system", "content": system}] if system else []
        chats: list[Chat] = [preamble + [{"role": "user", "content": p}] for p in prompts]
        attempts = [SynthesisAttempt(prompt=p) for p in prompts]
        self.last_strategy_calls = []
        base_seed = int(rng.integers(2**31))
        pending = list(range(len(prompts)))
        for attempt in range(self.max_code_retries + 1):
            params = replace(self.generation_params, seed=(base_seed + attempt) % 2**31)
            completions = self.backend.generate([chats[i] for i in pending], params=params)
            still = []
            for i, completion in zip(pending, completions):
                call = _call_record("strategy" if attempt == 0 else "strategy_retry", chats[i], completion)
                self.last_strategy_calls.append(call)
                code = extract_code(completion.text)
                error = self.validate(completion.text)
                attempts[i].answers.append(completion.text)
                attempts[i].codes.append(code)
                attempts[i].errors.append(error)
                if error:
                    call.error = error
                    chats[i] = chats[i] + [{"role": "assistant", "content": completion.text},
                                           {"role": "user", "content": _RETRY.format(error=error)}]
                    still.append(i)
            pending = still
            if not pending:
                break
        for i in pending:
            self.strategy_failures += 1
        self.last_syntheses = attempts
        return [a.code for a in attempts]

    def validate(self, text: str) -> str:
        """``""`` when the code in ``text`` passes, else the error to send back to the model."""
        compiled = compile_policy(text)
        if isinstance(compiled, RejectedPolicy):
            return compiled.message
        if self.smoke_steps == 0:
            return ""
        world = self._smoke_world()
        try:
            result = play_codes(world, {agent: compiled.code for agent in world.possible_agents}, seed=self.seed,
                                policy_seed=self.seed, isolation=self.isolation, limits=self.limits,
                                unsafe_in_process=self.runner.unsafe_in_process, stop_on_failure=True)
        finally:
            world.close()
        if result.reports:
            first = result.reports[0]
            return (f"in a {self.smoke_steps}-step test game, agent {first.agent_id} at step {first.call_index + 1}: "
                    f"{first.kind}: {first.message}")
        return ""

    def _smoke_world(self):
        from dilemmazoo.envs import make_world

        game = self.game or _game_from_rules(self.rules_text)
        kwargs = {"rules": "vicgalle", "n_agents": _players_from_rules(self.rules_text) or 10}
        kwargs.update(self.smoke_world)
        kwargs.update({"observation": "global", "episode_length": self.smoke_steps})
        return make_world(f"dilemmazoo/{game}-v0", **kwargs)


@dataclass
class SynthesisAttempt:
    """Everything one request for code produced: each answer, its code and its validation error."""

    prompt: str
    answers: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def code(self) -> str:
        """The last code written (the one that is played)."""
        return self.codes[-1] if self.codes else ""

    @property
    def valid(self) -> bool:
        return bool(self.errors) and not self.errors[-1]

    @property
    def reasoning(self) -> str:
        """The last answer without its code block: the model's explanation."""
        if not self.answers:
            return ""
        answer = self.answers[-1]
        return re.sub(r"```.*?(```|$)", "", answer, flags=re.DOTALL).strip()

    def to_params(self) -> dict[str, Any]:
        """What a member's params keep of it (saved in ``population.parquet``)."""
        return {"valid": self.valid, "validation_errors": [e for e in self.errors if e], "reasoning": self.reasoning,
                "code_attempts": len(self.codes)}


def _call_record(purpose: str, chat: Chat, completion: Completion) -> CallRecord:
    return CallRecord(
        agent_id="", purpose=purpose, prompt_hash=chat_hash(chat), prompt=json.dumps(chat, ensure_ascii=False),
        prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
        latency_s=completion.latency_s, cached=completion.cached, cost_usd=completion.cost_usd, text=completion.text,
        retries=completion.retries,
    )


def _game_from_rules(rules: str) -> str:
    lowered = rules.lower()
    if "players in gathering" in lowered:
        return "gathering"
    return "cleanup"


def _players_from_rules(rules: str) -> int | None:
    match = re.search(r"one of (\d+) players", rules)
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------------------------------------
# Playing code outside the runner: attacks, smoke tests, cross-play
# ---------------------------------------------------------------------------------------------


@dataclass
class CodePlayResult:
    """One episode played by code: rewards ``(T, N)``, removals ``(T, N)``, failures and reports."""

    rewards: np.ndarray
    tagged: np.ndarray
    failures: Counter
    reports: list[FailureReport]
    failures_by_seat: dict[str, Counter]
    wall_time_s: float

    @property
    def returns(self) -> np.ndarray:
        return self.rewards.sum(axis=0)


def play_codes(world: Any, codes: Mapping[str, str], *, seed: int, policy_seed: int = 0, isolation: str = "auto",
               limits: SandboxLimits | None = None, stop_on_failure: bool = False,
               unsafe_in_process: bool = False) -> CodePlayResult:
    """Play one episode of a grid ``world`` (built with ``observation="global"``) where seat ``s``
    runs ``codes[s]``; seats without code stay. The decisions go through the same path as in
    the runner (:class:`SynthesizedPolicy`, under ``isolation``), so failures fall back and are
    counted the same way. ``stop_on_failure`` ends the episode after the first step with a
    failed decision (validation). ``unsafe_in_process`` (UNSAFE, trusted code only: tests)
    runs the codes in this process.
    """
    started = time.perf_counter()
    unknown = sorted(set(codes) - set(world.possible_agents))
    if unknown:
        raise ValueError(f"codes names seats the world does not have: {unknown}")
    policy = SynthesizedPolicy(None, seed=policy_seed, isolation=isolation, unsafe_in_process=unsafe_in_process,
                               call_timeout_s=(limits or SandboxLimits()).call_timeout_s)
    if limits is not None:
        policy.limits = limits
        policy.runner.limits = limits
    seats = list(world.possible_agents)
    observations, _ = world.reset(seed=seed)
    policy.set_rules(world.rules(seats[0]))
    policy.n_agents = len(seats)
    policy.set_strategies(dict(codes))
    member_params: dict[str, dict[str, Any]] = {seat: {} for seat in codes}
    policy.set_members(member_params)
    policy.start_episode({}, np.random.default_rng(policy_seed))
    rewards, tagged = [], []
    index = {seat: i for i, seat in enumerate(seats)}
    try:
        step = 0
        while world.agents:
            step += 1
            deciding = [seat for seat in world.deciders() if seat in codes]
            requests = [Decision(agent_id=seat, observation=observations[seat], text="", spec=world.action_spec(seat),
                                 rules="", step=step, episode=0) for seat in deciding]
            decided = dict(zip(deciding, policy.act_batch(requests)))
            actions = {seat: decided[seat].value if seat in decided else world.idle_action(seat)
                       for seat in world.agents}
            observations, step_rewards, _, _, infos = world.step(actions)
            row = np.zeros(len(seats))
            removed = np.zeros(len(seats), dtype=bool)
            for seat, reward in step_rewards.items():
                row[index[seat]] = reward
                removed[index[seat]] = bool(infos.get(seat, {}).get("tagged", False))
            rewards.append(row)
            tagged.append(removed)
            if stop_on_failure and policy.failures:
                break
        reports = policy.runner.reports()
    finally:
        policy.close()
    return CodePlayResult(
        rewards=np.array(rewards).reshape(-1, len(seats)), tagged=np.array(tagged, dtype=bool).reshape(-1, len(seats)),
        failures=Counter(policy.failures), reports=reports,
        failures_by_seat={seat: Counter(params.get("sandbox_failures", {})) for seat, params in member_params.items()},
        wall_time_s=time.perf_counter() - started,
    )


def cross_play_matrix(codes: Sequence[str], make_world: Any, seeds: Sequence[int], *, focal_seat: str = "player_0",
                      isolation: str = "auto", limits: SandboxLimits | None = None,
                      unsafe_in_process: bool = False) -> np.ndarray:
    """``M[i, j]``: mean return of ``focal_seat`` running iterate ``i`` while every other seat runs
    iterate ``j``, over ``seeds``. The diagonal is self-play; ``M[i, j] - M[j, j]`` is what
    deviating from ``j`` to ``i`` gains (exploitability of ``j`` when positive).

    ``make_world()`` builds a fresh grid world with ``observation="global"``; ``isolation`` and
    ``unsafe_in_process`` are passed to :func:`play_codes`.
    """
    if not codes or not seeds:
        raise ValueError("cross_play_matrix needs at least one code and one seed")
    matrix = np.zeros((len(codes), len(codes)))
    for j, others in enumerate(codes):
        for i, focal in enumerate(codes):
            total = 0.0
            for seed in seeds:
                world = make_world()
                try:
                    seats = list(world.possible_agents)
                    if focal_seat not in seats:
                        raise ValueError(f"focal_seat {focal_seat!r} is not one of the world's seats")
                    assignment = {seat: (focal if seat == focal_seat else others) for seat in seats}
                    result = play_codes(world, assignment, seed=int(seed), isolation=isolation, limits=limits,
                                        unsafe_in_process=unsafe_in_process)
                    total += float(result.returns[seats.index(focal_seat)])
                finally:
                    world.close()
            matrix[i, j] = total / len(seeds)
    return matrix
