# vaultmail: `make demo` runs the whole job on local stand-ins, `make test` the whole suite.
# Both create .venv/ and install everything they need on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install lint test test-unit test-functional test-e2e demo bench build clean

help:
	@echo "make demo   - run the whole application on local stand-ins (moto + Active Store emulator)"
	@echo "make test   - ruff, mypy and the whole pytest suite (unit, functional, e2e)"
	@echo "make bench  - benchmarks (memory, time); writes bench/results/"
	@echo "make build  - sam build for the local stack into .aws-sam/local-build (python3.13 from PATH or pyenv)"
	@echo "make install / lint / test-unit / test-functional / test-e2e / clean"

$(STAMP): pyproject.toml layers/core/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	for f in functions/*/app.py; do $(BIN)/mypy --follow-imports=silent "$$f" || exit 1; done

test: lint
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest tests/unit

test-functional: install
	$(BIN)/pytest tests/functional

test-e2e: install
	$(BIN)/pytest tests/e2e

demo: install
	$(BIN)/python -m vaultmail_dev.demo

bench: install
	$(BIN)/python bench/run.py

build: install
	$(BIN)/python -m vaultmail_dev.sambuild

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache build *.egg-info
