"""Order Service use cases: place, pay, cancel, expire, and react to a rejected stock reservation; and the
reads of one order or a page of them.

Each takes ports and plain values, changes the order and queues its events in one unit of work, and raises
only `OrderingError`s; when it raises, nothing has been stored or published. What a caller may see and do is
`ordering_core.customers`'s rule, applied here inside the unit of work: an order the caller may not see is
`UnknownOrder`, exactly as an order that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from ordering_core.customers import Caller
from ordering_core.errors import InvalidValue, NotPermitted, OrderUnavailable, UnknownOrder
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
from ordering_core.holds import HoldLimit, check_hold, require_holdable
from ordering_core.orders import CancelReason, Order, OrderStatus
from ordering_core.ports import (
    KeyedPlacement,
    Offload,
    OrderRepository,
    OrderUnitOfWork,
    OrderViews,
    ProductCatalog,
    Reply,
    run_here,
)
from ordering_core.values import Line, merge_lines, require_customer_id, require_id, require_positive_duration

PAYMENT_IS_THE_PROVIDER_S = "a payment is recorded by the payment provider (role payments) or an admin"


async def place_order(
    requested_lines: Sequence[Line],
    *,
    customer_id: str,
    catalog: ProductCatalog,
    uow: OrderUnitOfWork,
    new_id: Callable[[], str],
    now: datetime,
    correlation_id: str,
    hold_limit: HoldLimit | None = None,
    offload: Offload = run_here,
    keyed: KeyedPlacement | None = None,
) -> Order:
    """Accept the customer's order if every line is available and their unpaid orders may hold it: store it
    unpaid and announce it; else OrderUnavailable (or HoldLimitReached). No `hold_limit`: no limit. With
    `keyed`, the reply to its Idempotency-Key is bound in the same unit of work as the order.

    The catalog is awaited; the unit of work that stores the order is handed to `offload`, so an event loop
    running this never waits for the database itself (`ordering_core.ports.Offload`)."""
    envelope = EnvelopeFactory(new_id, now, correlation_id)  # checks now and correlation_id before any I/O
    require_customer_id("customer_id", customer_id)
    lines = merge_lines(requested_lines)
    if hold_limit is not None:
        require_holdable(sum(line.quantity for line in lines), hold_limit)
    availability = await catalog.check(lines)
    if not availability.is_ok:
        raise OrderUnavailable(availability.failures)
    order = Order.place(new_id(), availability.order_lines, now, customer_id=customer_id)
    events: list[Event] = [
        OrderCreated(envelope(order.order_id), order.lines, order.total, customer_id=customer_id),
        StockReservationRequested(envelope(order.order_id), lines),
        OrderStatusChanged(envelope(order.order_id), OrderStatus.UNPAID, customer_id=customer_id),
    ]

    def store() -> Order:
        with uow:
            # In the unit of work that adds the order: two orders of one customer racing are counted one after
            # the other (SQLite: BEGIN IMMEDIATE), so together they cannot pass the limit.
            if hold_limit is not None:
                check_hold(customer_id, uow.orders.holdings_of(customer_id), order.units, hold_limit, now)
            uow.orders.add(order)
            uow.events.publish(events)
            if keyed is not None:
                uow.replies.bind(customer_id, keyed.key, Reply(order.order_id, keyed.reply(order)))
            uow.commit()
        return order

    return await offload(store)


def mark_paid(
    order_id: str,
    payment_id: str,
    *,
    caller: Caller,
    uow: OrderUnitOfWork,
    new_id: Callable[[], str],
    now: datetime,
    correlation_id: str,
) -> Order:
    """Record the payment, on the payment provider's word (role payments) or an admin's; paying again with
    the same payment id changes nothing. The owning customer is `NotPermitted`; to anyone else the order is
    unknown."""
    envelope = EnvelopeFactory(new_id, now, correlation_id)
    with uow:
        order = _existing(uow.orders, order_id)
        if not caller.records_payments:
            if caller.sees(order):
                raise NotPermitted(order_id, "record a payment of", PAYMENT_IS_THE_PROVIDER_S)
            raise UnknownOrder(order_id)
        transition = order.pay(payment_id)
        if transition.changed:
            customer_id = order.customer_id
            uow.orders.save(transition.order)
            uow.events.publish(
                [
                    OrderPaid(envelope(order_id), payment_id, customer_id=customer_id),
                    OrderStatusChanged(envelope(order_id), OrderStatus.PAID, customer_id=customer_id),
                ]
            )
        uow.commit()
    return transition.order


def cancel_order(
    order_id: str,
    reason: CancelReason,
    *,
    caller: Caller,
    uow: OrderUnitOfWork,
    new_id: Callable[[], str],
    now: datetime,
    correlation_id: str,
) -> Order:
    """Cancel the caller's order (an admin: any order); cancelling a cancelled order changes nothing (its first
    reason stays)."""
    envelope = EnvelopeFactory(new_id, now, correlation_id)
    with uow:
        order = _existing(uow.orders, order_id)
        if not caller.sees(order):
            raise UnknownOrder(order_id)
        order = _cancel(order, reason, uow, envelope)
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


def order_for(order_id: str, *, caller: Caller, views: OrderViews) -> Order:
    """The order as last committed, if the caller may see it; else `UnknownOrder`, as for no order at all."""
    order = views.order(order_id)
    if order is None or not caller.sees(order):
        raise UnknownOrder(order_id)
    return order


def orders_page(
    *, caller: Caller, views: OrderViews, after: str | None, limit: int, newest_first: bool
) -> tuple[Sequence[Order], str | None]:
    """A page of the caller's orders (an admin's: everyone's) and the cursor of the next page, None on the last."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        # A page of none has no last order to continue after: refuse it rather than fail on page[-1].
        raise InvalidValue("limit", "must be an integer of at least 1", limit)
    # One more than asked: whether it comes back says whether there is a next page.
    found = views.orders(
        customer_id=caller.listed_customer, after=after, limit=limit + 1, newest_first=newest_first
    )
    page = found[:limit]
    return page, (page[-1].order_id if len(found) > limit else None)


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
                OrderCancelled(envelope(order_id), reason, customer_id=order.customer_id),
                # Sent for every reason, out_of_stock included. After a rejected reservation the ledger ignores
                # it; but this service cannot know what the ledger did, and for an out_of_stock cancel that did
                # not come from a rejection the reservation may be applied or still in flight: only this message
                # gives that stock back, or leaves the tombstone that stops the late reservation.
                StockReleaseRequested(envelope(order_id)),
                OrderStatusChanged(
                    envelope(order_id), OrderStatus.CANCELLED, reason, customer_id=order.customer_id
                ),
            ]
        )
    return transition.order
