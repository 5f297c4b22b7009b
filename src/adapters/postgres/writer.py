"""The event loop's way into a PostgreSQL database: every unit of work goes to the database's writer thread,
and the loop awaits it.

Unlike SQLite's (adapters.sqlite.writer), no block runs on the loop: each statement is a round trip to the
server, and the block's first one waits for the service's writer lock, which another instance may hold. One
thread, not a pool: the writer lock lets one unit of work of the service in at a time across all instances,
so more threads would only wait on the lock instead of here, each holding a pooled connection. Blocks run in
the order they were handed over.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from adapters.postgres.database import PostgresDatabase

R = TypeVar("R")


class PostgresWriter:
    """An `Offload` (ordering_core.ports) for `database`: `await writer(block)` runs `block()` on the writer
    thread, with the caller's context variables (the request's correlation id in its log lines)."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{database.schema.name}-writer")

    def __repr__(self) -> str:
        return f"PostgresWriter({self._database!r})"

    async def __call__(self, block: Callable[[], R], /) -> R:
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._thread, context.run, block)

    def close(self) -> None:
        """Finish the blocks already handed over; later calls raise."""
        self._thread.shutdown(wait=True)
