"""Personas from census cells (Karten et al., "LLM Economist", arXiv 2507.15815): the shipped
table, proportional seeded sampling, one batched generate call, the on-disk cache, counted
fallbacks and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from dilemmazoo.agents.backends.base import Backend, BackendError, Completion, GenerationParams
from dilemmazoo.agents.backends.scripted import ScriptedBackend
from dilemmazoo.agents.personas import (
    AGE_BANDS,
    CENSUS_SOURCE,
    PersonaCell,
    census_cells,
    fallback_persona,
    persona_prompt,
    sample_cells,
    write_personas,
)


class CountingBackend(Backend):
    """Answers ``"You are worker N."`` and records each generate call's batch size."""

    name = "counting"

    def __init__(self):
        self.calls: list[int] = []

    def generate(self, chats, *, params):
        self.calls.append(len(chats))
        start = sum(self.calls[:-1])
        return [Completion(text=f"You are worker {start + k}.") for k in range(len(chats))]


class FailingBackend(Backend):
    name = "failing"

    def generate(self, chats, *, params):
        raise BackendError("server unreachable")


# -- the table -----------------------------------------------------------------------------

def test_shipped_table_has_every_cell_once_and_cites_its_source():
    cells = census_cells()
    # 22 major occupation groups x 2 sexes x 5 age bands
    assert len(cells) == 22 * 2 * 5
    assert len({(c.occupation, c.sex, c.age_band) for c in cells}) == 220
    assert {c.age_band for c in cells} == set(AGE_BANDS)
    assert {c.sex for c in cells} == {"female", "male"}
    assert all(c.count > 0 for c in cells)
    assert "Bureau of Labor Statistics" in CENSUS_SOURCE and "approximations" in CENSUS_SOURCE


def test_shipped_cell_is_the_product_of_the_stated_marginals():
    cells = {(c.occupation, c.sex, c.age_band): c.count for c in census_cells()}
    # Management: 19760 thousand employed, 41.1 % women, 3 % aged 16-24
    # 19760 * 0.411 * 0.03 = 243.6 -> 244; men: 19760 * 0.589 * 0.03 = 349.2 -> 349
    assert cells[("Management", "female", "16-24")] == 244
    assert cells[("Management", "male", "16-24")] == 349
    # Construction and extraction: 9000, 4 % women, 25 % aged 35-44: 9000 * 0.96 * 0.25 = 2160
    assert cells[("Construction and extraction", "male", "35-44")] == 2160
    # the cells sum to the stated group totals (to rounding): 162,360 thousand in all
    assert sum(cells.values()) == 162360


@pytest.mark.parametrize(
    "text, message",
    [
        ("occupation,sex,count\nA,female,3\n", "needs the columns"),
        ("occupation,sex,age_band,count\nA,female,16-24,-1\n", "count must be >= 0"),
        ("occupation,sex,age_band,count\nA,female,16-24,2.5\n", "whole number"),
        ("occupation,sex,age_band,count\nA,other,16-24,3\n", "sex must be one of"),
        ("occupation,sex,age_band,count\nA,male,16-24,3\nA,male,16-24,4\n", "appears twice"),
        ("# only zeros\noccupation,sex,age_band,count\nA,male,16-24,0\n", "no cell with a positive count"),
    ],
)
def test_bad_tables_are_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "table.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        census_cells(path)


