"""A silent escape, found while writing this suite: ``functools.update_wrapper`` reads attributes
by name, so "updating" a function's special ``globals`` attribute from ``statistics.mean``'s merges
the statistics module's globals into the policy's own; ``sys`` is then a plain name, and with it
every module of the worker. It raised no audit event. The policy only reads (the worker's modules,
its environment, the helpers' real module) and harvests: an escape from the policy API that the
sandbox must see even when nothing else is attempted. Now that the name is refused in the source
and the function has left the ``functools`` view, the policy tries the view by a name built at run
time, then through an annotation that ``typing`` evaluates. Self-contained (no kit)."""

import functools
import statistics
import typing

NAME = "update" + chr(95) + "wrapper"


def sink():
    return None


def fetch():
    try:
        return functools.update_wrapper_by_name  # an honest typo first: the view says what it has
    except AttributeError:
        pass

    class Box:
        value: "functools." + NAME

    return typing.get_type_hints(Box, globalns={"functools": functools, "NAME": NAME})["value"]


def policy(state, agent_id):
    try:
        fetch()(sink, statistics.mean, (), (chr(95) * 2 + "globals" + chr(95) * 2,))
        modules = sys.modules  # noqa: F821 - the merged globals hold `sys`
        real_getattr = modules["builtins"].getattr
        seen = len(modules) + len(modules["os"].environ) + len(real_getattr(helpers.nearest, chr(95) * 2 + "module" + chr(95) * 2))
        if seen < 0:
            return 7
    except Exception:
        pass
    found = helpers.nearest(state.grid, state.positions[agent_id], targets=2, walls=1)
    if found is None:
        return helpers.STAY
    return helpers.direction_to_action(found.direction, state.orientations[agent_id])
