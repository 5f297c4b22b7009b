"""What a service reports about its work when GET /metrics is scraped; docs/observability.md lists them.

Each is a prometheus_client collector (it has `collect` and `describe`; like every adapter here it does not
inherit from the protocol it meets). None counts anything while the service works: a scrape reads what is
already there (a relay's or a consumer's own counts, a SELECT) and turns it into metric families. The
composition roots register the ones their service has, in the app's own registry.

A counter starts again from 0 when the service restarts, which is how Prometheus' rate() expects a counter
to behave. The SQLite reads run on the scrape's thread (adapters.http.metrics makes the answer off the event
loop); a read that fails is logged and leaves its metric out of that scrape, so the others still come.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ordering_core.orders import OrderStatus
from ordering_core.products import Product

log = logging.getLogger(__name__)

T = TypeVar("T")

ORDERS = "ordering_orders"
PRODUCT_STOCK = "ordering_product_stock"
OUTBOX_BACKLOG = "ordering_outbox_backlog"
EVENTS_PUBLISHED = "ordering_events_published_total"
RELAY_TRANSACTIONS = "ordering_outbox_transactions_total"
RECORDS_APPLIED = "ordering_records_applied_total"
CONSUMER_TRANSACTIONS = "ordering_consumer_transactions_total"
DEAD_LETTERED = "ordering_dead_lettered_total"
CONSUMER_LAG = "ordering_consumer_lag"
RELAY_FENCED = "ordering_outbox_relay_fenced"
RELAY_LEADS = "ordering_outbox_relay_leads"
CONSUMER_FENCED = "ordering_consumer_fenced"
CONSUMER_RETRIES = "ordering_consumer_retries"
CONSUMER_STUCK = "ordering_consumer_stuck_seconds"
DEAD_LETTERS_WAITING = "ordering_dead_letters_waiting"
AVAILABILITY_QUESTIONS = "ordering_availability_questions_total"
AVAILABILITY_REQUESTS = "ordering_availability_requests_total"
NAMES = (
    ORDERS,
    PRODUCT_STOCK,
    OUTBOX_BACKLOG,
    EVENTS_PUBLISHED,
    RELAY_TRANSACTIONS,
    RELAY_FENCED,
    RELAY_LEADS,
    RECORDS_APPLIED,
    CONSUMER_TRANSACTIONS,
    DEAD_LETTERED,
    CONSUMER_LAG,
    CONSUMER_FENCED,
    CONSUMER_RETRIES,
    CONSUMER_STUCK,
    DEAD_LETTERS_WAITING,
    AVAILABILITY_QUESTIONS,
    AVAILABILITY_REQUESTS,
)


class Relay(Protocol):
    """`adapters.messaging.relay.OutboxRelay`, as far as its metrics go."""

    @property
    def published(self) -> int: ...
    @property
    def transactions(self) -> int: ...
    @property
    def fenced(self) -> bool: ...
    @property
    def standing_by(self) -> bool: ...


class Stuck(Protocol):
    """`adapters.messaging.progress.Stuck`: the record a worker keeps failing to apply."""

    @property
    def tries(self) -> int: ...
    def seconds(self) -> float: ...


class Worker(Protocol):
    """`adapters.messaging.worker.ConsumerWorker`, as far as its metrics go."""

    @property
    def group(self) -> str: ...
    @property
    def topics(self) -> tuple[str, ...]: ...
    @property
    def applied(self) -> int: ...
    @property
    def transactions(self) -> int: ...
    @property
    def dead_lettered_by_topic(self) -> Mapping[str, int]: ...
    def lag(self) -> Mapping[tuple[str, int], int]: ...
    @property
    def fenced(self) -> bool: ...
    def stuck(self) -> Stuck | None: ...


class Gathered(Protocol):
    """`adapters.http.gathering.Gathering`, as far as its metrics go."""

    @property
    def asked(self) -> int: ...
    @property
    def sent(self) -> int: ...


class OrderStatusCollector:
    """`ordering_orders{status}`: every status, 0 when no order is in it (so its series never goes missing)."""

    def __init__(self, by_status: Callable[[], Mapping[str, int]]) -> None:
        self._by_status = by_status

    def collect(self) -> Iterator[Metric]:
        counts = _read(ORDERS, self._by_status)
        if counts is None:
            return
        family = GaugeMetricFamily(ORDERS, "Orders in each status.", labels=["status"])
        for status in sorted({*OrderStatus, *counts}):
            family.add_metric([status], counts.get(status, 0))
        yield family

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(ORDERS, "", labels=["status"])]


class ProductStockCollector:
    """`ordering_product_stock{product_id}`: each product's stock on the shelf (what the ledger left), read
    with the Product Service's own view (`ProductViews.products`, what GET /products shows)."""

    def __init__(self, products: Callable[[], Iterable[Product]]) -> None:
        self._products = products

    def collect(self) -> Iterator[Metric]:
        products = _read(PRODUCT_STOCK, self._products)
        if products is None:
            return
        family = GaugeMetricFamily(PRODUCT_STOCK, "Stock on the shelf, per product.", labels=["product_id"])
        for product in sorted(products, key=lambda product: product.product_id):
            family.add_metric([product.product_id], product.stock)
        yield family

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(PRODUCT_STOCK, "", labels=["product_id"])]


