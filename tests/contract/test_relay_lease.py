"""The relay lease on a real PostgreSQL: one instance of a service at a time holds it; it passes to another when
the holder's process dies (its connection ends), goes silent (paused: no ping within the idle timeout), or
gives it up.

Each `RelayLease` here stands for one instance's; the test calls `tick` (what the lease's thread does every
second) instead of running the thread, so each step is seen as it happens.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.lease import RelayLease
from adapters.postgres.orders import ORDER_SCHEMA

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_url: str, postgres_namespace: str) -> Iterator[PostgresDatabase]:
    with PostgresDatabase(postgres_url, ORDER_SCHEMA, namespace=postgres_namespace) as opened:
        yield opened


def lease_of(database: PostgresDatabase, url: str, idle_timeout_s: float = 5.0) -> RelayLease:
    return RelayLease(database, url, interval_s=0.05, idle_timeout_s=idle_timeout_s)


def eventually(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


class TestTheRelayLease:
    def test_one_instance_holds_it_and_keeps_it_while_the_others_try(self, database, postgres_url):
        first, second = lease_of(database, postgres_url), lease_of(database, postgres_url)

        taken = [first.tick(), second.tick(), first.tick(), second.tick()]
        first.stop()
        second.stop()

        assert taken == [True, False, True, False]

    def test_passes_to_another_instance_when_the_holder_s_process_dies(self, database, postgres_url):
        holder, standby = lease_of(database, postgres_url), lease_of(database, postgres_url)
        assert holder.tick()
        backend = holder._connection.info.backend_pid  # the holder's server session

        # kill -9 of the holder's process: the kernel closes its socket; here the server ends the session,
        # which is what it does when it sees that.
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        eventually(standby.tick)
        still_held = holder.tick()  # what the old holder's lease finds, were it still alive
        holder.stop()
        standby.stop()

        assert still_held is False

    def test_passes_to_another_instance_when_the_holder_goes_silent_past_the_idle_timeout(
        self, database, postgres_url
    ):
        holder = lease_of(database, postgres_url, idle_timeout_s=0.5)
        standby = lease_of(database, postgres_url, idle_timeout_s=0.5)
        last_ping = time.monotonic()  # no sooner than its session's idle time starts
        assert holder.tick()
        assert not standby.tick()

        eventually(standby.tick)  # the holder pauses: no more ticks, no more pings
        silent_for = time.monotonic() - last_ping
        resumed = holder.tick()
        holder.stop()
        standby.stop()

        assert silent_for >= 0.5
        assert resumed is False

    def test_given_up_it_is_free_for_any_instance(self, database, postgres_url):
        first, second = lease_of(database, postgres_url), lease_of(database, postgres_url)
        assert first.tick()

        first.release()
        taken = second.tick()
        first.stop()
        second.stop()

        assert (first.held, taken) == (False, True)

    def test_its_thread_takes_it_and_gives_it_up_when_stopped(self, database, postgres_url):
        first, second = lease_of(database, postgres_url), lease_of(database, postgres_url)
        first.start()
        eventually(lambda: first.held)
        second.start()

        first.stop()
        eventually(lambda: second.held)
        second.stop()

        assert not first.held

    def test_leases_of_two_services_sharing_a_database_are_not_one(self, postgres_url, postgres_namespace):
        from adapters.postgres.products import PRODUCT_SCHEMA

        with (
            PostgresDatabase(postgres_url, ORDER_SCHEMA, namespace=postgres_namespace) as orders,
            PostgresDatabase(postgres_url, PRODUCT_SCHEMA, namespace=f"{postgres_namespace}_product") as products,
        ):
            order_lease, product_lease = lease_of(orders, postgres_url), lease_of(products, postgres_url)
            both = (order_lease.tick(), product_lease.tick())
            order_lease.stop()
            product_lease.stop()

        assert both == (True, True)

    def test_a_live_leader_cannot_be_set_to_lose_it_between_two_pings(self, database, postgres_url):
        with pytest.raises(ValueError, match="idle_timeout_s must be longer than interval_s"):
            RelayLease(database, postgres_url, interval_s=1.0, idle_timeout_s=1.0)
