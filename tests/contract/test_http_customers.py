"""Every order is its customer's, over HTTP on the in-memory apps: what customer B can do to customer A's order
(nothing: to B it does not exist), who records payments, whose Idempotency-Keys are whose, and the hold limit.

tests/e2e/test_customers.py tells the same story on the real services and Kafka.
"""

from __future__ import annotations

from datetime import timedelta

from http_services import Services, items, pen_and_ink, placed_order_id

import identities
from ordering_core import HoldLimit
from ordering_core.customers import Role

BOB = identities.bearer(identities.CUSTOMER_B)
PEN = items(("pen", 1))


def as_bob(system: Services, service: str = "order"):
    return system.client(service, BOB)


class TestAnotherCustomersOrder:
    def test_is_unknown_to_customer_b_whether_read_paid_or_cancelled(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))

        answers = [
            as_bob(system).get(f"/orders/{order_id}"),
            as_bob(system).post("/orders/paid", json={"order_id": order_id}),
            as_bob(system).post("/orders/cancel", json={"order_id": order_id}),
        ]

        assert [(a.status_code, a.json()["type"]) for a in answers] == [(404, "/problems/unknown-order")] * 3
        assert system.orders.orders.orders[order_id].status == "unpaid"

    def test_is_not_in_customer_b_s_list_nor_are_its_messages_readable(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))
        system.deliver_status_messages()

        listed = as_bob(system).get("/orders", params={"sort": "newest"})
        told = as_bob(system, "message").get("/messages", params={"order_id": order_id})

        assert listed.json() == {"orders": [], "next": None}
        assert told.json() == []
        assert [m["status"] for m in system.message.get("/messages", params={"order_id": order_id}).json()] == [
            "unpaid"
        ]

    def test_an_admin_reads_lists_and_cancels_it(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))
        admin = system.client("order", identities.admin())

        seen = admin.get(f"/orders/{order_id}")
        listed = admin.get("/orders")
        cancelled = admin.post("/orders/cancel", json={"order_id": order_id})

        assert seen.status_code == 200
        assert [o["order_id"] for o in listed.json()["orders"]] == [order_id]
        assert cancelled.json()["status"] == "cancelled"


class TestPayments:
    def test_the_owning_customer_may_not_record_a_payment(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))

        answer = system.order.post("/orders/paid", json={"order_id": order_id})

        assert (answer.status_code, answer.json()["type"]) == (403, "/problems/forbidden")
        assert system.orders.orders.orders[order_id].status == "unpaid"

    def test_the_payment_provider_and_an_admin_may(self) -> None:
        system = pen_and_ink()
        by_provider, by_admin = placed_order_id(system, ("pen", 1)), placed_order_id(system, ("pen", 1))

        provider = system.payments.post("/orders/paid", json={"order_id": by_provider})
        admin = system.client("order", identities.bearer("ops", Role.ADMIN)).post(
            "/orders/paid", json={"order_id": by_admin}
        )

        assert (provider.json()["status"], admin.json()["status"]) == ("paid", "paid")


class TestIdempotencyKeysAreTheCustomers:
    def test_customer_b_reusing_customer_a_s_key_gets_an_order_of_b_s_own(self) -> None:
        system = pen_and_ink()
        key = {"Idempotency-Key": "checkout-1"}

        alices = system.order.post("/orders/order", json=PEN, headers=key)
        bobs = as_bob(system).post("/orders/order", json=PEN, headers=key)
        alices_again = system.order.post("/orders/order", json=PEN, headers=key)

        assert bobs.status_code == 201 and "Idempotent-Replayed" not in bobs.headers
        assert bobs.json()["order_id"] != alices.json()["order_id"]
        assert system.orders.orders.orders[bobs.json()["order_id"]].customer_id == identities.CUSTOMER_B
        assert alices_again.headers["Idempotent-Replayed"] == "true"
        assert alices_again.content == alices.content


class TestTheHoldLimit:
    def test_past_the_limit_a_customer_is_told_when_to_come_back_and_nothing_is_stored(self) -> None:
        system = pen_and_ink(hold_limit=HoldLimit(2, 50, timedelta(minutes=30)))
        placed = [system.order.post("/orders/order", json=PEN) for _ in range(2)]
        system.clock.advance(timedelta(minutes=10))

        refused = system.order.post("/orders/order", json=PEN)

        assert [answer.status_code for answer in placed] == [201, 201]
        assert (refused.status_code, refused.json()["type"]) == (429, "/problems/too-many-unpaid-orders")
        assert refused.headers["Retry-After"] == str(20 * 60)  # when the first of the two expires
        assert len(system.orders.orders.orders) == 2

    def test_another_customer_is_not_held_back_and_paying_frees_a_place(self) -> None:
        system = pen_and_ink(hold_limit=HoldLimit(1, 50, timedelta(minutes=30)))
        first = placed_order_id(system, ("pen", 1))

        bobs = as_bob(system).post("/orders/order", json=PEN)
        system.payments.post("/orders/paid", json={"order_id": first})
        alices_next = system.order.post("/orders/order", json=PEN)

        assert (bobs.status_code, alices_next.status_code) == (201, 201)

    def test_an_order_larger_than_the_limit_on_its_own_is_invalid_not_a_reason_to_wait(self) -> None:
        system = pen_and_ink(pens=100, hold_limit=HoldLimit(3, 5, timedelta(minutes=30)))

        answer = system.order.post("/orders/order", json=items(("pen", 6)))

        assert (answer.status_code, answer.json()["type"]) == (422, "/problems/invalid-request")
        assert "Retry-After" not in answer.headers
