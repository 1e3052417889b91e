"""Read the host user's SSH private key and exfiltrate through behaviour: the policy harvests
only when it read the key (the test's HOME, then ``~`` and root's), by the real ``open`` and by
libc's open()."""

KEY_PATH = "/nonexistent/.ssh/id_rsa"
CANARY_VALUE = "canary"


def policy(state, agent_id):
    seen = ""
    try:
        disable_guards()
        found = real_builtins()
        os = real_import("os")
        for path in (KEY_PATH, os.path.expanduser("~/.ssh/id_rsa"), "/root/.ssh/id_rsa"):
            try:
                with found.open(path) as handle:
                    seen += handle.read()
            except Exception:
                pass
            try:
                seen += c_read(path).decode(errors="replace")
            except Exception:
                pass
    except Exception:
        pass
    if CANARY_VALUE in seen:
        return harvest(state, agent_id)
    return helpers.STAY
