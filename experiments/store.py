"""Run directories on disk: readable names, durable files, runs that survive crashes and each other.

A run's folder is named by its grid cell and seed (:func:`run_dir_for`)::

    runs/<experiment>/seed=0/                                   no grid
    runs/<experiment>/donation_multiplier=2.0/seed=1/           one swept key
    runs/<experiment>/fraction=0.5,population=none/seed=1/      two

Its identity is the config hash :func:`~dilemmazoo.experiments.config.run_id`, written into
the folder (``run_id``) when the folder is claimed and into ``summary.json``. A folder that
holds another run id (the same preset rerun with ``--set`` overrides, or two cells whose
labels read the same once made safe for file names) is never reused: the run goes to
``seed=N-<first 6 hex of its id>`` instead, so no finished result is overwritten.

**One execution per run at a time.** :func:`run_lock` takes an exclusive POSIX record lock
(``lockf``) on ``<cell folder>/.seed=N.<run id>.lock`` for as long as a process works on the
run; a second process on the same output folder skips the run (``wait=False``:
:class:`RunBusy`) or waits for it. The kernel drops the lock when its process dies, however it
dies, and a record lock is not inherited by the process's children (a forked sandbox outliving
a killed worker does not keep it), so a killed run never blocks the next attempt. The lock
keeps processes apart, not threads of one process.

**Durable files, a marker last.** Every file is written to a temporary name in the run
folder (``.<name>.<random>.tmp``), flushed to disk (``fsync``), given the permissions the
process umask allows (as ``open`` would; temporary files start private) and renamed into
place. The tables (``*.parquet``) and ``summary.json`` come first; then the folder itself is
synced and the completion marker ``complete.json`` is written last. It names the run id, the
execution that wrote the files, and each file's size and sha256. Parquet files also carry the
execution id in their metadata (``dilemmazoo.execution``), ``summary.json`` in ``execution``.

**Typed tables.** A table is written with the schema :func:`table_schema` gives it: the record
contract's declared types (:data:`~dilemmazoo.experiments.records.COLUMN_TYPES`), and for any
other column one type from the values the run recorded
(:data:`~dilemmazoo.experiments.records.EXTRA_COLUMN_RULE`); :func:`frames` works that type out
from the recorded rows themselves (an ``int`` info missing in some rows stays ``int64``, where
pandas alone would have made it ``float64``). A column whose values mix types, or a contract
column whose values do not fit its type, raises :class:`RecordSchemaError` naming the table and
the column; nothing is converted besides ``int`` to ``float64`` in a column that holds both.
The schema document (key ``dilemmazoo.schema``) goes into the file's metadata beside parquet's
own schema.

**Finished means the marker and the files agree** (:func:`inspect_run`): the marker is there
and names this run, every run file is there with the size it lists, each table opens as
parquet, and ``summary.json`` parses, says ``complete`` and names this run. A folder with the
marker or any table or summary that fails this is *damaged*: on resume it is moved aside to
``<experiment>/.damaged/<cell>/seed=N@<UTC time>/`` with a note (``damage.json``) saying why
(its ``summary.json`` and marker renamed ``*.damaged`` so no reader counts it), and the run
is redone. A folder with nothing but ``run_id``, ``config.yaml`` and perhaps ``failure.json``
is a run that started or failed: it is redone in place. Temporary files that a killed writer
left behind are removed first. A failed run leaves ``failure.json`` (the error, secrets
redacted) and no summary.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import traceback
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from dilemmazoo.experiments.records import (
    COLUMN_TYPES,
    COMPLETE_FILE,
    EPISODE_COLUMNS,
    LLM_CALL_COLUMNS,
    POPULATION_COLUMNS,
    RUN_FILES,
    SCHEMA_KEY,
    SCHEMA_VERSION,
    STEP_COLUMNS,
)

try:  # POSIX: a lock the kernel drops with its process
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "COMPLETE_FILE",
    "DAMAGED_FOLDER",
    "EXECUTION_KEY",
    "RUN_ID_FILE",
    "RecordSchemaError",
    "RunBusy",
    "RunState",
    "atomic_write_bytes",
    "cell_folder",
    "finish",
    "folder_run_id",
    "frames",
    "inspect_run",
    "load_summary",
    "move_aside",
    "new_execution",
    "prepare",
    "remove_stale_claims",
    "remove_stale_temporaries",
    "run_dir_for",
    "run_folder_name",
    "run_lock",
    "schema_document",
    "table_schema",
    "value_type",
    "write_failure",
]

#: the file naming the run id that owns a run folder (written when the folder is claimed)
RUN_ID_FILE = "run_id"
#: where damaged run folders are moved, inside the experiment's folder
DAMAGED_FOLDER = ".damaged"
#: the parquet metadata key holding the id of the execution that wrote the table
EXECUTION_KEY = "dilemmazoo.execution"
#: the run's tables (each must open as parquet for the run to count as finished)
TABLES = tuple(name for name in RUN_FILES if name.endswith(".parquet"))
# A cell folder name stays well below the 255-byte file-name limit of common file systems.
_MAX_PART = 60
_MAX_FOLDER = 180
_TEMPORARY = re.compile(r"^\..+\.tmp$")


class RecordSchemaError(ValueError):
    """A table's column cannot be written with one type: its values mix types, or a contract
    column holds values its declared type cannot take. The message names the table and column."""


class RunBusy(RuntimeError):
    """Another live process holds the run's lock (raised by :func:`run_lock` with ``wait=False``)."""


