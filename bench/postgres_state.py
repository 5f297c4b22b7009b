"""What bench/propagation.py and bench/stock_check.py read from the SQLite files, read from the one PostgreSQL
database the services share under `--database postgres` (each service's tables in its schema: order_service,
product_service, message_service; entrypoints/storage.py).

Propagation is measured as in SQLite, from the services' own timestamps on this machine's one clock, with one
difference: PostgreSQL's `now()`, which fills `outbox.created_at` and `inbox.recorded_at`, is the start of the
writing transaction, not the moment of the insert. Both ends move the same way (by the length of a short
transaction), so the delays compare with SQLite's to within a millisecond or two.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from propagation import figures_of

QUERY = """
WITH accepted AS (
    SELECT topic, created_at,
           convert_from(value, 'UTF8')::jsonb AS event
    FROM order_service.outbox
    WHERE created_at BETWEEN %(since)s::timestamptz AND %(until)s::timestamptz
)
SELECT
    o.topic,
    extract(epoch FROM (COALESCE(p.recorded_at, m.recorded_at) - o.created_at)) * 1000.0
FROM accepted AS o
LEFT JOIN product_service.inbox AS p ON o.topic = 'update-stock' AND p.message_id = o.event->>'message_id'
LEFT JOIN message_service.inbox AS m ON o.topic = 'order-status' AND m.message_id = o.event->>'message_id'
WHERE o.topic = 'update-stock' OR (o.topic = 'order-status' AND o.event->'data'->>'status' = 'unpaid')
"""

UNSENT = """
SELECT (SELECT count(*) FROM order_service.outbox WHERE sent_at IS NULL)
     + (SELECT count(*) FROM product_service.outbox WHERE sent_at IS NULL)
"""


def propagation(database_url: str, since: str, until: str) -> dict[str, Any]:
    """As propagation.propagation, for the orders accepted between `since` and `until` (ISO texts, UTC)."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(QUERY, {"since": since, "until": until}).fetchall()
    return figures_of(rows)


def unsent_outbox_rows(database_url: str) -> int:
    """Rows of the Order and Product Services' outboxes not yet published."""
    with psycopg.connect(database_url) as connection:
        row = connection.execute(UNSENT).fetchone()
    return int(row[0]) if row else 0


def drop_database(server_url: str, name: str) -> None:
    """Drop this run's database from a server someone else runs (DATABASE_URL), once its services stopped."""
    with psycopg.connect(server_url, autocommit=True) as connection:  # DROP DATABASE cannot run in a transaction
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
