"""`make run`: Kafka, the three services and sample products, with their logs, until Ctrl-C.

    python tools/run.py

1. Kafka: the local broker from tools/localkafka.py (started if needed), or KAFKA_BOOTSTRAP_SERVERS;
   the topics are created if missing.
2. Order, Product and Message Service, each a uvicorn process on SERVICE_HOST (127.0.0.1 unless set) at
   ORDER_PORT, PRODUCT_PORT, MESSAGE_PORT, data in DATA_DIR; the script waits until each answers /readyz.
   The Order Service runs with DEMO_SIGN_IN=on, so its page signs in with one click, unless that would not
   be safe or possible (see `demo_sign_in_off`).
3. The products in data/sample-products.json, created or left as they are, with an admin token signed with
   the local key the services made at start (so only once they are ready).
4. A banner with the URLs, tokens for a customer, the payment provider and an admin (valid 12 h), and
   examples that use them; then every service's log lines, prefixed with its name.

With an identity provider configured (AUTH_JWKS_URL, AUTH_KEY_FILES) nothing here can sign a token the
services accept: the sample products are not loaded and the banner prints no tokens.

Ctrl-C (or any service dying) stops the services, and the broker if this run started it. Errors are one line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

import httpx
from attrs import frozen

import localkafka
from entrypoints.cli.tokens import ADMIN_SUBJECT, PAYMENTS_SUBJECT, TokenUnavailable, mint
from entrypoints.settings import Settings, SettingsError
from ordering_core.customers import Role

REPO = Path(__file__).resolve().parent.parent
SAMPLE_PRODUCTS = REPO / "data" / "sample-products.json"
SERVICES = ("product", "order", "message")  # Product first: Order's readiness asks it
READY_TIMEOUT_S = 60.0
DEFAULT_HOST = "127.0.0.1"
DEMO_CUSTOMER = "demo-customer"  # the banner's customer token's subject
BANNER_TOKEN_TTL_S = 12 * 3600  # a working day of trying things; `ordering token` makes more


@frozen
class Tokens:
    """The banner's tokens, signed with the local key the services verify with."""

    customer: str
    payments: str
    admin: str


class RunError(Exception):
    """The system could not be started; the message says why and what to do."""


def main() -> int:
    try:
        settings = Settings.from_environment()
    except SettingsError as error:
        print(f"run: error: {error}", file=sys.stderr)
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
        for name in SERVICES:
            own = {"DEMO_SIGN_IN": "on"} if name == "order" and demo_off is None else {}
            services[name] = start_service(name, ports[name], {**env, **own}, host=host)
            wait_until_ready(name, ports[name], services[name], host=host)
        tokens = banner_tokens(settings)  # signed only now: the services have made the key file
        if tokens is None:
            print("run: sample products not loaded: creating them needs an admin token from your identity "
                  "provider (AUTH_JWKS_URL, AUTH_KEY_FILES)", flush=True)
        else:
            load_sample_products(urls["product"], tokens.admin)
        print(banner(urls, bootstrap, settings.data_dir, tokens, demo_off), flush=True)
        while True:  # until Ctrl-C, or a service dies
            dead = [name for name, process in services.items() if process.poll() is not None]
            if dead:
                raise RunError(f"the {dead[0]} service exited with status {services[dead[0]].returncode}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nrun: stopping...", flush=True)
    except (RunError, localkafka.BrokerSetupError) as error:
        print(f"run: error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        stop_all(services, started_broker)
    return 0


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _ports(settings: Settings) -> dict[str, int]:
    return {"order": settings.order_port, "product": settings.product_port, "message": settings.message_port}


def reachable(host: str) -> str:
    """The host part of a URL that reaches, from this machine, a service bound to `host`: a wildcard
    address (all interfaces) is reached on loopback, and an IPv6 address goes in brackets."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


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


def banner_tokens(settings: Settings) -> Tokens | None:
    """A customer's, the payment provider's and an admin's token; None where only a provider signs them."""
    try:
        return Tokens(
            customer=mint(settings, DEMO_CUSTOMER, ttl_s=BANNER_TOKEN_TTL_S).token,
            payments=mint(settings, PAYMENTS_SUBJECT, [Role.PAYMENTS], ttl_s=BANNER_TOKEN_TTL_S).token,
            admin=mint(settings, ADMIN_SUBJECT, [Role.ADMIN], ttl_s=BANNER_TOKEN_TTL_S).token,
        )
    except TokenUnavailable:
        if settings.external_identity_provider:
            return None
        raise


def start_kafka() -> tuple[str, localkafka.LocalKafka | None]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        localkafka.wait_until_ready(external, timeout_s=30)
        localkafka.ensure_topics(external, localkafka.project_topics())
        print(f"run: Kafka at {external} (KAFKA_BOOTSTRAP_SERVERS)", flush=True)
        return external, None
    broker = localkafka.from_environment()
    ours = broker.running_pid() is None
    seconds = broker.start(float(os.environ.get("KAFKA_START_TIMEOUT_S", "60")))
    localkafka.ensure_topics(broker.bootstrap_servers, localkafka.project_topics())
    how = f"started in {seconds:.1f} s" if ours else "already running"
    print(f"run: Kafka at {broker.bootstrap_servers} ({how})", flush=True)
    return broker.bootstrap_servers, broker if ours else None


def start_service(
    name: str, port: int, env: dict[str, str], log: TextIO = sys.stdout, *, host: str = DEFAULT_HOST
) -> subprocess.Popen[bytes]:
    """The service as a uvicorn process on `host`; its output goes, line by line and prefixed with its name,
    to `log`."""
    if not localkafka.port_is_free(port):
        raise RunError(f"port {port} for the {name} service is in use: stop what uses it or set {name.upper()}_PORT")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", f"entrypoints.{name}_service:create_app_from_environment",
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
    threading.Thread(target=_stream, args=(name, process, log), daemon=True).start()
    return process


def _stream(name: str, process: subprocess.Popen[bytes], log: TextIO) -> None:
    assert process.stdout is not None
    with process.stdout:  # closed at EOF, when the service has exited
        for line in process.stdout:
            log.write(f"[{name:<7}] {line.decode(errors='replace')}")
            log.flush()


def wait_until_ready(name: str, port: int, process: subprocess.Popen[bytes], *, host: str = DEFAULT_HOST) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = f"http://{reachable(host)}:{port}/readyz"
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RunError(f"the {name} service exited at start-up with status {process.returncode} (see its log)")
        try:
            answer = httpx.get(url, timeout=1.0)
            if answer.status_code == 200:
                print(f"run: {name} service ready at http://{reachable(host)}:{port}", flush=True)
                return
            last = answer.text[:200]
        except httpx.HTTPError as error:
            last = str(error)
        time.sleep(0.2)
    raise RunError(f"the {name} service was not ready within {READY_TIMEOUT_S:.0f} s ({last})")


def load_sample_products(product_url: str, admin_token: str) -> None:
    """Creates the sample products that do not exist yet (creating one is an admin's act)."""
    products = json.loads(SAMPLE_PRODUCTS.read_text())
    created = 0
    admin = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=product_url, timeout=5.0, headers=admin) as client:
        # One read of the list, not a GET per product: each unknown product would log a refused request (404)
        # right under the banner, for a person to wonder about.
        listed = client.get("/products")
        if listed.status_code != 200:
            raise RunError(f"could not list the products: {listed.status_code} {listed.text[:200]}")
        existing = {known["product_id"] for known in listed.json()}
        for product in products:
            if product["product_id"] in existing:
                continue
            body = {key: product[key] for key in ("name", "price", "stocks")}
            answer = client.put(f"/products/{product['product_id']}", json=body)
            if answer.status_code != 201:
                raise RunError(f"could not create sample product {product['product_id']}: {answer.text[:200]}")
            created += 1
    print(f"run: {len(products)} sample products ({created} created) from {SAMPLE_PRODUCTS.relative_to(REPO)}",
          flush=True)


