"""adapters.kafka.codec: every event survives the trip through Kafka's bytes, and a bad record says why."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given

from adapters.kafka.codec import MESSAGE_ID_HEADER, TYPE_HEADER, UndecodableEvent, decode, encode
from ordering_core import Envelope, OrderCreated, OrderLine
from strategies import events

from .examples import NOW


def created() -> OrderCreated:
    return OrderCreated(Envelope("m-1", NOW, "o-1", "c-1"), (OrderLine("p-1", 2, Decimal("2.50")),), Decimal("5.00"))


def document(**changes) -> bytes:
    fields = json.loads(encode(created()).value)
    fields.update(changes)
    return json.dumps(fields).encode()


class TestRoundTrip:
    @given(events())
    def test_decoding_what_was_encoded_gives_the_same_event(self, event):
        record = encode(event)

        assert decode(record.topic, record.value) == event

    @given(events())
    def test_the_key_is_the_order_id_and_the_topic_is_the_event_type(self, event):
        record = encode(event)

        assert (record.topic, record.key) == (event.TYPE, event.envelope.order_id.encode())
        assert dict(record.headers) == {
            TYPE_HEADER: event.TYPE.encode(), MESSAGE_ID_HEADER: event.envelope.message_id.encode()
        }

    def test_money_travels_as_a_decimal_string(self):
        value = json.loads(encode(created()).value)

        assert value["data"]["total"] == "5.00"
        assert value["data"]["lines"][0]["unit_price"] == "2.50"


class TestRefusals:
    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            (None, "the record has no value"),
            (b"{", "the value is not JSON"),
            (b"[]", "the value must be a JSON object, got list"),
            (document(type="ship-order"), "unknown event type 'ship-order'"),
            (document(schema_version=2), "create-order schema_version 2 is not supported"),
            (document(extra=1), "unexpected fields: extra"),
            (document(data=[]), "data must be a JSON object"),
            (document(correlation_id=5), "must be a string, got int @ event.envelope.correlation_id"),
            (document(occurred_at="2026-01-01T00:00:00"), "occurred_at must be"),
            (document(data={"lines": [{"product_id": "p-1", "quantity": "2", "unit_price": "2.50"}],
                            "total": "5.00"}), "must be an integer, got str @ event.lines[0].quantity"),
            (document(data={"lines": [{"product_id": "p-1", "quantity": 2, "unit_price": 2.5}],
                            "total": "5.00"}), 'must be a decimal string such as "12.50", got float'),
            (document(data={"lines": [{"product_id": "p-1", "quantity": 0, "unit_price": "2.50"}],
                            "total": "0.00"}), "quantity must be an integer from 1 to 10000, got 0"),
            (document(data={"lines": [{"product_id": "p-1", "quantity": 2, "unit_price": "2.50"}]}),
             "required field missing @ event.total"),
            (document(data={"lines": [{"product_id": "p-1", "quantity": 2, "unit_price": "2.50"}],
                            "total": "9.00"}), "total must be the sum of the line subtotals"),
        ],
    )
    def test_a_bad_record_is_refused_with_the_reason(self, value, reason):
        with pytest.raises(UndecodableEvent) as refused:
            decode("create-order", value)

        assert reason in refused.value.reason

    def test_an_event_on_the_wrong_topic_is_refused(self):
        with pytest.raises(UndecodableEvent, match="a 'create-order' event does not belong on topic 'update-stock'"):
            decode("update-stock", encode(created()).value)
