"""The record contract: what a run writes, column by column.

A run lives in ``runs/<experiment>/<key=value,...>/seed=N/`` (``runs/<experiment>/seed=N/``
without a grid; see :func:`dilemmazoo.experiments.store.run_dir_for`) and holds:

- ``run_id``            the run's identity, the hash of its resolved config (written first);
- ``config.yaml``       the resolved config (no secrets), with ``cell``: grid key -> label;
- ``steps.parquet``     one row per agent per step (:data:`STEP_COLUMNS`, then the world's
                        scalar ``infos[agent]`` entries as extra columns);
- ``episodes.parquet``  one row per agent per episode (:data:`EPISODE_COLUMNS`, then the
                        world's final scalar infos);
- ``population.parquet`` one row per member per generation, and per within-episode learning event
  (:data:`POPULATION_COLUMNS`);
- ``llm_calls.parquet`` one row per backend call (:data:`LLM_CALL_COLUMNS`);
- ``summary.json``      :class:`Summary`;
- ``complete.json``     the completion marker, written last: the run id, the execution that
                        wrote the files, and each file's size and sha256 (:data:`COMPLETE_FILE`).

A run that failed holds ``failure.json`` (the error, secrets redacted) instead of the tables.
Every executed run also holds ``run.log`` (:mod:`dilemmazoo.experiments.logs`): the package's log
records at INFO and above while it ran (start, retries, rate-limit waits, fallbacks, sandbox
failures, end or failure), secrets redacted. It is a log, not a record: appended to by each
execution, written after ``complete.json``, and not listed in it.

**Column types.** Every table is written with an explicit pyarrow schema
(:func:`dilemmazoo.experiments.store.table_schema`), never with types pandas guessed for one
run: the contract's columns have the types :data:`COLUMN_TYPES` declares, whatever values a run
happened to hold (an empty ``llm_calls.parquet`` still has ``int64`` tokens and ``string`` text).
A world's extra columns (its scalar infos) and the columns of other tables (``study.parquet``)
get one type per column from the values the run recorded, by :data:`EXTRA_COLUMN_RULE`:

- every value a ``bool``: ``bool``; every value an ``int``: ``int64``; ``int`` and ``float``
  values: ``float64`` (the one conversion: integers are widened, exactly up to 2**53);
- every value a ``str``: ``string``; no value at all (``None`` or the key missing in every
  row): ``null``, a column of nulls that takes the type of the other runs in a catalog;
- ``None`` (or a missing key) is a null in a column of any type; any other mix (a ``bool``
  with numbers, a ``str`` with numbers, ...) is a :class:`~dilemmazoo.experiments.store.RecordSchemaError`
  naming the table and the column, and the run fails instead of writing it.

Each parquet file carries its schema twice: parquet's own, and under the key-value metadata
key :data:`SCHEMA_KEY` a JSON document ``{"version", "table", "columns": [[name, type], ...],
"inferred": [names typed from values], "fingerprint"}``; the fingerprint (16 hex digits of the
sha256 of the ``columns`` list as JSON) is equal for two files exactly when their columns and
types are. :func:`dilemmazoo.analysis.catalog.catalog` checks that runs agree before it unions them.

Numbering: ``episode`` counts from 0 across the run; ``generation``, ``game`` (the episode's
index inside its generation) and ``step`` count from 1, as papers do. Every file is written
to a temporary name, synced to disk and renamed; a run counts as finished only when the
marker and a readable, complete set of files agree, and anything else is redone on resume
(:mod:`dilemmazoo.experiments.store` says how damaged runs are moved aside).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "COLUMN_TYPES",
    "COMPLETE_FILE",
    "EPISODE_COLUMNS",
    "EXTRA_COLUMN_RULE",
    "LLM_CALL_COLUMNS",
    "POPULATION_COLUMNS",
    "RUN_FILES",
    "SCHEMA_KEY",
    "SCHEMA_VERSION",
    "STEP_COLUMNS",
    "Summary",
]

#: column -> meaning, for ``steps.parquet``
STEP_COLUMNS: dict[str, str] = {
    "episode": "episode index in the run, from 0",
    "generation": "generation, from 1 (1 when the experiment has no population dynamics)",
    "game": "episode index inside its generation, from 1",
    "step": "step in the episode, from 1",
    "agent": "the world's agent id (a seat, e.g. player_3)",
    "name": "the member occupying the seat (e.g. 2_5), as other players know it",
    "policy": "the agent group playing the seat (its label, or kind:backend / kind:strategy)",
    "decided": "whether the agent had to decide this step",
    "action": "the action as JSON ('' when the agent did not decide)",
    "reward": "the world's reward",
    "utility": "the reward after utility transforms (equal to reward without any)",
    "parse_failures": "answers that could not be parsed for this decision",
    "fallback_used": "the world's declared fallback replaced the agent's answer",
    "distribution": "the probability the agent gave each option, as JSON {option: probability}, when it answered "
                    "with a distribution and the action was drawn from it ('' otherwise)",
}

#: column -> meaning, for ``episodes.parquet``
EPISODE_COLUMNS: dict[str, str] = {
    "episode": "episode index in the run, from 0",
    "generation": "generation, from 1",
    "game": "episode index inside its generation, from 1",
    "agent": "seat id",
    "name": "member name",
    "policy": "the agent group playing the seat",
    "return": "sum of rewards over the episode",
    "utility_return": "sum of utilities over the episode",
    "steps": "steps played",
    "seed": "the seed the world was reset with (replays the episode with the recorded actions)",
}

#: column -> meaning, for ``population.parquet``
POPULATION_COLUMNS: dict[str, str] = {
    "generation": "generation, from 1",
    "name": "member name",
    "strategy": "the member's strategy text ('' for parametric members)",
    "params": "the member's strategy parameters as JSON",
    "parents": "names of the members it inherited from, comma-separated",
    "score": "its score in that generation (mean episode return)",
    "survived": "whether it was carried into the next generation",
    "episode": "the episode of a within-episode learning event (-1 for the end-of-generation record)",
    "round": "the round after which a within-episode learning event (e.g. social learning) gave the member "
             "this strategy (0 for the end-of-generation record)",
}

#: column -> meaning, for ``llm_calls.parquet``
LLM_CALL_COLUMNS: dict[str, str] = {
    "episode": "episode index (-1 between episodes, e.g. strategy writing)",
    "generation": "generation, from 1",
    "step": "step (0 outside steps)",
    "agent": "seat id or member name",
    "purpose": "act, retry, score or strategy",
    "prompt_hash": "hash of the chat sent",
    "prompt_tokens": "prompt tokens",
    "completion_tokens": "completion tokens",
    "latency_s": "seconds the call took (0 when cached)",
    "cached": "answered from the on-disk cache",
    "cost_usd": "provider cost where known",
    "retries": "transport retries (timeouts, 429, 5xx) the backend needed for this answer",
    "truncated": "the answer was cut at max_tokens",
    "prompt": "the chat sent, as JSON: a list of {role, content} messages",
    "text": "the completion",
    "error": "parse or backend error this answer caused ('' if none)",
}

#: table -> column -> the type it is written with: ``int64``, ``float64``, ``bool`` or ``string``
#: (``None`` is a null in any of them); the columns are those of the ``*_COLUMNS`` above, in order
COLUMN_TYPES: dict[str, dict[str, str]] = {
    "steps": {
        "episode": "int64", "generation": "int64", "game": "int64", "step": "int64", "agent": "string",
        "name": "string", "policy": "string", "decided": "bool", "action": "string", "reward": "float64",
        "utility": "float64", "parse_failures": "int64", "fallback_used": "bool", "distribution": "string",
    },
    "episodes": {
        "episode": "int64", "generation": "int64", "game": "int64", "agent": "string", "name": "string",
        "policy": "string", "return": "float64", "utility_return": "float64", "steps": "int64", "seed": "int64",
    },
    "population": {
        "generation": "int64", "name": "string", "strategy": "string", "params": "string", "parents": "string",
        "score": "float64", "survived": "bool", "episode": "int64", "round": "int64",
    },
    "llm_calls": {
        "episode": "int64", "generation": "int64", "step": "int64", "agent": "string", "purpose": "string",
        "prompt_hash": "string", "prompt_tokens": "int64", "completion_tokens": "int64", "latency_s": "float64",
        "cached": "bool", "cost_usd": "float64", "retries": "int64", "truncated": "bool", "prompt": "string",
        "text": "string", "error": "string",
    },
}
#: how a column outside :data:`COLUMN_TYPES` is typed, from the values one run recorded in it
EXTRA_COLUMN_RULE = ("all bool -> bool; all int -> int64; int and float -> float64; all str -> string; "
                     "no value -> null; None is a null in any type; any other mix is an error naming the column")
#: the parquet key-value metadata key holding the table's schema document (see the module docstring)
SCHEMA_KEY = "dilemmazoo.schema"
#: the version of that document and of the typing rules; raised when either changes
SCHEMA_VERSION = 1

#: the files of a finished run, besides the completion marker
RUN_FILES = ("run_id", "config.yaml", "steps.parquet", "episodes.parquet", "population.parquet", "llm_calls.parquet", "summary.json")
#: the completion marker, written after every file of :data:`RUN_FILES`
COMPLETE_FILE = "complete.json"


@dataclass
class Summary:
    """``summary.json``: what a finished run says about itself.

    ``cell``: the grid cell, dotted grid key -> value (a plain-list axis keeps the raw number,
    boolean or string; a labelled axis or a non-scalar value gives its label; ``{}`` without a
    grid). ``provenance``: ``dilemmazoo_version``, ``git_commit`` and ``git_dirty`` (``None``
    outside a git checkout), ``python``, ``torch``, ``transformers`` (``None`` when not
    installed), and ``agents``: one entry per agent group with ``label``, ``kind``, ``backend``
    (the spec, ``None`` for scripted groups), ``decision`` (``score``/``generate`` as resolved,
    ``None`` where no model decides), ``model``, ``revision``, ``weights_sha256``, ``base_url``.
    ``counts``: decisions, parse failures, fallbacks, LLM calls, cache hits, ...
    ``execution``: who wrote the run: ``id`` (fresh for every attempt; the tables' parquet
    metadata and the completion marker carry it too), ``pid`` and ``started_at`` (UTC).
    """

    experiment: str
    run_id: str
    world: str
    seed: int
    status: str = "complete"
    episodes: int = 0
    generations: int = 0
    wall_time_s: float = 0.0
    cell: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    execution: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
