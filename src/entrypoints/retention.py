"""The retention job every composition root runs: what each service's database keeps only for a while goes,
every PRUNE_INTERVAL_S (adapters/sqlite/retention.py has the windows and why).

It runs on a thread of its own, not on the event loop: it writes, batch by batch, and a write may wait for
the relay's or a consumer's transaction. The HTTP side's units of work never wait for it (they go to the
database's writer thread when another thread writes: adapters/sqlite/writer.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from adapters.retention import Retention
from entrypoints.settings import Settings
from entrypoints.storage import Pruner, Where

log = logging.getLogger(__name__)


def retention_of(settings: Settings) -> Retention:
    return Retention(
        sent_outbox_rows=timedelta(seconds=settings.outbox_sent_retention_s),
        inbox_ids=timedelta(seconds=settings.inbox_retention_s),
        idempotency_keys=timedelta(seconds=settings.idempotency_key_ttl_s),
    )


def where_of(settings: Settings) -> Where:
    """Which database the service uses, and what it keeps for how long (entrypoints.storage)."""
    return Where(database_url=settings.database_url, data_dir=settings.data_dir, retention=retention_of(settings))


def prune_job(
    pruner: Pruner, settings: Settings, *, clock: Callable[[], datetime]
) -> tuple[float, Callable[[], Awaitable[None]]]:
    """`(seconds, job)` for `runtime.background(periodic=[...])`: `pruner` is the service's database's
    (entrypoints.storage)."""

    async def prune() -> None:
        pruned = await asyncio.to_thread(pruner.prune, clock())
        if pruned.rows or pruned.pages_freed:
            log.info(
                "pruned",
                extra={
                    "sent_outbox_rows": pruned.sent_outbox_rows,
                    "inbox_ids": pruned.inbox_ids,
                    "idempotency_keys": pruned.idempotency_keys,
                    "pages_freed": pruned.pages_freed,
                },
            )

    return settings.prune_interval_s, prune
