"""A deterministic in-memory broker with Kafka's semantics where the services depend on them.

What it keeps from Kafka:
- topics of N partitions; a keyed record goes to `partition_for_key` (the Java client's murmur2 rule, the
  one the Kafka adapter configures), so a key lands on the same partition number here and in Kafka;
- order per partition, offsets per partition from 0 (consecutive here: no transaction markers);
- transactions: a batch is appended whole when its block ends, or not at all;
- consumer groups: committed offsets; a partition is owned by one member at a time; a member that leaves
  (closes or crashes) hands its partitions, from the last commit, to the others; a second producer with a
  name fences the first.

What it leaves out: time. Nothing blocks, sleeps or runs in the background, and nothing is random (keyless
records go round-robin), so the same calls always give the same records. A rebalance happens at once, when
a member joins or leaves. Assignment is per topic, round-robin in join order: partition p goes to the
(p mod n)-th of the n members subscribed to that topic.

For tests: `records`, `committed` and `lag` show the state, `InMemoryConsumer.pending` shows what a
member could be given next, and `poll_from` delivers exactly the record a harness chooses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from attrs import define, field, frozen

from adapters.memory.partitioner import partition_for_key
from adapters.messaging import (
    CommitFailed,
    GroupNotEmpty,
    Message,
    MessagingError,
    ProducerFenced,
    Record,
    TopicSpec,
    UnknownTopic,
)


@frozen(order=True)
class TopicPartition:
    topic: str
    partition: int


@define
class _Group:
    members: list[InMemoryConsumer] = field(factory=list)  # in join order: the assignment depends on it
    committed: dict[TopicPartition, int] = field(factory=dict)
    topics: set[str] = field(factory=set)  # every topic a member ever subscribed to: what `lag` counts


class InMemoryBroker:
    def __init__(self) -> None:
        self._logs: dict[str, list[list[Record]]] = {}
        # Every record ever appended, in append order: `records` reads it, and `poll` gives a member the
        # record that was appended first among the heads of its partitions (its "arrival order").
        self._journal: list[Record] = []
        self._arrival: dict[Record, int] = {}
        self._next_keyless: dict[str, int] = {}
        self._groups: dict[str, _Group] = {}
        self._producer_epochs: dict[str, int] = {}
        self._clients: list[InMemoryProducer | InMemoryConsumer] = []

    # -- the Broker port -------------------------------------------------------------------------------

    def create_topics(self, topics: Iterable[TopicSpec]) -> list[str]:
        created = []
        for topic in topics:
            if topic.partitions < 1:
                raise ValueError(f"topic {topic.name!r} needs at least one partition, not {topic.partitions}")
            if topic.name not in self._logs:
                self._logs[topic.name] = [[] for _ in range(topic.partitions)]
                created.append(topic.name)
        for group in self._groups:
            self._rebalance(group)  # members subscribed to a topic before it existed get its partitions
        return created

    def producer(self, name: str) -> InMemoryProducer:
        epoch = self._producer_epochs.get(name, -1) + 1
        self._producer_epochs[name] = epoch  # every older producer with this name is now fenced
        producer = InMemoryProducer(self, name, epoch)
        self._clients.append(producer)
        return producer

    def consumer(self, group: str, topics: Sequence[str]) -> InMemoryConsumer:
        consumer = InMemoryConsumer(self, group, tuple(topics))
        state = self._groups.setdefault(group, _Group())
        state.members.append(consumer)
        state.topics.update(topics)
        self._rebalance(group)
        self._clients.append(consumer)
        return consumer

    def rewind(self, group: str, topics: Sequence[str]) -> None:
        state = self._groups.setdefault(group, _Group())
        if state.members:
            raise GroupNotEmpty(f"group {group!r} has {len(state.members)} member(s); close them first")
        for topic in topics:
            for partition in range(len(self._log(topic))):
                state.committed[TopicPartition(topic, partition)] = 0

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

    # -- inspection, for tests ------------------------------------------------------------------------

    def records(self, topic: str, partition: int | None = None) -> tuple[Record, ...]:
        """The records of `topic` (or of one of its partitions), in the order they were appended."""
        self._log(topic)
        return tuple(
            r for r in self._journal if r.topic == topic and (partition is None or r.partition == partition)
        )

    def committed(self, group: str) -> dict[TopicPartition, int]:
        """The group's committed offsets: for each partition, the offset of the next record to process."""
        state = self._groups.get(group)
        return dict(state.committed) if state else {}

    def lag(self, group: str, topics: Sequence[str] | None = None) -> int:
        """How many records of `topics` the group has not committed yet (all of them, before any commit).
        Without `topics`: the topics its members have subscribed to so far."""
        state = self._groups.get(group, _Group())
        return sum(
            len(log) - state.committed.get(TopicPartition(topic, partition), 0)
            for topic in (state.topics if topics is None else topics)
            for partition, log in enumerate(self._log(topic))
        )

    # -- for the clients of this module ------------------------------------------------------------------

    def _log(self, topic: str) -> list[list[Record]]:
        try:
            return self._logs[topic]
        except KeyError:
            raise UnknownTopic(f"topic {topic!r} does not exist") from None

    def _check_not_fenced(self, producer: InMemoryProducer) -> None:
        if producer.epoch != self._producer_epochs[producer.name]:
            raise ProducerFenced(f"a newer producer named {producer.name!r} exists")

    def _append(self, producer: InMemoryProducer, messages: Sequence[Message]) -> None:
        self._check_not_fenced(producer)
        logs = [self._log(message.topic) for message in messages]  # all checks before the first append
        for message, log in zip(messages, logs, strict=True):
            partition = self._choose_partition(message, len(log))
            record = Record(
                message.topic, partition, len(log[partition]), message.key, message.value, message.headers
            )
            log[partition].append(record)
            self._arrival[record] = len(self._journal)
            self._journal.append(record)

    def _choose_partition(self, message: Message, partitions: int) -> int:
        if message.key is not None:
            return partition_for_key(message.key, partitions)
        turn = self._next_keyless.get(message.topic, 0)
        self._next_keyless[message.topic] = turn + 1
        return turn % partitions

    def _leave(self, consumer: InMemoryConsumer) -> None:
        self._groups[consumer.group].members.remove(consumer)
        self._rebalance(consumer.group)

    def _rebalance(self, group: str) -> None:
        # Every member learns its new partitions at once, as if each had polled right after the change.
        members = self._groups[group].members
        for member in members:
            owned = set()
            for topic in member.topics:
                subscribers = [m for m in members if topic in m.topics]
                partitions = len(self._logs.get(topic, ()))
                for partition in range(subscribers.index(member), partitions, len(subscribers)):
                    owned.add(TopicPartition(topic, partition))
            member._assign(frozenset(owned))

    def _committed_offset(self, group: str, where: TopicPartition) -> int:
        return self._groups[group].committed.get(where, 0)

    def _end_offset(self, where: TopicPartition) -> int:
        return len(self._log(where.topic)[where.partition])

    def _commit(self, consumer: InMemoryConsumer, records: Sequence[Record]) -> None:
        for record in records:  # all checked before any is committed
            log = self._log(record.topic)[record.partition]
            if record.offset >= len(log) or log[record.offset] != record:
                raise ValueError(f"{record!r} is not a record of this broker")
        committed = self._groups[consumer.group].committed
        for record in records:
            committed[TopicPartition(record.topic, record.partition)] = record.offset + 1

    def _record_at(self, where: TopicPartition, offset: int) -> Record | None:
        log = self._log(where.topic)[where.partition]
        return log[offset] if offset < len(log) else None

    def _arrival_of(self, record: Record) -> int:
        return self._arrival[record]


