"""Any experiment as a Mesa model: step through a run and watch it (dashboards, notebooks, ``batch_run``).

    from dilemmazoo.experiments.mesa_model import DilemmaModel

    model = DilemmaModel("cpr_social_learning", seed=0, settings={"world.kwargs.n_rounds": 10})
    while model.running:
        model.step()
    model.datacollector.get_model_vars_dataframe()   # one row per step: the world's headline metrics
    model.datacollector.get_agent_vars_dataframe()   # one row per seat per step

The model is built by composition (ARCHITECTURE.md): it holds the runner's
:class:`~dilemmazoo.experiments.runner.RunPlay` of the config, which holds the PettingZoo world,
and it never inherits from both ``mesa.Model`` and ``ParallelEnv``. A Mesa step is one
:class:`~dilemmazoo.experiments.runner.RunEvent` of that run: a world step played with the
configured policies (one batched decision per policy, as in a run), or a new generation made by
the population dynamics. Because the run is the runner's own, what the model records is what
``dilemmazoo run`` writes for the same config and seed: :meth:`DilemmaModel.records` are the run's
tables, and :attr:`DilemmaModel.metrics` at the end is ``summary.json``'s ``metrics``.

- One :class:`SeatAgent` per seat of the world: the member in it (name, strategy text or
  parameters), its last action, reward and utility, its return in the episode and its score
  over the run.
- The ``DataCollector``'s model reporters are the world's own headline metrics
  (:func:`dilemmazoo.analysis.world_metrics` over the records so far: cooperation or donation
  rates, stock, Gini/equality, sanction rates...), numeric ones only, one column each; they
  appear with the first world step (earlier rows are NaN), since a world's metrics are named by
  what its records hold. ``kind`` (``start``, ``step``, ``generation``, and ``end`` for the
  closing step that finishes the run: Mesa's ``batch_run`` reports the row before the last),
  ``generation``, ``episode``, ``game``, ``world_step``,
  ``mean_reward`` and ``fallbacks`` come first; ``stock`` where the world has a commons stock.
- ``mesa.batch_run(DilemmaModel, parameters={"config": "ipd_llm", "world.kwargs.n_rounds": [5, 10]})``
  sweeps dotted keys as ``run --set`` does.

Importing Mesa switches :mod:`multiprocessing`'s start method to ``spawn`` for the whole
process (``mesa.batchrunner`` does this at import); this module puts the previous setting back,
so importing it changes nothing else in a program.
"""

from __future__ import annotations

import math
import multiprocessing
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from dilemmazoo.experiments.config import ConfigError, ExperimentConfig, apply_overrides, expand_grid, load_config, validate
from dilemmazoo.experiments.runner import RunEvent, RunPlay


def _import_mesa():
    """``mesa``, imported without leaving multiprocessing's start method switched to ``spawn``."""
    before = multiprocessing.get_start_method(allow_none=True)
    import mesa

    multiprocessing.set_start_method(before, force=True)
    return mesa


mesa = _import_mesa()

__all__ = ["DilemmaModel", "MetricsCollector", "SeatAgent", "resolve_config"]

#: the model reporters every world has, before its own metrics
BASE_REPORTERS = ("kind", "generation", "episode", "game", "world_step", "mean_reward", "fallbacks")
#: what each SeatAgent reports per step
AGENT_REPORTERS = ("seat", "name", "policy", "strategy", "action", "decided", "reward", "utility", "episode_return",
                   "score", "fallback_used")


def _dotted(settings: dict[str, Any]) -> dict[str, Any]:
    # a Python keyword cannot hold dots: world__kwargs__n_rounds=5 means world.kwargs.n_rounds
    return {key.replace("__", "."): value for key, value in settings.items()}


def resolve_config(config: str | Path | dict | ExperimentConfig, settings: dict[str, Any] | None = None,
                   seed: int | None = None, cell: int = 0) -> ExperimentConfig:
    """One run's config: a preset name, YAML path, dict or config, with dotted-key ``settings``.

    ``seed`` replaces the config's seeds (default: its first seed); a grid config gives its
    ``cell``-th grid cell (0 = the first, in expansion order). A study (a computed table, no
    episodes) has nothing to step through and is refused with :class:`ConfigError`.
    """
    if isinstance(config, ExperimentConfig):
        data, source = config.model_dump(), config.name
    elif isinstance(config, dict):
        data, source = config, "config"
    else:
        data, source = load_config(config), str(config)
    data = apply_overrides(data, _dotted(dict(settings or {})))
    if seed is not None:
        data["seeds"] = [int(seed)]
    resolved = validate(data, source=source)
    if resolved.study is not None:
        raise ConfigError(f"{resolved.name}: a study ({resolved.study.name}) is computed, not played; it has no steps "
                          "to watch (use `dilemmazoo run` and `dilemmazoo report`)")
    runs = expand_grid(resolved)
    cells = list(dict.fromkeys(tuple(sorted(r.cell.items())) for r in runs))
    if not 0 <= cell < len(cells):
        raise ConfigError(f"cell: {resolved.name} has {len(cells)} grid cell(s); cell {cell} does not exist")
    wanted = cells[cell]
    return next(r for r in runs if tuple(sorted(r.cell.items())) == wanted)


