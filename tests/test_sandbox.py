"""The policy sandbox (issue 8, part 1): helpers, the compile step, snapshots, honest policies
in and out of the sandbox, and an attack/escape suite.

Every escape is tried twice: as an LLM would write it (the static filter rejects it), and with
the static filter switched off (``compile_policy(..., static_checks=False)``, standing in for
code built at run time with ``chr()``) under three layer settings: everything on, the seccomp
filter alone (no audit hook, root kept), and the audit hook alone (no seccomp, root kept). In
each case the test checks the reported kind, the fallback, and that the host is untouched: the
canary file is neither read, changed nor deleted, no file appears, builtins and helpers are the
same objects, the snapshot arrays are unchanged.
"""

from __future__ import annotations

import builtins
import errno
import os
import pickle
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dilemmazoo.agents import policy_helpers as ph
from dilemmazoo.agents.sandbox import (
    FAILURE_KINDS,
    CompiledPolicy,
    FailureReport,
    InProcessPolicy,
    PolicySandbox,
    RejectedPolicy,
    SandboxLimits,
    SandboxViolation,
    compile_policy,
    extract_code,
    make_snapshot,
    run_unsandboxed,
)

SECCOMP_AVAILABLE = sys.platform == "linux" and platform.machine() == "x86_64"
N_ACTIONS, FALLBACK = 9, 7  # the gridworld's 9 actions; 7 = stay
FAST = SandboxLimits(call_timeout_s=0.25, grace_s=0.35)

# --------------------------------------------------------------------------------------------
# Grid helpers (pure, exact)
# --------------------------------------------------------------------------------------------

#   col 0123456
GRID = np.array([
    list("@@@@@@@"),  # row 0
    list("@ A @ @"),  # row 1
    list("@   @A@"),  # row 2
    list("@ @   @"),  # row 3
    list("@@@@@@@"),  # row 4
])


def test_nearest_finds_target_distance_and_first_step():
    # from (3, 1): north to (2, 1), east (2, 2), north (1, 2) = A, 3 moves; first move north
    assert ph.nearest(GRID, (3, 1), "A") == ph.PathStep(3, ph.NORTH, (1, 2))
    # from (3, 5): the apple at (2, 5) is one move north
    assert ph.nearest(GRID, (3, 5), "A") == ph.PathStep(1, ph.NORTH, (2, 5))
    # from (2, 3): (1, 2) is 2 moves away (north then west / west then north); north is tried first
    assert ph.nearest(GRID, (2, 3), "A") == ph.PathStep(2, ph.NORTH, (1, 2))
    assert ph.nearest(GRID, (1, 2), "A") == ph.PathStep(0, None, (1, 2))
    assert ph.nearest(GRID, (1, 1), "X") is None
    assert ph.first_step_towards(GRID, (3, 1), "A") == ph.NORTH


def test_nearest_respects_walls_and_integer_grids():
    codes = np.where(GRID == "@", 1, np.where(GRID == "A", 2, 0))
    # the same search on cell codes (1 = wall, 2 = apple)
    assert ph.nearest(codes, (2, 3), 2, walls=1) == ph.PathStep(2, ph.NORTH, (1, 2))
    walled = codes.copy()
    walled[2, 2] = walled[1, 3] = 1  # block the western apple's approaches from (2, 3)
    assert ph.nearest(walled, (2, 3), 2, walls=[1]) == ph.PathStep(4, ph.SOUTH, (2, 5))
    with pytest.raises(ValueError, match="outside"):
        ph.nearest(codes, (9, 9), 2, walls=1)


def test_bfs_distances_hand_computed():
    expected = np.array([
        [-1, -1, -1, -1, -1, -1, -1],
        [-1, 1, 0, 1, -1, 1, -1],
        [-1, 2, 1, 2, -1, 0, -1],
        [-1, 3, -1, 3, 2, 1, -1],
        [-1, -1, -1, -1, -1, -1, -1],
    ])
    np.testing.assert_array_equal(ph.bfs_distances(GRID, "A"), expected)


