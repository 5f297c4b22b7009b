"""The outbox relay and the consumer loop, over the in-memory broker: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager

import pytest

from adapters.memory.broker import InMemoryBroker
from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.memory.outbox import InMemoryOutbox
from adapters.memory.transactions import InMemoryEventPublisher
from adapters.messaging.broker import CommitFailed, Message, MessagingError, Record
from adapters.messaging.dead_letter_headers import REASON_HEADER
from adapters.messaging.progress import Stuck
from adapters.messaging.relay import OutboxRelay
from adapters.messaging.topics import ALL_TOPICS
from adapters.messaging.worker import STUCK_AFTER_TRIES, ConsumerWorker
from adapters.wire.codec import decode, encode
from entrypoints.runtime import consumer_check, outbox_check
from ordering_core import Envelope, OrderStatus, OrderStatusChanged, UnknownOrder

from .examples import CUSTOMER, NOW


def status_event(n: int, order_id: str = "o-1") -> OrderStatusChanged:
    return OrderStatusChanged(
        Envelope(f"m-{n}", NOW, order_id, "c-1"), OrderStatus.UNPAID, customer_id=CUSTOMER
    )


@pytest.fixture
def broker() -> InMemoryBroker:
    broker = InMemoryBroker()
    broker.create_topics(ALL_TOPICS)
    return broker


def record_of(event: OrderStatusChanged, value: bytes | None = None) -> Record:
    encoded = encode(event)
    return Record(encoded.topic, 0, 0, encoded.key, value if value is not None else encoded.value, encoded.headers)


def publish_status_events(broker: InMemoryBroker, count: int) -> None:
    with broker.producer("order-service").transaction() as batch:
        for n in range(count):
            record = encode(status_event(n, order_id=f"o-{n}"))
            batch.send(record.topic, key=record.key, value=record.value)


def run_until_caught_up(worker: ConsumerWorker, broker: InMemoryBroker) -> None:
    """Start the worker's thread, wait until its group has committed every record, stop it."""
    worker.start()
    wait_until(lambda: broker.lag(worker.group) == 0)
    worker.stop()


def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class TestOutboxRelay:
    def test_publishes_pending_rows_in_one_transaction_and_marks_them_sent(self, broker):
        events = InMemoryEventPublisher([status_event(1), status_event(2), status_event(3)])
        outbox = InMemoryOutbox(events)
        relay = OutboxRelay(outbox, lambda: broker.producer("relay"), name="relay")

        published = relay.relay_once()

        assert published == 3
        assert outbox.backlog() == 0
        assert [decode(r.topic, r.value) for r in broker.records("order-status")] == events.published

    def test_rows_wait_while_kafka_is_down_and_go_out_when_it_is_back(self, broker):
        outbox = InMemoryOutbox(InMemoryEventPublisher([status_event(1)]))
        kafka_up = False

        def make_producer():
            if not kafka_up:
                raise MessagingError("broker unreachable")
            return broker.producer("relay")

        relay = OutboxRelay(outbox, make_producer, name="relay")

        with pytest.raises(MessagingError):
            relay.relay_once()
        waiting = outbox.backlog()
        kafka_up = True
        published = relay.relay_once()

        assert (waiting, published, outbox.backlog()) == (1, 1, 0)
        assert len(broker.records("order-status")) == 1

    def test_a_woken_relay_thread_publishes_without_waiting_for_its_next_look(self, broker):
        events = InMemoryEventPublisher()
        outbox = InMemoryOutbox(events)
        relay = OutboxRelay(outbox, lambda: broker.producer("relay"), name="relay", idle_wait_s=60)
        relay.start()

        events.publish([status_event(1)])
        relay.wake()
        wait_until(lambda: outbox.backlog() == 0)
        relay.stop()

        assert len(broker.records("order-status")) == 1

    def test_a_started_relay_makes_its_producer_before_any_row_waits_for_it(self, broker):
        made: list[str] = []

        def make_producer():
            made.append("producer")
            return broker.producer("relay")

        relay = OutboxRelay(InMemoryOutbox(InMemoryEventPublisher()), make_producer, name="relay")
        before_start = relay.producing
        relay.start()
        wait_until(lambda: relay.producing)
        relay.stop()

        assert (before_start, made) == (False, ["producer"])

    def test_a_relay_whose_producer_cannot_be_made_is_not_producing_and_says_why(self, broker):
        def make_producer():
            raise MessagingError("broker unreachable")

        relay = OutboxRelay(InMemoryOutbox(InMemoryEventPublisher()), make_producer, name="relay")
        relay.start()
        wait_until(lambda: relay.last_error is not None)
        relay.stop()

        assert relay.producing is False
        assert relay.last_error == "MessagingError: broker unreachable"


