"""Estimates and budgets (experiments/budget.py): the estimate counts the calls a run makes, prices
come from LiteLLM's cost map or the config, and a budget stops a backend, a run and a grid."""

import inspect
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from dilemmazoo.agents.backends import make_backend
from dilemmazoo.agents.backends.base import GenerationParams
from dilemmazoo.agents.backends.limits import estimate_tokens
from dilemmazoo.experiments.budget import (
    Budget,
    BudgetExceeded,
    Estimate,
    EstimateRow,
    _LEAD_IN,
    estimate,
    price_per_token,
    resume_command,
    run_spending,
)
from dilemmazoo.experiments.config import ConfigError, LLMAgentsConfig, validate
from dilemmazoo.experiments.runner import RunFailed, run_experiment

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import FakeOpenAIServer  # noqa: E402

#: gpt-4o-mini in LiteLLM's bundled cost map (USD per token): input 0.15, output 0.60 per million
GPT_4O_MINI = (0.15e-6, 0.60e-6)

RUNNER_TAKES_BUDGET = "budget" in inspect.signature(run_experiment).parameters
needs_runner_hook = pytest.mark.skipif(not RUNNER_TAKES_BUDGET, reason="run_experiment(budget=) not integrated yet")


def write_script(path: Path, answers: list[str]) -> Path:
    path.write_text("\n---\n".join(answers) + "\n---\n", encoding="utf-8")  # blocks: an answer may span lines
    return path


def repeated_game(script: Path, *, seeds=(0, 1), memory=2, decision="generate", n_rounds=4, **extra):
    """One language-model seat against tit-for-tat in a repeated prisoner's dilemma."""
    return validate({
        "name": "budget-test",
        "world": {"id": "repeated-game", "kwargs": {"game": "prisoners_dilemma", "n_rounds": n_rounds}},
        "agents": [
            {"kind": "llm", "backend": f"scripted:{script}", "seats": 1, "decision": decision, "memory": memory,
             "max_tokens": 50, "max_retries": 2},
            {"kind": "scripted", "strategy": "tit_for_tat"},
        ],
        "seeds": list(seeds), "cache": False, **extra,
    })


def real_calls(results) -> pd.DataFrame:
    return pd.concat([r.llm_calls for r in results], ignore_index=True)


# -- the estimate against real runs ---------------------------------------------------------------

def test_estimate_equals_a_scripted_grid_call_for_call_and_prompt_for_prompt(tmp_path):
    # the script answers what the stand-in answers, so the runs' prompts (memory included) are the estimate's
    script = write_script(tmp_path / "answers.txt", [_LEAD_IN + "Answer: Cooperate"])
    config = repeated_game(script, seeds=(0, 1), grid={"world.kwargs.n_rounds": [3, 5]})
    found = estimate(config)
    results = run_experiment(config, tmp_path / "runs", progress=False)
    calls = real_calls(results)
    assert len(results) == 4 and set(calls["purpose"]) == {"act"}  # no answer needed a retry
    (row,) = found.rows
    assert row.backend == f"scripted:{script}" and row.runs == 4
    assert row.calls == len(calls) == 2 * (3 + 5)
    assert row.calls_at_most == row.calls * 3  # max_retries 2 for every generated decision
    assert row.prompt_tokens == sum(estimate_tokens(json.loads(p), 0) for p in calls["prompt"])
    assert row.completion_tokens == 50 * row.calls  # max_tokens: the upper bound
    assert row.cost_usd == 0.0 and found.calls == row.calls and found.runs == 4


