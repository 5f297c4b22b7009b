"""The three services in one process, over the in-memory broker: the whole flow with no I/O and no threads.

Everything the real system does by itself is a call here, so a test chooses the interleaving:

    system = InProcessSystem([Product("p-1", "Pen", Decimal("2.50"), stock=3)])
    order = system.place_order([Line("p-1", 2)])    # Order Service: stored unpaid, events in its outbox
    system.relay("order")                           # the outbox relay: one Kafka transaction per batch
    system.deliver("product")                       # Product Service's consumer takes one record
    system.run_until_idle()                         # relay and deliver until nothing is pending

and the nasty cases are calls too: `relay(..., crash_before_marking=True)` (published, then the relay died
before marking the rows sent: they go out again), `deliver(..., commit=False)` then `crash(...)` (applied,
then the consumer died before committing: the record comes again), `deliver_twice` and `replay` (the group
reads its topics again from offset 0). Records travel as the bytes `adapters.wire.codec` makes, so the codec
is on the path too.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from attrs import frozen

from adapters.memory.broker import InMemoryBroker, InMemoryConsumer
from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.memory.outbox import InMemoryOutbox, InMemoryOutboxRow
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.memory.transactions import InMemoryEventPublisher
from adapters.messaging.broker import Record
from adapters.messaging.relay import OutboxRelay
from adapters.messaging.topics import TOPICS
from adapters.wire.codec import decode
from entrypoints.consumers import message_events, order_events, product_events
from ordering_core import (
    Caller,
    CancelReason,
    Order,
    Product,
    cancel_order,
    expire_unpaid_orders,
    mark_paid,
    place_order,
    restock,
)
from ordering_core.customers import Role
from ordering_core.stock import LedgerOutcome
from ordering_core.values import Line

T = TypeVar("T")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CUSTOMER = "customer-1"  # who places an order when a test does not say
PAYMENT_PROVIDER = Caller("payment-provider", frozenset({Role.PAYMENTS}))


class Counter:
    """Deterministic ids: "<prefix>-1", "<prefix>-2", ... (a run is reproducible, so a failure is too)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"{self.prefix}-{self.count}"


class Outbox:
    """A service's outbox and the production relay's step (`OutboxRelay.relay_once`) over it: committed events
    go to the broker in order, a batch per transaction, then are marked sent."""

    def __init__(self, events: InMemoryEventPublisher, broker: InMemoryBroker, name: str) -> None:
        self.rows = _DyingRelayRows(InMemoryOutbox(events))
        self._relay = OutboxRelay(self.rows, lambda: broker.producer(name), name=f"{name}-relay")

    def pending(self) -> int:
        return self.rows.backlog()

    def relay(self, *, crash_before_marking: bool = False) -> int:
        self.rows.dying = crash_before_marking
        try:
            return self._relay.relay_once()
        finally:
            self.rows.dying = False


class _DyingRelayRows:
    """The outbox as the relay sees it, where a relay can die after publishing and before marking rows sent."""

    def __init__(self, outbox: InMemoryOutbox) -> None:
        self._outbox = outbox
        self.dying = False

    def pending(self, limit: int) -> Sequence[InMemoryOutboxRow]:
        return self._outbox.pending(limit)

    def mark_sent(self, ids: Sequence[int]) -> None:
        if not self.dying:
            self._outbox.mark_sent(ids)

    def backlog(self) -> int:
        return self._outbox.backlog()


@frozen
class Applied:
    """What the Product Service's ledger did for one order, once (kept for the conservation checks)."""

    order_id: str
    kind: str  # "reserved", "rejected" or "released"


class ConsumerSlot:
    """One service's consumer group: a member that can die, be replaced, and be rewound."""

    # `handle`'s result, if any, is not used: a use case's outcome, or None.
    def __init__(self, broker: InMemoryBroker, group: str, topics: Sequence[str], handle: Callable[[Record], object]):
        self._broker = broker
        self.group = group
        self.topics = tuple(topics)
        self.handle = handle
        self.member: InMemoryConsumer = broker.consumer(group, self.topics)

    def pending(self) -> int:
        return len(self.member.pending())

    def deliver(self, *, pick: int = 0, commit: bool = True, times: int = 1) -> Record | None:
        """Handle the next record of one partition: `pick` chooses among the partitions with records waiting
        (Kafka keeps order within a partition only, so any choice is a delivery order Kafka could make)."""
        heads = self.member.pending()
        if not heads:
            return None
        head = heads[pick % len(heads)]
        record = self.member.poll_from(head.topic, head.partition)
        if record != head:
            raise RuntimeError(f"the broker gave {record} where {head} was pending")
        for _ in range(times):
            self.handle(record)
        if commit:
            self.member.commit(record)
        return record

    def crash(self) -> None:
        """The member dies without committing; a new one takes over from the group's last commit."""
        self.member.crash()
        self.member = self._broker.consumer(self.group, self.topics)

    def replay(self) -> None:
        """Read everything again from offset 0, as after a reset of the group's offsets."""
        self.member.close()
        self._broker.rewind(self.group, self.topics)
        self.member = self._broker.consumer(self.group, self.topics)


