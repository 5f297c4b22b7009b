"""Events to Kafka records and back: the one place where an event becomes bytes.

A record's key is the order id (so an order's events stay on one partition, in order); its value is JSON:

    {"type": "order-status", "schema_version": 2, "message_id": "...",
     "occurred_at": "2026-11-25T13:00:00+00:00", "order_id": "...", "correlation_id": "...",
     "causation_id": null, "data": {"customer_id": "auth0|5f7c8ec7", "status": "unpaid", "reason": null}}

The envelope's fields are at the top; every other field of the event, `customer_id` included, is in `data`.

`asyncapi.yaml` is the contract for that form and `tests/contract/test_event_schemas.py` holds this module to
it both ways: every valid event is written in the contract's form, and nothing outside it is read.

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
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, get_args, get_origin

import attrs
from attrs import frozen
from cattrs import BaseConverter, ClassValidationError, IterableValidationError
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.dispatch import StructureHook
from cattrs.errors import AttributeValidationNote, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn
from cattrs.preconf.json import make_converter

from adapters import tracecontext
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

# The contract's forms (asyncapi.yaml, components/schemas), matched whole before a value reaches Decimal or
# datetime, which are far more lenient: Decimal takes " +1_0E-1\n" and Arabic-Indic digits, fromisoformat
# takes "2026-11-25 13:00+05". `[0-9]` rather than `\d`, which matches every Unicode digit; `\Z` rather
# than `$`, which also matches before a final newline.
MONEY = re.compile(r"\A[0-9]+(?:\.[0-9]{1,2}0*)?\Z")
TIMESTAMP = re.compile(
    # RFC 3339 (section 5.6), upper-case T and Z as the contract's pattern has them, seconds required; the
    # offset's hours and minutes are bounded here because fromisoformat reads "+05:75" as 6 h 15 min.
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z"
)

# A value echoed back in a reason is cut to this length: a reason travels in a dead-letter header and a log
# line, where a hostile megabyte string has no place.
_MAX_SHOWN = 80


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


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


# --- writing ------------------------------------------------------------------------------------------------


def _money_text(value: Decimal) -> str:
    # str() writes some values the domain accepts in exponent notation (Decimal("1E+2") -> "1E+2"), which the
    # contract refuses; "f" always writes plain digits. The domain has no rule against -0 (it equals 0), but
    # the contract has no sign, so a zero is written without one.
    return format(value.copy_abs() if value.is_zero() else value, "f")


def _timestamp_text(value: datetime) -> str:
    # An RFC 3339 offset is whole minutes; a Python offset may have seconds (zoneinfo's local mean times,
    # such as Amsterdam's +00:19:32 until 1937), which isoformat() writes as "+00:19:32", outside the
    # contract. Such a time is written as the same instant in UTC rather than refused: the instant is what
    # the event records and what consumers compare, and refusing would make a valid event unpublishable.
    offset = value.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        value = value.astimezone(UTC)
    return value.isoformat()


# --- reading: one hook per kind of wire value ---------------------------------------------------------------


def _money(value: Any, _: type) -> Decimal:
    if not isinstance(value, str):
        raise TypeError(f'must be a decimal string such as "12.50", got {type(value).__name__}')
    if MONEY.match(value) is None:
        raise ValueError(
            f'must be a decimal string such as "12.50" (digits, at most two decimal places, no sign or '
            f"exponent), got {_shown(value)}"
        )
    return Decimal(value)


def _strict_int(value: Any, _: type) -> int:
    # cattrs would turn "3" or 3.9 into 3; a quantity must arrive as a JSON integer (and True is not 1).
    if type(value) is not int:
        raise TypeError(f"must be an integer, got {type(value).__name__}")
    return value


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, got {type(value).__name__}")
    return value


def _enum_member(value: Any, cls: type[StrEnum]) -> StrEnum:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in cls)
        raise ValueError(f"must be one of {allowed}, got {_shown(value)}") from None


def _timestamp(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"must be a date-time string, got {type(value).__name__}")
    if TIMESTAMP.match(value) is None:
        raise ValueError(
            "must be an RFC 3339 date-time with seconds and a UTC offset, such as "
            f'"2026-11-25T13:00:00+00:00", got {_shown(value)}'
        )
    try:
        # Digits beyond microseconds are dropped: the contract allows them, a datetime cannot hold them.
        return datetime.fromisoformat(value)
    except ValueError as error:  # the calendar: February 30, hour 24, second 60
        raise ValueError(f"is not a valid date-time ({error}), got {_shown(value)}") from None


def _is_homogeneous_tuple(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _json_array(cls: Any, converter: BaseConverter) -> StructureHook:
    # cattrs makes a tuple of any iterable: a string would become one line per character, an object one line
    # per key. The contract says array.
    structure = homogenous_tuple_structure_factory(cls, converter)

    def hook(value: Any, _: type) -> Any:
        if not isinstance(value, list):
            raise TypeError(f"must be a JSON array, got {type(value).__name__}")
        return structure(value, cls)

    return hook


def _json_object(cls: type, converter: BaseConverter) -> StructureHook:
    """The attrs class `cls` from a JSON object holding every one of its fields.

    The contract requires every key, even one whose value may be null (`causation_id`, the `reason` of
    order-status): a producer that leaves one out is not writing this schema, whatever the domain class's
    default. So a missing field is refused here before the default could fill it in.
    """
    structure: StructureHook = make_dict_structure_fn(
        cls, converter, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
    )
    defaulted = [field for field in attrs.fields(cls) if field.default is not attrs.NOTHING]

    def hook(value: Any, _: type) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"must be a JSON object, got {type(value).__name__}")
        missing = [field for field in defaulted if field.name not in value]
        if missing:
            raise ClassValidationError(
                f"While structuring {cls.__name__}", [_missing(field, cls) for field in missing], cls
            )
        return structure(value, cls)

    return hook


def _missing(field: attrs.Attribute[Any], cls: type) -> KeyError:
    # Noted as cattrs notes its own missing fields, so `_problems` finds its path the same way.
    error = KeyError(field.name)
    error.add_note(
        AttributeValidationNote(
            f"Structuring class {cls.__name__} @ attribute {field.name}", field.name, field.type
        )
    )
    return error


def _make_converter():
    converter = make_converter(forbid_extra_keys=True)
    converter.register_unstructure_hook(Decimal, _money_text)
    converter.register_structure_hook(Decimal, _money)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(str, _strict_str)
    # The domain's enums are StrEnums: without their own hook, the `str` one above would catch them.
    converter.register_structure_hook(StrEnum, _enum_member)
    converter.register_structure_hook(datetime, _timestamp)
    converter.register_unstructure_hook(datetime, _timestamp_text)
    converter.register_structure_hook_factory(_is_homogeneous_tuple, _json_array)
    converter.register_structure_hook_factory(attrs.has, _json_object)
    return converter


_converter = _make_converter()
_ENVELOPE_FIELDS = tuple(field.name for field in attrs.fields(Envelope))


# --- reading: reasons ---------------------------------------------------------------------------------------

Step = str | int  # a field name or a list index


def _wire_path(steps: tuple[Step, ...]) -> str:
    """Where a field of the structured event is in the JSON value.

    The converter builds an event from `{**data, "envelope": {...}}`: on the wire the envelope's fields are
    at the top of the value and the event's own fields are under `data`.
    """
    steps = steps[1:] if steps[:1] == ("envelope",) else ("data", *steps)
    path = ""
    for step in steps:
        path += f"[{step}]" if isinstance(step, int) else f".{step}" if path else step
    return path or "value"


def _problems(error: BaseException, steps: tuple[Step, ...] = ()) -> list[str]:
    """Every problem under `error` (raised while structuring the field at `steps`) as "what @ where"."""
    if isinstance(error, ClassValidationError | IterableValidationError):
        noted, unnoted = error.group_exceptions()
        problems = []
        for inner, note in noted:
            step = note.name if isinstance(note, AttributeValidationNote) else note.index
            problems += _problems(inner, (*steps, step))
        for inner in unnoted:
            problems += _problems(inner, steps)
        return problems
    if isinstance(error, InvalidValue):
        # A domain class's own rule refused the object at `steps`; the field it names is one of its fields.
        return [f"{error.rule}, got {_shown(error.value)} @ {_wire_path((*steps, error.field))}"]
    if isinstance(error, KeyError):
        what = "required field missing"
    elif isinstance(error, ForbiddenExtraKeysError):
        what = f"unexpected fields: {', '.join(sorted(error.extra_fields))}"
    elif isinstance(error, ValueError | TypeError):
        what = str(error)  # the hooks' own words
    elif isinstance(error, ArithmeticError):
        # Decimal overflows past an exponent of 999999: amounts of a million digits (the contract's pattern
        # has no bound) multiplied and added up by the domain's rules.
        what = f"the amounts are too large to compute with ({type(error).__name__})"
    else:
        what = f"invalid value ({type(error).__name__})"
    return [f"{what} @ {_wire_path(steps)}"]


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
        raise UndecodableEvent(f"unknown event type {_shown(kind)}")
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
        event = _converter.structure({**data, "envelope": envelope}, cls)
    except (ClassValidationError, InvalidValue, ArithmeticError) as error:
        # Detailed validation wraps what a class's own __init__ raises (a domain rule, an overflow in the
        # total's arithmetic) in a ClassValidationError; the bare exceptions are named too, so that a cattrs
        # release letting them through still gives a reason instead of crashing the consumer.
        raise UndecodableEvent("; ".join(_problems(error))) from None
    if key is not None and key != event.envelope.order_id.encode():
        raise UndecodableEvent(
            f"the record's key {_shown(key)} is not the event's order_id {event.envelope.order_id!r}"
        )
    return event
