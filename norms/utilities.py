"""Utility transforms: what agents optimise, computed from the world's rewards every step.

A transform subclasses :class:`dilemmazoo.norms.base.UtilityTransform`:
``transform(rewards, state) -> utilities`` every step, and ``reset(agents)``, which the runner
calls at the start of each episode (transforms with memory, like the smoothed rewards of
inequity aversion, start again from zero; the default does nothing). ``state`` is ``{"step": int, "agents": live agents,
"infos": the step's infos}``. The records keep both columns: ``reward`` (the world's) and
``utility`` (after the transform).

Transforms (config ``utility: {name: ..., kwargs: {...}}``):

- ``inequity_aversion`` -- :class:`InequityAversion`, Fehr & Schmidt (1999) on temporally
  smoothed rewards, as in Hughes et al. (2018);
- ``welfare`` -- :class:`WelfareInternalization`, a weight on the group's mean reward;
- ``loyalty`` -- :class:`dilemmazoo.norms.loyalty.LoyaltyUtility`, Pant & Yu's loyalty
  (teammates' welfare and tolerance of one's own cost, per team; arXiv 2601.16237).

Inequity aversion
-----------------
Hughes, Leibo, Phillips, Tuyls, Duenez-Guzman, Garcia Castaneda, Dunning, Zhu, McKee, Koster,
Roff & Graepel (2018), "Inequity aversion improves cooperation in intertemporal social
dilemmas" (NeurIPS), after Fehr & Schmidt (1999), "A theory of fairness, competition, and
cooperation" (QJE 114(3)). With N agents, rewards ``r_i(t)`` and smoothed rewards

    e_i(t) = gamma * lambda * e_i(t-1) + r_i(t),        e_i(0) = 0 before the first step,

agent i's utility is

    u_i(t) = r_i(t) - alpha / (N-1) * sum_{j != i} max(e_j(t) - e_i(t), 0)
                    - beta  / (N-1) * sum_{j != i} max(e_i(t) - e_j(t), 0).

``alpha`` weighs disadvantageous inequity (envy: others are ahead), ``beta`` advantageous
inequity (guilt: i is ahead). Both terms are *subtracted*: being ahead costs utility too.
Sequential Social Dilemma Games (eugenevinitsky/sequential_social_dilemma_games) adds the
advantageous term instead, so its agents like being ahead; that is not Fehr-Schmidt and not
what is computed here (``tests/test_utilities.py`` shows the difference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dilemmazoo.envs.checks import check_real
from dilemmazoo.norms.base import UtilityTransform

__all__ = [
    "InequityAversion",
    "UTILITY_TRANSFORMS_AVAILABLE",
    "WelfareInternalization",
    "fehr_schmidt",
    "smooth_rewards",
    "welfare_mix",
]


# -- pure mechanics -----------------------------------------------------------------------------

def fehr_schmidt(rewards: np.ndarray, smoothed: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Fehr-Schmidt utilities ``u_i = r_i - alpha/(N-1) sum_j max(e_j - e_i, 0) - beta/(N-1) sum_j max(e_i - e_j, 0)``.

    ``rewards`` (r) and ``smoothed`` (e) have the agents on the last axis (shape ``(..., N)``);
    the result has the same shape. With a single agent there is nobody to compare with and
    ``u = r``.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    smoothed = np.asarray(smoothed, dtype=np.float64)
    if rewards.shape != smoothed.shape:
        raise ValueError(f"rewards and smoothed must have the same shape, got {rewards.shape} and {smoothed.shape}")
    n = rewards.shape[-1] if rewards.ndim else 1
    if n < 2:
        return rewards.copy()
    # gap[..., i, j] = e_j - e_i; the diagonal is 0 and adds nothing to either sum
    gap = smoothed[..., None, :] - smoothed[..., :, None]
    disadvantage = np.maximum(gap, 0.0).sum(axis=-1)
    advantage = np.maximum(-gap, 0.0).sum(axis=-1)
    return rewards - alpha / (n - 1) * disadvantage - beta / (n - 1) * advantage


def smooth_rewards(previous: np.ndarray, rewards: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """One step of the smoothing recurrence ``e(t) = gamma * lam * e(t-1) + r(t)``."""
    return gamma * lam * np.asarray(previous, dtype=np.float64) + np.asarray(rewards, dtype=np.float64)


def welfare_mix(rewards: np.ndarray, weight: float) -> np.ndarray:
    """``u_i = (1 - w) r_i + w * mean_j r_j`` over the last axis (``w`` = ``weight``)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    return (1.0 - weight) * rewards + weight * rewards.mean(axis=-1, keepdims=True)