class OutboxCollector:
    """`ordering_outbox_backlog` (rows not yet sent, from the outbox), `ordering_events_published_total`
    (rows the relay published since the service started), `ordering_outbox_transactions_total` (the Kafka
    transactions they went in: published / transactions is how well group commit batches),
    `ordering_outbox_relay_fenced` (1 once another producer took the relay's name: it publishes no more) and
    `ordering_outbox_relay_leads` (1 while this instance's relay is the one that publishes; 0 while it stands
    by for another instance's)."""

    def __init__(self, relay: Relay, backlog: Callable[[], int]) -> None:
        self._relay = relay
        self._backlog = backlog

    def collect(self) -> Iterator[Metric]:
        backlog = _read(OUTBOX_BACKLOG, self._backlog)
        if backlog is not None:
            yield GaugeMetricFamily(OUTBOX_BACKLOG, "Events in the outbox waiting for Kafka.", value=backlog)
        yield CounterMetricFamily(
            EVENTS_PUBLISHED, "Events the outbox relay published to Kafka.", value=self._relay.published
        )
        yield CounterMetricFamily(
            RELAY_TRANSACTIONS,
            "Kafka transactions the outbox relay committed its events in.",
            value=self._relay.transactions,
        )
        yield GaugeMetricFamily(
            RELAY_FENCED,
            "1 once another producer took the outbox relay's transactional id: it publishes no more.",
            value=int(self._relay.fenced),
        )
        yield GaugeMetricFamily(
            RELAY_LEADS,
            "1 while this instance's outbox relay is the one that publishes; 0 while another instance's is.",
            value=int(not self._relay.standing_by and not self._relay.fenced),
        )

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(OUTBOX_BACKLOG, ""),
            CounterMetricFamily(EVENTS_PUBLISHED, ""),
            CounterMetricFamily(RELAY_TRANSACTIONS, ""),
            GaugeMetricFamily(RELAY_FENCED, ""),
            GaugeMetricFamily(RELAY_LEADS, ""),
        ]


