"""The messaging port: what the services need from a log broker, and nothing more.

Two adapters implement it and one contract suite (tests/contract) proves they agree where it matters:
`adapters.memory.broker.InMemoryBroker` (deterministic, for tests) and `adapters.kafka.broker.KafkaBroker`
(confluent-kafka). They do not inherit from these protocols; they only have the same shape.

    broker = KafkaBroker("127.0.0.1:9092")              # or InMemoryBroker()
    broker.create_topics(TOPICS)
    producer = broker.producer("order-relay")
    with producer.transaction() as batch:               # all or nothing
        batch.send("create-order", key=b"order-1", value=b"...")
    consumer = broker.consumer("product", ["update-stock"])
    record = consumer.poll(timeout_s=1.0)               # read_committed, never auto-commits
    if record is not None:
        handle(record)
        consumer.commit(record)                         # offset + 1, synchronously
        # or, with records sent: batch.commit_offsets(consumer, record) in a producer's transaction
    consumer.lag()                                      # {(topic, partition): records not yet committed}
    broker.read(["update-stock.dlq"])                   # every committed record there now; no group

Errors, all raised by both adapters:

    MessagingError
     ├── UnknownTopic               a send or a poll named a topic that does not exist
     ├── TransactionAborted         the batch was rolled back: none of its records will ever be seen
     ├── TransactionOutcomeUnknown  the commit may or may not have happened (timeout, client failure)
     ├── ProducerFenced             a newer producer with the same name took over; this one is finished
     ├── CommitFailed               the consumer no longer owns the partition: the record comes again
     ├── GroupNotEmpty              a group's offsets cannot be rewound while it has members
     └── ReadIncomplete             a read found more records than it may return, or ran out of time
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from attrs import field, frozen
from attrs.validators import ge, instance_of, optional

Headers = tuple[tuple[str, bytes], ...]


def _to_headers(pairs: Iterable[tuple[str, bytes]]) -> Headers:
    # Accept any iterable of pairs (a list, a generator) but store a tuple, so values stay hashable.
    headers = tuple((name, value) for name, value in pairs)
    for name, value in headers:
        if not isinstance(name, str) or not isinstance(value, bytes):
            raise TypeError(f"a header is a (str, bytes) pair, not ({name!r}, {value!r})")
    return headers


@frozen
class Message:
    """What a producer sends. The key chooses the partition: one key, one partition, order kept."""

    topic: str = field(validator=instance_of(str))
    key: bytes | None = field(validator=optional(instance_of(bytes)))
    value: bytes = field(validator=instance_of(bytes))
    headers: Headers = field(default=(), converter=_to_headers)


@frozen
class Record:
    """What a consumer gets: a message and where it sits in the log."""

    topic: str
    partition: int = field(validator=ge(0))
    offset: int = field(validator=ge(0))
    key: bytes | None
    value: bytes
    headers: Headers = field(default=(), converter=_to_headers)


class TopicSpec(Protocol):
    """A topic to create; `adapters.messaging.topics.Topic` is one."""

    @property
    def name(self) -> str:
        """The topic's name."""

    @property
    def partitions(self) -> int:
        """How many partitions it has."""


class Batch(Protocol):
    """The records of one open transaction."""

    def send(
        self, topic: str, *, key: bytes | None, value: bytes, headers: Iterable[tuple[str, bytes]] = ()
    ) -> None:
        """Add a record to the transaction; it becomes visible when the transaction commits."""

    def commit_offsets(self, consumer: Consumer, *records: Record) -> None:
        """Commit each record for `consumer`'s group (offset + 1, as `Consumer.commit`) as part of the
        transaction: if and only if it commits (Kafka's `send_offsets_to_transaction`). `consumer` must be
        one this broker made (else TypeError). CommitFailed if a partition is not the member's, now or
        when the transaction ends; then nothing of the transaction happens."""


class Producer(Protocol):
    """Publishes batches atomically. One transaction at a time; use it from one thread."""

    def transaction(self) -> AbstractContextManager[Batch]:
        """All records sent in the block become visible together when it ends; if the block raises, none
        do (the transaction is aborted and the exception propagates)."""

    def send_all(self, messages: Iterable[Message]) -> None:
        """Publish `messages` in one transaction."""

    def close(self) -> None:
        """Release the connection (between transactions, not inside one)."""


class Consumer(Protocol):
    """One member of a consumer group. Reads committed data only; commits only when told to."""

    def poll(self, timeout_s: float) -> Record | None:
        """The next record of the partitions this member owns, or None if none came within `timeout_s`."""

    def commit(self, *records: Record) -> None:
        """Record that each record and everything before it in its partition is done (commits offset + 1;
        Kafka: past the transaction markers after it, when it is the last record handed out and the client
        has stepped over them, so the group's offset reaches the partition's end), in one request.
        CommitFailed if a partition is not this member's: then none of them is committed (Kafka may have
        taken some; delivering those again is harmless to a consumer with an inbox)."""

    def lag(self) -> dict[tuple[str, int], int]:
        """What this member knows of the records not yet committed on each partition it owns: (topic,
        partition) -> the log's end (its last stable offset: records of open transactions are not there
        yet) minus the committed offset. A partition whose lag it does not know yet is left out (Kafka: no
        commit on it yet, or no news of its end). A new dict, safe to call from any thread."""

    def close(self) -> None:
        """Leave the group. Records delivered but not committed go to the next owner of their partition."""


class Broker(Protocol):
    """Makes producers and consumers, and administers topics and groups."""

    def create_topics(self, topics: Iterable[TopicSpec]) -> list[str]:
        """Create the topics that do not exist yet (existing ones are left as they are) and return when every
        partition of every one of them can be written and read; returns the names it created."""

    def producer(self, name: str) -> Producer:
        """A producer whose transactions are identified by `name`: making a second one with the same name
        fences the first (its later transactions raise ProducerFenced), so a zombie cannot publish."""

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        """A new member of `group`, subscribed to `topics`; a group with no commit starts at the beginning."""

    def rewind(self, group: str, topics: Sequence[str]) -> None:
        """Set the group's committed offsets on `topics` back to the beginning, so it replays everything.
        The group must have no members (raises GroupNotEmpty)."""

    def read(self, topics: Sequence[str], *, max_records: int = 10_000, timeout_s: float = 10.0) -> list[Record]:
        """Every committed record in `topics` now: from each partition's start (its log start offset: what
        retention left) to its end as the read finds it (read_committed: no record of an aborted or open
        transaction), ordered by topic as given, then partition, then offset. No consumer group: nothing is
        committed and no group's position moves. UnknownTopic for a topic that does not exist;
        ReadIncomplete if there are more than `max_records` or the ends are not reached within `timeout_s`
        (never a partial answer that looks whole)."""

    def close(self) -> None:
        """Close every producer and consumer this broker made that is still open."""


class MessagingError(Exception):
    """Base of every error the messaging adapters raise."""


class UnknownTopic(MessagingError):
    """A send or a poll named a topic that does not exist (topics are never created implicitly)."""


class TransactionAborted(MessagingError):
    """The transaction was rolled back: none of its records will be seen. Sending the batch again is safe."""


class TransactionOutcomeUnknown(MessagingError):
    """The commit may or may not have happened (it timed out, or the client failed mid-commit). The producer
    has been replaced; sending the batch again may publish it twice, which idempotent consumers absorb."""


class ProducerFenced(MessagingError):
    """A newer producer with the same name exists; this one can never publish again."""


class CommitFailed(MessagingError):
    """The offset was not committed, typically because the partition moved to another member of the group:
    the record will be delivered again, to that member."""


class GroupNotEmpty(MessagingError):
    """The group still has members; offsets can only be rewound while nobody consumes."""


class ReadIncomplete(MessagingError):
    """A `Broker.read` did not read everything: the topics hold more records than it may return, or the end
    of a partition was not reached in time. Nothing is returned rather than a part that looks whole."""
