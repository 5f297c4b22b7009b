"""The outbox relay: committed outbox rows go to Kafka in order, a batch per transaction, then are marked sent.

This is the second half of "no dual write": a use case commits its changes and its events in one SQLite
transaction; this thread publishes them later. If Kafka is down the rows wait (the service keeps taking
orders) and go out when it is back. If the relay dies between publishing and marking, the rows go out again:
consumers drop the duplicates by message id. One transaction per batch, not per order: a Kafka transaction
costs a few ms of round trips, so batching is what lets the relay keep up (shared/notes).

Group commit: transactions start at most once per `window_s`. A commit wakes the relay; if the last
transaction started less than a window ago, the relay waits out the rest of the window first, and the rows
committed meanwhile go in the same transaction. The broker's work follows the number of transactions (each
is a round of requests, markers on every partition written and a record in its transaction log), not the
number of rows. After a quiet spell a row goes at once, so the window costs latency only under load, and
at most one window. A full batch (`batch_size` rows) goes without waiting: the relay is behind. Where a
transaction itself takes longer than the window (10-20 ms with the broker on our 2-core machine), the rows
committed during it already share the next one, and the window never binds (BENCHMARKS.md).

It runs on its own thread because everything it calls blocks (SQLite, librdkafka's transaction protocol).

A fenced relay stays fenced. ProducerFenced means another producer with the relay's transactional id (the
same service started twice, or a zombie's successor) took over; making a new producer would fence that one
back, and two relays with one id would abort each other for ever. So the relay stops publishing for good:
`fenced` is set, its thread ends, the service's readiness and `ordering_outbox_relay_fenced` say so, and it
logs at error level. Its rows stay in the outbox; restarting the process (once only one runs) sends them.
docs/operations.md says what to do.

Several instances on one database (PostgreSQL) run a relay each, and exactly one publishes: the one holding
the database's relay lease (`Lease`; adapters.postgres.lease says how it is chosen and replaced). The others
stand by, ready, looking at the lease a few times a second. Every instance's relay has the same
transactional id, so a new leader's producer fences the one before it, if that one still lives (paused, cut
off). There, being fenced is the normal end of a term, not a second process by mistake: the relay gives its
lease up and stands by again, instead of stopping for good.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from adapters.messaging.broker import MessagingError, Producer, ProducerFenced

log = logging.getLogger(__name__)


class OutboxRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class Outbox(Protocol):
    def pending(self, limit: int) -> Sequence[OutboxRow]:
        """The oldest rows not marked sent, oldest first."""

    def mark_sent(self, ids: Sequence[int]) -> None:
        """Mark these rows sent, in one transaction."""

    def backlog(self) -> int:
        """How many rows wait to be sent."""


class Lease(Protocol):
    """Whether this process is the one that relays its database's outbox (module docstring)."""

    @property
    def held(self) -> bool: ...
    def start(self) -> None: ...
    def stop(self, timeout_s: float = 10.0) -> None: ...
    def release(self) -> None: ...


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        make_producer: Callable[[], Producer],
        *,
        name: str,
        lease: Lease | None = None,
        batch_size: int = 500,
        window_s: float = 0.0,
        idle_wait_s: float = 0.5,
        standby_wait_s: float = 0.2,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._outbox = outbox
        self._make_producer = make_producer
        self._lease = lease
        self._standby_wait_s = standby_wait_s
        self._producer: Producer | None = None
        self._batch_size = batch_size
        self._window_s = window_s
        self._last_started = float("-inf")  # time.monotonic() of the last transaction's start
        self._idle_wait_s = idle_wait_s
        self._max_backoff_s = max_backoff_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.published = 0  # rows published and marked sent since start
        self.transactions = 0  # the Kafka transactions they went in (group commit's batching, as a figure)
        self.last_error: str | None = None  # why the last attempt failed; None once one succeeds
        self.producing = False  # whether its producer is ready to publish (readiness waits for it)
        self.fenced = False  # another producer took its name: it never publishes again (module docstring)
        self.standing_by = lease is not None  # another instance relays (module docstring)
        self.terms = 0  # how many times this relay took the lease and started publishing

    # -- control -----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._lease is not None:
            self._lease.start()
        self._thread.start()

    def wake(self) -> None:
        """Tell the relay a commit just added rows, so it need not wait for its next look. Thread-safe."""
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._producer is not None:
            self._producer.close()
            self._producer = None
        if self._lease is not None:
            self._lease.stop(timeout_s)

    # -- work --------------------------------------------------------------------------------------------

    def relay_once(self) -> int:
        """Publish one batch of pending rows; returns how many. Raises MessagingError if Kafka refused."""
        if self.fenced:
            raise ProducerFenced(f"the outbox relay was fenced: {self.last_error}")
        rows = self._outbox.pending(self._batch_size)
        if not rows:
            return 0
        self._last_started = time.monotonic()
        try:
            if self._producer is None:
                self._producer = self._make_producer()  # blocks on init_transactions: needs a reachable broker
            with self._producer.transaction() as batch:
                for row in rows:
                    batch.send(row.topic, key=row.key, value=row.value, headers=row.headers)
        except ProducerFenced as error:
            if self._lease is None:
                self._fence(error)
            raise
        self._outbox.mark_sent([row.id for row in rows])
        self.published += len(rows)
        self.transactions += 1
        return len(rows)

    def _run(self) -> None:
        backoff_s = 0.1
        while not self._stopping.is_set():
            if self._lease is not None and not self._lease.held:
                self._stand_by()
                self._stopping.wait(self._standby_wait_s)
                continue
            if self.standing_by:
                self.standing_by = False
                self.terms += 1
                log.info("outbox relay leads: this instance publishes the outbox; %d rows wait", self._safe_backlog())
            try:
                # The producer first, before any row waits for it: making one waits for the broker's
                # transaction coordinator (about 1.7 s on a fresh broker), which the first order would
                # otherwise wait for. Until it is made, the service's readiness says so.
                if self._producer is None:
                    self._producer = self._make_producer()
                self.producing = True
                sent = self.relay_once()
            except ProducerFenced as error:
                if self._lease is not None:
                    self._lease.release()  # the end of this term: another instance leads (module docstring)
                    self._stand_by(f"{type(error).__name__}: {error}")
                    continue
                self._fence(error)
                return  # for good: a new producer would fence the one that took over
            except MessagingError as error:
                self._fail(error)
                self._stopping.wait(backoff_s)
                backoff_s = min(backoff_s * 2, self._max_backoff_s)
                continue
            except Exception as error:  # a bug or a database problem: keep the thread, say it loudly
                log.exception("outbox relay failed")
                self._fail(error)
                self._stopping.wait(self._max_backoff_s)
                continue
            backoff_s = 0.1
            self.last_error = None
            if sent < self._batch_size:
                self._wake.wait(self._idle_wait_s)
                self._wake.clear()
                self._wait_out_the_window()

    def _wait_out_the_window(self) -> None:
        """Group commit (module docstring): no transaction starts within `window_s` of the one before."""
        rest = self._last_started + self._window_s - time.monotonic()
        if rest > 0:
            self._stopping.wait(rest)

    def _stand_by(self, why: str = "another instance holds the relay lease") -> None:
        if self.standing_by:
            return
        self.standing_by = True
        self.producing = False
        self.last_error = None
        log.info("outbox relay stands by: %s", why)
        self._close_producer()

    def _fence(self, error: ProducerFenced) -> None:
        if self.fenced:
            return
        self.fenced = True
        self.producing = False
        self.last_error = f"{type(error).__name__}: {error}"
        log.error(
            "outbox relay fenced: another producer with its transactional id took over; it publishes no "
            "more until the service restarts; %d rows wait (%s)",
            self._safe_backlog(),
            self.last_error,
        )
        self._close_producer()

    def _fail(self, error: Exception) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        self.producing = False
        log.warning("outbox relay: %s; %d rows wait", self.last_error, self._safe_backlog())
        # After a failed or unknown commit the producer may be unusable (a fatal error): start afresh. Not
        # after fencing (`_fence`): a new producer would fence the one that took over.
        self._close_producer()

    def _close_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close()
            except MessagingError:
                log.info("closing the relay's producer failed")
            self._producer = None

    def _safe_backlog(self) -> int:
        try:
            return self._outbox.backlog()
        except Exception:  # noqa: BLE001 - a log line's figure must not raise
            # Whatever the outbox's storage raises: the figure is for the log line of a failure, often the
            # database's own, and reading it must not turn that failure into another.
            return -1
