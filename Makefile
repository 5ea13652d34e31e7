# Pingyi — the two commands: `make run` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
export FLASK_APP := wsgi

.PHONY: run test lint install install-dev migrate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

## make run: install, migrate the SQLite database, load the demo if empty, serve on http://127.0.0.1:8000
run: install migrate
	@$(BIN)/flask seed-demo --if-empty
	@$(BIN)/flask show-access --url http://$(HOST):$(PORT)
	$(BIN)/gunicorn --config python:survey.gunicorn_conf --bind $(HOST):$(PORT) wsgi:app

migrate: install
	$(BIN)/flask db upgrade

## make test: install, lint, run every test on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set
test: lint
	$(BIN)/python -m pytest

## make lint: ruff over the whole tree (rules and version: pyproject.toml, requirements-dev.txt)
lint: install-dev
	$(BIN)/ruff check .

bench: install-dev
	$(BIN)/python bench/analysis_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
