"""What only the in-memory broker offers, on top of the shared contract: the exact partitioning function,
deterministic group assignment, crashes, record-by-record delivery for harnesses, and inspection.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from adapters.memory.broker import InMemoryBroker, TopicPartition
from adapters.memory.partitioner import murmur2, partition_for_key
from adapters.messaging.broker import CommitFailed, Message, MessagingError, ProducerFenced, UnknownTopic
from adapters.messaging.topics import Topic


def make_broker(*topics: tuple[str, int]) -> InMemoryBroker:
    broker = InMemoryBroker()
    broker.create_topics(Topic(name, partitions) for name, partitions in topics)
    return broker


def publish(broker: InMemoryBroker, topic: str, *pairs: tuple[bytes | None, bytes]) -> None:
    broker.producer("test-producer").send_all(Message(topic, key=k, value=v) for k, v in pairs)


def owned(*pairs: tuple[str, int]) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(t, p) for t, p in pairs)


class TestMurmur2:
    # Expected values from the Java client's own test (org.apache.kafka.common.utils.UtilsTest.testMurmur2).
    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
        ],
    )
    def test_hashes_exactly_as_the_java_client_does(self, data, expected):
        assert murmur2(data) == expected

    @given(key=st.binary(max_size=64), partitions=st.integers(min_value=1, max_value=1000))
    def test_every_key_maps_to_an_existing_partition(self, key, partitions):
        assert 0 <= partition_for_key(key, partitions) < partitions

    def test_a_topic_without_partitions_is_refused(self):
        with pytest.raises(ValueError, match="a topic has at least one partition, not 0"):
            partition_for_key(b"k", 0)


class TestGroupAssignment:
    def test_members_share_a_topics_partitions_round_robin_in_join_order(self):
        broker = make_broker(("orders", 4))

        first, second = broker.consumer("g", ["orders"]), broker.consumer("g", ["orders"])

        assert first.assignment() == owned(("orders", 0), ("orders", 2))
        assert second.assignment() == owned(("orders", 1), ("orders", 3))

    def test_a_member_that_leaves_hands_its_partitions_to_the_rest(self):
        broker = make_broker(("orders", 4))
        first, second = broker.consumer("g", ["orders"]), broker.consumer("g", ["orders"])

        first.close()

        assert second.assignment() == owned(*(("orders", p) for p in range(4)))

    def test_a_partition_that_stays_with_its_member_starts_again_at_the_committed_offset(self):
        # Kafka's eager assignors take every partition away and deal them out again, kept ones included.
        broker = make_broker(("orders", 2))
        key = next(k for k in (f"order-{n}".encode() for n in range(20)) if partition_for_key(k, 2) == 0)
        publish(broker, "orders", (key, b"committed"), (key, b"read"), (key, b"unread"))
        first = broker.consumer("g", ["orders"])
        first.commit(first.poll(0))
        assert first.poll(0).value == b"read"

        broker.consumer("g", ["orders"])  # takes partition 1; partition 0 stays with `first`

        assert [first.poll(0).value, first.poll(0).value] == [b"read", b"unread"]

    def test_creating_a_topic_no_member_subscribes_to_leaves_the_group_as_it_is(self):
        broker = make_broker(("orders", 1))
        publish(broker, "orders", (b"k", b"read"), (b"k", b"unread"))
        member = broker.consumer("g", ["orders"])
        assert member.poll(0).value == b"read"

        broker.create_topics([Topic("stock", 1)])

        assert member.poll(0).value == b"unread"

    def test_creating_a_topic_a_member_subscribes_to_is_a_rebalance(self):
        broker = make_broker(("orders", 1))
        publish(broker, "orders", (b"k", b"read"))
        member = broker.consumer("g", ["orders", "stock"])
        assert member.poll_from("orders", 0).value == b"read"

        broker.create_topics([Topic("stock", 1)])

        assert member.assignment() == owned(("orders", 0), ("stock", 0))
        assert member.poll(0).value == b"read"

    def test_a_partition_that_comes_back_to_a_member_starts_again_at_the_committed_offset(self):
        broker = make_broker(("orders", 2))
        key = next(k for k in (f"order-{n}".encode() for n in range(20)) if partition_for_key(k, 2) == 1)
        publish(broker, "orders", (key, b"uncommitted"))
        first = broker.consumer("g", ["orders"])
        assert first.poll_from("orders", 1).value == b"uncommitted"
        second = broker.consumer("g", ["orders"])  # takes partition 1 away from `first`

        second.close()  # and gives it back

        assert first.poll_from("orders", 1).value == b"uncommitted"

    def test_a_crashed_members_uncommitted_records_go_to_the_next_owner(self):
        broker = make_broker(("orders", 1))
        publish(broker, "orders", (b"k", b"one"), (b"k", b"two"), (b"k", b"three"))
        crashing, survivor = broker.consumer("g", ["orders"]), broker.consumer("g", ["orders"])
        crashing.commit(crashing.poll(0))
        crashing.poll(0)

        crashing.crash()

        assert [survivor.poll(0).value, survivor.poll(0).value] == [b"two", b"three"]

    def test_committing_a_record_of_a_partition_that_moved_away_fails(self):
        broker = make_broker(("orders", 2))
        publish(broker, "orders", *((f"order-{n}".encode(), b"v") for n in range(10)))
        first = broker.consumer("g", ["orders"])
        record = first.poll_from("orders", 1)
        broker.consumer("g", ["orders"])  # now owns partition 1

        with pytest.raises(CommitFailed):
            first.commit(record)

    def test_polling_a_topic_that_does_not_exist_is_refused(self):
        consumer = make_broker().consumer("g", ["nowhere"])

        with pytest.raises(UnknownTopic):
            consumer.poll(0)


class TestDeliveryForHarnesses:
    def test_poll_gives_the_earliest_appended_record_among_the_owned_partitions(self):
        broker = make_broker(("orders", 1), ("stock", 1))
        publish(broker, "stock", (b"k", b"s1"))
        publish(broker, "orders", (b"k", b"o1"))
        publish(broker, "stock", (b"k", b"s2"))
        consumer = broker.consumer("g", ["orders", "stock"])

        assert [consumer.poll(0).value for _ in range(3)] == [b"s1", b"o1", b"s2"]
        assert consumer.poll(0) is None

    def test_pending_shows_the_head_of_each_owned_partition_without_delivering_it(self):
        broker = make_broker(("orders", 1), ("stock", 1))
        publish(broker, "orders", (b"k", b"o1"), (b"k", b"o2"))
        publish(broker, "stock", (b"k", b"s1"))
        consumer = broker.consumer("g", ["orders", "stock"])

        heads = consumer.pending()

        assert [r.value for r in heads] == [b"o1", b"s1"]
        assert consumer.pending() == heads

    def test_poll_from_delivers_the_next_record_of_the_chosen_partition(self):
        broker = make_broker(("orders", 1), ("stock", 1))
        publish(broker, "orders", (b"k", b"o1"))
        publish(broker, "stock", (b"k", b"s1"))
        consumer = broker.consumer("g", ["orders", "stock"])

        assert consumer.poll_from("stock", 0).value == b"s1"
        assert consumer.poll_from("stock", 0) is None
        assert consumer.poll(0).value == b"o1"


class TestInspection:
    def test_offsets_in_a_partition_are_consecutive_from_zero(self):
        broker = make_broker(("orders", 1))

        for _ in range(3):
            publish(broker, "orders", (b"k", b"a"), (b"k", b"b"))

        assert [r.offset for r in broker.records("orders")] == list(range(6))

    def test_keyless_records_go_round_robin(self):
        broker = make_broker(("orders", 3))

        publish(broker, "orders", *((None, str(n).encode()) for n in range(6)))

        assert [r.partition for r in broker.records("orders")] == [0, 1, 2, 0, 1, 2]

    def test_committed_offsets_and_lag_follow_the_groups_commits(self):
        broker = make_broker(("orders", 1))
        publish(broker, "orders", (b"k", b"1"), (b"k", b"2"), (b"k", b"3"))
        assert broker.lag("g", ["orders"]) == 3
        consumer = broker.consumer("g", ["orders"])

        consumer.commit(consumer.poll(0))

        assert broker.committed("g") == {TopicPartition("orders", 0): 1}
        assert broker.lag("g") == 2

    def test_an_open_transaction_shows_nothing_until_it_ends(self):
        broker = make_broker(("orders", 1))
        producer = broker.producer("relay")

        with producer.transaction() as batch:
            batch.send("orders", key=b"k", value=b"v")
            assert broker.records("orders") == ()

        assert len(broker.records("orders")) == 1

    def test_a_producer_holds_one_transaction_at_a_time(self):
        producer = make_broker(("orders", 1)).producer("relay")

        with producer.transaction(), pytest.raises(MessagingError), producer.transaction():
            pass

    def test_a_producer_fenced_mid_transaction_publishes_nothing(self):
        broker = make_broker(("orders", 1))
        zombie = broker.producer("relay")

        with pytest.raises(ProducerFenced), zombie.transaction() as batch:
            batch.send("orders", key=b"k", value=b"v")
            broker.producer("relay")

        assert broker.records("orders") == ()


class GroupDelivery(RuleBasedStateMachine):
    """Members join, leave and crash while records arrive and get polled and committed. A model of a few
    counters says what must happen: partition p belongs to the (p mod n)-th member in join order; after every
    join or leave each member starts each of its partitions at the committed offset, kept ones too (Kafka's
    eager assignors); a commit is accepted only from the partition's owner. At the end nothing was lost."""

    TOPIC = "orders"
    PARTITIONS = 3

    def __init__(self) -> None:
        super().__init__()
        self.broker = make_broker((self.TOPIC, self.PARTITIONS))
        self.producer = self.broker.producer("relay")
        self.members = []  # in join order
        self.sizes = [0] * self.PARTITIONS
        self.committed = {}  # partition -> offset
        self.positions = {}  # member -> {owned partition: next offset}
        self.last_polled = {}  # member -> the record it was given last

    @rule(keys=st.lists(st.integers(0, 9), min_size=1, max_size=4))
    def publish(self, keys):
        self.producer.send_all(Message(self.TOPIC, key=b"order-%d" % k, value=b"v") for k in keys)
        for k in keys:
            self.sizes[partition_for_key(b"order-%d" % k, self.PARTITIONS)] += 1

    @precondition(lambda self: len(self.members) < 3)
    @rule()
    def join(self):
        self.members.append(self.broker.consumer("g", [self.TOPIC]))
        self.rebalance()

    @precondition(lambda self: self.members)
    @rule(index=st.integers(0, 2), crash=st.booleans())
    def leave(self, index, crash):
        member = self.members.pop(index % len(self.members))
        member.crash() if crash else member.close()
        del self.positions[member]
        self.last_polled.pop(member, None)
        self.rebalance()

    @precondition(lambda self: self.members)
    @rule(index=st.integers(0, 2))
    def poll(self, index):
        member = self.members[index % len(self.members)]
        heads = {p: at for p, at in self.positions[member].items() if at < self.sizes[p]}

        record = member.poll(0)

        if record is None:
            assert heads == {}
        else:
            assert record.offset == heads[record.partition]
            self.positions[member][record.partition] += 1
            self.last_polled[member] = record

    @precondition(lambda self: self.last_polled)
    @rule(index=st.integers(0, 2))
    def commit(self, index):
        member = [m for m in self.members if m in self.last_polled][index % len(self.last_polled)]
        record = self.last_polled[member]

        if record.partition in self.positions[member]:
            member.commit(record)
            self.committed[record.partition] = record.offset + 1
        else:
            with pytest.raises(CommitFailed):
                member.commit(record)

    def rebalance(self):
        for index, member in enumerate(self.members):
            self.positions[member] = {
                p: self.committed.get(p, 0) for p in range(self.PARTITIONS) if p % len(self.members) == index
            }

    @invariant()
    def members_own_the_partitions_the_model_gives_them(self):
        for member in self.members:
            assert member.assignment() == owned(*((self.TOPIC, p) for p in self.positions[member]))

    @invariant()
    def the_committed_offsets_are_the_models(self):
        expected = {TopicPartition(self.TOPIC, p): offset for p, offset in self.committed.items()}
        assert self.broker.committed("g") == expected
        assert self.broker.lag("g", [self.TOPIC]) == sum(self.sizes) - sum(self.committed.values())

    def teardown(self):
        # No loss: a fresh member, alone in the group, is given every record after the commits.
        for member in self.members:
            member.close()
        last = self.broker.consumer("g", [self.TOPIC])
        drained = []
        while (record := last.poll(0)) is not None:
            drained.append((record.partition, record.offset))
        expected = [
            (p, offset)
            for p in range(self.PARTITIONS)
            for offset in range(self.committed.get(p, 0), self.sizes[p])
        ]
        assert sorted(drained) == expected


TestGroupDelivery = GroupDelivery.TestCase
TestGroupDelivery.settings = settings(stateful_step_count=30, deadline=None)
