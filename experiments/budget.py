"""What a grid will cost before it runs (:func:`estimate`), and budgets that stop it (:class:`Budget`).

Estimate
--------
``dilemmazoo run X --estimate`` prints, before anything runs or is written, per backend spec of
the grid: the runs it plays in, the model calls, the prompt and completion tokens, and the cost
where a price is known. How it counts:

- **Calls and prompts.** Every run of the grid (each grid cell and seed) is played to the end by
  the runner's own :class:`~dilemmazoo.experiments.runner.RunPlay` with a stand-in backend that
  costs nothing: it answers every decision with a valid answer (the world's declared fallback
  action where an answer gives it, else the first answer the decision's spec accepts), every
  strategy or persona request with a sentence, and returns for each score request the option of
  the fallback. So the calls are the calls the run's policies make (one per decision and, in
  ``score`` mode, one per scored decision; strategies and personas written by the model), and the
  prompts are the chats the policies build, memory lines included. Worlds whose course depends
  on the moves (a commons that runs out early) are played at those answers; real runs may differ,
  as with ``run --check``'s estimate (:func:`dilemmazoo.experiments.checks.plan`).
- **Prompt tokens** are the rate limiter's estimate of each chat
  (:func:`~dilemmazoo.agents.backends.limits.estimate_tokens` with no completion: 4 characters a
  token plus 4 tokens of framing a message, on the high side for English text).
- **Completion tokens** are the upper bound: ``max_tokens`` for every generated answer (the
  options' tokens, by the same estimate, for a scored decision).
- **Retries** after unparseable answers are not in ``calls`` (a run whose answers all parse makes
  exactly these calls); ``calls_at_most`` adds ``max_retries`` retries for every generated decision.
  Transport retries (429, 5xx) and cache hits are not counted: a cached call costs nothing.
- **Cost** = prompt tokens x prompt price + completion tokens x completion price, per backend:
  ``litellm:MODEL`` at ``backend_options.input_cost_per_token``/``output_cost_per_token`` when
  given, else LiteLLM's bundled cost map (``litellm.cost_per_token``, read offline:
  ``LITELLM_LOCAL_MODEL_COST_MAP``; long-context price tiers are not applied); ``openai:MODEL`` at
  ``backend_options.price_per_1k_tokens: [prompt, completion]`` (USD per 1000 tokens, what the
  backend records), else, for OpenAI itself (no ``base_url``), the cost map's price; ``scripted:``
  costs 0. Local models (``embedded``, ``hf:``), servers without a price and models the map does
  not know get ``None`` and a note saying why.
- Synthesized groups (the model writes Python code) are counted as :func:`~.checks.plan` counts
  them; their tokens are not estimated.

Budget
------
:class:`Budget` caps a grid's **recorded** spending: the model calls (cache hits are not calls)
and the USD cost in the ``llm_calls.parquet`` of the grid's finished runs, including runs finished
by earlier commands (:meth:`Budget.count_finished`), plus what this command's runs spend as they
go (every backend of a run is wrapped by :meth:`Budget.guard`). So ``--budget-usd 5`` means "this
grid's records may cost at most about $5", and resuming needs a budget above what is already
spent. A run stopped by the budget is not finished: its records are discarded and it is redone
on resume, so its spending before the stop is not counted again by a later command (it was paid).

:meth:`Budget.guard` raises :class:`BudgetExceeded` **before** a backend call whose chats would
take the calls past ``max_calls`` (a batch of n chats is n calls; the limit is never passed), and
**after** the call whose cost reaches ``usd`` (a price is known only once the answer's tokens
are). With runs in parallel, each in-flight call may still complete after the limit is reached.
Within one process the counters are shared by every guard of the budget; across worker
processes they live in a ``ledger`` file updated under an exclusive ``flock`` (POSIX).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dilemmazoo.agents.backends.base import Backend, Chat, Completion, GenerationParams, OptionScores
from dilemmazoo.agents.backends.limits import estimate_tokens
from dilemmazoo.envs.base import ActionParseError, ActionSpec, Amount, Choice, Message, format_number
from dilemmazoo.experiments import store
from dilemmazoo.experiments.checks import check_experiment, plan
from dilemmazoo.experiments.config import AgentsConfig, ExperimentConfig, expand_grid, run_id
from dilemmazoo.experiments.runner import RunFailed, RunPlay

__all__ = [
    "Budget",
    "BudgetExceeded",
    "BudgetedBackend",
    "Estimate",
    "EstimateRow",
    "estimate",
    "price_per_token",
    "resume_command",
    "run_spending",
]


# -- estimate -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class EstimateRow:
    """One backend spec of a grid: what its runs should take.

    ``runs``: runs it plays in; ``calls``: model calls when every answer parses;
    ``prompt_tokens``/``completion_tokens``: estimated tokens (completion: the ``max_tokens`` upper
    bound), ``None`` where not estimated; ``cost_usd``: ``None`` where no price is known (``note``
    says why); ``calls_at_most``: ``calls`` plus every retry an unparseable answer may cause.
    """

    backend: str
    runs: int
    calls: int
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    note: str = ""
    calls_at_most: int = 0


@dataclass(frozen=True)
class Estimate:
    """A grid's expected model calls, tokens and cost per backend (see the module docstring)."""

    name: str
    runs: int
    rows: tuple[EstimateRow, ...]
    notes: tuple[str, ...] = ()

    @property
    def calls(self) -> int:
        return sum(row.calls for row in self.rows)

    @property
    def cost_usd(self) -> float | None:
        """The priced backends' cost together (``None`` when no backend has a price)."""
        known = [row.cost_usd for row in self.rows if row.cost_usd is not None]
        return sum(known) if known else None

    def text(self) -> str:
        """The estimate as a plain-text table, with its notes."""
        header = ("backend", "runs", "calls", "calls at most", "prompt tokens", "completion tokens", "cost (USD)")
        body = [(row.backend, str(row.runs), str(row.calls), str(row.calls_at_most), _count_text(row.prompt_tokens),
                 _count_text(row.completion_tokens), _usd_text(row.cost_usd)) for row in self.rows]
        lines = [f"{self.name}: {self.runs} run(s); estimated model calls, tokens and cost (nothing was run or written)"]
        if not body:
            lines.append("no language-model agents: no model calls")
        else:
            widths = [max(len(cells[i]) for cells in (header, *body)) for i in range(len(header))]

            def line(cells: Sequence[str]) -> str:
                return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

            lines += [line(header), line(["-" * w for w in widths]), *(line(cells) for cells in body)]
            total = self.cost_usd
            lines.append(f"total: {self.calls} call(s); cost {_usd_text(total)}"
                         + (" (priced backends only)" if total is not None and any(r.cost_usd is None for r in self.rows)
                            else ""))
            lines += [f"note: {row.backend}: {row.note}" for row in self.rows if row.note]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "runs": self.runs, "calls": self.calls, "cost_usd": self.cost_usd,
                "rows": [asdict(row) for row in self.rows], "notes": list(self.notes)}

    def __str__(self) -> str:
        return self.text()


