"""A consumer loop: read a record, apply it with a use case, commit the offset only after that.

Offsets are committed for a batch, not per record (adapters.messaging.progress says when, and why).

The use case records the message id in its own database transaction (the inbox), so a record delivered again
(after a crash, a rebalance, a replay) changes nothing. What cannot be applied goes to the dead-letter topic
with the reason, where it was read and when it was set aside in its headers (adapters.messaging.
dead_letter_headers), and the loop moves on:
- a record that is not a valid event of its topic (`UndecodableEvent`);
- a valid event the domain refuses (an `OrderingError`, e.g. an order this service never had).
Anything else (the database unavailable, a bug) is not the record's fault: the record is retried, with
backoff (0.1 s doubling to `max_backoff_s`), and not committed until it is applied.

A record that keeps failing so is made visible, not bounded: adapters.messaging.progress, `Stuck`.

Given a `batch` (the database's: one transaction in which each unit of work the thread opens is a savepoint),
the worker applies the records a poll has ready, up to `max_batch`, in one: one BEGIN and one COMMIT for them all
instead of one each (BENCHMARKS.md). Their offsets are noted only after the batch commits, and the batch always
commits before anything is set aside: a dead letter commits its record's offset, which covers the records before
it on that partition. So:
- a record that cannot be applied (undecodable, refused) ends the batch before it; its unit of work took back
  its own writes; the batch commits, and the record is handled alone, as without a batch;
- a batch that fails (an error that is not the record's fault, or the COMMIT itself) keeps nothing, and its
  records are applied again one at a time, with the retries above.
A line a use case logs about a record ("stock reserved") is written before the batch commits; a batch that then
fails applies that record again and logs it again. `on_batch_committed` runs after each batch that applied
something (the composition root wakes its outbox relay: what the batch published was not visible before).

A dead letter and its offset commit are one transaction (the port's `commit_offsets`, Kafka's
`send_offsets_to_transaction`): the record is set aside and its partition's progress committed together, so
a crash in between cannot set it aside twice. Only the first try does so: if that transaction fails, the
next tries publish the dead letter alone and its offset is committed later with the records applied around
it (a member the group moved on from is refused its offsets every time, and must not retry for ever); a
crash in that window sets the record aside twice, two identical dead letters with the same `dlq-topic`,
`dlq-partition` and `dlq-offset`, which a reader tells apart from two refusals (the inbox does not help: a
refused record is in no inbox). A record `handle` is given without its member is committed by the caller.

The dead-letter producer is named `<group>-dead-letters-<instance>` (`<group>-dead-letters` without an
instance): each instance of a service has its own, so instances sharing the group's partitions never fence
each other, and a restarted instance fences its own zombie. If it is fenced (a second worker with the same
instance name took the name) the worker stops for good, as a relay without a lease does: the record is not
committed, the member leaves the group (its partitions go to the worker that took over), `fenced` is set,
readiness and `ordering_consumer_fenced` say so, and an error line is logged.

Every record is handled in a log context (adapters.logs) naming where it was read and, from its W3C
`traceparent` header, the trace it belongs to; once decoded, its event's order, message and correlation ids.
So the line `apply` logs about what the event changed ("stock reserved", "customer message recorded")
names the order, the message and the trace it belongs to, and so do the dead-letter warning and the retries'
errors. Each record handled is also a debug line ("event handled", duplicates included).

Runs on its own thread: `poll` and SQLite block.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime

from adapters import tracecontext
from adapters.logs import log_context
from adapters.messaging.broker import (
    Broker,
    CommitFailed,
    Consumer,
    MessagingError,
    Producer,
    ProducerFenced,
    Record,
)
from adapters.messaging.dead_letter_headers import dead_letter_headers
from adapters.messaging.progress import DoneOffsets, Stuck
from adapters.messaging.topics import dead_letter_topic
from adapters.wire.codec import UndecodableEvent, decode
from ordering_core import Event, OrderingError

log = logging.getLogger(__name__)

# After this many failed tries of one record the worker logs an error and its readiness check fails. A
# locked database clears within one busy timeout (5 s, adapters.sqlite.database) and the first ten tries
# take at least 20 s of backoff (0.1 s doubling to 5 s): longer than any lock we expect to wait out, and far
# short of Kafka's max.poll.interval.ms (300 s).
STUCK_AFTER_TRIES = 10

# The most records applied in one database transaction: what one poll's fetch usually holds under load, and a
# bound on how long the batch holds the database's writer lock (about 10 ms at 100 us a record).
MAX_BATCH = 100

Batch = Callable[[], AbstractContextManager[object]]


class ConsumerWorker:
    def __init__(
        self,
        broker: Broker,
        *,
        group: str,
        topics: Sequence[str],
        apply: Callable[[Event], object],
        poll_timeout_s: float = 0.5,
        commit_interval_s: float = 0.2,
        max_backoff_s: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_dead_letter: Callable[[], None] = lambda: None,
        instance: str | None = None,
        batch: Batch | None = None,
        max_batch: int = MAX_BATCH,
        on_batch_committed: Callable[[], None] = lambda: None,
    ) -> None:
        """`clock` stamps each dead letter (`dlq-at`); `on_dead_letter` is called after one was set aside
        (so a gauge of dead letters waiting can look again now rather than at its next round); `instance`
        names this process among the service's; `batch` opens one database transaction for several records
        (None: each record in its own), `max_batch` records at most (module docstring)."""
        self._broker = broker
        self.group = group
        self._producer_name = f"{group}-dead-letters" + (f"-{instance}" if instance else "")
        self.topics = tuple(topics)
        self._apply = apply
        self._poll_timeout_s = poll_timeout_s
        self._commit_interval_s = commit_interval_s
        self._max_backoff_s = max_backoff_s
        self._clock = clock
        self._on_dead_letter = on_dead_letter
        self._batch = batch
        self._max_batch = max_batch
        self._on_batch_committed = on_batch_committed
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"consumer-{group}", daemon=True)
        self._dead_letters: Producer | None = None
        self.applied = 0  # records applied (duplicates included: the use case decides what they change)
        self.transactions = 0  # database transactions they were applied in: one a batch, one a record alone
        self.dead_lettered_by_topic: dict[str, int] = {}  # records set aside, by the topic read from
        self.last_error: str | None = None
        self._consumer: Consumer | None = None  # the group member of the moment, for `lag`
        self._stuck: Stuck | None = None  # replaced whole, never changed: other threads read it
        self.fenced = False  # its dead-letter producer was fenced: it consumes no more (module docstring)

    @property
    def dead_lettered(self) -> int:
        """Records set aside, every topic together."""
        return sum(self.dead_lettered_by_topic.values())

    def lag(self) -> dict[tuple[str, int], int]:
        """The current group member's lag (`Consumer.lag`), {} between members; a copy, for any thread."""
        consumer = self._consumer
        return {} if consumer is None else consumer.lag()

    def stuck(self) -> Stuck | None:
        """The record it keeps failing to apply, if it is retrying one now; for any thread."""
        return self._stuck

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    # -- the loop ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set() and not self.fenced:
            try:
                consumer = self._broker.consumer(self.group, self.topics)
            except MessagingError as error:
                self._note(error)
                self._stopping.wait(self._max_backoff_s)
                continue
            done = DoneOffsets()
            self._consumer = consumer
            try:
                while not self._stopping.is_set() and not self.fenced:
                    record = consumer.poll(self._poll_timeout_s)
                    if record is None:
                        done.commit(consumer)  # idle: nothing is gained by waiting
                        continue
                    if self._batch is None:
                        if self.handle(record, member=consumer):
                            done.add(record)
                    else:
                        self._apply_batch(self._batch, self._ready(consumer, record), consumer, done)
                    if done.age() >= self._commit_interval_s:
                        done.commit(consumer)
                done.commit(consumer)
            except MessagingError as error:
                self._note(error)  # the client failed: leave the group, rejoin after a pause
                self._stopping.wait(self._max_backoff_s)
            finally:
                self._consumer = None
                consumer.close()
        self._forget_dead_letter_producer()

    def _ready(self, consumer: Consumer, first: Record) -> list[Record]:
        """`first` and the records the consumer has ready now, up to `max_batch` in all; none is waited for."""
        records = [first]
        while len(records) < self._max_batch:
            record = consumer.poll(0)
            if record is None:
                break
            records.append(record)
        return records

    def _apply_batch(self, batch: Batch, records: list[Record], member: Consumer, done: DoneOffsets) -> None:
        """Apply `records` in as few batches as they allow, noting each in `done` once it is committed
        (module docstring); stops at a record that was not handled (stopping, fenced)."""
        rest = records
        while rest:
            try:
                applied = self._in_one_batch(batch, rest)
            except Exception:
                log.warning(
                    "applying a batch of %d records failed; applying them one at a time", len(rest), exc_info=True
                )
                self._apply_alone(rest, member, done)
                return
            for record in rest[:applied]:
                done.add(record)
            if applied:
                self.applied += applied
                self.transactions += 1
                self.last_error = None
                self._on_batch_committed()
            rest = rest[applied:]
            # The batch could not take this one: it is handled alone, then a new batch goes on.
            if rest and not self._apply_alone(rest[:1], member, done):
                return
            rest = rest[1:]

    def _in_one_batch(self, batch: Batch, records: list[Record]) -> int:
        """How many of `records`, from the first, were applied in one batch, now committed."""
        applied = 0
        with batch():
            for record in records:
                if not self._apply_in_batch(record):
                    break
                applied += 1
        return applied

    def _apply_alone(self, records: list[Record], member: Consumer, done: DoneOffsets) -> bool:
        """Handle each of `records` in its own transaction (`handle`); False at the first not handled."""
        for record in records:
            if not self.handle(record, member=member):
                return False
            done.add(record)
        return True

    def _apply_in_batch(self, record: Record) -> bool:
        """Apply one record inside the open batch; False if it cannot be applied there (undecodable, or
        refused by the domain: its unit of work took back its writes), so the batch ends before it. Any other
        error fails the batch."""
        with self._about_record(record) as traced:
            try:
                event = decode(record.topic, record.value, key=record.key)
            except UndecodableEvent:
                return False  # handled alone, which says why and sets it aside (any other error fails the batch)
            with self._about_event(event, traced=traced):
                try:
                    self._apply(event)
                except OrderingError:
                    return False
                log.debug("event handled")
                return True

    def handle(self, record: Record, *, member: Consumer | None = None) -> bool:
        """Apply one record, or dead-letter it; False if it was not (stopping interrupted the retries, the
        worker was fenced): then do not commit it. `member` is the consumer that polled it: a dead letter
        commits the record's offset in its own transaction (module docstring)."""
        with self._about_record(record) as traced:
            try:
                event = decode(record.topic, record.value, key=record.key)
            except UndecodableEvent as refused:
                return self._dead_letter(record, member, refused.reason)
            except Exception as error:
                # A record the codec fails on in a way nobody foresaw: set it aside rather than let one record
                # stop the consumer (and, replayed, stop it again after every restart).
                log.exception("decoding %s@%d/%d failed", record.topic, record.partition, record.offset)
                return self._dead_letter(record, member, f"could not be decoded: {type(error).__name__}: {error}")
            with self._about_event(event, traced=traced):
                return self._apply_until_done(record, member, event)

    @staticmethod
    @contextmanager
    def _about_record(record: Record) -> Iterator[bool]:
        """The log context of a record: where it was read and the trace its header names; yields whether it
        named one."""
        trace = tracecontext.parse(_header(record, tracecontext.HEADER))
        with log_context(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            trace_id=trace.trace_id if trace else None,
            parent_id=trace.parent_id if trace else None,
        ):
            yield trace is not None

    @staticmethod
    def _about_event(event: Event, *, traced: bool) -> AbstractContextManager[None]:
        """The log context of a decoded record: its event's order, message and correlation ids."""
        envelope = event.envelope
        return log_context(
            event=event.TYPE,
            order_id=envelope.order_id,
            message_id=envelope.message_id,
            correlation_id=envelope.correlation_id,
            # A record from a producer that sent no traceparent: the trace id its flow would have had.
            trace_id=None if traced else tracecontext.trace_id_for(envelope.correlation_id),
        )

    def _apply_until_done(self, record: Record, member: Consumer | None, event: Event) -> bool:
        backoff_s = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    self._apply(event)
                except OrderingError as refused:
                    return self._dead_letter(record, member, f"{type(refused).__name__}: {refused}")
                except Exception as error:
                    stuck = self._failed_try(record, error)
                    if stuck.tries % STUCK_AFTER_TRIES:
                        log.warning("applying %s failed (try %d); retrying", stuck.where, stuck.tries, exc_info=True)
                    else:
                        log.exception(
                            "consumer %s stuck: applying %s failed %d times in %.0f s; every partition of this "
                            "member waits for it (docs/operations.md)",
                            self.group,
                            stuck.where,
                            stuck.tries,
                            stuck.seconds(),
                        )
                    self._stopping.wait(backoff_s)
                    backoff_s = min(backoff_s * 2, self._max_backoff_s)
                    continue
                self.applied += 1
                self.transactions += 1
                self.last_error = None
                log.debug("event handled")
                return True
            return False
        finally:
            self._stuck = None

    def _failed_try(self, record: Record, error: Exception) -> Stuck:
        self.last_error = f"{type(error).__name__}: {error}"
        before = self._stuck
        self._stuck = Stuck(
            where=f"{record.topic}@{record.partition}/{record.offset}",
            since=before.since if before is not None else time.monotonic(),
            tries=before.tries + 1 if before is not None else 1,
            error=self.last_error,
        )
        return self._stuck

    def _dead_letter(self, record: Record, member: Consumer | None, reason: str) -> bool:
        headers = dead_letter_headers(record, reason, self._clock())
        backoff_s = 0.1
        # The record's offset is committed in the dead letter's own transaction, on the first try only
        # (module docstring); without a member, the caller commits it.
        while not self._stopping.is_set() and not self.fenced:
            try:
                if self._dead_letters is None:
                    self._dead_letters = self._broker.producer(self._producer_name)
                with self._dead_letters.transaction() as batch:
                    batch.send(
                        dead_letter_topic(record.topic), key=record.key, value=record.value, headers=headers
                    )
                    if member is not None:
                        batch.commit_offsets(member, record)
            except ProducerFenced as error:
                self._fence(record, error)
                return False  # not set aside: not committed; the worker that took over reads it again
            except CommitFailed as error:
                # The partition moved to another member: it reads the record again and sets it aside.
                where = f"{record.topic}@{record.partition}/{record.offset}"
                log.info("not dead-lettering %s here: %s", where, error)
                return False
            except MessagingError as error:
                # The next tries commit the offset later, with the records applied around it: a member whose
                # group moved on is refused each time by the group coordinator, and must not retry for ever.
                member = None
                # Not committed until it is safely aside: a record is never lost, only delayed.
                self._note(error)
                self._forget_dead_letter_producer()
                self._stopping.wait(backoff_s)
                backoff_s = min(backoff_s * 2, self._max_backoff_s)
                continue
            log.warning("dead-lettered %s@%d/%d: %s", record.topic, record.partition, record.offset, reason)
            by_topic = self.dead_lettered_by_topic
            by_topic[record.topic] = by_topic.get(record.topic, 0) + 1
            self._on_dead_letter()
            return True
        return False

    def _fence(self, record: Record, error: ProducerFenced) -> None:
        self.fenced = True
        self.last_error = f"{type(error).__name__}: {error}"
        log.error(
            "consumer %s fenced: another dead-letter producer with its name took over; it consumes no more "
            "until the service restarts (%s@%d/%d was not set aside: %s)",
            self.group,
            record.topic,
            record.partition,
            record.offset,
            self.last_error,
        )
        self._forget_dead_letter_producer()

    def _forget_dead_letter_producer(self) -> None:
        # After a failed transaction the producer may be unusable (a fatal error): the next try makes a new
        # one. Not after fencing (`_fence`): the worker stops, as a new one would fence the one that took over.
        if self._dead_letters is not None:
            try:
                self._dead_letters.close()
            except MessagingError:
                log.info("closing the dead-letter producer of %s failed", self.group)
            self._dead_letters = None

    def _note(self, error: Exception) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        log.warning("consumer %s: %s", self.group, self.last_error)


def _header(record: Record, name: str) -> bytes | None:
    return next((value for header, value in record.headers if header == name), None)