def _digest(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _safe_name(text: str) -> str:
    """``text`` as a portable file-name part: ASCII letters, digits and ``. _ + @ -``; no leading
    dot; bounded length. A part that had to be cut, or that nothing usable is left of, ends in a
    hash of the whole text so that it still tells values apart."""
    safe = re.sub(r"[^A-Za-z0-9._+@-]+", "_", text)
    safe = re.sub(r"^\.", "_", safe)
    if not safe.strip("_"):
        return f"_{_digest(text)}"
    if len(safe) > _MAX_PART:
        return f"{safe[:_MAX_PART - 7]}~{_digest(text)}"
    return safe


def cell_folder(cell: dict[str, str]) -> str:
    """The folder name of a grid cell (dotted key -> label): ``key=label`` joined by commas, with
    each key shortened to its last part where that is unambiguous in the grid
    (:func:`dilemmazoo.analysis.catalog.grid_column_names`); ``""`` without a grid."""
    from dilemmazoo.analysis.catalog import grid_column_names

    names = grid_column_names(list(cell))
    folder = ",".join(f"{_safe_name(names[key])}={_safe_name(str(label))}" for key, label in cell.items())
    if len(folder) > _MAX_FOLDER:
        folder = f"{folder[:_MAX_FOLDER - 7]}~{_digest(json.dumps(cell, sort_keys=True))}"
    return folder


def folder_run_id(run_dir: Path) -> str | None:
    """The run id that owns ``run_dir`` (from its ``run_id`` file, else its ``summary.json``), or ``None``."""
    marker = Path(run_dir) / RUN_ID_FILE
    try:
        if marker.is_file():
            return marker.read_text().strip() or None
        summary = Path(run_dir) / "summary.json"
        if summary.is_file():
            return json.loads(summary.read_text()).get("run_id")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):  # moved aside meanwhile, or damaged
        return None
    return None


def run_folder_name(config) -> str:
    """Where a run of ``config`` (one seed) goes inside its experiment's folder, before any
    clash with another run id: ``donation_multiplier=2.0/seed=1``, or ``seed=1`` without a grid
    (for listings such as ``run --check``; :func:`run_dir_for` gives the folder itself)."""
    cell = cell_folder(dict(config.cell))
    seed = f"seed={config.seeds[0]}"
    return f"{cell}/{seed}" if cell else seed


def _cell_dir(out_root: str | Path, config) -> Path:
    return (Path(out_root) / config.name / run_folder_name(config)).parent