@pytest.mark.parametrize(
    "direction, orientation, action",
    [
        (ph.NORTH, ph.NORTH, ph.FORWARD),
        (ph.NORTH, ph.EAST, ph.STEP_LEFT),
        (ph.NORTH, ph.SOUTH, ph.BACKWARD),
        (ph.NORTH, ph.WEST, ph.STEP_RIGHT),
        (ph.EAST, ph.NORTH, ph.STEP_RIGHT),
        (ph.WEST, ph.SOUTH, ph.STEP_RIGHT),
        (ph.SOUTH, ph.WEST, ph.STEP_LEFT),
        (None, ph.EAST, ph.STAY),
    ],
)
def test_direction_to_action(direction, orientation, action):
    assert ph.direction_to_action(direction, orientation) == action


def test_turns_neighbours_and_cells():
    assert ph.turn_towards(ph.EAST, ph.NORTH) == ph.TURN_RIGHT
    assert ph.turn_towards(ph.WEST, ph.NORTH) == ph.TURN_LEFT
    assert ph.turn_towards(ph.SOUTH, ph.NORTH) == ph.TURN_RIGHT
    assert ph.turn_towards(ph.NORTH, ph.NORTH) is None
    assert ph.neighbour((2, 3), ph.WEST) == (2, 2)
    assert ph.direction_between((2, 3), (3, 3)) == ph.SOUTH
    assert ph.direction_between((2, 3), (4, 3)) is None
    assert ph.find_cells(GRID, "A") == [(1, 2), (2, 5)]
    assert ph.ACTION_NAMES[ph.CLEAN] == "clean" and ph.ACTION_NAMES[ph.STAY] == "stay"


# --------------------------------------------------------------------------------------------
# Compile step
# --------------------------------------------------------------------------------------------


def test_extract_code_prefers_the_block_defining_policy():
    text = "Here:\n```python\nx = 1\n```\nand\n```python\ndef policy(state, agent_id):\n    return 7\n```\nDone."
    assert extract_code(text) == "def policy(state, agent_id):\n    return 7"
    assert extract_code("```\ndef policy(s, a):\n    return 1\n```") == "def policy(s, a):\n    return 1"
    assert extract_code("def policy(s, a):\n    return 1\n") == "def policy(s, a):\n    return 1"


def test_compile_policy_accepts_honest_code_and_explains_rejections():
    assert isinstance(compile_policy("```python\nimport numpy as np\ndef policy(state, agent_id):\n    return 0\n```"),
                      CompiledPolicy)
    missing = compile_policy("def act(state):\n    return 0\n")
    assert isinstance(missing, RejectedPolicy) and "def policy(state, agent_id)" in missing.message
    syntax = compile_policy("def policy(state, agent_id):\n    return (\n")
    assert isinstance(syntax, RejectedPolicy) and syntax.line == 2 and syntax.message.startswith("Your policy was rejected")
    arity = compile_policy("def policy(state):\n    return 0\n")
    assert isinstance(arity, RejectedPolicy) and "two arguments" in arity.reason


STATIC_ATTACKS = [
    ("read a file", "def policy(s, a):\n    return len(open('/etc/passwd').read())\n", "the name 'open'"),
    ("import os", "import os\ndef policy(s, a):\n    os.remove('x')\n    return 0\n", "import of 'os'"),
    ("subprocess", "import subprocess\ndef policy(s, a):\n    subprocess.run(['ls'])\n    return 0\n", "import of 'subprocess'"),
    ("socket", "import socket\ndef policy(s, a):\n    socket.socket()\n    return 0\n", "import of 'socket'"),
    ("from os", "from os import path\ndef policy(s, a):\n    return 0\n", "import of 'os'"),
    ("ctypeslib", "import numpy.ctypeslib\ndef policy(s, a):\n    return 0\n", "import of 'numpy.ctypeslib'"),
    ("np.load", "from numpy import load\ndef policy(s, a):\n    return 0\n", "importing 'load'"),
    ("np.save", "import numpy as np\ndef policy(s, a):\n    np.save('x.npy', s.grid)\n    return 0\n", "'save'"),
    ("tofile", "def policy(s, a):\n    s.grid.tofile('x')\n    return 0\n", "'tofile'"),
    ("subclass walk", "def policy(s, a):\n    return len(().__class__.__base__.__subclasses__())\n", "private attribute '__subclasses__'"),
    ("format string", "def policy(s, a):\n    return len('{0.__class__}'.format(s))\n", "'__'"),
    ("builtins", "def policy(s, a):\n    __builtins__['len'] = None\n    return 0\n", "'__builtins__'"),
    ("eval chr", "def policy(s, a):\n    return eval(chr(49))\n", "'eval'"),
    ("getattr", "def policy(s, a):\n    return getattr(s, 'grid')\n", "'getattr'"),
    ("generator frame", "def policy(s, a):\n    g = (x for x in [1])\n    return g.gi_frame\n", "'gi_frame'"),
    ("traceback frame", "def policy(s, a):\n    try:\n        1 / 0\n    except ZeroDivisionError as e:\n"
                        "        return e.__traceback__\n", "'__traceback__'"),
    ("private helper", "def policy(s, a):\n    return helpers._target\n", "'_target'"),
    ("relative import", "from . import x\ndef policy(s, a):\n    return 0\n", "relative imports"),
]


