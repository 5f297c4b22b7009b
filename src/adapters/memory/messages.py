"""In-memory adapters for the Message Service: a notifier that keeps what it sent, and the unit of work."""

from __future__ import annotations

from collections.abc import Iterable

from adapters.memory.transactions import InMemoryInbox, InMemoryUnitOfWork
from ordering_core.messages import CustomerMessage


class InMemoryNotifier:
    """`sent` holds every committed customer message, in order: one per order and status, as the SQLite
    notifier keeps them (a message id or an order's status told before is not told again)."""

    def __init__(self, sent: Iterable[CustomerMessage] = ()) -> None:
        self.sent: list[CustomerMessage] = list(sent)
        self._told = {m.message_id for m in self.sent} | {(m.order_id, m.status) for m in self.sent}

    def notify(self, message: CustomerMessage) -> None:
        if message.message_id in self._told or (message.order_id, message.status) in self._told:
            return
        self.sent.append(message)
        self._told |= {message.message_id, (message.order_id, message.status)}

    def copy(self) -> InMemoryNotifier:
        return InMemoryNotifier(self.sent)

    def adopt(self, other: InMemoryNotifier) -> None:
        self.sent = list(other.sent)
        self._told = set(other._told)


class InMemoryMessageUnitOfWork(InMemoryUnitOfWork):
    parts = ("notifier", "inbox")

    def __init__(self) -> None:
        super().__init__()
        self.notifier = InMemoryNotifier()
        self.inbox = InMemoryInbox()