class SeatAgent(mesa.Agent):
    """One seat of the world and the member playing it, as of the model's last step."""

    def __init__(self, model: DilemmaModel, seat: str):
        super().__init__(model)
        self.seat = seat
        self.name = seat
        self.policy = ""
        self.strategy = ""
        self.params: dict[str, Any] = {}
        self.action = ""
        self.decided = False
        self.reward = 0.0
        self.utility = 0.0
        self.episode_return = 0.0
        self.score = 0.0
        self.fallback_used = False
        self.parse_failures = 0
        self.info: dict[str, Any] = {}

    def idle(self) -> None:
        """Nothing happened to this seat in the last step (it did not play, or a generation changed)."""
        self.action, self.decided, self.reward, self.utility = "", False, 0.0, 0.0
        self.fallback_used, self.parse_failures, self.info = False, 0, {}

    def __repr__(self) -> str:
        return f"SeatAgent({self.seat!r}, name={self.name!r}, action={self.action!r}, score={self.score:g})"


class MetricsCollector(mesa.DataCollector):
    """A ``DataCollector`` that can take a model reporter after collection began (earlier rows NaN)."""

    def add_model_reporter(self, name: str, reporter) -> None:
        rows = len(next(iter(self.model_vars.values()), []))
        self.model_reporters[name] = reporter
        self.model_vars[name] = [math.nan] * rows


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


