"""Which system the bench loads: one process of each service on SQLite (the default, as `make run` starts it),
or several of each on PostgreSQL (as `make run INSTANCES=2 DATABASE=postgres` does, on free ports).

    --instances 1 --database sqlite      the default: the figures BENCHMARKS.md keeps
    --instances 2 --database postgres    two processes of each service, one fresh database on a throwaway server

The processes are tools/run_plan.py's `Instance`s and are told what `Plan.environment` tells them under `make
run` (INSTANCE_ID, DATABASE_URL, PRODUCT_SERVICE_URL naming every Product Service instance); only the ports
differ, each one free. More than one instance needs PostgreSQL, for run_plan.py's reason: on SQLite a second
process on a service's file would fence the first one's outbox relay.
"""

from __future__ import annotations

import os
import time

from attrs import frozen

import localkafka
from errors import BenchError
from run_plan import DATABASES, MAX_INSTANCES, SERVICES, Instance, Plan

NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


@frozen
class Configuration:
    instances: int  # processes of each service
    database: str  # one of run_plan.DATABASES

    @classmethod
    def from_options(cls, instances: int, database: str) -> Configuration:
        """The configuration asked for; BenchError, one line, for one that cannot run."""
        if database not in DATABASES:
            raise BenchError(f"--database {database}: use {' or '.join(DATABASES)}")
        if not 1 <= instances <= MAX_INSTANCES:
            raise BenchError(f"--instances {instances}: use 1 to {MAX_INSTANCES}")
        if instances > 1 and database != "postgres":
            raise BenchError(f"--instances {instances} needs --database postgres: on SQLite each service's file "
                             "takes one process (a second would fence the first one's outbox relay)")
        return cls(instances, database)

    @property
    def default(self) -> bool:
        """As the bench ran before it had options for this: the processes get nothing of run_plan's."""
        return self.instances == 1 and self.database == "sqlite"

    def describe(self) -> str:
        each = "1 instance" if self.instances == 1 else f"{self.instances} instances"
        return f"{each} of each service, {NAMES[self.database]}"


def layout(config: Configuration, database_url: str | None) -> Plan:
    """The processes to start, every one on a free port of 127.0.0.1, in start order (products first)."""
    instances = tuple(
        Instance(service, number, port, f"http://127.0.0.1:{port}")
        for service in SERVICES
        for number in range(1, config.instances + 1)
        for port in [localkafka.free_port()]
    )
    products = ",".join(instance.url for instance in instances if instance.service == "product")
    return Plan(instances, config.database, database_url, products)


def process_environment(config: Configuration, chosen: Plan, instance: Instance) -> dict[str, str]:
    """What one process is told on top of the bench's environment for the services: nothing in the default
    configuration; else its INSTANCE_ID, DATABASE_URL, every Product Service instance, and its own port."""
    if config.default:
        return {}
    urls = dict.fromkeys(SERVICES, chosen.database_url) if chosen.database_url else {}
    return {**chosen.environment(instance, urls), f"{instance.service.upper()}_PORT": str(instance.port)}


def fresh_database_name() -> str:
    """A name no earlier run used, so that a server DATABASE_URL names gets a database of this run's own."""
    return f"ordering_bench_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
