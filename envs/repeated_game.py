"""Repeated matrix games — ``dilemmazoo/repeated-game-v0``.

Two players meet for ``n_rounds`` rounds of the same stage game, given by name or as an
explicit payoff array (2x2 or n x n).

Sources
-------
- Akata et al. 2023, "Playing repeated games with large language models" (arXiv 2305.16867):
  10 rounds; the prisoner's dilemma 8/8 (both J), 0/10 and 10/0 (one defects), 5/5 (both F);
  battle of the sexes 10/7 or 7/10 when the players match, 0/0 otherwise; neutral option
  labels "J" and "F"; the variant that asks a player to predict the other's move first.
- Robinson & Goforth 2005, "The Topology of the 2x2 Games: A New Periodic Table": the 144
  strictly ordinal 2x2 games (each player ranks the four outcomes 1 < 2 < 3 < 4).
- Textbook iterated prisoner's dilemma (Axelrod 1984): R=3, S=0, T=5, P=1.
- CoopEval (Tewolde et al. 2026, arXiv 2604.15267; code Xiao215/CoopEval at 8559e85, its
  ``configs/games/*.yaml`` and ``games/{travellers_dilemma,trust_game}.py``): the one-shot
  games ``coopeval_pd``, ``travellers_dilemma``, ``trust``, ``coopeval_stag_hunt`` and
  ``matching_pennies`` below, and the normalisation points in :data:`COOPEVAL_REFERENCE`.

Payoffs
-------
``payoffs[i, j, k]`` is the payoff to player ``k`` (0: ``player_0``, the row player; 1:
``player_1``, the column player) when ``player_0`` plays action ``i`` and ``player_1`` plays
action ``j``. :func:`named_game` gives (action 0 is the "cooperative"/first-named move):

=========================  ===================  ===================================================
name                       labels               payoffs (row, column)
=========================  ===================  ===================================================
prisoners_dilemma          Cooperate, Defect    CC 3,3  CD 0,5  DC 5,0  DD 1,1 (R3 S0 T5 P1)
akata_prisoners_dilemma    Cooperate, Defect    CC 8,8  CD 0,10 DC 10,0 DD 5,5
battle_of_the_sexes        Football, Ballet     FF 10,7 FB 0,0  BF 0,0  BB 7,10 (Akata)
stag_hunt                  Stag, Hare           SS 4,4  SH 1,3  HS 3,1  HH 2,2 (R4 T3 P2 S1)
chicken                    Swerve, Straight     SS 3,3  SW 1,4  WS 4,1  WW 0,0 (T4 R3 S1 P0)
matching_pennies           Heads, Tails         match +1,-1, mismatch -1,+1 (also CoopEval's)
coopeval_pd                Cooperate, Defect    CC 2,2  CD 0,3  DC 3,0  DD 1,1 (CoopEval)
coopeval_stag_hunt         Stag, Hare           SS 5,5  SH 0,3  HS 3,0  HH 3,3 (CoopEval)
trust                      Give, Keep           GG 10,10 GK 0,20 KG 6,2 KK 4,4 (CoopEval)
travellers_dilemma         5, 4, 3, 2           4 x 4, :func:`travellers_dilemma` (CoopEval)
=========================  ===================  ===================================================

``trust`` is CoopEval's *simultaneous* trust game and is seat-asymmetric: ``player_0`` is the
investor (seat 1), ``player_1`` the trustee (seat 2), and they move at the same time. Keeping
is dominant for the trustee and the investor wants to match, so Keep/Keep is the unique
equilibrium. ``rules`` tells each seat the table from its own side ("you win ... the other
player wins ...").

``travellers_dilemma`` (Basu 1994, CoopEval's parameters): each player claims one of
``min_claim + i * claim_spacing`` (2, 3, 4, 5); equal claims ``X`` pay ``X`` each; otherwise,
with ``L`` the lower claim, the lower claimant gets ``L + bonus`` and the higher ``L - bonus``
(bonus 2). Action 0 is the highest claim (5), the cooperative one, as action 0 is the
cooperative move in every named dilemma here; CoopEval numbers the claims upwards (its A0 is
the claim 2 = our action 3). The unique equilibrium is both claiming the lowest claim.

``game="ordinal:N"`` (N in 1..144) is :func:`ordinal_game(N)`. The 576 pairs of rank
permutations fall into 144 classes under relabelling each player's two strategies (no game
is fixed by a relabelling, so 576 / 4 = 144, Robinson & Goforth's count; identifying games
that differ only by swapping the players' roles as well gives Rapoport & Guyer's 78). Each
class is represented by its unique member in which the row player's 4 lies in row 0 and the
column player's 4 in column 0; the representatives are sorted by (row payoffs read row by
row, column payoffs read row by row) and numbered from 1. This numbering is ours, not the
position in Robinson & Goforth's periodic table.

Arguments
---------
- ``game`` (a name above or ``"ordinal:N"``) or ``payoffs`` (array of shape ``(n, n, 2)``,
  n >= 2, finite); neither gives the prisoner's dilemma, both is an error;
- ``n_rounds=10``;
- ``noise=0.0``: trembling hand; with probability ``noise`` a player's played action is
  replaced by a uniformly random *other* action (drawn from the reset-seeded generator);
  infos record the intended and the played action;
- ``labels="named"`` (the game's move names; ``"neutral"`` for games without names),
  ``"neutral"`` (Akata's "J", "F"; for n > 2 actions letters "A", "B", ...), ``"indexed"``
  (CoopEval's neutral tokens "A0", "A1", ..., in action order), or an explicit list of ``n``
  distinct names;
- ``predict_first=False``: Akata's variant; each round first asks both players to predict
  the other's move (no payoff), then to act;
- ``render_mode=None`` | ``"ansi"`` (returns a string) | ``"human"`` (prints it).

Agents, actions, observations, rewards
--------------------------------------
Agents ``player_0`` and ``player_1`` both decide at every step. Action: ``Discrete(n)``, an
action index; in a prediction step the same index names the predicted move of the other.
Observation: ``Dict`` of ``round`` (``Discrete(n_rounds + 2)``: the round about to be
played, 1-based; ``n_rounds + 1`` once over), ``phase`` (``Discrete(2)``: 0 act, 1 predict),
``last_own`` and ``last_other`` (``Discrete(n + 1, start=-1)``: the actions *played* in the
last completed round, -1 before the first). Reward: the stage payoff of the played profile
in an action step, 0 in a prediction step. The game ends after ``n_rounds`` action steps.

Infos (every step, and at reset): ``intended``, ``played``, ``other_played`` (action
indices, -1 where nothing was played this step), ``prediction`` (this round's prediction of
the other's move, -1 if none), ``phase`` ("act" | "predict" | "" at reset) and ``round``.

Language view: ``rules`` gives the payoff table in Akata's words from the player's own point
of view (``n_rounds=1``: "a game once", the one-shot wording); ``describe`` the history of played moves and the scores; ``action_spec`` a
:class:`~dilemmazoo.envs.base.Choice` over the labels. Answer grammar: the last ``Answer:``
line names exactly one label as a whole word ("Answer: I will cooperate"); naming two, a
negation ("not Defect") or another world's move ("Cooperate and donate") is invalid, and so
is a move word with neutral labels ("J (cooperate)"). Every action is a real move here, so
the declared fallback for answers that never parse is action index 0 (the first label, the
cooperative move in the named dilemmas); the runner counts each use in the records.

Version history
---------------
- v0: first version.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from numbers import Integral, Real
from typing import Any

import numpy as np
from gymnasium import spaces

from dilemmazoo.envs.base import ActionSpec, Choice, LanguageWorld

__all__ = [
    "COOPEVAL_REFERENCE",
    "GAME_LABELS",
    "NAMED_GAMES",
    "N_ORDINAL_GAMES",
    "RepeatedGameEnv",
    "game_payoffs",
    "named_game",
    "ordinal_game",
    "ordinal_games",
    "stage_nash_equilibria",
    "travellers_dilemma",
]

PHASE_ACT, PHASE_PREDICT = 0, 1
NEUTRAL_LABELS_2 = ("J", "F")  # Akata et al.'s option names


def travellers_dilemma(min_claim: float = 2, n_claims: int = 4, claim_spacing: float = 1, bonus: float = 2) -> np.ndarray:
    """The traveller's dilemma (Basu 1994) as a payoff array ``(n_claims, n_claims, 2)``.

    Action ``i`` claims ``min_claim + (n_claims - 1 - i) * claim_spacing``: action 0 is the
    highest (cooperative) claim. Equal claims ``X`` pay ``X`` each; otherwise, with ``L`` the
    lower claim, the lower claimant gets ``L + bonus`` and the higher ``L - bonus``. The
    defaults are CoopEval's (claims 2, 3, 4, 5; bonus 2).
    """
    if isinstance(n_claims, bool) or not isinstance(n_claims, Integral) or n_claims < 2:
        raise ValueError(f"n_claims must be an integer of at least 2, got {n_claims!r}")
    for name, value in (("min_claim", min_claim), ("claim_spacing", claim_spacing), ("bonus", bonus)):
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if claim_spacing <= 0 or bonus <= 0:
        raise ValueError(f"claim_spacing and bonus must be > 0, got {claim_spacing!r} and {bonus!r}")
    claims = [float(min_claim + (n_claims - 1 - i) * claim_spacing) for i in range(n_claims)]
    payoffs = np.empty((n_claims, n_claims, 2), dtype=np.float64)
    for i, mine in enumerate(claims):
        for j, theirs in enumerate(claims):
            low = min(mine, theirs)
            if mine == theirs:
                payoffs[i, j] = (mine, theirs)
            elif mine < theirs:
                payoffs[i, j] = (low + bonus, low - bonus)
            else:
                payoffs[i, j] = (low - bonus, low + bonus)
    return payoffs


def _travellers_dilemma_table() -> tuple[tuple[tuple[float, float], ...], ...]:
    return tuple(tuple((float(a), float(b)) for a, b in row) for row in travellers_dilemma())

# (row, column) payoffs per profile, rows = player_0's action.
NAMED_GAMES: dict[str, tuple[tuple[tuple[float, float], ...], ...]] = {
    "prisoners_dilemma": (((3, 3), (0, 5)), ((5, 0), (1, 1))),
    "akata_prisoners_dilemma": (((8, 8), (0, 10)), ((10, 0), (5, 5))),
    "battle_of_the_sexes": (((10, 7), (0, 0)), ((0, 0), (7, 10))),
    "stag_hunt": (((4, 4), (1, 3)), ((3, 1), (2, 2))),
    "chicken": (((3, 3), (1, 4)), ((4, 1), (0, 0))),
    "matching_pennies": (((1, -1), (-1, 1)), ((-1, 1), (1, -1))),
    # CoopEval's one-shot games (Tewolde et al. 2026): see the module docstring.
    "coopeval_pd": (((2, 2), (0, 3)), ((3, 0), (1, 1))),
    "coopeval_stag_hunt": (((5, 5), (0, 3)), ((3, 0), (3, 3))),
    "trust": (((10, 10), (0, 20)), ((6, 2), (4, 4))),
    "travellers_dilemma": _travellers_dilemma_table(),
}
GAME_LABELS: dict[str, tuple[str, ...]] = {
    "prisoners_dilemma": ("Cooperate", "Defect"),
    "akata_prisoners_dilemma": ("Cooperate", "Defect"),
    "battle_of_the_sexes": ("Football", "Ballet"),
    "stag_hunt": ("Stag", "Hare"),
    "chicken": ("Swerve", "Straight"),
    "matching_pennies": ("Heads", "Tails"),
    "coopeval_pd": ("Cooperate", "Defect"),
    "coopeval_stag_hunt": ("Stag", "Hare"),
    "trust": ("Give", "Keep"),
    "travellers_dilemma": ("5", "4", "3", "2"),
}
#: CoopEval's normalisation points per game: (payoff per player at the stage equilibrium it uses,
#: payoff per player when all cooperate); a mean payoff x normalises to (x - NE) / (coop - NE)
#: [CoopEval visualization/analysis_utils.py, NormalizeScore]. Matching pennies has no
#: cooperative outcome; CoopEval's points (-1, 0) are kept as published.
COOPEVAL_REFERENCE: dict[str, tuple[float, float]] = {
    "coopeval_pd": (1.0, 2.0),
    "travellers_dilemma": (2.0, 5.0),
    "trust": (4.0, 10.0),
    "coopeval_stag_hunt": (3.0, 5.0),
    "matching_pennies": (-1.0, 0.0),
}
N_ORDINAL_GAMES = 144


# ---------------------------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------------------------


def named_game(name: str) -> np.ndarray:
    """The payoff array ``(n, n, 2)`` of a named game (``(2, 2, 2)`` but for the 4-claim
    ``travellers_dilemma``; see the module docstring)."""
    if name not in NAMED_GAMES:
        raise ValueError(f"unknown game {name!r}; known: {', '.join(NAMED_GAMES)} or 'ordinal:N' (N in 1..144)")
    return np.array(NAMED_GAMES[name], dtype=np.float64)


@lru_cache(maxsize=1)
def _ordinal_table() -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    canonical = set()
    for row in itertools.permutations((1, 2, 3, 4)):
        for col in itertools.permutations((1, 2, 3, 4)):
            # cells in order (0,0), (0,1), (1,0), (1,1)
            if row.index(4) in (0, 1) and col.index(4) in (0, 2):
                canonical.add((row, col))
    return tuple(sorted(canonical))


def ordinal_games() -> np.ndarray:
    """All 144 strictly ordinal 2x2 games, shape ``(144, 2, 2, 2)``; index ``N - 1`` is game N."""
    return np.stack([ordinal_game(n) for n in range(1, N_ORDINAL_GAMES + 1)])


def ordinal_game(index: int) -> np.ndarray:
    """Ordinal 2x2 game number ``index`` (1..144), payoffs 1..4 per player (module docstring)."""
    if isinstance(index, bool) or not isinstance(index, Integral) or not 1 <= index <= N_ORDINAL_GAMES:
        raise ValueError(f"ordinal game index must be an integer from 1 to {N_ORDINAL_GAMES}, got {index!r}")
    row, col = _ordinal_table()[int(index) - 1]
    return np.stack([np.array(row, dtype=np.float64).reshape(2, 2), np.array(col, dtype=np.float64).reshape(2, 2)], axis=-1)


def game_payoffs(game: str) -> np.ndarray:
    """Payoffs for a game name or ``"ordinal:N"``."""
    if not isinstance(game, str):
        raise ValueError(f"game must be a string, got {game!r}")
    if game.startswith("ordinal:"):
        number = game.split(":", 1)[1].strip()
        if not number.isdigit():
            raise ValueError(f"ordinal games are named 'ordinal:N' with N from 1 to {N_ORDINAL_GAMES}, got {game!r}")
        return ordinal_game(int(number))
    return named_game(game)


def stage_nash_equilibria(payoffs: Any) -> list[tuple[int, int]]:
    """Pure-strategy Nash equilibria ``(row action, column action)`` of the stage game.

    A profile is an equilibrium when neither player gains by deviating alone (weak best
    responses count). Sorted by row then column.
    """
    p = _check_payoffs(payoffs)
    best_row = p[:, :, 0].max(axis=0)  # per column action
    best_col = p[:, :, 1].max(axis=1)  # per row action
    n = p.shape[0]
    return [(i, j) for i in range(n) for j in range(n) if p[i, j, 0] >= best_row[j] and p[i, j, 1] >= best_col[i]]


def _check_payoffs(payoffs: Any) -> np.ndarray:
    try:
        p = np.array(payoffs, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"payoffs must be numbers of shape (n, n, 2), got {payoffs!r}") from error
    if p.ndim != 3 or p.shape[0] != p.shape[1] or p.shape[2] != 2 or p.shape[0] < 2:
        raise ValueError(f"payoffs must have shape (n, n, 2) with n >= 2 (row, column payoffs), got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("payoffs must be finite numbers")
    return p


def _indexed_labels(n: int) -> tuple[str, ...]:
    return tuple(f"A{i}" for i in range(n))


def _neutral_labels(n: int) -> tuple[str, ...]:
    if n == 2:
        return NEUTRAL_LABELS_2
    if n > 26:
        return tuple(f"Option {i + 1}" for i in range(n))
    return tuple(chr(ord("A") + i) for i in range(n))


def _fmt(value: float) -> str:
    return f"{value:g}"


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------


class RepeatedGameEnv(LanguageWorld):
    """Two players repeat a matrix game: prisoner's dilemma, battle of the sexes, any n x n (Akata et al. 2023)."""

    metadata = {"render_modes": ["human", "ansi"], "name": "repeated_game_v0", "is_parallelizable": True}

    def __init__(
        self,
        game: str | None = None,
        payoffs: Any = None,
        n_rounds: int = 10,
        noise: float = 0.0,
        labels: str | Sequence[str] = "named",
        predict_first: bool = False,
        render_mode: str | None = None,
    ):
        if game is not None and payoffs is not None:
            raise ValueError("give either game (a name) or payoffs (an array), not both")
        if payoffs is not None:
            self.payoffs = _check_payoffs(payoffs)
            self.game = "custom"
        else:
            self.game = "prisoners_dilemma" if game is None else game
            self.payoffs = game_payoffs(self.game)
        self.payoffs.setflags(write=False)
        self.n_actions = int(self.payoffs.shape[0])
        if isinstance(n_rounds, bool) or not isinstance(n_rounds, Integral) or n_rounds < 1:
            raise ValueError(f"n_rounds must be an integer of at least 1, got {n_rounds!r}")
        self.n_rounds = int(n_rounds)
        if isinstance(noise, bool) or not isinstance(noise, Real) or not math.isfinite(noise) or not 0 <= noise <= 1:
            raise ValueError(f"noise must be a probability in [0, 1], got {noise!r}")
        self.noise = float(noise)
        self.labels = self._labels_from(labels)
        if not isinstance(predict_first, bool):
            raise ValueError(f"predict_first must be True or False, got {predict_first!r}")
        self.predict_first = predict_first
        self.render_mode = self._checked_render_mode(render_mode)

        self.possible_agents = ["player_0", "player_1"]
        self.agents: list[str] = []
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        self._action_spaces = {agent: spaces.Discrete(self.n_actions) for agent in self.possible_agents}
        self._observation_spaces = {
            agent: spaces.Dict(
                {
                    "round": spaces.Discrete(self.n_rounds + 2),
                    "phase": spaces.Discrete(2),
                    "last_own": spaces.Discrete(self.n_actions + 1, start=-1),
                    "last_other": spaces.Discrete(self.n_actions + 1, start=-1),
                }
            )
            for agent in self.possible_agents
        }
        self._rng: np.random.Generator | None = None
        self._reset_state()

    def _labels_from(self, labels: Any) -> tuple[str, ...]:
        if labels == "named":
            return GAME_LABELS.get(self.game, _neutral_labels(self.n_actions))
        if labels == "neutral":
            return _neutral_labels(self.n_actions)
        if labels == "indexed":
            return _indexed_labels(self.n_actions)
        if isinstance(labels, str) or not isinstance(labels, Sequence):
            raise ValueError(
                f"labels must be 'named', 'neutral', 'indexed' or a list of {self.n_actions} names, got {labels!r}"
            )
        result = tuple(labels)
        if len(result) != self.n_actions or not all(isinstance(x, str) and x.strip() for x in result):
            raise ValueError(f"labels must be {self.n_actions} non-empty strings (one per action), got {list(result)}")
        if len({x.strip().lower() for x in result}) != len(result):
            raise ValueError(f"labels must differ (ignoring case), got {list(result)}")
        return tuple(x.strip() for x in result)

    def _reset_state(self) -> None:
        self.round = 1  # the round about to be played
        self.phase = PHASE_PREDICT if self.predict_first else PHASE_ACT
        self.intended: list[tuple[int, int]] = []  # per completed round
        self.played: list[tuple[int, int]] = []
        self.predictions: list[tuple[int, int]] = []  # per round, when predict_first
        self.scores = np.zeros(2, dtype=np.float64)

    # -- PettingZoo API -------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self._reset_state()
        self.agents = list(self.possible_agents)
        infos = {agent: self._info(agent, None, None, "") for agent in self.agents}
        return self._observations(), infos

    def step(self, actions: Mapping[str, Any]):
        self._check_actions(actions)
        chosen = []
        for agent in self.possible_agents:
            if agent not in actions:
                raise ValueError(f"{agent} must send an action every step")
            chosen.append(self._decode(agent, actions[agent]))
        played_round = self.round
        live = list(self.agents)
        if self.phase == PHASE_PREDICT:
            self.predictions.append((chosen[0], chosen[1]))
            self.phase = PHASE_ACT
            rewards = dict.fromkeys(live, 0.0)
            infos = {a: self._info(a, None, None, "predict", played_round) for a in live}
            done = False
        else:
            intended = (chosen[0], chosen[1])
            played = tuple(self._tremble(a) for a in intended)
            self.intended.append(intended)
            self.played.append(played)
            stage = self.payoffs[played[0], played[1]]
            self.scores += stage
            rewards = {a: float(stage[self._seat[a]]) for a in live}
            infos = {a: self._info(a, intended, played, "act", played_round) for a in live}
            self.round += 1
            self.phase = PHASE_PREDICT if self.predict_first else PHASE_ACT
            done = self.round > self.n_rounds
        return self._end_step(live, done, rewards, infos)

    # -- language view --------------------------------------------------------------------------

    def rules(self, agent: str) -> str:
        me = self._seat[agent]
        options = " and ".join(f"Option {label}" for label in self.labels)
        if self.n_actions > 2:
            options = ", ".join(f"Option {label}" for label in self.labels)
        if self.n_rounds == 1:
            opening = (f"You are playing a game once with another player. In this game, you can choose between {options}. "
                       "You will play 1 round. The rules of the game are as follows:")
        else:
            opening = (f"You are playing a game repeatedly with another player. In this game, you can choose between "
                       f"{options}. You will play {self.n_rounds} rounds in total with the same player. "
                       "The rules of the game are as follows:")
        lines = [opening]
        for own in range(self.n_actions):
            for other in range(self.n_actions):
                profile = (own, other) if me == 0 else (other, own)
                mine, theirs = self.payoffs[profile][me], self.payoffs[profile][1 - me]
                lines.append(
                    f"If you choose Option {self.labels[own]} and the other player chooses Option {self.labels[other]}, "
                    f"then you win {_fmt(mine)} points and the other player wins {_fmt(theirs)} points."
                )
        if self.noise > 0:
            lines.append(
                f"Hands tremble: with probability {_fmt(self.noise)}, the option a player chooses is replaced by "
                "another option at random, and the replacement is the one played."
            )
        if self.predict_first:
            lines.append("In each round you will first be asked to predict the other player's choice, then to choose.")
        goal = "as many points as possible" + ("" if self.n_rounds == 1 else " over all rounds")
        lines.append(f"Your goal is to win {goal}.")
        return "\n".join(lines)

    def describe(self, agent: str) -> str:
        me = self._seat[agent]
        if not self.agents and not self.played:
            return "The game has not started."
        lines = []
        for r, (intended, played) in enumerate(zip(self.intended, self.played), start=1):
            mine, theirs = played[me], played[1 - me]
            stage = self.payoffs[played[0], played[1]]
            chose = f"you chose Option {self.labels[intended[me]]}"
            if intended[me] != mine:
                chose += f" but your hand trembled and Option {self.labels[mine]} was played"
            lines.append(
                f"In round {r}, {chose} and the other player played Option {self.labels[theirs]}. "
                f"Thus, you won {_fmt(stage[me])} points and the other player won {_fmt(stage[1 - me])} points."
            )
        lines.append(f"You have {_fmt(self.scores[me])} points; the other player has {_fmt(self.scores[1 - me])} points.")
        if not self.agents:
            lines.append("The game is over.")
        elif self.phase == PHASE_PREDICT:
            lines.append(f"It is now round {self.round}. First, predict the other player's choice in this round.")
        else:
            lines.append(f"It is now round {self.round} of {self.n_rounds}.")
            if self.predict_first and len(self.predictions) >= self.round:
                guess = self.predictions[self.round - 1][me]
                lines.append(f"You predicted that the other player will choose Option {self.labels[guess]}.")
        return "\n".join(lines)

    def action_spec(self, agent: str) -> ActionSpec:
        actions = tuple(np.int64(i) for i in range(self.n_actions))
        allowed = ", ".join(self.labels)
        if self.agents and self.phase == PHASE_PREDICT:
            question = f"Which option do you predict the other player will choose in round {self.round}?"
        else:
            question = f"Which option do you choose in round {self.round}?"
        instruction = f"{question} End your reply with 'Answer: <option>', where <option> is one of: {allowed}."
        return Choice(instruction=instruction, fallback=np.int64(0), labels=self.labels, actions=actions)

    # -- helpers --------------------------------------------------------------------------------

    def _decode(self, agent: str, action: Any) -> int:
        value = np.asarray(action)
        if value.shape != () or value.dtype.kind not in "iu":
            raise ValueError(f"{agent}'s action must be an integer action index, got {action!r}")
        index = int(value)
        if not 0 <= index < self.n_actions:
            raise ValueError(f"{agent}'s action must be an index into {list(self.labels)}, got {index}")
        return index

    def _tremble(self, action: int) -> int:
        # Always draw once per player, so the random stream does not depend on the moves.
        draw = self._rng.random()
        if self.noise > 0 and draw < self.noise:
            other = int(self._rng.integers(self.n_actions - 1))
            return other if other < action else other + 1
        return action

    def _observations(self) -> dict[str, dict[str, Any]]:
        last = self.played[-1] if self.played else (-1, -1)
        observations = {}
        for agent in self.possible_agents:
            me = self._seat[agent]
            observations[agent] = {
                "round": np.int64(min(self.round, self.n_rounds + 1)),
                "phase": np.int64(self.phase),
                "last_own": np.int64(last[me]),
                "last_other": np.int64(last[1 - me]),
            }
        return observations

    def _info(self, agent, intended, played, phase: str, played_round: int = 0) -> dict[str, Any]:
        me = self._seat[agent]
        prediction = -1
        if played_round and len(self.predictions) >= played_round:
            prediction = self.predictions[played_round - 1][me]
        return {
            "intended": intended[me] if intended else -1,
            "played": played[me] if played else -1,
            "other_played": played[1 - me] if played else -1,
            "prediction": prediction,
            "phase": phase,
            "round": played_round,
        }

    def _render_text(self) -> str:
        lines = [f"Repeated {self.game}: {len(self.played)} of {self.n_rounds} rounds played"]
        if self.played:
            a, b = self.played[-1]
            lines.append(f"  last round: player_0 {self.labels[a]}, player_1 {self.labels[b]}")
        lines.append(f"  scores: player_0 {_fmt(self.scores[0])}, player_1 {_fmt(self.scores[1])}")
        return "\n".join(lines)
