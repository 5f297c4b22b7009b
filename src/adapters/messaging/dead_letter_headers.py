"""What a dead letter carries besides its record, written by the consumer that sets a record aside
(adapters.messaging.worker) and read by the operator's desk (adapters.messaging.dead_letters).

A dead letter is the refused record's key and value, its own headers, then why, where and when it was set
aside. These share a prefix so that a record read back from a dead-letter topic (a replay after a fix) and
refused again carries one set, this refusal's, not two sets a reader would have to tell apart. A replayed
record carries `replayed-from`, deliberately without the prefix: when it is refused again, the new dead
letter keeps it, so the trail shows it was tried before.
"""

from __future__ import annotations

from datetime import datetime

from adapters.messaging.broker import Headers, Record

DEAD_LETTER_HEADER_PREFIX = "dlq-"
REASON_HEADER = "dlq-reason"
TOPIC_HEADER = "dlq-topic"
PARTITION_HEADER = "dlq-partition"
OFFSET_HEADER = "dlq-offset"
AT_HEADER = "dlq-at"  # when: UTC, ISO 8601, so that a list of dead letters can say how long each has waited
REPLAYED_FROM_HEADER = "replayed-from"


def dead_letter_headers(record: Record, reason: str, at: datetime) -> Headers:
    """The record's own headers less the dlq-* ones of an earlier refusal, then this refusal's."""
    return (
        *_without(record.headers, DEAD_LETTER_HEADER_PREFIX),
        (REASON_HEADER, reason.encode()),
        (TOPIC_HEADER, record.topic.encode()),
        (PARTITION_HEADER, str(record.partition).encode()),
        (OFFSET_HEADER, str(record.offset).encode()),
        (AT_HEADER, at.isoformat().encode()),
    )


def replayed_headers(headers: Headers, ref: str) -> Headers:
    """What a dead letter goes back to its topic with: its record's own headers, and where it came from."""
    own = _without(_without(headers, DEAD_LETTER_HEADER_PREFIX), REPLAYED_FROM_HEADER)
    return (*own, (REPLAYED_FROM_HEADER, ref.encode()))


def _without(headers: Headers, prefix: str) -> Headers:
    return tuple((name, value) for name, value in headers if not name.startswith(prefix))
