"""The three HTTP apps wired over the in-memory adapters, with a client each that checks the contract.

The Order Service asks the Product Service's own unit of work (`InMemoryProductCatalog`), so an order sees
the products and stock the Product Service's endpoints made. Ids and time are deterministic; `commits`
counts the `on_commit` calls (what would wake an outbox relay).

Each client is signed in as somebody (tests/identities.py): `order` and `message` as customer A, `product`
as an admin, `payments` (the Order Service) as the payment provider; `client(service, headers)` makes one
for anybody else, or for nobody (`{}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from attrs import define, field
from http_contract import ContractClient, OpenApi
from starlette.applications import Starlette

import identities
from adapters.http.probes import Check
from adapters.memory.broker import InMemoryBroker
from adapters.memory.catalog import InMemoryProductCatalog
from adapters.memory.idempotency import InMemoryIdempotencyStore
from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.memory.orders import InMemoryOrderUnitOfWork
from adapters.memory.products import InMemoryProductUnitOfWork
from adapters.memory.views import InMemoryMessageViews, InMemoryOrderViews, InMemoryProductViews
from adapters.messaging.broker import Message, MessagingError
from adapters.messaging.dead_letters import DeadLetterRef, DeadLetters
from adapters.messaging.topics import ALL_TOPICS, dead_letter_topic
from entrypoints import message_app, order_app, product_app
from entrypoints.consumers import CONSUMED_BY
from entrypoints.dead_letters import dead_letter_endpoints
from entrypoints.in_process import Counter as Ids  # deterministic ids: "<prefix>-1", "<prefix>-2", ...
from ordering_core import (
    CatalogUnavailable,
    OrderStatusChanged,
    Product,
    record_customer_message,
)
from ordering_core.availability import Availability
from ordering_core.ports import run_here

EPOCH = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = EPOCH) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@define
class Commits:
    """An `on_commit` that counts its calls."""

    count: int = 0

    def __call__(self) -> None:
        self.count += 1


@define
class Services:
    products: InMemoryProductUnitOfWork
    orders: InMemoryOrderUnitOfWork
    messages: InMemoryMessageUnitOfWork
    idempotency: InMemoryIdempotencyStore
    clock: Clock
    order_commits: Commits
    product_commits: Commits
    order: ContractClient
    product: ContractClient
    message: ContractClient
    payments: ContractClient
    apps: dict[str, Starlette]
    broker: InMemoryBroker  # where the dead letters are: each service answers for those of what it consumes
    delivered: int = field(default=0)

    def client(self, service: str, headers: Mapping[str, str], **options: Any) -> ContractClient:
        """A client of `service` ("order", "product", "message") sending `headers` (e.g. another bearer);
        `options` are the TestClient's (`base_url`, `client`: where the request comes from and goes to)."""
        return ContractClient(self.apps[service], self.order.spec, headers=dict(headers), **options)

    def over_loopback(self, service: str, headers: Mapping[str, str]) -> ContractClient:
        """A client whose requests come from 127.0.0.1 to 127.0.0.1, as on the machine `make run` serves."""
        return self.client(service, headers, base_url="http://127.0.0.1:8001", client=("127.0.0.1", 50000))

    def deliver_status_messages(self) -> None:
        """Hand the Message Service every order-status event committed since the last call (the consumer)."""
        statuses = [e for e in self.orders.events.published if isinstance(e, OrderStatusChanged)]
        for event in statuses[self.delivered :]:
            record_customer_message(event, uow=self.messages)
        self.delivered = len(statuses)

    def stock_of(self, product_id: str) -> int:
        return self.products.products.products[product_id].stock


