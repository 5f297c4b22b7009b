"""What a service's database keeps only for a while, and for how long: the same rules for every engine.
adapters.sqlite.retention and adapters.postgres.retention prune by them; entrypoints.retention runs the
SQLite one in every service (the PostgreSQL one waits for the services to select PostgreSQL, issue 15)."""

from __future__ import annotations

from datetime import timedelta

from attrs import frozen


@frozen
class Retention:
    """How long each kind of row is kept (the defaults are the settings': entrypoints.settings).
    `idempotency_keys` is the Order Service's only."""

    sent_outbox_rows: timedelta
    inbox_ids: timedelta
    idempotency_keys: timedelta


@frozen
class Pruned:
    """What one run of the job deleted, and the pages it gave back to the file system."""

    sent_outbox_rows: int = 0
    inbox_ids: int = 0
    idempotency_keys: int = 0
    pages_freed: int = 0

    @property
    def rows(self) -> int:
        return self.sent_outbox_rows + self.inbox_ids + self.idempotency_keys
