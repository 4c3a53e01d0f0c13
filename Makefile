# The two commands the README promises: `make run` and `make test`. Both create .venv with
# the project installed on first use; `make test` also starts its own Redis (the embedded one).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

SOURCES := $(shell find webhook workers -name '*.py' -o -name py.typed) pyproject.toml

# Dependencies once (and again when pyproject.toml changes)...
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet '.[embedded,test]'
	touch $@

# ...and dlrhook itself as a real (non-editable) install whenever a source file changes, so the
# tests, mypy and `make run` use the installed package, exactly what a wheel holds.
$(BIN)/.built: $(BIN)/.installed $(SOURCES)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --force-reinstall .
	touch $@

run: $(BIN)/.built
	$(BIN)/dlrhook local

lint: $(BIN)/.built
	$(BIN)/ruff check webhook workers tests bench
	$(BIN)/ruff format --check webhook workers tests bench
	$(BIN)/mypy -p dlrhook -p bench

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .dlrhook .pytest_cache .mypy_cache .ruff_cache

# The performance table (README, "Performance"). Needs wrk, from Debian's packages.
bench: $(BIN)/.built
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run --only ingest,memory,dispatch,scaling,status,latency
