# pymetallb — every target installs what it needs itself (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv sysdeps test lint unit e2e demo bench crds testenv cluster clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

lint: venv
	$(BIN)/ruff check crds reconciler speaker webhooks tests bench
	$(BIN)/ruff format --check crds reconciler speaker webhooks tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest tests/unit -q

e2e: venv testenv
	$(BIN)/pytest tests/e2e -q

# Debian packages for the component tests (root only; see the script).
sysdeps:
	@bash tests/sysdeps.sh

test: venv testenv gobgp sysdeps lint
	$(BIN)/pytest -q

crds: venv
	$(BIN)/pymetallb crds --write crds/

demo: venv
	@bash examples/demo.sh

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .testenv .pytest_cache .mypy_cache .ruff_cache

include tests/testenv/testenv.mk
include tests/gobgp/gobgp.mk
