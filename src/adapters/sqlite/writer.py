"""The event loop's way into a database: its units of work handed to one thread, and awaited.

A write transaction may have to wait: SQLite lets one writer in at a time, and the outbox relay, a consumer
or the expiry sweep write on threads of their own, each for as long as its transaction takes (the sweep
cancels every expired order in one). On the event loop that wait froze every request of the service for as
long as the other transaction ran (about 1 s behind a 1 s write, measured). So the HTTP side of a service
never opens a unit of work on the loop: it hands the block to its database's `Writer` and awaits the answer;
while the block waits for the lock, the loop goes on serving everything else.

One thread per database, not a pool: the database takes one writer at a time anyway, so more threads would
only queue on its lock instead of here, each with a connection of its own. Blocks run in the order handed
over. Reads stay on the loop: in WAL mode a reader never waits for a writer.
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
    """An `Offload` (ordering_core.ports) for `database`: `await writer(block)` runs `block()` on the
    database's writer thread.

    The block sees the caller's context variables (the request's correlation id in its log lines). A caller
    cancelled while its block runs stops waiting, but the block runs to its end; one cancelled before its
    block started removes it from the queue.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{database.schema.name}-writer")

    def __repr__(self) -> str:
        return f"Writer({self._database!r})"

    async def __call__(self, block: Callable[[], R], /) -> R:
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._thread, context.run, block)

    def close(self) -> None:
        """Finish the blocks already handed over, then close the thread's connection; later calls raise."""
        self._thread.submit(self._database.close)
        self._thread.shutdown(wait=True)
