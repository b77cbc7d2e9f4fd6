# riskwatch: the two commands a newcomer needs are `make demo` and `make test`.
# Both work on a fresh Debian/Ubuntu machine with Python >= 3.11; as root they
# install the Prometheus stack and PostgreSQL with apt-get when missing.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RW := $(BIN)/riskwatch
STATE ?= .state

.PHONY: setup demo up status down test lint typecheck unit clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## setup: the virtualenv and the Debian packages of the stack
setup: $(BIN)/.installed
	$(RW) stack install

## demo: set up and start the whole pipeline on loopback, then print its URLs
demo: setup
	$(RW) stack up --state-dir $(STATE)

up: demo

status:
	$(RW) stack status --state-dir $(STATE)

down:
	$(RW) stack down --state-dir $(STATE)

lint: $(BIN)/.installed
	$(BIN)/ruff check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

## test: lint, type-check and run every test; the tests start and stop their own stack
test: setup lint typecheck
	$(BIN)/pytest

clean: down
	rm -rf $(STATE)
