"""The sandbox boundary: namespaces, a read-only root, resource limits and a seccomp allow-list.

Levels, strongest first (:data:`LEVELS`):

- ``"bubblewrap"``: the worker runs under ``bwrap`` (Debian package ``bubblewrap``) in fresh
  user, network, IPC, PID, UTS and mount namespaces (``--unshare-all --unshare-user
  --disable-userns``), as uid/gid 65534 (nobody) with every capability dropped, its own
  session, killed with its parent, an empty environment. Its root holds only what it needs,
  read-only: the system libraries (``/usr/lib``), the Python executable and standard library,
  numpy's package folder, and the sandbox's own worker files with the policy helpers; plus an
  empty 1 MiB tmpfs at ``/tmp`` (the working directory), a fresh ``/proc`` of its PID namespace
  and a minimal ``/dev``. The host's environment, home (``~/.ssh``), the repository and
  ``/tmp`` are not there. The network namespace has only a loopback of its own.
- ``"namespaces"``: the same namespaces made with util-linux ``unshare`` (``--user
  --map-root-user --mount --net --ipc --uts --pid --fork --kill-child``); the worker itself
  then mounts a tmpfs root with the same read-only binds, pivots into it, and drops every
  capability (it stays uid 0 inside its user namespace, mapped to the host user that started it).
- ``"process"``: a plain child process (``python -I -S``, empty environment, an empty
  working directory, root dropped to nobody when started as root). Weaker: the host's files
  are as readable as to any process of that user. Synthesized agents refuse to run at this
  level unless their config says ``isolation: process``, and then warn on every run.

At every level the worker then sets resource limits (:func:`apply_rlimits`: address space,
CPU seconds, 16 open files, no child processes, file size 0, no core dumps) and, once its
imports are done, installs an allow-list seccomp filter (:func:`seccomp_program`, built with
``pyseccomp`` on the system's libseccomp for x86-64 or aarch64): system calls outside
:data:`ALLOWED_SYSCALLS` fail with ``EPERM``, and those in :data:`KILLED_SYSCALLS` (sockets,
``ptrace``, signals to other processes, SysV IPC, ``execve``, fork, namespace and mount calls,
opening a file for writing...) kill the worker with ``SIGSYS``, which the host counts as a
``forbidden`` decision: a policy cannot hide such an attempt. bubblewrap and namespaces
require the filter; where it cannot be built the level is ``process``.

:func:`probe_isolation` says what this machine gives (cached); :func:`resolve_isolation` turns
a requested level into the one used, or raises :class:`SandboxUnavailable` saying what is
missing and how to get it. For tests, the environment variable named by
:data:`PRETEND_MISSING_ENV` (comma-separated ``bubblewrap``, ``namespaces``, ``seccomp``)
makes the probe act as if those were missing.

References: bubblewrap(1); user_namespaces(7), unshare(1), pivot_root(2); seccomp(2) and
seccomp_rule_add(3) (libseccomp); setrlimit(2).

The worker-side functions (:func:`apply_rlimits`, :func:`install_seccomp`,
:func:`enter_jail`, :func:`namespace_ids`) import only the standard library: the worker loads
this module by path.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALLOWED_SYSCALLS",
    "KILLED_SYSCALLS",
    "LEVELS",
    "PRETEND_MISSING_ENV",
    "REQUESTS",
    "SECCOMP_ARCHES",
    "Isolation",
    "Layout",
    "SandboxUnavailable",
    "apply_rlimits",
    "bwrap_command",
    "enter_jail",
    "install_seccomp",
    "namespace_ids",
    "namespaces_command",
    "probe_isolation",
    "resolve_isolation",
    "seccomp_program",
    "worker_layout",
]

LEVELS = ("bubblewrap", "namespaces", "process")
REQUESTS = ("auto", *LEVELS)
PRETEND_MISSING_ENV = "DILEMMAZOO_SANDBOX_PRETEND_MISSING"
NOBODY = 65534
SANDBOX_CODE_DIR = "/sandbox/code"
SANDBOX_SITE_DIR = "/sandbox/site"
SANDBOX_TMP_BYTES = 1 << 20
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LC_ALL": "C.UTF-8"}
_PROBE_TIMEOUT_S = 20.0

# System calls the worker may make once sealed (what CPython and numpy need to compute and
# to talk over the pipes it already holds). Names missing on an architecture are skipped.
ALLOWED_SYSCALLS = (
    "read", "readv", "write", "writev", "close", "fstat", "lseek", "fcntl", "poll", "ppoll",
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "setitimer", "getitimer", "alarm",
    "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
    "getrusage", "times", "uname", "sysinfo", "getcwd", "getrandom",
    "futex", "set_robust_list", "get_robust_list", "sched_yield", "sched_getaffinity", "rseq", "restart_syscall",
    "exit", "exit_group",
)
# System calls that only an attack makes: the worker is killed (SIGSYS) and the host counts it.
KILLED_SYSCALLS = (
    # network
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "sendmsg", "sendmmsg",
    "recvfrom", "recvmsg", "recvmmsg", "setsockopt", "getsockopt", "shutdown",
    # other processes: tracing, signals, memory
    "ptrace", "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open", "pidfd_send_signal",
    "pidfd_getfd", "process_vm_readv", "process_vm_writev", "kcmp",
    # SysV and POSIX IPC
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semctl",
    "semtimedop", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    # new programs and processes (threads are refused, see clone below)
    "execve", "execveat", "fork", "vfork",
    # namespaces, mounts, identities, limits
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount",
    "fsconfig", "fspick", "mount_setattr", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
    "setgroups", "setfsuid", "setfsgid", "capset", "setrlimit", "prctl", "seccomp", "personality",
    # kernel interfaces
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "memfd_create", "memfd_secret", "open_by_handle_at", "name_to_handle_at", "init_module",
    "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
    "settimeofday", "clock_settime", "adjtimex", "sethostname", "setdomainname", "iopl", "ioperm", "quotactl",
    # changing files
    "creat", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link", "linkat",
    "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "truncate",
    "ftruncate", "mknod", "mknodat", "utime", "utimes", "utimensat", "futimesat",
)
_CLONE_THREAD = 0x00010000
_WRITE_FLAGS = (0o1, 0o2, 0o100, 0o1000, 0o2000)  # O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND
SECCOMP_ARCHES = ("x86_64", "aarch64")
_MACHINE_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
# numbers of the few system calls the worker makes through libc.syscall()
_SYSCALL_NUMBERS = {"x86_64": {"seccomp": 317, "pivot_root": 155}, "aarch64": {"seccomp": 277, "pivot_root": 41}}


class SandboxUnavailable(ValueError):
    """The requested isolation cannot be reached on this machine; the message says what to do."""


@dataclass(frozen=True)
class Isolation:
    """What a machine gives: ``level`` (one of :data:`LEVELS`) and ``details`` (what holds:
    ``bwrap`` path or why not, ``namespaces`` (user namespaces through ``unshare``) or why
    not, ``seccomp`` True or why not, ``seccomp_arch``, ``pretend_missing``)."""

    level: str
    details: dict[str, Any] = field(default_factory=dict)

    def available(self, level: str) -> bool:
        """Whether ``level`` can be used here (process always can)."""
        return level == "process" or (self.details.get("seccomp") is True and self.details.get(level) is True)


# ---------------------------------------------------------------------------------------------
# Probing
# ---------------------------------------------------------------------------------------------


def _pretend_missing() -> frozenset[str]:
    raw = os.environ.get(PRETEND_MISSING_ENV, "")
    names = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = names - {"bubblewrap", "namespaces", "seccomp"}
    if unknown:
        raise ValueError(f"{PRETEND_MISSING_ENV} names {sorted(unknown)}; use bubblewrap, namespaces, seccomp")
    return names


def machine_arch() -> str | None:
    """``"x86_64"`` or ``"aarch64"`` (the seccomp filter's architectures), else ``None``."""
    return _MACHINE_ARCH.get(platform.machine().lower())


_PROBES: dict[frozenset[str], Isolation] = {}


def probe_isolation() -> Isolation:
    """What this machine gives (cached per value of :data:`PRETEND_MISSING_ENV`).

    Each strong level is tried for real: a tiny sandboxed Python must start under it.
    """
    missing = _pretend_missing()
    if missing not in _PROBES:
        _PROBES[missing] = _probe(missing)
    return _PROBES[missing]


def _probe(missing: frozenset[str]) -> Isolation:
    details: dict[str, Any] = {"pretend_missing": sorted(missing), "seccomp_arch": machine_arch()}
    details["seccomp"] = "pretended missing" if "seccomp" in missing else _probe_seccomp()
    details["bubblewrap"] = "pretended missing" if "bubblewrap" in missing else _probe_bwrap()
    details["namespaces"] = "pretended missing" if "namespaces" in missing else _probe_unshare()
    level = next((name for name in LEVELS[:2] if details[name] is True and details["seccomp"] is True), "process")
    return Isolation(level, details)


def _probe_seccomp() -> bool | str:
    if sys.platform != "linux":
        return f"seccomp is Linux-only (this is {sys.platform})"
    if machine_arch() is None:
        return f"no seccomp filter for the architecture {platform.machine()!r} (x86_64 and aarch64 are supported)"
    try:
        seccomp_program()
    except ImportError as error:
        return f"pyseccomp or libseccomp is missing ({error})"
    except OSError as error:
        return f"the seccomp filter cannot be built ({error})"
    return True


def _run_probe(command: list[str]) -> bool | str:
    import subprocess  # host side only: the worker never loads it

    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=_PROBE_TIMEOUT_S,
                              env=dict(WORKER_ENV), check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return f"{command[0]} failed to run ({error})"
    if done.returncode != 0 or done.stdout.strip() != b"ok":
        tail = (done.stderr or b"").decode(errors="replace").strip().splitlines()
        return f"{os.path.basename(command[0])} exited with {done.returncode}: {tail[-1] if tail else 'no message'}"
    return True


def _probe_bwrap() -> bool | str:
    path = shutil.which("bwrap")
    if path is None:
        return "bwrap is not installed"
    layout = worker_layout(sandboxed=True)
    # as PID 1: no init process in between, which bwrap might leave behind for a subreaper to reap
    command = bwrap_command(layout, path)
    command.insert(1, "--as-pid-1")
    return _run_probe(command + [layout.python, "-I", "-S", "-c", "print('ok')"])


def _probe_unshare() -> bool | str:
    path = shutil.which("unshare")
    if path is None:
        return "the unshare tool (util-linux) is not installed"
    return _run_probe(namespaces_command(path) + [os.path.realpath(sys.executable), "-I", "-S", "-c", "print('ok')"])


def _how_to_get(level: str, details: Mapping[str, Any]) -> str:
    hints = []
    if details.get("seccomp") is not True:
        hints.append(f"seccomp: {details.get('seccomp')} (install the system library with `apt-get install libseccomp2` "
                     "and the Python package with `pip install pyseccomp`)")
    if level in ("bubblewrap", "auto") and details.get("bubblewrap") is not True:
        hints.append(f"bubblewrap: {details.get('bubblewrap')} (install it with `apt-get install bubblewrap`)")
    if level in ("namespaces", "auto") and details.get("namespaces") is not True:
        hints.append(f"namespaces: {details.get('namespaces')} (needs util-linux `unshare` and user namespaces: "
                     "`sysctl kernel.unprivileged_userns_clone=1`, or run as root)")
    return "; ".join(hints)


def resolve_isolation(requested: str = "auto") -> Isolation:
    """The isolation to run model-written code under, for a config's ``isolation`` value.

    ``auto``: the strongest level available, and a refusal when that is only ``process``;
    ``bubblewrap`` / ``namespaces``: that level, or a refusal; ``process``: always (the caller
    warns). Raises :class:`SandboxUnavailable` naming what is missing and how to get it.
    """
    if requested not in REQUESTS:
        raise SandboxUnavailable(f"isolation must be one of {', '.join(REQUESTS)}; got {requested!r}")
    probe = probe_isolation()
    if requested == "process":
        return Isolation("process", dict(probe.details))
    if requested == "auto":
        if probe.level != "process":
            return probe
        raise SandboxUnavailable(
            "this machine cannot isolate model-written code at the operating-system level, so it is not run. "
            f"Missing: {_how_to_get('auto', probe.details)}. To run it anyway in a plain process (weaker: it can "
            "read what this user can read), write `isolation: process` in the agents group's params."
        )
    if probe.available(requested):
        return Isolation(requested, dict(probe.details))
    raise SandboxUnavailable(
        f"isolation: {requested} is not available on this machine. Missing: {_how_to_get(requested, probe.details)}. "
        f"Available here: {probe.level}."
    )


# ---------------------------------------------------------------------------------------------
# The worker's file system
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where the worker finds things: paths as the worker sees them, and the read-only binds
    (host path, sandbox path) that put them there (none at level process)."""

    python: str
    code_dir: str
    site_dir: str
    helpers_path: str
    binds: tuple[tuple[str, str], ...] = ()
    symlinks: tuple[tuple[str, str], ...] = ()


_CODE_FILES = ("worker.py", "guards.py", "api.py", "isolation.py", "shims.py", "warmup.py")


@functools.cache
def _host_paths() -> dict[str, str]:
    import sysconfig

    here = os.path.dirname(os.path.abspath(__file__))
    numpy_dir = _numpy_dir()
    return {
        "code_dir": here,
        "helpers": os.path.join(os.path.dirname(here), "policy_helpers.py"),
        "numpy": numpy_dir,
        "site": os.path.dirname(numpy_dir),
        "python": os.path.realpath(sys.executable),
        "stdlib": os.path.realpath(sysconfig.get_path("stdlib")),
        "dynload": os.path.realpath(sysconfig.get_config_var("DESTSHARED") or sysconfig.get_path("stdlib")),
        "libdir": os.path.realpath(sysconfig.get_config_var("LIBDIR") or sysconfig.get_path("stdlib")),
    }


def _numpy_dir() -> str:
    import importlib.util

    spec = importlib.util.find_spec("numpy")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("numpy is not installed")
    return os.path.realpath(list(spec.submodule_search_locations)[0])


def worker_layout(*, sandboxed: bool) -> Layout:
    """The worker's paths: inside a new root (bubblewrap, namespaces) or on the host (process)."""
    host = _host_paths()
    if not sandboxed:
        return Layout(python=host["python"], code_dir=host["code_dir"], site_dir=host["site"],
                      helpers_path=host["helpers"])
    binds: list[tuple[str, str]] = []
    symlinks: list[tuple[str, str]] = []
    for top in ("/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(top):
            symlinks.append((os.readlink(top), top))
        elif os.path.isdir(top):
            binds.append((top, top))
    for system in ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32"):
        if os.path.isdir(system) and not os.path.islink(system):
            binds.append((system, system))
    if os.path.exists("/etc/ld.so.cache"):
        binds.append(("/etc/ld.so.cache", "/etc/ld.so.cache"))
    for key in ("python", "libdir", "stdlib", "dynload"):
        path = host[key]
        if os.path.exists(path) and not any(path == dst or path.startswith(dst.rstrip("/") + "/") for _, dst in binds):
            binds.append((path, path))
    numpy_libs = host["numpy"] + ".libs"  # numpy wheels keep their shared libraries beside the package
    binds.append((host["numpy"], f"{SANDBOX_SITE_DIR}/numpy"))
    if os.path.isdir(numpy_libs):
        binds.append((numpy_libs, f"{SANDBOX_SITE_DIR}/numpy.libs"))
    for name in _CODE_FILES:
        binds.append((os.path.join(host["code_dir"], name), f"{SANDBOX_CODE_DIR}/{name}"))
    binds.append((host["helpers"], f"{SANDBOX_CODE_DIR}/policy_helpers.py"))
    return Layout(python=host["python"], code_dir=SANDBOX_CODE_DIR, site_dir=SANDBOX_SITE_DIR,
                  helpers_path=f"{SANDBOX_CODE_DIR}/policy_helpers.py", binds=tuple(binds), symlinks=tuple(symlinks))


def bwrap_command(layout: Layout, bwrap: str) -> list[str]:
    """The ``bwrap`` prefix that starts a command in the worker's namespaces and root."""
    command = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(NOBODY), "--gid", str(NOBODY),
               "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--clearenv"]
    for name, value in WORKER_ENV.items():
        command += ["--setenv", name, value]
    for target, link in layout.symlinks:
        command += ["--symlink", target, link]
    for source, destination in layout.binds:
        command += ["--ro-bind", source, destination]
    command += ["--proc", "/proc", "--dev", "/dev", "--size", str(SANDBOX_TMP_BYTES), "--tmpfs", "/tmp",
                "--remount-ro", "/", "--chdir", "/tmp", "--"]
    return command


def namespaces_command(unshare: str) -> list[str]:
    """The ``unshare`` prefix that starts a command in fresh namespaces (the worker builds its root)."""
    return [unshare, "--user", "--map-root-user", "--mount", "--net", "--ipc", "--uts", "--pid", "--fork",
            "--kill-child", "--propagation", "private", "--"]


# ---------------------------------------------------------------------------------------------
# Seccomp
# ---------------------------------------------------------------------------------------------

_PROGRAMS: dict[str, bytes] = {}


def seccomp_program(arch: str | None = None) -> bytes:
    """The allow-list filter as a BPF program (``struct sock_filter`` array) for ``arch``
    (``"x86_64"`` or ``"aarch64"``; default: this machine's). Built with pyseccomp on the
    system's libseccomp; cached. Raises ImportError when either is missing."""
    import tempfile

    arch = arch or machine_arch()
    if arch not in SECCOMP_ARCHES:
        raise ValueError(f"seccomp filters are built for {SECCOMP_ARCHES}, not {arch!r}")
    if arch in _PROGRAMS:
        return _PROGRAMS[arch]
    try:
        import pyseccomp as seccomp
    except (ImportError, OSError, RuntimeError) as error:  # pyseccomp raises when libseccomp is missing
        raise ImportError(str(error) or type(error).__name__) from None
    token = {"x86_64": seccomp.Arch.X86_64, "aarch64": seccomp.Arch.AARCH64}[arch]
    deny = seccomp.ERRNO(1)  # EPERM
    program = seccomp.SyscallFilter(deny)
    program.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)  # e.g. 32-bit system calls on x86-64
    if not program.exist_arch(token):
        program.add_arch(token)
    if token != seccomp.system_arch():
        program.remove_arch(seccomp.Arch.NATIVE)

    def rule(action: int, name: str, *args: Any) -> None:
        if action == deny or seccomp.resolve_syscall(token, name) < 0:  # the default, or not a system call here
            return
        program.add_rule(action, name, *args)

    for name in ALLOWED_SYSCALLS:
        rule(seccomp.ALLOW, name)
    for name in KILLED_SYSCALLS:
        rule(seccomp.KILL_PROCESS, name)
    # clone: a new process kills, a thread is refused (EPERM, the default); clone3 hides its
    # flags, so glibc is told it does not exist and falls back to clone
    rule(seccomp.KILL_PROCESS, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, _CLONE_THREAD, 0))
    rule(seccomp.ERRNO(38), "clone3")  # ENOSYS
    # opening a file fails (EPERM); opening one for writing kills
    for name, flags_arg in (("open", 1), ("openat", 2)):
        for flag in _WRITE_FLAGS:
            rule(seccomp.KILL_PROCESS, name, seccomp.Arg(flags_arg, seccomp.MASKED_EQ, flag, flag))
    # reading a resource limit is fine; setting one kills
    rule(seccomp.ALLOW, "prlimit64", seccomp.Arg(2, seccomp.EQ, 0))
    rule(seccomp.KILL_PROCESS, "prlimit64", seccomp.Arg(2, seccomp.NE, 0))
    with tempfile.TemporaryFile() as handle:
        program.export_bpf(handle)
        handle.seek(0)
        _PROGRAMS[arch] = handle.read()
    return _PROGRAMS[arch]


