"""The layers import one way, and no module of the package imports itself back.

ARCHITECTURE.md ("Layout"): envs imports nothing of ours; agents imports envs; norms imports
envs and agents; analysis imports envs only; experiments is the top floor and may import every
layer. This holds for imports inside functions (and under ``if TYPE_CHECKING:``) too, and there
are no cycles between modules. There is no exceptions list: when a real need appears, move the
code to the layer where it belongs.

The checker reads source, never imports it: every module of the five layer folders is parsed with
:mod:`ast` and every import statement anywhere in it is taken (module level, functions, classes,
``try``/``if`` blocks), as are ``importlib.import_module("...")`` and ``__import__("...")`` calls
whose module is a literal string. Relative imports are resolved to the absolute module they name.
The checker's functions (:func:`layer_violations`, :func:`import_cycles`) are the ones the fixture
tests below call on a small tree with planted upward imports, so a checker that sees nothing
fails here.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "dilemmazoo"
REPO = Path(__file__).resolve().parents[1]

#: layer -> the layers it may import (itself included)
ALLOWED: dict[str, frozenset[str]] = {
    "envs": frozenset({"envs"}),
    "agents": frozenset({"agents", "envs"}),
    "norms": frozenset({"norms", "agents", "envs"}),
    "analysis": frozenset({"analysis", "envs"}),
    "experiments": frozenset({"experiments", "norms", "agents", "envs", "analysis"}),
}
LAYERS = tuple(ALLOWED)


@dataclass(frozen=True)
class Import:
    """One import found in a module's source: the absolute module it names, and where."""

    source: str  # importing module, e.g. "dilemmazoo.envs.cpr"
    target: str  # imported module, e.g. "dilemmazoo.envs.institutions.sanctions"
    path: str  # file, relative to the root
    line: int


def module_name(root: Path, path: Path) -> str:
    """``envs/gridworld/core.py`` -> ``dilemmazoo.envs.gridworld.core``; ``__init__.py`` names its package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def layer_modules(root: Path) -> dict[str, Path]:
    """Every module of the five layer folders under ``root``: dotted name -> file."""
    modules = {}
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            if "__pycache__" not in path.parts:
                modules[module_name(root, path)] = path
    return modules


def _resolve_relative(source: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute module of ``from <level dots><module> import ...`` written in ``source``."""
    package = source.split(".") if is_package else source.split(".")[:-1]
    if level - 1 >= len(package):
        raise ValueError(f"{source}: relative import climbs above the top package")
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _literal_import_call(node: ast.Call) -> str | None:
    """The module of ``importlib.import_module("m")`` / ``import_module("m")`` / ``__import__("m")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in {"import_module", "__import__"} or not node.args:
        return None
    first = node.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def module_imports(root: Path) -> list[Import]:
    """Every import in every layer module under ``root``, relative ones made absolute.

    ``from pkg import name`` names the module ``pkg.name`` when that is a module of the tree
    (a submodule import), else ``pkg`` (a name defined in ``pkg``).
    """
    modules = layer_modules(root)
    found = []
    for source, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relpath = path.relative_to(root).as_posix()
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = (
                    _resolve_relative(source, path.name == "__init__.py", node.level, node.module)
                    if node.level
                    else node.module or ""
                )
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
                ]
            elif isinstance(node, ast.Call):
                literal = _literal_import_call(node)
                targets = [literal] if literal else []
            for target in dict.fromkeys(targets):
                found.append(Import(source, target, relpath, node.lineno))
    return found


def _layer_of(module: str) -> str | None:
    """The layer a dotted module of ours belongs to; ``""`` for one of ours outside every layer;
    None for a module that is not ours."""
    parts = module.split(".")
    if parts[0] in LAYERS:  # ``import envs.cpr``: a folder imported by its name, bypassing the package
        return ""
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else ""


def layer_violations(root: Path) -> list[str]:
    """One line per import that points outside its layer's allowed directions, sorted by file and line."""
    problems = []
    for found in module_imports(root):
        source_layer, target_layer = _layer_of(found.source), _layer_of(found.target)
        if target_layer is None:
            continue
        if target_layer == "":
            problems.append(
                f"{found.path}:{found.line}: {found.source} imports {found.target}, which is not a module "
                f"of a layer (import {PACKAGE}.<layer>.<module>)"
            )
        elif target_layer not in ALLOWED[source_layer]:
            allowed = ", ".join(sorted(ALLOWED[source_layer]))
            problems.append(
                f"{found.path}:{found.line}: {found.source} imports {found.target} "
                f"({source_layer} may import only {allowed})"
            )
    return sorted(problems, key=_by_file_and_line)


