"""Credit assignment for the trainers: returns, group baselines, Advantage Alignment, A-GRAE.

One numpy implementation shared by the LLM trainer and the small-net trainer (``small_net.py``).
Every function is pure: arrays in, arrays out, no randomness.

Shapes and axes
---------------
Time is always the LAST axis. One agent's data is shaped ``(K, T)``: ``K`` matches of one group
(they share the environment seed: common random numbers) and ``T`` steps (rounds). Functions that
compare matches take ``group_axis`` (default 0) so that a batch of groups ``(G, K, T)`` works with
``group_axis=1``. The N-player form uses ``(K, N, T)``: agents on the second-to-last axis.

Sources
-------
- Duque et al., "Advantage Alignment Algorithms", ICLR 2025 (code: jduquevan/advantage-alignment).
- "Learning Robust Social Strategies with Large Language Models", arXiv 2511.19405
  (code: dereckpiche/AdAlignLLM): group-relative (leave-one-out) baseline without a critic,
  reward scale ``c``, round-level credit shared by the messages and the action of a round, and the
  hyper-parameters in :data:`CREDIT_PRESETS`.
- Yu et al., "Unveiling Implicit Advantage Symmetry: Why GRPO Struggles with Exploration and
  Difficulty Adaptation", arXiv 2602.05548 (A-GRAE); see :func:`agrae_weights` for the form chosen.

Formulas
--------
Returns-to-go (scaled):       ``G_t = sum_{t' >= t} gamma^(t' - t) r_t' / c``
Leave-one-out baseline:        ``b_t^(m) = mean_{m' != m} G_t^(m')`` over the ``K`` matches of a group
Group advantage:               ``A_t = G_t - b_t``
Naive credit:                  ``A1_t``
Sum-of-rewards credit:         ``A1_t + A2_t``
Advantage Alignment (2 agents), with ``gamma_aa`` the AA discount and ``t`` the step index:

- ``form="original"`` (``k < t``):  ``w_t = gamma_aa * sum_{k < t}  gamma_aa^(t - k) A1_k``
- ``form="jit"``      (``k <= t``): ``w_t = gamma_aa * sum_{k <= t} gamma_aa^(t - k) A1_k``
  i.e. the original weight plus ``gamma_aa * A1_t``: the agent's own advantage at ``t`` also
  counts as "past" (the ``exclude_k_equals_t=False`` switch of the reference code).
- ``credit_t = A1_t + beta * w_t * A2_t``.

N-player Advantage Alignment (Melting Pot version), ``t`` 1-based:
``aa_t^i = (sum_{k < t} A_k^i) * (sum_{j != i} A_t^j) / t`` and ``A*^i_t = A_t^i + beta * aa_t^i``.
At ``t = 1`` the sum over ``k < 1`` is empty, so ``aa_1 = 0`` and ``A*_1 = A_1``.
The N-player dispatcher :func:`n_player_credit` (used by the grid-world IPPO trainer, ``ippo.py``)
applies naive (``A^i``), sum-of-rewards (``A^i + sum_{j != i} A^j``: the co-players' summed
advantages, i.e. the advantage of the group's summed reward) or this AA credit to ``(..., N, T)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "AA_FORMS",
    "CREDIT_METHODS",
    "CREDIT_PRESETS",
    "CreditPreset",
    "advantage_alignment_credit",
    "advantage_alignment_weights",
    "agrae_advantages",
    "agrae_success_mask",
    "agrae_weights",
    "credit_from_rewards",
    "group_advantages",
    "leave_one_out_baseline",
    "n_player_aa_credit",
    "n_player_credit",
    "naive_credit",
    "returns_to_go",
    "round_credit_to_tokens",
    "sum_of_rewards_credit",
]

AA_FORMS = ("original", "jit")
CREDIT_METHODS = ("naive", "sum_rewards", "aa")


@dataclass(frozen=True)
class CreditPreset:
    """Per-world credit hyper-parameters (arXiv 2511.19405, "Advantage Alignment credit").

    ``beta`` and ``gamma_aa`` weight the AA term, ``gamma`` discounts returns, ``reward_scale``
    is the divisor ``c`` of the returns, ``group_size`` is ``K`` (matches sharing a seed).
    """

    beta: float
    gamma_aa: float
    gamma: float
    reward_scale: float
    group_size: int = 8


CREDIT_PRESETS: dict[str, CreditPreset] = {
    "trust_split": CreditPreset(beta=2.0, gamma_aa=0.96, gamma=0.96, reward_scale=100.0),
    "ipd": CreditPreset(beta=0.5, gamma_aa=0.9, gamma=0.9, reward_scale=5.0),
    "split_nocomm": CreditPreset(beta=1.0, gamma_aa=0.9, gamma=0.9, reward_scale=100.0),
}


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _as_float_array(name: str, values, min_ndim: int = 1) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s) (time last); got shape {array.shape}")
    return array


def _check_discount(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]; got {value}")
    return value


def _check_same_shape(first_name: str, first: np.ndarray, second_name: str, second: np.ndarray) -> None:
    if first.shape != second.shape:
        raise ValueError(f"{first_name} and {second_name} must have the same shape; got {first.shape} and {second.shape}")


# --------------------------------------------------------------------------------------------
# Returns and group-relative advantages
# --------------------------------------------------------------------------------------------


def returns_to_go(rewards, gamma: float, scale: float = 1.0) -> np.ndarray:
    """``G_t = sum_{t' >= t} gamma^(t' - t) r_t' / scale`` along the last (time) axis."""
    rewards = _as_float_array("rewards", rewards)
    gamma = _check_discount("gamma", gamma)
    if not float(scale) > 0.0:
        raise ValueError(f"scale must be > 0; got {scale}")
    returns = np.empty_like(rewards)
    running = np.zeros(rewards.shape[:-1])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        running = rewards[..., t] + gamma * running
        returns[..., t] = running
    return returns / float(scale)