def install_seccomp(program: bytes) -> None:
    """Install a BPF filter on this process and all its threads (worker side; irreversible).

    Sets ``no_new_privs`` first, as seccomp(2) requires without CAP_SYS_ADMIN.
    """
    import ctypes

    arch = machine_arch()
    if arch is None or not program or len(program) % 8:
        raise OSError(f"cannot install a seccomp program of {len(program)} bytes on {platform.machine()}")

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog)
    if libc.syscall(_SYSCALL_NUMBERS[arch]["seccomp"], 1, 1, ctypes.byref(fprog)) != 0:
        raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER) failed")


# ---------------------------------------------------------------------------------------------
# Worker side: limits, identities, the namespaces level's root
# ---------------------------------------------------------------------------------------------


def apply_rlimits(limits: Mapping[str, int]) -> dict[str, Any]:
    """Set the worker's resource limits (soft = hard, but for CPU time); returns the soft
    limits applied, or why not."""
    import resource

    wanted = {
        "RLIMIT_AS": limits["memory_mb"] * 1024 * 1024,
        "RLIMIT_CPU": (limits["cpu_s"], limits["cpu_s"] + 1),  # SIGXCPU first (a timeout), SIGKILL a second later
        "RLIMIT_FSIZE": 0,
        "RLIMIT_CORE": 0,
        "RLIMIT_NOFILE": limits["max_open_files"],
        "RLIMIT_NPROC": 0,
        "RLIMIT_MEMLOCK": 0,
        "RLIMIT_MSGQUEUE": 0,
    }
    applied: dict[str, Any] = {}
    for name, value in wanted.items():
        soft, hard = value if isinstance(value, tuple) else (value, value)
        try:
            resource.setrlimit(getattr(resource, name), (soft, hard))
            applied[name] = soft
        except (ValueError, OSError, AttributeError) as error:
            applied[name] = f"failed: {error}"
    return applied


