"""Honest model-written policies run in the sandbox without false alarms (issue 25).

The corpus (``tests/honest_policies/*.py``, one policy per file) is written the way language
models write policies: numpy reductions (``.sum()``, ``.max()``, ``.mean()``, ``.any()``),
``argwhere``, ``argmin``, ``where``, ``clip``, broadcasting and boolean masks; BFS with
``collections.deque`` and A* with ``heapq``; ``math``, ``itertools``, ``functools.lru_cache``,
``dataclasses``, ``typing``, ``enum``; seeded ``random``; small classes, helper functions and
module constants. Each file's header names its world and task (a synthesis preset). Before the
worker was warmed (agents/sandbox/warmup.py), 29 of these 43 policies fell back, on 2320 of
3440 decisions (``import of 'numpy._core._methods'``, ``dataclasses``/``enum`` refused, ``compile``
blocked in ``namedtuple``, ``__init__`` refused, no ``random.Random``).

Every policy plays two seeded episodes through the runner's decision path
(:class:`~dilemmazoo.agents.synthesis.SynthesizedPolicy`) under every isolation level this
machine offers, with 0 violations and 0 fallbacks; one worker per policy and level serves both
episodes. A seeded ``policy_synthesis`` run on Cleanup whose scripted backend replays corpus
policies has a fallback rate of 0 in its report.
"""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np
import pytest

from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.sandbox import CompiledPolicy, compile_policy, probe_isolation
from dilemmazoo.agents.synthesis import SynthesizedPolicy
from dilemmazoo.envs import make_world

CORPUS = pathlib.Path(__file__).parent / "honest_policies"
CONFIGS = pathlib.Path(__file__).parent.parent / "experiments" / "configs"
MACHINE = probe_isolation()
LEVELS_HERE = [*(level for level in ("bubblewrap", "namespaces") if MACHINE.available(level)), "process"]
N_AGENTS, EPISODE_STEPS, SEEDS = 4, 8, (0, 1)
HEADER = re.compile(r"\A# world: (\w+)\n# task: (.+)\n# idioms: (.+)\n")


def corpus() -> dict[str, tuple[str, str, str]]:
    """File name -> (world, task, code)."""
    policies = {}
    for path in sorted(CORPUS.glob("*.py")):
        code = path.read_text()
        match = HEADER.match(code)
        assert match, f"{path.name} must start with '# world:', '# task:' and '# idioms:' lines"
        policies[path.name] = (match.group(1), match.group(2), code)
    return policies


POLICIES = corpus()


def synthesis_tasks() -> set[tuple[str, str]]:
    """(world, preset file) of every preset whose agents are synthesized policies."""
    tasks = set()
    for path in CONFIGS.glob("*.yaml"):
        text = path.read_text()
        if re.search(r"kind:\s*synthesized", text):
            world = re.search(r"id:\s*dilemmazoo/(\w+)-v0", text).group(1)
            tasks.add((world, f"experiments/configs/{path.name}"))
    return tasks


def test_corpus_covers_every_world_and_task_with_40_policies():
    assert len(POLICIES) >= 40
    covered = {}
    for world, task, _ in POLICIES.values():
        preset = re.search(r"\((experiments/configs/[\w.]+)\)", task).group(1)
        covered[(world, preset)] = covered.get((world, preset), 0) + 1
    tasks = synthesis_tasks()
    assert tasks == {("cleanup", "experiments/configs/cleanup_synthesis_sparse.yaml"),
                     ("cleanup", "experiments/configs/cleanup_synthesis_dense.yaml"),
                     ("gathering", "experiments/configs/gathering_synthesis_dense.yaml")}
    assert set(covered) == tasks and min(covered.values()) >= 10, covered
    for name, (_, _, code) in POLICIES.items():
        assert isinstance(compile_policy(code), CompiledPolicy), name


