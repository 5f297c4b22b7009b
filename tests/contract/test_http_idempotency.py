"""Idempotency-Key on POST /orders/order: a retried request gets the first answer, never a second order.

Every response is also checked against openapi.yaml by the client itself (`http_contract.ContractClient`):
status code, media type, headers and body schema.
"""

from __future__ import annotations

import pytest
from http_services import items, pen_and_ink, place, problem_type

import identities
from adapters.http.idempotency import fingerprint


class TestIdempotencyKey:
    def test_a_repeat_with_the_same_key_and_body_gets_the_same_answer_and_places_no_second_order(
        self,
    ) -> None:
        system = pen_and_ink()

        first = place(system, ("pen", 2), headers={"Idempotency-Key": "k-1"})
        repeat = place(system, ("pen", 2), headers={"Idempotency-Key": "k-1"})

        assert (first.status_code, repeat.status_code) == (201, 201)
        assert repeat.content == first.content
        assert repeat.headers["location"] == first.headers["location"]
        assert repeat.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert len(system.orders.orders.orders) == 1
        assert system.stock_of("pen") == 10  # the reservation is the ledger's, later; nothing taken twice

    def test_the_body_is_compared_as_json_not_as_bytes(self) -> None:
        system = pen_and_ink()
        key = {"Idempotency-Key": "k-2", "content-type": "application/json"}

        first = system.order.post(
            "/orders/order", content=b'{"items":[{"product_id":"pen","quantity":1}]}', headers=key
        )
        repeat = system.order.post(
            "/orders/order",
            content=b'{ "items" : [ { "quantity" : 1, "product_id" : "pen" } ] }',
            headers=key,
        )

        assert repeat.content == first.content
        assert len(system.orders.orders.orders) == 1

    def test_a_repeat_that_writes_an_integer_as_2_0_is_the_same_request(self) -> None:
        system = pen_and_ink()
        key = {"Idempotency-Key": "k-5", "content-type": "application/json"}

        first = system.order.post(
            "/orders/order", content=b'{"items":[{"product_id":"pen","quantity":2}]}', headers=key
        )
        repeat = system.order.post(
            "/orders/order", content=b'{"items":[{"product_id":"pen","quantity":2.0}]}', headers=key
        )

        assert (first.status_code, repeat.status_code) == (201, 201)
        assert repeat.content == first.content
        assert repeat.headers["idempotent-replayed"] == "true"
        assert len(system.orders.orders.orders) == 1

    def test_the_same_key_with_a_different_body_is_refused(self) -> None:
        system = pen_and_ink()
        place(system, ("pen", 2), headers={"Idempotency-Key": "k-3"})

        answer = place(system, ("pen", 3), headers={"Idempotency-Key": "k-3"})

        assert answer.status_code == 409
        assert problem_type(answer) == "/problems/idempotency-key-reused"
        assert len(system.orders.orders.orders) == 1

    def test_a_key_whose_first_request_is_still_running_is_refused_with_retry_after(self) -> None:
        system = pen_and_ink()
        body = items(("pen", 1))
        # Customer A's first request with the key, mid-flight.
        system.idempotency.claim(identities.CUSTOMER_A, "k-4", fingerprint(body), system.clock())

        answer = system.order.post("/orders/order", json=body, headers={"Idempotency-Key": "k-4"})

        assert answer.status_code == 409
        assert problem_type(answer) == "/problems/idempotency-key-in-flight"
        assert answer.headers["retry-after"] == "2"
        assert system.orders.orders.orders == {}

    def test_a_refused_order_does_not_bind_its_key_so_it_can_be_retried(self) -> None:
        system = pen_and_ink(ink=0)
        refused = place(system, ("ink", 1), headers={"Idempotency-Key": "k-5"})
        system.product.post("/products/ink/restock", json={"quantity": 5})

        retried = place(system, ("ink", 1), headers={"Idempotency-Key": "k-5"})

        assert (refused.status_code, retried.status_code) == (409, 201)
        assert "idempotent-replayed" not in retried.headers

    def test_different_keys_place_different_orders(self) -> None:
        system = pen_and_ink()

        first = place(system, ("pen", 1), headers={"Idempotency-Key": "k-6"})
        second = place(system, ("pen", 1), headers={"Idempotency-Key": "k-7"})

        assert first.json()["order_id"] != second.json()["order_id"]

    @pytest.mark.parametrize(
        "key", ["", "has space", "x" * 129, "naïve"], ids=["empty", "space", "129", "non-ASCII"]
    )
    def test_a_key_must_be_1_to_128_printable_ascii_characters(self, key: str) -> None:
        answer = place(pen_and_ink(), ("pen", 1), headers={"Idempotency-Key": key.encode()})

        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == ["Idempotency-Key"]
