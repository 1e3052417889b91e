"""Schelling diagrams of any symmetric world, measured by running it with scripted populations.

A Schelling diagram (Schelling, "Hockey helmets, concealed weapons, and daylight saving",
J. Conflict Resolution 1973) draws, for a group of ``n`` players who each either cooperate or
defect, two curves over the number ``l = 0 .. n-1`` of *other* players who cooperate:

- ``R_c(l)``: the payoff of a cooperator when ``l`` others cooperate;
- ``R_d(l)``: the payoff of a defector when ``l`` others cooperate.

Hughes et al., "Inequity aversion improves cooperation in intertemporal social dilemmas"
(NeurIPS 2018) and Leibo et al.'s sequential social dilemmas / Melting Pot measure these
curves empirically: they seat ``l + 1`` cooperating and ``n - l - 1`` defecting policies in the
world, play it, and average the returns per role. This module does the same for the worlds of
this repository: for each ``k = 0 .. n`` it seats ``k`` scripted cooperators and ``n - k``
scripted defectors, plays ``episodes`` episodes per seed, and records each role's mean
payoff. A cooperator of the population with ``k`` cooperators sees ``k - 1`` others cooperate,
a defector sees ``k``; so each curve has ``n`` points, ``l = 0 .. n - 1``.

**Payoff** = the world's own reward summed over one episode (a player's total reward per
episode, before any utility transform), averaged over the role's members, the episodes and the
seeds. In the repeated game that is the stage payoff times the number of rounds; in the Donor
Game the final resources minus the endowment; in the commons the units harvested; in team
production the base payoff ``Q / n - c a_i`` summed over the rounds.

Seats: in each episode the ``k`` cooperators take seats drawn at random (a permutation from
``numpy.random.default_rng([seed, k, episode])``), so worlds whose seats differ (the Donor
Game's halves, seat order) are averaged over positions. The world is reset with a seed drawn
from the same generator. Everything is seeded: the same call gives the same numbers.

:data:`SCHELLING_SETUPS` names ready-made populations (cooperate / defect strategies of the
world's scripted agents, :mod:`dilemmazoo.agents.scripted`):

===================  =============================  =========================  ======================  ==
name                 world (kwargs)                 cooperate                  defect                  n
===================  =============================  =========================  ======================  ==
``repeated_game``    repeated-game-v0: PD R3 S0 T5  ``always_cooperate``       ``always_defect``       2
                     P1 (Axelrod 1984), 10 rounds
``donor_game``       donor-game-v0: 6 agents, 6     ``fixed_fraction``         ``defector``            6
                     rounds, b = 2 (Vallinder &     (fraction 0.5)
                     Hughes 2024)
``commons``          commons-v0 (GovSim, Piatti et  ``commons_sustainable``    ``commons_greedy``      5
                     al. 2024): no talk, 12 months  (the per-agent threshold)  (a fifth of the stock)
``cpr``              cpr-v0 (Gupta et al. 2025):    ``cpr_fixed_effort``       ``cpr_fixed_effort``    10
                     50 rounds, no sanctions        (effort 1/6: the MSY)      (effort 0.75: selfish)
``team_production``  team-production-v0 (Pant &     ``team_full_effort``       ``team_free_rider``     5
                     Yu 2026): one round, omega     (a_max = 50)               (a_min = 0.01)
                     25, beta 0.7, c 1
===================  =============================  =========================  ======================  ==

Each setup is a :class:`SchellingSetup` ``(world, world_kwargs, cooperate, defect, n)``; any
part can be overridden per call. Any other world (by registered name or id) works too, given
``cooperate`` and ``defect``.

The dilemma conditions of Macy & Flache (PNAS 2002) as Hughes et al. 2018 state them, read off
the curves, are in :func:`dilemmazoo.analysis.schelling.dilemma_conditions`;
:func:`dilemmazoo.analysis.schelling.plot_schelling` draws the diagram. :func:`schelling_diagram`
does both in one call for a notebook::

    frame, figure = schelling_diagram("repeated_game")
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from dilemmazoo.agents.base import Action, Decision
from dilemmazoo.agents.scripted import ScriptedPolicy
from dilemmazoo.envs import make_world, world_id

__all__ = ["SCHELLING_SETUPS", "SchellingSetup", "play_population", "schelling_diagram", "schelling_payoffs"]

#: a strategy: its scripted name, or ``(name, params)``
StrategySpec = str | tuple[str, Mapping[str, Any]]

#: constructor arguments that set a world's number of players, tried in this order
PLAYER_COUNT_KWARGS = ("n_agents", "n_members", "n_players")


class SchellingSetup(NamedTuple):
    """A ready-made Schelling population: the world, its kwargs, the two strategies and ``n``."""

    world: str
    world_kwargs: dict[str, Any]
    cooperate: tuple[str, dict[str, Any]]
    defect: tuple[str, dict[str, Any]]
    n: int


SCHELLING_SETUPS: dict[str, SchellingSetup] = {
    # Axelrod's iterated prisoner's dilemma: C(1) = 10 R = 30, C(0) = 10 S = 0, D(1) = 10 T = 50, D(0) = 10 P = 10.
    "repeated_game": SchellingSetup(
        "dilemmazoo/repeated-game-v0", {"game": "prisoners_dilemma", "n_rounds": 10},
        ("always_cooperate", {}), ("always_defect", {}), 2,
    ),
    # Vallinder & Hughes 2024's game, smaller (6 players, 6 rounds); cooperators give half of what they hold.
    "donor_game": SchellingSetup(
        "dilemmazoo/donor-game-v0", {"n_agents": 6, "n_rounds": 6, "endowment": 10.0, "donation_multiplier": 2.0},
        ("fixed_fraction", {"fraction": 0.5}), ("defector", {}), 6,
    ),
    # GovSim without talk: cooperators take the sustainable per-agent threshold f(t) // n, defectors a fifth of the stock.
    "commons": SchellingSetup(
        "dilemmazoo/commons-v0", {"n_agents": 5, "n_months": 12, "communication": False},
        ("commons_sustainable", {}), ("commons_greedy", {"fraction": 0.2}), 5,
    ),
    # The effort CPR: effort 1/6 each holds the stock at the maximum sustainable yield; 0.75 is the selfish prior.
    "cpr": SchellingSetup(
        "dilemmazoo/cpr-v0", {"n_agents": 10, "n_rounds": 50},
        ("cpr_fixed_effort", {"effort": 1 / 6}), ("cpr_fixed_effort", {"effort": 0.75}), 10,
    ),
    # Pant & Yu's team production, one shot at the paper's defaults: full effort a_max against free riding a_min.
    "team_production": SchellingSetup(
        "dilemmazoo/team-production-v0",
        {"n_members": 5, "omega": 25.0, "beta": 0.7, "c": 1.0, "a_min": 0.01, "a_max": 50.0, "n_rounds": 1},
        ("team_full_effort", {}), ("team_free_rider", {}), 5,
    ),
}


def _strategy(spec: Any, argument: str) -> tuple[str, dict[str, Any]]:
    """``(name, params)`` from a name, a ``(name, params)`` pair or a ``{"strategy", "params"}`` mapping."""
    if isinstance(spec, str) and spec.strip():
        return spec.strip(), {}
    if isinstance(spec, Mapping) and isinstance(spec.get("strategy"), str):
        return spec["strategy"], dict(spec.get("params") or {})
    if (isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) == 2
            and isinstance(spec[0], str) and isinstance(spec[1], Mapping)):
        return spec[0], dict(spec[1])
    raise ValueError(f"{argument} must be a scripted strategy name or (name, params), got {spec!r}")


def _player_count_kwarg(world) -> str | None:
    """The constructor argument that sets ``world``'s number of players, or ``None`` (fixed)."""
    parameters = inspect.signature(type(world).__init__).parameters
    return next((name for name in PLAYER_COUNT_KWARGS if name in parameters), None)


