"""The policy sandbox (issue 8 part 1, issue 15 part 1): helpers, the compile step, snapshots,
isolation levels and their properties, honest policies in and out of the sandbox, escapes,
resources, the per-episode budget, and what synthesized agents record and refuse.

The machine's isolation level (``probe_isolation().level``: bubblewrap, namespaces or process)
is named in the ids of the tests that run under it. Escapes are tried as an LLM would write
them (the static filter rejects them) and with the static filter switched off
(``compile_policy(..., static_checks=False)``, standing in for code built at run time with
``chr()``) under three layer settings: everything on, the seccomp filter without the audit
hook, and the audit hook without the seccomp filter. The level properties (environment,
files, network, namespaces, limits) are checked with both Python-level layers off, so they
show what the operating system alone holds. Each escape test checks the reported kind, the
fallback, and that the host is untouched: the canary file is neither read, changed nor
deleted, no file appears, builtins and helpers are the same objects, the snapshot arrays are
unchanged.
"""

from __future__ import annotations

import builtins
import errno
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dilemmazoo.agents import policy_helpers as ph
from dilemmazoo.agents.sandbox import (
    FAILURE_KINDS,
    LEVELS,
    PRETEND_MISSING_ENV,
    CompiledPolicy,
    FailureReport,
    PolicySandbox,
    RejectedPolicy,
    SandboxLimits,
    SandboxUnavailable,
    SandboxViolation,
    UnsafeInProcessPolicy,
    UnsafeInProcessWarning,
    Violation,
    compile_policy,
    extract_code,
    make_snapshot,
    probe_isolation,
    resolve_isolation,
    run_unsafe_in_process,
    seccomp_program,
)
from dilemmazoo.agents.sandbox.isolation import WORKER_ENV, namespace_ids

MACHINE = probe_isolation()
LEVEL = MACHINE.level  # what this machine gives; tests below run under it
STRONG_HERE = [level for level in ("bubblewrap", "namespaces") if MACHINE.available(level)]
LEVELS_HERE = [*STRONG_HERE, "process"]
N_ACTIONS, FALLBACK = 9, 7  # the gridworld's 9 actions; 7 = stay
FAST = SandboxLimits(call_timeout_s=0.25, grace_s=0.35)
REPO_FILE = Path(__file__).resolve().parent.parent / "README.md"

pytestmark = pytest.mark.filterwarnings("ignore::dilemmazoo.agents.sandbox.UnsafeInProcessWarning")


@pytest.fixture(params=[LEVEL])
def level(request) -> str:
    """The machine's level, named in the ids of the tests that run workers under it."""
    return request.param


def sandbox(policy, isolation: str = LEVEL, **kwargs) -> PolicySandbox:
    """A sandbox under the machine's level (explicitly ``process`` where that is all there is)."""
    return PolicySandbox(policy, n_actions=kwargs.pop("n_actions", N_ACTIONS), fallback_action=FALLBACK,
                         isolation=isolation, **kwargs)


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
    ("gc", "import gc\ndef policy(s, a):\n    return len(gc.get_objects())\n", "import of 'gc'"),
    ("ctypes", "import ctypes\ndef policy(s, a):\n    return 0\n", "import of 'ctypes'"),
    ("from os", "from os import path\ndef policy(s, a):\n    return 0\n", "import of 'os'"),
    ("ctypeslib", "import numpy.ctypeslib\ndef policy(s, a):\n    return 0\n", "import of 'numpy.ctypeslib'"),
    ("np.load", "from numpy import load\ndef policy(s, a):\n    return 0\n", "importing 'load'"),
    ("np.save", "import numpy as np\ndef policy(s, a):\n    np.save('x.npy', s.grid)\n    return 0\n", "'save'"),
    ("tofile", "def policy(s, a):\n    s.grid.tofile('x')\n    return 0\n", "'tofile'"),
    ("match class pattern", "def policy(s, a):\n    match s:\n        case tuple(__class__=c):\n            return 1\n"
                            "    return 0\n", "private attribute '__class__'"),
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
    with sandbox(rejected) as box:
        results = box.call(state, [0, 1])
        assert box.worker_pid is None
    assert [(r.action, r.ok, r.error) for r in results] == [(FALLBACK, False, "rejected")] * 2
    assert results[0].message == rejected.message
    assert box.failures == {"rejected": 2}
    assert box.reports[1] == FailureReport(0, 1, "rejected", rejected.message)


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
        sandbox("def policy(s, a):\n    return 0\n", n_actions=0)
    with pytest.raises(ValueError, match="fallback_action"):
        PolicySandbox("def policy(s, a):\n    return 0\n", n_actions=9, fallback_action=9, isolation=LEVEL)
    with pytest.raises(ValueError, match="call_timeout_s"):
        SandboxLimits(call_timeout_s=0)
    with pytest.raises(ValueError, match="episode_budget_s"):
        SandboxLimits(episode_budget_s=-1)
    with pytest.raises(SandboxUnavailable, match="isolation must be one of auto, bubblewrap, namespaces, process"):
        sandbox("def policy(s, a):\n    return 0\n", isolation="chroot")
    with pytest.raises(TypeError, match="Snapshot"):
        run_unsafe_in_process("def policy(s, a):\n    return 0\n", {"grid": GRID}, [0], n_actions=9, fallback_action=7)


