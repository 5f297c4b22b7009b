"""What the Order Service logs as it handles requests: a line per order event, with the ids to find it by."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from http_services import pen_and_ink, place, placed_order_id

from adapters import tracecontext
from adapters.logs import JsonLines


@pytest.fixture
def logged() -> Iterator[Callable[[str], list[dict[str, object]]]]:
    """The JSON lines the Order Service's app, the access guard and the problem handlers wrote so far whose message
    starts so."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines("order-service"))
    loggers = [
        logging.getLogger(name) for name in ("entrypoints.order_app", "adapters.http.problems", "adapters.http.access")
    ]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

    def lines(message: str) -> list[dict[str, object]]:
        parsed = [json.loads(text) for text in stream.getvalue().splitlines()]
        return [line for line in parsed if str(line["message"]).startswith(message)]

    yield lines
    for logger in loggers:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


class TestOrderEvents:
    def test_a_placed_order_is_logged_with_its_id_customer_total_and_the_request_s_correlation_and_trace(
        self, logged
    ):
        system = pen_and_ink()

        answer = place(system, ("pen", 2), headers={"X-Correlation-Id": "checkout-42"})

        (line,) = logged("order placed")
        fields = ("order_id", "customer_id", "total", "lines", "correlation_id", "trace_id")
        assert {key: line[key] for key in fields} == {
            "order_id": answer.json()["order_id"],
            "customer_id": "customer-a",
            "total": "5.00",
            "lines": 1,
            "correlation_id": "checkout-42",
            "trace_id": tracecontext.trace_id_for("checkout-42"),
        }

    def test_paying_and_cancelling_are_logged_with_the_order_s_id(self, logged):
        system = pen_and_ink()
        paid, cancelled = placed_order_id(system, ("pen", 1)), placed_order_id(system, ("pen", 1))

        system.payments.post("/orders/paid", json={"order_id": paid})
        system.order.post("/orders/cancel", json={"order_id": cancelled})

        assert [line["order_id"] for line in logged("order paid")] == [paid]
        assert [(line["order_id"], line["reason"]) for line in logged("order cancelled")] == [
            (cancelled, "customer")
        ]

    def test_a_refused_request_is_logged_with_why_and_what_was_asked(self, logged):
        system = pen_and_ink(ink=1)

        place(system, ("ink", 2), headers={"X-Correlation-Id": "checkout-43"})

        (line,) = logged("request refused")
        assert (line["method"], line["path"], line["status"], line["correlation_id"]) == (
            "POST",
            "/orders/order",
            409,
            "checkout-43",
        )
        assert "ink" in str(line["message"])


class TestRefusedTokens:
    def test_why_a_token_was_refused_is_logged_and_not_told(self, logged):
        system = pen_and_ink()

        answer = system.client("order", {"Authorization": "Bearer not-a-token"}).get("/orders")

        (line,) = logged("bearer token refused: malformed: not three base64url parts separated by dots")
        assert line["path"] == "/orders"
        assert "base64url" not in answer.text