def _build(wid: str, kwargs: dict[str, Any], n: int | None):
    """The world with ``n`` players (``None``: as its kwargs give)."""
    try:
        world = make_world(wid, **kwargs)
    except TypeError as error:
        raise ValueError(f"world_kwargs: cannot build {wid!r} with {kwargs}: {error}") from None
    if n is None or len(world.possible_agents) == n:
        return world, kwargs
    key = _player_count_kwarg(world)
    if key is None:
        raise ValueError(f"n: {wid!r} has a fixed number of players ({len(world.possible_agents)}), got n={n}")
    kwargs = {**kwargs, key: n}
    try:
        world = make_world(wid, **kwargs)
    except TypeError as error:
        raise ValueError(f"world_kwargs: cannot build {wid!r} with {kwargs}: {error}") from None
    if len(world.possible_agents) != n:
        raise ValueError(f"n: {wid!r} built with {key}={n} has {len(world.possible_agents)} players")
    return world, kwargs


def play_population(world, policies: Mapping[str, ScriptedPolicy], seat_policy: Mapping[str, str], seed: int,
                    *, episode: int = 0) -> dict[str, float]:
    """Play one episode of ``world`` and return each seat's total reward.

    ``seat_policy`` maps every seat to a key of ``policies``; each step, every policy answers
    its seats' decisions in one ``act_batch`` call (as the runner does), seats that do not
    decide send the world's ``idle_action``.
    """
    seats = list(world.possible_agents)
    missing = [seat for seat in seats if seat_policy.get(seat) not in policies]
    if missing:
        raise ValueError(f"seat_policy: no policy for seats {missing}")
    observations, _ = world.reset(seed=int(seed))
    rules = {seat: world.rules(seat) for seat in seats}
    for key, policy in policies.items():
        policy.start_episode({s: rules[s] for s in seats if seat_policy[s] == key}, np.random.default_rng([seed, 3]))
    returns = dict.fromkeys(seats, 0.0)
    step = 0
    while world.agents:
        step += 1
        deciders = world.deciders()
        decided: dict[str, Action] = {}
        for key, policy in policies.items():
            mine = [seat for seat in deciders if seat_policy[seat] == key]
            if not mine:
                continue
            requests = [
                Decision(agent_id=seat, observation=observations[seat], text=world.describe(seat),
                         spec=world.action_spec(seat), rules=rules[seat], step=step, episode=episode)
                for seat in mine
            ]
            decided.update(zip(mine, policy.act_batch(requests)))
        actions = {seat: decided[seat].value if seat in decided else world.idle_action(seat) for seat in world.agents}
        observations, rewards, _, _, _ = world.step(actions)
        for seat, reward in rewards.items():
            returns[seat] += float(reward)
    return returns


