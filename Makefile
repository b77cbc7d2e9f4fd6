# riskwatch: the two commands a newcomer needs are `make demo` and `make test`.
# Both work on a fresh Debian/Ubuntu machine with Python >= 3.11; as root they
# install the Prometheus stack and PostgreSQL with apt-get when missing.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RW := $(BIN)/riskwatch
STATE ?= .state
DAYS ?= 30

.PHONY: setup demo up status down test lint typecheck layers security unit clean

# Every dependency from the hashed lock (tools/lock.sh regenerates it from
# pyproject.toml), then riskwatch itself without resolving anything.
$(BIN)/.installed: pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements/dev.lock
	$(BIN)/pip install -q --no-deps -e '.[all,dev]'
	touch $@

## setup: the virtualenv, the Debian packages of the stack, and what the tests use
## when we may install them: Chromium (the report's and the console's browser tests),
## openssl (test certificates), poppler-utils (the PDF test) and systemd
## (systemd-analyze verify of the units)
setup: $(BIN)/.installed
	$(RW) stack install
	@if ! { command -v chromium && command -v openssl && command -v pdftoppm && command -v systemd-analyze; } >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation openssl poppler-utils systemd >/dev/null; \
	fi

# What the tour wrote down about its days (riskwatch.demo.days): `$(TOUR_DAYS) KEY`.
TOUR_DAYS = $(BIN)/python -c 'import json,sys; print(json.load(open("$(STATE)/demo/tour-days.json"))[sys.argv[1]])'

## demo: set up, start the whole pipeline on loopback, backfill a month of history,
## play the CRO tour of incidents, and write the day's executive report
demo: setup
	$(RW) stack up --state-dir $(STATE)
	RISKWATCH_STATE_DIR=$(STATE) $(RW) demo --mode historical --days $(DAYS)
	RISKWATCH_STATE_DIR=$(STATE) $(RW) demo --until-done
	RISKWATCH_STATE_DIR=$(STATE) $(RW) report --out $(STATE)/reports
	RISKWATCH_STATE_DIR=$(STATE) $(RW) report --out $(STATE)/reports --date $$($(TOUR_DAYS) demo_day)
	@echo "The demo day's report: $(STATE)/reports/$$($(TOUR_DAYS) demo_day)/report.html"
	@echo "The tour's days in the dashboards (New York): $$($(TOUR_DAYS) dashboard_from) to $$($(TOUR_DAYS) dashboard_to), i.e. Grafana's ?$$($(TOUR_DAYS) grafana_range)"
	@echo "The stack keeps running: riskwatch stack status | make down"
	@echo "Audit console: $$($(RW) stack status --state-dir $(STATE) --json | $(BIN)/python -c 'import json,sys; print(json.load(sys.stdin)["console"])')"
	@echo "  log in as admin with the token in $(STATE)/secrets/receiver_token, or add people: riskwatch users add NAME --role responder"

up: demo

status:
	$(RW) stack status --state-dir $(STATE)

down:
	$(RW) stack down --state-dir $(STATE)

lint: $(BIN)/.installed
	$(BIN)/ruff check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

## layers: the import contract in pyproject.toml (imports point down)
layers: $(BIN)/.installed
	$(BIN)/python tools/check_layers.py

## security: the static security scan (bandit; what it skips and why: pyproject.toml)
security: $(BIN)/.installed
	$(BIN)/bandit -q -c pyproject.toml -r src agents exporters deploy

## test: lint, type-check and run every test; the tests start and stop their own stack.
## One worker per CPU, each test file on one worker (its module fixtures, its stack):
## most of the suite waits on real components' intervals, so two files at once halve it.
test: setup lint typecheck layers security
	$(BIN)/pytest -n auto --dist loadfile

clean:
	$(RW) stack down --purge --state-dir $(STATE)
	rm -rf $(STATE)
