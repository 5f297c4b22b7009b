"""Dead letters on the real broker, as an operator works with them (docs/operations.md, "Dead letters").

A valid stock-reservation-rejected for an order the Order Service does not have is refused (UnknownOrder)
and set aside; so is a record of order-status that is not JSON. The operator lists them, "fixes" the first
(restores the missing order, here by copying a real order's row under its id, as a restore from a backup
would), replays it: the order is cancelled out of stock and its customer told once. Replaying the same
dead letter again is consumed and changes nothing (the inbox drops its message id): no new event, no new
message, the same stock. The poison record, replayed, is refused again and its new dead letter names where
it came from. The gauge of dead letters waiting follows.
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from test_metrics import metric
from test_seed_story import RunningSystem, eventually, new_customer, place, statuses

from adapters.kafka.broker import KafkaBroker
from adapters.messaging.broker import Message
from adapters.wire.codec import encode
from ordering_core import Envelope, StockReservationRejected
from ordering_core.availability import Shortage, UnavailableLine

pytestmark = pytest.mark.kafka

REJECTIONS = "stock-reservation-rejected.dlq"
STATUSES = "order-status.dlq"


def dead_letters(system: RunningSystem, service: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{system.url(service)}/dead-letters", headers=system.admin())
    assert answer.status_code == 200, answer.text
    return list(answer.json()["dead_letters"])


def replay(system: RunningSystem, service: str, **body: Any) -> list[dict[str, Any]]:
    answer = httpx.post(f"{system.url(service)}/dead-letters/replay", json=body, headers=system.admin())
    assert answer.status_code == 200, answer.text
    return list(answer.json()["replayed"])


def waiting(system: RunningSystem, service: str, topic: str) -> float | None:
    return metric(system, service, "ordering_dead_letters_waiting", topic=topic)


def restore(order_db: Any, order_id: str, like: str) -> None:
    """The fix: the missing order comes back (a copy of `like`'s row under `order_id`)."""
    with closing(sqlite3.connect(order_db)) as database, database:
        columns = "customer_id, status, cancel_reason, payment_id, placed_at, placed_at_us, total, units, lines"
        database.execute(
            f"INSERT INTO orders (order_id, {columns}) SELECT ?, {columns} FROM orders WHERE order_id = ?",
            (order_id, like),
        )


def test_an_operator_lists_fixes_and_replays_dead_letters_and_a_second_replay_changes_nothing(own_broker, tmp_path):
    # A broker of its own: the lists and the gauges are of whole dead-letter topics, and on the session's
    # broker a record another module's services left unconsumed is refused here too (its order is not ours).
    bootstrap = own_broker.bootstrap_servers
    system = RunningSystem(bootstrap, tmp_path / "data", tmp_path / "services.log")
    broker = KafkaBroker(bootstrap)
    try:
        for service in ("product", "order", "message"):
            system.start(service)
        pen = {"name": "Pen", "price": "2.50", "stocks": 5}
        created = httpx.put(f"{system.url('product')}/products/D1", json=pen, headers=system.admin())
        assert created.status_code == 201
        customer = new_customer()
        real = place(system, [{"product_id": "D1", "quantity": 2}], customer).json()["order_id"]
        eventually(lambda: statuses(system, real), ["unpaid"])
        missing = f"e2e-lost-{uuid.uuid4().hex[:12]}"
        rejected = StockReservationRejected(
            Envelope(f"m-{uuid.uuid4().hex}", datetime.now(UTC), missing, "e2e-dead-letters"),
            (UnavailableLine("D1", 1, Shortage.INSUFFICIENT_STOCK, 0),),
        )
        encoded = encode(rejected)
        refusable = Message(encoded.topic, key=encoded.key, value=encoded.value, headers=encoded.headers)
        poison = Message("order-status", key=real.encode(), value=b"not json")

        broker.producer(f"e2e-{uuid.uuid4().hex}").send_all([refusable, poison])

        reason = f"UnknownOrder: no order has id {missing!r}"
        eventually(lambda: [d["reason"] for d in dead_letters(system, "order")], [reason])
        eventually(lambda: len(dead_letters(system, "message")), 1)
        (refused,) = dead_letters(system, "order")
        assert (refused["event"], refused["order_id"], refused["replayed"]) == (
            "stock-reservation-rejected",
            missing,
            None,
        )
        eventually(lambda: waiting(system, "order", REJECTIONS), 1.0)

        restore(tmp_path / "data" / "order.db", missing, like=real)
        (sent,) = replay(system, "order", refs=[refused["ref"]])

        assert sent["replayed"]["by"] == "e2e-admin"
        eventually(lambda: statuses(system, missing), ["cancelled"])
        eventually(lambda: waiting(system, "order", REJECTIONS), 0.0)
        order = httpx.get(f"{system.url('order')}/orders/{missing}", headers=system.admin()).json()
        assert (order["status"], order["reason"]) == ("cancelled", "out_of_stock")
        stock_before = httpx.get(f"{system.url('product')}/products/D1").json()["stocks"]
        published_before = metric(system, "order", "ordering_events_published_total")
        applied_before = metric(system, "order", "ordering_records_applied_total", group="order-service")

        replay(system, "order", refs=[refused["ref"]])  # the same dead letter again

        eventually(
            lambda: metric(system, "order", "ordering_records_applied_total", group="order-service"),
            applied_before + 1,  # it was consumed: a duplicate, dropped by its message id
        )
        assert metric(system, "order", "ordering_events_published_total") == published_before
        assert statuses(system, missing) == ["cancelled"]
        assert httpx.get(f"{system.url('product')}/products/D1").json()["stocks"] == stock_before == 3

        (first_poison,) = dead_letters(system, "message")
        replay(system, "message", topic="order-status")  # not fixable: refused again, with the trail
        eventually(lambda: len(dead_letters(system, "message")), 2)
        trail = httpx.get(
            f"{system.url('message')}/dead-letters/{dead_letters(system, 'message')[-1]['ref']}",
            headers=system.admin(),
        ).json()
        assert {"name": "replayed-from", "text": first_poison["ref"]} in trail["headers"]
        eventually(lambda: waiting(system, "message", STATUSES), 1.0)  # the old one replayed, the new one waits
    finally:
        broker.close()
        system.close()
