"""The Python-level guards: a static filter on the policy's source and an audit hook in the worker.

These are the second layer of the sandbox, not its boundary (the boundary is the operating
system: :mod:`.isolation`). They exist so that an honest mistake or an obvious attack gets a
clear message the model can act on ("import of 'os' is not allowed"), and so that attempts
are reported to the host as they happen.

1. :func:`compile_policy`: extract the code from an LLM answer and reject, before anything
   runs, dunder and private attribute access (also in ``match`` class patterns), dunder
   names, strings holding ``__`` (format-string attribute walks), banned builtins
   (``open``, ``eval``, ``exec``, ``getattr``, ``globals``...), frame, code and file
   attributes, definitions of special methods other than :data:`ALLOWED_SPECIAL_METHODS`
   (``__init__``, ``__repr__``, comparisons...: what small classes need), and imports outside
   :data:`ALLOWED_MODULES`. Code assembled at run time
   (``chr()``) gets past any such filter, which is why it is only a first filter.
2. :func:`make_audit_hook`: a PEP 578 audit hook installed in the worker before the policy's
   module code runs and never removed. It allows only the events in
   :data:`ALLOWED_AUDIT_EVENTS` (``exec`` of an existing code object, ``builtins.id``) and
   blocks every other one (``open``, ``compile``, ``import``, ``os.*``, ``socket.*``,
   ``ctypes.*``, ``gc.*``, ``sys._getframe``, frame and code attribute access...). It has no
   on/off state: its settings are constants bound as default arguments (reading or writing
   ``__defaults__`` raises an audit event, which the hook itself blocks), so policy code that
   reaches it has nothing to switch off. Each blocked event is sent to the host through
   ``report`` before the exception is raised, so catching the exception hides nothing.

This module imports only the standard library: the worker loads it by path.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

__all__ = [
    "ALLOWED_AUDIT_EVENTS",
    "ALLOWED_MODULES",
    "ALLOWED_SPECIAL_METHODS",
    "MAX_SOURCE_CHARS",
    "CompiledPolicy",
    "RejectedPolicy",
    "SandboxViolation",
    "compile_policy",
    "extract_code",
    "make_audit_hook",
]

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
    "dataclasses": (),
    "enum": (),
    "random": (),
    "policy_helpers": (),
}
MAX_SOURCE_CHARS = 100_000
# Special methods a policy's small classes may define: construction, comparison, printing and
# containers. Hooks the interpreter runs at other times (__del__, __getattr__, __set_name__,
# __init_subclass__, __reduce__, __index__...) stay refused.
ALLOWED_SPECIAL_METHODS = frozenset(
    "__init__ __post_init__ __repr__ __str__ __eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__ __len__ __iter__ "
    "__contains__ __getitem__ __call__ __bool__".split()
)

# Audit events policy code may raise; every other event is blocked and reported.
ALLOWED_AUDIT_EVENTS = frozenset({"exec", "builtins.id"})

_BANNED_NAMES = frozenset(
    "open eval exec compile getattr setattr delattr hasattr globals locals vars dir input breakpoint help "
    "memoryview exit quit object type super __import__ __builtins__ __loader__ __spec__".split()
)
# Attributes that reach frames, code, files, other modules or native code.
_BANNED_ATTRIBUTES = frozenset(
    "gi_frame gi_code gi_yieldfrom cr_frame cr_code ag_frame ag_code tb_frame tb_next f_back f_globals f_locals "
    "f_builtins f_code co_code mro format_map "
    "tofile dump dumps load loads save savez savez_compressed loadtxt savetxt genfromtxt fromfile fromregex "
    "memmap DataSource ctypes ctypeslib lib core testing f2py distutils compat os sys "
    "set_printoptions seterr seterrcall setbufsize show_config".split()
)


class SandboxViolation(Exception):
    """A policy tried something the sandbox forbids (import, write, system call...)."""


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
        self._check_attribute(node, node.attr)
        self.generic_visit(node)

    def _check_attribute(self, node: ast.AST, attr: str) -> None:
        if attr.startswith("_"):
            self.fail(node, f"access to the private attribute {attr!r} is not allowed")
        elif attr in _BANNED_ATTRIBUTES:
            self.fail(node, f"the attribute {attr!r} is not allowed")

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        # `case int(__class__=c)` reads the attribute named in the pattern
        for attr in node.kwd_attrs:
            self._check_attribute(node, attr)
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
        if node.name.startswith("__") and node.name.endswith("__") and node.name not in ALLOWED_SPECIAL_METHODS:
            allowed = ", ".join(sorted(ALLOWED_SPECIAL_METHODS))
            self.fail(node, f"defining the special method {node.name!r} is not allowed; a class may define {allowed}")
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
        tree = ast.parse(code)
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


def _describe_event(event: str, args: tuple) -> str:
    detail = ", ".join(repr(a)[:60] for a in args[:2] if type(a) in (str, bytes, int))
    return f"blocked {event}({detail})"


def make_audit_hook(report):
    """The worker's audit hook (see the module docstring). ``report(text)`` tells the host.

    Everything the hook uses is bound as a default argument when it is made: no closure cell,
    no global that policy code could rebind to switch it off.
    """

    def audit_hook(event, args, _allowed=ALLOWED_AUDIT_EVENTS, _report=report, _describe=_describe_event,
                   _error=SandboxViolation):
        if event in _allowed:
            return
        _report(_describe(event, args))
        raise _error(f"{event} is blocked in the sandbox")

    return audit_hook