def play_corpus_policy(code: str, world_name: str, level: str) -> tuple[SynthesizedPolicy, list, int]:
    """Two seeded episodes of ``code`` in self-play through one sandbox worker; returns the
    policy, every action it answered and the number of decisions."""
    world = make_world(f"dilemmazoo/{world_name}-v0", n_agents=N_AGENTS, rules="vicgalle", observation="global",
                       episode_length=EPISODE_STEPS)
    policy = SynthesizedPolicy(None, seed=3, isolation=level, episode_budget_s=None)
    seats = list(world.possible_agents)
    policy.set_rules(world.rules(seats[0]))
    policy.set_strategies({seat: code for seat in seats})
    policy.set_members({seat: {} for seat in seats})
    policy.start_episode({}, np.random.default_rng(0))
    actions = []
    try:
        for seed in SEEDS:  # the worker is kept between the two episodes (one start per policy)
            observations, _ = world.reset(seed=seed)
            step = 0
            while world.agents:
                step += 1
                deciding = world.deciders()
                requests = [Decision(agent_id=seat, observation=observations[seat], text="",
                                     spec=world.action_spec(seat), rules="", step=step, episode=seed)
                            for seat in deciding]
                answered = policy.act_batch(requests)
                actions.extend(answered)
                chosen = dict(zip(deciding, (action.value for action in answered)))
                observations, *_ = world.step({seat: chosen.get(seat, world.idle_action(seat)) for seat in world.agents})
        violations = [v for runner in policy.runner.runners.values() for v in runner.violations]
    finally:
        policy.close()
        world.close()
    return policy, actions, violations


@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS_HERE)
def test_every_honest_policy_runs_without_violations_or_fallbacks(level):
    problems = {}
    for name, (world_name, _, code) in POLICIES.items():
        policy, actions, violations = play_corpus_policy(code, world_name, level)
        fallbacks = [a.raw_text for a in actions if a.fallback_used]
        if violations or fallbacks or policy.failures:
            problems[name] = {"violations": [v.text for v in violations][:3], "fallbacks": len(fallbacks),
                              "reasons": sorted(set(fallbacks))[:3]}
            continue
        # the code really played (every seat decides at least the first step of each episode),
        # and it did not only stay
        assert len(actions) >= len(SEEDS) * N_AGENTS, name
        assert any(a.raw_text != "Answer: stay" for a in actions), f"{name} only ever stayed"
    assert not problems, json.dumps(problems, indent=1)


def test_synthesis_run_replaying_corpus_policies_reports_no_fallbacks(tmp_path):
    """A seeded policy_synthesis run on Cleanup (scripted backend replaying three corpus policies,
    one per iterate): fallback rate 0 in every iterate of the report."""
    from dilemmazoo.analysis.report import write_report
    from dilemmazoo.analysis.synthesis import synthesis_iterations
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import execute

    chosen = ["cleanup_01_numpy_nearest_apple.py", "cleanup_05_dataclass_memory.py", "cleanup_11_class_planner.py"]
    script = tmp_path / "answers.txt"
    script.write_text("".join(f"Here is my policy.\n```python\n{POLICIES[name][2]}```\n\n---\n" for name in chosen))
    config = validate({
        "name": "honest_synthesis",
        "world": {"id": "cleanup", "kwargs": {"n_agents": 3, "rules": "vicgalle", "observation": "global",
                                              "grid_map": "small_cleanup", "episode_length": 8}},
        "agents": {"kind": "synthesized", "backend": f"scripted:{script}", "label": "synthesized",
                   "params": {"smoke_steps": 4, "max_code_retries": 0, "smoke_world": {"grid_map": "small_cleanup"}}},
        "population": {"dynamics": "policy_synthesis", "generations": 3, "kwargs": {"feedback": "dense"}},
        "episodes_per_generation": 2,
        "seeds": [5],
    })
    result = execute(config, tmp_path / "runs", progress=False)
    codes = result.population.drop_duplicates("generation")["strategy"].tolist()
    assert codes == [POLICIES[name][2].strip("\n") for name in chosen]
    assert result.summary["counts"]["fallbacks"] == 0 and not result.steps["fallback_used"].any()
    table = synthesis_iterations(result.steps, result.population)
    assert table["decisions"].tolist() == [2 * 8 * 3] * 3
    assert table["fallbacks"].tolist() == [0, 0, 0] and table["fallback_rate"].tolist() == [0.0, 0.0, 0.0]
    assert table["fallback_reasons"].tolist() == ["", "", ""] and table["valid"].all()
    html = write_report(result.run_dir).read_text()
    assert 'id="synthesis"' in html and "fallback_rate" in html


# -- the pieces: fallback reasons, the policy's import, the compiler-free class factories ----------

