"""The in-memory unit of work (copy on begin, swap on commit) and the parts every service's has.

A unit of work lists its parts by attribute name. Entering the block replaces each part with a private
copy; `commit()` makes each committed part adopt its copy's state; leaving the block puts the committed
parts back, so whatever was not committed is gone. Outside a block the attributes are the committed parts,
and they keep their identity, so a test may hold `uow.events` and inspect it later.

`batch()` is the databases' batch (a consumer applying a poll's records as one transaction): what the units
of work commit inside it is kept only if the whole block ends normally.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import ClassVar, Protocol, Self

from ordering_core.events import Event


class Part(Protocol):
    def copy(self) -> Self: ...

    def adopt(self, other: Self) -> None: ...


class InMemoryUnitOfWork:
    parts: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self.commits = 0
        self._committed: dict[str, Part] | None = None

    def __enter__(self) -> Self:
        if self._committed is not None:
            raise RuntimeError("this unit of work is already open; units of work do not nest")
        self._committed = {name: getattr(self, name) for name in self.parts}
        self._work_on_copies(self._committed)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        committed, self._committed = self._committed, None
        if committed is None:  # __enter__ sets it; only a misuse (exit without enter) gets here
            raise RuntimeError("the unit of work's block was left without being entered")
        for name, part in committed.items():
            setattr(self, name, part)

    def commit(self) -> None:
        if self._committed is None:
            raise RuntimeError("commit() outside the unit of work's `with` block")
        for name, part in self._committed.items():
            part.adopt(getattr(self, name))
        self.commits += 1
        self._work_on_copies(self._committed)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Several units of work as one transaction (module docstring); opened outside a block."""
        if self._committed is not None:
            raise RuntimeError("a batch opens outside the unit of work's `with` block")
        before = {name: getattr(self, name).copy() for name in self.parts}
        try:
            yield
        except BaseException:
            for name, part in before.items():
                getattr(self, name).adopt(part)
            raise

    def _work_on_copies(self, committed: dict[str, Part]) -> None:
        for name, part in committed.items():
            setattr(self, name, part.copy())


class InMemoryEventPublisher:
    """The outbox: `published` holds every event, in publishing order."""

    def __init__(self, published: Iterable[Event] = ()) -> None:
        self.published: list[Event] = list(published)

    def publish(self, events: Sequence[Event]) -> None:
        self.published.extend(events)

    def copy(self) -> InMemoryEventPublisher:
        return InMemoryEventPublisher(self.published)

    def adopt(self, other: InMemoryEventPublisher) -> None:
        self.published = list(other.published)


class InMemoryInbox:
    def __init__(self, message_ids: Iterable[str] = ()) -> None:
        self.message_ids: set[str] = set(message_ids)

    def seen(self, message_id: str) -> bool:
        return message_id in self.message_ids

    def record(self, message_id: str) -> None:
        self.message_ids.add(message_id)

    def copy(self) -> InMemoryInbox:
        return InMemoryInbox(self.message_ids)

    def adopt(self, other: InMemoryInbox) -> None:
        self.message_ids = set(other.message_ids)
