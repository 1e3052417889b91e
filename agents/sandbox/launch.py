"""The host side: start a policy worker, talk to it over pipes, enforce deadlines, restart it.

:class:`PolicySandbox` runs one compiled policy in a worker process under the isolation of
:mod:`.isolation` (``bubblewrap``, ``namespaces`` or, when asked for explicitly, ``process``),
one round-trip per environment step for all agents that use the policy. The host:

- sends pickles (it is trusted) and reads length-checked JSON back, validated strictly, so a
  taken-over worker cannot run code in the host;
- keeps a hard deadline per round-trip (``k * call_timeout_s + grace_s`` for ``k`` agents),
  and a per-episode budget (``episode_budget_s``): once spent, the remaining decisions of the
  episode get the fallback without calling the policy, counted as ``timeout``;
- kills and restarts the worker after a deadline, a crash or a protocol error (at most
  ``max_restarts`` times), so a restart starts from a clean state: a new process in new
  namespaces with an empty ``/tmp`` and its own IPC namespace;
- keeps the violation log itself: the worker sends each refused attempt as it happens, and a
  worker killed by the seccomp filter (``SIGSYS``) is a violation the host sees from the exit
  status. ``sandbox.violations`` is that log; a policy cannot erase what was sent. A flood of
  attempts is bounded: at most :data:`MAX_VIOLATIONS_PER_DECISION` reports are kept per
  decision and the rest counted in one entry (the worker itself sends at most 100).

:class:`UnsafeInProcessPolicy` runs trusted code in the host process (tests, the benchmark):
static checks and the restricted namespace only, no isolation at all. No config reaches it.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .api import FAILURE_KINDS, PolicyRuntime, Snapshot, load_helpers, short, snapshot_to_wire
from .guards import CompiledPolicy, RejectedPolicy, compile_policy
from .warmup import warm_up
from .isolation import (
    WORKER_ENV,
    Isolation,
    bwrap_command,
    namespaces_command,
    probe_isolation,
    resolve_isolation,
    seccomp_program,
    worker_layout,
)

__all__ = [
    "FailureReport",
    "PolicyResult",
    "PolicySandbox",
    "SandboxLimits",
    "UnsafeInProcessPolicy",
    "UnsafeInProcessWarning",
    "Violation",
    "run_unsafe_in_process",
    "warn_weak_isolation",
]

logger = logging.getLogger(__name__)
MAX_VIOLATIONS_PER_DECISION = 100  # the host keeps this many per decision and counts the rest
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")


class UnsafeInProcessWarning(UserWarning):
    """Model-written code would run in this process, with no isolation at all."""


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
class Violation:
    """One refused attempt as the host recorded it (``agent_id`` None: not attributable, e.g.
    the policy's top-level code or a worker killed by the seccomp filter)."""

    call_index: int
    agent_id: Any
    text: str


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one policy worker.

    ``call_timeout_s`` is per agent decision: the worker interrupts a call after it, and the
    host kills the worker when a round-trip of ``k`` agents takes longer than
    ``k * call_timeout_s + grace_s``. ``episode_budget_s`` (None: no budget) caps the wall time
    of all round-trips between two :meth:`PolicySandbox.new_episode` calls. ``cpu_s`` is the
    worker's whole CPU budget (RLIMIT_CPU; the worker is restarted after it); ``memory_mb``
    caps its address space (numpy alone takes about 150 MB). ``seccomp`` and ``audit_hook``
    switch those layers (tests switch them off to show that the others hold); ``drop_root``
    makes a process-level worker started as root become nobody.
    """

    call_timeout_s: float = 1.0
    grace_s: float = 1.0
    startup_timeout_s: float = 20.0
    episode_budget_s: float | None = None
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
        if self.episode_budget_s is not None and not self.episode_budget_s > 0:
            raise ValueError(f"episode_budget_s must be > 0 or None, got {self.episode_budget_s!r}")
        for name in ("memory_mb", "cpu_s", "max_open_files", "max_response_bytes"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if not (isinstance(self.max_restarts, int) and self.max_restarts >= 0):
            raise ValueError(f"max_restarts must be an int >= 0, got {self.max_restarts!r}")


def warn_weak_isolation(what: str) -> None:
    """Say on stderr (logging) that model-written code runs without OS-level isolation."""
    logger.warning("%s runs model-written code with isolation: process (no namespaces, no read-only root): "
                   "it can read whatever this user can read. Install bubblewrap (`apt-get install bubblewrap`) "
                   "for the operating-system sandbox.", what)


def _check_action_arguments(n_actions: int, fallback_action: int) -> None:
    if not (isinstance(n_actions, (int, np.integer)) and not isinstance(n_actions, bool) and n_actions >= 1):
        raise ValueError(f"n_actions must be an int >= 1, got {n_actions!r}")
    if isinstance(fallback_action, bool) or not (
        isinstance(fallback_action, (int, np.integer)) and 0 <= fallback_action < n_actions
    ):
        raise ValueError(f"fallback_action must be an int in 0..{n_actions - 1}, got {fallback_action!r}")


def _check_call(snapshot: Any, agent_ids: Iterable[Any]) -> list[Any]:
    if not isinstance(snapshot, Snapshot):
        raise TypeError(f"snapshot must be a Snapshot from make_snapshot(), got {type(snapshot).__name__}")
    ids = [int(a) if isinstance(a, np.integer) else a for a in agent_ids]
    for agent_id in ids:
        if isinstance(agent_id, bool) or not isinstance(agent_id, (int, str)):
            raise ValueError(f"agent ids must be int or str, got {agent_id!r}")
    return ids


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
        self.violations: list[Violation] = []
        self.calls = 0

    def _record(self, results: list[PolicyResult]) -> list[PolicyResult]:
        for result in results:
            if not result.ok:
                self.failures[result.error] += 1
                self.reports.append(FailureReport(self.calls, result.agent_id, result.error, result.message))
        self.calls += 1
        return results


def _log_failures(call: int, decisions: list[tuple[int | None, str, str]]) -> None:
    """Log the failed decisions of one round-trip (they get the fallback action), by kind."""
    failed = Counter(kind for _, kind, _ in decisions if kind)
    for kind, count in sorted(failed.items()):
        message = next(text for _, k, text in decisions if k == kind)
        logger.info("policy sandbox: call %d: %d of %d decisions failed (%s: %s); the fallback action is used",
                    call, count, len(decisions), kind, message)


# ---------------------------------------------------------------------------------------------
# The trusted in-process runner
# ---------------------------------------------------------------------------------------------


_WARMED: list[bool] = []


def _warm_this_process() -> None:
    """Run the worker's warm-up once in this process too, so that trusted code answers here as it
    does in the worker (numpy's lazy imports during a policy call go through its restricted import)."""
    if not _WARMED:
        warm_up()
        _WARMED.append(True)


class UnsafeInProcessPolicy(_Accounting):
    """UNSAFE: runs policy code in THIS process, with the static checks and the restricted
    namespace only (no isolation, no audit hook, no timeouts).

    For trusted code only (comparing with the sandbox in tests, the benchmark); model-written
    code must go through :class:`PolicySandbox`. Warns (:class:`UnsafeInProcessWarning`) when
    made. Uses a private copy of the helpers and seeded ``random``/``numpy.random`` views,
    exactly as the worker does, so an honest policy answers the same in and out of the sandbox.
    """

    def __init__(self, policy: CompiledPolicy | RejectedPolicy | str, *, n_actions: int, fallback_action: int,
                 seed: int = 0):
        super().__init__()
        warnings.warn("UnsafeInProcessPolicy runs policy code in this process without isolation; "
                      "use it for trusted code only", UnsafeInProcessWarning, stacklevel=2)
        _check_action_arguments(n_actions, fallback_action)
        self.policy = compile_policy(policy) if isinstance(policy, str) else policy
        self.n_actions, self.fallback_action = int(n_actions), int(fallback_action)
        self.runtime = None
        if isinstance(self.policy, CompiledPolicy):
            _warm_this_process()
            helpers = load_helpers(worker_layout(sandboxed=False).helpers_path)
            self.runtime = PolicyRuntime(self.policy.code, seed=seed, n_actions=self.n_actions, helpers_module=helpers,
                                         report=self._violation)
            self.runtime.load()

    def _violation(self, text: str) -> None:
        self.violations.append(Violation(self.calls, None, text))

    def call(self, snapshot: Snapshot, agent_ids: Iterable[Any]) -> list[PolicyResult]:
        ids = _check_call(snapshot, agent_ids)
        if self.runtime is None:
            decisions = [(None, "rejected", self.policy.message)] * len(ids)
        else:
            state = snapshot.with_helpers(self.runtime.helpers, self.runtime.report)
            decisions = [self.runtime.decide(state, agent_id) for agent_id in ids]
        return self._record(_results(ids, decisions, self.fallback_action))


def run_unsafe_in_process(policy: CompiledPolicy | RejectedPolicy | str, snapshot: Snapshot, agent_ids: Iterable[Any],
                          *, n_actions: int, fallback_action: int, seed: int = 0) -> list[PolicyResult]:
    """UNSAFE: one batch of decisions in this process (see :class:`UnsafeInProcessPolicy`; trusted code only)."""
    return UnsafeInProcessPolicy(policy, n_actions=n_actions, fallback_action=fallback_action,
                                 seed=seed).call(snapshot, agent_ids)


# ---------------------------------------------------------------------------------------------
# The sandbox
# ---------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except (OSError, ValueError):
        return []


def _reap_adopted(pids: list[int]) -> None:
    """Reap the launcher's former children that were re-parented to this process (it is a child
    subreaper, as a test harness may be): bwrap's monitor can exit before its child does."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone already
        if parent == os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (OSError, ChildProcessError):
                pass


def _kill(process: subprocess.Popen, level: str) -> None:
    """Kill a worker so that nothing is left behind. At the namespaced levels the launcher
    (bwrap or unshare) is killed through its child, the first process of the worker's PID
    namespace: when it dies the kernel kills and reaps everything else in the namespace, and
    the launcher exits after it. Killing the launcher first would orphan them."""
    if level != "process":
        for child in _children(process.pid):
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
        try:
            process.wait(timeout=2.0)
            return
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the worker's session
    except OSError:
        process.kill()


class _WorkerTimeout(Exception):
    pass


class _WorkerGone(Exception):
    pass


class _ProtocolError(Exception):
    pass


class PolicySandbox(_Accounting):
    """Runs one compiled policy in an isolated worker process (a context manager).

    Args:
        policy: a :class:`CompiledPolicy`, a :class:`RejectedPolicy` (every call then returns
            the fallback, kind ``rejected``) or raw LLM text (passed to :func:`compile_policy`).
        n_actions: valid actions are ``0..n_actions-1``.
        fallback_action: returned for every failed decision (the world's declared fallback).
        limits: :class:`SandboxLimits` (default: 1 s per decision, 1 GiB, 600 s CPU per worker).
        seed: seeds the policy's ``random`` and ``numpy.random`` views.
        isolation: ``"auto"`` (the strongest level here; refuses when that is only
            ``process``), ``"bubblewrap"``, ``"namespaces"`` or ``"process"`` (weaker; logs a
            warning on the first start unless ``warn=False``). Raises
            :class:`~.isolation.SandboxUnavailable` when the level cannot be reached.

    Attributes: ``level`` (the isolation used), ``isolation`` (what the worker reported: level,
    pid and uid inside, namespace ids, rlimits, seccomp, audit hook), ``failures`` (Counter by
    kind), ``reports`` (list of :class:`FailureReport`), ``violations`` (the host's log of
    refused attempts, :class:`Violation`), ``calls`` (round-trips), ``restarts`` (workers
    started after the first), ``budget_spent_s`` (wall time of this episode's round-trips).

    The worker starts on ``__enter__``/:meth:`start` (or the first call) and is reused across
    calls, so module-level state of the policy persists until a restart. If the policy fails
    while loading (top-level code raises, loops, or does something forbidden), every call
    returns the fallback with that reason.
    """

    def __init__(self, policy: CompiledPolicy | RejectedPolicy | str, *, n_actions: int, fallback_action: int,
                 limits: SandboxLimits | None = None, seed: int = 0, isolation: str = "auto", warn: bool = True):
        super().__init__()
        _check_action_arguments(n_actions, fallback_action)
        self.policy = compile_policy(policy) if isinstance(policy, str) else policy
        if not isinstance(self.policy, (CompiledPolicy, RejectedPolicy)):
            raise TypeError(f"policy must be CompiledPolicy, RejectedPolicy or str, got {type(self.policy).__name__}")
        self.n_actions, self.fallback_action = int(n_actions), int(fallback_action)
        self.limits = limits if limits is not None else SandboxLimits()
        if not isinstance(self.limits, SandboxLimits):
            raise TypeError(f"limits must be SandboxLimits, got {type(self.limits).__name__}")
        self.resolved: Isolation = resolve_isolation(isolation)
        self.level = self.resolved.level
        self.seed = int(seed)
        self.restarts = -1
        self.isolation: dict[str, Any] = {"level": self.level}
        self.load_error: tuple[str, str] | None = None
        self.budget_spent_s = 0.0
        self._warn = warn and self.level == "process"
        self._process: subprocess.Popen | None = None
        self._inner: list[int] = []  # the launcher's children (bwrap's init, unshare's worker)
        self._dirs: list[str] = []
        self._buffer = b""
        self._violations: list[tuple[int, str]] = []  # (index in the call, text) received since the last answer
        self._dropped: Counter[int] = Counter()  # index -> reports past MAX_VIOLATIONS_PER_DECISION

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
        """The host pid of the worker's outermost process (bwrap or unshare at the strong levels)."""
        return self._process.pid if self._process is not None else None

    def new_episode(self) -> None:
        """Start a new episode's time budget (the worker and its state are kept)."""
        self.budget_spent_s = 0.0

    def _command(self) -> tuple[list[str], str, dict[str, Any]]:
        """The command line, its working directory and the level-specific part of the init."""
        scratch = tempfile.mkdtemp(prefix="dilemmazoo-sandbox-")
        os.chmod(scratch, 0o755)
        self._dirs.append(scratch)
        if self.level == "bubblewrap":
            layout = worker_layout(sandboxed=True)
            command = bwrap_command(layout, shutil.which("bwrap") or "bwrap")
            return command + [layout.python, "-I", "-S", "-B", f"{layout.code_dir}/worker.py"], scratch, {
                "code_dir": layout.code_dir, "site_dir": layout.site_dir, "helpers_path": layout.helpers_path}
        host = worker_layout(sandboxed=False)
        command = [host.python, "-I", "-S", "-B", _WORKER]
        if self.level == "process":
            return command, scratch, {"code_dir": host.code_dir, "site_dir": host.site_dir,
                                      "helpers_path": host.helpers_path}
        layout = worker_layout(sandboxed=True)
        jail = {"root": scratch, "binds": list(layout.binds), "symlinks": list(layout.symlinks)}
        return namespaces_command(shutil.which("unshare") or "unshare") + command, scratch, {
            "code_dir": layout.code_dir, "site_dir": layout.site_dir, "helpers_path": layout.helpers_path, "jail": jail}

    def start(self) -> None:
        """Start the worker (no-op for a rejected policy, a failed load, or a live worker)."""
        if isinstance(self.policy, RejectedPolicy) or self.load_error is not None or self.alive:
            return
        if self.restarts >= self.limits.max_restarts:
            self.load_error = ("crash", f"the worker was restarted {self.restarts} times; giving up on this policy")
            logger.warning("policy sandbox: %s", self.load_error[1])
            return
        if self._warn:
            warn_weak_isolation("a policy sandbox")
            self._warn = False
        self._stop_worker()
        self.restarts += 1
        if self.restarts > 0:
            logger.info("policy sandbox: restarting the worker (restart %d of at most %d, isolation %s)", self.restarts,
                        self.limits.max_restarts, self.level)
        command, cwd, paths = self._command()
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         cwd=cwd, env=dict(WORKER_ENV), close_fds=True, start_new_session=True)
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            os.set_blocking(stream.fileno(), False)
        self._buffer = b""
        self._violations = []
        self._dropped = Counter()
        use_seccomp = self.limits.seccomp and probe_isolation().details.get("seccomp") is True
        init = {
            "level": self.level, "code": self.policy.code, "seed": self.seed, "n_actions": self.n_actions,
            "host_pid": os.getpid(), "seccomp_program": seccomp_program() if use_seccomp else None, **paths,
            "limits": {
                "call_timeout_s": self.limits.call_timeout_s, "memory_mb": self.limits.memory_mb,
                "cpu_s": self.limits.cpu_s, "max_open_files": self.limits.max_open_files,
                "audit_hook": self.limits.audit_hook, "drop_root": self.limits.drop_root,
            },
        }
        deadline = time.monotonic() + self.limits.startup_timeout_s + self.limits.call_timeout_s
        try:
            self._send(pickle.dumps(init, protocol=pickle.HIGHEST_PROTOCOL), deadline)
            ready = self._receive(deadline)
            self._remove_dirs()  # only needed to start (cwd, mount point): nothing is left if the host dies later
            if isinstance(ready, dict) and isinstance(ready.get("fatal"), str):
                raise _ProtocolError(ready["fatal"].strip().splitlines()[-1] if ready["fatal"].strip() else "fatal")
            if not (isinstance(ready, dict) and ready.get("ready") is True and isinstance(ready.get("details"), dict)):
                raise _ProtocolError("bad handshake")
        except _WorkerTimeout:
            self.load_error = ("timeout", f"the worker did not start within {self.limits.startup_timeout_s} s")
            logger.warning("policy sandbox: %s", self.load_error[1])
            self._stop_worker()
            return
        except (_WorkerGone, _ProtocolError) as error:
            detail = str(error) or self._stderr_tail()
            kind, why = self._death_cause()
            self._take_violations(None)
            self.load_error = (kind, short(f"the worker failed to start ({why}): {detail}"))
            logger.warning("policy sandbox: %s (%s)", self.load_error[1], kind)
            self._stop_worker()
            return
        self.isolation = {"level": self.level, **ready["details"]}
        self._inner = _children(self._process.pid) if self.level != "process" else []
        self._take_violations(None)
        load_error = ready.get("load_error")
        if load_error is not None:
            if not (isinstance(load_error, list) and len(load_error) == 2 and load_error[0] in FAILURE_KINDS
                    and isinstance(load_error[1], str)):
                load_error = ["crash", "malformed load error from the worker"]
            self.load_error = (load_error[0], short(load_error[1]))
            logger.info("policy sandbox: the policy failed to load (%s): %s", *self.load_error)
            self._stop_worker()

    def close(self) -> None:
        """Stop the worker and remove its directories (the sandbox can be started again)."""
        process = self._process
        if process is not None and process.poll() is None:
            try:
                self._send(pickle.dumps({"op": "close"}), time.monotonic() + 0.2)
                process.wait(timeout=2.0)
            except (Exception, subprocess.TimeoutExpired):  # noqa: BLE001 - fall through to kill
                pass
        self._stop_worker()

    def _stop_worker(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                _kill(process, self.level)
            process.wait()
            _reap_adopted(self._inner)
            self._inner = []
            for stream in (process.stdin, process.stdout, process.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
        self._remove_dirs()

    def _remove_dirs(self) -> None:
        for path in self._dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._dirs = []

    # -- I/O ---------------------------------------------------------------------------------

    def _send(self, payload: bytes, deadline: float) -> None:
        fd = self._process.stdin.fileno()
        view = memoryview(struct.pack(">I", len(payload)) + payload)
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
        """The next frame that is not a violation report (those are kept as they arrive)."""
        while True:
            message = self._next_frame(deadline)
            if isinstance(message, dict) and set(message) == {"violation", "index"}:
                text, index = message["violation"], message["index"]
                if not isinstance(text, str) or type(index) is not int:
                    raise _ProtocolError("malformed violation report")
                if sum(1 for kept, _ in self._violations if kept == index) >= MAX_VIOLATIONS_PER_DECISION:
                    self._dropped[index] += 1  # a flood: counted, not kept
                else:
                    self._violations.append((index, short(text)))
                continue
            return message

    def _next_frame(self, deadline: float) -> Any:
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

    def _take_violations(self, agent_ids: list[Any] | None) -> dict[int, list[str]]:
        """Log the violations received since the last answer; index -> texts for this call."""
        by_index: dict[int, list[str]] = {}
        dropped = [(index, f"{count} more refused attempts (not kept)") for index, count in self._dropped.items()]
        for index, text in [*self._violations, *dropped]:
            inside = agent_ids is not None and 0 <= index < len(agent_ids)
            self.violations.append(Violation(self.calls, agent_ids[index] if inside else None, text))
            by_index.setdefault(index if inside else -1, []).append(text)
        self._violations = []
        self._dropped = Counter()
        return by_index

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
        # bwrap reports a signal that killed its child as 128 + signal, unshare re-raises it, and
        # the worker itself exits with 128 + SIGXCPU at its CPU limit
        number = -code if code < 0 else code - 128 if code > 128 else 0
        if not number:
            return "crash", f"worker exited with status {code}"
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
        if number == signal.SIGSYS:
            self.violations.append(Violation(self.calls, None, "a system call the seccomp filter kills for"))
            return "forbidden", f"worker killed by {name}: it made a system call the seccomp filter forbids"
        if number == signal.SIGXCPU:
            return "timeout", f"worker killed by {name} (CPU limit of {self.limits.cpu_s} s)"
        return "crash", f"worker killed by {name}"

    # -- calls -------------------------------------------------------------------------------

    def call(self, snapshot: Snapshot, agent_ids: Iterable[Any]) -> list[PolicyResult]:
        """One decision per agent id, all in one round-trip; failures return the fallback."""
        ids = _check_call(snapshot, agent_ids)
        if not ids:
            return []
        if isinstance(self.policy, RejectedPolicy):
            return self._record(_results(ids, [(None, "rejected", self.policy.message)] * len(ids), self.fallback_action))
        budget = self.limits.call_timeout_s * len(ids) + self.limits.grace_s
        left = None if self.limits.episode_budget_s is None else self.limits.episode_budget_s - self.budget_spent_s
        if left is not None and left <= 0:
            message = f"the policy used up its time budget of {self.limits.episode_budget_s:g} s for this episode"
            return self._record(_results(ids, [(None, "timeout", message)] * len(ids), self.fallback_action))
        if not self.alive:
            self.start()
        if self.load_error is not None:
            return self._record(_results(ids, [(None, *self.load_error)] * len(ids), self.fallback_action))
        payload = pickle.dumps({"op": "call", "snapshot": snapshot_to_wire(snapshot), "agent_ids": ids},
                               protocol=pickle.HIGHEST_PROTOCOL)
        if left is not None:
            budget = min(budget, left + self.limits.grace_s)
        started = time.monotonic()
        try:
            deadline = started + budget
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
        self.budget_spent_s += time.monotonic() - started
        for index, texts in self._take_violations(ids).items():
            for position in (range(len(ids)) if index < 0 else [index]):
                if decisions[position][1] != "forbidden":
                    decisions[position] = (None, "forbidden", short("; ".join(texts)))
        _log_failures(self.calls, decisions)
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
                decisions.append((None, kind, short(message)))
            elif type(action) is int and 0 <= action < self.n_actions:
                decisions.append((action, "", ""))
            else:
                decisions.append((None, "invalid_action", f"the policy returned {action!r}; actions are 0..{self.n_actions - 1}"))
        return decisions
