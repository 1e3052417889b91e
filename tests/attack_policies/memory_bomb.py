"""A memory bomb: 8 GiB at once, then blocks of 256 MiB kept until something gives (that
last error is not caught: the policy wants the worker, or the host, to run out). The blocks
are reserved, not written, so the bomb goes off in milliseconds."""

import numpy as np


def policy(state, agent_id):
    hoard = []
    try:
        hoard.append(bytes(8 * 1024 ** 3))
    except Exception:
        pass
    while True:
        hoard.append(np.empty(32 * 1024 ** 2))
