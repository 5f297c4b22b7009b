"""A deterministic in-memory broker with Kafka's semantics where the services depend on them.

What it keeps from Kafka:
- topics of N partitions; a keyed record goes to `partition_for_key` (the Java client's murmur2 rule, the
  one the Kafka adapter configures), so a key lands on the same partition number here and in Kafka;
- order per partition, offsets per partition from 0 (consecutive here: no transaction markers);
- transactions: a batch is appended whole when its block ends, or not at all, and so are the consumer
  offsets it carries (`commit_offsets`);
- consumer groups: committed offsets; a partition is owned by one member at a time; when a member joins or
  leaves (closes or crashes), every member gives up all its partitions and they are dealt out again, each
  starting at the group's committed offset (the beginning if none), as with Kafka's eager assignors: what
  was read but not committed comes again, even to a member that keeps its partition;
- a second producer with a name fences the first.

What it leaves out: time. Nothing blocks, sleeps or runs in the background, and nothing is random (keyless
records go round-robin), so the same calls always give the same records. A rebalance happens at once, when
a member joins or leaves or a topic its members subscribe to is created. Assignment is per topic, round-robin
in join order: partition p goes to the (p mod n)-th of the n members subscribed to that topic.

For tests: `records`, `committed` and `lag` show the state, `InMemoryConsumer.pending` shows what a
member could be given next, and `poll_from` delivers exactly the record a harness chooses.

The broker is the Broker port and the producer; the topics' records live in `adapters.memory.partition_log`,
the consumer groups and their members (`InMemoryConsumer`) in `adapters.memory.groups`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from adapters.memory.groups import ConsumerGroup, InMemoryConsumer
from adapters.memory.partition_log import PartitionLog, TopicPartition
from adapters.messaging.broker import (
    Message,
    MessagingError,
    ProducerFenced,
    ReadIncomplete,
    Record,
    TopicSpec,
)

__all__ = ["InMemoryBroker", "InMemoryConsumer", "InMemoryProducer", "TopicPartition"]


class InMemoryBroker:
    def __init__(self) -> None:
        self._log = PartitionLog()
        self._groups: dict[str, ConsumerGroup] = {}
        self._producer_epochs: dict[str, int] = {}
        self._clients: list[InMemoryProducer | InMemoryConsumer] = []

    # -- the Broker port -------------------------------------------------------------------------------

    def create_topics(self, topics: Iterable[TopicSpec]) -> list[str]:
        created = [topic.name for topic in topics if self._log.create(topic.name, topic.partitions)]
        for group in self._groups.values():
            if any(name in member.topics for member in group.members for name in created):
                group.rebalance()  # members subscribed to a topic before it existed get its partitions
        return created

    def producer(self, name: str) -> InMemoryProducer:
        epoch = self._producer_epochs.get(name, -1) + 1
        self._producer_epochs[name] = epoch  # every older producer with this name is now fenced
        producer = InMemoryProducer(self, name, epoch)
        self._clients.append(producer)
        return producer

    def consumer(self, group: str, topics: Sequence[str]) -> InMemoryConsumer:
        consumer = self._group(group).join(topics)
        self._clients.append(consumer)
        return consumer

    def rewind(self, group: str, topics: Sequence[str]) -> None:
        self._group(group).rewind(topics)

    def read(self, topics: Sequence[str], *, max_records: int = 10_000, timeout_s: float = 10.0) -> list[Record]:
        # Nothing here waits, so `timeout_s` never runs out; aborted batches were never appended.
        for topic in topics:
            self._log.require(topic)  # every topic checked before anything is read, as Kafka's metadata is
        found = [
            record
            for topic in dict.fromkeys(topics)
            for partition in range(self._log.partition_count(topic))
            for record in self._log.records(topic, partition)
        ]
        if len(found) > max_records:
            raise ReadIncomplete(f"{list(topics)} hold {len(found)} records, more than the {max_records} asked for")
        return found

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

    # -- inspection, for tests ------------------------------------------------------------------------

    def records(self, topic: str, partition: int | None = None) -> tuple[Record, ...]:
        """The records of `topic` (or of one of its partitions), in the order they were appended."""
        return self._log.records(topic, partition)

    def committed(self, group: str) -> dict[TopicPartition, int]:
        """The group's committed offsets: for each partition, the offset of the next record to process."""
        state = self._groups.get(group)
        return dict(state.committed) if state else {}

    def lag(self, group: str, topics: Sequence[str] | None = None) -> int:
        """How many records of `topics` the group has not committed yet (all of them, before any commit).
        Without `topics`: the topics its members have subscribed to so far."""
        return self._groups.get(group, ConsumerGroup(group, self._log)).lag(topics)

    # -- for the clients of this module ------------------------------------------------------------------

    def _group(self, name: str) -> ConsumerGroup:
        return self._groups.setdefault(name, ConsumerGroup(name, self._log))

    def _check_not_fenced(self, producer: InMemoryProducer) -> None:
        if producer.epoch != self._producer_epochs[producer.name]:
            raise ProducerFenced(f"a newer producer named {producer.name!r} exists")

    def _append(self, producer: InMemoryProducer, messages: Sequence[Message]) -> None:
        self._check_not_fenced(producer)
        self._log.append(messages)


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
        for consumer, records in batch.offsets:
            consumer._check_commit(records)  # every check before anything happens
        self._broker._append(self, batch.messages)
        for consumer, records in batch.offsets:
            consumer._commit_checked(records)

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
        self.offsets: list[tuple[InMemoryConsumer, tuple[Record, ...]]] = []

    def send(
        self, topic: str, *, key: bytes | None, value: bytes, headers: Iterable[tuple[str, bytes]] = ()
    ) -> None:
        self._broker._log.require(topic)  # refuse an unknown topic now, where the mistake is
        self.messages.append(Message(topic, key=key, value=value, headers=headers))

    def commit_offsets(self, consumer: object, *records: Record) -> None:
        if not isinstance(consumer, InMemoryConsumer) or consumer._log is not self._broker._log:
            raise TypeError(f"{consumer!r} is not a consumer of this broker")
        consumer._check_commit(records)  # refuse now, where the mistake is; checked again at the end
        self.offsets.append((consumer, records))
