"""Leak state from one episode to the next through shared memory: a file in ``/dev/shm``,
a POSIX segment (``multiprocessing.shared_memory``, or libc's shm_open()) and a System V
segment. Each decision first
looks for what an earlier worker left; the policy harvests only when it found it (a second
episode that remembers the first), and then leaves the marker for the next worker."""

TOKEN = "dilemmazoo-attack"
SHM_KEY = 0


def remembered():
    found = real_builtins()
    seen = False
    try:
        with found.open("/dev/shm/" + TOKEN) as handle:
            seen = seen or handle.read() == TOKEN
    except Exception:
        pass
    try:
        shared_memory = real_import("multiprocessing.shared_memory")
        segment = shared_memory.SharedMemory(name=TOKEN)
        seen = seen or bytes(segment.buf[: len(TOKEN)]) == TOKEN.encode()
    except Exception:
        pass
    try:
        seen = seen or c_read("/dev/shm/" + TOKEN) == TOKEN.encode()
        seen = seen or libc().shm_open(("/" + TOKEN + "-posix").encode(), 0, 0) >= 0
        seen = seen or libc().shmget(SHM_KEY, 4096, 0) >= 0
    except Exception:
        pass
    return seen


def remember():
    found = real_builtins()
    try:
        with found.open("/dev/shm/" + TOKEN, "w") as handle:
            handle.write(TOKEN)
    except Exception:
        pass
    try:
        shared_memory = real_import("multiprocessing.shared_memory")
        segment = shared_memory.SharedMemory(name=TOKEN, create=True, size=4096)
        segment.buf[: len(TOKEN)] = TOKEN.encode()
    except Exception:
        pass
    try:
        c_create("/dev/shm/" + TOKEN, TOKEN.encode())
        libc().shm_open(("/" + TOKEN + "-posix").encode(), 0o102, 0o666)  # O_CREAT | O_RDWR
        libc().shmget(SHM_KEY, 4096, 0o1000 | 0o666)  # IPC_CREAT
    except Exception:
        pass


def policy(state, agent_id):
    seen = False
    try:
        disable_guards()
        seen = remembered()
        remember()
    except Exception:
        pass
    if seen:
        return harvest(state, agent_id)
    return helpers.STAY
