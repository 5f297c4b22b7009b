"""The consumer on confluent-kafka: read_committed, no auto-commit, synchronous commits when told.

Which group protocol. Measured on this project's 2-core machine against a Kafka 4.4 broker with
tools/localkafka.py's settings (group.initial.rebalance.delay.ms=0), confluent-kafka 2.16.1, one topic of
3 partitions, 5 runs (first two rows) or 8 runs each, median (max):

    setting                                 join + 1st record  2nd member joins  a member leaves  close()
    group.protocol=consumer (KIP-848)       0.17 s (0.24)      5.09 s (5.10)     4.83 s (4.87)    <0.01 s
    classic, heartbeat.interval.ms=3000     0.20 s (3.18)      2.97 s (2.98)     2.96 s (2.97)    <0.01 s
    classic, heartbeat.interval.ms=500      0.17 s (0.22)      0.51 s (0.51)     0.45 s (0.46)    <0.01 s
    classic, heartbeat.interval.ms=250      0.17 s (0.19)      0.30 s (0.31)     0.15 s (0.15)    <0.01 s
    classic, 250 ms, cooperative-sticky     0.16 s (0.17)      1.11 s (1.11)     0.25 s (0.30)    <0.01 s
    KIP-848, broker heartbeat lowered to    0.19 s (0.56)      1.11 s (1.12)     0.81 s (0.81)    <0.01 s
      250 ms (group.consumer.[min.]heartbeat.interval.ms; a throwaway broker, not our settings)

("2nd member joins": until both members own partitions; "a member leaves": until the other owns all three;
3000 ms is librdkafka's default; its 3.18 s outlier was the first group of the series.)
A new group joins equally fast either way; rebalances are paced by heartbeats. Under KIP-848 the interval
is the broker's (5 s by default, and no lower than the broker's minimum) and even at 250 ms it stays slower
than the classic protocol with our own 250 ms. So: classic, 250 ms heartbeats, the default eager assignors
(cooperative-sticky needs a second round before a partition moves).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka import Message as ConfluentMessage

from adapters.messaging import CommitFailed, MessagingError, Record, UnknownTopic

log = logging.getLogger(__name__)


def consumer_config(bootstrap_servers: str, group: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group,
        # Commit only after the handler's database transaction (pitfalls: auto-commit runs ahead of it).
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # Records of open or aborted transactions are never handed to us.
        "isolation.level": "read_committed",
        # A group that never committed starts at the beginning: nothing published before it existed is lost.
        "auto.offset.reset": "earliest",
        "allow.auto.create.topics": False,
        "group.protocol": "classic",  # see the measurements above
        "heartbeat.interval.ms": 250,
        # A member that dies without leaving is noticed after this long: the broker's minimum by default.
        "session.timeout.ms": 6_000,
        "logger": log,
    }


class KafkaConsumer:
    def __init__(self, config: dict[str, Any], topics: Sequence[str]) -> None:
        self.group: str = config["group.id"]
        self.topics = tuple(topics)
        self._client = ConfluentConsumer(config)
        # The partitions this member owns, kept by the rebalance callbacks (they run inside `poll`, on the
        # caller's thread). The classic protocol lets any member of the current generation commit any
        # partition, so a late commit for a partition that moved could move its offset backwards: `commit`
        # refuses partitions not owned, as the in-memory broker does.
        self._owned: set[tuple[str, int]] = set()
        self._client.subscribe(
            list(self.topics), on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )
        self._closed = False

    def poll(self, timeout_s: float) -> Record | None:
        self._check_open()
        message = self._client.poll(timeout_s)
        if message is None:
            return None
        error = message.error()
        if error is not None:
            self._raise_if_serious(error)
            return None
        return _to_record(message)

    def commit(self, *records: Record) -> None:
        self._check_open()
        if not records:
            return
        not_owned = [
            f"{r.topic}[{r.partition}]" for r in records if (r.topic, r.partition) not in self._owned
        ]
        if not_owned:
            raise CommitFailed(f"{', '.join(not_owned)} not owned by this member of group {self.group!r}")
        offsets = [TopicPartition(r.topic, r.partition, r.offset + 1) for r in records]
        where = f"group {self.group!r}, " + ", ".join(f"{r.topic}[{r.partition}]" for r in records)
        try:
            committed = self._client.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise CommitFailed(f"{where}: {exc.args[0]}") from exc
        refused = [f"{p.topic}[{p.partition}]: {p.error}" for p in committed or () if p.error is not None]
        if refused:
            raise CommitFailed(f"group {self.group!r}: " + "; ".join(refused))

    def _assigned(self, _client: object, partitions: list[TopicPartition]) -> None:
        self._owned.update((p.topic, p.partition) for p in partitions)

    def _revoked(self, _client: object, partitions: list[TopicPartition]) -> None:
        self._owned.difference_update((p.topic, p.partition) for p in partitions)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.close()  # leaves the group now, so the partitions move without a session timeout

    def _raise_if_serious(self, error: KafkaError) -> None:
        if error.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            raise UnknownTopic(f"group {self.group!r}: {error.str()}")
        if error.fatal():
            raise MessagingError(f"group {self.group!r}: {error.str()}")
        # Connection trouble and the like: librdkafka retries by itself; the caller just polls again.
        log.warning("consumer of group %r: %s", self.group, error.str())

    def _check_open(self) -> None:
        if self._closed:
            raise MessagingError(f"this consumer of group {self.group!r} is closed")


def _to_record(message: ConfluentMessage) -> Record:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    # A message without an error always has all three; the type stubs cannot say so.
    assert topic is not None and partition is not None and offset is not None
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return Record(
        topic=topic,
        partition=partition,
        offset=offset,
        key=message.key(),
        # Kafka allows a null value (a tombstone); our producers never send one.
        value=message.value() or b"",
        headers=tuple((name, _as_bytes(value)) for name, value in pairs),
    )


def _as_bytes(header_value: str | bytes | None) -> bytes:
    # Kafka allows null header values, and other clients may send text; our producers send bytes.
    if header_value is None:
        return b""
    return header_value.encode() if isinstance(header_value, str) else header_value