def _seeds(seeds: Any) -> list[int]:
    values = [seeds] if isinstance(seeds, Integral) else list(seeds) if isinstance(seeds, Iterable) else None
    if not values or any(isinstance(s, bool) or not isinstance(s, Integral) or s < 0 for s in values):
        raise ValueError(f"seeds must be a non-negative integer or a non-empty list of them, got {seeds!r}")
    return [int(s) for s in values]


def schelling_payoffs(
    world: str,
    *,
    n: int | None = None,
    cooperate: StrategySpec | None = None,
    defect: StrategySpec | None = None,
    world_kwargs: Mapping[str, Any] | None = None,
    seeds: int | Iterable[int] = (0,),
    episodes: int = 1,
) -> pd.DataFrame:
    """The Schelling diagram's numbers: each role's payoff against the number of other cooperators.

    ``world`` is a name of :data:`SCHELLING_SETUPS` (whose world, kwargs, strategies and ``n``
    are the defaults; ``world_kwargs`` are merged over the setup's) or any registered world
    name or id (then ``cooperate`` and ``defect`` are required). ``cooperate`` / ``defect``: a
    scripted strategy name or ``(name, params)``. ``n``: the number of players (set through the
    world's ``n_agents`` / ``n_members`` / ``n_players`` argument; default the world's own).
    For each ``k = 0 .. n`` cooperators, ``episodes`` episodes are played per seed.

    Returns one row per (``cooperators`` k, ``role``) present: ``others_cooperating``
    (``k - 1`` for a cooperator, ``k`` for a defector), ``role`` ("cooperator" | "defector"),
    ``payoff`` (the role's mean total reward per agent per episode), ``payoff_sd`` (standard
    deviation over the played episodes of the role's per-episode mean; 0 for one episode),
    ``cooperators`` (k), ``group_payoff`` (the mean over all ``n`` players of that population),
    ``n``, ``episodes`` (episodes averaged: seeds x episodes), ``seeds`` (e.g. "0,1,2"),
    ``world`` (the id), ``cooperate``, ``defect`` (the strategies with their params).
    ``frame.attrs`` holds the setup name, world kwargs and strategies.
    """
    setup = None
    if isinstance(world, str) and world.strip() in SCHELLING_SETUPS:
        setup = SCHELLING_SETUPS[world.strip()]
        wid = setup.world
        kwargs = {**setup.world_kwargs, **dict(world_kwargs or {})}
        n = setup.n if n is None else n
        cooperate = setup.cooperate if cooperate is None else cooperate
        defect = setup.defect if defect is None else defect
    else:
        if not isinstance(world, str):
            raise ValueError(f"world must be a Schelling setup name ({', '.join(SCHELLING_SETUPS)}) "
                             f"or a registered world name, got {world!r}")
        try:
            wid = world_id(world)
        except ValueError as error:
            raise ValueError(f"{error}; Schelling setups: {', '.join(SCHELLING_SETUPS)}") from None
        kwargs = dict(world_kwargs or {})
        if cooperate is None or defect is None:
            raise ValueError(f"world {world!r} is not a Schelling setup ({', '.join(SCHELLING_SETUPS)}): "
                             "give cooperate and defect strategies")
    if n is not None and (isinstance(n, bool) or not isinstance(n, Integral) or n < 2):
        raise ValueError(f"n must be an integer of at least 2 (a dilemma needs two players), got {n!r}")
    if isinstance(episodes, bool) or not isinstance(episodes, Integral) or episodes < 1:
        raise ValueError(f"episodes must be an integer of at least 1, got {episodes!r}")
    seed_list = _seeds(seeds)
    roles = {"cooperator": _strategy(cooperate, "cooperate"), "defector": _strategy(defect, "defect")}
    env, kwargs = _build(wid, kwargs, n)
    seats = list(env.possible_agents)
    n = len(seats)
    if n < 2:
        raise ValueError(f"n: a Schelling diagram needs at least 2 players, {wid!r} has {n}")
    try:
        policies = {role: ScriptedPolicy(name, params) for role, (name, params) in roles.items()}
    except (ValueError, ImportError) as error:
        raise ValueError(f"cooperate/defect: {error}") from None

    rows = []
    for k in range(n + 1):
        per_role: dict[str, list[float]] = {"cooperator": [], "defector": []}
        group: list[float] = []
        for seed in seed_list:
            for episode in range(episodes):
                rng = np.random.default_rng([seed, k, episode])
                order = rng.permutation(n)
                seat_policy = {seats[i]: ("cooperator" if rank < k else "defector") for rank, i in enumerate(order)}
                returns = play_population(env, policies, seat_policy, int(rng.integers(2**31 - 1)), episode=episode)
                for role in per_role:
                    mine = [returns[s] for s in seats if seat_policy[s] == role]
                    if mine:
                        per_role[role].append(float(np.mean(mine)))
                group.append(float(np.mean(list(returns.values()))))
        for role, values in per_role.items():
            if not values:
                continue
            name, params = roles[role]
            rows.append({
                "others_cooperating": k - 1 if role == "cooperator" else k,
                "role": role,
                "payoff": float(np.mean(values)),
                "payoff_sd": float(np.std(values)),
                "cooperators": k,
                "group_payoff": float(np.mean(group)),
                "n": n,
                "episodes": len(values),
                "seeds": ",".join(map(str, seed_list)),
                "world": wid,
                "cooperate": _label(*roles["cooperator"]),
                "defect": _label(*roles["defector"]),
            })
    frame = pd.DataFrame(rows).sort_values(["role", "others_cooperating"], ignore_index=True)
    frame.attrs.update({
        "setup": world.strip() if setup is not None else None, "world": wid, "world_kwargs": kwargs,
        "cooperate": roles["cooperator"], "defect": roles["defector"], "n": n,
        "payoff": "total reward per agent per episode, mean over members, episodes and seeds",
    })
    return frame


def _label(name: str, params: Mapping[str, Any]) -> str:
    if not params:
        return name
    shown = ", ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                      for key, value in sorted(params.items()))
    return f"{name}({shown})"


def schelling_diagram(name_or_world: str, *, title: str | None = None, path: str | None = None,
                      **kwargs: Any) -> tuple[pd.DataFrame, Any]:
    """Run :func:`schelling_payoffs` (``kwargs`` go to it) and draw the diagram: ``(frame, figure)``.

    ``path`` also saves the figure as PNG. The dilemma conditions of the numbers are
    :func:`dilemmazoo.analysis.schelling.dilemma_conditions` ``(frame)``.
    """
    from dilemmazoo.analysis.schelling import plot_schelling

    frame = schelling_payoffs(name_or_world, **kwargs)
    return frame, plot_schelling(frame, title=title, path=path)
