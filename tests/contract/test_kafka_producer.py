"""What only a real Kafka can do to a producer: refuse a record at the broker, mid-transaction."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from adapters.messaging.broker import Message, TransactionAborted

pytestmark = pytest.mark.kafka


@pytest.fixture
def small_records_topic(kafka_bootstrap_servers, unique):
    """A topic whose broker-side limit (1000 bytes a batch) is far below the client's (1 MB)."""
    name = unique("small-records")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap_servers})
    topic = NewTopic(name, num_partitions=1, replication_factor=1, config={"max.message.bytes": "1000"})
    admin.create_topics([topic])[name].result(timeout=30)
    return name


class TestRejectedRecords:
    def test_a_batch_with_a_record_the_broker_rejects_is_aborted_and_the_next_batch_goes_through(
        self, kafka_messaging, small_records_topic, unique
    ):
        producer = kafka_messaging.broker.producer(unique("relay"))

        with pytest.raises(TransactionAborted):
            producer.send_all(
                [
                    Message(small_records_topic, key=b"order-1", value=b"fits"),
                    Message(small_records_topic, key=b"order-1", value=b"x" * 5000),
                ]
            )
        producer.send_all([Message(small_records_topic, key=b"order-1", value=b"next")])
        consumer = kafka_messaging.broker.consumer(unique("group"), [small_records_topic])
        received = kafka_messaging.receive_until(consumer, lambda r: r.value == b"next")

        assert [r.value for r in received] == [b"next"]
