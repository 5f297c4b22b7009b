"""What the installed `ordering` distribution says of itself: its version, which the services report
(GET /healthz, the line each logs when it starts) and `ordering --version` prints."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

NAME = "ordering"
UNKNOWN = "unknown"


@cache
def installed_version() -> str:
    """pyproject.toml's `version` as pip installed it (its metadata is read once per process), or "unknown"
    for code run from a source tree that was never installed."""
    try:
        return version(NAME)
    except PackageNotFoundError:
        return UNKNOWN
