"""Customers on the real system (three uvicorn processes, Kafka, SQLite): each sees and touches only their own.

Customer A places an order; customer B tries every endpoint that names an order, and learns nothing of it:
to B it does not exist. The payment provider pays it, A hears of it, and an admin sees both customers' orders.
Waits are on conditions (a message, a stock level), never sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from test_seed_story import RunningSystem, eventually, new_customer, place, running_system, statuses, stock

pytestmark = pytest.mark.kafka

PRODUCTS = {"C1": {"name": "Compass", "price": "7.00", "stocks": 30}}
ONE = [{"product_id": "C1", "quantity": 1}]


@pytest.fixture(scope="module")
def system(kafka_bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with running_system(kafka_bootstrap_servers, tmp_path_factory.mktemp("e2e-customers"), PRODUCTS) as running:
        yield running


def call(system: RunningSystem, service: str, method: str, path: str, customer: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{system.url(service)}{path}", headers=system.bearer(customer), **kwargs)


class TestAnotherCustomersOrder:
    def test_cannot_be_seen_paid_cancelled_listed_or_read_by_customer_b_through_any_endpoint(self, system):
        alice, bob = new_customer(), new_customer()
        order_id = place(system, ONE, alice).json()["order_id"]
        eventually(lambda: statuses(system, order_id, alice), ["unpaid"])

        seen = call(system, "order", "GET", f"/orders/{order_id}", bob)
        paid = call(system, "order", "POST", "/orders/paid", bob, json={"order_id": order_id})
        cancelled = call(system, "order", "POST", "/orders/cancel", bob, json={"order_id": order_id})
        listed = call(system, "order", "GET", "/orders", bob, params={"limit": 100})
        newest = call(system, "order", "GET", "/orders", bob, params={"sort": "newest", "limit": 100})
        told = call(system, "message", "GET", "/messages", bob, params={"order_id": order_id})

        assert [seen.status_code, paid.status_code, cancelled.status_code] == [404, 404, 404]
        assert {seen.json()["type"], paid.json()["type"], cancelled.json()["type"]} == {"/problems/unknown-order"}
        assert listed.json() == {"orders": [], "next": None}
        assert newest.json() == {"orders": [], "next": None}
        assert (told.status_code, told.json()) == (200, [])
        assert call(system, "order", "GET", f"/orders/{order_id}", alice).json()["status"] == "unpaid"

    def test_an_unknown_order_and_another_customer_s_order_get_the_same_answer(self, system):
        alice, bob = new_customer(), new_customer()
        order_id = place(system, ONE, alice).json()["order_id"]

        theirs = call(system, "order", "GET", f"/orders/{order_id}", bob).json()
        nobodys = call(system, "order", "GET", "/orders/no-such-order", bob).json()

        assert {key: value for key, value in theirs.items() if key != "detail"} == {
            key: value for key, value in nobodys.items() if key != "detail"
        }


class TestPayments:
    def test_the_owning_customer_cannot_mark_their_own_order_paid(self, system):
        alice = new_customer()
        order_id = place(system, ONE, alice).json()["order_id"]

        answer = call(system, "order", "POST", "/orders/paid", alice, json={"order_id": order_id})

        assert (answer.status_code, answer.json()["type"]) == (403, "/problems/forbidden")
        assert call(system, "order", "GET", f"/orders/{order_id}", alice).json()["status"] == "unpaid"

    def test_the_payment_provider_pays_and_the_customer_alone_is_told(self, system):
        alice, bob = new_customer(), new_customer()
        order_id = place(system, ONE, alice).json()["order_id"]

        paid = httpx.post(f"{system.url('order')}/orders/paid", json={"order_id": order_id}, headers=system.payments())

        assert paid.status_code == 200
        eventually(lambda: statuses(system, order_id, alice), ["unpaid", "paid"])
        assert statuses(system, order_id, bob) == []


class TestIdempotencyKeys:
    def test_customer_b_reusing_customer_a_s_key_gets_b_s_own_order(self, system):
        alice, bob = new_customer(), new_customer()
        key = {"Idempotency-Key": f"shared-key-{new_customer()}"}

        alices = place(system, ONE, alice, headers=key)
        bobs = place(system, ONE, bob, headers=key)
        alices_again = place(system, ONE, alice, headers=key)

        assert (alices.status_code, bobs.status_code) == (201, 201)
        assert bobs.json()["order_id"] != alices.json()["order_id"]
        assert "Idempotent-Replayed" not in bobs.headers
        assert call(system, "order", "GET", f"/orders/{bobs.json()['order_id']}", bob).status_code == 200
        assert call(system, "order", "GET", f"/orders/{alices.json()['order_id']}", bob).status_code == 404
        assert alices_again.json()["order_id"] == alices.json()["order_id"]
        assert alices_again.headers["Idempotent-Replayed"] == "true"


class TestTheAdmin:
    def test_lists_every_customer_s_orders_and_reads_their_messages(self, system):
        alice, bob = new_customer(), new_customer()
        ids = {place(system, ONE, customer).json()["order_id"] for customer in (alice, bob)}

        listed = httpx.get(
            f"{system.url('order')}/orders", params={"sort": "newest", "limit": 100}, headers=system.admin()
        ).json()

        assert ids <= {order["order_id"] for order in listed["orders"]}
        for order_id in ids:
            eventually(lambda order_id=order_id: statuses(system, order_id), ["unpaid"])


class TestHoarding:
    def test_a_customer_past_the_unpaid_limit_is_told_to_come_back_and_the_stock_stays_for_others(self, system):
        hoarder, other = new_customer(), new_customer()
        before = stock(system, "C1")
        placed = [place(system, ONE, hoarder) for _ in range(3)]

        refused = place(system, ONE, hoarder)
        others = place(system, ONE, other)

        assert [answer.status_code for answer in placed] == [201, 201, 201]
        assert refused.status_code == 429
        assert refused.json()["type"] == "/problems/too-many-unpaid-orders"
        assert int(refused.headers["Retry-After"]) > 0
        assert others.status_code == 201
        eventually(lambda: stock(system, "C1"), before - 4)
