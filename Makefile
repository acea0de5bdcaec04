# Ruta Emprende Atacama — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job: diagnose the example profile and print the message the entrepreneur would read.
run: $(STAMP)
	$(BIN)/ruta diagnose --format text bot/examples/almacen_vallenar.json

## Everything CI runs: lint, type check, knowledge-base validation and the test suite.
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy bot knowledge nlu

unit: $(STAMP)
	$(BIN)/ruta kb validate
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/diagnose_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
