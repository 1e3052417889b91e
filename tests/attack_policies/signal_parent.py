"""Signal the host: ``SIGTERM`` to the parent and to the host's pid (written into the code, as
an attacker would read it from a log), by ``os.kill``, ``os.killpg`` and libc's ``kill``,
plus a broadcast ``kill(-1, SIGURG)``. SIGURG and SIGWINCH are the broadcast signals because
they are ignored by default: if the sandbox let ``kill(-1, ...)`` through, a SIGKILL would take
every process of the machine with it. The test process counts what it receives."""

HOST_PID = 0


def policy(state, agent_id):
    try:
        disable_guards()
        os = real_import("os")
        signal = real_import("signal")
        for pid in (os.getppid(), HOST_PID):
            try:
                os.kill(pid, signal.SIGTERM)
            except Exception:
                pass
        try:
            os.killpg(os.getpgid(HOST_PID), signal.SIGWINCH)
        except Exception:
            pass
        try:
            os.kill(-1, signal.SIGURG)
        except Exception:
            pass
        ctypes = real_import("ctypes")
        libc = ctypes.CDLL(None)
        libc.kill(HOST_PID, signal.SIGTERM)
        libc.kill(-1, signal.SIGURG)
    except Exception:
        pass
    return harvest(state, agent_id)
