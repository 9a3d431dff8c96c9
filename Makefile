# Set-up and the two README commands. `make demo` and `make test` each create .venv and install
# gapkit with its dev extras on first use (Python 3.10+; torch comes from pip).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.gapkit-installed

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

.PHONY: install demo test lint figures bench
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gapkit measure

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=10

lint: $(STAMP)
	$(BIN)/ruff check gapkit tests analyses benchmarks
	$(BIN)/ruff format --check gapkit tests analyses benchmarks
