"""In-memory adapters for the Message Service: a notifier that keeps what it sent, and the unit of work."""

from __future__ import annotations

from collections.abc import Iterable

from adapters.memory.transactions import InMemoryInbox, InMemoryUnitOfWork
from ordering_core.messages import CustomerMessage


class InMemoryNotifier:
    """`sent` holds every committed customer message, in order."""

    def __init__(self, sent: Iterable[CustomerMessage] = ()) -> None:
        self.sent: list[CustomerMessage] = list(sent)

    def notify(self, message: CustomerMessage) -> None:
        self.sent.append(message)

    def copy(self) -> InMemoryNotifier:
        return InMemoryNotifier(self.sent)

    def adopt(self, other: InMemoryNotifier) -> None:
        self.sent = list(other.sent)


class InMemoryMessageUnitOfWork(InMemoryUnitOfWork):
    parts = ("notifier", "inbox")

    def __init__(self) -> None:
        super().__init__()
        self.notifier = InMemoryNotifier()
        self.inbox = InMemoryInbox()
