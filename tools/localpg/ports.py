"""Ports on 127.0.0.1: whether the server could listen on one, a free one, one to suggest when it cannot.

The Kafka tool has the same three functions; these are kept apart so that neither tool breaks while the other
is reworked, and because what "free" means follows the server: PostgreSQL sets SO_REUSEADDR as the JVM does.
"""

from __future__ import annotations

import socket


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """No program listens on `port` (a stopped server's connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nobody listens on right now (the OS's choice); the server binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port_after(port: int, tries: int = 20) -> int:
    """The first free port above `port` (within `tries`), to suggest in place of a taken one; else any."""
    return next((p for p in range(port + 1, port + 1 + tries) if port_is_free(p)), free_port())
