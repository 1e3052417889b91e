"""Independent PPO (IPPO) for the vectorized grid worlds (Cleanup, Gathering).

Sources: Schulman et al. 2017, "Proximal Policy Optimization Algorithms" (clipped surrogate,
``epsilon = 0.2``); Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized
Advantage Estimation" (GAE, ``gamma``, ``lambda``); de Witt et al. 2020, "Is Independent Learning
All You Need in the StarCraft Multi-Agent Challenge?" (IPPO: every agent runs PPO on its own
observations and rewards, treating the others as part of the environment); Leibo et al. 2017 and
Hughes et al. 2018 (independent learners in Gathering and Cleanup); Perolat et al. 2017 (the
social outcome metrics logged per iteration); Andrychowicz et al. 2021, "What Matters in
On-Policy RL" (advantage normalisation per minibatch, small initial policy logits); Duque et al.
2025, "Advantage Alignment Algorithms" (ICLR; the N-player credit of their Melting Pot
experiments, see *Credit* below).

Training loop (:func:`train_ippo`)
----------------------------------
Iteration ``k`` draws ``numpy.random.default_rng([seed, k])``; from it come the seeds of the
``batch_size`` environments of a :class:`~dilemmazoo.envs.gridworld.core.VectorGridworld`, every
sampled action (:func:`~dilemmazoo.agents.neural.sample_actions`) and the minibatch orders. Each
iteration plays one whole episode of ``steps`` steps in every environment (the episode length
is set to ``steps``), so an iteration's metrics are complete-episode metrics. Then:

1. returns and advantages by GAE (:func:`gae`) on rewards times ``reward_scale``; the end of the
   episode is terminal (the observation holds no clock);
2. the credit rule ``credit`` turns the agents' GAE advantages into the advantages the policy
   loss uses (:func:`credited_advantages`, *Credit* below); the value targets stay each agent's
   own GAE returns;
3. for each network (one per agent, or one shared network with the seat's one-hot id when
   ``share_params``), ``epochs`` passes over its samples in ``minibatches`` random minibatches:
   :func:`ppo_loss` (clipped surrogate + ``value_coef`` * value error - ``entropy_coef`` *
   entropy) with advantages normalised per minibatch, gradient norm clipped to
   ``max_grad_norm``, one Adam optimizer per network.

Credit (``credit``, ``aa_beta``, ``credit_standardize``)
--------------------------------------------------------
Per episode, the advantages of the ``N`` agents, ``A^i_t`` (``t = 1..T``), go through
:func:`dilemmazoo.agents.trainers.credit.n_player_credit`, the implementation the LLM and IPD
trainers share (``agents/trainers/credit.py``):

- ``"naive"`` (default): ``A*^i_t = A^i_t``, plain IPPO (bit-identical to the trainer before the
  credit option existed);
- ``"sum_rewards"``: ``A*^i_t = A^i_t + sum_{j != i} A^j_t``, the advantage of the group's summed
  reward (each agent's critic still learns its own return);
- ``"aa"``: N-player Advantage Alignment (Duque et al., ICLR 2025, Melting Pot form),
  ``A*^i_t = A^i_t + aa_beta * (sum_{k < t} A^i_k) * (sum_{j != i} A^j_t) / t``: an action is
  credited more when it is good for the others AND the agent's own past went well (and less,
  when the agent's past went badly: reciprocity).

``A*`` replaces ``A`` inside the PPO clipped surrogate (and is then normalised per minibatch like
plain IPPO's ``A``); the value targets stay each agent's own GAE returns. This is centralised
training with decentralised execution: the sum-of-rewards and AA credits need every agent's
advantages at each step, which this trainer has (it trains all the agents); the policies still
act on their own observations alone.

With ``credit_standardize=True`` (default; ignored by ``"naive"``) the GAE advantages of the whole
batch (all steps, environments and agents together) are first standardised to mean 0 and standard
deviation 1, as the reference implementation does before its AA term (jduquevan/advantage-alignment,
``normalize_advantages``). Without it the AA term, a product of two advantages, scales with the
square of the reward scale: on small Gathering (``ssd`` rules, first iterations) it was 10-15
times ``|A|`` at ``aa_beta = 1``; standardised, about ``|A|`` at 1, half of it at 0.5 and a tenth
at 0.1.

``aa_beta = 0.5`` by default, the LLM IPD preset's value (the presets use 0.5-2 for the two-player
form); on standardised advantages with 4 agents it makes the AA term about half of ``|A|``
(compare the metrics ``credit_term_abs`` and ``advantage_abs``). It is not tuned for these worlds:
see the caveat below.

Caveat, measured (``benchmarks/ippo_learning.py``): on the small maps under the ``ssd`` rules
(a beam hit costs the agent hit 50) the AA credit made the memoryless MLP policies fire MORE, not
less (Gathering, 40 iterations, 2 seeds: 21.8 beams per agent per episode against naive 3.6 and
random 12.9; return -483 against naive -72), and in shorter one-seed trials at ``aa_beta`` 0.1
and 1 too (the smaller, the less harm), while ``sum_rewards`` all but stopped firing (return
1.9). Why, from one batch of the untrained policies: the critic sees no clock, so standardised
advantages drift with the time step (negative for most of the episode, positive near its end),
and 76 % of the agent-steps come after the agent was hit, with a negative past (mean ``z`` -0.23,
against +0.35 for agents never hit); a beam that hits someone makes the co-players' summed
advantage strongly negative (-0.46 against +0.07 for other actions), so ``past * others``
credits firing more than other actions (0.11 against 0.04): AA's retaliation ("they hurt me, so
hurting them is good"), which the policies, without memory, cannot make conditional on having
been hurt. Centring the advantages per time step did not change this (tried). AA's reciprocity
needs policies that remember the history (recurrent or attention over the episode, as in Duque
et al.); a memoryless policy only gets the average push. Under the ``meltingpot`` rules (zapping
removes the agent hit for 50 steps at no reward cost, as in the Commons Harvest of Duque et al.)
AA and naive tied on small Gathering (return 2.77 against 2.84, random 2.47; AA fired 6.3 beams
against 7.6).

Because everything random in iteration ``k`` comes from ``(seed, k)`` and the networks are
initialised under ``torch.manual_seed(seed)`` (in a forked RNG, leaving torch's global generator
as it was), a run resumed from a checkpoint gives the same numbers as an uninterrupted one, and
two runs with the same config give identical metrics on the CPU.

Configuration (:class:`IPPOConfig`, defaults)
---------------------------------------------
``world="gathering"`` | ``"cleanup"``; ``rules="ssd"`` | ``"meltingpot"`` | ``"vicgalle"``;
``n_agents=4``; ``grid_map="small"`` (``small_harvest`` / ``small_cleanup``), ``"standard"``
(``harvest`` / ``cleanup``) or any map name; ``iterations=50``; ``batch_size=16`` environments;
``steps=100`` per episode; ``seed=0``; ``device="auto"`` (``cuda`` when available, else
``cpu``); ``share_params=False``; ``architecture="cnn"`` | ``"mlp"``; ``observation="symbolic"``
| ``"rgb"`` (the network input is the matching encoding, ``onehot`` or ``rgb``); ``hidden=64``;
``lr=1e-3``; ``gamma=0.99``; ``gae_lambda=0.95``; ``clip=0.2``; ``value_coef=0.5``;
``entropy_coef=0.01``; ``max_grad_norm=0.5``; ``epochs=4``; ``minibatches=4``;
``reward_scale=0.1`` (the -50 beam hit of the ``ssd`` rules becomes -5 for the critic);
``credit="naive"`` | ``"sum_rewards"`` | ``"aa"``; ``aa_beta=0.5`` (used by ``"aa"`` only);
``credit_standardize=True`` (not used by ``"naive"``);
``checkpoint_every=10``; ``threads=1`` (torch CPU threads: these networks are small, and on a
shared 2-core machine a second thread made each step 20-60 times slower in our measurements).

Metrics (one dict per iteration, :data:`METRIC_KEYS`)
-----------------------------------------------------
``iteration``; ``return`` (mean per-agent episode return, unscaled), ``return_min`` /
``return_max`` (over agents, averaged over environments); ``apples``, ``fired``, ``cleaned``
(per agent per episode); ``efficiency``, ``equality``, ``sustainability``, ``peace``,
``maximin`` (:func:`~dilemmazoo.envs.gridworld.metrics.social_outcomes`, mean over the
environments; equality ignores environments where it is undefined); ``policy_loss``,
``value_loss``, ``entropy``, ``approx_kl``, ``clip_fraction`` (mean over the updates);
``advantage_abs`` (mean ``|A|`` of the advantages entering the credit rule: the GAE ones,
standardised when the credit standardises) and ``credit_term_abs`` (mean ``|A* - A|``: what the
credit rule adds; 0 for ``naive``); ``seconds`` and
``agent_steps_per_s`` (timing, :data:`TIMING_KEYS`: not reproducible).

Checkpoints
-----------
Every ``checkpoint_every`` iterations and at the end, the run folder gets ``checkpoint.pt``
(``torch.save`` of a dict: ``format``, ``config``, ``network`` spec, ``policies`` and
``optimizers`` state dicts, completed ``iteration``s, the ``metrics`` so far), ``config.json``
and ``metrics.csv``, each written to a temporary name and renamed. ``resume=True`` continues from
the checkpoint when the run-defining fields (all but ``iterations``, ``device``,
``checkpoint_every``, ``threads``; ``aa_beta`` only counts when ``credit="aa"`` and
``credit_standardize`` when ``credit`` is not ``"naive"``) match; raising ``iterations`` extends a finished run.
:func:`dilemmazoo.agents.neural.load_policy` plays a checkpoint.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import StrictBool, field_validator, model_validator

try:
    import torch
except ImportError as error:  # torch comes with the "local" extra
    raise ImportError('IPPO needs torch: pip install "dilemmazoo[local]"') from error

from dilemmazoo.agents.backends.hf import resolve_device
from dilemmazoo.agents.neural import (
    ARCHITECTURES,
    CHECKPOINT_FORMAT,
    PolicySet,
    encode_windows,
    read_checkpoint,
    sample_actions,
)
from dilemmazoo.agents.progress import ProgressBar
from dilemmazoo.agents.trainers.credit import CREDIT_METHODS, n_player_credit
from dilemmazoo.agents.trainers.settings import (
    Count,
    NonNegativeNumber,
    PositiveNumber,
    Probability,
    Seed,
    TrainerSettings,
)
from dilemmazoo.envs.gridworld.core import VectorGridworld
from dilemmazoo.envs.gridworld.maps import MAPS
from dilemmazoo.envs.gridworld.metrics import social_outcomes
from dilemmazoo.envs.gridworld.rules import GAMES, RULE_SETS

__all__ = [
    "IPPOConfig",
    "IPPOTrainer",
    "METRIC_KEYS",
    "TIMING_KEYS",
    "TRAIN_PRESETS",
    "TrainResult",
    "credited_advantages",
    "episode_metrics",
    "evaluate",
    "gae",
    "policy_chooser",
    "ppo_loss",
    "resolve_map",
    "save_run",
    "standardize_advantages",
    "train_ippo",
    "write_metrics_csv",
]

METRIC_KEYS = (
    "iteration", "return", "return_min", "return_max", "apples", "fired", "cleaned",
    "efficiency", "equality", "sustainability", "peace", "maximin",
    "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "advantage_abs", "credit_term_abs",
    "seconds", "agent_steps_per_s",
)
TIMING_KEYS = ("seconds", "agent_steps_per_s")
# Fields that do not change what is learned: they may differ when a run is resumed.
RUN_ONLY_FIELDS = ("iterations", "device", "checkpoint_every", "threads")
# Fields added after runs were named: left at these values they stay out of identity() (and so out of the
# run-name hash), so the runs of older configs keep their folder names and checkpoints. Keep these values
# even if a default of IPPOConfig changes one day: they name what the older runs did.
LATER_FIELD_DEFAULTS = {"credit": "naive", "aa_beta": 0.5, "credit_standardize": True}
MAP_ALIASES = {
    "small": {"cleanup": "small_cleanup", "gathering": "small_harvest"},
    "standard": {"cleanup": "cleanup", "gathering": "harvest"},
}
OBSERVATIONS = {"symbolic": "onehot", "rgb": "rgb"}


class IPPOConfig(TrainerSettings):
    """Everything that defines an IPPO run (see the module docstring for the meaning).

    A pydantic model (:class:`~dilemmazoo.agents.trainers.settings.TrainerSettings`): every field is
    checked when the config is built, unknown keys included, and a bad one raises a
    :class:`~dilemmazoo.agents.trainers.settings.TrainerConfigError` naming it.
    """

    world: Literal[GAMES] = "gathering"  # type: ignore[valid-type]
    rules: Literal[RULE_SETS] = "ssd"  # type: ignore[valid-type]
    n_agents: Count = 4
    grid_map: str = "small"
    iterations: Count = 50
    batch_size: Count = 16
    steps: Count = 100
    seed: Seed = 0
    device: str = "auto"
    share_params: StrictBool = False
    architecture: Literal[ARCHITECTURES] = "cnn"  # type: ignore[valid-type]
    observation: Literal[tuple(OBSERVATIONS)] = "symbolic"  # type: ignore[valid-type]
    hidden: Count = 64
    lr: PositiveNumber = 1e-3
    gamma: Probability = 0.99
    gae_lambda: Probability = 0.95
    clip: PositiveNumber = 0.2
    value_coef: NonNegativeNumber = 0.5
    entropy_coef: NonNegativeNumber = 0.01
    max_grad_norm: PositiveNumber = 0.5
    epochs: Count = 4
    minibatches: Count = 4
    reward_scale: PositiveNumber = 0.1
    credit: Literal[CREDIT_METHODS] = "naive"  # type: ignore[valid-type]
    aa_beta: NonNegativeNumber = 0.5
    credit_standardize: StrictBool = True
    checkpoint_every: Count = 10
    threads: Count = 1

    @field_validator("device")
    @classmethod
    def _a_torch_device(cls, device: str) -> str:
        if not (device in ("auto", "cpu") or device.startswith("cuda")):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
        return device

    @model_validator(mode="after")
    def _settings_fit_together(self) -> IPPOConfig:
        if self.credit != "naive" and self.n_agents < 2:
            raise ValueError(f"credit={self.credit!r} needs the co-players' advantages: n_agents must be >= 2, "
                             f"got {self.n_agents}; use credit='naive' for one agent")
        resolve_map(self.world, self.grid_map)  # fails early on an unknown map
        if self.batch_size * self.steps < self.minibatches:
            raise ValueError(f"minibatches ({self.minibatches}) exceeds the samples per agent "
                             f"(batch_size * steps = {self.batch_size * self.steps})")
        return self

    def identity(self) -> dict[str, Any]:
        """The run-defining fields (what a resumed run must share).

        Fields of :data:`LATER_FIELD_DEFAULTS` are left out at their defaults (older configs keep
        their hash), and so are the fields the chosen credit does not read: ``aa_beta`` unless
        ``credit == "aa"``, ``credit_standardize`` when ``credit == "naive"``.
        """
        fields = {k: v for k, v in self.to_dict().items() if k not in RUN_ONLY_FIELDS}
        for name, default in LATER_FIELD_DEFAULTS.items():
            if fields[name] == default:
                del fields[name]
        if self.credit != "aa":
            fields.pop("aa_beta", None)
        if self.credit == "naive":
            fields.pop("credit_standardize", None)
        return fields

    def run_name(self) -> str:
        """A readable folder name plus a hash of :meth:`identity`."""
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:8]
        shared = "_shared" if self.share_params else ""
        credit = "" if self.credit == "naive" else f"_{self.credit}"
        return (f"ippo_{self.world}_{self.grid_map}_{self.rules}_n{self.n_agents}{shared}{credit}_s{self.seed}"
                f"_{digest}")


TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # a few seconds on a CPU: checks that everything runs
    "smoke": dict(world="gathering", grid_map="small", n_agents=2, iterations=3, batch_size=4, steps=50),
    # the learning benchmark (benchmarks/ippo_learning.py): 4 agents on the small Gathering map, about a
    # minute each on one CPU core; the shared network sees 4x the samples and learns faster
    "gathering_small": dict(world="gathering", grid_map="small", n_agents=4, iterations=100, batch_size=16,
                            steps=100, architecture="mlp"),
    "gathering_small_shared": dict(world="gathering", grid_map="small", n_agents=4, iterations=80, batch_size=16,
                                   steps=100, architecture="mlp", share_params=True, lr=3e-3),
    "cleanup_small": dict(world="cleanup", grid_map="small", n_agents=4, iterations=100, batch_size=16, steps=100,
                          architecture="mlp"),
    # the same with the N-player Advantage Alignment credit (benchmarks/ippo_learning.py --credit naive,aa)
    "gathering_small_aa": dict(world="gathering", grid_map="small", n_agents=4, iterations=100, batch_size=16,
                               steps=100, architecture="mlp", credit="aa"),
    "cleanup_small_aa": dict(world="cleanup", grid_map="small", n_agents=4, iterations=100, batch_size=16,
                             steps=100, architecture="mlp", credit="aa"),
    # paper-size maps (SSD): meant for a GPU
    "gathering": dict(world="gathering", grid_map="standard", n_agents=5, iterations=500, batch_size=32,
                      steps=1000),
    "cleanup": dict(world="cleanup", grid_map="standard", n_agents=5, iterations=500, batch_size=32, steps=1000),
}


def resolve_map(world: str, grid_map: str) -> str:
    """``"small"``/``"standard"`` -> the world's map name; other names are checked and kept."""
    if grid_map in MAP_ALIASES:
        return MAP_ALIASES[grid_map][world]
    if grid_map not in MAPS:
        raise ValueError(f"grid_map must be 'small', 'standard' or one of {sorted(MAPS)}, got {grid_map!r}")
    return grid_map


