"""The Product Service's composition root: SQLite and Kafka wired to its app.

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
from adapters.messaging.relay import OutboxRelay
from adapters.metrics import (
    OutboxCollector,
    ProductStockCollector,
    registry_of,
)
from adapters.sqlite.database import Database
from adapters.sqlite.outbox import SqliteOutbox
from adapters.sqlite.products import PRODUCT_SCHEMA, SqliteProductUnitOfWork
from adapters.sqlite.views import SqliteProductViews
from adapters.sqlite.writer import Writer
from entrypoints import product_app
from entrypoints.consumers import product_events
from entrypoints.consuming import consume
from entrypoints.identity import token_verifier
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

GROUP = "product-service"


def create_app(settings: Settings) -> Starlette:
    database = Database(settings.data_dir / "product.db", PRODUCT_SCHEMA)
    broker = KafkaBroker(settings.kafka_bootstrap_servers)
    outbox = SqliteOutbox(database)
    relay = OutboxRelay(outbox, lambda: broker.producer(f"{GROUP}-outbox"), name="product-outbox-relay")

    uow = SqliteProductUnitOfWork(database)  # one for the service, shared by its threads (adapters.sqlite)
    writer = Writer(database)  # where the event loop's units of work run (adapters.sqlite.writer)

    def unit_of_work() -> SqliteProductUnitOfWork:
        return uow

    consumed = product_events(uow=uow, new_id=new_id, clock=utc_now, on_published=relay.wake)
    consuming = consume(broker, group=GROUP, consumed=consumed)
    views = SqliteProductViews(database)
    verifier, verifier_closers = token_verifier(settings)
    return product_app.create_app(
        uow=unit_of_work,
        offload=writer,
        views=views,
        verifier=verifier,
        new_id=new_id,
        readiness={
            "database": database_check(database),
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "outbox": outbox_check(relay, outbox.backlog),
            "consumer": consumer_check(consuming.worker),
        },
        lifespan=background(
            workers=[relay, *consuming.workers()],
            periodic=[prune_job(database, settings, clock=utc_now)],
            closers=[*verifier_closers, broker.close, writer.close, database.close_all],
        ),
        on_commit=relay.wake,
        dead_letters=consuming.endpoints(),
        registry=registry_of(
            ProductStockCollector(views.products),
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
