"""Events to Kafka records and back: the one place where an event becomes bytes.

A record's key is the order id (so an order's events stay on one partition, in order); its value is JSON:

    {"type": "order-status", "schema_version": 2, "message_id": "...",
     "occurred_at": "2026-11-25T13:00:00+00:00", "order_id": "...", "correlation_id": "...",
     "causation_id": null, "data": {"customer_id": "auth0|5f7c8ec7", "status": "unpaid", "reason": null}}

The envelope's fields are at the top; every other field of the event, `customer_id` included, is in `data`.

Each value (money, quantities, times, ids, arrays, objects) is read and written by the strict converter in
`adapters.wire.converter`; this module builds events from them and checks what spans the value (its type
against the topic, its schema version, its key). `asyncapi.yaml` is the contract for that form and
`tests/contract/test_event_schemas.py` holds this module to it both ways: every valid event is written in the
contract's form, and nothing outside it is read.

Money travels as a decimal string ("12.50"), never a JSON number, so no float ever touches a price. Decoding
is strict: an unknown or missing key (every key is required, even one whose value may be null), a wrong type,
a value not in the contract's exact form, a type that does not match the topic, a schema version it does not
read or a key that is not the event's order id raise `UndecodableEvent`. Its reason names what is wrong and
where, by the field's path in the JSON value
(`must be an integer from 1 to 10000, got 0 @ data.lines[0].quantity`), so a person reading a dead-letter
record can act on it; the consumer sends such a record to the dead-letter topic and moves on.

This module writes each event at its current `SCHEMA_VERSION` only, and reads that version and the older ones
in `_READABLE_OLD_VERSIONS`: records the previous release wrote can still wait in a topic or in a service's
outbox when this release starts. An older record is read as the current event, exactly as strictly as a
current one (see `_upgraded`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs
from attrs import frozen
from cattrs import ClassValidationError

from adapters import tracecontext
from adapters.wire.converter import make_wire_converter, problems, shown
from ordering_core import (
    EVENT_TYPES,
    UNIDENTIFIED_CUSTOMER,
    Envelope,
    Event,
    InvalidValue,
    OrderCancelled,
    OrderCreated,
    OrderPaid,
    OrderStatusChanged,
)

# Headers a person (or a tool) can read without parsing the value; `traceparent` (W3C Trace Context) lets a
# tracing tool follow one order's flow across the services (adapters.tracecontext).
TYPE_HEADER = "ordering-type"
MESSAGE_ID_HEADER = "ordering-message-id"
TRACEPARENT_HEADER = tracecontext.HEADER


class UndecodableEvent(Exception):
    """A record that is not a valid event of its topic; `reason` says what is wrong with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@frozen
class EncodedEvent:
    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


_converter = make_wire_converter()
_ENVELOPE_FIELDS = tuple(field.name for field in attrs.fields(Envelope))


# --- reading: older schema versions -------------------------------------------------------------------------

# The one older version each event is still read at. Version 2 of the events about an order added the order's
# `customer_id`; a record the previous release wrote (to a topic, or to an outbox row it had not published
# yet) lacks it. Refused, it would be dead-lettered: the customer never told of the status (order-status),
# the other teams never told of an order whose stock was reserved (create-order, paid-order, cancel-order).
# So a consumer reads it as its version-2 event owned by UNIDENTIFIED_CUSTOMER, the owner the database
# upgrade gives that release's orders: the customer message lands with its order. The stock messages did not
# change and are read at version 1 only.
_READABLE_OLD_VERSIONS: Mapping[type[Event], int] = MappingProxyType(
    {OrderCreated: 1, OrderPaid: 1, OrderCancelled: 1, OrderStatusChanged: 1}
)


def readable_versions(cls: type[Event]) -> tuple[int, ...]:
    """The schema versions of `cls` this consumer reads, oldest first; it writes only the last."""
    old = _READABLE_OLD_VERSIONS.get(cls)
    return (cls.SCHEMA_VERSION,) if old is None else (old, cls.SCHEMA_VERSION)


def _versions_text(versions: tuple[int, ...]) -> str:
    *earlier, last = versions
    return f"versions {', '.join(map(str, earlier))} and {last}" if earlier else f"version {last}"


