"""`make run` keeps what dies running: a dead service is started again after a pause that doubles with each
death in a row, the others untouched, and each death and restart is a line of the log stream."""

from __future__ import annotations

import io
import json
import os
import signal

import pytest

from run_console import RunError
from run_supervisor import Backoff, Supervisor, how_it_ended


class FakeProcess:
    """What the supervisor reads of a Popen: whether it runs, how it ended, its pid."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def die(self, status: int) -> None:
        self.returncode = status


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class System:
    """Three fake services under a Supervisor, a clock to move, and what was written to the stream."""

    def __init__(self) -> None:
        self.next_pid = 100
        self.clock = FakeClock()
        self.log = io.StringIO()
        self.ready: set[str] = set()
        self.refuse_start: str | None = None
        self.ctrl_c_while_starting = False
        self.services = {name: self.spawn(name) for name in ("product", "order", "message")}
        self.supervisor = Supervisor(self.services, self.spawn, self.is_ready, None, self.log, self.clock)

    def spawn(self, name: str) -> FakeProcess:
        if self.ctrl_c_while_starting:
            os.kill(os.getpid(), signal.SIGINT)
        if self.refuse_start is not None:
            raise RunError(self.refuse_start)
        self.next_pid += 1
        return FakeProcess(self.next_pid)

    def is_ready(self, name: str) -> bool:
        return name in self.ready

    def after(self, seconds: float) -> None:
        self.clock.now += seconds
        self.supervisor.check()

    def notices(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.getvalue().splitlines()]


class TestBackoff:
    def test_doubles_with_each_death_in_a_row_up_to_thirty_seconds(self):
        backoff = Backoff()

        delays = [backoff.after_death(up_for_s=2.0) for _ in range(8)]

        assert delays == [1, 2, 4, 8, 16, 30, 30, 30]

    def test_starts_afresh_after_a_process_stayed_up_a_minute(self):
        backoff = Backoff()
        for _ in range(4):
            backoff.after_death(up_for_s=2.0)

        assert backoff.after_death(up_for_s=60.0) == 1


class TestADeadService:
    def test_is_started_again_after_a_second_and_the_others_are_left_alone(self, capsys):
        system = System()
        others = {name: system.services[name] for name in ("product", "message")}
        system.services["order"].die(-9)

        system.after(0.0)
        dead = system.services["order"]
        system.after(0.9)
        still_dead = system.services["order"]
        system.after(0.1)

        assert dead is still_dead and dead.returncode == -9
        assert system.services["order"] is not dead
        assert system.services["order"].poll() is None
        assert {name: system.services[name] for name in others} == others
        assert [(n["service"], n["level"], n["logger"], n["pid"]) for n in system.notices()] == [
            ("order-service", "warning", "run", dead.pid),
            ("order-service", "warning", "run", system.services["order"].pid),
        ]
        assert "run: the order service was killed by SIGKILL; restarting it in 1 s" in capsys.readouterr().err

    def test_that_keeps_dying_waits_longer_each_time_and_is_still_restarted(self):
        system = System()
        waits = []
        for _ in range(7):
            system.services["order"].die(1)
            system.after(0.0)
            waits.append(system.notices()[-1]["restart_in_s"])
            system.after(float(waits[-1]))

        assert waits == [1, 2, 4, 8, 16, 30, 30]
        assert system.services["order"].poll() is None
        assert system.notices()[-1]["restarts"] == 7

    def test_says_once_when_it_is_ready_again(self):
        system = System()
        system.services["message"].die(1)
        system.after(0.0)
        system.after(1.0)

        system.ready.add("message")
        system.after(0.5)
        system.after(0.5)

        ready_again = [n for n in system.notices() if n["level"] == "info"]
        assert [n["message"] for n in ready_again] == ["the message service is ready again"]

    def test_whose_port_is_taken_is_tried_again_later(self):
        system = System()
        system.services["product"].die(1)
        system.after(0.0)
        system.refuse_start = "port 8002 for the product service is in use"

        system.after(1.0)
        system.refuse_start = None
        system.after(1.9)
        still_dead = system.services["product"].poll()
        system.after(0.1)

        assert still_dead == 1
        assert system.services["product"].poll() is None
        assert "could not restart the product service (port 8002" in system.notices()[1]["message"]


class TestCtrlCDuringARestart:
    def test_stops_the_run_only_once_the_new_service_is_among_those_stopped_at_the_end(self):
        # Python's own handler, or SIG_IGN when the test run was started in the background by a shell.
        handler = signal.getsignal(signal.SIGINT)
        system = System()
        system.services["order"].die(-9)
        system.after(0.0)
        system.ctrl_c_while_starting = True

        with pytest.raises(KeyboardInterrupt):
            system.after(1.0)

        assert system.services["order"].poll() is None
        assert signal.getsignal(signal.SIGINT) is handler  # given back as it was

    def test_that_comes_with_a_failed_restart_still_stops_the_run(self):
        system = System()
        system.services["order"].die(-9)
        system.after(0.0)
        system.ctrl_c_while_starting = True
        system.refuse_start = "port 8001 for the order service is in use"

        with pytest.raises(KeyboardInterrupt):
            system.after(1.0)


@pytest.mark.parametrize(
    ("status", "said"), [(1, "exited with status 1"), (-9, "was killed by SIGKILL"), (-15, "was killed by SIGTERM")]
)
def test_how_a_process_ended_is_said_in_words(status, said):
    assert how_it_ended(status) == said