class DilemmaModel(mesa.Model):
    """A dilemmazoo run as a ``mesa.Model``; see the module docstring.

    ``config`` is a preset name, a YAML path, a dict or an :class:`ExperimentConfig`;
    ``settings`` and any dotted keyword arguments (``**{"world.kwargs.n_rounds": 5}``, or
    ``world__kwargs__n_rounds=5``) override its fields as ``run --set`` does. ``seed`` picks the
    run's seed (default: the config's first); ``cell`` a grid cell. ``out_root`` is where an LLM
    cache goes (as for ``dilemmazoo run``); nothing else is written. ``metrics_every`` computes
    the world's metrics every that many world steps (and after the last step of every episode),
    carrying the last values forward in between: for long runs on a live page.
    """

    def __init__(self, config: str | Path | dict | ExperimentConfig = "donor_game_demo", seed: int | None = None, *,
                 settings: dict[str, Any] | None = None, out_root: str | Path = "runs", backend=None, cell: int = 0,
                 metrics_every: int = 1, **kwargs: Any):
        # dotted keys as keyword arguments; named **kwargs so that Mesa's parameter panels accept the model
        settings = {**dict(settings or {}), **kwargs}
        self.config = resolve_config(config, settings, seed=seed, cell=cell)
        super().__init__(seed=self.config.seeds[0])
        if int(metrics_every) < 1:
            raise ValueError(f"metrics_every must be at least 1, got {metrics_every}")
        self.metrics_every = int(metrics_every)
        from dilemmazoo.envs import world_id
        from dilemmazoo.experiments.checks import check_experiment

        check_experiment(self.config)
        self.world_id = world_id(self.config.world.id)
        self.play = RunPlay(self.config, out_root, backend=backend)
        self.world = self.play.world
        self._events = self.play.events()
        self.event: RunEvent | None = None
        self.metrics: dict[str, Any] = {}
        self.headline: list[str] = []
        self._rows_seen = 0
        self._world_steps = 0
        self.seat_agents = [SeatAgent(self, seat) for seat in self.world.possible_agents]
        self._by_seat = {a.seat: a for a in self.seat_agents}
        for s in self.play.seatings:
            for seat in s.seats:
                self._by_seat[seat].policy = s.label
        reporters = {name: (lambda m, name=name: m._base_value(name)) for name in BASE_REPORTERS}
        if self.stock() is not None:
            reporters["stock"] = lambda m: m.stock()
        self.datacollector = MetricsCollector(model_reporters=reporters,
                                              agent_reporters={name: name for name in AGENT_REPORTERS})
        self.datacollector.collect(self)

    # -- stepping ---------------------------------------------------------------------------

    def step(self) -> None:
        """Advance the run by one event: a world step, or the next generation; after the last world
        step, one closing step (``kind`` ``"end"``) finishes the run's bookkeeping and stops."""
        if not self.running:
            return
        try:
            event = next(self._events)
        except StopIteration:  # the run's closing bookkeeping is done; the agents keep their last state
            last = self.event
            self.event = RunEvent("end", last.generation, last.episode, last.game, last.step) if last else None
            self._finish()
            self.datacollector.collect(self)
            return
        except Exception:
            self._finish()
            raise
        self.event = event
        if event.kind == "step":
            self._world_steps += 1
            self._take_step_rows()
            if not self.world.agents or self._world_steps % self.metrics_every == 0:
                self._update_metrics()
        else:
            self._take_generation()
        self.datacollector.collect(self)

    def _finish(self) -> None:
        self.running = False
        self.play.close()

    def _take_step_rows(self) -> None:
        rows = self.play.recorder.steps[self._rows_seen:]
        self._rows_seen += len(rows)
        for agent in self.seat_agents:
            agent.idle()
        for row in rows:
            agent = self._by_seat[row["agent"]]
            agent.action, agent.decided = row["action"], bool(row["decided"])
            agent.reward, agent.utility = float(row["reward"]), float(row["utility"])
            agent.fallback_used, agent.parse_failures = bool(row["fallback_used"]), int(row["parse_failures"])
            agent.info = {k: v for k, v in row.items() if k not in _ROW_FIELDS}
            agent.score += agent.reward
        self._take_members()
        for agent in self.seat_agents:
            agent.episode_return = float(self.play.returns.get(agent.seat, 0.0))

    def _take_generation(self) -> None:
        for agent, member in zip(self.seat_agents, self.play.members):
            agent.idle()
            agent.episode_return = 0.0
            agent.name, agent.strategy, agent.params = member.name, member.strategy, dict(member.params)

    def _take_members(self) -> None:
        for agent in self.seat_agents:
            member = self.play.member_of.get(agent.seat)
            if member is not None:
                agent.name, agent.strategy, agent.params = member.name, member.strategy, dict(member.params)

    def _update_metrics(self) -> None:
        self.metrics = self.play.metrics()
        for name, value in self.metrics.items():
            if _numeric(value) and name not in self.headline and name not in BASE_REPORTERS and name != "stock":
                self.headline.append(name)
                self.datacollector.add_model_reporter(name, lambda m, name=name: m._metric(name))

    def _metric(self, name: str) -> float:
        value = self.metrics.get(name, math.nan)
        return float(value) if _numeric(value) else math.nan

    def _base_value(self, name: str) -> Any:
        event = self.event
        if name == "kind":
            return "start" if event is None else event.kind
        if name in ("generation", "episode", "game"):
            return 0 if event is None else getattr(event, name)
        if name == "world_step":
            return 0 if event is None or event.kind == "generation" else event.step
        if name == "mean_reward":
            rewards = [a.reward for a in self.seat_agents]
            return float(np.mean(rewards)) if event is not None and event.kind == "step" else math.nan
        if name == "fallbacks":
            return int(sum(bool(row["fallback_used"]) for row in self.play.recorder.steps))
        raise KeyError(name)

    # -- what a page shows ----------------------------------------------------------------

    def records(self) -> dict[str, pd.DataFrame]:
        """The run's tables so far (``steps``, ``episodes``, ``population``, ``llm_calls``), as a run writes them."""
        return self.play.frames()

    def stock(self) -> float | None:
        """The commons stock, where the world has one (GovSim, CPR); else ``None``."""
        value = getattr(self.world, "stock", None)
        return float(value) if _numeric(value) else None

    def frame(self) -> np.ndarray | None:
        """The gridworld's current frame as an RGB array (8 pixels a cell), or ``None`` for other worlds."""
        core = getattr(self.world, "core", None)
        render = getattr(core, "render_rgb", None)
        return None if render is None else render(0)

    def interaction_graph(self) -> nx.Graph:
        """Who meets whom, over seats: the world's own graph (ATP diffusion), else the social-learning
        graph of the population dynamics, else everyone with everyone. Nodes carry ``name``,
        ``strategy``, ``action``, ``score``."""
        seats = list(self.world.possible_agents)
        source = getattr(self.world, "graph", None)
        if not isinstance(source, nx.Graph):
            source = getattr(self.play.dynamics, "graph", None)
        if isinstance(source, nx.Graph) and source.number_of_nodes() == len(seats):
            order = sorted(source.nodes)
            graph = nx.relabel_nodes(source, {node: seats[i] for i, node in enumerate(order)}, copy=True)
        else:
            graph = nx.complete_graph(seats)
        for agent in self.seat_agents:
            graph.nodes[agent.seat].update(name=agent.name, strategy=agent.strategy or _params_text(agent.params),
                                           action=agent.action, score=agent.score)
        return graph

    def parameters(self) -> dict[str, dict[str, Any]]:
        """Sliders for the world's numeric settings, in SolaraViz's ``model_params`` format (dotted keys)."""
        sliders: dict[str, dict[str, Any]] = {}
        for key, value in self.config.world.kwargs.items():
            if not _numeric(value):
                continue
            name = f"world.kwargs.{key}"
            if isinstance(value, (int, np.integer)):
                value = int(value)
                sliders[name] = {"type": "SliderInt", "value": value, "label": key, "min": 0 if value <= 0 else 1,
                                 "max": max(2 * value, value + 1), "step": 1}
            else:
                value = float(value)
                share = key.endswith(("prob", "probability", "_rate", "share", "fraction")) and 0.0 <= value <= 1.0
                top = 1.0 if share or 0.0 <= value < 1.0 else max(2 * abs(value), 1.0)
                sliders[name] = {"type": "SliderFloat", "value": value, "label": key,
                                 "min": 0.0 if value >= 0 else -top, "max": top, "step": round(top / 100, 6)}
        return sliders


_ROW_FIELDS = {"episode", "generation", "game", "step", "agent", "name", "policy", "decided", "action", "reward",
               "utility", "parse_failures", "fallback_used"}


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
