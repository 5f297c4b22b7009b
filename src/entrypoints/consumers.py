"""What each service does with the events it consumes: one table per service, from event type to use case.

    orders = order_events(uow=..., new_id=..., clock=..., on_published=relay.wake)
    ConsumerWorker(broker, group="order-service", topics=orders.topics, apply=orders.apply)

The composition roots (`*_service.py`) hand `apply` to their Kafka consumer; `in_process.py` hands it the
records of the in-memory broker. So the Hypothesis state machine over the in-process system drives the very
table production runs, and a service consumes exactly the topics its table names.

`apply` looks the event's class up in the table: an event the service has no use case for (which the codec's
check of type against topic already keeps out) is refused with `InvalidValue`, an `OrderingError`, so the
consumer sets the record aside in the dead-letter topic with that reason rather than applying it as
something else. Each handler also writes the log line a person looks for ("stock reserved", ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from attrs import frozen

from ordering_core import (
    Event,
    InvalidValue,
    OrderStatusChanged,
    StockChange,
    StockReleaseRequested,
    StockReservationRejected,
    StockReservationRequested,
    UnavailableLine,
    apply_stock_release,
    apply_stock_reservation,
    handle_reservation_rejected,
    record_customer_message,
)
from ordering_core.ports import MessageUnitOfWork, OrderUnitOfWork, ProductUnitOfWork

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)


# Which service consumes which events: each table below must name exactly these (`_as_declared` checks it
# when the table is built), and the CLI asks a dead letter's owner by it.
CONSUMED_BY: Mapping[str, tuple[type[Event], ...]] = MappingProxyType(
    {
        "order": (StockReservationRejected,),
        "product": (StockReservationRequested, StockReleaseRequested),
        "message": (OrderStatusChanged,),
    }
)


def consumer_of(topic: str) -> str | None:
    """The service ("order", "product", "message") that consumes `topic`, if one does."""
    return next((service for service, events in CONSUMED_BY.items() if topic in {e.TYPE for e in events}), None)


@frozen
class Handler(Generic[E]):
    """The use case for one event type, as the service calls it."""

    event: type[E]
    handle: Callable[[E], Any]


@frozen
class Consumption:
    """A service's table: the topics it reads, and what it does with each event."""

    handlers: Mapping[type[Event], Handler[Any]]

    @classmethod
    def of(cls, *handlers: Handler[Any]) -> Consumption:
        return cls(MappingProxyType({handler.event: handler for handler in handlers}))

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(event.TYPE for event in self.handlers)

    def apply(self, event: Event) -> Any:
        """What the event's use case returned; `InvalidValue` for an event this service does not consume."""
        handler = self.handlers.get(type(event))
        if handler is None:
            raise InvalidValue(
                "type", f"must be one of {', '.join(self.topics)} for this service", event.TYPE
            )
        return handler.handle(event)


def order_events(
    *,
    uow: OrderUnitOfWork,
    new_id: Callable[[], str],
    clock: Callable[[], datetime],
    on_published: Callable[[], None] = lambda: None,
) -> Consumption:
    """The Order Service: a rejected reservation cancels the order out of stock."""

    def rejected(event: StockReservationRejected) -> object:
        order = handle_reservation_rejected(event, uow=uow, new_id=new_id, now=clock())
        if order is not None:
            log.info("order cancelled", extra={"reason": order.cancel_reason})
            on_published()
        return order

    return _as_declared("order", Consumption.of(Handler(StockReservationRejected, rejected)))


def product_events(
    *,
    uow: ProductUnitOfWork,
    new_id: Callable[[], str],
    clock: Callable[[], datetime],
    on_published: Callable[[], None] = lambda: None,
) -> Consumption:
    """The Product Service's stock ledger: reservations and releases."""

    def reservation(event: StockReservationRequested) -> object:
        outcome = apply_stock_reservation(event, uow=uow, new_id=new_id, now=clock())
        if outcome is not None and outcome.rejected:
            log.info("stock reservation rejected", extra={"unavailable": _lines(outcome.rejected)})
            on_published()
        elif outcome is not None and outcome.changed:
            log.info("stock reserved", extra={"stock_changes": _changes(outcome.stock_changes)})
        return outcome

    def release(event: StockReleaseRequested) -> object:
        outcome = apply_stock_release(event, uow=uow)
        if outcome is not None and outcome.changed:
            log.info("stock released", extra={"stock_changes": _changes(outcome.stock_changes)})
        return outcome

    return _as_declared(
        "product",
        Consumption.of(Handler(StockReservationRequested, reservation), Handler(StockReleaseRequested, release)),
    )


def message_events(*, uow: MessageUnitOfWork) -> Consumption:
    """The Message Service: each status an order reaches becomes its customer's message."""

    def status(event: OrderStatusChanged) -> object:
        message = record_customer_message(event, uow=uow)
        if message is not None:
            log.info("customer message recorded", extra={"status": message.status, "text": message.text})
        return message

    return _as_declared("message", Consumption.of(Handler(OrderStatusChanged, status)))


def _as_declared(service: str, consumption: Consumption) -> Consumption:
    if tuple(consumption.handlers) != CONSUMED_BY[service]:
        raise ValueError(f"the {service} service's table handles {consumption.topics}, not what CONSUMED_BY says")
    return consumption


def _changes(changes: Iterable[StockChange]) -> dict[str, int]:
    return {change.product_id: change.delta for change in changes}


def _lines(lines: Iterable[UnavailableLine]) -> list[dict[str, object]]:
    return [
        {"product_id": line.product_id, "quantity": line.quantity, "reason": line.reason} for line in lines
    ]
