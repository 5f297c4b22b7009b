"""Whatever a client sends to the item-list endpoints, the answer is one openapi.yaml declares.

Hypothesis sends near-valid bodies (items with wrong types, missing or extra keys, out-of-range numbers),
arbitrary JSON and arbitrary bytes. The client checks each answer against the spec; the tests add that no
answer is a server error and that an order is stored exactly when the answer is 201.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from http_services import Services, services
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ordering_core import Product

text = st.text(st.characters(codec="utf-8"), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=10,
)
product_ids = st.sampled_from(["pen", "ink", "nib"]) | text | json_values
quantities = st.integers(min_value=-2, max_value=10_002) | json_values
# Well-formed items (pen usually in stock, ink never, nib unknown), so orders are placed and refused too, and
# odd ones: any key missing, one too many, any value of any type.
good_items = st.fixed_dictionaries(
    {"product_id": st.sampled_from(["pen", "pen", "pen", "ink", "nib"]), "quantity": st.integers(1, 30)}
)
odd_items = st.fixed_dictionaries(
    {}, optional={"product_id": product_ids, "quantity": quantities, "colour": json_values}
)
item_lists = (
    st.lists(good_items, min_size=1, max_size=3)
    | st.lists(good_items | odd_items, max_size=6)
    | st.lists(st.just({"product_id": "pen", "quantity": 1}), min_size=99, max_size=102)
)
bodies = (
    st.fixed_dictionaries({"items": item_lists})
    | st.fixed_dictionaries({"items": item_lists}, optional={"note": json_values})
    | json_values
)
# Several orders' items for the batch availability check: each question any of the bodies above, a few
# questions or none, or one too many.
one_pen = {"items": [{"product_id": "pen", "quantity": 1}]}
question_lists = st.lists(bodies, max_size=4) | st.lists(st.just(one_pen), min_size=100, max_size=101)
batch_bodies = (
    st.fixed_dictionaries({"questions": question_lists})
    | st.fixed_dictionaries({"questions": question_lists}, optional={"note": json_values})
    | json_values
)
keys = st.none() | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=6)


def shop() -> Services:
    return services(Product("pen", "Pen", Decimal("2.50"), 50), Product("ink", "Ink", Decimal("1.20"), 0))


def send(client: Any, path: str, body: Any, key: str | None = None) -> Any:
    headers = {"content-type": "application/json"} | ({"Idempotency-Key": key} if key is not None else {})
    if isinstance(body, bytes):
        return client.post(path, content=body, headers=headers)
    return client.post(path, json=body, headers=headers)


class TestPlaceOrderWithAnyBody:
    @settings(max_examples=150)
    @given(body=bodies | st.binary(max_size=64), key=keys)
    def test_answers_as_declared_and_stores_an_order_exactly_when_it_says_201(
        self, body: Any, key: str | None
    ) -> None:
        system = shop()

        answer = send(system.order, "/orders/order", body, key)
        event(f"status {answer.status_code}")  # pytest --hypothesis-show-statistics: the mix is varied

        assert answer.status_code < 500
        assert (answer.status_code == 201) == (len(system.orders.orders.orders) == 1)


class TestAvailabilityWithAnyBody:
    @settings(max_examples=150)
    @given(body=bodies | st.binary(max_size=64))
    def test_answers_as_declared_and_changes_no_stock(self, body: Any) -> None:
        system = shop()

        answer = send(system.product, "/products/availability", body)
        event(f"status {answer.status_code}")

        assert answer.status_code in (200, 400, 422)
        assert (system.stock_of("pen"), system.stock_of("ink")) == (50, 0)


class TestAvailabilityOfSeveralOrdersWithAnyBody:
    @settings(max_examples=150)
    @given(body=batch_bodies | st.binary(max_size=64))
    def test_answers_as_declared_one_answer_per_question_and_changes_no_stock(self, body: Any) -> None:
        system = shop()

        answer = send(system.product, "/products/availability/batch", body)
        event(f"status {answer.status_code}")

        assert answer.status_code in (200, 400, 422)
        if answer.status_code == 200:
            assert len(answer.json()["answers"]) == len(body["questions"])
        assert (system.stock_of("pen"), system.stock_of("ink")) == (50, 0)
