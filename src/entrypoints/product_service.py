"""The Product Service's composition root: its database (SQLite, or PostgreSQL: entrypoints.storage) and Kafka
wired to its app.

    uvicorn --factory entrypoints.product_service:create_app_from_environment

Background work: a consumer of update-stock and restore-canceled-item (the stock ledger: the only place stock
is taken or given back), the outbox relay (stock-reservation-rejected to Kafka), the retention job
(entrypoints.retention), and the count of dead letters waiting behind its gauge (entrypoints.consuming).
Its dead letters are an admin's to list and replay over HTTP (entrypoints.dead_letters).
"""

from __future__ import annotations

from starlette.applications import Starlette

from adapters.kafka.broker import KafkaBroker
from adapters.logs import log_json_lines
from adapters.metrics import (
    OutboxCollector,
    ProductStockCollector,
    registry_of,
)
from entrypoints import product_app
from entrypoints.consumers import product_events
from entrypoints.consuming import consume
from entrypoints.identity import token_verifier
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
from entrypoints.storage import product_storage
from ordering_core import ProductUnitOfWork

GROUP = "product-service"


def create_app(settings: Settings) -> Starlette:
    storage = product_storage(where_of(settings))
    broker = KafkaBroker(settings.kafka_bootstrap_servers)
    outbox = storage.outbox
    relay = outbox_relay(
        broker, outbox, group=GROUP, lease=storage.relay_lease, group_commit_s=settings.outbox_group_commit_ms / 1000
    )
    uow = storage.uow  # one for the service, shared by its threads

    def unit_of_work() -> ProductUnitOfWork:
        return uow

    consumed = product_events(uow=uow, new_id=new_id, clock=utc_now, on_published=relay.wake)
    consuming = consume(
        broker,
        group=GROUP,
        consumed=consumed,
        batch=storage.common.batch,
        on_batch_committed=relay.wake,
        instance=settings.instance_id,
    )
    views = storage.views
    verifier, verifier_closers = token_verifier(settings)
    return product_app.create_app(
        uow=unit_of_work,
        offload=storage.offload,
        views=views,
        verifier=verifier,
        new_id=new_id,
        readiness={
            "database": storage.common.check,
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "outbox": outbox_check(relay, outbox.backlog),
            "consumer": consumer_check(consuming.worker),
        },
        lifespan=background(
            workers=[relay, *consuming.workers()],
            periodic=[prune_job(storage.common.pruner, settings, clock=utc_now)],
            closers=[*verifier_closers, broker.close, *storage.common.closers],
        ),
        on_commit=relay.wake,
        dead_letters=consuming.endpoints(),
        unavailable=storage.common.unavailable,
        registry=registry_of(
            ProductStockCollector(views.products),
            OutboxCollector(relay, outbox.backlog),
            *consuming.collectors(),
        ),
    )


def create_app_from_environment() -> Starlette:
    settings = Settings.from_environment()
    log_json_lines(GROUP, settings.log_level, instance=settings.instance_id)
    app = create_app(settings)
    collect_garbage_less_often()
    return app
