"""Tax world at population scale (``dilemmazoo/tax-world-v0``): what one work step costs.

    python benchmarks/tax_world.py                 # readable table, goals beside the figures
    python benchmarks/tax_world.py --json          # ... and one JSON object of the figures, last line
    python benchmarks/tax_world.py --skip-embedded --rational-workers 1000 --api-workers 100   # quick
    python benchmarks/tax_world.py --profile       # ... and where the time goes (cProfile, to stderr)

The world is Karten et al.'s LLM Economist tax economy (arXiv 2507.15815; the labour-utility
model of Zheng et al., "The AI Economist"): N workers choose weekly hours on the grid 0, 10, ...,
100 under a three-bracket schedule, the revenue comes back as a lump sum. Three figures, each
with its goal (issue 17):

(a) ``rational_step_10k_ms`` (goal <= 20): one work step for 10,000 rational workers, array
    code only: the best response of every worker on the world's hours grid
    (:func:`dilemmazoo.envs.tax.rational_hours`, one array operation, no Python loop per worker)
    plus the world's array core (:meth:`dilemmazoo.envs.tax_world.TaxCore.step`: taxes, lump
    sum, utilities, both SWFs, Gini). Median of ``--repeats`` runs. Shown beside it, for
    honesty, what the layers around the arrays cost at the same size: ``env_step_10k_ms`` (the
    full PettingZoo ``ParallelEnv.step`` with a dict of 10,000 actions, which builds 10,000
    observation and info dicts) and ``strategy_act_many_10k_ms`` (the ``tax_rational``
    strategy's batched ``act_many`` on 10,000 prepared requests: one vectorized
    ``rational_hours`` call, then one :class:`~dilemmazoo.agents.base.Action` object per worker).
(b) ``embedded_100_batched_speedup`` (goal >= 5): one work step of 100 embedded-model workers
    (SmolLM2-135M, CPU, bf16 where the CPU has it: ``dtype=auto``), in the middle of an
    episode (after one step of rational hours, so each prompt holds the worker's last step).
    Each prompt is the ordinary agent prompt (:meth:`dilemmazoo.agents.llm.LLMPolicy.chat_for`:
    the world's rules as the system message, ``describe()`` and the hours ``action_spec``
    instruction as the user message), with the assistant reply prefilled with ``Answer:`` so
    that a few greedy tokens hold the hours (``--max-tokens``, default 4); every answer is
    parsed by the world's spec and the parsed count is reported. All 100 chats in ONE
    ``backend.generate`` call (one forward batch: ``--max-batch-size``/``--max-batch-tokens``
    are raised above the backend's defaults of 32 rows / 32,768 tokens, which would split it)
    against one call per worker. ``--sequential-sample K`` times K of the workers one by one
    (spread over the 100) and scales to 100; the default times all 100. ``--threads`` (default
    1) sets torch's intra-op threads: on this shared 2-core machine two threads spin against
    other processes (measured: one call 0.43 s with one thread, 0.7 to 13 s with two).
    The reported ``embedded_shared_prefix_tokens`` is the beginning all 100 prompts share (the
    world's rules, the step's rates and averages, the answer format); the backend runs it once
    and, on a CPU, holds it once: every row attends to it as one block (shared-prefix attention,
    :mod:`dilemmazoo.agents.backends.shared_prefix`) instead of carrying its own copy in its
    cache. The rest of each prompt (the worker's skill and last step, a short reminder of the
    format, the template's turn markers: about 70 of 470 tokens) is run per row. On a CPU the
    prompt pass is compute-bound (about as many tokens per second in a batch as alone), so the
    speedup is bounded by about ``prompt tokens / own tokens``; the world's worker prompt is laid
    out for it (shared lines first, own lines last). Measured on this 2-core machine: 3.8x when
    the prefix was copied into every row (the copies and the attention over them cost more than
    the tails), 4.6x with the answer format moved into the shared lines, 6.9x with
    shared-prefix attention. Batching pays most in decoding, where one row per forward pass
    leaves the CPU idle: see ``--free-answer``.
    Diagnostics, not the acceptance figure, under ``diag_*`` names:
    ``--free-answer TOKENS`` drops the prefill and lets the model write TOKENS tokens, the
    decode-heavy regime where batching pays most; ``--score`` times the step in ``score``
    mode through ``LLMPolicy.act_batch`` (what ``decision: auto`` picks for the hours grid).
(c) ``api_1000_round_s`` (goal <= 8): 1,000 workers answering one step through the ``openai``
    backend (concurrency ``--concurrency``, default 64) against the loopback fake server
    (``tests/fake_openai_server.py``) answering each request after 300 ms: the requests built
    from ``describe()``/``action_spec``, ``LLMPolicy.act_batch`` (the ordinary agent path:
    prompt, request, parse) and the ``env.step`` of the parsed hours. The floor is
    ``ceil(1000 / 64) x 0.3 s = 4.8 s``; ``api_1000_decisions_s`` is the ``act_batch`` alone.
    The server runs in a process of its own (spawned), as any server the backend talks to
    does, so that its request handling does not share this process's GIL with the client.
    ``--server-in-process`` also times it on threads of this process (``api_1000_in_process_*``),
    as ``benchmarks/llm_round.py`` runs it: the client then pays for the server's CPU too.

The keys name the issue's sizes; with other sizes (flags) the sizes used are in the JSON
(``rational_workers``, ``embedded_workers``, ``api_workers``). ``peak_rss_mb`` is the peak resident
memory of this process or its largest finished child (the fake server's process included), MiB.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402

from harness import add_common_args, emit, profiled  # noqa: E402
from dilemmazoo.agents.base import Decision  # noqa: E402
from dilemmazoo.envs import make_world, tax  # noqa: E402

GOALS = {
    "rational_step_10k_ms": "<= 20",
    "embedded_100_batched_speedup": ">= 5",
    "api_1000_round_s": "<= 8",
}


def work_step_world(n_workers: int, seed: int = 0, **kwargs):
    """A tax world of ``n_workers`` whose next step is a work step (the planner seat has held
    the starting rates of 50%), with its observations; no decision point for the rest of it."""
    env = make_world("tax-world", n_workers=n_workers, n_steps=1000, tax_year=1000, **kwargs)
    observations, _ = env.reset(seed=seed)
    if env.has_planner_seat:
        actions = {agent: env.idle_action(agent) for agent in env.agents}  # the planner's idle = all deltas 0
        observations, *_ = env.step(actions)
    if env.deciders() != env.workers:
        raise RuntimeError("the benchmark world should be in a work step here")
    return env, observations


def requests_for(env, observations, *, with_text: bool = True) -> list[Decision]:
    """One :class:`Decision` per worker, as the runner builds them."""
    step = int(env.t)
    return [
        Decision(agent_id=agent, observation=observations[agent], text=env.describe(agent) if with_text else "",
                 spec=env.action_spec(agent), rules=env.rules(agent) if with_text else "", step=step, episode=0)
        for agent in env.deciders()
    ]


def _median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


# ---------------------------------------------------------------------------------------------
# (a) rational workers, array code
# ---------------------------------------------------------------------------------------------


def rational_step(n_workers: int, repeats: int) -> dict[str, float]:
    from dilemmazoo.agents.tax_strategies import RationalTaxWorker

    env, observations = work_step_world(n_workers)
    core, grid = env.core, tuple(env.hours_grid)

    def array_step():  # what a population of rational workers costs the world per step
        hours = tax.rational_hours(core.skills, core.edges, core.rates, grid=grid, c=core.labour_cost,
                                   delta=core.labour_exponent, max_hours=core.max_hours, top_edge=core.top_edge)
        return core.step(hours)

    array_step()  # warm-up
    step_ms = _median_ms(array_step, repeats)
    best_response_ms = _median_ms(
        lambda: tax.rational_hours(core.skills, core.edges, core.rates, grid=grid), repeats)
    hours = np.asarray(tax.rational_hours(core.skills, core.edges, core.rates, grid=grid))
    core_ms = _median_ms(lambda: core.step(hours), repeats)

    # the tax_rational strategy's batch path on prepared requests (no prompt text: it reads none)
    requests = requests_for(env, observations, with_text=False)
    agents = [RationalTaxWorker() for _ in requests]
    actions = RationalTaxWorker.act_many(agents, requests)
    strategy_ms = _median_ms(lambda: RationalTaxWorker.act_many(agents, requests), max(1, repeats // 2))
    chosen = [float(np.asarray(a.value["hours"] if isinstance(a.value, dict) else a.value).reshape(-1)[0])
              for a in actions]
    if not np.allclose(chosen, hours):
        raise RuntimeError("the strategy's batch path and rational_hours disagree")

    # the whole ParallelEnv step with a dict of actions (observation and info dicts per agent)
    step_actions = {agent: action.value for agent, action in zip(env.workers, actions)}
    if env.has_planner_seat:
        step_actions["planner"] = env.idle_action("planner")
    env.step(step_actions)  # warm-up
    env_ms = _median_ms(lambda: env.step(step_actions), repeats)
    return {
        "rational_step_10k_ms": step_ms,
        "rational_best_response_10k_ms": best_response_ms,
        "rational_core_step_10k_ms": core_ms,
        "strategy_act_many_10k_ms": strategy_ms,
        "env_step_10k_ms": env_ms,
    }


# ---------------------------------------------------------------------------------------------
# (b) embedded model: one batched call against one call per worker
# ---------------------------------------------------------------------------------------------


def _forward_batches(lengths: list[int], extra: int, max_rows: int, max_tokens: int) -> int:
    """How many forward batches the hf backend splits one generate call into (its documented
    limits: at most ``max_rows`` rows and ``max_tokens`` padded tokens, prompts by length)."""
    batches, rows = 1, 0
    for length in sorted(lengths):
        if rows and (rows + 1 > max_rows or (rows + 1) * (length + extra) > max_tokens):
            batches, rows = batches + 1, 0
        rows += 1
    return batches


def after_one_step(n_workers: int):
    """A world of ``n_workers`` after one work step of rational hours (so every worker's prompt
    holds its last step, as in the middle of an episode), with its observations."""
    env, _ = work_step_world(n_workers)
    core = env.core
    hours = tax.rational_hours(core.skills, core.edges, core.rates, grid=tuple(env.hours_grid))
    actions = {agent: {"hours": np.array([h])} for agent, h in zip(env.workers, hours)}
    if env.has_planner_seat:
        actions["planner"] = env.idle_action("planner")
    observations, *_ = env.step(actions)
    return env, observations


def embedded_step(n_workers: int, sample: int, max_tokens: int, dtype: str, max_batch_size: int,
                  max_batch_tokens: int, threads: int, *, free: bool = False) -> tuple[dict[str, float], dict[str, str]]:
    import torch

    from dilemmazoo.agents.backends import make_backend
    from dilemmazoo.agents.backends.base import GenerationParams
    from dilemmazoo.agents.llm import LLMPolicy

    env, observations = after_one_step(n_workers)
    requests = requests_for(env, observations)
    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    backend = make_backend("embedded", dtype=dtype, max_batch_size=max_batch_size, max_batch_tokens=max_batch_tokens)
    load_s = time.perf_counter() - start
    policy = LLMPolicy(backend, decision="generate", temperature=0.0, max_tokens=max_tokens, max_retries=0)
    lead = "" if free else "Answer:"  # free: the model writes its whole reply, as LLMPolicy asks it to
    prefill = [] if free else [{"role": "assistant", "content": lead}]
    chats = [policy.chat_for(request) + prefill for request in requests]
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=0)
    shared_tokens = len(os.path.commonprefix([backend.prompt_ids(chat) for chat in chats]))

    def parsed(completions, indices) -> int:
        ok = 0
        for i, completion in zip(indices, completions):
            try:
                requests[i].spec.parse(lead + completion.text)
                ok += 1
            except ValueError:  # ActionParseError is a ValueError
                pass
        return ok

    backend.generate(chats[:2], params=params)  # warm-up
    start = time.perf_counter()
    batched = backend.generate(chats, params=params)
    batched_s = time.perf_counter() - start
    forward_batches = _forward_batches([c.prompt_tokens for c in batched], max_tokens, max_batch_size, max_batch_tokens)

    sample = min(max(sample, 1), n_workers)
    indices = [round(k * n_workers / sample) for k in range(sample)]
    one_by_one = []
    start = time.perf_counter()
    for i in indices:
        one_by_one += backend.generate([chats[i]], params=params)
    sampled_s = time.perf_counter() - start
    sequential_s = sampled_s * n_workers / sample
    figures = {
        "embedded_100_batched_s": batched_s,
        "embedded_100_sequential_s": sequential_s,
        "embedded_100_batched_speedup": sequential_s / batched_s,
        "embedded_sequential_per_call_s": sampled_s / sample,
        "embedded_sequential_measured_calls": sample,
        "embedded_batched_forward_batches": forward_batches,
        "embedded_prompt_tokens_mean": statistics.fmean(c.prompt_tokens for c in batched),
        "embedded_shared_prefix_tokens": shared_tokens,
        "embedded_batched_tokens": sum(c.completion_tokens for c in batched),
        "embedded_sequential_tokens_sample": sum(c.completion_tokens for c in one_by_one),
        "embedded_batched_parsed": parsed(batched, range(n_workers)),
        "embedded_sequential_parsed_sample": parsed(one_by_one, indices),
        "embedded_model_load_s": load_s,
    }
    if free:  # a diagnostic, under its own names
        name = f"diag_free_{max_tokens}tok_"
        figures = {key.replace("embedded_", name): value for key, value in figures.items()
                   if key != "embedded_model_load_s"}
    return figures, {"embedded_dtype": str(backend.dtype).removeprefix("torch."),
                     "embedded_device": str(backend.device), "embedded_threads": torch.get_num_threads()}


def embedded_score_step(n_workers: int, sample: int, dtype: str, max_batch_size: int, max_batch_tokens: int,
                        threads: int) -> dict[str, float]:
    """DIAGNOSTIC (``--score``): the same step through ``LLMPolicy.act_batch`` in ``score`` mode,
    what ``decision: auto`` picks for the hours grid (a Choice of 11 options) and what the tax
    presets' LLM workers use: all 100 requests in one ``act_batch`` against one per worker."""
    import torch

    from dilemmazoo.agents.backends import make_backend
    from dilemmazoo.agents.llm import LLMPolicy

    env, observations = after_one_step(n_workers)
    requests = requests_for(env, observations)
    if threads:
        torch.set_num_threads(threads)
    backend = make_backend("embedded", dtype=dtype, max_batch_size=max_batch_size, max_batch_tokens=max_batch_tokens)
    policy = LLMPolicy(backend, decision="score", temperature=0.0, max_retries=0)
    policy.act_batch(requests[:2])  # warm-up
    start = time.perf_counter()
    batched = policy.act_batch(requests)
    batched_s = time.perf_counter() - start
    sample = min(max(sample, 1), n_workers)
    indices = [round(k * n_workers / sample) for k in range(sample)]
    start = time.perf_counter()
    for i in indices:
        policy.act_batch([requests[i]])
    sampled_s = time.perf_counter() - start
    sequential_s = sampled_s * n_workers / sample
    return {
        "diag_score_100_batched_s": batched_s,
        "diag_score_100_sequential_s": sequential_s,
        "diag_score_100_batched_speedup": sequential_s / batched_s,
        "diag_score_sequential_measured_calls": sample,
        "diag_score_options_per_decision": len(requests[0].spec.options() or ()),
        "diag_score_batched_fallbacks": sum(a.fallback_used for a in batched),
    }


