"""Credit of the LoRA trainer: from the rewards of a rollout's matches to each action token's credit.

Part of :mod:`~dilemmazoo.agents.trainers.llm_trainer`. The credit math itself (returns,
leave-one-out baselines, Advantage Alignment, A-GRAE) is :mod:`dilemmazoo.agents.trainers.credit`,
one implementation for all trainers; this module groups a rollout's
:class:`~dilemmazoo.agents.trainers.llm_rollout.MatchRecord` rewards per round and hands them to it.
Sources: arXiv 2511.19405 (round-level credit shared by the messages and the action of a round);
Duque et al., "Advantage Alignment Algorithms" (ICLR 2025); Yu et al., arXiv 2602.05548 (A-GRAE).

Credit
------
Rewards are summed per round (a step's round is ``infos[agent]["round"]``, 1-based; worlds without
it count each step as a round, and a step reporting no round, 0, joins the previous step's round),
giving ``(matches, N, T)``. Per group, :func:`credit_from_rewards` gives each trained seat of a
two-player world its per-round credit (``naive``, ``sum_rewards`` or ``aa``) from its own and the
co-player's rewards (centralised: the co-player's advantages are computed here from its rewards).
With ``N > 2`` players the seats' leave-one-out advantages go to
:func:`~dilemmazoo.agents.trainers.credit.n_player_credit`: ``naive``, ``sum_rewards`` (own plus
the co-players' summed advantages) or the N-player AA form
``A + beta * (sum_{k<t} A_k) * (sum_{j != i} A^j_t) / t`` (``gamma_aa`` and ``aa_form`` do not
apply).
Every action token of a round (messages and the action) gets that round's credit
(:func:`~dilemmazoo.agents.trainers.credit.round_credit_to_tokens`).

Optional A-GRAE (``agrae: true``; Yu et al., arXiv 2602.05548), applied to the per-round credit
of each seat and group after the credit rule, by
:func:`~dilemmazoo.agents.trainers.credit.agrae_advantages`: a match is *successful* when the
seat's return per round exceeds ``agrae_success_threshold`` (when that is ``None``: the mean return per round
of the seat over its group's matches); positive credit of successful matches is multiplied by
``1 - agrae_suppression`` (exploration), and every credit of a group by the curriculum weight
``1 + agrae_curriculum * (1 - 2 * progress) * (p - 1/2)`` with ``p`` the group's success rate and
``progress`` = iterations done / ``iterations`` (easy groups first, hard groups late). The share of
successful matches is logged as ``agrae_success_rate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dilemmazoo.agents.trainers.credit import (
    agrae_advantages,
    agrae_success_mask,
    credit_from_rewards,
    group_advantages,
    n_player_credit,
    returns_to_go,
    round_credit_to_tokens,
)

if TYPE_CHECKING:  # the records need torch; the credit works on any objects with these fields
    from dilemmazoo.agents.trainers.llm_rollout import MatchRecord, Sample

__all__ = ["assign_credit", "round_rewards"]


def round_rewards(match: MatchRecord, rounds: int | None = None) -> np.ndarray:
    """``(N, T)``: each seat's rewards summed per round (``match.rounds`` holds each step's round).
    ``rounds`` pads ``T`` with zero-reward rounds (a match that ended early, in a group of longer ones)."""
    index = np.asarray(match.rounds, dtype=np.int64)
    count = int(index.max()) + 1 if index.size else 0
    out = np.zeros((len(match.rewards), max(count, rounds or 0)))
    for seat, rewards in enumerate(match.rewards):
        np.add.at(out[seat], index, np.asarray(rewards, dtype=np.float64))
    return out


def assign_credit(matches: Sequence[MatchRecord], samples: Sequence[Sample], method: str, params: dict[str, float],
                  form: str = "original", agrae: dict[str, Any] | None = None) -> float:
    """Set ``sample.credit``: per group (matches with the same ``group``), ``credit_from_rewards``
    for each seat against its co-player (two players) or ``n_player_credit`` over all seats (more),
    read at the sample's round (messages and the action of a round share it). ``params``:
    ``gamma``, ``reward_scale``, ``beta``, ``gamma_aa``.

    ``agrae`` (``progress``, ``suppression``, ``curriculum``, ``success``) reweights each seat's
    per-round credit of a group by A-GRAE (module docstring); the share of successful
    (match, seat) pairs is returned (NaN without A-GRAE)."""
    by_group: dict[int, list[int]] = {}
    for m, match in enumerate(matches):
        by_group.setdefault(match.group, []).append(m)
    credit = {}
    successes = []
    for members in by_group.values():
        longest = max(max(matches[m].rounds, default=-1) + 1 for m in members)
        rewards = np.stack([round_rewards(matches[m], longest) for m in members])  # (K, N, T)
        players = rewards.shape[1]
        if players > 2:
            advantages = group_advantages(returns_to_go(rewards, params["gamma"], params["reward_scale"]))
            group_credit = n_player_credit(method, advantages, beta=params["beta"])
        for seat in range(players):
            if players > 2:
                per_round = group_credit[:, seat]
            else:
                per_round = credit_from_rewards(method, rewards[:, seat], rewards[:, 1 - seat], gamma=params["gamma"],
                                                reward_scale=params["reward_scale"], beta=params["beta"],
                                                gamma_aa=params["gamma_aa"], form=form)
            if agrae is not None:
                success = agrae_success_mask(rewards[:, seat].mean(axis=-1), agrae["success"])
                successes.extend(success.tolist())
                per_round = agrae_advantages(per_round, success, agrae["progress"], suppression=agrae["suppression"],
                                             curriculum=agrae["curriculum"])
            for row, m in enumerate(members):
                credit[(m, seat)] = per_round[row]
    for sample in samples:
        per_round = credit[(sample.match, sample.seat)]
        sample.token_credits = round_credit_to_tokens(per_round, np.full(sample.action_tokens, sample.round)).tolist()
        sample.credit = float(per_round[sample.round])
    return float(np.mean(successes)) if successes else float("nan")
