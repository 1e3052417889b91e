"""Propose-then-vote as a norm that can be put on any world.

Source: Gupta et al., "Social learning and collective norms in a common-pool resource"
(arXiv 2510.14401): each agent proposes a norm (a harvest threshold), then all vote; the
winner becomes the group norm ``G(t)``. Collective-choice arrangements are Ostrom's design
principle 3 (*Governing the Commons*, 1990).

The rules themselves are part of a world's rules and live in the envs layer,
:mod:`dilemmazoo.envs.institutions.voting` (``elect``, ``plurality``, ``distinct_proposals``,
``option_of_seat``, ``is_vote_round``, ``Election``); the effort commons
(``dilemmazoo.envs.cpr``) calls them directly. This module names and parameterises them once,
so configs, ``dilemmazoo list`` and other worlds refer to one validated schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from dilemmazoo.envs.institutions.voting import Election, elect, is_vote_round

__all__ = ["ProposeThenVote"]


@dataclass(frozen=True)
class ProposeThenVote:
    """Every ``vote_every`` rounds each agent proposes a norm, then all vote by plurality (Gupta et al.).

    Two moves are added to the round: ``propose`` (a harvest threshold) and ``vote`` (one of
    the distinct proposals, rounded to ``decimals`` places). The winner is the new group
    norm, broadcast to everyone. ``elect`` calls :func:`dilemmazoo.envs.institutions.voting.elect`.
    """

    vote_every: int = 10
    decimals: int = 1
    name: str = "propose_then_vote"
    moves: tuple[str, ...] = ("propose", "vote")

    def __post_init__(self) -> None:
        if isinstance(self.vote_every, bool) or not isinstance(self.vote_every, Integral) or self.vote_every < 1:
            raise ValueError(f"vote_every must be an integer >= 1, got {self.vote_every!r}")
        if isinstance(self.decimals, bool) or not isinstance(self.decimals, Integral) or self.decimals < 0:
            raise ValueError(f"decimals must be an integer >= 0, got {self.decimals!r}")

    def is_vote_round(self, round_number: int) -> bool:
        """Rounds 1, 1 + vote_every, 1 + 2 * vote_every, ... (1-based) open with a vote."""
        return is_vote_round(round_number, self.vote_every)

    def elect(self, proposals: Any, votes_for_seat: Any, rng: np.random.Generator) -> Election:
        return elect(proposals, votes_for_seat, rng, self.decimals)