# ---------------------------------------------------------------------------------------------
# (c) an API model through the openai backend against the loopback server
# ---------------------------------------------------------------------------------------------


API_ANSWER = "I will work 40 hours.\nAnswer: 40"


def _serve(connection, latency_ms: float) -> None:
    """The fake server in a process of its own (the default of (c)): it answers ``url`` first,
    then ``reset`` (forget requests) and ``stop`` (answer the request count and in-flight peak)."""
    from fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer(answer=API_ANSWER, latency_ms=latency_ms, lifetime_s=600.0) as server:
        connection.send(server.url)
        while (message := connection.recv()) != "stop":
            if message == "reset":
                server.reset()
            connection.send(None)
        connection.send((len(server.completions), server.max_in_flight))


@contextlib.contextmanager
def fake_server(latency_ms: float, in_process: bool):
    """``(url, reset, counts)`` of a loopback fake OpenAI server, in this process or another."""
    if in_process:
        from fake_openai_server import FakeOpenAIServer

        with FakeOpenAIServer(answer=API_ANSWER, latency_ms=latency_ms) as server:
            yield server.url, server.reset, lambda: (len(server.completions), server.max_in_flight)
        return
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    process = context.Process(target=_serve, args=(there, latency_ms), daemon=True)
    process.start()
    counts: list[tuple[int, int]] = []

    def reset() -> None:
        here.send("reset")
        here.recv()

    def stop() -> tuple[int, int]:
        if not counts:
            here.send("stop")
            counts.append(here.recv())
        return counts[0]

    try:
        if not here.poll(120):
            raise RuntimeError("the fake server process did not start within 120 s")
        yield here.recv(), reset, stop
    finally:
        if process.is_alive():
            try:
                stop()
            except (BrokenPipeError, EOFError, OSError):
                pass
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()  # our own child, by its handle
            process.join(timeout=5)


