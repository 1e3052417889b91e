"""Payoff-biased social learning: members imitate successful neighbours on an interaction graph.

Sources
-------
- Gupta et al. (arXiv 2510.14401; no public code), social learning and collective norms in a
  commons: agents learn by *payoff-biased imitation of successful peers*; rule-based agents
  copy with a probability logistic in the payoff difference, LLM agents read textual
  descriptions of their peers' strategies and outcomes and rewrite their own.
- The logistic ("Fermi") imitation rule: Szabó & Tőke, "Evolutionary prisoner's dilemma game on
  a square lattice", Phys. Rev. E 58, 69 (1998); Traulsen, Nowak & Pacheco, "Stochastic
  dynamics of invasion and fixation", Phys. Rev. E 74, 011909 (2006)::

      P(i copies j) = 1 / (1 + exp(-beta * (pi_j - pi_i)))

  with ``pi`` the payoffs and ``beta >= 0`` the intensity of selection: ``beta = 0`` is a coin
  flip (neutral drift), ``beta -> inf`` copies exactly when the model earned more (a step; ties
  stay at 1/2).
- Interaction graphs: Watts & Strogatz, Nature 393, 440 (1998) (small world); Erdős & Rényi,
  Publ. Math. Debrecen 6, 290 (1959) (random graph); imitation on graphs in social dilemmas:
  Santos & Pacheco, Phys. Rev. Lett. 95, 098104 (2005).

Arguments of :class:`SocialLearning` (defaults)
-----------------------------------------------
- ``graph="complete"``: who can observe whom: ``"complete"``, ``"ring"``, ``"small_world"``,
  ``"erdos_renyi"``, ``"grid"``, ``"star"`` (see :func:`interaction_graph`), or a ready
  ``networkx.Graph`` on the nodes ``0..size-1``. Node ``i`` is the member at position ``i``.
- ``graph_kwargs=None``: the graph's parameters (``ring``: ``k=2``; ``small_world``: ``k=4,
  p=0.1``; ``erdos_renyi``: ``p=0.5``; ``grid``: ``rows=None`` (most square), ``periodic=False``).
- ``beta=1.0``: intensity of selection in the Fermi rule (finite, ``>= 0``).
- ``traits=("effort", "compliance")``: the parameter names copied in params mode.
- ``mutation_sd=0.02``: standard deviation of the Gaussian noise added to a copied number.
- ``trait_bounds=(0.0, 1.0)``: ``(low, high)`` every copied number is clipped to, or a mapping
  ``trait -> (low, high)`` (traits absent from the mapping are not clipped).
- ``learning_prob=1.0``: the chance that a member considers imitating at an event.
- ``every_rounds=1``: learn within episodes after every ``every_rounds`` completed rounds
  (:meth:`SocialLearning.update`); ``None``: only between generations.
- ``mode="auto"``: ``"params"`` (copy numeric traits), ``"text"`` (rewrite the strategy text
  through the :class:`~dilemmazoo.norms.base.StrategyWriter`), or ``"auto"`` (text when any
  member carries a strategy text, params otherwise).
- ``peers_shown=2``: how many neighbours' strategies and outcomes a text-mode learner reads
  (the chosen model first, then other neighbours at random).
- ``write_initial_strategies=False``: when true, :meth:`SocialLearning.initial` asks the writer
  for a first strategy per member (the cultural-evolution prompt); otherwise strategies start
  empty (scripted members, or LLM members steered by persona).
- ``learn_prompt``, ``initial_prompt``: the wording (``LEARN_PROMPT``, ``INITIAL_PROMPT``).
- ``initial_params=None``: a list of parameter mappings handed out to the first members in
  turn (member ``i`` gets item ``i mod len``, over the group's params), for a mixed initial
  population such as half altruistic, half selfish; ``None``: everyone gets the group's params.

One learning event (synchronous)
--------------------------------
Everyone decides from the pre-event population: a copied value is always the model's value
*before* the event, never one it has just copied itself. Random draws, in this order, from the
one generator: ``n`` uniforms (does member ``i`` consider learning: ``u < learning_prob``),
``n`` uniforms (which neighbour: index ``floor(u * degree)`` into the sorted neighbour list),
``n`` uniforms (copy when ``u < P(i copies j)``); then, per copying learner in member order,
the text-mode peer shuffle or the Gaussian mutations of its numeric traits in ``traits`` order.
A member without neighbours never learns. Scores are the payoffs since the last event.

- **params mode**: every trait present in the model's params is copied; numbers get
  ``+ N(0, mutation_sd)`` and are clipped to the bounds (integers stay integers, rounded after
  mutation; booleans and other values are copied as they are). Other params stay the learner's.
  ``parents = (model,)`` when it copied, ``()`` otherwise.
- **text mode**: each copying learner gets ``learn_prompt`` (its own strategy and payoff, then
  ``peers_shown`` neighbours' strategies and payoffs, the model first) and writes a new strategy
  in one paragraph starting "My strategy will be"; all prompts of one event go to ONE
  ``writer.write_strategies`` call (batched). Params are left unchanged.
  ``parents`` = the shown peers, model first.

Names and order never change; :meth:`SocialLearning.update` keeps each member's generation,
:meth:`SocialLearning.next_generation` sets it to ``generation`` (so the same rule serves
generational worlds such as the Donor Game).

Records
-------
``SocialLearning.events`` gains one dict per member that considered imitating and had a
neighbour: ``round`` (completed rounds at the event; ``None`` between generations),
``generation``, ``learner``, ``model``, ``probability`` (Fermi), ``copied`` (bool),
``learner_payoff``, ``model_payoff``, ``mode`` (``"params"`` or ``"text"``).

Version history
---------------
- v1: first version.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from dilemmazoo.envs.checks import check_non_negative, check_probability
from dilemmazoo.norms.base import Member, PopulationDynamics, StrategyWriter
from dilemmazoo.norms.cultural_evolution import INITIAL_PROMPT

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GRAPH_KINDS", "LEARN_PROMPT", "LEARNING_MODES", "SocialLearning", "imitation_probability", "interaction_graph"]

LEARNING_MODES = ("params", "text", "auto")

LEARN_PROMPT = (
    "Your name is {name}. {period} you earned {own_payoff} with this strategy:\n{own_strategy}\n\n"
    "Here is what some of your neighbours did and what they earned:\n{peers}\n\n"
    "Learn from them: think about what made the difference, then rewrite your strategy in one "
    "paragraph that begins with 'My strategy will be'."
)
NO_STRATEGY = "(no written strategy)"


# -- the imitation rule --------------------------------------------------------------------

def imitation_probability(payoff_self, payoff_model, beta: float):
    """Fermi probability ``1 / (1 + exp(-beta * (payoff_model - payoff_self)))``.

    Vectorized over array inputs (broadcast); a float for scalar inputs. Stable for any finite
    ``beta``: only ``exp(-|x|)`` is evaluated, so large payoff gaps give exactly 0 or 1 without
    overflow warnings.
    """
    beta = check_non_negative("beta", beta)
    with np.errstate(over="ignore"):
        x = beta * (np.asarray(payoff_model, dtype=float) - np.asarray(payoff_self, dtype=float))
    decay = np.exp(-np.abs(x))
    probability = np.where(x >= 0, 1.0 / (1.0 + decay), decay / (1.0 + decay))
    return float(probability) if probability.ndim == 0 else probability


# -- interaction graphs --------------------------------------------------------------------

def _check_ring_degree(kind: str, k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 2 or k % 2:
        raise ValueError(f"graph {kind!r}: k (neighbours per node) must be an even integer >= 2, got {k!r}")


def _complete(n: int, seed: int) -> nx.Graph:
    return nx.complete_graph(n)


def _ring(n: int, seed: int, k: int = 2) -> nx.Graph:
    """Each node linked to its ``k/2`` nearest neighbours on either side."""
    _check_ring_degree("ring", k)
    if n <= k:
        raise ValueError(f"graph 'ring': needs more members than k={k}, got {n}")
    return nx.circulant_graph(n, range(1, k // 2 + 1))


def _small_world(n: int, seed: int, k: int = 4, p: float = 0.1) -> nx.Graph:
    """Watts–Strogatz: a ring of degree ``k`` whose edges are rewired with probability ``p``.

    Rewiring moves only the far end of an edge, so every node keeps at least ``k/2`` edges.
    """
    _check_ring_degree("small_world", k)
    check_probability("graph 'small_world': p", p)
    if n <= k:
        raise ValueError(f"graph 'small_world': needs more members than k={k}, got {n}")
    return nx.watts_strogatz_graph(n, k, p, seed=seed)


def _erdos_renyi(n: int, seed: int, p: float = 0.5) -> nx.Graph:
    """G(n, p), then patched: each isolated node (in index order) gets one edge to a uniformly
    random other node (drawn from ``numpy.random.default_rng(seed)``). Patching rather than
    re-drawing keeps every other edge as G(n, p) drew it; the graph has no isolated node but
    may still be disconnected."""
    check_probability("graph 'erdos_renyi': p", p)
    graph = nx.gnp_random_graph(n, p, seed=seed)
    if n >= 2:
        patch_rng = np.random.default_rng(seed)
        for node in range(n):
            if graph.degree(node) == 0:
                other = int(patch_rng.integers(n - 1))
                graph.add_edge(node, other if other < node else other + 1)
    return graph


def _grid(n: int, seed: int, rows: int | None = None, periodic: bool = False) -> nx.Graph:
    """A ``rows x (n / rows)`` lattice (von Neumann neighbourhood), a torus when ``periodic``.
    Node ``r * cols + c`` is the cell in row ``r``, column ``c``. ``rows=None`` takes the most
    square factorisation; both sides must be at least 2."""
    if rows is None:
        rows = max((d for d in range(1, math.isqrt(n) + 1) if n % d == 0), default=1)
        if rows < 2:
            raise ValueError(f"graph 'grid': {n} members cannot be laid out as rows x cols with both >= 2")
    elif isinstance(rows, bool) or not isinstance(rows, numbers.Integral) or rows < 2 or n % rows or n // rows < 2:
        raise ValueError(f"graph 'grid': rows must divide the {n} members into rows x cols with both >= 2, got rows={rows!r}")
    if not isinstance(periodic, bool):
        raise ValueError(f"graph 'grid': periodic must be true or false, got {periodic!r}")
    cols = n // rows
    lattice = nx.grid_2d_graph(rows, cols, periodic=periodic)
    return nx.relabel_nodes(lattice, {(r, c): r * cols + c for r, c in lattice.nodes})


def _star(n: int, seed: int) -> nx.Graph:
    """Node 0 is the hub, linked to every other node; the others see only the hub."""
    return nx.star_graph(n - 1)


_GRAPH_BUILDERS = {
    "complete": _complete,
    "ring": _ring,
    "small_world": _small_world,
    "erdos_renyi": _erdos_renyi,
    "grid": _grid,
    "star": _star,
}
GRAPH_KINDS = tuple(_GRAPH_BUILDERS)


def _graph_parameters(kind: str) -> list[str]:
    return list(inspect.signature(_GRAPH_BUILDERS[kind]).parameters)[2:]


def _check_graph_kwargs(kind: Any, kwargs: Mapping[str, Any]) -> None:
    """Kind and parameter names, and every check that does not need the population size."""
    if kind not in _GRAPH_BUILDERS:
        raise ValueError(f"graph must be one of {', '.join(GRAPH_KINDS)} or a networkx.Graph, got {kind!r}")
    allowed = _graph_parameters(kind)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"graph_kwargs: unknown parameters {unknown} for graph {kind!r}; allowed: {allowed or 'none'}"
        )
    if "k" in kwargs:
        _check_ring_degree(kind, kwargs["k"])
    if "p" in kwargs:
        check_probability(f"graph {kind!r}: p", kwargs["p"])
    rows = kwargs.get("rows")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, numbers.Integral) or rows < 2):
        raise ValueError(f"graph 'grid': rows must be an integer >= 2 or None, got {rows!r}")
    if "periodic" in kwargs and not isinstance(kwargs["periodic"], bool):
        raise ValueError(f"graph 'grid': periodic must be true or false, got {kwargs['periodic']!r}")


def interaction_graph(kind: str, n: int, rng: np.random.Generator, **kwargs: Any) -> nx.Graph:
    """The interaction graph ``kind`` on the nodes ``0..n-1``.

    Kinds and parameters: ``complete``; ``ring`` (``k=2`` nearest neighbours, even); ``small_world``
    (Watts–Strogatz, ``k=4``, rewiring ``p=0.1``); ``erdos_renyi`` (edge probability ``p=0.5``,
    isolated nodes patched with one random edge); ``grid`` (2-D lattice, ``rows=None`` = most
    square, ``periodic=False``; ``n`` must factor into two sides >= 2); ``star`` (hub 0).

    Exactly one integer is drawn from ``rng`` whatever the kind, and seeds networkx (and the
    Erdős–Rényi patch), so the same generator state gives the same graph, and the draws after
    it do not depend on the kind.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n (number of members) must be an integer >= 1, got {n!r}")
    _check_graph_kwargs(kind, kwargs)
    seed = int(rng.integers(2**31))
    graph = _GRAPH_BUILDERS[kind](int(n), seed, **kwargs)
    graph.graph["kind"] = kind
    return graph


