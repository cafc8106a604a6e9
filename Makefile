# vaultmail: `make demo` runs the whole job on local stand-ins, `make test` the whole suite.
# Both create .venv/ and install everything they need on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

SCAN_VENV  := .venv-scan
SCAN_BIN   := $(SCAN_VENV)/bin
SCAN_STAMP := $(SCAN_VENV)/.installed-stamp
SCAN_FIX   := fix it, or suppress it in template.yaml with its reason (checkov: Metadata.checkov.skip [{id, comment}]; cfn-lint: Metadata.cfn-lint.config.ignore_checks, a comment with the reason)

.PHONY: help install lint scan scan-template scan-code test test-unit test-functional test-e2e demo bench build clean

help:
	@echo "make demo   - run the whole application on local stand-ins (moto + Active Store emulator)"
	@echo "make test   - ruff, mypy, the scanners (make scan) and the whole pytest suite (unit, functional, e2e)"
	@echo "make scan   - checkov and cfn-lint's serverless rules on template.yaml (scan-template), bandit on the package (scan-code)"
	@echo "make bench  - benchmarks (memory, time); writes bench/results/"
	@echo "make build  - sam build for the LOCAL stack only, into .aws-sam/local-build (sam deploy does not use it: run sam build)"
	@echo "make install / lint / test-unit / test-functional / test-e2e / clean"

$(STAMP): pyproject.toml layers/core/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The scanners pin their own dependencies (checkov's are many and old): a venv of their own.
$(SCAN_STAMP): .ci/scan-requirements.txt
	test -x $(SCAN_BIN)/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_BIN)/python -m pip install --quiet --upgrade pip
	$(SCAN_BIN)/python -m pip install -qq -r .ci/scan-requirements.txt
	touch $(SCAN_STAMP)

scan: scan-template scan-code

# Every finding fails: fixed, or suppressed in the template with its reason.
scan-template: $(SCAN_STAMP)
	@echo "cfn-lint + serverless rules: template.yaml"
	@$(SCAN_BIN)/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml \
		|| { echo "cfn-lint: the findings above: $(SCAN_FIX)"; exit 1; }
	@echo "checkov: template.yaml"
	@$(SCAN_BIN)/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download \
		|| { echo "checkov: the findings above: $(SCAN_FIX)"; exit 1; }

scan-code: $(SCAN_STAMP)
	@echo "bandit: layers/core/vaultmail"
	@$(SCAN_BIN)/bandit -q -c pyproject.toml -r layers/core/vaultmail \
		|| { echo "bandit: the findings above: fix them, or '# nosec BXXX' with the reason on the line above"; exit 1; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	for f in functions/*/app.py; do $(BIN)/mypy --follow-imports=silent "$$f" || exit 1; done

test: lint scan
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

# The LOCAL stack's build (make demo, tests/e2e). To deploy: sam build && sam deploy (README, Deploy).
build: install
	$(BIN)/python -m vaultmail_dev.sambuild
	@echo "built into .aws-sam/local-build for the local stack; sam deploy does NOT use it: to deploy, run 'sam build' then 'sam deploy' (README, Deploy)"

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache build *.egg-info
