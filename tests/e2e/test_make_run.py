"""`make run` (tools/run.py) as a person runs it: a service that dies is started again, the others stay up,
and Ctrl-C still stops everything; with INSTANCES=2 on PostgreSQL, two processes of each service share the data.

tools/run.py runs as a subprocess on free ports with a temporary DATA_DIR, on the session's broker
(KAFKA_BOOTSTRAP_SERVERS, so it starts none of its own). Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import localkafka
import run

pytestmark = pytest.mark.kafka

START_S = 90.0  # three services, the sample products, the banner
RESTART_S = 60.0
STOP_S = 60.0
BROKER_S = 120.0  # a broker killed mid-write recovers its log before it answers


class RunningMakeRun:
    """tools/run.py started with `env`; its stdout (the log stream) read into `lines`, its stderr a file."""

    def __init__(self, env: dict[str, str], stderr_file: Path) -> None:
        self.stderr_file = stderr_file
        with stderr_file.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(run.REPO / "tools" / "run.py")],
                env=env,
                cwd=run.REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for raw in self.process.stdout:
                self.lines.append(raw.decode(errors="replace"))

    def said(self) -> str:
        return self.stderr_file.read_text(errors="replace")

    def notices(self) -> list[dict[str, object]]:
        """What run.py said about a service (or the broker) in the log stream."""
        return [json.loads(line) for line in list(self.lines) if '"logger": "run"' in line]

    def services(self) -> dict[str, int]:
        """The pid of each service process run.py started and that still runs, by the service's name (one
        of them, with several instances)."""
        return dict(self.processes())

    def processes(self) -> list[tuple[str, int]]:
        """(service, pid) of every service process run.py started and that still runs."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes()
            except (OSError, IndexError):
                continue  # gone meanwhile
            if int(fields[1]) != self.process.pid or fields[0] == "Z":
                continue
            found.extend(
                (name, int(stat.parent.name))
                for name in run.SERVICES
                if f"entrypoints.{name}_service:".encode() in cmdline
            )
        return found


def until(condition: Callable[[], bool], within_s: float, what: str, running: RunningMakeRun) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert running.process.poll() is None, f"run.py exited ({running.process.returncode}):\n{running.said()}"
        assert time.monotonic() < deadline, f"not within {within_s:.0f} s: {what}\n{running.said()}"
        time.sleep(0.1)


def is_ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def free_service_ports(instances: int) -> dict[str, int]:
    """A first port for each service such that every instance's (+10 each) is free and none is shared."""
    chosen: dict[str, int] = {}
    taken: set[int] = set()
    while len(chosen) < len(run.SERVICES):
        first = localkafka.free_port()
        ports = {first + 10 * i for i in range(instances)}
        if ports & taken or not all(localkafka.port_is_free(port) for port in ports):
            continue
        chosen[run.SERVICES[len(chosen)]] = first
        taken |= ports
    return chosen


@contextmanager
def make_run(
    home: Path, instances: int = 1, **settings: str
) -> Iterator[tuple[RunningMakeRun, dict[str, int]]]:
    """tools/run.py on free ports with its data in `home`, until the banner; whatever it left running is
    killed at the end (a test that passes has stopped it with Ctrl-C)."""
    ports = free_service_ports(instances)
    env = {
        **os.environ,
        "DATA_DIR": str(home / "data"),
        "ORDER_PORT": str(ports["order"]),
        "PRODUCT_PORT": str(ports["product"]),
        "MESSAGE_PORT": str(ports["message"]),
        "PYTHONPATH": f"{run.REPO / 'src'}:{run.REPO / 'tools'}",
        **settings,
    }
    env.pop("PRODUCT_SERVICE_URL", None)
    if "KAFKA_HOME" in settings:
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    running = RunningMakeRun(env, home / "stderr.txt")
    try:
        until(lambda: "ordering is running" in running.said(), START_S, "the banner", running)
        yield running, ports
    finally:
        left = {pid for _, pid in running.processes()}  # before run.py goes: then they are no longer its children
        if running.process.poll() is None:  # the test failed before its Ctrl-C: leave nothing behind
            running.process.kill()
            running.process.wait(timeout=STOP_S)
        for pid in left:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
        broker_pid = home / "kafka" / "broker.pid"
        if broker_pid.exists():
            localkafka.LocalKafka(home / "kafka").stop()  # ours: the pid file names a broker of that home


