"""The consumer on confluent-kafka: read_committed, no auto-commit, synchronous commits when told.

Which group protocol. Measured on this project's 2-core machine against a Kafka 4.4 broker with
tools/localkafka's settings (group.initial.rebalance.delay.ms=0), confluent-kafka 2.16.1, one topic of
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

Lag (`lag`) comes from librdkafka's statistics, which it hands to `stats_cb` inside `poll`, on the polling
thread, every `statistics.interval.ms`: per partition, `consumer_lag` is the end (the last stable offset,
under read_committed) minus the committed offset (STATISTICS.md). But Kafka's transaction markers take
offsets too, and no record is handed out for them: committing its last record (offset + 1), a member stays
short of the end by the marker after it, and `consumer_lag` would never come back to 0. So the lag counted
is: past the client's position (`app_offset`, which steps over markers as it meets them), every offset, as
the client cannot tell records from markers it has not read; before it, only the records handed out and
not yet committed. A member that has read to the end and committed what it was given has a lag of 0.

Kafka's own tools (the admin API, kafka-consumer-groups.sh) count the end minus the committed offset, marker
included. So a commit of the last record handed out of a partition commits the client's position when it
is past offset + 1 (markers only in between), and an idle `poll` (one that waited, in vain) commits the
position of a partition whose last record was committed before the client stepped over the marker after it
(once per quiet partition): a group that is caught up shows a lag of 0 there too
(tests/contract/test_kafka_lag.py).
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka import Message as ConfluentMessage

from adapters.messaging.broker import CommitFailed, MessagingError, Record, UnknownTopic

log = logging.getLogger(__name__)

# How often `lag` is brought up to date. A report is about 11 KB of JSON for one broker and two topics of 3
# partitions, and reading it takes under 0.1 ms of the polling thread (measured on this project's machine).
STATISTICS_INTERVAL_MS = 1_000


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
        "statistics.interval.ms": STATISTICS_INTERVAL_MS,
        "logger": log,
    }


class KafkaConsumer:
    def __init__(self, config: dict[str, Any], topics: Sequence[str]) -> None:
        self.group: str = config["group.id"]
        self.topics = tuple(topics)
        self._lag: dict[tuple[str, int], int] = {}  # replaced whole by each statistics report, never changed
        # Per owned partition: the offsets of the records handed out and not yet committed, ascending.
        self._uncommitted: dict[tuple[str, int], list[int]] = {}
        self._last_handed_out: dict[tuple[str, int], int] = {}  # per owned partition, for commits
        self._committed_at: dict[tuple[str, int], int] = {}  # per owned partition: what this member committed
        self._client = ConfluentConsumer({**config, "stats_cb": self._take_statistics})
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
            # Idle only if it waited: a poll(0) finding nothing is a consumer that drained what was ready (a
            # batch's end, adapters.messaging.worker), and must not pay a synchronous commit each time.
            if timeout_s > 0:
                self._commit_past_markers()
            return None
        error = message.error()
        if error is not None:
            self._raise_if_serious(error)
            return None
        record = to_record(message)
        where = (record.topic, record.partition)
        uncommitted = self._uncommitted.get(where)
        if uncommitted is None:
            uncommitted = self._uncommitted[where] = []
        uncommitted.append(record.offset)
        self._last_handed_out[where] = record.offset
        return record

    def commit(self, *records: Record) -> None:
        self._check_open()
        if not records:
            return
        offsets = self._offsets_to_commit(records)
        where = f"group {self.group!r}, " + ", ".join(f"{r.topic}[{r.partition}]" for r in records)
        try:
            committed = self._client.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise CommitFailed(f"{where}: {exc.args[0]}") from exc
        refused = [f"{p.topic}[{p.partition}]: {p.error}" for p in committed or () if p.error is not None]
        if refused:
            raise CommitFailed(f"group {self.group!r}: " + "; ".join(refused))
        self._committed(offsets)

    # -- for the producer's `commit_offsets` (adapters.kafka.producer), on this consumer's thread ------------

    def _offsets_to_commit(self, records: Sequence[Record]) -> list[TopicPartition]:
        """The offsets committing `records` means; CommitFailed if a partition is not owned.

        Offset + 1, except for the last record handed out of its partition: then the client's position,
        past the transaction markers after it that the client has stepped over. Only markers (and records
        of aborted transactions, never handed out) lie between, so nothing is skipped; and a member that
        committed what it was given shows a lag of 0 to Kafka's own tools too (committed offset = end),
        not 1 per partition for the marker after its last record."""
        self._check_open()
        not_owned = [
            f"{r.topic}[{r.partition}]" for r in records if (r.topic, r.partition) not in self._owned
        ]
        if not_owned:
            raise CommitFailed(f"{', '.join(not_owned)} not owned by this member of group {self.group!r}")
        offsets = [TopicPartition(r.topic, r.partition, r.offset + 1) for r in records]
        last = [at for at, r in enumerate(records) if self._last_handed_out.get((r.topic, r.partition)) == r.offset]
        if last:
            try:
                positions = self._client.position([TopicPartition(o.topic, o.partition) for o in offsets])
            except KafkaException as exc:  # only a figure: offset + 1 is right too, just short of a marker
                log.info("consumer of group %r: no position (%s); committing offset + 1", self.group, exc)
                return offsets
            for at in last:
                position = positions[at]
                if position.error is None and position.offset > offsets[at].offset:
                    offsets[at] = TopicPartition(position.topic, position.partition, position.offset)
        return offsets

    def _group_metadata(self) -> object:
        return self._client.consumer_group_metadata()

    def _committed(self, offsets: Sequence[TopicPartition]) -> None:
        """`offsets` were committed (by `commit` or in a producer's transaction): the records before them are
        no longer lag."""
        for committed in offsets:
            where = (committed.topic, committed.partition)
            self._committed_at[where] = committed.offset
            uncommitted = self._uncommitted.get(where)
            if uncommitted:
                del uncommitted[: bisect_left(uncommitted, committed.offset)]

    def _commit_past_markers(self) -> None:
        """Idle: where this member committed its last record at offset + 1 and the client has since stepped
        over the transaction marker after it, commit its position (see `_offsets_to_commit`). Nothing but
        markers lies between, so this commits no record; once per quiet partition."""
        due = [
            TopicPartition(topic, partition)
            for (topic, partition), at in self._committed_at.items()
            if (topic, partition) in self._owned
            and not self._uncommitted.get((topic, partition))
            and self._last_handed_out.get((topic, partition)) == at - 1
        ]
        if not due:
            return
        try:
            positions = self._client.position(due)
            ahead = [
                p
                for p in positions
                if p.error is None and p.offset > self._committed_at.get((p.topic, p.partition), p.offset)
            ]
            if ahead:
                self._client.commit(offsets=ahead, asynchronous=False)
                self._committed(ahead)
        except KafkaException as exc:  # only a figure for Kafka's tools: the next quiet poll tries again
            log.info("consumer of group %r: committing past the markers failed: %s", self.group, exc)

    def _assigned(self, _client: object, partitions: list[TopicPartition]) -> None:
        self._owned.update((p.topic, p.partition) for p in partitions)

    def _revoked(self, _client: object, partitions: list[TopicPartition]) -> None:
        self._owned.difference_update((p.topic, p.partition) for p in partitions)
        for p in partitions:
            self._uncommitted.pop((p.topic, p.partition), None)
            self._last_handed_out.pop((p.topic, p.partition), None)
            self._committed_at.pop((p.topic, p.partition), None)

    def lag(self) -> dict[tuple[str, int], int]:
        """As of the last statistics report (at most `STATISTICS_INTERVAL_MS` old); any thread."""
        return dict(self._lag)

    def _take_statistics(self, statistics: str) -> None:
        # Called by librdkafka inside `poll`, on the polling thread, like the rebalance callbacks.
        try:
            topics = json.loads(statistics).get("topics", {})
            lag = {}
            for topic, about in topics.items():
                for number, partition in about.get("partitions", {}).items():
                    where = (topic, int(number))
                    if where in self._owned:
                        behind = _records_behind(partition, self._uncommitted.get(where, []))
                        if behind is not None:
                            lag[where] = behind
        except (ValueError, LookupError, TypeError, AttributeError) as error:
            # An exception here would come out of `poll`; a report we cannot read is only a stale `lag`.
            log.warning("consumer of group %r: unreadable statistics: %s", self.group, error)
            return
        self._lag = lag

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


def _records_behind(partition: dict[str, Any], uncommitted: list[int]) -> int | None:
    """A partition's lag from its statistics and the records handed out not yet committed (see the module's
    docstring); None while librdkafka does not know it (`consumer_lag` -1: no commit on the partition yet,
    or its end not known yet)."""
    if partition.get("consumer_lag", -1) < 0:
        return None
    end: int = partition["ls_offset"]
    committed: int = partition["committed_offset"]
    read: int = partition.get("app_offset", -1)
    position = max(committed, read)  # -1001 until a record or marker was read
    handed_out = bisect_left(uncommitted, position) - bisect_left(uncommitted, committed)
    return max(0, end - position) + handed_out


def to_record(message: ConfluentMessage) -> Record:
    """A record as the port has it, from a message the client handed out without an error."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    # A message without an error always has all three; the type stubs cannot say so.
    if topic is None or partition is None or offset is None:
        raise MessagingError(f"the client gave a message without its place: {topic}/{partition}@{offset}")
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
