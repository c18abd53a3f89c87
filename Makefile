# Everything starts from python3 and make: the first target that needs it creates .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint docs docs-build unit bench chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## run: the dev server (persisted under .temporal/), a worker with the examples, and a demo.
## DEV_PORT=7300 when another server holds 7233 (the web UI and metrics ports move along).
DEV_PORT ?= 7233
run: $(STAMP)
	$(PY) -m examples.demo --port $(DEV_PORT)

## test: lint, type-check, the docs build and the whole test suite
test: lint docs-build $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## docs: serve the documentation site (mkdocs.yml, docs/) at http://127.0.0.1:8000, rebuilt on save
# NO_MKDOCS_2_WARNING: mkdocs-material prints a banner about its successor on every build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

## docs-build: the site into site/; --strict fails on a broken link or a stale API reference
docs-build: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

unit: $(STAMP)
	$(PY) -m pytest tests/unit

## bench: the library against hand-written temporalio baselines (not part of test); bench/results.json
bench: $(STAMP)
	$(PY) -m bench

## chaos: the fault-injection run of tests/chaos for CHAOS_MINUTES (default 10; not part of test)
CHAOS_MINUTES ?= 10
chaos: $(STAMP)
	$(PY) -m tests.chaos --minutes $(CHAOS_MINUTES) $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info site