def api_step(n_workers: int, concurrency: int, latency_ms: float, *, in_process: bool = False) -> dict[str, float]:
    from dilemmazoo.agents.backends import make_backend
    from dilemmazoo.agents.llm import LLMPolicy

    env, observations = work_step_world(n_workers)
    name = "api_1000_in_process_" if in_process else "api_1000_"
    with fake_server(latency_ms, in_process) as (url, reset, counts):
        backend = make_backend("openai:fake-model", base_url=url, concurrency=concurrency)
        try:
            policy = LLMPolicy(backend, decision="generate", temperature=0.0, max_tokens=16, max_retries=0)
            policy.act_batch(requests_for(env, observations)[:concurrency])  # warm-up: the connection pool
            reset()
            start = time.perf_counter()
            requests = requests_for(env, observations)
            decided = time.perf_counter()
            actions = policy.act_batch(requests)
            answered = time.perf_counter()
            step_actions = {r.agent_id: a.value for r, a in zip(requests, actions)}
            if env.has_planner_seat:
                step_actions["planner"] = env.idle_action("planner")
            env.step(step_actions)
            round_s = time.perf_counter() - start
        finally:
            backend.close()
        calls, peak = counts()
    figures = {
        f"{name}round_s": round_s,
        f"{name}decisions_s": answered - decided,
        f"{name}requests": calls,
        f"{name}peak_in_flight": peak,
        f"{name}fallbacks": sum(a.fallback_used for a in actions),
    }
    if not in_process:
        figures["api_1000_floor_s"] = math.ceil(n_workers / concurrency) * latency_ms / 1000
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--rational-workers", type=int, default=10_000, help="workers of (a) (default 10000)")
    parser.add_argument("--repeats", type=int, default=9, help="repeats of each timing in (a), median (default 9)")
    parser.add_argument("--embedded-workers", type=int, default=100, help="workers of (b) (default 100)")
    parser.add_argument("--sequential-sample", type=int, default=100,
                        help="workers timed one call each in (b), scaled to all (default 100: all of them)")
    parser.add_argument("--max-tokens", type=int, default=4, help="tokens per embedded answer (default 4)")
    parser.add_argument("--dtype", default="auto",
                        help="embedded model dtype (default auto: bf16 where the CPU has it)")
    parser.add_argument("--max-batch-size", type=int, default=128, help="embedded rows per forward batch (default 128)")
    parser.add_argument("--max-batch-tokens", type=int, default=65_536,
                        help="embedded padded tokens per forward batch (default 65536: 100 workers in one batch)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for (b) (default 1; 0 leaves torch's default, see the docstring)")
    parser.add_argument("--score", action="store_true",
                        help="also time (b) in score mode through LLMPolicy.act_batch (diagnostic)")
    parser.add_argument("--free-answer", type=int, default=0, metavar="TOKENS",
                        help="also time (b) with no prefilled 'Answer:', TOKENS tokens per reply (diagnostic)")
    parser.add_argument("--api-workers", type=int, default=1000, help="workers of (c) (default 1000)")
    parser.add_argument("--concurrency", type=int, default=64, help="openai backend concurrency in (c) (default 64)")
    parser.add_argument("--latency-ms", type=float, default=300.0, help="fake server latency in (c) (default 300)")
    parser.add_argument("--server-in-process", action="store_true",
                        help="also time (c) with the fake server on threads of this process (it then shares the GIL)")
    parser.add_argument("--skip-rational", action="store_true", help="skip (a)")
    parser.add_argument("--skip-embedded", action="store_true", help="skip (b), the slow part")
    parser.add_argument("--skip-api", action="store_true", help="skip (c)")
    args = parser.parse_args()
    if args.threads < 0:
        parser.error("--threads must be >= 0")
    for name in ("rational_workers", "repeats", "embedded_workers", "sequential_sample", "max_tokens",
                 "max_batch_size", "max_batch_tokens", "api_workers", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    figures, extra = profiled(args, measure, args)
    print(f"cpus: {os.cpu_count()}, load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    emit(figures, args, digits=None, json_digits=3, goals=GOALS, extra=extra)


def measure(args: argparse.Namespace) -> tuple[dict[str, float], dict[str, object]]:
    """Every figure of the table by the flags in ``args``, and the sizes used (the JSON's extra keys)."""
    figures: dict[str, float] = {}
    extra: dict[str, object] = {}
    if not args.skip_rational:
        figures.update(rational_step(args.rational_workers, args.repeats))
        extra["rational_workers"] = args.rational_workers
    if not args.skip_embedded:
        sizes = (args.embedded_workers, args.sequential_sample, args.max_tokens, args.dtype, args.max_batch_size,
                 args.max_batch_tokens, args.threads)
        found, described = embedded_step(*sizes)
        figures.update(found)
        extra.update(described, embedded_workers=args.embedded_workers)
        if args.score:
            figures.update(embedded_score_step(args.embedded_workers, args.sequential_sample, args.dtype,
                                               args.max_batch_size, args.max_batch_tokens, args.threads))
        if args.free_answer:
            free_sizes = (*sizes[:2], args.free_answer, *sizes[3:])
            figures.update(embedded_step(*free_sizes, free=True)[0])
    if not args.skip_api:
        figures.update(api_step(args.api_workers, args.concurrency, args.latency_ms))
        if args.server_in_process:
            figures.update(api_step(args.api_workers, args.concurrency, args.latency_ms, in_process=True))
        extra.update(api_workers=args.api_workers, api_concurrency=args.concurrency)
    return figures, extra


if __name__ == "__main__":
    main()