# -- transforms -----------------------------------------------------------------------------------

class InequityAversion(UtilityTransform):
    """Inequity aversion (Fehr & Schmidt 1999) on smoothed rewards (Hughes et al. 2018).

    Arguments (defaults):

    - ``alpha=5.0``: weight of disadvantageous inequity (others' smoothed rewards above one's
      own); the typical value for Hughes et al. (2018)'s agents in Cleanup and Harvest, as the
      project spec ``gridworlds.md`` records it (alpha = 5, beta = 0.05).
    - ``beta=0.05``: weight of advantageous inequity (one's own above others'); the same source.
      To study either term alone, set the other to 0.
    - ``gamma=0.99``: the agents' discount factor, which Hughes et al. multiply into the
      smoothing (``e(t) = gamma * lam * e(t-1) + r(t)``); 0.99 is the usual RL discount.
    - ``lam=0.95``: the temporal smoothing parameter lambda of Hughes et al. (this project's
      default; with ``gamma`` the trace keeps 0.9405 of itself per step, a memory of ~17 steps).

    The comparison group at each step is the set of agents in ``rewards`` (N of them). The
    smoothed rewards of agents missing from a step decay as if they got 0. Call ``reset(agents)``
    at the start of each episode; without it the first call starts the traces at zero.
    """

    def __init__(self, alpha: float = 5.0, beta: float = 0.05, gamma: float = 0.99, lam: float = 0.95):
        self.alpha = check_real("alpha", alpha, low=0.0)
        self.beta = check_real("beta", beta, low=0.0)
        self.gamma = check_real("gamma", gamma, low=0.0, high=1.0)
        self.lam = check_real("lam", lam, low=0.0, high=1.0)
        self.smoothed: dict[str, float] = {}

    def reset(self, agents: Sequence[str]) -> None:
        """Start an episode: every agent's smoothed reward is 0."""
        self.smoothed = dict.fromkeys(agents, 0.0)

    def __call__(self, rewards: Mapping[str, float], state: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Advance the smoothed rewards by this step's ``rewards`` and return each rewarded agent's utility."""
        for agent in rewards:
            self.smoothed.setdefault(agent, 0.0)
        agents = list(self.smoothed)
        step_rewards = np.array([float(rewards.get(agent, 0.0)) for agent in agents])
        traces = smooth_rewards(np.array([self.smoothed[a] for a in agents]), step_rewards, self.gamma, self.lam)
        self.smoothed = dict(zip(agents, traces.tolist()))
        present = [agent for agent in agents if agent in rewards]
        index = [agents.index(agent) for agent in present]
        utilities = fehr_schmidt(step_rewards[index], traces[index], self.alpha, self.beta)
        return dict(zip(present, utilities.tolist()))

    def __repr__(self) -> str:
        return f"InequityAversion(alpha={self.alpha:g}, beta={self.beta:g}, gamma={self.gamma:g}, lam={self.lam:g})"


class WelfareInternalization(UtilityTransform):
    """Welfare internalisation: ``u_i = (1 - w) r_i + w * mean_j r_j`` over the agents rewarded this step.

    ``weight=0.5`` (``w`` in [0, 1]): 0 is the selfish reward, 1 makes every agent maximise the
    group's mean reward (the utilitarian welfare), between them agents are partly prosocial.
    The prosocial agents of Peysakhovich & Lerer (2018), "Prosocial learning agents solve
    generalized stag hunts better than selfish ones" (AAMAS), optimise such a mix of their own
    and the others' rewards. No memory: it keeps the contract's ``reset``, which does nothing.
    """

    def __init__(self, weight: float = 0.5):
        self.weight = check_real("weight", weight, low=0.0, high=1.0)

    def __call__(self, rewards: Mapping[str, float], state: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Each rewarded agent's mix of its own reward and the mean of this step's rewards."""
        if not rewards:
            return {}
        agents = list(rewards)
        utilities = welfare_mix(np.array([float(rewards[a]) for a in agents]), self.weight)
        return dict(zip(agents, utilities.tolist()))

    def __repr__(self) -> str:
        return f"WelfareInternalization(weight={self.weight:g})"


#: name -> class, for the integrator to register in ``dilemmazoo.norms.UTILITY_TRANSFORMS``
UTILITY_TRANSFORMS_AVAILABLE: dict[str, type] = {
    "inequity_aversion": InequityAversion,
    "welfare": WelfareInternalization,
}
