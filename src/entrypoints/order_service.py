"""The Order Service's composition root: its database (SQLite, or PostgreSQL: entrypoints.storage), Kafka and
the Product Service's HTTP API, wired to its app.

    uvicorn --factory entrypoints.order_service:create_app_from_environment

Background work: the outbox relay (orders' events to Kafka), a consumer of stock-reservation-rejected (cancel
out of stock), a periodic sweep cancelling orders unpaid for longer than ORDER_PAYMENT_TIMEOUT_S (on the
database's writer thread, like the HTTP side's units of work), the retention job
(entrypoints.retention), and the count of dead letters waiting behind its gauge (entrypoints.consuming).
Its dead letters are an admin's to list and replay over HTTP (entrypoints.dead_letters).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.applications import Starlette

from adapters.http.catalog import spread_product_catalog
from adapters.http.demo_page import DemoSignIn
from adapters.kafka.broker import KafkaBroker
from adapters.logs import log_context, log_json_lines
from adapters.metrics import (
    AvailabilityCollector,
    OrderStatusCollector,
    OutboxCollector,
    registry_of,
)
from adapters.tracecontext import trace_id_for
from entrypoints import order_app
from entrypoints.consumers import order_events
from entrypoints.consuming import consume
from entrypoints.identity import local_issuer, token_verifier
from entrypoints.retention import prune_job, where_of
from entrypoints.runtime import (
    background,
    collect_garbage_less_often,
    consumer_check,
    kafka_check,
    new_id,
    outbox_check,
    outbox_relay,
    utc_now,
)
from entrypoints.settings import Settings
from entrypoints.storage import order_storage
from ordering_core import HoldLimit, OrderUnitOfWork, expire_unpaid_orders

GROUP = "order-service"

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    storage = order_storage(where_of(settings))
    broker = KafkaBroker(settings.kafka_bootstrap_servers)
    outbox = storage.outbox
    relay = outbox_relay(
        broker, outbox, group=GROUP, lease=storage.relay_lease, group_commit_s=settings.outbox_group_commit_ms / 1000
    )
    uow = storage.uow  # one for the service, shared by its threads

    def unit_of_work() -> OrderUnitOfWork:
        return uow

    consumed = order_events(uow=uow, new_id=new_id, clock=utc_now, on_published=relay.wake)
    consuming = consume(
        broker,
        group=GROUP,
        consumed=consumed,
        batch=storage.common.batch,
        on_batch_committed=relay.wake,
        instance=settings.instance_id,
    )
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

        if await storage.offload(sweep):
            relay.wake()

    # One pool of connections per Product Service instance, for the process: that hop is on every order.
    catalog, product_services = spread_product_catalog(
        settings.product_service_url, settings.product_service_timeout_s
    )

    return order_app.create_app(
        uow=unit_of_work,
        offload=storage.offload,
        views=storage.views,
        catalog=catalog,
        idempotency=storage.idempotency,
        verifier=verifier,
        new_id=new_id,
        clock=utc_now,
        hold_limit=HoldLimit(settings.order_max_unpaid_orders, settings.order_max_unpaid_units, payment_timeout),
        demo_sign_in=demo_sign_in,
        readiness={
            "database": storage.common.check,
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "outbox": outbox_check(relay, outbox.backlog),
            "consumer": consumer_check(consuming.worker),
            "product-service": catalog.health,
        },
        lifespan=background(
            workers=[relay, *consuming.workers()],
            periodic=[
                (settings.order_expiry_interval_s, expire),
                prune_job(storage.common.pruner, settings, clock=utc_now),
            ],
            closers=[
                *(transport.aclose for transport in product_services),
                *verifier_closers,
                broker.close,
                *storage.common.closers,
            ],
        ),
        on_commit=relay.wake,
        dead_letters=consuming.endpoints(),
        unavailable=storage.common.unavailable,
        registry=registry_of(
            OrderStatusCollector(storage.orders_by_status),
            OutboxCollector(relay, outbox.backlog),
            AvailabilityCollector(catalog.gathering),
            *consuming.collectors(),
        ),
    )


def create_app_from_environment() -> Starlette:
    settings = Settings.from_environment()
    log_json_lines(GROUP, settings.log_level, instance=settings.instance_id)
    app = create_app(settings)
    collect_garbage_less_often()
    return app
