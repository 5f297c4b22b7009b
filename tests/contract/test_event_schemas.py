"""asyncapi.yaml, held to the code that writes and reads the records.

- Every record the codec writes is a valid message of its channel: value, key and headers.
- Every record a consumer sets aside is a valid message of the dead-letter channel beside its topic.
- The channels are exactly the topics the services create; the senders and receivers are the services that
  publish and subscribe in the in-process system.
- The value schemas refuse what the codec refuses and accept what it accepts, so they say something; what
  the codec alone can check is listed apart (`TestWhatOnlyTheCodecChecks`).
- Each event channel has one message per schema version the codec reads: the services send the version the
  codec writes, and receive every version it reads. Version 1 of the events about an order is version 2
  without `data.customer_id`, and the codec reads it as version 2 owned by the unidentified customer.
- Valid events whose plain text would leave the contract (a price of 1E+2, an offset with seconds) are
  written in the contract's form all the same.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker, ValidationError, validators
from referencing import Registry
from referencing.jsonschema import DRAFT7, DRAFT202012

from adapters.memory.broker import InMemoryBroker
from adapters.messaging.broker import Record
from adapters.messaging.topics import (
    ALL_TOPICS,
    DEAD_LETTER_REPLAYS,
    DEAD_LETTER_TOPICS,
    TOPICS,
    dead_letter_topic,
)
from adapters.messaging.worker import ConsumerWorker
from adapters.wire.codec import UndecodableEvent, decode, encode, readable_versions
from entrypoints.in_process import InProcessSystem
from ordering_core import (
    EVENT_CLASSES,
    EVENT_TYPES,
    UNIDENTIFIED_CUSTOMER,
    CancelReason,
    Envelope,
    Line,
    OrderCancelled,
    OrderCreated,
    OrderLine,
    OrderPaid,
    OrderStatus,
    OrderStatusChanged,
    Product,
    Shortage,
    StockReleaseRequested,
    StockReservationRejected,
    StockReservationRequested,
    UnavailableLine,
    UnknownOrder,
)
from strategies import events

SPEC_PATH = Path(__file__).resolve().parents[2] / "asyncapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
SPEC_URI = "urn:ordering:asyncapi"
# The topics a service of this system reads: each has a dead-letter topic beside it.
CONSUMED = sorted(topic.name.removesuffix(".dlq") for topic in DEAD_LETTER_TOPICS)


# --- reading the document -----------------------------------------------------------------------------------


def node_at(pointer: str) -> Any:
    """The part of the document at a JSON pointer ("/components/schemas/Id")."""
    node: Any = SPEC
    for escaped in pointer.removeprefix("/").split("/"):
        part = escaped.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def following_refs(pointer: str) -> str:
    """Where a chain of `$ref`s starting at `pointer` ends (the document only refers to itself)."""
    seen = {pointer}
    while isinstance(node := node_at(pointer), dict) and "$ref" in node:
        pointer = node["$ref"].removeprefix("#")
        assert pointer not in seen, f"a $ref cycle through {pointer}"
        seen.add(pointer)
    return pointer


def all_refs(node: Any = SPEC) -> list[str]:
    if isinstance(node, dict):
        return [ref for key, value in node.items() for ref in ([value] if key == "$ref" else all_refs(value))]
    if isinstance(node, list):
        return [ref for item in node for ref in all_refs(item)]
    return []


CHANNELS: dict[str, str] = {
    channel["address"]: f"/channels/{name}" for name, channel in SPEC["channels"].items()
}
# The events about an order, which gained `data.customer_id` at version 2 and are still read at version 1.
READ_AT_VERSION_1_TOO = [cls for cls in EVENT_CLASSES if readable_versions(cls) == (1, 2)]


def messages_of(address: str) -> list[str]:
    """The pointers to the messages of the channel with this address (its topic)."""
    channel = CHANNELS[address]
    return [following_refs(f"{channel}/messages/{name}") for name in node_at(channel)["messages"]]


def version_of(message: str) -> int | None:
    """The schema version of a message's value; None for a dead letter, whose value may be any bytes."""
    payload = node_at(following_refs(f"{message}/payload"))
    return payload.get("properties", {}).get("schema_version", {}).get("const")


