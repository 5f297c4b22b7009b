"""Whether a host is this machine's loopback: the one rule behind the demo sign-in's "loopback only".

Used where the sign-in is switched on (entrypoints.settings refuses it for a SERVICE_HOST that is not loopback)
and where it answers (adapters.http.demo_page checks each request's addresses and Host). Standard library only,
so the settings, which the CLI reads too, do not import a web framework for it.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """`localhost`, or an IPv4 or IPv6 loopback address (127.0.0.0/8, ::1); a name or a path is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
