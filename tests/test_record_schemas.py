"""Record schemas: every run table is written with declared types, and the catalog refuses to
union runs whose tables disagree on a column's type, naming the run and the column."""

import hashlib
import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dilemmazoo.analysis.catalog import SchemaDrift, SchemaDriftError, SchemaDriftWarning, catalog, schema_drifts
from dilemmazoo.experiments import store
from dilemmazoo.experiments.config import validate
from dilemmazoo.experiments.records import (
    COLUMN_TYPES,
    EPISODE_COLUMNS,
    LLM_CALL_COLUMNS,
    POPULATION_COLUMNS,
    SCHEMA_KEY,
    SCHEMA_VERSION,
    STEP_COLUMNS,
)
from dilemmazoo.experiments.runner import RunPlay, execute

ARROW = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(), "string": pa.large_string()}
#: the Donor Game's scalar infos, as its steps and episodes tables hold them after the contract's columns
DONOR_INFOS = [("role", "string"), ("partner", "string"), ("move", "string"), ("amount", "float64"),
               ("fraction", "float64"), ("resources", "float64"), ("round", "int64")]
EXTRAS = {"steps": DONOR_INFOS, "episodes": DONOR_INFOS, "population": [], "llm_calls": []}


def donor(seed=0):
    """Four players give half, three rounds, two generations of one game: about a second."""
    return validate({"name": "typed", "seeds": [seed],
                     "world": {"id": "donor-game", "kwargs": {"n_agents": 4, "n_rounds": 3}},
                     "agents": {"kind": "scripted", "strategy": "fixed_fraction", "params": {"fraction": 0.5}},
                     "population": {"dynamics": "cultural_evolution", "generations": 2, "kwargs": {"mutation_sd": 0.0}},
                     "episodes_per_generation": 1})


def test_the_declared_types_cover_the_contract_columns_in_order():
    contract = {"steps": STEP_COLUMNS, "episodes": EPISODE_COLUMNS, "population": POPULATION_COLUMNS,
                "llm_calls": LLM_CALL_COLUMNS}
    assert {table: list(types) for table, types in COLUMN_TYPES.items()} == {
        table: list(columns) for table, columns in contract.items()}
    assert {kind for types in COLUMN_TYPES.values() for kind in types.values()} == set(ARROW)


def test_every_table_of_a_scripted_run_has_the_declared_schema_and_the_same_values(tmp_path):
    result = execute(donor(), tmp_path, progress=False)
    for table, declared in COLUMN_TYPES.items():
        schema = pq.read_schema(result.run_dir / f"{table}.parquet")
        expected = [(column, kind) for column, kind in declared.items()] + EXTRAS[table]
        assert [(field.name, field.type) for field in schema] == [(c, ARROW[k]) for c, k in expected], table
        document = json.loads(schema.metadata[SCHEMA_KEY.encode()])
        columns = [[c, k] for c, k in expected]
        assert document == {
            "version": SCHEMA_VERSION, "table": table, "columns": columns, "inferred": [c for c, _ in EXTRAS[table]],
            "fingerprint": hashlib.sha256(json.dumps(columns, separators=(",", ":")).encode()).hexdigest()[:16]}
    assert pq.read_metadata(result.run_dir / "llm_calls.parquet").num_rows == 0  # typed although empty
    # the values (and pandas' dtypes) read back as the untyped parquet of the same seeded records did
    play = RunPlay(donor(), tmp_path / "again")
    for _ in play.events():
        pass
    for table, frame in play.frames().items():
        untyped = io.BytesIO()
        frame.to_parquet(untyped, index=False)  # what a run wrote before schemas were declared
        read = pd.read_parquet(result.run_dir / f"{table}.parquet")
        if len(frame):
            pd.testing.assert_frame_equal(read, pd.read_parquet(untyped))
        else:
            assert list(read.columns) == list(LLM_CALL_COLUMNS) and read["prompt_tokens"].dtype == "int64"
    play.close()


def _step(**extra):
    row = {"episode": 0, "generation": 1, "game": 1, "step": 1, "agent": "player_0", "name": "1_1", "policy": "p",
           "decided": True, "action": "0", "reward": 1.0, "utility": 1.0, "parse_failures": 0, "fallback_used": False,
           "distribution": ""}
    return {**row, **extra}


def _finish(run_dir: Path, steps: list[dict]):
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("name: hand\n")
    recorder = SimpleNamespace(steps=steps, episodes=[], population=[], calls=[])
    store.finish(run_dir, store.frames(recorder), {"run_id": "hand", "status": "complete"}, "e1")
    return pq.read_schema(run_dir / "steps.parquet")


def test_extra_columns_are_typed_from_the_recorded_values(tmp_path):
    schema = _finish(tmp_path / "run", [
        _step(round=1, share=1, flag=True, note="a", never=None),
        _step(share=0.5, flag=None, never=None),  # no round here: pandas alone would make it float64
    ])
    types = {field.name: field.type for field in schema}
    assert (types["round"], types["share"], types["flag"], types["note"], types["never"]) == (
        pa.int64(), pa.float64(), pa.bool_(), pa.large_string(), pa.null())
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    assert steps["round"].tolist()[0] == 1 and pd.isna(steps["round"].tolist()[1])
    assert steps["share"].tolist() == [1.0, 0.5] and steps["flag"].tolist() == [True, None]