class TestAServiceThatDies:
    @pytest.mark.timeout(300)
    def test_is_restarted_while_the_others_stay_up_and_ctrl_c_still_stops_everything(
        self, kafka_bootstrap_servers: str, tmp_path: Path
    ) -> None:
        with make_run(tmp_path, KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap_servers) as (running, ports):
            until(lambda: all(is_ready(port) for port in ports.values()), START_S, "all three ready", running)
            before = running.services()
            assert sorted(before) == sorted(run.SERVICES)

            os.kill(before["order"], signal.SIGKILL)

            def order_restarted() -> bool:
                now = running.services()
                return now.get("order", before["order"]) != before["order"] and is_ready(ports["order"])

            until(order_restarted, RESTART_S, "the order service restarted and ready", running)
            until(lambda: len(running.notices()) >= 2, RESTART_S, "its death and restart in the log", running)
            after = running.services()
            assert {name: after[name] for name in ("product", "message")} == {
                name: before[name] for name in ("product", "message")
            }
            assert is_ready(ports["product"]) and is_ready(ports["message"])
            notices = running.notices()
            assert [(n["service"], n["level"], n.get("pid")) for n in notices[:2]] == [
                ("order-service", "warning", before["order"]),
                ("order-service", "warning", after["order"]),
            ]
            assert "was killed by SIGKILL; restarting it in 1 s" in notices[0]["message"]
            assert "run: the order service was killed by SIGKILL; restarting it in 1 s" in running.said()

            running.process.send_signal(signal.SIGINT)

            assert running.process.wait(timeout=STOP_S) == 0
            assert [pid for pid in after.values() if not gone(pid)] == []
            assert all(json.loads(line) for line in running.lines)  # the stream stayed JSON lines only


class TestTheBrokerItStarted:
    @pytest.mark.timeout(400)
    def test_is_restarted_when_it_dies_and_the_services_stay_up(self, tmp_path: Path) -> None:
        broker = localkafka.LocalKafka(
            tmp_path / "kafka", port=localkafka.free_port(), controller_port=localkafka.free_port()
        )
        settings = {
            "KAFKA_HOME": str(broker.home),
            "KAFKA_PORT": str(broker.port),
            "KAFKA_CONTROLLER_PORT": str(broker.controller_port),
        }
        with make_run(tmp_path, **settings) as (running, ports):
            until(lambda: all(is_ready(port) for port in ports.values()), START_S, "all three ready", running)
            services, first = running.services(), broker.running_pid()
            assert first is not None

            os.kill(first, signal.SIGKILL)

            until(lambda: "run: restarted the Kafka broker" in running.said(), BROKER_S, "a new broker", running)
            until(lambda: all(is_ready(port) for port in ports.values()), BROKER_S, "all three ready", running)
            assert broker.running_pid() not in (None, first)
            assert running.services() == services
            until(lambda: len(running.notices()) >= 2, BROKER_S, "its death and restart in the log", running)
            notices = [(n["service"], n["level"]) for n in running.notices()]
            assert notices == [("kafka", "warning"), ("kafka", "warning")]

            running.process.send_signal(signal.SIGINT)

            assert running.process.wait(timeout=STOP_S) == 0
            assert broker.running_pid() is None
            assert [pid for pid in services.values() if not gone(pid)] == []


class TestTwoInstancesOnPostgres:
    @pytest.mark.timeout(400)
    def test_each_instance_answers_they_share_the_orders_and_ctrl_c_stops_every_process(
        self, kafka_bootstrap_servers: str, tmp_path: Path
    ) -> None:
        import localpg  # only this test needs a PostgreSQL server

        with localpg.throwaway() as server, make_run(
            tmp_path,
            instances=2,
            KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap_servers,
            INSTANCES="2",
            DATABASE="postgres",
            DATABASE_URL=server.create_database("ordering_make_run"),  # used as it is: no server started
        ) as (running, ports):
            banner = running.said()
            printed = {
                instance: int(port)
                for instance, port in re.findall(r"^ {3}(\w+-2) +http://127\.0\.0\.1:(\d+)$", banner, re.MULTILINE)
            }
            assert printed == {f"{name}-2": ports[name] + 10 for name in run.SERVICES}
            every_port = [*ports.values(), *printed.values()]
            until(lambda: all(is_ready(port) for port in every_port), START_S, "all six ready", running)
            before = running.processes()
            assert sorted(name for name, _ in before) == sorted(run.SERVICES * 2)
            token = re.search(r"export CUSTOMER_TOKEN=(\S+)", banner)
            assert token is not None
            customer = {"Authorization": f"Bearer {token.group(1)}"}

            placed = httpx.post(
                f"http://127.0.0.1:{printed['order-2']}/orders/order",
                json={"items": [{"product_id": "P1", "quantity": 1}]},
                headers=customer,
                timeout=10.0,
            )

            assert placed.status_code == 201, placed.text
            seen = httpx.get(f"http://127.0.0.1:{ports['order']}{placed.headers['Location']}", headers=customer,
                             timeout=10.0)
            assert seen.status_code == 200, seen.text
            assert seen.json()["order_id"] == placed.json()["order_id"]
            assert list((tmp_path / "data").glob("*.db")) == []  # in PostgreSQL, not in SQLite files
            named = {json.loads(line).get("instance") for line in list(running.lines)}
            assert {f"{name}-{i}" for name in run.SERVICES for i in (1, 2)} <= named

            running.process.send_signal(signal.SIGINT)

            assert running.process.wait(timeout=STOP_S) == 0
            assert [pid for _, pid in before if not gone(pid)] == []
            assert "run: PostgreSQL stopped" not in running.said()  # DATABASE_URL's server is not ours to stop
