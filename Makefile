# Developer entry points. Everything runs from the repo root with the project virtualenv in .venv.
#   make venv          .venv with the package and its test extra (re-run only when pyproject.toml changes),
#                      and the compiled core (native/) when cargo is there (re-built when its sources change)
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

NATIVE_STAMP := $(VENV)/.native
NATIVE_SRC := $(wildcard native/src/*.rs) native/Cargo.toml native/Cargo.lock native/pyproject.toml

venv: $(VENV_STAMP) $(NATIVE_STAMP)

# The stamp is newer than pyproject.toml once its dependencies are installed; a changed pyproject re-installs.
$(VENV_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The compiled twin of the pure core (native/, Rust): same output as the Python modules, faster. Built
# with cargo when the machine has it (the first build fetches its crates and takes about a minute;
# native/target keeps the build for the next one). Without cargo the Python core runs, and
# `newsflow bench` says so ("core": "python").
$(NATIVE_STAMP): $(VENV_STAMP) $(NATIVE_SRC)
	@if command -v cargo >/dev/null; then \
	  echo "building the compiled core (native/)"; $(PY) -m pip install --quiet ./native && touch $@; \
	else echo "warning: cargo not found: the compiled core is not built; the Python core runs (slower)"; fi

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