# -- pure functions ---------------------------------------------------------------------------------


def gae(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, last_values: np.ndarray | float,
        gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalized advantage estimates and returns (Schulman et al. 2016).

    ``rewards``, ``values``, ``dones``: ``(T, ...)``; ``dones[t]`` means the episode ended with
    step ``t`` (nothing is bootstrapped across it); ``last_values``: the value of the state
    after step ``T - 1``. With ``delta_t = r_t + gamma * (1 - d_t) * V_{t+1} - V_t``:
    ``A_t = delta_t + gamma * lam * (1 - d_t) * A_{t+1}``; returns ``A_t + V_t``.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    continuing = 1.0 - np.asarray(dones, dtype=np.float64)
    if rewards.shape != values.shape or continuing.shape != rewards.shape:
        raise ValueError(f"rewards {rewards.shape}, values {values.shape} and dones {continuing.shape} must match")
    advantages = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1:])
    next_value = np.broadcast_to(np.asarray(last_values, dtype=np.float64), rewards.shape[1:])
    for t in range(len(rewards) - 1, -1, -1):
        delta = rewards[t] + gamma * continuing[t] * next_value - values[t]
        running = delta + gamma * lam * continuing[t] * running
        advantages[t] = running
        next_value = values[t]
    return advantages, advantages + values


def standardize_advantages(advantages: np.ndarray) -> np.ndarray:
    """``(A - mean(A)) / (std(A) + 1e-8)`` over the whole array (every step, environment and agent)."""
    advantages = np.asarray(advantages, dtype=np.float64)
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def credited_advantages(advantages: np.ndarray, credit: str, beta: float = 0.0) -> np.ndarray:
    """Apply the credit rule to GAE advantages shaped ``(T, B, N)`` (steps, environments, agents).

    Each environment holds one whole episode (step ``t`` of the array is step ``t + 1`` of the
    episode), so the arrays become ``(B, N, T)`` for
    :func:`~dilemmazoo.agents.trainers.credit.n_player_credit` and go back to ``(T, B, N)``.
    """
    advantages = np.asarray(advantages, dtype=np.float64)
    if advantages.ndim != 3:
        raise ValueError(f"advantages must be shaped (steps, environments, agents); got shape {advantages.shape}")
    per_episode = advantages.transpose(1, 2, 0)  # (B, N, T)
    return n_player_credit(credit, per_episode, beta=beta).transpose(2, 0, 1)


def ppo_loss(new_log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
             values: torch.Tensor, returns: torch.Tensor, entropy: torch.Tensor, *, clip: float,
             value_coef: float, entropy_coef: float) -> tuple[torch.Tensor, dict[str, float]]:
    """The PPO-clip objective to minimise (Schulman et al. 2017):

    ``L = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) + c_v * mean((V - G)^2) / 2
    - c_e * mean(H)`` with ``rho = exp(log pi - log pi_old)``. Returns the loss and its parts
    (``policy_loss``, ``value_loss``, ``entropy``, ``approx_kl`` = ``mean((rho - 1) - log rho)``,
    ``clip_fraction``).
    """
    log_ratio = new_log_probs - old_log_probs
    ratio = torch.exp(log_ratio)
    surrogate = torch.minimum(ratio * advantages, torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * advantages)
    policy_loss = -surrogate.mean()
    value_loss = 0.5 * ((values - returns) ** 2).mean()
    mean_entropy = entropy.mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * mean_entropy
    with torch.no_grad():
        parts = {
            "policy_loss": float(policy_loss),
            "value_loss": float(value_loss),
            "entropy": float(mean_entropy),
            "approx_kl": float(((ratio - 1.0) - log_ratio).mean()),
            "clip_fraction": float(((ratio - 1.0).abs() > clip).float().mean()),
        }
    return loss, parts


