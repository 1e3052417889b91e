"""Mediation: a mediator plays one action for everyone who delegates to it.

Source: Tewolde, Zhang, Guzman Piedrahita, Conitzer, Jin, "CoopEval" (arXiv 2604.15267, ICML
2026), the Mediation mechanism (``mechanisms/mediation.py`` in the reference code). Each player
designs a mediator: a map from the number of delegators ``k = 1 .. N`` to a base action (it must
cover every ``k`` and may not answer "delegate"). An approval vote picks one mediator
(:func:`dilemmazoo.envs.institutions.voting.approval_vote`). The game gains one action,
"delegate" (CoopEval numbers it ``A{n}`` after the ``n`` base actions). After the actions are
sampled, with ``k >= 1`` delegators, every delegator plays ``mediator[k]`` and every other seat
keeps its own action; base-game payoffs follow. The mediator sees only ``k``, not who delegated
or what the others chose, and action indices are shared across seats.

Rule
----
:func:`play` ``(mapping, actions, delegate)`` with ``k = #{i : actions[i] == delegate}``:
``played[i] = mapping[k]`` if ``actions[i] == delegate`` else ``actions[i]``; with ``k = 0`` the
actions are returned unchanged (a copy).

A mediator ``mapping`` is either

- a mapping ``{k: action}`` with integer keys ``k`` in ``1 .. N``; or
- a sequence: of length ``N``, listing the actions for ``k = 1 .. N`` in order; or of length
  ``N + 1``, indexed by ``k`` itself (entry 0, never used, may be anything, e.g. ``None``).

:func:`play` needs only the entry for the ``k`` that occurred; :func:`check_mediator` checks a
whole design (every ``k`` covered, every action a base action), as a mechanism does when a player
proposes one.

This is a rule of a world, so it lives in the envs layer and imports numpy and the standard
library only; the mediation norm wraps it to put it on any world.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np

__all__ = ["check_mediator", "delegators", "mediator_entries", "play"]


def _check_index(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_actions(actions: Any) -> np.ndarray:
    array = np.asarray(actions)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu":
        raise ValueError(f"actions must be a 1-D sequence of integer action indices, one per seat, got {actions!r}")
    if array.min() < 0:
        raise ValueError(f"actions must be indices >= 0, got {array.tolist()}")
    return array.astype(np.int64)


def mediator_entries(mapping: Any, n_seats: int, delegate: int) -> dict[int, int]:
    """The entries ``{k: action}`` of a mediator for ``n_seats`` seats, in either accepted form
    (see the module docstring), each action checked to be an index >= 0 other than ``delegate``.
    Keys outside ``1 .. n_seats`` are an error; missing keys are simply absent."""
    n_seats = _check_index(n_seats, "n_seats")
    delegate = _check_index(delegate, "delegate")
    if isinstance(mapping, Mapping):
        raw = {}
        for key, action in mapping.items():
            if isinstance(key, bool) or not isinstance(key, Integral) or not 1 <= key <= n_seats:
                raise ValueError(f"mediator keys must be delegator counts 1..{n_seats}, got {key!r}")
            raw[int(key)] = action
    elif isinstance(mapping, Sequence | np.ndarray) and not isinstance(mapping, str | bytes):
        entries = list(mapping)
        if len(entries) == n_seats:
            raw = {k: entries[k - 1] for k in range(1, n_seats + 1)}
        elif len(entries) == n_seats + 1:
            raw = {k: entries[k] for k in range(1, n_seats + 1)}
        else:
            raise ValueError(
                f"a mediator sequence must have {n_seats} entries (k = 1..{n_seats}) or {n_seats + 1} "
                f"(indexed by k), got {len(entries)}"
            )
    else:
        raise ValueError(f"mediator must be a mapping {{k: action}} or a sequence, got {mapping!r}")
    entries_out = {}
    for k, action in sorted(raw.items()):
        index = _check_index(action, f"mediator[{k}]")
        if index == delegate:
            raise ValueError(f"mediator[{k}] must be a base action, not the delegate action {delegate}")
        entries_out[k] = index
    return entries_out


def check_mediator(mapping: Any, n_seats: int, delegate: int, n_actions: int | None = None) -> dict[int, int]:
    """A whole mediator design as ``{k: action}`` for ``k = 1 .. n_seats``: every ``k`` covered,
    every action a base action (``< n_actions`` when given, never ``delegate``)."""
    entries = mediator_entries(mapping, n_seats, delegate)
    missing = [k for k in range(1, int(n_seats) + 1) if k not in entries]
    if missing:
        raise ValueError(f"mediator must cover every delegator count 1..{n_seats}; missing {missing}")
    if n_actions is not None:
        n_actions = _check_index(n_actions, "n_actions")
        bad = {k: a for k, a in entries.items() if a >= n_actions}
        if bad:
            raise ValueError(f"mediator actions must be base actions 0..{n_actions - 1}, got {bad}")
    return entries


def delegators(actions: Any, delegate: int) -> np.ndarray:
    """Boolean mask of the seats whose action is ``delegate``."""
    return _check_actions(actions) == _check_index(delegate, "delegate")


def play(mapping: Any, actions: Any, delegate: int) -> np.ndarray:
    """The actions played once the mediator ``mapping`` acts for the ``k`` seats that chose
    ``delegate``: delegators play ``mapping[k]``, the others keep theirs (int64, one per seat).

    >>> play({1: 1, 2: 0}, [2, 1], delegate=2).tolist()   # one delegator: the mediator defects
    [1, 1]
    >>> play({1: 1, 2: 0}, [2, 2], delegate=2).tolist()   # both delegate: it cooperates
    [0, 0]
    """
    seat_actions = _check_actions(actions)
    mask = seat_actions == _check_index(delegate, "delegate")
    k = int(mask.sum())
    entries = mediator_entries(mapping, seat_actions.size, delegate)
    played = seat_actions.copy()
    if k == 0:
        return played
    if k not in entries:
        raise ValueError(f"mediator has no action for k = {k} delegators (it covers {sorted(entries)})")
    played[mask] = entries[k]
    return played
