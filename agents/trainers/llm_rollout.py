"""Rollouts of the LoRA trainer: playing matches in lockstep and recording the trained decisions.

Part of :mod:`~dilemmazoo.agents.trainers.llm_trainer` (which composes it with the policy
:mod:`~dilemmazoo.agents.trainers.llm_model` and the update
:mod:`~dilemmazoo.agents.trainers.llm_update`); the GRPO baseline
(:mod:`~dilemmazoo.agents.trainers.grpo`) reuses its records, prompts, sampler and metrics.
Sources: arXiv 2511.19405 (dereckpiche/AdAlignLLM).

Rollouts
--------
One iteration plays ``groups`` groups of ``group_size`` (K) matches of any dilemmazoo language
world with two or more players (IPD, Trust-and-Split, Split No-Comm, the Donor Game, GovSim, ...).
The K matches of a group share the environment seed (common random numbers: the same hands,
the same starter) and the same opponent, so the leave-one-out baseline compares like with like.
Opponents (``opponent``):

- ``"self"``: self-play against live copies: every seat is played by the adapter being trained
  and every seat's decisions are trained;
- a scripted strategy name (``make_scripted``: ``always_defect``, ``tit_for_tat``, ``greedy``,
  ``split_greedy``, ``donor_...``, ``commons_greedy``, ...): mixed play, one instance per other
  seat, only the learner's seat is trained; the learner's seat rotates between groups (group
  ``g`` plays seat ``g % N``);
- with probability ``past_opponent_prob`` (once a checkpoint exists) a group instead meets a past
  checkpoint of the adapter, drawn uniformly from those saved every ``checkpoint_every``
  iterations (the spec's opponent pool: live copy or, with probability 0.5, a past checkpoint).

All matches run in lockstep; at each step the decisions of all matches are batched.

How a decision is sampled, and what its "action tokens" are
-----------------------------------------------------------
The prompt is the one :class:`~dilemmazoo.agents.llm.LLMPolicy` sends: a system message with the
persona and the world's ``rules(agent)``, a user message with ``describe(agent)`` and the action
spec's instruction, rendered by the tokenizer's chat template.

- **Small choices** (a ``Choice``, or an ``Amount`` over at most 21 whole numbers and no moves,
  e.g. Trust-and-Split's 0..10 coins): each option text ``"Answer: <label>"`` followed by the
  template's end-of-turn marker is scored as the whole reply; the option is sampled from
  ``softmax(loglik / temperature)`` over the options. The action's log-probability
  ``log pi(option)`` (normalised over the options) is exact, and it is the one "action token" of
  the decision: it enters the loss once, with the exact entropy of the option distribution and
  the k3 KL of the chosen option against the base model's option distribution.
- **Free text** (``Message`` specs, other amounts): the adapter generates up to
  ``max_new_tokens`` tokens at ``temperature`` (no top-k, no top-p) and each generated token,
  including the end-of-turn token, is an action token. The sampling log-probabilities come from
  the generation's own logits (the "sampling engine"). The text is parsed by the world's spec; an
  answer that does not parse takes the world's declared fallback and is counted (``fallbacks``);
  the sampled tokens are still trained with their round's credit (there is no retry in training).

Per-match metrics (:func:`match_metrics`): the learner's and its co-players' returns per round,
welfare, cooperation rate, split efficiency and fallbacks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    import torch
except ImportError as error:  # torch comes with the "local" extra
    raise ImportError('the LLM trainer needs torch, transformers and peft: '
                      'pip install "dilemmazoo[local]" peft') from error

from dilemmazoo.agents.base import Decision
from dilemmazoo.agents.trainers.llm_model import left_pad, option_log_probs
from dilemmazoo.envs.base import ActionParseError, ActionSpec, Amount, Choice

__all__ = [
    "MAX_SCORED_AMOUNTS",
    "MatchRecord",
    "OPPONENT_SELF",
    "RolloutPlayer",
    "Sample",
    "build_chat",
    "decision_options",
    "make_opponent",
    "match_metrics",
    "sample_completions",
]

MAX_SCORED_AMOUNTS = 21
OPPONENT_SELF = "self"


def decision_options(spec: ActionSpec) -> list[str] | None:
    """Option texts for a decision sampled by scoring (see the module docstring), else ``None``.

    ``Choice`` -> its ``options()``; an ``Amount`` without moves over at most 21 whole numbers
    -> ``"Answer: k"`` for each; anything else is generated as free text.
    """
    if isinstance(spec, Choice):
        return spec.options()
    if isinstance(spec, Amount) and not spec.moves:
        low, high = float(spec.low), float(spec.high)
        if low.is_integer() and high.is_integer() and 0 <= high - low < MAX_SCORED_AMOUNTS:
            return [f"Answer: {k}" for k in range(int(low), int(high) + 1)]
    return None


def build_chat(rules: str, text: str, instruction: str, persona: str = "") -> list[dict[str, str]]:
    """The chat :class:`~dilemmazoo.agents.llm.LLMPolicy` sends (no strategy, no memory)."""
    system = "\n\n".join(p for p in (persona.strip(), rules.strip()) if p)
    return [{"role": "system", "content": system}, {"role": "user", "content": text + "\n\n" + instruction}]


@dataclass
class Sample:
    """One trained decision: where it was taken, its tokens and its sampling log-probabilities.

    Option decisions: ``options`` holds each option's reply token ids, ``chosen`` the sampled one
    and ``sampling_logprobs`` one value (``log pi(chosen)``). Free text: ``completion_ids`` holds
    the generated tokens and ``sampling_logprobs`` one value per token. ``credit`` is the
    round's credit and ``token_credits`` its copy on every action token (set by :func:`assign_credit`).
    """

    match: int
    seat: int
    round: int
    prompt_ids: list[int]
    options: list[list[int]] | None = None
    step: int = -1
    chosen: int = -1
    completion_ids: list[int] = field(default_factory=list)
    sampling_logprobs: list[float] = field(default_factory=list)
    credit: float = 0.0
    token_credits: list[float] = field(default_factory=list)

    @property
    def action_tokens(self) -> int:
        return 1 if self.options is not None else len(self.completion_ids)

    @property
    def rows(self) -> int:
        """Sequences run for this decision: one per option, or the one completion."""
        return len(self.options) if self.options is not None else 1

    @property
    def forward_tokens(self) -> int:
        """Tokens of all its rows, counted whole (a prefix shared across rows counted each time)."""
        if self.options is not None:
            return sum(len(self.prompt_ids) + len(o) for o in self.options)
        return len(self.prompt_ids) + len(self.completion_ids)


@dataclass
class MatchRecord:
    """One match of a rollout: its world, seat roles, and per-step rewards and rounds."""

    env: Any
    seed: int
    group: int
    learner_seats: tuple[int, ...]
    opponent: Any  # None: the live adapter; a dict: adapter weights; else the scripted strategy's name
    observations: dict = field(default_factory=dict)
    scripted: dict[str, Any] = field(default_factory=dict)  # agent name -> scripted agent (mixed play)
    rewards: list[list[float]] = field(default_factory=list)  # per seat, per step
    rounds: list[int] = field(default_factory=list)
    played: list[tuple[int, int]] = field(default_factory=list)  # repeated games: (seat0, seat1) actions
    max_welfare: float = 0.0
    fallbacks: int = 0
    step: int = 0


def _derive_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


def make_opponent(name: str, params: dict[str, Any], env: Any):
    """A scripted opponent (:func:`~dilemmazoo.agents.scripted.make_scripted`); ``greedy`` and
    ``welfare_maximiser`` read the world's payoff table when not given one."""
    from dilemmazoo.agents.matrix_strategies import MATRIX_STRATEGIES
    from dilemmazoo.agents.scripted import make_scripted

    params = dict(params)
    if name in ("greedy", "welfare_maximiser") and name in MATRIX_STRATEGIES and "payoffs" not in params \
            and hasattr(env, "payoffs"):
        params["payoffs"] = env.payoffs
    return make_scripted(name, **params)