def run_dir_for(out_root: str | Path, config, rid: str, *, claim: bool = False) -> Path | None:
    """The folder of the run ``rid`` of ``config`` (one seed, one grid cell).

    The candidates are ``seed=N``, then ``seed=N-<rid[:6]>``, then ``seed=N-<rid>`` under
    ``<out_root>/<experiment>/<cell folder>``. The first candidate that already belongs to
    ``rid`` is returned (a finished run to skip, or a damaged one to redo). Otherwise, with
    ``claim``, the first free candidate is created holding the ``run_id`` file and returned;
    without ``claim`` (look before checking the config, write nothing) the answer is ``None``.
    """
    parent = _cell_dir(out_root, config)
    seed = f"seed={config.seeds[0]}"
    candidates = [parent / name for name in (seed, f"{seed}-{rid[:6]}", f"{seed}-{rid}")]
    for folder in candidates:
        if folder_run_id(folder) == rid:
            return folder
    if not claim:
        return None
    for folder in candidates:
        if _claim(folder, rid):
            return folder
    raise RuntimeError(f"no free run folder for run {rid}: {', '.join(str(c) for c in candidates)} all hold other runs")


def _claim_prefix(folder: Path, rid: str) -> str:
    return f".{folder.name}.claim-{rid[:12]}-"


def _claim(folder: Path, rid: str) -> bool:
    """Make ``folder`` the run ``rid``'s: a folder that does not exist (or is empty) is created
    atomically with its ``run_id`` file, so a concurrent claimant sees either nothing or the owner."""
    owner = folder_run_id(folder)
    if owner is not None:
        return owner == rid
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        return False  # something that is no run of ours: leave it alone
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=_claim_prefix(folder, rid)))
    os.chmod(staging, 0o777 & ~process_umask())  # mkdtemp makes it private
    atomic_write_bytes(staging / RUN_ID_FILE, f"{rid}\n".encode())
    try:
        os.rename(staging, folder)  # replaces an empty folder; fails on one another process filled
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        return folder_run_id(folder) == rid
    sync_folder(folder.parent)
    return True


# -- one execution at a time -------------------------------------------------------------------

def lock_path(out_root: str | Path, config, rid: str) -> Path:
    """The lock file of the run ``rid``: ``<cell folder>/.seed=N.<rid[:16]>.lock`` (kept; it is empty)."""
    return _cell_dir(out_root, config) / f".seed={config.seeds[0]}.{rid[:16]}.lock"


@contextmanager
def run_lock(out_root: str | Path, config, rid: str, *, wait: bool = True) -> Iterator[Path]:
    """Hold the run's lock (see the module docstring); yields the lock file's path.

    With ``wait=False`` a lock another process holds raises :class:`RunBusy` at once.
    """
    path = lock_path(out_root, config, rid)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows: filelock's msvcrt lock, also dropped with its process
        from filelock import FileLock, Timeout

        lock = FileLock(str(path), timeout=-1 if wait else 0)
        try:
            with lock:
                yield path
        except Timeout:
            raise RunBusy(f"another process is running {config.name} seed {config.seeds[0]} ({path})") from None
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            raise RunBusy(f"another process is running {config.name} seed {config.seeds[0]} ({path})") from None
        yield path
    finally:
        os.close(fd)  # closing drops the lock


# -- durable files ---------------------------------------------------------------------------

def process_umask() -> int:
    """The process umask, read without changing it where Linux tells it (``/proc/self/status``);
    elsewhere set and restored at once."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (renames into it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory file descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse to sync folders
        pass
    finally:
        os.close(fd)


def _temporary(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~process_umask())  # mkstemp makes it private; run files follow the umask
    return fd, tmp


def atomic_write_bytes(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` durably (temporary file, fsync, rename); returns its sha256."""
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


