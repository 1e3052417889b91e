"""The policy worker: runs as ``python -I -S -B worker.py`` inside the isolation of :mod:`.isolation`.

Protocol (both directions: a 4-byte big-endian length, then the payload). The host sends
pickles (it is trusted); the worker answers in JSON, which the host checks strictly (the
worker may have been taken over by the policy):

1. host -> worker: the init dict (policy code, seed, limits, paths, the seccomp program, the
   namespaces level's root plan);
2. worker -> host: ``{"ready": true, "load_error": null | [kind, message], "details": {...}}``
   (pid, uid, namespace ids, rlimits, seccomp, audit hook); before it, the
   ``{"violation": text, "index": -1}`` frames of the policy's top-level code;
3. per call, host -> worker ``{"op": "call", "snapshot": wire, "agent_ids": [...]}``, worker ->
   host one ``{"violation": text, "index": i}`` frame per refused attempt *as it happens*,
   then ``{"results": [[action, kind, message], ...]}``; ``{"op": "close"}`` ends the worker.

Start-up order: read the init; (namespaces level) build and enter the new root; import
everything a policy may use and warm what it loads lazily (:func:`~.warmup.warm_up`: numpy's
reductions, printing and error paths import parts of numpy on first use, and a first use
inside a policy call would go through the policy's restricted import); compile the policy; drop root
(process level); set resource limits; install the seccomp filter; install the audit hook
(:func:`~.guards.make_audit_hook`); only then run the policy's top-level code. After the
filter no file can be opened, so nothing may be imported later.

It imports the standard library, numpy and its sibling modules (as the package
``dzsandbox``), never dilemmazoo.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import struct
import sys
import traceback
import types

PACKAGE = "dzsandbox"


def read_frame(fd: int) -> bytes:
    return _read_exactly(fd, struct.unpack(">I", _read_exactly(fd, 4))[0])


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


def _package(path: str) -> types.ModuleType:
    """The worker's sibling modules as a package (their relative imports then work)."""
    package = types.ModuleType(PACKAGE)
    package.__path__ = [path]
    sys.modules[PACKAGE] = package
    return package


def main() -> None:  # pragma: no cover - runs in the child; covered through PolicySandbox
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)

    def send(message: dict) -> None:
        _write_all(out_fd, _frame(json.dumps(message).encode()))

    sealed = [False]
    try:
        init = pickle.loads(read_frame(in_fd))
        serve(init, in_fd, out_fd, send, devnull, sealed)
    except BaseException as error:  # noqa: BLE001 - tell the host why, then die
        if isinstance(error, SystemExit):
            raise
        lines = traceback.format_exception_only(error) if sealed[0] else traceback.format_exception(error)
        try:
            send({"fatal": "".join(lines)[-2000:]})
        finally:
            os._exit(1)


def _frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def serve(init: dict, in_fd: int, out_fd: int, send, devnull: int, sealed: list) -> None:  # pragma: no cover
    import importlib

    package = _package(os.path.dirname(os.path.abspath(__file__)))
    isolation = importlib.import_module(f"{PACKAGE}.isolation")
    details: dict = {"pid": os.getpid(), "namespaces": isolation.namespace_ids()}
    if init["level"] == "process":
        isolation.die_with_parent(init["host_pid"])
    jail = init.get("jail")
    if jail is not None:
        isolation.enter_jail(jail["root"], jail["binds"], jail["symlinks"])
    package.__path__ = [init["code_dir"]]
    sys.path[:0] = [init["site_dir"]]

    # everything a policy or the worker will use, imported now (no file can be opened later)
    import ctypes  # noqa: F401 - installs the seccomp filter
    import resource  # noqa: F401 - sets the limits (after the process level drops root)
    import numpy  # noqa: F401
    import numpy.linalg  # noqa: F401
    import numpy.ma  # noqa: F401 - np.unique and np.median import it on first use
    import numpy.random  # noqa: F401

    guards = importlib.import_module(f"{PACKAGE}.guards")
    api = importlib.import_module(f"{PACKAGE}.api")
    # run once what numpy and the other allowed modules load lazily (see .warmup): after the
    # seal such a load would be refused, and from inside a policy call it would even go
    # through the policy's restricted import
    details["warm_up_failed"] = importlib.import_module(f"{PACKAGE}.warmup").warm_up()
    helpers = api.load_helpers(init["helpers_path"])
    limits = init["limits"]

    current = [-1]  # the decision in progress, for the host's attribution of violations

    def report(text, _send=send, _current=current, _short=api.short):
        _send({"violation": _short(str(text)), "index": _current[0]})

    call_timeout = float(limits["call_timeout_s"])

    def on_alarm(signum, frame):
        raise api.PolicyTimeout()

    class Guard:
        """Arms the per-call timer around policy code."""

        __slots__ = ()

        def __enter__(self) -> None:
            signal.setitimer(signal.ITIMER_REAL, call_timeout)

        def __exit__(self, *exc_info) -> None:
            signal.setitimer(signal.ITIMER_REAL, 0)

    the_guard = Guard()
    runtime = api.PolicyRuntime(init["code"], seed=init["seed"], n_actions=init["n_actions"], helpers_module=helpers,
                                report=report, guard=lambda: the_guard)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the file-size limit fails instead of killing
    # the CPU limit ends the worker the same way at every level (as the first process of a PID
    # namespace it would otherwise ignore SIGXCPU and be killed a second later)
    signal.signal(signal.SIGXCPU, lambda signum, frame: os._exit(128 + signal.SIGXCPU))

    if init["level"] == "process" and limits["drop_root"]:
        why_not = isolation.drop_root()
        if why_not:
            details["drop_root"] = why_not
    details["uid"], details["gid"] = os.geteuid(), os.getegid()
    details["rlimits"] = isolation.apply_rlimits(limits)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = None
    program = init.get("seccomp_program")
    details["seccomp"] = False
    if program:
        isolation.install_seccomp(program)
        details["seccomp"] = True
    if limits["audit_hook"]:
        sys.addaudithook(guards.make_audit_hook(runtime.report))
    details["audit_hook"] = bool(limits["audit_hook"])
    sealed[0] = True

    runtime.load()
    send({"ready": True, "load_error": runtime.load_error, "details": details})
    while True:
        try:
            request = pickle.loads(read_frame(in_fd))
        except EOFError:
            os._exit(0)
        if request["op"] == "close":
            os._exit(0)
        state = runtime.snapshot(request["snapshot"])
        decisions = []
        for index, agent_id in enumerate(request["agent_ids"]):
            current[0] = index
            try:
                decisions.append(list(runtime.decide(state, agent_id)))
            except api.PolicyTimeout:  # the timer fired between the policy's return and disarming
                decisions.append([None, "timeout", "the policy ran past its time limit"])
        current[0] = -1
        send({"results": decisions})


if __name__ == "__main__":
    main()
