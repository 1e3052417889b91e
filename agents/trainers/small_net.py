"""PPO with the Advantage Alignment credit for small torch policies on the iterated prisoner's dilemma.

Sources: Duque et al., "Advantage Alignment Algorithms", ICLR 2025 (self-play IPD: naive policy
gradient drifts to mutual defection, Advantage Alignment finds reciprocity, a tit-for-tat-like
policy); the critic-free group-relative (leave-one-out) baseline and the IPD credit preset are from
"Learning Robust Social Strategies with Large Language Models", arXiv 2511.19405.

The game
--------
:class:`VectorIPD` plays ``games`` parallel iterated prisoner's dilemmas of ``rounds`` rounds
(default 10) between two seats with the textbook payoffs ``R=3, S=0, T=5, P=1``
(:func:`ipd_payoffs`). There is no hidden randomness in the game, so "groups of K sharing a seed"
are simply ``K`` consecutive games whose returns form each other's leave-one-out baseline.

Observation of a seat (memory one, :func:`ipd_observations`): a length-5 vector
``[first_round, CC, CD, DC, DD]``, the last joint move one-hot from the seat's own perspective
(own move first), all zeros but ``first_round`` in round 1.

Policy (:class:`MemoryOnePolicy`): an MLP ``5 -> hidden -> hidden -> 1`` giving the logit of
P(cooperate). Two learning seats with separate policies (self-play).

Training (:func:`train_ipd`)
----------------------------
Per iteration: sample ``groups * group_size`` games with the current policies, compute scaled
returns-to-go ``G_t = sum gamma^(t'-t) r_t' / reward_scale`` and leave-one-out group advantages for
both seats, then each seat's credit with ``credit.py``: ``naive`` (own advantage),
``sum_rewards`` (own + co-player's) or ``aa`` (``A1_t + beta * w_t * A2_t``, the co-player's
advantages exchanged between the trainers). Credit is normalised to zero mean and unit standard
deviation per seat, then ``ppo_epochs`` PPO-clip updates (clip 0.2, entropy bonus, gradient-norm
clip 1.0, Adam) run on the whole batch.

Defaults: ``gamma``, ``gamma_aa`` and ``reward_scale`` from ``CREDIT_PRESETS["ipd"]`` (0.9, 0.9,
c = 5); ``beta = 2.0`` (:data:`SMALL_NET_BETA`), tuned for these nets: at 200 iterations it reached
tit-for-tat in 30 of 30 seeds (0-29), the LLM preset's 0.5 in 6 of 10 (2 fell to mutual
defection). Entropy bonus 0.01 as in the IPD AA preset of arXiv 2511.19405; ``lr = 3e-3``,
32 groups of 8 games, 4 PPO epochs per iteration.

Evaluation: :func:`evaluate_against` plays a trained policy against always-cooperate,
always-defect or another policy without learning (tit-for-tat earns 0.9 per round against
always-defect over 10 rounds; an unconditional cooperator 0).

Metrics: ``reciprocity(policy)`` reads P(cooperate) in each memory-one state straight from a
policy; ``conditional_cooperation(actions)`` measures P(C | opponent's last move) on the games
played (the states actually visited). Tit-for-tat: C first, C after the opponent's C, D after D.
Because the policies do not see the round number, the last-round incentive to defect shows up as
P(C | CC) a little below 1 (about 0.93-0.96) and a return per round a little below R = 3.

Determinism: the policies are initialised under ``torch.manual_seed(seed)`` inside a forked RNG
(the global torch RNG is left as it was) and every action is sampled from one
``torch.Generator`` seeded with ``seed``: the same arguments give identical histories.
Training and evaluation run torch on one thread (restored afterwards): the tensors are tiny and
extra threads only cost time, ten-fold on a busy machine.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as error:  # torch comes with the "local" extra
    raise ImportError('small_net needs torch: pip install "dilemmazoo[local]"') from error

from dilemmazoo.agents.trainers.credit import AA_FORMS, CREDIT_METHODS, CREDIT_PRESETS, credit_from_rewards

__all__ = [
    "IPD_PAYOFFS",
    "MemoryOnePolicy",
    "SMALL_NET_BETA",
    "TrainResult",
    "VectorIPD",
    "conditional_cooperation",
    "evaluate_against",
    "ipd_observations",
    "ipd_payoffs",
    "reciprocity",
    "train_ipd",
]

# Textbook prisoner's dilemma payoffs (Axelrod 1984): reward, sucker, temptation, punishment.
IPD_PAYOFFS = {"R": 3.0, "S": 0.0, "T": 5.0, "P": 1.0}
OBSERVATION_SIZE = 5  # first_round, CC, CD, DC, DD


def ipd_payoffs(own_cooperates, other_cooperates, R: float = 3.0, S: float = 0.0, T: float = 5.0,
                P: float = 1.0):
    """Payoff of a seat given both moves (1 = cooperate, 0 = defect); numpy or torch arrays.

    ``CC -> R``, ``CD -> S`` (sucker), ``DC -> T`` (temptation), ``DD -> P``.
    """
    own = own_cooperates * 1.0
    other = other_cooperates * 1.0
    return R * own * other + S * own * (1 - other) + T * (1 - own) * other + P * (1 - own) * (1 - other)


def ipd_observations(own_last: torch.Tensor | None, other_last: torch.Tensor | None, games: int) -> torch.Tensor:
    """``(games, 5)`` observations: ``[first_round, CC, CD, DC, DD]`` (own move first).

    ``own_last``/``other_last`` are the previous round's moves (bool, True = cooperate), or
    ``None`` in round 1.
    """
    obs = torch.zeros(games, OBSERVATION_SIZE)
    if own_last is None or other_last is None:
        obs[:, 0] = 1.0
        return obs
    # index 1 + 2 * own_defected + other_defected: CC=1, CD=2, DC=3, DD=4
    index = 1 + 2 * (~own_last).long() + (~other_last).long()
    obs[torch.arange(games), index] = 1.0
    return obs


class VectorIPD:
    """``games`` parallel two-seat iterated prisoner's dilemmas of ``rounds`` rounds."""

    def __init__(self, games: int, rounds: int = 10, payoffs: dict[str, float] | None = None):
        if games < 1:
            raise ValueError(f"games must be >= 1; got {games}")
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1; got {rounds}")
        self.games = games
        self.rounds = rounds
        self.payoffs = dict(IPD_PAYOFFS if payoffs is None else payoffs)
        if set(self.payoffs) != set(IPD_PAYOFFS):
            raise ValueError(f"payoffs must have the keys {sorted(IPD_PAYOFFS)}; got {sorted(self.payoffs)}")
        self.reset()

    def reset(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Start all games; returns the two seats' round-1 observations."""
        self.round = 0
        self.last: tuple[torch.Tensor, torch.Tensor] | None = None
        return self.observations()

    def observations(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.last is None:
            return ipd_observations(None, None, self.games), ipd_observations(None, None, self.games)
        first, second = self.last
        return ipd_observations(first, second, self.games), ipd_observations(second, first, self.games)

    def step(self, first_cooperates: torch.Tensor, second_cooperates: torch.Tensor):
        """Play one round (bool tensors of shape ``(games,)``); returns ``(observations, rewards, done)``."""
        if self.round >= self.rounds:
            raise RuntimeError("the games are over; call reset()")
        rewards = (ipd_payoffs(first_cooperates, second_cooperates, **self.payoffs),
                   ipd_payoffs(second_cooperates, first_cooperates, **self.payoffs))
        self.last = (first_cooperates.bool(), second_cooperates.bool())
        self.round += 1
        return self.observations(), rewards, self.round >= self.rounds


class MemoryOnePolicy(nn.Module):
    """MLP from the memory-one observation to the logit of P(cooperate)."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(OBSERVATION_SIZE, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 1))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations).squeeze(-1)

    def distribution(self, observations: torch.Tensor) -> torch.distributions.Bernoulli:
        return torch.distributions.Bernoulli(logits=self(observations))


STATE_NAMES = ("first", "CC", "CD", "DC", "DD")
# Tuned for these small nets (30/30 seeds reach tit-for-tat at 200 iterations); the LLM preset is 0.5.
SMALL_NET_BETA = 2.0


@torch.no_grad()
def reciprocity(policy: MemoryOnePolicy) -> dict[str, float]:
    """P(cooperate) of a memory-one policy in each state, and the reciprocity summary.

    Keys ``p_c_first``, ``p_c_after_CC``, ``p_c_after_CD``, ``p_c_after_DC``, ``p_c_after_DD``
    (own last move first). Tit-for-tat has 1, 1, 0, 1, 0; always-defect all 0. States a pair of
    policies never visits (DC once both cooperate) get little training, so read the table together
    with the visited-state rates :func:`conditional_cooperation`.
    """
    probabilities = torch.sigmoid(policy(torch.eye(OBSERVATION_SIZE))).tolist()
    return {("p_c_first" if name == "first" else f"p_c_after_{name}"): p for name, p in zip(STATE_NAMES, probabilities)}


def conditional_cooperation(actions: torch.Tensor) -> dict[str, float]:
    """Empirical P(C | opponent's last move) from sampled games, both seats pooled.

    ``actions`` is ``(2, games, rounds)`` (True = cooperate). Returns ``p_c_given_opp_c`` and
    ``p_c_given_opp_d`` over rounds 2..T, NaN when the condition never occurred.
    """
    own_now = actions[:, :, 1:].float()
    opponent_before = actions.flip(0)[:, :, :-1]
    table = {}
    for key, condition in (("p_c_given_opp_c", opponent_before), ("p_c_given_opp_d", ~opponent_before)):
        count = condition.sum().item()
        table[key] = own_now[condition].sum().item() / count if count else float("nan")
    return table


FIXED_OPPONENTS = ("always_cooperate", "always_defect")


@contextlib.contextmanager
def _single_threaded() -> Iterator[None]:
    """Run torch on one thread, then restore the caller's setting.

    The tensors here are tiny: extra intra-op threads only add overhead, and on a busy machine
    they made training about 10x slower (2.4 s vs 29 s for 50 iterations on 2 loaded cores).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def evaluate_against(policy: MemoryOnePolicy, opponent: str | MemoryOnePolicy, games: int = 256, rounds: int = 10,
                     seed: int = 0) -> dict[str, float]:
    """Play ``policy`` (first seat) against a fixed opponent or another policy; no learning.

    ``opponent``: ``"always_cooperate"``, ``"always_defect"`` (the IPD's fixed opponents in
    arXiv 2511.19405) or a :class:`MemoryOnePolicy`. Returns ``return_per_round`` and
    ``opponent_return_per_round`` (mean reward per round) and ``cooperation_rate`` of ``policy``.
    Against always-defect, tit-for-tat earns ``(S + (rounds - 1) * P) / rounds`` = 0.9 per round
    over 10 rounds, an unconditional cooperator ``S = 0``.
    """
    if isinstance(opponent, str) and opponent not in FIXED_OPPONENTS:
        raise ValueError(f"opponent must be one of {FIXED_OPPONENTS} or a MemoryOnePolicy; got {opponent!r}")
    generator = torch.Generator().manual_seed(seed)
    env = VectorIPD(games, rounds)
    with _single_threaded():
        return _play(policy, opponent, env, generator)


def _play(policy, opponent, env: VectorIPD, generator: torch.Generator) -> dict[str, float]:
    games, rounds = env.games, env.rounds
    observations = env.reset()
    totals = torch.zeros(2)
    cooperations = 0.0
    done = False
    while not done:
        own = torch.rand(games, generator=generator) < torch.sigmoid(policy(observations[0]))
        if isinstance(opponent, str):
            other = torch.full((games,), opponent == "always_cooperate")
        else:
            other = torch.rand(games, generator=generator) < torch.sigmoid(opponent(observations[1]))
        observations, rewards, done = env.step(own, other)
        totals += torch.stack([r.sum() for r in rewards])
        cooperations += own.float().sum().item()
    per_round = totals / (games * rounds)
    return {"return_per_round": per_round[0].item(), "opponent_return_per_round": per_round[1].item(),
            "cooperation_rate": cooperations / (games * rounds)}


@dataclass
class TrainResult:
    """What :func:`train_ipd` returns: the arguments, per-iteration metrics and the two policies."""

    method: str
    seed: int
    config: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    policies: tuple[MemoryOnePolicy, ...] = ()
    wall_s: float = 0.0

    @property
    def final(self) -> dict[str, float]:
        """The last iteration's metrics."""
        return self.history[-1] if self.history else {}


@torch.no_grad()
def _rollout(policies, env: VectorIPD, generator: torch.Generator):
    observations = env.reset()
    obs_steps, action_steps, logp_steps, reward_steps = [], [], [], []
    done = False
    while not done:
        actions, logps = [], []
        for policy, obs in zip(policies, observations):
            dist = policy.distribution(obs)
            cooperate = torch.rand(env.games, generator=generator) < dist.probs
            # the same log-prob computation as in the update, so that PPO ratios start at exactly 1
            logps.append(dist.log_prob(cooperate.float()))
            actions.append(cooperate)
        obs_steps.append(torch.stack(observations))
        next_observations, rewards, done = env.step(*actions)
        action_steps.append(torch.stack(actions))
        logp_steps.append(torch.stack(logps))
        reward_steps.append(torch.stack(rewards))
        observations = next_observations
    # (seats, games, rounds, ...)
    return (torch.stack(obs_steps, dim=2), torch.stack(action_steps, dim=2), torch.stack(logp_steps, dim=2),
            torch.stack(reward_steps, dim=2))


def train_ipd(method: str = "aa", iterations: int = 200, seed: int = 0, *, groups: int = 32, group_size: int = 8,
              rounds: int = 10, hidden: int = 16, lr: float = 3e-3, ppo_epochs: int = 4, clip: float = 0.2,
              entropy_coef: float = 0.01, max_grad_norm: float = 1.0, beta: float = SMALL_NET_BETA,
              gamma: float | None = None, gamma_aa: float | None = None, reward_scale: float | None = None,
              aa_form: str = "original", normalize_credit: bool = True) -> TrainResult:
    """Train two memory-one policies by self-play PPO on the IPD with the credit ``method``.

    ``method``: ``"naive"`` | ``"sum_rewards"`` | ``"aa"``. ``gamma``, ``gamma_aa`` and
    ``reward_scale`` default to ``CREDIT_PRESETS["ipd"]`` (0.9, 0.9, 5); ``beta`` defaults to
    :data:`SMALL_NET_BETA` = 2.0, not the LLM preset's 0.5, which reached reciprocity in only
    6 of 10 seeds with these small nets (see the module docstring and ``benchmarks/aa_ipd.py``).

    Each history row holds ``iteration``, ``mean_return_per_round`` (both seats),
    ``cooperation_rate`` (sampled moves), ``p_c_given_opp_c`` / ``p_c_given_opp_d`` (visited-state
    rates, :func:`conditional_cooperation`), the per-state table of both policies averaged
    (:func:`reciprocity`), ``loss`` and ``entropy`` (of the last PPO epoch, seats averaged).
    """
    if method not in CREDIT_METHODS:
        raise ValueError(f"method must be one of {CREDIT_METHODS}; got {method!r}")
    for name, value in (("iterations", iterations), ("groups", groups), ("ppo_epochs", ppo_epochs)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1; got {value}")
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 (leave-one-out baseline); got {group_size}")
    if aa_form not in AA_FORMS:
        raise ValueError(f"aa_form must be one of {AA_FORMS}; got {aa_form!r}")
    preset = CREDIT_PRESETS["ipd"]
    gamma = preset.gamma if gamma is None else gamma
    gamma_aa = preset.gamma_aa if gamma_aa is None else gamma_aa
    reward_scale = preset.reward_scale if reward_scale is None else reward_scale
    config = dict(method=method, iterations=iterations, seed=seed, groups=groups, group_size=group_size,
                  rounds=rounds, hidden=hidden, lr=lr, ppo_epochs=ppo_epochs, clip=clip, entropy_coef=entropy_coef,
                  max_grad_norm=max_grad_norm, beta=beta, gamma=gamma, gamma_aa=gamma_aa,
                  reward_scale=reward_scale, aa_form=aa_form, normalize_credit=normalize_credit)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        policies = (MemoryOnePolicy(hidden), MemoryOnePolicy(hidden))
    generator = torch.Generator().manual_seed(seed)
    optimizers = [torch.optim.Adam(p.parameters(), lr=lr) for p in policies]
    env = VectorIPD(groups * group_size, rounds)
    result = TrainResult(method=method, seed=seed, config=config, policies=policies)
    start = time.perf_counter()
    with _single_threaded():
        _train(result, env, generator, optimizers)
    result.wall_s = time.perf_counter() - start
    return result


def _train(result: TrainResult, env: VectorIPD, generator: torch.Generator, optimizers) -> None:
    """The iterations of :func:`train_ipd`; appends one metrics row per iteration to ``result``."""
    config, policies = result.config, result.policies
    method, groups, group_size, rounds = config["method"], config["groups"], config["group_size"], config["rounds"]
    clip, entropy_coef, max_grad_norm = config["clip"], config["entropy_coef"], config["max_grad_norm"]
    for iteration in range(config["iterations"]):
        observations, actions, old_logp, rewards = _rollout(policies, env, generator)
        # (seats, games, rounds) -> (seats, groups, K, rounds): matches of a group on axis 2.
        grouped = rewards.numpy().astype(np.float64).reshape(2, groups, group_size, rounds)
        credits = []
        for seat in (0, 1):
            credit = credit_from_rewards(method, grouped[seat], grouped[1 - seat], gamma=config["gamma"],
                                         reward_scale=config["reward_scale"], beta=config["beta"],
                                         gamma_aa=config["gamma_aa"], form=config["aa_form"], group_axis=1)
            credit = torch.as_tensor(credit.reshape(-1, rounds), dtype=torch.float32)
            if config["normalize_credit"]:
                credit = (credit - credit.mean()) / (credit.std() + 1e-8)
            credits.append(credit)

        losses, entropies = [], []
        for policy, optimizer, obs, act, logp_old, credit in zip(policies, optimizers, observations, actions,
                                                                 old_logp, credits):
            for _ in range(config["ppo_epochs"]):
                dist = policy.distribution(obs)
                logp = dist.log_prob(act.float())
                ratio = torch.exp(logp - logp_old)
                surrogate = torch.min(ratio * credit, ratio.clamp(1 - clip, 1 + clip) * credit)
                entropy = dist.entropy().mean()
                loss = -surrogate.mean() - entropy_coef * entropy
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
                optimizer.step()
            losses.append(loss.item())
            entropies.append(entropy.item())

        tables = [reciprocity(p) for p in policies]
        row = {"iteration": iteration,
               "mean_return_per_round": rewards.mean().item(),
               "cooperation_rate": actions.float().mean().item()}
        row.update(conditional_cooperation(actions))
        row.update({key: float(np.mean([t[key] for t in tables])) for key in tables[0]})
        row["loss"] = float(np.mean(losses))
        row["entropy"] = float(np.mean(entropies))
        result.history.append(row)
