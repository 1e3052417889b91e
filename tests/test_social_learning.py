"""Social learning (Fermi imitation on a graph, Gupta et al. arXiv 2510.14401): exact graphs,
the imitation rule, synchronous events, params and text modes, seeding and bad arguments."""

from __future__ import annotations

import json
import math
import warnings

import networkx as nx
import numpy as np
import pytest

from dilemmazoo.agents.scripted import ScriptedPolicy
from dilemmazoo.norms import Member, PopulationDynamics
from dilemmazoo.norms.social_learning import (
    GRAPH_KINDS,
    SocialLearning,
    imitation_probability,
    interaction_graph,
)


class RecordingWriter:
    """A StrategyWriter that keeps every call's prompts and numbers its answers."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def write_strategies(self, prompts, rng):
        self.calls.append(list(prompts))
        return [f"My strategy will be revised plan {len(self.calls)}.{i}." for i in range(len(prompts))]


def population(efforts, **params):
    return [Member(name=f"1_{i + 1}", generation=1, params={"effort": e, **params}) for i, e in enumerate(efforts)]


def degrees(graph):
    return [d for _, d in sorted(graph.degree())]


def edges(graph):
    return sorted(tuple(sorted(e)) for e in graph.edges())


# --------------------------------------------------------------------------------------------
# Interaction graphs
# --------------------------------------------------------------------------------------------


def test_deterministic_graph_shapes():
    rng = np.random.default_rng(0)
    complete = interaction_graph("complete", 5, rng)
    assert complete.number_of_edges() == 10 and degrees(complete) == [4] * 5
    ring = interaction_graph("ring", 6, rng)
    assert edges(ring) == [(0, 1), (0, 5), (1, 2), (2, 3), (3, 4), (4, 5)]
    wide_ring = interaction_graph("ring", 7, rng, k=4)
    assert degrees(wide_ring) == [4] * 7 and sorted(wide_ring.neighbors(0)) == [1, 2, 5, 6]
    star = interaction_graph("star", 5, rng)
    assert degrees(star) == [4, 1, 1, 1, 1] and sorted(star.neighbors(3)) == [0]
    assert degrees(interaction_graph("complete", 1, rng)) == [0]


def test_grid_is_the_most_square_lattice_in_row_major_order():
    grid = interaction_graph("grid", 12, np.random.default_rng(0))  # 3 x 4
    assert grid.number_of_edges() == 3 * 3 + 2 * 4
    assert sorted(grid.neighbors(5)) == [1, 4, 6, 9]  # row 1, column 1
    assert sorted(grid.neighbors(0)) == [1, 4]
    assert degrees(interaction_graph("grid", 12, np.random.default_rng(0), rows=2)) == [2, 3, 3, 3, 3, 2] * 2
    torus = interaction_graph("grid", 16, np.random.default_rng(0), periodic=True)
    assert degrees(torus) == [4] * 16 and sorted(torus.neighbors(0)) == [1, 3, 4, 12]
    with pytest.raises(ValueError, match="grid"):
        interaction_graph("grid", 7, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rows"):
        interaction_graph("grid", 12, np.random.default_rng(0), rows=5)


def test_random_graphs_are_seeded_and_have_no_isolated_node():
    def build(kind, seed, **kw):
        return edges(interaction_graph(kind, 20, np.random.default_rng(seed), **kw))

    for kind, kw in [("small_world", {"k": 4, "p": 0.3}), ("erdos_renyi", {"p": 0.15})]:
        assert build(kind, 1, **kw) == build(kind, 1, **kw)
        assert build(kind, 1, **kw) != build(kind, 2, **kw)
    # small world with p = 0 is the ring lattice; rewiring keeps the number of edges
    assert build("small_world", 3, k=4, p=0.0) == build("ring", 0, k=4)
    assert len(build("small_world", 3, k=4, p=0.5)) == 40
    assert min(degrees(interaction_graph("small_world", 20, np.random.default_rng(4), k=2, p=1.0))) >= 1
    # Erdős–Rényi: p = 1 is complete; p = 0 is patched so that no node is isolated
    assert len(build("erdos_renyi", 0, p=1.0)) == 190
    sparse = interaction_graph("erdos_renyi", 20, np.random.default_rng(5), p=0.0)
    assert min(degrees(sparse)) == 1 and 10 <= sparse.number_of_edges() < 20


@pytest.mark.parametrize("kind", GRAPH_KINDS)
def test_every_kind_draws_exactly_one_integer_from_the_generator(kind):
    rng = np.random.default_rng(9)
    graph = interaction_graph(kind, 16, rng)
    assert sorted(graph.nodes) == list(range(16)) and graph.graph["kind"] == kind
    reference = np.random.default_rng(9)
    reference.integers(2**31)
    assert rng.random() == reference.random()


@pytest.mark.parametrize(
    "kind, n, kwargs, named",
    [
        ("lattice", 5, {}, "graph must be one of"),
        ("ring", 5, {"q": 1}, r"unknown parameters \['q'\]"),
        ("complete", 5, {"k": 2}, r"unknown parameters \['k'\]"),
        ("ring", 5, {"k": 3}, "k"),
        ("ring", 4, {"k": 4}, "more members than k"),
        ("small_world", 10, {"p": 1.5}, "p must be a probability"),
        ("erdos_renyi", 10, {"p": -0.1}, "p must be a probability"),
        ("grid", 12, {"periodic": "yes"}, "periodic"),
        ("star", 0, {}, "n"),
    ],
)
def test_bad_graph_arguments_are_named(kind, n, kwargs, named):
    with pytest.raises(ValueError, match=named):
        interaction_graph(kind, n, np.random.default_rng(0), **kwargs)


# --------------------------------------------------------------------------------------------
# The Fermi rule
# --------------------------------------------------------------------------------------------


def test_imitation_probability_values():
    assert imitation_probability(3.0, 7.0, 0.0) == 0.5
    assert np.array_equal(imitation_probability([0.0, 5.0], [9.0, -2.0], 0.0), [0.5, 0.5])
    assert imitation_probability(0.0, math.log(3.0), 1.0) == pytest.approx(0.75, abs=1e-15)  # 1 / (1 + 1/3)
    assert imitation_probability(math.log(3.0), 0.0, 1.0) == pytest.approx(0.25, abs=1e-15)
    assert imitation_probability(1.0, 2.0, 2.0) == pytest.approx(1.0 / (1.0 + math.exp(-2.0)), rel=1e-15)
    assert isinstance(imitation_probability(0, 1, 1.0), float)
    both = imitation_probability(np.array([[0.0], [1.0]]), np.array([0.0, 1.0, 2.0]), 1.0)  # broadcast
    assert both.shape == (2, 3) and both[1, 1] == 0.5
    np.testing.assert_allclose(both + imitation_probability(np.array([0.0, 1.0, 2.0]), np.array([[0.0], [1.0]]), 1.0), 1.0)


def test_large_beta_is_a_step_and_large_gaps_raise_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step = imitation_probability(0.0, np.array([-1.0, 0.0, 1e-6, 1.0]), 1e12)
        assert np.array_equal(step, [0.0, 0.5, 1.0, 1.0])
        assert imitation_probability(-1e308, 1e308, 1e10) == 1.0
        assert imitation_probability(1e308, -1e308, 1e10) == 0.0
        assert imitation_probability(0.0, 800.0, 1.0) == 1.0 and imitation_probability(800.0, 0.0, 1.0) == 0.0
    for beta in (-1.0, math.inf, math.nan, "2"):
        with pytest.raises(ValueError, match="beta"):
            imitation_probability(0.0, 1.0, beta)


# --------------------------------------------------------------------------------------------
# Learning events
# --------------------------------------------------------------------------------------------


def test_initial_members_and_graph():
    dynamics = SocialLearning(graph="ring")
    params = {"effort": 0.3}
    members = dynamics.initial(4, ScriptedPolicy("fixed_fraction"), np.random.default_rng(0), params=params)
    assert [(m.name, m.generation, m.strategy, m.params) for m in members] == [
        (f"1_{i}", 1, "", {"effort": 0.3}) for i in range(1, 5)
    ]
    assert members[0].params is not params and members[0].params is not members[1].params
    assert edges(dynamics.graph) == [(0, 1), (0, 3), (1, 2), (2, 3)]
    assert isinstance(dynamics, PopulationDynamics)
    writer = RecordingWriter()
    written = SocialLearning(write_initial_strategies=True).initial(2, writer, np.random.default_rng(0))
    assert [m.strategy for m in written] == ["My strategy will be revised plan 1.0.", "My strategy will be revised plan 1.1."]
    assert len(writer.calls) == 1 and "Your name is 1_2." in writer.calls[0][1]


def test_two_members_with_huge_beta_the_worse_copies_the_better_exactly():
    for seed in range(10):
        dynamics = SocialLearning(beta=1e9, mutation_sd=0.0, traits=("effort", "compliance"))
        rng = np.random.default_rng(seed)
        dynamics.initial(2, None, rng)
        old = population([0.2, 0.7], compliance=0.1)
        old[1].params.update(compliance=0.9, label="keep mine")
        new = dynamics.update(old, {"1_1": 1.0, "1_2": 4.0}, None, rng, round=3)
        assert [m.name for m in new] == ["1_1", "1_2"]
        assert new[0].params == {"effort": 0.7, "compliance": 0.9} and new[0].parents == ("1_2",)
        assert new[1].params == old[1].params and new[1].parents == ()
        assert old[0].params == {"effort": 0.2, "compliance": 0.1}  # inputs untouched
        assert dynamics.events == [
            {"round": 3, "generation": 1, "learner": "1_1", "model": "1_2", "probability": 1.0, "copied": True,
             "learner_payoff": 1.0, "model_payoff": 4.0, "mode": "params"},
            {"round": 3, "generation": 1, "learner": "1_2", "model": "1_1", "probability": 0.0, "copied": False,
             "learner_payoff": 4.0, "model_payoff": 1.0, "mode": "params"},
        ]


def test_update_is_synchronous_along_a_chain_on_a_ring():
    # Ring 1_1 - 1_2 - ... - 1_6 - 1_1; payoffs rise along the chain, effort_i = i / 10.
    # With seed 0 members 1_1..1_5 each pick the next member (1_1 picks 1_6): every model is
    # better, so every one copies its model's PRE-event effort. A sequential update (last
    # first) would cascade 0.5 down the whole chain instead.
    dynamics = SocialLearning(graph="ring", beta=1e9, mutation_sd=0.0, traits=("effort",))
    dynamics.initial(6, None, np.random.default_rng(1))
    old = population([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    new = dynamics.update(old, {m.name: float(i) for i, m in enumerate(old)}, None, np.random.default_rng(0), round=1)
    assert [(e["learner"], e["model"], e["copied"]) for e in dynamics.events] == [
        ("1_1", "1_6", True), ("1_2", "1_3", True), ("1_3", "1_4", True),
        ("1_4", "1_5", True), ("1_5", "1_6", True), ("1_6", "1_1", False),
    ]
    assert [m.params["effort"] for m in new] == [0.5, 0.2, 0.3, 0.4, 0.5, 0.5]
    assert [m.parents for m in new] == [("1_6",), ("1_3",), ("1_4",), ("1_5",), ("1_6",), ()]
    # Payoffs falling along the chain: with seed 8, 1_2..1_5 each pick the previous member and
    # 1_6 picks 1_1. A sequential update (first first) would cascade 0.0 down the chain instead.
    new = dynamics.update(old, {m.name: float(5 - i) for i, m in enumerate(old)}, None, np.random.default_rng(8), round=2)
    assert [(e["learner"], e["model"], e["copied"]) for e in dynamics.events[6:]] == [
        ("1_1", "1_2", False), ("1_2", "1_1", True), ("1_3", "1_2", True),
        ("1_4", "1_3", True), ("1_5", "1_4", True), ("1_6", "1_1", True),
    ]
    assert [m.params["effort"] for m in new] == [0.0, 0.0, 0.1, 0.2, 0.3, 0.0]


def test_copied_traits_are_mutated_clipped_and_typed():
    rng = np.random.default_rng(0)
    dynamics = SocialLearning(graph=nx.complete_graph(2), beta=1e9, mutation_sd=0.5, traits=("effort",))
    dynamics.initial(2, None, rng)
    clipped = [dynamics.update(population([0.0, 0.99]), {"1_1": 0.0, "1_2": 1.0}, None, rng, 1)[0].params["effort"]
               for _ in range(40)]
    assert all(0.0 <= e <= 1.0 for e in clipped) and clipped.count(1.0) > 5 and len(set(clipped)) > 5

    bounded = SocialLearning(beta=1e9, mutation_sd=0.0, traits=("effort", "threshold", "style", "absent"),
                             trait_bounds={"effort": (0.2, 0.4), "threshold": [0, 10]})
    bounded.initial(2, None, rng)
    old = [Member("1_1", 1, params={"effort": 0.3, "threshold": 2, "style": "calm", "absent": 7, "other": 1}),
           Member("1_2", 1, params={"effort": 0.9, "threshold": 25, "style": "bold"})]
    new = bounded.update(old, {"1_1": 0.0, "1_2": 1.0}, None, rng, 1)[0].params
    assert new == {"effort": 0.4, "threshold": 10, "style": "bold", "absent": 7, "other": 1}
    assert isinstance(new["threshold"], int)

    integer = SocialLearning(beta=1e9, mutation_sd=1.0, traits=("threshold",), trait_bounds={"threshold": (0, 100)})
    integer.initial(2, None, rng)
    values = [integer.update([Member("a", 1, params={"threshold": 1}), Member("b", 1, params={"threshold": 50})],
                             {"a": 0.0, "b": 1.0}, None, rng, 1)[0].params["threshold"] for _ in range(20)]
    assert all(isinstance(v, int) and 47 <= v <= 53 for v in values) and len(set(values)) > 1


def test_text_mode_batches_all_prompts_into_one_writer_call():
    writer = RecordingWriter()
    dynamics = SocialLearning(beta=1e9, peers_shown=2)
    rng = np.random.default_rng(0)
    dynamics.initial(3, writer, rng)
    old = [Member(f"1_{i}", 1, strategy=f"My strategy will be s{i}.", params={"effort": 0.1 * i}) for i in (1, 2, 3)]
    new = dynamics.update(old, {"1_1": 0.0, "1_2": 1.0, "1_3": 5.0}, writer, rng, round=2)
    copied = [e for e in dynamics.events if e["copied"]]
    assert [(e["learner"], e["model"], e["mode"]) for e in copied] == [("1_1", "1_3", "text"), ("1_2", "1_3", "text")]
    assert len(writer.calls) == 1 and len(writer.calls[0]) == 2
    first, second = writer.calls[0]
    assert "Your name is 1_1. Since your last review you earned 0.00 with this strategy:\nMy strategy will be s1." in first
    assert ("- 1_3 (earned 5.00): My strategy will be s3.\n- 1_2 (earned 1.00): My strategy will be s2.") in first
    assert "- 1_3 (earned 5.00): My strategy will be s3.\n- 1_1 (earned 0.00): My strategy will be s1." in second
    assert "begins with 'My strategy will be'" in first
    assert [m.strategy for m in new] == ["My strategy will be revised plan 1.0.", "My strategy will be revised plan 1.1.",
                                         "My strategy will be s3."]
    assert [m.parents for m in new] == [("1_3", "1_2"), ("1_3", "1_1"), ()]
    assert [m.params for m in new] == [m.params for m in old]  # text mode rewrites texts only

    generational = SocialLearning(beta=1e9, peers_shown=1, mode="text")
    generational.initial(3, writer, rng)
    later = generational.next_generation(old, {"1_1": 0.0, "1_2": 1.0, "1_3": 5.0}, writer, rng, generation=4)
    assert "Over the last generation you earned" in writer.calls[-1][0]
    assert all(prompt.count("(earned") == 1 for prompt in writer.calls[-1])
    assert [m.generation for m in later] == [4, 4, 4] and {e["round"] for e in generational.events} == {None}


def test_no_imitation_means_no_writer_call_and_auto_mode_follows_the_texts():
    writer = RecordingWriter()
    silent = SocialLearning(learning_prob=0.0, mode="text")
    silent.initial(3, writer, np.random.default_rng(0))
    old = population([0.1, 0.2, 0.3])
    new = silent.update(old, {"1_1": 0.0, "1_2": 1.0, "1_3": 2.0}, writer, np.random.default_rng(0), 1)
    assert writer.calls == [] and silent.events == []
    assert [(m.name, m.params, m.parents) for m in new] == [(m.name, m.params, ()) for m in old]
    assert all(a is not b for a, b in zip(new, old))

    auto = SocialLearning(beta=1e9)
    auto.initial(3, writer, np.random.default_rng(0))
    assert not auto.uses_text(old) and auto.uses_text(old[:2] + [Member("x", 1, strategy="My strategy will be x.")])
    auto.update(old, {"1_1": 0.0, "1_2": 1.0, "1_3": 2.0}, writer, np.random.default_rng(0), 1)
    assert writer.calls == [] and {e["mode"] for e in auto.events} == {"params"}


def test_same_seed_same_result_and_next_generation_keeps_names():
    def run(seed):
        rng = np.random.default_rng(seed)
        dynamics = SocialLearning(graph="small_world", beta=2.0, learning_prob=0.7, mutation_sd=0.05, traits=("effort",))
        dynamics.initial(12, None, rng)
        members = population(rng.random(12).tolist())
        for completed in range(1, 4):
            payoff = {m.name: m.params["effort"] * 3 for m in members}
            members = dynamics.update(members, payoff, None, rng, completed)
        members = dynamics.next_generation(members, {m.name: 1.0 for m in members}, None, rng, generation=2)
        return members, dynamics.events

    first, again, other = run(7), run(7), run(8)
    assert first == again and first != other
    members, events = first
    assert [m.name for m in members] == [f"1_{i}" for i in range(1, 13)] and {m.generation for m in members} == {2}
    assert {e["round"] for e in events} == {1, 2, 3, None}
    assert 0 < sum(e["copied"] for e in events) < len(events)


def test_when_to_learn():
    assert SocialLearning().within_episode and not SocialLearning(every_rounds=None).within_episode
    every_three = SocialLearning(every_rounds=3)
    assert [r for r in range(0, 10) if every_three.learns_after_round(r)] == [3, 6, 9]
    assert not any(SocialLearning(every_rounds=None).learns_after_round(r) for r in range(10))


def test_graph_size_scores_and_names_are_checked():
    dynamics = SocialLearning(graph="ring")
    dynamics.initial(4, None, np.random.default_rng(0))
    with pytest.raises(ValueError, match="4 nodes but there are 3 members"):
        dynamics.update(population([0.1, 0.2, 0.3]), {"1_1": 0, "1_2": 0, "1_3": 0}, None, np.random.default_rng(0), 1)
    with pytest.raises(KeyError, match="1_4"):
        dynamics.update(population([0.1] * 4), {"1_1": 0, "1_2": 0, "1_3": 0}, None, np.random.default_rng(0), 1)
    with pytest.raises(ValueError, match="finite"):
        dynamics.update(population([0.1] * 4), {"1_1": 0, "1_2": math.nan, "1_3": 0, "1_4": 1}, None,
                        np.random.default_rng(0), 1)
    with pytest.raises(ValueError, match="nodes 0..2"):
        SocialLearning(graph=nx.path_graph([1, 2, 3])).initial(3, None, np.random.default_rng(0))
    lazy = SocialLearning(graph="star")  # no initial(): the first event builds the graph
    lazy.update(population([0.1, 0.2, 0.3]), {"1_1": 0, "1_2": 0, "1_3": 0}, None, np.random.default_rng(0), 1)
    assert degrees(lazy.graph) == [2, 1, 1]


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"graph": "hypercube"}, "graph must be one of"),
        ({"graph": "ring", "graph_kwargs": {"k": 2, "radius": 1}}, "radius"),
        ({"graph": nx.complete_graph(3), "graph_kwargs": {"k": 2}}, "graph_kwargs"),
        ({"beta": -0.5}, "beta"),
        ({"traits": ()}, "traits"),
        ({"mutation_sd": -0.1}, "mutation_sd"),
        ({"trait_bounds": (1.0, 0.0)}, "trait_bounds"),
        ({"trait_bounds": {"speed": (0, 1)}}, "trait_bounds"),
        ({"trait_bounds": "wide"}, "trait_bounds"),
        ({"learning_prob": 1.2}, "learning_prob"),
        ({"every_rounds": 0}, "every_rounds"),
        ({"every_rounds": 1.5}, "every_rounds"),
        ({"mode": "telepathy"}, "mode"),
        ({"peers_shown": 0}, "peers_shown"),
    ],
)
def test_bad_arguments_are_named(kwargs, named):
    with pytest.raises(ValueError, match=named):
        SocialLearning(**kwargs)


def test_yaml_style_arguments_work():
    dynamics = SocialLearning(graph="grid", graph_kwargs={"rows": 2, "periodic": False}, traits=["fraction"],
                              trait_bounds=[0, 1], every_rounds=None, beta=5)
    members = dynamics.initial(6, None, np.random.default_rng(0), params={"fraction": 0.5})
    assert dynamics.traits == ("fraction",) and dynamics.trait_bounds == {"fraction": (0.0, 1.0)}
    assert degrees(dynamics.graph) == [2, 3, 2, 2, 3, 2] and len(members) == 6


def test_between_generations_in_the_runner_on_the_donor_game(tmp_path, monkeypatch):
    from dilemmazoo.experiments.config import ExperimentConfig
    from dilemmazoo.experiments.runner import execute
    from dilemmazoo.norms import POPULATION_DYNAMICS

    monkeypatch.setitem(POPULATION_DYNAMICS, "social_learning", SocialLearning)
    config = ExperimentConfig.model_validate({
        "name": "social", "world": {"id": "donor-game", "kwargs": {"n_agents": 6, "n_rounds": 6}},
        "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}},
        "population": {"dynamics": "social_learning", "generations": 4, "kwargs": {
            "graph": "ring", "traits": ["fraction"], "mutation_sd": 0.1, "beta": 0.01, "every_rounds": None}},
        "episodes_per_generation": 1,
    })
    first = execute(config, tmp_path / "a", progress=False).population
    again = execute(config, tmp_path / "b", progress=False).population
    assert first.equals(again)
    names = [f"1_{i}" for i in range(1, 7)]
    assert all(list(first[first["generation"] == g]["name"]) == names for g in (1, 2, 3, 4))
    fractions = {(row.generation, row.name): json.loads(row.params)["fraction"] for row in first.itertuples()}
    assert {fractions[(1, n)] for n in names} == {0.5}
    later = first[first["generation"] > 1]
    assert 0 < (later["parents"] != "").sum() < len(later)
    for row in later.itertuples():
        if row.parents == "":  # did not copy: keeps its own fraction
            assert fractions[(row.generation, row.name)] == fractions[(row.generation - 1, row.name)]
        else:  # ring neighbours only
            assert abs(names.index(row.parents) - names.index(row.name)) in (1, 5)


# --------------------------------------------------------------------------------------------
# A small population: imitation climbs the payoff landscape
# --------------------------------------------------------------------------------------------


def simulate_efforts(beta: float, seed: int, size: int = 30, events: int = 40) -> tuple[float, float]:
    """Payoff -(effort - 0.8)^2 each round; learn after every round. Returns (start, end) means."""
    rng = np.random.default_rng(seed)
    dynamics = SocialLearning(graph="small_world", beta=beta, traits=("effort",), mutation_sd=0.02)
    dynamics.initial(size, None, rng)
    members = population(rng.random(size).tolist())
    start = float(np.mean([m.params["effort"] for m in members]))
    for completed in range(1, events + 1):
        efforts = np.array([m.params["effort"] for m in members])
        payoffs = -((efforts - 0.8) ** 2)
        members = dynamics.update(members, dict(zip((m.name for m in members), payoffs)), None, rng, completed)
    return start, float(np.mean([m.params["effort"] for m in members]))


def test_imitation_moves_the_population_toward_the_higher_payoff_effort():
    for seed in range(3):
        start, end = simulate_efforts(beta=50.0, seed=seed)
        assert abs(start - 0.8) > 0.2 and abs(end - 0.8) < 0.03
        _, drift = simulate_efforts(beta=0.0, seed=seed)  # neutral drift: no pull toward 0.8
        assert abs(drift - 0.8) > 0.2


def test_initial_params_mix_the_first_population():
    dynamics = SocialLearning(initial_params=[{"effort": 0.25}, {"effort": 0.75, "compliance": 0.3}])
    members = dynamics.initial(5, None, np.random.default_rng(0), params={"effort": 0.5, "compliance": 0.9, "noise": 0.0})
    assert [m.params["effort"] for m in members] == [0.25, 0.75, 0.25, 0.75, 0.25]
    assert [m.params["compliance"] for m in members] == [0.9, 0.3, 0.9, 0.3, 0.9]
    assert all(m.params["noise"] == 0.0 for m in members)
    with pytest.raises(ValueError, match="initial_params"):
        SocialLearning(initial_params={"effort": 0.25})