def leave_one_out_baseline(returns, group_axis: int = 0) -> np.ndarray:
    """For each match and step, the mean of the OTHER ``K - 1`` matches of its group.

    ``returns`` has the group's matches on ``group_axis`` (``K >= 2``); the result has its shape.
    """
    returns = _as_float_array("returns", returns)
    try:
        group_size = returns.shape[group_axis]
    except IndexError:
        raise ValueError(f"group_axis={group_axis} is out of range for shape {returns.shape}") from None
    if group_size < 2:
        raise ValueError(f"a leave-one-out baseline needs K >= 2 matches on group_axis={group_axis}; got K={group_size}")
    total = returns.sum(axis=group_axis, keepdims=True)
    return (total - returns) / (group_size - 1)


def group_advantages(returns, group_axis: int = 0) -> np.ndarray:
    """``A = G - leave_one_out_baseline(G)``: the group-relative advantage (no critic)."""
    returns = _as_float_array("returns", returns)
    return returns - leave_one_out_baseline(returns, group_axis=group_axis)


# --------------------------------------------------------------------------------------------
# Credit rules
# --------------------------------------------------------------------------------------------


def naive_credit(own_advantages) -> np.ndarray:
    """Naive policy gradient: each action is credited with the agent's own advantage."""
    return _as_float_array("own_advantages", own_advantages).copy()


def sum_of_rewards_credit(own_advantages, other_advantages) -> np.ndarray:
    """Sum-of-rewards baseline: own advantage plus the co-player's (an advantage of the summed reward)."""
    own = _as_float_array("own_advantages", own_advantages)
    other = _as_float_array("other_advantages", other_advantages)
    _check_same_shape("own_advantages", own, "other_advantages", other)
    return own + other


def advantage_alignment_weights(own_advantages, gamma_aa: float, form: str = "original") -> np.ndarray:
    """The AA weight ``w_t`` of the module docstring, along the last (time) axis.

    ``original``: ``w_t = gamma_aa * sum_{k < t} gamma_aa^(t-k) A1_k`` (``w_0 = 0``);
    ``jit``: ``w_t = gamma_aa * sum_{k <= t} gamma_aa^(t-k) A1_k``.
    """
    own = _as_float_array("own_advantages", own_advantages)
    gamma_aa = _check_discount("gamma_aa", gamma_aa)
    if form not in AA_FORMS:
        raise ValueError(f"form must be one of {AA_FORMS}; got {form!r}")
    # past_t = sum_{k < t} gamma^(t-k) A_k, by the recurrence past_t = gamma * (past_{t-1} + A_{t-1}).
    past = np.zeros_like(own)
    for t in range(1, own.shape[-1]):
        past[..., t] = gamma_aa * (past[..., t - 1] + own[..., t - 1])
    if form == "jit":
        past = past + own  # the k = t term, gamma^0 * A_t
    return gamma_aa * past


def advantage_alignment_credit(own_advantages, other_advantages, beta: float, gamma_aa: float,
                               form: str = "original") -> np.ndarray:
    """Advantage Alignment (Duque et al., ICLR 2025): ``A1_t + beta * w_t * A2_t``.

    ``own_advantages`` (``A1``) and ``other_advantages`` (``A2``, the co-player's advantage at the
    same step of the same match) share one shape, time last. ``beta = 0`` gives the naive credit.
    """
    own = _as_float_array("own_advantages", own_advantages)
    other = _as_float_array("other_advantages", other_advantages)
    _check_same_shape("own_advantages", own, "other_advantages", other)
    weights = advantage_alignment_weights(own, gamma_aa, form)
    return own + float(beta) * weights * other