def _upgraded(data: dict[str, Any]) -> dict[str, Any]:
    """The `data` of a version-1 event about an order as its version 2: owned by the unidentified customer.

    Only the owner is filled in; the result is then checked like any version-2 record. A version-1 record
    that already names an owner is not one the previous release wrote, so it is refused rather than trusted.
    """
    if "customer_id" in data:
        raise UndecodableEvent("unexpected fields: customer_id @ data")
    return {**data, "customer_id": UNIDENTIFIED_CUSTOMER}


# --- the two directions -------------------------------------------------------------------------------------


def encode(event: Event) -> EncodedEvent:
    payload = _converter.unstructure(event)
    envelope = payload.pop("envelope")
    document = {"type": event.TYPE, "schema_version": event.SCHEMA_VERSION, **envelope, "data": payload}
    return EncodedEvent(
        topic=event.TYPE,
        key=event.envelope.order_id.encode(),
        value=json.dumps(document, separators=(",", ":")).encode(),
        headers=(
            (TYPE_HEADER, event.TYPE.encode()),
            (MESSAGE_ID_HEADER, event.envelope.message_id.encode()),
            (
                TRACEPARENT_HEADER,
                tracecontext.for_message(event.envelope.correlation_id, event.envelope.message_id).header_value(),
            ),
        ),
    )


def decode(topic: str, value: bytes | None, key: bytes | None = None) -> Event:
    """The event in a record of `topic`, or `UndecodableEvent` saying why there is none.

    `key`, when given, must be the event's order id: a record under another key sits on another order's
    partition, where its order relative to the order's other events is not kept.
    """
    if value is None:
        raise UndecodableEvent("the record has no value")
    try:
        # UTF-8 only, as JSON between systems must be (RFC 8259); json.loads would also guess UTF-16 or 32.
        document = json.loads(value.decode("utf-8"))
    except ValueError as error:  # not UTF-8, not JSON, or an integer longer than Python reads (4300 digits)
        raise UndecodableEvent(f"the value is not JSON: {error}") from None
    except RecursionError:
        raise UndecodableEvent(
            "the value is not JSON this consumer can read: it is nested too deeply"
        ) from None
    if not isinstance(document, dict):
        raise UndecodableEvent(f"the value must be a JSON object, got {type(document).__name__}")
    kind = document.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise UndecodableEvent(f"unknown event type {shown(kind)}")
    if kind != topic:
        raise UndecodableEvent(f"a {kind!r} event does not belong on topic {topic!r}")
    if "schema_version" not in document:
        raise UndecodableEvent("required field missing @ schema_version")
    version = document["schema_version"]
    if type(version) is not int:  # JSON's true and 1.0 are not the version 1 (Python: True == 1.0 == 1)
        raise UndecodableEvent(f"must be an integer, got {type(version).__name__} @ schema_version")
    if version not in readable_versions(cls):
        raise UndecodableEvent(
            f"{kind} schema_version {version} is not supported "
            f"(this consumer reads {_versions_text(readable_versions(cls))})"
        )
    unexpected = set(document) - {"type", "schema_version", "data", *_ENVELOPE_FIELDS}
    if unexpected:
        raise UndecodableEvent(f"unexpected fields: {', '.join(sorted(unexpected))}")
    if "data" not in document:  # even an event without a payload carries "data": {}
        raise UndecodableEvent("required field missing @ data")
    data = document["data"]
    if not isinstance(data, dict):
        raise UndecodableEvent(f"must be a JSON object, got {type(data).__name__} @ data")
    if "envelope" in data:  # the name the envelope takes below: a key of that name would be overwritten
        raise UndecodableEvent("unexpected fields: envelope @ data")
    if version != cls.SCHEMA_VERSION:
        data = _upgraded(data)
    envelope = {name: document[name] for name in _ENVELOPE_FIELDS if name in document}
    try:
        # `cls` is one of the event classes (a union), which mypy cannot solve the converter's type for.
        event: Event = _converter.structure({**data, "envelope": envelope}, cls)
    except (ClassValidationError, InvalidValue, ArithmeticError) as error:
        # Detailed validation wraps what a class's own __init__ raises (a domain rule, an overflow in the
        # total's arithmetic) in a ClassValidationError; the bare exceptions are named too, so that a cattrs
        # release letting them through still gives a reason instead of crashing the consumer.
        raise UndecodableEvent("; ".join(problems(error))) from None
    if key is not None and key != event.envelope.order_id.encode():
        raise UndecodableEvent(
            f"the record's key {shown(key)} is not the event's order_id {event.envelope.order_id!r}"
        )
    return event
