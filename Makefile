# vigil: `make up` runs it on this machine, `make test` runs every check.
# Both set up what they need: the virtualenv, the Python packages, Debian packages.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SIMULATE ?= 200

.PHONY: up test lint typecheck pytest bench chaos fuzz system-deps clean

up: $(VENV)/.installed system-deps
	$(BIN)/vigil up --simulate $(SIMULATE)

test: $(VENV)/.installed system-deps lint typecheck pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

pytest: $(VENV)/.installed system-deps
	$(BIN)/pytest -q

bench: $(VENV)/.installed system-deps
	$(BIN)/python bench/ingest.py

# Every kind of vigil process killed with SIGKILL, the broker restarted, the lake's disk
# filled, under a 1,000-guard QoS 1 stream; the table goes to docs/reliability.md.
chaos: $(VENV)/.installed system-deps
	$(BIN)/python -m tests.chaos.run --docs docs/reliability.md --json bench/results/chaos.json

# 100,000 generated hostile inputs: MQTT payloads and topics, fleet files, REST bodies,
# fleet edits (tests/core/test_fuzz.py); make test runs 1,600 of them.
fuzz: $(VENV)/.installed
	VIGIL_FUZZ=1 $(BIN)/pytest -q --timeout=0 tests/core/test_fuzz.py

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# From Debian when missing: Mosquitto and its clients, Prometheus (the dashboards' test).
system-deps:
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || NEED="$$NEED mosquitto"; \
	command -v mosquitto_pub >/dev/null 2>&1 || NEED="$$NEED mosquitto-clients"; \
	command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || NEED="$$NEED chromium"; \
	command -v prometheus >/dev/null 2>&1 || NEED="$$NEED prometheus"; \
	if [ -n "$$NEED" ]; then \
		echo "installing Debian packages:$$NEED"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$NEED; \
	fi

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache
