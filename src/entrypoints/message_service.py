"""The Message Service's composition root: its database (SQLite, or PostgreSQL: entrypoints.storage) and Kafka
wired to its app.

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
from entrypoints import message_app
from entrypoints.consumers import message_events
from entrypoints.consuming import consume
from entrypoints.identity import token_verifier
from entrypoints.retention import prune_job, where_of
from entrypoints.runtime import (
    background,
    collect_garbage_less_often,
    consumer_check,
    kafka_check,
    new_id,
    utc_now,
)
from entrypoints.settings import Settings
from entrypoints.storage import message_storage

GROUP = "message-service"


def create_app(settings: Settings) -> Starlette:
    storage = message_storage(where_of(settings))
    broker = KafkaBroker(settings.kafka_bootstrap_servers)
    consumed = message_events(uow=storage.uow)  # one unit of work for the service, shared by its threads
    consuming = consume(
        broker, group=GROUP, consumed=consumed, batch=storage.common.batch, instance=settings.instance_id
    )
    verifier, verifier_closers = token_verifier(settings)
    return message_app.create_app(
        views=storage.views,
        verifier=verifier,
        new_id=new_id,
        readiness={
            "database": storage.common.check,
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "consumer": consumer_check(consuming.worker),
        },
        lifespan=background(
            workers=consuming.workers(),
            periodic=[prune_job(storage.common.pruner, settings, clock=utc_now)],
            closers=[*verifier_closers, broker.close, *storage.common.closers],
        ),
        dead_letters=consuming.endpoints(),
        unavailable=storage.common.unavailable,
        registry=registry_of(*consuming.collectors(),),
    )


def create_app_from_environment() -> Starlette:
    settings = Settings.from_environment()
    log_json_lines(GROUP, settings.log_level, instance=settings.instance_id)
    app = create_app(settings)
    collect_garbage_less_often()
    return app