@pytest.mark.parametrize("name, source, reason", STATIC_ATTACKS, ids=[a[0] for a in STATIC_ATTACKS])
def test_static_filter_rejects_obvious_escapes(name, source, reason):
    rejected = compile_policy(source)
    assert isinstance(rejected, RejectedPolicy)
    assert reason in rejected.reason
    assert rejected.line is not None


def test_rejected_policy_returns_the_fallback_without_a_worker():
    rejected = compile_policy("import os\ndef policy(s, a):\n    return 0\n")
    state = make_snapshot({"grid": GRID}, {})
    with PolicySandbox(rejected, n_actions=N_ACTIONS, fallback_action=FALLBACK) as sandbox:
        results = sandbox.call(state, [0, 1])
        assert sandbox.worker_pid is None
    assert [(r.action, r.ok, r.error) for r in results] == [(FALLBACK, False, "rejected")] * 2
    assert results[0].message == rejected.message
    assert sandbox.failures == {"rejected": 2}
    assert sandbox.reports[1] == FailureReport(0, 1, "rejected", rejected.message)


# --------------------------------------------------------------------------------------------
# Snapshots
# --------------------------------------------------------------------------------------------


def test_make_snapshot_copies_and_locks():
    grid = GRID.copy()
    positions = np.array([[3, 1], [3, 5]])
    state = make_snapshot({"grid": grid, "positions": positions}, {"step": np.int64(4), "names": ["a", "b"],
                                                                   "config": {"n": 2}})
    grid[1, 2] = " "
    positions[0, 0] = 0
    assert state["grid"][1, 2] == "A" and state.positions[0, 0] == 3  # later changes do not show
    assert state.step == 4 and type(state.step) is int and state.names == ("a", "b") and state.config["n"] == 2
    assert not state.grid.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        state.grid[0, 0] = "x"
    with pytest.raises(ValueError):
        state.positions.setflags(write=True)
    with pytest.raises(SandboxViolation):
        state["grid"] = None
    with pytest.raises(SandboxViolation):
        state.step = 5
    with pytest.raises(TypeError):
        state.config["n"] = 3
    assert sorted(state) == ["config", "grid", "names", "positions", "step"]
    copy = pickle.loads(pickle.dumps(state))
    assert dict(copy.config) == {"n": 2} and copy.names == ("a", "b")
    np.testing.assert_array_equal(copy.grid, state.grid)
    with pytest.raises(ValueError):
        copy.grid.setflags(write=True)


@pytest.mark.parametrize(
    "arrays, values, match",
    [
        ({"x": np.array([object()])}, {}, "dtype object"),
        ({}, {"x": object()}, r"values\['x'\] is a object"),
        ({"x": [1]}, {"x": 1}, "both arrays and values"),
        ({"_x": [1]}, {}, "identifier"),
        ({}, {"helpers": 1}, "identifier"),
    ],
)
def test_make_snapshot_rejects_bad_input(arrays, values, match):
    with pytest.raises(ValueError, match=match):
        make_snapshot(arrays, values)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_actions"):
        PolicySandbox("def policy(s, a):\n    return 0\n", n_actions=0, fallback_action=0)
    with pytest.raises(ValueError, match="fallback_action"):
        PolicySandbox("def policy(s, a):\n    return 0\n", n_actions=9, fallback_action=9)
    with pytest.raises(ValueError, match="call_timeout_s"):
        SandboxLimits(call_timeout_s=0)
    with pytest.raises(TypeError, match="Snapshot"):
        run_unsandboxed("def policy(s, a):\n    return 0\n", {"grid": GRID}, [0], n_actions=9, fallback_action=7)


# --------------------------------------------------------------------------------------------
# Honest policies: the same answers in and out of the sandbox
# --------------------------------------------------------------------------------------------