def _count_text(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _usd_text(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:.4f}" if value < 100 else f"${value:,.2f}"


_HOW = ("calls assume every answer parses (calls at most: with every retry); completion tokens are the max_tokens "
        "upper bound; prompt tokens are 4 characters a token plus 4 a message; cache hits would cost nothing; each "
        "run is played with stand-in answers (the world's fallback moves), so a world whose length depends on the "
        "moves may differ.")


def estimate(config: ExperimentConfig) -> Estimate:
    """The model calls, tokens and cost of every run of ``config``, per backend spec, before anything runs.

    The config is checked first (:func:`~dilemmazoo.experiments.checks.check_experiment`; a bad one
    raises :class:`~dilemmazoo.experiments.config.ConfigError`). Nothing is written, no backend is
    built and no model is asked: see the module docstring for what is counted and assumed.
    """
    check_experiment(config)
    runs = expand_grid(config)
    totals: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    synthesized_plan = None
    for run in runs:
        if run.study is not None:
            continue
        groups = run.groups
        if any(g.kind == "synthesized" for g in groups):
            if synthesized_plan is None:
                synthesized_plan = {json.dumps(c.values, sort_keys=True): c for c in plan(config).cells}
            cell = synthesized_plan[json.dumps(dict(run.cell), sort_keys=True)]
            usage = {index: _Usage(calls=cell.calls_per_run, tokens_known=False)
                     for index, g in enumerate(groups) if g.kind == "synthesized"}
        else:
            usage = _dry_run_usage(run)
        for index, used in usage.items():
            group = groups[index]
            price, price_note = price_per_token(group)
            entry = totals.setdefault(group.backend, {"runs": set(), "calls": 0, "most": 0, "prompt": 0,
                                                      "completion": 0, "tokens_known": True, "cost": 0.0,
                                                      "priced": True, "notes": []})
            entry["runs"].add(id(run))
            entry["calls"] += used.calls
            entry["most"] += used.calls + used.retries_at_most
            entry["prompt"] += used.prompt_tokens
            entry["completion"] += used.completion_tokens
            entry["tokens_known"] &= used.tokens_known
            if price is None or not used.tokens_known:
                entry["priced"] = False
            else:
                entry["cost"] += used.prompt_tokens * price[0] + used.completion_tokens * price[1]
            for note in (price_note, used.note):
                if note and note not in entry["notes"]:
                    entry["notes"].append(note)
    rows = []
    for backend, entry in totals.items():
        known = entry["tokens_known"]
        rows.append(EstimateRow(
            backend=backend, runs=len(entry["runs"]), calls=entry["calls"],
            prompt_tokens=entry["prompt"] if known else None, completion_tokens=entry["completion"] if known else None,
            cost_usd=entry["cost"] if entry["priced"] else None, note="; ".join(entry["notes"]),
            calls_at_most=entry["most"]))
    if rows:
        notes.append(_HOW)
    return Estimate(name=config.name, runs=len(runs), rows=tuple(rows), notes=tuple(notes))


@dataclass
class _Usage:
    calls: int = 0
    retries_at_most: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_known: bool = True
    note: str = ""


def _dry_run_usage(run: ExperimentConfig) -> dict[int, _Usage]:
    """Play one run with the stand-in backend; group index -> what its calls took."""
    from dilemmazoo.agents.backends import backend_info

    groups = run.groups
    model_groups = [i for i, g in enumerate(groups) if g.kind == "llm"]
    if not model_groups:
        return {}
    # decision 'auto' scores a choice only where the backend can; the stand-in can, so a group whose
    # backend cannot is told to generate, which is what 'auto' does with it
    played = [g.model_copy(update={"decision": "generate"})
              if g.kind == "llm" and g.decision == "auto" and not backend_info(g.backend).can_score else g
              for g in groups]
    run = run.model_copy(update={"agents": played if isinstance(run.agents, list) else played[0]})
    stand_in = _StandIn(prefill=_can_prefill(groups[model_groups[0]]))
    play = RunPlay(run, Path(os.devnull), backend=stand_in)
    play.world = _SpecRecorder(play.world, stand_in)
    try:
        for _ in play.events():
            stand_in.forget()
    finally:
        play.close()
    group_of = {seat: i for i, s in enumerate(play.seatings) for seat in s.seats}  # seatings follow the groups
    usage = {i: _Usage() for i in model_groups}
    for call in play.recorder.calls:
        index = group_of.get(call["agent"], model_groups[0])  # strategies ("" or a member name): the one group
        used = usage.setdefault(index, _Usage())
        if call["purpose"] == "retry":  # the estimate assumes answers parse; retries are in calls_at_most
            continue
        used.calls += 1
        used.prompt_tokens += int(call["prompt_tokens"])
        used.completion_tokens += int(call["completion_tokens"])
        if call["purpose"] == "act":
            used.retries_at_most += groups[index].max_retries
    return usage


def _can_prefill(group: AgentsConfig) -> bool:
    """Whether the group's backend continues a prefilled reply (the local models; ``scripted`` when told)."""
    prefix = group.backend.partition(":")[0]
    return prefix in ("embedded", "hf") or (prefix == "scripted" and bool(group.backend_options.get("prefill")))


#: words put before a stand-in answer, so that the memory line a real answer leaves (its last 80
#: characters) is as long; no move word (envs.base.MOVE_WORDS), and the answer is checked with them
_LEAD_IN = "I have weighed what happened so far and what each option would mean for everyone here.\n"
#: the stand-in's answer to a request that is not a decision (a strategy, a persona)
_FREE_TEXT = "My strategy will be to weigh what each option means for everyone here and to answer as asked."


class _StandIn(Backend):
    """A backend that answers without a model (see the module docstring); nothing is paid."""

    name = "stand-in"
    can_score = True

    def __init__(self, *, prefill: bool):
        self.can_prefill = prefill
        self.specs: dict[str, list[ActionSpec]] = {}  # instruction -> the specs asked with it this step

    def remember(self, spec: ActionSpec) -> None:
        kept = self.specs.setdefault(spec.instruction, [])
        if not any(spec is other for other in kept):  # specs may hold arrays: compared by identity
            kept.append(spec)

    def forget(self) -> None:
        self.specs.clear()

    def _specs_for(self, chat: Chat) -> list[ActionSpec]:
        text = str(chat[-1].get("content") or "") if chat else ""
        matches = [instruction for instruction in self.specs if instruction and text.endswith(instruction)]
        return self.specs[max(matches, key=len)] if matches else []

    def answer(self, chat: Chat) -> str:
        specs = self._specs_for(chat)
        if not specs:
            return _FREE_TEXT
        for candidate in _candidates(specs[0]):
            for text in (_LEAD_IN + candidate, candidate):
                if all(_parses(spec, text) for spec in specs):
                    return text
        return _FREE_TEXT  # no answer found: the policy retries and falls back (retries are not counted)

    def generate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        return [Completion(text=self.answer(chat), prompt_tokens=estimate_tokens(chat, 0),
                           completion_tokens=params.max_tokens) for chat in chats]

    def score(self, chats: list[Chat], options: list[list[str]]) -> list[OptionScores]:
        rows = []
        for chat, opts in zip(chats, options):
            pick = self._option_of_fallback(opts)
            rows.append(OptionScores([0.0 if k == pick else float("-inf") for k in range(len(opts))],
                                     prompt_tokens=estimate_tokens(chat, 0),
                                     option_tokens=sum(estimate_tokens([{"content": o}], 0) for o in opts)))
        return rows

    def _option_of_fallback(self, options: list[str]) -> int:
        for specs in self.specs.values():
            for spec in specs:
                if spec.options() == options and isinstance(spec, Choice):
                    for index, action in enumerate(spec.actions):
                        if _same(action, spec.fallback):
                            return index
        return 0


def _candidates(spec: ActionSpec) -> list[str]:
    """Answers to try for ``spec``, the ones giving its fallback action first."""
    if isinstance(spec, Choice):
        labels = list(spec.labels)
        first = [label for label, action in zip(labels, spec.actions) if _same(action, spec.fallback)]
        return [f"Answer: {label}" for label in first + [lb for lb in labels if lb not in first]]
    if isinstance(spec, Amount):
        values = [*_numbers_in(spec.fallback), spec.low, spec.high, math.floor(spec.high), math.ceil(spec.low),
                  (spec.low + spec.high) / 2]
        numbers = list(dict.fromkeys(format_number(v) for v in values if spec.low <= v <= spec.high))
        if not spec.moves:
            texts = [f"Answer: {n}" for n in numbers]
        else:
            texts = []
            for move in spec.moves:
                texts += [f"Answer: {move}"] if move in spec.moves_without_amount else [f"Answer: {move}, {n}"
                                                                                         for n in numbers]
        gives_fallback = [t for t in texts if _parses_to(spec, t, spec.fallback)]
        return gives_fallback + [t for t in texts if t not in gives_fallback]
    if isinstance(spec, Message):
        return ["Answer: Hello, everyone."]
    found = list(spec.options() or [])
    examples = spec.instruction
    for empty in ("", "Answer:"):  # the parse error of an empty answer often shows an example
        try:
            spec.parse(empty)
        except (ActionParseError, ValueError, TypeError) as error:
            examples += "\n" + str(error)
    found += re.findall(r"Answer:[^\n\"'`]*[^\s\"'`.]", examples)  # examples the instruction or the error give
    return list(dict.fromkeys(found))


def _numbers_in(action: Any) -> list[float]:
    """The numbers an action holds (a number, or one-number arrays and mapping values): the amounts
    an answer may have to name to give it."""
    if isinstance(action, dict):
        return [n for value in action.values() for n in _numbers_in(value)]
    values = np.asarray(action) if isinstance(action, (np.ndarray, list, tuple, np.generic, int, float)) else None
    if values is None or values.size != 1 or not np.issubdtype(values.dtype, np.number):
        return []
    return [float(values.reshape(-1)[0])]


def _same(a: Any, b: Any) -> bool:
    """Whether two actions are equal (mappings, sequences and arrays compared element by element)."""
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        if isinstance(a, (np.ndarray, list, tuple)) or isinstance(b, (np.ndarray, list, tuple)):
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        return bool(a == b)
    except Exception:  # noqa: BLE001 - actions a comparison cannot handle are not the same
        return False


def _parses(spec: ActionSpec, text: str) -> bool:
    try:
        spec.parse(text)
    except (ActionParseError, ValueError, TypeError):
        return False
    return True


def _parses_to(spec: ActionSpec, text: str, action: Any) -> bool:
    try:
        return _same(spec.parse(text), action)
    except (ActionParseError, ValueError, TypeError):
        return False


class _SpecRecorder:
    """The run's world, telling the stand-in each decision's spec as the runner asks for it."""

    def __init__(self, world, stand_in: _StandIn):
        self._world = world
        self._stand_in = stand_in

    def action_spec(self, agent: str) -> ActionSpec:
        spec = self._world.action_spec(agent)
        self._stand_in.remember(spec)
        return spec

    def __getattr__(self, name: str) -> Any:
        return getattr(self._world, name)


# -- prices -------------------------------------------------------------------------------------

#: LiteLLM providers that serve local or self-hosted models (no provider bill)
_LOCAL_PROVIDERS = ("ollama", "ollama_chat", "hosted_vllm", "vllm", "lm_studio", "llamafile", "openai_like")


def price_per_token(group: AgentsConfig) -> tuple[tuple[float, float] | None, str]:
    """``((USD per prompt token, USD per completion token) or None, note)`` for a group's backend.

    See the module docstring for where each backend's price comes from.
    """
    prefix, _, model = group.backend.partition(":")
    options = group.backend_options
    if prefix == "scripted":
        return (0.0, 0.0), ""
    if prefix in ("embedded", "hf"):
        return None, "local model: no per-token price"
    if prefix == "openai":
        given = options.get("price_per_1k_tokens")
        if given is not None:
            prompt, completion = (float(v) for v in given)
            return (prompt / 1000, completion / 1000), "price from backend_options.price_per_1k_tokens"
        if options.get("base_url"):
            return None, ("no price for an OpenAI-compatible server; give backend_options.price_per_1k_tokens: "
                          "[prompt, completion] (USD per 1000 tokens)")
        found = _cost_map_price(model)
        if found is None:
            return None, f"no price for {model!r} in LiteLLM's cost map"
        return found, ("LiteLLM's cost map; the openai backend records no cost without price_per_1k_tokens, so "
                       "--budget-usd cannot count it: give backend_options.price_per_1k_tokens")
    if prefix == "litellm":
        if options.get("input_cost_per_token") is not None or options.get("output_cost_per_token") is not None:
            return ((float(options.get("input_cost_per_token") or 0.0), float(options.get("output_cost_per_token") or 0.0)),
                    "price from backend_options input/output_cost_per_token")
        if model.partition("/")[0] in _LOCAL_PROVIDERS and not _cost_map_price(model):
            return None, "local or self-hosted model: no per-token price"
        found = _cost_map_price(model)
        if found is None:
            return None, f"no price for {model!r} in LiteLLM's cost map; give input_cost_per_token/output_cost_per_token"
        return found, "LiteLLM's cost map"
    return None, f"no price known for {prefix!r} backends"


def _cost_map_price(model: str) -> tuple[float, float] | None:
    """Per-token prices from LiteLLM's bundled cost map, or None (unknown model, no litellm)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read at import: no network
    try:
        import litellm
    except ImportError:
        return None
    litellm.suppress_debug_info = True
    try:
        prompt, _ = litellm.cost_per_token(model=model, prompt_tokens=1000, completion_tokens=0)
        _, completion = litellm.cost_per_token(model=model, prompt_tokens=0, completion_tokens=1000)
    except Exception:  # noqa: BLE001 - LiteLLM raises several kinds for a model it does not know
        return None
    return float(prompt) / 1000, float(completion) / 1000


# -- budget -------------------------------------------------------------------------------------

class BudgetExceeded(RunFailed):
    """A budget was reached: the run in progress stops (it is redone on resume), finished runs are
    kept, and the grid stops. The message says what was reached and how to resume.

    ``reached``: ``"usd"`` or ``"calls"``; ``spent_usd``, ``calls``: the budget's totals then;
    ``usd``, ``max_calls``: its limits; ``suggested_usd``/``suggested_calls``: a larger limit to
    resume with (twice the old one, at least what is spent plus the old one).
    """

    #: the runner stops the whole grid (not just this run) on this failure
    stops_grid = True

    def __init__(self, reached: str, *, spent_usd: float, calls: int, usd: float | None, max_calls: int | None):
        self.reached = reached
        self.spent_usd = spent_usd
        self.calls = calls
        self.usd = usd
        self.max_calls = max_calls
        self.suggested_usd = None if usd is None else _suggest(usd, spent_usd)
        self.suggested_calls = None if max_calls is None else int(_suggest(max_calls, calls))
        if reached == "usd":
            what = f"budget reached: spent ${spent_usd:.4f} of --budget-usd {usd:g}"
            hint = f"--budget-usd {self.suggested_usd:g}"
        else:
            what = f"budget reached: {calls} model call(s) of --max-calls {max_calls}"
            hint = f"--max-calls {self.suggested_calls}"
        super().__init__(f"{what}. Finished runs are kept; the run in progress was stopped and will be redone. "
                         f"To resume, run the same command again with a larger budget, e.g. {hint}")

    def __reduce__(self):  # picklable (a worker process sends it back)
        return (_rebuild_exceeded, (self.reached, self.spent_usd, self.calls, self.usd, self.max_calls))


def _rebuild_exceeded(reached, spent_usd, calls, usd, max_calls) -> BudgetExceeded:
    return BudgetExceeded(reached, spent_usd=spent_usd, calls=calls, usd=usd, max_calls=max_calls)


def _suggest(limit: float, spent: float) -> float:
    larger = max(2 * limit, spent + limit)
    return float(f"{larger:.2g}") if larger < 1 else math.ceil(larger)


def run_spending(run_dir: str | Path) -> tuple[int, float]:
    """``(model calls, USD)`` a run's ``llm_calls.parquet`` records: rows not served by a cache,
    and the sum of ``cost_usd`` (missing costs count 0). A run without the file spent nothing."""
    path = Path(run_dir) / "llm_calls.parquet"
    if not path.exists():
        return 0, 0.0
    calls = pd.read_parquet(path, columns=["cached", "cost_usd"])
    fresh = ~calls["cached"].fillna(False).astype(bool)
    return int(fresh.sum()), float(calls["cost_usd"].fillna(0.0).sum())


class Budget:
    """A grid's limits on model calls and USD, and what is spent so far (module docstring).

    Args:
        usd: the most the grid's records may cost (USD, >= 0); None: no limit.
        max_calls: the most model calls (cache hits are not calls), >= 0; None: no limit.
        ledger: a file holding this command's spending, shared by worker processes (the runner
            makes one per grid); None: kept in this process.

    ``spent_usd`` and ``calls``: the finished runs counted (:meth:`add_run`, :meth:`count_finished`)
    plus the spending through this budget's guards.
    """

    def __init__(self, usd: float | None = None, max_calls: int | None = None, *, ledger: str | Path | None = None):
        if usd is not None and (isinstance(usd, bool) or not isinstance(usd, (int, float)) or not math.isfinite(usd)
                                or usd < 0):
            raise ValueError(f"usd must be a finite number >= 0 (or None), got {usd!r}")
        if max_calls is not None and (isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 0):
            raise ValueError(f"max_calls must be a whole number >= 0 (or None), got {max_calls!r}")
        self.usd = None if usd is None else float(usd)
        self.max_calls = max_calls
        self.ledger = None if ledger is None else Path(ledger)
        self.finished_usd = 0.0
        self.finished_calls = 0
        self._counted: set[str] = set()
        self._new_usd = 0.0
        self._new_calls = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Budget(usd={self.usd}, max_calls={self.max_calls}, spent_usd={self.spent_usd:.6f}, calls={self.calls})"

    @property
    def limited(self) -> bool:
        return self.usd is not None or self.max_calls is not None

    # -- what is spent -------------------------------------------------------------------------
    def _new(self) -> tuple[int, float]:
        if self.ledger is None:
            return self._new_calls, self._new_usd
        return _Ledger(self.ledger).read()

    @property
    def spent_usd(self) -> float:
        return self.finished_usd + self._new()[1]

    @property
    def calls(self) -> int:
        return self.finished_calls + self._new()[0]

    def add_run(self, run_dir: str | Path) -> None:
        """Count a run finished before this command (its ``llm_calls.parquet``); once per folder.

        Runs that this budget's guards watched are counted already: do not add them.
        """
        key = str(Path(run_dir).resolve())
        if key in self._counted:
            return
        calls, usd = run_spending(run_dir)
        self._counted.add(key)
        self.finished_calls += calls
        self.finished_usd += usd

    def count_finished(self, out_root: str | Path, runs: Iterable[ExperimentConfig]) -> int:
        """Add every finished run among ``runs`` (single-run configs) under ``out_root``; returns how many."""
        found = 0
        for run in runs:
            rid = run_id(run)
            run_dir = store.run_dir_for(out_root, run, rid)
            if run_dir is not None and store.inspect_run(run_dir, rid).finished:
                self.add_run(run_dir)
                found += 1
        return found

    # -- limits ----------------------------------------------------------------------------------
    def _exceeded(self, reached: str, new_calls: int, new_usd: float) -> BudgetExceeded:
        # given this command's spending (never read here: the ledger may be locked by the caller)
        return BudgetExceeded(reached, spent_usd=self.finished_usd + new_usd, calls=self.finished_calls + new_calls,
                              usd=self.usd, max_calls=self.max_calls)

    def check(self) -> None:
        """Raise :class:`BudgetExceeded` if a limit is reached already (before a run starts)."""
        new_calls, new_usd = self._new()
        if self.usd is not None and self.finished_usd + new_usd >= self.usd:
            raise self._exceeded("usd", new_calls, new_usd)
        if self.max_calls is not None and self.finished_calls + new_calls >= self.max_calls:
            raise self._exceeded("calls", new_calls, new_usd)

    def reserve(self, calls: int) -> None:
        """Take ``calls`` model calls before they are made; :class:`BudgetExceeded` (and nothing
        taken) when they would pass ``max_calls`` or the USD limit is reached already."""
        def take(new_calls: int, new_usd: float) -> tuple[int, float]:
            if self.usd is not None and self.finished_usd + new_usd >= self.usd:
                raise self._exceeded("usd", new_calls, new_usd)
            if self.max_calls is not None and self.finished_calls + new_calls + calls > self.max_calls:
                raise self._exceeded("calls", new_calls, new_usd)
            return new_calls + calls, new_usd

        self._update(take)

    def settle(self, reserved: int, made: int, usd: float) -> None:
        """After a call: ``made`` of the ``reserved`` calls reached a model (the others were served
        by a cache) and cost ``usd``; :class:`BudgetExceeded` when the USD limit is now reached."""
        def add(new_calls: int, new_usd: float) -> tuple[int, float]:
            return new_calls - reserved + made, new_usd + usd

        new_calls, new_usd = self._update(add)
        if self.usd is not None and usd > 0 and self.finished_usd + new_usd >= self.usd:
            raise self._exceeded("usd", new_calls, new_usd)

    def _update(self, change) -> tuple[int, float]:
        if self.ledger is not None:
            return _Ledger(self.ledger).update(change)
        with self._lock:
            self._new_calls, self._new_usd = change(self._new_calls, self._new_usd)
            return self._new_calls, self._new_usd

    def guard(self, backend: Backend, group: AgentsConfig | None = None) -> BudgetedBackend:
        """``backend`` behind this budget: every call is counted, and stopped at a limit.

        Takes the runner's ``wrap_backend(backend, group)`` arguments, so ``budget.guard`` is a
        :data:`~dilemmazoo.experiments.runner.BackendWrapper` (``group`` is not needed).
        """
        return BudgetedBackend(backend, self)

    def share(self, ledger: str | Path) -> None:
        """Keep this command's spending in the file ``ledger`` from now on (worker processes that
        get a copy of this budget then count together); what was spent so far is carried over."""
        calls, usd = self._new()
        self.ledger = Path(ledger)
        _Ledger(self.ledger).update(lambda _calls, _usd: (calls, usd))


class _Ledger:
    """A JSON file ``{"calls": n, "usd": x}`` read and changed under an exclusive ``flock``."""

    def __init__(self, path: Path):
        self.path = path

    def read(self) -> tuple[int, float]:
        return self.update(lambda calls, usd: (calls, usd))

    def update(self, change) -> tuple[int, float]:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                text = handle.read()
                data = json.loads(text) if text.strip() else {"calls": 0, "usd": 0.0}
                before = (int(data["calls"]), float(data["usd"]))
                after = change(*before)
                if after != before:
                    handle.seek(0)
                    handle.truncate()
                    handle.write(json.dumps({"calls": after[0], "usd": after[1]}))
                    handle.flush()
                return after
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class BudgetedBackend(Backend):
    """A backend whose calls a :class:`Budget` counts and stops (the same contract, wrapped).

    Every chat of a ``generate`` or ``score`` call is one model call, unless the answer says it
    came from a cache (the runner puts the guard around the on-disk cache: a hit is not counted,
    but the chats of a call are reserved against ``max_calls`` before it is known which will be
    hits). The wrapped backend's name, provenance and abilities are this one's, so a cache in
    front of it keys answers as before.
    """

    def __init__(self, inner: Backend, budget: Budget):
        self.inner = inner
        self.budget = budget
        self.name = inner.name
        self.can_score = inner.can_score
        self.can_prefill = inner.can_prefill
        self.order_dependent = inner.order_dependent

    def provenance(self) -> dict:
        return self.inner.provenance()

    def generate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        self.budget.reserve(len(chats))
        try:
            completions = self.inner.generate(chats, params=params)
        except BaseException:
            self.budget.settle(len(chats), 0, 0.0)
            raise
        self._settle(len(chats), completions)
        return completions

    async def agenerate(self, chats: list[Chat], *, params: GenerationParams) -> list[Completion]:
        self.budget.reserve(len(chats))
        try:
            completions = await self.inner.agenerate(chats, params=params)
        except BaseException:
            self.budget.settle(len(chats), 0, 0.0)
            raise
        self._settle(len(chats), completions)
        return completions

    def _settle(self, reserved: int, completions: list[Completion]) -> None:
        fresh = [c for c in completions if not c.cached]
        self.budget.settle(reserved, len(fresh), float(sum(c.cost_usd or 0.0 for c in fresh)))

    def score(self, chats: list[Chat], options: list[list[str]]) -> list[OptionScores]:
        self.budget.reserve(len(chats))
        try:
            rows = self.inner.score(chats, options)
        except BaseException:
            self.budget.settle(len(chats), 0, 0.0)
            raise
        self.budget.settle(len(chats), sum(not row.cached for row in rows), 0.0)
        return rows

    async def ascore(self, chats: list[Chat], options: list[list[str]]) -> list[OptionScores]:
        self.budget.reserve(len(chats))
        try:
            rows = await self.inner.ascore(chats, options)
        except BaseException:
            self.budget.settle(len(chats), 0, 0.0)
            raise
        self.budget.settle(len(chats), sum(not row.cached for row in rows), 0.0)
        return rows

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"BudgetedBackend({self.inner!r}, {self.budget!r})"


# -- the command line -------------------------------------------------------------------------

def resume_command(argv: Sequence[str], error: BudgetExceeded, program: str = "dilemmazoo") -> str:
    """The command that resumes a grid ``error`` stopped: ``argv`` (the arguments after the
    program name) with the reached limit raised to its suggestion, quoted for a POSIX shell."""
    import shlex

    flag, value = (("--budget-usd", f"{error.suggested_usd:g}") if error.reached == "usd"
                   else ("--max-calls", str(error.suggested_calls)))
    out: list[str] = []
    skip = False
    replaced = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == flag:
            out += [flag, value]
            skip = replaced = True
        elif arg.startswith(flag + "="):
            out.append(f"{flag}={value}")
            replaced = True
        else:
            out.append(arg)
    if not replaced:
        out += [flag, value]
    return " ".join(shlex.quote(part) for part in [program, *out])