class BatchesMarked:
    """An outbox that notes when each batch was marked sent, and how many rows it had: one per transaction."""

    def __init__(self, outbox: InMemoryOutbox) -> None:
        self._outbox = outbox
        self.batches: list[tuple[float, int]] = []  # (time.monotonic(), rows)

    def pending(self, limit):
        return self._outbox.pending(limit)

    def mark_sent(self, ids):
        self._outbox.mark_sent(ids)
        self.batches.append((time.monotonic(), len(ids)))

    def backlog(self):
        return self._outbox.backlog()


class TestGroupCommit:
    """At most one Kafka transaction per window: rows committed while one is recent wait and go together."""

    WINDOW_S = 1.0

    def test_rows_committed_within_the_window_share_the_next_transaction(self, broker):
        events = InMemoryEventPublisher()
        outbox = BatchesMarked(InMemoryOutbox(events))
        relay = OutboxRelay(
            outbox, lambda: broker.producer("relay"), name="relay", window_s=self.WINDOW_S, idle_wait_s=60
        )
        relay.start()
        events.publish([status_event(1)])
        woken_at = time.monotonic()
        relay.wake()
        wait_until(lambda: len(outbox.batches) == 1)
        for n in range(2, 6):  # four commits, each waking the relay, well within one window
            events.publish([status_event(n)])
            relay.wake()
        wait_until(lambda: outbox.backlog() == 0)
        relay.stop()

        (first_at, first_rows), (second_at, second_rows) = outbox.batches
        assert (first_rows, second_rows) == (1, 4)
        assert first_at - woken_at < self.WINDOW_S  # after a quiet spell a row goes at once
        assert second_at - first_at >= self.WINDOW_S * 0.99  # the rest waited out the window (clock slack)
        assert len(broker.records("order-status")) == 5

    def test_a_full_batch_goes_without_waiting_for_the_window(self, broker):
        events = InMemoryEventPublisher([status_event(n) for n in range(5)])
        outbox = BatchesMarked(InMemoryOutbox(events))
        relay = OutboxRelay(outbox, lambda: broker.producer("relay"), name="relay", batch_size=2, window_s=60)
        relay.start()
        wait_until(lambda: outbox.backlog() == 0)  # within wait_until's 5 s: no 60 s window was waited
        relay.stop()

        assert [rows for _, rows in outbox.batches] == [2, 2, 1]