BFS_POLICY = """
Here is my policy:
```python
import numpy as np
from collections import deque

def policy(state, agent_id):
    row, col = state.positions[agent_id]
    facing = int(state.orientations[agent_id])
    found = helpers.nearest(state.grid, (row, col), "A", walls="@")
    if found is None:
        return helpers.STAY
    return helpers.direction_to_action(found.direction, facing)
```
"""

RANDOM_POLICY = """
import random
import numpy as np
from numpy.random import randint
from policy_helpers import STAY
calls = []

def policy(state, agent_id):
    calls.append(agent_id)
    return (random.randrange(9) + int(np.random.randint(0, 9)) + int(randint(0, 9)) + len(calls) + STAY) % 9
"""


def bfs_state() -> object:
    positions = np.array([[3, 1], [3, 5], [2, 3], [1, 1], [1, 2]])
    orientations = np.array([ph.NORTH, ph.EAST, ph.WEST, ph.SOUTH, ph.NORTH])
    return make_snapshot({"grid": GRID, "positions": positions, "orientations": orientations}, {"step": 0})


# agent 0 at (3, 1) facing N: first move north -> forward; agent 1 at (3, 5) facing E: north is a
# left step; agent 2 at (2, 3) facing W: north is a right step; agent 3 at (1, 1) facing S: the
# apple is east -> step left; agent 4 stands on an apple -> stay
BFS_EXPECTED = [ph.FORWARD, ph.STEP_LEFT, ph.STEP_RIGHT, ph.STEP_LEFT, ph.STAY]


@pytest.fixture(scope="module")
def bfs_sandbox():
    with PolicySandbox(compile_policy(BFS_POLICY), n_actions=N_ACTIONS, fallback_action=FALLBACK) as sandbox:
        yield sandbox


def test_bfs_policy_hand_computed_in_and_out(bfs_sandbox):
    state = bfs_state()
    outside = run_unsandboxed(compile_policy(BFS_POLICY), state, range(5), n_actions=N_ACTIONS, fallback_action=FALLBACK)
    inside = bfs_sandbox.call(state, range(5))
    assert [r.action for r in outside] == BFS_EXPECTED
    assert inside == outside
    assert all(r.ok for r in inside) and not bfs_sandbox.failures


def test_bfs_policy_agrees_on_random_maps(bfs_sandbox):
    rng = np.random.default_rng(5)
    policy = compile_policy(BFS_POLICY)
    for _ in range(5):
        grid = rng.choice(np.array(list(" @A")), size=(9, 12), p=[0.7, 0.2, 0.1])
        positions = rng.integers(0, [9, 12], size=(8, 2))
        state = make_snapshot({"grid": grid, "positions": positions, "orientations": rng.integers(0, 4, 8)}, {})
        inside = bfs_sandbox.call(state, range(8))
        assert inside == run_unsandboxed(policy, state, range(8), n_actions=N_ACTIONS, fallback_action=FALLBACK)
        assert all(r.ok for r in inside)


def test_seeded_randomness_and_module_state_match():
    state = bfs_state()
    policy = compile_policy(RANDOM_POLICY)
    local = InProcessPolicy(policy, n_actions=N_ACTIONS, fallback_action=FALLBACK, seed=3)
    with PolicySandbox(policy, n_actions=N_ACTIONS, fallback_action=FALLBACK, seed=3) as sandbox:
        inside = [r.action for _ in range(3) for r in sandbox.call(state, [0, 1])]
    outside = [r.action for _ in range(3) for r in local.call(state, [0, 1])]
    assert inside == outside
    assert len(set(inside)) > 1  # not a constant: the policy really draws numbers
    other_seed = InProcessPolicy(policy, n_actions=N_ACTIONS, fallback_action=FALLBACK, seed=4)
    assert [r.action for _ in range(3) for r in other_seed.call(state, [0, 1])] != outside


def test_worker_isolation_report(bfs_sandbox):
    isolation = bfs_sandbox.isolation
    assert isolation["audit_hook"] is True
    assert isolation["rlimits"]["RLIMIT_FSIZE"] == 0 and isolation["rlimits"]["RLIMIT_AS"] == 1024 * 1024 * 1024
    assert isolation["pid"] == bfs_sandbox.worker_pid != os.getpid()
    assert Path(isolation["cwd"]).is_dir() and os.listdir(isolation["cwd"]) == []
    if SECCOMP_AVAILABLE:
        assert isolation["seccomp"] is True
    if os.geteuid() == 0:
        assert isolation["uid"] == 65534


