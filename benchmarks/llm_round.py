"""What one round of LLM decisions costs: batching, concurrency and the cache.

    python benchmarks/llm_round.py          # readable table
    python benchmarks/llm_round.py --json   # ... and one JSON object of the figures, last line
    python benchmarks/llm_round.py --profile  # ... and where the time goes (cProfile, to stderr)

(a) Embedded model (SmolLM2-135M, CPU): one Donor Game step of 12 donor decisions (24 agents),
    answered in ONE batched call against one call per agent. Greedy decoding, so both ways do
    the same work (tokens generated are reported). Goal: >= 10x faster batched.
(a') Embedded model, the demo's decisions: 12 donor decisions with ``donor_game_demo``'s world and
    agent settings (scored amounts, temperature 0.8, seed 0; every seat given a fixed one-line
    strategy), made by ``LLMPolicy.act_batch`` as the runner makes them, three ways in one run:
    every seat's prompt run whole (no shared prefix), the shared rules run once for the batch,
    and the rules' KV cache kept from the round before (``prefix_cache_mb``). The decisions are
    checked equal; each way's best of three rounds, taken in turns. ``embedded_decisions_per_s``
    is the kept-prefix round's rate;
    ``prefix_reuse_speedup`` is the whole-prompt round's time over the kept-prefix round's
    (goal >= 2), ``prefix_kept_speedup`` the once-per-batch round's over the kept-prefix round's.
Ceilings of (a) and (a') on the 2-core machine (measured, bf16, SmolLM2-135M). A decoding step
streams all the weights whatever the batch: 24 ms of matrix products for one row and 25 ms for
twelve; one row's whole step is 36 ms and twelve rows' 49 ms (the other 13 ms: attention over
twelve caches, 7 ms, and per-row elementwise work). With a 130 ms prefill per single call and
0.7 s for the batch, a 100-token round is 12 x 3.7 s against 5.6 s: 7.5x. Reaching 10x needs the
twelve-row step within 20% of the one-row step, i.e. attention and elementwise work for eleven
more rows in under 7 ms. For (a'): the seats share the 154-token rules of their ~336-token
prompts, so keeping the rules' cache spares at most 154/336 of the prefill: 336 / 182 = 1.85x
for the prompt pass alone, less with the options scored on top (1.44x measured).

(b) A loopback OpenAI-compatible server answering after 300 ms: 100 decisions one after the
    other against all at once through the backend's bounded concurrency. Goal: the concurrent
    round takes <= 1 s.
(c) A finished experiment re-executed from the on-disk cache (its run directory removed, the
    cache kept), against the same server: backend calls on the rerun and the speedup.
    Goal: 0 calls and >= 100x faster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_openai_server import FakeOpenAIServer  # noqa: E402
from harness import add_common_args, emit, profiled  # noqa: E402

from dilemmazoo.agents.backends import make_backend  # noqa: E402
from dilemmazoo.agents.backends.base import GenerationParams  # noqa: E402
from dilemmazoo.agents.base import Decision  # noqa: E402
from dilemmazoo.agents.llm import LLMPolicy  # noqa: E402
from dilemmazoo.envs import make_world  # noqa: E402


def donor_round(n_decisions: int) -> list[Decision]:
    env = make_world("donor-game", n_agents=2 * n_decisions, n_rounds=2)
    obs, _ = env.reset(seed=0)
    return [
        Decision(agent_id=a, observation=obs[a], text=env.describe(a), spec=env.action_spec(a), rules=env.rules(a),
                 step=1, episode=0)
        for a in env.deciders()
    ]


def embedded_round(max_tokens: int) -> dict[str, float]:
    backend = make_backend("embedded")
    policy = LLMPolicy(backend, decision="generate")
    chats = [policy.chat_for(r) for r in donor_round(12)]
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=0)
    backend.generate(chats[:2], params=params)  # warm-up
    start = time.perf_counter()
    batched = backend.generate(chats, params=params)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    one_by_one = [backend.generate([chat], params=params)[0] for chat in chats]
    sequential_s = time.perf_counter() - start
    return {
        "embedded_decisions": len(chats),
        "embedded_batched_s": batched_s,
        "embedded_sequential_s": sequential_s,
        "embedded_batched_speedup": sequential_s / batched_s,
        "embedded_batched_tokens": sum(c.completion_tokens for c in batched),
        "embedded_sequential_tokens": sum(c.completion_tokens for c in one_by_one),
    }


def demo_round(n_decisions: int = 12, repeats: int = 3) -> dict[str, float]:
    """The demo's scored decisions, one batched round, with and without the shared prefix (see (a'))."""
    from dilemmazoo.experiments.config import load_config, validate

    config = validate(load_config("donor_game_demo"))
    group = config.groups[0]
    world = make_world(config.world.id, **{**config.world.kwargs, "n_agents": 2 * n_decisions})
    obs, _ = world.reset(seed=config.seeds[0])
    requests = [
        Decision(agent_id=a, observation=obs[a], text=world.describe(a), spec=world.action_spec(a),
                 rules=world.rules(a), step=1, episode=0)
        for a in world.deciders()
    ]
    strategies = {a: f"My strategy will be to give {25 * (i % 5)}% of my units to players who gave before."
                  for i, a in enumerate(world.possible_agents)}
    ways = {
        "whole": make_backend("embedded", min_shared_prefix=10**9, prefix_cache_mb=0),
        "per_batch": make_backend("embedded", prefix_cache_mb=0),
        "kept": make_backend("embedded"),
    }
    policies = {}
    for name, backend in ways.items():
        policy = LLMPolicy(backend, persona=group.persona, decision=group.decision, temperature=group.temperature,
                           max_tokens=group.max_tokens, top_p=group.top_p, score_grid=group.score_grid,
                           seed=config.seeds[0])
        policy.set_strategies(strategies)
        policy.act_batch(requests[:2])  # warm-up; for "kept" it also keeps the rules' cache
        policies[name] = policy
    times = dict.fromkeys(ways, float("inf"))
    answers: dict[str, list] = {}
    for _ in range(repeats):  # the ways take turns, so a busy spell of the machine hits each alike
        for name, policy in policies.items():
            start = time.perf_counter()
            actions = policy.act_batch(requests)
            times[name] = min(times[name], time.perf_counter() - start)
            answers[name] = [a.value for a in actions]
    if not answers["whole"] == answers["per_batch"] == answers["kept"]:
        raise AssertionError(f"the three ways decided differently: {answers}")
    return {
        "embedded_demo_decisions": len(requests),
        "embedded_demo_whole_prompt_s": times["whole"],
        "embedded_demo_prefix_per_batch_s": times["per_batch"],
        "embedded_demo_prefix_kept_s": times["kept"],
        "embedded_decisions_per_s": len(requests) / times["kept"],
        "prefix_reuse_speedup": times["whole"] / times["kept"],
        "prefix_kept_speedup": times["per_batch"] / times["kept"],
        "prefix_kept_hits": ways["kept"].prefix_store.hits,
    }


def concurrent_round(server: FakeOpenAIServer, n: int = 100) -> dict[str, float]:
    backend = make_backend("openai:fake-model", base_url=server.url, concurrency=100)
    chats = [[{"role": "user", "content": f"decision {i}: how much do you give?"}] for i in range(n)]
    params = GenerationParams(max_tokens=16, seed=0)
    backend.generate(chats[:2], params=params)  # warm-up: connections
    start = time.perf_counter()
    for chat in chats[:10]:  # 10 are enough to time the sequential case; scaled to n
        backend.generate([chat], params=params)
    sequential_s = (time.perf_counter() - start) * n / 10
    start = time.perf_counter()
    answers = backend.generate(chats, params=params)
    concurrent_s = time.perf_counter() - start
    assert len(answers) == n
    return {"concurrent_decisions": n, "sequential_round_s": sequential_s, "concurrent_round_s": concurrent_s,
            "concurrent_speedup": sequential_s / concurrent_s}


def cache_rerun(server: FakeOpenAIServer) -> dict[str, float]:
    from dilemmazoo.experiments.config import validate
    from dilemmazoo.experiments.runner import execute

    config = validate({
        "name": "cache_bench", "world": {"id": "donor-game", "kwargs": {"n_agents": 6, "n_rounds": 6}},
        "agents": {"kind": "llm", "backend": "openai:fake-model", "decision": "generate",
                   "backend_options": {"base_url": server.url, "concurrency": 16}},
        "population": {"dynamics": "cultural_evolution", "generations": 2}, "episodes_per_generation": 2,
    })
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        first = execute(config, out, progress=False)
        first_s = time.perf_counter() - start
        shutil.rmtree(first.run_dir)  # the records go; the cache stays
        before = len(server.completions)
        start = time.perf_counter()
        second = execute(config, out, progress=False)
        rerun_s = time.perf_counter() - start
        calls = len(server.completions) - before
        assert second.steps.equals(first.steps)
    return {"cache_first_run_s": first_s, "cache_rerun_s": rerun_s, "cache_rerun_backend_calls": calls,
            "cache_rerun_speedup": first_s / rerun_s}


def measure(max_tokens: int) -> dict[str, float]:
    """Every figure of the module docstring."""
    figures: dict[str, float] = {}
    figures.update(embedded_round(max_tokens))
    figures.update(demo_round())
    with FakeOpenAIServer(answer="My strategy will be fair. Answer: 1", latency_ms=300) as server:
        figures.update(concurrent_round(server))
        figures.update(cache_rerun(server))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--max-tokens", type=int, default=100, help="tokens per embedded answer (default 100)")
    args = parser.parse_args()
    figures = profiled(args, measure, args.max_tokens)
    goals = {"embedded_batched_speedup": ">= 10", "prefix_reuse_speedup": ">= 2", "concurrent_round_s": "<= 1",
             "cache_rerun_backend_calls": "== 0", "cache_rerun_speedup": ">= 100"}
    emit(figures, args, digits=2, json_digits=4, goals=goals)


if __name__ == "__main__":
    main()