def episode_metrics(rewards: np.ndarray, collected: np.ndarray, fired: np.ndarray, cleaned: np.ndarray,
                    tagged: np.ndarray) -> dict[str, float]:
    """Per-iteration episode figures from ``(T, B, N)`` arrays of one episode in each of B envs."""
    returns = rewards.sum(axis=0)  # (B, N)
    outcomes = [social_outcomes(rewards[:, b, :], tagged[:, b, :]) for b in range(rewards.shape[1])]
    equality = [o["equality"] for o in outcomes if not math.isnan(o["equality"])]
    return {
        "return": float(returns.mean()),
        "return_min": float(returns.min(axis=1).mean()),
        "return_max": float(returns.max(axis=1).mean()),
        "apples": float(collected.sum(axis=0).mean()),
        "fired": float(fired.sum(axis=0).mean()),
        "cleaned": float(cleaned.sum(axis=0).mean()),
        "efficiency": float(np.mean([o["efficiency"] for o in outcomes])),
        "equality": float(np.mean(equality)) if equality else float("nan"),
        "sustainability": float(np.mean([o["sustainability"] for o in outcomes])),
        "peace": float(np.mean([o["peace"] for o in outcomes])),
        "maximin": float(np.mean([o["maximin"] for o in outcomes])),
    }


