"""The broker is real Apache Kafka, and we use confluent-kafka the way our services will.

Each test works on offsets it read just before acting, or on topics of its own, so it holds on a shared cluster
(KAFKA_BOOTSTRAP_SERVERS) as well as on the throwaway one the session starts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.kafka

WAIT_S = 30.0


def transactional_producer(bootstrap: str) -> Producer:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"test-{uuid.uuid4().hex}",
            "enable.idempotence": True,
        }
    )
    producer.init_transactions(WAIT_S)
    return producer


def consumer(bootstrap: str, group: str | None = None) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group or f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )


def end_offsets(bootstrap: str, topic: str) -> list[TopicPartition]:
    """Where each partition of `topic` ends now: reading from here sees only what is written later."""
    probe = consumer(bootstrap)
    try:
        partitions = probe.list_topics(topic, timeout=WAIT_S).topics[topic].partitions
        return [
            TopicPartition(topic, p, probe.get_watermark_offsets(TopicPartition(topic, p), timeout=WAIT_S)[1])
            for p in partitions
        ]
    finally:
        probe.close()


def poll_until(source: Consumer, done: Callable[[list[Message]], bool]) -> list[Message]:
    """Poll until `done(received)` holds; fail with what arrived if it does not within WAIT_S."""
    received: list[Message] = []
    deadline = time.monotonic() + WAIT_S
    while not done(received):
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT_S:.0f} s with {len(received)} records: {values(received)}")
        message = source.poll(0.5)
        if message is None:
            continue
        if message.error():
            # PARTITION_EOF is off by default; anything else is a real failure worth seeing.
            pytest.fail(f"consumer error: {message.error()}")
        received.append(message)
    return received


def values(messages: Iterable[Message]) -> list[bytes]:
    return [m.value() for m in messages]


class TestTransactions:
    def test_records_on_two_topics_in_one_transaction_are_both_seen(self, kafka_bootstrap_servers):
        order_id = f"order-{uuid.uuid4().hex}".encode()
        start = end_offsets(kafka_bootstrap_servers, "create-order") + end_offsets(
            kafka_bootstrap_servers, "update-stock"
        )
        producer = transactional_producer(kafka_bootstrap_servers)

        producer.begin_transaction()
        producer.produce("create-order", key=order_id, value=b"created " + order_id)
        producer.produce("update-stock", key=order_id, value=b"reserve " + order_id)
        producer.commit_transaction(WAIT_S)

        reader = consumer(kafka_bootstrap_servers)
        reader.assign(start)
        ours = [m for m in poll_until(reader, lambda got: sum(m.key() == order_id for m in got) == 2)
                if m.key() == order_id]
        reader.close()
        assert sorted((m.topic(), m.value()) for m in ours) == [
            ("create-order", b"created " + order_id),
            ("update-stock", b"reserve " + order_id),
        ]

    def test_an_aborted_transaction_is_never_seen_by_a_read_committed_consumer(self, kafka_bootstrap_servers):
        # One key, so the aborted records and the marker share a partition: a read_committed consumer that
        # reaches the marker has passed every offset where the aborted records were written.
        order_id = f"order-{uuid.uuid4().hex}".encode()
        start = end_offsets(kafka_bootstrap_servers, "create-order")
        producer = transactional_producer(kafka_bootstrap_servers)

        producer.begin_transaction()
        producer.produce("create-order", key=order_id, value=b"aborted-1")
        producer.produce("create-order", key=order_id, value=b"aborted-2")
        producer.flush(WAIT_S)  # the records reach the log before the abort, as in a real failure
        producer.abort_transaction(WAIT_S)
        producer.begin_transaction()
        producer.produce("create-order", key=order_id, value=b"marker")
        producer.commit_transaction(WAIT_S)

        reader = consumer(kafka_bootstrap_servers)
        reader.assign(start)
        ours = [m for m in poll_until(reader, lambda got: b"marker" in values(got)) if m.key() == order_id]
        reader.close()
        assert values(ours) == [b"marker"]


class TestConsumerGroups:
    @pytest.fixture
    def topic(self, kafka_bootstrap_servers, unique) -> str:
        name = unique("group-test")
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap_servers})
        admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(WAIT_S)
        return name

    def test_a_new_member_resumes_right_after_the_committed_offset(self, kafka_bootstrap_servers, topic, unique):
        group = unique("group")
        producer = Producer({"bootstrap.servers": kafka_bootstrap_servers, "enable.idempotence": True})
        for n in range(6):
            producer.produce(topic, key=b"order-1", value=f"event-{n}".encode())
        assert producer.flush(WAIT_S) == 0
        first = consumer(kafka_bootstrap_servers, group)
        first.subscribe([topic])

        processed = poll_until(first, lambda got: len(got) == 3)
        first.commit(message=processed[-1], asynchronous=False)  # after processing, never before
        first.close()
        second = consumer(kafka_bootstrap_servers, group)
        second.subscribe([topic])
        resumed = poll_until(second, lambda got: len(got) == 3)
        second.close()

        assert values(processed) == [b"event-0", b"event-1", b"event-2"]
        assert values(resumed) == [b"event-3", b"event-4", b"event-5"]

    def test_what_a_member_read_but_did_not_commit_is_delivered_again(
        self, kafka_bootstrap_servers, topic, unique
    ):
        group = unique("group")
        producer = Producer({"bootstrap.servers": kafka_bootstrap_servers, "enable.idempotence": True})
        for n in range(4):
            producer.produce(topic, key=b"order-1", value=f"event-{n}".encode())
        assert producer.flush(WAIT_S) == 0
        first = consumer(kafka_bootstrap_servers, group)
        first.subscribe([topic])

        read = poll_until(first, lambda got: len(got) == 4)
        first.commit(message=read[1], asynchronous=False)  # handled two, then "crashed"
        first.close()
        second = consumer(kafka_bootstrap_servers, group)
        second.subscribe([topic])
        redelivered = poll_until(second, lambda got: len(got) == 2)
        second.close()

        assert values(redelivered) == [b"event-2", b"event-3"]


class TestPartitioningByKey:
    def test_every_record_of_one_order_lands_on_the_same_partition_in_order(self, kafka_bootstrap_servers):
        # Fixed keys, so the spread over partitions is the same on every run; a run id in the values tells
        # this run's records from earlier ones on a shared cluster.
        run = uuid.uuid4().hex.encode()
        order_ids = [b"order-%d" % n for n in range(8)]
        start = end_offsets(kafka_bootstrap_servers, "update-stock")
        producer = Producer({"bootstrap.servers": kafka_bootstrap_servers, "enable.idempotence": True})

        for n in range(5):
            for order_id in order_ids:
                producer.produce("update-stock", key=order_id, value=b"%s %d" % (run, n))
        assert producer.flush(WAIT_S) == 0

        reader = consumer(kafka_bootstrap_servers)
        reader.assign(start)
        received = [m for m in poll_until(reader, lambda got: sum(m.value().startswith(run) for m in got) == 40)
                    if m.value().startswith(run)]
        reader.close()
        partitions: dict[bytes, set[int]] = {}
        sequence: dict[bytes, list[bytes]] = {}
        for message in received:
            partitions.setdefault(message.key(), set()).add(message.partition())
            sequence.setdefault(message.key(), []).append(message.value().split()[1])
        assert {key: len(found) for key, found in partitions.items()} == dict.fromkeys(order_ids, 1)
        assert sequence == {key: [b"0", b"1", b"2", b"3", b"4"] for key in order_ids}
        assert len(set().union(*partitions.values())) > 1, "these 8 keys spread over the 3 partitions"
