"""Propose-then-vote: a group chooses its norm by plurality over its members' proposals.

Source: Gupta et al., "Social learning and collective norms in a common-pool resource"
(arXiv 2510.14401): each agent proposes a norm (a harvest threshold), then all vote; the
winner becomes the group norm ``G(t)`` and is broadcast. The paper finds this group decision
robust: survival 38.21 of 50 rounds even with selfish priors, against 17.56 for social
learning alone. Collective-choice arrangements are Ostrom's design principle 3 (*Governing
the Commons*, 1990).

These are rules of a world (``dilemmazoo.envs.cpr`` calls them), so they live in the envs layer
and import numpy and the standard library only. The norm
:class:`dilemmazoo.norms.voting.ProposeThenVote` names and parameterises the same rules to put
them on other worlds.

Rules
-----
- :func:`distinct_proposals`: proposals are rounded to ``decimals`` places and the distinct
  values, sorted ascending, are the options of the ballot (so 4.96 and 5.04 are one option,
  5.0, at ``decimals=1``).
- :func:`plurality`: the option with the most votes wins; a tie is broken uniformly at
  random. It always draws exactly one uniform number ``u`` from ``rng`` (the winner is tied
  option ``floor(u * n_tied)``), tie or not, so the random stream after a vote does not
  depend on the ballots.
- :func:`elect`: a ballot where each voter names the *seat* whose proposal it supports (a
  seat index is always a valid vote, whatever the number of distinct options); votes for
  seats with the same rounded proposal count for the same option.
- :func:`approval_winners`: approval voting (Brams & Fishburn 1978), as CoopEval's mediation and
  contracting mechanisms use it to pick one design among the players' proposals (Tewolde et al.,
  arXiv 2604.15267): each voter approves any subset of the options (``true``/``false`` per option),
  an option's score is its number of approvals, and the winners are all options with the highest
  score. Nobody approving anything makes every option a winner (all tie at zero).
- :func:`approval_vote`: one winner among :func:`approval_winners`, chosen uniformly with the same
  single draw as :func:`plurality` (one ``rng.random()``, tie or not). CoopEval breaks the tie with
  Python's global ``random``; here the seeded generator of the run does it.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

__all__ = [
    "Election",
    "approval_counts",
    "approval_vote",
    "approval_winners",
    "distinct_proposals",
    "elect",
    "is_vote_round",
    "option_of_seat",
    "plurality",
]


def plurality(ballots: Any, n_options: int, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """``(winner_index, counts)``: ``counts[k]`` ballots name option ``k``; the winner has the
    most, ties broken uniformly at random (one ``rng.random()`` draw, always)."""
    if isinstance(n_options, bool) or not isinstance(n_options, Integral) or n_options < 1:
        raise ValueError(f"n_options must be an integer >= 1, got {n_options!r}")
    ballot_array = np.asarray(ballots)
    if ballot_array.ndim != 1 or (ballot_array.size and ballot_array.dtype.kind not in "iu"):
        raise ValueError(f"ballots must be a 1-D array of option indices, got {ballots!r}")
    if ballot_array.size and (ballot_array.min() < 0 or ballot_array.max() >= n_options):
        raise ValueError(f"ballots must name options 0..{n_options - 1}, got {ballot_array.tolist()}")
    counts = np.bincount(ballot_array.astype(np.int64), minlength=int(n_options))
    tied = np.flatnonzero(counts == counts.max())
    pick = min(int(rng.random() * len(tied)), len(tied) - 1)
    return int(tied[pick]), counts


def approval_counts(ballots: Any) -> np.ndarray:
    """Approvals per option: ``ballots[v][k]`` says whether voter ``v`` approves option ``k``
    (booleans, or 0/1 integers); returns the column sums (int64, one per option)."""
    array = np.asarray(ballots)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(
            f"ballots must be a 2-D array: one row per voter, one approval (true/false) per option, got {ballots!r}"
        )
    if array.dtype.kind == "b":
        approvals = array
    elif array.size == 0 or (array.dtype.kind in "iu" and np.isin(array, (0, 1)).all()):
        approvals = array.astype(bool)
    else:
        raise ValueError(f"ballots must hold booleans (or 0/1), got {array.tolist()}")
    return approvals.sum(axis=0, dtype=np.int64)


def approval_winners(ballots: Any) -> list[int]:
    """The indices of the most-approved options, ascending: all options tie when nobody
    approves anything (or there are no voters)."""
    counts = approval_counts(ballots)
    return np.flatnonzero(counts == counts.max()).tolist()


def approval_vote(ballots: Any, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """``(winner_index, counts)`` of an approval vote: the winner is uniform among
    :func:`approval_winners` (tied option ``floor(u * n_tied)`` for one ``u = rng.random()``,
    drawn always, so the random stream after a vote does not depend on the ballots)."""
    counts = approval_counts(ballots)
    tied = np.flatnonzero(counts == counts.max())
    pick = min(int(rng.random() * len(tied)), len(tied) - 1)
    return int(tied[pick]), counts


def distinct_proposals(values: Any, decimals: int = 1) -> np.ndarray:
    """The ballot's options: ``values`` rounded to ``decimals`` places (numpy's rounding, halves
    to even), unique, ascending."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"proposals must be a non-empty array of finite numbers, got {values!r}")
    if isinstance(decimals, bool) or not isinstance(decimals, Integral) or decimals < 0:
        raise ValueError(f"decimals must be an integer >= 0, got {decimals!r}")
    return np.unique(np.round(array, int(decimals)) + 0.0)  # + 0.0: -0.0 reads 0.0