def sample_completions(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], seed: int, *,
                       eos_ids: Sequence[int], max_new_tokens: int, temperature: float,
                       batch_size: int = 64) -> list[tuple[list[int], list[float]]]:
    """Sample one reply per prompt (token ids, no top-k/top-p) in left-padded batches of at most
    ``batch_size`` prompts of similar length, in eval mode; returns per prompt the reply's tokens up
    to and including the first of ``eos_ids`` and their sampling log-probabilities (at
    ``temperature``). Seeded by ``seed`` in a forked torch RNG (the global stream is untouched)."""
    from transformers import GenerationConfig

    eos = [int(i) for i in eos_ids]
    config = GenerationConfig(max_new_tokens=int(max_new_tokens), do_sample=True, temperature=float(temperature),
                              top_p=1.0, top_k=0, pad_token_id=tokenizer.pad_token_id, eos_token_id=eos,
                              return_dict_in_generate=True, output_logits=True)
    device = next(model.parameters()).device
    devices = [device.index or 0] if device.type == "cuda" else []
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: dict[int, tuple[list[int], list[float]]] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*generation flags are not valid.*")
            torch.manual_seed(int(seed))
            for first in range(0, len(order), batch_size):
                rows = order[first: first + batch_size]
                ids, mask = left_pad([prompts[i] for i in rows], tokenizer.pad_token_id)
                width = ids.shape[1]
                generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                           generation_config=config)
                new = generated.sequences[:, width:]
                logits = torch.stack(generated.logits, dim=1).float() / float(temperature)
                logp = torch.log_softmax(logits, dim=-1).gather(2, new[:, :, None]).squeeze(2)
                for r, i in enumerate(rows):
                    tokens = new[r].tolist()
                    length = next((k + 1 for k, token in enumerate(tokens) if token in eos), len(tokens))
                    out[i] = (tokens[:length], logp[r, :length].tolist())
    finally:
        model.train(was_training)
    return [out[i] for i in range(len(prompts))]


