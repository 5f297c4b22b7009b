"""tools/localpg/: runs a real PostgreSQL from this machine's programs: reuse, stop, clear errors."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

import localpg

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
PYTHONPATH = os.pathsep.join([str(REPO / "src"), str(REPO / "tools")])
as_root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to the postgres user")


@pytest.fixture
def home() -> Iterator[Path]:
    # Not tmp_path: pytest makes it mode 0700, and a root run's server (the postgres user) could not enter it.
    folder = Path(tempfile.mkdtemp(prefix="localpg-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def server(home: Path) -> Iterator[localpg.LocalPostgres]:
    """A server on a free port; stopped at the end, whatever the test did."""
    started = localpg.LocalPostgres(home, port=localpg.free_port())
    yield started
    started.stop()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[localpg.LocalPostgres]:
    """One local server (DATABASE_URL or not) for the tests that only read or add: each costs most of a second."""
    folder = Path(tempfile.mkdtemp(prefix="localpg-test-"))
    started = localpg.LocalPostgres(folder, port=localpg.free_port())
    try:
        started.start()
        yield started
    finally:
        started.stop()
        shutil.rmtree(folder, ignore_errors=True)


def servers_on(data_dir: Path) -> list[int]:
    """Pids of live postgres processes started on this data folder: what a stop must not leave behind."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and str(data_dir).encode() in argv:
            found.append(int(entry.name))
    return [pid for pid in found if localpg.processes.alive(pid)]


def children_of(pid: int) -> list[int]:
    """The server's own processes (checkpointer, walwriter, backends): they must go with it."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and localpg.processes.alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


def one_value(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def run_command_line(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m localpg ARGS`, as `make postgres` runs it: DATABASE_URL only when the test gives one."""
    inherited = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "localpg", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**inherited, "PYTHONPATH": PYTHONPATH, **env},
        timeout=60,
    )


class TestAStartedServer:
    def test_answers_the_ordering_user_over_tcp_on_loopback_only(self, shared_server):
        assert one_value(shared_server.url, "SELECT current_user") == "ordering"
        assert one_value(shared_server.url, "SELECT inet_server_addr()::text") == "127.0.0.1/32"
        assert one_value(shared_server.url, "SHOW listen_addresses") == "127.0.0.1"

    def test_stores_text_as_utf8(self, shared_server):
        assert one_value(shared_server.url, "SELECT pg_encoding_to_char(encoding) FROM pg_database "
                                            "WHERE datname = current_database()") == "UTF8"

    def test_creates_one_database_per_service_and_a_second_create_changes_nothing(self, shared_server):
        urls = [shared_server.create_database(name) for name in localpg.SERVICE_DATABASES]
        again = [shared_server.create_database(name) for name in localpg.SERVICE_DATABASES]

        names = [one_value(url, "SELECT current_database()") for url in urls]
        assert names == list(localpg.SERVICE_DATABASES)
        assert again == urls


class TestStartAndStop:
    def test_a_second_start_reuses_the_running_server(self, server):
        server.start()
        pid = server.running_pid()
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")

        server.start()

        assert server.running_pid() == pid
        assert one_value(server.url, "SELECT count(*) FROM kept") == 0

    def test_a_start_after_a_stop_keeps_the_data(self, server):
        server.start()
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept AS SELECT 42 AS n")
        server.stop()

        server.start()

        assert one_value(server.url, "SELECT n FROM kept") == 42

    def test_stop_leaves_no_server_process_and_no_pid_file(self, server):
        server.start()
        pid = server.running_pid()
        assert pid is not None and children_of(pid) != []

        stopped = server.stop()

        assert stopped
        assert servers_on(server.data_dir) == []
        assert children_of(pid) == []
        assert not (server.data_dir / "postmaster.pid").exists()
        assert server.stop() is False

    def test_a_killed_server_leaves_a_stale_pid_file_that_stop_removes_and_start_recovers_from(self, server):
        server.start()
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept AS SELECT 7 AS n")
        killed = server.running_pid()
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: not localpg.processes.alive(killed))

        assert server.running() is False
        assert server.stop() is False
        assert not (server.data_dir / "postmaster.pid").exists()
        server.start()
        assert one_value(server.url, "SELECT n FROM kept") == 7


