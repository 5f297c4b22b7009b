"""tools/localkafka/: starts a real broker, starts it again from what is there, and fails clearly."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import localkafka
from adapters.messaging.topics import Topic

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
# What the Makefile exports: `-m localkafka` finds the package in tools/, and the package the adapters in src/.
PYTHONPATH = os.pathsep.join([str(REPO / "src"), str(REPO / "tools")])


def broker_in(home: Path) -> localkafka.LocalKafka:
    return localkafka.LocalKafka(home, port=localkafka.free_port(), controller_port=localkafka.free_port())


def brokers_running_with(config_file: Path) -> list[int]:
    """Pids of live JVMs started with this config: what a failed start must not leave behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kafka.Kafka" in argv and str(config_file).encode() in argv:
                found.append(int(entry.name))
    return found


def run_command_line(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m localkafka ARGS`, as `make kafka` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "localkafka", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": PYTHONPATH, **env},
        timeout=120,
    )


class TestStartAndStop:
    def test_a_second_start_reuses_the_storage_and_topics_of_the_first(self, tmp_path, unique):
        broker = broker_in(tmp_path)
        topic = Topic(unique("kept"), partitions=2)
        broker.start()
        localkafka.ensure_topics(broker.bootstrap_servers, [topic])
        cluster_id = (broker.data_dir / "meta.properties").read_text()
        broker.stop()

        broker.start()
        created_again = localkafka.ensure_topics(broker.bootstrap_servers, [topic])
        broker.stop()

        assert created_again == []
        assert (broker.data_dir / "meta.properties").read_text() == cluster_id

    def test_stop_leaves_no_broker_process_and_no_pid_file(self, tmp_path):
        broker = broker_in(tmp_path)
        broker.start()
        pid = broker.running_pid()

        stopped = broker.stop()

        assert stopped and pid is not None
        assert brokers_running_with(broker.config_file) == []
        assert not broker.pid_file.exists()
        assert broker.stop() is False


class TestClearErrors:
    def test_a_taken_port_is_one_line_naming_the_port_and_the_setting(self, tmp_path):
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            port = squatter.getsockname()[1]

            result = run_command_line("start", env={"KAFKA_HOME": str(tmp_path), "KAFKA_PORT": str(port),
                                                    "KAFKA_CONTROLLER_PORT": str(localkafka.free_port())})

        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
        assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
        assert "KAFKA_PORT" in result.stderr
        assert brokers_running_with(tmp_path / "server.properties") == []

    def test_a_broker_not_up_in_time_is_stopped_rather_than_left_half_started(self, tmp_path):
        broker = broker_in(tmp_path)

        with pytest.raises(localkafka.BrokerSetupError, match=r"did not accept connections.*KAFKA_START_TIMEOUT_S"):
            broker.start(timeout_s=0.01)

        assert brokers_running_with(broker.config_file) == []
        assert not broker.pid_file.exists()

    def test_missing_java_says_what_to_install(self, tmp_path):
        result = run_command_line("start", env={"KAFKA_HOME": str(tmp_path), "PATH": str(tmp_path),
                                                "KAFKA_PORT": str(localkafka.free_port()),
                                                "KAFKA_CONTROLLER_PORT": str(localkafka.free_port())})

        assert result.returncode == 1
        assert result.stderr.startswith("kafka: error: `java` not found on PATH: install a JDK 17+")

    def test_missing_maven_says_what_to_install(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PATH", str(tmp_path))

        with pytest.raises(localkafka.BrokerSetupError, match="`mvn` not found on PATH: install Maven"):
            localkafka.fetch_jars(cache=tmp_path / "cache")

    def test_an_unreachable_maven_central_leaves_no_half_filled_jar_cache(self, tmp_path, monkeypatch):
        # A stand-in for Maven that fails the way it does offline: the fetch must report Maven's own reason.
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        fake_mvn = bin_dir / "mvn"
        fake_mvn.write_text(
            "#!/bin/sh\n"
            "echo '[ERROR] Failed to execute goal: Could not transfer artifact org.apache.kafka:kafka_2.13:pom:4.4.0"
            " from/to central: Connection refused'\n"
            "exit 1\n"
        )
        fake_mvn.chmod(fake_mvn.stat().st_mode | stat.S_IXUSR)
        java_dir = Path(localkafka.java_executable()).parent
        monkeypatch.setenv("PATH", f"{bin_dir}:{java_dir}")
        cache = tmp_path / "cache"

        with pytest.raises(localkafka.BrokerSetupError) as raised:
            localkafka.fetch_jars(cache=cache)

        assert "Could not transfer artifact" in str(raised.value)
        assert "Maven Central" in str(raised.value)
        assert list(cache.iterdir()) == []
