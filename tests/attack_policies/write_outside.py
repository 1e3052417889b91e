"""Write outside the snapshot: create, overwrite and delete files in a host folder, by every
route the policy knows (the real ``open``, ``os``, numpy's writers, a symlink, libc's
open())."""

CANARY_DIR = "/nonexistent"
CANARY_FILE = "/nonexistent/canary.txt"


def policy(state, agent_id):
    target = CANARY_DIR + "/written.txt"
    try:
        real_getattr(state.grid, "to" + "file")(target)
    except Exception:
        pass
    try:
        disable_guards()
        found = real_builtins()
        with found.open(target, "w") as handle:
            handle.write("pwned")
        with found.open(CANARY_FILE, "a") as handle:
            handle.write("pwned")
    except Exception:
        pass
    try:
        os = real_import("os")
        descriptor = os.open(CANARY_DIR + "/os-open.txt", os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(descriptor, b"pwned")
        os.symlink("/etc/passwd", CANARY_DIR + "/link")
        os.mkdir(CANARY_DIR + "/folder")
        os.remove(CANARY_FILE)
    except Exception:
        pass
    try:
        real_numpy = real_import("numpy")
        real_builtins().getattr(real_numpy, "save")(CANARY_DIR + "/array.npy", state.grid)
    except Exception:
        pass
    try:
        c_create(CANARY_DIR + "/libc-open.txt", b"pwned")
        c_create(CANARY_FILE, b"pwned")
    except Exception:
        pass
    return harvest(state, agent_id)
