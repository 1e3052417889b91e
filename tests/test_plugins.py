"""Plugins by entry points (:mod:`dilemmazoo.envs.plugins`): discovery reads metadata only, a
plugin is imported when it is used, a broken one is named with its package, and ``list`` says
where everything comes from. The example package ``examples/dilemmazoo-echo-plugin`` is installed
with pip into a fresh virtual environment and used from YAML alone.

Most tests "install" a package the cheap way: a ``<name>-<version>.dist-info`` folder (METADATA and
entry_points.txt, what pip writes) and its modules in a folder put on ``sys.path``, which
``importlib.metadata`` reads like any site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dilemmazoo.agents.backends import backend_info, backend_listing, check_backend_spec, list_backends, make_backend
from dilemmazoo.agents.backends.base import GenerationParams
from dilemmazoo.envs.plugins import BACKENDS, BUILT_IN, NORMS, WORLDS, Plugin, PluginError, forget_plugins, plugins
from dilemmazoo.envs.registry import list_worlds, make_world, world_id, world_listing
from dilemmazoo.experiments.cli import main
from dilemmazoo.norms import make_mechanism, make_utility, norm_listing

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "dilemmazoo-echo-plugin"


class Site:
    """A folder on ``sys.path`` into which :meth:`install` puts fake installed distributions."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.modules: list[str] = []
        monkeypatch.syspath_prepend(str(root))

    def install(self, distribution: str, version: str, entry_points: dict[str, dict[str, str]],
                modules: dict[str, str] | None = None) -> None:
        """Declare ``entry_points`` (group -> name -> "module:Class") for ``distribution`` and write
        ``modules`` (module name -> source) beside it."""
        info = self.root / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
        info.joinpath("entry_points.txt").write_text("".join(
            f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in names.items())
            for group, names in entry_points.items()))
        for name, source in (modules or {}).items():
            self.root.joinpath(f"{name}.py").write_text(source)
            self.modules.append(name)
        forget_plugins()


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = Site(tmp_path / "site", monkeypatch)
    site.root.mkdir()
    yield site
    for name in site.modules:
        sys.modules.pop(name, None)
    monkeypatch.undo()  # sys.path without the site, then every registry forgets its plugins
    forget_plugins()
    list_worlds()


ECHO_SOURCE = '''
from dilemmazoo.agents.backends.base import Backend, Completion


class Parrot(Backend):
    """Says its argument back."""

    def __init__(self, answer, *, loud=False):
        self.answer = answer.upper() if loud else answer
        self.name = "parrot"

    def generate(self, chats, *, params):
        return [Completion(text=self.answer) for _ in chats]
'''

BROKEN_SOURCE = "import missing_dependency_of_a_plugin\n"


# -- discovery --------------------------------------------------------------------------------

def test_discovery_reads_metadata_and_the_module_is_imported_when_the_name_is_used(site):
    site.install("parrot-plugin", "2.1", {BACKENDS: {"parrot": "parrot_backend:Parrot"}},
                 {"parrot_backend": ECHO_SOURCE})
    found = plugins(BACKENDS)
    assert found == {"parrot": Plugin(BACKENDS, "parrot", "parrot_backend:Parrot", "parrot-plugin", "2.1")}
    assert found["parrot"].origin == "parrot-plugin 2.1"
    with pytest.raises(ValueError, match=r"unknown backend spec 'nobody'.*scripted:ARG, parrot \(plugin\)"):
        check_backend_spec("nobody")
    assert "parrot_backend" not in sys.modules  # listed by name in the error, never imported
    info = backend_info("parrot:hello")  # the name is used: now it is imported
    assert "parrot_backend" in sys.modules
    assert (info.prefix, info.description, info.needs_argument, info.can_score, info.options) == (
        "parrot", "Says its argument back.", True, False, frozenset({"loud"}))
    backend = make_backend("parrot:Answer: C", loud=True)
    assert [c.text for c in backend.generate([[{"role": "user", "content": "?"}]] * 2, params=GenerationParams())] \
        == ["ANSWER: C", "ANSWER: C"]
    with pytest.raises(ValueError, match="needs an argument"):
        check_backend_spec("parrot")
    rows = {row.name: row for row in backend_listing()}
    assert rows["scripted"].origin == BUILT_IN and rows["parrot"].origin == "parrot-plugin 2.1"
    assert list(list_backends())[-1] == "parrot"


