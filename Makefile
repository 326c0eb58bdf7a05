# Two entry points for a fresh Debian machine: `make run` and `make test`.
# Each installs what it needs (apt packages when missing, a .venv, the project in editable mode).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
APT_PACKAGES := mosquitto mosquitto-clients influxdb influxdb-client chromium prometheus postgresql
PYTHON ?= python3

.PHONY: run test lint typecheck unit bench system-deps venv clean

system-deps:
	@if ! { [ -x /usr/sbin/mosquitto ] && command -v mosquitto_pub >/dev/null && command -v influxd >/dev/null && command -v influx >/dev/null && \
			command -v chromium >/dev/null && command -v promtool >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; then \
		echo "installing $(APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: system-deps venv
	$(VENV)/bin/smartcity up

test: system-deps venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

unit: venv
	$(VENV)/bin/pytest tests/unit

bench: system-deps venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
