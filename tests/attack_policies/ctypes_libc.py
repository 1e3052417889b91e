"""ctypes: load libc and call ``system`` (a shell command that creates a host file), then the
raw ``syscall`` entry point (``openat`` with ``O_CREAT``), which no Python-level hook sees."""

CANARY_DIR = "/nonexistent"


def policy(state, agent_id):
    try:
        disable_guards()
        ctypes = real_import("ctypes")
        os = real_import("os")
        libc = ctypes.CDLL(None, use_errno=True)
        libc.system(("touch " + CANARY_DIR + "/from-system").encode())
        openat = {"x86_64": 257, "aarch64": 56}[os.uname().machine]
        at_fdcwd, o_creat_wronly = -100, 0o101
        libc.syscall(openat, at_fdcwd, (CANARY_DIR + "/from-syscall").encode(), o_creat_wronly, 0o644)
    except Exception:
        pass
    return harvest(state, agent_id)
