# LinkTime: `make run` starts everything on SQLite; `make test` runs the whole suite on SQLite and PostgreSQL.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?= --durations=30  # the slowest tests, printed at the end of each run (keeping the suite fast)
PYTEST_WORKERS ?= 2

.PHONY: run test test-sqlite test-postgres install install-dev browser caddy bench lint screenshots clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(PY) -m app.serve

browser:
	@scripts/ensure-debian-package.sh chromium chromium

caddy:  # the custom-domain TLS test runs Debian's Caddy
	@scripts/ensure-debian-package.sh caddy caddy

test: install-dev browser caddy
	@$(MAKE) --no-print-directory lint  # findings fail `make test` before any test runs
	@status=0; \
	$(MAKE) --no-print-directory test-sqlite || status=1; \
	$(MAKE) --no-print-directory test-postgres || status=1; \
	exit $$status

test-sqlite: install-dev
	LINKTIME_TEST_BACKEND=sqlite $(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-postgres: install-dev
	LINKTIME_TEST_BACKEND=postgres TEST_DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports  # the layers and the import contracts of .importlinter
	$(PY) scripts/check_architecture.py  # no import cycle, no module over 600 lines, one htmx helper, registries

# The quick benchmarks, each bounded in time (about two minutes in all); bench/README.md has the full runs.
bench: install-dev
	$(PY) bench/booking_pages.py --seconds 3 --clients 1,8 --bookings-seconds 3
	$(PY) bench/calendar_slots.py --events 500 --requests 100
	$(PY) bench/soak.py --minutes 1 --sample-seconds 15 --tolerance-mib 64  # a minute shows the cache filling only

# Screenshots of the booking flow and the host's first pages at 375 px and 1280 px (not run by CI).
SCREENSHOTS_DIR ?= screenshots
screenshots: install-dev browser
	rm -rf $(SCREENSHOTS_DIR)
	SCREENSHOTS_DIR=$(SCREENSHOTS_DIR) $(PY) -m pytest tests/browser/screenshots.py
	@echo "Screenshots in $(SCREENSHOTS_DIR)/375 and $(SCREENSHOTS_DIR)/1280"

clean:
	rm -rf $(VENV) .pytest_cache
