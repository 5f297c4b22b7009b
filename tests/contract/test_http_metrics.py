"""GET /metrics on every service, and the HTTP requests each counts and times (adapters/http/metrics.py).

The exposition is parsed back with prometheus_client's own parser, so a test reads what Prometheus would.
Every response is also checked against openapi.yaml by the client itself (`http_contract.ContractClient`).
"""

from __future__ import annotations

from typing import Any

import pytest
from http_contract import TestClient
from http_services import Clock, Ids, pen_and_ink, placed_order_id, services
from prometheus_client.parser import text_string_to_metric_families

import identities
from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.idempotency import InMemoryIdempotencyStore
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.metrics import OrderStatusCollector, registry_of
from entrypoints import order_app
from ordering_core.ports import run_here

SERVICES = ["order", "product", "message"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: Any) -> Samples:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def requests(samples: Samples, **labels: str) -> float | None:
    return samples.get(("http_requests_total", frozenset(labels.items())))


def routes_counted(samples: Samples) -> set[str]:
    return {
        value
        for (name, labels) in samples
        if name == "http_requests_total"
        for label, value in labels
        if label == "route"
    }


class TestTheEndpoint:
    @pytest.mark.parametrize("name", SERVICES)
    def test_every_service_answers_in_the_prometheus_text_format(self, name: str) -> None:
        answer = getattr(services(), name).get("/metrics")

        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        families = {family.name: family.type for family in text_string_to_metric_families(answer.text)}
        assert families["http_requests"] == "counter"
        assert families["http_request_duration_seconds"] == "histogram"

    def test_apps_built_in_one_process_count_their_own_requests_only(self) -> None:
        first, second = pen_and_ink(), pen_and_ink()

        first.order.get("/orders/o-404")

        assert requests(scrape(first.order), method="GET", route="/orders/{order_id}", status="404") == 1
        assert requests(scrape(second.order), method="GET", route="/orders/{order_id}", status="404") is None

    def test_reports_what_the_collectors_of_the_registry_it_was_given_read(self) -> None:
        system = services(registry=registry_of(OrderStatusCollector(lambda: {"unpaid": 2})))

        scrape(system.order)
        samples = scrape(system.order)

        assert samples[("ordering_orders", frozenset({("status", "unpaid")}))] == 2
        assert samples[("ordering_orders", frozenset({("status", "paid")}))] == 0
        # The HTTP metrics are there too: the first scrape is counted once it has been answered.
        assert requests(samples, method="GET", route="/metrics", status="200") == 1


class TestRequestCounting:
    def test_counts_each_request_under_its_route_template_and_status(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))

        system.order.get(f"/orders/{order_id}")
        system.order.get(f"/orders/{order_id}")
        system.order.get("/orders/o-404")
        samples = scrape(system.order)

        assert requests(samples, method="POST", route="/orders/order", status="201") == 1
        assert requests(samples, method="GET", route="/orders/{order_id}", status="200") == 2
        assert requests(samples, method="GET", route="/orders/{order_id}", status="404") == 1
        assert not any(order_id in route or "o-404" in route for route in routes_counted(samples))

    def test_requests_no_route_matches_count_under_one_label(self) -> None:
        system = services()

        for path in ("/nowhere", "/nowhere/1", "/orders/o-1/items"):
            assert system.order.get(path).status_code == 404
        samples = scrape(system.order)

        assert requests(samples, method="GET", route="unmatched", status="404") == 3
        assert routes_counted(samples) == {"unmatched"}

    def test_a_method_the_route_does_not_have_counts_under_the_route(self) -> None:
        system = services()

        system.order.delete("/orders/order")

        assert requests(scrape(system.order), method="DELETE", route="/orders/order", status="405") == 1

    def test_a_method_out_of_the_ordinary_counts_as_other(self) -> None:
        system = services()

        system.order.request("BREW", "/orders/order")

        assert requests(scrape(system.order), method="other", route="/orders/order", status="405") == 1

    def test_a_request_the_service_fails_on_counts_as_a_500(self) -> None:
        class BrokenViews:
            def order(self, order_id: str) -> None:
                raise RuntimeError("a bug")

        app = order_app.create_app(
            uow=InMemoryOrderUnitOfWork,
            offload=run_here,
            views=BrokenViews(),  # type: ignore[arg-type]
            catalog=InMemoryProductCatalog(InMemoryProductUnitOfWork()),
            idempotency=InMemoryIdempotencyStore(),
            verifier=identities.verifier(),
            new_id=Ids("order"),
            clock=Clock(),
            readiness={},
        )
        client = TestClient(app, raise_server_exceptions=False, headers=identities.bearer())

        failed = client.get("/orders/o-1")

        assert failed.status_code == 500
        assert requests(scrape(client), method="GET", route="/orders/{order_id}", status="500") == 1


class TestRequestTiming:
    def test_times_every_request_of_a_route_in_the_histogram(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))

        system.order.get(f"/orders/{order_id}")
        system.order.get("/orders/o-404")
        samples = scrape(system.order)

        route = {("method", "GET"), ("route", "/orders/{order_id}")}
        buckets = sorted(
            (float(dict(labels)["le"]), value)
            for (name, labels), value in samples.items()
            if name == "http_request_duration_seconds_bucket" and route <= labels
        )
        assert samples[("http_request_duration_seconds_count", frozenset(route))] == 2
        assert samples[("http_request_duration_seconds_sum", frozenset(route))] > 0
        assert buckets[-1] == (float("inf"), 2)
        assert [value for _, value in buckets] == sorted(value for _, value in buckets)  # cumulative
        assert buckets[0][0] == 0.001