def test_a_plugin_that_fails_to_import_is_named_with_its_package_and_listed_as_broken(site, capsys, monkeypatch):
    site.install("shaky-plugin", "0.3", {BACKENDS: {"shaky": "shaky_backend:Shaky"}}, {"shaky_backend": BROKEN_SOURCE})
    expected = (r"plugin 'shaky' of package shaky-plugin 0\.3 \(dilemmazoo\.backends entry point shaky = "
                r"shaky_backend:Shaky\) failed to import: ModuleNotFoundError: No module named "
                r"'missing_dependency_of_a_plugin'")
    with pytest.raises(PluginError, match=expected) as caught:
        make_backend("shaky")
    assert isinstance(caught.value, ImportError) and isinstance(caught.value.__cause__, ModuleNotFoundError)
    shaky = next(row for row in backend_listing() if row.name == "shaky")
    assert shaky.origin == "shaky-plugin 0.3" and shaky.description == "" and "No module named" in shaky.error
    assert "shaky" not in list_backends()
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["list", "backends"]) == 0  # listing does not crash on it
    out = capsys.readouterr().out
    assert "BROKEN: plugin 'shaky' of package shaky-plugin 0.3" in out and "│ built-in " in out


def test_a_config_naming_a_broken_plugin_fails_its_check_with_the_plugin_named(site, tmp_path, capsys):
    site.install("shaky-plugin", "0.3", {BACKENDS: {"shaky": "shaky_backend:Shaky"}}, {"shaky_backend": BROKEN_SOURCE})
    config = tmp_path / "shaky.yaml"
    config.write_text("name: shaky\nworld: {id: donor-game}\nagents: {kind: llm, backend: 'shaky'}\n")
    assert main(["run", str(config), "--out", str(tmp_path / "runs")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: agents.backend: plugin 'shaky' of package shaky-plugin 0.3")
    assert "ModuleNotFoundError" in captured.err and "Traceback" not in captured.err
    assert captured.out == "" and not (tmp_path / "runs").exists()


def test_an_entry_point_must_name_a_class_of_its_contract(site):
    site.install("odd-plugin", "1.0", {BACKENDS: {"odd": "odd_module:make", "gone": "odd_module:Missing"}},
                 {"odd_module": "def make(argument, **kwargs):\n    return None\n"})
    with pytest.raises(PluginError, match=r"plugin 'odd' of package odd-plugin 1\.0 .* is <function make .*>, "
                                          r"not a subclass of Backend"):
        backend_info("odd")
    with pytest.raises(PluginError, match=r"'gone' .* failed to import: AttributeError: .*'Missing'"):
        backend_info("gone")


def test_two_packages_claiming_one_name_are_refused_and_built_in_names_win(site):
    site.install("first-plugin", "1.0", {BACKENDS: {"twin": "first_mod:Parrot", "scripted": "first_mod:Parrot"}},
                 {"first_mod": ECHO_SOURCE})
    site.install("second-plugin", "2.0", {BACKENDS: {"twin": "second_mod:Parrot"}}, {"second_mod": ECHO_SOURCE})
    with pytest.raises(PluginError, match=r"packages (first-plugin 1\.0 and second-plugin 2\.0|second-plugin 2\.0 "
                                          r"and first-plugin 1\.0) both declare a dilemmazoo\.backends entry point "
                                          r"named 'twin'; uninstall one"):
        make_backend("twin:x")
    assert backend_info("scripted:answers.txt").can_score  # the built-in (Parrot cannot score)
    rows = [row for row in backend_listing() if row.name == "scripted"]
    assert [row.origin for row in rows] == [BUILT_IN, "first-plugin 1.0"]
    assert "names the backend registered by built-in" in rows[1].error


# -- worlds and norms ----------------------------------------------------------------------------

def _sys_path_with_example(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))


def test_plugin_worlds_register_lazily_and_bad_or_taken_names_are_listed_broken(site, monkeypatch):
    _sys_path_with_example(monkeypatch)
    site.install("coin-plugin", "0.1", {WORLDS: {"coin-v0": "dilemmazoo_echo.coin:CoinEnv",
                                                 "Coin": "dilemmazoo_echo.coin:CoinEnv",
                                                 "donor-game-v7": "dilemmazoo_echo.coin:CoinEnv"}})
    sys.modules.pop("dilemmazoo_echo.coin", None)
    assert "dilemmazoo/coin-v0" in list_worlds() and world_id("coin") == "dilemmazoo/coin-v0"
    assert world_id("donor-game") == "dilemmazoo/donor-game-v0"  # not shadowed by the plugin's v7
    assert "dilemmazoo_echo.coin" not in sys.modules
    world = make_world("coin", n_rounds=2, stake=3)
    assert "dilemmazoo_echo.coin" in sys.modules and world.metadata["name"] == "coin_v0"
    rows = {row.name: row for row in world_listing()}
    assert rows["dilemmazoo/coin-v0"].origin == "coin-plugin 0.1" and rows["dilemmazoo/coin-v0"].error is None
    assert "bad world name" in rows["dilemmazoo/Coin"].error
    assert "takes the name of the world 'donor-game'" in rows["dilemmazoo/donor-game-v7"].error
    assert rows["dilemmazoo/donor-game-v0"].origin == BUILT_IN
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(site.root)])  # "uninstalled"
    forget_plugins()
    assert "dilemmazoo/coin-v0" not in list_worlds()