def test_close_removes_the_worker_and_its_directory():
    with PolicySandbox("def policy(s, a):\n    return 1\n", n_actions=N_ACTIONS, fallback_action=FALLBACK) as sandbox:
        workdir, pid = sandbox.isolation["cwd"], sandbox.worker_pid
        assert sandbox.call(bfs_state(), [0])[0].action == 1
    assert not sandbox.alive and not os.path.exists(workdir)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped


# --------------------------------------------------------------------------------------------
# Escapes: the host must stay untouched
# --------------------------------------------------------------------------------------------


@dataclass
class Host:
    dir: Path
    canary: Path
    state: object


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A canary file, the host's cwd in tmp_path, and a snapshot; checks everything afterwards."""
    monkeypatch.chdir(tmp_path)
    canary = tmp_path / "canary.txt"
    canary.write_text("secret")
    os.chmod(canary, 0o666)
    os.chmod(tmp_path, 0o777)
    os.utime(canary, (1_000_000, 1_000_000))  # a read would move atime (relatime updates atime <= mtime)
    state = bfs_state()
    arrays_before = {k: np.array(v) for k, v in state.items() if isinstance(v, np.ndarray)}
    builtins_before = dict(vars(builtins))
    helpers_before = {name: getattr(ph, name) for name in ph.__all__}
    yield Host(tmp_path, canary, state)
    stat = canary.stat()
    assert (stat.st_atime, stat.st_mtime) == (1_000_000, 1_000_000), "the canary was read or written"
    assert canary.read_text() == "secret"
    assert sorted(os.listdir(tmp_path)) == ["canary.txt"], "a file appeared"
    assert Path.cwd() == tmp_path
    assert all(vars(builtins).get(k) is v for k, v in builtins_before.items()), "host builtins changed"
    assert all(getattr(ph, k) is v for k, v in helpers_before.items()), "host helpers changed"
    for key, before in arrays_before.items():
        np.testing.assert_array_equal(state[key], before)


# Reaches the real `os` module globals without an import: the classic subclass walk. Only
# possible with the static filter off (here standing in for code assembled at run time).
OS_GLOBALS = """
def _os():
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            return c.__init__.__globals__

"""
LAYERS = {
    "all": SandboxLimits(),
    "seccomp-only": SandboxLimits(audit_hook=False, drop_root=False),
    "audit-only": SandboxLimits(seccomp=False, drop_root=False),
}
F = "forbidden"
# name -> (policy body using {canary}, {dir}, {host_pid}; expected per layer setting:
#          a failure kind, or ("action", n) when the policy itself reports what the kernel said)
BYPASS_ATTACKS = {
    "read file": ("return len(_os()['__builtins__']['open']({canary!r}).read())", {}),
    "write file": ("_os()['__builtins__']['open']({canary!r}, 'w').write('x')\n    return 0", {}),
    "create file": ("_os()['__builtins__']['open']({dir!r} + '/new.txt', 'w')\n    return 0", {}),
    "delete file": ("_os()['remove']({canary!r})\n    return 0", {}),
    "list directory": ("return len(_os()['listdir']({dir!r}))", {}),
    "fork": ("_os()['fork']()\n    return 0", {}),
    "subprocess": ("_os()['__builtins__']['__import__']('subprocess').run(['touch', {dir!r} + '/pwned'])\n"
                   "    return 0", {}),
    "kill host": ("_os()['kill']({host_pid}, 9)\n    return 0", {}),
    "shell command": ("return 0 if _os()['system']('touch ' + {dir!r} + '/pwned') == 0 else 1",
                      {"seccomp-only": ("action", 1)}),  # system() cannot fork: returns failure
    "import socket and connect": (
        "sk = _os()['__builtins__']['__import__']('socket')\n"
        "    sk.create_connection(('10.1.2.3', 80), timeout=0.1)\n    return 0",
        {"seccomp-only": "crash"},  # the import itself fails: no file can be opened
    ),
    "restricted import": ("__import__('socket')\n    return 0", {}),
    "ctypes socket": (
        "ct = _os()['sys'].modules['ctypes']\n    libc = ct.CDLL(None, use_errno=True)\n"
        "    return ct.get_errno() if libc.socket(2, 1, 0) < 0 else 8",
        {"seccomp-only": ("action", errno.EPERM)},
    ),
    "ctypes unlink": (
        "ct = _os()['sys'].modules['ctypes']\n    libc = ct.CDLL(None, use_errno=True)\n"
        "    return ct.get_errno() if libc.unlink({canary!r}.encode()) < 0 else 8",
        {"seccomp-only": ("action", errno.EPERM)},
    ),
    "numpy save": ("import numpy as np\n    np.save({dir!r} + '/x.npy', np.zeros(3))\n    return 0", {}),
    "numpy load": ("import numpy as np\n    return int(np.load({canary!r}).sum())", {}),
    "ndarray.tofile": ("import numpy as np\n    np.zeros(3).tofile({dir!r} + '/x.bin')\n    return 0",
                       {"all": "crash", "seccomp-only": "crash", "audit-only": "crash"}),  # numpy finds no `open`
    "frame from generator": ("g = (x for x in [1])\n    return len(g.gi_frame.f_back.f_globals)",
                             {"seccomp-only": None}),
    "frame from traceback": ("try:\n        1 / 0\n    except ZeroDivisionError as e:\n"
                             "        return len(e.__traceback__.tb_frame.f_globals)", {"seccomp-only": None}),
}


