"""The Message Service's composition root: SQLite and Kafka wired to its app.

    uvicorn --factory entrypoints.message_service:create_app_from_environment

Background work: a consumer of order-status that records each status's message for the customer, the
retention job (entrypoints.retention), and the count of dead letters waiting behind its gauge
(entrypoints.consuming). Its dead letters are an admin's to list and replay
over HTTP (entrypoints.dead_letters).
"""

from __future__ import annotations

from starlette.applications import Starlette

from adapters.kafka.broker import KafkaBroker
from adapters.logs import log_json_lines
from adapters.metrics import registry_of
from adapters.sqlite.database import Database
from adapters.sqlite.messages import MESSAGE_SCHEMA, SqliteMessageUnitOfWork
from adapters.sqlite.views import SqliteMessageViews
from entrypoints import message_app
from entrypoints.consumers import message_events
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
    utc_now,
)
from entrypoints.settings import Settings

GROUP = "message-service"


def create_app(settings: Settings) -> Starlette:
    database = Database(settings.data_dir / "message.db", MESSAGE_SCHEMA)
    broker = KafkaBroker(settings.kafka_bootstrap_servers)
    uow = SqliteMessageUnitOfWork(database)  # one for the service, shared by its threads (adapters.sqlite)

    consumed = message_events(uow=uow)
    consuming = consume(broker, group=GROUP, consumed=consumed)
    verifier, verifier_closers = token_verifier(settings)
    return message_app.create_app(
        views=SqliteMessageViews(database),
        verifier=verifier,
        new_id=new_id,
        readiness={
            "database": database_check(database),
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "consumer": consumer_check(consuming.worker),
        },
        lifespan=background(
            workers=consuming.workers(),
            periodic=[prune_job(database, settings, clock=utc_now)],
            closers=[*verifier_closers, broker.close, database.close_all],
        ),
        dead_letters=consuming.endpoints(),
        registry=registry_of(*consuming.collectors(),),
    )


def create_app_from_environment() -> Starlette:
    settings = Settings.from_environment()
    log_json_lines(GROUP, settings.log_level)
    app = create_app(settings)
    collect_garbage_less_often()
    return app
