"""Committed minorities: the smallest group that never changes its choice and tips the rest.

Centola, Becker, Brackbill & Baronchelli, "Experimental evidence for tipping points in social
convention" (Science 360, 2018) seat a committed minority of ``k`` players who always play
the new convention among ``n - k`` players who follow what they see, and find the *critical
mass*: the smallest ``k`` that makes the rest adopt (about 25% of the population in their
experiments). Han et al., "Alignment Tipping Process" (arXiv 2510.04860) ask the same of LLM
populations in their imitative strategy diffusion setting (``dilemmazoo/atp-diffusion-v0``).

:func:`committed_minority_sweep` measures this on any world: for each ``k`` of ``k_values`` it
seats ``k`` agents of the ``committed`` strategy and ``n - k`` of the ``rest`` strategy (seats
drawn at random from ``numpy.random.default_rng([seed, k])``, the world reset with a seed drawn
from the same generator), plays one episode per seed with
:func:`dilemmazoo.experiments.schelling.play_population` (each policy answers its seats in one
``act_batch`` call per step, as the runner does), and reads ``column`` from the world's infos
after the last step:

- ``adoption``: the mean over the non-committed seats of their final ``column`` (e.g. ATP's
  ``collective``, 0/1), averaged over the seeds (``adoption_sd``: its standard deviation
  over the seeds, 0 for one seed);
- ``flipped``: ``adoption > flip_level`` (default 0.5: more than half of the rest adopted).

:func:`critical_k` reads the critical mass off the sweep: the smallest ``k`` from which every
larger ``k`` swept flipped too (``None`` when the largest did not).

By construction, with Granovetter threshold players (``atp_threshold`` with ``m``: collective
once at least ``m`` of the others seen last round were) and committed ones (``atp_committed``)
on a complete graph, the rest see ``k`` collective choices in round 2 and flip there iff
``k >= m``; so the critical ``k`` is ``m`` (tests check it).

``world`` is a registered world name or id, or a world class / factory called with
``world_kwargs``; ``committed`` and ``rest`` are scripted strategy names, ``(name, params)``
pairs, or zero-argument factories of :class:`~dilemmazoo.agents.base.Agent` objects (one
built per seat and episode), so strategies that are not registered yet can be swept too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

from dilemmazoo.agents.base import SequentialPolicy
from dilemmazoo.agents.scripted import ScriptedPolicy
from dilemmazoo.envs import make_world, world_id
from dilemmazoo.experiments.schelling import play_population

__all__ = ["committed_minority_sweep", "critical_k"]

#: a role's strategy: a scripted name, ``(name, params)``, or a zero-argument Agent factory
RoleSpec = str | tuple[str, Mapping[str, Any]] | Callable[[], Any]

COMMITTED, REST = "committed", "rest"


class _RecordingWorld:
    """``world`` seen through :func:`play_population`, keeping each seat's last step infos."""

    def __init__(self, world: Any):
        self._world = world
        self.last_infos: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._world, name)

    def reset(self, *args: Any, **kwargs: Any):
        self.last_infos = {}
        return self._world.reset(*args, **kwargs)

    def step(self, actions: Mapping[str, Any]):
        result = self._world.step(actions)
        for seat, info in result[4].items():
            self.last_infos[seat] = dict(info)
        return result


def _build_world(world: Any, kwargs: dict[str, Any]) -> tuple[Any, str]:
    """The world built with ``kwargs``, and a label for the frame."""
    if isinstance(world, str):
        wid = world_id(world)
        try:
            return make_world(wid, **kwargs), wid
        except TypeError as error:
            raise ValueError(f"world_kwargs: cannot build {wid!r} with {kwargs}: {error}") from None
    if callable(world):
        try:
            built = world(**kwargs)
        except TypeError as error:
            raise ValueError(f"world_kwargs: cannot build {world!r} with {kwargs}: {error}") from None
        return built, getattr(world, "__name__", type(built).__name__)
    raise ValueError(f"world must be a registered world name or id, or a world class or factory, got {world!r}")


def _role(spec: Any, argument: str) -> tuple[str, Any]:
    """``("scripted", (name, params))`` or ``("factory", callable)`` for a role's strategy."""
    if isinstance(spec, str) and spec.strip():
        return "scripted", (spec.strip(), {})
    if (isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) == 2
            and isinstance(spec[0], str) and isinstance(spec[1], Mapping)):
        return "scripted", (spec[0], dict(spec[1]))
    if callable(spec):
        return "factory", spec
    raise ValueError(f"{argument} must be a scripted strategy name, (name, params) or an agent factory, got {spec!r}")


def _label(kind: str, value: Any) -> str:
    if kind == "factory":
        return getattr(value, "__name__", repr(value))
    name, params = value
    return name if not params else f"{name}({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})"


def _seeds(seeds: Any) -> list[int]:
    values = [seeds] if isinstance(seeds, Integral) else list(seeds) if isinstance(seeds, Iterable) else None
    if not values or any(isinstance(s, bool) or not isinstance(s, Integral) or s < 0 for s in values):
        raise ValueError(f"seeds must be a non-negative integer or a non-empty list of them, got {seeds!r}")
    return [int(s) for s in values]