class TestConsumerWorker:
    def test_a_valid_record_is_applied(self, broker):
        applied = []
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=applied.append)

        handled = worker.handle(record_of(status_event(1)))

        assert handled and applied == [status_event(1)]

    def test_a_record_that_is_not_an_event_goes_to_the_dead_letter_topic_with_the_reason(self, broker):
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=lambda event: None)

        handled = worker.handle(record_of(status_event(1), value=b"not json"))

        dead = broker.records("order-status.dlq")
        assert handled and worker.dead_lettered == 1
        assert [r.value for r in dead] == [b"not json"]
        assert dict(dead[0].headers)[REASON_HEADER].startswith(b"the value is not JSON")
        assert dict(dead[0].headers)["dlq-topic"] == b"order-status"

    def test_an_event_the_domain_refuses_goes_to_the_dead_letter_topic(self, broker):
        def refuse(event):
            raise UnknownOrder(event.envelope.order_id)

        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=refuse)

        worker.handle(record_of(status_event(1)))

        assert dict(broker.records("order-status.dlq")[0].headers)[REASON_HEADER].startswith(b"UnknownOrder")

    def test_a_record_under_another_order_s_key_goes_to_the_dead_letter_topic(self, broker):
        applied = []
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=applied.append)
        encoded = encode(status_event(1, order_id="o-1"))

        handled = worker.handle(Record(encoded.topic, 0, 0, b"o-2", encoded.value, encoded.headers))

        (dead,) = broker.records("order-status.dlq")
        assert handled and applied == []
        assert dict(dead.headers)[REASON_HEADER] == (
            b"the record's key b'o-2' is not the event's order_id 'o-1'"
        )

    def test_a_record_dead_lettered_before_carries_only_this_refusal_s_dlq_headers(self, broker):
        # A dead letter read back (replayed after a fix) and refused again: its old dlq-* headers give way.
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=lambda event: None)
        encoded = encode(status_event(1))
        earlier = (
            (REASON_HEADER, b"an earlier reason"),
            ("dlq-topic", b"order-status"),
            ("dlq-partition", b"2"),
            ("dlq-offset", b"41"),
        )
        record = Record("order-status", 1, 7, encoded.key, b"not json", (*encoded.headers, *earlier))

        worker.handle(record)

        (dead,) = broker.records("order-status.dlq")
        assert [name for name, _ in dead.headers] == [
            "ordering-type",
            "ordering-message-id",
            "traceparent",
            "dlq-reason",
            "dlq-topic",
            "dlq-partition",
            "dlq-offset",
            "dlq-at",
        ]
        assert dead.headers[:3] == encoded.headers  # the record's own headers, unchanged and first
        assert dict(dead.headers)[REASON_HEADER].startswith(b"the value is not JSON")
        assert (dict(dead.headers)["dlq-partition"], dict(dead.headers)["dlq-offset"]) == (b"1", b"7")

    def test_a_failure_that_is_not_the_record_s_fault_is_retried_until_the_record_is_applied(self, broker):
        attempts = []

        def flaky(event):
            attempts.append(event)
            if len(attempts) < 3:
                raise OSError("database is locked")

        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=flaky)

        handled = worker.handle(record_of(status_event(1)))

        assert handled and len(attempts) == 3
        assert broker.records("order-status.dlq") == ()

    def test_the_thread_applies_every_record_and_commits_its_progress(self, broker):
        publish_status_events(broker, 5)
        applied = []
        worker = ConsumerWorker(broker, group="messages", topics=["order-status"], apply=applied.append)

        run_until_caught_up(worker, broker)

        assert sorted(e.envelope.message_id for e in applied) == [f"m-{n}" for n in range(5)]


class Ledger:
    """A consumer's store for these tests: the ids of the messages applied (the inbox of an in-memory unit of
    work), the ids each committed batch added, and a use case that can be told to refuse or fail."""

    def __init__(self) -> None:
        self.uow = InMemoryMessageUnitOfWork()
        self.batches: list[list[str]] = []  # the ids each committed batch kept, in the order applied
        self.refused: set[str] = set()
        self.fail_once: set[str] = set()
        self.lag_while_open: list[int] = []
        self._open: list[str] | None = None

    def apply(self, event: OrderStatusChanged) -> None:
        message_id = event.envelope.message_id
        with self.uow:
            self.uow.inbox.record(message_id)
            if message_id in self.refused:
                raise UnknownOrder(event.envelope.order_id)
            if message_id in self.fail_once:
                self.fail_once.discard(message_id)
                raise OSError("database is locked")
            self.uow.commit()
        if self._open is not None:
            self._open.append(message_id)

    def kept(self) -> set[str]:
        return set(self.uow.inbox.message_ids)

    def batch(self, broker: InMemoryBroker, group: str, *, commit_fails: bool = False):
        @contextmanager
        def one_batch():
            self._open = []
            try:
                with self.uow.batch():
                    yield
                    self.lag_while_open.append(broker.lag(group))
                    if commit_fails:
                        raise OSError("disk I/O error")  # as a COMMIT that fails
                self.batches.append(self._open)
            finally:
                self._open = None

        return one_batch


