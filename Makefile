# Two commands set up a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-unit test-integration typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@ $(VENV)/.run-installed

## run: the main job on the embedded default (SQLite under ./var, no broker):
## the API with projections and the SLA watcher, a few demo tickets and a demo token
run: $(VENV)/.run-installed
	$(BIN)/pass24-desk serve --demo

## test: install everything the tests need (PostgreSQL server included) and run them all
test: $(VENV)/.dev-installed
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-dovecot.sh
	bash scripts/ensure-chromium.sh
	$(BIN)/mypy --strict domain projections services adapters
	$(BIN)/lint-imports
	$(BIN)/pytest

test-unit: $(VENV)/.dev-installed
	$(BIN)/pytest tests/unit

test-integration: $(VENV)/.dev-installed
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-dovecot.sh
	$(BIN)/pytest tests/integration

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy --strict domain projections services adapters
	$(BIN)/lint-imports

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/calendar.py
	$(BIN)/python bench/commands.py
	$(BIN)/python bench/http.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/relay.py
	$(BIN)/python bench/edge.py
	$(BIN)/python bench/mail_parse.py
	$(BIN)/python bench/scale.py --sizes 10000,100000

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .hypothesis
