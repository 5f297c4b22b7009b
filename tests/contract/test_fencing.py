"""The outbox relay and the consumer worker's dead letters on each broker.

A fenced producer stays fenced: the relay's and the worker's dead-letter producer. Except where fencing is
how a term ends: relays of several instances sharing a lease, where the one fenced stands by. Fencing is real on Kafka:
making a second producer with a transactional id (its init_transactions) fences the first, whose next
transaction is refused by the broker. And a dead letter is committed with its record's offset, in one
transaction.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest

from adapters.memory.outbox import InMemoryOutbox
from adapters.memory.transactions import InMemoryEventPublisher
from adapters.messaging.broker import Message, ProducerFenced, Record
from adapters.messaging.relay import OutboxRelay
from adapters.messaging.topics import Topic, dead_letter_topic
from adapters.messaging.worker import ConsumerWorker
from ordering_core import Envelope, OrderStatus, OrderStatusChanged

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def status_event(n: int) -> OrderStatusChanged:
    return OrderStatusChanged(
        Envelope(f"m-{n}", NOW, f"o-{n}", "c-1"),
        OrderStatus.UNPAID,
        customer_id="customer-1",
    )


class CountingProducers:
    """`make_producer` for a relay: the broker's producer of one name, counting how many were made."""

    def __init__(self, broker, name: str) -> None:
        self._broker = broker
        self._name = name
        self.made = 0

    def __call__(self):
        self.made += 1
        return self._broker.producer(self._name)


class TestAFencedRelay:
    def test_stops_publishing_for_good_and_the_relay_that_took_over_publishes(self, messaging, unique, caplog):
        # Both relays publish to order-status: the session's project topics on Kafka, made here in memory.
        messaging.broker.create_topics([Topic("order-status", 3)])
        name = unique("order-service-outbox")
        zombie_events = InMemoryEventPublisher([status_event(1)])
        zombie_outbox = InMemoryOutbox(zombie_events)
        zombie_producers = CountingProducers(messaging.broker, name)
        zombie = OutboxRelay(zombie_outbox, zombie_producers, name="zombie")
        zombie.relay_once()
        successor_events = InMemoryEventPublisher([status_event(2)])
        successor_outbox = InMemoryOutbox(successor_events)
        successor = OutboxRelay(successor_outbox, CountingProducers(messaging.broker, name), name="successor")
        successor.relay_once()  # its producer's init fenced the zombie's
        zombie_events.publish([status_event(3)])

        with caplog.at_level(logging.ERROR), pytest.raises(ProducerFenced):
            zombie.relay_once()
        with pytest.raises(ProducerFenced):
            zombie.relay_once()  # again: no new producer, which would fence the successor back
        successor_events.publish([status_event(4)])
        published = successor.relay_once()
        zombie.stop()
        successor.stop()

        assert zombie.fenced and not zombie.producing
        assert zombie_producers.made == 1
        assert zombie_outbox.backlog() == 1  # its row waits, for the restart
        assert (successor.fenced, published, successor_outbox.backlog()) == (False, 1, 0)
        assert "outbox relay fenced" in caplog.text


class HandedLease:
    """A relay lease the test hands over (adapters.postgres.lease takes and loses the real one)."""

    def __init__(self, *, held: bool) -> None:
        self.held = held
        self.released = 0

    def start(self) -> None:
        pass

    def stop(self, timeout_s: float = 10.0) -> None:
        pass

    def release(self) -> None:
        self.held = False
        self.released += 1


