"""What `make run` (tools/run.py) will start, decided from the environment before anything starts.

    INSTANCES   processes of each service, 1 (the default) to MAX_INSTANCES
    DATABASE    `sqlite` (the default: a file per service in DATA_DIR) or `postgres`

Instance i (from 1) of a service listens on the service's port + PORT_STEP * (i - 1), so the first ones keep
8001, 8002 and 8003, and is told INSTANCE_ID=<service>-<i>. Every Order Service process asks every Product
Service instance (PRODUCT_SERVICE_URL, comma-separated), unless PRODUCT_SERVICE_URL was set.

PostgreSQL is DATABASE=postgres (the local server of tools/localpg, started if needed, a database per
service) or DATABASE_URL (a server someone runs, used as it is by every service: each keeps its tables in
a schema of its own). Several instances need it: on SQLite each service's file has one writer, and a second
process on it would fence the first one's outbox relay.

Pure: what it reads comes in as a mapping, and nothing here starts, opens or connects anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from run_console import RunError

SERVICES = ("product", "order", "message")  # Product first: Order's readiness asks it
MAX_INSTANCES = 5
PORT_STEP = 10
DATABASES = ("sqlite", "postgres")


@frozen
class Instance:
    """One process of a service: which one, where it listens."""

    service: str
    number: int  # from 1
    port: int
    url: str  # how this machine reaches it

    @property
    def id(self) -> str:
        """Its INSTANCE_ID, and its name in the log stream when a service has several: `order-2`."""
        return f"{self.service}-{self.number}"


@frozen
class Plan:
    instances: tuple[Instance, ...]  # in start order: every product, then every order, then every message
    database: str  # one of DATABASES
    database_url: str | None  # DATABASE_URL, used as it is; None: SQLite, or the local server's databases
    product_service_url: str | None  # for every Order Service process; None: the one the user set

    @property
    def several(self) -> bool:
        return len(self.instances) > len(SERVICES)

    def first(self, service: str) -> Instance:
        return next(instance for instance in self.instances if instance.service == service)

    def name(self, instance: Instance) -> str:
        """The process's name in what run.py says and supervises: the service's alone, `order-2` among several."""
        return instance.id if self.several else instance.service

    def environment(self, instance: Instance, database_urls: Mapping[str, str]) -> dict[str, str]:
        """What this process is told on top of the run's environment; `database_urls`: DATABASE_URL by
        service (empty for SQLite)."""
        own = {"INSTANCE_ID": instance.id}
        if instance.service == "order" and self.product_service_url is not None:
            own["PRODUCT_SERVICE_URL"] = self.product_service_url
        if instance.service in database_urls:
            own["DATABASE_URL"] = database_urls[instance.service]
        return own


def plan(environ: Mapping[str, str], ports: Mapping[str, int], host: str) -> Plan:
    """The processes to start for `ports` (each service's first port) on `host` (as a URL's host part);
    RunError, one line, for a setting that cannot work."""
    count = _instances(environ)
    database, database_url = _database(environ)
    if count > 1 and database != "postgres":
        raise RunError(
            f"INSTANCES={count} needs PostgreSQL: on SQLite each service's file takes one process (a second "
            f"would fence the first one's outbox relay); run `make run INSTANCES={count} DATABASE=postgres` "
            "(or set DATABASE_URL)"
        )
    instances = tuple(
        Instance(service, number, port, f"http://{host}:{port}")
        for service in SERVICES
        for number in range(1, count + 1)
        for port in [ports[service] + PORT_STEP * (number - 1)]
    )
    _refuse_shared_ports(instances)
    given = environ.get("PRODUCT_SERVICE_URL", "").strip()
    products = ",".join(instance.url for instance in instances if instance.service == "product")
    return Plan(instances, database, database_url, None if given else products)


def _instances(environ: Mapping[str, str]) -> int:
    raw = environ.get("INSTANCES", "").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_INSTANCES:
        raise RunError(f"INSTANCES={raw} is not a number of processes per service: use 1 to {MAX_INSTANCES}")
    return int(raw)


def _database(environ: Mapping[str, str]) -> tuple[str, str | None]:
    """Which database, and DATABASE_URL when it is the one to use as it is."""
    chosen = environ.get("DATABASE", "").strip().lower()
    url = environ.get("DATABASE_URL", "").strip() or None
    if chosen not in ("", *DATABASES):
        raise RunError(f"DATABASE={chosen} is not known: use {' or '.join(DATABASES)} (the default: sqlite)")
    if chosen == "sqlite" or (not chosen and url is None):
        return "sqlite", None  # an explicit sqlite wins over a DATABASE_URL left in the environment
    return "postgres", url


def _refuse_shared_ports(instances: tuple[Instance, ...]) -> None:
    # Instance ports step by PORT_STEP, so one service's later instances can land on another's port.
    seen: dict[int, str] = {}
    for instance in instances:
        if not 0 < instance.port < 65536:
            raise RunError(f"{instance.id} would listen on port {instance.port}: choose lower service ports")
        if instance.port in seen:
            raise RunError(
                f"{instance.id} and {seen[instance.port]} would both listen on port {instance.port} (instance i "
                f"listens on the service's port + {PORT_STEP}(i-1)): choose ORDER_PORT, PRODUCT_PORT and "
                "MESSAGE_PORT further apart"
            )
        seen[instance.port] = instance.id
