"""Worker personas drawn in proportion to census counts, then written by a model.

Karten et al., "LLM Economist" (arXiv 2507.15815) give each worker a persona: a demographic
cell (occupation, sex, age) drawn in proportion to census counts, from which the model writes a
2-3 sentence description that the worker's prompts carry. This module is that sampler, reusable
by any world.

Census table
------------
:data:`CENSUS_FILE` (``agents/data/census_occupation_sex_age.csv``, package data) holds 220 cells:
22 major occupation groups x 2 sexes x 5 age bands (``16-24``, ``25-34``, ``35-44``, ``45-54``,
``55+``), counts in thousands of employed persons. Source: U.S. Bureau of Labor Statistics,
Current Population Survey, 2023 annual averages, Table 11 (employed and percent women by
occupation) and Table 11b (employed by occupation and age). **The counts are rounded
approximations of those tables**, written from the published figures without network access;
each cell is a group's total x its share of women (or men) x the group's age share, so sex and
age are taken as independent within a group. The file's header states the marginals used;
:data:`CENSUS_SOURCE` repeats the citation. The cells sum to about 162.4 million (the published
2023 total is about 161.0 million).

Functions
---------
- :func:`census_cells` reads the table (or another CSV with the same columns).
- :func:`sample_cells` draws ``n`` cells with probability proportional to ``count``, from one
  seeded ``numpy.random.Generator`` (with replacement: two workers may share a cell).
- :func:`persona_prompt` is the chat asking for one persona.
- :func:`write_personas` asks the backend for every cell in one batched ``generate`` call. With
  ``cache_dir`` the backend is wrapped in the project's on-disk
  :class:`~dilemmazoo.agents.backends.cache.CachedBackend`, whose key holds the backend's name
  and provenance (the model), the chat (so the cell and the prompt's wording) and the sampling
  arguments with the seed; a second call with the same cells, model and seed is served from disk
  without calling the model. Identical cells in one call are told apart by the cache's copy
  number, so they keep different personas. An empty answer, an answer with no letters, or a
  backend error gives the plain :func:`fallback_persona` of the cell instead, counted in
  :attr:`PersonaBatch.fallbacks` and marked per worker in :attr:`PersonaBatch.fallback_used`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from dilemmazoo.agents.backends.base import Backend, BackendError, Chat, Completion, GenerationParams
from dilemmazoo.agents.backends.cache import CachedBackend
from dilemmazoo.envs.checks import check_int

__all__ = [
    "AGE_BANDS",
    "CENSUS_FILE",
    "CENSUS_SOURCE",
    "DEFAULT_PERSONA_PARAMS",
    "PersonaBatch",
    "PersonaCell",
    "census_cells",
    "fallback_persona",
    "persona_prompt",
    "sample_cells",
    "write_personas",
]

#: the shipped table, relative to the ``dilemmazoo.agents`` package
CENSUS_FILE = "data/census_occupation_sex_age.csv"
CENSUS_SOURCE = (
    "U.S. Bureau of Labor Statistics, Current Population Survey, 2023 annual averages, Tables 11 and 11b "
    "(employed persons by occupation, sex and age); counts in thousands, rounded approximations"
)
AGE_BANDS = ("16-24", "25-34", "35-44", "45-54", "55+")
SEXES = ("female", "male")
_COLUMNS = ("occupation", "sex", "age_band", "count")

#: sampling arguments of :func:`write_personas` when none are given (the seed is replaced by its own)
DEFAULT_PERSONA_PARAMS = GenerationParams(max_tokens=120, temperature=0.9, top_p=1.0, seed=0)


@dataclass(frozen=True)
class PersonaCell:
    """One census cell: an occupation group, a sex, an age band and its count (thousands)."""

    occupation: str
    sex: str
    age_band: str
    count: int

    def describe(self) -> str:
        """The cell in words: ``"a woman aged 25 to 34 working in sales and related occupations"``."""
        person = {"female": "woman", "male": "man"}.get(self.sex, self.sex)
        if self.age_band.endswith("+"):
            age = f"aged {self.age_band[:-1]} or older"
        else:
            low, _, high = self.age_band.partition("-")
            age = f"aged {low} to {high}"
        return f"a {person} {age} working in {self.occupation.lower()} occupations"


def census_cells(path: str | Path | None = None) -> list[PersonaCell]:
    """The cells of the shipped census table (:data:`CENSUS_FILE`), or of the CSV at ``path``.

    The CSV has the columns ``occupation, sex, age_band, count``; lines starting with ``#`` are
    comments (the source). Raises ``ValueError`` for a missing column, a negative or non-integer
    count, a sex other than female/male, a repeated cell, or a table whose counts sum to 0.
    """
    if path is None:
        text = resources.files("dilemmazoo.agents").joinpath(CENSUS_FILE).read_text(encoding="utf-8")
        label = CENSUS_FILE
    else:
        text = Path(path).read_text(encoding="utf-8")
        label = str(path)
    rows = csv.DictReader(io.StringIO("".join(line for line in text.splitlines(keepends=True)
                                              if not line.lstrip().startswith("#"))))
    if rows.fieldnames is None or set(_COLUMNS) - set(rows.fieldnames):
        raise ValueError(f"census table {label!r} needs the columns {', '.join(_COLUMNS)}, got {rows.fieldnames}")
    cells: list[PersonaCell] = []
    seen: set[tuple[str, str, str]] = set()
    for number, row in enumerate(rows, start=2):
        where = f"census table {label!r}, row {number}"
        try:
            count = int(row["count"])
        except (TypeError, ValueError):
            raise ValueError(f"{where}: count must be a whole number, got {row['count']!r}") from None
        if count < 0:
            raise ValueError(f"{where}: count must be >= 0, got {count}")
        if row["sex"] not in SEXES:
            raise ValueError(f"{where}: sex must be one of {SEXES}, got {row['sex']!r}")
        if not row["occupation"] or not row["age_band"]:
            raise ValueError(f"{where}: occupation and age_band must be non-empty")
        key = (row["occupation"], row["sex"], row["age_band"])
        if key in seen:
            raise ValueError(f"{where}: the cell {key} appears twice")
        seen.add(key)
        cells.append(PersonaCell(row["occupation"], row["sex"], row["age_band"], count))
    if not cells or sum(c.count for c in cells) == 0:
        raise ValueError(f"census table {label!r} has no cell with a positive count")
    return cells


def sample_cells(n: int, rng: np.random.Generator, cells: Sequence[PersonaCell] | None = None) -> list[PersonaCell]:
    """``n`` cells drawn with replacement, each with probability ``count / total``.

    ``cells`` defaults to :func:`census_cells`. One call to ``rng.choice`` makes all draws, so a
    seed fixes the whole sample.
    """
    n = check_int("n", n, 0)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    table = list(census_cells() if cells is None else cells)
    counts = np.array([c.count for c in table], dtype=float)
    if not table or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("cells must be non-empty with non-negative counts and a positive total")
    picks = rng.choice(len(table), size=n, p=counts / counts.sum())
    return [table[i] for i in picks]


def persona_prompt(cell: PersonaCell) -> Chat:
    """The chat asking the model for one persona of ``cell`` (2-3 sentences, second person)."""
    return [
        {
            "role": "system",
            "content": "You write short, realistic character sketches of working people for an economic simulation.",
        },
        {
            "role": "user",
            "content": (
                f"Write a persona for {cell.describe()} in the United States. "
                "Use 2 to 3 sentences in the second person, starting with 'You are'. "
                "Mention the person's daily work and household, and how they think about working hours, "
                "income and taxes. Reply with the persona only."
            ),
        },
    ]


def fallback_persona(cell: PersonaCell) -> str:
    """The plain persona used when the model's answer is unusable."""
    return f"You are {cell.describe()} in the United States. You weigh extra working hours against your free time."


