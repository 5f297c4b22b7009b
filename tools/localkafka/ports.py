"""Ports on 127.0.0.1: whether the broker could listen on one, a free one, and whether it answers there."""

from __future__ import annotations

import socket


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether the broker could listen on `port`: no socket listens there.

    SO_REUSEADDR, as the JVM sets it: connections of a broker that just stopped linger in TIME_WAIT on its
    port and do not stop a new one from listening, while a program listening there still does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# Every port free_port handed out in this process. Nothing listens on a port until its program starts, so
# the OS may offer one twice in a row: a test choosing a broker's port and then three services' ports got the
# broker's port again for the Order Service (make test, once).
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nobody listens on right now (the OS's choice), and not one this process handed out before;
    the broker (or service) binds it a moment later."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise OSError("the OS offered only ports handed out before, 100 times in a row")


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
