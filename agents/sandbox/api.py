"""What a policy sees: the read-only snapshot, module views, its namespace, and one decision.

The policy is ``policy(state, agent_id) -> int``. ``state`` is a :class:`Snapshot`: a
read-only mapping (``state["grid"]`` or ``state.grid``) of numpy arrays that cannot be made
writeable and of plain values (numbers, strings, tuples, read-only dicts), plus
``state.helpers`` (also the global ``helpers``): a copy of :mod:`dilemmazoo.agents.policy_helpers`.

Imports. The policy may ``import`` only :data:`~.guards.ALLOWED_MODULES`. Each import hands
out a *view*: a new module object holding copies of the module's public names (numpy without
its file, ctypes and sub-package parts; ``operator`` without ``attrgetter`` and
``methodcaller`` and ``functools`` without ``update_wrapper`` and ``wraps``, which read or
write attributes named by strings built at run time; ``enum`` without ``global_enum`` and its
kin, which write into the module an enum names; ``dataclasses``, ``collections.namedtuple`` and
``typing.NamedTuple`` from :mod:`.shims`, which compile nothing; ``random`` (with its
``Random`` class) and
``numpy.random`` bound to generators seeded from the sandbox seed). A view keeps no
reference to anything private: no target object, no log. Writing to a view, or reading a
hidden name, is refused and reported through the runtime's ``report`` callable, which in the
worker sends the report to the host at once (the host keeps the log; see :mod:`.launch`).
Module-level variables of the policy persist between calls within one worker. A library's C
code that imports a module while the policy runs goes through this same import (CPython takes
``__import__`` from the running frame); a module already loaded (:mod:`.warmup` loads them
before the worker seals) is then answered with nothing handed out, anything else is refused
with a message saying that it points at the sandbox, not at the policy.

:class:`PolicyRuntime` loads policy code into that namespace and makes guarded decisions
(the worker wraps each in a timer; the host-side trusted runner in nothing). Line numbers of
the policy's code are shifted by :data:`POLICY_LINE_OFFSET` when it is compiled, so a
traceback is attributed to the policy's own lines without touching frames (frame access is
an audited event the worker blocks).

This module imports only the standard library, numpy and :mod:`.guards`: the worker loads it
by path, without the rest of dilemmazoo.
"""

from __future__ import annotations

import ast
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from typing import Any

import numpy as np

from .guards import ALLOWED_MODULES, SandboxViolation

__all__ = [
    "FAILURE_KINDS",
    "POLICY_LINE_OFFSET",
    "PolicyRuntime",
    "PolicyTimeout",
    "Snapshot",
    "build_namespace",
    "build_views",
    "make_snapshot",
    "snapshot_from_wire",
    "snapshot_to_wire",
]

FAILURE_KINDS = ("timeout", "crash", "invalid_action", "memory", "rejected", "forbidden")
POLICY_LINE_OFFSET = 1_000_000
MESSAGE_CHARS = 500
MAX_REPORTS = 100  # refused attempts reported per decision; the rest are only counted

_SAFE_BUILTIN_NAMES = (
    "abs all any ascii bin bool bytes callable chr classmethod complex dict divmod enumerate filter float "
    "format frozenset hash hex int isinstance issubclass iter len list map max min next oct ord pow property "
    "range repr reversed round set slice sorted staticmethod str sum tuple zip "
    "ArithmeticError AssertionError AttributeError Exception IndexError KeyError LookupError NotImplementedError "
    "OverflowError RuntimeError StopIteration TypeError ValueError ZeroDivisionError"
).split()
_NUMPY_HIDDEN = frozenset(
    "load save savez savez_compressed loadtxt savetxt genfromtxt fromfile fromregex memmap DataSource lib "
    "ctypeslib testing f2py distutils core compat set_printoptions seterr seterrcall setbufsize show_config "
    "show_runtime get_include info lookfor who source".split()
)
# functions that read or write attributes named by a string: a getattr/setattr by another name
_OPERATOR_HIDDEN = frozenset({"attrgetter", "methodcaller"})
_FUNCTOOLS_HIDDEN = frozenset({"update_wrapper", "wraps"})
_DATACLASS_NAMES = ("dataclass", "field", "fields", "asdict", "astuple", "replace", "is_dataclass", "Field", "MISSING",
                    "FrozenInstanceError")
