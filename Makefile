# Two commands do everything: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
UPTAKE := $(PY) app.py
STAMP := $(VENV)/.installed

.PHONY: run test bench lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

## run: build the demo organisation (first time only) and serve the dashboard on :8050
run: $(STAMP)
	$(UPTAKE) init
	$(UPTAKE) demo --if-empty
	$(UPTAKE) refresh
	$(UPTAKE) serve

## test: the whole suite (SQLite always; PostgreSQL and Chromium when available, required in CI)
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup

## bench: ingest and metrics benchmarks at 6,800 and 100,000 members (results in benchmarks/results/)
bench: $(STAMP)
	$(PY) -m benchmarks.run

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

clean:
	rm -rf $(VENV) data/uptake.db* data/demo