class TestThrowaway:
    def test_gives_a_running_server_then_stops_it_and_deletes_its_folder(self, monkeypatch):
        monkeypatch.delenv("DATABASE_URL", raising=False)

        with localpg.throwaway() as server:
            assert isinstance(server, localpg.LocalPostgres)
            assert one_value(server.url, "SELECT 1") == 1

        assert servers_on(server.data_dir) == []
        assert not server.home.exists()

    def test_stops_the_server_when_the_test_fails_inside(self, monkeypatch):
        monkeypatch.delenv("DATABASE_URL", raising=False)

        with pytest.raises(RuntimeError, match="the test failed"), localpg.throwaway() as server:
            raise RuntimeError("the test failed")

        assert isinstance(server, localpg.LocalPostgres)
        assert servers_on(server.data_dir) == []
        assert not server.home.exists()

    def test_uses_the_server_database_url_names_and_starts_none(self, shared_server, monkeypatch):
        monkeypatch.setenv("DATABASE_URL", shared_server.url)
        homes_before = set(Path(tempfile.gettempdir()).glob("localpg-*"))

        with localpg.throwaway() as given:
            created = given.create_database("ordering_product")

        assert given == localpg.ExternalPostgres(shared_server.url)
        assert created == shared_server.database_url("ordering_product")
        assert set(Path(tempfile.gettempdir()).glob("localpg-*")) == homes_before


class TestClearErrors:
    def test_a_taken_port_is_one_line_naming_the_port_and_the_setting_and_nothing_is_made(self, home):
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            port = squatter.getsockname()[1]

            result = run_command_line("start", env={"POSTGRES_HOME": str(home / "pg"),
                                                    "POSTGRES_PORT": str(port)})

        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
        assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
        assert "POSTGRES_PORT" in result.stderr
        assert not (home / "pg").exists()

    def test_missing_programs_say_how_to_install_them(self, tmp_path):
        with pytest.raises(localpg.PostgresSetupError, match=r"python -m localpg install"):
            localpg.find_binaries(roots=[tmp_path], path=str(tmp_path))

    def test_a_server_that_stops_at_start_up_names_its_reason_and_leaves_nothing_running(self, server):
        server.start()
        server.stop()
        with (server.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("shared_buffers = 'lots'\n")

        with pytest.raises(localpg.PostgresSetupError) as raised:
            server.start()

        stopped = r"PostgreSQL stopped at start-up \(FATAL.*shared_buffers.*\): see .*postgres\.log"
        assert re.fullmatch(stopped, str(raised.value))
        assert servers_on(server.data_dir) == []
        assert not (server.data_dir / "postmaster.pid").exists()

    def test_a_server_database_url_names_that_refuses_is_one_line_without_the_password(self, shared_server):
        parts = urlsplit(shared_server.database_url("no_such_database"))
        refused = parts._replace(netloc=f"{parts.username}:hunter2@{parts.hostname}:{parts.port}").geturl()

        result = run_command_line("status", env={"DATABASE_URL": refused})

        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
        assert "refused the connection" in result.stderr
        assert "hunter2" not in result.stderr

    @as_root_only
    def test_as_root_a_folder_the_postgres_user_cannot_enter_is_refused_before_anything_is_made(
        self, tmp_path
    ):
        tmp_path.chmod(0o700)
        server = localpg.LocalPostgres(tmp_path / "pg", port=localpg.free_port())

        with pytest.raises(localpg.PostgresSetupError, match=r"cannot enter .* \(mode 700\).*POSTGRES_HOME"):
            server.start()

        assert not server.home.exists()
