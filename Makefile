# Ruta Emprende Atacama — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck unit browser postgresql bench rasa clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job: the console chat (embedded NLU, SQLite in ~/.ruta-emprende; no token, no server).
run: $(STAMP)
	$(BIN)/ruta chat

## Everything CI runs: lint, type check, knowledge-base validation and the test suite.
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy bot knowledge nlu

## pytest on PYTEST_WORKERS processes (pytest-xdist): the tests marked rasa are one group on one worker, which
## installs, trains and serves Rasa while the other runs the rest. `make unit PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= 2

unit: $(STAMP) browser postgresql
	$(BIN)/ruta kb validate
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

## Headless Chromium from Debian for the staff console's browser tests (Playwright drives it; nothing downloads one).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

## Debian's PostgreSQL server: the tests start a throw-away one (tests/postgres.py) and run the storage tests on it too.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

bench: $(STAMP)
	$(BIN)/python bench/diagnose_bench.py
	$(BIN)/python bench/chat_bench.py
	$(BIN)/python bench/telegram_bench.py
	$(BIN)/python bench/reports_bench.py

## Optional: a real Rasa server on 127.0.0.1:5005 (installs .venv-rasa, validates, trains, serves).
rasa:
	scripts/rasa.sh all 5005

clean:
	rm -rf $(VENV) .venv-rasa .rasa build *.egg-info .pytest_cache .ruff_cache .mypy_cache
