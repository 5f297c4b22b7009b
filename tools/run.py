"""`make run`: Kafka, the three services and sample products, with their logs, until Ctrl-C.

    python tools/run.py

1. Kafka: the local broker from tools/localkafka.py (started if needed), or KAFKA_BOOTSTRAP_SERVERS;
   the topics are created if missing.
2. Order, Product and Message Service, each a uvicorn process on 127.0.0.1 (ORDER_PORT, PRODUCT_PORT,
   MESSAGE_PORT), data in DATA_DIR; the script waits until each answers /readyz.
3. The products in data/sample-products.json, created or left as they are.
4. A banner with the URLs and a curl example; then every service's log lines, prefixed with its name.

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

import localkafka
from entrypoints.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parent.parent
SAMPLE_PRODUCTS = REPO / "data" / "sample-products.json"
SERVICES = ("product", "order", "message")  # Product first: Order's readiness asks it
READY_TIMEOUT_S = 60.0


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
    # Ctrl-C and SIGTERM both mean "stop everything", also when SIGINT was ignored where this was started
    # (a background job of a non-interactive shell inherits it ignored).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        bootstrap, started_broker = start_kafka()
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONUNBUFFERED": "1"}
        ports = {"order": settings.order_port, "product": settings.product_port, "message": settings.message_port}
        for name in SERVICES:
            services[name] = start_service(name, ports[name], env)
            wait_until_ready(name, ports[name], services[name])
        load_sample_products(ports["product"])
        print_banner(ports, bootstrap, settings.data_dir)
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
    print(f"run: Kafka at {broker.bootstrap_servers} ({'started in %.1f s' % seconds if ours else 'already running'})",
          flush=True)
    return broker.bootstrap_servers, broker if ours else None


def start_service(name: str, port: int, env: dict[str, str], log: TextIO = sys.stdout) -> subprocess.Popen[bytes]:
    """The service as a uvicorn process; its output goes, line by line and prefixed with its name, to `log`."""
    if not localkafka.port_is_free(port):
        raise RunError(f"port {port} for the {name} service is in use: stop what uses it or set {name.upper()}_PORT")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", f"entrypoints.{name}_service:create_app_from_environment",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
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


def wait_until_ready(name: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = f"http://127.0.0.1:{port}/readyz"
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RunError(f"the {name} service exited at start-up with status {process.returncode} (see its log)")
        try:
            answer = httpx.get(url, timeout=1.0)
            if answer.status_code == 200:
                print(f"run: {name} service ready at http://127.0.0.1:{port}", flush=True)
                return
            last = answer.text[:200]
        except httpx.HTTPError as error:
            last = str(error)
        time.sleep(0.2)
    raise RunError(f"the {name} service was not ready within {READY_TIMEOUT_S:.0f} s ({last})")


def load_sample_products(port: int) -> None:
    products = json.loads(SAMPLE_PRODUCTS.read_text())
    created = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:
        for product in products:
            existing = client.get(f"/products/{product['product_id']}")
            if existing.status_code == 200:
                continue
            body = {key: product[key] for key in ("name", "price", "stocks")}
            answer = client.put(f"/products/{product['product_id']}", json=body)
            if answer.status_code != 201:
                raise RunError(f"could not create sample product {product['product_id']}: {answer.text[:200]}")
            created += 1
    print(f"run: {len(products)} sample products ({created} created) from {SAMPLE_PRODUCTS.relative_to(REPO)}",
          flush=True)


def print_banner(ports: dict[str, int], bootstrap: str, data_dir: Path) -> None:
    order, product, message = (f"http://127.0.0.1:{ports[name]}" for name in ("order", "product", "message"))
    print(
        f"""
================================================================================
 ordering is running            (Ctrl-C stops it)
   Order Service    {order}      API: {order}/openapi.yaml
   Product Service  {product}
   Message Service  {message}
   Kafka            {bootstrap}        data: {data_dir}

 Open {order}/ for the demo page. Metrics: <service>/metrics; logs: below, a JSON object per line.
 Try, in another terminal:
   .venv/bin/ordering products
   .venv/bin/ordering order P1:2 P3:1
   .venv/bin/ordering tail -f
 or with curl:
   curl -s {product}/products
   curl -s -X POST {order}/orders/order -H 'content-type: application/json' \\
        -d '{{"items":[{{"product_id":"P1","quantity":2}}]}}'
   curl -s -X POST {order}/orders/paid -H 'content-type: application/json' -d '{{"order_id":"<id>"}}'
   curl -s '{message}/messages?order_id=<id>'
================================================================================
""",
        flush=True,
    )


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
