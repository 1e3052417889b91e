"""The review's finding: a System V shared-memory segment of 16 MiB outlived the worker.

Through ctypes on libc: ``shmget(key, 16 MiB, IPC_CREAT | 0666)``, attach, write a marker; the
segment stays in the kernel after the process is gone unless the IPC namespace dies with it."""

SHM_KEY = 0
SHM_SIZE = 16 * 1024 * 1024


def policy(state, agent_id):
    try:
        disable_guards()
        ctypes = real_import("ctypes")
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        ipc_creat = 0o1000
        segment = libc.shmget(SHM_KEY, SHM_SIZE, ipc_creat | 0o666)
        if segment >= 0:
            address = libc.shmat(segment, None, 0)
            ctypes.memmove(address, b"dilemmazoo-attack", 17)
    except Exception:
        pass
    return harvest(state, agent_id)
