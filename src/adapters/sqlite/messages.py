"""The Message Service's database: the messages sent to customers, and the inbox of the statuses consumed.

`seq` numbers the messages in the order they were recorded, which is the order a customer reads them in. It
is the table's INTEGER PRIMARY KEY on purpose: VACUUM may renumber an implicit rowid, never that column.

Schema version 2 gave every message its customer (only they, and an admin, read it): messages recorded by
version 1 belong to UNIDENTIFIED_CUSTOMER. The table was rebuilt, keeping each message's `seq`, so that the
column has no default: a message written without its customer fails instead of going to the placeholder.
"""

from __future__ import annotations

from adapters.rows import MESSAGE_COLUMNS
from adapters.schema import Schema
from adapters.sqlite.database import Database, sql_text
from adapters.sqlite.transactions import INBOX_TABLES, Connect, SqliteInbox, SqliteUnitOfWork
from ordering_core.customers import UNIDENTIFIED_CUSTOMER
from ordering_core.messages import CustomerMessage

# Version 2: the table rebuilt with the customer's id (as ORDER_SCHEMA's version 2 rebuilds `orders`).
_MESSAGES_WITH_CUSTOMERS = (
    """
    CREATE TABLE customer_messages_v2 (
        seq INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL UNIQUE,
        order_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        text TEXT NOT NULL,
        occurred_at TEXT NOT NULL
    ) STRICT
    """,
    f"""
    INSERT INTO customer_messages_v2 (seq, message_id, order_id, customer_id, status, reason, text, occurred_at)
    SELECT seq, message_id, order_id, {sql_text(UNIDENTIFIED_CUSTOMER)}, status, reason, text, occurred_at
    FROM customer_messages
    """,
    "DROP TABLE customer_messages",
    "ALTER TABLE customer_messages_v2 RENAME TO customer_messages",
    # An order's messages are all its customer's: the order id finds them, the customer id is only checked.
    "CREATE INDEX customer_messages_by_order ON customer_messages (order_id, seq)",
)

# Version 3: one message per order and status. An order reaches each status once (unpaid, paid, cancelled: a
# repeated transition publishes nothing, and a second cancel keeps the first reason), so two messages of one
# status can only be one status told twice. The inbox forgets ids after INBOX_RETENTION_S
# (adapters/sqlite/retention.py); from then on this index is what keeps a replay from telling it again.
# Should an earlier release have kept such a pair, the first is kept: the index could not be made otherwise.
_ONE_MESSAGE_PER_STATUS = (
    """
    DELETE FROM customer_messages
    WHERE seq NOT IN (SELECT min(seq) FROM customer_messages GROUP BY order_id, status)
    """,
    "CREATE UNIQUE INDEX customer_messages_one_per_status ON customer_messages (order_id, status)",
)

MESSAGE_SCHEMA = Schema(
    "message",
    tables=frozenset({"customer_messages", "inbox"}),
    migrations=(
        (
            """
            CREATE TABLE IF NOT EXISTS customer_messages (
                seq INTEGER PRIMARY KEY,
                message_id TEXT NOT NULL UNIQUE,
                order_id TEXT NOT NULL,
                status TEXT NOT NULL,
                reason TEXT,
                text TEXT NOT NULL,
                occurred_at TEXT NOT NULL
            ) STRICT
            """,
            # A customer's messages, in order, without reading anyone else's.
            "CREATE INDEX IF NOT EXISTS customer_messages_by_order ON customer_messages (order_id, seq)",
            *INBOX_TABLES,
        ),
        _MESSAGES_WITH_CUSTOMERS,
        _ONE_MESSAGE_PER_STATUS,
    ),
)

# The message id is the status event's, and an order reaches each status once: the same message twice, or a
# second message of one status, is one message for the customer. ON CONFLICT without a column covers both
# unique keys, and only those: OR IGNORE would also drop, silently, a row that breaks NOT NULL.
_INSERT = (
    f"INSERT INTO customer_messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


class SqliteNotifier:
    """Keeps each customer message as a row, one per order and status; the HTTP endpoint shows them
    (`SqliteMessageViews`)."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def notify(self, message: CustomerMessage) -> None:
        self._connect().execute(
            _INSERT,
            (
                message.message_id,
                message.order_id,
                message.customer_id,
                message.status.value,
                None if message.reason is None else message.reason.value,
                message.text,
                message.occurred_at.isoformat(),
            ),
        )


class SqliteMessageUnitOfWork(SqliteUnitOfWork):
    """`notifier` and `inbox`, in one transaction per `with` block."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, *MESSAGE_SCHEMA.tables)
        self.notifier = SqliteNotifier(self.connection)
        self.inbox = SqliteInbox(self.connection)
