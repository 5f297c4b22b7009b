"""`Broker.read` on confluent-kafka: every committed record of some topics, with no consumer group.

A consumer `assign`s itself every partition at its log start offset (what retention left; the caller asks
the admin client for it) instead of subscribing: no group is joined, no rebalance waited for, and, with
auto-commit off and a group id made for this read alone, nothing is committed anywhere. librdkafka needs a
`group.id` even so; a fresh one keeps the read from ever touching a real group's offsets.

Where a partition ends is librdkafka's partition-EOF event (`enable.partition.eof`): under read_committed it
comes when the client's position reaches the last stable offset, after it has stepped over the transaction
markers there (a marker takes an offset but is never handed out, so "the offset of the last record + 1"
would never be reached on a transactional topic). An empty partition ends at once. A partition that is
written to while it is read ends where the client first found its end: a read is a snapshot, not a tail.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping

from confluent_kafka import Consumer as ConfluentConsumer
from confluent_kafka import KafkaError, TopicPartition

from adapters.kafka.consumer import to_record
from adapters.messaging.broker import MessagingError, ReadIncomplete, Record, UnknownTopic

log = logging.getLogger(__name__)


def read_partitions(
    bootstrap_servers: str,
    starts: Mapping[tuple[str, int], int],
    *,
    max_records: int,
    timeout_s: float,
) -> list[Record]:
    """The committed records of each (topic, partition) from its start offset in `starts`, in the order
    `Broker.read` promises (topics in the order `starts` names them)."""
    if not starts:
        return []
    client = ConfluentConsumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"ordering-read-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            # A start that retention deleted meanwhile: from the new start.
            "auto.offset.reset": "earliest",
            # librdkafka's default (500 ms) is how long the broker may hold a fetch that finds nothing new,
            # and a read ends with such fetches: it made every read take 1.5 s instead of 0.05 (measured).
            "fetch.wait.max.ms": 10,
            "allow.auto.create.topics": False,
            "logger": log,
        }
    )
    try:
        client.assign([TopicPartition(topic, partition, start) for (topic, partition), start in starts.items()])
        found = _until_every_end(client, set(starts), max_records, timeout_s)
    finally:
        client.close()
    order = {topic: at for at, topic in enumerate(dict.fromkeys(topic for topic, _ in starts))}
    return sorted(found, key=lambda r: (order[r.topic], r.partition, r.offset))


def _until_every_end(
    client: ConfluentConsumer, open_partitions: set[tuple[str, int]], max_records: int, timeout_s: float
) -> list[Record]:
    found: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while open_partitions:
        left = deadline - time.monotonic()
        if left <= 0:
            ended = ", ".join(f"{t}[{p}]" for t, p in sorted(open_partitions))
            raise ReadIncomplete(f"the end of {ended} was not reached within {timeout_s:g} s")
        message = client.poll(min(left, 0.5))
        if message is None:
            continue
        error = message.error()
        where = (message.topic() or "", message.partition() or 0)
        if error is None:
            if where in open_partitions:  # past its end a partition's records are not this read's
                found.append(to_record(message))
                if len(found) > max_records:
                    raise ReadIncomplete(f"more than the {max_records} records asked for")
        elif error.code() == KafkaError._PARTITION_EOF:
            open_partitions.discard(where)
        elif error.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            raise UnknownTopic(error.str())
        elif error.fatal():
            raise MessagingError(error.str())
        else:  # connection trouble: librdkafka retries by itself, within the deadline
            log.warning("reading %s[%d]: %s", where[0], where[1], error.str())
    return found
