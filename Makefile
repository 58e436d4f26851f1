# The README's two commands are `make run` and `make test`; the rest are their steps.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install -q -c constraints.txt

.PHONY: run test test-sqlite test-postgres lint bench clean messages

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

# The catalogs, with Babel's own tools: extract every marked string (code, pages, mails)
# into the template, merge it into each language's .po, then compile the .mo files the
# app loads. The .mo files are committed, so `make run` serves both languages as cloned.
I18N := src/guestbook/i18n/translations
messages: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ --add-location=file --sort-by-file \
	  --project=Guestbook --copyright-holder="Guestbook" -o $(I18N)/messages.pot src
	$(BIN)/pybabel -q update -N --ignore-obsolete -i $(I18N)/messages.pot -d $(I18N)
	$(BIN)/pybabel compile -d $(I18N) --statistics

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench --database both --write-results
	$(BIN)/python -m bench --through nginx --write-results
	$(BIN)/python -m bench --mixed --write-results

clean:
	rm -rf $(VENV) node_modules instance test-artifacts .pytest_cache