# -- the trainer ------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What :func:`train_ippo` returns."""

    config: IPPOConfig
    metrics: list[dict[str, float]]
    policies: PolicySet
    run_dir: Path | None = None
    resumed_at: int = 0  # iterations already done when this call started
    device: str = "cpu"


class IPPOTrainer:
    """The networks, optimizers and environments of one run; :meth:`iterate` runs iteration ``k``."""

    def __init__(self, config: IPPOConfig):
        self.config = c = config
        self.device = str(resolve_device(c.device, mps=False))
        self.map_name = resolve_map(c.world, c.grid_map)
        self.env = VectorGridworld(c.world, c.batch_size, n_agents=c.n_agents, rules=c.rules, grid_map=self.map_name,
                                   observation=c.observation, rule_overrides={"episode_length": c.steps})
        self.view_shape = tuple(int(s) for s in self.env.core.view_shape)
        self.network_spec = {
            "architecture": c.architecture, "encoding": OBSERVATIONS[c.observation], "view_shape": self.view_shape,
            "n_actions": len(self.env.actions), "n_agents": c.n_agents, "shared": c.share_params, "hidden": c.hidden,
        }
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.policies = PolicySet(self.network_spec)
        self.policies.to(self.device)
        self.optimizers = [torch.optim.Adam(net.parameters(), lr=c.lr) for net in self.policies.networks]
        self.seats = torch.arange(c.n_agents, device=self.device).repeat(c.batch_size)  # row b*N + i -> seat i

    def _encode(self, windows: np.ndarray) -> torch.Tensor:
        return encode_windows(windows, self.policies.encoding, self.view_shape, device=self.device)

    def rollout(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One episode in each environment with the current policies; arrays ``(T, B, N, ...)``."""
        c, env = self.config, self.env
        B, N, T = c.batch_size, c.n_agents, c.steps
        observations = env.reset(seeds=[int(s) for s in rng.integers(0, 2**63, size=B)])
        windows = np.empty((T, *observations.shape), dtype=np.uint8)
        actions = np.empty((T, B, N), dtype=np.int64)
        log_probs = np.empty((T, B, N))
        values = np.empty((T, B, N))
        rewards = np.empty((T, B, N))
        dones = np.empty((T, B, N), dtype=bool)
        flags = {k: np.empty((T, B, N), dtype=bool if k != "collected" else np.int64)
                 for k in ("collected", "fired", "cleaned", "tagged")}
        self.policies.eval()
        with torch.no_grad():
            for t in range(T):
                windows[t] = observations
                logits, value = self.policies(self._encode(observations), self.seats)
                chosen = sample_actions(logits, rng)
                chosen_t = torch.as_tensor(chosen, device=self.device)
                logp = torch.log_softmax(logits, dim=1).gather(1, chosen_t[:, None]).squeeze(1)
                actions[t] = chosen.reshape(B, N)
                log_probs[t] = logp.cpu().numpy().reshape(B, N)
                values[t] = value.cpu().numpy().reshape(B, N)
                step_rewards, step_dones, observations = env.step(actions[t])
                rewards[t] = step_rewards
                dones[t] = step_dones[:, None]
                info = env.last_step_info()
                for k in flags:
                    flags[k][t] = info[k]
        if not dones[-1].all():
            raise RuntimeError("an episode did not end after `steps` steps")  # the episode length is `steps`
        return {"windows": windows, "actions": actions, "log_probs": log_probs, "values": values,
                "rewards": rewards, "dones": dones, **flags}

    def advantages(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The advantages of a :meth:`rollout` batch, each ``(T, B, N)``: ``gae``; ``credit_input``
        (``gae``, standardised when the credit standardises); ``credited`` (the policy loss's
        advantages); ``returns`` (the critic's targets, each agent's own)."""
        c = self.config
        advantages, returns = gae(batch["rewards"] * c.reward_scale, batch["values"], batch["dones"], 0.0,
                                  c.gamma, c.gae_lambda)
        if c.credit == "naive":
            credit_input = credited = advantages  # nothing to do: the very same numbers as plain IPPO
        else:
            credit_input = standardize_advantages(advantages) if c.credit_standardize else advantages
            # centralised training: the credit reads every agent's advantages at each step
            credited = credited_advantages(credit_input, c.credit, c.aa_beta)
        return {"gae": advantages, "credit_input": credit_input, "credited": credited, "returns": returns}

    def update(self, batch: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, float]:
        """GAE and credit, then ``epochs`` x ``minibatches`` PPO steps for every network."""
        c = self.config
        estimates = self.advantages(batch)
        advantages, returns = estimates["credited"], estimates["returns"]
        T, B, N = batch["actions"].shape
        window_shape = batch["windows"].shape[3:]
        # one sample per (t, b, seat); the networks see the samples of their seats
        groups = [np.arange(N)] if c.share_params else [np.array([i]) for i in range(N)]
        totals: dict[str, float] = {}
        count = 0
        self.policies.train()
        for network_index, seats in enumerate(groups):
            network, optimizer = self.policies.networks[network_index], self.optimizers[network_index]

            def take(array: np.ndarray) -> np.ndarray:
                return array[:, :, seats].reshape(-1, *array.shape[3:])

            windows = take(batch["windows"]).reshape(-1, *window_shape)
            sample_seats = torch.as_tensor(np.tile(seats, T * B), device=self.device)
            tensors = {
                name: torch.as_tensor(take(array), dtype=torch.float32, device=self.device)
                for name, array in (("log_probs", batch["log_probs"]), ("advantages", advantages),
                                    ("returns", returns))
            }
            actions = torch.as_tensor(take(batch["actions"]), device=self.device)
            size = len(windows)
            for _ in range(c.epochs):
                order = rng.permutation(size)
                for part in np.array_split(order, c.minibatches):
                    index = torch.as_tensor(part, device=self.device)
                    x = self._encode(windows[part])
                    logits, values = network(x, sample_seats[index] if c.share_params else None)
                    log_probs = torch.log_softmax(logits, dim=1)
                    new_log_probs = log_probs.gather(1, actions[index][:, None]).squeeze(1)
                    entropy = -(log_probs.exp() * log_probs).sum(dim=1)
                    adv = tensors["advantages"][index]
                    adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
                    loss, parts = ppo_loss(new_log_probs, tensors["log_probs"][index], adv, values,
                                           tensors["returns"][index], entropy, clip=c.clip,
                                           value_coef=c.value_coef, entropy_coef=c.entropy_coef)
                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(network.parameters(), c.max_grad_norm)
                    optimizer.step()
                    for key, value in parts.items():
                        totals[key] = totals.get(key, 0.0) + value
                    count += 1
        figures = {key: value / count for key, value in totals.items()}
        figures["advantage_abs"] = float(np.abs(estimates["credit_input"]).mean())
        figures["credit_term_abs"] = float(np.abs(estimates["credited"] - estimates["credit_input"]).mean())
        return figures

    def iterate(self, iteration: int) -> dict[str, float]:
        """Iteration ``iteration`` (0-based): rollout, update, metrics."""
        start = time.perf_counter()
        rng = np.random.default_rng([self.config.seed, iteration])
        batch = self.rollout(rng)
        figures = episode_metrics(batch["rewards"], batch["collected"], batch["fired"], batch["cleaned"],
                                  batch["tagged"])
        figures.update(self.update(batch, rng))
        seconds = time.perf_counter() - start
        T, B, N = batch["actions"].shape
        row = {"iteration": iteration, **figures, "seconds": seconds, "agent_steps_per_s": T * B * N / seconds}
        return {key: row[key] for key in METRIC_KEYS}

    # -- checkpoints --------------------------------------------------------------------------------

    def checkpoint(self, iterations_done: int, metrics: list[dict[str, float]]) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "network": dict(self.network_spec),
            "policies": self.policies.state_dict(),
            "optimizers": [o.state_dict() for o in self.optimizers],
            "iteration": iterations_done,
            "metrics": [dict(m) for m in metrics],
        }

    def load(self, data: dict[str, Any]) -> tuple[int, list[dict[str, float]]]:
        """Restore networks and optimizers; returns ``(iterations done, metrics)``."""
        stored, current = IPPOConfig(**data["config"]).identity(), self.config.identity()
        missing = object()  # a field left out of one identity (at its default) differs from any value
        differing = sorted(k for k in stored.keys() | current.keys()
                           if stored.get(k, missing) != current.get(k, missing))
        if differing:
            raise ValueError(f"the checkpoint was trained with other settings ({', '.join(differing)}); "
                             "resume with the same settings or start a new run folder")
        self.policies.load_state_dict(data["policies"])
        for optimizer, state in zip(self.optimizers, data["optimizers"]):
            optimizer.load_state_dict(state)
        return int(data["iteration"]), [dict(m) for m in data["metrics"]]


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


