"""The Message Service's database in PostgreSQL: the messages sent to customers, and the inbox of the statuses
consumed. The shape is SQLite's at its schema version 3 (`adapters.sqlite.messages`), reached in one step:
no PostgreSQL database of an earlier shape was ever written.

`seq` numbers the messages in the order they were recorded, which is the order a customer reads them in. It
comes from an identity column, taken at INSERT; units of work commit one after the other under the service's
writer lock (`adapters.postgres.database`), so no message recorded later can show up before an earlier one.
A refused message (ON CONFLICT) still uses up its number: the gaps are harmless, only the order is read.

`occurred_at` is the datetime's own ISO text, as in SQLite, not TIMESTAMPTZ: that keeps the instant but
gives it back in the session's time zone, and the contract holds every adapter to returning the offset it
was given (17:30+05:30 stays 17:30+05:30). Nothing selects or sorts by it.
"""

from __future__ import annotations

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.transactions import INBOX_TABLES, Connect, PostgresInbox, PostgresUnitOfWork
from adapters.rows import MESSAGE_COLUMNS
from adapters.schema import Schema
from ordering_core.messages import CustomerMessage

MESSAGE_SCHEMA = Schema(
    "message",
    tables=frozenset({"customer_messages", "inbox"}),
    migrations=(
        (
            """
            CREATE TABLE IF NOT EXISTS customer_messages (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                message_id TEXT NOT NULL UNIQUE,
                order_id TEXT NOT NULL,
                customer_id TEXT NOT NULL,
                status TEXT NOT NULL,
                reason TEXT,
                text TEXT NOT NULL,
                occurred_at TEXT NOT NULL
            )
            """,
            # An order's messages are all its customer's: the order id finds them, the customer id is only
            # checked, on the rows found.
            "CREATE INDEX IF NOT EXISTS customer_messages_by_order ON customer_messages (order_id, seq)",
            # An order reaches each status once, so a second message of one status is one status told twice.
            # Once the inbox has forgotten a record's id (the retention job), this index is what keeps a
            # replay from telling the customer again.
            (
                "CREATE UNIQUE INDEX IF NOT EXISTS customer_messages_one_per_status "
                "ON customer_messages (order_id, status)"
            ),
            *INBOX_TABLES,
        ),
    ),
)

# The same message twice, or a second message of one status, is one message for the customer. ON CONFLICT
# without a target covers both unique keys, and only those: a row breaking NOT NULL still fails. (Not
# catching the unique violation: an error would abort the whole transaction, where SQLite fails the one
# statement and the unit of work may go on.)
_INSERT = (
    f"INSERT INTO customer_messages ({MESSAGE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT DO NOTHING"
)


class PostgresNotifier:
    """Keeps each customer message as a row, one per order and status; the HTTP endpoint shows them
    (`adapters.postgres.message_views.PostgresMessageViews`)."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect

    def notify(self, message: CustomerMessage) -> None:
        with self._connect() as connection:
            connection.execute(
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


class PostgresMessageUnitOfWork(PostgresUnitOfWork):
    """`notifier` and `inbox`, in one transaction per `with` block."""

    def __init__(self, database: PostgresDatabase) -> None:
        super().__init__(database, *MESSAGE_SCHEMA.tables)
        self.notifier = PostgresNotifier(self.connection)
        self.inbox = PostgresInbox(self.connection)