class TestConsumerWorkerBatches:
    """With a batch, the records a poll has ready are applied in one database transaction, noted for Kafka only
    once it commits; what the batch cannot take is handled alone, as without one."""

    def worker(self, broker, ledger, **batch) -> ConsumerWorker:
        return ConsumerWorker(
            broker, group="messages", topics=["order-status"], apply=ledger.apply,
            batch=ledger.batch(broker, "messages", **batch),
        )

    def test_the_records_ready_are_applied_in_one_batch_and_committed_to_kafka_after_it(self, broker):
        publish_status_events(broker, 5)
        ledger = Ledger()
        worker = self.worker(broker, ledger)

        run_until_caught_up(worker, broker)

        assert ledger.kept() == {f"m-{n}" for n in range(5)}
        assert [sorted(batch) for batch in ledger.batches] == [[f"m-{n}" for n in range(5)]]
        assert ledger.lag_while_open == [5]  # no offset committed before the batch
        assert (worker.applied, worker.transactions) == (5, 1)

    def test_a_batch_takes_at_most_max_batch_records(self, broker):
        publish_status_events(broker, 5)
        ledger = Ledger()
        worker = ConsumerWorker(
            broker, group="messages", topics=["order-status"], apply=ledger.apply,
            batch=ledger.batch(broker, "messages"), max_batch=2,
        )

        run_until_caught_up(worker, broker)

        assert [len(batch) for batch in ledger.batches] == [2, 2, 1]
        assert ledger.kept() == {f"m-{n}" for n in range(5)}

    def test_a_refused_record_ends_the_batch_and_is_set_aside_alone_and_the_next_batch_goes_on(self, broker):
        publish_status_events(broker, 5)
        ledger = Ledger()
        worker = self.worker(broker, ledger)
        order = [decode(r.topic, r.value).envelope.message_id for r in broker.records("order-status")]
        refused = order[2]
        ledger.refused.add(refused)

        run_until_caught_up(worker, broker)

        (dead,) = broker.records("order-status.dlq")
        assert decode(dead.topic.removesuffix(".dlq"), dead.value).envelope.message_id == refused
        assert ledger.kept() == set(order) - {refused}  # its unit of work took back its own writes
        assert len(ledger.batches) == 2 and refused not in {m for batch in ledger.batches for m in batch}
        assert (worker.applied, worker.transactions, worker.dead_lettered) == (4, 2, 1)

    def test_a_batch_that_fails_keeps_nothing_and_its_records_are_applied_one_at_a_time(self, broker):
        publish_status_events(broker, 5)
        ledger = Ledger()
        ledger.fail_once.add("m-3")
        worker = self.worker(broker, ledger)

        run_until_caught_up(worker, broker)

        assert ledger.batches == []  # the one batch failed, and the records then went alone
        assert ledger.kept() == {f"m-{n}" for n in range(5)}
        assert (worker.applied, worker.transactions) == (5, 5)
        assert broker.records("order-status.dlq") == ()

    def test_a_batch_whose_commit_fails_is_applied_again_one_record_at_a_time(self, broker):
        publish_status_events(broker, 3)
        ledger = Ledger()
        worker = self.worker(broker, ledger, commit_fails=True)

        run_until_caught_up(worker, broker)

        assert ledger.batches == [] and ledger.lag_while_open == [3]
        assert ledger.kept() == {f"m-{n}" for n in range(3)}
        assert (worker.applied, worker.transactions) == (3, 3)


class CountingBroker:
    """The in-memory broker, with every consumer's commit calls recorded (and refused when `refuse` says)."""

    def __init__(self, broker: InMemoryBroker, refuse=lambda records: False) -> None:
        self._broker = broker
        self._refuse = refuse
        self.commits: list[tuple[Record, ...]] = []

    def consumer(self, group, topics):
        counting = self

        class Counting:
            def __init__(self, inner):
                self._inner = inner

            def poll(self, timeout_s):
                return self._inner.poll(timeout_s)

            def commit(self, *records):
                counting.commits.append(records)
                if counting._refuse(records):
                    raise CommitFailed("refused by the test")
                self._inner.commit(*records)

            def lag(self):
                return self._inner.lag()

            def close(self):
                self._inner.close()

        return Counting(self._broker.consumer(group, topics))

    def producer(self, name):
        return self._broker.producer(name)


