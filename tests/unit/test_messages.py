"""What the customer reads when their order reaches a status."""

from __future__ import annotations

import pytest

from ordering_core import (
    UNIDENTIFIED_CUSTOMER,
    CancelReason,
    CustomerMessage,
    InvalidValue,
    OrderStatus,
    customer_text,
)

from .examples import CUSTOMER, NOW, status_changed


class TestCustomerText:
    def test_an_unpaid_order_asks_for_payment(self) -> None:
        assert (
            customer_text("o-1", OrderStatus.UNPAID, None)
            == "Your order o-1 is unpaid: please pay to complete it."
        )

    def test_a_paid_order_thanks_the_customer(self) -> None:
        assert customer_text("o-1", OrderStatus.PAID, None) == "Your order o-1 has been paid. Thank you!"

    def test_a_cancelled_order_without_its_reason_is_refused_not_guessed(self) -> None:
        with pytest.raises(InvalidValue, match="reason is required for a cancelled order"):
            customer_text("o-1", OrderStatus.CANCELLED, None)

    @pytest.mark.parametrize(
        ("reason", "words"),
        [
            (CancelReason.CUSTOMER, "(at your request)."),
            (CancelReason.PAYMENT_TIMEOUT, "(payment not received in time)."),
            (CancelReason.OUT_OF_STOCK, "(out of stock)."),
        ],
    )
    def test_a_cancelled_order_gives_the_reason(self, reason: CancelReason, words: str) -> None:
        text = customer_text("o-1", OrderStatus.CANCELLED, reason)

        assert text.startswith(f"Your order o-1 was cancelled {words}")

    def test_an_out_of_stock_cancel_promises_a_refund(self) -> None:
        assert "refunded" in customer_text("o-1", OrderStatus.CANCELLED, CancelReason.OUT_OF_STOCK)
        assert "refunded" not in customer_text("o-1", OrderStatus.CANCELLED, CancelReason.CUSTOMER)


class TestCustomerMessage:
    def test_is_built_from_a_status_change_keeping_its_message_id_and_time(self) -> None:
        event = status_changed("o-2", OrderStatus.CANCELLED, CancelReason.PAYMENT_TIMEOUT)

        message = CustomerMessage.from_status_change(event)

        assert message == CustomerMessage(
            order_id="o-2",
            customer_id=CUSTOMER,
            status=OrderStatus.CANCELLED,
            reason=CancelReason.PAYMENT_TIMEOUT,
            text="Your order o-2 was cancelled (payment not received in time).",
            occurred_at=NOW,
            message_id=event.envelope.message_id,
        )

    @pytest.mark.parametrize("customer_id", ["auth0|5f7c8ec7", UNIDENTIFIED_CUSTOMER])
    def test_belongs_to_the_customer_the_status_change_names(self, customer_id: str) -> None:
        event = status_changed("o-2", OrderStatus.PAID, customer_id=customer_id)

        message = CustomerMessage.from_status_change(event)

        assert message.customer_id == customer_id
