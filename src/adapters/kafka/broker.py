"""The messaging port on a real Kafka cluster (confluent-kafka): producers, consumers, topics, rewinds.

Nothing connects when this module is imported or a `KafkaBroker` is made; the admin client is created on
first use. Every method blocks (`producer` waits for `init_transactions`), so services call them from a
worker thread, never from the event loop.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import TypeVar

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from adapters.kafka.consumer import KafkaConsumer, consumer_config
from adapters.kafka.producer import KafkaProducer, producer_config
from adapters.kafka.reader import read_partitions
from adapters.messaging.broker import GroupNotEmpty, MessagingError, Record, TopicSpec, UnknownTopic

# What the group coordinator answers, per partition, an offset change for a group that has members:
# UNKNOWN_MEMBER_ID (seen on Kafka 4.4 with classic and KIP-848 groups alike). The other two are what an
# offset commit gets from a classic group in the middle of a rebalance (not seen here, but members exist).
_GROUP_HAS_MEMBERS = frozenset(
    {KafkaError.UNKNOWN_MEMBER_ID, KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION}
)

_Client = TypeVar("_Client", KafkaProducer, KafkaConsumer)

log = logging.getLogger(__name__)


class KafkaBroker:
    def __init__(
        self, bootstrap_servers: str, *, timeout_s: float = 10.0, replication_factor: int = 1
    ) -> None:
        """`timeout_s` bounds each blocking call to the cluster (admin requests, transaction steps);
        `replication_factor` is for the topics `create_topics` makes (1 suits a one-node cluster)."""
        self.bootstrap_servers = bootstrap_servers
        self._timeout_s = timeout_s
        self._replication_factor = replication_factor
        self._admin_client: AdminClient | None = None
        # The clients still in use, for `close`; one the caller dropped is destroyed (and forgotten) by GC.
        self._clients: weakref.WeakSet[KafkaProducer | KafkaConsumer] = weakref.WeakSet()

    # -- the Broker port -------------------------------------------------------------------------------

    def create_topics(self, topics: Iterable[TopicSpec]) -> list[str]:
        wanted = list(topics)
        existing = set(self._admin().list_topics(timeout=self._timeout_s).topics)
        missing = [NewTopic(t.name, t.partitions, self._replication_factor) for t in wanted if t.name not in existing]
        created = []
        if missing:
            for name, future in self._admin().create_topics(missing, request_timeout=self._timeout_s).items():
                try:
                    future.result()
                    created.append(name)
                except KafkaException as exc:
                    if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        raise MessagingError(f"could not create topic {name!r}: {exc.args[0]}") from exc
        self._wait_until_served([t.name for t in wanted])
        return created

    def producer(self, name: str) -> KafkaProducer:
        return self._track(KafkaProducer(producer_config(self.bootstrap_servers, name), self._timeout_s))

    def consumer(self, group: str, topics: Sequence[str]) -> KafkaConsumer:
        return self._track(KafkaConsumer(consumer_config(self.bootstrap_servers, group), topics))

    def rewind(self, group: str, topics: Sequence[str]) -> None:
        # "The beginning" is each partition's log start offset: 0 until retention deletes old records.
        earliest = self._earliest_offsets(topics)
        offsets = [TopicPartition(topic, partition, at) for (topic, partition), at in earliest.items()]
        request = ConsumerGroupTopicPartitions(group, offsets)
        try:
            result = self._admin().alter_consumer_group_offsets([request])[group].result()
        except KafkaException as exc:
            raise self._rewind_error(group, exc.args[0]) from exc
        for partition in result.topic_partitions:
            if partition.error is not None:
                raise self._rewind_error(group, partition.error)

    def read(self, topics: Sequence[str], *, max_records: int = 10_000, timeout_s: float = 10.0) -> list[Record]:
        # Where each partition starts, asked of the admin client (UnknownTopic for a topic that is not
        # there): a consumer told OFFSET_BEGINNING looks it up itself and took 0.5 s more per read (measured).
        wanted = list(dict.fromkeys(topics))
        earliest = self._earliest_offsets(wanted)
        starts = {where: earliest[where] for where in sorted(earliest, key=lambda tp: (wanted.index(tp[0]), tp[1]))}
        return read_partitions(self.bootstrap_servers, starts, max_records=max_records, timeout_s=timeout_s)

    def close(self) -> None:
        for client in list(self._clients):
            client.close()
        # An admin client has no close(): dropping it stops its thread, which would otherwise go on trying
        # to reach a broker that is gone (and say so on stderr) until the process ends.
        self._admin_client = None

    # -- helpers ---------------------------------------------------------------------------------------

    def _admin(self) -> AdminClient:
        if self._admin_client is None:
            # Its log into the service's JSON log, not raw to stderr (a broker outage made it print a line a
            # second there). An AdminClient hands what it queued to the logger only when polled: here, at
            # each use (the dead letters' watch uses it at least every 30 s).
            self._admin_client = AdminClient({"bootstrap.servers": self.bootstrap_servers}, logger=log)
        self._admin_client.poll(0)
        return self._admin_client

    def _track(self, client: _Client) -> _Client:
        self._clients.add(client)
        return client

    def _wait_until_served(self, topics: Sequence[str]) -> None:
        """Return once every partition of `topics` answers a ListOffsets request.

        Metadata names a leader a moment before the broker serves the partition: a request in between gets
        NOT_LEADER_FOR_PARTITION (seen on Kafka 4.4 right after creating a topic)."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                # confluent-kafka 2.16 leaves OffsetSpec's class methods unannotated.
                self._offsets(topics, OffsetSpec.latest())  # type: ignore[no-untyped-call]
                return
            except MessagingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _earliest_offsets(self, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        return self._offsets(topics, OffsetSpec.earliest())  # type: ignore[no-untyped-call] # as latest()

    def _offsets(self, topics: Sequence[str], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        admin = self._admin()
        metadata = admin.list_topics(timeout=self._timeout_s).topics
        wanted = {}
        for topic in topics:
            if topic not in metadata or metadata[topic].error is not None:
                raise UnknownTopic(f"topic {topic!r} does not exist")
            for partition in metadata[topic].partitions:
                wanted[TopicPartition(topic, partition)] = spec
        futures = admin.list_offsets(wanted, request_timeout=self._timeout_s)
        try:
            return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}
        except KafkaException as exc:
            raise MessagingError(f"could not read the offsets of {list(topics)}: {exc.args[0]}") from exc

    @staticmethod
    def _rewind_error(group: str, error: KafkaError) -> MessagingError:
        if error.code() in _GROUP_HAS_MEMBERS:
            return GroupNotEmpty(f"group {group!r} has members; close them first ({error.str()})")
        return MessagingError(f"could not rewind group {group!r}: {error.str()}")
