"""Commits per second on the order path, from one thread: each commit is one SqliteOrderUnitOfWork transaction
reading the customer's holdings (the hold limit's check) and writing an order and its three outbox rows
(create-order, update-stock, order-status), as `place_order` does.

    .venv/bin/python bench/sqlite_order_path.py [--orders 2000] [--folder var/bench]

The orders and events are built before the clock starts, so the rate is the storage's: BEGIN IMMEDIATE, one
holdings read, one order row, three encoded outbox rows, COMMIT (WAL, synchronous=NORMAL). The file is new for
each run and goes in a temporary folder under `--folder` (on the disk the services use, not a RAM disk),
removed afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from adapters.sqlite.database import Database
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from ordering_core import (
    EnvelopeFactory,
    Event,
    Line,
    Order,
    OrderCreated,
    OrderLine,
    OrderStatus,
    OrderStatusChanged,
    StockReservationRequested,
)

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CUSTOMERS = 50  # orders go to customers in turn, so the customer indexes grow as they would in use


def an_order_and_its_events(n: int) -> tuple[Order, list[Event]]:
    """A two-line order and what placing it publishes (the same three events as `place_order`)."""
    ids = iter(f"bench-{n}-{k}" for k in range(4))
    envelope = EnvelopeFactory(lambda: next(ids), NOW, f"corr-{n}")
    lines = (OrderLine("p-1", 2, Decimal("2.50")), OrderLine("p-2", 1, Decimal("12.00")))
    customer_id = f"customer-{n % CUSTOMERS}"
    order = Order.place(f"order-{n}", lines, NOW, customer_id=customer_id)
    return order, [
        OrderCreated(envelope(order.order_id), order.lines, order.total, customer_id=customer_id),
        StockReservationRequested(
            envelope(order.order_id), tuple(Line(line.product_id, line.quantity) for line in lines)
        ),
        OrderStatusChanged(envelope(order.order_id), OrderStatus.UNPAID, customer_id=customer_id),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=2_000, help="how many commits (default 2000)")
    parser.add_argument("--folder", type=Path, default=REPO / "var" / "bench", help="where the file goes")
    arguments = parser.parse_args()
    arguments.folder.mkdir(parents=True, exist_ok=True)
    work = [an_order_and_its_events(n) for n in range(arguments.orders)]

    with (
        tempfile.TemporaryDirectory(dir=arguments.folder) as folder,
        Database(Path(folder) / "order.db", ORDER_SCHEMA) as database,
    ):
        uow = SqliteOrderUnitOfWork(database)
        started = time.perf_counter()
        for order, events in work:
            with uow:
                uow.orders.holdings_of(order.customer_id)
                uow.orders.add(order)
                uow.events.publish(events)
                uow.commit()
        elapsed = time.perf_counter() - started
        (rows,) = database.connection().execute("SELECT count(*) FROM outbox").fetchone()

    if rows != 3 * arguments.orders:  # the run measured something else than it says: no figure
        raise SystemExit(f"expected {3 * arguments.orders} outbox rows, found {rows}")
    print(
        f"{arguments.orders} order-path commits (holdings read, 1 order row + 3 outbox rows each) in "
        f"{elapsed:.3f} s: "
        f"{arguments.orders / elapsed:,.0f} commits/s, {elapsed / arguments.orders * 1e6:,.0f} µs per commit"
    )


if __name__ == "__main__":
    main()
