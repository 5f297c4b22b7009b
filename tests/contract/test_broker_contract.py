"""What every messaging adapter promises, run unchanged against the in-memory broker and a real Kafka.

Each test makes its own topics and groups (`unique`), so tests are independent and may share a cluster.
Offsets are compared, never computed: Kafka's transaction markers take offsets of their own.
"""

from __future__ import annotations

import time

import pytest

from adapters.memory.partitioner import partition_for_key
from adapters.messaging.broker import (
    CommitFailed,
    GroupNotEmpty,
    Message,
    MessagingError,
    ProducerFenced,
    ReadIncomplete,
    UnknownTopic,
)


class Boom(Exception):
    """An application failure in the middle of a batch."""


def values(records):
    return [r.value for r in records]


def lag_when(messaging, consumer, where, expected, awaited):
    """The member's lag on `where` once `expected` holds for it, polling meanwhile (Kafka's client brings
    what it knows up to date inside `poll`); fails, saying what it was, if that does not happen in time."""
    deadline = time.monotonic() + messaging.patience_s
    while not expected(seen := consumer.lag().get(where)):
        if time.monotonic() >= deadline:
            pytest.fail(
                f"waited {messaging.patience_s:.0f} s for the lag of {where} to be {awaited}; it is {seen}",
                pytrace=False,
            )
        consumer.poll(timeout_s=0.1)
    return seen


def numbered(topic, prefix, count, *, key=None):
    """Messages valued prefix-0, prefix-1, ...; keyed order-0, order-1, ... (several partitions) or `key`."""
    return [
        Message(topic, key=key or f"order-{n}".encode(), value=f"{prefix}-{n}".encode()) for n in range(count)
    ]


def on_every_partition(topic, partitions, per_partition):
    """`per_partition` messages for each partition of `topic`, keyed so that each lands where it is meant to."""
    keys = (f"order-{n}".encode() for n in range(1_000))
    key_of = {}
    while len(key_of) < partitions:
        key = next(keys)
        key_of.setdefault(partition_for_key(key, partitions), key)
    return [
        Message(topic, key=key_of[p], value=f"p{p}-{n}".encode())
        for n in range(per_partition)
        for p in range(partitions)
    ]


def read_when(messaging, topics, done, awaited):
    """`Broker.read(topics)` once `done` holds for what it read. Kafka writes a transaction's markers after
    the commit returns, so a read right after it may still end before the records; fails, saying what was
    read, if that does not change in time."""
    deadline = time.monotonic() + messaging.patience_s
    while not done(read := messaging.broker.read(topics)):
        if time.monotonic() >= deadline:
            pytest.fail(f"waited {messaging.patience_s:.0f} s for {awaited}; read {values(read)}", pytrace=False)
    return read


def in_log_order(records):
    return sorted(records, key=lambda r: (r.topic, r.partition, r.offset))


def receive_together(messaging, members, count):
    """The next `count` records the `members` of a group are given between them, one list per member. They
    poll in turn, as each Kafka member gives up and gets partitions only inside `poll`. Fails, saying what
    came, if the records do not all come in time."""
    received = [[] for _ in members]
    deadline = time.monotonic() + messaging.patience_s
    while sum(map(len, received)) < count:
        polled = [member.poll(timeout_s=0.1) for member in members]
        for mine, record in zip(received, polled, strict=True):
            if record is not None:
                mine.append(record)
        if all(record is None for record in polled) and time.monotonic() >= deadline:
            shown = (", ".join(f"{r.partition}@{r.offset}={r.value!r}" for r in mine) for mine in received)
            pytest.fail(
                f"waited {messaging.patience_s:.0f} s for {count} record(s); the members received "
                + "; ".join(each or "nothing" for each in shown),
                pytrace=False,
            )
    return received


