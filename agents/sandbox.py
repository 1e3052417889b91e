"""Run LLM-written Python policies safely: static checks, then a locked-down worker process.

Why. In LLM policy synthesis (Galle, "Cooperation and Exploitation in LLM Policy Synthesis for
Sequential Social Dilemmas", 2026; code vicgalle/llm-policies-social-dilemmas) a model writes
``policy(state, agent_id) -> int`` and every agent runs it. The published code hands the policy
the LIVE mutable environment, and five attacks written as policies (Cleanup, 10 agents, agent 0
against 9 honest BFS agents, baseline reward 17) multiply the attacker's reward: teleport to
apples 2x, disable rivals' timeouts 6x, purge waste 45x, spawn all apples 59x, combined 59x
(numbers from the paper, via /work/shared/specs/gridworlds.md). Here a policy only ever sees a
read-only *copy* of what the world chose to show, in another process, so such attacks have
nothing to act on.

API::

    policy = compile_policy(llm_text)            # CompiledPolicy, or RejectedPolicy(.message for the LLM)
    state = make_snapshot({"grid": grid}, {"position": (3, 4), "orientation": 1})
    with PolicySandbox(policy, n_actions=9, fallback_action=7) as sandbox:
        results = sandbox.call(state, [0, 1, 2])   # one round-trip per env step, all agents at once
    [r.action for r in results]; sandbox.failures   # Counter by kind; sandbox.reports: FailureReport list

    run_unsandboxed(policy, state, [0, 1, 2], n_actions=9, fallback_action=7)  # same answers, in process

The policy's view. ``state`` is a :class:`Snapshot`: a read-only mapping (``state["grid"]`` or
``state.grid``) of numpy arrays that cannot be made writeable and of plain values (numbers,
strings, tuples, read-only dicts), plus ``state.helpers`` (also the global ``helpers``): the
functions of :mod:`dilemmazoo.agents.policy_helpers` (BFS to the nearest cell of a kind,
direction-to-action for egocentric moves). The policy may ``import`` only ``math``, ``numpy``
(file and ctypes parts removed, ``numpy.random`` seeded), ``collections``, ``heapq``,
``itertools``, ``functools``, ``operator``, ``bisect``, ``statistics``, ``typing``, ``random``
(a seeded ``random.Random``) and ``policy_helpers``; every imported module is a read-only
view. Module-level variables persist between calls within one worker (a restart clears them).

Results. ``call`` returns one :class:`PolicyResult` per agent id: ``action`` (the policy's
answer, or ``fallback_action``), ``ok``, ``error`` and ``message``. Failure kinds
(:data:`FAILURE_KINDS`):

- ``timeout``: the call ran past ``call_timeout_s`` (or the worker's CPU limit);
- ``memory``: ``MemoryError`` (the worker's address space is capped at ``memory_mb``);
- ``crash``: any other exception, or the worker died;
- ``invalid_action``: not an ``int`` (``bool`` and floats are refused) in ``0..n_actions-1``;
- ``forbidden``: the policy tried something the sandbox blocks (an import outside the list,
  writing to the snapshot or a helper, a blocked system call or audit event). An attempt
  stopped by a module view or the audit hook is reported even when the policy catches the
  exception and returns an action (its action is then replaced by the fallback);
- ``rejected``: the code failed :func:`compile_policy` (every call then uses the fallback).

Every failure is counted in ``sandbox.failures`` and listed in ``sandbox.reports`` with its
reason; the experiment never crashes because of a policy.

Layers (each holds when those before it are bypassed):

1. static AST filter (:func:`compile_policy`): no dunder or private attribute access, no
   dunder names, no strings holding ``__`` (format-string attribute walks), no banned builtins
   (``open``, ``eval``, ``exec``, ``compile``, ``getattr``, ``globals``...), no frame or file
   attributes (``gi_frame``, ``f_globals``, ``tofile``...), imports from the list only. A
   first filter: code built with ``chr()`` at run time gets past any such filter.
2. restricted namespace: curated builtins, an import function that hands out read-only
   module views, read-only snapshot and helpers.
3. a separate worker process (``python -I -S``, empty environment, cwd an empty temp dir,
   its own session, killed with its parent) that talks to the host over pipes: pickle from
   host to worker, length-checked JSON back, so a compromised worker cannot run code in the
   host; the host enforces a hard deadline per round-trip and kills and restarts the worker.
4. a Python audit hook (PEP 578) in the worker that blocks ``open``, ``os.*``, ``socket.*``,
   ``subprocess.*``, ``ctypes.*``, ``exec``/``compile``, ``gc``/``sys`` introspection and frame
   access from tracebacks and generators while policy code runs.
5. the kernel: resource limits (``RLIMIT_AS`` memory, ``RLIMIT_CPU``, ``RLIMIT_FSIZE = 0``,
   ``RLIMIT_CORE = 0``, ``RLIMIT_NOFILE``, ``RLIMIT_NPROC = 0``), root dropped to ``nobody``,
   and a seccomp filter (Linux x86-64) that fails with ``EPERM`` every system call that
   opens, creates, deletes or renames files, makes sockets, starts processes or threads,
   signals or traces other processes, or changes limits and identities. Native code reached
   through numpy or ctypes cannot get around this layer. ``sandbox.isolation`` says which
   layers the worker achieved (seccomp is absent off Linux x86-64).

Not covered: CPU time and memory of the host spent on pickling the snapshot; side channels
(timing); a kernel exploit. The in-process :func:`run_unsandboxed` has layers 1-2 only and is
for trusted code (tests, the benchmark).

Version history: v1 (issue 8, part 1).
"""

from __future__ import annotations

import ast
import errno
import json
import os
import pickle
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

if __name__ == "__main__" and sys.argv[1:2] == ["--sandbox-worker"]:
    # The worker runs under `python -I -S` (no site-packages): the host tells it where numpy lives.
    sys.path[:0] = sys.argv[2:3]

import numpy as np  # noqa: E402

__all__ = [
    "ALLOWED_MODULES",
    "FAILURE_KINDS",
    "CompiledPolicy",
    "FailureReport",
    "InProcessPolicy",
    "PolicyResult",
    "PolicySandbox",
    "PolicyTimeout",
    "RejectedPolicy",
    "SandboxLimits",
    "SandboxViolation",
    "Snapshot",
    "compile_policy",
    "extract_code",
    "make_snapshot",
    "run_unsandboxed",
]