def match_metrics(matches: Sequence[MatchRecord]) -> dict[str, float]:
    """Per-round returns of the learner (first learner seat) and of its co-players (their mean
    with more than two players), welfare (all seats' total per round), cooperation rate (repeated
    games: share of the learner's moves that are action 0), split efficiency (achieved total /
    best achievable), fallbacks, match count."""
    own, other, welfare, coop, achieved, best, fallbacks = [], [], [], [], 0.0, 0.0, 0
    for match in matches:
        seat = match.learner_seats[0]
        rounds = max(1, len(set(match.rounds)))
        totals = [sum(rewards) for rewards in match.rewards]
        own.append(totals[seat] / rounds)
        other.append((sum(totals) - totals[seat]) / (len(totals) - 1) / rounds)
        welfare.append(sum(totals) / rounds)
        for played in match.played:
            for s in match.learner_seats:
                coop.append(played[s] == 0)
        achieved += sum(totals)
        best += match.max_welfare
        fallbacks += match.fallbacks
    return {
        "return_per_round": float(np.mean(own)) if own else float("nan"),
        "other_return_per_round": float(np.mean(other)) if other else float("nan"),
        "welfare_per_round": float(np.mean(welfare)) if welfare else float("nan"),
        "cooperation_rate": float(np.mean(coop)) if coop else float("nan"),
        "split_efficiency": achieved / best if best > 0 else float("nan"),
        "fallbacks": fallbacks,
        "matches": len(matches),
    }