def test_estimate_counts_strategy_writing_and_scored_decisions(tmp_path):
    # cultural evolution in the Donor Game (4 agents, 3 rounds: 6 donations a game): 4 strategies, 6
    # donations, the 2 newcomers' strategies, 6 donations
    answers = (["My strategy will be to give half."] * 4 + ["Answer: 3"] * 6
               + ["My strategy will be to give half."] * 2 + ["Answer: 3"] * 6)
    script = write_script(tmp_path / "donor.txt", answers)
    config = validate({
        "name": "donor", "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 3}},
        "agents": {"kind": "llm", "backend": f"scripted:{script}", "decision": "generate", "max_retries": 1},
        "population": {"dynamics": "cultural_evolution", "generations": 2}, "seeds": [0, 1], "cache": False,
    })
    (row,) = estimate(config).rows
    calls = real_calls(run_experiment(config, tmp_path / "runs", progress=False))
    assert set(calls["purpose"]) == {"act", "strategy"}
    assert row.calls == len(calls) == 2 * 18
    assert row.calls_at_most == row.calls + 2 * 12  # one retry for each of the 12 donations of a run

    # decision auto with a backend that scores: one score call per choice
    scored = write_script(tmp_path / "scored.txt", ["Answer: Defect"])
    config = repeated_game(scored, decision="auto", memory=0)
    (row,) = estimate(config).rows
    calls = real_calls(run_experiment(config, tmp_path / "scored-runs", progress=False))
    assert set(calls["purpose"]) == {"score"} and row.calls == len(calls) == 8
    assert row.calls_at_most == row.calls  # a scored decision is never retried


def test_estimate_prices_a_hosted_model_from_the_cost_map_per_backend(tmp_path):
    script = write_script(tmp_path / "answers.txt", ["Answer: Cooperate"])
    config = validate({
        "name": "mixed", "world": {"id": "repeated-game", "kwargs": {"game": "prisoners_dilemma", "n_rounds": 6}},
        "agents": [{"kind": "llm", "backend": "litellm:gpt-4o-mini", "seats": 1, "max_tokens": 100},
                   {"kind": "llm", "backend": f"scripted:{script}", "decision": "generate"}],
        "seeds": [0, 1, 2],
    })
    found = estimate(config)
    rows = {row.backend: row for row in found.rows}
    hosted, local = rows["litellm:gpt-4o-mini"], rows[f"scripted:{script}"]
    assert hosted.runs == local.runs == 3
    assert hosted.calls == local.calls == 3 * 6  # litellm cannot score: 'auto' generates every choice
    assert hosted.completion_tokens == 100 * hosted.calls and local.completion_tokens == 200 * local.calls
    assert hosted.cost_usd == pytest.approx(hosted.prompt_tokens * GPT_4O_MINI[0] + hosted.completion_tokens
                                            * GPT_4O_MINI[1], rel=1e-12)
    assert hosted.cost_usd == pytest.approx(18 * 100 * 0.60e-6 + hosted.prompt_tokens * 0.15e-6)
    assert local.cost_usd == 0.0 and found.cost_usd == pytest.approx(hosted.cost_usd)
    assert "LiteLLM's cost map" in hosted.note
    text = found.text()
    assert "litellm:gpt-4o-mini" in text and f"${hosted.cost_usd:.4f}" in text
    assert found.to_dict()["rows"][0]["backend"] == "litellm:gpt-4o-mini"


def test_prices_per_backend():
    def price(backend, **options):
        return price_per_token(LLMAgentsConfig(backend=backend, backend_options=options))

    assert price("openai:fake", base_url="http://x/v1", price_per_1k_tokens=[2.0, 8.0])[0] == (0.002, 0.008)
    missing, note = price("openai:fake", base_url="http://x/v1")
    assert missing is None and "price_per_1k_tokens" in note
    hosted, note = price("openai:gpt-4o-mini")
    assert hosted == pytest.approx(GPT_4O_MINI) and "records no cost" in note
    assert price("litellm:gpt-4o-mini")[0] == pytest.approx(GPT_4O_MINI)
    assert price("litellm:openai/gpt-4o")[0] == pytest.approx((2.5e-6, 10e-6))
    unknown, note = price("litellm:no-such-model-anywhere")
    assert unknown is None and "cost map" in note
    local, note = price("litellm:ollama/llama3")
    assert local == (0.0, 0.0) or (local is None and "local" in note)
    assert price("embedded") == (None, "local model: no per-token price")
    assert price("scripted:x.txt")[0] == (0.0, 0.0)


def test_an_estimate_of_a_bad_config_raises_before_anything(tmp_path):
    config = repeated_game(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="missing.txt"):
        estimate(config)


def test_estimate_of_scripted_agents_only_has_no_rows():
    config = validate({"name": "s", "world": {"id": "repeated-game", "kwargs": {"n_rounds": 2}},
                       "agents": {"kind": "scripted", "strategy": "tit_for_tat"}})
    found = estimate(config)
    assert found.rows == () and found.calls == 0 and "no model calls" in found.text()