FAILURE_KINDS = ("timeout", "crash", "invalid_action", "memory", "rejected", "forbidden")
POLICY_FILENAME = "<policy>"  # the file name in tracebacks (with a short hash of the code)
HELPERS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "policy_helpers.py")

# Modules a policy may import (top-level name -> submodules it may name).
ALLOWED_MODULES = {
    "math": (),
    "numpy": ("linalg", "random"),
    "collections": (),
    "heapq": (),
    "itertools": (),
    "functools": (),
    "operator": (),
    "bisect": (),
    "statistics": (),
    "typing": (),
    "random": (),
    "policy_helpers": (),
}
_SAFE_BUILTIN_NAMES = (
    "abs all any ascii bin bool bytes callable chr classmethod complex dict divmod enumerate filter float "
    "format frozenset hash hex int isinstance issubclass iter len list map max min next oct ord pow property "
    "range repr reversed round set slice sorted staticmethod str sum tuple zip "
    "ArithmeticError AssertionError AttributeError Exception IndexError KeyError LookupError NotImplementedError "
    "OverflowError RuntimeError StopIteration TypeError ValueError ZeroDivisionError"
).split()
_BANNED_NAMES = frozenset(
    "open eval exec compile getattr setattr delattr hasattr globals locals vars dir input breakpoint help "
    "memoryview exit quit object type super __import__ __builtins__ __loader__ __spec__".split()
)
# Attributes that reach frames, code, files or native code (checked by the AST filter; the
# numpy view also hides the module-level ones at run time).
_BANNED_ATTRIBUTES = frozenset(
    "gi_frame gi_code gi_yieldfrom cr_frame cr_code ag_frame ag_code tb_frame tb_next f_back f_globals f_locals "
    "f_builtins f_code co_code mro format_map "
    "tofile dump dumps load loads save savez savez_compressed loadtxt savetxt genfromtxt fromfile fromregex "
    "memmap DataSource ctypes ctypeslib lib core testing f2py distutils compat os sys "
    "set_printoptions seterr seterrcall setbufsize show_config".split()
)
_NUMPY_HIDDEN = frozenset(
    "load save savez savez_compressed loadtxt savetxt genfromtxt fromfile fromregex memmap DataSource lib "
    "ctypeslib testing f2py distutils core compat set_printoptions seterr seterrcall setbufsize show_config "
    "show_runtime get_include info lookfor who source".split()
)
_RANDOM_METHODS = ("random", "uniform", "randint", "randrange", "choice", "choices", "shuffle", "sample", "gauss")
_NUMPY_RANDOM_METHODS = (
    "rand randn randint random random_sample choice shuffle permutation uniform normal integers "
    "binomial poisson exponential beta gamma".split()
)
MAX_SOURCE_CHARS = 100_000
_MESSAGE_CHARS = 500


class SandboxViolation(Exception):
    """A policy tried something the sandbox forbids (import, write, system call...)."""


class PolicyTimeout(BaseException):
    """Raised inside a policy call that ran past its time limit (a BaseException, like KeyboardInterrupt)."""


@dataclass(frozen=True)
class PolicyResult:
    """The decision for one agent: the policy's action, or the fallback with the reason."""

    agent_id: Any
    action: int
    ok: bool
    error: str = ""  # one of FAILURE_KINDS when not ok
    message: str = ""


@dataclass(frozen=True)
class FailureReport:
    """One failed policy call, as recorded in ``PolicySandbox.reports``."""

    call_index: int
    agent_id: Any
    kind: str
    message: str


@dataclass(frozen=True)
class CompiledPolicy:
    """Policy code that passed the static checks (the code itself is compiled in each runtime)."""

    code: str
    name: str = "policy"
    static_checks: bool = True


@dataclass(frozen=True)
class RejectedPolicy:
    """Policy text that failed :func:`compile_policy`; ``message`` is written to be sent back to the LLM."""

    reason: str
    line: int | None
    code: str
    name: str = "policy"

    @property
    def message(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"Your policy was rejected{where}: {self.reason}"


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one worker process.

    ``call_timeout_s`` is per agent decision: the worker interrupts a call after it, and the
    host kills the worker when a round-trip of ``k`` agents takes longer than
    ``k * call_timeout_s + grace_s``. ``cpu_s`` is the worker's whole CPU budget (RLIMIT_CPU;
    the worker is restarted after it). ``memory_mb`` caps its address space (numpy alone
    takes about 150 MB). ``seccomp`` and ``audit_hook`` switch those layers (tests switch
    them off one at a time to show the others hold).
    """

    call_timeout_s: float = 1.0
    grace_s: float = 1.0
    startup_timeout_s: float = 20.0
    memory_mb: int = 1024
    cpu_s: int = 600
    max_open_files: int = 16
    max_response_bytes: int = 1 << 20
    max_restarts: int = 50
    seccomp: bool = True
    audit_hook: bool = True
    drop_root: bool = True

    def __post_init__(self) -> None:
        for name in ("call_timeout_s", "grace_s", "startup_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("memory_mb", "cpu_s", "max_open_files", "max_response_bytes"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if not (isinstance(self.max_restarts, int) and self.max_restarts >= 0):
            raise ValueError(f"max_restarts must be an int >= 0, got {self.max_restarts!r}")


# ---------------------------------------------------------------------------------------------
# Compile step: extraction and static checks
# ---------------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str:
    """The Python code in an LLM answer: the first fenced block that defines ``policy``, else the
    first ``python`` block, else the first block, else the whole text."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    for _, body in blocks:
        if re.search(r"^\s*def\s+policy\s*\(", body, re.MULTILINE):
            return body.strip("\n")
    for lang, body in blocks:
        if lang in ("python", "py", "python3"):
            return body.strip("\n")
    if blocks:
        return blocks[0][1].strip("\n")
    return text.strip("\n")