def banner(
    urls: dict[str, str], bootstrap: str, data_dir: Path, tokens: Tokens | None, demo_off: str | None
) -> str:
    """What a person needs to start: where everything is, how to sign in, tokens and commands to paste."""
    order, product, message = (urls[name] for name in ("order", "product", "message"))
    if demo_off is None:
        page = (
            f" Open {order}/ for the demo page: one click on Demo sign-in there\n"
            " signs you in as a new customer; its Pay button acts as the payment provider."
        )
    else:
        page = f" Open {order}/ for the demo page; sign in there by pasting a token\n (demo sign-in is off: {demo_off})."
    if tokens is None:
        try_it = """
 The services take tokens from your identity provider (AUTH_JWKS_URL, AUTH_KEY_FILES): get a customer's
 token there, then, in another terminal:
   export ORDERING_TOKEN=<the token>
   .venv/bin/ordering products
"""
    else:
        try_it = f"""
 Tokens, valid 12 h (make more with .venv/bin/ordering token); in another terminal:
   export CUSTOMER_TOKEN={tokens.customer}   # {DEMO_CUSTOMER}, a customer
   export PAYMENTS_TOKEN={tokens.payments}   # {PAYMENTS_SUBJECT}, role payments
   export ADMIN_TOKEN={tokens.admin}   # {ADMIN_SUBJECT}, role admin
 then:
   export ORDERING_TOKEN=$CUSTOMER_TOKEN
   .venv/bin/ordering products
   .venv/bin/ordering order P1:2 P3:1
   .venv/bin/ordering --token "$PAYMENTS_TOKEN" pay <id>
   .venv/bin/ordering tail -f
 or with curl:
   curl -s {product}/products
   curl -s -X POST {order}/orders/order -H "Authorization: Bearer $CUSTOMER_TOKEN" \\
        -H 'content-type: application/json' -d '{{"items":[{{"product_id":"P1","quantity":2}}]}}'
   curl -s -X POST {order}/orders/paid -H "Authorization: Bearer $PAYMENTS_TOKEN" \\
        -H 'content-type: application/json' -d '{{"order_id":"<id>"}}'
   curl -s '{message}/messages?order_id=<id>' -H "Authorization: Bearer $CUSTOMER_TOKEN"
"""
    return f"""
================================================================================
 ordering is running            (Ctrl-C stops it)
   Order Service    {order}      API: {order}/openapi.yaml
   Product Service  {product}
   Message Service  {message}
   Kafka            {bootstrap}        data: {data_dir}

{page}
 Metrics: <service>/metrics; logs: below, a JSON object per line.
{try_it}================================================================================
"""


def stop_all(services: dict[str, subprocess.Popen[bytes]], broker: localkafka.LocalKafka | None) -> None:
    for process in services.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: the lifespan stops the workers
    for name, process in services.items():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print(f"run: the {name} service did not stop in 15 s; killing it", file=sys.stderr)
            process.kill()
            process.wait()
    if broker is not None:
        broker.stop()
        print("run: Kafka stopped", flush=True)
    if services:
        print("run: all stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