def test_a_custom_table_is_read_with_its_comments_skipped(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("# source: hand-made\noccupation,sex,age_band,count\nA,female,16-24,1\nB,male,55+,3\n")
    assert census_cells(path) == [PersonaCell("A", "female", "16-24", 1), PersonaCell("B", "male", "55+", 3)]


# -- sampling ------------------------------------------------------------------------------

def test_sampled_shares_match_the_counts():
    cells = census_cells()
    n = 200_000
    drawn = sample_cells(n, np.random.default_rng(2025), cells)
    total = sum(c.count for c in cells)
    observed: dict[PersonaCell, int] = {}
    for cell in drawn:
        observed[cell] = observed.get(cell, 0) + 1
    for cell in cells:
        p = cell.count / total
        # binomial standard error sqrt(p (1-p) / n); every cell within 5 of them
        tolerance = 5 * np.sqrt(p * (1 - p) / n)
        assert abs(observed.get(cell, 0) / n - p) <= tolerance, cell
    # marginal: women are sum(female counts) / total = 0.4696 of the table; within 0.005
    women = sum(c.count for c in cells if c.sex == "female") / total
    assert abs(sum(c.sex == "female" for c in drawn) / n - women) < 0.005


def test_sampling_on_a_tiny_table_never_draws_an_empty_cell():
    cells = [PersonaCell("A", "female", "16-24", 0), PersonaCell("B", "male", "16-24", 1),
             PersonaCell("C", "male", "55+", 3)]
    drawn = sample_cells(40_000, np.random.default_rng(0), cells)
    assert cells[0] not in drawn
    # expected share of C: 3 / 4; standard error sqrt(0.75 * 0.25 / 40000) = 0.0022, within 0.01
    assert abs(drawn.count(cells[2]) / 40_000 - 0.75) < 0.01


def test_sampling_is_reproducible_from_the_seed():
    first = sample_cells(50, np.random.default_rng(7))
    assert first == sample_cells(50, np.random.default_rng(7))
    assert first != sample_cells(50, np.random.default_rng(8))
    assert sample_cells(0, np.random.default_rng(7)) == []


def test_sampling_refuses_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n must be"):
        sample_cells(-1, rng)
    with pytest.raises(ValueError, match="n must be"):
        sample_cells(2.5, rng)
    with pytest.raises(ValueError, match="rng must be"):
        sample_cells(3, 42)
    with pytest.raises(ValueError, match="positive total"):
        sample_cells(3, rng, [PersonaCell("A", "male", "16-24", 0)])


# -- prompts and writing -------------------------------------------------------------------

def test_prompt_names_the_cell():
    chat = persona_prompt(PersonaCell("Sales and related", "female", "25-34", 10))
    assert [m["role"] for m in chat] == ["system", "user"]
    assert "a woman aged 25 to 34 working in sales and related occupations" in chat[1]["content"]
    assert "2 to 3 sentences" in chat[1]["content"]
    older = persona_prompt(PersonaCell("Legal", "male", "55+", 10))[1]["content"]
    assert "a man aged 55 or older working in legal occupations" in older


def test_all_personas_come_from_one_batched_call():
    cells = sample_cells(12, np.random.default_rng(1))
    backend = CountingBackend()
    batch = write_personas(cells, backend, seed=3)
    assert backend.calls == [12]
    assert batch.personas == [f"You are worker {k}." for k in range(12)]
    assert batch.fallbacks == 0 and len(batch) == 12 and batch[3] == "You are worker 3."
    assert list(batch) == batch.personas


def test_unusable_answers_fall_back_to_a_counted_plain_persona():
    cells = [PersonaCell("Legal", "female", "35-44", 1), PersonaCell("Production", "male", "16-24", 1),
             PersonaCell("Management", "male", "45-54", 1), PersonaCell("Protective service", "female", "55+", 1)]
    backend = ScriptedBackend(["You are a paralegal. You work long weeks.", "", "  ...  ", "42"])
    batch = write_personas(cells, backend, seed=0)
    assert batch.fallback_used == [False, True, True, True]
    assert batch.fallbacks == 3
    assert batch.personas[0] == "You are a paralegal. You work long weeks."
    assert batch.personas[1] == fallback_persona(cells[1])
    assert batch.personas[1].startswith("You are a man aged 16 to 24 working in production occupations")


def test_a_backend_error_makes_every_persona_a_counted_fallback():
    cells = sample_cells(3, np.random.default_rng(0))
    batch = write_personas(cells, FailingBackend(), seed=0)
    assert batch.fallbacks == 3
    assert batch.personas == [fallback_persona(c) for c in cells]
    assert "server unreachable" in batch.error


def test_long_answers_are_cut_after_three_sentences_on_one_line():
    backend = ScriptedBackend(["You are a cook.\nYou rent.  You like overtime! You vote? You never stop."])
    batch = write_personas([PersonaCell("Food preparation and serving related", "male", "16-24", 1)], backend, seed=0)
    assert batch.personas == ["You are a cook. You rent. You like overtime!"]
    shorter = write_personas([PersonaCell("Legal", "male", "16-24", 1)], ScriptedBackend(["A. B. C."]),
                             seed=0, max_sentences=1)
    assert shorter.personas == ["A."]


def test_second_call_is_served_from_the_cache_without_calling_the_model(tmp_path):
    cells = sample_cells(6, np.random.default_rng(5))
    answers = [f"You are person {k}. You work." for k in range(10)]
    first_backend = ScriptedBackend(answers)
    first = write_personas(cells, first_backend, seed=11, cache_dir=tmp_path)
    assert first_backend.position == 6 and first.cached == [False] * 6

    again = ScriptedBackend(answers)  # the same model: same name and provenance
    second = write_personas(cells, again, seed=11, cache_dir=tmp_path)
    assert again.position == 0  # not called
    assert second.personas == first.personas and second.cached == [True] * 6

    other_seed = ScriptedBackend(answers)
    write_personas(cells, other_seed, seed=12, cache_dir=tmp_path)
    assert other_seed.position == 6  # the seed is part of the key


def test_repeated_cells_keep_distinct_cached_personas(tmp_path):
    cell = PersonaCell("Sales and related", "female", "16-24", 1)
    answers = ["You are Ana. You sell shoes.", "You are Bea. You sell cars."]
    first = write_personas([cell, cell], ScriptedBackend(answers), seed=0, cache_dir=tmp_path)
    assert first.personas == answers
    again = ScriptedBackend(answers)
    second = write_personas([cell, cell], again, seed=0, cache_dir=tmp_path)
    assert second.personas == answers and again.position == 0


def test_the_seed_replaces_the_params_seed():
    seen = []

    class Recording(CountingBackend):
        def generate(self, chats, *, params):
            seen.append(params)
            return super().generate(chats, params=params)

    write_personas([PersonaCell("Legal", "male", "16-24", 1)], Recording(), seed=9,
                   params=GenerationParams(max_tokens=50, temperature=0.2, seed=1))
    assert seen[0] == GenerationParams(max_tokens=50, temperature=0.2, seed=9)


def test_write_personas_refuses_bad_arguments():
    cells = [PersonaCell("Legal", "male", "16-24", 1)]
    with pytest.raises(ValueError, match="seed must be"):
        write_personas(cells, CountingBackend(), seed=-1)
    with pytest.raises(ValueError, match="backend must be"):
        write_personas(cells, "embedded", seed=0)
    with pytest.raises(ValueError, match="cells must all be"):
        write_personas([("Legal", "male", "16-24", 1)], CountingBackend(), seed=0)
    with pytest.raises(ValueError, match="params must be"):
        write_personas(cells, CountingBackend(), seed=0, params={"max_tokens": 3})
    assert write_personas([], CountingBackend(), seed=0).personas == []
