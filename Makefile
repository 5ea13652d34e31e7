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

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

$(VENV)/.bench: requirements-bench.txt $(VENV)/.dev
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
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
TEST_WORKERS ?= 3
test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

## make fuzz: the web fuzz tests with new random examples each run, twenty times the number each test states
fuzz: install-dev
	HYPOTHESIS_PROFILE=explore $(BIN)/python -m pytest -n $(TEST_WORKERS) tests/fuzz

## make lint: ruff over the whole tree (rules and version: pyproject.toml, requirements-dev.txt)
lint: install-dev
	$(BIN)/ruff check .

bench: install-bench
	$(BIN)/python bench/analysis_bench.py

## make lock: after editing a requirements*.in, lock the whole tree again (uv pip compile) and commit both
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --custom-compile-command "make lock"
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==0.13.9
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-dev.in -o requirements-dev.txt
	$(UV_COMPILE) requirements-bench.in -o requirements-bench.txt

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
