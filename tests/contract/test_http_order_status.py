"""The Order Service over HTTP after an order is placed: paying, cancelling, reading one order or a page.

Every response is also checked against openapi.yaml by the client itself (`http_contract.ContractClient`):
status code, media type, headers and body schema.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from http_services import EPOCH, Ids, pen_and_ink, placed_order_id, problem_type, published

from ordering_core import (
    Envelope,
    Shortage,
    StockReservationRejected,
    UnavailableLine,
    expire_unpaid_orders,
    handle_reservation_rejected,
)


class TestPay:
    def test_marks_an_unpaid_order_paid_and_announces_it(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))

        answer = system.payments.post("/orders/paid", json={"order_id": order_id, "payment_id": "pay-9"})

        assert (answer.status_code, answer.json()) == (200, {"order_id": order_id, "status": "paid"})
        assert published(system)[-2:] == ["paid-order", "order-status"]
        assert system.orders.orders.orders[order_id].payment_id == "pay-9"

    def test_without_a_payment_id_the_order_id_stands_in_so_a_repeat_changes_nothing(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))
        system.payments.post("/orders/paid", json={"order_id": order_id})
        events_after_first = len(published(system))

        repeat = system.payments.post("/orders/paid", json={"order_id": order_id, "payment_id": None})

        assert repeat.json() == {"order_id": order_id, "status": "paid"}
        assert system.orders.orders.orders[order_id].payment_id == order_id
        assert len(published(system)) == events_after_first

    def test_repeating_a_payment_after_the_stock_ran_out_tells_the_order_was_cancelled(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))
        system.payments.post("/orders/paid", json={"order_id": order_id, "payment_id": "pay-1"})
        rejected = StockReservationRejected(
            Envelope("m-1", EPOCH, order_id, "c-1"),
            (UnavailableLine("pen", 1, Shortage.INSUFFICIENT_STOCK, 0),),
        )
        handle_reservation_rejected(rejected, uow=system.orders, new_id=Ids("event"), now=EPOCH)

        repeat = system.payments.post("/orders/paid", json={"order_id": order_id, "payment_id": "pay-1"})

        assert repeat.status_code == 200
        assert repeat.json() == {"order_id": order_id, "status": "cancelled", "reason": "out_of_stock"}

    def test_paying_again_with_another_payment_id_is_refused(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))
        system.payments.post("/orders/paid", json={"order_id": order_id, "payment_id": "pay-1"})

        answer = system.payments.post("/orders/paid", json={"order_id": order_id, "payment_id": "pay-2"})

        assert answer.status_code == 409
        assert problem_type(answer) == "/problems/already-paid"

    def test_a_cancelled_order_cannot_be_paid(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))
        system.order.post("/orders/cancel", json={"order_id": order_id})

        answer = system.payments.post("/orders/paid", json={"order_id": order_id})

        assert answer.status_code == 409
        assert problem_type(answer) == "/problems/invalid-transition"

    def test_an_unknown_order_is_404(self) -> None:
        answer = pen_and_ink().payments.post("/orders/paid", json={"order_id": "o-404"})

        assert answer.status_code == 404
        assert problem_type(answer) == "/problems/unknown-order"

    def test_ids_are_checked_before_anything_is_looked_up(self) -> None:
        answer = pen_and_ink().payments.post("/orders/paid", json={"order_id": "a b", "payment_id": 7})

        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == ["order_id", "payment_id"]


class TestCancel:
    def test_cancels_an_unpaid_order_at_the_customers_request_and_gives_the_stock_back(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))

        answer = system.order.post("/orders/cancel", json={"order_id": order_id})

        assert answer.json() == {"order_id": order_id, "status": "cancelled", "reason": "customer"}
        assert published(system)[-3:] == ["cancel-order", "restore-canceled-item", "order-status"]

    def test_cancelling_again_answers_the_first_reason_and_changes_nothing(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))
        system.order.post("/orders/cancel", json={"order_id": order_id})
        events = len(published(system))

        repeat = system.order.post("/orders/cancel", json={"order_id": order_id})

        assert (repeat.status_code, repeat.json()["reason"]) == (200, "customer")
        assert len(published(system)) == events

    def test_cancelling_an_order_that_expired_answers_payment_timeout(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))
        later = EPOCH + timedelta(hours=1)
        expire_unpaid_orders(
            uow=system.orders,
            now=later,
            timeout=timedelta(minutes=30),
            new_id=Ids("event"),
            correlation_id="c-1",
        )

        answer = system.order.post("/orders/cancel", json={"order_id": order_id})

        assert answer.json() == {"order_id": order_id, "status": "cancelled", "reason": "payment_timeout"}

    def test_a_paid_order_cannot_be_cancelled_by_the_customer(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 1))
        system.payments.post("/orders/paid", json={"order_id": order_id})

        answer = system.order.post("/orders/cancel", json={"order_id": order_id})

        assert answer.status_code == 409
        assert problem_type(answer) == "/problems/invalid-transition"

    def test_an_unknown_order_is_404(self) -> None:
        assert pen_and_ink().order.post("/orders/cancel", json={"order_id": "o-404"}).status_code == 404


class TestReadOrders:
    def test_shows_an_order_as_last_recorded(self) -> None:
        system = pen_and_ink()
        order_id = placed_order_id(system, ("pen", 2))
        system.order.post("/orders/cancel", json={"order_id": order_id})

        answer = system.order.get(f"/orders/{order_id}")

        assert answer.json() == {
            "order_id": order_id,
            "status": "cancelled",
            "reason": "customer",
            "items": [{"product_id": "pen", "quantity": 2, "unit_price": "2.50"}],
            "total": "5.00",
            "placed_at": EPOCH.isoformat(),
        }

    def test_an_unknown_order_is_404(self) -> None:
        answer = pen_and_ink().order.get("/orders/o-404")

        assert answer.status_code == 404
        assert problem_type(answer) == "/problems/unknown-order"

    def test_pages_through_every_order_once_oldest_first(self) -> None:
        system = pen_and_ink()
        placed = []
        for _ in range(5):
            placed.append(placed_order_id(system, ("pen", 1)))
            system.clock.advance(timedelta(seconds=1))

        seen, pages, cursor = [], 0, None
        while True:
            page = system.order.get(
                "/orders", params={"limit": 2, **({"after": cursor} if cursor else {})}
            ).json()
            seen += [order["order_id"] for order in page["orders"]]
            pages, cursor = pages + 1, page["next"]
            if cursor is None:
                break

        assert (seen, pages) == (placed, 3)

    def test_pages_newest_first_when_sorted_so(self) -> None:
        system = pen_and_ink()
        placed = []
        for _ in range(3):
            placed.append(placed_order_id(system, ("pen", 1)))
            system.clock.advance(timedelta(seconds=1))

        first = system.order.get("/orders", params={"limit": 2, "sort": "newest"}).json()
        second = system.order.get("/orders", params={"limit": 2, "sort": "newest", "after": first["next"]}).json()

        seen = [order["order_id"] for order in first["orders"] + second["orders"]]
        assert (seen, second["next"]) == (placed[::-1], None)

    def test_a_page_holds_20_orders_unless_told_otherwise(self) -> None:
        system = pen_and_ink(pens=100)
        for _ in range(21):
            placed_order_id(system, ("pen", 1))

        page = system.order.get("/orders").json()

        assert len(page["orders"]) == 20
        assert page["next"] == page["orders"][-1]["order_id"]

    def test_an_empty_cursor_is_no_cursor(self) -> None:
        system = pen_and_ink()
        placed = placed_order_id(system, ("pen", 1))

        page = system.order.get("/orders", params={"after": ""})

        assert page.status_code == 200
        assert [order["order_id"] for order in page.json()["orders"]] == [placed]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": "0"}, "limit"),
            ({"limit": "101"}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"limit": "²"}, "limit"),
            ({"after": "no/slash"}, "after"),
            ({"sort": "random"}, "sort"),
        ],
        ids=["limit 0", "limit 101", "limit ten", "limit superscript", "after not an id", "sort random"],
    )
    def test_refuses_a_limit_or_cursor_it_cannot_use(self, params: dict[str, str], field: str) -> None:
        answer = pen_and_ink().order.get("/orders", params=params)

        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == [field]
