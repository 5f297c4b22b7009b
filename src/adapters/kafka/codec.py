"""Events to Kafka records and back: the one place where an event becomes bytes.

A record's key is the order id (so an order's events stay on one partition, in order); its value is JSON:

    {"type": "create-order", "schema_version": 1, "message_id": "...", "occurred_at": "2026-11-25T13:00:00+00:00",
     "order_id": "...", "correlation_id": "...", "causation_id": null, "data": {...the event's payload...}}

Money travels as a decimal string ("12.50"), never a JSON number, so no float ever touches a price. Decoding
is strict: unknown keys, a missing field, a wrong type, a type that does not match the topic or an unknown
schema version raise `UndecodableEvent` with a reason a person can act on; the consumer sends such a record to
the dead-letter topic and moves on.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import attrs
from attrs import frozen
from cattrs import ClassValidationError, transform_error
from cattrs.preconf.json import make_converter

from ordering_core import EVENT_TYPES, Envelope, Event, InvalidValue

# Headers a person (or a tool) can read without parsing the value.
TYPE_HEADER = "ordering-type"
MESSAGE_ID_HEADER = "ordering-message-id"


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


def _decimal_from_json(value: Any, _: type) -> Decimal:
    if not isinstance(value, str):
        raise ValueError(f"must be a decimal string such as \"12.50\", got {type(value).__name__}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"must be a decimal string such as \"12.50\", got {value!r}") from None


def _strict_int(value: Any, _: type) -> int:
    # cattrs would turn "3" or 3.9 into 3; a quantity must arrive as a JSON integer.
    if type(value) is not int:
        raise ValueError(f"must be an integer, got {type(value).__name__}")
    return value


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {type(value).__name__}")
    return value


def _enum_member(value: Any, cls: type[StrEnum]) -> StrEnum:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in cls)
        raise ValueError(f"must be one of {allowed}, got {value!r}") from None


def _aware_datetime(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 timestamp string")
    return datetime.fromisoformat(value)


def _why(error: BaseException, expected: type | None) -> str:
    """One field's problem, in the words of the hook or domain rule that refused it."""
    if isinstance(error, KeyError):
        return "required field missing"
    if isinstance(error, (InvalidValue, ValueError, TypeError)):
        return str(error)
    return f"invalid value, expected {getattr(expected, '__name__', expected)}"


def _make_converter():
    converter = make_converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, _decimal_from_json)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(str, _strict_str)
    # The domain's enums are StrEnums: without their own hook, the `str` one above would catch them.
    converter.register_structure_hook(StrEnum, _enum_member)
    converter.register_structure_hook(datetime, _aware_datetime)
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    return converter


_converter = _make_converter()
_ENVELOPE_FIELDS = tuple(field.name for field in attrs.fields(Envelope))


def encode(event: Event) -> EncodedEvent:
    payload = _converter.unstructure(event)
    envelope = payload.pop("envelope")
    document = {"type": event.TYPE, "schema_version": event.SCHEMA_VERSION, **envelope, "data": payload}
    return EncodedEvent(
        topic=event.TYPE,
        key=event.envelope.order_id.encode(),
        value=json.dumps(document, separators=(",", ":")).encode(),
        headers=((TYPE_HEADER, event.TYPE.encode()), (MESSAGE_ID_HEADER, event.envelope.message_id.encode())),
    )


def decode(topic: str, value: bytes | None) -> Event:
    """The event in a record of `topic`, or `UndecodableEvent` saying why there is none."""
    if value is None:
        raise UndecodableEvent("the record has no value")
    try:
        document = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UndecodableEvent(f"the value is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise UndecodableEvent(f"the value must be a JSON object, got {type(document).__name__}")
    kind = document.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise UndecodableEvent(f"unknown event type {kind!r}")
    if kind != topic:
        raise UndecodableEvent(f"a {kind!r} event does not belong on topic {topic!r}")
    if document.get("schema_version") != cls.SCHEMA_VERSION:
        raise UndecodableEvent(
            f"{kind} schema_version {document.get('schema_version')!r} is not supported "
            f"(this consumer reads version {cls.SCHEMA_VERSION})"
        )
    unexpected = set(document) - {"type", "schema_version", "data", *_ENVELOPE_FIELDS}
    if unexpected:
        raise UndecodableEvent(f"unexpected fields: {', '.join(sorted(unexpected))}")
    data = document.get("data", {})
    if not isinstance(data, dict):
        raise UndecodableEvent("data must be a JSON object")
    envelope = {name: document[name] for name in _ENVELOPE_FIELDS if name in document}
    try:
        return _converter.structure({**data, "envelope": envelope}, cls)
    except ClassValidationError as error:
        raise UndecodableEvent("; ".join(transform_error(error, path="event", format_exception=_why))) from None
    except InvalidValue as error:
        raise UndecodableEvent(str(error)) from None
