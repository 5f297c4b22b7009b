"""The Order Service over HTTP, placing an order: what openapi.yaml promises, and what it refuses.

Every response is also checked against openapi.yaml by the client itself (`http_contract.ContractClient`):
status code, media type, headers and body schema.
"""

from __future__ import annotations

from typing import Any

import pytest
from http_services import (
    EPOCH,
    UnreachableCatalog,
    items,
    pen_and_ink,
    place,
    problem_type,
    published,
    services,
)

from ordering_core import CatalogUnavailable, Line
from ordering_core.availability import Availability


class TestPlaceOrder:
    def test_places_an_unpaid_order_at_the_current_prices_and_says_where_it_is(self) -> None:
        system = pen_and_ink()

        answer = place(system, ("pen", 2), ("ink", 1))

        assert answer.status_code == 201
        order = answer.json()
        assert answer.headers["location"] == f"/orders/{order['order_id']}"
        assert order == {
            "order_id": order["order_id"],
            "status": "unpaid",
            "items": [
                {"product_id": "pen", "quantity": 2, "unit_price": "2.50"},
                {"product_id": "ink", "quantity": 1, "unit_price": "1.20"},
            ],
            "total": "6.20",
            "placed_at": EPOCH.isoformat(),
        }
        assert published(system) == ["create-order", "update-stock", "order-status"]

    def test_merges_items_that_name_the_same_product(self) -> None:
        system = pen_and_ink()

        answer = place(system, ("pen", 2), ("ink", 1), ("pen", 3))

        assert [(i["product_id"], i["quantity"]) for i in answer.json()["items"]] == [("pen", 5), ("ink", 1)]

    def test_refuses_the_whole_order_and_lists_every_item_that_cannot_be_served(self) -> None:
        system = pen_and_ink(ink=3)

        answer = place(system, ("pen", 1), ("ink", 4), ("nib", 1))

        assert answer.status_code == 409
        assert problem_type(answer) == "/problems/items-unavailable"
        assert answer.json()["items"] == [
            {"product_id": "ink", "quantity": 4, "reason": "insufficient_stock", "in_stock": 3},
            {"product_id": "nib", "quantity": 1, "reason": "unknown_product", "in_stock": 0},
        ]
        assert system.orders.orders.orders == {}
        assert published(system) == []

    def test_names_every_invalid_field_and_asks_nothing_of_the_product_service(self) -> None:
        system = pen_and_ink()
        body = {
            "items": [{"product_id": "pen", "quantity": 0, "colour": "red"}, {"quantity": "2"}],
            "note": 1,
        }

        answer = system.order.post("/orders/order", json=body)

        assert answer.status_code == 422
        assert problem_type(answer) == "/problems/invalid-request"
        assert answer.json()["errors"] == [
            {"field": "items[0].quantity", "message": "must be an integer from 1 to 10000"},
            {"field": "items[0].colour", "message": "is not a field of this request"},
            {"field": "items[1].product_id", "message": "is required"},
            {"field": "items[1].quantity", "message": "must be an integer from 1 to 10000"},
            {"field": "note", "message": "is not a field of this request"},
        ]
        assert published(system) == []

    @pytest.mark.parametrize("quantity", [True, 2.5, "2", None, [2], 10_001, 10_001.0, 1e300], ids=repr)
    def test_a_quantity_is_a_json_integer_from_1_to_10000(self, quantity: Any) -> None:
        answer = place(pen_and_ink(), ("pen", quantity))

        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == ["items[0].quantity"]

    @pytest.mark.parametrize("written", [b"2.0", b"2e0", b"0.2e1", b"2.000"])
    def test_a_whole_number_written_with_a_fraction_or_exponent_is_that_integer(self, written: bytes) -> None:
        # JSON has one kind of number, and JSON Schema's `integer` (openapi.yaml) counts 2.0 as one.
        body = b'{"items": [{"product_id": "pen", "quantity": ' + written + b"}]}"
        answer = pen_and_ink().order.post("/orders/order", content=body, headers={"content-type": "application/json"})

        assert answer.status_code == 201
        assert answer.json()["items"][0]["quantity"] == 2

    @pytest.mark.parametrize(
        ("body", "field", "message"),
        [
            ({"items": []}, "items", "must hold from 1 to 100 lines"),
            (
                {"items": [{"product_id": "pen", "quantity": 1}] * 101},
                "items",
                "must hold from 1 to 100 lines",
            ),
            (
                items(("pen", 6000), ("pen", 5000)),
                "items",
                "must total at most 10000 per product (product 'pen')",
            ),
            ({"items": "pen"}, "items", "must be an array"),
            ({}, "items", "is required"),
            ([], "body", "must be an object"),
        ],
        ids=[
            "no items",
            "101 items",
            "one product over 10000",
            "not an array",
            "no items key",
            "not an object",
        ],
    )
    def test_refuses_an_order_of_the_wrong_shape(self, body: Any, field: str, message: str) -> None:
        answer = pen_and_ink().order.post("/orders/order", json=body)

        assert answer.status_code == 422
        assert answer.json()["errors"] == [{"field": field, "message": message}]

    @pytest.mark.parametrize(
        "raw",
        [b"{", b'{"items": NaN}', b'{"items": [], "items": []}', b"\xff\xfe{", b"[" * 10_000 + b"]" * 10_000],
        ids=["truncated", "NaN", "duplicate key", "not UTF-8", "nested too deeply"],
    )
    def test_refuses_a_body_that_is_not_plain_json(self, raw: bytes) -> None:
        answer = pen_and_ink().order.post(
            "/orders/order", content=raw, headers={"content-type": "application/json"}
        )

        assert answer.status_code == 400
        assert problem_type(answer) == "/problems/malformed-json"

    def test_refuses_a_body_over_64_kib_without_reading_it_all(self) -> None:
        system = pen_and_ink()

        answer = system.order.post("/orders/order", content=b" " * (64 * 1024 + 1))

        assert answer.status_code == 413
        assert problem_type(answer) == "/problems/body-too-large"

    def test_refuses_a_body_sent_without_a_length_once_it_passes_64_kib(self) -> None:
        chunks = (b" " * 1024 for _ in range(65))

        answer = pen_and_ink().order.post("/orders/order", content=chunks)

        assert answer.status_code == 413
        assert "content-length" not in answer.request.headers

    def test_answers_503_with_retry_after_and_stores_nothing_when_the_product_service_cannot_be_asked(
        self,
    ) -> None:
        system = services(catalog=UnreachableCatalog())

        answer = place(system, ("pen", 1))

        assert answer.status_code == 503
        assert problem_type(answer) == "/problems/product-service-unavailable"
        assert answer.headers["retry-after"] == "2"
        assert system.orders.orders.orders == {}
        assert published(system) == []

    def test_wakes_the_outbox_relay_after_an_order_is_stored_and_not_after_a_refusal(self) -> None:
        system = pen_and_ink(ink=0)

        place(system, ("pen", 1))
        place(system, ("ink", 1))

        assert system.order_commits.count == 1

    def test_the_events_carry_the_correlation_id_of_the_request(self) -> None:
        system = pen_and_ink()

        place(system, ("pen", 1), headers={"X-Correlation-Id": "checkout-42"})

        assert {event.envelope.correlation_id for event in system.orders.events.published} == {"checkout-42"}

    def test_asks_the_product_service_once_with_the_items_merged(self) -> None:
        asked: list[tuple[Line, ...]] = []

        class RecordingCatalog:
            async def check(self, lines: Any) -> Availability:
                asked.append(tuple(lines))
                raise CatalogUnavailable("recording only")

        place(services(catalog=RecordingCatalog()), ("pen", 1), ("ink", 1), ("pen", 2))

        assert asked == [(Line("pen", 3), Line("ink", 1))]
