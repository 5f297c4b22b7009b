"""Order Service use cases: place, pay, cancel, expire, and react to a rejected stock reservation.

Each takes ports and plain values, changes the order and queues its events in one unit of work, and raises
only `OrderingError`s; when it raises, nothing has been stored or published.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from ordering_core.errors import OrderUnavailable, UnknownOrder
from ordering_core.events import (
    EnvelopeFactory,
    Event,
    OrderCancelled,
    OrderCreated,
    OrderPaid,
    OrderStatusChanged,
    StockReleaseRequested,
    StockReservationRejected,
    StockReservationRequested,
)
from ordering_core.orders import CancelReason, Order, OrderStatus
from ordering_core.ports import OrderRepository, OrderUnitOfWork, ProductCatalog
from ordering_core.values import Line, merge_lines, require_id, require_positive_duration


async def place_order(
    requested_lines: Sequence[Line],
    *,
    catalog: ProductCatalog,
    uow: OrderUnitOfWork,
    new_id: Callable[[], str],
    now: datetime,
    correlation_id: str,
) -> Order:
    """Accept the order if every line is available: store it unpaid and announce it; else OrderUnavailable."""
    envelope = EnvelopeFactory(new_id, now, correlation_id)  # checks now and correlation_id before any I/O
    lines = merge_lines(requested_lines)
    availability = await catalog.check(lines)
    if not availability.is_ok:
        raise OrderUnavailable(availability.failures)
    order = Order.place(new_id(), availability.order_lines, now)
    events: list[Event] = [
        OrderCreated(envelope(order.order_id), order.lines, order.total),
        StockReservationRequested(envelope(order.order_id), lines),
        OrderStatusChanged(envelope(order.order_id), OrderStatus.UNPAID),
    ]
    with uow:
        uow.orders.add(order)
        uow.events.publish(events)
        uow.commit()
    return order


def mark_paid(
    order_id: str,
    payment_id: str,
    *,
    uow: OrderUnitOfWork,
    new_id: Callable[[], str],
    now: datetime,
    correlation_id: str,
) -> Order:
    """Record the payment; paying again with the same payment id changes nothing."""
    envelope = EnvelopeFactory(new_id, now, correlation_id)
    with uow:
        transition = _existing(uow.orders, order_id).pay(payment_id)
        if transition.changed:
            uow.orders.save(transition.order)
            uow.events.publish(
                [
                    OrderPaid(envelope(order_id), payment_id),
                    OrderStatusChanged(envelope(order_id), OrderStatus.PAID),
                ]
            )
        uow.commit()
    return transition.order


def cancel_order(
    order_id: str,
    reason: CancelReason,
    *,
    uow: OrderUnitOfWork,
    new_id: Callable[[], str],
    now: datetime,
    correlation_id: str,
) -> Order:
    """Cancel the order; cancelling a cancelled order changes nothing (its first reason stays)."""
    envelope = EnvelopeFactory(new_id, now, correlation_id)
    with uow:
        order = _cancel(_existing(uow.orders, order_id), reason, uow, envelope)
        uow.commit()
    return order


def expire_unpaid_orders(
    *,
    uow: OrderUnitOfWork,
    now: datetime,
    timeout: timedelta,
    new_id: Callable[[], str],
    correlation_id: str,
) -> list[Order]:
    """Cancel (payment_timeout) every order still unpaid `timeout` after it was placed; returns them."""
    require_positive_duration("timeout", timeout)
    envelope = EnvelopeFactory(new_id, now, correlation_id)
    with uow:
        expired = [
            _cancel(order, CancelReason.PAYMENT_TIMEOUT, uow, envelope)
            for order in uow.orders.unpaid_placed_before(now - timeout)
        ]
        uow.commit()
    return expired


def handle_reservation_rejected(
    event: StockReservationRejected,
    *,
    uow: OrderUnitOfWork,
    new_id: Callable[[], str],
    now: datetime,
) -> Order | None:
    """The ledger refused the order's stock: cancel it out_of_stock, even if paid. None for a duplicate."""
    envelope = EnvelopeFactory.from_cause(event, new_id=new_id, now=now)
    with uow:
        if uow.inbox.seen(event.envelope.message_id):
            return None
        order = _cancel(
            _existing(uow.orders, event.envelope.order_id), CancelReason.OUT_OF_STOCK, uow, envelope
        )
        uow.inbox.record(event.envelope.message_id)
        uow.commit()
    return order


def _existing(orders: OrderRepository, order_id: str) -> Order:
    order = orders.get(require_id("order_id", order_id))
    if order is None:
        raise UnknownOrder(order_id)
    return order


def _cancel(order: Order, reason: CancelReason, uow: OrderUnitOfWork, envelope: EnvelopeFactory) -> Order:
    """Cancel within the caller's unit of work, queueing the events only if the order changed."""
    transition = order.cancel(reason)
    if transition.changed:
        order_id = order.order_id
        uow.orders.save(transition.order)
        uow.events.publish(
            [
                OrderCancelled(envelope(order_id), reason),
                # Sent for every reason, out_of_stock included. After a rejected reservation the ledger ignores
                # it; but this service cannot know what the ledger did, and for an out_of_stock cancel that did
                # not come from a rejection the reservation may be applied or still in flight: only this message
                # gives that stock back, or leaves the tombstone that stops the late reservation.
                StockReleaseRequested(envelope(order_id)),
                OrderStatusChanged(envelope(order_id), OrderStatus.CANCELLED, reason),
            ]
        )
    return transition.order
