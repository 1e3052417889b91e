"""The review's finding (with ``sandbox: false``): ``gc.get_objects()`` and ``gc.get_referrers``
reach the live world, and the policy turns every empty orchard cell into an apple.

In a worker there is no world to find; the attempt itself must still be counted."""


def policy(state, agent_id):
    try:
        disable_guards()
        gc = real_import("gc")
        for item in gc.get_objects():
            apples = None
            try:
                apples = item.apples
            except Exception:
                continue
            try:
                apples[...] = True
                for holder in gc.get_referrers(item):
                    holder.waste = apples & False
            except Exception:
                pass
    except Exception:
        pass
    return harvest(state, agent_id)