class ConsumerCollector:
    """Per consumer group: records applied and the database transactions they were applied in, records
    dead-lettered by the topic they were read from (0 for each topic it reads, from the start), the lag of
    each partition its member owns and knows, whether its dead-letter producer was fenced, and the failed
    tries and seconds of the record it keeps failing to apply (0 and 0 when none)."""

    def __init__(self, workers: Sequence[Worker]) -> None:
        self._workers = tuple(workers)

    def collect(self) -> Iterator[Metric]:
        applied = CounterMetricFamily(
            RECORDS_APPLIED, "Records a consumer applied (redeliveries included).", labels=["group"]
        )
        transactions = CounterMetricFamily(
            CONSUMER_TRANSACTIONS,
            "Database transactions a consumer applied its records in: one per batch of the records a poll had "
            "ready, one per record applied alone.",
            labels=["group"],
        )
        dead = CounterMetricFamily(
            DEAD_LETTERED,
            "Records a consumer set aside on the dead-letter topic, by the topic they were read from.",
            labels=["group", "topic"],
        )
        lag = GaugeMetricFamily(
            CONSUMER_LAG,
            "Records on a partition not yet committed by the group (its end, the last stable offset, minus "
            "the committed offset), as its member last knew.",
            labels=["group", "topic", "partition"],
        )
        fenced = GaugeMetricFamily(
            CONSUMER_FENCED,
            "1 once another producer took the consumer's dead-letter producer's name: it consumes no more.",
            labels=["group"],
        )
        retries = GaugeMetricFamily(
            CONSUMER_RETRIES,
            "Failed tries of the record the consumer is retrying now (0 when none); every partition of its "
            "member waits meanwhile.",
            labels=["group"],
        )
        stuck = GaugeMetricFamily(
            CONSUMER_STUCK,
            "Seconds since the first failed try of the record the consumer is retrying now (0 when none).",
            labels=["group"],
        )
        for worker in self._workers:
            applied.add_metric([worker.group], worker.applied)
            transactions.add_metric([worker.group], worker.transactions)
            fenced.add_metric([worker.group], int(worker.fenced))
            now = worker.stuck()  # one snapshot: the worker's thread replaces it
            retries.add_metric([worker.group], 0 if now is None else now.tries)
            stuck.add_metric([worker.group], 0.0 if now is None else now.seconds())
            by_topic = dict(worker.dead_lettered_by_topic)  # a copy: the worker's thread adds to it
            for topic in sorted({*worker.topics, *by_topic}):
                dead.add_metric([worker.group, topic], by_topic.get(topic, 0))
            for (topic, partition), behind in sorted(worker.lag().items()):
                lag.add_metric([worker.group, topic, str(partition)], behind)
        yield from (applied, transactions, dead, lag, fenced, retries, stuck)

    def describe(self) -> Iterable[Metric]:
        return [
            CounterMetricFamily(RECORDS_APPLIED, "", labels=["group"]),
            CounterMetricFamily(CONSUMER_TRANSACTIONS, "", labels=["group"]),
            CounterMetricFamily(DEAD_LETTERED, "", labels=["group", "topic"]),
            GaugeMetricFamily(CONSUMER_LAG, "", labels=["group", "topic", "partition"]),
            GaugeMetricFamily(CONSUMER_FENCED, "", labels=["group"]),
            GaugeMetricFamily(CONSUMER_RETRIES, "", labels=["group"]),
            GaugeMetricFamily(CONSUMER_STUCK, "", labels=["group"]),
        ]


class AvailabilityCollector:
    """`ordering_availability_questions_total` (the orders' availability questions the Order Service asked the
    Product Service) and `ordering_availability_requests_total` (the requests they went in: questions / requests
    is how many orders shared a round trip)."""

    def __init__(self, gathered: Gathered) -> None:
        self._gathered = gathered

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            AVAILABILITY_QUESTIONS,
            "Orders' availability questions asked of the Product Service.",
            value=self._gathered.asked,
        )
        yield CounterMetricFamily(
            AVAILABILITY_REQUESTS,
            "Requests the availability questions went in: those asked at once share one.",
            value=self._gathered.sent,
        )

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(AVAILABILITY_QUESTIONS, ""), CounterMetricFamily(AVAILABILITY_REQUESTS, "")]


class DeadLetterWatch(Protocol):
    """`adapters.messaging.dead_letter_watch.DeadLetterWatch`, as far as its gauge goes."""

    @property
    def waiting(self) -> Mapping[str, int] | None: ...


class DeadLettersWaitingCollector:
    """`ordering_dead_letters_waiting{topic}`: per dead-letter topic the service owns, the dead letters not
    replayed yet, as the watch last counted them (it reads Kafka on its own thread, at most every 30 s or
    soon after a dead letter or a replay; never here). Left out until the first count."""

    def __init__(self, watch: DeadLetterWatch) -> None:
        self._watch = watch

    def collect(self) -> Iterator[Metric]:
        waiting = self._watch.waiting  # one snapshot: the watch replaces it whole
        if waiting is None:
            return
        family = GaugeMetricFamily(
            DEAD_LETTERS_WAITING,
            "Dead letters not replayed yet, per dead-letter topic, as last counted (every 30 s at most).",
            labels=["topic"],
        )
        for topic, count in sorted(waiting.items()):
            family.add_metric([topic], count)
        yield family

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(DEAD_LETTERS_WAITING, "", labels=["topic"])]


def _read(metric: str, read: Callable[[], T]) -> T | None:
    try:
        return read()
    except Exception:
        log.exception("reading %s for a scrape failed; it is left out of this one", metric)
        return None


def registry_of(*collectors: Collector) -> CollectorRegistry:
    """A new registry (an app's own, for GET /metrics) holding `collectors`."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    return registry
