# Two commands for a fresh clone: `make demo` (the whole loop on the local runtime) and `make test`.
# Each installs what it needs into .venv (Python) and node_modules (the pinned CDK CLI).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install demo test lint synth bench up down clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

## The main job: local runtime up, bootstrap policy, simulator, retraining runs, report.
demo: install
	$(PY) -m local demo $(ARGS)

up: install
	$(PY) -m local up $(ARGS)

down:
	$(PY) -m local down

## The test suite (what .ci/run runs).
test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest $(ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## `cdk synth` with the pinned CLI, offline (no AWS account or Docker needed).
synth: install
	npx --no-install cdk synth --quiet --no-notices --no-version-reporting

bench: install
	$(PY) -m bench $(ARGS)

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache local/.state