# --------------------------------------------------------------------------------------------
# Isolation: probing, levels, refusal
# --------------------------------------------------------------------------------------------


def test_probe_names_the_level_and_what_holds():
    assert LEVEL in LEVELS
    details = MACHINE.details
    assert set(details) >= {"bubblewrap", "namespaces", "seccomp", "seccomp_arch", "pretend_missing"}
    pretended = os.environ.get(PRETEND_MISSING_ENV, "")  # set to run this file under a fallback level
    assert details["pretend_missing"] == sorted(part for part in pretended.split(",") if part)
    expected = "bubblewrap" if details["seccomp"] is True and details["bubblewrap"] is True else (
        "namespaces" if details["seccomp"] is True and details["namespaces"] is True else "process")
    assert LEVEL == expected
    for part in ("bubblewrap", "namespaces", "seccomp"):  # True, or a sentence saying why not
        assert details[part] is True or (isinstance(details[part], str) and details[part])


@pytest.mark.parametrize(
    "missing, level",
    [("bubblewrap", "namespaces"), ("bubblewrap,namespaces", "process"), ("seccomp", "process")],
)
def test_pretended_missing_parts_lower_the_level(monkeypatch, missing, level):
    monkeypatch.delenv(PRETEND_MISSING_ENV, raising=False)
    real = probe_isolation().details
    monkeypatch.setenv(PRETEND_MISSING_ENV, missing)
    probe = probe_isolation()
    for part in missing.split(","):
        assert probe.details[part] == "pretended missing"
    if real["seccomp"] is not True or (level == "namespaces" and real["namespaces"] is not True):
        level = "process"
    assert probe.level == level


def test_auto_refuses_when_only_a_plain_process_is_left(monkeypatch):
    monkeypatch.setenv(PRETEND_MISSING_ENV, "bubblewrap,namespaces")
    with pytest.raises(SandboxUnavailable) as refused:
        resolve_isolation("auto")
    message = str(refused.value)
    assert "apt-get install bubblewrap" in message and "bubblewrap: pretended missing" in message
    assert "namespaces: pretended missing" in message and "`isolation: process`" in message
    with pytest.raises(SandboxUnavailable, match="isolation: bubblewrap is not available on this machine"):
        resolve_isolation("bubblewrap")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        sandbox("def policy(s, a):\n    return 0\n", isolation="auto")
    assert resolve_isolation("process").level == "process"
    monkeypatch.setenv(PRETEND_MISSING_ENV, "seccomp")
    with pytest.raises(SandboxUnavailable, match="pip install pyseccomp"):
        resolve_isolation("namespaces")


def _bpf_constants(program: bytes) -> set[int]:
    return {struct.unpack("HBBI", program[i:i + 8])[3] for i in range(0, len(program), 8)}


@pytest.mark.skipif(MACHINE.details["seccomp"] is not True, reason="no pyseccomp/libseccomp here")
def test_seccomp_filter_builds_for_x86_64_and_aarch64():
    x86, arm = seccomp_program("x86_64"), seccomp_program("aarch64")
    assert len(x86) % 8 == 0 and len(arm) % 8 == 0 and x86 != arm
    # each checks its architecture first (AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64) ...
    assert 0xC000003E in _bpf_constants(x86) and 0xC00000B7 not in _bpf_constants(x86)
    assert 0xC00000B7 in _bpf_constants(arm) and 0xC000003E not in _bpf_constants(arm)
    # ... and names system calls by that architecture's numbers: socket is 41 on x86-64, 198 on aarch64
    assert {41, 101, 29} <= _bpf_constants(x86)  # socket, ptrace, shmget
    assert {198, 117, 194} <= _bpf_constants(arm)
    with pytest.raises(ValueError, match="seccomp filters are built for"):
        seccomp_program("riscv64")


# The operating system alone: both Python-level layers off, the static filter bypassed.
OS_ONLY = SandboxLimits(audit_hook=False, seccomp=False)
OS_GLOBALS = """
def _os():
    for c in ().__class__.__base__.__subclasses__():
        if c.__name__ == "_wrap_close":
            return c.__init__.__globals__

"""
PROBE = OS_GLOBALS + """
def policy(state, agent_id):
    g = _os()
    b = g['__builtins__']
    failed = b['OSError']
    found = 0
    if {env!r} in g['environ'] or 'HOME' in g['environ'] or 'PATH' in g['environ']:
        found |= 1
    for bit, path in ((2, {canary!r}), (4, {repo!r})):
        try:
            b['open'](path).read()
            found |= bit
        except failed:
            pass
    for bit, path in ((8, '/usr/lib/dilemmazoo-probe'), (16, 'written-here')):
        try:
            with b['open'](path, 'w') as handle:
                handle.write('x')
            found |= bit
        except failed:
            pass
    ct = g['sys'].modules['ctypes']
    libc = ct.CDLL(None, use_errno=True)
    address = bytes([2, 0]) + ({port}).to_bytes(2, 'big') + bytes([127, 0, 0, 1]) + bytes(8)  # sockaddr_in
    if libc.connect(libc.socket(2, 1, 0), ct.create_string_buffer(address, 16), 16) == 0:
        found |= 32
    r = g['sys'].modules['resource']
    limits = [r.getrlimit(b['getattr'](r, name)) for name in ('RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_NPROC', 'RLIMIT_AS')]
    if limits == [(0, 0), (16, 16), (0, 0), ({memory} << 20, {memory} << 20)]:
        found |= 64
    return found
"""
# what each level lets through (bits above): a plain process reads the host's world-readable
# files and reaches its loopback; the namespaced levels see none of it
PROBE_EXPECTED = {"bubblewrap": 64, "namespaces": 64, "process": 2 | 4 | 32 | 64}