_ENUM_NAMES = ("Enum", "IntEnum", "Flag", "IntFlag", "StrEnum", "ReprEnum", "EnumType", "EnumMeta", "auto", "unique",
               "verify", "member", "nonmember", "EnumCheck", "UNIQUE", "CONTINUOUS", "NAMED_FLAGS", "FlagBoundary",
               "STRICT", "CONFORM", "EJECT", "KEEP")
_NUMPY_RANDOM_METHODS = (
    "rand randn randint random random_sample choice shuffle permutation uniform normal integers "
    "binomial poisson exponential beta gamma".split()
)


class PolicyTimeout(BaseException):
    """Raised inside a policy call that ran past its time limit (a BaseException, like KeyboardInterrupt)."""


def short(text: str) -> str:
    """``text`` cut to the length of a failure message."""
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def _no_report(text: str) -> None:
    return None


# ---------------------------------------------------------------------------------------------
# Snapshots
# ---------------------------------------------------------------------------------------------


class Snapshot(Mapping):
    """A read-only mapping of numpy arrays and plain values; ``state.key`` works like ``state["key"]``.

    Arrays are views over immutable bytes, so ``setflags(write=True)`` fails too.
    ``state.helpers`` is the policy-helper module (``None`` outside a policy runtime).
    """

    __slots__ = ("_items", "_helpers", "_report")

    def __init__(self, items: Mapping[str, Any], helpers: Any = None, report: Callable[[str], None] = _no_report):
        object.__setattr__(self, "_items", dict(items))
        object.__setattr__(self, "_helpers", helpers)
        object.__setattr__(self, "_report", report)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getattr__(self, name: str) -> Any:
        if name == "helpers":
            return self._helpers
        try:
            return self._items[name]
        except KeyError:
            raise AttributeError(f"the snapshot has no entry {name!r}; entries: {sorted(self._items)}") from None

    def _refuse(self, what: str) -> None:
        self._report(f"{what} of the snapshot")
        raise SandboxViolation(f"the snapshot is read-only ({what})")

    def __setattr__(self, name: str, value: Any) -> None:
        self._refuse(f"assignment to .{name}")

    def __delattr__(self, name: str) -> None:
        self._refuse(f"deletion of .{name}")

    def __setitem__(self, key: str, value: Any) -> None:
        self._refuse(f"assignment to [{key!r}]")

    def __delitem__(self, key: str) -> None:
        self._refuse(f"deletion of [{key!r}]")

    def __repr__(self) -> str:
        return f"Snapshot({sorted(self._items)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt read-only on unpickling (plain array pickles would come back writeable)
        return snapshot_from_wire, (snapshot_to_wire(self), None)

    def with_helpers(self, helpers: Any, report: Callable[[str], None] = _no_report) -> Snapshot:
        """The same entries with another helpers object (each runtime injects its own copy)."""
        return Snapshot(self._items, helpers, report)


def _read_only_array(array: np.ndarray) -> np.ndarray:
    contiguous = np.ascontiguousarray(array)
    return np.frombuffer(contiguous.tobytes(), dtype=contiguous.dtype).reshape(contiguous.shape)


def _freeze_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return value.item()
    if isinstance(value, (tuple, list)):
        return tuple(_freeze_value(v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, (dict, types.MappingProxyType)):
        frozen = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise ValueError(f"{where} has a key of type {type(key).__name__}; keys must be str or int")
            frozen[key] = _freeze_value(item, f"{where}[{key!r}]")
        return types.MappingProxyType(frozen)
    raise ValueError(
        f"{where} is a {type(value).__name__}; snapshot values must be None, bool, int, float, str, bytes, "
        "or tuples/lists/dicts of those (put arrays in `arrays`)"
    )


def _thaw_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_thaw_value(v) for v in value)
    if isinstance(value, types.MappingProxyType):
        return {k: _thaw_value(v) for k, v in value.items()}
    return value