def message_of(address: str, version: int | None = None) -> str:
    """The pointer to the channel's message of this schema version: by default the version the codec writes
    (a dead-letter channel has one message)."""
    if version is None and address in EVENT_TYPES:
        version = EVENT_TYPES[address].SCHEMA_VERSION
    (message,) = [message for message in messages_of(address) if version_of(message) == version]
    return message


def following_refs_of(node: dict[str, Any]) -> str:
    """Where the chain of `$ref`s starting at this Reference object ends."""
    return following_refs(node["$ref"].removeprefix("#"))


def service_of(operation: dict[str, Any]) -> str:
    """The name of the service that performs an operation (its one tag)."""
    (tag,) = operation["tags"]
    return node_at(following_refs_of(tag))["name"]


def operations_of(action: str) -> list[dict[str, Any]]:
    return [operation for operation in SPEC["operations"].values() if operation["action"] == action]


def operations(action: str) -> set[tuple[str, str]]:
    """(service, topic) for every operation of this action."""
    return {
        (service_of(operation), node_at(following_refs_of(operation["channel"]))["address"])
        for operation in operations_of(action)
    }


# --- validating against it ----------------------------------------------------------------------------------

# jsonschema asserts "date-time" only when the optional rfc3339-validator is installed, which the test extras
# do not bring: without this, any string would pass as a time. RFC 3339's grammar, then the calendar.
FORMATS = FormatChecker(formats=())
RFC3339_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


@FORMATS.checks("date-time", raises=ValueError)
def is_rfc3339_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if RFC3339_DATE_TIME.fullmatch(instance) is None:
        return False
    datetime.fromisoformat(instance.upper())  # the calendar: February 30 raises ValueError
    return True


def ecma_pattern(validator: Any, pattern: str, instance: object, schema: dict[str, Any]):
    """JSON Schema's `pattern` is an ECMA-262 regex, where `$` is the end of the text; Python's `$` also
    matches before a final newline, which would let "o-1\\n" pass as an id. A final `$` is read as `\\Z`."""
    if (
        validator.is_type(instance, "string")
        and re.search(re.sub(r"(?<!\\)\$$", r"\\Z", pattern), instance) is None
    ):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# AsyncAPI's default schema format is a superset of draft-07; the schemas are written to mean the same there.
DIALECTS = {
    "2020-12": (validators.extend(Draft202012Validator, {"pattern": ecma_pattern}), DRAFT202012),
    "draft-07": (validators.extend(Draft7Validator, {"pattern": ecma_pattern}), DRAFT7),
}


@cache
def schema_at(pointer: str, dialect: str = "2020-12") -> Any:
    """A validator for the schema at `pointer`, its `$ref`s resolved within the document."""
    validator_class, specification = DIALECTS[dialect]
    registry = Registry().with_resource(SPEC_URI, specification.create_resource(SPEC))
    return validator_class({"$ref": f"{SPEC_URI}#{pointer}"}, registry=registry, format_checker=FORMATS)


def payload_schema(address: str, dialect: str = "2020-12", version: int | None = None) -> Any:
    return schema_at(f"{message_of(address, version)}/payload", dialect)


def payload_schemas(address: str, dialect: str = "2020-12") -> list[Any]:
    """One validator per message of the channel: what a consumer of the topic may be given."""
    return [schema_at(f"{message}/payload", dialect) for message in messages_of(address)]


def key_schema(address: str) -> Any:
    return schema_at(f"{message_of(address)}/bindings/kafka/key")


def headers_schema(address: str) -> Any:
    return schema_at(f"{message_of(address)}/headers")


def problems(validator: Any, instance: object) -> list[str]:
    return sorted(f"{e.json_path}: {e.message}" for e in validator.iter_errors(instance))


