"""An in-memory outbox for the relay: the rows are a unit of work's committed events, encoded for Kafka."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from adapters.memory.transactions import InMemoryEventPublisher
from adapters.wire.codec import encode


@frozen
class InMemoryOutboxRow:
    id: int
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


class InMemoryOutbox:
    """Row ids are positions in `published`; everything before `sent` has been marked sent."""

    def __init__(self, events: InMemoryEventPublisher) -> None:
        self._events = events  # a unit of work's committed publisher: it keeps its identity across commits
        self.sent = 0

    def pending(self, limit: int) -> Sequence[InMemoryOutboxRow]:
        rows = []
        for position, event in enumerate(self._events.published[self.sent : self.sent + limit], start=self.sent):
            record = encode(event)
            rows.append(InMemoryOutboxRow(position, record.topic, record.key, record.value, record.headers))
        return rows

    def mark_sent(self, ids: Sequence[int]) -> None:
        self.sent = max(self.sent, max(ids) + 1)

    def backlog(self) -> int:
        return len(self._events.published) - self.sent