class _StaticChecker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problem: tuple[str, int | None] | None = None

    def fail(self, node: ast.AST, reason: str) -> None:
        if self.problem is None:
            self.problem = (reason, getattr(node, "lineno", None))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.fail(node, "relative imports are not allowed")
        else:
            self._check_module(node, node.module or "")
            for alias in node.names:
                if alias.name == "*":
                    self.fail(node, "'from ... import *' is not allowed; import the names you use")
                elif alias.name.startswith("_") or alias.name in _BANNED_ATTRIBUTES:
                    self.fail(node, f"importing {alias.name!r} is not allowed")
        self.generic_visit(node)

    def _check_module(self, node: ast.AST, name: str) -> None:
        top, _, rest = name.partition(".")
        if top not in ALLOWED_MODULES or (rest and rest not in ALLOWED_MODULES[top]):
            allowed = ", ".join(sorted(ALLOWED_MODULES))
            self.fail(node, f"import of {name!r} is not allowed; allowed modules: {allowed}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            self.fail(node, f"access to the private attribute {node.attr!r} is not allowed")
        elif node.attr in _BANNED_ATTRIBUTES:
            self.fail(node, f"the attribute {node.attr!r} is not allowed")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in _BANNED_NAMES or (node.id.startswith("__") and node.id.endswith("__")):
            self.fail(node, f"the name {node.id!r} is not allowed")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, (str, bytes)) and ("__" in str(node.value)):
            self.fail(node, "strings containing '__' are not allowed")

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name.startswith("__"):
                self.fail(node, f"the name {name!r} is not allowed")

    def _check_args(self, node: ast.AST, args: ast.arguments) -> None:
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None and arg.arg in _BANNED_NAMES:
                self.fail(node, f"the name {arg.arg!r} is not allowed")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name.startswith("__") and node.name.endswith("__"):
            self.fail(node, f"defining the special method {node.name!r} is not allowed")
        self._check_args(node, node.args)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._check_args(node, node.args)
        self.generic_visit(node)


def _find_policy_def(tree: ast.Module) -> str | None:
    """``None`` when ``policy(state, agent_id)`` is defined at top level, else what is wrong."""
    definitions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "policy"]
    if not definitions:
        return "the code must define a top-level function `def policy(state, agent_id):` returning an int"
    args = definitions[-1].args
    positional = len(args.posonlyargs) + len(args.args)
    if positional < 2 and args.vararg is None:
        return f"`policy` must accept two arguments (state, agent_id); it takes {positional}"
    return None


def compile_policy(text: str, *, name: str = "policy", static_checks: bool = True) -> CompiledPolicy | RejectedPolicy:
    """Extract the code from an LLM answer and check it; never raises for bad code.

    Returns a :class:`RejectedPolicy` whose ``message`` tells the model what to fix (syntax
    error with its line, a forbidden import or attribute, a missing ``policy``).
    ``static_checks=False`` keeps only extraction, syntax and the ``policy`` check: for testing
    that the deeper layers hold on their own.
    """
    if not isinstance(text, str):
        raise TypeError(f"policy text must be a str, got {type(text).__name__}")
    code = extract_code(text)
    if len(code) > MAX_SOURCE_CHARS:
        return RejectedPolicy(f"the code is {len(code)} characters long; the limit is {MAX_SOURCE_CHARS}", None, code, name)
    try:
        tree = ast.parse(code, filename=POLICY_FILENAME)
    except SyntaxError as error:
        return RejectedPolicy(f"syntax error: {error.msg}", error.lineno, code, name)
    except (ValueError, RecursionError, MemoryError) as error:
        return RejectedPolicy(f"the code cannot be parsed: {error}", None, code, name)
    if static_checks:
        checker = _StaticChecker()
        try:
            checker.visit(tree)
        except RecursionError:
            return RejectedPolicy("the code is nested too deeply", None, code, name)
        if checker.problem is not None:
            return RejectedPolicy(checker.problem[0], checker.problem[1], code, name)
    missing = _find_policy_def(tree)
    if missing is not None:
        return RejectedPolicy(missing, None, code, name)
    return CompiledPolicy(code=code, name=name, static_checks=static_checks)


# ---------------------------------------------------------------------------------------------
# Snapshots: what the policy sees
# ---------------------------------------------------------------------------------------------