def make_snapshot(arrays: Mapping[str, Any] | None = None, values: Mapping[str, Any] | None = None) -> Snapshot:
    """Read-only copies of ``arrays`` (anything ``np.asarray`` takes, not of dtype object) and
    ``values`` (plain data). Later changes to the inputs do not show in the snapshot."""
    arrays, values = dict(arrays or {}), dict(values or {})
    items: dict[str, Any] = {}
    for key in [*arrays, *values]:
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_") or key == "helpers":
            raise ValueError(f"snapshot key {key!r} must be an identifier not starting with '_' and not 'helpers'")
    overlap = set(arrays) & set(values)
    if overlap:
        raise ValueError(f"snapshot keys {sorted(overlap)} appear in both arrays and values")
    for key, raw in arrays.items():
        array = np.asarray(raw)
        if array.dtype.hasobject:
            raise ValueError(f"arrays[{key!r}] has dtype object; snapshots hold numeric, bool or character arrays")
        items[key] = _read_only_array(array)
    for key, raw in values.items():
        items[key] = _freeze_value(raw, f"values[{key!r}]")
    return Snapshot(items)


def snapshot_to_wire(snapshot: Snapshot) -> dict[str, Any]:
    """Plain data (bytes, tuples, dicts) for the pipe to the worker."""
    arrays, values = {}, {}
    for key, item in snapshot.items():
        if isinstance(item, np.ndarray):
            arrays[key] = (item.dtype.str, item.shape, item.tobytes())
        else:
            values[key] = _thaw_value(item)
    return {"arrays": arrays, "values": values}


def snapshot_from_wire(wire: Mapping[str, Any], helpers: Any, report: Callable[[str], None] = _no_report) -> Snapshot:
    """The read-only snapshot again, with the runtime's helpers and reporter."""
    items: dict[str, Any] = {}
    for key, (dtype, shape, data) in wire["arrays"].items():
        items[key] = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
    for key, value in wire["values"].items():
        items[key] = _freeze_value(value, key)
    return Snapshot(items, helpers, report)


# ---------------------------------------------------------------------------------------------
# Module views and the namespace
# ---------------------------------------------------------------------------------------------


def _view_type(report: Callable[[str], None]) -> type:
    """A module type whose instances refuse writes; the reporter is bound as a default argument."""

    class ModuleView(types.ModuleType):
        """A read-only copy of a module's public names."""

        def __setattr__(self, attr, value, _report=report):
            _report(f"assignment to {self.__name__}.{attr}")
            raise SandboxViolation(f"the module {self.__name__} is read-only (tried to set {attr!r})")

        def __delattr__(self, attr, _report=report):
            _report(f"deletion of {self.__name__}.{attr}")
            raise SandboxViolation(f"the module {self.__name__} is read-only (tried to delete {attr!r})")

        def __repr__(self):
            return f"<read-only module {self.__name__}>"

    return ModuleView


def _public(source: Any, hidden: frozenset = frozenset()) -> dict[str, Any]:
    """The public, non-module attributes of ``source`` (a module's dict entries, or an object's)."""
    if isinstance(source, types.ModuleType):
        entries = dict(vars(source))
    else:
        entries = {name: getattr(source, name) for name in dir(source) if not name.startswith("_")}
    return {name: value for name, value in entries.items()
            if not name.startswith("_") and name not in hidden and not isinstance(value, types.ModuleType)}


