"""The Product and Message Services over HTTP: the catalog, restocking, availability, customer messages.

Every response is also checked against openapi.yaml by the client itself (`http_contract.ContractClient`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from http_services import EPOCH, Services, problem_type, services

from ordering_core import Product


def shelf(*, pens: int = 10) -> Services:
    return services(Product("pen", "Pen", Decimal("2.50"), pens), Product("ink", "Ink", Decimal("1.20"), 3))


class TestReadProducts:
    def test_lists_every_product_by_id_with_price_as_an_exact_string(self) -> None:
        answer = shelf().product.get("/products")

        assert answer.json() == [
            {"product_id": "ink", "name": "Ink", "price": "1.20", "stocks": 3},
            {"product_id": "pen", "name": "Pen", "price": "2.50", "stocks": 10},
        ]

    def test_shows_one_product(self) -> None:
        answer = shelf().product.get("/products/pen")

        assert answer.json() == {"product_id": "pen", "name": "Pen", "price": "2.50", "stocks": 10}

    def test_an_unknown_product_is_404(self) -> None:
        answer = shelf().product.get("/products/nib")

        assert answer.status_code == 404
        assert problem_type(answer) == "/problems/unknown-product"


class TestPutProduct:
    def test_creates_a_product_with_its_initial_stock(self) -> None:
        system = shelf()

        answer = system.product.put("/products/nib", json={"name": "Nib", "price": "0.4", "stocks": 7})

        assert answer.status_code == 201
        assert answer.headers["location"] == "/products/nib"
        assert answer.json() == {"product_id": "nib", "name": "Nib", "price": "0.40", "stocks": 7}
        assert system.product_commits.count == 1

    @pytest.mark.parametrize(
        "body", [{"name": "Nib", "price": "3"}, {"name": "Nib", "price": "3", "stocks": None}]
    )
    def test_creates_a_product_with_no_stock_when_stocks_is_not_given(self, body: dict[str, Any]) -> None:
        answer = shelf().product.put("/products/nib", json=body)

        assert (answer.status_code, answer.json()["stocks"], answer.json()["price"]) == (201, 0, "3.00")

    def test_renames_and_reprices_an_existing_product_and_leaves_its_stock_alone(self) -> None:
        system = shelf(pens=10)

        answer = system.product.put("/products/pen", json={"name": "Fountain pen", "price": "9.99"})

        assert answer.status_code == 200
        assert answer.json() == {"product_id": "pen", "name": "Fountain pen", "price": "9.99", "stocks": 10}

    def test_repeating_the_creating_request_is_harmless(self) -> None:
        system = shelf()
        body = {"name": "Nib", "price": "0.40", "stocks": 7}
        system.product.put("/products/nib", json=body)

        repeat = system.product.put("/products/nib", json=body)

        assert (repeat.status_code, repeat.json()["stocks"]) == (200, 7)

    def test_refuses_to_set_the_stock_of_an_existing_product_and_points_to_restock(self) -> None:
        system = shelf(pens=10)

        answer = system.product.put("/products/pen", json={"name": "Pen", "price": "2.50", "stocks": 50})

        assert answer.status_code == 409
        assert problem_type(answer) == "/problems/stock-not-editable"
        assert "POST /products/pen/restock" in answer.json()["detail"]
        assert system.stock_of("pen") == 10

    def test_names_every_invalid_field(self) -> None:
        body = {"name": " ", "price": 2.5, "stocks": -1, "colour": "red"}

        answer = shelf().product.put("/products/nib", json=body)

        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == ["name", "price", "stocks", "colour"]

    @pytest.mark.parametrize("price", ["-1", "-2.50", "-0"], ids=repr)
    def test_a_negative_price_is_refused_for_being_negative(self, price: str) -> None:
        answer = shelf().product.put("/products/nib", json={"name": "Nib", "price": price})

        assert answer.status_code == 422
        assert answer.json()["errors"] == [{"field": "price", "message": "must not be negative"}]

    @pytest.mark.parametrize("price", ["2.505", "--1", "1e3", "NaN", " 2", "2.", "١٢"], ids=repr)
    def test_a_price_is_a_plain_decimal_string_with_at_most_cents(self, price: str) -> None:
        answer = shelf().product.put("/products/nib", json={"name": "Nib", "price": price})

        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {
                "field": "price",
                "message": 'must be a decimal string such as "12.50" (digits, at most two decimal places, no sign or '
                "exponent)",
            }
        ]

    def test_a_product_id_must_be_an_id(self) -> None:
        answer = shelf().product.put("/products/-nib", json={"name": "Nib", "price": "1"})

        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == ["product_id"]


class TestRestock:
    def test_adds_arrived_goods_to_the_stock(self) -> None:
        system = shelf(pens=10)

        answer = system.product.post("/products/pen/restock", json={"quantity": 5})

        assert (answer.status_code, answer.json()["stocks"]) == (200, 15)
        assert system.product_commits.count == 1

    def test_an_unknown_product_is_404(self) -> None:
        answer = shelf().product.post("/products/nib/restock", json={"quantity": 5})

        assert answer.status_code == 404
        assert problem_type(answer) == "/problems/unknown-product"

    def test_a_quantity_is_from_1_to_10000(self) -> None:
        answer = shelf().product.post("/products/pen/restock", json={"quantity": 0})

        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {"field": "quantity", "message": "must be an integer from 1 to 10000"}
        ]


class TestAvailability:
    def test_answers_each_merged_item_with_its_price_or_why_it_cannot_be_served(self) -> None:
        body = {
            "items": [
                {"product_id": "pen", "quantity": 2},
                {"product_id": "ink", "quantity": 4},
                {"product_id": "nib", "quantity": 1},
                {"product_id": "pen", "quantity": 3},
            ]
        }

        answer = shelf(pens=10).product.post("/products/availability", json=body)

        assert answer.json() == {
            "available": False,
            "items": [
                {"product_id": "pen", "quantity": 5, "available": True, "unit_price": "2.50"},
                {
                    "product_id": "ink",
                    "quantity": 4,
                    "available": False,
                    "reason": "insufficient_stock",
                    "in_stock": 3,
                },
                {
                    "product_id": "nib",
                    "quantity": 1,
                    "available": False,
                    "reason": "unknown_product",
                    "in_stock": 0,
                },
            ],
        }

    def test_is_available_when_every_item_is_and_takes_nothing(self) -> None:
        system = shelf(pens=10)

        answer = system.product.post(
            "/products/availability", json={"items": [{"product_id": "pen", "quantity": 10}]}
        )

        assert answer.json()["available"] is True
        assert system.stock_of("pen") == 10

    def test_names_every_invalid_field(self) -> None:
        body = {"items": [{"product_id": "pen"}, {"product_id": "ink", "quantity": False}]}

        answer = shelf().product.post("/products/availability", json=body)

        assert answer.status_code == 422
        assert [e["field"] for e in answer.json()["errors"]] == ["items[0].quantity", "items[1].quantity"]


def items(*lines: tuple[str, int]) -> dict[str, Any]:
    return {"items": [{"product_id": product_id, "quantity": quantity} for product_id, quantity in lines]}


class TestAvailabilityOfSeveralOrders:
    def test_answers_each_question_as_the_single_check_does_in_the_order_asked(self) -> None:
        system = shelf(pens=10)
        questions = [
            items(("pen", 2), ("nib", 1)),
            items(("ink", 3)),
            items(("pen", 6), ("pen", 5)),
            items(("pen", 10)),
        ]

        answer = system.product.post("/products/availability/batch", json={"questions": questions})

        assert answer.status_code == 200
        alone = [system.product.post("/products/availability", json=question).json() for question in questions]
        assert answer.json() == {"answers": alone}
        assert [each["available"] for each in alone] == [False, True, False, True]

    def test_judges_each_question_on_its_own_and_takes_nothing(self) -> None:
        system = shelf(pens=10)

        answer = system.product.post(
            "/products/availability/batch", json={"questions": [items(("pen", 10)), items(("pen", 10))]}
        )

        assert [each["available"] for each in answer.json()["answers"]] == [True, True]
        assert system.stock_of("pen") == 10

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({"questions": []}, ["questions"]),
            ({"questions": [items(("pen", 1))] * 101}, ["questions"]),
            (
                {"questions": [items(("pen", 1)), {"items": [{"product_id": "pen"}]}]},
                ["questions[1].items[0].quantity"],
            ),
            ({"questions": [items(("pen", 1)), {"items": []}, items()]}, ["questions[1].items", "questions[2].items"]),
            ({"items": [{"product_id": "pen", "quantity": 1}]}, ["questions", "items"]),
        ],
        ids=["none", "too many", "an invalid item", "empty questions", "the single check's body"],
    )
    def test_names_every_invalid_question(self, body: dict[str, Any], fields: list[str]) -> None:
        answer = shelf().product.post("/products/availability/batch", json=body)

        assert answer.status_code == 422
        assert problem_type(answer) == "/problems/invalid-request"
        assert sorted(e["field"] for e in answer.json()["errors"]) == sorted(fields)


class TestMessages:
    def test_tells_what_the_customer_was_told_oldest_first(self) -> None:
        system = shelf()
        order_id = system.order.post(
            "/orders/order", json={"items": [{"product_id": "pen", "quantity": 1}]}
        ).json()["order_id"]
        system.payments.post("/orders/paid", json={"order_id": order_id})
        system.deliver_status_messages()

        answer = system.message.get("/messages", params={"order_id": order_id})

        assert answer.json() == [
            {
                "order_id": order_id,
                "status": "unpaid",
                "reason": None,
                "text": f"Your order {order_id} is unpaid: please pay to complete it.",
                "occurred_at": EPOCH.isoformat(),
            },
            {
                "order_id": order_id,
                "status": "paid",
                "reason": None,
                "text": f"Your order {order_id} has been paid. Thank you!",
                "occurred_at": EPOCH.isoformat(),
            },
        ]

    def test_a_cancellation_says_why(self) -> None:
        system = shelf()
        order_id = system.order.post(
            "/orders/order", json={"items": [{"product_id": "pen", "quantity": 1}]}
        ).json()["order_id"]
        system.order.post("/orders/cancel", json={"order_id": order_id})
        system.deliver_status_messages()

        statuses = system.message.get("/messages", params={"order_id": order_id}).json()

        assert [(m["status"], m["reason"]) for m in statuses] == [("unpaid", None), ("cancelled", "customer")]

    def test_an_order_not_heard_of_has_no_messages(self) -> None:
        answer = shelf().message.get("/messages", params={"order_id": "o-unknown"})

        assert (answer.status_code, answer.json()) == (200, [])

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({}, "is required"),
            (
                {"order_id": "a b"},
                "must be 1 to 64 letters, digits or . _ : - starting with a letter or digit",
            ),
        ],
        ids=["missing", "not an id"],
    )
    def test_the_order_id_is_required_and_must_be_an_id(self, params: dict[str, str], message: str) -> None:
        answer = shelf().message.get("/messages", params=params)

        assert answer.status_code == 422
        assert answer.json()["errors"] == [{"field": "order_id", "message": message}]
