"""Kafka's own tools agree with our lag: a group that committed every record it was given, its offset is the
partition's end (committed offset = the last stable offset), not one short of it for the transaction marker
after its last record. What `kafka-consumer-groups.sh --describe` shows, read here with the admin API.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from adapters.messaging.broker import Message
from adapters.messaging.topics import Topic
from adapters.messaging.worker import ConsumerWorker

pytestmark = pytest.mark.kafka


def kafka_lag(bootstrap_servers: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """Per partition with records: its last stable offset minus the group's committed offset (admin API)."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    wanted = [TopicPartition(topic, p) for p in range(partitions)]
    ends = admin.list_offsets(
        {tp: OffsetSpec.latest() for tp in wanted}, isolation_level=IsolationLevel.READ_COMMITTED
    )
    end = {tp.partition: future.result().offset for tp, future in ends.items()}
    request = ConsumerGroupTopicPartitions(group, wanted)
    committed = admin.list_consumer_group_offsets([request])[group].result().topic_partitions
    return {tp.partition: end[tp.partition] - tp.offset for tp in committed if end[tp.partition] > 0}


def test_a_worker_that_caught_up_shows_no_lag_to_kafka_s_own_tools(
    kafka_messaging, kafka_bootstrap_servers, unique
):
    topic = kafka_messaging.new_topic(unique("order-status"), partitions=3)
    group = unique("message-service")
    producer = kafka_messaging.broker.producer(unique("producer"))
    for _ in range(3):  # three transactions: three markers on each partition they wrote to
        producer.send_all(Message(topic, key=f"o-{n}".encode(), value=b"{}") for n in range(6))
    producer.close()
    kafka_messaging.broker.create_topics([Topic(f"{topic}.dlq", 3)])
    worker = ConsumerWorker(kafka_messaging.broker, group=group, topics=[topic], apply=lambda event: None)
    worker.start()
    try:
        deadline = time.monotonic() + kafka_messaging.patience_s
        while worker.dead_lettered < 18:  # not events of ours: each is set aside, and committed
            assert time.monotonic() < deadline, f"{worker.dead_lettered} of 18 records handled"
            time.sleep(0.1)
        while (lag := kafka_lag(kafka_bootstrap_servers, group, topic, 3)) and any(lag.values()):
            assert time.monotonic() < deadline, f"Kafka's lag is still {lag}"
            time.sleep(0.2)
    finally:
        worker.stop()

    assert lag and set(lag.values()) == {0}


def three_records_received_and_committed(kafka_messaging, unique):
    """A one-partition topic with three records produced in one transaction, and a group member that received
    them all and committed the last: (topic, group, member, records received)."""
    topic = kafka_messaging.new_topic(unique("orders"), partitions=1)
    group = unique("group")
    producer = kafka_messaging.broker.producer(unique("producer"))
    producer.send_all([Message(topic, key=b"order-1", value=f"event-{n}".encode()) for n in range(3)])
    producer.close()
    member = kafka_messaging.broker.consumer(group, [topic])
    received = kafka_messaging.receive(member, 3)
    member.commit(received[-1])
    return topic, group, member, received


def test_a_member_that_committed_the_last_record_it_was_given_commits_past_its_marker_when_idle(
    kafka_messaging, kafka_bootstrap_servers, unique
):
    topic, group, member, _ = three_records_received_and_committed(kafka_messaging, unique)

    deadline = time.monotonic() + kafka_messaging.patience_s
    while (lag := kafka_lag(kafka_bootstrap_servers, group, topic, 1)) != {0: 0}:
        assert time.monotonic() < deadline, f"Kafka's lag is still {lag}"
        member.poll(timeout_s=0.2)  # idle: the client steps over the marker, the member commits past it
    member.close()

    assert lag == {0: 0}


def test_a_poll_that_does_not_wait_is_not_idle_and_commits_nothing_past_the_marker(
    kafka_messaging, kafka_bootstrap_servers, unique
):
    # A consumer's batch ends with poll(0) finding its queue drained: a synchronous commit there would cost a
    # broker round trip per batch. Only a poll that waited in vain commits past the marker.
    topic, group, member, received = three_records_received_and_committed(kafka_messaging, unique)
    deadline = time.monotonic() + kafka_messaging.patience_s
    past_the_marker = received[-1].offset + 2
    while member._client.position([TopicPartition(topic, 0)])[0].offset < past_the_marker:
        assert time.monotonic() < deadline, "the client never stepped over the marker"
        assert member.poll(0) is None

    for _ in range(3):
        assert member.poll(0) is None
    not_waiting = kafka_lag(kafka_bootstrap_servers, group, topic, 1)
    while (lag := kafka_lag(kafka_bootstrap_servers, group, topic, 1)) != {0: 0}:
        assert time.monotonic() < deadline, f"Kafka's lag is still {lag}"
        member.poll(timeout_s=0.2)
    member.close()

    assert not_waiting == {0: 1}  # the marker still counted: nothing committed by poll(0)
    assert lag == {0: 0}