class InProcessSystem:
    PAYMENT_TIMEOUT = timedelta(minutes=30)

    def __init__(self, products: Iterable[Product], *, now: datetime = EPOCH) -> None:
        self.now = now
        self.new_id = Counter("id")
        self.broker = InMemoryBroker()
        self.broker.create_topics(TOPICS)

        self.orders = InMemoryOrderUnitOfWork()
        self.products = InMemoryProductUnitOfWork(products)
        self.messages = InMemoryMessageUnitOfWork()
        self.catalog = InMemoryProductCatalog(self.products)
        self.ledger_log: list[Applied] = []

        self.outboxes = {
            "order": Outbox(self.orders.events, self.broker, "order-service"),
            "product": Outbox(self.products.events, self.broker, "product-service"),
        }
        # The services' own tables (entrypoints.consumers): what production applies is what this applies.
        self.consumed = {
            "product": product_events(uow=self.products, new_id=self.new_id, clock=self._clock),
            "order": order_events(uow=self.orders, new_id=self.new_id, clock=self._clock),
            "message": message_events(uow=self.messages),
        }
        self.consumers = {
            "product": ConsumerSlot(self.broker, "product-service", self.consumed["product"].topics, self._on_stock),
            "order": ConsumerSlot(self.broker, "order-service", self.consumed["order"].topics, self._applier("order")),
            "message": ConsumerSlot(
                self.broker, "message-service", self.consumed["message"].topics, self._applier("message")
            ),
        }

    # -- requests (what the HTTP endpoints do) -------------------------------------------------------

    def place_order(self, lines: Sequence[Line], *, customer_id: str = CUSTOMER) -> Order:
        return _run(
            place_order(
                lines, customer_id=customer_id, catalog=self.catalog, uow=self.orders, new_id=self.new_id,
                now=self.now, correlation_id=self.new_id(),
            )
        )

    def pay(self, order_id: str, payment_id: str) -> Order:
        """The payment provider's word that the order was paid."""
        return mark_paid(
            order_id, payment_id, caller=PAYMENT_PROVIDER, uow=self.orders, new_id=self.new_id, now=self.now,
            correlation_id=self.new_id(),
        )

    def cancel(self, order_id: str) -> Order:
        """The order's customer cancels it."""
        placed = self.orders.orders.get(order_id)
        return cancel_order(
            order_id, CancelReason.CUSTOMER, caller=Caller(placed.customer_id if placed else CUSTOMER),
            uow=self.orders, new_id=self.new_id, now=self.now, correlation_id=self.new_id(),
        )

    def expire_unpaid(self, after: timedelta) -> list[Order]:
        """Let `after` pass, then cancel every order unpaid for longer than the payment timeout."""
        self.now += after
        return expire_unpaid_orders(
            uow=self.orders, now=self.now, timeout=self.PAYMENT_TIMEOUT, new_id=self.new_id,
            correlation_id=self.new_id(),
        )

    def restock(self, product_id: str, quantity: int) -> Product:
        return restock(product_id, quantity, uow=self.products)

    # -- what runs by itself in the real system ------------------------------------------------------

    def relay(self, service: str, *, crash_before_marking: bool = False) -> int:
        return self.outboxes[service].relay(crash_before_marking=crash_before_marking)

    def deliver(self, consumer: str, *, pick: int = 0, commit: bool = True) -> Record | None:
        return self.consumers[consumer].deliver(pick=pick, commit=commit)

    def deliver_twice(self, consumer: str, *, pick: int = 0) -> Record | None:
        """Handle a record twice before committing, as after a redelivery."""
        return self.consumers[consumer].deliver(pick=pick, times=2)

    def crash(self, consumer: str) -> None:
        self.consumers[consumer].crash()

    def replay(self, consumer: str) -> None:
        self.consumers[consumer].replay()

    def pending(self) -> int:
        """Outbox rows not yet relayed plus records not yet consumed (committed) by every group."""
        backlog = sum(outbox.pending() for outbox in self.outboxes.values())
        return backlog + sum(self.broker.lag(slot.group) for slot in self.consumers.values())

    def run_until_idle(self, max_steps: int = 100_000) -> int:
        """Relay and deliver until nothing is pending; returns the steps taken."""
        steps = 0
        while self.pending():
            for name in self.outboxes:
                steps += bool(self.relay(name))
            for name, slot in self.consumers.items():
                if slot.pending() == 0 and self.broker.lag(slot.group):
                    slot.crash()  # read but never committed: only a new member gets those records again
                steps += self.deliver(name) is not None
            if steps > max_steps:
                raise RuntimeError(f"still {self.pending()} pending after {max_steps} steps")
        return steps

    # -- the consumers' handlers (what the Kafka consumer loops do) -----------------------------------------

    def _clock(self) -> datetime:
        return self.now

    def _applier(self, service: str) -> Callable[[Record], object]:
        consumed = self.consumed[service]
        return lambda record: consumed.apply(decode(record.topic, record.value, key=record.key))

    def _on_stock(self, record: Record) -> None:
        event = decode(record.topic, record.value, key=record.key)
        outcome = self.consumed["product"].apply(event)
        if isinstance(outcome, LedgerOutcome) and outcome.changed:
            self.ledger_log.append(Applied(event.envelope.order_id, str(outcome.entry.state)))


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a use case whose only await is the in-memory catalog, which never suspends: no event loop needed."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value  # what the coroutine returned: a T, as its type says
        return result
    coroutine.close()
    raise RuntimeError("an in-process use case suspended; the in-memory adapters never should")