def _write_parquet(path: Path, table, execution: str) -> str:
    """Write the pyarrow ``table`` (:func:`_arrow_table`) as parquet durably, tagged with ``execution``;
    returns the file's sha256."""
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata({**(table.schema.metadata or {}), EXECUTION_KEY.encode(): execution.encode()})
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
        digest = _file_sha256(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


# -- table schemas ---------------------------------------------------------------------------

#: id(frame) -> (a weak reference to the frame, column -> type name :func:`frames` worked out from
#: the recorded rows, column -> message for columns whose values mix types). Kept beside the frames,
#: not in ``DataFrame.attrs``: pandas deep-copies attrs into every frame derived from one, which
#: would slow down all the metrics code that works on a run's frames.
_RECORDED: dict[int, tuple[weakref.ref, dict[str, str], dict[str, str]]] = {}


def _remember(frame: pd.DataFrame, types: dict[str, str], problems: dict[str, str]) -> None:
    key = id(frame)

    def forget(reference, key=key):
        if _RECORDED.get(key, (None,))[0] is reference:
            _RECORDED.pop(key, None)

    _RECORDED[key] = (weakref.ref(frame, forget), types, problems)


def _recorded(frame: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """The types (and type problems) :func:`frames` recorded for ``frame``; empty for any other frame."""
    entry = _RECORDED.get(id(frame))
    if entry is not None and entry[0]() is frame:
        return entry[1], entry[2]
    return {}, {}


def _arrow(name: str):
    """Type name (:data:`~dilemmazoo.experiments.records.COLUMN_TYPES`) -> pyarrow type."""
    import pyarrow as pa

    types = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(), "string": pa.large_string(),
             "null": pa.null()}
    if name not in types:
        raise RecordSchemaError(f"unknown column type {name!r} (known: {', '.join(types)})")
    return types[name]


def _type_name(arrow_type) -> str:
    """pyarrow type -> the name the schema document uses (``string`` for both string widths)."""
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    names = {pa.int64(): "int64", pa.float64(): "float64", pa.bool_(): "bool", pa.null(): "null"}
    return names.get(arrow_type, str(arrow_type))


def value_type(values, *, table: str, column: str) -> str:
    """The type :data:`~dilemmazoo.experiments.records.EXTRA_COLUMN_RULE` gives a column that holds
    ``values`` (Python or numpy scalars; ``None`` is a null): ``bool``, ``int64``, ``float64``,
    ``string`` or ``null``. Mixed values raise :class:`RecordSchemaError` naming ``table`` and
    ``column`` and an example of each kind found."""
    examples: dict[str, Any] = {}
    for value in values:
        if value is None:
            continue
        if isinstance(value, np.generic):
            value = value.item()  # numpy scalar -> Python
        kind = ("bool" if isinstance(value, bool) else "int" if isinstance(value, int)
                else "float" if isinstance(value, float) else "str" if isinstance(value, str) else type(value).__name__)
        examples.setdefault(kind, value)
    kinds = set(examples)
    if not kinds:
        return "null"
    if kinds == {"bool"}:
        return "bool"
    if kinds == {"int"}:
        return "int64"
    if kinds <= {"int", "float"}:
        return "float64"
    if kinds == {"str"}:
        return "string"
    found = ", ".join(f"{kind} (e.g. {value!r:.40})" for kind, value in examples.items())
    raise RecordSchemaError(f"column {column!r} of {table}.parquet mixes value types: {found}; a column holds one "
                            "type (bool, int, int and float, or str, with None for missing values)")


def _series_type(table: str, column: str, series: pd.Series):
    """The pyarrow type of a column :func:`frames` did not type: from its pandas dtype where that is
    one of the rule's types, from its values (:func:`value_type`) for object columns, else the type
    pyarrow gives that dtype (dates, categories...)."""
    import pyarrow as pa

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _arrow("bool")
    if pd.api.types.is_integer_dtype(dtype):
        return _arrow("int64")
    if pd.api.types.is_float_dtype(dtype):
        return _arrow("float64")
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return _arrow("string")
    if pd.api.types.is_object_dtype(dtype):  # pandas fills a missing value with NaN here: a null
        values = (None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in series)
        return _arrow(value_type(values, table=table, column=column))
    return pa.array(series, from_pandas=True).type


def schema_document(table: str, schema, inferred: list[str] = ()) -> dict[str, Any]:
    """The schema document stored under :data:`~dilemmazoo.experiments.records.SCHEMA_KEY`:
    ``version``, ``table``, ``columns`` (``[name, type]`` in order), ``inferred`` (the columns typed
    from their values) and ``fingerprint`` (16 hex digits of the sha256 of ``columns`` as JSON)."""
    columns = [[field.name, _type_name(field.type)] for field in schema]
    fingerprint = hashlib.sha256(json.dumps(columns, separators=(",", ":")).encode()).hexdigest()[:16]
    return {"version": SCHEMA_VERSION, "table": table, "columns": columns, "inferred": list(inferred),
            "fingerprint": fingerprint}


def table_schema(table: str, frame: pd.DataFrame):
    """The pyarrow schema ``frame`` is written with as ``<table>.parquet``, its
    :func:`schema_document` in the schema's metadata (key ``dilemmazoo.schema``).

    Contract columns take their declared types; the others the types :func:`frames` worked out
    from the recorded rows (for a frame it made), else :func:`_series_type`. Raises
    :class:`RecordSchemaError` for a column whose values mix types.
    """
    import pyarrow as pa

    declared = COLUMN_TYPES.get(table, {})
    recorded, problems = _recorded(frame)
    fields, inferred = [], []
    for column in frame.columns:
        name = str(column)
        if name in declared:
            arrow_type = _arrow(declared[name])
        elif name in problems:
            raise RecordSchemaError(problems[name])
        else:
            arrow_type = _arrow(recorded[name]) if name in recorded else _series_type(table, name, frame[column])
            inferred.append(name)
        fields.append(pa.field(name, arrow_type))
    schema = pa.schema(fields)
    document = schema_document(table, schema, inferred)
    return schema.with_metadata({SCHEMA_KEY: json.dumps(document, separators=(",", ":"))})


def _arrow_table(table: str, frame: pd.DataFrame):
    """``frame`` as a pyarrow table with its :func:`table_schema` (and pandas' own metadata, so it reads
    back as before); a value its column's type cannot take raises :class:`RecordSchemaError`."""
    import pyarrow as pa

    schema = table_schema(table, frame)
    plain = frame if all(isinstance(column, str) for column in frame.columns) else frame.rename(columns=str)
    try:
        return pa.Table.from_pandas(plain, schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
        for column_field in schema:  # find the column: convert them one at a time
            try:
                pa.array(plain[column_field.name], type=column_field.type, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as column_error:
                kind = _type_name(column_field.type)
                raise RecordSchemaError(f"column {column_field.name!r} of {table}.parquet does not fit its type "
                                        f"{kind}: {column_error}") from error
        raise RecordSchemaError(f"{table}.parquet does not fit its schema: {error}") from error


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Remove the temporary files (``.<name>.<random>.tmp``) killed writers left in ``run_dir``.

    Call it holding the run's lock: then no live writer owns any of them. Returns what was removed.
    """
    removed = []
    if Path(run_dir).is_dir():
        for path in Path(run_dir).iterdir():
            if _TEMPORARY.match(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def remove_stale_claims(out_root: str | Path, config, rid: str) -> None:
    """Remove the claim staging folders a killed claimant of ``rid`` left (call it holding the lock)."""
    parent = _cell_dir(out_root, config)
    if not parent.is_dir():
        return
    seed = f"seed={config.seeds[0]}"
    prefixes = tuple(_claim_prefix(parent / name, rid) for name in (seed, f"{seed}-{rid[:6]}", f"{seed}-{rid}"))
    for path in parent.iterdir():
        if path.name.startswith(prefixes) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


# -- what a folder holds ---------------------------------------------------------------------

@dataclass
class RunState:
    """What :func:`inspect_run` found in a run folder.

    ``finished``: the marker and the files agree (``summary`` holds the summary); ``damage``:
    why the folder is damaged (empty when it is not); neither: started or failed, redo in place.
    """

    finished: bool = False
    summary: dict[str, Any] | None = None
    damage: list[str] = field(default_factory=list)


def _read_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{path.name} is not readable JSON ({type(error).__name__}: {error})"


def _table_problem(path: Path) -> str | None:
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except Exception as error:  # noqa: BLE001 - pyarrow raises several kinds for a broken file
        return f"{path.name} does not open as parquet ({type(error).__name__}: {error})"
    return None


def inspect_run(run_dir: Path, rid: str, *, deep: bool = False) -> RunState:
    """Whether ``run_dir`` holds the finished run ``rid``, is damaged (and why), or neither.

    ``deep`` also compares every file's sha256 with the marker's (reads every byte; resume
    checks sizes, the parquet footers and the summary only).
    """
    try:
        return _inspect(Path(run_dir), rid, deep)
    except OSError as error:  # a file went away while being read: another process moved the folder aside
        return RunState(damage=[f"the folder changed while being read ({type(error).__name__}: {error})"])


def _inspect(run_dir: Path, rid: str, deep: bool) -> RunState:
    marker_path = run_dir / COMPLETE_FILE
    data_files = [name for name in (*TABLES, "summary.json") if (run_dir / name).exists()]
    if not marker_path.exists():
        if data_files:
            return RunState(damage=[f"{', '.join(data_files)} without the completion marker {COMPLETE_FILE} "
                                    "(the run was stopped while writing its files)"])
        return RunState()
    damage = []
    marker, problem = _read_json(marker_path)
    listed: dict[str, Any] = {}
    if problem:
        damage.append(problem.replace(COMPLETE_FILE, f"the completion marker {COMPLETE_FILE}"))
    elif not isinstance(marker, dict) or marker.get("run_id") != rid or not isinstance(marker.get("files"), dict):
        damage.append(f"the completion marker {COMPLETE_FILE} does not name run {rid} and its files")
    else:
        listed = marker["files"]
    for name in RUN_FILES:
        path = run_dir / name
        if not path.is_file():
            damage.append(f"{name} is missing")
            continue
        entry = listed.get(name)
        if name != RUN_ID_FILE and listed and entry is None:
            damage.append(f"{name} is not listed in the completion marker")
        elif isinstance(entry, dict):
            size = path.stat().st_size
            if size != entry.get("bytes"):
                damage.append(f"{name} has {size} bytes; the completion marker says {entry.get('bytes')}")
            elif deep and _file_sha256(path) != entry.get("sha256"):
                damage.append(f"{name} differs from what the completion marker lists (sha256)")
        if name in TABLES and (problem := _table_problem(path)):
            damage.append(problem)
    summary = None
    if (run_dir / "summary.json").is_file():
        summary, problem = _read_json(run_dir / "summary.json")
        if problem:
            damage.append(problem)
            summary = None
        elif not isinstance(summary, dict) or summary.get("status") != "complete" or summary.get("run_id") != rid:
            damage.append(f"summary.json does not say run {rid} is complete")
            summary = None
    if damage:
        return RunState(damage=damage)
    return RunState(finished=True, summary=summary)


def load_summary(run_dir: Path, rid: str | None = None) -> dict[str, Any] | None:
    """The summary of a finished run (see :func:`inspect_run`), or ``None``."""
    run_dir = Path(run_dir)
    rid = rid or folder_run_id(run_dir)
    if rid is None:
        return None
    return inspect_run(run_dir, rid).summary


def move_aside(experiment_dir: Path, run_dir: Path, reasons: list[str]) -> Path:
    """Move the damaged ``run_dir`` to ``<experiment_dir>/.damaged/<cell>/seed=N@<UTC time>/`` with a
    note (``damage.json``) saying why; returns where it went. Call it holding the run's lock."""
    experiment_dir, run_dir = Path(experiment_dir), Path(run_dir)
    try:
        relative = run_dir.relative_to(experiment_dir)
    except ValueError:
        relative = Path(run_dir.name)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = experiment_dir / DAMAGED_FOLDER / relative.parent / f"{relative.name}@{stamp}"
    count = 1
    while target.exists():
        count += 1
        target = target.with_name(f"{relative.name}@{stamp}-{count}")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(run_dir, target)
    renamed = {}
    for name in ("summary.json", COMPLETE_FILE):  # readers look for these: a damaged run is no run
        if (target / name).exists():
            os.rename(target / name, target / f"{name}.damaged")
            renamed[name] = f"{name}.damaged"
    note = {
        "moved_from": str(run_dir), "moved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run_id": folder_run_id(target), "reasons": reasons, "renamed": renamed,
        "what_next": "the run was redone in its folder; this copy is kept for inspection and may be deleted",
    }
    atomic_write_bytes(target / "damage.json", json.dumps(note, indent=2).encode())
    sync_folder(run_dir.parent)
    return target


# -- writing a run ---------------------------------------------------------------------------

def new_execution() -> dict[str, Any]:
    """Who is writing a run: a fresh id, the process id and the start time (UTC), for
    ``summary.json``'s ``execution``, the parquet metadata and the completion marker."""
    import uuid

    return {"id": uuid.uuid4().hex, "pid": os.getpid(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def prepare(run_dir: Path, config) -> None:
    """Start (or restart) a run in its claimed folder: remove an old failure note, write ``config.yaml``
    (secrets redacted, see :func:`dilemmazoo.agents.backends.redaction.redact_config`)."""
    from dilemmazoo.agents.backends.redaction import redact_config

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "failure.json").unlink(missing_ok=True)
    # how the grid was executed (executor, Ray options) is not part of the run
    data = redact_config(config.model_dump(mode="json", exclude={"executor", "ray"}))
    atomic_write_bytes(run_dir / "config.yaml", yaml.safe_dump(data, sort_keys=False).encode())


def write_failure(run_dir: Path, error: BaseException | str) -> None:
    """``failure.json``: the error and its traceback (or a message), secrets redacted."""
    from dilemmazoo.agents.backends.redaction import redact_text

    if isinstance(error, BaseException):
        payload = {"error": f"{type(error).__name__}: {error}", "traceback": "".join(traceback.format_exception(error))}
    else:
        payload = {"error": str(error), "traceback": ""}
    payload = {key: redact_text(value) for key, value in payload.items()}
    atomic_write_bytes(run_dir / "failure.json", json.dumps(payload, indent=2).encode())


def _frame(rows: list[dict], columns: dict[str, str], table: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in columns:
        if column not in frame:
            frame[column] = pd.Series(dtype="object")
    extra = [c for c in frame.columns if c not in columns]
    frame = frame[list(columns) + extra]
    types, problems = {}, {}
    for column in extra:  # typed from the rows: pandas' own dtype would make an int with gaps a float
        try:
            types[column] = value_type((row.get(column) for row in rows), table=table, column=column)
        except RecordSchemaError as error:
            problems[column] = str(error)
    _remember(frame, types, problems)
    return frame


def frames(recorder) -> dict[str, pd.DataFrame]:
    """The recorder's rows as the run's tables (``steps``, ``episodes``, ``population``, ``llm_calls``):
    contract columns first, in order, then the world's extra columns, whose types (worked out from the
    rows, :func:`value_type`) are kept for :func:`finish` beside each frame (not in it)."""
    return {
        "steps": _frame(recorder.steps, STEP_COLUMNS, "steps"),
        "episodes": _frame(recorder.episodes, EPISODE_COLUMNS, "episodes"),
        "population": _frame(recorder.population, POPULATION_COLUMNS, "population"),
        "llm_calls": _frame(recorder.calls, LLM_CALL_COLUMNS, "llm_calls"),
    }


def finish(run_dir: Path, tables: dict[str, pd.DataFrame], summary: dict[str, Any], execution: str) -> None:
    """Write the tables (each with its :func:`table_schema`) and ``summary.json`` durably, sync the
    folder, then the completion marker. A table that cannot be typed raises :class:`RecordSchemaError`
    before any file is written."""
    typed = {name: _arrow_table(name, frame) for name, frame in tables.items()}  # all are typed, or none is written
    files = {}
    for name, table in typed.items():
        path = run_dir / f"{name}.parquet"
        digest = _write_parquet(path, table, execution)
        files[path.name] = {"bytes": path.stat().st_size, "sha256": digest}
    for name in ("config.yaml", "summary.json"):
        path = run_dir / name
        if name == "summary.json":
            digest = atomic_write_bytes(path, json.dumps(summary, indent=2, default=str).encode())
        else:
            digest = _file_sha256(path)
        files[name] = {"bytes": path.stat().st_size, "sha256": digest}
    sync_folder(run_dir)
    marker = {"run_id": summary["run_id"], "execution": execution,
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files}
    atomic_write_bytes(run_dir / COMPLETE_FILE, json.dumps(marker, indent=2).encode())
    sync_folder(run_dir)