def test_the_coin_world_keeps_the_world_contract(monkeypatch):
    from pettingzoo.test import parallel_api_test

    _sys_path_with_example(monkeypatch)
    from dilemmazoo_echo.coin import CoinEnv

    parallel_api_test(CoinEnv(n_rounds=4), num_cycles=10)
    world = CoinEnv(n_rounds=2, stake=3)
    observations, _ = world.reset(seed=0)
    assert observations["player_0"].tolist() == [1, 2, 2]
    spec = world.action_spec("player_1")
    heads, tails = spec.parse("I call it. Answer: Heads"), spec.parse("Answer: tails")
    _, rewards, *_ = world.step({"player_0": heads, "player_1": tails})  # a miss: the mismatcher wins
    assert rewards == {"player_0": 0.0, "player_1": 3.0}
    observations, rewards, terminations, _, infos = world.step({"player_0": tails, "player_1": tails})
    assert rewards == {"player_0": 3.0, "player_1": 0.0} and all(terminations.values()) and world.agents == []
    assert observations["player_1"].tolist() == [3, 1, 1] and infos["player_0"] == {"round": 2, "matched": True}
    with pytest.raises(ValueError, match="n_rounds must be a whole number >= 1"):
        CoinEnv(n_rounds=0)


def test_norm_plugins_are_found_by_name_and_kind(site, monkeypatch):
    _sys_path_with_example(monkeypatch)
    site.install("pot-plugin", "0.2", {NORMS: {"shared_pot": "dilemmazoo_echo.norms:SharedPot",
                                               "welfare": "dilemmazoo_echo.norms:SharedPot"}})
    pot = make_utility("shared_pot", weight=0.5)
    assert pot({"a": 4.0, "b": 0.0}, {}) == {"a": 3.0, "b": 1.0}  # 0.5 * r_i + 0.5 * mean 2
    with pytest.raises(ValueError, match=r"unknown mechanism 'shared_pot': plugin 'shared_pot' of package pot-plugin "
                                         r"0\.2 .* is a utility transform \(utility\.name\)"):
        make_mechanism("shared_pot")
    assert type(make_utility("welfare")).__name__ == "WelfareInternalization"  # built-in names win
    rows = {row.name: row for row in norm_listing()}
    assert rows["utility:shared_pot"].origin == "pot-plugin 0.2"
    assert rows["utility:shared_pot"].description.startswith("Pools the step's rewards")
    assert rows["utility:welfare"].origin == BUILT_IN and "names a built-in norm" in rows["welfare"].error


