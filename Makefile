# vaultmail: `make demo` runs the whole job on local stand-ins, `make test` the whole suite.
# Both create .venv/ and install everything they need on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# uv uses the machine's Python (never downloads one) and keeps quiet unless something fails.
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1

# uv itself, installed by pip from a hashed requirement into a venv of its own.
UV_HOME := .venv-uv
UV      := $(UV_HOME)/bin/uv
# Every environment installs from a hashed lock (README, "Dependencies and upgrades"): .venv/ from uv.lock,
# .venv-scan/ from .ci/scan-requirements.txt, the Lambda layer from layers/core/requirements.txt
# and the local workers' boto3 from dev/lambda-runtime-requirements.txt (both exported from uv.lock).
EXPORT  := $(UV) export --frozen --no-emit-project --no-header --format requirements-txt --quiet
SCAN_COMPILE := $(UV) pip compile --quiet --universal --python-version 3.11.7 --generate-hashes

SCAN_VENV  := .venv-scan
SCAN_BIN   := $(SCAN_VENV)/bin
SCAN_STAMP := $(SCAN_VENV)/.installed-stamp
SCAN_FIX   := fix it, or suppress it in template.yaml with its reason (checkov: Metadata.checkov.skip [{id, comment}]; cfn-lint: Metadata.cfn-lint.config.ignore_checks, a comment with the reason)

.PHONY: help install lint lock lock-check scan scan-template scan-code test test-latest test-unit test-functional test-e2e demo bench build clean

help:
	@echo "make demo        - run the whole application on local stand-ins (moto + Active Store emulator)"
	@echo "make test        - ruff, mypy, the lock check, the scanners (make scan) and the whole pytest suite (unit, functional, e2e)"
	@echo "make scan        - checkov and cfn-lint's serverless rules on template.yaml (scan-template), bandit on the package (scan-code)"
	@echo "make lock        - re-resolve uv.lock and re-export the layer's and the scanners' hashed requirements (UPGRADE=--upgrade for the newest)"
	@echo "make test-latest - the whole suite on the newest releases, in a throwaway copy (the locks stay as they are)"
	@echo "make bench       - benchmarks (memory, time); writes bench/results/"
	@echo "make build       - sam build for the LOCAL stack only, into .aws-sam/local-build (sam deploy does not use it: run sam build)"
	@echo "make install / lint / test-unit / test-functional / test-e2e / clean"

$(UV): .ci/uv-requirements.txt
	test -x $(UV_HOME)/bin/python || $(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install --quiet --require-hashes --no-deps -r .ci/uv-requirements.txt
	touch $(UV)

# The development environment, exactly as uv.lock says (--frozen: never re-resolved here).
$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --python $(PYTHON)
	touch $(STAMP)

install: $(STAMP)

# The scanners pin their own dependencies (checkov's are many and old): a venv of their own.
$(SCAN_STAMP): $(UV) .ci/scan-requirements.txt
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(SCAN_VENV)
	$(UV) pip sync --quiet --require-hashes --python $(SCAN_BIN)/python .ci/scan-requirements.txt
	touch $(SCAN_STAMP)

# Re-resolve on purpose (UPGRADE=--upgrade takes the newest releases; without it, uv keeps every
# locked version that still fits), then re-export what the layer and the local workers install.
lock: $(UV)
	$(UV) lock $(UPGRADE)
	$(EXPORT) --only-group layer -o layers/core/requirements.txt
	$(EXPORT) --only-group lambda-runtime -o dev/lambda-runtime-requirements.txt
	$(SCAN_COMPILE) $(UPGRADE) .ci/scan-requirements.in -o .ci/scan-requirements.txt

# The locks agree with pyproject.toml and with each other (part of make test).
lock-check: $(UV)
	@$(UV) lock --check --quiet || { echo "uv.lock is out of date with pyproject.toml: run make lock"; exit 1; }
	@mkdir -p $(VENV) && for pair in layer:layers/core/requirements.txt lambda-runtime:dev/lambda-runtime-requirements.txt; do \
		$(EXPORT) --only-group $${pair%%:*} -o $(VENV)/.lock-check.txt && cmp -s $(VENV)/.lock-check.txt $${pair#*:} \
		|| { echo "$${pair#*:} differs from uv.lock: run make lock"; exit 1; }; done

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

lint: install lock-check
	$(BIN)/ruff check .
	$(BIN)/mypy
	for f in functions/*/app.py; do $(BIN)/mypy --follow-imports=silent "$$f" || exit 1; done

test: lint scan
	$(BIN)/pytest

# The whole suite on the newest releases of everything, in a throwaway copy of the tree: the
# next moto (or Powertools, or SAM CLI) is met here, on purpose, before a fresh clone meets it.
test-latest: $(UV)
	.ci/test-latest

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
	$(BIN)/python bench/report.py

# The LOCAL stack's build (make demo, tests/e2e). To deploy: sam build && sam deploy (README, Deploy).
build: install
	$(BIN)/python -m vaultmail_dev.sambuild
	@echo "built into .aws-sam/local-build for the local stack; sam deploy does NOT use it: to deploy, run 'sam build' then 'sam deploy' (README, Deploy)"

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache build *.egg-info
