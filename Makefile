# physflow: `make demo` runs the main job on embedded defaults, `make test` runs the tests.
# Each creates .venv and installs the project when needed.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.physflow-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	-$(BIN)/physflow weights install-defaults --optional
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/physflow demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not gpu" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check physflow flows stages models data_catalog tests benchmarks setup.py

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf physflow-data .pytest_cache
