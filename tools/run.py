"""`make run`: Kafka, the three services and sample products, with their logs, until Ctrl-C.

    python tools/run.py

1. Kafka: the local broker of tools/localkafka/ (`python -m localkafka`; started if needed), or
   KAFKA_BOOTSTRAP_SERVERS; the topics are created if missing.
2. Order, Product and Message Service, each a uvicorn process on SERVICE_HOST (127.0.0.1 unless set) at
   ORDER_PORT, PRODUCT_PORT, MESSAGE_PORT, data in DATA_DIR; the script waits until each answers /readyz.
   The Order Service runs with DEMO_SIGN_IN=on, so its page signs in with one click, unless that would not
   be safe or possible (see `demo_sign_in_off`).
3. The products in data/sample-products.json, created or left as they are, with an admin token signed with
   the local key the services made at start (so only once they are ready).
4. A banner with the URLs, tokens for a customer, the payment provider and an admin (valid 12 h), and
   examples that use them; then every service's log lines.
5. Until Ctrl-C (or SIGTERM): a service that dies, or the broker this run started, is started again after a
   pause that grows with each death in a row (1, 2, 4 ... 30 s), and each death and restart is said on
   stderr and as a line of the log stream (run_supervisor.py).

The services' log lines are the only thing on stdout, each one JSON object that names its service (see
service_logs.py), so `make run | jq ...` reads them; what this script says itself (progress, the banner,
errors) goes to stderr, and stays on the terminal. A service's death and restart are said on both: on stdout
as a line of that service's log (`"logger": "run"`), so the stream tells its whole story.

With an identity provider configured (AUTH_JWKS_URL, AUTH_KEY_FILES) nothing here can sign a token the
services accept: the sample products are not loaded and the banner prints no tokens.

Ctrl-C or SIGTERM stops the services, and the broker if this run started it; exit status 0. A failure to
start (before the banner) is one line, and the exit status 1.

This file is the sequence; its steps live beside it:

    run_processes.py    starting Kafka and the services, waiting until they are ready, stopping them
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
from entrypoints.settings import Settings, SettingsError
from run_banner import banner, banner_tokens
from run_console import RunError, say
from run_processes import (
    REPO,
    SERVICES,
    reachable,
    start_kafka,
    start_service,
    stop_all,
    wait_until_ready,
)
from run_supervisor import Supervisor
from sample_products import load_sample_products

# What the bench and the tests use as `run.<name>`: kept here, where they were before the steps had modules.
__all__ = [
    "REPO", "SERVICES", "RunError", "banner", "main", "say", "start_service", "stop_all", "wait_until_ready",
]


def main() -> int:
    try:
        settings = Settings.from_environment()
    except SettingsError as error:
        say(f"run: error: {error}")
        return 1
    started_broker: localkafka.LocalKafka | None = None
    services: dict[str, subprocess.Popen[bytes]] = {}
    host = settings.service_host
    urls = {name: f"http://{reachable(host)}:{port}" for name, port in _ports(settings).items()}
    demo_off = demo_sign_in_off()
    # Ctrl-C and SIGTERM both mean "stop everything", also when SIGINT was ignored where this was started
    # (a background job of a non-interactive shell inherits it ignored).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        bootstrap, started_broker = start_kafka()
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONUNBUFFERED": "1"}
        if not os.environ.get("PRODUCT_SERVICE_URL", "").strip():  # where this run puts it, not the default
            env["PRODUCT_SERVICE_URL"] = urls["product"]
        ports = _ports(settings)

        def start(name: str) -> subprocess.Popen[bytes]:
            own = {"DEMO_SIGN_IN": "on"} if name == "order" and demo_off is None else {}
            return start_service(name, ports[name], {**env, **own}, host=host)

        def ready(name: str) -> bool:
            try:
                return httpx.get(f"{urls[name]}/readyz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        for name in SERVICES:
            services[name] = start(name)
            wait_until_ready(name, ports[name], services[name], host=host)
        tokens = banner_tokens(settings)  # signed only now: the services have made the key file
        if tokens is None:
            say("run: sample products not loaded: creating them needs an admin token from your identity "
                "provider (AUTH_JWKS_URL, AUTH_KEY_FILES)")
        else:
            load_sample_products(urls["product"], tokens.admin)
        say(banner(urls, bootstrap, settings.data_dir, tokens, demo_off))
        supervisor = Supervisor(services, start, ready, started_broker)
        while True:  # until Ctrl-C or SIGTERM; what dies is started again
            supervisor.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("\nrun: stopping...")
    except (RunError, localkafka.BrokerSetupError) as error:
        say(f"run: error: {error}")
        return 1
    finally:
        stop_all(services, started_broker)
    return 0


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
