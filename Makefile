# chatsite: `make run` starts a local server, `make test` runs the test suite.
# Both create .venv and install requirements.txt first (make test: requirements-dev.txt too), when needed.

# python3.11 if installed, else python3 (3.10 or newer). Override: make run PYTHON=python3.12
PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install: pip runs again only when a requirements file is newer.
STAMP := $(VENV)/.requirements-installed
DEV_STAMP := $(VENV)/.requirements-dev-installed

HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
JS_TESTS ?= chat/tests/js/
SQLITE_TESTS ?= chat/tests/test_services_messages.py chat/tests/test_services_rooms.py chat/tests/test_services_members.py chat/tests/test_services_attachments.py chat/tests/test_services_notifications.py chat/tests/test_events.py chat/tests/test_architecture.py imports/tests/test_slack_import.py
SEED_ARGS ?=

.PHONY: help venv dev run test test-js test-sqlite bench overload migrate seed collectstatic clean

help:
	@echo "make run     set up .venv, migrate, seed demo users, collect static files, serve on http://$(HOST):$(PORT)/ (HOST=… PORT=… to change)"
	@echo "make test    set up .venv and run the test suite (PYTEST_ARGS='-k name' to select)"
	@echo "make bench   the real-time benchmark on PostgreSQL and Redis (about 10 minutes; docs/performance.md)"
	@echo "make overload  twice the load make bench holds, shedding on and off (about 12 minutes)"
	@echo "make migrate apply database migrations"
	@echo "make seed    create the demo users and rooms (SEED_ARGS=--reset-passwords prints new passwords)"
	@echo "make soak    the chaos soak (docs/reliability.md): a deployment of its own broken on purpose for 10 minutes"
	@echo "make clean   remove .venv, collected static files and caches (keeps the database and secrets)"

# Local use runs with DEBUG on unless DJANGO_DEBUG is already set.
run migrate seed collectstatic: export DJANGO_DEBUG ?= 1

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 (apt install python3.11 python3.11-venv) or pass PYTHON=..."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "$(PYTHON) is $$($(PYTHON) --version 2>&1); chatsite needs Python 3.10 or newer (3.11 recommended)"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create $(VENV): on Debian/Ubuntu install the venv package (apt install python3.11-venv or python3-venv)"; exit 1; }

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

# The test tools (pytest, Playwright, …): only for make test, bench, overload and soak.
$(DEV_STAMP): requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP) $(DEV_STAMP)

venv: $(STAMP)

dev: $(DEV_STAMP)

migrate: venv
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo --site-url http://$(HOST):$(PORT)/ $(SEED_ARGS)

collectstatic: venv
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

# The notification worker runs in the background beside daphne and is stopped
# (SIGTERM, then waited for) when daphne exits, however it exits.
run: seed collectstatic
	@echo "Serving chatsite on http://$(HOST):$(PORT)/ with the notification worker beside it (Ctrl-C stops both)"
	@$(BIN)/python manage.py notification_worker & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	trap 'exit 130' INT TERM; \
	$(BIN)/daphne -b $(HOST) -p $(PORT) chatsite.asgi:application

# The layering contracts, the suite, the browser client's unit tests, and the
# message write path once more on SQLite (the suite itself runs on whatever
# DATABASE_URL says: PostgreSQL in CI).
test: dev
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-js test-sqlite

test-js:
	@if command -v node >/dev/null 2>&1; then node --test $(JS_TESTS); \
	elif [ -n "$$CI" ]; then echo "node not found: the browser client's unit tests need Node.js 20"; exit 1; \
	else echo "SKIPPED the browser client's unit tests: node not found (apt install nodejs)"; fi

test-sqlite: dev
	env -u DATABASE_URL -u DATABASE_TEST_NAME CI= $(BIN)/pytest -q -p no:cacheprovider $(SQLITE_TESTS)

# Needs PostgreSQL and Redis (DATABASE_URL: a server to create chatsite_bench on;
# BENCH_REDIS_URL, default redis://127.0.0.1:6379/7, is flushed). BENCH_ARGS=--help lists the options;
# BENCH_ARGS="--only storm" runs only the reconnect storm, "--only sio" only the python-socketio peer.
BENCH_ARGS ?=
bench: dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Twice the rate make bench holds, for 60 s, with load shedding on and off (about
# 12 minutes; docs/performance.md). OVERLOAD_ARGS=--help lists the options.
OVERLOAD_ARGS ?=
overload: dev
	$(BIN)/python bench/overload.py $(OVERLOAD_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# The chaos soak (docs/reliability.md): its own PostgreSQL, Redis, two daphnes
# behind nginx and the notification worker, broken on purpose while ~200
# clients chat; 10 minutes by default. SOAK_ARGS="--seconds 600 --json soak.json --markdown soak.md"
SOAK_ARGS ?=
.PHONY: soak
soak: dev
	$(BIN)/python -m soak.run $(SOAK_ARGS)