class RolloutPlayer:
    """Playing matches with the LoRA policy (a mixin of
    :class:`~dilemmazoo.agents.trainers.llm_trainer.LLMTrainer`).

    Reads from the trainer: ``config``, ``rng`` (the run's one generator), ``players``, ``model``,
    ``tokenizer``, ``eos_ids``, and the passes of
    :class:`~dilemmazoo.agents.trainers.llm_model.PolicyPasses` (``prompt_ids``, ``reply_ids``,
    ``using_weights``, ``_option_logliks``).
    """

    def _generate(self, prompts: list[list[int]], seed: int) -> list[tuple[list[int], list[float]]]:
        """Sampled completions (token ids up to and including the end token) and their sampling log-probs."""
        return sample_completions(self.model, self.tokenizer, prompts, seed, eos_ids=self.eos_ids,
                                  max_new_tokens=self.config.max_new_tokens, temperature=self.config.temperature,
                                  batch_size=self.config.generation_batch_size)

    # -- rollouts ------------------------------------------------------------------------------
    def play(self, opponents: Sequence[Any], seeds: Sequence[int], learner_seats: Sequence[tuple[int, ...]],
             groups: Sequence[int] | None = None, *, record: bool = True) -> tuple[list[MatchRecord], list[Sample]]:
        """Play one match per entry, all in lockstep, and record the trained seats' decisions.

        ``opponents[m]``: ``"self"`` (the live adapter plays every seat), adapter weights (a dict
        from :meth:`adapter_state`, for every other seat) or a scripted strategy name (one instance
        per other seat). ``learner_seats[m]``: the seats the live adapter plays and (when
        ``record``) trains.
        """
        from dilemmazoo.envs import make_world

        config = self.config
        matches: list[MatchRecord] = []
        for m, (opponent, seed, seats) in enumerate(zip(opponents, seeds, learner_seats)):
            env = make_world(config.world, **config.world_kwargs)
            observations, _ = env.reset(seed=int(seed))
            scripted = {}
            if isinstance(opponent, str) and opponent != OPPONENT_SELF:
                params = config.opponent_params if opponent == config.opponent else {}
                for seat, other in enumerate(env.possible_agents):
                    if seat not in seats:  # one scripted agent per other seat, seeded by match and seat
                        agent = make_opponent(opponent, params, env)
                        agent.reset(other, env.rules(other), np.random.default_rng([int(seed), seat]))
                        scripted[other] = agent
            elif opponent == OPPONENT_SELF:
                opponent, seats = None, tuple(range(len(env.possible_agents)))
            matches.append(MatchRecord(env=env, seed=int(seed), group=groups[m] if groups is not None else m,
                                       learner_seats=tuple(seats), opponent=opponent, observations=observations,
                                       scripted=scripted, rewards=[[] for _ in env.possible_agents]))
        samples: list[Sample] = []
        while any(match.env.agents for match in matches):
            self._play_step(matches, samples, record)
        for sample in samples:
            sample.round = matches[sample.match].rounds[sample.step]
        return matches, samples

    def _play_step(self, matches: list[MatchRecord], samples: list[Sample], record: bool) -> None:
        # who decides: live adapter (key None) or each distinct adapter-weights opponent (key id)
        pending: dict[Any, list[tuple[int, str]]] = {}
        actions: list[dict[str, Any]] = []
        for m, match in enumerate(matches):
            env = match.env
            waiting = env.agents and set(env.deciders()) != set(env.agents)
            acts = {a: env.idle_action(a) for a in env.agents} if waiting else {}
            actions.append(acts)
            if not env.agents:
                continue
            for agent in env.deciders():
                seat = env.possible_agents.index(agent)
                if seat in match.learner_seats:
                    pending.setdefault(None, []).append((m, agent))
                elif agent in match.scripted:
                    decision = Decision(agent_id=agent, observation=match.observations[agent], text=env.describe(agent),
                                        spec=env.action_spec(agent), rules=env.rules(agent), step=match.step,
                                        episode=match.seed)
                    acts[agent] = match.scripted[agent].act(decision).value
                else:  # a past checkpoint's weights
                    pending.setdefault(id(match.opponent), []).append((m, agent))
        for key, items in pending.items():
            weights = None if key is None else matches[items[0][0]].opponent
            with self.using_weights(weights):
                decided = self._decide(matches, items, record=record and key is None)
            for (m, agent), (value, sample) in zip(items, decided):
                actions[m][agent] = value
                if sample is not None:
                    samples.append(sample)
        for m, match in enumerate(matches):
            if not match.env.agents:
                continue
            env = match.env
            observations, rewards, _, _, infos = env.step(actions[m])
            match.observations = observations
            info = next((infos[a] for a in env.possible_agents if a in infos), {})
            for seat, agent in enumerate(env.possible_agents):
                match.rewards[seat].append(float(rewards.get(agent, 0.0)))
            played_round = int(info.get("round", len(match.rounds) + 1)) - 1
            if played_round < 0:  # a step that played no round (e.g. a talk step) joins the previous round
                played_round = match.rounds[-1] if match.rounds else 0
            match.rounds.append(played_round)
            if info.get("phase") == "act" and "played" in info:
                match.played.append((int(info["played"]), int(info["other_played"])))
            if info.get("phase") == "proposal" and "max_welfare" in info:
                match.max_welfare += float(info["max_welfare"])
            match.step += 1

    def _decide(self, matches: list[MatchRecord], items: list[tuple[int, str]], *, record: bool):
        """Sample the decisions ``items`` (match index, agent) with the current weights."""
        results: list[tuple[Any, Sample | None]] = [(None, None)] * len(items)
        scored, generated = [], []
        for k, (m, agent) in enumerate(items):
            env = matches[m].env
            spec = env.action_spec(agent)
            chat = build_chat(env.rules(agent), env.describe(agent), spec.instruction, self.config.persona)
            options = decision_options(spec)
            entry = (k, m, agent, spec, self.prompt_ids(chat), options)
            if options is not None and len(options) == 1:
                results[k] = (spec.action_for_option(0) if isinstance(spec, Choice) else spec.parse(options[0]), None)
            elif options is not None:
                scored.append(entry)
            else:
                generated.append(entry)
        if scored:
            option_ids = [[self.reply_ids(o) for o in entry[5]] for entry in scored]
            logliks = self._option_logliks([e[4] for e in scored], option_ids, grad=False)
            for entry, ids, ll in zip(scored, option_ids, logliks):
                k, m, agent, spec, prompt, options = entry
                logp = option_log_probs(ll, self.config.temperature).cpu().numpy().astype(np.float64)
                probabilities = np.exp(logp - logp.max())
                chosen = int(self.rng.choice(len(options), p=probabilities / probabilities.sum()))
                value = spec.action_for_option(chosen) if isinstance(spec, Choice) else spec.parse(options[chosen])
                results[k] = (value, self._sample(matches, m, agent, prompt, record, options=ids, chosen=chosen,
                                                  sampling=[float(logp[chosen])]))
        if generated:
            completions = self._generate([e[4] for e in generated], _derive_seed(self.rng))
            for entry, (tokens, logps) in zip(generated, completions):
                k, m, agent, spec, prompt, _ = entry
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                try:
                    value = spec.parse(text)
                except ActionParseError:
                    value = spec.fallback
                    matches[m].fallbacks += 1
                results[k] = (value, self._sample(matches, m, agent, prompt, record and bool(tokens),
                                                  completion=tokens, sampling=logps))
        return results

    def _sample(self, matches, m, agent, prompt, record, *, options=None, chosen=-1, completion=(), sampling=()):
        if not record:
            return None
        match = matches[m]
        env = match.env
        # the round is read from the step's infos once the step is played (see ``play``)
        return Sample(match=m, seat=env.possible_agents.index(agent), round=-1, step=match.step,
                      prompt_ids=list(prompt),
                      options=options, chosen=chosen, completion_ids=list(completion),
                      sampling_logprobs=list(sampling))

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, opponents: Sequence[str], matches: int = 8, seed: int = 0,
                 adapters: Sequence[str | Path] = ()) -> list[dict[str, Any]]:
        """Round-robin: each adapter (the live one when ``adapters`` is empty) against each opponent.

        ``opponents``: scripted strategy names, ``"self"`` or ``"adapter:PATH"`` (another trained
        adapter). Matches alternate the evaluated seat; the random stream is a fresh generator
        from ``seed`` (training's stream is untouched). Returns one row per pair.
        """
        from safetensors.torch import load_file

        saved_rng = self.rng
        rows = []
        players = [("live", None)] if not adapters else [(str(a), load_file(str(Path(a) / "adapter_model.safetensors")))
                                                           for a in adapters]
        try:
            for name, weights in players:
                for opponent in opponents:
                    self.rng = np.random.default_rng(seed)
                    resolved: Any = opponent
                    if opponent.startswith("adapter:"):
                        resolved = load_file(str(Path(opponent.split(":", 1)[1]) / "adapter_model.safetensors"))
                    seeds = [seed * 1000 + k for k in range(matches)]
                    seats = [(k % self.players,) if resolved != OPPONENT_SELF else tuple(range(self.players))
                             for k in range(matches)]
                    with self.using_weights(weights):
                        played, _ = self.play([resolved] * matches, seeds, seats, record=False)
                    rows.append({"adapter": name, "opponent": opponent, **match_metrics(played)})
        finally:
            self.rng = saved_rng
        return rows

    def choice_probabilities(self, env: Any, agent: str) -> dict[str, float]:
        """The policy's probability of each option of ``agent``'s current decision in ``env``."""
        spec = env.action_spec(agent)
        options = decision_options(spec)
        if options is None:
            raise ValueError(f"{type(spec).__name__} decisions are generated, not chosen among options")
        chat = build_chat(env.rules(agent), env.describe(agent), spec.instruction, self.config.persona)
        ll = self._option_logliks([self.prompt_ids(chat)], [[self.reply_ids(o) for o in options]], grad=False)[0]
        probabilities = option_log_probs(ll, self.config.temperature).exp().tolist()
        return dict(zip(options, probabilities))
