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

.PHONY: help install test run kafka kafka-stop kafka-status clean

help:
	@echo "make run         start Kafka (or use KAFKA_BOOTSTRAP_SERVERS) and the services"
	@echo "make test        install into .venv if needed, start a throwaway broker, run every test"
	@echo "make kafka       start only the local broker (var/kafka) and create the topics"
	@echo "make kafka-stop  stop the local broker"

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "install: dependencies into $(VENV) (first run, or pyproject.toml changed)..."
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

install: $(INSTALLED)

# The jars are fetched here, not inside pytest, so a first run shows its progress instead of a silent pause.
test: $(INSTALLED)
	@$(PY) tools/localkafka.py fetch
	$(PY) -m pytest $(PYTEST_ARGS)

kafka: $(INSTALLED)
	@$(PY) tools/localkafka.py start

kafka-stop: $(INSTALLED)
	@$(PY) tools/localkafka.py stop

kafka-status: $(INSTALLED)
	@$(PY) tools/localkafka.py status

run: kafka
	@echo "run: Kafka is up. The Order, Product and Message services are not built yet (issue 5);"
	@echo "run: until then this starts only the broker. Stop it with: make kafka-stop"

clean: kafka-stop
	rm -rf var .pytest_cache .hypothesis .coverage
