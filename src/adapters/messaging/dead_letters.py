"""Dead letters an operator can work with: list them and why, show one whole, send chosen ones back.

    desk = DeadLetters(broker, topics=["update-stock.dlq", "restore-canceled-item.dlq"], name="product-service")
    desk.listing()                                     # every dead letter of those topics, oldest first
    desk.show("update-stock.dlq:0:12")                 # one, with its key, headers and value
    desk.replay(["update-stock.dlq:0:12"], by="admin") # back to update-stock, after a fix
    desk.replay_topic("update-stock", by="admin")      # every one of that topic not replayed yet
    desk.waiting()                                     # {"update-stock.dlq": 0, ...}: not replayed yet

A dead letter is named by where it sits: `<dead-letter topic>:<partition>:<offset>` (`DeadLetterRef`).

A replay is one Kafka transaction holding, for each dead letter, the record sent back to the topic it was
read from (its key and value, its own headers without the `dlq-*` ones and without an older
`replayed-from`, then `replayed-from: <ref>`) and a mark on `dead-letter-replays` keyed by the ref (JSON:
`replayed_at`, `by`). So a dead letter counts as replayed exactly when its record was published. The
producer's transactional id is new for every replay, so a replay never fences the service's relay or its
dead-letter producer, and two admins replaying at once do not fence each other.

Why replaying twice is harmless: the record sent back carries its event's own message id, and every
consumer drops a message id its inbox has seen (and the domain's rules are idempotent past the inbox's
retention: docs/operations.md). `replayed-from` is deliberately not `dlq-` prefixed: when a replayed record
is refused again, the new dead letter keeps it, so the trail shows it was tried before.

Everything here reads Kafka and blocks (`Broker.read`): call it off the event loop. A replay's records and
mark become visible to a later read once Kafka has written the transaction's markers, a moment after it
returns.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from attrs import evolve, frozen

from adapters.messaging.broker import Broker, Headers, Record
from adapters.messaging.dead_letter_headers import (
    AT_HEADER,
    OFFSET_HEADER,
    PARTITION_HEADER,
    REASON_HEADER,
    TOPIC_HEADER,
    replayed_headers,
)
from adapters.messaging.topics import DEAD_LETTER_REPLAYS, dead_letter_topic
from adapters.wire.codec import MESSAGE_ID_HEADER, TYPE_HEADER, decode

log = logging.getLogger(__name__)

_REF = re.compile(r"(?P<topic>[A-Za-z0-9._-]+\.dlq):(?P<partition>0|[1-9][0-9]{0,8}):(?P<offset>0|[1-9][0-9]{0,18})")


class DeadLetterError(Exception):
    """Base of what an operator's request about dead letters can get wrong."""


class MalformedRef(DeadLetterError):
    """Not a reference to a dead letter (`<topic>.dlq:<partition>:<offset>`)."""


class UnknownDeadLetter(DeadLetterError):
    """No such dead letter here: none at that place, or a topic this service does not own."""


@frozen
class DeadLetterRef:
    topic: str  # the dead-letter topic, `<topic>.dlq`
    partition: int
    offset: int

    @classmethod
    def parse(cls, text: str) -> DeadLetterRef:
        found = _REF.fullmatch(text)
        if found is None:
            raise MalformedRef(
                f"{text[:80]!r} is not a dead letter's reference: <topic>.dlq:<partition>:<offset>, "
                "e.g. update-stock.dlq:0:12"
            )
        return cls(found["topic"], int(found["partition"]), int(found["offset"]))

    @classmethod
    def of(cls, record: Record) -> DeadLetterRef:
        return cls(record.topic, record.partition, record.offset)

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


@frozen
class Replay:
    """A dead letter's record was sent back to its topic: when, and by whom (the admin's subject)."""

    replayed_at: datetime
    by: str


@frozen
class DeadLetter:
    """A record set aside, with what its headers and value tell about it (None where they do not)."""

    ref: DeadLetterRef
    topic: str  # the topic it was read from, and goes back to
    partition: int | None
    offset: int | None
    reason: str
    dead_lettered_at: datetime | None  # dead letters from before the `dlq-at` header have none
    event: str | None
    order_id: str | None
    message_id: str | None
    replayed: Replay | None
    key: bytes | None
    value: bytes
    headers: Headers

    @classmethod
    def from_record(cls, record: Record, replayed: Replay | None) -> DeadLetter:
        headers = dict(record.headers)
        topic = _text(headers.get(TOPIC_HEADER)) or record.topic.removesuffix(".dlq")
        event, order_id, message_id = _what_it_was(topic, record, headers)
        return cls(
            ref=DeadLetterRef.of(record),
            topic=topic,
            partition=_number(headers.get(PARTITION_HEADER)),
            offset=_number(headers.get(OFFSET_HEADER)),
            reason=_text(headers.get(REASON_HEADER)) or "(no reason given)",
            dead_lettered_at=_moment(headers.get(AT_HEADER)),
            event=event,
            order_id=order_id,
            message_id=message_id,
            replayed=replayed,
            key=record.key,
            value=record.value,
            headers=record.headers,
        )

    def replayed_headers(self) -> Headers:
        """The headers the record goes back with: its own, and where it was replayed from."""
        return replayed_headers(self.headers, str(self.ref))