# (frames alone give nothing that the seccomp layer does not stop: not tried there)
BYPASS_CASES = [(attack, layer) for attack, (_, overrides) in BYPASS_ATTACKS.items() for layer in LAYERS
                if overrides.get(layer, F) is not None]


@pytest.mark.parametrize("attack, layer", BYPASS_CASES, ids=[f"{a}-{layer}" for a, layer in BYPASS_CASES])
def test_escape_with_static_filter_bypassed(host, attack, layer):
    if layer != "audit-only" and not SECCOMP_AVAILABLE:
        pytest.skip("no seccomp filter on this platform")
    body, overrides = BYPASS_ATTACKS[attack]
    expected = overrides.get(layer, F)
    source = OS_GLOBALS + "def policy(state, agent_id):\n    " + body.format(
        canary=str(host.canary), dir=str(host.dir), host_pid=os.getpid()) + "\n"
    policy = compile_policy(source, static_checks=False)
    assert isinstance(policy, CompiledPolicy)
    with PolicySandbox(policy, n_actions=N_ACTIONS, fallback_action=FALLBACK, limits=LAYERS[layer]) as sandbox:
        (result,) = sandbox.call(host.state, [0])
        assert sandbox.alive  # blocked calls do not kill the worker
    if isinstance(expected, tuple):
        assert (result.ok, result.action) == (True, expected[1]), result
    else:
        assert (result.ok, result.error, result.action) == (False, expected, FALLBACK), result
        assert sandbox.failures == {expected: 1}
        assert sandbox.reports[0].kind == expected and sandbox.reports[0].message == result.message
    if expected == F and layer != "seccomp-only":
        assert "blocked" in result.message or "not allowed" in result.message or "not available" in result.message


def test_attempt_is_reported_even_when_the_policy_catches_it(host):
    source = OS_GLOBALS + (
        "def policy(state, agent_id):\n    try:\n        _os()['remove']({canary!r})\n"
        "    except Exception:\n        pass\n    return 3\n"
    ).format(canary=str(host.canary))
    with PolicySandbox(compile_policy(source, static_checks=False), n_actions=N_ACTIONS,
                       fallback_action=FALLBACK) as sandbox:
        (result,) = sandbox.call(host.state, [0])
    assert (result.error, result.action) == ("forbidden", FALLBACK)
    assert "os.remove" in result.message


def test_patching_builtins_stays_inside_the_policy(host):
    # the policy's own builtins are a private dict: patching them changes only its answers
    source = "def policy(state, agent_id):\n    __builtins__['len'] = lambda x: 5\n    return len([])\n"
    policy = compile_policy(source, static_checks=False)
    with PolicySandbox(policy, n_actions=N_ACTIONS, fallback_action=FALLBACK) as sandbox:
        assert [r.action for r in sandbox.call(host.state, [0, 1])] == [5, 5]
    assert run_unsandboxed(policy, host.state, [0], n_actions=N_ACTIONS, fallback_action=FALLBACK)[0].action == 5
    # the worker's real builtins (reached by the subclass walk) break only the worker
    source = OS_GLOBALS + "def policy(state, agent_id):\n    _os()['__builtins__']['len'] = None\n    return 4\n"
    with PolicySandbox(compile_policy(source, static_checks=False), n_actions=N_ACTIONS,
                       fallback_action=FALLBACK) as sandbox:
        results = sandbox.call(host.state, [0, 1]) + sandbox.call(host.state, [0])
        assert sandbox.restarts == 1
    assert [(r.error, r.action) for r in results] == [("crash", FALLBACK)] * 3
    assert len([]) == 0  # the host fixture also checks every builtin


