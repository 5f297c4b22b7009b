"""The chaos run's short form: under light order traffic the Order Service and the Product Service are each
killed with SIGKILL and started again, and afterwards nothing is lost, duplicated or oversold.

`python -m chaos` runs as `make chaos` runs it, on the session's broker (the checks are scoped to the run's
own products and orders, since other tests write to the same topics), in about 35 s. Its summary is the
verdict; this test reads it. RELIABILITY.md has the full run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from exclusive import alone

# The run may first wait for the cluster form's to end (about 100 s; conftest.py, `alone`).
pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
SHORT_FORM = [
    "--seed", "14", "--duration", "16", "--faults", "2", "--kinds", "kill_order,kill_product",
    "--warmup", "3", "--cooldown", "4", "--rate", "15", "--clients", "12", "--customers", "40",
    "--give-up", "12", "--drain", "12",
]


@pytest.fixture(scope="module")
def summary(kafka_bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    workdir = tmp_path_factory.mktemp("chaos")
    with alone("chaos", tmp_path_factory):  # not beside the cluster form's run (exclusive.py)
        finished = subprocess.run(
            [sys.executable, "-m", "chaos", *SHORT_FORM, "--bootstrap", kafka_bootstrap_servers,
             "--workdir", str(workdir)],
            cwd=REPO, capture_output=True, text=True, timeout=110, check=False,
        )
    assert finished.stdout, f"no summary (status {finished.returncode}): {finished.stderr[-2000:]}"
    return {"status": finished.returncode, **json.loads(finished.stdout)}


class TestKillingServicesUnderLoad:
    def test_each_fault_was_injected_and_the_order_flow_recovered_from_it(self, summary):
        assert summary["faults_injected"] == {"kill_order": 1, "kill_product": 1}
        assert all(each is not None for kind in summary["recovery"].values() for each in kind["each_s"])

    def test_orders_were_accepted_throughout(self, summary):
        assert summary["orders"]["accepted_201"] >= 100

    def test_every_check_passes_and_the_run_says_so_with_its_exit_status(self, summary):
        failed = {name: check for name, check in summary["checks"].items() if not check["ok"]}

        assert failed == {}
        assert summary["status"] == 0

    def test_nothing_was_lost_duplicated_or_oversold(self, summary):
        assert (summary["lost_effects"], summary["duplicated_effects"], summary["oversold_units"]) == (0, 0, 0)

    def test_every_5xx_was_a_503_with_retry_after_while_a_dependency_was_down(self, summary):
        errors = summary["http"]["5xx"]

        assert errors["total"] == errors["503_with_retry_after_during_outage"]