class TestConsumerWorkerCommits:
    def test_records_applied_in_a_burst_are_committed_together_when_the_topics_run_dry(self, broker):
        publish_status_events(broker, 50)
        counting = CountingBroker(broker)
        worker = ConsumerWorker(counting, group="messages", topics=["order-status"], apply=lambda e: None,
                                commit_interval_s=60)

        run_until_caught_up(worker, broker)

        assert worker.applied == 50
        assert len(counting.commits) == 1
        assert {r.partition for r in counting.commits[0]} == {0, 1, 2}  # the last record of each partition

    def test_with_no_commit_interval_each_record_is_committed_as_it_is_applied(self, broker):
        publish_status_events(broker, 20)
        counting = CountingBroker(broker)
        worker = ConsumerWorker(counting, group="messages", topics=["order-status"], apply=lambda e: None,
                                commit_interval_s=0)

        run_until_caught_up(worker, broker)

        assert [len(records) for records in counting.commits] == [1] * 20

    def test_when_a_joint_commit_is_refused_each_partition_s_progress_is_committed_alone(self, broker):
        publish_status_events(broker, 30)
        counting = CountingBroker(broker, refuse=lambda records: len(records) > 1)
        worker = ConsumerWorker(counting, group="messages", topics=["order-status"], apply=lambda e: None,
                                commit_interval_s=60)

        run_until_caught_up(worker, broker)

        assert [len(records) for records in counting.commits] == [3, 1, 1, 1]


class TestConsumerWorkerAgainstTheUnforeseen:
    def test_a_record_the_codec_fails_on_unexpectedly_is_set_aside_not_fatal(self, broker, monkeypatch):
        import adapters.messaging.worker as worker_module

        def broken_decode(topic, value, key=None):
            raise LookupError("a codec bug")

        monkeypatch.setattr(worker_module, "decode", broken_decode)
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=lambda event: None)

        handled = worker.handle(record_of(status_event(1)))

        assert handled
        reason = dict(broker.records("order-status.dlq")[0].headers)[REASON_HEADER]
        assert reason == b"could not be decoded: LookupError: a codec bug"


class TestAFencedRelay:
    def test_two_relays_with_one_name_end_with_one_fenced_for_good_and_the_other_publishing(self, broker, caplog):
        first_events, second_events = InMemoryEventPublisher([status_event(1)]), InMemoryEventPublisher()
        made = []

        def producer_for(relay_name):
            def make():
                made.append(relay_name)
                return broker.producer("order-service-outbox")

            return make

        first = OutboxRelay(InMemoryOutbox(first_events), producer_for("first"), name="first", idle_wait_s=0.01)
        second = OutboxRelay(
            InMemoryOutbox(second_events), producer_for("second"), name="second", idle_wait_s=0.01
        )
        first.start()
        wait_until(lambda: first.published == 1)
        second.start()  # its producer fences the first's
        wait_until(lambda: second.producing)
        first_events.publish([status_event(2)])
        first.wake()
        wait_until(lambda: first.fenced)
        second_events.publish([status_event(3), status_event(4)])
        second.wake()
        wait_until(lambda: second.published == 2)
        time.sleep(0.1)  # time for a fenced relay to (wrongly) try again
        first.stop()
        second.stop()

        assert made == ["first", "second"]  # no new producer after fencing: the second is never fenced back
        assert (first.fenced, first.producing, second.fenced) == (True, False, False)
        assert first.last_error.startswith("ProducerFenced")
        assert [r.message for r in caplog.records if r.levelname == "ERROR"] == [
            (
                "outbox relay fenced: another producer with its transactional id took over; it publishes no "
                "more until the service restarts; 1 rows wait (ProducerFenced: a newer producer named "
                "'order-service-outbox' exists)"
            )
        ]

    def test_a_relay_whose_make_producer_fails_otherwise_is_not_fenced_and_tries_again(self, broker):
        outbox = InMemoryOutbox(InMemoryEventPublisher([status_event(1)]))
        tries = []

        def make_producer():
            tries.append(1)
            if len(tries) == 1:
                raise MessagingError("broker unreachable")
            return broker.producer("relay")

        relay = OutboxRelay(outbox, make_producer, name="relay")
        with pytest.raises(MessagingError):
            relay.relay_once()

        assert (relay.relay_once(), relay.fenced) == (1, False)


