"""Dead letters an operator works with (adapters.messaging.dead_letters), on the in-memory broker.

The dead letters are made the way production makes them: a `ConsumerWorker` refusing records. Replays are
then read back from the broker, and applied by the Message Service's own consumption table, so "replaying
twice changes nothing" is shown with the inbox that makes it true.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from adapters.memory.broker import InMemoryBroker
from adapters.memory.messages import InMemoryMessageUnitOfWork
from adapters.messaging.broker import Record
from adapters.messaging.dead_letter_headers import REPLAYED_FROM_HEADER
from adapters.messaging.dead_letter_watch import DeadLetterWatch
from adapters.messaging.dead_letters import (
    DeadLetterRef,
    DeadLetters,
    MalformedRef,
    Replay,
    UnknownDeadLetter,
)
from adapters.messaging.topics import ALL_TOPICS, DEAD_LETTER_REPLAYS
from adapters.messaging.worker import ConsumerWorker
from adapters.wire.codec import encode
from entrypoints.consumers import message_events
from ordering_core import UnknownOrder

from .examples import NOW, Ids
from .test_relay_and_worker import status_event

STATUSES = "order-status"
DEAD_STATUSES = "order-status.dlq"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


class Shop:
    """A broker, a Message Service consumer that refuses what it is told to, and its dead-letter desk."""

    def __init__(self) -> None:
        self.broker = InMemoryBroker()
        self.broker.create_topics(ALL_TOPICS)
        self.clock = Clock()
        self.messages = InMemoryMessageUnitOfWork()
        self.refusing = True
        consumed = message_events(uow=self.messages)

        def apply(event):
            if self.refusing:
                raise UnknownOrder(event.envelope.order_id)  # a refusal that a fix elsewhere would lift
            return consumed.apply(event)

        self.worker = ConsumerWorker(
            self.broker, group="message-service", topics=[STATUSES], apply=apply, clock=self.clock
        )
        self.desk = DeadLetters(
            self.broker, topics=[DEAD_STATUSES], name="message-service", clock=self.clock, new_id=Ids("replay")
        )
        self._offset = 0

    def refuse(self, value: bytes | None = None, *, n: int = 1) -> str:
        """A record of order-status that the worker sets aside; the ref of its dead letter."""
        encoded = encode(status_event(n, order_id=f"o-{n}"))
        record = Record(STATUSES, 0, self._offset, encoded.key, value or encoded.value, encoded.headers)
        self._offset += 1
        assert self.worker.handle(record)
        return str(DeadLetterRef.of(self.broker.records(DEAD_STATUSES)[-1]))

    def replayed_records(self) -> tuple[Record, ...]:
        return tuple(r for r in self.broker.records(STATUSES) if dict(r.headers).get(REPLAYED_FROM_HEADER))

    def deliver_replays(self) -> None:
        for record in self.replayed_records():
            self.worker.handle(record)


@pytest.fixture
def shop() -> Shop:
    return Shop()


class TestListing:
    def test_lists_each_dead_letter_with_why_when_and_what_it_was(self, shop):
        ref = shop.refuse(n=1)

        (dead,) = shop.desk.listing()

        assert (str(dead.ref), dead.topic, dead.partition, dead.offset) == (ref, STATUSES, 0, 0)
        assert dead.reason == "UnknownOrder: no order has id 'o-1'"
        assert dead.dead_lettered_at == NOW
        assert (dead.event, dead.order_id, dead.message_id) == ("order-status", "o-1", "m-1")
        assert dead.replayed is None

    def test_a_record_that_is_not_an_event_is_listed_with_what_its_headers_say(self, shop):
        shop.refuse(b"not json", n=2)

        (dead,) = shop.desk.listing()

        assert dead.reason.startswith("the value is not JSON")
        assert (dead.event, dead.order_id, dead.message_id) == ("order-status", "o-2", "m-2")

    def test_lists_only_the_topic_asked_for_by_either_of_its_names(self, shop):
        shop.refuse()

        assert len(shop.desk.listing("order-status")) == len(shop.desk.listing("order-status.dlq")) == 1

    def test_a_topic_this_service_does_not_own_is_unknown(self, shop):
        with pytest.raises(UnknownDeadLetter, match="update-stock"):
            shop.desk.listing("update-stock")


class TestShowing:
    def test_shows_the_whole_record_key_headers_and_value(self, shop):
        ref = shop.refuse(b"not json")

        dead = shop.desk.show(ref)

        (record,) = shop.broker.records(DEAD_STATUSES)
        assert (dead.key, dead.value, dead.headers) == (record.key, b"not json", record.headers)

    @pytest.mark.parametrize(
        "ref", ["order-status:0:0", "order-status.dlq:0", "order-status.dlq:x:1", "", "a.dlq:01:2"]
    )
    def test_a_malformed_reference_is_refused_saying_what_one_looks_like(self, shop, ref):
        with pytest.raises(MalformedRef, match=r"<topic>\.dlq:<partition>:<offset>"):
            shop.desk.show(ref)

    def test_a_reference_to_nothing_or_to_another_service_s_topic_is_unknown(self, shop):
        shop.refuse()

        with pytest.raises(UnknownDeadLetter, match=r"no dead letter at order-status\.dlq:0:5"):
            shop.desk.show("order-status.dlq:0:5")
        with pytest.raises(UnknownDeadLetter):
            shop.desk.show("update-stock.dlq:0:0")


class TestReplaying:
    def test_sends_the_record_back_with_its_key_value_and_own_headers_and_where_it_came_from(self, shop):
        ref = shop.refuse(n=1)
        (dead,) = shop.broker.records(DEAD_STATUSES)

        (replayed,) = shop.desk.replay([ref], by="admin")

        (record,) = shop.replayed_records()
        assert (record.key, record.value) == (dead.key, dead.value)
        own = encode(status_event(1, order_id="o-1")).headers
        assert record.headers == (*own, (REPLAYED_FROM_HEADER, ref.encode()))
        assert replayed.replayed == Replay(NOW, "admin")

    def test_marks_the_dead_letter_replayed_in_the_same_transaction(self, shop):
        ref = shop.refuse()
        shop.clock.now = NOW + timedelta(hours=1)

        shop.desk.replay([ref], by="admin")

        (mark,) = shop.broker.records(DEAD_LETTER_REPLAYS.name)
        assert (mark.key, json.loads(mark.value)) == (
            ref.encode(),
            {"replayed_at": (NOW + timedelta(hours=1)).isoformat(), "by": "admin"},
        )
        assert shop.desk.listing()[0].replayed == Replay(NOW + timedelta(hours=1), "admin")
        assert shop.desk.waiting() == {DEAD_STATUSES: 0}

    def test_by_topic_replays_only_those_not_replayed_yet(self, shop):
        first, second = shop.refuse(n=1), shop.refuse(n=2)
        shop.desk.replay([first], by="admin")

        replayed = shop.desk.replay_topic("order-status", by="admin")

        assert [str(dead.ref) for dead in replayed] == [second]
        assert shop.desk.replay_topic("order-status", by="admin") == []

    def test_after_the_fix_a_replay_is_applied_and_a_second_replay_of_it_changes_nothing(self, shop):
        ref = shop.refuse(n=1)
        shop.refusing = False  # the fix

        shop.desk.replay([ref], by="admin")
        shop.desk.replay([ref], by="admin")  # named again: sent again, harmlessly
        shop.deliver_replays()

        assert len(shop.replayed_records()) == 2
        assert [m.order_id for m in shop.messages.notifier.sent] == ["o-1"]
        assert shop.messages.inbox.message_ids == {"m-1"}

    def test_a_replay_refused_again_keeps_the_trail_and_a_new_replay_names_only_the_new_dead_letter(self, shop):
        first = shop.refuse(n=1)
        shop.desk.replay([first], by="admin")
        shop.deliver_replays()  # still refused: a second dead letter
        second = str(DeadLetterRef.of(shop.broker.records(DEAD_STATUSES)[-1]))

        assert dict(shop.desk.show(second).headers)[REPLAYED_FROM_HEADER] == first.encode()
        shop.desk.replay([second], by="admin")
        assert [dict(r.headers)[REPLAYED_FROM_HEADER] for r in shop.replayed_records()] == [
            first.encode(),
            second.encode(),
        ]

    def test_a_replay_does_not_fence_the_worker_s_dead_letter_producer(self, shop):
        ref = shop.refuse(n=1)

        shop.desk.replay([ref], by="admin")
        shop.refuse(n=2)

        assert not shop.worker.fenced
        assert len(shop.broker.records(DEAD_STATUSES)) == 2

    def test_nothing_is_sent_when_any_named_reference_is_unknown(self, shop):
        ref = shop.refuse()

        with pytest.raises(UnknownDeadLetter):
            shop.desk.replay([ref, "order-status.dlq:2:9"], by="admin")

        assert shop.replayed_records() == ()
        assert shop.broker.records(DEAD_LETTER_REPLAYS.name) == ()


class TestTheWatch:
    def test_counts_the_dead_letters_waiting_per_topic_when_asked_and_keeps_the_last_count_on_failure(self, shop):
        watch = DeadLetterWatch(shop.desk.waiting)
        shop.refuse(n=1)
        shop.refuse(n=2)

        watch.refresh()
        counted = watch.waiting
        failing = DeadLetterWatch(lambda: 1 / 0)
        failing.refresh()

        assert counted == {DEAD_STATUSES: 2}
        assert (failing.waiting, failing.last_error) == (None, "ZeroDivisionError: division by zero")