@pytest.fixture
def host_secrets(monkeypatch):
    """A host environment variable and a world-readable file in /tmp, and a loopback server."""
    monkeypatch.setenv("DILEMMAZOO_CANARY_ENV", "canary-value")
    folder = tempfile.mkdtemp(prefix="dilemmazoo-canary-")
    os.chmod(folder, 0o755)
    canary = Path(folder) / "id_rsa"
    canary.write_text("canary")
    os.chmod(canary, 0o644)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield {"env": "DILEMMAZOO_CANARY_ENV", "canary": str(canary), "port": server.getsockname()[1]}
    server.close()
    canary.unlink()
    os.rmdir(folder)


@pytest.mark.parametrize("level", LEVELS_HERE)
def test_level_properties(level, host_secrets, caplog):
    limits = SandboxLimits(audit_hook=False, seccomp=False, memory_mb=900)
    source = PROBE.format(env=host_secrets["env"], canary=host_secrets["canary"], repo=str(REPO_FILE),
                          port=host_secrets["port"], memory=900)
    with caplog.at_level(logging.WARNING, logger="dilemmazoo.sandbox"):
        with sandbox(compile_policy(source, static_checks=False), isolation=level, limits=limits,
                     n_actions=128) as box:
            (result,) = box.call(make_snapshot({}, {}), [0])
            isolation = box.isolation
    assert result.ok, result
    assert result.action == PROBE_EXPECTED[level], f"found {result.action:07b}"
    host = namespace_ids()
    kinds = ("user", "mnt", "net", "ipc", "pid", "uts")
    assert isolation["level"] == level
    if level == "process":
        assert isolation["namespaces"] == host
        assert "isolation: process" in caplog.text  # the weaker level is said
    else:
        assert all(isolation["namespaces"][kind] != host[kind] for kind in kinds)  # fresh namespaces
        assert isolation["pid"] == {"bubblewrap": 2, "namespaces": 1}[level]  # bwrap's init is pid 1
        assert caplog.text == ""
    assert isolation["uid"] == {"bubblewrap": 65534, "namespaces": 0, "process": 65534 if os.geteuid() == 0
                                else os.geteuid()}[level]
    assert isolation["rlimits"]["RLIMIT_FSIZE"] == 0 and isolation["rlimits"]["RLIMIT_AS"] == 900 << 20
    assert (isolation["seccomp"], isolation["audit_hook"]) == (False, False)


def test_environment_is_only_what_the_worker_needs(host_secrets, level):
    source = OS_GLOBALS + "def policy(state, agent_id):\n    return len(_os()['environ'])\n"
    with sandbox(compile_policy(source, static_checks=False), limits=OS_ONLY) as box:
        (result,) = box.call(make_snapshot({}, {}), [0])
    # bubblewrap adds PWD; LC_CTYPE is what Python derives from LC_ALL
    assert result.action in {len(WORKER_ENV), len(WORKER_ENV) + 1, len(WORKER_ENV) + 2}, result


# The seccomp filter alone (no audit hook): attempts that only an attack makes kill the worker;
# other system calls outside the allow-list fail with EPERM.
SYSCALL_ATTEMPTS = {
    "socket": "libc.socket(2, 1, 0)",
    "ptrace": "libc.ptrace(0, 0, 0, 0)",
    "shmget": "libc.shmget(0, 16 << 20, 0o1600)",
    "kill the host": "libc.kill({host_pid}, 0)",
    "fork": "libc.fork()",
    "open for writing": "libc.open(b'/tmp/x', 0o101, 0o644)",
    "setrlimit": "libc.setrlimit(1, (ct.c_ulong * 2)(0, 0))",
}


@pytest.mark.skipif(MACHINE.details["seccomp"] is not True, reason="no seccomp filter here")
@pytest.mark.parametrize("attempt", list(SYSCALL_ATTEMPTS))
def test_seccomp_kills_attack_system_calls(attempt, level):
    call = SYSCALL_ATTEMPTS[attempt].format(host_pid=os.getpid())
    source = OS_GLOBALS + ("def policy(state, agent_id):\n    ct = _os()['sys'].modules['ctypes']\n"
                           f"    libc = ct.CDLL(None, use_errno=True)\n    return 8 if {call} >= 0 else 1\n")
    with sandbox(compile_policy(source, static_checks=False), limits=SandboxLimits(audit_hook=False)) as box:
        (result,) = box.call(make_snapshot({}, {}), [0])
        assert not box.alive
    assert (result.error, result.action) == ("forbidden", FALLBACK), result
    assert "killed by SIGSYS" in result.message
    assert box.violations == [Violation(0, None, "a system call the seccomp filter kills for")]


