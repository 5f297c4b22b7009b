"""Orders and their life cycle (docs/design.md, "Order life cycle")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordering_core import (
    AlreadyPaid,
    CancelReason,
    InvalidTransition,
    InvalidValue,
    Order,
    OrderLine,
    OrderStatus,
)

from .examples import CUSTOMER as CUSTOMER_ID
from .examples import NOW, order

CUSTOMER, PAYMENT_TIMEOUT, OUT_OF_STOCK = CancelReason


class TestOrderLine:
    def test_subtotal_is_unit_price_times_quantity(self) -> None:
        assert OrderLine("p-1", 3, Decimal("2.50")).subtotal == Decimal("7.50")

    def test_refuses_an_invalid_unit_price(self) -> None:
        with pytest.raises(InvalidValue, match="unit_price must have at most 2 decimal places"):
            OrderLine("p-1", 3, Decimal("2.505"))


class TestOrder:
    def test_placing_makes_an_unpaid_order_of_the_customer(self) -> None:
        placed = Order.place("o-1", [OrderLine("p-1", 1, Decimal("1.00"))], NOW, customer_id="auth0|5f7c8ec7")

        assert (placed.status, placed.cancel_reason, placed.payment_id) == (OrderStatus.UNPAID, None, None)
        assert placed.customer_id == "auth0|5f7c8ec7"

    def test_an_order_cannot_be_made_without_a_customer(self) -> None:
        with pytest.raises(TypeError, match="customer_id"):
            Order("o-1", order().lines, OrderStatus.UNPAID, NOW)  # type: ignore[call-arg]

    @pytest.mark.parametrize("customer_id", ["", "customer a", "é", None], ids=repr)
    def test_refuses_an_invalid_customer_id(self, customer_id: object) -> None:
        with pytest.raises(InvalidValue) as refused:
            order(customer_id=customer_id)  # type: ignore[arg-type]

        assert refused.value.field == "customer_id"

    def test_units_are_the_quantities_of_all_its_lines(self) -> None:
        lines = (OrderLine("p-1", 3, Decimal("2.50")), OrderLine("p-2", 4, Decimal("0.99")))

        assert order(lines=lines).units == 7

    @pytest.mark.parametrize("action", ["pay", "cancel"])
    def test_paying_or_cancelling_keeps_the_customer(self, action: str) -> None:
        unpaid = order(customer_id="customer-b")

        after = unpaid.pay("pay-1") if action == "pay" else unpaid.cancel(CUSTOMER)

        assert after.order.customer_id == "customer-b"

    def test_total_is_the_sum_of_the_subtotals(self) -> None:
        lines = (OrderLine("p-1", 3, Decimal("2.50")), OrderLine("p-2", 1, Decimal("0.99")))

        assert order(lines=lines).total == Decimal("8.49")

    def test_refuses_an_order_without_lines(self) -> None:
        with pytest.raises(InvalidValue, match="lines must hold from 1 to 100 lines, got 0"):
            order(lines=())

    def test_refuses_two_lines_for_the_same_product(self) -> None:
        twice = (OrderLine("p-1", 1, Decimal("1.00")), OrderLine("p-1", 2, Decimal("1.00")))

        with pytest.raises(InvalidValue, match="lines must name each product once"):
            order(lines=twice)

    def test_refuses_a_naive_placing_time(self) -> None:
        with pytest.raises(InvalidValue, match="placed_at must be a timezone-aware datetime"):
            order(placed_at=datetime(2025, 1, 1))

    def test_refuses_a_status_given_as_a_plain_string(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Order(
                "o-1",
                (OrderLine("p-1", 1, Decimal(1)),),
                "unpaid",  # type: ignore[arg-type]
                NOW,
                customer_id=CUSTOMER_ID,
            )

        assert refused.value.field == "status"

    @pytest.mark.parametrize(
        ("status", "reason"),
        [(OrderStatus.UNPAID, CUSTOMER), (OrderStatus.PAID, OUT_OF_STOCK)],
    )
    def test_refuses_a_cancel_reason_unless_cancelled(
        self, status: OrderStatus, reason: CancelReason
    ) -> None:
        with pytest.raises(
            InvalidValue, match="cancel_reason must be set exactly when the order is cancelled"
        ):
            Order(
                "o-1",
                order().lines,
                status,
                NOW,
                cancel_reason=reason,
                payment_id="pay-1",
                customer_id=CUSTOMER_ID,
            )

    def test_refuses_a_cancelled_order_without_reason(self) -> None:
        with pytest.raises(InvalidValue, match="cancel_reason must be set exactly when"):
            Order("o-1", order().lines, OrderStatus.CANCELLED, NOW, customer_id=CUSTOMER_ID)

    def test_refuses_a_paid_order_without_payment_id(self) -> None:
        with pytest.raises(InvalidValue, match="payment_id must be set on a paid order"):
            Order("o-1", order().lines, OrderStatus.PAID, NOW, customer_id=CUSTOMER_ID)

    @pytest.mark.parametrize(
        ("status", "reason"),
        [
            (OrderStatus.UNPAID, None),
            (OrderStatus.CANCELLED, CUSTOMER),
            (OrderStatus.CANCELLED, PAYMENT_TIMEOUT),
        ],
    )
    def test_refuses_a_payment_id_on_an_order_that_was_never_paid(
        self, status: OrderStatus, reason: CancelReason | None
    ) -> None:
        with pytest.raises(InvalidValue, match="payment_id must be empty on an order that was never paid"):
            Order(
                "o-1",
                order().lines,
                status,
                NOW,
                cancel_reason=reason,
                payment_id="pay-1",
                customer_id=CUSTOMER_ID,
            )

    def test_keeps_the_payment_id_of_a_paid_order_cancelled_out_of_stock(self) -> None:
        cancelled = order(status=OrderStatus.CANCELLED, cancel_reason=OUT_OF_STOCK, payment_id="pay-1")

        assert cancelled.payment_id == "pay-1"


class TestPay:
    def test_pays_an_unpaid_order(self) -> None:
        transition = order().pay("pay-1")

        assert transition.changed
        assert (transition.order.status, transition.order.payment_id) == (OrderStatus.PAID, "pay-1")

    def test_paying_again_with_the_same_payment_id_is_a_no_op(self) -> None:
        paid = order(status=OrderStatus.PAID, payment_id="pay-1")

        transition = paid.pay("pay-1")

        assert not transition.changed
        assert transition.order == paid

    def test_refuses_paying_a_paid_order_with_another_payment_id(self) -> None:
        paid = order(status=OrderStatus.PAID, payment_id="pay-1")

        with pytest.raises(AlreadyPaid) as refused:
            paid.pay("pay-2")

        assert (refused.value.payment_id, refused.value.attempted_payment_id) == ("pay-1", "pay-2")

    @pytest.mark.parametrize("reason", list(CancelReason))
    def test_refuses_paying_a_cancelled_order(self, reason: CancelReason) -> None:
        cancelled = order(status=OrderStatus.CANCELLED, cancel_reason=reason)

        with pytest.raises(InvalidTransition) as refused:
            cancelled.pay("pay-1")

        assert (refused.value.status, refused.value.action) == ("cancelled", "pay")

    def test_repeating_the_payment_of_an_order_since_cancelled_out_of_stock_is_a_no_op(self) -> None:
        cancelled = order(status=OrderStatus.CANCELLED, cancel_reason=OUT_OF_STOCK, payment_id="pay-1")

        transition = cancelled.pay("pay-1")

        assert not transition.changed
        assert transition.order == cancelled

    def test_refuses_an_invalid_payment_id(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            order().pay("")

        assert refused.value.field == "payment_id"


class TestCancel:
    @pytest.mark.parametrize("reason", list(CancelReason))
    def test_cancels_an_unpaid_order_for_any_reason(self, reason: CancelReason) -> None:
        transition = order().cancel(reason)

        assert transition.changed
        assert (transition.order.status, transition.order.cancel_reason) == (OrderStatus.CANCELLED, reason)

    def test_cancels_a_paid_order_out_of_stock_keeping_its_payment_id(self) -> None:
        paid = order(status=OrderStatus.PAID, payment_id="pay-1")

        transition = paid.cancel(OUT_OF_STOCK)

        assert transition.changed
        assert (transition.order.status, transition.order.payment_id) == (OrderStatus.CANCELLED, "pay-1")

    @pytest.mark.parametrize("reason", [CUSTOMER, PAYMENT_TIMEOUT])
    def test_refuses_a_customer_or_timeout_cancel_of_a_paid_order(self, reason: CancelReason) -> None:
        paid = order(status=OrderStatus.PAID)

        with pytest.raises(InvalidTransition) as refused:
            paid.cancel(reason)

        assert refused.value.status == "paid"
        assert not isinstance(refused.value, AlreadyPaid)

    @pytest.mark.parametrize("first", list(CancelReason))
    @pytest.mark.parametrize("again", list(CancelReason))
    def test_cancelling_a_cancelled_order_is_a_no_op_and_the_first_reason_stays(
        self, first: CancelReason, again: CancelReason
    ) -> None:
        cancelled = order(status=OrderStatus.CANCELLED, cancel_reason=first)

        transition = cancelled.cancel(again)

        assert not transition.changed
        assert transition.order.cancel_reason is first

    def test_refuses_a_reason_given_as_a_plain_string(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            order().cancel("customer")  # type: ignore[arg-type]

        assert refused.value.field == "reason"


# The life cycle as a small model to check the class against: (status, payment id, cancel reason) after each
# action, or None where the action is refused.
State = tuple[str, str | None, str | None]


def _model(state: State, kind: str, argument: str) -> State | None:
    status, payment, _reason = state
    if kind == "pay":
        if payment == argument:
            return state
        return ("paid", argument, None) if status == "unpaid" else None
    if status == "cancelled":
        return state
    if status == "paid" and argument != "out_of_stock":
        return None
    return "cancelled", payment, argument


actions = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.sampled_from(["pay-1", "pay-2"])),
        st.tuples(st.just("cancel"), st.sampled_from([reason.value for reason in CancelReason])),
    ),
    max_size=6,
)


@given(actions)
def test_any_sequence_of_actions_follows_the_life_cycle(steps: list[tuple[str, str]]) -> None:
    current = order()
    state: State = ("unpaid", None, None)

    for kind, argument in steps:
        expected = _model(state, kind, argument)
        try:
            current = (
                current.pay(argument).order if kind == "pay" else current.cancel(CancelReason(argument)).order
            )
        except InvalidTransition:
            assert expected is None
        else:
            assert expected == (current.status.value, current.payment_id, current.cancel_reason)
            state = expected