def test_protocol_tampering_restarts_the_worker(host):
    # writes a bogus 4 GiB frame header on the worker's answer pipe (fd 4)
    source = OS_GLOBALS + "def policy(state, agent_id):\n    _os()['write'](4, b'\\xff\\xff\\xff\\xff')\n    return 0\n"
    with PolicySandbox(compile_policy(source, static_checks=False), n_actions=N_ACTIONS,
                       fallback_action=FALLBACK) as sandbox:
        first_pid = sandbox.worker_pid
        (result,) = sandbox.call(host.state, [0])
        assert (result.error, result.action) == ("crash", FALLBACK) and "protocol" in result.message
        assert not sandbox.alive
        (again,) = sandbox.call(host.state, [0])  # a fresh worker, tampered with again
        assert again.error == "crash" and sandbox.restarts == 1 and first_pid is not None


def test_top_level_attack_fails_the_load(host):
    source = OS_GLOBALS + f"_os()['remove']({str(host.canary)!r})\n\ndef policy(state, agent_id):\n    return 0\n"
    with PolicySandbox(compile_policy(source, static_checks=False), n_actions=N_ACTIONS,
                       fallback_action=FALLBACK) as sandbox:
        results = sandbox.call(host.state, [0, 1]) + sandbox.call(host.state, [2])
    assert [(r.error, r.action) for r in results] == [("forbidden", FALLBACK)] * 3
    assert results[0].message.startswith("while loading the policy")
    assert sandbox.failures == {"forbidden": 3} and sandbox.restarts == 0


# Attacks that pass the static filter and are stopped by the namespace: the same in and out
RUNTIME_ATTACKS = {
    "patch a helper": "helpers.nearest = None\n    return 0",
    "patch a helper via state": "state.helpers.direction_to_action = None\n    return 0",
    "patch math": "import math\n    math.sqrt = None\n    return 0",
    "patch numpy": "import numpy as np\n    np.zeros = None\n    return 0",
    "write the snapshot array": "state.grid[0, 0] = 'A'\n    return 0",
    "make the array writeable": "state.positions.setflags(write=True)\n    return 0",
    "writeable flag": "state.positions.flags.writeable = True\n    return 0",
    "replace a snapshot entry": "state['grid'] = None\n    return 0",
    "add a snapshot attribute": "state.cheat = 1\n    return 0",
    "caught helper patch": "try:\n        helpers.nearest = None\n    except Exception:\n        pass\n    return 0",
}


@pytest.mark.parametrize("attack", list(RUNTIME_ATTACKS))
def test_runtime_attacks_are_forbidden_in_and_out(host, attack):
    policy = compile_policy("def policy(state, agent_id):\n    " + RUNTIME_ATTACKS[attack] + "\n")
    assert isinstance(policy, CompiledPolicy)
    outside = run_unsandboxed(policy, host.state, [0], n_actions=N_ACTIONS, fallback_action=FALLBACK)
    with PolicySandbox(policy, n_actions=N_ACTIONS, fallback_action=FALLBACK) as sandbox:
        inside = sandbox.call(host.state, [0])
    assert inside == outside
    assert (inside[0].error, inside[0].action) == ("forbidden", FALLBACK)


def test_patching_helpers_inside_one_policy_does_not_reach_another(host):
    patcher = compile_policy(OS_GLOBALS + "def policy(state, agent_id):\n"
                             "    helpers._target.nearest = lambda *args: None\n    return 0\n", static_checks=False)
    assert run_unsandboxed(patcher, host.state, [0], n_actions=N_ACTIONS, fallback_action=FALLBACK)[0].ok
    with PolicySandbox(patcher, n_actions=N_ACTIONS, fallback_action=FALLBACK) as sandbox:
        assert sandbox.call(host.state, [0])[0].ok  # it patched its own private copy
    honest = run_unsandboxed(compile_policy(BFS_POLICY), host.state, range(5), n_actions=N_ACTIONS,
                             fallback_action=FALLBACK)
    assert [r.action for r in honest] == BFS_EXPECTED


