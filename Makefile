# Two commands matter: `make serve` (embedded default) and `make test` (everything).
# Each creates or refreshes the virtual environment from pyproject.toml by itself.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv web system serve test lint typecheck unit kafka chaos bench sim clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The web page's SDKs (ably, @ably/vcdiff-decoder), served from node_modules: no CDN.
web/node_modules/.installed: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web: web/node_modules/.installed

# System packages the tests need: Java 17 and Maven (the real Kafka broker) and Debian's
# Chromium (the browser tests), openssl (the SASL_SSL test's certificates) and PostgreSQL
# (the history tests start a server from its programs, as an unprivileged user). Installed
# with apt when missing (as root, like CI).
system:
	@command -v java >/dev/null && command -v mvn >/dev/null || \
		{ apt-get update -q && apt-get install -y -q openjdk-17-jre-headless maven; }
	@command -v chromium >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium; }
	@command -v openssl >/dev/null || \
		{ apt-get update -q && apt-get install -y -q openssl; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ apt-get update -q && apt-get install -y -q postgresql; }

serve: $(STAMP) web
	$(PY) -m betting serve

lint: $(STAMP)
	$(VENV)/bin/ruff check betting tests bench
	$(VENV)/bin/ruff format --check betting tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: system lint typecheck web
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

kafka: $(STAMP)
	$(PY) -m betting.devtools.kafka_broker

# The chaos test at length: two serves on the real broker, SDK bettors on both, kill -9s and a
# broker kill (`make test` runs a three-minute variant). CHAOS_SEED=<n> replays a plan.
CHAOS_SECONDS ?= 600
CHAOS_KILLS ?= 25
CHAOS_PAUSES ?= 3
chaos: system $(STAMP)
	CHAOS_SECONDS=$(CHAOS_SECONDS) CHAOS_KILLS=$(CHAOS_KILLS) CHAOS_PAUSES=$(CHAOS_PAUSES) \
		$(PY) -m pytest tests/chaos -q -s -m chaos

# The deterministic simulator at length: the real engine core over a simulated log with
# crashes, moves, refetches and clock jumps (the default pytest run has 1,000 seeds).
# SIM_SEED=<n> starts elsewhere; a violation prints the command that replays it.
SIM_SEEDS ?= 20000
SIM_BETS ?= 1000
SIM_SEED ?= 0
sim: $(STAMP)
	$(PY) -m betting sim --seeds $(SIM_SEEDS) --bets $(SIM_BETS) --seed $(SIM_SEED)

bench: $(STAMP)
	$(PY) -m betting bench all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