@pytest.mark.parametrize(("values", "kinds"), [
    ([3, "three"], "int (e.g. 3), str (e.g. 'three')"),
    ([True, 1], "bool (e.g. True), int (e.g. 1)"),
    ([0.5, "half"], "float (e.g. 0.5), str (e.g. 'half')"),
])
def test_a_mixed_type_extra_column_is_an_error_naming_it_and_nothing_is_written(tmp_path, values, kinds):
    with pytest.raises(store.RecordSchemaError) as raised:
        _finish(tmp_path / "run", [_step(step=i + 1, level=value) for i, value in enumerate(values)])
    assert str(raised.value).startswith(f"column 'level' of steps.parquet mixes value types: {kinds};")
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["config.yaml"]


def test_a_contract_column_that_cannot_take_its_declared_type_is_an_error_naming_it(tmp_path):
    with pytest.raises(store.RecordSchemaError, match="column 'parse_failures' of steps.parquet does not fit its type int64"):
        _finish(tmp_path / "run", [_step(parse_failures="two")])


def test_a_table_without_recorded_types_is_typed_from_its_pandas_columns():
    frame = pd.DataFrame({"n": [1, 2], "x": [0.5, None], "ok": pd.Series([True, None], dtype=object),
                          "label": ["a", None], "empty": pd.Series([None, None], dtype=object)})
    schema = store.table_schema("study", frame)
    assert [(f.name, f.type) for f in schema] == [("n", pa.int64()), ("x", pa.float64()), ("ok", pa.bool_()),
                                                 ("label", pa.large_string()), ("empty", pa.null())]
    assert json.loads(schema.metadata[SCHEMA_KEY.encode()])["inferred"] == ["n", "x", "ok", "label", "empty"]
    with pytest.raises(store.RecordSchemaError, match="column 'mixed' of study.parquet mixes value types"):
        store.table_schema("study", pd.DataFrame({"mixed": pd.Series([1, "a"], dtype=object)}))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog")
    return root, [execute(donor(seed), root, progress=False) for seed in (0, 1)]


def _copy_run(source: Path, target: Path, run_id: str) -> Path:
    """A hand-made run folder: ``source``'s files under another run id."""
    shutil.copytree(source, target)
    summary = json.loads((target / "summary.json").read_text())
    (target / "summary.json").write_text(json.dumps({**summary, "run_id": run_id}))
    return target


def test_two_compatible_runs_union_with_the_declared_types(two_runs, tmp_path):
    root, results = two_runs
    folder = tmp_path / "typed"
    shutil.copytree(root / "typed", folder)
    # a third, older-style run: an untyped empty llm_calls (all-null columns) and a column the others lack
    third = _copy_run(folder / "seed=1", folder / "seed=2", "third")
    steps = pd.read_parquet(third / "steps.parquet").assign(note="x")
    steps.to_parquet(third / "steps.parquet", index=False)
    pd.DataFrame({column: pd.Series(dtype=object) for column in LLM_CALL_COLUMNS}).to_parquet(
        third / "llm_calls.parquet", index=False)
    assert schema_drifts(folder) == []
    con = catalog(folder)
    types = dict(con.execute("select column_name, column_type from (describe steps)").fetchall())
    assert {c: types[c] for c in ("episode", "agent", "decided", "reward", "round", "amount", "note")} == {
        "episode": "BIGINT", "agent": "VARCHAR", "decided": "BOOLEAN", "reward": "DOUBLE", "round": "BIGINT",
        "amount": "DOUBLE", "note": "VARCHAR"}
    calls = dict(con.execute("select column_name, column_type from (describe llm_calls)").fetchall())
    assert (calls["prompt_tokens"], calls["cached"], calls["text"]) == ("BIGINT", "BOOLEAN", "VARCHAR")
    rows = len(results[0].steps)
    assert con.execute("select run_id, count(*), count(note) from steps group by run_id order by run_id").fetchall() == (
        sorted([(results[0].summary["run_id"], rows, 0), (results[1].summary["run_id"], rows, 0),
                ("third", rows, rows)]))
    assert con.execute("select count(*) from schema_drift").fetchone() == (0,)


def test_schema_drift_names_the_run_and_the_column(two_runs, tmp_path):
    root, _ = two_runs
    folder = tmp_path / "typed"
    shutil.copytree(root / "typed", folder)
    odd = _copy_run(folder / "seed=1", folder / "seed=7", "odd")
    steps = pd.read_parquet(odd / "steps.parquet")
    steps["round"] = steps["round"].astype(str)  # another code version wrote the round as text
    steps.to_parquet(odd / "steps.parquet", index=False)

    with pytest.raises(SchemaDriftError) as raised:
        catalog(folder)
    drift = SchemaDrift("steps", "round", {"int64": (str(folder / "seed=0"), str(folder / "seed=1")),
                                           "string": (str(odd),)})
    assert raised.value.drifts == [drift] and schema_drifts(folder) == [drift]
    assert f"- column 'round' of steps.parquet is string in 1 run ({odd}) but int64 in 2 runs " in str(raised.value)

    with pytest.warns(SchemaDriftWarning, match=f"column 'round' of steps.parquet is string in 1 run \\({odd}\\)"):
        con = catalog(folder, on_drift="report")
    assert con.execute("select column_type, count(*) from schema_drift where column_name = 'round' "
                       "group by all order by all").fetchall() == [("int64", 2), ("string", 1)]
    types = dict(con.execute("select column_name, column_type from (describe steps)").fetchall())
    assert types["round"] == "VARCHAR"  # duckdb's common type, now reported
    with pytest.raises(ValueError, match="on_drift must be 'raise' or 'report', not 'ignore'"):
        catalog(folder, on_drift="ignore")