class Snapshot(Mapping):
    """A read-only mapping of numpy arrays and plain values; ``state.key`` works like ``state["key"]``.

    Arrays are views over immutable bytes, so ``setflags(write=True)`` fails too.
    ``state.helpers`` is the policy-helper module (``None`` outside a policy runtime).
    """

    __slots__ = ("_items", "_helpers")

    def __init__(self, items: Mapping[str, Any], helpers: Any = None):
        object.__setattr__(self, "_items", dict(items))
        object.__setattr__(self, "_helpers", helpers)

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

    def __setattr__(self, name: str, value: Any) -> None:
        raise SandboxViolation(f"the snapshot is read-only (tried to set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise SandboxViolation(f"the snapshot is read-only (tried to delete {name!r})")

    def __setitem__(self, key: str, value: Any) -> None:
        raise SandboxViolation(f"the snapshot is read-only (tried to set [{key!r}])")

    def __delitem__(self, key: str) -> None:
        raise SandboxViolation(f"the snapshot is read-only (tried to delete [{key!r}])")

    def __repr__(self) -> str:
        return f"Snapshot({sorted(self._items)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt read-only on unpickling (plain array pickles would come back writeable)
        return _snapshot_from_wire, (_snapshot_to_wire(self), None)

    def with_helpers(self, helpers: Any) -> Snapshot:
        """The same entries with another helpers object (each runtime injects its own copy)."""
        return Snapshot(self._items, helpers)


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


def _snapshot_to_wire(snapshot: Snapshot) -> dict[str, Any]:
    arrays, values = {}, {}
    for key, item in snapshot.items():
        if isinstance(item, np.ndarray):
            arrays[key] = (item.dtype.str, item.shape, item.tobytes())
        else:
            values[key] = _thaw_value(item)
    return {"arrays": arrays, "values": values}


def _snapshot_from_wire(wire: Mapping[str, Any], helpers: Any) -> Snapshot:
    items: dict[str, Any] = {}
    for key, (dtype, shape, data) in wire["arrays"].items():
        items[key] = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
    for key, value in wire["values"].items():
        items[key] = _freeze_value(value, key)
    return Snapshot(items, helpers)


# ---------------------------------------------------------------------------------------------
# The policy runtime: namespace, module views, one decision (shared by worker and in-process)
# ---------------------------------------------------------------------------------------------


class _ModuleView:
    """A read-only view of a module (or namespace); hidden names and private names are refused."""

    __slots__ = ("_target", "_name", "_hidden", "_overrides", "_violations")

    def __init__(self, target: Any, name: str, violations: list[str], hidden=frozenset(), overrides=None):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_hidden", hidden)
        object.__setattr__(self, "_overrides", dict(overrides or {}))
        object.__setattr__(self, "_violations", violations)

    def __getattr__(self, attr: str) -> Any:
        if attr in self._overrides:
            return self._overrides[attr]
        if attr.startswith("_") or attr in self._hidden:
            self._violations.append(f"access to {self._name}.{attr}")
            raise SandboxViolation(f"{self._name}.{attr} is not available in the sandbox")
        return getattr(self._target, attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        self._violations.append(f"assignment to {self._name}.{attr}")
        raise SandboxViolation(f"the module {self._name} is read-only (tried to set {attr!r})")

    def __delattr__(self, attr: str) -> None:
        self._violations.append(f"deletion of {self._name}.{attr}")
        raise SandboxViolation(f"the module {self._name} is read-only (tried to delete {attr!r})")

    def __dir__(self) -> list[str]:
        names = set(self._overrides) | {n for n in dir(self._target) if not n.startswith("_")}
        return sorted(names - self._hidden)

    def __repr__(self) -> str:
        return f"<read-only module {self._name}>"


def load_helpers_copy() -> types.ModuleType:
    """A fresh, private copy of :mod:`policy_helpers` (loaded from its file, not from sys.modules)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("policy_helpers", HELPERS_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build_views(helpers_module: Any, seed: int, violations: list[str]) -> dict[str, Any]:
    import bisect
    import collections
    import functools
    import heapq
    import itertools
    import math
    import operator
    import random
    import statistics
    import typing

    python_random = random.Random(seed)
    random_view = _ModuleView(
        python_random, "random", violations, overrides={m: getattr(python_random, m) for m in _RANDOM_METHODS}
    )
    legacy = np.random.RandomState(seed)
    numpy_random_overrides = {m: getattr(legacy, m) for m in _NUMPY_RANDOM_METHODS if hasattr(legacy, m)}
    numpy_random_overrides["default_rng"] = lambda seed=None: np.random.default_rng(seed)
    numpy_random_overrides["Generator"] = np.random.Generator
    numpy_random_view = _ModuleView(
        legacy, "numpy.random", violations, overrides=numpy_random_overrides,
    )
    linalg_view = _ModuleView(np.linalg, "numpy.linalg", violations)
    numpy_view = _ModuleView(
        np, "numpy", violations, hidden=_NUMPY_HIDDEN, overrides={"random": numpy_random_view, "linalg": linalg_view}
    )
    views = {
        name: _ModuleView(module, name, violations)
        for name, module in [
            ("math", math), ("collections", collections), ("heapq", heapq), ("itertools", itertools),
            ("functools", functools), ("operator", operator), ("bisect", bisect), ("statistics", statistics),
            ("typing", typing),
        ]
    }
    views.update({
        "numpy": numpy_view, "numpy.random": numpy_random_view, "numpy.linalg": linalg_view, "random": random_view,
        "policy_helpers": _ModuleView(helpers_module, "policy_helpers", violations),
    })
    return views


def _build_namespace(helpers_view: Any, views: dict[str, Any], violations: list[str]) -> dict[str, Any]:
    import builtins

    def restricted_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level or name not in views:
            violations.append(f"import of {name!r}")
            raise SandboxViolation(f"import of {name!r} is not allowed; allowed modules: {', '.join(sorted(ALLOWED_MODULES))}")
        return views[name] if fromlist else views[name.partition(".")[0]]

    def quiet_print(*args, **kwargs):  # output would corrupt nothing, but is never read
        return None

    safe = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    safe.update({
        "__import__": restricted_import, "__build_class__": builtins.__build_class__, "print": quiet_print,
        "True": True, "False": False, "None": None,
    })
    return {"__builtins__": safe, "__name__": "policy", "helpers": helpers_view}


def _short(text: str) -> str:
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 3] + "..."


@contextmanager
def _no_guard() -> Iterator[None]:
    yield


class _PolicyRuntime:
    """Loads policy code into a restricted namespace and makes guarded decisions.

    ``guard`` is a context-manager factory wrapped around every piece of policy code (the
    worker's arms a timer and the audit hook; in process it does nothing).
    ``violations`` is the log that module views and the audit hook append to.
    """

    def __init__(self, code: str, *, seed: int, n_actions: int, helpers_module: Any, guard=_no_guard,
                 violations: list[str] | None = None, on_exec=None):
        self.n_actions = n_actions
        self.guard = guard
        self.violations = violations if violations is not None else []
        views = _build_views(helpers_module, seed, self.violations)
        self.helpers = views["policy_helpers"]
        self.namespace = _build_namespace(self.helpers, views, self.violations)
        self.code = code
        self.load_error: tuple[str, str] | None = None
        self.policy = None
        import hashlib

        self.filename = f"{POLICY_FILENAME[:-1]}-{hashlib.sha1(code.encode()).hexdigest()[:8]}>"
        try:
            compiled = compile(code, self.filename, "exec")
        except SyntaxError as error:
            self.load_error = ("rejected", f"syntax error: {error.msg} (line {error.lineno})")
            return
        import linecache

        linecache.cache[self.filename] = (len(code), None, code.splitlines(True), self.filename)
        before = len(self.violations)
        kind, message = self._guarded(lambda: (on_exec() if on_exec else None, exec(compiled, self.namespace)))[1:]
        if kind:
            self.load_error = (kind, f"while loading the policy: {message}")
        elif len(self.violations) > before:
            self.load_error = ("forbidden", f"while loading the policy: {'; '.join(self.violations[before:])}")
        elif not callable(self.namespace.get("policy")):
            self.load_error = ("crash", "the code does not define a function `policy(state, agent_id)`")
        else:
            self.policy = self.namespace["policy"]

    def _describe(self, error: BaseException) -> str:
        import traceback

        where = ""
        try:
            frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == self.filename]
            if frames:
                where = f" (policy line {frames[-1].lineno}: {frames[-1].line})"
        except BaseException:  # noqa: BLE001 - formatting must never fail
            pass
        text = "<unprintable>"
        try:
            with self.guard():
                text = f"{type(error).__name__}: {error}"
        except BaseException:  # noqa: BLE001
            text = type(error).__name__
        return _short(text + where)

    def _guarded(self, thunk) -> tuple[Any, str, str]:
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
            if self.guard is _no_guard:
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
        """(action, "", "") or (None, kind, message)."""
        if self.load_error is not None:
            return None, *self.load_error
        self.violations.clear()  # in place: the views and the audit hook hold this list
        action, kind, message = self._guarded(lambda: self._coerce(self.policy(state, agent_id)))
        if self.violations:
            return None, "forbidden", _short("; ".join(self.violations) + (f" ({message})" if message else ""))
        if kind:
            return None, kind, message
        if not 0 <= action < self.n_actions:
            return None, "invalid_action", f"the policy returned {action}; actions are 0..{self.n_actions - 1}"
        return action, "", ""


class _InvalidAction(Exception):
    pass


def _check_action_arguments(n_actions: int, fallback_action: int) -> None:
    if not (isinstance(n_actions, (int, np.integer)) and not isinstance(n_actions, bool) and n_actions >= 1):
        raise ValueError(f"n_actions must be an int >= 1, got {n_actions!r}")
    if isinstance(fallback_action, bool) or not (
        isinstance(fallback_action, (int, np.integer)) and 0 <= fallback_action < n_actions
    ):
        raise ValueError(f"fallback_action must be an int in 0..{n_actions - 1}, got {fallback_action!r}")


def _results(agent_ids: list[Any], decisions: list[tuple[int | None, str, str]], fallback_action: int) -> list[PolicyResult]:
    return [
        PolicyResult(agent_id, int(fallback_action), False, kind, message) if kind
        else PolicyResult(agent_id, action, True)
        for agent_id, (action, kind, message) in zip(agent_ids, decisions)
    ]


class _Accounting:
    """Failure counting shared by the sandbox and the in-process runner."""

    def __init__(self) -> None:
        self.failures: Counter[str] = Counter()
        self.reports: list[FailureReport] = []
        self.calls = 0

    def _record(self, results: list[PolicyResult]) -> list[PolicyResult]:
        for result in results:
            if not result.ok:
                self.failures[result.error] += 1
                self.reports.append(FailureReport(self.calls, result.agent_id, result.error, result.message))
        self.calls += 1
        return results


class InProcessPolicy(_Accounting):
    """A policy run in THIS process with layers 1-2 only (no timeouts, no isolation).

    For trusted code: comparing with the sandbox, benchmarks. Uses a private copy of the
    helpers and seeded ``random``/``numpy.random`` views, exactly as the worker does, so an
    honest policy answers the same in and out of the sandbox.
    """

    def __init__(self, policy: CompiledPolicy | RejectedPolicy | str, *, n_actions: int, fallback_action: int,
                 seed: int = 0):
        super().__init__()
        _check_action_arguments(n_actions, fallback_action)
        self.policy = compile_policy(policy) if isinstance(policy, str) else policy
        self.n_actions, self.fallback_action = int(n_actions), int(fallback_action)
        self.runtime = None
        if isinstance(self.policy, CompiledPolicy):
            self.runtime = _PolicyRuntime(self.policy.code, seed=seed, n_actions=self.n_actions,
                                          helpers_module=load_helpers_copy())

    def call(self, snapshot: Snapshot, agent_ids: Iterable[Any]) -> list[PolicyResult]:
        ids = _check_call(snapshot, agent_ids)
        if self.runtime is None:
            decisions = [(None, "rejected", self.policy.message)] * len(ids)
        else:
            state = snapshot.with_helpers(self.runtime.helpers)
            decisions = [self.runtime.decide(state, agent_id) for agent_id in ids]
        return self._record(_results(ids, decisions, self.fallback_action))


def run_unsandboxed(policy: CompiledPolicy | RejectedPolicy | str, snapshot: Snapshot, agent_ids: Iterable[Any], *,
                    n_actions: int, fallback_action: int, seed: int = 0) -> list[PolicyResult]:
    """One batch of decisions in this process (see :class:`InProcessPolicy`; trusted code only)."""
    return InProcessPolicy(policy, n_actions=n_actions, fallback_action=fallback_action, seed=seed).call(snapshot, agent_ids)


def _check_call(snapshot: Any, agent_ids: Iterable[Any]) -> list[Any]:
    if not isinstance(snapshot, Snapshot):
        raise TypeError(f"snapshot must be a Snapshot from make_snapshot(), got {type(snapshot).__name__}")
    ids = [int(a) if isinstance(a, np.integer) else a for a in agent_ids]
    for agent_id in ids:
        if isinstance(agent_id, bool) or not isinstance(agent_id, (int, str)):
            raise ValueError(f"agent ids must be int or str, got {agent_id!r}")
    return ids


# ---------------------------------------------------------------------------------------------
# Framing (both sides): 4-byte big-endian length, then the payload
# ---------------------------------------------------------------------------------------------


def _frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def _read_exactly(fd: int, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ---------------------------------------------------------------------------------------------
# Worker side (runs as `python -I -S sandbox.py --sandbox-worker`; imports no dilemmazoo module)
# ---------------------------------------------------------------------------------------------

# x86-64 system calls that fail with EPERM under the filter.
_X86_64_DENIED_SYSCALLS = {
    "open": 2, "stat": 4, "lstat": 6, "ioctl": 16, "access": 21, "socket": 41, "connect": 42, "accept": 43,
    "sendto": 44, "sendmsg": 46, "bind": 49, "listen": 50, "socketpair": 53, "clone": 56, "fork": 57, "vfork": 58,
    "execve": 59, "kill": 62, "truncate": 76, "ftruncate": 77, "rename": 82, "mkdir": 83, "rmdir": 84,
    "creat": 85, "link": 86, "unlink": 87, "symlink": 88, "readlink": 89, "chmod": 90, "fchmod": 91,
    "chown": 92, "fchown": 93, "lchown": 94, "ptrace": 101, "setuid": 105, "setgid": 106, "setreuid": 113,
    "setregid": 114, "setgroups": 116, "setresuid": 117, "setresgid": 119, "setfsuid": 122, "setfsgid": 123,
    "capset": 126, "rt_sigqueueinfo": 129, "utime": 132, "mknod": 133, "personality": 135, "pivot_root": 155,
    "prctl": 157, "setrlimit": 160, "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166,
    "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172,
    "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179, "tkill": 200, "utimes": 235,
    "tgkill": 234, "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250, "openat": 257,
    "mkdirat": 258, "mknodat": 259, "fchownat": 260, "futimesat": 261, "newfstatat": 262, "unlinkat": 263,
    "renameat": 264, "linkat": 265, "symlinkat": 266, "readlinkat": 267, "fchmodat": 268, "faccessat": 269,
    "unshare": 272, "utimensat": 280, "accept4": 288, "rt_tgsigqueueinfo": 297, "perf_event_open": 298,
    "fanotify_init": 300, "prlimit64": 302, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "renameat2": 316,
    "memfd_create": 319, "kexec_file_load": 320, "bpf": 321, "execveat": 322, "userfaultfd": 323,
    "statx": 332, "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435, "openat2": 437, "pidfd_getfd": 438,
    "faccessat2": 439, "mount_setattr": 442, "fchmodat2": 452,
}


def _install_seccomp() -> str:
    """Install the deny-list filter for this process (all threads); returns "" or why not."""
    import ctypes
    import platform

    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"no seccomp filter for {sys.platform}/{platform.machine()}"
    load_word, jump_eq, jump_ge, ret = 0x20, 0x15, 0x35, 0x06
    audit_arch_x86_64, x32_bit = 0xC000003E, 0x40000000
    allow, kill, deny = 0x7FFF0000, 0x80000000, 0x00050000 | errno.EPERM

    def ins(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    program = [
        ins(load_word, 0, 0, 4), ins(jump_eq, 1, 0, audit_arch_x86_64), ins(ret, 0, 0, kill),
        ins(load_word, 0, 0, 0), ins(jump_ge, 0, 1, x32_bit), ins(ret, 0, 0, deny),
    ]
    for number in sorted(_X86_64_DENIED_SYSCALLS.values()):
        program += [ins(jump_eq, 0, 1, number), ins(ret, 0, 0, deny)]
    program.append(ins(ret, 0, 0, allow))
    code = b"".join(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, seccomp_syscall, set_mode_filter, flag_tsync = 38, 317, 1, 1
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        return f"prctl(NO_NEW_PRIVS) failed: errno {ctypes.get_errno()}"
    fprog = SockFprog(len(program), code)
    if libc.syscall(seccomp_syscall, set_mode_filter, flag_tsync, ctypes.byref(fprog)) != 0:
        return f"seccomp() failed: errno {ctypes.get_errno()}"
    return ""


_BLOCKED_EVENTS = frozenset([
    "open", "exec", "compile", "import", "object.__getattr__", "object.__setattr__", "object.__delattr__",
    "function.__new__", "code.__new__", "pickle.find_class", "builtins.input", "builtins.breakpoint",
    "marshal.load", "marshal.loads", "marshal.dumps", "setopencode",
])
_BLOCKED_EVENT_PREFIXES = (
    "os.", "sys.", "ctypes.", "socket.", "subprocess.", "shutil.", "gc.", "mmap.", "cpython.", "urllib.",
    "signal.", "resource.", "fcntl.", "tempfile.", "glob.", "sqlite3.", "webbrowser.", "syslog.", "pty.",
    "ftplib.", "smtplib.", "poplib.", "imaplib.", "nntplib.", "telnetlib.", "http.", "_posixsubprocess.",
)


def _apply_rlimits(limits: Mapping[str, Any]) -> dict[str, Any]:
    import resource

    applied = {}
    wanted = {
        "RLIMIT_AS": limits["memory_mb"] * 1024 * 1024,
        "RLIMIT_CPU": limits["cpu_s"],
        "RLIMIT_FSIZE": 0,
        "RLIMIT_CORE": 0,
        "RLIMIT_NOFILE": limits["max_open_files"],
        "RLIMIT_NPROC": 0,
    }
    for name, value in wanted.items():
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
            applied[name] = value
        except (ValueError, OSError, AttributeError) as error:
            applied[name] = f"failed: {error}"
    return applied


def _worker_main() -> None:  # pragma: no cover - runs in the child; covered through PolicySandbox
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)

    def send(message: dict[str, Any]) -> None:
        _write_all(out_fd, _frame(json.dumps(message).encode()))

    init = pickle.loads(_read_exactly(in_fd, struct.unpack(">I", _read_exactly(in_fd, 4))[0]))
    try:
        _serve(init, in_fd, send, devnull)
    except BaseException as error:  # noqa: BLE001 - tell the host why, then die
        if isinstance(error, SystemExit):
            raise
        import traceback

        lines = traceback.format_exception(error)
        send({"fatal": "".join(lines)[-2000:]})
        os._exit(1)


def _serve(init: dict[str, Any], in_fd: int, send, devnull: int) -> None:  # pragma: no cover - child
    import importlib.util

    # Everything the worker or a policy will use is imported now: after the seccomp filter no
    # file can be opened. (ctypes is needed to install the filter; policies cannot import it.)
    submodules = [f"{top}.{sub}" for top, subs in ALLOWED_MODULES.items() for sub in subs]
    for module in ("ctypes", "platform", "hashlib", "linecache", "traceback", *ALLOWED_MODULES, *submodules):
        if module != "policy_helpers":
            __import__(module)
    import ctypes

    spec = importlib.util.spec_from_file_location("policy_helpers", init["helpers_path"])
    helpers_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers_module)
    limits = init["limits"]
    isolation: dict[str, Any] = {"pid": os.getpid(), "cwd": os.getcwd()}

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes to files fail with EFBIG instead of killing

    violations: list[str] = []
    control = {"enforce": False, "exec_tokens": 0, "armed": False}

    def audit(event: str, args: tuple) -> None:
        if not control["enforce"]:
            return
        if event == "exec" and control["exec_tokens"] > 0:
            control["exec_tokens"] -= 1
            return
        if event in _BLOCKED_EVENTS or event.startswith(_BLOCKED_EVENT_PREFIXES):
            control["enforce"] = False  # formatting the args must not re-enter
            try:
                detail = ", ".join(repr(a)[:60] for a in args[:2] if isinstance(a, (str, bytes, int)))
            finally:
                control["enforce"] = True
            violations.append(f"blocked {event}({detail})")
            raise SandboxViolation(f"{event} is blocked in the sandbox")

    def on_alarm(signum, frame):
        if control["armed"]:
            control["armed"] = False
            raise PolicyTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    call_timeout = float(limits["call_timeout_s"])

    enforce = bool(limits["audit_hook"])

    class Guard:
        """Arms the per-call timer and the audit hook around policy code. The timer is not
        disarmed on exit (one system call less per decision): when it fires later, ``armed``
        is False and the handler ignores it; the next guard re-arms it from full."""

        __slots__ = ()

        def __enter__(self) -> None:
            control["armed"] = True
            signal.setitimer(signal.ITIMER_REAL, call_timeout)
            control["enforce"] = enforce

        def __exit__(self, *exc_info: Any) -> None:
            control["enforce"] = False
            control["armed"] = False

    the_guard = Guard()

    def guard() -> Guard:
        return the_guard

    isolation["rlimits"] = _apply_rlimits(limits)
    if limits["drop_root"] and os.geteuid() == 0:
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        except OSError as error:
            isolation["drop_root"] = f"failed: {error}"
    isolation["uid"] = os.geteuid()
    try:  # die with the host (after the uid change, which clears this setting)
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != init["host_pid"]:
            os._exit(3)
    except (OSError, AttributeError):  # not Linux: no prctl
        pass
    if limits["audit_hook"]:
        sys.addaudithook(audit)
    isolation["audit_hook"] = bool(limits["audit_hook"])
    why_not = _install_seccomp() if limits["seccomp"] else "switched off"
    isolation["seccomp"] = not why_not
    if why_not:
        isolation["seccomp_missing"] = why_not
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = _NullWriter()

    def allow_exec() -> None:
        control["exec_tokens"] = 1

    runtime = _PolicyRuntime(init["code"], seed=init["seed"], n_actions=init["n_actions"],
                             helpers_module=helpers_module, guard=guard, violations=violations, on_exec=allow_exec)
    send({"ready": True, "load_error": runtime.load_error, "isolation": isolation})
    while True:
        try:
            header = _read_exactly(in_fd, 4)
        except EOFError:
            os._exit(0)
        request = pickle.loads(_read_exactly(in_fd, struct.unpack(">I", header)[0]))
        if request["op"] == "close":
            os._exit(0)
        state = _snapshot_from_wire(request["snapshot"], runtime.helpers)
        decisions = []
        for agent_id in request["agent_ids"]:
            try:
                decisions.append(list(runtime.decide(state, agent_id)))
            except PolicyTimeout:  # an alarm that fired between the policy's return and disarming
                decisions.append([None, "timeout", "the policy ran past its time limit"])
        send({"results": decisions})


class _NullWriter:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


# ---------------------------------------------------------------------------------------------
# Host side
# ---------------------------------------------------------------------------------------------


class _WorkerTimeout(Exception):
    pass


class _WorkerGone(Exception):
    pass


class _ProtocolError(Exception):
    pass


class PolicySandbox(_Accounting):
    """Runs one compiled policy in a locked-down worker process (a context manager).

    Args:
        policy: a :class:`CompiledPolicy`, a :class:`RejectedPolicy` (every call then returns
            the fallback, kind ``rejected``) or raw LLM text (passed to :func:`compile_policy`).
        n_actions: valid actions are ``0..n_actions-1``.
        fallback_action: returned for every failed decision (the world's declared fallback).
        limits: :class:`SandboxLimits` (default: 1 s per decision, 1 GiB, 600 s CPU per worker).
        seed: seeds the policy's ``random`` and ``numpy.random`` views.

    Attributes: ``failures`` (Counter by kind), ``reports`` (list of :class:`FailureReport`),
    ``calls`` (round-trips), ``restarts`` (workers started after the first), ``isolation``
    (what the worker achieved: seccomp, audit hook, rlimits, uid).

    The worker starts on ``__enter__``/:meth:`start` (or the first call) and is reused across
    calls, so module-level state of the policy persists until a timeout or crash restarts it.
    If the policy fails while loading (top-level code raises, loops, or does something
    forbidden), every call returns the fallback with that reason.
    """

    def __init__(self, policy: CompiledPolicy | RejectedPolicy | str, *, n_actions: int, fallback_action: int,
                 limits: SandboxLimits | None = None, seed: int = 0):
        super().__init__()
        _check_action_arguments(n_actions, fallback_action)
        self.policy = compile_policy(policy) if isinstance(policy, str) else policy
        if not isinstance(self.policy, (CompiledPolicy, RejectedPolicy)):
            raise TypeError(f"policy must be CompiledPolicy, RejectedPolicy or str, got {type(self.policy).__name__}")
        self.n_actions, self.fallback_action = int(n_actions), int(fallback_action)
        self.limits = limits if limits is not None else SandboxLimits()
        if not isinstance(self.limits, SandboxLimits):
            raise TypeError(f"limits must be SandboxLimits, got {type(self.limits).__name__}")
        self.seed = int(seed)
        self.restarts = -1
        self.isolation: dict[str, Any] = {}
        self.load_error: tuple[str, str] | None = None
        self._process: subprocess.Popen | None = None
        self._workdir: str | None = None
        self._buffer = b""

    # -- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> PolicySandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    @property
    def alive(self) -> bool:
        """Whether a worker process is running now."""
        return self._process is not None and self._process.poll() is None

    @property
    def worker_pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the worker (no-op for a rejected policy, a failed load, or a live worker)."""
        if isinstance(self.policy, RejectedPolicy) or self.load_error is not None or self.alive:
            return
        if self.restarts >= self.limits.max_restarts:
            self.load_error = ("crash", f"the worker was restarted {self.restarts} times; giving up on this policy")
            return
        self._stop_worker()
        self.restarts += 1
        self._workdir = tempfile.mkdtemp(prefix="dilemmazoo-sandbox-")
        os.chmod(self._workdir, 0o755)
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), "--sandbox-worker",
             os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self._workdir,
            env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LC_ALL": "C.UTF-8"},
            close_fds=True, start_new_session=True,
        )
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            os.set_blocking(stream.fileno(), False)
        self._buffer = b""
        init = {
            "helpers_path": HELPERS_PATH, "code": self.policy.code, "seed": self.seed, "n_actions": self.n_actions,
            "host_pid": os.getpid(),
            "limits": {
                "call_timeout_s": self.limits.call_timeout_s, "memory_mb": self.limits.memory_mb,
                "cpu_s": self.limits.cpu_s, "max_open_files": self.limits.max_open_files,
                "seccomp": self.limits.seccomp, "audit_hook": self.limits.audit_hook,
                "drop_root": self.limits.drop_root,
            },
        }
        deadline = time.monotonic() + self.limits.startup_timeout_s
        try:
            self._send(pickle.dumps(init, protocol=pickle.HIGHEST_PROTOCOL), deadline)
            ready = self._receive(deadline)
            if isinstance(ready, dict) and isinstance(ready.get("fatal"), str):
                raise _ProtocolError(ready["fatal"].strip().splitlines()[-1] if ready["fatal"].strip() else "fatal")
            if not (isinstance(ready, dict) and ready.get("ready") is True and isinstance(ready.get("isolation"), dict)):
                raise _ProtocolError("bad handshake")
        except _WorkerTimeout:
            self.load_error = ("timeout", f"the worker did not start within {self.limits.startup_timeout_s} s")
            self._stop_worker()
            return
        except (_WorkerGone, _ProtocolError) as error:
            detail = str(error) or self._stderr_tail()
            kind, why = self._death_cause()
            self.load_error = (kind, _short(f"the worker failed to start ({why}): {detail}"))
            self._stop_worker()
            return
        self.isolation = ready["isolation"]
        load_error = ready.get("load_error")
        if load_error is not None:
            if not (isinstance(load_error, list) and len(load_error) == 2 and load_error[0] in FAILURE_KINDS
                    and isinstance(load_error[1], str)):
                load_error = ["crash", "malformed load error from the worker"]
            self.load_error = (load_error[0], _short(load_error[1]))
            self._stop_worker()

    def close(self) -> None:
        """Stop the worker and remove its directory (the sandbox can be started again)."""
        process = self._process
        if process is not None and process.poll() is None:
            try:
                self._send(pickle.dumps({"op": "close"}), time.monotonic() + 0.2)
                process.wait(timeout=0.5)
            except (Exception, subprocess.TimeoutExpired):  # noqa: BLE001 - fall through to kill
                pass
        self._stop_worker()

    def _stop_worker(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- I/O ---------------------------------------------------------------------------------

    def _send(self, payload: bytes, deadline: float) -> None:
        fd = self._process.stdin.fileno()
        view = memoryview(_frame(payload))
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _WorkerTimeout
            _, writable, _ = select.select([], [fd], [], remaining)
            if not writable:
                continue
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError):
                raise _WorkerGone from None

    def _receive(self, deadline: float) -> Any:
        fd = self._process.stdout.fileno()
        while True:
            if len(self._buffer) >= 4:
                size = struct.unpack(">I", self._buffer[:4])[0]
                if size > self.limits.max_response_bytes:
                    raise _ProtocolError(f"answer of {size} bytes exceeds max_response_bytes")
                if len(self._buffer) >= 4 + size:
                    payload, self._buffer = self._buffer[4:4 + size], self._buffer[4 + size:]
                    try:
                        return json.loads(payload)
                    except (ValueError, RecursionError) as error:
                        raise _ProtocolError(f"unreadable answer: {error}") from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _WorkerTimeout
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                raise _WorkerGone
            self._buffer += chunk

    def _stderr_tail(self) -> str:
        try:
            data = os.read(self._process.stderr.fileno(), 1 << 16)
        except (BlockingIOError, OSError, AttributeError):
            return ""
        return data.decode(errors="replace").strip().splitlines()[-1] if data.strip() else ""

    def _death_cause(self) -> tuple[str, str]:
        process = self._process
        if process is None:
            return "crash", ""
        try:
            code = process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "crash", "worker stopped answering"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            if -code == signal.SIGXCPU:
                return "timeout", f"worker killed by {name} (CPU limit of {self.limits.cpu_s} s)"
            return "crash", f"worker killed by {name}"
        return "crash", f"worker exited with status {code}"

    # -- calls -------------------------------------------------------------------------------

    def call(self, snapshot: Snapshot, agent_ids: Iterable[Any]) -> list[PolicyResult]:
        """One decision per agent id, all in one round-trip; failures return the fallback."""
        ids = _check_call(snapshot, agent_ids)
        if not ids:
            return []
        if isinstance(self.policy, RejectedPolicy):
            return self._record(_results(ids, [(None, "rejected", self.policy.message)] * len(ids), self.fallback_action))
        if not self.alive:
            self.start()
        if self.load_error is not None:
            return self._record(_results(ids, [(None, *self.load_error)] * len(ids), self.fallback_action))
        payload = pickle.dumps({"op": "call", "snapshot": _snapshot_to_wire(snapshot), "agent_ids": ids},
                               protocol=pickle.HIGHEST_PROTOCOL)
        budget = self.limits.call_timeout_s * len(ids) + self.limits.grace_s
        try:
            deadline = time.monotonic() + budget
            self._send(payload, deadline)
            answer = self._receive(deadline)
            decisions = self._parse(answer, len(ids))
        except _WorkerTimeout:
            self._stop_worker()
            decisions = [(None, "timeout", f"no answer within {budget:.2f} s; the worker was killed and restarted")] * len(ids)
        except _WorkerGone:
            kind, why = self._death_cause()
            self._stop_worker()
            decisions = [(None, kind, why)] * len(ids)
        except _ProtocolError as error:
            self._stop_worker()
            decisions = [(None, "crash", f"the worker broke the protocol ({error}); restarted")] * len(ids)
        return self._record(_results(ids, decisions, self.fallback_action))

    def _parse(self, answer: Any, count: int) -> list[tuple[int | None, str, str]]:
        """Validate the worker's JSON strictly: it may have been taken over by the policy."""
        rows = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(rows, list) or len(rows) != count:
            raise _ProtocolError("wrong number of results")
        decisions = []
        for row in rows:
            if not (isinstance(row, list) and len(row) == 3 and isinstance(row[1], str) and isinstance(row[2], str)):
                raise _ProtocolError("malformed result")
            action, kind, message = row
            if kind:
                if kind not in FAILURE_KINDS:
                    raise _ProtocolError(f"unknown failure kind {kind!r}")
                decisions.append((None, kind, _short(message)))
            elif type(action) is int and 0 <= action < self.n_actions:
                decisions.append((action, "", ""))
            else:
                decisions.append((None, "invalid_action", f"the policy returned {action!r}; actions are 0..{self.n_actions - 1}"))
        return decisions


if __name__ == "__main__" and sys.argv[1:2] == ["--sandbox-worker"]:
    _worker_main()
