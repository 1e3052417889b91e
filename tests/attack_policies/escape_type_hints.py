"""An escape through ``typing.get_type_hints``: a class annotation built at run time (the
name of the import builtin, underscores and all) is evaluated with ``eval`` in a namespace that gets the real builtins,
which hands back the real import function. Self-contained (no kit)."""

import typing

CANARY_DIR = "/nonexistent"


def policy(state, agent_id):
    name = chr(95) * 2 + "import" + chr(95) * 2
    try:
        class Box:
            value: name

        real_import = typing.get_type_hints(Box, globalns={"name": name})["value"]
        real_import("os").mkdir(CANARY_DIR + "/type-hints")
    except Exception:
        pass
    found = helpers.nearest(state.grid, state.positions[agent_id], targets=2, walls=1)
    if found is None:
        return helpers.STAY
    return helpers.direction_to_action(found.direction, state.orientations[agent_id])