class InMemoryProducer:
    def __init__(self, broker: InMemoryBroker, name: str, epoch: int) -> None:
        self._broker = broker
        self.name = name
        self.epoch = epoch
        self._in_transaction = False
        self._closed = False

    @contextmanager
    def transaction(self) -> Iterator[_Batch]:
        if self._closed:
            raise MessagingError(f"producer {self.name!r} is closed")
        if self._in_transaction:
            raise MessagingError(f"producer {self.name!r} already has a transaction open")
        self._broker._check_not_fenced(self)
        batch = _Batch(self._broker)
        self._in_transaction = True
        try:
            yield batch  # if the block raises, nothing was appended: the batch is simply dropped
        finally:
            self._in_transaction = False
        self._broker._append(self, batch.messages)

    def send_all(self, messages: Iterable[Message]) -> None:
        with self.transaction() as batch:
            for m in messages:
                batch.send(m.topic, key=m.key, value=m.value, headers=m.headers)

    def close(self) -> None:
        self._closed = True


class _Batch:
    def __init__(self, broker: InMemoryBroker) -> None:
        self._broker = broker
        self.messages: list[Message] = []

    def send(
        self, topic: str, *, key: bytes | None, value: bytes, headers: Iterable[tuple[str, bytes]] = ()
    ) -> None:
        self._broker._log(topic)  # refuse an unknown topic now, where the mistake is
        self.messages.append(Message(topic, key=key, value=value, headers=headers))


