"""What an end-to-end test holds against the other processes of its test run (pytest-xdist)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def alone(name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hold `name` against the other processes of this test run (pytest-xdist) until the block ends: a lock
    file in the folder their temporary folders share.

    For the chaos runs: each takes the two cores (services, brokers, its load), and two at once starved each
    other's services, whose slow answers their checks then judged as the system's fault.
    """
    with (tmp_path_factory.getbasetemp().parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
