"""The error tree: one base, typed subclasses, messages that say what is wrong."""

from __future__ import annotations

import pytest

from ordering_core import (
    AlreadyPaid,
    CatalogUnavailable,
    InvalidTransition,
    InvalidValue,
    OrderingError,
    OrderUnavailable,
    Shortage,
    UnavailableLine,
    UnknownOrder,
    UnknownProduct,
)


class TestErrorTree:
    @pytest.mark.parametrize(
        "error",
        [
            InvalidValue("quantity", "must be an integer from 1 to 10000", 0),
            UnknownOrder("o-1"),
            UnknownProduct("p-1"),
            InvalidTransition("o-1", "cancelled", "pay"),
            AlreadyPaid("o-1", "pay-1", "pay-2"),
            OrderUnavailable([]),
            CatalogUnavailable("timed out after 2.0 s"),
        ],
        ids=lambda error: type(error).__name__,
    )
    def test_every_error_is_an_ordering_error(self, error: Exception) -> None:
        assert isinstance(error, OrderingError)

    def test_already_paid_is_an_invalid_transition(self) -> None:
        error = AlreadyPaid("o-1", "pay-1", "pay-2")

        assert isinstance(error, InvalidTransition)
        assert (error.order_id, error.status, error.payment_id, error.attempted_payment_id) == (
            "o-1",
            "paid",
            "pay-1",
            "pay-2",
        )


class TestMessages:
    def test_invalid_value_names_the_field_the_rule_and_the_value(self) -> None:
        error = InvalidValue("quantity", "must be an integer from 1 to 10000", 0)

        assert str(error) == "quantity must be an integer from 1 to 10000, got 0"
        assert (error.field, error.rule, error.value) == ("quantity", "must be an integer from 1 to 10000", 0)

    def test_invalid_value_shortens_a_huge_value_in_its_message(self) -> None:
        error = InvalidValue("name", "must be short", "x" * 10_000)

        assert len(str(error)) < 120
        assert str(error).endswith("...")
        assert error.value == "x" * 10_000

    def test_unknown_order_and_product_name_the_id(self) -> None:
        assert "'o-9'" in str(UnknownOrder("o-9"))
        assert "'p-9'" in str(UnknownProduct("p-9"))

    def test_invalid_transition_says_status_and_action(self) -> None:
        assert str(InvalidTransition("o-1", "cancelled", "pay")) == "order 'o-1' is cancelled: cannot pay"

    def test_order_unavailable_lists_every_failing_line(self) -> None:
        failures = [
            UnavailableLine("p-1", 2, Shortage.UNKNOWN_PRODUCT, 0),
            UnavailableLine("p-2", 5, Shortage.INSUFFICIENT_STOCK, 3),
        ]

        error = OrderUnavailable(failures)

        assert error.failures == tuple(failures)
        assert "'p-1' unknown_product (asked 2, available 0)" in str(error)
        assert "'p-2' insufficient_stock (asked 5, available 3)" in str(error)

    def test_catalog_unavailable_says_why_the_catalog_gave_no_answer(self) -> None:
        error = CatalogUnavailable("timed out after 2.0 s")

        assert error.reason == "timed out after 2.0 s"
        assert str(error) == "the product catalog could not be asked: timed out after 2.0 s"
