"""Language-model agents: a persona, a strategy text, memory, and one backend for many seats.

:class:`LLMPolicy` is a :class:`~dilemmazoo.agents.base.BatchPolicy` that owns every seat
played by the same backend, so the decisions of one step cost one batched backend call.

How a decision is made:

- **score** (a small choice and a backend that can score): the options' log-likelihoods as
  the reply; the choice is sampled from ``softmax(logp / temperature)`` (argmax at 0).
  An ``Amount`` can be scored too when ``score_grid`` is set: the grid's fractions of the
  allowed range become ``Answer:`` options, parsed by the world's own spec.
  The prompt leaves out the world's invitation to reason first (:attr:`PromptStyle.score_drops`)
  and asks for the answer line alone (:attr:`PromptStyle.score_answer`): the scored reply *is*
  that line. Each score call records its prompt and option tokens and whether a cache served it.
- **generate**: the model answers in words; ``spec.parse`` turns the answer into an action.
  An answer that cannot be parsed is sent back with the parse error, at most ``max_retries``
  times (all failing seats retried in one batch); after that the world's declared fallback
  is used. Every failure and every fallback is counted on the returned :class:`Action`.
- **distribution** (answers as distributions; CoopEval, Tewolde et al. 2026, ``games/base.py``):
  the model gives a probability for each option and the action is drawn from it with a
  generator seeded by (run seed, episode, step, seat), so runs reproduce. The keys are the
  options as the world names them (its ``Choice`` labels; the neutral ``A0``..``A(n-1)`` where
  the world shows those), or for an ``Amount`` with ``score_grid`` the grid's answers
  (``"Donate, 5"``). With ``distribution_source="generate"`` the model writes a JSON object of
  integer percentages (the world's "Answer:" sentence is replaced by
  :attr:`PromptStyle.distribution_answer`), read by
  :func:`~dilemmazoo.agents.distribution.parse_distribution` with the retries and the counted
  fallback of generate mode. With ``distribution_source="score"`` (a backend that can score)
  the probabilities are ``softmax(logp)`` of the options' log-likelihoods, one scoring pass as in
  score mode, at temperature 1: the model's own probabilities renormalised over the options,
  which is what the distribution is asked to be (``temperature`` governs written answers).
  The drawn option is ``Action.raw_text`` (``"Answer: <option>"``, as in score mode: the agent's
  memory shows what it played, never its distribution), and ``Action.distribution`` holds
  ``{option: probability}`` for the records. Message steps (talk) are generated as text, and so
  are a mechanism's phase answers written as one JSON object (a contract or mediator design, an
  approval ballot: :class:`~dilemmazoo.envs.institutions.phases.JsonAnswer`), with the retries
  and counted fallback of generate mode; a signature or a play step with ``delegate`` has
  options and is weighed as usual. A number without ``score_grid`` or another several-field
  answer has no options to weigh and is refused with a ``ValueError`` naming the world's action
  kind.

Strategies (``write_strategies``, for population dynamics) must contain a sentence beginning
"My strategy will be" (Vallinder & Hughes 2024). Where the backend can prefill
(``can_prefill``: the local models), the reply is started with those words and the model
writes the rest, as in the paper's setup of instruction-following models; elsewhere the prompt's
instruction alone asks for it. Either way a strategy counts as written only if the sentence is
there and something follows it; otherwise the whole answer is kept, the miss is counted
(``strategy_failures``) and the call record says why.

Sampling seeds derive from (run seed, episode, step, attempt), so the same config,
seed and cache reproduce every call exactly.

Each counted fallback is also logged as it happens (``INFO`` on ``dilemmazoo.agents.llm``: the
backend, seat, episode, step and reason), so a run's ``run.log`` shows them in order; each
re-ask after an unparsable answer is logged at ``DEBUG``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from dataclasses import dataclass, replace

import numpy as np

from dilemmazoo.agents.backends.base import Backend, Chat, Completion, GenerationParams, OptionScores, chat_hash
from dilemmazoo.agents.base import Action, BatchPolicy, CallRecord, Decision
from dilemmazoo.agents.distribution import distribution_record, parse_distribution, sample_index, softmax
from dilemmazoo.envs.base import ActionParseError, ActionSpec, Amount, Message
from dilemmazoo.envs.institutions.phases import JsonAnswer

__all__ = ["LLMPolicy", "PromptStyle", "extract_strategy"]

_log = logging.getLogger(__name__)

#: how much of a parse error a log line quotes
_REASON_CHARS = 200

DECISION_MODES = ("auto", "generate", "score", "distribution")
#: where ``decision="distribution"`` gets its probabilities: a written JSON answer, or the scores
DISTRIBUTION_SOURCES = ("generate", "score")
#: the prefix of an option's answer line (``ActionSpec.options`` and the score grid)
_ANSWER_PREFIX = "Answer: "
#: where per-seat personas come from: nowhere, or census cells written up by the model
PERSONA_SOURCES = ("none", "census")


@dataclass(frozen=True)
class PromptStyle:
    """Wording around the world's own texts. Override to study prompt sensitivity."""

    strategy_header: str = "Your strategy:"
    memory_header: str = "What happened to you so far (most recent last):"
    retry: str = "Your answer could not be used: {error}\n{instruction}"
    #: the words a written strategy starts with; prefilled where the backend can
    strategy_prefix: str = "My strategy will be"
    #: in score mode, sentences of the world's instruction that match this are left out: they
    #: invite reasoning ("Think it through briefly, then ...") that a scored reply cannot contain
    score_drops: str = r"(?:^|(?<=[.!?] ))Think\b.*?[.!?](?=\s|$)"
    #: in score mode, said after the world's instruction
    score_answer: str = "Reply with your answer line only."
    #: in distribution mode, sentences of the world's instruction that match this (any case) are
    #: left out: they ask for one "Answer:" line, which the distribution replaces
    distribution_drops: str = r"(?:^|(?<=[.!?]\s))(?:(?![.!?](?:\s|$)).)*?\banswer\s*:.*?(?:[.!?](?=\s|$)|$)"
    #: in distribution mode, said after the world's instruction (and in every retry); ``{keys}``
    #: is the options as JSON strings, comma-separated
    distribution_answer: str = (
        "Instead of naming one option, give a probability for each: end your reply with a JSON object with "
        "exactly one key per option ({keys}) whose values are integer percentages from 0 to 100 that sum to "
        "100. One option is then drawn at random with these probabilities, and the others see only that option."
    )

    def score_instruction(self, instruction: str) -> str:
        """The world's ``instruction`` as told in score mode (see :attr:`score_drops`)."""
        kept = re.sub(self.score_drops, "", instruction, flags=re.DOTALL)
        return " ".join(f"{kept} {self.score_answer}".split())

    def distribution_format(self, keys: list[str]) -> str:
        """:attr:`distribution_answer` for these option keys."""
        return self.distribution_answer.format(keys=", ".join(json.dumps(k, ensure_ascii=False) for k in keys))

    def distribution_instruction(self, instruction: str, keys: list[str]) -> str:
        """The world's ``instruction`` as told in distribution mode (:attr:`distribution_drops`)."""
        kept = re.sub(self.distribution_drops, "", instruction, flags=re.DOTALL | re.IGNORECASE)
        return " ".join(f"{kept} {self.distribution_format(keys)}".split())


