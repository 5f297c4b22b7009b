"""The messaging contract runs once per broker: `memory` always, `kafka` where a broker can run (marked); the
storage contract's PostgreSQL cases get their server and a schema of their own here (`postgres`, marked).

`messaging` gives the test a broker and the patience that broker deserves: none for memory (whatever is not
there now never comes), some seconds for Kafka (records travel). Tests wait by condition, never by sleeping.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import pytest
from attrs import frozen

import localpg
from adapters.memory.broker import InMemoryBroker
from adapters.messaging.broker import Broker, Consumer, Record
from adapters.messaging.topics import Topic

# Long enough for a group to join and a transaction to travel on a busy 2-core machine; a correct Kafka
# run needs well under a second per wait, so a failure costs this much and a pass does not.
KAFKA_PATIENCE_S = 15.0


@frozen
class Messaging:
    broker: Broker
    patience_s: float

    def new_topic(self, name: str, partitions: int = 3) -> str:
        self.broker.create_topics([Topic(name, partitions)])
        return name

    def receive(self, consumer: Consumer, count: int) -> list[Record]:
        """Exactly the next `count` records; fails, listing what came, if they do not all come in time."""
        received: list[Record] = []
        self._poll_until(consumer, received, lambda: len(received) == count, f"{count} record(s)")
        return received

    def receive_until(self, consumer: Consumer, last: Callable[[Record], bool]) -> list[Record]:
        """The records up to and including the first for which `last` holds."""
        received: list[Record] = []
        self._poll_until(
            consumer, received, lambda: bool(received) and last(received[-1]), "the awaited record"
        )
        return received

    def _poll_until(
        self, consumer: Consumer, received: list[Record], done: Callable[[], bool], awaited: str
    ) -> None:
        deadline = time.monotonic() + self.patience_s
        while not done():
            record = consumer.poll(timeout_s=0.1)
            if record is not None:
                received.append(record)
            elif time.monotonic() >= deadline:
                pytest.fail(
                    f"waited {self.patience_s:.0f} s for {awaited}; received {len(received)}: "
                    f"{_shown(received)}",
                    pytrace=False,
                )


def _shown(records: Sequence[Record]) -> str:
    return ", ".join(f"{r.topic}[{r.partition}]@{r.offset}={r.value!r}" for r in records) or "nothing"


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def messaging(request: pytest.FixtureRequest) -> Iterator[Messaging]:
    if request.param == "memory":
        broker: Broker = InMemoryBroker()
        patience_s = 0.0
    else:
        from adapters.kafka.broker import KafkaBroker  # only a kafka run imports confluent_kafka

        broker = KafkaBroker(request.getfixturevalue("kafka_bootstrap_servers"))
        patience_s = KAFKA_PATIENCE_S
    yield Messaging(broker, patience_s)
    broker.close()


@pytest.fixture
def kafka_messaging(kafka_bootstrap_servers: str) -> Iterator[Messaging]:
    """Kafka only, for what the in-memory broker cannot fail at (mark such tests `kafka`)."""
    from adapters.kafka.broker import KafkaBroker

    broker = KafkaBroker(kafka_bootstrap_servers)
    yield Messaging(broker, KAFKA_PATIENCE_S)
    broker.close()


# -- PostgreSQL: one server per session (DATABASE_URL's, or a throwaway one), one schema per test --------------
# A schema per test, not a database: 35 ms for the schema, its pool and its migrations against 100 ms with
# CREATE DATABASE (measured on this project's 2-core machine, 8 of each).


@pytest.fixture(scope="session")
def postgres_url(postgres_server: localpg.PostgresServer) -> str:
    """The URL of a database for the contract tests, on the session's server (tests/conftest.py)."""
    return postgres_server.create_database("ordering_contract")


@pytest.fixture
def postgres_namespace(postgres_url: str) -> Iterator[str]:
    """A schema name no other test uses, and the prefix of the test's other schemas (`<name>_message`: one
    per service, each keeping its own schema version); every one the adapters made is dropped after the test."""
    import psycopg
    from psycopg import sql

    name = f"contract_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        made = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR starts_with(nspname, %s)",
            (name, f"{name}_"),
        ).fetchall()
        for (schema,) in made:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections (the kernel does, into the backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
