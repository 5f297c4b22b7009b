"""The event loop's way into a database: a unit of work runs at once when nothing else writes, and is handed
to the database's writer thread, and awaited, when something does.

A write transaction may have to wait: SQLite lets one writer in at a time, and the outbox relay, a consumer
or the expiry sweep write on threads of their own, each for as long as its transaction takes (the sweep
cancels every expired order in one). On the event loop that wait froze every request of the service for as
long as the other transaction ran (about 1 s behind a 1 s write, measured). So the loop never waits: if the
process's write lock is free this instant (`Database.writing_now`, which never blocks), the block runs on the
loop holding it, and no other thread of the process can make it wait; if the lock is taken, the block goes to
the writer thread, which waits for it while the loop goes on serving everything else.

Why not always hand the block over: a hand-over costs a thread switch each way, and a thread that wants the
GIL while the loop runs Python waits up to the interpreter's switch interval (5 ms). Handing over every unit
of work doubled the order path's median latency at half load (BENCHMARKS.md); most units of work find the lock
free.

One thread per database, not a pool: the database takes one writer at a time anyway, so more threads would
only queue on its lock instead of here, each with a connection of its own. Blocks handed over run in order.
Reads stay on the loop: in WAL mode a reader never waits for a writer. The lock is this process's: another
process writing the same file could still make the loop wait (up to the busy timeout); a service's file has
one process (several instances share PostgreSQL instead).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from adapters.sqlite.database import Database

R = TypeVar("R")


class Writer:
    """An `Offload` (ordering_core.ports) for `database`: `await writer(block)` runs `block()` at once if
    no other thread of the process is writing, else on the database's writer thread.

    A block handed over sees the caller's context variables (the request's correlation id in its log lines).
    A caller cancelled while its block runs stops waiting, but the block runs to its end; one cancelled
    before its block started removes it from the queue.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{database.schema.name}-writer")

    def __repr__(self) -> str:
        return f"Writer({self._database!r})"

    async def __call__(self, block: Callable[[], R], /) -> R:
        with self._database.writing_now() as free:
            if free:
                return block()
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._thread, context.run, block)

    def close(self) -> None:
        """Finish the blocks already handed over, then close the thread's connection; later calls raise."""
        self._thread.submit(self._database.close)
        self._thread.shutdown(wait=True)
