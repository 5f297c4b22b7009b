# The two commands: `make run` (the system) and `make test` (every test). Everything else is a step of theirs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# src first on the path: our `entrypoints` package wins over any PyPI distribution of that name.
export PYTHONPATH := $(CURDIR)/src:$(CURDIR)/tools
# Re-install only when the dependency list changes.
INSTALLED := $(VENV)/.installed

.PHONY: help install lint test soak run kafka kafka-stop kafka-status clean

# Branch coverage of the domain core by its unit tests (the tracer is paused for the other tests: they ran 2.6x
# slower under it; tests/conftest.py), printed by every `make test`; below the floor fails the run.
COVERAGE := --cov=ordering_core --cov-branch --cov-report=term --cov-fail-under=95

help:
	@echo "make run         start Kafka (or use KAFKA_BOOTSTRAP_SERVERS) and the services, with sample products; Ctrl-C stops"
	@echo "                 KAFKA_NODES=3: a local three-node cluster; DATABASE=postgres: the local PostgreSQL"
	@echo "                 (or DATABASE_URL's server); INSTANCES=2: two processes of each service (needs PostgreSQL)"
	@echo "make test        install into .venv if needed, lint, start a throwaway broker, run every test"
	@echo "make lint        ruff and mypy over the code (pyproject.toml says which rules, and why)"
	@echo "make install     install the project into .venv (editable, with the services, test and lint extras)"
	@echo "make soak        the property tests with 20x the examples (minutes)"
	@echo "make kafka       start only the local broker (var/kafka) and create the topics; KAFKA_NODES=3: three nodes"
	@echo "make kafka-stop  stop the local broker (every node)"
	@echo "make kafka-status  whether the local broker runs, and where (each node)"
	@echo "make postgres    start only the local PostgreSQL (var/postgres, port 5432) and print its DATABASE_URL"
	@echo "make postgres-stop  stop the local PostgreSQL"
	@echo "make bench       order throughput and latency next to an echo baseline, 3 rounds (~4 min, BENCH_ARGS=--profile)"
	@echo "make chaos       kill, pause and cut off the services and the broker under load, then check (~6 min, CHAOS_ARGS=...)"
	@echo "make clean       stop the local broker and PostgreSQL, delete var/ (all data and the local key), caches, coverage"

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "install: dependencies into $(VENV) (first run, or pyproject.toml changed)..." >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[services,test,lint]'
	@touch $@

install: $(INSTALLED)

# ruff (the rule families and why: pyproject.toml, [tool.ruff.lint]), then mypy (strict on ordering_core and
# the adapters, the default mode elsewhere: [tool.mypy]). `make test` runs this first: a finding fails the run.
lint: $(INSTALLED)
	$(PY) -m ruff check src tests tools bench
	$(PY) -m mypy

PYTEST_ARGS ?=
# Two processes (pytest-xdist), each test module on one of them (its fixtures are set up once) and each
# process with a throwaway broker of its own: most of a test's time is waiting, which the other fills. On an
# existing cluster (KAFKA_BOOTSTRAP_SERVERS) the two processes' services would join the same consumer
# groups and take each other's records: one process. PYTEST_WORKERS=0 runs in this process.
PYTEST_WORKERS ?= $(if $(strip $(KAFKA_BOOTSTRAP_SERVERS)),0,2)
# The jars are fetched here, not inside pytest, so a first run shows its progress instead of a silent pause.
# Debian's chromium, for the demo page's browser test, is installed here too when it is missing.
test: $(INSTALLED) lint
	@$(PY) -m localkafka fetch
	@$(PY) tools/chromium.py
	@$(PY) -m localpg install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(COVERAGE) $(PYTEST_ARGS)

# The property tests with 20x the examples: for a long look before a release, not for CI.
soak: $(INSTALLED)
	HYPOTHESIS_PROFILE=soak $(PY) -m pytest tests/unit tests/properties tests/contract -m "not kafka" $(PYTEST_ARGS)

# `make kafka KAFKA_NODES=3`: a variable given on make's command line reaches the recipe's environment.
kafka: $(INSTALLED)
	@$(PY) -m localkafka start

kafka-stop: $(INSTALLED)
	@$(PY) -m localkafka stop

kafka-status: $(INSTALLED)
	@$(PY) -m localkafka status

# The machine's PostgreSQL (tools/localpg), run from var/postgres; with DATABASE_URL set, only checked.
.PHONY: postgres postgres-stop
postgres: $(INSTALLED)
	@$(PY) -m localpg start

postgres-stop: $(INSTALLED)
	@$(PY) -m localpg stop

# Kafka (or KAFKA_BOOTSTRAP_SERVERS), the three services and sample products, logs streamed; Ctrl-C stops all.
# Its knobs, read by tools/run.py (a variable given on make's command line reaches the recipe's environment):
# KAFKA_NODES (1; 3: the local cluster), DATABASE (sqlite; postgres), INSTANCES (1 to 5 processes per service).
# `make run KAFKA_NODES=3 DATABASE=postgres INSTANCES=2`
run: $(INSTALLED)
	@$(PY) tools/run.py

clean: kafka-stop postgres-stop
	rm -rf var .pytest_cache .hypothesis .coverage .mypy_cache .ruff_cache

# Throughput and latency of POST /orders/order next to a Starlette echo baseline, propagation to stock and
# messages, stock conservation after the load, micro-benchmarks of the core; one unattended command (~4 min
# here: the broker is warmed up until its JIT settles, then three rounds) on a throwaway broker and temporary data. BENCHMARKS.md reads the output; see bench/run_bench.py.
# BENCH_ARGS=--profile adds a py-spy profile of each service; BENCH_ARGS='--instances 2 --database postgres'
# runs two processes of each service on a throwaway PostgreSQL (BENCHMARKS.md, "Two instances on PostgreSQL").
BENCH_ARGS ?=
.PHONY: bench
bench: $(INSTALLED)
	$(PY) bench/run_bench.py $(BENCH_ARGS)

# Faults under steady order traffic (kill -9 of each service and the broker, a paused Order Service and its
# successor, a slowed and a cut-off Product Service), then checks that nothing was lost, duplicated or
# oversold; bounded (~6 min), on a throwaway broker, all on 127.0.0.1. RELIABILITY.md reads the output; see
# tools/chaos/. CHAOS_ARGS passes options, e.g. CHAOS_ARGS='--seed 7 --duration 120'. The cluster form (two
# instances of each service, PostgreSQL, three Kafka nodes; one instance of each and a node killed, the relay
# takeover and the node-loss recovery timed):
#   make chaos CHAOS_ARGS='--instances 2 --database postgres --kafka-nodes 3 --duration 90 --faults 4'
CHAOS_ARGS ?=
.PHONY: chaos
chaos: $(INSTALLED)
	@$(PY) -m chaos $(CHAOS_ARGS)
