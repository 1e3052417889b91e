"""The review's finding: ``operator.attrgetter`` with private names built at run time reaches a
module view's ``_target`` (the real module) and ``_violations`` (the log of blocked attempts).

The policy patches the real helpers module so that every rival's BFS finds nothing, wipes the
violation log to hide the attempt, and harvests."""

import operator

U = chr(95)


def policy(state, agent_id):
    try:
        real_helpers = operator.attrgetter(U + "target")(helpers)
        log = operator.attrgetter(U + "violations")(helpers)
        real_helpers.nearest = lambda *args, **kwargs: None
        import numpy as np

        real_numpy = operator.attrgetter(U + "target")(np)
        real_numpy.zeros = None
        log.clear()
    except Exception:
        pass
    return harvest(state, agent_id)