# -- the dynamics --------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class SocialLearning(PopulationDynamics):
    """Payoff-biased (Fermi) imitation of neighbours on a networkx graph (see module docstring)."""

    def __init__(
        self,
        graph: str | nx.Graph = "complete",
        graph_kwargs: Mapping[str, Any] | None = None,
        beta: float = 1.0,
        traits: Sequence[str] | str = ("effort", "compliance"),
        mutation_sd: float = 0.02,
        trait_bounds: Sequence[float] | Mapping[str, Sequence[float]] = (0.0, 1.0),
        learning_prob: float = 1.0,
        every_rounds: int | None = 1,
        mode: str = "auto",
        peers_shown: int = 2,
        write_initial_strategies: bool = False,
        learn_prompt: str = LEARN_PROMPT,
        initial_prompt: str = INITIAL_PROMPT,
        initial_params: Sequence[Mapping[str, Any]] | None = None,
    ):
        graph_kwargs = dict(graph_kwargs or {})
        if initial_params is not None:
            if isinstance(initial_params, Mapping) or not all(isinstance(p, Mapping) for p in initial_params) \
                    or not initial_params:
                raise ValueError(f"initial_params must be a non-empty list of parameter mappings, got {initial_params!r}")
        self.initial_params = None if initial_params is None else [dict(p) for p in initial_params]
        if isinstance(graph, nx.Graph):
            if graph_kwargs:
                raise ValueError("graph_kwargs: only for a named graph kind, not for a ready networkx.Graph")
        else:
            _check_graph_kwargs(graph, graph_kwargs)
        self.beta = check_non_negative("beta", beta)
        if isinstance(traits, str):
            traits = (traits,)
        traits = tuple(traits)
        if not traits or not all(isinstance(t, str) and t for t in traits):
            raise ValueError(f"traits must be a non-empty list of parameter names, got {traits!r}")
        if not _is_number(mutation_sd) or not mutation_sd >= 0:
            raise ValueError(f"mutation_sd must be a number >= 0, got {mutation_sd!r}")
        if not _is_number(learning_prob) or not 0.0 <= learning_prob <= 1.0:
            raise ValueError(f"learning_prob must be a probability in [0, 1], got {learning_prob!r}")
        if every_rounds is not None and (
                isinstance(every_rounds, bool) or not isinstance(every_rounds, numbers.Integral) or every_rounds < 1):
            raise ValueError(f"every_rounds must be an integer >= 1 or None (between generations only), got {every_rounds!r}")
        if mode not in LEARNING_MODES:
            raise ValueError(f"mode must be one of {', '.join(LEARNING_MODES)}, got {mode!r}")
        if isinstance(peers_shown, bool) or not isinstance(peers_shown, numbers.Integral) or peers_shown < 1:
            raise ValueError(f"peers_shown must be an integer >= 1, got {peers_shown!r}")
        self.graph_spec = graph
        self.graph_kwargs = graph_kwargs
        self.traits = traits
        self.mutation_sd = float(mutation_sd)
        self.trait_bounds = self._check_bounds(trait_bounds)
        self.learning_prob = float(learning_prob)
        self.every_rounds = None if every_rounds is None else int(every_rounds)
        self.mode = mode
        self.peers_shown = int(peers_shown)
        self.write_initial_strategies = bool(write_initial_strategies)
        self.learn_prompt = learn_prompt
        self.initial_prompt = initial_prompt
        self.graph: nx.Graph | None = None
        self.events: list[dict[str, Any]] = []

    def _check_bounds(self, trait_bounds) -> dict[str, tuple[float, float]]:
        """``trait -> (low, high)`` for every bounded trait."""
        def pair(value, label):
            try:
                low, high = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(f"trait_bounds{label} must be a (low, high) pair of numbers, got {value!r}") from None
            if not low <= high:
                raise ValueError(f"trait_bounds{label} must have low <= high, got {value!r}")
            return low, high

        if isinstance(trait_bounds, Mapping):
            unknown = sorted(set(trait_bounds) - set(self.traits))
            if unknown:
                raise ValueError(f"trait_bounds: traits {unknown} are not in traits {list(self.traits)}")
            return {t: pair(v, f"[{t!r}]") for t, v in trait_bounds.items()}
        bounds = pair(trait_bounds, "")
        return dict.fromkeys(self.traits, bounds)

    # -- when ----------------------------------------------------------------------------

    @property
    def within_episode(self) -> bool:
        """Whether members learn during episodes (``every_rounds`` is set)."""
        return self.every_rounds is not None

    def learns_after_round(self, completed_rounds: int) -> bool:
        """Whether a learning event is due after ``completed_rounds`` rounds of an episode."""
        return self.every_rounds is not None and completed_rounds > 0 and completed_rounds % self.every_rounds == 0

    # -- the graph -----------------------------------------------------------------------

    def build_graph(self, size: int, rng: np.random.Generator) -> nx.Graph:
        """The graph over member positions ``0..size-1`` (kept as ``self.graph``)."""
        if isinstance(self.graph_spec, nx.Graph):
            if set(self.graph_spec.nodes) != set(range(size)):
                raise ValueError(f"graph: a networkx.Graph must have the nodes 0..{size - 1} (one per member)")
            self.graph = self.graph_spec
        else:
            self.graph = interaction_graph(self.graph_spec, size, rng, **self.graph_kwargs)
        return self.graph

    def _neighbours(self, size: int, rng: np.random.Generator) -> list[list[int]]:
        if self.graph is None:  # members made elsewhere: the first event builds the graph
            self.build_graph(size, rng)
        if self.graph.number_of_nodes() != size:
            raise ValueError(f"the interaction graph has {self.graph.number_of_nodes()} nodes but there are {size} members")
        return [sorted(self.graph.neighbors(i)) for i in range(size)]

    # -- PopulationDynamics ----------------------------------------------------------------

    def initial(
        self, size: int, writer: StrategyWriter, rng: np.random.Generator, params: dict[str, Any] | None = None
    ) -> list[Member]:
        """Members ``1_1..1_size`` with copies of ``params``; builds ``self.graph``."""
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"size must be an integer >= 1, got {size!r}")
        self.events = []
        self.build_graph(int(size), rng)
        names = [f"1_{i + 1}" for i in range(size)]
        strategies = [""] * size
        if self.write_initial_strategies:
            strategies = writer.write_strategies([self.initial_prompt.format(name=n) for n in names], rng)
            if len(strategies) != size:
                raise ValueError(f"the strategy writer returned {len(strategies)} strategies for {size} prompts")
        mix = self.initial_params or [{}]
        return [
            Member(name=n, generation=1, strategy=s, params={**(params or {}), **mix[i % len(mix)]})
            for i, (n, s) in enumerate(zip(names, strategies))
        ]

    def update(
        self,
        members: list[Member],
        scores: Mapping[str, float],
        writer: StrategyWriter,
        rng: np.random.Generator,
        round: int,
    ) -> list[Member]:
        """One learning event within an episode, after ``round`` completed rounds.

        ``scores`` maps each member's name to its payoff since the last event. Returns new
        members with the same names, order and generations.
        """
        return self._learn(members, scores, writer, rng, round=round, generation=None)

    def next_generation(
        self,
        members: list[Member],
        scores: Mapping[str, float],
        writer: StrategyWriter,
        rng: np.random.Generator,
        generation: int,
        records: pd.DataFrame | None = None,
    ) -> list[Member]:
        """The same learning event between generations; members keep their names and get
        ``generation`` (``records`` are not used: payoffs decide)."""
        return self._learn(members, scores, writer, rng, round=None, generation=generation)

    # -- one event -----------------------------------------------------------------------

    def uses_text(self, members: list[Member]) -> bool:
        """Text mode for these members (``mode``, or ``auto`` and any strategy text)."""
        return self.mode == "text" or (self.mode == "auto" and any(m.strategy for m in members))

    def _learn(self, members, scores, writer, rng, *, round, generation) -> list[Member]:
        size = len(members)
        names = [m.name for m in members]
        if len(set(names)) != size:
            raise ValueError(f"member names must be unique, got {names}")
        missing = [n for n in names if n not in scores]
        if missing:
            raise KeyError(f"no score for members {missing}")
        if size == 0:
            return []
        neighbours = self._neighbours(size, rng)
        payoffs = np.array([float(scores[n]) for n in names])
        if not np.all(np.isfinite(payoffs)):
            bad = {n: scores[n] for n, p in zip(names, payoffs) if not math.isfinite(p)}
            raise ValueError(f"scores must be finite numbers, got {bad}")
        considers = rng.random(size) < self.learning_prob
        picks = rng.random(size)
        copy_draws = rng.random(size)
        models = np.full(size, -1)
        for i, options in enumerate(neighbours):
            if considers[i] and options:
                models[i] = options[min(int(picks[i] * len(options)), len(options) - 1)]
        learners = np.flatnonzero(models >= 0)
        probabilities = np.atleast_1d(imitation_probability(payoffs[learners], payoffs[models[learners]], self.beta))
        copies = copy_draws[learners] < probabilities
        text = self.uses_text(members)

        new_strategy = {i: m.strategy for i, m in enumerate(members)}
        new_params = {i: dict(m.params) for i, m in enumerate(members)}
        parents: dict[int, tuple[str, ...]] = {}
        copying = [int(i) for i, copied in zip(learners, copies) if copied]
        if text:
            prompts = []
            for i in copying:
                shown = self._peers_shown(i, int(models[i]), neighbours[i], rng)
                prompts.append(self._prompt(members, payoffs, i, shown, round))
                parents[i] = tuple(members[j].name for j in shown)
            if prompts:
                written = writer.write_strategies(prompts, rng)
                if len(written) != len(prompts):
                    raise ValueError(f"the strategy writer returned {len(written)} strategies for {len(prompts)} prompts")
                for i, strategy in zip(copying, written):
                    new_strategy[i] = strategy
        else:
            for i in copying:
                new_params[i] = self._copy_traits(members[i].params, members[int(models[i])].params, rng)
                parents[i] = (members[int(models[i])].name,)

        for i, probability, copied in zip(learners, probabilities, copies):
            i = int(i)
            self.events.append(
                {
                    "round": round,
                    "generation": members[i].generation if generation is None else generation,
                    "learner": members[i].name,
                    "model": members[int(models[i])].name,
                    "probability": float(probability),
                    "copied": bool(copied),
                    "learner_payoff": float(payoffs[i]),
                    "model_payoff": float(payoffs[models[i]]),
                    "mode": "text" if text else "params",
                }
            )
        return [
            Member(
                name=m.name,
                generation=m.generation if generation is None else generation,
                strategy=new_strategy[i],
                params=new_params[i],
                parents=parents.get(i, ()),
            )
            for i, m in enumerate(members)
        ]

    def _peers_shown(self, learner: int, model: int, options: list[int], rng: np.random.Generator) -> list[int]:
        others = [j for j in options if j != model]
        extra = min(self.peers_shown - 1, len(others))
        order = rng.permutation(len(others))[:extra] if extra > 0 else []
        return [model] + [others[k] for k in order]

    def _prompt(self, members, payoffs, learner: int, shown: list[int], round) -> str:
        period = "Over the last generation" if round is None else "Since your last review"
        peers = "\n".join(
            f"- {members[j].name} (earned {payoffs[j]:.2f}): {members[j].strategy or NO_STRATEGY}" for j in shown
        )
        return self.learn_prompt.format(
            name=members[learner].name,
            period=period,
            own_payoff=f"{payoffs[learner]:.2f}",
            own_strategy=members[learner].strategy or NO_STRATEGY,
            peers=peers,
        )

    def _copy_traits(self, own: dict[str, Any], model: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """The learner's params with the model's traits copied (mutated and clipped numbers)."""
        out = dict(own)
        for trait in self.traits:
            if trait not in model:
                continue
            value = model[trait]
            if not _is_number(value):
                out[trait] = value
                continue
            copied = float(value)
            if self.mutation_sd > 0:
                copied += float(rng.normal(0.0, self.mutation_sd))
            if trait in self.trait_bounds:
                low, high = self.trait_bounds[trait]
                copied = min(max(copied, low), high)
            out[trait] = int(round(copied)) if isinstance(value, numbers.Integral) else copied
        return out
