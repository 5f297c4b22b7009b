"""`make run`: Kafka, the three services and sample products, with their logs, until Ctrl-C.

    python tools/run.py
    KAFKA_NODES=3 DATABASE=postgres INSTANCES=2 python tools/run.py

1. Kafka: the local broker of tools/localkafka/ (`python -m localkafka start`; started if needed), or the
   local cluster of KAFKA_NODES nodes as `make kafka KAFKA_NODES=3` starts it, or KAFKA_BOOTSTRAP_SERVERS;
   the topics are created if missing.
2. The data (run_plan.py says which): SQLite files in DATA_DIR (DATABASE unset or `sqlite`); or, with
   DATABASE=postgres, the local PostgreSQL of tools/localpg/ (`python -m localpg start`; started if needed)
   and a database of each service's own there; or DATABASE_URL's server, used as it is by every service.
3. Order, Product and Message Service, INSTANCES uvicorn processes of each (1 unless set; more need
   PostgreSQL), on SERVICE_HOST (127.0.0.1 unless set) at ORDER_PORT, PRODUCT_PORT, MESSAGE_PORT, instance i
   at that port + 10(i-1), each told its INSTANCE_ID (`order-2`); every Order Service process asks every
   Product Service instance. The script waits until each answers /readyz. The Order Service runs with
   DEMO_SIGN_IN=on, so its page signs in with one click, unless that would not be safe or possible (see
   `demo_sign_in_off`).
4. The products in data/sample-products.json, created or left as they are (through the first Product
   Service), with an admin token signed with the local key the services made at start (so only once they
   are ready).
5. A banner with the URLs (every instance's), tokens for a customer, the payment provider and an admin
   (valid 12 h), and examples that use them; then every service's log lines.
6. Until Ctrl-C (or SIGTERM): a service's process that dies, or the broker (each node of the cluster) this
   run started, is started again after a pause that grows with each death in a row (1, 2, 4 ... 30 s), and
   each death and restart is said on stderr and as a line of the log stream (run_supervisor.py).

The services' log lines are the only thing on stdout, each one JSON object that names its service (see
service_logs.py), so `make run | jq ...` reads them; what this script says itself (progress, the banner,
errors) goes to stderr, and stays on the terminal. A service's death and restart are said on both: on stdout
as a line of that service's log (`"logger": "run"`), so the stream tells its whole story. With several
instances every line also names its `instance`.

With an identity provider configured (AUTH_JWKS_URL, AUTH_KEY_FILES) nothing here can sign a token the
services accept: the sample products are not loaded and the banner prints no tokens.

Ctrl-C or SIGTERM stops the services, and the broker and PostgreSQL if this run started them; exit status 0.
A failure to start (before the banner) is one line, and the exit status 1.

This file is the sequence; its steps live beside it:

    run_plan.py         which processes, on which ports, with which database: read from the environment
    run_processes.py    starting Kafka, PostgreSQL and the services, waiting until they are ready, stopping them
    sample_products.py  loading data/sample-products.json
    run_banner.py       the banner and its tokens
    run_supervisor.py   restarting what dies, with a growing pause
    run_console.py      what the script says on stderr, and RunError
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

import localkafka
import localpg
from entrypoints.settings import Settings, SettingsError
from run_banner import banner, banner_tokens
from run_console import RunError, say
from run_plan import Instance, Plan, plan
from run_processes import (
    REPO,
    SERVICES,
    Broker,
    reachable,
    start_kafka,
    start_postgres,
    start_service,
    stop_all,
    wait_until_ready,
)
from run_supervisor import Supervisor
from sample_products import load_sample_products

# What the bench and the tests use as `run.<name>`: kept here, where they were before the steps had modules.
__all__ = [
    "REPO", "SERVICES", "Instance", "Plan", "RunError", "banner", "main", "plan", "say", "start_service", "stop_all",
    "wait_until_ready",
]


def main() -> int:
    try:
        settings = Settings.from_environment()
        host = settings.service_host
        chosen = plan(os.environ, _ports(settings), reachable(host))
    except (SettingsError, RunError) as error:
        say(f"run: error: {error}")
        return 1
    started_broker: Broker | None = None
    started_postgres: localpg.LocalPostgres | None = None
    services: dict[str, subprocess.Popen[bytes]] = {}
    urls = {name: chosen.first(name).url for name in SERVICES}
    by_name = {chosen.name(instance): instance for instance in chosen.instances}
    demo_off = demo_sign_in_off()
    # Ctrl-C and SIGTERM both mean "stop everything", also when SIGINT was ignored where this was started
    # (a background job of a non-interactive shell inherits it ignored).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        bootstrap, started_broker = start_kafka()
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONUNBUFFERED": "1"}
        database_urls, data, started_postgres = _data(chosen, settings, env)

        def start(name: str) -> subprocess.Popen[bytes]:
            instance = by_name[name]
            own = {"DEMO_SIGN_IN": "on"} if instance.service == "order" and demo_off is None else {}
            own |= chosen.environment(instance, database_urls)
            return start_service(instance.service, instance.port, {**env, **own}, host=host,
                                 instance=instance.id if chosen.several else None)

        def ready(name: str) -> bool:
            try:
                return httpx.get(f"{by_name[name].url}/readyz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        for name, instance in by_name.items():
            services[name] = start(name)
            wait_until_ready(name, instance.port, services[name], host=host)
        tokens = banner_tokens(settings)  # signed only now: the services have made the key file
        if tokens is None:
            say("run: sample products not loaded: creating them needs an admin token from your identity "
                "provider (AUTH_JWKS_URL, AUTH_KEY_FILES)")
        else:
            load_sample_products(urls["product"], tokens.admin)  # once, through the first Product Service
        say(banner(urls, bootstrap, data, tokens, demo_off, _others(chosen)))
        instances = {name: instance.service for name, instance in by_name.items()} if chosen.several else None
        supervisor = Supervisor(services, start, ready, started_broker, instances=instances)
        while True:  # until Ctrl-C or SIGTERM; what dies is started again
            supervisor.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("\nrun: stopping...")
    except (RunError, localkafka.BrokerSetupError, localpg.PostgresSetupError) as error:
        say(f"run: error: {error}")
        return 1
    finally:
        stop_all(services, started_broker, started_postgres)
    return 0


def _data(
    chosen: Plan, settings: Settings, env: dict[str, str]
) -> tuple[dict[str, str], str, localpg.LocalPostgres | None]:
    """DATABASE_URL by service (empty: SQLite), where the banner says the data is, and the PostgreSQL
    server this run started. `env`, the services' environment, loses a DATABASE_URL that DATABASE=sqlite
    overrules."""
    if chosen.database == "sqlite":
        if env.pop("DATABASE_URL", "").strip():
            say("run: DATABASE=sqlite: DATABASE_URL is not passed to the services")
        return {}, str(settings.data_dir), None
    database_urls, started = start_postgres(chosen.database_url)
    where = "PostgreSQL (DATABASE_URL)" if chosen.database_url else "PostgreSQL " + ", ".join(
        localpg.SERVICE_DATABASES
    )
    return database_urls, where, started


def _others(chosen: Plan) -> dict[str, str]:
    """Where each instance but the first of each service listens, by its id: for the banner."""
    return {instance.id: instance.url for instance in chosen.instances if instance.number > 1}


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _ports(settings: Settings) -> dict[str, int]:
    return {"order": settings.order_port, "product": settings.product_port, "message": settings.message_port}


def demo_sign_in_off() -> str | None:
    """Why the page's one-click sign-in stays off this run, or None: on. It hands a token to whoever asks,
    so it is for a service only this machine can reach, and it signs with the local key."""
    if os.environ.get("DEMO_SIGN_IN", "").strip().lower() == "off":
        return "DEMO_SIGN_IN=off"
    # The services' own rule (Settings refuses the sign-in where it is not safe or possible), asked here
    # rather than written again.
    try:
        Settings.from_environment({**os.environ, "DEMO_SIGN_IN": "on"})
    except SettingsError as refused:
        return str(refused)
    return None


if __name__ == "__main__":
    sys.exit(main())
