# Pingyi — the two commands: `make run` and `make test`. Both set everything up on a fresh machine.
# Variables (PYTHON, VENV, HOST, PORT, TEST_WORKERS): docs/configuration.md#make-variables.
# Tests, lint and locks: docs/development.md.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
export FLASK_APP := wsgi

.PHONY: run test fuzz lint install install-dev install-bench migrate bench lock clean

# The locked sets are installed by uv: the same pins as pip, about a quarter of pip's CPU time
# (docs/development.md#locked-dependencies). Modules are compiled when first imported, not all at install.
UV_VERSION := 0.13.9
UV_INSTALL  = $(BIN)/uv pip install --quiet --python $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)

$(VENV)/.runtime: requirements.txt | $(BIN)/uv
	$(UV_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(UV_INSTALL) -r requirements-dev.txt
	touch $@

$(VENV)/.bench: requirements-bench.txt $(VENV)/.dev
	$(UV_INSTALL) -r requirements-bench.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev
install-bench: $(VENV)/.bench

## make run: install, migrate the SQLite database, load the demo if empty, serve on http://127.0.0.1:8000
run: install migrate
	@$(BIN)/flask seed-demo --if-empty
	@$(BIN)/flask show-access --url http://$(HOST):$(PORT)
	$(BIN)/gunicorn --config python:survey.gunicorn_conf --bind $(HOST):$(PORT) wsgi:app

migrate: install
	$(BIN)/flask db upgrade

## make test: install, lint, run every test on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set,
## in TEST_WORKERS processes (pytest-xdist; TEST_WORKERS=0 runs them in this one)
## Bytecode is written even where PYTHONDONTWRITEBYTECODE is set: the workers, gunicorn and every later
## run then read survey/ compiled and the tests with their asserts rewritten (collecting took 10.7 s of
## CPU per worker without that cache, 4.9 s with it).
TEST_WORKERS ?= 3
test: lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

## make fuzz: the web fuzz tests with new random examples each run, twenty times the number each test states
fuzz: install-dev
	PYTHONDONTWRITEBYTECODE= HYPOTHESIS_PROFILE=explore $(BIN)/python -m pytest -n $(TEST_WORKERS) tests/fuzz

## make lint: ruff over the whole tree (rules and version: pyproject.toml, requirements-dev.txt)
lint: install-dev
	$(BIN)/ruff check .

bench: install-bench
	$(BIN)/python bench/analysis_bench.py

## make lock: after editing a requirements*.in, lock the whole tree again (uv pip compile) and commit both
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --custom-compile-command "make lock"
lock: | $(BIN)/uv
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-dev.in -o requirements-dev.txt
	$(UV_COMPILE) requirements-bench.in -o requirements-bench.txt

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