def headers_of(headers: tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    names = [name for name, _ in headers]
    assert len(set(names)) == len(names), f"a header name repeats: {names}"
    return {name: value.decode() for name, value in headers}


# --- the document and the code name the same things ---------------------------------------------------------


class TestTheDocument:
    def test_is_asyncapi_3_for_the_local_kafka_broker(self):
        assert SPEC["asyncapi"] == "3.0.0"
        assert SPEC["info"]["title"] == "ordering"
        assert {(s["host"], s["protocol"]) for s in SPEC["servers"].values()} == {("127.0.0.1:9092", "kafka")}

    def test_every_ref_points_at_something_in_the_document(self):
        for ref in all_refs():
            assert ref.startswith("#/"), f"{ref} leaves the document"
            node_at(ref.removeprefix("#"))  # raises KeyError for a dangling one

    def test_has_a_channel_for_each_topic_the_services_create_and_no_other(self):
        event_topics = {t.name for t in TOPICS}

        assert event_topics == set(EVENT_TYPES)
        assert (
            set(CHANNELS)
            == {t.name for t in ALL_TOPICS}
            == event_topics | {t.name for t in DEAD_LETTER_TOPICS} | {DEAD_LETTER_REPLAYS.name}
        )

    def test_each_channel_has_the_topic_s_partitions(self):
        for topic in ALL_TOPICS:
            assert node_at(CHANNELS[topic.name])["bindings"]["kafka"]["partitions"] == topic.partitions

    def test_each_event_channel_has_one_message_per_schema_version_the_codec_reads(self):
        for cls in EVENT_CLASSES:
            documented = sorted(version_of(message) for message in messages_of(cls.TYPE))

            assert documented == list(readable_versions(cls))

    def test_each_event_channel_carries_its_event_type_and_schema_version(self):
        for cls in EVENT_CLASSES:
            for version in readable_versions(cls):
                value = node_at(following_refs(f"{message_of(cls.TYPE, version)}/payload"))

                assert value["properties"]["type"] == {"const": cls.TYPE}
                assert value["properties"]["schema_version"] == {"const": version}

    def test_each_value_has_the_envelope_s_fields_and_a_data_object_with_the_event_s_fields(self):
        envelope_fields = {f.name for f in attrs.fields(Envelope)}
        for cls in EVENT_CLASSES:
            value = node_at(following_refs(f"{message_of(cls.TYPE)}/payload"))
            data = value["properties"]["data"]

            assert (
                set(value["properties"])
                == set(value["required"])
                == {"type", "schema_version", "data"} | envelope_fields
            )
            assert set(data["properties"]) == {f.name for f in attrs.fields(cls)} - {"envelope"}
            assert value["additionalProperties"] is False and data["additionalProperties"] is False

    def test_version_1_of_an_event_about_an_order_is_version_2_without_the_customer_id(self):
        for cls in READ_AT_VERSION_1_TOO:
            expected = copy.deepcopy(node_at(following_refs(f"{message_of(cls.TYPE)}/payload")))
            expected["properties"]["schema_version"] = {"const": 1}
            del expected["properties"]["data"]["properties"]["customer_id"]
            expected["properties"]["data"]["required"].remove("customer_id")

            older = node_at(following_refs(f"{message_of(cls.TYPE, 1)}/payload"))

            assert {**older, "title": "(any)"} == {**expected, "title": "(any)"}

    def test_each_line_has_the_fields_of_its_domain_class(self):
        line_classes = {
            "create-order": OrderLine,
            "update-stock": Line,
            "stock-reservation-rejected": UnavailableLine,
        }
        for topic, cls in line_classes.items():
            value = node_at(following_refs(f"{message_of(topic)}/payload"))
            items = value["properties"]["data"]["properties"]["lines"]["items"]

            assert set(items["properties"]) == set(items["required"]) == {f.name for f in attrs.fields(cls)}

    def test_the_enums_are_the_domain_s(self):
        schemas = SPEC["components"]["schemas"]

        assert schemas["OrderStatus"]["enum"] == [member.value for member in OrderStatus]
        assert schemas["CancelReason"]["enum"] == [member.value for member in CancelReason]
        assert schemas["Shortage"]["enum"] == [member.value for member in Shortage]

    def test_every_example_is_exactly_what_the_codec_writes_for_the_event_it_reads_from_it(self):
        for address in EVENT_TYPES:
            for example in node_at(message_of(address))["examples"]:
                value = json.dumps(example["payload"]).encode()

                record = encode(decode(address, value))

                assert json.loads(record.value) == example["payload"]
                assert headers_of(record.headers) == example["headers"]

    def test_every_version_1_example_is_read_as_version_2_owned_by_the_unidentified_customer(self):
        for cls in READ_AT_VERSION_1_TOO:
            examples = node_at(message_of(cls.TYPE, 1))["examples"]
            assert examples, f"no example of {cls.TYPE} version 1"
            for example in examples:
                old = example["payload"]

                record = encode(decode(cls.TYPE, json.dumps(old).encode()))

                assert problems(payload_schema(cls.TYPE, version=1), old) == []
                assert json.loads(record.value) == {
                    **old,
                    "schema_version": 2,
                    "data": {"customer_id": UNIDENTIFIED_CUSTOMER, **old["data"]},
                }
                assert headers_of(record.headers) == example["headers"]

    def test_every_dead_letter_example_has_valid_headers(self):
        for topic in DEAD_LETTER_TOPICS:
            for example in node_at(message_of(topic.name))["examples"]:
                assert problems(headers_schema(topic.name), example["headers"]) == []


class TestOperations:
    def test_each_service_receives_what_the_in_process_system_subscribes_its_consumer_group_to(self):
        system = InProcessSystem([])
        subscribed = {slot.group: set(slot.topics) for slot in system.consumers.values()}

        documented: dict[str, set[str]] = {}
        for operation in SPEC["operations"].values():
            if operation["action"] == "receive":
                group = operation["bindings"]["kafka"]["groupId"]["const"]
                assert group == service_of(operation).lower().replace(" ", "-")
                documented.setdefault(group, set()).add(
                    node_at(following_refs_of(operation["channel"]))["address"]
                )

        assert documented == subscribed

    def test_each_service_sends_the_events_it_publishes_in_the_in_process_system(self):
        system = InProcessSystem([Product("p-1", "Pen", Decimal("2.50"), stock=1)])
        paid = system.place_order([Line("p-1", 1)])
        system.place_order([Line("p-1", 1)])  # passes the advisory check too: one of them will be rejected
        cancelled = system.place_order([Line("p-1", 1)])
        system.pay(paid.order_id, "pay-1")
        system.cancel(cancelled.order_id)
        system.run_until_idle()

        published = {("Order Service", event.TYPE) for event in system.orders.events.published} | {
            ("Product Service", event.TYPE) for event in system.products.events.published
        }

        assert {address for _, address in published} == set(EVENT_TYPES)  # the scenario made every event
        assert {
            (service, address) for service, address in operations("send") if address in EVENT_TYPES
        } == published

    def test_each_service_sends_only_the_schema_version_the_codec_writes(self):
        for operation in operations_of("send"):
            address = node_at(following_refs_of(operation["channel"]))["address"]
            if address in EVENT_TYPES:
                sent = [following_refs_of(message) for message in operation["messages"]]

                assert sent == [message_of(address)]

    def test_each_service_receives_every_schema_version_the_codec_reads(self):
        for operation in operations_of("receive"):
            address = node_at(following_refs_of(operation["channel"]))["address"]
            received = [version_of(following_refs_of(message)) for message in operation["messages"]]

            assert sorted(received) == list(readable_versions(EVENT_TYPES[address]))

    def test_each_consumer_sends_what_it_cannot_apply_to_the_dead_letter_topic_beside_the_topic(self):
        received = operations("receive")
        dead_letters = {
            (service, address)
            for service, address in operations("send")
            if address not in EVENT_TYPES and address != DEAD_LETTER_REPLAYS.name
        }

        assert dead_letters == {(service, dead_letter_topic(address)) for service, address in received}

    def test_each_consumer_marks_the_dead_letters_it_replays(self):
        consumers = {service for service, _ in operations("receive")}

        assert {service for service, address in operations("send") if address == DEAD_LETTER_REPLAYS.name} == consumers

    def test_no_service_of_this_system_reads_the_integration_topics_or_the_dead_letters(self):
        received = {address for _, address in operations("receive")}

        assert received == {
            "update-stock",
            "restore-canceled-item",
            "order-status",
            "stock-reservation-rejected",
        }
        assert received == set(CONSUMED)


# --- every record the code writes is valid ------------------------------------------------------------------


class TestEncodedEvents:
    @given(events())
    def test_the_value_is_valid_against_its_channel_s_payload_schema(self, event):
        record = encode(event)

        assert problems(payload_schema(record.topic), json.loads(record.value)) == []

    @given(events())
    def test_the_key_is_valid_against_its_channel_s_key_schema(self, event):
        record = encode(event)

        assert problems(key_schema(record.topic), record.key.decode()) == []

    @given(events())
    def test_the_headers_are_valid_against_its_channel_s_header_schema(self, event):
        record = encode(event)

        assert problems(headers_schema(record.topic), headers_of(record.headers)) == []


def as_version_1(value: dict[str, Any]) -> dict[str, Any]:
    """A version-2 value as the release before orders had owners wrote it: at version 1, without an owner."""
    data = {name: field for name, field in value["data"].items() if name != "customer_id"}
    return {**value, "schema_version": 1, "data": data}


class TestRecordsOfTheReleaseBeforeOrdersHadOwners:
    """Still in the topics, or in an outbox, when this release starts: read, not dead-lettered."""

    @given(events().filter(lambda event: type(event) in READ_AT_VERSION_1_TOO))
    def test_each_is_valid_against_the_version_1_schema_and_read_as_the_unidentified_customer_s(self, event):
        old = as_version_1(json.loads(encode(event).value))

        read = decode(event.TYPE, json.dumps(old).encode(), key=event.envelope.order_id.encode())

        assert problems(payload_schema(event.TYPE, version=1), old) == []
        assert read == attrs.evolve(event, customer_id=UNIDENTIFIED_CUSTOMER)


def dead_lettered(record: Record, apply) -> Record:
    broker = InMemoryBroker()
    broker.create_topics(ALL_TOPICS)
    worker = ConsumerWorker(broker, group="contract", topics=[record.topic], apply=apply)

    assert worker.handle(record)

    (dead,) = broker.records(dead_letter_topic(record.topic))
    return dead


def refuse(event) -> None:
    raise UnknownOrder(event.envelope.order_id)


class TestDeadLetters:
    @given(
        event=events().filter(lambda e: e.TYPE in CONSUMED),
        value=st.binary(max_size=64),
        partition=st.integers(0, 2),
        offset=st.integers(0, 2**53),
    )
    def test_a_record_that_is_not_an_event_is_set_aside_unchanged_with_valid_headers(
        self, event, value, partition, offset
    ):
        encoded = encode(event)
        record = Record(encoded.topic, partition, offset, encoded.key, value, encoded.headers)

        dead = dead_lettered(record, apply=lambda _: None)

        assert (dead.key, dead.value) == (record.key, record.value)
        assert problems(key_schema(dead.topic), dead.key.decode()) == []
        headers = headers_of(dead.headers)
        assert problems(headers_schema(dead.topic), headers) == []
        assert (headers["dlq-topic"], headers["dlq-partition"], headers["dlq-offset"]) == (
            record.topic,
            str(partition),
            str(offset),
        )

    @given(
        event=events().filter(lambda e: e.TYPE in CONSUMED),
        partition=st.integers(0, 2),
        offset=st.integers(0),
    )
    def test_an_event_the_domain_refuses_is_set_aside_unchanged_with_valid_headers(
        self, event, partition, offset
    ):
        encoded = encode(event)
        record = Record(encoded.topic, partition, offset, encoded.key, encoded.value, encoded.headers)

        dead = dead_lettered(record, apply=refuse)

        assert (dead.key, dead.value) == (record.key, record.value)
        headers = headers_of(dead.headers)
        assert problems(headers_schema(dead.topic), headers) == []
        assert headers["dlq-reason"].startswith("UnknownOrder: ")


# --- the schemas refuse what the codec refuses --------------------------------------------------------------

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
ENVELOPE = Envelope("m-1", NOW, "o-1", "c-1")
CUSTOMER = "auth0|5f7c8ec7"
SAMPLES = {
    "create-order": OrderCreated(
        ENVELOPE, (OrderLine("p-1", 2, Decimal("2.50")),), Decimal("5.00"), customer_id=CUSTOMER
    ),
    "update-stock": StockReservationRequested(ENVELOPE, (Line("p-1", 2),)),
    "paid-order": OrderPaid(ENVELOPE, "pay-1", customer_id=CUSTOMER),
    "cancel-order": OrderCancelled(ENVELOPE, CancelReason.CUSTOMER, customer_id=CUSTOMER),
    "restore-canceled-item": StockReleaseRequested(ENVELOPE),
    "order-status": OrderStatusChanged(ENVELOPE, OrderStatus.UNPAID, customer_id=CUSTOMER),
    "stock-reservation-rejected": StockReservationRejected(
        ENVELOPE, (UnavailableLine("p-1", 2, Shortage.INSUFFICIENT_STOCK, 1),)
    ),
}
MISSING = object()


@attrs.frozen
class Case:
    topic: str
    document: dict[str, Any]


def case(topic: str, **changes: Any) -> Case:
    """The JSON value the codec writes for the sample event of `topic`, changed at the given paths (the path
    `data.lines.0.quantity` is written `data__lines__0__quantity`); MISSING removes the key."""
    document = json.loads(encode(SAMPLES[topic]).value)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is MISSING:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return Case(topic, document)


def codec_reads(c: Case) -> bool:
    try:
        decode(c.topic, json.dumps(c.document).encode())
    except UndecodableEvent:
        return False
    return True


def schema_accepts(c: Case, dialect: str = "2020-12") -> bool:
    """Whether a message of the topic's channel, of any version, accepts the value."""
    return any(not problems(schema, c.document) for schema in payload_schemas(c.topic, dialect))


def version_1(topic: str, **changes: Any) -> Case:
    """The value the release before orders had owners wrote for the sample event of `topic`."""
    return case(topic, **{"schema_version": 1, "data__customer_id": MISSING, **changes})


LINE = {"product_id": "p-1", "quantity": 1}
PRICED_LINE = {"product_id": "p-1", "quantity": 2, "unit_price": "2.50"}

REFUSED = {
    "a price as a JSON number": case("create-order", data__lines__0__unit_price=2.5),
    "a negative price": case("create-order", data__lines__0__unit_price="-2.50", data__total="-5.00"),
    "a price with a third decimal place": case("create-order", data__lines__0__unit_price="2.505"),
    "a price that is not a number": case("create-order", data__lines__0__unit_price="NaN"),
    "an order without its total": case("create-order", data__total=MISSING),
    "an order without lines": case("create-order", data__lines=[], data__total="0"),
    "a field the event does not have": case("create-order", data__gift_wrap=True),
    "a field an order line does not have": case("create-order", data__lines__0__colour="red"),
    "a field the envelope does not have": case("create-order", priority="high"),
    "a quantity of 0": case("update-stock", data__lines__0__quantity=0),
    "a quantity over 10000": case("update-stock", data__lines__0__quantity=10_001),
    "a quantity as a string": case("update-stock", data__lines__0__quantity="2"),
    "a quantity as a boolean": case("update-stock", data__lines__0__quantity=True),
    "101 lines": case("update-stock", data__lines=[LINE] * 101),
    "an id starting with a dash": case("paid-order", data__payment_id="-1"),
    "an id with a space": case("paid-order", data__payment_id="pay 1"),
    "an id of 65 characters": case("paid-order", data__payment_id="p" * 65),
    "an id ending in a newline": case("paid-order", data__payment_id="pay-1\n"),
    "an empty causation id": case("paid-order", causation_id=""),
    "a message without its id": case("paid-order", message_id=MISSING),
    "a time without an offset": case("paid-order", occurred_at="2026-11-25T13:00:00"),
    "a time on February 30": case("paid-order", occurred_at="2026-02-30T13:00:00+00:00"),
    "a time that is not ISO 8601": case("paid-order", occurred_at="25/11/2026 13:00"),
    "another topic's type": case("paid-order", type="cancel-order"),
    "a schema version this consumer does not read": case("paid-order", schema_version=3),
    "a schema version of 0": case("order-status", schema_version=0),
    "a stock message at version 2": case("update-stock", schema_version=2),
    "an unknown cancel reason": case("cancel-order", data__reason="changed_mind"),
    "a payload on restore-canceled-item": case("restore-canceled-item", data__lines=[LINE]),
    "an unknown status": case("order-status", data__status="shipped"),
    "a cancelled status without its reason": case("order-status", data__status="cancelled"),
    "a reason with a status other than cancelled": case("order-status", data__reason="customer"),
    "an unknown shortage": case("stock-reservation-rejected", data__lines__0__reason="discontinued"),
    "a negative stock level": case("stock-reservation-rejected", data__lines__0__available=-1),
    # Forms the encoder never writes. Decimal and datetime.fromisoformat would read each of them, so the
    # codec matches the contract's exact form first.
    "a price in exponent notation": case("create-order", data__lines__0__unit_price="2.5E+0"),
    "a price with a plus sign": case("create-order", data__lines__0__unit_price="+2.50"),
    "a price with spaces around it": case("create-order", data__lines__0__unit_price=" 2.50\n"),
    "a price with an underscore": case("create-order", data__lines__0__unit_price="0_2.50"),
    "a price in Arabic-Indic digits": case("create-order", data__lines__0__unit_price="\u0662.\u0665\u0660"),
    "a price of minus zero": case("create-order", data__lines__0__unit_price="-0", data__total="0"),
    "a time without seconds": case("paid-order", occurred_at="2026-11-25T13:00+00:00"),
    "a time with a space instead of T": case("paid-order", occurred_at="2026-11-25 13:00:00+00:00"),
    "a time with an hours-only offset": case("paid-order", occurred_at="2026-11-25T13:00:00+05"),
    "a schema version of true": case("paid-order", schema_version=True),
    # Every key is required, even one whose value may be null or empty.
    "a message without causation_id": case("paid-order", causation_id=MISSING),
    "a status without reason": case("order-status", data__reason=MISSING),
    "a restore-canceled-item without data": case("restore-canceled-item", data=MISSING),
    # The order's owner: required at version 2, absent at version 1, nowhere else.
    "a version-2 value without its customer id": case("paid-order", data__customer_id=MISSING),
    "a version-1 value with a customer id": case("order-status", schema_version=1),
    "a version-1 value with any other fault": version_1("create-order", data__lines__0__quantity=0),
    "a customer id with a space": case("create-order", data__customer_id="auth0 5f7c8ec7"),
    "a customer id of 256 characters": case("create-order", data__customer_id="c" * 256),
    "an empty customer id": case("cancel-order", data__customer_id=""),
    "a customer id ending in a newline": case("order-status", data__customer_id="auth0|5f7c8ec7\n"),
    "a customer id with a letter outside ASCII": case("order-status", data__customer_id="jos\u00e9"),
    "a customer id as a JSON number": case("paid-order", data__customer_id=248289761001),
    "a null customer id": case("paid-order", data__customer_id=None),
    "a customer id on a stock message": case("update-stock", data__customer_id=CUSTOMER),
}

ACCEPTED = {
    "a price with trailing zeros": case("create-order", data__lines__0__unit_price="2.500"),
    "a price with one decimal place": case(
        "create-order", data__lines__0__unit_price="2.5", data__total="5.0"
    ),
    "a free line": case("create-order", data__lines__0__unit_price="0", data__total="0.00"),
    "a quantity of 10000": case("update-stock", data__lines__0__quantity=10_000),
    "100 lines": case("update-stock", data__lines=[LINE] * 100),
    "an id of 64 characters": case("paid-order", data__payment_id="p" * 64),
    "an id with every kind of allowed character": case("paid-order", data__payment_id="Pay.2026_11:25-x"),
    "a causation id": case("paid-order", causation_id="m-0"),
    "a time in UTC written Z": case("paid-order", occurred_at="2026-11-25T13:00:00Z"),
    "a time with milliseconds and an offset": case("paid-order", occurred_at="2026-11-25T13:00:00.125-08:00"),
    "a cancelled status with its reason": case(
        "order-status", data__status="cancelled", data__reason="out_of_stock"
    ),
    "an unknown product with nothing available": case(
        "stock-reservation-rejected", data__lines__0__reason="unknown_product", data__lines__0__available=0
    ),
    "a customer id from Auth0": case("create-order", data__customer_id="auth0|5f7c8ec7"),
    "the owner of the orders placed before orders had owners": case(
        "paid-order", data__customer_id=UNIDENTIFIED_CUSTOMER
    ),
    "a customer id that is a UUID": case(
        "cancel-order", data__customer_id="0b5e8a34-7c1d-4f2e-9a61-3d2f8c4b7e90"
    ),
    "a customer id of digits": case("order-status", data__customer_id="248289761001"),
    "a customer id of one character": case("order-status", data__customer_id="~"),
    "a customer id of 255 characters": case("order-status", data__customer_id="!" * 255),
    "a version-1 create-order": version_1("create-order"),
    "a version-1 paid-order": version_1("paid-order"),
    "a version-1 cancel-order": version_1("cancel-order"),
    "a version-1 order-status": version_1("order-status"),
    "a version-1 cancelled status with its reason": version_1(
        "order-status", data__status="cancelled", data__reason="out_of_stock"
    ),
}


class TestTheSchemasAreAsStrictAsTheCodec:
    @pytest.mark.parametrize("dialect", DIALECTS)
    @pytest.mark.parametrize("c", REFUSED.values(), ids=REFUSED.keys())
    def test_the_schema_refuses_what_the_codec_refuses(self, c, dialect):
        assert not codec_reads(c)
        assert not schema_accepts(c, dialect)

    @pytest.mark.parametrize("dialect", DIALECTS)
    @pytest.mark.parametrize("c", ACCEPTED.values(), ids=ACCEPTED.keys())
    def test_the_schema_accepts_what_the_codec_reads(self, c, dialect):
        assert codec_reads(c)
        assert schema_accepts(c, dialect)


ONLY_THE_CODEC_CHECKS = {
    "a total that is not the sum of the lines": case("create-order", data__total="4.00"),
    "a product on two lines": case(
        "create-order", data__lines=[PRICED_LINE, PRICED_LINE], data__total="10.00"
    ),
    # JSON Schema compares numbers by value, so 2.0 is an integer there; Python's json reads it as a float.
    "a quantity written 2.0": case("update-stock", data__lines__0__quantity=2.0),
    "a schema version written 2.0": case("paid-order", schema_version=2.0),
    "a version written 1.0 of a version-1 value": version_1("order-status", schema_version=1.0),
    # RFC 3339 bounds an offset's minutes to 59; the Timestamp pattern does not, nor does fromisoformat
    # (the date-time check above), which reads +05:75 as 6 hours 15.
    "an offset of 75 minutes": case("paid-order", occurred_at="2026-11-25T13:00:00+05:75"),
}


class TestWhatOnlyTheCodecChecks:
    """Rules across fields, and 2 versus 2.0, are beyond JSON Schema: the descriptions say them, the codec
    checks them. RFC 3339's bound on an offset's minutes is not beyond it, but the Timestamp pattern leaves
    it out."""

    @pytest.mark.parametrize("c", ONLY_THE_CODEC_CHECKS.values(), ids=ONLY_THE_CODEC_CHECKS.keys())
    def test_the_schema_accepts_and_the_codec_refuses(self, c):
        assert schema_accepts(c)
        assert not codec_reads(c)


# Valid domain events whose plain text is outside the contract: str(Decimal("1E+2")) is "1E+2",
# str(Decimal("-0")) is "-0", and isoformat() writes an offset with seconds as "+01:00:30".
EVENTS_AT_THE_EDGES = {
    "a price the domain holds as Decimal('1E+2')": OrderCreated(
        ENVELOPE, (OrderLine("p-1", 1, Decimal("1E+2")),), Decimal("1E+2"), customer_id=CUSTOMER
    ),
    "a price the domain holds as Decimal('-0')": OrderCreated(
        ENVELOPE, (OrderLine("p-1", 1, Decimal("-0")),), Decimal("-0"), customer_id=CUSTOMER
    ),
    "a time whose UTC offset has seconds": OrderPaid(
        Envelope(
            "m-1", datetime(2026, 11, 25, 13, tzinfo=timezone(timedelta(hours=1, seconds=30))), "o-1", "c-1"
        ),
        "pay-1",
        customer_id=CUSTOMER,
    ),
}


class TestTheEncoderAtTheEdges:
    @pytest.mark.parametrize("event", EVENTS_AT_THE_EDGES.values(), ids=EVENTS_AT_THE_EDGES.keys())
    def test_the_encoder_writes_every_valid_event_in_the_contract_s_form(self, event):
        record = encode(event)

        assert problems(payload_schema(record.topic), json.loads(record.value)) == []
        # Read back, it is the same event: the same amounts, the same instant.
        assert decode(record.topic, record.value, key=record.key) == event