class TestAConsumerWorkerWhoseDeadLetterProducerIsFenced:
    def test_stops_consuming_leaves_the_group_and_commits_nothing_of_the_refused_record(self, broker, caplog):
        someone = broker.producer("someone")
        worker = ConsumerWorker(broker, group="messages", topics=["order-status"], apply=lambda e: None,
                                commit_interval_s=0, max_backoff_s=0.01)
        worker.start()
        someone.send_all([Message("order-status", key=b"o-1", value=b"not json")])
        wait_until(lambda: broker.lag("messages") == 0)  # set aside and committed: its producer is made
        broker.producer("messages-dead-letters")  # another worker of the group takes the name

        someone.send_all([Message("order-status", key=b"o-1", value=b"nor this")])
        wait_until(lambda: worker.fenced)
        worker._thread.join(5)

        assert not worker._thread.is_alive()  # it consumes no more
        assert [r.value for r in broker.records("order-status.dlq")] == [b"not json"]
        assert broker.lag("messages") == 1  # the refused record comes again, to whoever takes over
        assert worker.lag() == {}  # it left the group
        assert any("consumer messages fenced" in r.message for r in caplog.records if r.levelname == "ERROR")


class TestAStuckConsumerWorker:
    def test_counts_its_tries_and_logs_an_error_after_stuck_after_tries(self, broker, caplog):
        tries = []

        def failing(event):
            tries.append(event)
            if len(tries) <= STUCK_AFTER_TRIES:
                raise OSError("disk I/O error")

        seen: list[Stuck | None] = []
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=failing, max_backoff_s=0.001)
        original_wait = worker._stopping.wait

        def watch(timeout_s):
            seen.append(worker.stuck())
            return original_wait(timeout_s)

        worker._stopping.wait = watch  # type: ignore[method-assign]

        handled = worker.handle(record_of(status_event(1)))

        assert handled and len(tries) == STUCK_AFTER_TRIES + 1
        assert [s.tries for s in seen if s] == list(range(1, STUCK_AFTER_TRIES + 1))
        assert {s.where for s in seen if s} == {"order-status@0/0"}
        assert seen[-1].error == "OSError: disk I/O error"
        assert worker.stuck() is None  # applied at last
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        warnings = [r for r in caplog.records if r.levelname == "WARNING"]
        assert len(errors) == 1 and errors[0].startswith(
            f"consumer g stuck: applying order-status@0/0 failed {STUCK_AFTER_TRIES} times in "
        )
        assert len(warnings) == STUCK_AFTER_TRIES - 1


class TestReadiness:
    def test_the_outbox_check_says_a_fenced_relay_is_fenced(self, broker):
        outbox = InMemoryOutbox(InMemoryEventPublisher([status_event(1)]))
        relay = OutboxRelay(outbox, lambda: broker.producer("relay"), name="relay")
        relay.relay_once()
        broker.producer("relay")
        outbox._events.publish([status_event(2)])
        with pytest.raises(MessagingError):
            relay.relay_once()

        reason = asyncio.run(outbox_check(relay, outbox.backlog)())

        assert reason is not None and reason.startswith(
            "fenced: another producer took the relay's transactional id; 1 events wait until this service "
            "restarts (ProducerFenced: "
        )

    def test_the_consumer_check_is_up_until_a_record_fails_stuck_after_tries_times(self, broker):
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=lambda e: None)
        check = consumer_check(worker)
        up = asyncio.run(check())
        worker._stuck = Stuck("order-status@1/7", time.monotonic() - 30, STUCK_AFTER_TRIES - 1, "OSError: x")
        still_up = asyncio.run(check())

        worker._stuck = Stuck("order-status@1/7", time.monotonic() - 30, STUCK_AFTER_TRIES, "OSError: x")
        down = asyncio.run(check())

        assert (up, still_up) == (None, None)
        assert down == (
            f"stuck on order-status@1/7 for 30 s, {STUCK_AFTER_TRIES} tries: OSError: x; its other partitions wait"
        )

    def test_the_consumer_check_says_a_fenced_worker_is_fenced(self, broker):
        worker = ConsumerWorker(broker, group="g", topics=["order-status"], apply=lambda e: None)
        worker.handle(record_of(status_event(1), value=b"not json"))
        broker.producer("g-dead-letters")

        worker.handle(record_of(status_event(2), value=b"not json"))

        reason = asyncio.run(consumer_check(worker)())
        assert reason is not None and reason.startswith("fenced: it consumes no more until this service restarts")