@pytest.mark.skipif(MACHINE.details["seccomp"] is not True, reason="no seccomp filter here")
def test_seccomp_refuses_other_system_calls_with_eperm(level):
    source = OS_GLOBALS + (
        "def policy(state, agent_id):\n    g = _os()\n    b = g['__builtins__']\n    try:\n"
        "        [g['stat'], g['listdir'], g['getcwd']][agent_id]('/')\n"
        "    except b['PermissionError'] as error:\n        return error.errno\n    except b['TypeError']:\n"
        "        return 5\n    return 8\n")
    with sandbox(compile_policy(source, static_checks=False), limits=SandboxLimits(audit_hook=False)) as box:
        results = box.call(make_snapshot({}, {}), [0, 1, 2])
        assert box.alive and box.restarts == 0
    # stat and opening a directory fail with EPERM; getcwd is allowed (and takes no argument)
    assert [r.action for r in results] == [errno.EPERM, errno.EPERM, 5]


@pytest.mark.skipif(not STRONG_HERE, reason="no namespaces here")
def test_shared_memory_does_not_outlive_the_worker(level):
    """With both Python layers off, a policy makes a SysV segment: it lives in the worker's own
    IPC namespace, so the next episode's worker cannot find it and the host never sees it."""
    source = OS_GLOBALS + (
        "def policy(state, agent_id):\n    ct = _os()['sys'].modules['ctypes']\n"
        "    libc = ct.CDLL(None, use_errno=True)\n"
        "    flags = 0o1600 if agent_id == 0 else 0o600  # IPC_CREAT on the first call only\n"
        "    return 1 if libc.shmget(0x5A17, 1 << 20, flags) >= 0 else 2\n")
    before = Path("/proc/sysvipc/shm").read_text()
    policy = compile_policy(source, static_checks=False)
    with sandbox(policy, limits=OS_ONLY) as first:
        created, found_again = first.call(make_snapshot({}, {}), [0, 1])
    with sandbox(policy, limits=OS_ONLY) as second:
        (found_later,) = second.call(make_snapshot({}, {}), [1])
    assert (created.action, found_again.action, found_later.action) == (1, 1, 2)
    assert Path("/proc/sysvipc/shm").read_text() == before