def test_estimate_text_and_dict():
    found = Estimate("grid", 2, (EstimateRow("hf:x", 2, 10, 400, 2000, None, "local model: no per-token price", 30),))
    text = found.text()
    assert "unknown" in text and "note: hf:x: local model" in text and found.cost_usd is None
    assert found.to_dict() == {"name": "grid", "runs": 2, "calls": 10, "cost_usd": None, "notes": [],
                               "rows": [{"backend": "hf:x", "runs": 2, "calls": 10, "prompt_tokens": 400,
                                         "completion_tokens": 2000, "cost_usd": None,
                                         "note": "local model: no per-token price", "calls_at_most": 30}]}


# -- the budget on a backend ----------------------------------------------------------------------

def priced_backend(server, prices=(1.0, 2.0)):
    return make_backend("openai:fake-model", base_url=server.url, price_per_1k_tokens=prices, backoff_s=0.01,
                        max_backoff_s=0.02, timeout_s=5.0)


CHAT = [{"role": "user", "content": "one two three"}]  # the fake server bills 3 + 3 = 6 prompt tokens


def test_guard_stops_before_a_call_past_max_calls(tmp_path):
    with FakeOpenAIServer(answer="Answer: C") as server:  # 2 completion tokens
        budget = Budget(max_calls=5)
        backend = budget.guard(priced_backend(server))
        params = GenerationParams(max_tokens=10)
        backend.generate([CHAT, CHAT], params=params)
        backend.generate([CHAT, CHAT], params=params)
        with pytest.raises(BudgetExceeded) as info:
            backend.generate([CHAT, CHAT], params=params)  # 4 + 2 > 5: not sent
        assert len(server.completions) == 4 and budget.calls == 4
        backend.generate([CHAT], params=params)  # one more fits
        with pytest.raises(BudgetExceeded):
            backend.generate([CHAT], params=params)
        assert len(server.completions) == 5 and budget.calls == 5
    error = info.value
    assert isinstance(error, RunFailed) and error.stops_grid and error.reached == "calls"
    assert "--max-calls 5" in str(error) and "--max-calls 10" in str(error) and "Finished runs are kept" in str(error)
    # cost: (6 x $1 + 2 x $2) / 1000 per call
    assert budget.spent_usd == pytest.approx(5 * 0.010)


def test_guard_stops_after_the_call_that_reaches_usd(tmp_path):
    with FakeOpenAIServer(answer="Answer: C") as server:
        budget = Budget(usd=0.025)
        backend = budget.guard(priced_backend(server))  # $0.010 a call
        params = GenerationParams(max_tokens=10)
        backend.generate([CHAT], params=params)
        backend.generate([CHAT], params=params)
        with pytest.raises(BudgetExceeded) as info:
            backend.generate([CHAT], params=params)  # $0.030 >= $0.025: raised after the call
        assert len(server.completions) == 3
        with pytest.raises(BudgetExceeded):
            backend.generate([CHAT], params=params)  # reached: nothing more is sent
        assert len(server.completions) == 3
    assert info.value.reached == "usd" and info.value.spent_usd == pytest.approx(0.030)
    assert "spent $0.0300 of --budget-usd 0.025" in str(info.value) and "--budget-usd 0.055" in str(info.value)


def test_guard_counts_no_cache_hits_and_no_failed_calls(tmp_path):
    from dilemmazoo.agents.backends.cache import CachedBackend

    with FakeOpenAIServer(answer="Answer: C") as server:
        budget = Budget(max_calls=3)
        backend = CachedBackend(budget.guard(priced_backend(server)), tmp_path / "cache")
        params = GenerationParams(max_tokens=10, seed=1)
        for _ in range(5):  # asked once, then served by the cache: one model call
            backend.generate([CHAT], params=params)
        assert budget.calls == 1 and budget.spent_usd == pytest.approx(0.010)
        outside = budget.guard(CachedBackend(priced_backend(server), tmp_path / "cache"))  # as the runner wraps
        outside.generate([CHAT], params=params)  # a hit: reserved, then given back
        assert budget.calls == 1 and len(server.completions) == 1
        server.enqueue(*["500"] * 10)
        failing = budget.guard(make_backend("openai:fake-model", base_url=server.url, max_retries=0))
        with pytest.raises(Exception):
            failing.generate([CHAT], params=params)
        assert budget.calls == 1  # a call that failed reached no model's bill