@dataclass(frozen=True)
class Election:
    """The result of :func:`elect`: ``options`` (distinct rounded proposals, ascending),
    ``counts`` (votes per option), ``winner_index`` and ``winner`` (the elected value)."""

    options: np.ndarray
    counts: np.ndarray
    winner_index: int
    winner: float


def option_of_seat(proposals: Any, decimals: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(options, option_index_per_seat)``: the ballot and which option each seat proposed."""
    array = np.asarray(proposals, dtype=np.float64).reshape(-1)
    options = distinct_proposals(array, decimals)
    rounded = np.round(array, int(decimals)) + 0.0
    return options, np.searchsorted(options, rounded)


def elect(proposals: Any, votes_for_seat: Any, rng: np.random.Generator, decimals: int = 1) -> Election:
    """Plurality over the distinct rounded ``proposals``; voter ``i`` supports the proposal of
    seat ``votes_for_seat[i]`` (its own seat is allowed)."""
    options, seat_option = option_of_seat(proposals, decimals)
    votes = np.asarray(votes_for_seat)
    if votes.ndim != 1 or (votes.size and votes.dtype.kind not in "iu"):
        raise ValueError(f"votes_for_seat must be a 1-D array of seat indices, got {votes_for_seat!r}")
    if votes.size and (votes.min() < 0 or votes.max() >= len(seat_option)):
        raise ValueError(f"votes must name seats 0..{len(seat_option) - 1}, got {votes.tolist()}")
    winner_index, counts = plurality(seat_option[votes.astype(np.int64)], len(options), rng)
    return Election(options=options, counts=counts, winner_index=winner_index, winner=float(options[winner_index]))


def is_vote_round(round_number: int, vote_every: int) -> bool:
    """Whether 1-based round ``round_number`` opens with a vote when a vote is held every
    ``vote_every`` rounds: rounds 1, 1 + vote_every, 1 + 2 * vote_every, ..."""
    if isinstance(vote_every, bool) or not isinstance(vote_every, Integral) or vote_every < 1:
        raise ValueError(f"vote_every must be an integer >= 1, got {vote_every!r}")
    if isinstance(round_number, bool) or not isinstance(round_number, Integral) or round_number < 1:
        raise ValueError(f"round_number must be an integer >= 1, got {round_number!r}")
    return (round_number - 1) % vote_every == 0
