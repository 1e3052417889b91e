"""Scripted strategies for repeated matrix games (``dilemmazoo/repeated-game-v0``).

Classic iterated prisoner's dilemma strategies (Axelrod 1984, "The Evolution of
Cooperation"; Nowak & Sigmund 1993 for Pavlov / win-stay lose-shift) plus two
payoff-reading baselines. Action index 0 is "cooperate" (the first label) and index 1
"defect" in the named dilemmas; the strategies below that speak of cooperating and
defecting use those indices.

- ``always_cooperate`` / ``always_defect``: play 0 / 1 every round.
- ``tit_for_tat``: 0 first, then the other's last played move.
- ``grim``: 0 until the other has played anything but 0 once, then 1 forever.
- ``pavlov`` (win-stay lose-shift): 0 first; repeat the last own move after a "win" (the
  other played 0, i.e. payoff R or T), switch after a "loss" (payoff S or P). Equivalently,
  play 0 iff both played the same move last round (Axelrod's ``WinStayLoseShift``).
- ``random``: uniform over the actions, from the generator given at ``reset``
  (``p_first``: probability of action 0 in 2-action games, default 0.5).
- ``greedy``: best response to the other's last played move, maximising the own stage
  payoff (ties to the lower index); the first move is the maximin action.
- ``welfare_maximiser``: the own part of the profile maximising the sum of both payoffs
  (ties to the lower profile index), assuming the other plays its part.

Strategies read only their :class:`~dilemmazoo.agents.base.Decision`: the observation
(``last_own``, ``last_other``, ``round``, ``phase``) and the world's payoff table where they
need it: ``payoffs=`` (the world's array) or ``game=`` (a name as the world takes it, e.g.
``"stag_hunt"`` or ``"ordinal:7"``), so a config can name it. Greedy and the welfare
maximiser read their seat from the agent id (``player_0`` is the row player). They answer
through the world's :class:`~dilemmazoo.envs.base.Choice` (``spec.action_for_option``), so
they never send an action the world would not accept. In a prediction step (Akata's
``predict_first`` variant) every strategy predicts that the other repeats its last move
(action 0 before the first round).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.envs.repeated_game import game_payoffs

__all__ = [
    "AlwaysCooperate",
    "AlwaysDefect",
    "Greedy",
    "Grim",
    "MATRIX_STRATEGIES",
    "MatrixStrategy",
    "Pavlov",
    "RandomStrategy",
    "TitForTat",
    "WelfareMaximiser",
    "make_matrix_strategy",
]

COOPERATE, DEFECT = 0, 1
PHASE_PREDICT = 1


def _scalar(observation: Any, key: str, default: int) -> int:
    if not isinstance(observation, dict) or key not in observation:
        return default
    return int(np.asarray(observation[key]).reshape(-1)[0])


class MatrixStrategy:
    """Base: keeps the played history from observations and answers by action index.

    Subclasses implement :meth:`choose` from ``self.own`` and ``self.other`` (the moves
    played in completed rounds, oldest first).
    """

    name = "matrix_strategy"

    def __init__(self, payoffs: Any = None, game: str | None = None):
        if payoffs is not None and game is not None:
            raise ValueError("give either payoffs or game, not both")
        if game is not None:
            payoffs = game_payoffs(game)
        self.payoffs = None if payoffs is None else np.asarray(payoffs, dtype=np.float64)
        self.own: list[int] = []
        self.other: list[int] = []
        self.rng = np.random.default_rng(0)
        self.agent_id = ""

    def reset(self, agent_id: str, rules: str | None, rng: np.random.Generator) -> None:
        self.agent_id = agent_id
        self.own, self.other = [], []
        self.rng = rng

    def observe(self, observation: Any) -> None:
        """Append the last completed round, once, when the observation shows a new one."""
        completed = _scalar(observation, "round", len(self.own) + 1) - 1
        last_own, last_other = _scalar(observation, "last_own", -1), _scalar(observation, "last_other", -1)
        if completed > len(self.own) and last_own >= 0:
            self.own.append(last_own)
            self.other.append(last_other)

    def act(self, request: Decision) -> Action:
        self.observe(request.observation)
        n = len(request.spec.options() or ())
        if _scalar(request.observation, "phase", 0) == PHASE_PREDICT:
            index = self.other[-1] if self.other else 0
        else:
            index = int(self.choose(n))
        label = request.spec.labels[index] if hasattr(request.spec, "labels") else str(index)
        return Action(value=request.spec.action_for_option(index), raw_text=f"Answer: {label}")

    def choose(self, n_actions: int) -> int:
        raise NotImplementedError

    def _need_payoffs(self, n_actions: int) -> np.ndarray:
        if self.payoffs is None:
            raise ValueError(f"{self.name} needs the game's payoffs: make_matrix_strategy('{self.name}', game=... or payoffs=...)")
        if self.payoffs.shape != (n_actions, n_actions, 2):
            raise ValueError(f"{self.name}'s payoffs have shape {self.payoffs.shape}, the game has {n_actions} actions")
        return self.payoffs

    def _seat(self) -> int:
        return 1 if self.agent_id.endswith("_1") else 0

    def _own_table(self, n_actions: int) -> np.ndarray:
        """``table[own, other]``: this player's stage payoff."""
        p = self._need_payoffs(n_actions)
        return p[:, :, 0] if self._seat() == 0 else p[:, :, 1].T


