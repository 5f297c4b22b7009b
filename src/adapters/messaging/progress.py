"""Where a consumer worker is (adapters.messaging.worker): the records it applied and has not committed yet,
and the record it keeps failing to apply.

Offsets are committed for a batch, not per record: at most every `commit_interval_s` of the worker, whenever
the topics run dry (a poll returns nothing) and before the consumer closes. A synchronous commit per record cost a
broker round trip and a write to `__consumer_offsets` each: under load the Message Service's consumer spent
half its samples waiting in it, the Product Service's a fifth (BENCHMARKS.md). What a crash or a rebalance
loses is only the note that some records were done: they are delivered again and the inbox drops them.

A record the worker keeps failing to apply (not the record's fault: the database down, a bug) is made
visible, not bounded. The worker's loop runs on one thread and retries a record alone (a batch that failed
is applied again one record at a time), so while it retries it polls nothing: every partition this member
owns waits, not only the record's (making the others go on would need pausing one partition, a retry queue
and per-partition commits; not done). What shows it: the worker's `stuck()` (where, since when, how many
tries, the last error), read by the service's readiness (`consumer_check`) and by
`ordering_consumer_retries` / `ordering_consumer_stuck_seconds`; each failed try is a warning, and the
`STUCK_AFTER_TRIES`th (then every `STUCK_AFTER_TRIES` more) an error, "consumer ... stuck". Kafka's
`max.poll.interval.ms` (300 s) is not a bound either: past it the member is put out of the group and, once
the record is applied, rejoins; the records it applied and had not committed come again and the inbox drops
them. docs/operations.md says what an operator does.
"""

from __future__ import annotations

import logging
import time

from attrs import frozen

from adapters.messaging.broker import CommitFailed, Consumer, Record

log = logging.getLogger(__name__)


@frozen
class Stuck:
    """The record a worker keeps failing to apply, for readiness and metrics (read from any thread)."""

    where: str  # topic@partition/offset
    since: float  # time.monotonic() of its first failed try
    tries: int  # failed tries so far
    error: str  # the last one's

    def seconds(self) -> float:
        return time.monotonic() - self.since



class DoneOffsets:
    """The last record applied on each partition since the last commit, and how long the oldest has waited."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], Record] = {}
        self._since = 0.0

    def add(self, record: Record) -> None:
        if not self._last:
            self._since = time.monotonic()
        self._last[(record.topic, record.partition)] = record

    def age(self) -> float:
        return time.monotonic() - self._since if self._last else 0.0

    def commit(self, consumer: Consumer) -> None:
        if not self._last:
            return
        records, self._last = list(self._last.values()), {}
        try:
            consumer.commit(*records)
        except CommitFailed:
            # A partition moved to another member since (it delivers those records again: the inbox makes
            # that harmless). Commit the others one by one, so their progress is not lost with it.
            for record in records:
                try:
                    consumer.commit(record)
                except CommitFailed as error:
                    log.info(
                        "commit of %s@%d/%d not taken: %s",
                        record.topic,
                        record.partition,
                        record.offset,
                        error,
                    )
