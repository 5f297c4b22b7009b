"""The broker's process: whether a pid is a broker of ours, and stopping one (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

# Brokers this Python process started, by pid: kept so they can be reaped (and no ResourceWarning says a
# running child was forgotten) while LocalKafka itself stays a plain frozen value.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def remember_child(process: subprocess.Popen[bytes]) -> None:
    """Keep a broker this process started, so that stopping it also reaps it."""
    _CHILDREN[process.pid] = process


def is_our_broker(pid: int, config_file: Path) -> bool:
    # A pid file can outlive its process and the pid be reused: only a JVM running kafka.Kafka with this
    # home's config is ours to report on or to stop.
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in argv and str(config_file).encode() in argv


def terminate(pid: int, grace_s: float = 30.0) -> None:
    """SIGTERM (Kafka shuts down cleanly on it), then SIGKILL if it has not exited within grace_s."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while _alive(pid):
        time.sleep(0.05)


def kill(pid: int) -> None:
    """SIGKILL, and wait until the process is gone (reaped, if this process started it)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    # SIGKILL cannot be caught; the bound is for a process stuck in the kernel (a hung disk).
    deadline = time.monotonic() + 30.0
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:  # started by this process: poll() reaps it, so it lingers as no zombie
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)  # started by an earlier command: only ask whether it still exists
    except ProcessLookupError:
        return False
    return True