class AlwaysCooperate(MatrixStrategy):
    """Play action 0 (cooperate) every round."""

    name = "always_cooperate"

    def choose(self, n_actions: int) -> int:
        return COOPERATE


class AlwaysDefect(MatrixStrategy):
    """Play action 1 (defect) every round."""

    name = "always_defect"

    def choose(self, n_actions: int) -> int:
        return DEFECT


class TitForTat(MatrixStrategy):
    """Cooperate first, then copy the other's last played move (Axelrod 1984)."""

    name = "tit_for_tat"

    def choose(self, n_actions: int) -> int:
        return self.other[-1] if self.other else COOPERATE


class Grim(MatrixStrategy):
    """Cooperate until the other fails to cooperate once, then defect forever (Friedman 1971)."""

    name = "grim"

    def choose(self, n_actions: int) -> int:
        return DEFECT if any(move != COOPERATE for move in self.other) else COOPERATE


class Pavlov(MatrixStrategy):
    """Win-stay lose-shift (Nowak & Sigmund 1993): cooperate iff both moves matched last round."""

    name = "pavlov"

    def choose(self, n_actions: int) -> int:
        if not self.own:
            return COOPERATE
        return COOPERATE if self.own[-1] == self.other[-1] else DEFECT


class RandomStrategy(MatrixStrategy):
    """Uniformly random actions (probability ``p_first`` of action 0 in 2-action games)."""

    name = "random"

    def __init__(self, payoffs: Any = None, game: str | None = None, p_first: float = 0.5):
        super().__init__(payoffs, game)
        if not 0.0 <= p_first <= 1.0:
            raise ValueError(f"p_first must be in [0, 1], got {p_first}")
        self.p_first = p_first

    def choose(self, n_actions: int) -> int:
        if n_actions == 2:
            return 0 if self.rng.random() < self.p_first else 1
        return int(self.rng.integers(n_actions))


class Greedy(MatrixStrategy):
    """Best response to the other's last move; maximin in the first round."""

    name = "greedy"

    def choose(self, n_actions: int) -> int:
        table = self._own_table(n_actions)
        if not self.other:
            return int(np.argmax(table.min(axis=1)))
        return int(np.argmax(table[:, self.other[-1]]))


class WelfareMaximiser(MatrixStrategy):
    """Own part of the profile with the largest sum of payoffs."""

    name = "welfare_maximiser"

    def choose(self, n_actions: int) -> int:
        p = self._need_payoffs(n_actions)
        row, col = np.unravel_index(int(np.argmax(p.sum(axis=-1))), (n_actions, n_actions))
        return int(row if self._seat() == 0 else col)


MATRIX_STRATEGIES: dict[str, type[MatrixStrategy]] = {
    cls.name: cls
    for cls in (AlwaysCooperate, AlwaysDefect, TitForTat, Grim, Pavlov, RandomStrategy, Greedy, WelfareMaximiser)
}


def make_matrix_strategy(name: str, **params: Any) -> MatrixStrategy:
    """A strategy by name (``payoffs=`` for greedy and welfare_maximiser); unknown names list the known ones."""
    try:
        cls = MATRIX_STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown matrix strategy {name!r}; known: {', '.join(sorted(MATRIX_STRATEGIES))}") from None
    try:
        return cls(**params)
    except TypeError as error:
        raise ValueError(f"bad parameters for matrix strategy {name!r}: {error}") from None