def test_worker_dies_with_the_host(tmp_path, level):
    script = tmp_path / "host.py"
    script.write_text(
        "import sys, time\nfrom dilemmazoo.agents.sandbox import PolicySandbox\n"
        f"box = PolicySandbox('def policy(s, a):\\n    return 1\\n', n_actions=9, fallback_action=7, isolation={LEVEL!r})\n"
        "box.start()\nprint(box.worker_pid, flush=True)\ntime.sleep(60)\n")
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(host.stdout.readline())
    os.kill(worker, 0)  # running
    host.kill()
    host.wait()
    for _ in range(100):  # the worker goes within moments (checked, not timed)
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        try:
            os.waitpid(worker, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    else:
        pytest.fail("the worker outlived its host")
    host.stdout.close()


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


@pytest.fixture(scope="module", params=[LEVEL])
def bfs_sandbox(request):
    with sandbox(compile_policy(BFS_POLICY), isolation=request.param) as box:
        yield box


def test_bfs_policy_hand_computed_in_and_out(bfs_sandbox):
    state = bfs_state()
    outside = run_unsafe_in_process(compile_policy(BFS_POLICY), state, range(5), n_actions=N_ACTIONS,
                                    fallback_action=FALLBACK)
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
        assert inside == run_unsafe_in_process(policy, state, range(8), n_actions=N_ACTIONS, fallback_action=FALLBACK)
        assert all(r.ok for r in inside)


def test_seeded_randomness_and_module_state_match(level):
    state = bfs_state()
    policy = compile_policy(RANDOM_POLICY)
    local = UnsafeInProcessPolicy(policy, n_actions=N_ACTIONS, fallback_action=FALLBACK, seed=3)
    with sandbox(policy, seed=3) as box:
        inside = [r.action for _ in range(3) for r in box.call(state, [0, 1])]
    outside = [r.action for _ in range(3) for r in local.call(state, [0, 1])]
    assert inside == outside
    assert len(set(inside)) > 1  # not a constant: the policy really draws numbers
    other_seed = UnsafeInProcessPolicy(policy, n_actions=N_ACTIONS, fallback_action=FALLBACK, seed=4)
    assert [r.action for _ in range(3) for r in other_seed.call(state, [0, 1])] != outside


def test_unsafe_in_process_runner_warns():
    with pytest.warns(UnsafeInProcessWarning, match="without isolation"):
        UnsafeInProcessPolicy("def policy(s, a):\n    return 1\n", n_actions=N_ACTIONS, fallback_action=FALLBACK)


def test_worker_isolation_report(bfs_sandbox):
    isolation = bfs_sandbox.isolation
    assert isolation["level"] == bfs_sandbox.level == LEVEL
    assert isolation["audit_hook"] is True
    assert isolation["seccomp"] is (MACHINE.details["seccomp"] is True)
    assert isolation["rlimits"] == {"RLIMIT_AS": 1024 << 20, "RLIMIT_CPU": 600, "RLIMIT_FSIZE": 0, "RLIMIT_CORE": 0,
                                    "RLIMIT_NOFILE": 16, "RLIMIT_NPROC": 0, "RLIMIT_MEMLOCK": 0, "RLIMIT_MSGQUEUE": 0}


def test_close_stops_and_reaps_the_worker(level):
    with sandbox("def policy(s, a):\n    return 1\n") as box:
        pid = box.worker_pid
        assert box.call(bfs_state(), [0])[0].action == 1
    assert not box.alive
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped


def test_module_views_hold_nothing_private():
    """A view is a fresh module of public names: no target, no log, no attrgetter/methodcaller."""
    from dilemmazoo.agents.sandbox.api import build_views

    views = build_views(ph, 0, lambda text: None)
    for name, view in views.items():
        private = [key for key in vars(view) if key.startswith("_") and not (key.startswith("__") and key.endswith("__"))]
        assert private == [], name
        assert set(vars(view)) & {"__getattr__", "__name__"} == {"__getattr__", "__name__"}
    assert "attrgetter" not in vars(views["operator"]) and "methodcaller" not in vars(views["operator"])
    assert "update_wrapper" not in vars(views["functools"]) and "wraps" not in vars(views["functools"])
    assert views["functools"].reduce(lambda x, y: x * y, [2, 3, 4]) == 24
    assert views["operator"].itemgetter(1)([5, 6]) == 6
    assert "save" not in vars(views["numpy"]) and views["numpy"].random is views["numpy.random"]


# --------------------------------------------------------------------------------------------
# Escapes: the host must stay untouched
# --------------------------------------------------------------------------------------------


@dataclass
class Host:
    dir: Path
    canary: Path
    state: object


@pytest.fixture(params=[LEVEL])  # names the machine's level in the ids of the tests that use it
def host(request, tmp_path, monkeypatch):
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


LAYERS = {
    "all": SandboxLimits(),
    "seccomp-only": SandboxLimits(audit_hook=False),
    "audit-only": SandboxLimits(seccomp=False),
}
F = "forbidden"
# name -> (policy body using {canary}, {dir}, {host_pid}; expected per layer setting: a failure
# kind, or None where the attempt alone gives nothing that layer has to stop)
BYPASS_ATTACKS = {
    "read file": ("return len(_os()['__builtins__']['open']({canary!r}).read())", {}),
    "write file": ("_os()['__builtins__']['open']({canary!r}, 'w').write('x')\n    return 0", {}),
    "create file": ("_os()['__builtins__']['open']({dir!r} + '/new.txt', 'w')\n    return 0", {}),
    "delete file": ("_os()['remove']({canary!r})\n    return 0", {}),
    "list directory": ("return len(_os()['listdir']({dir!r}))", {}),
    "fork": ("_os()['fork']()\n    return 0", {}),
    "subprocess": ("_os()['__builtins__']['__import__']('subprocess').run(['touch', {dir!r} + '/pwned'])\n"
                   "    return 0", {"seccomp-only": "crash"}),  # the import fails: no file can be opened
    "kill host": ("_os()['kill']({host_pid}, 9)\n    return 0", {}),
    "shell command": ("return 0 if _os()['system']('touch ' + {dir!r} + '/pwned') == 0 else 1", {}),
    "import socket and connect": (
        "sk = _os()['__builtins__']['__import__']('socket')\n"
        "    sk.create_connection(('10.1.2.3', 80), timeout=0.1)\n    return 0",
        {"seccomp-only": "crash"},  # the import itself fails: no file can be opened
    ),
    "restricted import": ("__import__('socket')\n    return 0", {}),
    "ctypes socket": ("ct = _os()['sys'].modules['ctypes']\n    libc = ct.CDLL(None, use_errno=True)\n"
                      "    return ct.get_errno() if libc.socket(2, 1, 0) < 0 else 8", {}),
    "ctypes unlink": ("ct = _os()['sys'].modules['ctypes']\n    libc = ct.CDLL(None, use_errno=True)\n"
                      "    return ct.get_errno() if libc.unlink({canary!r}.encode()) < 0 else 8", {}),
    "numpy save": ("import numpy as np\n    np.save({dir!r} + '/x.npy', np.zeros(3))\n    return 0", {}),
    "numpy load": ("import numpy as np\n    return int(np.load({canary!r}).sum())", {}),
    "ndarray.tofile": ("import numpy as np\n    np.zeros(3).tofile({dir!r} + '/x.bin')\n    return 0",
                       {"all": "crash", "seccomp-only": "crash", "audit-only": "crash"}),  # numpy cannot write
    "gc in the worker": ("gc = _os()['__builtins__']['__import__']('gc')\n    return len(gc.get_objects()) % 9",
                         {"seccomp-only": None}),  # gc is built in: it only sees the worker's own objects
    "frame from generator": ("g = (x for x in [1])\n    return len(g.gi_frame.f_back.f_globals)",
                             {"seccomp-only": None}),
    "frame from traceback": ("try:\n        1 / 0\n    except ZeroDivisionError as e:\n"
                             "        return len(e.__traceback__.tb_frame.f_globals)", {"seccomp-only": None}),
    "add an audit hook": ("_os()['sys'].addaudithook(lambda event, args: None)\n    return 0", {"seccomp-only": None}),
}
BYPASS_CASES = [(attack, layer) for attack, (_, overrides) in BYPASS_ATTACKS.items() for layer in LAYERS
                if overrides.get(layer, F) is not None]


@pytest.mark.parametrize("attack, layer", BYPASS_CASES, ids=[f"{a}-{layer}" for a, layer in BYPASS_CASES])
def test_escape_with_static_filter_bypassed(host, attack, layer):
    if layer != "audit-only" and MACHINE.details["seccomp"] is not True:
        pytest.skip("no seccomp filter on this machine")
    body, overrides = BYPASS_ATTACKS[attack]
    expected = overrides.get(layer, F)
    source = OS_GLOBALS + "def policy(state, agent_id):\n    " + body.format(
        canary=str(host.canary), dir=str(host.dir), host_pid=os.getpid()) + "\n"
    policy = compile_policy(source, static_checks=False)
    assert isinstance(policy, CompiledPolicy)
    with sandbox(policy, limits=LAYERS[layer]) as box:
        (result,) = box.call(host.state, [0])
    assert (result.ok, result.error, result.action) == (False, expected, FALLBACK), result
    assert box.failures == {expected: 1}
    assert box.reports[0].kind == expected and box.reports[0].message == result.message
    if expected == F and (layer != "seccomp-only" or "SIGSYS" in result.message):
        assert len(box.violations) >= 1  # the host's own log (EPERM answers are counted in failures only)


def test_attempt_is_logged_by_the_host_even_when_the_policy_catches_it(host):
    source = OS_GLOBALS + (
        "def policy(state, agent_id):\n    try:\n        _os()['remove']({canary!r})\n"
        "    except Exception:\n        pass\n    return 3\n"
    ).format(canary=str(host.canary))
    with sandbox(compile_policy(source, static_checks=False)) as box:
        first, caught = box.call(host.state, [5, 6])
    assert (first.error, caught.error, caught.action) == ("forbidden", "forbidden", FALLBACK)
    assert "os.remove" in caught.message
    assert [(v.call_index, v.agent_id) for v in box.violations] == [(0, 5), (0, 6)]
    assert all(v.text.startswith("blocked os.remove(") for v in box.violations)


def test_a_flood_of_refused_attempts_is_counted_not_kept(host):
    source = ("import math\ndef policy(state, agent_id):\n    for count in range(500):\n        try:\n"
              "            math.tau = count\n        except Exception:\n            pass\n    return 1\n")
    with sandbox(source) as box:
        (result,) = box.call(host.state, [0])
    assert (result.error, result.action) == ("forbidden", FALLBACK)
    assert result.message == "assignment to math.tau (x100) and 400 more attempts"  # 100 reports a decision
    assert len(box.violations) == 100 and {v.text for v in box.violations} == {"assignment to math.tau"}


def test_patching_builtins_stays_inside_the_policy(host):
    # the policy's own builtins are a private dict: patching them changes only its answers
    source = "def policy(state, agent_id):\n    __builtins__['len'] = lambda x: 5\n    return len([])\n"
    policy = compile_policy(source, static_checks=False)
    with sandbox(policy) as box:
        assert [r.action for r in box.call(host.state, [0, 1])] == [5, 5]
    assert run_unsafe_in_process(policy, host.state, [0], n_actions=N_ACTIONS, fallback_action=FALLBACK)[0].action == 5
    # the worker's real builtins (reached by the subclass walk) break only the worker
    source = OS_GLOBALS + "def policy(state, agent_id):\n    _os()['__builtins__']['len'] = None\n    return 4\n"
    with sandbox(compile_policy(source, static_checks=False)) as box:
        results = box.call(host.state, [0, 1]) + box.call(host.state, [0])
        assert box.restarts == 1
    assert [(r.error, r.action) for r in results] == [("crash", FALLBACK)] * 3
    assert len([]) == 0  # the host fixture also checks every builtin


def test_protocol_tampering_restarts_the_worker(host):
    # writes a bogus 4 GiB frame header on the worker's answer pipe (fd 4)
    source = OS_GLOBALS + "def policy(state, agent_id):\n    _os()['write'](4, b'\\xff\\xff\\xff\\xff')\n    return 0\n"
    with sandbox(compile_policy(source, static_checks=False)) as box:
        first_pid = box.worker_pid
        (result,) = box.call(host.state, [0])
        assert (result.error, result.action) == ("crash", FALLBACK) and "protocol" in result.message
        assert not box.alive
        (again,) = box.call(host.state, [0])  # a fresh worker, tampered with again
        assert again.error == "crash" and box.restarts == 1 and first_pid is not None


def test_top_level_attack_fails_the_load(host):
    source = OS_GLOBALS + f"_os()['remove']({str(host.canary)!r})\n\ndef policy(state, agent_id):\n    return 0\n"
    with sandbox(compile_policy(source, static_checks=False)) as box:
        results = box.call(host.state, [0, 1]) + box.call(host.state, [2])
    assert [(r.error, r.action) for r in results] == [("forbidden", FALLBACK)] * 3
    assert results[0].message.startswith("while loading the policy")
    assert box.failures == {"forbidden": 3} and box.restarts == 0
    assert [(v.call_index, v.agent_id) for v in box.violations] == [(0, None)]


# Attacks that pass the static filter and are stopped by the namespace: the same in and out
RUNTIME_ATTACKS = {
    "patch a helper": "helpers.nearest = None\n    return 0",
    "patch a helper via state": "state.helpers.direction_to_action = None\n    return 0",
    "patch math": "import math\n    math.sqrt = None\n    return 0",
    "patch numpy": "import numpy as np\n    np.zeros = None\n    return 0",
    "numpy hidden name": "import numpy as np\n    np.show_runtime()\n    return 0",
    "write the snapshot array": "state.grid[0, 0] = 'A'\n    return 0",
    "make the array writeable": "state.positions.setflags(write=True)\n    return 0",
    "writeable flag": "state.positions.flags.writeable = True\n    return 0",
    "replace a snapshot entry": "state['grid'] = None\n    return 0",
    "add a snapshot attribute": "state.cheat = 1\n    return 0",
    "caught helper patch": "try:\n        helpers.nearest = None\n    except Exception:\n        pass\n    return 0",
    "caught snapshot write": "try:\n        state.cheat = 1\n    except Exception:\n        pass\n    return 0",
    # attribute access by a name built at run time: not in the views
    "attrgetter": "import operator\n    return operator.attrgetter('grid')(state)",
    "methodcaller": "from operator import methodcaller\n    return 0",
    "update_wrapper": "import functools\n    functools.update_wrapper(len, min, updated=('x',))\n    return 0",
    "caught wraps": "import functools\n    try:\n        functools.wraps(min)\n    except Exception:\n        pass\n    return 0",
}


@pytest.mark.parametrize("attack", list(RUNTIME_ATTACKS))
def test_runtime_attacks_are_forbidden_in_and_out(host, attack):
    policy = compile_policy("def policy(state, agent_id):\n    " + RUNTIME_ATTACKS[attack] + "\n")
    assert isinstance(policy, CompiledPolicy)
    outside = run_unsafe_in_process(policy, host.state, [0], n_actions=N_ACTIONS, fallback_action=FALLBACK)
    with sandbox(policy) as box:
        inside = box.call(host.state, [0])
    assert inside == outside
    assert (inside[0].error, inside[0].action) == ("forbidden", FALLBACK)


def test_patching_helpers_inside_one_policy_does_not_reach_another(host):
    # with the static filter off, the helpers' real module globals are one attribute away: each
    # runtime has its own copy of the module, so the patch stays in it
    patcher = compile_policy("def policy(state, agent_id):\n    helpers.nearest.__globals__['STAY'] = 3\n"
                             "    return helpers.nearest.__globals__['STAY']\n", static_checks=False)
    assert run_unsafe_in_process(patcher, host.state, [0], n_actions=N_ACTIONS, fallback_action=FALLBACK)[0].action == 3
    with sandbox(patcher) as box:
        assert box.call(host.state, [0])[0].action == 3
    assert ph.STAY == 7
    honest = run_unsafe_in_process(compile_policy(BFS_POLICY), host.state, range(5), n_actions=N_ACTIONS,
                                   fallback_action=FALLBACK)
    assert [r.action for r in honest] == BFS_EXPECTED


# --------------------------------------------------------------------------------------------
# Resources, the episode budget and answers
# --------------------------------------------------------------------------------------------


def test_infinite_loop_times_out_per_agent(host):
    source = "def policy(state, agent_id):\n    while agent_id == 1:\n        pass\n    return 2\n"
    with sandbox(source, limits=FAST) as box:
        results = box.call(host.state, [0, 1, 2])
        assert box.alive and box.restarts == 0  # interrupted inside the worker
    assert [(r.action, r.error) for r in results] == [(2, ""), (FALLBACK, "timeout"), (2, "")]


def test_loop_that_swallows_the_interrupt_is_killed(host):
    source = ("def policy(state, agent_id):\n    while True:\n        try:\n            while True:\n"
              "                pass\n        except:\n            pass\n")
    with sandbox(source, limits=FAST) as box:
        pid = box.worker_pid
        results = box.call(host.state, [0, 1])
        assert not box.alive
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        again = box.call(host.state, [0])
        assert box.restarts == 1
    assert [(r.error, r.action) for r in results + again] == [("timeout", FALLBACK)] * 3
    assert "killed" in results[0].message
    assert box.failures == {"timeout": 3}


def test_cpu_limit_kills_the_worker(host):
    source = "def policy(state, agent_id):\n    while True:\n        pass\n"
    with sandbox(source, limits=SandboxLimits(cpu_s=1, call_timeout_s=30, grace_s=30)) as box:
        (result,) = box.call(host.state, [0])
        assert not box.alive
    assert (result.error, result.action) == ("timeout", FALLBACK)
    assert result.message == "worker killed by SIGXCPU (CPU limit of 1 s)"


def test_episode_budget_falls_back_until_the_next_episode(host):
    """Agent 1 loops until the 0.1 s call limit; once the 0.25 s budget is spent (after at most
    3 calls, each at least 0.1 s), every decision falls back without calling the policy."""
    source = "def policy(state, agent_id):\n    while agent_id == 1:\n        pass\n    return 2\n"
    limits = SandboxLimits(call_timeout_s=0.1, grace_s=1.0, episode_budget_s=0.25)
    budget_message = "the policy used up its time budget of 0.25 s for this episode"
    with sandbox(source, limits=limits) as box:
        rounds = [box.call(host.state, [0, 1]) for _ in range(5)]
        spent = [r for r in rounds if r[0].message == budget_message]
        assert 2 <= len(spent) <= 4 and rounds[-len(spent):] == spent  # once spent, it stays spent
        for zero, one in rounds[:-len(spent)]:
            assert (zero.action, zero.ok, one.error) == (2, True, "timeout")
        calls_before = box.calls
        box.new_episode()
        (zero,) = box.call(host.state, [0])
    assert [(r.error, r.action) for r in spent[0]] == [("timeout", FALLBACK)] * 2
    assert (zero.ok, zero.action) == (True, 2) and box.calls == calls_before + 1
    assert box.failures == {"timeout": 5 - len(spent) + 2 * len(spent)}


@pytest.mark.parametrize(
    "bomb",
    ["x = bytes(4 * 1024 ** 3)", "x = [0] * 10 ** 9", "x = 'x' * (4 * 1024 ** 3)",
     "import numpy as np\n    x = np.ones(10 ** 10)"],
)
def test_memory_bombs(host, bomb):
    source = f"def policy(state, agent_id):\n    {bomb}\n    return 1\n"
    with sandbox(source) as box:
        (result,) = box.call(host.state, [0])
        assert box.alive
    assert (result.error, result.action) == ("memory", FALLBACK) and "MemoryError" in result.message


def test_crash_message_names_the_line(host):
    source = "def policy(state, agent_id):\n    x = 1\n    return state.grid[99, 99]\n"
    with sandbox(source) as box:
        (result,) = box.call(host.state, [0])
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
    outside = run_unsafe_in_process(source, host.state, [0], n_actions=N_ACTIONS, fallback_action=FALLBACK)[0]
    if expected is None:
        assert (outside.ok, outside.error, outside.action) == (False, "invalid_action", FALLBACK)
    else:
        assert (outside.ok, outside.action) == (True, expected)


def test_invalid_actions_in_the_sandbox_and_accounting(host):
    source = "def policy(state, agent_id):\n    return [3, 9, -1, True][agent_id]\n"
    with sandbox(source) as box:
        results = box.call(host.state, [0, 1, 2, 3])
        results += box.call(host.state, [1])
    assert [(r.action, r.error) for r in results] == [(3, ""), (FALLBACK, "invalid_action"), (FALLBACK, "invalid_action"),
                                                      (FALLBACK, "invalid_action"), (FALLBACK, "invalid_action")]
    assert "0..8" in results[1].message and "bool" in results[3].message
    assert box.failures == {"invalid_action": 4}
    assert [(r.call_index, r.agent_id) for r in box.reports] == [(0, 1), (0, 2), (0, 3), (1, 1)]
    assert box.calls == 2
    assert set(box.failures) <= set(FAILURE_KINDS)


# --------------------------------------------------------------------------------------------
# Synthesized agents: refusal, warning, the level recorded
# --------------------------------------------------------------------------------------------


def test_synthesized_agents_refuse_without_strong_isolation(monkeypatch):
    from dilemmazoo.agents.synthesis import SynthesizedPolicy

    monkeypatch.setenv(PRETEND_MISSING_ENV, "bubblewrap,namespaces")
    with pytest.raises(SandboxUnavailable, match="write `isolation: process`"):
        SynthesizedPolicy(None)
    with pytest.raises(SandboxUnavailable, match="isolation: namespaces is not available"):
        SynthesizedPolicy(None, isolation="namespaces")


def test_explicit_process_isolation_runs_and_warns_every_time(monkeypatch, caplog):
    from dilemmazoo.agents.synthesis import BFS_POLICY as GRID_BFS
    from dilemmazoo.agents.synthesis import SynthesizedPolicy, play_codes
    from dilemmazoo.envs import make_world

    monkeypatch.setenv(PRETEND_MISSING_ENV, "bubblewrap,namespaces")
    with caplog.at_level(logging.WARNING, logger="dilemmazoo.sandbox"):
        policy = SynthesizedPolicy(None, isolation="process")
        SynthesizedPolicy(None, isolation="process")
    assert caplog.text.count("runs model-written code with isolation: process") == 2
    assert policy.provenance()["isolation"] == "process"
    world = make_world("dilemmazoo/cleanup-v0", n_agents=2, rules="vicgalle", observation="global",
                       grid_map="small_cleanup", episode_length=3)
    result = play_codes(world, {"player_0": GRID_BFS}, seed=0, isolation="process")
    world.close()
    assert not result.failures and result.rewards.shape == (3, 2)


def test_synthesized_agents_record_the_level(level):
    from dilemmazoo.agents.synthesis import SynthesizedPolicy

    policy = SynthesizedPolicy(None, isolation="auto" if level != "process" else "process", episode_budget_s=30)
    assert policy.provenance() == {"model": None, "revision": None, "weights_sha256": None, "base_url": None,
                                   "decision": None, "isolation": level}
    assert policy.limits.episode_budget_s == 30.0
    members = {"player_0": {"iteration": 0}}
    policy.set_members(members)
    assert members["player_0"] == {"iteration": 0, "sandbox_isolation": level}
