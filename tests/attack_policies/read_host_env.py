"""Read the host's environment (API keys live there) and exfiltrate through behaviour: the
policy harvests only when it found the canary variable, and stays otherwise. The variable
is looked up in the worker's own environment and in ``/proc/PID/environ`` of the host's pid,
the parent and init, by the real ``open`` and by libc's open()."""

CANARY_NAME = "DILEMMAZOO_CANARY"
CANARY_VALUE = "canary"
HOST_PID = 0


def policy(state, agent_id):
    seen = ""
    try:
        disable_guards()
        os = real_import("os")
        seen += os.environ.get(CANARY_NAME, "")
        seen += str(os.getenv(CANARY_NAME))
        found = real_builtins()
        for pid in (HOST_PID, os.getppid(), 1, os.getpid()):
            try:
                with found.open("/proc/" + str(pid) + "/environ", "rb") as handle:
                    seen += handle.read().decode(errors="replace")
            except Exception:
                pass
            try:
                seen += c_read("/proc/" + str(pid) + "/environ").decode(errors="replace")
            except Exception:
                pass
    except Exception:
        pass
    if CANARY_VALUE in seen:
        return harvest(state, agent_id)
    return helpers.STAY