def namespace_ids() -> dict[str, str]:
    """``/proc/self/ns/*`` of this process (``{}`` without /proc): equal ids mean shared namespaces."""
    ids = {}
    for name in ("user", "mnt", "net", "ipc", "pid", "uts"):
        try:
            ids[name] = os.readlink(f"/proc/self/ns/{name}")
        except OSError:
            pass
    return ids


_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MS_NOATIME, _MS_NODIRATIME, _MS_RELATIME = 1024, 2048, 1 << 21
_MNT_DETACH = 2
# statvfs f_flag bits -> the mount flags a remount in a user namespace must keep (they are locked)
_LOCKED_FLAGS = ((os.ST_NOSUID, _MS_NOSUID), (os.ST_NODEV, _MS_NODEV), (os.ST_NOEXEC, _MS_NOEXEC),
                 (getattr(os, "ST_NOATIME", 1024), _MS_NOATIME), (getattr(os, "ST_NODIRATIME", 2048), _MS_NODIRATIME),
                 (getattr(os, "ST_RELATIME", 4096), _MS_RELATIME))


def enter_jail(root: str, binds: Sequence[tuple[str, str]], symlinks: Sequence[tuple[str, str]]) -> None:
    """Namespaces level, worker side: make a tmpfs root at ``root`` holding read-only ``binds``
    and ``symlinks``, an empty ``/tmp``, pivot into it, drop the old root, make the new one
    read-only, and drop every capability. Needs a fresh user and mount namespace."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        encode = (lambda text: text.encode() if text is not None else None)
        if libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"mount({source!r}, {target!r}) failed: {os.strerror(error)}")

    mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    for source, destination in binds:
        target = root + destination
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            with open(target, "wb"):
                pass
        mount(source, target, None, _MS_BIND | _MS_REC)
        locked = os.statvfs(source).f_flag
        keep = sum(flag for bit, flag in _LOCKED_FLAGS if locked & bit)
        mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | keep)
    for target, link in symlinks:
        os.symlink(target, root + link)
    os.makedirs(root + "/tmp")
    mount("tmpfs", root + "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0777")
    os.makedirs(root + "/.old")
    arch = machine_arch()
    if arch is None or libc.syscall(_SYSCALL_NUMBERS[arch]["pivot_root"], root.encode(), (root + "/.old").encode()) != 0:
        raise OSError(ctypes.get_errno(), "pivot_root failed")
    os.chdir("/")
    if libc.umount2(b"/.old", _MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), "umount of the old root failed")
    os.rmdir("/.old")
    mount(None, "/", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    os.chdir("/tmp")
    _drop_capabilities(libc)


def _drop_capabilities(libc: Any) -> None:
    import ctypes

    for capability in range(64):  # the bounding set, so that no exec can regain them
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP; fails harmlessly past the last one

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def drop_root() -> str:
    """Process level, worker side: become nobody when started as root. Returns "" or why not."""
    if os.geteuid() != 0:
        return ""
    try:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    except OSError as error:
        return f"failed: {error}"
    return ""


def die_with_parent(parent_pid: int) -> None:
    """Process level, worker side: SIGKILL when the host dies (and exit now if it already did)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent_pid:
        os._exit(3)