def test_guard_forwards_the_contract(tmp_path):
    script = write_script(tmp_path / "s.txt", ["Answer: C"])
    inner = make_backend(f"scripted:{script}")
    guarded = Budget(max_calls=2).guard(inner)
    assert (guarded.name, guarded.can_score, guarded.order_dependent) == (inner.name, True, True)
    assert guarded.provenance() == inner.provenance()
    assert list(guarded.score([CHAT], [["Answer: C", "Answer: D"]])[0]) == [0.0, -math.inf]
    assert guarded.budget.calls == 1


def test_a_budget_shared_through_a_ledger(tmp_path):
    import pickle

    budget = Budget(usd=1.0, max_calls=10, ledger=tmp_path / "ledger.json")
    budget.reserve(3)
    budget.settle(3, 2, 0.25)
    other = pickle.loads(pickle.dumps(budget))  # what a worker process gets
    other.reserve(1)
    other.settle(1, 1, 0.5)
    assert (budget.calls, budget.spent_usd) == (3, 0.75) == (other.calls, other.spent_usd)
    with pytest.raises(BudgetExceeded):
        budget.reserve(8)


def test_budget_arguments_are_checked():
    with pytest.raises(ValueError, match="usd"):
        Budget(usd=-1)
    with pytest.raises(ValueError, match="max_calls"):
        Budget(max_calls=2.5)


def test_run_spending_and_finished_runs_count(tmp_path):
    script = write_script(tmp_path / "answers.txt", ["Answer: Cooperate"])
    config = repeated_game(script, seeds=(0, 1), memory=0)
    results = run_experiment(config, tmp_path / "runs", progress=False)
    assert run_spending(results[0].run_dir) == (4, 0.0)
    budget = Budget(max_calls=100)
    from dilemmazoo.experiments.config import expand_grid

    assert budget.count_finished(tmp_path / "runs", expand_grid(config)) == 2
    budget.add_run(results[0].run_dir)  # counted once
    assert budget.calls == 8


def test_resume_command():
    error = BudgetExceeded("usd", spent_usd=0.03, calls=3, usd=0.025, max_calls=None)
    assert resume_command(["run", "my grid.yaml", "--budget-usd", "0.025", "--quiet"], error) == \
        "dilemmazoo run 'my grid.yaml' --budget-usd 0.055 --quiet"  # the old limit plus what was spent
    calls = BudgetExceeded("calls", spent_usd=0.0, calls=5, usd=None, max_calls=5)
    assert resume_command(["run", "x", "--max-calls=5"], calls) == "dilemmazoo run x --max-calls=10"
    assert resume_command(["run", "x"], calls) == "dilemmazoo run x --max-calls 10"
    import pickle

    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.reached == "usd"


# -- the budget stops a grid (once the runner takes budget=) ----------------------------------------

def api_config(server, *, seeds=(0, 1, 2)):
    return validate({
        "name": "api-budget",
        "world": {"id": "repeated-game", "kwargs": {"game": "prisoners_dilemma", "n_rounds": 4}},
        "agents": [{"kind": "llm", "backend": "openai:fake-model", "seats": 1, "decision": "generate",
                    "backend_options": {"base_url": server.url, "price_per_1k_tokens": [1.0, 2.0], "backoff_s": 0.01,
                                        "max_backoff_s": 0.02, "timeout_s": 5.0}},
                   {"kind": "scripted", "strategy": "tit_for_tat"}],
        "seeds": list(seeds),
    })


