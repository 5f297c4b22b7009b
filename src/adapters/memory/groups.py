"""The in-memory broker's consumer groups: who is a member, who owns which partition, what is committed.

Part of `adapters.memory.broker`, whose docstring says where this matches Kafka's consumer (eager
rebalances that send every member back to the committed offsets) and where it does not (no time: a
rebalance happens at once, inside the call that caused it).
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define, field

from adapters.memory.partition_log import PartitionLog, TopicPartition
from adapters.messaging.broker import CommitFailed, GroupNotEmpty, MessagingError, Record


@define
class ConsumerGroup:
    name: str
    log: PartitionLog
    members: list[InMemoryConsumer] = field(factory=list)  # in join order: the assignment depends on it
    committed: dict[TopicPartition, int] = field(factory=dict)
    topics: set[str] = field(factory=set)  # every topic a member ever subscribed to: what `lag` counts

    def join(self, topics: Sequence[str]) -> InMemoryConsumer:
        consumer = InMemoryConsumer(self, tuple(topics))
        self.members.append(consumer)
        self.topics.update(topics)
        self.rebalance()
        return consumer

    def leave(self, consumer: InMemoryConsumer) -> None:
        self.members.remove(consumer)
        self.rebalance()

    def rebalance(self) -> None:
        # Every member learns its new partitions at once, as if each had polled right after the change.
        for member in self.members:
            owned = set()
            for topic in member.topics:
                subscribers = [m for m in self.members if topic in m.topics]
                partitions = self.log.partition_count(topic) if self.log.exists(topic) else 0
                for partition in range(subscribers.index(member), partitions, len(subscribers)):
                    owned.add(TopicPartition(topic, partition))
            member._assign(frozenset(owned))

    def rewind(self, topics: Sequence[str]) -> None:
        if self.members:
            raise GroupNotEmpty(f"group {self.name!r} has {len(self.members)} member(s); close them first")
        for topic in topics:
            for partition in range(self.log.partition_count(topic)):
                self.committed[TopicPartition(topic, partition)] = 0

    def commit(self, records: Sequence[Record]) -> None:
        self.check(records)  # all checked before any is committed
        for record in records:
            self.committed[TopicPartition(record.topic, record.partition)] = record.offset + 1

    def check(self, records: Sequence[Record]) -> None:
        for record in records:
            if self.log.record_at(TopicPartition(record.topic, record.partition), record.offset) != record:
                raise ValueError(f"{record!r} is not a record of this broker")

    def committed_offset(self, where: TopicPartition) -> int:
        return self.committed.get(where, 0)

    def lag(self, topics: Sequence[str] | None = None) -> int:
        partitions = (
            TopicPartition(topic, partition)
            for topic in (self.topics if topics is None else topics)
            for partition in range(self.log.partition_count(topic))
        )
        return sum(self.log.end_offset(where) - self.committed_offset(where) for where in partitions)


class InMemoryConsumer:
    def __init__(self, group: ConsumerGroup, topics: tuple[str, ...]) -> None:
        self._consumer_group = group
        self._log = group.log
        self.group = group.name
        self.topics = topics
        # Next offset to deliver, per owned partition. Every rebalance sets them all to the group's committed
        # offsets, kept partitions too (Kafka's eager assignors): what makes uncommitted records come again.
        self._positions: dict[TopicPartition, int] = {}
        self._closed = False

    # -- the Consumer port ---------------------------------------------------------------------------

    def poll(self, timeout_s: float = 0.0) -> Record | None:
        """The next record, at once (`timeout_s` is ignored: nothing here ever arrives later by itself)."""
        self._check_open()
        for topic in self.topics:
            self._log.require(topic)  # raises UnknownTopic, as Kafka's poll does
        pending = self.pending()
        return self._deliver(pending[0]) if pending else None

    def commit(self, *records: Record) -> None:
        self._check_commit(records)
        self._commit_checked(records)

    def lag(self) -> dict[tuple[str, int], int]:
        """Exact, for every owned partition: its records from the group's committed offset on (offsets are
        consecutive here: no transaction markers). Empty once closed."""
        return {
            (where.topic, where.partition): self._log.end_offset(where)
            - self._consumer_group.committed_offset(where)
            for where in list(self._positions)  # a copy: another thread may read while this one rebalances
        }

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._positions = {}
            self._consumer_group.leave(self)

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
        heads = (self._log.record_at(where, self._positions[where]) for where in self.assignment())
        return tuple(sorted((r for r in heads if r is not None), key=self._log.arrival_of))

    def poll_from(self, topic: str, partition: int) -> Record | None:
        """The next record of one owned partition: lets a harness choose the interleaving of partitions."""
        where = TopicPartition(topic, partition)
        if where not in self.assignment():
            raise MessagingError(f"{where} is not owned by this member of group {self.group!r}")
        record = self._log.record_at(where, self._positions[where])
        return self._deliver(record) if record is not None else None

    def _check_commit(self, records: Sequence[Record]) -> None:
        """Raise as `commit` would (CommitFailed for a partition not owned), committing nothing; the
        producer's `Batch.commit_offsets` checks so before its transaction appends anything."""
        owned = self.assignment()
        for record in records:
            where = TopicPartition(record.topic, record.partition)
            if where not in owned:
                raise CommitFailed(f"{where} is not owned by this member of group {self.group!r}")
        self._consumer_group.check(records)

    def _commit_checked(self, records: Sequence[Record]) -> None:
        self._consumer_group.commit(records)

    def _assign(self, owned: frozenset[TopicPartition]) -> None:
        # Replaced whole, not changed in place: `lag` may be reading it on another thread.
        self._positions = {where: self._consumer_group.committed_offset(where) for where in owned}

    def _deliver(self, record: Record) -> Record:
        self._positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
        return record

    def _check_open(self) -> None:
        if self._closed:
            raise MessagingError(f"this consumer of group {self.group!r} is closed")