def _make_view(view_type: type, name: str, attributes: Mapping[str, Any], hidden: frozenset,
               report: Callable[[str], None]) -> types.ModuleType:
    view = view_type(name)

    def missing(attr, _name=name, _hidden=hidden, _report=report):  # PEP 562 module __getattr__
        if attr.startswith("_") or attr in _hidden:
            _report(f"access to {_name}.{attr}")
            raise SandboxViolation(f"{_name}.{attr} is not available in the sandbox")
        raise AttributeError(f"module {_name!r} has no attribute {attr!r}")

    namespace = vars(view)
    namespace.update(attributes)
    namespace["__getattr__"] = missing
    return view


def build_views(helpers_module: types.ModuleType, seed: int, report: Callable[[str], None]) -> dict[str, Any]:
    """Import name -> read-only view, for every module in :data:`~.guards.ALLOWED_MODULES`."""
    import bisect
    import collections
    import enum
    import functools
    import heapq
    import itertools
    import math
    import operator
    import random
    import statistics
    import typing

    from . import shims

    view_type = _view_type(report)
    python_random = random.Random(seed)
    legacy = np.random.RandomState(seed)
    numpy_random = {name: getattr(legacy, name) for name in _NUMPY_RANDOM_METHODS if hasattr(legacy, name)}
    numpy_random.update({"default_rng": np.random.default_rng, "Generator": np.random.Generator})
    views = {
        "numpy.random": _make_view(view_type, "numpy.random", numpy_random, frozenset(), report),
        "numpy.linalg": _make_view(view_type, "numpy.linalg", _public(np.linalg), frozenset(), report),
        "random": _make_view(view_type, "random", {**_public(python_random), "Random": random.Random}, frozenset(),
                             report),
        "operator": _make_view(view_type, "operator", _public(operator, _OPERATOR_HIDDEN), _OPERATOR_HIDDEN, report),
        "policy_helpers": _make_view(view_type, "policy_helpers",
                                     {name: getattr(helpers_module, name) for name in helpers_module.__all__},
                                     frozenset(), report),
    }
    numpy_names = {**_public(np, _NUMPY_HIDDEN), "random": views["numpy.random"], "linalg": views["numpy.linalg"]}
    views["numpy"] = _make_view(view_type, "numpy", numpy_names, _NUMPY_HIDDEN, report)
    views["functools"] = _make_view(view_type, "functools", _public(functools, _FUNCTOOLS_HIDDEN), _FUNCTOOLS_HIDDEN,
                                    report)
    # the class factories that compile code at run time are replaced by .shims (same behaviour, no compiler)
    views["collections"] = _make_view(view_type, "collections", {**_public(collections), "namedtuple": shims.namedtuple},
                                      frozenset(), report)
    views["typing"] = _make_view(view_type, "typing", {**_public(typing), "NamedTuple": shims.NamedTuple}, frozenset(),
                                 report)
    views["dataclasses"] = _make_view(view_type, "dataclasses", {name: getattr(shims, name) for name in _DATACLASS_NAMES},
                                      frozenset(), report)
    # enum without global_enum and its kin: they write an enum's members into the module its
    # __module__ names, which the functional API lets the policy choose
    views["enum"] = _make_view(view_type, "enum", {name: vars(enum)[name] for name in _ENUM_NAMES if name in vars(enum)},
                               frozenset(), report)
    for module in (math, heapq, itertools, bisect, statistics):
        views[module.__name__] = _make_view(view_type, module.__name__, _public(module), frozenset(), report)
    missing = set(ALLOWED_MODULES) - set(views)
    assert not missing, f"no view for {missing}"
    return views


