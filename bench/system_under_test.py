"""The system the bench loads, started the way `make run` starts it: Kafka (the cluster at
KAFKA_BOOTSTRAP_SERVERS when it answers, else a throwaway broker), the three services on free ports with a
fresh DATA_DIR (and with --database postgres a fresh database, with --instances several processes of each
service: configuration.py), the echo baseline beside them, and the customers who place the orders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

import httpx

import localkafka
import run
from adapters.identity.local import LocalIssuer, LocalKeyFile
from configuration import Configuration, process_environment
from entrypoints.settings import LOCAL_KEY_FILE_NAME
from errors import BenchError
from ordering_core.customers import Role
from run_plan import Plan

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CUSTOMERS = 1_000  # who the orders are placed by, in turn
TOKEN_TTL_S = 4 * 3600  # longer than any bench run
HOLD_LIMIT_OUT_OF_THE_WAY = 1_000_000_000


def start_kafka(workdir: Path) -> tuple[str, localkafka.LocalKafka | None]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        try:
            localkafka.wait_until_ready(external, timeout_s=15)
        except Exception as error:  # noqa: BLE001 - any failure means "not answering"
            print(f"bench: no broker answers at KAFKA_BOOTSTRAP_SERVERS={external} ({error}); "
                  f"starting a throwaway one", flush=True)
        else:
            localkafka.ensure_topics(external, localkafka.project_topics())
            print(f"bench: Kafka at {external} (KAFKA_BOOTSTRAP_SERVERS)", flush=True)
            return external, None
    port = localkafka.free_port()
    controller = localkafka.free_port()
    while controller == port:
        controller = localkafka.free_port()
    broker = localkafka.LocalKafka(workdir / "kafka", port=port, controller_port=controller)
    seconds = broker.start(float(os.environ.get("KAFKA_START_TIMEOUT_S", "90")))
    localkafka.ensure_topics(broker.bootstrap_servers, localkafka.project_topics())
    print(f"bench: throwaway Kafka at {broker.bootstrap_servers} (started in {seconds:.1f} s)", flush=True)
    return broker.bootstrap_servers, broker


def service_environment(base_env: dict[str, str], bootstrap: str, data_dir: Path,
                        ports: dict[str, int]) -> dict[str, str]:
    """What the services (and the load tools) run with. The hold limit is raised out of the way: the bench
    measures throughput, and the limit's query still runs on every order."""
    return {**base_env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONUNBUFFERED": "1",
            "DATA_DIR": str(data_dir), "ORDER_PORT": str(ports["order"]), "PRODUCT_PORT": str(ports["product"]),
            "MESSAGE_PORT": str(ports["message"]),
            "PRODUCT_SERVICE_URL": f"http://127.0.0.1:{ports['product']}",
            "ORDER_MAX_UNPAID_ORDERS": str(HOLD_LIMIT_OUT_OF_THE_WAY),
            "ORDER_MAX_UNPAID_UNITS": str(HOLD_LIMIT_OUT_OF_THE_WAY)}


def start_services(env: dict[str, str], chosen: Plan, config: Configuration, log: TextIO,
                   services: dict[str, subprocess.Popen[bytes]]) -> None:
    """Start each process of `chosen` as `make run` does and wait until it is ready; `services` holds every one
    started, by its name (`order`, or `order-2` among several), so that the caller stops them even when a
    later one fails."""
    for instance in chosen.instances:
        name = chosen.name(instance)
        own = process_environment(config, chosen, instance)
        services[name] = run.start_service(instance.service, instance.port, {**env, **own}, log,
                                           instance=instance.id if chosen.several else None)
        run.wait_until_ready(name, instance.port, services[name])


def start_echo(port: int, env: dict[str, str], log: TextIO) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "echo_app:app",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{url}: the process exited with status {process.returncode}")
        try:
            httpx.post(url, json={}, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise BenchError(f"{url} did not answer within {timeout_s:.0f} s")


def stop_process(process: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def sign_in(data_dir: Path, workdir: Path) -> tuple[dict[str, str], Path]:
    """An admin's headers, and a file of CUSTOMERS customers' tokens (one a line) for the load tools: orders
    come from many customers, as a real shop's would. Both signed with the local key the services made."""
    issuer = LocalIssuer(LocalKeyFile(data_dir / LOCAL_KEY_FILE_NAME))  # the key the services made
    admin = {"Authorization": f"Bearer {issuer.token('bench-admin', roles=[Role.ADMIN], ttl_s=TOKEN_TTL_S)}"}
    tokens = workdir / "tokens.txt"
    tokens.write_text("".join(f"{issuer.token(f'bench-{n}', ttl_s=TOKEN_TTL_S)}\n" for n in range(CUSTOMERS)))
    return admin, tokens