def test_fallback_reasons_most_frequent_first():
    from dilemmazoo.agents.synthesis import IterationResult, fallback_reason, feedback_text
    from dilemmazoo.analysis.synthesis import fallback_reasons

    reasons = {"crash: IndexError: a": 5, "timeout: slow": 2, "forbidden: import of 'os'": 7, "crash: b": 1}
    assert fallback_reasons(reasons) == "forbidden: import of 'os' (7); crash: IndexError: a (5); timeout: slow (2); " \
                                        "1 more for other reasons"
    assert fallback_reasons(reasons, shown=1) == "forbidden: import of 'os' (7); 8 more for other reasons"
    assert fallback_reasons({}) == "" and fallback_reasons({"crash: x": 0}) == ""
    with pytest.raises(ValueError, match="shown must be >= 1"):
        fallback_reasons(reasons, shown=0)
    assert fallback_reason("crash", "x" * 400) == "crash: " + "x" * 290 + "..." and fallback_reason("timeout", "") == "timeout"
    result = IterationResult(0, "", {"mean_reward": 1.0}, failures={"crash": 6}, reasons={"crash: a": 5, "crash: b": 1})
    assert feedback_text(result, "sparse") == (
        "Iteration 0: mean reward per agent 1.000. Decisions where your code failed and the agent stayed: crash 6. "
        "Most frequent reasons: crash: a (5x); crash: b (1x).")


def test_the_policy_import_hands_out_no_internal_module():
    """numpy's C code may re-import a loaded internal module during a policy call (answered with
    nothing); the policy's own import of it is still refused and reported."""
    import warnings

    from dilemmazoo.agents.sandbox import UnsafeInProcessPolicy, make_snapshot

    reached = "def policy(state, agent_id):\n    got = __import__('numpy._core._dtype', None, None, [], 0)\n" \
              "    return 1 if got is None else 2\n"
    named = "import numpy._core._dtype\ndef policy(state, agent_id):\n    return 1\n"
    dtype_repr = "def policy(state, agent_id):\n    return len(repr(state.grid.dtype)) % 9\n"
    snapshot = make_snapshot({"grid": np.zeros((2, 2), dtype=np.uint8)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runners = [UnsafeInProcessPolicy(compile_policy(code, static_checks=False), n_actions=9, fallback_action=7)
                   for code in (reached, named, dtype_repr)]
    [got], [refused], [shown] = (runner.call(snapshot, [0]) for runner in runners)
    assert got.ok and got.action == 1 and not runners[0].violations
    assert refused.error == "forbidden" and "this is a sandbox bug" in refused.message
    assert [v.text for v in runners[1].violations] == ["import of 'numpy._core._dtype'"]
    assert shown.ok and shown.action == len("dtype('uint8')") % 9


def test_class_factories_without_a_compiler():
    from dilemmazoo.agents.sandbox import shims

    @shims.dataclass(frozen=True, order=True)
    class Cell:
        row: int
        col: int = 0
        note: str = shims.field(default="", compare=False)

    assert repr(Cell(1)) == "Cell(row=1, col=0, note='')"
    assert Cell(1, 2) == Cell(1, 2, "other") and Cell(1, 2) < Cell(2, 0) and hash(Cell(1)) == hash(Cell(1, 0, "x"))
    assert shims.asdict(Cell(3, 4)) == {"row": 3, "col": 4, "note": ""} and shims.astuple(Cell(3)) == (3, 0, "")
    assert shims.replace(Cell(3, 4), col=5) == Cell(3, 5) and [f.name for f in shims.fields(Cell)] == ["row", "col", "note"]
    with pytest.raises(shims.FrozenInstanceError):
        Cell(1).row = 2
    with pytest.raises(TypeError, match="missing required argument: 'row'"):
        Cell()
    with pytest.raises(ValueError, match="use default_factory"):
        shims.dataclass(type("Bad", (), {"__annotations__": {"items": list}, "items": []}))

    @shims.dataclass
    class Memory:
        seen: list = shims.field(default_factory=list)

    first, second = Memory(), Memory()
    first.seen.append(1)
    assert second.seen == [] and Memory.__hash__ is None

    Point = shims.namedtuple("Point", "row, col", defaults=(0,))
    assert Point(1) == (1, 0) and Point(col=2, row=1).col == 2 and repr(Point(1, 2)) == "Point(row=1, col=2)"
    assert Point(1)._asdict() == {"row": 1, "col": 0} and Point(1)._replace(col=3) == (1, 3)

    class Step(shims.NamedTuple):
        cost: int
        cell: tuple = (0, 0)

        def far(self):
            return self.cost > 3

    assert Step(5).far() and Step(1) < Step(2) and Step(1, (2, 3)).cell == (2, 3) and isinstance(Step(1), tuple)
