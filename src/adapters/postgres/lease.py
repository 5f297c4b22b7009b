"""Which instance of a service relays its outbox: the one holding the relay lease, a PostgreSQL session-level
advisory lock taken on a connection of the lease's own.

Why one relay per database, not one per instance. The outbox is one table the instances share, read oldest
first; two relays would publish the same rows at the same time, and the records of one order could reach
Kafka out of order (one relay's older batch after the other's newer one). With one relay at a time the rows
go out in id order, which is commit order (adapters.postgres.database). Every instance runs a relay; all but
one stand by.

How a leader is chosen and replaced. Each instance's lease thread tries `pg_try_advisory_lock` every
`interval_s` (1 s); the lock is the session's, so it is held for as long as the connection lives, and whoever
holds it relays. The server drops the lock with the session:
- when the leader's process dies (kill -9 included): the kernel closes its socket, the server sees the
  connection end at once, and a standby takes the lock at its next try (within `interval_s`);
- when the leader stops answering (paused, or cut off): the lease pings the server every `interval_s`, and the
  session is set to end after `idle_timeout_s` without a statement (`idle_session_timeout`), so a silent
  leader loses the lock after that long.
A leader that finds its connection gone has lost the lock: `held` turns False at once, and its relay stops
publishing.

Losing the lock does not stop a publish already under way: a paused leader, resumed, may still be in a
Kafka transaction. Kafka fences it: every relay of a service uses one transactional id, so the new leader's
producer, when it starts, aborts the old one's open transaction and refuses its later ones
(adapters.messaging.relay). The lease decides who should publish; the transactional id makes sure nobody
else can.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from psycopg import sql

from adapters.postgres.database import PostgresDatabase, lock_key

log = logging.getLogger(__name__)

INTERVAL_S = 1.0
IDLE_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 3


class RelayLease:
    """The relay lease of `database`'s service, tried and kept by a thread of its own (`start`, `stop`).

    `held` says whether this process holds it now. Thread-safe.
    """

    def __init__(
        self,
        database: PostgresDatabase,
        url: str,
        *,
        interval_s: float = INTERVAL_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        if idle_timeout_s <= interval_s:
            raise ValueError("idle_timeout_s must be longer than interval_s, or a live leader would lose the lease")
        self._url = url
        self._key = lock_key(database.namespace or "", database.schema.name, "relay")
        self._name = database.schema.name
        self._interval_s = interval_s
        self._session = sql.SQL("SET idle_session_timeout = {}").format(
            sql.Literal(f"{round(idle_timeout_s * 1000)}ms")
        )
        self._connection: psycopg.Connection | None = None
        self._lock = threading.Lock()  # the lease's thread ticks, the relay's may `release`
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{self._name}-relay-lease", daemon=True)
        self.held = False

    def __repr__(self) -> str:
        return f"RelayLease({self._name}, held={self.held})"

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop trying, and give the lease up (another instance takes it at its next try)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self.release()

    def release(self) -> None:
        """Give the lease up now (the relay does when Kafka says another producer took over): the server drops
        the lock with the connection, and any instance may take it at its next try, this one included."""
        with self._lock:
            self._drop()

    def tick(self) -> bool:
        """Take the lease if it is free, or check it is still ours; whether this process holds it now."""
        with self._lock:
            return self._tick()

    def _tick(self) -> bool:
        try:
            if self._connection is None or self._connection.closed:
                self._connection = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
                self._connection.execute(self._session)
            if self.held:
                self._connection.execute("SELECT 1")
            else:
                row = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
                self._set_held(bool(row and row[0]))
        except psycopg.Error as error:
            if self.held:
                log.warning("the %s relay lease is lost with its connection (%s)", self._name, error)
            self._drop()
        return self.held

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.tick()
            self._stopping.wait(self._interval_s)

    def _drop(self) -> None:
        self._set_held(False)
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()  # the server drops the session's lock with it
            except psycopg.Error:
                log.info("closing the %s relay lease's connection failed", self._name)

    def _set_held(self, held: bool) -> None:
        if held != self.held:
            self.held = held
            how = "taken: this instance relays its outbox" if held else "released"
            log.info("the %s relay lease is %s", self._name, how)