def test_the_echo_backend_passes_the_backend_conformance_kit(site, monkeypatch):
    from dilemmazoo.experiments.check_backend import check_backend

    _sys_path_with_example(monkeypatch)
    site.install("dilemmazoo-echo-plugin", "0.1.0", {BACKENDS: {"echo": "dilemmazoo_echo.backend:EchoBackend"}})
    report = check_backend("echo:I say. Answer: C", quick=True)
    assert {row.name: row.status for row in report.rows if row.status != "skip"} == {
        "generate": "pass", "seeds": "pass", "batching": "pass", "async": "pass", "throughput": "pass"}
    cut = make_backend("echo:one two three").generate([[]], params=GenerationParams(max_tokens=2))[0]
    assert (cut.text, cut.completion_tokens, cut.truncated) == ("one two", 2, True)


# -- the example package, pip-installed into a fresh virtual environment ------------------------

@pytest.fixture(scope="module")
def plugin_venv(tmp_path_factory) -> Path:
    """A new venv that sees this repository's environment (a ``.pth`` file adds its site-packages,
    whose own ``.pth`` files, the editable dilemmazoo among them, are processed) and has the example
    plugin installed by pip into its own site-packages, offline."""
    root = tmp_path_factory.mktemp("plugin_venv")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    own_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
    repo_site = sysconfig.get_paths()["purelib"]
    Path(own_site, "dilemmazoo_repo_env.pth").write_text(f"import site; site.addsitedir({repo_site!r})\n")
    # pip builds in the source folder (build/, *.egg-info): build a copy, not the repository's
    source = root / "dilemmazoo-echo-plugin"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--disable-pip-version-check", str(source)], check=True, capture_output=True)
    assert Path(own_site, "dilemmazoo_echo", "backend.py").exists()
    return python


def _cli(python: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "300", "PYTHONPATH": ""}
    return subprocess.run([str(python), "-m", "dilemmazoo.experiments.cli", *argv], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.mark.slow
def test_the_example_plugin_works_from_yaml_after_pip_install(plugin_venv, tmp_path):
    listed = _cli(plugin_venv, "list", "backends", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    echo_row = next(line for line in listed.stdout.splitlines() if line.startswith("│ echo "))
    assert "dilemmazoo-echo-plugin 0.1.0" in echo_row and "Answers every chat with the same configured text" in echo_row

    out = tmp_path / "runs"
    ran = _cli(plugin_venv, "run", str(EXAMPLE / "coin.yaml"), "--out", str(out), cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    run_dir = out / "coin_echo" / "seed=0"
    assert ran.stdout.splitlines() == [str(run_dir)]
    steps = pd.read_parquet(run_dir / "steps.parquet").sort_values(["step", "agent"])
    # both echo agents call Heads every round: a match, so the matcher player_0 wins each stake of 1;
    # shared_pot (weight 1) gives each player the mean, 0.5
    assert steps["reward"].tolist() == [1.0, 0.0] * 3 and np.allclose(steps["utility"], 0.5)
    assert steps["action"].astype(int).tolist() == [0] * 6 and steps["fallback_used"].sum() == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["llm_calls"] == 6 and summary["counts"]["parse_failures"] == 0
    # the repository's own environment never saw the plugin
    assert "echo" not in plugins(BACKENDS) and not list(Path(sysconfig.get_paths()["purelib"]).glob("dilemmazoo_echo*"))