def write_metrics_csv(metrics: list[dict[str, float]], path: Path) -> None:
    """The metrics as CSV, one row per iteration, columns :data:`METRIC_KEYS`."""
    def write(target: Path) -> None:
        with open(target, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(METRIC_KEYS))
            writer.writeheader()
            writer.writerows(metrics)

    _write_atomic(path, write)


def save_run(trainer: IPPOTrainer, run_dir: Path, iterations_done: int, metrics: list[dict[str, float]]) -> None:
    """``checkpoint.pt``, ``config.json`` and ``metrics.csv`` in ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(run_dir / "checkpoint.pt", lambda p: torch.save(trainer.checkpoint(iterations_done, metrics), p))
    _write_atomic(run_dir / "config.json",
                  lambda p: p.write_text(json.dumps(trainer.config.to_dict(), indent=2) + "\n"))
    write_metrics_csv(metrics, run_dir / "metrics.csv")


def train_ippo(config: IPPOConfig, run_dir: str | Path | None = None, *, resume: bool = False,
               progress: bool = False, on_iteration: Callable[[dict[str, float]], None] | None = None) -> TrainResult:
    """Train ``config.iterations`` iterations; with ``run_dir`` write checkpoints there.

    ``resume=True`` continues from ``run_dir/checkpoint.pt`` when it exists; without it an
    existing checkpoint is an error (nothing is overwritten by accident). Torch runs on
    ``config.threads`` CPU threads meanwhile; the previous setting is restored afterwards.
    """
    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(config.threads, threads_before)))
    try:
        return _train(config, run_dir, resume, progress, on_iteration)
    finally:
        torch.set_num_threads(threads_before)  # leave the process as it was


def _train(config: IPPOConfig, run_dir: str | Path | None, resume: bool, progress: bool,
           on_iteration: Callable[[dict[str, float]], None] | None) -> TrainResult:
    trainer = IPPOTrainer(config)
    metrics: list[dict[str, float]] = []
    done = 0
    folder = Path(run_dir) if run_dir is not None else None
    if folder is not None and (folder / "checkpoint.pt").exists():
        if not resume:
            raise FileExistsError(f"{folder} already holds a checkpoint; pass resume=True (--resume) to continue it")
        done, metrics = trainer.load(read_checkpoint(folder, trainer.device))
    resumed_at = done
    bar = ProgressBar(config.iterations, "ippo", unit="iterations", completed=done, disable=not progress)
    try:
        for iteration in range(done, config.iterations):
            row = trainer.iterate(iteration)
            metrics.append(row)
            done = iteration + 1
            bar.advance(description=f"return {row['return']:.2f}  apples {row['apples']:.1f}")
            if on_iteration is not None:
                on_iteration(row)
            if folder is not None and (done % config.checkpoint_every == 0 or done == config.iterations):
                save_run(trainer, folder, done, metrics)
    finally:
        bar.close()
    if folder is not None and resumed_at >= config.iterations:
        save_run(trainer, folder, done, metrics)  # nothing to add: rewrite the files (e.g. a deleted CSV)
    return TrainResult(config, metrics, trainer.policies, folder, resumed_at, trainer.device)


# -- evaluation -------------------------------------------------------------------------------------


def policy_chooser(policies: PolicySet, device: str = "cpu", greedy: bool = False):
    """A ``choose(observations (B, N, ...), rng) -> actions (B, N)`` for :func:`evaluate`."""
    view_shape = tuple(policies.spec["view_shape"])

    def choose(observations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        B, N = observations.shape[:2]
        seats = torch.arange(N, device=device).repeat(B)
        with torch.no_grad():
            logits, _ = policies.to(device).eval()(encode_windows(observations, policies.encoding, view_shape,
                                                                  device=device), seats)
        return sample_actions(logits, rng, greedy).reshape(B, N)

    return choose


def evaluate(world: str, choose: Callable[[np.ndarray, np.random.Generator], np.ndarray], *, seeds: list[int],
             n_agents: int = 4, rules: str = "ssd", grid_map: str = "small", steps: int = 100,
             observation: str = "symbolic", rng_seed: int = 0) -> dict[str, float]:
    """Play one episode per seed (all at once) with ``choose`` for every seat; the figures of
    :func:`episode_metrics`. ``choose`` gets the batched observations and a generator."""
    env = VectorGridworld(world, len(seeds), n_agents=n_agents, rules=rules, grid_map=resolve_map(world, grid_map),
                          observation=observation, rule_overrides={"episode_length": steps})
    rng = np.random.default_rng(rng_seed)
    observations = env.reset(seeds=list(seeds))
    B, N = len(seeds), n_agents
    arrays = {k: np.zeros((steps, B, N)) for k in ("rewards", "collected", "fired", "cleaned", "tagged")}
    for t in range(steps):
        rewards, _, observations = env.step(np.asarray(choose(observations, rng), dtype=np.int64))
        info = env.last_step_info()
        arrays["rewards"][t] = rewards
        for k in ("collected", "fired", "cleaned", "tagged"):
            arrays[k][t] = info[k]
    return episode_metrics(arrays["rewards"], arrays["collected"], arrays["fired"], arrays["cleaned"],
                           arrays["tagged"].astype(bool))
