"""GET /metrics on the running system: an order shows up in every service's metrics as it travels.

Real Kafka, the three services as uvicorn processes (the seed story's `RunningSystem`), SQLite on disk, a
system of this module's own so that every count starts at 0. Every wait is on a condition, never a sleep.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_seed_story import RunningSystem, eventually, place, running_system

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def system(kafka_bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    products = {"M1": {"name": "Marker", "price": "3.10", "stocks": 5}}
    with running_system(kafka_bootstrap_servers, tmp_path_factory.mktemp("e2e-metrics"), products) as running:
        yield running


def metric(system: RunningSystem, service: str, name: str, **labels: str) -> float | None:
    """The value of one series in the service's /metrics, None if it has no such series."""
    text = httpx.get(f"{system.url(service)}/metrics").text
    return next(
        (
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and sample.labels == labels
        ),
        None,
    )


def lag(system: RunningSystem, service: str) -> dict[tuple[str, str], float]:
    """(topic, partition) -> the service's consumer lag, for every partition it reports."""
    text = httpx.get(f"{system.url(service)}/metrics").text
    return {
        (sample.labels["topic"], sample.labels["partition"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ordering_consumer_lag"
    }


def caught_up(lags: dict[tuple[str, str], float], topic: str) -> bool:
    return any(t == topic for t, _ in lags) and not any(lags.values())


def test_a_placed_order_shows_in_every_service_s_metrics_and_the_consumers_catch_up(system):
    placed = place(system, [{"product_id": "M1", "quantity": 2}])

    assert placed.status_code == 201
    eventually(lambda: metric(system, "order", "ordering_orders", status="unpaid"), 1.0)
    eventually(lambda: metric(system, "product", "ordering_product_stock", product_id="M1"), 3.0)
    # create-order, update-stock and order-status, published: nothing waits in the outbox.
    eventually(lambda: metric(system, "order", "ordering_events_published_total"), 3.0)
    assert metric(system, "order", "ordering_outbox_backlog") == 0.0
    # The consumers committed what they applied: their lag comes back to 0 on the topics the order reached.
    eventually(lambda: caught_up(lag(system, "product"), "update-stock"), True)
    eventually(lambda: caught_up(lag(system, "message"), "order-status"), True)
    applied = metric(system, "product", "ordering_records_applied_total", group="product-service")
    assert applied == 1.0
    placing = {"method": "POST", "route": "/orders/order", "status": "201"}
    assert metric(system, "order", "http_requests_total", **placing) == 1.0
