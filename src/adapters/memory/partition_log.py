"""The in-memory broker's topics: partitions of records in offset order, and the order records arrived in.

Part of `adapters.memory.broker`, whose docstring says what the fake keeps from Kafka and what it leaves out.
Knows nothing of producers or consumer groups: the broker checks fencing before it appends here, and
`adapters.memory.groups` reads here what its members are given.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from adapters.memory.partitioner import partition_for_key
from adapters.messaging.broker import Message, Record, UnknownTopic


@frozen(order=True)
class TopicPartition:
    topic: str
    partition: int


class PartitionLog:
    def __init__(self) -> None:
        self._topics: dict[str, list[list[Record]]] = {}
        # Every record ever appended, in append order: `records` reads it, and `poll` gives a member the
        # record that was appended first among the heads of its partitions (its "arrival order").
        self._journal: list[Record] = []
        self._arrival: dict[Record, int] = {}
        self._next_keyless: dict[str, int] = {}

    def create(self, name: str, partitions: int) -> bool:
        """Add the topic unless it exists; True if it was added."""
        if partitions < 1:
            raise ValueError(f"topic {name!r} needs at least one partition, not {partitions}")
        if name in self._topics:
            return False
        self._topics[name] = [[] for _ in range(partitions)]
        return True

    def exists(self, topic: str) -> bool:
        return topic in self._topics

    def require(self, topic: str) -> None:
        """Raise UnknownTopic unless `topic` exists."""
        self._partitions(topic)

    def partition_count(self, topic: str) -> int:
        return len(self._partitions(topic))

    def append(self, messages: Sequence[Message]) -> None:
        logs = [self._partitions(message.topic) for message in messages]  # all checks before the first append
        for message, log in zip(messages, logs, strict=True):
            partition = self._choose_partition(message, len(log))
            record = Record(
                message.topic, partition, len(log[partition]), message.key, message.value, message.headers
            )
            log[partition].append(record)
            self._arrival[record] = len(self._journal)
            self._journal.append(record)

    def records(self, topic: str, partition: int | None = None) -> tuple[Record, ...]:
        """The records of `topic` (or of one of its partitions), in the order they were appended."""
        self.require(topic)
        return tuple(
            r for r in self._journal if r.topic == topic and (partition is None or r.partition == partition)
        )

    def record_at(self, where: TopicPartition, offset: int) -> Record | None:
        log = self._partitions(where.topic)[where.partition]
        return log[offset] if offset < len(log) else None

    def end_offset(self, where: TopicPartition) -> int:
        return len(self._partitions(where.topic)[where.partition])

    def arrival_of(self, record: Record) -> int:
        return self._arrival[record]

    def _partitions(self, topic: str) -> list[list[Record]]:
        try:
            return self._topics[topic]
        except KeyError:
            raise UnknownTopic(f"topic {topic!r} does not exist") from None

    def _choose_partition(self, message: Message, partitions: int) -> int:
        if message.key is not None:
            return partition_for_key(message.key, partitions)
        turn = self._next_keyless.get(message.topic, 0)
        self._next_keyless[message.topic] = turn + 1
        return turn % partitions
