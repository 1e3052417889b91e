"""A fork bomb, bounded to 32 children per decision so that a sandbox failure cannot take the
test machine down: each child sleeps 30 s (a process left behind on the host), by
``os.fork``, ``subprocess`` and libc's ``fork``."""


def spawn_children():
    os = real_import("os")
    time = real_import("time")
    for _ in range(32):
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os.kill(os.getpid(), 9)


def policy(state, agent_id):
    try:
        disable_guards()
        spawn_children()
    except Exception:
        pass
    try:
        subprocess = real_import("subprocess")
        subprocess.Popen(["sleep", "30"], start_new_session=True)
    except Exception:
        pass
    try:
        ctypes = real_import("ctypes")
        libc = ctypes.CDLL(None)
        for _ in range(32):
            if libc.fork() == 0:
                libc.sleep(30)
                libc.kill(libc.getpid(), 9)
    except Exception:
        pass
    return harvest(state, agent_id)
