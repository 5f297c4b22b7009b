"""What `make run` starts, decided before it starts anything: how many processes of each service, on which
ports, named how, asking which Product Service instances, and on which database (tools/run_plan.py)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

import run
from run_console import RunError
from run_plan import Plan, plan
from run_supervisor import Supervisor
from service_logs import json_line

PORTS = {"order": 8001, "product": 8002, "message": 8003}
HOST = "127.0.0.1"


def planned(**environ: str) -> Plan:
    return plan(environ, PORTS, HOST)


class TestOneInstanceEach:
    def test_is_the_default_on_the_service_ports_with_sqlite(self):
        chosen = planned()

        assert [(i.id, i.port) for i in chosen.instances] == [
            ("product-1", 8002), ("order-1", 8001), ("message-1", 8003),
        ]
        assert (chosen.database, chosen.several) == ("sqlite", False)
        assert [chosen.name(i) for i in chosen.instances] == ["product", "order", "message"]

    def test_tells_the_order_service_where_the_product_service_is(self):
        chosen = planned()

        assert chosen.environment(chosen.first("order"), {}) == {
            "INSTANCE_ID": "order-1", "PRODUCT_SERVICE_URL": "http://127.0.0.1:8002",
        }


class TestSeveralInstances:
    def test_instance_i_listens_on_the_service_port_plus_ten_times_i_minus_one(self):
        chosen = planned(INSTANCES="2", DATABASE="postgres")

        assert [(chosen.name(i), i.port) for i in chosen.instances] == [
            ("product-1", 8002), ("product-2", 8012),
            ("order-1", 8001), ("order-2", 8011),
            ("message-1", 8003), ("message-2", 8013),
        ]

    def test_every_order_service_process_asks_every_product_service_instance(self):
        chosen = planned(INSTANCES="3", DATABASE="postgres")
        order_2 = chosen.instances[4]

        told = chosen.environment(order_2, {"order": "postgresql://ordering@127.0.0.1:5432/ordering_order"})

        assert told == {
            "INSTANCE_ID": "order-2",
            "PRODUCT_SERVICE_URL": "http://127.0.0.1:8002,http://127.0.0.1:8012,http://127.0.0.1:8022",
            "DATABASE_URL": "postgresql://ordering@127.0.0.1:5432/ordering_order",
        }

    def test_a_product_service_url_the_user_set_is_left_as_it_is(self):
        chosen = planned(INSTANCES="2", DATABASE="postgres", PRODUCT_SERVICE_URL="http://elsewhere:9000")

        assert "PRODUCT_SERVICE_URL" not in chosen.environment(chosen.first("order"), {})

    def test_on_database_url_use_it_as_it_is(self):
        chosen = planned(INSTANCES="2", DATABASE_URL="postgresql://u@db:5432/ordering")

        assert (chosen.database, chosen.database_url) == ("postgres", "postgresql://u@db:5432/ordering")

    @pytest.mark.parametrize(
        "settings", [{}, {"DATABASE": "sqlite"}, {"DATABASE": "sqlite", "DATABASE_URL": "postgresql://u@db/x"}]
    )
    def test_are_refused_on_sqlite_with_the_reason_and_the_fix(self, settings):
        with pytest.raises(RunError) as refused:
            planned(INSTANCES="2", **settings)

        said = str(refused.value)
        assert "\n" not in said
        assert "fence the first one's outbox relay" in said
        assert "make run INSTANCES=2 DATABASE=postgres" in said

    def test_that_would_share_a_port_are_refused(self):
        with pytest.raises(RunError, match="order-2 and product-1 would both listen on port 8011"):
            plan({"INSTANCES": "2", "DATABASE": "postgres"}, {**PORTS, "product": 8011}, HOST)


class TestSettingsThatCannotWork:
    @pytest.mark.parametrize("count", ["0", "6", "two", "-1"])
    def test_a_count_of_instances_out_of_range_is_refused(self, count):
        with pytest.raises(RunError, match=f"INSTANCES={count} is not a number of processes per service"):
            planned(INSTANCES=count, DATABASE="postgres")

    def test_an_unknown_database_is_refused_naming_the_accepted_ones(self):
        with pytest.raises(RunError, match="DATABASE=mysql is not known: use sqlite or postgres"):
            planned(DATABASE="mysql")


class TestMakeRun:
    def test_refuses_several_instances_on_sqlite_in_one_line_before_starting_anything(self, monkeypatch, capsys):
        monkeypatch.setenv("INSTANCES", "2")
        monkeypatch.delenv("DATABASE", raising=False)
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.setattr(run, "start_kafka", lambda: pytest.fail("started Kafka"))

        assert run.main() == 1

        said = capsys.readouterr().err.splitlines()
        assert len(said) == 1
        assert said[0].startswith("run: error: INSTANCES=2 needs PostgreSQL")


class TestTheLogStreamAmongSeveral:
    def test_a_line_names_the_instance_it_came_from_unless_it_does_already(self):
        now = datetime(2026, 11, 30, tzinfo=UTC)

        wrapped = json.loads(json_line("order-service", "Traceback (most recent call last):", now, "order-2") or "")
        logged = json.loads(json_line("order-service", '{"service": "order-service", "message": "hi"}', now,
                                      "order-2") or "")
        own = json_line("order-service", '{"service": "order-service", "instance": "order-2"}', now, "order-2")

        assert (wrapped["service"], wrapped["instance"]) == ("order-service", "order-2")
        assert (logged["service"], logged["instance"]) == ("order-service", "order-2")
        assert own == '{"service": "order-service", "instance": "order-2"}'

    def test_what_the_supervisor_says_about_an_instance_names_it_and_its_service(self):
        class Dead:
            pid, returncode = 41, -9

            def poll(self) -> int:
                return self.returncode

        log = io.StringIO()
        supervisor = Supervisor({"order-2": Dead()}, lambda _name: Dead(), lambda _name: True, None, log,
                                instances={"order-2": "order"})

        supervisor.check()

        said = json.loads(log.getvalue())
        assert (said["service"], said["instance"]) == ("order-service", "order-2")
        assert said["message"] == "the order-2 service was killed by SIGKILL; restarting it in 1 s"
