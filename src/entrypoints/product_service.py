"""The Product Service's composition root: SQLite and Kafka wired to its app.

    uvicorn --factory entrypoints.product_service:create_app_from_environment

Background work: a consumer of update-stock and restore-canceled-item (the stock ledger: the only place stock
is taken or given back), and the outbox relay (stock-reservation-rejected to Kafka).
"""

from __future__ import annotations

from starlette.applications import Starlette

from adapters.kafka.broker import KafkaBroker
from adapters.kafka.relay import OutboxRelay
from adapters.kafka.topics import RESTORE_CANCELED_ITEM, UPDATE_STOCK
from adapters.kafka.worker import ConsumerWorker
from adapters.sqlite.database import Database
from adapters.sqlite.outbox import SqliteOutbox
from adapters.sqlite.products import PRODUCT_SCHEMA, SqliteProductUnitOfWork
from adapters.sqlite.views import SqliteProductViews
from entrypoints import product_app
from entrypoints.runtime import (
    background,
    collect_garbage_less_often,
    database_check,
    kafka_check,
    new_id,
    outbox_check,
    utc_now,
)
from entrypoints.settings import Settings
from ordering_core import (
    Event,
    StockReleaseRequested,
    StockReservationRequested,
    apply_stock_release,
    apply_stock_reservation,
)

GROUP = "product-service"


def create_app(settings: Settings) -> Starlette:
    database = Database(settings.data_dir / "product.db", PRODUCT_SCHEMA)
    broker = KafkaBroker(settings.kafka_bootstrap_servers)
    outbox = SqliteOutbox(database)
    relay = OutboxRelay(outbox, lambda: broker.producer(f"{GROUP}-outbox"), name="product-outbox-relay")

    uow = SqliteProductUnitOfWork(database)  # one for the service, shared by its threads (adapters.sqlite)

    def unit_of_work() -> SqliteProductUnitOfWork:
        return uow

    def apply(event: Event) -> None:
        if isinstance(event, StockReservationRequested):
            outcome = apply_stock_reservation(event, uow=unit_of_work(), new_id=new_id, now=utc_now())
            if outcome is not None and outcome.rejected:
                relay.wake()
        else:
            assert isinstance(event, StockReleaseRequested)  # the group reads only these two topics
            apply_stock_release(event, uow=unit_of_work())

    ledger = ConsumerWorker(
        broker, group=GROUP, topics=[UPDATE_STOCK.name, RESTORE_CANCELED_ITEM.name], apply=apply
    )
    return product_app.create_app(
        uow=unit_of_work,
        views=SqliteProductViews(database),
        new_id=new_id,
        readiness={
            "database": database_check(database),
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "outbox": outbox_check(relay, outbox.backlog),
        },
        lifespan=background(workers=[relay, ledger], closers=[broker.close, database.close_all]),
        on_commit=relay.wake,
    )


def create_app_from_environment() -> Starlette:
    app = create_app(Settings.from_environment())
    collect_garbage_less_often()
    return app
