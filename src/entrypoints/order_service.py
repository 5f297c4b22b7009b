"""The Order Service's composition root: SQLite, Kafka and the Product Service's HTTP API, wired to its app.

    uvicorn --factory entrypoints.order_service:create_app_from_environment

Background work: the outbox relay (orders' events to Kafka), a consumer of stock-reservation-rejected (cancel
out of stock), a periodic sweep cancelling orders unpaid for longer than ORDER_PAYMENT_TIMEOUT_S (on the
database's writer thread, like the HTTP side's units of work: adapters.sqlite.writer), the retention job
(entrypoints.retention), and the count of dead letters waiting behind its gauge (entrypoints.consuming).
Its dead letters are an admin's to list and replay over HTTP (entrypoints.dead_letters).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
from starlette.applications import Starlette

from adapters.http.catalog import HttpProductCatalog, product_service_client
from adapters.http.demo_page import DemoSignIn
from adapters.kafka.broker import KafkaBroker
from adapters.logs import log_context, log_json_lines
from adapters.messaging.relay import OutboxRelay
from adapters.metrics import (
    OrderStatusCollector,
    OutboxCollector,
    registry_of,
)
from adapters.sqlite.database import Database
from adapters.sqlite.idempotency import SqliteIdempotencyStore
from adapters.sqlite.metrics import SqliteOrderCounts
from adapters.sqlite.orders import ORDER_SCHEMA, SqliteOrderUnitOfWork
from adapters.sqlite.outbox import SqliteOutbox
from adapters.sqlite.views import SqliteOrderViews
from adapters.sqlite.writer import Writer
from adapters.tracecontext import trace_id_for
from entrypoints import order_app
from entrypoints.consumers import order_events
from entrypoints.consuming import consume
from entrypoints.identity import local_issuer, token_verifier
from entrypoints.retention import prune_job
from entrypoints.runtime import (
    background,
    collect_garbage_less_often,
    consumer_check,
    database_check,
    kafka_check,
    new_id,
    outbox_check,
    utc_now,
)
from entrypoints.settings import Settings
from ordering_core import HoldLimit, expire_unpaid_orders

GROUP = "order-service"

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    database = Database(settings.data_dir / "order.db", ORDER_SCHEMA)
    broker = KafkaBroker(settings.kafka_bootstrap_servers)
    outbox = SqliteOutbox(database)
    relay = OutboxRelay(outbox, lambda: broker.producer(f"{GROUP}-outbox"), name="order-outbox-relay")

    uow = SqliteOrderUnitOfWork(database)  # one for the service, shared by its threads (adapters.sqlite)
    writer = Writer(database)  # where the event loop's units of work run (adapters.sqlite.writer)

    def unit_of_work() -> SqliteOrderUnitOfWork:
        return uow

    consumed = order_events(uow=uow, new_id=new_id, clock=utc_now, on_published=relay.wake)
    consuming = consume(broker, group=GROUP, consumed=consumed)
    payment_timeout = timedelta(seconds=settings.order_payment_timeout_s)
    verifier, verifier_closers = token_verifier(settings)
    demo_sign_in = DemoSignIn(local_issuer(settings), new_id) if settings.demo_sign_in else None

    async def expire() -> None:
        def sweep() -> int:
            correlation_id = new_id()
            with log_context(correlation_id=correlation_id, trace_id=trace_id_for(correlation_id)):
                expired = expire_unpaid_orders(
                    uow=unit_of_work(),
                    now=utc_now(),
                    timeout=payment_timeout,
                    new_id=new_id,
                    correlation_id=correlation_id,
                )
                for order in expired:
                    log.info("order cancelled", extra={"order_id": order.order_id, "reason": order.cancel_reason})
            return len(expired)

        if await writer(sweep):
            relay.wake()

    # One pooled client for the process: the Product Service hop is on every order.
    product_service = product_service_client(settings.product_service_url, settings.product_service_timeout_s)

    async def product_service_check() -> str | None:
        try:
            answer = await product_service.get("/healthz")
        except httpx.HTTPError as error:
            return f"unreachable at {settings.product_service_url} ({type(error).__name__})"
        return None if answer.status_code == 200 else f"answered {answer.status_code} to /healthz"

    return order_app.create_app(
        uow=unit_of_work,
        offload=writer,
        views=SqliteOrderViews(database),
        catalog=HttpProductCatalog(product_service),
        idempotency=SqliteIdempotencyStore(database, ttl=timedelta(seconds=settings.idempotency_key_ttl_s)),
        verifier=verifier,
        new_id=new_id,
        clock=utc_now,
        hold_limit=HoldLimit(settings.order_max_unpaid_orders, settings.order_max_unpaid_units, payment_timeout),
        demo_sign_in=demo_sign_in,
        readiness={
            "database": database_check(database),
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "outbox": outbox_check(relay, outbox.backlog),
            "consumer": consumer_check(consuming.worker),
            "product-service": product_service_check,
        },
        lifespan=background(
            workers=[relay, *consuming.workers()],
            periodic=[(settings.order_expiry_interval_s, expire), prune_job(database, settings, clock=utc_now)],
            closers=[product_service.aclose, *verifier_closers, broker.close, writer.close, database.close_all],
        ),
        on_commit=relay.wake,
        dead_letters=consuming.endpoints(),
        registry=registry_of(
            OrderStatusCollector(SqliteOrderCounts(database).by_status),
            OutboxCollector(relay, outbox.backlog),
            *consuming.collectors(),
        ),
    )


def create_app_from_environment() -> Starlette:
    settings = Settings.from_environment()
    log_json_lines(GROUP, settings.log_level)
    app = create_app(settings)
    collect_garbage_less_often()
    return app
