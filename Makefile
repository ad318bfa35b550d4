# schakel - two commands on a fresh machine:  `make demo`  and  `make test`.
# Everything (virtualenv, Python packages, the Apache Kafka jars, the broker itself) is set up by these targets.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

# Broker data, logs and the jar cache stay inside the checkout (var/, .cache/, both git-ignored): the settings find
# them from the installed package (see core/settings.py), so a command typed by hand sees what make sees.

# The demo, the tests and the benchmarks run with the public development pseudonym key, which a hub worker or a
# connector refuses anywhere else (see core/settings.py).
demo test soak bench: export SCHAKEL_ENVIRONMENT := development

.PHONY: help system venv install broker lint typecheck test soak demo bench clean k8s-tools k8s-manifests promtool

help:
	@echo "make demo   set everything up and run the hub with simulated partners"
	@echo "make test   set everything up, then ruff, mypy (strict) and pytest against the real broker"
	@echo "make soak   the long fault tests: a three-node cluster losing a node, a broker restarted, workers killed"
	@echo "make bench  benchmarks, each reported as a ratio against a baseline measured in the same run"
	@echo "make clean  stop the local broker and remove the virtualenv, caches and local data"

# Debian packages the project needs (Java 17+, Maven, PostgreSQL); installs only what is missing.
system:
	@bash deploy/system-packages.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

$(VENV)/.deps: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=strict
	touch $@

venv: $(VENV)/.deps

# The strict editable install links each module file into build/; re-link so new modules are seen.
install: system venv
	@flock $(VENV)/.install.lock $(BIN)/pip install --quiet --no-deps -e . --config-settings editable_mode=strict 2>/dev/null

broker: install
	$(BIN)/schakel kafka up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy -p schakel
	$(BIN)/mypy tests

# The test session starts the broker if none answers, and stops it again if it started it. pytest-xdist runs the
# tests in TEST_WORKERS processes sharing that one broker (the tests mostly wait on the broker and on subprocesses, so
# three keep the two cores busy). --dist loadscope keeps a module's tests together in one worker, in order, except
# that a test class is a unit of its own: the eight connectors' contract classes (a third of the suite's time) spread
# over the workers. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 3

test: lint typecheck k8s-tools
	$(BIN)/schakel schemas check
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope

# The long fault tests (pytest marker `soak`, excluded from `make test`): each starts the brokers it needs on ports
# derived from SCHAKEL_KAFKA_BOOTSTRAP's (a three-node cluster on PORT+2..PORT+7, a single broker on PORT+8 and +9).
# Beside them, the tests marked `thorough` at full size (they run smaller in `make test`).
soak: install
	SCHAKEL_TEST_THOROUGH=1 $(BIN)/pytest -m 'soak or thorough' -v --durations=0 --timeout 1800

# kustomize and kubeconform (pinned Go modules) and promtool (pinned Debian package) for the offline checks of
# deploy/k8s; cached.
k8s-tools:
	sh deploy/k8s/tools.sh

# promtool built from source (Prometheus 3; ~14 min here) instead of the Debian one `make k8s-tools` fetches.
promtool:
	sh deploy/k8s/tools.sh promtool

# Regenerate the Strimzi users/topics and the connector Deployments from streams/topics.py.
k8s-manifests: install
	$(BIN)/python -m schakel.deploy.manifests deploy/k8s/base

demo: broker
	$(BIN)/schakel demo

bench: broker
	$(BIN)/python -m tests.bench

clean:
	-$(BIN)/schakel kafka down
	rm -rf $(VENV) build .cache var .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
