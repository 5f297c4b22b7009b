"""The transactional producer on confluent-kafka: one batch, one Kafka transaction.

Failure handling, from librdkafka's transactional API and the pitfalls we plan around:
- the block raised, or the commit says the transaction must be aborted (`txn_requires_abort`): abort, and
  the records are never seen (TransactionAborted, or the block's own exception);
- anything else during a commit (a fatal error, a timeout): the outcome is unknown. We do not retry the
  commit on the same client: Jepsen (2024) saw aborted reads and lost writes when commits and aborts raced
  over retried connections. We drop the client instead; the next transaction makes a fresh one whose
  `init_transactions` fences the old one and settles whatever it left open (TransactionOutcomeUnknown);
- fenced (a newer producer took our `transactional.id`): final; recreating would fence the newer one back.
  A send that fails because of it (the abort then learns it) is reported as ProducerFenced too.

`commit_offsets` adds a consumer's offsets to the transaction (`send_offsets_to_transaction`, with the
consumer's group metadata, so a member the group has moved on from is refused, KIP-447); once the
transaction commits, the consumer counts those records as committed in its lag.

Delivery reports arrive only when the client is polled or flushed: `send` polls without waiting, and
`commit_transaction` flushes. In a transaction a record that cannot be delivered makes the commit fail with
an abortable error, so no per-record callback is needed (and with one, confluent-kafka 2.16.1's `flush`
raises SystemError when a fatal error and a pending callback meet). Every call here blocks; the services run
producers on a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka import Producer as ConfluentProducer

from adapters.kafka.consumer import KafkaConsumer
from adapters.messaging.broker import (
    Message,
    MessagingError,
    ProducerFenced,
    Record,
    TransactionAborted,
    TransactionOutcomeUnknown,
    UnknownTopic,
)

log = logging.getLogger(__name__)

# The error codes by which librdkafka says another producer now owns our transactional.id.
_FENCED = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH})


def producer_config(bootstrap_servers: str, name: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": name,
        "transactional.id": name,
        # Durability (implied by transactional.id, said outright here): librdkafka then sets acks=all,
        # unbounded retries and in-order delivery, and refuses to start if any is overridden. A commit is
        # thus on every in-sync copy, at least min.insync.replicas of them: 2 of 3 on the three-node cluster.
        "enable.idempotence": True,
        # The Java client's default partitioner: keyed records land where `partition_for_key` (and so the
        # in-memory broker) says. librdkafka's own default (consistent_random, CRC32) would not agree.
        "partitioner": "murmur2_random",
        # Batches are formed by the caller (one transaction per outbox batch); waiting longer buys nothing.
        "linger.ms": 5,
        # An abandoned transaction (a relay that died mid-batch) blocks read_committed consumers of its
        # partitions until the coordinator aborts it after this long. Our commits take tens of ms.
        "transaction.timeout.ms": 15_000,
        # Topics are created on purpose, with their partition counts.
        "allow.auto.create.topics": False,
        "logger": log,
    }


class KafkaProducer:
    def __init__(self, config: dict[str, Any], timeout_s: float) -> None:
        self.name: str = config["transactional.id"]
        self._config = config
        self._timeout_s = timeout_s
        self._fenced = False
        self._closed = False
        self._in_transaction = False
        self._known_topics: set[str] = set()
        # Initialise now, not at the first batch: making a producer is what fences an older one with the
        # same name (as in the in-memory broker), so a zombie cannot publish once its successor exists.
        self._client: ConfluentProducer | None = self._new_client()

    @contextmanager
    def transaction(self) -> Iterator[_KafkaBatch]:
        client = self._usable_client()
        try:
            client.begin_transaction()
        except KafkaException as exc:
            raise self._give_up(exc, MessagingError) from exc
        self._in_transaction = True
        batch = _KafkaBatch(self, client)
        try:
            yield batch
        except MessagingError as exc:
            self._abort(client)
            if self._fenced and not isinstance(exc, ProducerFenced):
                # A send failed because the producer was fenced (the abort learnt it): say that, as the
                # caller must not make a new producer (it would fence the one that took over).
                raise ProducerFenced(f"a newer producer named {self.name!r} exists ({exc})") from exc
            raise
        except BaseException:
            self._abort(client)
            raise
        finally:
            self._in_transaction = False
        self._commit(client)
        for consumer, offsets in batch.offsets:
            consumer._committed(offsets)

    def send_all(self, messages: Iterable[Message]) -> None:
        with self.transaction() as batch:
            for m in messages:
                batch.send(m.topic, key=m.key, value=m.value, headers=m.headers)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._client is not None:
            self._client.close()  # aborts an open transaction, delivers what is queued
            self._client = None

    # -- life of the client ----------------------------------------------------------------------------

    def _new_client(self) -> ConfluentProducer:
        client = ConfluentProducer(self._config)
        try:
            client.init_transactions(self._timeout_s)
        except KafkaException as exc:
            raise MessagingError(f"producer {self.name!r} cannot start transactions: {exc.args[0]}") from exc
        return client

    def _usable_client(self) -> ConfluentProducer:
        if self._closed:
            raise MessagingError(f"producer {self.name!r} is closed")
        if self._fenced:
            raise ProducerFenced(f"a newer producer named {self.name!r} exists")
        if self._in_transaction:
            raise MessagingError(f"producer {self.name!r} already has a transaction open")
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _commit(self, client: ConfluentProducer) -> None:
        try:
            client.commit_transaction(self._timeout_s)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.txn_requires_abort():
                self._abort(client)
                # Measured (librdkafka 2.16): after a record failed delivery, the next transaction on the
                # same client fails too (OUT_OF_ORDER_SEQUENCE_NUMBER, "requires epoch bump"). A fresh
                # client starts with a new epoch, so the batch can be sent again at once.
                self._client = None
                raise TransactionAborted(f"producer {self.name!r}: {error.str()}; aborted") from exc
            raise self._give_up(exc, TransactionOutcomeUnknown) from exc

    def _abort(self, client: ConfluentProducer) -> None:
        """Abort the open transaction. Never raises: the caller's own exception is the one to propagate."""
        try:
            client.abort_transaction(self._timeout_s)
        except KafkaException as exc:
            log.warning("producer %r: abort failed (%s); replacing the client", self.name, exc.args[0])
            self._give_up(exc, MessagingError)

    def _give_up(self, exc: KafkaException, kind: type[MessagingError]) -> MessagingError:
        """Drop the client after an error it cannot recover from; return the error to raise."""
        error: KafkaError = exc.args[0]
        # No close(): it would try to deliver and commit what is queued. Dropping the last reference
        # destroys the client; the next one's init_transactions fences it and settles its transaction.
        self._client = None
        if error.code() in _FENCED:
            self._fenced = True
            return ProducerFenced(f"a newer producer named {self.name!r} exists ({error.str()})")
        return kind(f"producer {self.name!r}: {error.str()}; the client was replaced")

    def _check_topic(self, client: ConfluentProducer, topic: str) -> None:
        # librdkafka would queue records for a missing topic and fail the commit much later; ask the
        # cluster once per topic instead, and refuse at `send` like the in-memory broker.
        if topic in self._known_topics:
            return
        try:
            found = client.list_topics(topic, timeout=self._timeout_s).topics.get(topic)
        except KafkaException as exc:
            raise MessagingError(f"could not look up topic {topic!r}: {exc.args[0]}") from exc
        if found is None or found.error is not None:
            if found is None or found.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise UnknownTopic(f"topic {topic!r} does not exist")
            raise MessagingError(f"topic {topic!r}: {found.error}")
        self._known_topics.add(topic)


class _KafkaBatch:
    def __init__(self, producer: KafkaProducer, client: ConfluentProducer) -> None:
        self._producer = producer
        self._client = client
        self.offsets: list[tuple[KafkaConsumer, list[TopicPartition]]] = []

    def commit_offsets(self, consumer: object, *records: Record) -> None:
        if not isinstance(consumer, KafkaConsumer):
            raise TypeError(f"{consumer!r} is not a Kafka consumer")
        if not records:
            return
        offsets = consumer._offsets_to_commit(records)
        name = self._producer.name
        try:
            # A member that lost a partition since is refused by the group coordinator (its generation is
            # part of the metadata, KIP-447): the commit then fails, abortable, and nothing happens.
            self._client.send_offsets_to_transaction(
                offsets, consumer._group_metadata(), self._producer._timeout_s
            )
        except KafkaException as exc:
            raise MessagingError(f"producer {name!r} could not add group {consumer.group!r}'s offsets: "
                                 f"{exc.args[0]}") from exc
        self.offsets.append((consumer, offsets))

    def send(
        self, topic: str, *, key: bytes | None, value: bytes, headers: Iterable[tuple[str, bytes]] = ()
    ) -> None:
        message = Message(topic, key=key, value=value, headers=headers)  # the same checks as in memory
        self._producer._check_topic(self._client, topic)
        try:
            while True:
                try:
                    self._client.produce(
                        topic, value=message.value, key=message.key, headers=list(message.headers)
                    )
                    break
                except BufferError:
                    # The local queue is full: let the client deliver some before adding more.
                    self._client.poll(0.1)
            self._client.poll(0)
        except KafkaException as exc:
            # Leaving the block with this error aborts the transaction; if the client is beyond saving,
            # the abort fails too and the producer replaces it (or learns it was fenced).
            name = self._producer.name
            raise MessagingError(f"producer {name!r} could not send to {topic!r}: {exc.args[0]}") from exc
