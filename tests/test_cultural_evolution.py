"""Cultural evolution: exact selection, naming, inheritance and prompts."""

import numpy as np
import pytest

from dilemmazoo.agents.scripted import ScriptedPolicy
from dilemmazoo.norms import CulturalEvolution, Member, make_dynamics
from dilemmazoo.norms.cultural_evolution import rank_members


class RecordingWriter:
    """A StrategyWriter that numbers its answers and keeps the prompts it saw."""

    def __init__(self):
        self.prompts = []

    def write_strategies(self, prompts, rng):
        self.prompts.extend(prompts)
        return [f"My strategy will be plan {len(self.prompts) - len(prompts) + i}." for i in range(len(prompts))]


def members(n):
    return [Member(name=f"1_{i + 1}", generation=1, strategy=f"My strategy will be s{i + 1}.") for i in range(n)]


def test_initial_generation_names_and_prompts():
    writer = RecordingWriter()
    population = CulturalEvolution().initial(4, writer, np.random.default_rng(0))
    assert [m.name for m in population] == ["1_1", "1_2", "1_3", "1_4"]
    assert [m.strategy for m in population] == [f"My strategy will be plan {i}." for i in range(4)]
    assert "Your name is 1_3." in writer.prompts[2]
    assert "My strategy will be" in writer.prompts[0]


def test_top_half_survives_and_newcomers_read_their_advice_with_scores():
    writer = RecordingWriter()
    old = members(6)
    scores = {"1_1": 5.0, "1_2": 40.0, "1_3": 12.0, "1_4": 30.0, "1_5": 0.0, "1_6": 7.5}
    new = CulturalEvolution().next_generation(old, scores, writer, np.random.default_rng(0), generation=2)
    assert [m.name for m in new] == ["1_2", "1_4", "1_3", "2_1", "2_2", "2_3"]
    assert new[0].strategy == "My strategy will be s2."
    prompt = writer.prompts[0]
    assert "best-performing 50%" in prompt and "along with their final scores" in prompt
    assert "- 1_2 (final score 40.00): My strategy will be s2." in prompt
    assert "1_5" not in prompt
    assert new[3].parents == ("1_2", "1_4", "1_3")


def test_notebook_variant_hides_scores():
    writer = RecordingWriter()
    scores = {m.name: float(i) for i, m in enumerate(members(4))}
    CulturalEvolution(show_scores=False).next_generation(members(4), scores, writer, np.random.default_rng(0), 2)
    assert "final score" not in writer.prompts[0]


def test_ties_are_broken_by_the_generator_not_by_name():
    ms = members(4)
    scores = dict.fromkeys((m.name for m in ms), 1.0)
    orders = {tuple(m.name for m in rank_members(ms, scores, np.random.default_rng(seed))) for seed in range(20)}
    assert len(orders) > 1
    with pytest.raises(KeyError):
        rank_members(ms, {"1_1": 1.0}, np.random.default_rng(0))


def test_parametric_members_inherit_mutated_fractions():
    old = [Member(name=f"1_{i + 1}", generation=1, params={"fraction": f}) for i, f in enumerate([0.1, 0.9, 0.5, 0.2])]
    scores = {"1_1": 1.0, "1_2": 9.0, "1_3": 5.0, "1_4": 2.0}
    new = CulturalEvolution(mutation_sd=0.0).next_generation(old, scores, ScriptedPolicy("fixed_fraction"), np.random.default_rng(3), 2)
    assert [m.params["fraction"] for m in new[:2]] == [0.9, 0.5]
    assert all(m.params["fraction"] in (0.9, 0.5) and len(m.parents) == 1 for m in new[2:])
    mutated = CulturalEvolution(mutation_sd=0.2).mutate({"fraction": 0.95, "label": "x"}, np.random.default_rng(1))
    assert 0.0 <= mutated["fraction"] <= 1.0 and mutated["fraction"] != 0.95 and mutated["label"] == "x"


def test_registry_and_bad_arguments():
    assert isinstance(make_dynamics("cultural_evolution"), CulturalEvolution)
    with pytest.raises(ValueError, match="cultural_evolution"):
        make_dynamics("lamarck")
    with pytest.raises(ValueError):
        CulturalEvolution(survivor_fraction=1.0)


def test_the_contract_defaults_leave_members_alone_and_records_change_nothing():
    from dilemmazoo.norms import PopulationDynamics

    class Frozen(PopulationDynamics):
        def initial(self, size, writer, rng, params=None):
            return [Member(name=f"1_{i + 1}", generation=1) for i in range(size)]

        def next_generation(self, members, scores, writer, rng, generation, records=None):
            return members

    frozen = Frozen()
    members = frozen.initial(3, None, np.random.default_rng(0))
    assert not frozen.within_episode and not frozen.wants_records
    assert not any(frozen.learns_after_round(r) for r in range(10))
    assert frozen.update(members, dict.fromkeys(["1_1", "1_2", "1_3"], 1.0), None, np.random.default_rng(0), 2) is members
    evolution, old = CulturalEvolution(), [Member(name=f"1_{i}", generation=1, strategy=f"s{i}") for i in range(4)]
    scores = {"1_0": 3.0, "1_1": 1.0, "1_2": 2.0, "1_3": 0.0}
    plain = evolution.next_generation(old, scores, RecordingWriter(), np.random.default_rng(5), 2)
    given = evolution.next_generation(old, scores, RecordingWriter(), np.random.default_rng(5), 2, records=None)
    assert [(m.name, m.strategy, m.parents) for m in plain] == [(m.name, m.strategy, m.parents) for m in given]
    assert [m.name for m in plain] == ["1_0", "1_2", "2_1", "2_2"]