@needs_runner_hook
def test_a_budget_stops_the_grid_keeps_finished_runs_and_a_larger_one_resumes(tmp_path):
    with FakeOpenAIServer(answer="Answer: Cooperate") as server:
        config = api_config(server)
        first = run_experiment(validate({**config.model_dump(), "seeds": [0]}), tmp_path, progress=False)
        per_run = run_spending(first[0].run_dir)[1]
        costs = list(first[0].llm_calls["cost_usd"])  # the seeds' runs ask the same four prompts
        assert per_run > 0 and len(costs) == 4
        sent = len(server.completions)
        # the finished run counts; seed 1 fits, and seed 2's second call reaches the limit
        budget = Budget(usd=2 * per_run + costs[0] + costs[1] / 2)
        with pytest.raises(BudgetExceeded) as info:
            run_experiment(config, tmp_path, progress=False, budget=budget)
        assert info.value.reached == "usd" and "--budget-usd" in str(info.value)
        finished = sorted(p.parent.name for p in tmp_path.rglob("complete.json"))
        assert finished == ["seed=0", "seed=1"]  # seed 2 was stopped mid-way
        assert (tmp_path / "api-budget" / "seed=2" / "failure.json").exists()
        assert len(server.completions) - sent == 4 + 2  # seed 1's four calls, then seed 2's first two
        results = run_experiment(config, tmp_path, progress=False, budget=Budget(usd=per_run * 10))
        assert [r.skipped for r in results] == [True, True, False]
        assert sorted(p.parent.name for p in tmp_path.rglob("complete.json")) == ["seed=0", "seed=1", "seed=2"]


def cli_takes_budget() -> bool:
    from dilemmazoo.experiments.cli import build_parser

    return "--budget-usd" in build_parser()._subparsers._group_actions[0].choices["run"].format_help()


needs_cli_flags = pytest.mark.skipif(not (RUNNER_TAKES_BUDGET and cli_takes_budget()),
                                     reason="run --estimate/--budget-usd not integrated yet")


@needs_cli_flags
def test_cli_estimate_prints_the_table_and_writes_nothing(tmp_path, capsys):
    import yaml

    from dilemmazoo.experiments.cli import main

    script = write_script(tmp_path / "answers.txt", ["Answer: Cooperate"])
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(repeated_game(script, seeds=(0, 1)).model_dump(exclude={"cell"})))
    assert main(["run", str(path), "--out", str(tmp_path / "runs"), "--estimate"]) == 0
    out = capsys.readouterr().out
    assert f"scripted:{script}" in out and "calls at most" in out and "budget-test: 2 run(s)" in out
    assert not (tmp_path / "runs").exists()


@needs_cli_flags
def test_cli_budget_usd_stops_with_exit_code_3_and_a_larger_budget_resumes(tmp_path, capsys):
    import yaml

    from dilemmazoo.experiments.cli import main

    with FakeOpenAIServer(answer="Answer: Cooperate") as server:
        path = tmp_path / "grid.yaml"
        path.write_text(yaml.safe_dump(api_config(server, seeds=(0, 1)).model_dump(exclude={"cell"})))
        command = ["run", str(path), "--out", str(tmp_path / "runs"), "--quiet", "--budget-usd", "0.05"]
        assert main(command) == 3  # a call costs more than $0.05 (about 200 prompt tokens at $1 per 1000)
        err = capsys.readouterr().err
        assert "budget reached: spent $" in err and "of --budget-usd 0.05" in err
        assert not list((tmp_path / "runs").rglob("complete.json")) and len(server.completions) == 1
        resume = err.split("resume with: ")[1].split()
        assert resume[:-1] == ["dilemmazoo", *command[:-1]] and float(resume[-1]) > 0.05
        assert main([*command[:-1], "100"]) == 0  # a larger budget resumes: both runs finish
        assert len(list((tmp_path / "runs").rglob("complete.json"))) == 2


@pytest.mark.slow  # two spawned worker processes, twice
@needs_runner_hook
def test_worker_processes_share_one_budget(tmp_path):
    script = write_script(tmp_path / "answers.txt", ["Answer: Cooperate"])
    config = repeated_game(script, seeds=(0, 1, 2), memory=0)  # 4 calls a run
    with pytest.raises(BudgetExceeded) as info:
        run_experiment(config, tmp_path / "runs", workers=2, progress=False, budget=Budget(max_calls=6))
    assert info.value.reached == "calls" and info.value.calls <= 6
    done = [p.parent for p in (tmp_path / "runs").rglob("complete.json")]
    assert len(done) <= 1 and sum(run_spending(d)[0] for d in done) <= 6  # the two workers counted together
    results = run_experiment(config, tmp_path / "runs", workers=2, progress=False, budget=Budget(max_calls=12))
    assert len(results) == 3 and sum(run_spending(r.run_dir)[0] for r in results) == 12