# --------------------------------------------------------------------------------------------
# Resources and answers
# --------------------------------------------------------------------------------------------


def test_infinite_loop_times_out_per_agent(host):
    source = "def policy(state, agent_id):\n    while agent_id == 1:\n        pass\n    return 2\n"
    with PolicySandbox(source, n_actions=N_ACTIONS, fallback_action=FALLBACK, limits=FAST) as sandbox:
        results = sandbox.call(host.state, [0, 1, 2])
        assert sandbox.alive and sandbox.restarts == 0  # interrupted inside the worker
    assert [(r.action, r.error) for r in results] == [(2, ""), (FALLBACK, "timeout"), (2, "")]


def test_loop_that_swallows_the_interrupt_is_killed(host):
    source = ("def policy(state, agent_id):\n    while True:\n        try:\n            while True:\n"
              "                pass\n        except:\n            pass\n")
    with PolicySandbox(source, n_actions=N_ACTIONS, fallback_action=FALLBACK, limits=FAST) as sandbox:
        pid = sandbox.worker_pid
        results = sandbox.call(host.state, [0, 1])
        assert not sandbox.alive
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        again = sandbox.call(host.state, [0])
        assert sandbox.restarts == 1
    assert [(r.error, r.action) for r in results + again] == [("timeout", FALLBACK)] * 3
    assert "killed" in results[0].message
    assert sandbox.failures == {"timeout": 3}


@pytest.mark.parametrize(
    "bomb",
    ["x = bytes(4 * 1024 ** 3)", "x = [0] * 10 ** 9", "x = 'x' * (4 * 1024 ** 3)",
     "import numpy as np\n    x = np.ones(10 ** 10)"],
)
def test_memory_bombs(host, bomb):
    source = f"def policy(state, agent_id):\n    {bomb}\n    return 1\n"
    with PolicySandbox(source, n_actions=N_ACTIONS, fallback_action=FALLBACK) as sandbox:
        (result,) = sandbox.call(host.state, [0])
        assert sandbox.alive
    assert (result.error, result.action) == ("memory", FALLBACK) and "MemoryError" in result.message


def test_crash_message_names_the_line(host):
    source = "def policy(state, agent_id):\n    x = 1\n    return state.grid[99, 99]\n"
    with PolicySandbox(source, n_actions=N_ACTIONS, fallback_action=FALLBACK) as sandbox:
        (result,) = sandbox.call(host.state, [0])
    assert result.error == "crash"
    assert result.message.startswith("IndexError: index 99 is out of bounds")
    assert result.message.endswith("(policy line 3: return state.grid[99, 99])")


@pytest.mark.parametrize(
    "returned, expected",
    [("9", None), ("-1", None), ("'1'", None), ("True", None), ("2.0", None), ("None", None),
     ("[1]", None), ("np.int64(3)", 3), ("np.uint8(8)", 8), ("0", 0)],
)
def test_out_of_range_and_wrong_type_actions(host, returned, expected):
    source = f"import numpy as np\ndef policy(state, agent_id):\n    return {returned}\n"
    outside = run_unsandboxed(source, host.state, [0], n_actions=N_ACTIONS, fallback_action=FALLBACK)[0]
    if expected is None:
        assert (outside.ok, outside.error, outside.action) == (False, "invalid_action", FALLBACK)
    else:
        assert (outside.ok, outside.action) == (True, expected)


def test_invalid_actions_in_the_sandbox_and_accounting(host):
    source = "def policy(state, agent_id):\n    return [3, 9, -1, True][agent_id]\n"
    with PolicySandbox(source, n_actions=N_ACTIONS, fallback_action=FALLBACK) as sandbox:
        results = sandbox.call(host.state, [0, 1, 2, 3])
        results += sandbox.call(host.state, [1])
    assert [(r.action, r.error) for r in results] == [(3, ""), (FALLBACK, "invalid_action"), (FALLBACK, "invalid_action"),
                                                      (FALLBACK, "invalid_action"), (FALLBACK, "invalid_action")]
    assert "0..8" in results[1].message and "bool" in results[3].message
    assert sandbox.failures == {"invalid_action": 4}
    assert [(r.call_index, r.agent_id) for r in sandbox.reports] == [(0, 1), (0, 2), (0, 3), (1, 1)]
    assert sandbox.calls == 2
    assert set(sandbox.failures) <= set(FAILURE_KINDS)
