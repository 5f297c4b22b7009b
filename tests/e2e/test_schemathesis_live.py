"""Schemathesis, from its own command line, against the three services as uvicorn processes: zero failures.

tests/contract/test_openapi_properties.py drives the apps in-process; this drives what `make run` runs: real
sockets, uvicorn's HTTP parsing, SQLite on disk and Kafka behind. Every phase runs (the spec's examples, the
coverage cases with the methods a path lacks, fuzzing with valid and invalid data, and the stateful sequences
schemathesis infers from one answer to the next) with every check, as an admin so that the admin's operations
answer more than 403. Bounded: 25 examples per operation, a fixed seed, the services on 127.0.0.1 alone;
about 40 s with the broker's start.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_seed_story import RunningSystem

import run

pytestmark = pytest.mark.kafka

SPEC = Path(__file__).parents[2] / "openapi.yaml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# What the spec says in prose and schemathesis cannot read from it: why it is there.
CONFIG = Path(__file__).with_name("schemathesis.toml")
PRODUCTS = {"S1": {"name": "Stamp", "price": "0.80", "stocks": 500}}
TAGS = {"order": "Order Service", "product": "Product Service", "message": "Message Service"}
RUN_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def system(kafka_bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    home = tmp_path_factory.mktemp("e2e-schemathesis")
    # The demo page's sign-in too, as `make run` has it, so that every operation the spec lists is served.
    running = RunningSystem(kafka_bootstrap_servers, home / "data", home / "services.log", DEMO_SIGN_IN="on")
    try:
        for service in run.SERVICES:  # the Product Service first: the Order Service asks it
            running.start(service)
        for product_id, body in PRODUCTS.items():
            url = f"{running.url('product')}/products/{product_id}"
            assert httpx.put(url, json=body, headers=running.admin()).status_code == 201
        yield running
    finally:
        running.close()


@pytest.mark.parametrize("service", list(TAGS))
def test_every_phase_and_check_of_schemathesis_passes_against_the_running_service(
    system: RunningSystem, service: str, tmp_path: Path
) -> None:
    authorization = system.admin()["Authorization"]
    command = [
        str(SCHEMATHESIS),
        f"--config-file={CONFIG}",
        "run",
        str(SPEC),
        f"--url={system.url(service)}",
        f"--include-tag={TAGS[service]}",
        "--include-tag=Operations",
        "--phases=examples,coverage,fuzzing,stateful",
        "--checks=all",
        f"--header=Authorization: {authorization}",
        "--max-examples=25",
        "--seed=20261130",
        "--generation-database=none",
        "--request-timeout=10",
        # One worker: faster here than four (the services are not the bottleneck), and several once failed
        # inside schemathesis itself on CPython 3.11 ("AST constructor recursion depth mismatch").
        "--workers=1",
        "--no-color",
    ]

    # In a folder of its own: schemathesis may write a report or a cache where it runs.
    finished = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )

    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, f"schemathesis failed against the {service} service:\n{output}"
