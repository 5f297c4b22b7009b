"""The chaos run's cluster short form: two instances of each service on one PostgreSQL database and a Kafka
cluster of three nodes; under light order traffic one instance of each service is killed with SIGKILL (the
Order Service's relay leader on purpose), and so is the Kafka node whose controller leads; each is started
again. Afterwards nothing is lost, duplicated or oversold; another relay took over within a few seconds.

The run starts its own three-node cluster in the module's temporary folder (it kills a node: not the
session's broker) and stops it at its end; the fixture stops it too if the run was cut short. Its database
is a new one on the session's PostgreSQL. RELIABILITY.md ("The cluster form") has the longer run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from exclusive import alone

import localkafka

# The run takes about 100 s, most of it three JVMs starting (twice for the killed node): more than the
# suite's 120 s per test would leave room for on a busy machine.
pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
SHORT_FORM = [
    "--instances", "2", "--database", "postgres", "--kafka-nodes", "3",
    "--seed", "50", "--duration", "30", "--faults", "4", "--kinds", "kill_order,kill_product,kill_message,kill_broker",
    "--warmup", "3", "--cooldown", "5", "--rate", "12", "--clients", "12", "--customers", "40",
    "--give-up", "20", "--drain", "15",
]
RUN_TIMEOUT_S = 180
TAKEOVER_BOUND_S = 15.0  # the spec: "another takes over within a few seconds"


@pytest.fixture(scope="module")
def summary(postgres_server, tmp_path_factory: pytest.TempPathFactory) -> dict:
    workdir = tmp_path_factory.mktemp("chaos-cluster")
    database_url = postgres_server.create_database(f"chaos_{uuid.uuid4().hex[:12]}")
    command = [sys.executable, "-m", "chaos", *SHORT_FORM, "--database-url", database_url, "--workdir", str(workdir)]
    with alone("chaos", tmp_path_factory):  # not beside the single form's run (exclusive.py)
        running = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = running.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            running.send_signal(signal.SIGTERM)  # the run stops its services and its cluster on SIGTERM
            out, err = running.communicate(timeout=60)
        finally:
            if running.poll() is None:
                running.kill()
                running.wait()
            # Whatever the run left: its cluster's nodes, found by their pid files under the run's folder.
            if (workdir / "kafka").is_dir():
                localkafka.LocalKafkaCluster(workdir / "kafka", nodes=3).stop()
    print(err[-6000:], file=sys.stderr)  # the run's progress and figures, for `pytest -s` and the log
    assert out, f"no summary (status {running.returncode}): {err[-3000:]}"
    return {"status": running.returncode, **json.loads(out)}


class TestKillingOneInstanceOfEachServiceAndAKafkaNodeUnderLoad:
    def test_each_fault_was_injected_and_the_order_flow_recovered_from_it(self, summary):
        assert summary["faults_injected"] == {"kill_order": 1, "kill_product": 1, "kill_message": 1, "kill_broker": 1}
        assert [fault["number"] for fault in summary["faults"] if not fault["ok"]] == []
        assert all(each is not None for kind in summary["recovery"].values() for each in kind["each_s"])

    def test_the_order_services_relay_leader_was_the_instance_killed(self, summary):
        killed = next(fault for fault in summary["faults"] if fault["kind"] == "kill_order")

        assert killed["relay_leader"] is True

    def test_the_kafka_node_killed_was_the_one_whose_controller_led(self, summary):
        (node_loss,) = summary["cluster"]["kafka_node_loss"]

        assert node_loss["controller"] is True
        assert node_loss["new_controller"] not in (None, node_loss["node"])

    def test_orders_were_spread_over_both_order_service_instances(self, summary):
        by_instance = summary["cluster"]["accepted_201_by_order_instance"]

        assert set(by_instance) == {"order-1", "order-2"}
        assert min(by_instance.values()) >= 20

    def test_every_check_passes_and_the_run_says_so_with_its_exit_status(self, summary):
        failed = {name: check for name, check in summary["checks"].items() if not check["ok"]}

        assert failed == {}
        assert summary["status"] == 0

    def test_nothing_was_lost_duplicated_or_oversold_and_no_outbox_row_waits(self, summary):
        assert (summary["lost_effects"], summary["duplicated_effects"], summary["oversold_units"]) == (0, 0, 0)
        assert summary["checks"]["messages_once_in_order"]["wrong"] == []
        assert summary["checks"]["no_outbox_row_stuck"]["unsent_rows"] == 0

    def test_another_relay_takes_over_within_a_few_seconds_of_the_leaders_death(self, summary):
        order_takeover = next(t for t in summary["cluster"]["relay_takeover"] if t["kind"] == "kill_order")
        print(f"relay takeover (Order Service): {order_takeover}")

        assert order_takeover["takeover_s"] is not None
        assert order_takeover["takeover_s"] < TAKEOVER_BOUND_S

    def test_orders_placed_after_a_kafka_node_died_reach_the_message_service(self, summary):
        (node_loss,) = summary["cluster"]["kafka_node_loss"]
        print(f"Kafka node loss: {node_loss}")

        assert node_loss["recovery_s"] is not None