@dataclass
class PersonaBatch:
    """Personas for a list of cells, in order, with what came from the fallback.

    Iterating, indexing and ``len`` go over :attr:`personas`.
    """

    personas: list[str]
    fallback_used: list[bool]
    cached: list[bool] = field(default_factory=list)
    #: the backend error that made every persona a fallback ("" when the call succeeded)
    error: str = ""
    #: the chats sent and the backend's completions, in order (empty after a backend error)
    chats: list[Chat] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)

    @property
    def fallbacks(self) -> int:
        """How many personas are plain fallbacks."""
        return sum(self.fallback_used)

    def __len__(self) -> int:
        return len(self.personas)

    def __iter__(self) -> Iterator[str]:
        return iter(self.personas)

    def __getitem__(self, index: int) -> str:
        return self.personas[index]


def _clean(text: str, max_sentences: int) -> str:
    """The answer on one line, cut after ``max_sentences`` sentences; ``""`` when it has no letters."""
    flat = " ".join(text.split())
    if not re.search(r"[^\W\d_]", flat):
        return ""
    sentences = re.split(r"(?<=[.!?])\s+", flat)
    return " ".join(sentences[:max_sentences])


def write_personas(
    cells: Sequence[PersonaCell],
    backend: Backend,
    *,
    seed: int,
    cache_dir: str | Path | None = None,
    params: GenerationParams | None = None,
    max_sentences: int = 3,
) -> PersonaBatch:
    """One persona per cell, all asked in one batched ``backend.generate`` call.

    Args:
        cells: the cells (usually from :func:`sample_cells`; repeats are allowed).
        backend: any backend; with ``cache_dir`` it is wrapped in a ``CachedBackend`` (a backend
            that already is one is used as it is).
        seed: the sampling seed; it replaces ``params.seed``.
        cache_dir: where answers are cached (see the module docstring); None: no cache.
        params: sampling arguments; default :data:`DEFAULT_PERSONA_PARAMS`.
        max_sentences: an answer is cut after this many sentences.

    Unusable answers (empty, no letters) and a ``BackendError`` give :func:`fallback_persona`,
    counted in the returned :class:`PersonaBatch`.
    """
    seed = check_int("seed", seed, 0)
    max_sentences = check_int("max_sentences", max_sentences, 1)
    if not isinstance(backend, Backend):
        raise ValueError(f"backend must be a Backend, got {type(backend).__name__}")
    if params is not None and not isinstance(params, GenerationParams):
        raise ValueError(f"params must be GenerationParams, got {type(params).__name__}")
    cells = list(cells)
    if not all(isinstance(c, PersonaCell) for c in cells):
        raise ValueError("cells must all be PersonaCell")
    if not cells:
        return PersonaBatch([], [], [])
    params = dataclasses.replace(params or DEFAULT_PERSONA_PARAMS, seed=seed)
    if cache_dir is not None and not isinstance(backend, CachedBackend):
        backend = CachedBackend(backend, cache_dir)
    chats = [persona_prompt(c) for c in cells]
    try:
        completions = backend.generate(chats, params=params)
    except BackendError as error:
        return PersonaBatch([fallback_persona(c) for c in cells], [True] * len(cells),
                            [False] * len(cells), error=str(error))
    personas, fallback_used = [], []
    for cell, completion in zip(cells, completions):
        text = _clean(completion.text, max_sentences)
        fallback_used.append(not text)
        personas.append(text or fallback_persona(cell))
    return PersonaBatch(personas, fallback_used, [c.cached for c in completions], chats=chats,
                        completions=list(completions))