def n_player_aa_credit(advantages, beta: float) -> np.ndarray:
    """N-player Advantage Alignment (Melting Pot form), ``advantages`` shaped ``(..., N, T)``.

    ``aa_t^i = (sum_{k < t} A_k^i) * (sum_{j != i} A_t^j) / t`` with 1-based ``t``
    (``aa_1 = 0``: empty past), and the credit ``A + beta * aa``.
    """
    advantages = _as_float_array("advantages", advantages, min_ndim=2)
    if advantages.shape[-2] < 2:
        raise ValueError(f"n_player_aa_credit needs N >= 2 agents on axis -2; got shape {advantages.shape}")
    steps = advantages.shape[-1]
    past_own = np.cumsum(advantages, axis=-1) - advantages  # exclusive: sum_{k < t}
    others_now = advantages.sum(axis=-2, keepdims=True) - advantages
    one_based_t = np.arange(1, steps + 1, dtype=np.float64)
    return advantages + float(beta) * past_own * others_now / one_based_t


def n_player_credit(method: str, advantages, *, beta: float = 0.0) -> np.ndarray:
    """Credit for ``N`` agents whose advantages are shaped ``(..., N, T)`` (agents on axis -2, time last).

    ``method``:

    - ``"naive"``: each agent's own advantage ``A^i_t`` (a copy);
    - ``"sum_rewards"``: ``A^i_t + sum_{j != i} A^j_t``, own plus the co-players' summed advantages at
      the same step (for ``N = 2`` the two-player :func:`sum_of_rewards_credit`; for ``N`` players
      every agent gets the sum over all agents: the advantage of the group's summed reward);
    - ``"aa"``: :func:`n_player_aa_credit` with ``beta`` (``beta = 0`` gives the naive credit).

    ``beta`` is used by ``"aa"`` only. Needs every agent's advantages at once (centralised training).
    """
    if method not in CREDIT_METHODS:
        raise ValueError(f"method must be one of {CREDIT_METHODS}; got {method!r}")
    advantages = _as_float_array("advantages", advantages, min_ndim=2)
    if method == "naive":
        return naive_credit(advantages)
    if method == "sum_rewards":
        return np.broadcast_to(advantages.sum(axis=-2, keepdims=True), advantages.shape).copy()
    if not float(beta) >= 0.0:
        raise ValueError(f"beta must be >= 0; got {beta}")
    return n_player_aa_credit(advantages, beta)


# --------------------------------------------------------------------------------------------
# A-GRAE (asymmetric group-relative advantage estimation)
# --------------------------------------------------------------------------------------------


def agrae_weights(success_mask, progress: float, suppression: float = 0.3, curriculum: float = 1.0,
                  group_axis: int = 0) -> np.ndarray:
    """Per-match A-GRAE weights (Yu et al., arXiv 2602.05548); the form chosen here.

    The paper and its code disagree on exact forms; this module uses two multiplicative factors:

    - group level (exploration): a successful match is scaled by ``1 - suppression``, failed
      matches keep 1. (:func:`agrae_advantages` applies this factor to POSITIVE advantages only.)
    - sample level (curriculum): every match of a group whose success rate is ``p`` gets
      ``1 + curriculum * (1 - 2 * progress) * (p - 1/2)``: at the start (``progress = 0``) easy
      groups (high ``p``) weigh more, at mid-training all weigh 1, at the end (``progress = 1``)
      hard groups weigh more. With ``curriculum <= 2`` it stays >= 0.

    ``success_mask`` is a bool array with the group's matches on ``group_axis``; ``progress`` is
    the fraction of training done. Returns weights of the mask's shape.
    """
    success = np.asarray(success_mask)
    if success.dtype != bool:
        raise ValueError(f"success_mask must be a boolean array; got dtype {success.dtype}")
    progress = float(progress)
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be in [0, 1] (fraction of training done); got {progress}")
    if not 0.0 <= suppression <= 1.0:
        raise ValueError(f"suppression must be in [0, 1]; got {suppression}")
    if not 0.0 <= curriculum <= 2.0:
        raise ValueError(f"curriculum must be in [0, 2] (keeps weights >= 0); got {curriculum}")
    success_rate = success.mean(axis=group_axis, keepdims=True)
    curriculum_weight = 1.0 + curriculum * (1.0 - 2.0 * progress) * (success_rate - 0.5)
    return curriculum_weight * np.where(success, 1.0 - suppression, 1.0)