class TestPartitioning:
    def test_records_with_one_key_land_on_one_partition_in_the_order_sent(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"), partitions=3)
        producer = messaging.broker.producer(unique("producer"))
        sent = [(f"order-{n % 2}".encode(), f"event-{n}".encode()) for n in range(8)]

        for key, value in sent:
            with producer.transaction() as batch:
                batch.send(topic, key=key, value=value)
        received = messaging.receive(messaging.broker.consumer(unique("group"), [topic]), len(sent))

        for key in (b"order-0", b"order-1"):
            of_key = [r for r in received if r.key == key]
            assert len({r.partition for r in of_key}) == 1
            assert values(of_key) == [value for k, value in sent if k == key]

    @pytest.mark.parametrize("partitions", [2, 3, 7])
    def test_a_key_lands_on_the_partition_the_java_clients_murmur2_partitioner_picks(
        self, messaging, unique, partitions
    ):
        topic = messaging.new_topic(unique("orders"), partitions=partitions)
        producer = messaging.broker.producer(unique("producer"))
        keys = [b"", b"a", b"order-1", b"order-2", b"\x00\xff\x10", "ünïcødé".encode(), b"x" * 61]
        keys += [f"8f14e45f-ceea-467a-9af0-{n:012d}".encode() for n in range(10)]

        producer.send_all(Message(topic, key=key, value=b"v") for key in keys)
        received = messaging.receive(messaging.broker.consumer(unique("group"), [topic]), len(keys))

        assert {r.key: r.partition for r in received} == {k: partition_for_key(k, partitions) for k in keys}


class TestRecordContents:
    def test_a_record_arrives_with_the_key_value_and_headers_it_was_sent_with(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        producer = messaging.broker.producer(unique("producer"))
        headers = (("message-id", b"m-1"), ("type", b"OrderPlaced"), ("type", b"repeated names are kept"))

        with producer.transaction() as batch:
            batch.send(topic, key=b"order-1", value=b'{"total": 3}', headers=headers)
            batch.send(topic, key=None, value=b"keyless", headers=())
        received = messaging.receive(messaging.broker.consumer(unique("group"), [topic]), 2)

        by_value = {r.value: r for r in received}
        assert by_value[b'{"total": 3}'].key == b"order-1"
        assert by_value[b'{"total": 3}'].headers == headers
        assert by_value[b'{"total": 3}'].topic == topic
        assert by_value[b"keyless"].key is None
        assert by_value[b"keyless"].headers == ()
        assert 0 <= by_value[b"keyless"].partition < 3

    def test_sending_to_a_topic_that_does_not_exist_is_refused(self, messaging, unique):
        producer = messaging.broker.producer(unique("producer"))

        with pytest.raises(UnknownTopic), producer.transaction() as batch:
            batch.send(unique("no-such-topic"), key=b"k", value=b"v")


class TestTransactions:
    def test_every_record_of_a_committed_transaction_is_delivered(self, messaging, unique):
        orders, stock = messaging.new_topic(unique("orders")), messaging.new_topic(unique("stock"))
        producer = messaging.broker.producer(unique("producer"))

        with producer.transaction() as batch:
            for n in range(5):
                batch.send(orders, key=f"order-{n}".encode(), value=f"placed-{n}".encode())
                batch.send(stock, key=f"order-{n}".encode(), value=f"reserve-{n}".encode())
        received = messaging.receive(messaging.broker.consumer(unique("group"), [orders, stock]), 10)

        assert sorted(values(received)) == sorted(
            [f"placed-{n}".encode() for n in range(5)] + [f"reserve-{n}".encode() for n in range(5)]
        )

    def test_no_record_of_an_aborted_transaction_is_ever_delivered(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all([Message(topic, key=b"order-1", value=b"before")])

        with pytest.raises(Boom), producer.transaction() as batch:
            batch.send(topic, key=b"order-1", value=b"aborted-1")
            batch.send(topic, key=b"order-1", value=b"aborted-2")
            raise Boom()
        # Same key, same partition: had the aborted records been visible, they would come before this.
        producer.send_all([Message(topic, key=b"order-1", value=b"marker")])
        received = messaging.receive_until(
            messaging.broker.consumer(unique("group"), [topic]), lambda r: r.value == b"marker"
        )

        assert values(received) == [b"before", b"marker"]

    def test_send_all_publishes_its_messages_together(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        producer = messaging.broker.producer(unique("producer"))

        producer.send_all(numbered(topic, "event", 3, key=b"order-1"))
        received = messaging.receive(messaging.broker.consumer(unique("group"), [topic]), 3)

        assert values(received) == [b"event-0", b"event-1", b"event-2"]

    def test_a_producer_is_fenced_once_another_takes_its_name(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        name = unique("relay")
        zombie = messaging.broker.producer(name)

        successor = messaging.broker.producer(name)
        with pytest.raises(ProducerFenced), zombie.transaction() as batch:
            batch.send(topic, key=b"order-1", value=b"from the zombie")
        successor.send_all([Message(topic, key=b"order-1", value=b"marker")])
        received = messaging.receive_until(
            messaging.broker.consumer(unique("group"), [topic]), lambda r: r.value == b"marker"
        )

        assert values(received) == [b"marker"]


class TestOffsetsInATransaction:
    """A consumer's progress committed with a producer's records: both happen, or neither."""

    def test_offsets_sent_with_a_committed_transaction_are_the_group_s_commit(self, messaging, unique):
        source, sink = messaging.new_topic(unique("orders")), messaging.new_topic(unique("orders.dlq"))
        group = unique("group")
        messaging.broker.producer(unique("producer")).send_all(numbered(source, "event", 3, key=b"order-1"))
        member = messaging.broker.consumer(group, [source])
        read = messaging.receive(member, 3)
        copier = messaging.broker.producer(unique("copier"))

        with copier.transaction() as batch:
            batch.send(sink, key=read[1].key, value=read[1].value)
            batch.commit_offsets(member, read[1])
        member.close()
        resumed = messaging.receive(messaging.broker.consumer(group, [source]), 1)
        copied = messaging.receive(messaging.broker.consumer(unique("reader"), [sink]), 1)

        assert values(resumed) == [b"event-2"]
        assert values(copied) == [b"event-1"]

    def test_offsets_sent_with_an_aborted_transaction_are_not_committed(self, messaging, unique):
        source, sink = messaging.new_topic(unique("orders")), messaging.new_topic(unique("orders.dlq"))
        group = unique("group")
        messaging.broker.producer(unique("producer")).send_all(numbered(source, "event", 2, key=b"order-1"))
        member = messaging.broker.consumer(group, [source])
        read = messaging.receive(member, 2)
        copier = messaging.broker.producer(unique("copier"))

        with pytest.raises(Boom), copier.transaction() as batch:
            batch.send(sink, key=read[1].key, value=read[1].value)
            batch.commit_offsets(member, read[1])
            raise Boom()
        member.close()
        again = messaging.receive(messaging.broker.consumer(group, [source]), 2)

        assert values(again) == [b"event-0", b"event-1"]

    def test_offsets_of_a_partition_the_member_does_not_own_are_refused(self, messaging, unique):
        mine, theirs = messaging.new_topic(unique("mine")), messaging.new_topic(unique("theirs"))
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all([Message(theirs, key=b"k", value=b"theirs")])
        member = messaging.broker.consumer(unique("group"), [mine])
        foreign = messaging.receive(messaging.broker.consumer(unique("other"), [theirs]), 1)[0]

        with pytest.raises(CommitFailed, match="not owned"), producer.transaction() as batch:
            batch.send(mine, key=b"k", value=b"not to be seen")
            batch.commit_offsets(member, foreign)
        producer.send_all([Message(mine, key=b"k", value=b"marker")])

        assert values(messaging.receive_until(
            messaging.broker.consumer(unique("reader"), [mine]), lambda r: r.value == b"marker"
        )) == [b"marker"]


class TestConsumerGroups:
    def test_a_new_member_resumes_right_after_the_last_committed_record(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        group = unique("group")
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all(numbered(topic, "first", 6))
        first = messaging.broker.consumer(group, [topic])
        for record in messaging.receive(first, 6):
            first.commit(record)
        first.close()

        producer.send_all(numbered(topic, "second", 6))
        received = messaging.receive(messaging.broker.consumer(group, [topic]), 6)

        # Per partition the first batch comes before the second: a re-read would show up among these six.
        assert sorted(values(received)) == sorted(f"second-{n}".encode() for n in range(6))

    def test_records_a_member_did_not_commit_are_redelivered_after_it_closes(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        group = unique("group")
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all(numbered(topic, "event", 5, key=b"order-1"))
        dying = messaging.broker.consumer(group, [topic])
        processed = messaging.receive(dying, 5)
        dying.commit(processed[1])

        dying.close()
        received = messaging.receive(messaging.broker.consumer(group, [topic]), 3)

        assert values(received) == [b"event-2", b"event-3", b"event-4"]
        assert received == processed[2:]

    def test_one_commit_covers_the_last_record_of_each_partition_given(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"), partitions=3)
        group = unique("group")
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all(numbered(topic, "first", 9))
        first = messaging.broker.consumer(group, [topic])
        last_of_each_partition = {r.partition: r for r in messaging.receive(first, 9)}
        first.commit(*last_of_each_partition.values())
        first.close()

        producer.send_all(numbered(topic, "second", 9))
        received = messaging.receive(messaging.broker.consumer(group, [topic]), 9)

        assert len(last_of_each_partition) > 1
        assert sorted(values(received)) == sorted(f"second-{n}".encode() for n in range(9))

    def test_a_commit_naming_a_partition_the_member_does_not_own_is_refused_whole(self, messaging, unique):
        mine, theirs = messaging.new_topic(unique("mine")), messaging.new_topic(unique("theirs"))
        group = unique("group")
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all([Message(mine, key=b"k", value=b"mine"), Message(theirs, key=b"k", value=b"theirs")])
        member = messaging.broker.consumer(group, [mine])
        own = messaging.receive(member, 1)[0]
        foreign = messaging.receive(messaging.broker.consumer(unique("other"), [theirs]), 1)[0]

        with pytest.raises(CommitFailed, match="not owned"):
            member.commit(own, foreign)
        member.close()

        assert values(messaging.receive(messaging.broker.consumer(group, [mine]), 1)) == [b"mine"]

    def test_another_group_reads_the_topic_from_the_beginning(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all(numbered(topic, "event", 3, key=b"order-1"))
        billing = messaging.broker.consumer(unique("billing"), [topic])
        for record in messaging.receive(billing, 3):
            billing.commit(record)

        received = messaging.receive(messaging.broker.consumer(unique("shipping"), [topic]), 3)

        assert values(received) == [b"event-0", b"event-1", b"event-2"]


class TestRebalancing:
    """When a group's membership changes, every member gives up every partition and they are dealt out again
    (Kafka's eager assignors); whoever gets a partition starts at the group's committed offset, or at the
    beginning if there is none. So what was read but not committed before the change comes again, even to a
    member that had it and keeps its partition."""

    def test_when_a_member_joins_the_records_not_committed_come_again(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"), partitions=2)
        group = unique("group")
        messaging.broker.producer(unique("producer")).send_all(on_every_partition(topic, 2, per_partition=3))
        first = messaging.broker.consumer(group, [topic])
        read = messaging.receive(first, 6)
        done = next(r for r in read if r.partition == 0)
        first.commit(done)  # partition 0 resumes after it; partition 1, with no commit, at the beginning

        second = messaging.broker.consumer(group, [topic])
        again_to_first, to_second = receive_together(messaging, [first, second], 5)

        assert in_log_order(again_to_first + to_second) == in_log_order(r for r in read if r != done)
        assert again_to_first and to_second  # one partition each: `first` was given its own records again

    def test_when_a_member_leaves_the_one_that_stays_is_given_the_records_not_committed_again(
        self, messaging, unique
    ):
        topic = messaging.new_topic(unique("orders"), partitions=2)
        group = unique("group")
        messaging.broker.producer(unique("producer")).send_all(on_every_partition(topic, 2, per_partition=3))
        staying = messaging.broker.consumer(group, [topic])
        read = messaging.receive(staying, 6)
        leaving = messaging.broker.consumer(group, [topic])
        to_staying, to_leaving = receive_together(messaging, [staying, leaving], 6)
        assert to_staying and to_leaving  # each owns a partition now; nothing has been committed

        leaving.close()
        received = messaging.receive(staying, 6)

        assert in_log_order(received) == in_log_order(read)


class TestReplay:
    def test_a_rewound_group_reads_everything_again_from_the_beginning(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        group = unique("group")
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all(numbered(topic, "event", 4))
        first = messaging.broker.consumer(group, [topic])
        done = messaging.receive(first, 4)
        for record in done:
            first.commit(record)
        first.close()

        messaging.broker.rewind(group, [topic])
        received = messaging.receive(messaging.broker.consumer(group, [topic]), 4)

        assert sorted(values(received)) == sorted(values(done))

    def test_rewinding_is_refused_while_the_group_has_a_member(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        group = unique("group")
        messaging.broker.producer(unique("producer")).send_all([Message(topic, key=b"k", value=b"v")])
        member = messaging.broker.consumer(group, [topic])
        messaging.receive(member, 1)  # it has joined once it has been given a record

        with pytest.raises(GroupNotEmpty):
            messaging.broker.rewind(group, [topic])


class TestOffsets:
    def test_offsets_within_a_partition_grow_with_every_record(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        producer = messaging.broker.producer(unique("producer"))

        for n in range(3):
            producer.send_all(numbered(topic, f"batch-{n}", 2, key=b"order-1"))
        received = messaging.receive(messaging.broker.consumer(unique("group"), [topic]), 6)

        offsets = [r.offset for r in received]
        assert offsets == sorted(set(offsets))
        assert offsets[0] >= 0
        assert len({r.partition for r in received}) == 1


class TestLag:
    def test_the_records_after_the_committed_one_are_the_lag_of_their_partition(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all(numbered(topic, "event", 3, key=b"order-1"))
        consumer = messaging.broker.consumer(unique("group"), [topic])
        first = messaging.receive(consumer, 1)[0]

        consumer.commit(first)
        behind = lag_when(messaging, consumer, (topic, first.partition), lambda n: n, "known and above 0")

        # The two records after it; on Kafka also the marker that committed their transaction (an offset).
        assert behind in (2, 3)

    def test_a_member_that_committed_every_record_it_was_given_has_no_lag(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all(numbered(topic, "first", 3, key=b"order-1"))
        producer.send_all(numbered(topic, "second", 2, key=b"order-1"))
        consumer = messaging.broker.consumer(unique("group"), [topic])
        received = messaging.receive(consumer, 5)
        consumer.commit(received[0])
        lag_when(messaging, consumer, (topic, received[0].partition), lambda n: n, "known and above 0")

        consumer.commit(received[-1])

        # Kafka's markers of the two transactions take offsets, but no record is left to process.
        assert lag_when(messaging, consumer, (topic, received[-1].partition), lambda n: n == 0, 0) == 0

    def test_records_that_arrive_after_the_last_commit_are_lag_again(self, messaging, unique):
        topic = messaging.new_topic(unique("orders"))
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all(numbered(topic, "first", 2, key=b"order-1"))
        consumer = messaging.broker.consumer(unique("group"), [topic])
        last = messaging.receive(consumer, 2)[-1]
        consumer.commit(last)
        lag_when(messaging, consumer, (topic, last.partition), lambda n: n == 0, 0)

        producer.send_all(numbered(topic, "second", 2, key=b"order-1"))
        behind = lag_when(messaging, consumer, (topic, last.partition), lambda n: n, "above 0")

        # The two new records, not yet committed; on Kafka also their transaction's marker.
        assert behind in (2, 3)


class TestClosing:
    def test_a_closed_producer_starts_no_transaction(self, messaging, unique):
        producer = messaging.broker.producer(unique("producer"))

        producer.close()

        with pytest.raises(MessagingError), producer.transaction():
            pass

    def test_a_closed_consumer_polls_no_more(self, messaging, unique):
        consumer = messaging.broker.consumer(unique("group"), [messaging.new_topic(unique("orders"))])

        consumer.close()

        with pytest.raises(MessagingError):
            consumer.poll(timeout_s=0.1)


class TestReading:
    def test_a_read_returns_every_committed_record_in_partition_order_with_its_contents(self, messaging, unique):
        topic = messaging.new_topic(unique("dead-letters"))
        producer = messaging.broker.producer(unique("producer"))
        sent = on_every_partition(topic, 3, per_partition=2)
        producer.send_all(Message(m.topic, key=m.key, value=m.value, headers=[("why", b"n")]) for m in sent)

        read = read_when(messaging, [topic], lambda r: len(r) == len(sent), "every record")

        assert read == in_log_order(read)
        assert {r.partition for r in read} == {0, 1, 2}
        for partition in range(3):
            assert values(r for r in read if r.partition == partition) == [
                m.value for m in sent if partition_for_key(m.key, 3) == partition
            ]
        assert {r.headers for r in read} == {(("why", b"n"),)}

    def test_no_record_of_an_aborted_transaction_is_read(self, messaging, unique):
        topic = messaging.new_topic(unique("dead-letters"))
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all([Message(topic, key=b"order-1", value=b"before")])
        with pytest.raises(Boom), producer.transaction() as batch:
            batch.send(topic, key=b"order-1", value=b"aborted")
            raise Boom()
        producer.send_all([Message(topic, key=b"order-1", value=b"after")])

        read = read_when(messaging, [topic], lambda r: b"after" in values(r), "the last record")

        assert values(read) == [b"before", b"after"]

    def test_an_empty_topic_reads_as_nothing(self, messaging, unique):
        topic = messaging.new_topic(unique("dead-letters"))

        assert messaging.broker.read([topic]) == []

    def test_records_of_several_topics_come_topic_by_topic_in_the_order_asked(self, messaging, unique):
        first, second = messaging.new_topic(unique("first")), messaging.new_topic(unique("second"))
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all([Message(second, key=b"k", value=b"2"), Message(first, key=b"k", value=b"1")])

        read = read_when(messaging, [second, first], lambda r: len(r) == 2, "both records")

        assert [(r.topic, r.value) for r in read] == [(second, b"2"), (first, b"1")]

    def test_reading_a_topic_that_does_not_exist_is_refused(self, messaging, unique):
        topic = messaging.new_topic(unique("dead-letters"))

        with pytest.raises(UnknownTopic):
            messaging.broker.read([topic, unique("no-such-topic")])

    def test_a_read_of_more_records_than_allowed_is_refused_not_cut_short(self, messaging, unique):
        topic = messaging.new_topic(unique("dead-letters"))
        messaging.broker.producer(unique("producer")).send_all(numbered(topic, "event", 4))
        read_when(messaging, [topic], lambda r: len(r) == 4, "every record")

        with pytest.raises(ReadIncomplete):
            messaging.broker.read([topic], max_records=3)
