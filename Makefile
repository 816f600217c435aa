# Vigil: `make run` starts the whole platform; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := --quiet --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: run test lint check-deploy lock clean bench bench-quick screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.base-installed: requirements/base.txt | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) --require-virtualenv -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) --require-virtualenv -r requirements/dev.txt
	touch $@ $(VENV)/.base-installed

run: export DJANGO_DEBUG ?= true
run: $(VENV)/.base-installed
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	$(BIN)/python manage.py seed_demo
	@echo "Vigil: http://127.0.0.1:8000/admin/  (health: http://127.0.0.1:8000/health/live) — Ctrl-C stops web, worker and beat"
	exec $(BIN)/honcho start --procfile Procfile

test: $(VENV)/.dev-installed
	$(BIN)/pytest $(PYTEST_ARGS)

# Every benchmark under bench/ (bench/_*.py are helpers), then one summary table: figure, value, target,
# verdict. Each bench appends its headline figures to $(BENCH_REPORT) (bench/_report.py); bench/_table.py
# prints them. `make bench`: full sizes, every target judged (the lead's machine, not CI: minutes each).
# `make bench-quick`: small sizes, a few seconds each, figures printed but not judged; CI runs it so a
# bench that no longer runs fails the build. Both run every bench even after one fails, print the table,
# then fail if any bench did. Need DATABASE_URL (PostgreSQL) and REDIS_URL.
BENCH_REPORT ?= var/bench-report.jsonl
bench: BENCH_MODE :=
bench-quick: BENCH_MODE := --quick
bench bench-quick: $(VENV)/.dev-installed
	@mkdir -p $(dir $(BENCH_REPORT)); : > $(BENCH_REPORT); failed=""; began=$$(date +%s); \
	for bench in bench/[!_]*.py; do \
	  printf '\n== %s %s\n' "$$bench" "$(BENCH_MODE)"; start=$$(date +%s); \
	  VIGIL_BENCH_REPORT=$(BENCH_REPORT) $(BIN)/python "$$bench" $(BENCH_MODE) || failed="$$failed $$bench"; \
	  printf '== %s: %s s\n' "$$bench" "$$(( $$(date +%s) - start ))"; \
	done; printf '\n== every bench%s: %s s\n' "$(if $(BENCH_MODE), in quick mode)" "$$(( $$(date +%s) - began ))"; \
	$(BIN)/python bench/_table.py $(BENCH_REPORT) $(BENCH_MODE) || failed="$$failed bench/_table.py"; \
	if [ -n "$$failed" ]; then printf '\n== exited non-zero (an error, or a missed target in full mode):%s\n' "$$failed"; exit 1; fi

# Refresh the README's pictures in docs/screenshots/ (tests otherwise write them under var/).
screenshots: $(VENV)/.dev-installed
	VIGIL_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -m browser $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	env -u DATABASE_URL DJANGO_SETTINGS_MODULE=config.settings_test $(BIN)/python manage.py makemigrations --check --dry-run

# Production-like settings: debug off, real-looking secrets, HTTPS on.
check-deploy: $(VENV)/.base-installed
	DJANGO_DEBUG=false \
	DJANGO_SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	FIELD_ENCRYPTION_KEY="$$($(BIN)/python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
	AUDIT_SIGNING_KEY="$$($(BIN)/python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')" \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

# Re-pin the lock after editing requirements/*.in.
lock: $(VENV)/.dev-installed
	cd requirements && ../$(BIN)/pip-compile --quiet --strip-extras --output-file=base.txt base.in
	cd requirements && ../$(BIN)/pip-compile --quiet --strip-extras --output-file=dev.txt dev.in

clean:
	rm -rf $(VENV) var
