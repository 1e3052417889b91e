"""Evolutionary evaluation of a tournament: metagame tensor, replicator dynamics, deviation ratings.

Sources
-------
- Tewolde, Zhang, Guzman Piedrahita, Conitzer, Jin, "CoopEval" (arXiv 2604.15267, ICML 2026),
  section "Evaluation" and its reference code (``ranking_evaluations/``): K agent types play every
  ordered seat profile of an N-seat game; the metagame tensor, replicator dynamics and the
  discounted score below follow it, with the changes named under "Decisions".
- Marris, Liu, Gemp, Piliouras, Lanctot, "Deviation Ratings: A General, Clone-Invariant Rating
  Method" (arXiv 2502.11645): ratings from the strictest coarse correlated equilibrium.

Records in: seat observations
-----------------------------
:func:`metagame_tensor` takes one observation per play of a seat profile, in any of these forms:

- an iterable of pairs ``(profile, payoffs)``: ``profile`` the type index (``0 .. K-1``) of each
  seat in seat order, ``payoffs`` each seat's score in that play (a discounted score for a
  repeated play, :func:`discounted_score`), e.g. ``((0, 1), (0.0, 3.0))``;
- a DataFrame with columns ``profile`` and ``payoffs`` holding the same per row;
- a long DataFrame with one row per seat: columns ``matchup`` (any key naming one play),
  ``seat`` (``0 .. N-1``, each once per matchup), ``type`` and ``score``.

Every seat profile may appear any number of times (seeds, repeated runs); all must have N seats.

Formulas
--------
- Metagame (seat-symmetrised): ``T[i, j, k, ..] = mean score of a seat of type i over all plays
  whose type multiset is {i, j, k, ..}``, whichever seat it sat in; every seat of type ``i`` in
  such a play is one observation (self-play counts each seat). ``T`` is symmetric in its
  co-player axes ``1 .. N-1`` and averages seat roles (in Trust the giver and keeper; CoopEval
  spec 5.4: the dynamics and ratings describe that role-averaged game).
- Fitness of type ``i`` in population ``x`` (co-players drawn iid from ``x``):
  ``f_i(x) = sum_{j,k,..} T[i, j, k, ..] x_j x_k ..``; mean fitness ``fbar = x . f``.
- Replicator dynamics (discrete, exponential weights): from ``x0`` (uniform by default), for
  ``t = 1 .. steps``: stop if settled (below), else ``x <- x * exp(eta_t (f - fbar))``,
  normalised, with ``eta_t = eta`` ("constant") or ``eta / sqrt(t)`` ("sqrt").
- Deviation ratings: player ``p``'s payoff ``G_p(a) = T[swap(a, 0, p)]`` (seats 0 and ``p``
  exchanged); deviation gains ``M[(p, s), a] = G_p(s, a_-p) - G_p(a)``. Over joint distributions
  ``sigma`` of the ``K^N`` profiles, minimise ``eps`` with ``(M sigma)_(p,s)`` equal across
  players ``p`` for each strategy ``s`` (the game is symmetric), the rows rated so far fixed, and
  the unrated rows ``<= eps``. A row is rated ``eps*`` only if *no* optimal ``sigma`` makes it
  ``< eps*``; repeat until every strategy is rated. Type ``s``'s rating is row ``(0, s)``.
- Discounted score of rounds ``t = 0 .. T-1``: weights ``(1 - d) d^t`` for ``t < T-1`` and
  ``d^(T-1)`` for the last round (the infinite tail). They sum to 1; ``d = 1`` scores the last
  round only, ``d = 0`` the first.

Decisions (CoopEval spec section 5)
-----------------------------------
- **Near-extinct types in the stop test (5.3).** CoopEval stops when ``max_i |f_i - fbar| < tol``
  over *all* types. A type on its way out keeps ``f_i - fbar`` far from 0 (in the Prisoner's
  Dilemma, Cooperators at share 1e-44 still trail by 1), so the test almost never fires and every
  committed run has 1001 entries. Here a type whose share is at most ``extinct`` (1e-9 by default,
  one in a billion) only has to be unable to invade: the dynamics are settled when
  ``|f_i - fbar| < tol`` for every type above ``extinct`` and ``f_i - fbar < tol`` for every type
  at or below it (a rare type that would grow keeps the run going). ``extinct=0`` gives
  CoopEval's test back. Types absent from ``x0`` (share exactly 0) can never enter and are left
  out of the test.
- **Underflow (5.3).** The update is applied to log-shares, ``log x <- log x + eta_t (f - fbar)``,
  normalised by log-sum-exp, which is the same map without shares underflowing to 0: a rare type
  that becomes fit again recovers at the rate the dynamics say, instead of staying at 0 forever.
  The shares in the history are ``exp`` of the log-shares (they may print as 0.0).
- **Unique deviation ratings (5.2).** CoopEval freezes every row that is tight at the solver's
  vertex, which is not unique when several ``sigma`` are optimal
  (``T = [[2,2,1],[2,2,2],[1,2,1]]`` gives ``0, 0, -1`` there; the unique ratings are
  ``-0.5, 0, -0.5``). Here, after each LP, every unrated row that the optimal ``sigma`` leaves
  slack is left unrated, and each remaining one is tested with its own LP (minimise the row over
  the optimal set, with ``eps*`` not relaxed); it is rated only if that minimum is ``eps*``
  within ``tol``. At least one row is always rated (the average of optimal solutions that each
  leave one row slack would leave all slack and beat ``eps*``). Solver:
  :func:`scipy.optimize.linprog` with HiGHS (``method="highs"``), feasibility tolerances
  ``max(tol / 10, 1e-10)`` (HiGHS's default 1e-7 is too coarse); deviation gains are divided by
  the payoff range first, so ``tol`` (1e-9) is relative to it. CoopEval's 1e-14 is below any LP
  solver's accuracy.

This module is pure (numpy, pandas, scipy) and imports nothing of ours.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from itertools import permutations
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "deviation_ratings",
    "discount_weights",
    "discounted_score",
    "fitness",
    "metagame_tensor",
    "rating_ranks",
    "replicator_dynamics",
]

SCHEDULES = ("constant", "sqrt")


# --------------------------------------------------------------------------------------------
# Discounted score
# --------------------------------------------------------------------------------------------


def _check_discount(discount: Any) -> float:
    if isinstance(discount, bool) or not isinstance(discount, Real) or not 0.0 <= discount <= 1.0:
        raise ValueError(f"discount must be a number in [0, 1], got {discount!r}")
    return float(discount)


def discount_weights(n_rounds: int, discount: float) -> np.ndarray:
    """The weights of rounds ``t = 0 .. n_rounds-1``: ``(1 - d) d^t``, and ``d^(n_rounds-1)`` for
    the last round; they sum to 1."""
    if isinstance(n_rounds, bool) or not isinstance(n_rounds, Integral) or n_rounds < 1:
        raise ValueError(f"n_rounds must be an integer >= 1, got {n_rounds!r}")
    d = _check_discount(discount)
    weights = (1.0 - d) * d ** np.arange(n_rounds, dtype=np.float64)
    weights[-1] = d ** (n_rounds - 1)
    return weights


def discounted_score(payoffs_by_round: Any, discount: float) -> float:
    """A seat's score over a repeated play: ``sum_t w_t payoff_t`` with :func:`discount_weights`
    (CoopEval's ``payoffs_base``).

    >>> discounted_score([2, 2, 0], 0.5)   # 0.5*2 + 0.25*2 + 0.25*0
    1.5
    """
    payoffs = np.asarray(payoffs_by_round)
    if payoffs.ndim != 1 or payoffs.size == 0 or payoffs.dtype.kind not in "iuf" or not np.all(np.isfinite(payoffs)):
        raise ValueError(f"payoffs_by_round must be a non-empty 1-D sequence of finite numbers, got {payoffs_by_round!r}")
    return float(discount_weights(payoffs.size, discount) @ payoffs.astype(np.float64))


# --------------------------------------------------------------------------------------------
# Metagame tensor
# --------------------------------------------------------------------------------------------


def _pairs_from_frame(frame: pd.DataFrame) -> list[tuple[Any, Any]]:
    columns = set(frame.columns)
    if {"profile", "payoffs"} <= columns:
        return list(zip(frame["profile"], frame["payoffs"], strict=True))
    if {"matchup", "seat", "type", "score"} <= columns:
        pairs = []
        for matchup, play in frame.sort_values(["matchup", "seat"], kind="stable").groupby("matchup", sort=True):
            seats = play["seat"].to_numpy()
            if not np.array_equal(seats, np.arange(len(seats))):
                raise ValueError(f"matchup {matchup!r} must list seats 0..N-1 once each, got {seats.tolist()}")
            pairs.append((play["type"].to_numpy(), play["score"].to_numpy()))
        return pairs
    raise ValueError(
        "observations DataFrame needs columns 'profile' and 'payoffs' (one row per play), or "
        f"'matchup', 'seat', 'type' and 'score' (one row per seat); got {sorted(map(str, columns))}"
    )


def _check_observations(observations: Any) -> tuple[list[tuple[tuple[int, ...], np.ndarray]], int]:
    """The plays as ``(profile, payoffs)`` with checked shapes, and the number of seats N."""
    if isinstance(observations, pd.DataFrame):
        raw = _pairs_from_frame(observations)
    elif isinstance(observations, Iterable) and not isinstance(observations, str | bytes):
        raw = list(observations)
    else:
        raise ValueError(f"observations must be an iterable of (profile, payoffs) pairs or a DataFrame, got {observations!r}")
    if not raw:
        raise ValueError("observations must hold at least one play")
    plays = []
    n_seats = None
    for number, pair in enumerate(raw):
        try:
            profile_raw, payoffs_raw = pair
        except (TypeError, ValueError):
            raise ValueError(f"observation {number} must be a pair (profile, payoffs), got {pair!r}") from None
        profile = np.asarray(profile_raw)
        payoffs = np.asarray(payoffs_raw)
        if profile.ndim != 1 or profile.size < 2 or profile.dtype.kind not in "iu" or profile.min() < 0:
            raise ValueError(f"observation {number}: profile must be >= 2 type indices >= 0, one per seat, got {profile_raw!r}")
        if payoffs.shape != profile.shape or payoffs.dtype.kind not in "iuf" or not np.all(np.isfinite(payoffs)):
            raise ValueError(
                f"observation {number}: payoffs must be {profile.size} finite numbers, one per seat, got {payoffs_raw!r}"
            )
        if n_seats is None:
            n_seats = profile.size
        elif profile.size != n_seats:
            raise ValueError(f"observation {number} has {profile.size} seats, the first one has {n_seats}")
        plays.append((tuple(int(t) for t in profile), payoffs.astype(np.float64)))
    return plays, int(n_seats)


def metagame_tensor(observations: Any, n_types: int | None = None) -> np.ndarray:
    """The seat-symmetrised metagame ``T`` of shape ``(K,) * N`` from seat observations (forms in
    the module docstring): ``T[i, j, ..]`` is the mean score of a type-``i`` seat over all plays
    whose type multiset is ``{i, j, ..}``.

    ``n_types`` (K) defaults to the largest type index + 1. Every type multiset must have been
    played at least once (a tournament over all ``K^N`` seat profiles covers them all).

    >>> metagame_tensor([((0, 1), (0.0, 3.0)), ((1, 0), (3.0, 0.0)), ((0, 0), (2, 2)), ((1, 1), (1, 1))]).tolist()
    [[2.0, 0.0], [3.0, 1.0]]
    """
    plays, n_seats = _check_observations(observations)
    largest = max(max(profile) for profile, _ in plays)
    if n_types is None:
        n_types = largest + 1
    elif isinstance(n_types, bool) or not isinstance(n_types, Integral) or n_types < 1:
        raise ValueError(f"n_types must be an integer >= 1, got {n_types!r}")
    elif largest >= n_types:
        raise ValueError(f"observations name type {largest}, but n_types is {n_types}")
    sums: dict[tuple[tuple[int, ...], int], float] = defaultdict(float)
    counts: dict[tuple[tuple[int, ...], int], int] = defaultdict(int)
    for profile, payoffs in plays:
        multiset = tuple(sorted(profile))
        for focal, score in zip(profile, payoffs, strict=True):
            sums[multiset, focal] += float(score)
            counts[multiset, focal] += 1
    tensor = np.full((int(n_types),) * n_seats, np.nan)
    for (multiset, focal), total in sums.items():
        rest = list(multiset)
        rest.remove(focal)
        value = total / counts[multiset, focal]
        for others in set(permutations(rest)):
            tensor[(focal, *others)] = value
    missing = np.argwhere(np.isnan(tensor))
    if missing.size:
        multisets = sorted({tuple(sorted(index.tolist())) for index in missing})
        shown = ", ".join(str(m) for m in multisets[:5]) + (" ..." if len(multisets) > 5 else "")
        raise ValueError(f"observations do not cover every type multiset: {len(multisets)} never played, e.g. {shown}")
    return tensor


# --------------------------------------------------------------------------------------------
# Replicator dynamics
# --------------------------------------------------------------------------------------------


def _check_tensor(tensor: Any) -> np.ndarray:
    array = np.asarray(tensor)
    if array.ndim < 2 or array.shape[0] < 1 or len(set(array.shape)) != 1:
        raise ValueError(f"tensor must have shape (K,) * N with N >= 2 seats and K >= 1 types, got shape {array.shape}")
    if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
        raise ValueError("tensor must hold finite numbers")
    return array.astype(np.float64)


def _check_population(population: Any, n_types: int, name: str) -> np.ndarray:
    x = np.asarray(population, dtype=np.float64) if population is not None else None
    if x is None or x.shape != (n_types,) or not np.all(np.isfinite(x)) or np.any(x < 0) or abs(x.sum() - 1.0) > 1e-9:
        raise ValueError(f"{name} must be {n_types} non-negative shares summing to 1, got {population!r}")
    return x / x.sum()


def _fitness(tensor: np.ndarray, x: np.ndarray) -> np.ndarray:
    f = tensor
    for _ in range(tensor.ndim - 1):
        f = f @ x  # contracts the last co-player axis
    return f


def fitness(tensor: Any, population: Any) -> np.ndarray:
    """``f_i(x) = sum T[i, j, k, ..] x_j x_k ..``: each type's expected score when its
    co-players are drawn independently from ``population``."""
    array = _check_tensor(tensor)
    return _fitness(array, _check_population(population, array.shape[0], "population"))


def _settled(gap: np.ndarray, log_x: np.ndarray, present: np.ndarray, tol: float, log_extinct: float) -> bool:
    alive = present & (log_x > log_extinct)
    rare = present & ~alive
    return bool(np.all(np.abs(gap[alive]) < tol) and np.all(gap[rare] < tol))


def replicator_dynamics(
    tensor: Any,
    x0: Any = None,
    steps: int = 1000,
    eta: float = 0.1,
    schedule: str = "constant",
    tol: float = 1e-6,
    *,
    extinct: float = 1e-9,
) -> tuple[np.ndarray, np.ndarray]:
    """Discrete replicator dynamics on the metagame ``tensor`` (formulas and the stop test in the
    module docstring): ``(history, fitness)``, where ``history`` has shape ``(n + 1, K)`` (``x0``
    and the population after each of the ``n <= steps`` updates made) and ``fitness`` is every
    type's fitness at the final population ``history[-1]``.

    ``x0``: the starting shares (default uniform); ``eta``: the step size; ``schedule``:
    "constant" (``eta``) or "sqrt" (``eta / sqrt(t)`` at step ``t``); ``tol``: the stop test's
    payoff tolerance; ``extinct``: the share at or below which a type need only be unable to
    invade (0 gives CoopEval's test over every type).
    """
    array = _check_tensor(tensor)
    n_types = array.shape[0]
    x = np.full(n_types, 1.0 / n_types) if x0 is None else _check_population(x0, n_types, "x0")
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    for name, value in (("eta", eta), ("tol", tol)):
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if isinstance(extinct, bool) or not isinstance(extinct, Real) or not 0.0 <= extinct < 1.0:
        raise ValueError(f"extinct must be a share in [0, 1), got {extinct!r}")
    present = x > 0
    with np.errstate(divide="ignore"):
        log_x = np.log(x)
        log_extinct = math.log(extinct) if extinct > 0 else -math.inf
    history = [x]
    for t in range(1, int(steps) + 1):
        f = _fitness(array, x)
        gap = f - x @ f
        if _settled(gap, log_x, present, tol, log_extinct):
            break
        rate = eta if schedule == "constant" else eta / math.sqrt(t)
        log_x = log_x + rate * gap  # absent types stay at -inf
        top = log_x[present].max()
        log_x = log_x - (top + math.log(np.exp(log_x[present] - top).sum()))
        x = np.exp(log_x)
        history.append(x)
    return np.array(history), _fitness(array, x)


# --------------------------------------------------------------------------------------------
# Deviation ratings
# --------------------------------------------------------------------------------------------


def _check_symmetric_coplayers(tensor: np.ndarray) -> None:
    scale = max(1.0, float(np.abs(tensor).max()))
    for axis in range(2, tensor.ndim):
        if not np.allclose(tensor, np.swapaxes(tensor, 1, axis), rtol=0.0, atol=1e-9 * scale):
            raise ValueError(
                "tensor must be symmetric in its co-player axes 1..N-1 (a seat-symmetrised metagame, "
                f"as metagame_tensor builds it); axes 1 and {axis} differ"
            )


def _deviation_gains(tensor: np.ndarray) -> np.ndarray:
    """``M`` of shape ``(N, K, K^N)``: ``M[p, s, a] = G_p(s, a_-p) - G_p(a)``, profiles ``a`` in
    C order (``itertools.product`` order)."""
    n_seats, n_types = tensor.ndim, tensor.shape[0]
    gains = np.empty((n_seats, n_types, n_types**n_seats))
    for p in range(n_seats):
        payoff = np.swapaxes(tensor, 0, p)  # G_p(a) = T[a_p, .., a_0 at seat p, ..]
        for s in range(n_types):
            deviated = np.expand_dims(np.take(payoff, s, axis=p), p)
            gains[p, s] = np.broadcast_to(deviated - payoff, payoff.shape).reshape(-1)
    return gains


class _RatingLP:
    """The LPs of one deviation-rating problem; ``rows[s]`` are player 0's deviation gains to
    ``s``, the other players' rows are tied to them by equalities (the game is symmetric)."""

    def __init__(self, gains: np.ndarray, tol: float):
        from scipy.optimize import linprog  # scipy loads only when ratings are asked for

        self._linprog = linprog
        n_profiles = gains.shape[2]
        self.rows = gains[0]
        symmetry = (gains[1:] - gains[0][None]).reshape(-1, n_profiles)
        self.equal = np.vstack([symmetry, np.ones((1, n_profiles))])  # ... and sigma sums to 1
        self.equal_rhs = np.concatenate([np.zeros(len(symmetry)), [1.0]])
        # HiGHS accepts feasibility tolerances down to 1e-10 (its default, 1e-7, is too coarse)
        self.feasibility = max(tol / 10, 1e-10)
        self.options = {"primal_feasibility_tolerance": self.feasibility, "dual_feasibility_tolerance": self.feasibility}

    def _solve(self, cost, a_ub, b_ub, ratings, n_extra):
        """``linprog`` over ``(sigma, extra..)`` with the rated rows held at their ratings."""
        rated = list(ratings)
        a_eq = np.vstack([self.equal, self.rows[rated]])
        b_eq = np.concatenate([self.equal_rhs, [ratings[s] for s in rated]])
        a_eq = np.hstack([a_eq, np.zeros((len(a_eq), n_extra))])
        bounds = [(0, None)] * self.rows.shape[1] + [(None, None)] * n_extra
        return self._linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs", options=self.options)

    @staticmethod
    def _check(result):
        if result.status != 0:
            raise RuntimeError(f"deviation-rating LP failed (HiGHS status {result.status}): {result.message}")
        return result

    def strictest(self, unrated: list[int], ratings: dict[int, float]) -> tuple[float, np.ndarray]:
        """``(eps*, sigma*)``: the smallest common bound ``eps`` on the unrated rows."""
        n_profiles = self.rows.shape[1]
        a_ub = np.hstack([self.rows[unrated], -np.ones((len(unrated), 1))])
        cost = np.zeros(n_profiles + 1)
        cost[-1] = 1.0
        result = self._check(self._solve(cost, a_ub, np.zeros(len(unrated)), ratings, 1))
        return float(result.x[-1]), result.x[:-1]

    def lowest(self, row: int, eps: float, unrated: list[int], ratings: dict[int, float]) -> float:
        """The smallest value of ``row`` over the optimal set (every unrated row ``<= eps``).

        ``eps`` is not relaxed: a relaxation lets a row that is tight everywhere dip by a multiple
        of it and be taken for slack. Should rounding make the exact set look empty, it is
        widened by the solver's feasibility tolerance."""
        for bound in (eps, eps + self.feasibility):
            result = self._solve(self.rows[row], self.rows[unrated], np.full(len(unrated), bound), ratings, 0)
            if result.status != 2:  # 2: infeasible
                return float(self._check(result).fun)
        raise RuntimeError(f"deviation-rating LP failed (HiGHS status {result.status}): {result.message}")


def deviation_ratings(tensor: Any, *, tol: float = 1e-9) -> np.ndarray:
    """The unique deviation rating of every type in the symmetric metagame ``tensor`` (Marris et
    al., arXiv 2502.11645; algorithm and decisions in the module docstring), one per type, in
    payoff units: 0 is the best a type can do (nobody gains by deviating to it), lower is worse.

    ``tol`` is relative to the payoff range ``max T - min T``; ratings are rounded at it (to
    ``floor(-log10 tol)`` decimals of that range), so equal ratings are exact ties. Ratings are
    invariant to cloning a type, to adding a constant to ``T`` and to scaling it (times the scale).

    >>> deviation_ratings([[2, 2, 1], [2, 2, 2], [1, 2, 1]]).tolist()
    [-0.5, 0.0, -0.5]
    """
    array = _check_tensor(tensor)
    if isinstance(tol, bool) or not isinstance(tol, Real) or not 0 < tol < 1e-3:
        raise ValueError(f"tol must be a number in (0, 1e-3), got {tol!r}")
    _check_symmetric_coplayers(array)
    n_types = array.shape[0]
    scale = float(array.max() - array.min())
    if scale == 0.0:
        return np.zeros(n_types)
    lp = _RatingLP(_deviation_gains(array / scale), float(tol))
    ratings: dict[int, float] = {}
    while len(ratings) < n_types:
        unrated = [s for s in range(n_types) if s not in ratings]
        eps, sigma = lp.strictest(unrated, ratings)
        at_sigma = lp.rows[unrated] @ sigma
        candidates = [s for s, value in zip(unrated, at_sigma, strict=True) if value >= eps - tol]
        lowest = {s: lp.lowest(s, eps, unrated, ratings) for s in candidates}
        tight = [s for s in candidates if lowest[s] >= eps - tol]
        if not tight:  # numerically no row is tight everywhere (one always is): take the tightest
            best = max(lowest.values(), default=None)
            tight = [s for s in candidates if lowest[s] == best] if best is not None else [unrated[int(np.argmax(at_sigma))]]
        for s in tight:
            ratings[s] = eps
    decimals = max(0, math.floor(-math.log10(tol)))
    normalised = np.round(np.array([ratings[s] for s in range(n_types)]), decimals) + 0.0
    return normalised * scale


def rating_ranks(ratings: Any) -> np.ndarray:
    """Ranks of ``ratings``, 1 for the highest; tied ratings share the mean of their ranks
    (CoopEval's tables)."""
    values = np.asarray(ratings, dtype=np.float64)
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise ValueError(f"ratings must be a 1-D sequence of finite numbers, got {ratings!r}")
    return pd.Series(values).rank(method="average", ascending=False).to_numpy()