def build_namespace(views: Mapping[str, Any], report: Callable[[str], None]) -> dict[str, Any]:
    """The policy's globals: curated builtins, an import that hands out views, and ``helpers``.

    Build it after the worker's warm-up (:mod:`.warmup`): the modules loaded by then are those a
    library's C code may import again while the policy runs (answered without handing anything
    out, see ``restricted_import``)."""
    import builtins
    import sys

    def restricted_import(name, globals=None, locals=None, fromlist=(), level=0, _views=dict(views),
                          _report=report, _allowed=", ".join(sorted(ALLOWED_MODULES)),
                          _loaded=frozenset(sys.modules)):
        if type(fromlist) is list and not fromlist and not level and name in _loaded:
            # C code importing a module that is loaded already (numpy's dtype repr does so on
            # every call): CPython's PyImport_Import calls the running frame's __import__ with an
            # empty *list* and then reads the module from sys.modules itself, ignoring what this
            # returns. Nothing is handed to the policy.
            return None
        if level or name not in _views:
            _report(f"import of {name!r}")
            if name.partition(".")[0] in _views and not level:
                # a part of an allowed module that the policy cannot name itself: usually the
                # library importing its own internals lazily, which the worker's warm-up missed
                raise SandboxViolation(f"import of {name!r} is not allowed: {name.partition('.')[0]} loads this part "
                                       "itself; if the policy did not import it, this is a sandbox bug (the worker's "
                                       "warm-up, agents/sandbox/warmup.py, missed it), not an error in the policy")
            raise SandboxViolation(f"import of {name!r} is not allowed; allowed modules: {_allowed}")
        return _views[name] if fromlist else _views[name.partition(".")[0]]

    def quiet_print(*args, **kwargs):  # output is never read
        return None

    safe = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    safe.update({
        "__import__": restricted_import, "__build_class__": builtins.__build_class__, "print": quiet_print,
        "True": True, "False": False, "None": None,
    })
    return {"__builtins__": safe, "__name__": "policy", "helpers": views["policy_helpers"]}