class InMemoryConsumer:
    def __init__(self, broker: InMemoryBroker, group: str, topics: tuple[str, ...]) -> None:
        self._broker = broker
        self.group = group
        self.topics = topics
        # Next offset to deliver, per owned partition. A partition that stays with this member keeps its
        # position across rebalances (like Kafka's cooperative protocols); one that arrives starts at the
        # group's committed offset, which is what makes uncommitted records come again.
        self._positions: dict[TopicPartition, int] = {}
        self._closed = False

    # -- the Consumer port ---------------------------------------------------------------------------

    def poll(self, timeout_s: float = 0.0) -> Record | None:
        """The next record, at once (`timeout_s` is ignored: nothing here ever arrives later by itself)."""
        self._check_open()
        for topic in self.topics:
            self._broker._log(topic)  # raises UnknownTopic, as Kafka's poll does
        pending = self.pending()
        return self._deliver(pending[0]) if pending else None

    def commit(self, *records: Record) -> None:
        owned = self.assignment()
        for record in records:
            where = TopicPartition(record.topic, record.partition)
            if where not in owned:
                raise CommitFailed(f"{where} is not owned by this member of group {self.group!r}")
        self._broker._commit(self, records)

    def lag(self) -> dict[tuple[str, int], int]:
        """Exact, for every owned partition: its records from the group's committed offset on (offsets are
        consecutive here: no transaction markers). Empty once closed."""
        group = self.group
        return {
            (where.topic, where.partition): self._broker._end_offset(where)
            - self._broker._committed_offset(group, where)
            for where in list(self._positions)  # a copy: another thread may read while this one rebalances
        }

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._positions.clear()
            self._broker._leave(self)

    # -- for tests -----------------------------------------------------------------------------------

    def crash(self) -> None:
        """Drop out of the group without a word. Nothing is committed on the way out, exactly as with
        `close`; a harness calls this to say it simulates a dying process."""
        self.close()

    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member owns now."""
        self._check_open()
        return frozenset(self._positions)

    def pending(self) -> tuple[Record, ...]:
        """The records `poll` could give next, one per owned partition, earliest appended first."""
        heads = (self._broker._record_at(where, self._positions[where]) for where in self.assignment())
        return tuple(sorted((r for r in heads if r is not None), key=self._broker._arrival_of))

    def poll_from(self, topic: str, partition: int) -> Record | None:
        """The next record of one owned partition: lets a harness choose the interleaving of partitions."""
        where = TopicPartition(topic, partition)
        if where not in self.assignment():
            raise MessagingError(f"{where} is not owned by this member of group {self.group!r}")
        record = self._broker._record_at(where, self._positions[where])
        return self._deliver(record) if record is not None else None

    def _assign(self, owned: frozenset[TopicPartition]) -> None:
        for gone in self._positions.keys() - owned:
            del self._positions[gone]
        for new in owned - self._positions.keys():
            self._positions[new] = self._broker._committed_offset(self.group, new)

    def _deliver(self, record: Record) -> Record:
        self._positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
        return record

    def _check_open(self) -> None:
        if self._closed:
            raise MessagingError(f"this consumer of group {self.group!r} is closed")