def committed_minority_sweep(
    world: Any,
    *,
    committed: RoleSpec,
    rest: RoleSpec,
    k_values: Iterable[int] | None = None,
    world_kwargs: Mapping[str, Any] | None = None,
    seeds: int | Iterable[int] = (0,),
    column: str = "collective",
    flip_level: float = 0.5,
) -> pd.DataFrame:
    """Final adoption of the non-committed seats for each committed-minority size ``k``.

    ``world``: registered name or id, or a class / factory called as ``world(**world_kwargs)``.
    ``committed`` / ``rest``: the two roles' strategies (module docstring). ``k_values``:
    sizes to sweep, each in ``0 .. n - 1`` (default all of them). ``seeds``: one episode per
    seed and ``k``. ``column``: the per-agent info read after the last step (0/1 or [0, 1]).
    ``flip_level``: ``flipped`` is ``adoption > flip_level``.

    Returns one row per ``k``, ascending: ``k``, ``n``, ``adoption`` (mean over seeds of the
    rest's mean final ``column``), ``adoption_sd`` (over seeds), ``committed_adoption`` (the
    committed seats' own final mean; NaN for ``k = 0``), ``flipped``, ``seeds`` (count),
    ``world``, ``committed``, ``rest`` (the strategies as labels).
    """
    if not isinstance(column, str) or not column:
        raise ValueError(f"column must be an info name, got {column!r}")
    if isinstance(flip_level, bool) or not isinstance(flip_level, (int, float)) or not 0.0 <= flip_level < 1.0:
        raise ValueError(f"flip_level must be a number in [0, 1), got {flip_level!r}")
    kwargs = dict(world_kwargs or {})
    env, label = _build_world(world, kwargs)
    seats = list(env.possible_agents)
    n = len(seats)
    if n < 2:
        raise ValueError(f"world: a committed minority needs at least 2 seats, {label!r} has {n}")
    ks = list(range(n)) if k_values is None else list(k_values)
    if not ks or any(isinstance(k, bool) or not isinstance(k, Integral) or not 0 <= k < n for k in ks):
        raise ValueError(f"k_values must be integers in 0..{n - 1} (at least one seat must be non-committed), got {k_values!r}")
    ks = sorted({int(k) for k in ks})
    seed_list = _seeds(seeds)
    roles = {COMMITTED: _role(committed, "committed"), REST: _role(rest, "rest")}
    scripted = {}
    for role, (kind, value) in roles.items():
        if kind == "scripted":
            try:
                scripted[role] = ScriptedPolicy(*value)
            except (ValueError, ImportError) as error:
                raise ValueError(f"{role}: {error}") from None
    recorder = _RecordingWorld(env)

    rows = []
    for k in ks:
        rest_values, committed_values = [], []
        for seed in seed_list:
            rng = np.random.default_rng([seed, k])
            order = rng.permutation(n)
            seat_policy = {seats[i]: (COMMITTED if rank < k else REST) for rank, i in enumerate(order)}
            policies = {}
            for role, (kind, value) in roles.items():
                mine = [seat for seat in seats if seat_policy[seat] == role]
                if mine:
                    policies[role] = scripted[role] if kind == "scripted" else SequentialPolicy({s: value() for s in mine})
            play_population(recorder, policies, seat_policy, int(rng.integers(2**31 - 1)))
            final = _final_values(recorder.last_infos, seats, column, label)
            rest_values.append(float(np.mean([final[s] for s in seats if seat_policy[s] == REST])))
            if k:
                committed_values.append(float(np.mean([final[s] for s in seats if seat_policy[s] == COMMITTED])))
        adoption = float(np.mean(rest_values))
        rows.append({
            "k": k, "n": n, "adoption": adoption, "adoption_sd": float(np.std(rest_values)),
            "committed_adoption": float(np.mean(committed_values)) if committed_values else float("nan"),
            "flipped": bool(adoption > flip_level), "seeds": len(seed_list), "world": label,
            "committed": _label(*roles[COMMITTED]), "rest": _label(*roles[REST]),
        })
    frame = pd.DataFrame(rows)
    frame.attrs.update({"world": label, "world_kwargs": kwargs, "column": column, "flip_level": flip_level,
                        "seeds": seed_list})
    return frame


def _final_values(infos: Mapping[str, Mapping[str, Any]], seats: list[str], column: str, world: str) -> dict[str, float]:
    missing = [seat for seat in seats if column not in infos.get(seat, {})]
    if missing:
        raise ValueError(f"column: {world!r} reports no {column!r} in the last infos of {missing[:5]}")
    return {seat: float(infos[seat][column]) for seat in seats}


def critical_k(frame: pd.DataFrame) -> int | None:
    """The critical mass of a :func:`committed_minority_sweep` frame: the smallest ``k`` from
    which every larger ``k`` swept flipped; ``None`` when the largest ``k`` did not flip."""
    if not isinstance(frame, pd.DataFrame) or not {"k", "flipped"} <= set(frame.columns):
        raise ValueError("frame must be a committed_minority_sweep frame with 'k' and 'flipped' columns")
    ordered = frame.sort_values("k")
    found = None
    for k, flipped in zip(ordered["k"].to_numpy()[::-1], ordered["flipped"].to_numpy()[::-1]):
        if not flipped:
            break
        found = int(k)
    return found