def load_helpers(path: str) -> types.ModuleType:
    """A fresh, private copy of the policy helpers, loaded from their file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("policy_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# The runtime
# ---------------------------------------------------------------------------------------------


class _InvalidAction(Exception):
    pass


class PolicyRuntime:
    """Loads policy code into a restricted namespace and makes guarded decisions.

    Construction compiles the code (the worker does this before its audit hook goes on, since
    ``compile`` is a blocked event); :meth:`load` runs the module's top-level code.
    ``guard`` is a context-manager factory wrapped around every piece of policy code (the
    worker's arms the per-call timer). ``report(text)`` receives every refused attempt.
    """

    def __init__(self, code: str, *, seed: int, n_actions: int, helpers_module: types.ModuleType,
                 report: Callable[[str], None] = _no_report, guard: Callable[[], Any] = nullcontext):
        self.n_actions = n_actions
        self.guard = guard
        self.reported: list[str] = []
        self.unreported = [0]  # attempts past MAX_REPORTS in the current decision

        def tell(text: str, _report=report, _log=self.reported, _more=self.unreported, _cap=MAX_REPORTS) -> None:
            if len(_log) >= _cap:  # a flood of attempts: counted, not each sent
                _more[0] += 1
                return
            _log.append(text)
            _report(text)

        self.report = tell
        views = build_views(helpers_module, seed, tell)
        self.helpers = views["policy_helpers"]
        self.namespace = build_namespace(views, tell)
        self.lines = code.splitlines()
        self.policy = None
        self.load_error: tuple[str, str] | None = None
        self.compiled = None
        try:
            tree = ast.parse(code)
            ast.increment_lineno(tree, POLICY_LINE_OFFSET)
            self.compiled = compile(tree, "<policy>", "exec")
        except SyntaxError as error:
            self.load_error = ("rejected", f"syntax error: {error.msg} (line {error.lineno})")
        except (ValueError, RecursionError, MemoryError) as error:
            self.load_error = ("rejected", f"the code cannot be compiled: {error}")

    def load(self) -> None:
        """Run the policy's module code; sets ``load_error`` when it fails or tries something forbidden."""
        if self.load_error is not None:
            return
        before = len(self.reported)
        _, kind, message = self._guarded(lambda: exec(self.compiled, self.namespace))
        if kind:
            self.load_error = (kind, f"while loading the policy: {message}")
        elif len(self.reported) > before:
            self.load_error = ("forbidden", short(f"while loading the policy: {'; '.join(self.reported[before:])}"))
        elif not callable(self.namespace.get("policy")):
            self.load_error = ("crash", "the code does not define a function `policy(state, agent_id)`")
        else:
            self.policy = self.namespace["policy"]

    def snapshot(self, wire: Mapping[str, Any]) -> Snapshot:
        """The snapshot of a request, with this runtime's helpers and reporter."""
        return snapshot_from_wire(wire, self.helpers, self.report)

    def _where(self, error: BaseException) -> str:
        """`` (policy line N: text)`` for the deepest frame of policy code in the traceback."""
        line = None
        tb = error.__traceback__
        while tb is not None:
            if tb.tb_lineno > POLICY_LINE_OFFSET:
                line = tb.tb_lineno - POLICY_LINE_OFFSET
            tb = tb.tb_next
        if line is None:
            return ""
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        return f" (policy line {line}: {text})"

    def _describe(self, error: BaseException) -> str:
        try:
            with self.guard():  # a policy-defined __str__ runs under the call's timer too
                text = f"{type(error).__name__}: {error}"
        except BaseException:  # noqa: BLE001 - a policy-defined __str__ may fail or hang
            text = type(error).__name__
        try:
            where = self._where(error)
        except BaseException:  # noqa: BLE001 - formatting must never fail
            where = ""
        return short(text + where)

    def _guarded(self, thunk: Callable[[], Any]) -> tuple[Any, str, str]:
        """Run policy code; returns (value, kind, message) with kind "" on success."""
        try:
            with self.guard():
                return thunk(), "", ""
        except PolicyTimeout:
            return None, "timeout", "the policy ran past its time limit"
        except _InvalidAction as error:
            return None, "invalid_action", str(error)
        except MemoryError as error:
            return None, "memory", self._describe(error)
        except SandboxViolation as error:
            return None, "forbidden", self._describe(error)
        except PermissionError as error:
            return None, "forbidden", "blocked by the operating system: " + self._describe(error)
        except ValueError as error:
            if "read-only" in str(error) or "WRITEABLE" in str(error):
                return None, "forbidden", "the snapshot is read-only: " + self._describe(error)
            return None, "crash", self._describe(error)
        except (KeyboardInterrupt, SystemExit) as error:
            if self.guard is nullcontext:
                raise
            return None, "crash", self._describe(error)
        except BaseException as error:  # noqa: BLE001 - any failure of the policy is reported, never raised
            return None, "crash", self._describe(error)

    def _coerce(self, value: Any) -> int:
        kind = type(value)
        if kind is bool or not issubclass(kind, (int, np.integer)):
            raise _InvalidAction(f"the policy returned {kind.__name__}; it must return an int in 0..{self.n_actions - 1}")
        action = int(value)
        if type(action) is not int:
            raise _InvalidAction("the policy's return value does not convert to a plain int")
        return action

    def decide(self, state: Snapshot, agent_id: Any) -> tuple[int | None, str, str]:
        """(action, "", "") or (None, kind, message). An attempt reported during the call makes
        it ``forbidden`` even when the policy caught the exception."""
        if self.load_error is not None:
            return (None, *self.load_error)
        self.reported.clear()  # in place: the reporter holds this list
        self.unreported[0] = 0
        action, kind, message = self._guarded(lambda: self._coerce(self.policy(state, agent_id)))
        if self.reported:
            counts: dict[str, int] = {}
            for text in self.reported:
                counts[text] = counts.get(text, 0) + 1
            attempts = "; ".join(text if count == 1 else f"{text} (x{count})" for text, count in counts.items())
            more = f" and {self.unreported[0]} more attempts" if self.unreported[0] else ""
            return None, "forbidden", short(attempts + more + (f" ({message})" if message else ""))
        if kind:
            return None, kind, message
        if not 0 <= action < self.n_actions:
            return None, "invalid_action", f"the policy returned {action}; actions are 0..{self.n_actions - 1}"
        return action, "", ""
