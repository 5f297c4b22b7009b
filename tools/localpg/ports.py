"""Ports on 127.0.0.1: whether the server could listen on one, a free one, one to suggest when it cannot.

Whether a port is free, and a free one, are the Kafka tool's (PostgreSQL sets SO_REUSEADDR as the JVM does, so
"free" means the same for both, and one process never hands out a port twice across the two tools).
"""

from __future__ import annotations

from localkafka.ports import free_port, port_is_free

__all__ = ["free_port", "free_port_after", "port_is_free"]


def free_port_after(port: int, tries: int = 20) -> int:
    """The first free port above `port` (within `tries`), to suggest in place of a taken one; else any."""
    return next((p for p in range(port + 1, port + 1 + tries) if port_is_free(p)), free_port())
