"""The server's process, as its own postmaster.pid names it: whether it is ours, and stopping it.

pg_ctl starts the postmaster detached (its parent becomes init), so this process holds no handle on it: the
pid comes from `<data>/postmaster.pid`, whose first line is the pid and fourth the port.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def postmaster(data_dir: Path) -> tuple[int, int] | None:
    """(pid, port) of the postmaster running on `data_dir`, or None (no pid file, or a stale one)."""
    found = pid_file(data_dir)
    return found if found is not None and is_our_server(found[0], data_dir) else None


def pid_file(data_dir: Path) -> tuple[int, int] | None:
    """(pid, port) as `data_dir`/postmaster.pid says, whether or not that process still runs."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[0]), int(lines[3])
    except (OSError, IndexError, ValueError):  # OSError: missing, or a folder another user owns
        return None


def remove_stale_pid_file(data_dir: Path) -> None:
    """Delete postmaster.pid when the process it names is gone (a server that was killed leaves it)."""
    found = pid_file(data_dir)
    if found is not None and not alive(found[0]):
        (data_dir / "postmaster.pid").unlink(missing_ok=True)


def is_our_server(pid: int, data_dir: Path) -> bool:
    # A pid file can outlive its process and the pid be reused: only a postgres started on this data folder
    # is ours to report on or to stop.
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return alive(pid) and argv[0].endswith(b"postgres") and str(data_dir).encode() in argv


def alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (exited, its parent not having reaped it yet) does not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


# PostgreSQL's shutdown modes by signal: SIGINT is "fast" (roll back open transactions, checkpoint, exit),
# SIGQUIT "immediate" (exit now, recover at next start); SIGTERM would wait for every client to leave.
_LAST_RESORTS_S = 5.0


def terminate(pid: int, grace_s: float = 30.0) -> None:
    """Fast shutdown; if it has not exited within grace_s, immediate shutdown, then SIGKILL."""
    steps = ((signal.SIGINT, grace_s), (signal.SIGQUIT, _LAST_RESORTS_S), (signal.SIGKILL, _LAST_RESORTS_S))
    for signum, wait_s in steps:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return
        if _exited_within(pid, wait_s):
            return


def _exited_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)