def wait_until(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class TestRelaysOfSeveralInstances:
    def test_a_new_leader_fences_the_old_one_which_stands_by_and_leads_again_when_elected(self, messaging, unique):
        messaging.broker.create_topics([Topic("order-status", 3)])
        name = unique("order-service-outbox")  # one transactional id for every instance's relay
        old_events = InMemoryEventPublisher([status_event(1)])
        old_outbox = InMemoryOutbox(old_events)
        old_lease, new_lease = HandedLease(held=True), HandedLease(held=False)
        old = OutboxRelay(old_outbox, CountingProducers(messaging.broker, name), name="old", lease=old_lease)
        new_events = InMemoryEventPublisher([status_event(2)])
        new_outbox = InMemoryOutbox(new_events)
        new = OutboxRelay(new_outbox, CountingProducers(messaging.broker, name), name="new", lease=new_lease)
        old.start()
        new.start()
        wait_until(lambda: old.published == 1)
        standing_by_while_the_other_leads = (new.standing_by, new.producing, new.published)

        # The old leader is cut off: the new one holds the lease, while the old still believes it does.
        new_lease.held = True
        wait_until(lambda: new.published == 1)  # its producer's init fenced the old one's
        old_events.publish([status_event(3)])
        old.wake()
        wait_until(lambda: old.standing_by)
        refused = (old.fenced, old_lease.released, old_outbox.backlog())

        # The new leader dies; the old one is elected again and publishes what waited.
        new_lease.held = False
        old_lease.held = True
        wait_until(lambda: old_outbox.backlog() == 0)
        new.stop()
        old.stop()

        assert standing_by_while_the_other_leads == (True, False, 0)
        assert refused == (False, 1, 1)  # fenced, it gave the lease up and stood by; its row waited
        assert (old.published, old.terms, new.terms) == (2, 2, 1)


class TestAConsumerWhoseDeadLetterProducerIsFenced:
    def test_sets_no_more_records_aside_and_commits_nothing_for_the_refused_one(self, messaging, unique, caplog):
        topic = messaging.new_topic(unique("order-status"))
        messaging.broker.create_topics([Topic(dead_letter_topic(topic), 3)])
        group = unique("message-service")
        worker = ConsumerWorker(messaging.broker, group=group, topics=[topic], apply=lambda event: None)
        first = Record(topic, 0, 0, b"o-1", b"not json")
        assert worker.handle(first)  # its dead-letter producer is made, and used
        successor = messaging.broker.producer(f"{group}-dead-letters")  # another worker of the group took it

        with caplog.at_level(logging.ERROR):
            handled = worker.handle(Record(topic, 0, 1, b"o-1", b"not json either"))
        again = worker.handle(Record(topic, 0, 2, b"o-1", b"nor this"))
        successor.close()

        assert (handled, again) == (False, False)  # not set aside: the caller does not commit them
        assert worker.fenced and worker.dead_lettered == 1
        assert "consumer " + group + " fenced" in caplog.text
        dead = messaging.receive(messaging.broker.consumer(unique("reader"), [dead_letter_topic(topic)]), 1)
        assert [r.value for r in dead] == [b"not json"]


class TestADeadLetter:
    def test_is_committed_with_its_record_s_offset_in_one_transaction(self, messaging, unique):
        topic = messaging.new_topic(unique("order-status"))
        messaging.broker.create_topics([Topic(dead_letter_topic(topic), 3)])
        group = unique("message-service")
        producer = messaging.broker.producer(unique("producer"))
        producer.send_all(
            [Message(topic, key=b"o-1", value=b"not json"), Message(topic, key=b"o-1", value=b"marker")]
        )
        producer.close()
        member = messaging.broker.consumer(group, [topic])
        refused = messaging.receive(member, 1)[0]
        worker = ConsumerWorker(messaging.broker, group=group, topics=[topic], apply=lambda event: None)

        handled = worker.handle(refused, member=member)
        member.close()  # without a commit of its own: a crash, as far as offsets go
        next_member = messaging.broker.consumer(group, [topic])

        assert handled
        assert [r.value for r in messaging.receive(next_member, 1)] == [b"marker"]
        dead = messaging.receive(messaging.broker.consumer(unique("reader"), [dead_letter_topic(topic)]), 1)
        assert [r.value for r in dead] == [b"not json"]
