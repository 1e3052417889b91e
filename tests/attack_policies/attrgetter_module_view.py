"""The review's finding: ``operator.attrgetter`` with private names built at run time reached a
module view's ``_target`` (the real module) and ``_violations`` (the log of blocked attempts).

The static filter now refuses ``attrgetter`` in the source, so the policy asks the ``operator``
view for it by a name built at run time (through the kit's real ``getattr``, else through the
view's own attribute lookup in an annotation), then goes for the views' private state: it
patches the real helpers so that the rivals' BFS finds nothing, wipes the log, and harvests."""

import operator

import numpy as np


def fetch_attrgetter():
    name = "attr" + "getter"
    try:
        return real_getattr(operator, name)
    except Exception:
        pass

    class Box:
        value: "operator." + name

    return typing.get_type_hints(Box, globalns={"operator": operator})["value"]


def policy(state, agent_id):
    try:
        attrgetter = fetch_attrgetter()
        real_helpers = attrgetter(U + "target")(helpers)
        log = attrgetter(U + "violations")(helpers)
        real_helpers.nearest = lambda *args, **kwargs: None
        attrgetter(U + "target")(np).zeros = None
        log.clear()
    except Exception:
        pass
    return harvest(state, agent_id)
