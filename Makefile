# Developer entry points. Everything runs from the repo root with the project virtualenv in .venv.
#   make venv          .venv with the package and its test extra (re-run only when pyproject.toml changes)
#   make jars          Kafka broker jars from Maven Central into .cache/kafka/<version>/libs
#   make broker-start  local single-node Kafka on 127.0.0.1:$${NEWSFLOW_BROKER_PORT:-9092} (data in var/kafka)
#   make broker-stop   stop it (by the PID in its pidfile)
#   make test          the test suite; starts its own broker unless KAFKA_BOOTSTRAP is set
#   make run           broker + topics + worker + sample articles (deploy/run-local.sh); Ctrl-C stops all

PYTHON ?= python3.11
VENV := .venv
VENV_STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python

.PHONY: venv jars system-deps broker-start broker-stop broker-status test run

venv: $(VENV_STAMP)

# The stamp is newer than pyproject.toml once its dependencies are installed; a changed pyproject re-installs.
$(VENV_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

jars: venv
	$(PY) -m streams.broker jars

broker-start: jars
	$(PY) -m streams.broker start

broker-stop: venv
	$(PY) -m streams.broker stop

broker-status: venv
	@$(PY) -m streams.broker status || true

# promtool (Debian's prometheus package) checks and unit-tests the alert rules; docker-compose validates
# docker-compose.yml without an engine. Installed once, when missing (the machine's user is root).
system-deps:
	@command -v promtool >/dev/null && command -v docker-compose >/dev/null || { \
	  echo "installing promtool and docker-compose from Debian's packages"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	     prometheus docker-compose >/dev/null) || echo "warning: could not install them; their tests will skip"; }

test: venv jars system-deps
	$(VENV)/bin/pytest -q

run: venv jars
	deploy/run-local.sh
