"""Axelrod-Python strategies as dilemmazoo agents (``axelrod:TitForTat`` in configs).

Source: the Axelrod-Python library (Knight et al. 2016, "An open framework for the
reproducible study of the iterated prisoner's dilemma"), whose strategy docstrings cite
the papers each strategy comes from. Needs the ``games`` extra:
``pip install 'dilemmazoo[games]'``.

An :class:`AxelrodAgent` plays a 2x2 dilemma of ``dilemmazoo/repeated-game-v0`` whose
action 0 is cooperate (C) and action 1 defect (D). Axelrod hands a strategy the whole
opponent object; here the agent sees only its observation (STYLE.md rule 2): it keeps its
Player's history and a stand-in opponent's history in sync with the moves *played* in each
completed round (``last_own``, ``last_other``; after trembles, as axelrod's own noisy matches
record them). Strategies that inspect or manipulate their opponent's source or state cannot
work from observations and are refused.

Match attributes (``match_length``, ``game`` as R, S, T, P, ``noise``) are passed to the
Player as axelrod's ``Match`` does, because some strategies read them; stochastic
strategies are seeded from the generator given at ``reset``.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision

__all__ = ["AxelrodAgent", "axelrod_strategy_names", "rpst_from_payoffs"]

INSTALL_HINT = "Axelrod strategies need the 'games' extra: pip install 'dilemmazoo[games]'"
PHASE_PREDICT = 1


def _axelrod():
    try:
        import axelrod
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(INSTALL_HINT) from error
    return axelrod


def axelrod_strategy_names() -> list[str]:
    """Class names of all Axelrod strategies (``TitForTat``, ``Grudger``, ...), sorted."""
    return sorted(cls.__name__ for cls in _axelrod().all_strategies)


def rpst_from_payoffs(payoffs: Any) -> tuple[float, float, float, float]:
    """``(R, P, S, T)`` of a symmetric 2x2 game in our ``payoffs[i, j, player]`` layout."""
    p = np.asarray(payoffs, dtype=np.float64)
    if p.shape != (2, 2, 2) or not np.allclose(p[:, :, 0], p[:, :, 1].T):
        raise ValueError(f"Axelrod strategies play symmetric 2x2 games; got payoffs of shape {p.shape}")
    return float(p[0, 0, 0]), float(p[1, 1, 0]), float(p[0, 1, 0]), float(p[1, 0, 0])


def _strategy_class(name: str):
    axl = _axelrod()
    known = list(axl.all_strategies) + list(axl.cheating_strategies)  # cheaters, to refuse them clearly
    by_name = {cls.__name__: cls for cls in known}
    by_display = {cls.name.lower(): cls for cls in known}
    if name in by_name:
        return by_name[name]
    if name.lower() in by_display:
        return by_display[name.lower()]
    close = difflib.get_close_matches(name, list(by_name), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown Axelrod strategy {name!r}.{hint} See axelrod_strategy_names() for all of them.")


class AxelrodAgent:
    """An Axelrod strategy answering the world's Choice (action 0 = C, action 1 = D).

    ``payoffs``: the game as our ``(2, 2, 2)`` array (default: R3 S0 T5 P1), told to the
    Player as its match ``game``; ``match_length``: the number of rounds the Player is told
    (-1: unknown, axelrod's default outside a Match); ``noise``: the match noise it is told.
    Strategy keyword arguments go in ``params``.
    """

    def __init__(
        self,
        strategy: str,
        *,
        payoffs: Any = None,
        match_length: int = -1,
        noise: float = 0.0,
        params: dict[str, Any] | None = None,
    ):
        axl = _axelrod()
        self.strategy_name = strategy
        self.cls = _strategy_class(strategy)
        self.params = dict(params or {})
        try:
            probe = self.cls(**self.params)
        except TypeError as error:
            raise ValueError(f"bad parameters for Axelrod strategy {strategy!r}: {error}") from None
        classifiers = axl.Classifiers
        if any(classifiers[key](probe) for key in ("inspects_source", "manipulates_source", "manipulates_state")):
            raise ValueError(
                f"Axelrod strategy {strategy!r} inspects or manipulates its opponent, "
                "which agents that see only observations cannot do"
            )
        if payoffs is None:
            r, p, s, t = 3.0, 1.0, 0.0, 5.0
        else:
            r, p, s, t = rpst_from_payoffs(payoffs)
        self.game = axl.Game(r=r, s=s, t=t, p=p)
        self.match_length = match_length
        self.noise = float(noise)
        self.player = None
        self._opponent = None

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        axl = _axelrod()
        self.player = self.cls(**self.params)
        # The opponent as the strategy may know it: a history, built from observations only.
        self._opponent = axl.Player()
        attributes = {"length": self.match_length, "game": self.game, "noise": self.noise}
        self.player.set_match_attributes(**attributes)
        self._opponent.set_match_attributes(**attributes)
        self.player.set_seed(int(rng.integers(2**31 - 1)))

    def _sync(self, observation: Any) -> None:
        axl = _axelrod()
        moves = (axl.Action.C, axl.Action.D)
        completed = int(np.asarray(observation["round"])) - 1
        own, other = int(np.asarray(observation["last_own"])), int(np.asarray(observation["last_other"]))
        if completed > len(self.player.history) and own >= 0:
            self.player.update_history(moves[own], moves[other])
            self._opponent.update_history(moves[other], moves[own])

    def act(self, request: Decision) -> Action:
        if self.player is None:
            raise RuntimeError("call reset() before act()")
        options = request.spec.options() or []
        if len(options) != 2:
            raise ValueError(f"Axelrod strategies choose between two moves (C, D), the world offers {len(options)}")
        self._sync(request.observation)
        if int(np.asarray(request.observation.get("phase", 0))) == PHASE_PREDICT:
            history = self._opponent.history
            index = 0 if not history or history[-1] == _axelrod().Action.C else 1
        else:
            move = self.player.strategy(self._opponent)
            index = 0 if move == _axelrod().Action.C else 1
        label = request.spec.labels[index] if hasattr(request.spec, "labels") else str(index)
        return Action(value=request.spec.action_for_option(index), raw_text=f"Answer: {label}")
