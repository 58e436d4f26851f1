# The README's two commands are `make run` and `make test`; the rest are their steps.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install -q -c constraints.txt

.PHONY: run test test-sqlite test-postgres lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e '.[postgres,redis,speed]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev,bench]'
	touch $@

node_modules/axe-core/axe.min.js: package.json
	npm install --no-audit --no-fund --silent
	touch $@

## Serve on SQLite at http://127.0.0.1:5000 (migrates first).
run: $(VENV)/.installed
	$(BIN)/guestbook db upgrade
	$(BIN)/guestbook serve

## Everything the tests need, then the suite on SQLite and again on PostgreSQL.
test: $(VENV)/.installed-dev node_modules/axe-core/axe.min.js lint test-sqlite test-postgres

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/bandit -q -c pyproject.toml -r src

test-sqlite: $(VENV)/.installed-dev node_modules/axe-core/axe.min.js
	$(BIN)/pytest

# The browser tests (tests/browser) run once, in the SQLite pass: they test what the
# browser sees, against their own live server, whatever the suite's database.
test-postgres: $(VENV)/.installed-dev
	GUESTBOOK_TEST_DATABASE=postgres $(BIN)/pytest -m "not browser"

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench --database both --write-results

clean:
	rm -rf $(VENV) node_modules instance test-artifacts .pytest_cache
