"""What a scrape reads of a service's work (adapters/metrics.py), and docs/observability.md listing it all.

The collectors are read through a registry of their own, as GET /metrics reads them, and the exposition is
parsed back with prometheus_client's own parser: a test sees what Prometheus would.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from adapters.http.gathering import Gathering
from adapters.http.metrics import DURATION, REQUESTS, HttpMetrics
from adapters.memory.broker import InMemoryBroker
from adapters.memory.outbox import InMemoryOutbox
from adapters.memory.transactions import InMemoryEventPublisher
from adapters.messaging.broker import ProducerFenced, Record
from adapters.messaging.progress import Stuck
from adapters.messaging.relay import OutboxRelay
from adapters.messaging.topics import ALL_TOPICS, RESTORE_CANCELED_ITEM, UPDATE_STOCK
from adapters.messaging.worker import ConsumerWorker
from adapters.metrics import (
    NAMES,
    AvailabilityCollector,
    ConsumerCollector,
    DeadLettersWaitingCollector,
    OrderStatusCollector,
    OutboxCollector,
    ProductStockCollector,
    registry_of,
)
from adapters.sqlite.database import Database
from adapters.sqlite.metrics import SqliteOrderCounts
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from adapters.sqlite.products import PRODUCT_SCHEMA, SqliteProductUnitOfWork
from adapters.sqlite.views import SqliteProductViews
from adapters.wire.codec import encode
from ordering_core import Envelope, OrderStatus, OrderStatusChanged

from .examples import CUSTOMER, NOW, order, product

DOCS = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def scrape(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition: (sample name, its labels) -> value."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def status_event(n: int) -> OrderStatusChanged:
    return OrderStatusChanged(
        Envelope(f"m-{n}", NOW, f"o-{n}", "c-1"), OrderStatus.UNPAID, customer_id=CUSTOMER
    )


def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def broker() -> InMemoryBroker:
    broker = InMemoryBroker()
    broker.create_topics(ALL_TOPICS)
    return broker


class TestOrdersByStatus:
    def test_counts_the_orders_in_each_status_from_the_order_database(self, tmp_path):
        with Database(tmp_path / "order.db", ORDER_SCHEMA) as database:
            uow = SqliteOrderUnitOfWork(database)
            with uow:
                uow.orders.add(order("o-1"))
                uow.orders.add(order("o-2"))
                uow.orders.add(order("o-3", status=OrderStatus.PAID))
                uow.commit()

            samples = scrape(registry_of(OrderStatusCollector(SqliteOrderCounts(database).by_status)))

        assert sample(samples, "ordering_orders", status="unpaid") == 2
        assert sample(samples, "ordering_orders", status="paid") == 1

    def test_a_status_no_order_is_in_reads_zero_rather_than_missing(self, tmp_path):
        with Database(tmp_path / "order.db", ORDER_SCHEMA) as database:
            samples = scrape(registry_of(OrderStatusCollector(SqliteOrderCounts(database).by_status)))

        assert {status: sample(samples, "ordering_orders", status=status) for status in OrderStatus} == {
            "unpaid": 0,
            "paid": 0,
            "cancelled": 0,
        }

    def test_a_failing_read_is_left_out_of_the_scrape_and_the_others_still_come(self, caplog):
        def broken() -> dict[str, int]:
            raise OSError("disk I/O error")

        relay = OutboxRelay(InMemoryOutbox(InMemoryEventPublisher()), lambda: None, name="relay")

        samples = scrape(registry_of(OrderStatusCollector(broken), OutboxCollector(relay, lambda: 4)))

        assert not any(name == "ordering_orders" for name, _ in samples)
        assert sample(samples, "ordering_outbox_backlog") == 4
        assert "reading ordering_orders for a scrape failed" in caplog.text


class TestProductStock:
    def test_reads_every_product_s_stock_from_the_product_database(self, tmp_path):
        with Database(tmp_path / "product.db", PRODUCT_SCHEMA) as database:
            uow = SqliteProductUnitOfWork(database)
            with uow:
                uow.products.add(product("pen", stock=7))
                uow.products.add(product("ink", stock=0))
                uow.commit()

            samples = scrape(registry_of(ProductStockCollector(SqliteProductViews(database).products)))

        assert sample(samples, "ordering_product_stock", product_id="pen") == 7
        assert sample(samples, "ordering_product_stock", product_id="ink") == 0


class TestOutbox:
    def test_reports_the_backlog_and_what_the_relay_published(self, broker):
        events = InMemoryEventPublisher([status_event(1), status_event(2), status_event(3)])
        outbox = InMemoryOutbox(events)
        relay = OutboxRelay(outbox, lambda: broker.producer("relay"), name="relay", batch_size=2)
        registry = registry_of(OutboxCollector(relay, outbox.backlog))

        before = scrape(registry)
        relay.relay_once()
        after = scrape(registry)

        assert sample(before, "ordering_outbox_backlog") == 3
        assert sample(before, "ordering_events_published_total") == 0
        assert sample(after, "ordering_outbox_backlog") == 1
        assert sample(after, "ordering_events_published_total") == 2
        transactions = "ordering_outbox_transactions_total"
        assert (sample(before, transactions), sample(after, transactions)) == (0, 1)


async def _answer_all(questions):
    return [len(question) for question in questions]


class TestAvailability:
    def test_reports_the_questions_asked_and_the_requests_they_went_in(self):
        gathering = Gathering(_answer_all, max_questions=2, max_size=100, size=len)
        registry = registry_of(AvailabilityCollector(gathering))
        before = scrape(registry)

        async def three_at_once_then_one():
            await asyncio.gather(*(gathering.ask("q") for _ in range(3)))
            await gathering.ask("q")

        asyncio.run(three_at_once_then_one())
        after = scrape(registry)

        asked, sent = "ordering_availability_questions_total", "ordering_availability_requests_total"
        assert (sample(before, asked), sample(before, sent)) == (0, 0)
        assert (sample(after, asked), sample(after, sent)) == (4, 3)  # two at most per request, then one alone


class TestFencing:
    def test_a_relay_reads_0_until_it_is_fenced_then_1(self, broker):
        outbox = InMemoryOutbox(InMemoryEventPublisher([status_event(1)]))
        relay = OutboxRelay(outbox, lambda: broker.producer("relay"), name="relay")
        registry = registry_of(OutboxCollector(relay, outbox.backlog))
        relay.relay_once()
        before = scrape(registry)

        broker.producer("relay")  # another relay took its name
        outbox._events.publish([status_event(2)])
        with pytest.raises(ProducerFenced):
            relay.relay_once()
        after = scrape(registry)

        assert sample(before, "ordering_outbox_relay_fenced") == 0
        assert sample(after, "ordering_outbox_relay_fenced") == 1

    def test_a_consumer_reads_1_once_its_dead_letter_producer_is_fenced(self, broker):
        worker = ConsumerWorker(broker, group="messages", topics=["order-status"], apply=lambda e: None)
        registry = registry_of(ConsumerCollector([worker]))
        worker.handle(Record("order-status", 0, 0, b"o-1", b"not json"))
        before = scrape(registry)

        broker.producer("messages-dead-letters")
        worker.handle(Record("order-status", 0, 1, b"o-1", b"not json"))
        after = scrape(registry)

        assert sample(before, "ordering_consumer_fenced", group="messages") == 0
        assert sample(after, "ordering_consumer_fenced", group="messages") == 1


class TestAStuckConsumer:
    def test_reads_the_tries_and_seconds_of_the_record_it_keeps_failing_then_0_once_applied(self, broker):
        failing = threading.Event()
        failing.set()

        def apply(event):
            if failing.is_set():
                raise OSError("database is locked")

        worker = ConsumerWorker(broker, group="messages", topics=["order-status"], apply=apply, max_backoff_s=0.01)
        registry = registry_of(ConsumerCollector([worker]))
        encoded = encode(status_event(1))
        record = Record(encoded.topic, 0, 0, encoded.key, encoded.value, encoded.headers)
        handled = []
        handler = threading.Thread(target=lambda: handled.append(worker.handle(record)))
        idle = scrape(registry)
        handler.start()
        wait_until(lambda: (stuck := worker.stuck()) is not None and stuck.tries >= 3)
        while_stuck = scrape(registry)
        failing.clear()
        handler.join(5)
        applied = scrape(registry)

        assert handled == [True]
        assert (sample(idle, "ordering_consumer_retries", group="messages"),
                sample(idle, "ordering_consumer_stuck_seconds", group="messages")) == (0, 0)
        assert sample(while_stuck, "ordering_consumer_retries", group="messages") >= 3
        assert sample(while_stuck, "ordering_consumer_stuck_seconds", group="messages") > 0
        assert (sample(applied, "ordering_consumer_retries", group="messages"),
                sample(applied, "ordering_consumer_stuck_seconds", group="messages")) == (0, 0)


class TestConsumers:
    def test_counts_records_dead_lettered_per_topic_they_were_read_from(self, broker):
        worker = ConsumerWorker(
            broker,
            group="stock",
            topics=[UPDATE_STOCK.name, RESTORE_CANCELED_ITEM.name],
            apply=lambda e: None,
        )
        for offset in range(2):
            worker.handle(Record(UPDATE_STOCK.name, 0, offset, b"o-1", b"not json"))

        samples = scrape(registry_of(ConsumerCollector([worker])))

        assert worker.dead_lettered_by_topic == {UPDATE_STOCK.name: 2}
        assert sample(samples, "ordering_dead_lettered_total", group="stock", topic=UPDATE_STOCK.name) == 2
        assert (
            sample(samples, "ordering_dead_lettered_total", group="stock", topic=RESTORE_CANCELED_ITEM.name)
            == 0
        )

    def test_counts_the_records_each_group_applied(self, broker):
        worker = ConsumerWorker(broker, group="messages", topics=["order-status"], apply=lambda e: None)
        encoded = encode(status_event(1))

        worker.handle(Record(encoded.topic, 0, 0, encoded.key, encoded.value, encoded.headers))
        samples = scrape(registry_of(ConsumerCollector([worker])))

        assert sample(samples, "ordering_records_applied_total", group="messages") == 1
        assert sample(samples, "ordering_consumer_transactions_total", group="messages") == 1

    def test_the_lag_shows_what_the_running_member_has_not_committed_then_falls_to_zero(self, broker):
        with broker.producer("order-service").transaction() as batch:
            for n in range(4):
                record = encode(status_event(n))
                batch.send(record.topic, key=record.key, value=record.value)
        release = threading.Event()
        worker = ConsumerWorker(
            broker, group="messages", topics=["order-status"], apply=lambda e: release.wait()
        )
        registry = registry_of(ConsumerCollector([worker]))
        worker.start()
        try:
            wait_until(lambda: sum(worker.lag().values()) == 4)  # joined, its first record held in `apply`
            while_held = scrape(registry)
            release.set()
            wait_until(lambda: worker.lag() and not any(worker.lag().values()))
            caught_up = scrape(registry)
        finally:
            release.set()
            worker.stop()

        held = {
            partition: value
            for (name, labels), value in while_held.items()
            if name == "ordering_consumer_lag"
            for label, partition in labels
            if label == "partition"
        }
        assert sum(held.values()) == 4 and set(held) == {"0", "1", "2"}
        assert {value for (name, _), value in caught_up.items() if name == "ordering_consumer_lag"} == {0}

    def test_a_worker_that_is_not_running_knows_no_lag(self, broker):
        worker = ConsumerWorker(broker, group="messages", topics=["order-status"], apply=lambda e: None)

        assert worker.lag() == {}


class _WatchStub:
    """A dead-letter watch that counted `waiting` (None: not yet)."""

    def __init__(self, waiting: dict[str, int] | None) -> None:
        self.waiting = waiting


class TestDeadLettersWaiting:
    def test_reports_the_last_count_per_dead_letter_topic(self):
        registry = registry_of(DeadLettersWaitingCollector(_WatchStub({"update-stock.dlq": 2, "x.dlq": 0})))

        samples = scrape(registry)

        assert sample(samples, "ordering_dead_letters_waiting", topic="update-stock.dlq") == 2
        assert sample(samples, "ordering_dead_letters_waiting", topic="x.dlq") == 0

    def test_reports_nothing_before_the_first_count_rather_than_a_zero_that_is_not_known(self):
        registry = registry_of(DeadLettersWaitingCollector(_WatchStub(None)))

        assert [key for key in scrape(registry) if key[0] == "ordering_dead_letters_waiting"] == []


class TestTheDocs:
    """docs/observability.md's table of metrics, checked against what the code reports."""

    def documented(self) -> dict[str, dict[str, str]]:
        text = DOCS.read_text()
        table = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
        rows = [line for line in table.splitlines() if re.match(r"\| `[a-z_]+` \|", line)]
        columns = ["name", "type", "labels", "service", "meaning", "example"]
        documented = {}
        for row in rows:
            cells = dict(zip(columns, (cell.strip() for cell in row.strip("|").split(" | ")), strict=True))
            documented[cells["name"].strip("`")] = cells
        return documented

    def reported(self) -> dict[str, tuple[str, frozenset[str]]]:
        """name -> (type, label names) of every metric, as a scrape with some of everything shows it."""
        registry = registry_of(
            OrderStatusCollector(lambda: {"unpaid": 1}),
            ProductStockCollector(lambda: [product("pen", stock=1)]),
            OutboxCollector(
                OutboxRelay(InMemoryOutbox(InMemoryEventPublisher()), lambda: None, name="r"), lambda: 0
            ),
            ConsumerCollector([_WorkerStub()]),
            DeadLettersWaitingCollector(_WatchStub({"t.dlq": 1})),
            AvailabilityCollector(Gathering(_answer_all, max_questions=1, max_size=1, size=len)),
        )
        HttpMetrics(registry).observe("GET", "/healthz", 200, 0.001)
        reported = {}
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            if family.name.endswith("_created"):
                continue  # when a counter or histogram began: prometheus_client's companion of each
            name = f"{family.name}_total" if family.type == "counter" else family.name
            labels = {label for s in family.samples for label in s.labels}
            reported[name] = (family.type, frozenset(labels - {"le"}))
        return reported

    def test_lists_exactly_the_metrics_the_services_report(self):
        assert set(self.documented()) == set(self.reported()) == {*NAMES, REQUESTS, DURATION}

    def test_gives_each_metric_its_type_and_labels(self):
        documented = self.documented()

        assert {
            name: (cells["type"], frozenset(re.findall(r"`([a-z_]+)`", cells["labels"])))
            for name, cells in documented.items()
        } == self.reported()

    def test_each_example_is_a_scrape_line_of_its_metric_with_its_labels(self):
        for name, cells in self.documented().items():
            line = cells["example"].strip("`")
            (family,) = text_string_to_metric_families(line + "\n")
            (example,) = family.samples
            assert example.name.startswith(name.removesuffix("_total")), line
            labels = set(example.labels) - {"le"}
            assert labels == set(re.findall(r"`([a-z_]+)`", cells["labels"])), line


class _WorkerStub:
    """A consumer worker with one of everything to report."""

    def __init__(self) -> None:
        self.group = "g"
        self.topics = ("t",)
        self.applied = 1
        self.transactions = 1
        self.dead_lettered_by_topic = {"t": 1}
        self.fenced = False

    def lag(self) -> dict[tuple[str, int], int]:
        return {("t", 0): 1}

    def stuck(self) -> Stuck:
        return Stuck("t@0/0", time.monotonic(), 1, "OSError: x")