def agrae_success_mask(scores, threshold: float | None = None, group_axis: int = 0) -> np.ndarray:
    """Which matches count as successes for A-GRAE: ``scores`` (one per match, e.g. the return per
    round) strictly above ``threshold``, or, when it is ``None``, strictly above the mean of their
    group (the matches on ``group_axis``)."""
    scores = _as_float_array("scores", scores)
    bar = scores.mean(axis=group_axis, keepdims=True) if threshold is None else float(threshold)
    return scores > bar


def agrae_advantages(advantages, success_mask, progress: float, suppression: float = 0.3,
                     curriculum: float = 1.0, group_axis: int = 0) -> np.ndarray:
    """Apply :func:`agrae_weights` to ``advantages`` shaped ``(K,)`` or ``(K, T, ...)``.

    ``success_mask`` is shaped like the leading axes of ``advantages`` (one flag per match).
    Only positive advantages of successful matches are suppressed; every advantage of the group
    gets the curriculum weight.
    """
    advantages = _as_float_array("advantages", advantages)
    success = np.asarray(success_mask)
    if success.shape != advantages.shape[: success.ndim]:
        raise ValueError(f"success_mask shape {success.shape} must match the leading axes of advantages {advantages.shape}")
    if not 0.0 <= suppression <= 1.0:
        raise ValueError(f"suppression must be in [0, 1]; got {suppression}")
    extra_axes = (1,) * (advantages.ndim - success.ndim)  # broadcast one flag per match over time
    curriculum_weight = agrae_weights(success, progress, suppression=0.0, curriculum=curriculum, group_axis=group_axis)
    curriculum_weight = curriculum_weight.reshape(curriculum_weight.shape + extra_axes)
    successful = success.reshape(success.shape + extra_axes)
    suppress = np.where(successful & (advantages > 0), 1.0 - suppression, 1.0)
    return advantages * curriculum_weight * suppress


# --------------------------------------------------------------------------------------------
# Rounds to tokens, and the whole pipeline
# --------------------------------------------------------------------------------------------


def round_credit_to_tokens(round_credit, round_index, fill: float = 0.0) -> np.ndarray:
    """Spread per-round credit onto segments (steps or tokens) given each segment's round.

    ``round_credit`` is ``(..., R)``; ``round_index`` is ``(L,)`` or ``(..., L)`` of ints in
    ``[0, R)``, or ``-1`` for a segment that belongs to no round (prompt, padding), which gets
    ``fill``. The messages and the action of one round thus share that round's credit
    (arXiv 2511.19405). Returns ``(..., L)``.
    """
    credit = _as_float_array("round_credit", round_credit)
    index = np.asarray(round_index)
    if not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"round_index must hold integers; got dtype {index.dtype}")
    rounds = credit.shape[-1]
    if index.size and (index.min() < -1 or index.max() >= rounds):
        raise ValueError(f"round_index values must be in [-1, {rounds - 1}]; got min {index.min()}, max {index.max()}")
    try:
        index = np.broadcast_to(index, credit.shape[:-1] + index.shape[-1:])
    except ValueError:
        raise ValueError(f"round_index shape {np.shape(round_index)} does not fit round_credit shape {credit.shape}") from None
    out = np.take_along_axis(credit, np.where(index < 0, 0, index), axis=-1)
    return np.where(index < 0, float(fill), out)


def credit_from_rewards(method: str, own_rewards, other_rewards, *, gamma: float, reward_scale: float = 1.0,
                        beta: float = 0.0, gamma_aa: float = 0.0, form: str = "original",
                        group_axis: int = 0) -> np.ndarray:
    """Rewards of one agent and its co-player (same shape, time last) -> per-step credit.

    Scaled returns-to-go, leave-one-out group advantages for both agents, then ``method``:
    ``naive`` (own advantage), ``sum_rewards`` (own + co-player's) or ``aa`` (Advantage Alignment
    with ``beta``, ``gamma_aa``, ``form``).
    """
    if method not in CREDIT_METHODS:
        raise ValueError(f"method must be one of {CREDIT_METHODS}; got {method!r}")
    own = group_advantages(returns_to_go(own_rewards, gamma, reward_scale), group_axis=group_axis)
    if method == "naive":
        return naive_credit(own)
    other = group_advantages(returns_to_go(other_rewards, gamma, reward_scale), group_axis=group_axis)
    if method == "sum_rewards":
        return sum_of_rewards_credit(own, other)
    return advantage_alignment_credit(own, other, beta, gamma_aa, form)
