"""What the three composition roots share: the background work a service runs and its readiness checks.

A service's background work is threads (the outbox relay, Kafka consumers: everything they call blocks) and
asyncio tasks (periodic jobs). `background(...)` turns them into a Starlette lifespan that starts them after
the app is up and stops them, then closes what they used, when uvicorn shuts down (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Protocol

from starlette.applications import Starlette

from adapters.http.probes import Check
from adapters.kafka.relay import OutboxRelay
from adapters.sqlite.database import Database

log = logging.getLogger(__name__)


class Worker(Protocol):
    def start(self) -> None: ...
    def stop(self, timeout_s: float = 10.0) -> None: ...


def new_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


def background(
    *,
    workers: Sequence[Worker] = (),
    periodic: Sequence[tuple[float, Callable[[], Awaitable[None]]]] = (),
    closers: Sequence[Callable[[], Awaitable[None] | None]] = (),
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A lifespan: start `workers` and `periodic` jobs (every N seconds), and on shutdown stop them, in
    reverse, then run `closers` (close clients and databases once nothing uses them)."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        for worker in workers:
            worker.start()
        tasks = [asyncio.create_task(_every(seconds, job)) for seconds, job in periodic]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for worker in reversed(workers):
                await asyncio.to_thread(worker.stop)
            for close in closers:
                result = close()
                if result is not None:
                    await result

    return lifespan


async def _every(seconds: float, job: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception("periodic job failed; it runs again in %.0f s", seconds)


# -- readiness checks --------------------------------------------------------------------------------------


def database_check(database: Database) -> Check:
    def ping() -> str | None:
        database.connection().execute("SELECT 1").fetchone()
        return None

    async def check() -> str | None:
        try:
            return await asyncio.to_thread(ping)
        except Exception as error:
            return f"{type(error).__name__}: {error}"

    return check


def kafka_check(bootstrap_servers: str) -> Check:
    from confluent_kafka.admin import AdminClient

    admins: list[AdminClient] = []  # made at the first probe, not when the app is built

    def metadata() -> str | None:
        if not admins:
            admins.append(AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 3}))
        brokers = admins[0].list_topics(timeout=1.5).brokers
        return None if brokers else "no broker answered"

    async def check() -> str | None:
        try:
            return await asyncio.to_thread(metadata)
        except Exception as error:
            return f"unreachable at {bootstrap_servers} ({type(error).__name__})"

    return check


def outbox_check(relay: OutboxRelay, backlog: Callable[[], int]) -> Check:
    """Down while the relay cannot publish: the service still takes requests, and the backlog says how much
    waits for Kafka."""

    async def check() -> str | None:
        if relay.last_error is None:
            return None
        waiting = await asyncio.to_thread(backlog)
        return f"{waiting} events wait to be published: {relay.last_error}"

    return check