def _by_file_and_line(problem: str) -> tuple[str, int]:
    path, line, _ = problem.split(":", 2)
    return path, int(line)


def import_graph(root: Path) -> dict[str, dict[str, Import]]:
    """module -> {imported module of the tree -> the first import that names it}."""
    modules = layer_modules(root)
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for found in module_imports(root):
        if found.target in modules and found.target != found.source:
            graph[found.source].setdefault(found.target, found)
    return graph


def _strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return sorted(components)


def _shortest_cycle(graph: dict[str, dict[str, Import]], start: str, members: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside one component (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is in a component but on no cycle")  # cannot happen: components are strong


def import_cycles(root: Path) -> list[str]:
    """One line per group of modules that import each other (a strongly connected component of
    the module graph, imports in functions included), with one shortest cycle through it and the
    file:line of each of its imports."""
    graph = import_graph(root)
    lines = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        cycle = _shortest_cycle(graph, component[0], set(component))
        steps = [graph[a][b] for a, b in zip(cycle, cycle[1:])]
        where = ", ".join(f"{step.path}:{step.line}" for step in steps)
        group = f" (group of {len(component)}: {', '.join(component)})" if len(component) > len(cycle) - 1 else ""
        lines.append(f"{' -> '.join(cycle)} [{where}]{group}")
    return lines


# --------------------------------------------------------------------------------------------
# The repository
# --------------------------------------------------------------------------------------------


def test_the_checker_reads_every_layer_of_the_repository():
    modules = layer_modules(REPO)
    for layer in LAYERS:
        assert f"{PACKAGE}.{layer}" in modules, layer
    imports = {(found.source, found.target) for found in module_imports(REPO)}
    # Known edges, one of them inside a function: the checker really sees them.
    assert ("dilemmazoo.envs.cpr", "dilemmazoo.envs.institutions.sanctions") in imports
    assert ("dilemmazoo.experiments.cli", "dilemmazoo.norms") in imports  # in _cmd_list
    assert ("dilemmazoo.norms.sanctions", "dilemmazoo.envs.institutions.sanctions") in imports


def test_every_import_points_down_the_layers():
    assert layer_violations(REPO) == []


def test_every_package_folder_is_mapped_in_pyproject():
    # The folders are the layers only if each package folder is installed under its dotted name.
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders = {
        module_name(REPO, init.parent / "__init__.py"): init.parent.relative_to(REPO).as_posix()
        for layer in LAYERS
        for init in (REPO / layer).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert {name: setuptools["package-dir"].get(name) for name in folders} == folders
    assert set(folders) <= set(setuptools["packages"])


# --------------------------------------------------------------------------------------------
# The checker flags planted upward imports (the same functions, on a small tree)
# --------------------------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for layer in LAYERS:
        (root / layer).mkdir(exist_ok=True)
        (root / layer / "__init__.py").touch()
    return root


@pytest.fixture
def planted(tmp_path):
    """A small tree: each layer, allowed imports, and one upward import of each kind."""
    return _write(tmp_path, {
        "envs/world.py": "import numpy as np\nfrom dilemmazoo.envs import base\n",
        "envs/base.py": "from __future__ import annotations\n",
        # module level, absolute
        "envs/upward.py": "import dilemmazoo.agents.base\n",
        # a relative import that climbs out of envs into agents
        "envs/rules/__init__.py": "",
        "envs/rules/climb.py": "from ...agents import llm\nfrom . import helper\nfrom .. import world\n",
        "envs/rules/helper.py": "",
        # inside a function, and under TYPE_CHECKING
        "envs/lazy.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from dilemmazoo.experiments.runner import execute\n"
            "def build():\n"
            "    from dilemmazoo.norms import make_dynamics\n"
            "    return make_dynamics\n"
        ),
        # a literal import_module call
        "agents/llm.py": "import importlib\nimport dilemmazoo.envs\ndef later():\n    return importlib.import_module('dilemmazoo.norms.voting')\n",
        "agents/base.py": "from dilemmazoo.envs.world import np\n",
        "norms/voting.py": "from dilemmazoo.agents import llm\nfrom dilemmazoo.envs.rules import helper\n",
        "norms/__init__.py": "from .voting import *\n",
        # analysis runs nothing: experiments and agents are above it
        "analysis/report.py": "from dilemmazoo.envs import world\nclass Report:\n    def run(self):\n        from ..experiments import runner\n",
        "analysis/plots.py": "from dilemmazoo.agents.base import x\n",
        # experiments may import every layer
        "experiments/runner.py": "from dilemmazoo.analysis import report\nfrom dilemmazoo.norms import voting\nimport dilemmazoo.agents.llm\n",
        # a folder imported by name, and the bare package: neither is a layer's module
        "experiments/cli.py": "import envs.world\nimport dilemmazoo\n",
    })


def test_the_checker_flags_each_planted_upward_import(planted):
    assert layer_violations(planted) == [
        "agents/llm.py:4: dilemmazoo.agents.llm imports dilemmazoo.norms.voting (agents may import only agents, envs)",
        "analysis/plots.py:1: dilemmazoo.analysis.plots imports dilemmazoo.agents.base (analysis may import only analysis, envs)",
        "analysis/report.py:4: dilemmazoo.analysis.report imports dilemmazoo.experiments.runner (analysis may import only analysis, envs)",
        "envs/lazy.py:3: dilemmazoo.envs.lazy imports dilemmazoo.experiments.runner (envs may import only envs)",
        "envs/lazy.py:5: dilemmazoo.envs.lazy imports dilemmazoo.norms (envs may import only envs)",
        "envs/rules/climb.py:1: dilemmazoo.envs.rules.climb imports dilemmazoo.agents.llm (envs may import only envs)",
        "envs/upward.py:1: dilemmazoo.envs.upward imports dilemmazoo.agents.base (envs may import only envs)",
        "experiments/cli.py:1: dilemmazoo.experiments.cli imports envs.world, which is not a module of a layer (import dilemmazoo.<layer>.<module>)",
        "experiments/cli.py:2: dilemmazoo.experiments.cli imports dilemmazoo, which is not a module of a layer (import dilemmazoo.<layer>.<module>)",
    ]


def test_relative_imports_resolve_to_absolute_modules(planted):
    imports = {(found.source, found.target) for found in module_imports(planted)}
    assert ("dilemmazoo.envs.rules.climb", "dilemmazoo.envs.rules.helper") in imports  # from . import helper
    assert ("dilemmazoo.envs.rules.climb", "dilemmazoo.envs.world") in imports  # from .. import world
    assert ("dilemmazoo.norms", "dilemmazoo.norms.voting") in imports  # from .voting import * in __init__
    assert ("dilemmazoo.agents.base", "dilemmazoo.envs.world") in imports  # a name from a module
    assert ("dilemmazoo.analysis.plots", "dilemmazoo.agents.base") in imports  # x is not a module


def test_a_relative_import_above_the_package_is_an_error(tmp_path):
    root = _write(tmp_path, {"envs/deep.py": "from .... import nothing\n"})
    with pytest.raises(ValueError, match="climbs above the top package"):
        module_imports(root)


def test_a_tree_that_keeps_the_directions_has_no_violation(tmp_path):
    root = _write(tmp_path, {
        "envs/world.py": "import numpy\n",
        "agents/policy.py": "from dilemmazoo.envs import world\n",
        "norms/dynamics.py": "from ..agents import policy\nfrom dilemmazoo.envs.world import numpy\n",
        "analysis/metrics.py": "def f():\n    from dilemmazoo.envs import world\n",
        "experiments/run.py": "from dilemmazoo.norms import dynamics\nfrom dilemmazoo.analysis import metrics\n",
    })
    assert layer_violations(root) == []
    assert import_cycles(root) == []


def test_the_checker_reports_each_import_cycle(tmp_path):
    root = _write(tmp_path, {
        # two modules that import each other, one of them inside a function
        "analysis/report.py": "from dilemmazoo.analysis import training\n",
        "analysis/training.py": "def figure():\n    from dilemmazoo.analysis.report import write\n",
        # a cycle of three through relative imports
        "envs/a.py": "from . import b\n",
        "envs/b.py": "from .c import thing\n",
        "envs/c.py": "import dilemmazoo.envs.a\n",
        # a package __init__ that imports its own modules is not a cycle by itself
        "agents/__init__.py": "from dilemmazoo.agents.one import One\n",
        "agents/one.py": "from dilemmazoo.envs import a\n",
    })
    assert import_cycles(root) == [
        "dilemmazoo.analysis.report -> dilemmazoo.analysis.training -> dilemmazoo.analysis.report "
        "[analysis/report.py:1, analysis/training.py:2]",
        "dilemmazoo.envs.a -> dilemmazoo.envs.b -> dilemmazoo.envs.c -> dilemmazoo.envs.a "
        "[envs/a.py:1, envs/b.py:1, envs/c.py:1]",
    ]


# --------------------------------------------------------------------------------------------
# Importing a layer loads only the layers below it
# --------------------------------------------------------------------------------------------


def test_importing_norms_and_the_institutions_loads_no_agent():
    # A fresh interpreter: this test process has long imported everything.
    import subprocess
    import sys

    script = (
        "import sys, dilemmazoo.norms, dilemmazoo.norms.sanctions, dilemmazoo.norms.voting, dilemmazoo.envs.cpr\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('dilemmazoo.')}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert ast.literal_eval(result.stdout.strip()) == ["envs", "norms"]


def test_dynamics_registered_by_path_are_imported_on_first_use(monkeypatch):
    from dilemmazoo.norms import POPULATION_DYNAMICS, dynamics_class, make_dynamics, register_dynamics
    from dilemmazoo.norms.cultural_evolution import CulturalEvolution
    from dilemmazoo.norms.synthesis import PolicySynthesis

    assert POPULATION_DYNAMICS["policy_synthesis"] == "dilemmazoo.norms.synthesis:PolicySynthesis"
    assert dynamics_class("policy_synthesis") is PolicySynthesis
    assert type(make_dynamics("policy_synthesis")) is PolicySynthesis
    monkeypatch.setitem(POPULATION_DYNAMICS, "evolution_by_path", "dilemmazoo.norms.cultural_evolution:CulturalEvolution")
    assert dynamics_class("evolution_by_path") is CulturalEvolution
    with pytest.raises(ValueError, match="'module:Class'"):
        register_dynamics("no_colon", "dilemmazoo.norms.synthesis.PolicySynthesis")
    assert "no_colon" not in POPULATION_DYNAMICS
    with pytest.raises(ValueError, match="unknown population dynamics 'nowhere'"):
        dynamics_class("nowhere")


def test_no_module_imports_itself_back():
    """No import cycle between the package's modules (a package ``__init__`` counts as a module)."""
    assert import_cycles(REPO) == []
