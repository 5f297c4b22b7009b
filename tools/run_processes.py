"""The processes `make run` (tools/run.py) starts and stops: Kafka, unless one is given, and the services.

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
import service_logs
from run_console import RunError, say

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("product", "order", "message")  # Product first: Order's readiness asks it
READY_TIMEOUT_S = 60.0
DEFAULT_HOST = "127.0.0.1"


def start_kafka() -> tuple[str, localkafka.LocalKafka | None]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        localkafka.wait_until_ready(external, timeout_s=30)
        localkafka.ensure_topics(external, localkafka.project_topics())
        say(f"run: Kafka at {external} (KAFKA_BOOTSTRAP_SERVERS)")
        return external, None
    broker = localkafka.from_environment()
    ours = broker.running_pid() is None
    # localkafka's progress ("fetching the jars") is for a person: on stderr, with the rest of what we say.
    with contextlib.redirect_stdout(sys.stderr):
        seconds = broker.start(float(os.environ.get("KAFKA_START_TIMEOUT_S", "60")))
    localkafka.ensure_topics(broker.bootstrap_servers, localkafka.project_topics())
    how = f"started in {seconds:.1f} s" if ours else "already running"
    say(f"run: Kafka at {broker.bootstrap_servers} ({how})")
    return broker.bootstrap_servers, broker if ours else None


def start_service(
    name: str, port: int, env: dict[str, str], log: TextIO = sys.stdout, *, host: str = DEFAULT_HOST
) -> subprocess.Popen[bytes]:
    """The service as a uvicorn process on `host`; its output goes to `log`, each line one JSON object that
    names the service (service_logs.py)."""
    if not localkafka.port_is_free(port):
        raise RunError(
            f"port {port} for the {name} service is in use: stop what uses it or set {name.upper()}_PORT"
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
    threading.Thread(target=service_logs.copy, args=copying, name=f"{name}-log", daemon=True).start()
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


def stop_all(services: dict[str, subprocess.Popen[bytes]], broker: localkafka.LocalKafka | None) -> None:
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
