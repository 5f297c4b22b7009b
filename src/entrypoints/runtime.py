"""What the three composition roots share: the background work a service runs and its readiness checks.

A service's background work is threads (the outbox relay, Kafka consumers: everything they call blocks) and
asyncio tasks (periodic jobs). `background(...)` turns them into a Starlette lifespan that starts them after
the app is up and stops them, then closes what they used, when uvicorn shuts down (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Protocol

from starlette.applications import Starlette

from adapters.distribution import installed_version
from adapters.http.probes import Check
from adapters.messaging.broker import Broker
from adapters.messaging.relay import Lease, Outbox, OutboxRelay
from adapters.messaging.worker import STUCK_AFTER_TRIES, ConsumerWorker

log = logging.getLogger(__name__)

YOUNG_GENERATION_THRESHOLD = 10_000  # Python's default is 700; see collect_garbage_less_often


class Worker(Protocol):
    def start(self) -> None: ...
    def stop(self, timeout_s: float = 10.0) -> None: ...


class RandomIds:
    """Random (version 4) UUIDs as 32 hex digits, like `uuid.uuid4().hex`, from 4 KiB of OS randomness at a time.

    Each order takes six ids. `uuid4` asks the kernel for 16 bytes every time, and under load those system
    calls were 8% of the order path's event-loop time (BENCHMARKS.md); one call per 256 ids is not visible.
    The bytes are the same kernel CSPRNG's: ids stay unguessable. Thread-safe (consumers make ids too).
    """

    BATCH = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._random = b""
        self._next = 0

    def __call__(self) -> str:
        with self._lock:
            if self._next == len(self._random):
                self._random, self._next = os.urandom(16 * self.BATCH), 0
            raw = bytearray(self._random[self._next : self._next + 16])
            self._next += 16
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
        raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 9562 variant
        return raw.hex()


new_id = RandomIds()


def utc_now() -> datetime:
    return datetime.now(UTC)


def outbox_relay(
    broker: Broker, outbox: Outbox, *, group: str, lease: Lease | None, group_commit_s: float
) -> OutboxRelay:
    """The service's outbox relay. Every instance's has one transactional id, `<group>-outbox`: the lease (if
    several instances share the outbox) picks the one that publishes, and the id fences the one before it
    (adapters.messaging.relay)."""
    name = f"{group.removesuffix('-service')}-outbox-relay"
    return OutboxRelay(
        outbox, lambda: broker.producer(f"{group}-outbox"), name=name, lease=lease, window_s=group_commit_s
    )


def background(
    *,
    workers: Sequence[Worker] = (),
    periodic: Sequence[tuple[float, Callable[[], Awaitable[None]]]] = (),
    closers: Sequence[Callable[[], Awaitable[None] | None]] = (),
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A lifespan: start `workers` and `periodic` jobs (every N seconds), log that the service started and
    which version of `ordering` it runs, and on shutdown stop them, in reverse, then run `closers` (close
    clients and databases once nothing uses them)."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        for worker in workers:
            worker.start()
        tasks = [asyncio.create_task(_every(seconds, job)) for seconds, job in periodic]
        log.info("service started", extra={"version": installed_version()})
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


def collect_garbage_less_often() -> None:
    """Tune the cyclic garbage collector for a service process; its composition root calls this once the app
    is built (not tests, which build many apps in one process).

    A request allocates thousands of short-lived objects (HTTP, JSON, the availability call) and with
    Python's default threshold (700) the collector ran every few requests, each time walking everything the
    imports and the app had made. Freezing those (they live as long as the process) and collecting the young
    generation every 10,000 net allocations took the order path from 400-460 to 490-615 orders/s (A/B on our
    2-core machine, three 10 s wrk runs each, BENCHMARKS.md); peak RSS did not move measurably.
    """
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)


async def _every(seconds: float, job: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception("periodic job failed; it runs again in %.0f s", seconds)


# -- readiness checks --------------------------------------------------------------------------------------


def kafka_check(bootstrap_servers: str) -> Check:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admins: list[AdminClient] = []  # made at the first probe, not when the app is built

    def metadata() -> str | None:
        if not admins:
            # librdkafka's own lines (a failed connect, every few tens of ms while Kafka is down) go through
            # `log` into the service's JSON log, as the producer's and the consumer's do, not raw to stderr.
            # The AdminClient takes the logger as an argument, where they take it in their config.
            admins.append(AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 3}, logger=log))
        try:
            brokers = admins[0].list_topics(timeout=1.5).brokers
        finally:
            # An AdminClient only queues them for a logger, until polled (confluent-kafka-python #1734):
            # hand over what queued since the last probe, or it would pile up unseen.
            admins[0].poll(0)
        return None if brokers else "no broker answered"

    async def check() -> str | None:
        try:
            return await asyncio.to_thread(metadata)
        except KafkaException as error:  # a bad setting, or no answer in time
            return f"unreachable at {bootstrap_servers} ({type(error).__name__})"

    return check


def outbox_check(relay: OutboxRelay, backlog: Callable[[], int]) -> Check:
    """Down until the relay's producer is ready (so a load balancer sends no order that would wait for it), and
    while the relay cannot publish: the service still takes requests, and the backlog says how much waits.
    A relay standing by for another instance's (adapters.messaging.relay) is ready: that one publishes."""

    async def check() -> str | None:
        if relay.standing_by:
            return None
        if relay.fenced:
            waiting = await asyncio.to_thread(backlog)
            return (
                f"fenced: another producer took the relay's transactional id; {waiting} events wait until "
                f"this service restarts ({relay.last_error})"
            )
        if relay.last_error is None:
            if relay.producing:
                return None
            return "the outbox relay's producer is starting (it waits for Kafka's transaction coordinator)"
        waiting = await asyncio.to_thread(backlog)
        return f"{waiting} events wait to be published: {relay.last_error}"

    return check


def consumer_check(worker: ConsumerWorker) -> Check:
    """Down once the worker is fenced (it consumes no more), and while it keeps failing to apply one record:
    from its `STUCK_AFTER_TRIES`th failed try on (earlier ones are the database's passing locks), as every
    partition of its member waits for that record. docs/operations.md says what to do."""

    async def check() -> str | None:
        if worker.fenced:
            return f"fenced: it consumes no more until this service restarts ({worker.last_error})"
        stuck = worker.stuck()
        if stuck is None or stuck.tries < STUCK_AFTER_TRIES:
            return None
        return (
            f"stuck on {stuck.where} for {stuck.seconds():.0f} s, {stuck.tries} tries: {stuck.error}; "
            f"its other partitions wait"
        )

    return check