class DeadLetters:
    def __init__(
        self,
        broker: Broker,
        *,
        topics: Iterable[str],
        name: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        max_records: int = 10_000,
        read_timeout_s: float = 10.0,
    ) -> None:
        """`topics`: the dead-letter topics this service owns (those of the topics it consumes); `name`:
        the service's, for the replays' producers (`<name>-replay-<new id>`)."""
        self._broker = broker
        self.topics = tuple(topics)
        self._name = name
        self._clock = clock
        self._new_id = new_id
        self._max_records = max_records
        self._read_timeout_s = read_timeout_s

    def owned(self, topic: str) -> str:
        """The dead-letter topic `topic` names (`update-stock` or `update-stock.dlq`), if this service owns it."""
        named = topic if topic.endswith(".dlq") else dead_letter_topic(topic)
        if named not in self.topics:
            raise UnknownDeadLetter(
                f"{topic!r} is not a dead-letter topic of this service (its topics: {', '.join(self.topics)})"
            )
        return named

    def listing(self, topic: str | None = None) -> list[DeadLetter]:
        """Every dead letter of `topic` (else of every topic owned), by topic, partition and offset."""
        topics = self.topics if topic is None else (self.owned(topic),)
        return self._dead_letters(topics)

    def show(self, ref: str) -> DeadLetter:
        wanted = self._ref(ref)
        return self._find([wanted])[0]

    def replay(self, refs: Sequence[str], *, by: str) -> list[DeadLetter]:
        """Send each named dead letter back, replayed before or not (harmless: module docstring)."""
        wanted = list(dict.fromkeys(self._ref(ref) for ref in refs))
        return self._send_back(self._find(wanted), by)

    def replay_topic(self, topic: str, *, by: str) -> list[DeadLetter]:
        """Send back every dead letter of `topic` not replayed yet."""
        return self._send_back([d for d in self.listing(topic) if d.replayed is None], by)

    def waiting(self) -> dict[str, int]:
        """For each topic owned, how many dead letters were not replayed (the gauge)."""
        waiting = dict.fromkeys(self.topics, 0)
        for dead in self._dead_letters(self.topics):
            if dead.replayed is None:
                waiting[dead.ref.topic] += 1
        return waiting

    def _ref(self, text: str) -> DeadLetterRef:
        ref = DeadLetterRef.parse(text)
        self.owned(ref.topic)
        return ref

    def _find(self, wanted: Sequence[DeadLetterRef]) -> list[DeadLetter]:
        found = {d.ref: d for d in self._dead_letters(tuple(dict.fromkeys(ref.topic for ref in wanted)))}
        missing = [str(ref) for ref in wanted if ref not in found]
        if missing:
            raise UnknownDeadLetter(f"no dead letter at {', '.join(missing)}")
        return [found[ref] for ref in wanted]

    def _dead_letters(self, topics: Sequence[str]) -> list[DeadLetter]:
        records = self._broker.read(
            [*topics, DEAD_LETTER_REPLAYS.name], max_records=self._max_records, timeout_s=self._read_timeout_s
        )
        marks = _replays(r for r in records if r.topic == DEAD_LETTER_REPLAYS.name)
        return [
            DeadLetter.from_record(r, marks.get(str(DeadLetterRef.of(r))))
            for r in records
            if r.topic != DEAD_LETTER_REPLAYS.name
        ]

    def _send_back(self, dead_letters: Sequence[DeadLetter], by: str) -> list[DeadLetter]:
        if not dead_letters:
            return []
        replay = Replay(self._clock(), by)
        mark = json.dumps({"replayed_at": replay.replayed_at.isoformat(), "by": by}).encode()
        producer = self._broker.producer(f"{self._name}-replay-{self._new_id()}")
        try:
            with producer.transaction() as batch:
                for dead in dead_letters:
                    batch.send(dead.topic, key=dead.key, value=dead.value, headers=dead.replayed_headers())
                    batch.send(DEAD_LETTER_REPLAYS.name, key=str(dead.ref).encode(), value=mark)
        finally:
            producer.close()
        for dead in dead_letters:
            log.warning(
                "dead letter %s replayed to %s by %s",
                dead.ref,
                dead.topic,
                by,
                extra={"order_id": dead.order_id, "message_id": dead.message_id},
            )
        return [evolve(dead, replayed=replay) for dead in dead_letters]


def _replays(marks: Iterable[Record]) -> Mapping[str, Replay]:
    """The latest mark of each ref (one key, one partition: a later offset is a later replay)."""
    replays: dict[str, Replay] = {}
    for mark in marks:
        try:
            document = json.loads(mark.value)
            replays[(mark.key or b"").decode()] = Replay(
                datetime.fromisoformat(document["replayed_at"]), str(document["by"])
            )
        except (ValueError, KeyError, TypeError) as error:  # not ours to fail on: the rest still counts
            log.warning("unreadable replay mark at %s[%d]@%d: %s", mark.topic, mark.partition, mark.offset, error)
    return replays


def _what_it_was(topic: str, record: Record, headers: Mapping[str, bytes]) -> tuple[str | None, ...]:
    """The event type, order id and message id, from the value when it decodes, else from the headers."""
    try:
        event = decode(topic, record.value, key=record.key)
    except Exception:  # noqa: BLE001 - a dead letter is often exactly what does not decode
        return _text(headers.get(TYPE_HEADER)), _text(record.key), _text(headers.get(MESSAGE_ID_HEADER))
    return event.TYPE, event.envelope.order_id, event.envelope.message_id


def _text(raw: bytes | None) -> str | None:
    try:
        return None if raw is None else raw.decode()
    except UnicodeDecodeError:
        return None


def _number(raw: bytes | None) -> int | None:
    text = _text(raw)
    return int(text) if text is not None and text.isdigit() else None


def _moment(raw: bytes | None) -> datetime | None:
    text = _text(raw)
    try:
        return None if text is None else datetime.fromisoformat(text)
    except ValueError:
        return None
