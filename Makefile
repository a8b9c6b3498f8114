# autotab: `make run` sets up .venv and runs the pipeline; `make test` runs the tests.
# Only Python 3.11 and git are needed: everything else is installed into .venv from requirements.lock.

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Stages run `python -m autotab...` and `bentoml build` needs `uv`: both must come from .venv.
export PATH := $(BIN):$(PATH)
export BENTOML_HOME := $(CURDIR)/.bentoml
export BENTOML_DO_NOT_TRACK := true
UV_VERSION := $(shell sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements.lock)

# The tests run on every core (pytest-xdist), a test file at a time per worker: a file's tests share
# one workspace and run in file order; the files in the order tests/conftest.py gives them (the
# slowest first). `make test PARALLEL=` runs them in one process.
PARALLEL ?= -n auto --dist loadfile --no-loadscope-reorder

.DEFAULT_GOAL := help

.PHONY: help setup lock params run compare vega serve push pull test test-fast lint format

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (many CI and container images),
	@# Python would otherwise recompile the stack's sources in every stage and worker process (about 5 s each).
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

setup: $(VENV)/.installed ## create .venv and install the locked dependencies

lock: ## re-resolve requirements.lock from pyproject.toml (needs the package index)
	$(BIN)/uv pip compile pyproject.toml --extra bento --extra dev --extra dask --universal --python-version 3.11 -q -o requirements.lock

params: setup ## compose conf/ into params.yaml (what `dvc exp run` does)
	$(BIN)/autotab params

run: setup ## run the whole pipeline on the configured data, print metrics and how to serve
	$(BIN)/autotab params
	$(BIN)/dvc repro
	@$(BIN)/autotab summary

# The comparison report inlines vega's JS from npm (vega/package-lock.json): offline once installed.
VEGA_INSTALLED := vega/node_modules/.installed

$(VEGA_INSTALLED): vega/package.json vega/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: error: npm not found: install Node.js with npm (Debian: apt-get install nodejs npm), then rerun" >&2; exit 2; }
	npm ci --prefix vega --no-audit --no-fund --loglevel=error
	@touch $@

vega: $(VEGA_INSTALLED) ## install vega, vega-lite and vega-embed from npm into vega/node_modules

compare: setup $(VEGA_INSTALLED) ## write reports/compare/index.html: all experiments, their params, metrics and plots (offline)
	$(BIN)/autotab compare

serve: setup ## serve the packaged model on 127.0.0.1 (port from conf/serve)
	$(BIN)/autotab serve

push: setup ## upload the data and models DVC tracks to the DVC remote (default ../autotab-remote)
	$(BIN)/dvc push

pull: setup ## download the checked-out commit's data and models from the DVC remote
	$(BIN)/dvc pull

test: setup ## run the whole test suite, the slow end-to-end tests included
	@# The comparison-report tests need vega from npm: installed when npm is here, else they skip (CI fails them).
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory vega; else echo "make: npm not found: the comparison-report tests will skip"; fi
	$(BIN)/python -m pytest -q $(PARALLEL)

test-fast: setup ## run the tests without the slow end-to-end ones
	$(BIN)/python -m pytest -q -m "not slow" $(PARALLEL)

lint: setup ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## ruff, fixing what it can
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