# -- the report's calls, tokens, cache hits and cost (analysis/costs.py) ---------------------------

def two_runs():
    """Run A: two language-model groups; run B: one. Strategy calls (agent "") of A cannot be placed."""
    a_steps = pd.DataFrame({"agent": ["player_0", "player_1"], "name": ["Ann", "Bob"],
                            "policy": ["0:llm:openai:x", "1:llm:scripted:s"]})
    a_agents = [{"label": "0:llm:openai:x", "kind": "llm", "backend": "openai:x"},
                {"label": "1:llm:scripted:s", "kind": "llm", "backend": "scripted:s"}]
    a_calls = pd.DataFrame({"agent": ["player_0", "player_0", "player_1", ""], "prompt_tokens": [100, 120, 50, 7],
                            "completion_tokens": [10, 10, 5, 3], "cached": [False, True, False, False],
                            "cost_usd": [0.12, 0.0, 0.0, 0.01]})
    b_steps = pd.DataFrame({"agent": ["player_0", "player_1"], "name": ["Cy", "Di"], "policy": ["llm:openai:x"] * 2})
    b_agents = [{"label": "llm:openai:x", "kind": "llm", "backend": "openai:x"}]
    b_calls = pd.DataFrame({"agent": ["Di", ""], "prompt_tokens": [80, 40], "completion_tokens": [20, 30],
                            "cached": [False, None], "cost_usd": [0.05, 0.02]})
    return [("A", a_calls, a_steps, a_agents), ("B", b_calls, b_steps, b_agents)]


def test_costs_per_backend_and_per_run_by_hand():
    from dilemmazoo.analysis.costs import UNATTRIBUTED, call_backends, cost_stats, costs_by, label_calls

    runs = two_runs()
    assert list(call_backends(*runs[0][1:])) == ["openai:x", "openai:x", "scripted:s", UNATTRIBUTED]
    assert list(call_backends(*runs[1][1:])) == ["openai:x", "openai:x"]  # a member's name; the one group
    calls = label_calls(runs)
    by_backend = costs_by(calls, ["backend"])
    assert by_backend.to_dict("records") == [
        {"backend": "openai:x", "runs": 2, "calls": 4, "model_calls": 3, "cache_hits": 1, "cache_hit_rate": 0.25,
         "prompt_tokens": 340, "completion_tokens": 70, "cost_usd": pytest.approx(0.19)},
        {"backend": "scripted:s", "runs": 1, "calls": 1, "model_calls": 1, "cache_hits": 0, "cache_hit_rate": 0.0,
         "prompt_tokens": 50, "completion_tokens": 5, "cost_usd": 0.0},
        {"backend": UNATTRIBUTED, "runs": 1, "calls": 1, "model_calls": 1, "cache_hits": 0, "cache_hit_rate": 0.0,
         "prompt_tokens": 7, "completion_tokens": 3, "cost_usd": pytest.approx(0.01)},
    ]
    per_run = costs_by(calls, ["run"])
    assert list(per_run["calls"]) == [4, 2] and list(per_run["cost_usd"]) == pytest.approx([0.13, 0.07])
    assert cost_stats(pd.DataFrame()) == {"calls": 0, "model_calls": 0, "cache_hits": 0, "cache_hit_rate": 0.0,
                                          "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    assert costs_by(label_calls([]), ["backend"]).empty


def test_the_report_shows_calls_tokens_cache_hits_and_cost_per_backend(tmp_path):
    from dilemmazoo.analysis.report import write_report

    script = write_script(tmp_path / "answers.txt", ["Answer: Cooperate"])
    config = repeated_game(script, seeds=(0, 1), memory=0)
    results = run_experiment(config, tmp_path / "runs", progress=False)
    calls = real_calls(results)
    html = write_report(tmp_path / "runs" / "budget-test").read_text()
    section = html.split('id="llm-backends"')[1].split("</table>")[0]
    cells = [c.split("</td>")[0] for c in section.split("<td")[1:]]
    assert f"scripted:{script}" in cells[0]
    numbers = [c.split(">")[-1] for c in cells[1:]]
    assert numbers[:5] == ["2", "8", "8", "0", "0"]  # runs, calls, model calls, cache hits, hit rate
    assert numbers[5].replace(",", "") == str(int(calls["prompt_tokens"].sum()))
