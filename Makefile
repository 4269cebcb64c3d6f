# ceasewatch — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo-output

.PHONY: setup demo test lint typecheck unit bench clean browser postgis postgis-stop
PG_DIR ?= $(CURDIR)/.pg-test

$(STAMP): pyproject.toml web/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,browser]'
	# the dashboard's MapLibre GL comes from npm at set-up: no CDN at run time
	if command -v npm >/dev/null; then \
	  npm ci --prefix web --no-audit --no-fund --loglevel=error && npm run build --prefix web; \
	else echo "npm not found: the dashboard's assets are not built (the API still works)"; fi
	touch $(STAMP)

setup: $(STAMP)

# Debian's chromium drives the dashboard's browser tests (Playwright's own browser
# download is not used); installed when missing, as root or with sudo
browser:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null ) \
	    || echo "could not install chromium: the browser tests will be skipped"; \
	fi

demo: setup
	$(BIN)/ceasewatch demo --out $(DEMO_DIR) --store $(DEMO_DIR)/ceasewatch.duckdb

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

# a throw-away PostgreSQL + PostGIS on loopback (Debian packages installed when missing);
# prints the `export CEASEWATCH_TEST_PG=...` line to use it
postgis:
	scripts/pg-test-server start $(PG_DIR)

postgis-stop:
	scripts/pg-test-server stop $(PG_DIR)

# the suite runs on both stores: a PostGIS server is started for it and stopped after
unit: setup
	@if pg=$$(scripts/pg-test-server start); then eval "$$pg"; export CEASEWATCH_TEST_PG CEASEWATCH_TEST_PG_DIR; \
	  trap 'scripts/pg-test-server stop "$$CEASEWATCH_TEST_PG_DIR"' EXIT; \
	else echo "WARNING: no PostgreSQL/PostGIS server could be started: the PostGIS store tests will be skipped"; fi; \
	rc=0; $(BIN)/python -m pytest -q -p no:cacheprovider || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test: browser lint typecheck unit

bench: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	# sizes that finish in a few minutes here; each script takes larger ones (see --help)
	cd benchmarks && ../$(BIN)/python bench_ingest.py --rows 200000
	cd benchmarks && ../$(BIN)/python bench_zones.py --events 1000000
	cd benchmarks && ../$(BIN)/python bench_corroborate.py --events 100000
	cd benchmarks && ../$(BIN)/python bench_daily_cycle.py --events 10000 --history-events 10000
	cd benchmarks && ../$(BIN)/python bench_cli_firms.py --rows 100000
	cd benchmarks && ../$(BIN)/python bench_fires.py
	cd benchmarks && ../$(BIN)/python bench_api.py --seconds 10
	cd benchmarks && ../$(BIN)/python bench_dask.py --events 4000000 --rows-per-file 500000

clean:
	rm -rf $(VENV) $(DEMO_DIR) .mypy_cache .ruff_cache .pytest_cache
