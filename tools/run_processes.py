"""The processes `make run` (tools/run.py) starts and stops: Kafka (a broker, or a cluster of nodes with
KAFKA_NODES) unless one is given, PostgreSQL with DATABASE=postgres unless DATABASE_URL names one, and the
services.

The bench (bench/system_under_test.py) and the end-to-end tests start the services with `start_service` and
`wait_until_ready` too, so that what they measure and check runs as `make run` runs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

import httpx

import localkafka
import localpg
import service_logs
from localkafka.__main__ import local_target
from localpg.errors import shown_url
from run_console import RunError, say
from run_plan import SERVICES

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0
DEFAULT_HOST = "127.0.0.1"

__all__ = ["REPO", "SERVICES", "start_kafka", "start_postgres", "start_service", "stop_all", "wait_until_ready"]

Broker = localkafka.LocalKafka | localkafka.LocalKafkaCluster


def start_kafka() -> tuple[str, Broker | None]:
    """The bootstrap servers, and the broker or cluster this call started (None: it was there already)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        localkafka.wait_until_ready(external, timeout_s=30)
        localkafka.ensure_topics(external, localkafka.project_topics())
        say(f"run: Kafka at {external} (KAFKA_BOOTSTRAP_SERVERS)")
        return external, None
    broker = local_target(_kafka_nodes())  # what `make kafka` starts, with the same KAFKA_NODES
    ours = not _pids(broker)
    # localkafka's progress ("fetching the jars") is for a person: on stderr, with the rest of what we say.
    with contextlib.redirect_stdout(sys.stderr):
        seconds = broker.start(float(os.environ.get("KAFKA_START_TIMEOUT_S", "60")))
    # A cluster's topics get a copy on every node, as `make kafka KAFKA_NODES=3` makes them.
    replicas = broker.replicas if isinstance(broker, localkafka.LocalKafkaCluster) else None
    localkafka.ensure_topics(broker.bootstrap_servers, localkafka.project_topics(), replicas=replicas)
    how = f"started in {seconds:.1f} s" if ours else "already running"
    nodes = f"{len(broker.nodes)} nodes " if isinstance(broker, localkafka.LocalKafkaCluster) else ""
    say(f"run: Kafka {nodes}at {broker.bootstrap_servers} ({how})")
    return broker.bootstrap_servers, broker if ours else None


def _kafka_nodes() -> int:
    raw = os.environ.get("KAFKA_NODES", "").strip() or "1"
    if not raw.isdigit():
        raise RunError(f"KAFKA_NODES={raw} is not a number of nodes: use 1 (a broker) or 3 (a cluster)")
    return int(raw)


def _pids(broker: Broker) -> list[int]:
    found = [broker.running_pid()] if isinstance(broker, localkafka.LocalKafka) else broker.running_pids().values()
    return [pid for pid in found if pid is not None]


def start_postgres(database_url: str | None) -> tuple[dict[str, str], localpg.LocalPostgres | None]:
    """DATABASE_URL for each service, and the local server this call started (None: it was running, or
    `database_url` names the server to use, as it is, for every service)."""
    if database_url is not None:
        localpg.wait_until_answers(database_url, 30.0, "check DATABASE_URL, or unset it to use the local server")
        say(f"run: PostgreSQL at {shown_url(database_url)} (DATABASE_URL), one database for all services")
        return dict.fromkeys(SERVICES, database_url), None
    server = localpg.from_environment()  # what `make postgres` starts: POSTGRES_HOME, POSTGRES_PORT
    ours = not server.running()
    seconds = server.start(float(os.environ.get("POSTGRES_START_TIMEOUT_S", "30")))
    try:
        # localpg's list, `ordering_<service>`: the databases `make postgres` makes too.
        urls = {name.removeprefix("ordering_"): server.create_database(name) for name in localpg.SERVICE_DATABASES}
    except BaseException:
        if ours:
            server.stop()  # nothing left half-started
        raise
    how = f"started in {seconds:.1f} s" if ours else "already running"
    say(f"run: PostgreSQL on 127.0.0.1:{server.port} ({how}; data in {server.home}), databases "
        f"{', '.join(localpg.SERVICE_DATABASES)}")
    return urls, server if ours else None


def start_service(
    name: str,
    port: int,
    env: dict[str, str],
    log: TextIO = sys.stdout,
    *,
    host: str = DEFAULT_HOST,
    instance: str | None = None,
) -> subprocess.Popen[bytes]:
    """The service as a uvicorn process on `host`; its output goes to `log`, each line one JSON object that
    names the service (service_logs.py), and `instance` when given (one of several processes)."""
    if not localkafka.port_is_free(port):
        raise RunError(
            f"port {port} for the {instance or name} service is in use: stop what uses it or set "
            f"{name.upper()}_PORT"
        )
    process = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn",
            "--factory", f"entrypoints.{name}_service:create_app_from_environment",
            "--host", host, "--port", str(port), "--no-access-log",
        ],
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Its own process group: Ctrl-C reaches only this script, which stops the services first and the
        # broker last, instead of every process at once (a service would see Kafka vanish mid-shutdown).
        start_new_session=True,
    )
    # The copy closes the pipe at its end, when the service has exited.
    copying = (service_logs.service_name(name), process.stdout, log)
    threading.Thread(
        target=service_logs.copy, args=copying, kwargs={"instance": instance}, name=f"{instance or name}-log",
        daemon=True,
    ).start()
    return process


def wait_until_ready(
    name: str, port: int, process: subprocess.Popen[bytes], *, host: str = DEFAULT_HOST
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = f"http://{reachable(host)}:{port}/readyz"
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RunError(
                f"the {name} service exited at start-up with status {process.returncode} (see its log)"
            )
        try:
            answer = httpx.get(url, timeout=1.0)
            if answer.status_code == 200:
                say(f"run: {name} service ready at http://{reachable(host)}:{port}")
                return
            last = answer.text[:200]
        except httpx.HTTPError as error:
            last = str(error)
        time.sleep(0.2)
    raise RunError(f"the {name} service was not ready within {READY_TIMEOUT_S:.0f} s ({last})")


def stop_all(
    services: dict[str, subprocess.Popen[bytes]],
    broker: Broker | None,
    postgres: localpg.LocalPostgres | None = None,
) -> None:
    """The services first (they still flush to Kafka and write to their database), then the broker and the
    PostgreSQL server given: the ones this run started."""
    for process in services.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: the lifespan stops the workers
    for name, process in services.items():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            say(f"run: the {name} service did not stop in 15 s; killing it")
            process.kill()
            process.wait()
    if broker is not None:
        broker.stop()
        say("run: Kafka stopped")
    if postgres is not None:
        postgres.stop()
        say("run: PostgreSQL stopped")
    if services:
        say("run: all stopped")


def reachable(host: str) -> str:
    """The host part of a URL that reaches, from this machine, a service bound to `host`: a wildcard
    address (all interfaces) is reached on loopback, and an IPv6 address goes in brackets."""
    if host in ("0.0.0.0", ""):  # noqa: S104 - compares an address, binds nothing
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