def services(
    *products: Product,
    catalog: order_app.Catalog | None = None,
    readiness: Mapping[str, Check] | None = None,
    **order_app_options: Any,
) -> Services:
    spec = OpenApi.load()
    shelf = InMemoryProductUnitOfWork(products)
    idempotency = InMemoryIdempotencyStore()
    orders = InMemoryOrderUnitOfWork(keys=idempotency)  # its replies bind into the app's store
    messages = InMemoryMessageUnitOfWork()
    clock = Clock()
    order_commits, product_commits = Commits(), Commits()
    checks = dict(readiness or {})
    broker = InMemoryBroker()
    broker.create_topics(ALL_TOPICS)

    def dead_letters(service: str) -> list[Any]:
        topics = [dead_letter_topic(event.TYPE) for event in CONSUMED_BY[service]]
        return dead_letter_endpoints(DeadLetters(broker, topics=topics, name=f"{service}-service", clock=clock))

    order = order_app.create_app(
        # The in-memory unit of work is reused: it is safe because a request's `with uow:` block never awaits.
        uow=lambda: orders,
        offload=run_here,
        views=InMemoryOrderViews(orders),
        catalog=catalog or InMemoryProductCatalog(shelf),
        idempotency=idempotency,
        verifier=identities.verifier(),
        new_id=Ids("order"),
        clock=clock,
        readiness=checks,
        on_commit=order_commits,
        dead_letters=dead_letters("order"),
        **order_app_options,
    )
    product = product_app.create_app(
        uow=lambda: shelf,
        offload=run_here,
        views=InMemoryProductViews(shelf),
        verifier=identities.verifier(),
        new_id=Ids("product"),
        readiness=checks,
        on_commit=product_commits,
        dead_letters=dead_letters("product"),
    )
    message = message_app.create_app(
        views=InMemoryMessageViews(messages),
        verifier=identities.verifier(),
        new_id=Ids("message"),
        readiness=checks,
        dead_letters=dead_letters("message"),
    )
    return Services(
        products=shelf,
        orders=orders,
        messages=messages,
        idempotency=idempotency,
        clock=clock,
        order_commits=order_commits,
        product_commits=product_commits,
        order=ContractClient(order, spec, headers=identities.bearer()),
        product=ContractClient(product, spec, headers=identities.admin()),
        message=ContractClient(message, spec, headers=identities.bearer()),
        payments=ContractClient(order, spec, headers=identities.payments()),
        apps={"order": order, "product": product, "message": message},
        broker=broker,
    )


# -- for the tests: a small shop, and what a test says over and over ---------------------------------------


def pen_and_ink(*, pens: int = 10, ink: int = 3, **order_app_options: Any) -> Services:
    return services(
        Product("pen", "Pen", Decimal("2.50"), pens), Product("ink", "Ink", Decimal("1.20"), ink), **order_app_options
    )


def items(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"items": [{"product_id": product_id, "quantity": quantity} for product_id, quantity in pairs]}


def place(system: Services, *pairs: tuple[str, Any], **kwargs: Any) -> httpx.Response:
    return system.order.post("/orders/order", json=items(*pairs), **kwargs)


def placed_order_id(system: Services, *pairs: tuple[str, Any]) -> str:
    answer = place(system, *pairs)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["order_id"])


def problem_type(answer: httpx.Response) -> str:
    return str(answer.json()["type"])


def published(system: Services) -> list[str]:
    return [event.TYPE for event in system.orders.events.published]


def dead_letter(system: Services, topic: str = "update-stock", value: bytes = b"not json") -> str:
    """A record of `topic` set aside as its consumer would have; the dead letter's ref."""
    headers = [("dlq-reason", b"the value is not JSON"), ("dlq-topic", topic.encode()), ("dlq-partition", b"0")]
    headers += [("dlq-offset", b"7"), ("dlq-at", EPOCH.isoformat().encode())]
    producer = system.broker.producer("test-dead-letters")
    producer.send_all([Message(dead_letter_topic(topic), key=b"o-1", value=value, headers=headers)])
    return str(DeadLetterRef.of(system.broker.records(dead_letter_topic(topic))[-1]))


class UnreachableBroker:
    """A broker that cannot be read: Kafka away."""

    def read(self, topics: Any, **_: Any) -> Any:
        raise MessagingError("no broker answered in time")

    def producer(self, name: str) -> Any:
        raise MessagingError("no broker answered in time")


def kafka_down() -> ContractClient:
    """The Message Service, asked by an admin, with a Kafka it cannot reach."""
    desk = DeadLetters(UnreachableBroker(), topics=["order-status.dlq"], name="message-service")
    app = message_app.create_app(
        views=InMemoryMessageViews(InMemoryMessageUnitOfWork()),
        verifier=identities.verifier(),
        new_id=Ids("message"),
        readiness={},
        dead_letters=dead_letter_endpoints(desk),
    )
    return ContractClient(app, OpenApi.load(), headers=identities.admin())


class UnreachableCatalog:
    async def check(self, lines: Any) -> Availability:
        raise CatalogUnavailable("connection refused")

    async def products(self) -> list[Product]:
        raise CatalogUnavailable("connection refused")
