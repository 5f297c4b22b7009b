"""The records on the dead-letter topics (`<topic>.dlq`), read from the beginning to their end as it is now.

A consumer with `assign()` (no group membership, nothing committed), read_committed like the services, reads
every partition from offset 0 up to its high watermark. Each record is kept as its key and its `dlq-reason`
header, so the run can say which of its own orders were set aside and why.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from adapters.messaging.topics import DEAD_LETTER_TOPICS

READ_TIMEOUT_S = 30.0
REASON_HEADER = "dlq-reason"


def read_dead_letters(bootstrap: str) -> list[tuple[str, str, str]]:
    """(topic, key, reason) of every committed record on every dead-letter topic."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"chaos-reader-{uuid.uuid4().hex}",  # required by the client; never joined or committed
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "log_level": 3,
    })
    try:
        ends: dict[tuple[str, int], int] = {}
        for topic in DEAD_LETTER_TOPICS:
            described = consumer.list_topics(topic.name, timeout=10.0).topics[topic.name]
            for partition in described.partitions:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic.name, partition), timeout=10.0)
                if high > 0:
                    ends[(topic.name, partition)] = high
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
        return _read_to(consumer, ends)
    finally:
        consumer.close()


def _read_to(consumer: Any, ends: dict[tuple[str, int], int]) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    position = dict.fromkeys(ends, 0)
    # The high watermark counts transaction markers too, which are never handed out: a partition is done
    # once its position (the next offset) reaches the end, or nothing more comes.
    while any(position[tp] < ends[tp] for tp in ends) and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            if _positions_at_end(consumer, ends, position):
                break
            continue
        if message.error() is not None:
            continue
        where = (message.topic(), message.partition())
        position[where] = message.offset() + 1
        headers = dict(message.headers() or [])
        reason = headers.get(REASON_HEADER, b"").decode(errors="replace")
        found.append((message.topic(), (message.key() or b"").decode(errors="replace"), reason))
    return found


def _positions_at_end(consumer: Any, ends: dict[tuple[str, int], int], seen: dict[tuple[str, int], int]) -> bool:
    from confluent_kafka import TopicPartition

    assigned = [TopicPartition(t, p) for t, p in ends]
    for tp in consumer.position(assigned):
        if tp.offset >= 0:
            seen[(tp.topic, tp.partition)] = max(seen[(tp.topic, tp.partition)], tp.offset)
    return all(seen[tp] >= ends[tp] for tp in ends)