def _derive_seed(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _format_amount(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def extract_strategy(text: str, prefix: str = "My strategy will be") -> tuple[str, bool]:
    """The text from the last ``prefix`` (any case) on, and True; ``(whole text, False)`` if the
    sentence is absent or nothing but punctuation follows it."""
    match = None
    for match in re.finditer(re.escape(prefix), text, flags=re.IGNORECASE):
        pass
    if match is None or not re.search(r"\w", text[match.end():]):
        return text.strip(), False
    return text[match.start():].strip(), True


class LLMPolicy(BatchPolicy):
    """All seats played by one language model.

    Args:
        backend: any :class:`~dilemmazoo.agents.backends.base.Backend`.
        persona: a system-prompt preamble shared by every seat.
        personas: ``"none"``, or ``"census"``: each seat gets its own persona, written by the
            model from an occupation x sex x age cell drawn in proportion to census counts
            (:mod:`dilemmazoo.agents.personas`), once per run, before its first episode; it
            follows ``persona`` in the system prompt. Unusable answers become plain personas
            built from the cell, counted in :attr:`persona_fallbacks`.
        decision: ``auto`` (score small choices when the backend can, else generate),
            ``generate``, ``score`` or ``distribution`` (module docstring).
        distribution_source: in ``distribution`` mode, ``generate`` (a written JSON answer) or
            ``score`` (the options' log-likelihoods; a backend that can score).
        max_retries: re-asks with the parse error before the world's fallback.
        temperature, max_tokens, top_p: sampling arguments.
        score_grid: fractions of an ``Amount`` range offered as options in score mode.
        seed: the run seed, mixed into every call's sampling seed.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        persona: str = "",
        personas: str = "none",
        decision: str = "auto",
        max_retries: int = 2,
        temperature: float = 0.8,
        max_tokens: int = 200,
        top_p: float = 1.0,
        score_grid: tuple[float, ...] = (),
        seed: int = 0,
        style: PromptStyle = PromptStyle(),
        distribution_source: str = "generate",
    ):
        if decision not in DECISION_MODES:
            raise ValueError(f"decision must be one of {DECISION_MODES}, got {decision!r}")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if decision == "score" and not backend.can_score:
            raise ValueError(f"decision 'score' needs a backend that can score; {backend.name!r} cannot")
        if distribution_source not in DISTRIBUTION_SOURCES:
            raise ValueError(f"distribution_source must be one of {DISTRIBUTION_SOURCES}, got {distribution_source!r}")
        if decision == "distribution" and distribution_source == "score" and not backend.can_score:
            raise ValueError(f"distribution_source 'score' needs a backend that can score; {backend.name!r} cannot")
        self.backend = backend
        self.persona = persona
        if personas not in PERSONA_SOURCES:
            raise ValueError(f"personas must be one of {PERSONA_SOURCES}, got {personas!r}")
        self.personas = personas
        self.seat_personas: dict[str, str] = {}
        self.persona_cells: dict[str, str] = {}  # seat -> the census cell in words
        self.persona_fallbacks = 0
        self.decision = decision
        self.distribution_source = distribution_source
        self.max_retries = max_retries
        self.params = GenerationParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)
        self.score_grid = tuple(score_grid)
        self.seed = seed
        self.style = style
        self.strategies: dict[str, str] = {}
        self.rules_text = ""
        self.strategy_failures = 0
        self.modes_used: set[str] = set()  # "score" / "generate" / "distribution": the decisions made so far

    # -- setup -----------------------------------------------------------------------------
    def set_strategies(self, strategies: dict[str, str]) -> None:
        """Seat -> strategy text for the coming episode."""
        self.strategies = dict(strategies)

    def set_rules(self, rules: str) -> None:
        """The world's rules, used when writing strategies outside an episode."""
        self.rules_text = rules

    def start_episode(self, rules: dict[str, str], rng: np.random.Generator) -> None:
        """Episode start: seats without a census persona get one (``personas="census"``)."""
        self.last_setup_calls = []
        if self.personas == "census":
            self._write_personas([seat for seat in rules if seat not in self.seat_personas])

    def _write_personas(self, seats: list[str]) -> None:
        from dilemmazoo.agents.personas import sample_cells, write_personas

        if not seats:
            return
        # the run seed and how many seats already have one: the same seats get the same cells
        rng = np.random.default_rng([self.seed, len(self.seat_personas)])
        cells = sample_cells(len(seats), rng)
        batch = write_personas(cells, self.backend, seed=self.seed)
        for seat, cell, text in zip(seats, cells, batch):
            self.seat_personas[seat] = text
            self.persona_cells[seat] = cell.describe()
        self.persona_fallbacks += batch.fallbacks
        if batch.fallbacks:
            _log.info("%s: %d of %d personas built plainly from their census cells (%s)", self.backend.name,
                      batch.fallbacks, len(seats), batch.error or "no usable persona in the answer")
        self.last_setup_calls = [_call_record(seat, "persona", chat, completion)
                                 for seat, chat, completion in zip(seats, batch.chats, batch.completions)]
        for call, used in zip(self.last_setup_calls, batch.fallback_used):
            if used:
                call.error = "no usable persona in the answer; a plain one built from the census cell was used"
        if batch.error:  # the backend failed: no calls came back, every seat has the plain persona
            self.last_setup_calls = []

    def system_prompt(self, rules: str, strategy: str = "", seat: str | None = None) -> str:
        own = self.seat_personas.get(seat, "") if seat is not None else ""
        parts = [p for p in (self.persona.strip(), own.strip(), rules.strip()) if p]
        if strategy:
            parts.append(f"{self.style.strategy_header} {strategy.strip()}")
        return "\n\n".join(parts)

    def chat_for(self, request: Decision, mode: str = "generate") -> Chat:
        """The chat for one decision; in ``score`` and ``distribution`` mode with their instructions
        (module docstring)."""
        if mode not in ("generate", "score", "distribution"):
            raise ValueError(f"mode must be 'generate', 'score' or 'distribution', got {mode!r}")
        system = self.system_prompt(request.rules, self.strategies.get(request.agent_id, ""), request.agent_id)
        user = request.text
        if request.memory:
            user += "\n\n" + self.style.memory_header + "\n" + "\n".join(request.memory)
        instruction = request.spec.instruction
        if mode == "score":
            instruction = self.style.score_instruction(instruction)
        elif mode == "distribution":
            instruction = self.style.distribution_instruction(instruction, self._distribution_keys(request.spec))
        user += "\n\n" + instruction
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def provenance(self) -> dict:
        """The backend's provenance plus ``decision``: the mode decisions were made in.

        ``score`` or ``generate`` (never ``auto``): the modes used so far; before the first
        decision, the mode a small choice would get. An ``auto`` policy that used both (scored
        choices, generated amounts) says ``score+generate``. With census personas: ``personas``
        (seat -> the cell in words) and ``persona_fallbacks``. In distribution mode:
        ``distribution_source``.
        """
        extra = {}
        if self.decision == "distribution":
            extra["distribution_source"] = self.distribution_source
        if self.personas == "census":
            extra = {"personas": dict(self.persona_cells), "persona_fallbacks": self.persona_fallbacks}
        if self.decision != "auto":
            decision = self.decision
        elif self.modes_used:
            decision = "+".join(mode for mode in ("score", "generate") if mode in self.modes_used)
        else:
            decision = "score" if self.backend.can_score else "generate"
        return {**self.backend.provenance(), "decision": decision, **extra}

    # -- deciding --------------------------------------------------------------------------
    def scoring_options(self, spec: ActionSpec) -> list[str] | None:
        options = spec.options()
        if options is None and isinstance(spec, Amount) and self.score_grid:
            span = spec.high - spec.low
            # Round down to cents so a printed amount never exceeds the allowed maximum.
            amounts = [max(spec.low, math.floor((spec.low + f * span) * 100) / 100) for f in self.score_grid]
            options = []
            for move in spec.moves or ("",):
                if move in spec.moves_without_amount:
                    options.append(f"Answer: {move}")  # e.g. refuse: no amount to choose
                else:
                    options += [f"Answer: {move + ', ' if move else ''}{_format_amount(a)}" for a in amounts]
        return options

    def distribution_options(self, spec: ActionSpec) -> list[str] | None:
        """The answer lines a distribution weighs (:meth:`scoring_options`: a choice's options, an
        amount's grid); ``None`` when the spec has none."""
        return self.scoring_options(spec)

    def _distribution_keys(self, spec: ActionSpec) -> list[str]:
        options = self.distribution_options(spec)
        if options is None:
            raise ValueError(_no_distribution(spec))
        return [option.removeprefix(_ANSWER_PREFIX) for option in options]

    def _mode(self, spec: ActionSpec) -> str:
        if self.decision == "generate":
            return "generate"
        if self.decision == "distribution":
            if isinstance(spec, Message | JsonAnswer):  # words or a JSON design, not a choice: generated
                return "generate"
            if self.distribution_options(spec) is None:
                raise ValueError(_no_distribution(spec))
            return "distribution"
        options = self.scoring_options(spec)
        if self.decision == "score":
            if options is None:
                raise ValueError(f"decision 'score' but the action spec {type(spec).__name__} offers no options")
            return "score"
        return "score" if options is not None and self.backend.can_score else "generate"

    def act_batch(self, requests: list[Decision]) -> list[Action]:
        results: list[Action | None] = [None] * len(requests)
        modes = [self._mode(r.spec) for r in requests]
        to_score = [i for i, mode in enumerate(modes) if mode == "score"]
        to_generate = [i for i, mode in enumerate(modes) if mode == "generate"]
        to_distribute = [i for i, mode in enumerate(modes) if mode == "distribution"]
        self.modes_used.update(modes)
        if to_score:
            for i, action in zip(to_score, self._score([requests[i] for i in to_score])):
                results[i] = action
        if to_generate:
            for i, action in zip(to_generate, self._generate([requests[i] for i in to_generate])):
                results[i] = action
        if to_distribute:
            batch = [requests[i] for i in to_distribute]
            chosen = self._score(batch, distribution=True) if self.distribution_source == "score" else \
                self._generate(batch, mode="distribution")
            for i, action in zip(to_distribute, chosen):
                results[i] = action
        return results  # type: ignore[return-value]

    def _score(self, requests: list[Decision], distribution: bool = False) -> list[Action]:
        """Score mode; with ``distribution`` the options' probabilities are ``softmax(logp)``
        (temperature 1), recorded, and drawn from with the decision's generator."""
        chats = [self.chat_for(r, mode="score") for r in requests]
        options = [self.scoring_options(r.spec) for r in requests]
        start = time.perf_counter()
        scores = self.backend.score(chats, options)
        if not all(isinstance(row, OptionScores) for row in scores):
            raise TypeError(f"backend {self.backend.name!r}: score must return OptionScores rows (base.py)")
        computed = sum(not row.cached for row in scores)
        # the call's time, shared by the rows it computed; a row served from a cache took none
        latency = (time.perf_counter() - start) / max(computed, 1)
        actions = []
        for r, chat, opts, logp in zip(requests, chats, options, scores):
            call = CallRecord(
                agent_id=r.agent_id, purpose="score", prompt_hash=chat_hash(chat), prompt=json.dumps(chat, ensure_ascii=False),
                # for a score call the "completion" is every option read after the prompt
                prompt_tokens=logp.prompt_tokens, completion_tokens=logp.option_tokens,
                latency_s=0.0 if logp.cached else latency, cached=logp.cached, cost_usd=0.0, text="",
            )
            probabilities = None
            if distribution:
                try:
                    probabilities = softmax(logp)
                except ValueError as error:  # every option -inf (or nan): no distribution to draw from
                    call.error = f"no distribution from the scores: {error}"
                    self._log_fallback(r, call.error)
                    actions.append(Action(value=r.spec.fallback, parse_failures=1, fallback_used=True, calls=[call]))
                    continue
                index = sample_index(probabilities, self._decision_rng(r, "distribution"))
            else:
                index = self._pick(np.asarray(logp, dtype=float), r)
            raw = opts[index]
            call.text = raw
            spec_options = r.spec.options()
            value = r.spec.action_for_option(index) if spec_options is not None else r.spec.parse(raw)
            action = Action(value=value, raw_text=raw, calls=[call])
            if probabilities is not None:
                action.distribution = distribution_record(self._distribution_keys(r.spec), probabilities)
            actions.append(action)
        return actions

    def _decision_rng(self, request: Decision, purpose: str) -> np.random.Generator:
        """The generator of one decision: (run seed, episode, step, seat, purpose)."""
        return np.random.default_rng(_derive_seed(self.seed, request.episode, request.step, request.agent_id, purpose))

    def _pick(self, logp: np.ndarray, request: Decision) -> int:
        temperature = self.params.temperature
        if temperature <= 0:
            return int(np.argmax(logp))
        z = logp / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        return int(self._decision_rng(request, "score").choice(len(p), p=p))

    def _generate(self, requests: list[Decision], mode: str = "generate") -> list[Action]:
        """Generate mode; with ``mode="distribution"`` the answer is a written distribution
        (module docstring), read and drawn from by :meth:`_read_distribution`."""
        chats = [self.chat_for(r, mode=mode) for r in requests]
        if mode == "distribution":
            keys = [self._distribution_keys(r.spec) for r in requests]
            retry_instructions = [self.style.distribution_format(k) for k in keys]
        else:
            retry_instructions = [r.spec.instruction for r in requests]
        # distribution calls get seeds of their own: a step may also generate (talk) for other seats
        salt = ("distribution",) if mode == "distribution" else ()
        actions = [Action(value=None) for _ in requests]
        pending = list(range(len(requests)))
        for attempt in range(self.max_retries + 1):
            # One seed per batched call: the same config replays the same batches, so records
            # and cache keys reproduce exactly.
            head = requests[pending[0]]
            seed = _derive_seed(self.seed, head.episode, head.step, attempt, len(pending), *salt)
            params = replace(self.params, seed=seed)
            completions = self.backend.generate([chats[i] for i in pending], params=params)
            still = []
            for i, completion in zip(pending, completions):
                action = actions[i]
                action.raw_text = completion.text
                call = _call_record(requests[i].agent_id, "act" if attempt == 0 else "retry", chats[i], completion)
                action.calls.append(call)
                try:
                    if mode == "distribution":
                        self._read_distribution(requests[i], keys[i], completion.text, action)
                    else:
                        action.value = requests[i].spec.parse(completion.text)
                except ActionParseError as error:
                    call.error = str(error)
                    action.parse_failures += 1
                    _log.debug("%s: seat %s, episode %d, step %d: answer %d of %d not parsed (%s)", self.backend.name,
                               requests[i].agent_id, requests[i].episode, requests[i].step, attempt + 1,
                               self.max_retries + 1, str(error)[:_REASON_CHARS])
                    chats[i] = chats[i] + [
                        {"role": "assistant", "content": completion.text},
                        {"role": "user",
                         "content": self.style.retry.format(error=error, instruction=retry_instructions[i])},
                    ]
                    still.append(i)
            pending = still
            if not pending:
                break
        for i in pending:
            actions[i].value = requests[i].spec.fallback
            actions[i].fallback_used = True
            tries = self.max_retries + 1
            self._log_fallback(requests[i], f"no parsable answer in {tries} attempt{'s' if tries > 1 else ''}, the "
                                            f"last: {actions[i].calls[-1].error}")
        return actions

    def _log_fallback(self, request: Decision, reason: str) -> None:
        """Log that ``request`` got the world's fallback action, and why (a counted fallback)."""
        _log.info("%s: seat %s, episode %d, step %d: the world's fallback action is used (%s)", self.backend.name,
                  request.agent_id, request.episode, request.step, reason[:_REASON_CHARS])

    def _read_distribution(self, request: Decision, keys: list[str], text: str, action: Action) -> None:
        """Parse the written distribution in ``text`` (raises ActionParseError), draw the option
        with the decision's generator, and fill ``action``."""
        percents = parse_distribution(text, keys)
        weights = [percents[key] for key in keys]
        index = sample_index(weights, self._decision_rng(request, "distribution"))
        raw = _ANSWER_PREFIX + keys[index]
        spec = request.spec
        action.value = spec.action_for_option(index) if spec.options() is not None else spec.parse(raw)
        action.raw_text = raw
        action.distribution = distribution_record(keys, weights)

    # -- strategies ------------------------------------------------------------------------
    def write_strategies(self, prompts: list[str], rng: np.random.Generator) -> list[str]:
        """One strategy per prompt, from a batch of generations (StrategyWriter protocol).

        Prefilled with :attr:`PromptStyle.strategy_prefix` where the backend can (module docstring).
        """
        system = self.system_prompt(self.rules_text)
        prefix = self.style.strategy_prefix
        prefill = [{"role": "assistant", "content": prefix}] if self.backend.can_prefill else []
        chats = [[{"role": "system", "content": system}, {"role": "user", "content": p}, *prefill] for p in prompts]
        params = replace(self.params, seed=int(rng.integers(2**31)))
        completions = self.backend.generate(chats, params=params)
        if prefill:  # the model wrote the continuation: the answer is the prefix and what follows
            completions = [replace(c, text=prefix + c.text) for c in completions]
        self.last_strategy_calls = [_call_record("", "strategy", c, comp) for c, comp in zip(chats, completions)]
        strategies = []
        for completion, call in zip(completions, self.last_strategy_calls):
            text, found = extract_strategy(completion.text, prefix)
            if not found:
                self.strategy_failures += 1
                call.error = f"no sentence beginning {prefix!r} with a strategy after it; kept the whole answer"
                _log.info("%s: strategy %d of %d: %s", self.backend.name, len(strategies) + 1, len(completions),
                          call.error)
            strategies.append(text)
        return strategies


def _no_distribution(spec: ActionSpec) -> str:
    """Why ``decision='distribution'`` cannot answer ``spec``: it names the world's action kind."""
    if isinstance(spec, Amount):
        return ("decision 'distribution' weighs options, and this decision is a number (Amount); give score_grid "
                "(fractions of the range) to offer a grid of amounts, or use decision: generate")
    return (f"decision 'distribution' weighs options, and this decision's answer ({type(spec).__name__}) has "
            "several fields or no options to weigh; use decision: generate (or auto)")


def _call_record(agent_id: str, purpose: str, chat: Chat, completion: Completion) -> CallRecord:
    return CallRecord(
        agent_id=agent_id,
        purpose=purpose,
        prompt_hash=chat_hash(chat),
        prompt=json.dumps(chat, ensure_ascii=False),
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency_s=completion.latency_s,
        cached=completion.cached,
        cost_usd=completion.cost_usd,
        text=completion.text,
        retries=completion.retries,
        truncated=completion.truncated,
    )
