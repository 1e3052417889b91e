"""Social outcome metrics of Perolat et al. 2017 ("A multi-agent reinforcement learning model of
common-pool resource appropriation"), as pure functions of per-step records.

Inputs are arrays ``rewards (T, N)`` (reward of each of N agents at each of T steps) and
``tagged (T, N)`` (True while an agent is removed by a beam); ``R_i`` is agent i's return.

- efficiency ``U = sum_i R_i / T``;
- equality ``E = 1 - sum_i sum_j |R_i - R_j| / (2 N sum_i R_i)`` (one minus the Gini
  coefficient; it can go negative when returns are negative; 1 when all returns are equal,
  including all zero);
- sustainability ``S`` = mean over agents of the mean time step (0-based) at which the agent got
  a positive reward (agents that never did are left out; 0 when none did);
- peace ``P = (N T - tagged agent-steps) / T`` (at most N);
- maximin ``min_i R_i``.

:mod:`dilemmazoo.analysis` imports these so records and live runs share one definition.
"""

from __future__ import annotations

import numpy as np

__all__ = ["efficiency", "equality", "maximin", "peace", "social_outcomes", "sustainability"]


def _matrix(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a (steps, agents) array, got shape {array.shape}")
    return array


def efficiency(rewards: np.ndarray) -> float:
    """``sum_i R_i / T``."""
    r = _matrix(rewards, "rewards")
    return float(r.sum() / r.shape[0]) if r.shape[0] else 0.0


def equality(rewards: np.ndarray) -> float:
    """``1 - sum_ij |R_i - R_j| / (2 N sum_i R_i)`` of the returns, in [0, 1].

    Equal returns give 1 whatever their sign; unequal returns of which one is negative give NaN:
    the formula would leave [0, 1] (1.41 for returns (-1, -10), -4.5 for (60, -50)).
    """
    returns = _matrix(rewards, "rewards").sum(axis=0)
    differences = np.abs(returns[:, None] - returns[None, :]).sum()
    if differences == 0:
        return 1.0
    if (returns < 0).any():
        return float("nan")  # 1 - G leaves [0, 1] once a return is negative: undefined
    return float(1.0 - differences / (2 * len(returns) * returns.sum()))


def sustainability(rewards: np.ndarray) -> float:
    """Mean over agents of the mean step index of their positive rewards."""
    r = _matrix(rewards, "rewards")
    positive = r > 0
    counts = positive.sum(axis=0)
    if not counts.any():
        return 0.0
    steps = np.arange(r.shape[0], dtype=np.float64)[:, None]
    mean_times = (positive * steps).sum(axis=0)[counts > 0] / counts[counts > 0]
    return float(mean_times.mean())


def peace(tagged: np.ndarray) -> float:
    """``(N T - tagged agent-steps) / T``."""
    t = _matrix(tagged, "tagged")
    steps, agents = t.shape
    return float((agents * steps - t.sum()) / steps) if steps else float(agents)


def maximin(rewards: np.ndarray) -> float:
    """The smallest return."""
    return float(_matrix(rewards, "rewards").sum(axis=0).min())


def social_outcomes(rewards: np.ndarray, tagged: np.ndarray | None = None) -> dict[str, float]:
    """All five metrics; ``tagged`` defaults to never tagged."""
    r = _matrix(rewards, "rewards")
    t = np.zeros_like(r, dtype=bool) if tagged is None else np.asarray(tagged, dtype=bool)
    if t.shape != r.shape:
        raise ValueError(f"tagged must have the shape of rewards {r.shape}, got {t.shape}")
    return {
        "efficiency": efficiency(r),
        "equality": equality(r),
        "sustainability": sustainability(r),
        "peace": peace(t),
        "maximin": maximin(r),
    }
