# tokenapp — `make run` to serve, `make test` to prove it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
export TOKENAPP_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test lint format dist dist-test clean chromium nginx caddy axe oidc-provider fuzz fuzz-ci bench stress wrk

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg
	$(BIN)/pip install --quiet -e '.[postgres]'
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[postgres,test]'
	touch $@

run: $(STAMP)
	$(BIN)/tokenapp init
	$(BIN)/tokenapp serve --bind 127.0.0.1:8000

# The browser tests drive Debian's Chromium; install it when missing (never `playwright install`).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: browser tests will be skipped"; }

# axe-core (npm, under the machine's Node) checks every page state of the browser journeys.
AXE := $(VENV)/node/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE):
	@command -v npm >/dev/null 2>&1 || { \
		echo "Installing Debian's npm for axe-core"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	npm install --silent --no-audit --no-fund --no-save --prefix $(VENV)/node axe-core@4

# The HTTPS tests run deploy/nginx.conf in a real nginx (Debian's nginx-light), under their
# own prefix: nothing in /etc/nginx, /var/log/nginx or /run is used or started.
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
		echo "Installing Debian's nginx-light for the HTTPS tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null) \
		|| echo "nginx could not be installed: the nginx tests will be skipped"; }

# The forward-auth tests run deploy/Caddyfile.forward-auth in a real Caddy (Debian's caddy),
# admin endpoint off, HOME and data under a temporary folder.
caddy:
	@command -v caddy >/dev/null 2>&1 || { \
		echo "Installing Debian's caddy for the forward-auth tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy >/dev/null) \
		|| echo "caddy could not be installed: the Caddy tests will be skipped"; }

# The single sign-on tests run panva's oidc-provider (OpenID certified) under Node, installed
# in .venv/node-oidc: never globally, and apart from axe's .venv/node, so that neither npm
# install prunes the other. Without npm those tests are skipped.
OIDC_PROVIDER := $(VENV)/node-oidc/node_modules/oidc-provider/package.json
oidc-provider: $(OIDC_PROVIDER)
$(OIDC_PROVIDER):
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: the SSO tests will be skipped"; exit 0; }; \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/node-oidc oidc-provider@8.8.1

test: $(TEST_STAMP) chromium nginx caddy axe oidc-provider
	$(BIN)/pytest -p no:cacheprovider
	@if [ -n "$$TOKENAPP_TEST_DATABASE_URL" ]; then \
		echo "== the suite again on PostgreSQL, less the tests marked backend_independent"; \
		TOKENAPP_TEST_BACKEND=postgresql $(BIN)/pytest -p no:cacheprovider; \
	else \
		echo "TOKENAPP_TEST_DATABASE_URL is unset: PostgreSQL run skipped"; \
	fi

# One self-contained file: the package, its templates, static files, migrations,
# scope catalogue and dependencies (compiled wheels for this Python and platform).
# Run it with `python3 dist/tokenapp.pyz serve`; tests/test_dist.py uses the same command.
dist: $(TEST_STAMP)
	rm -rf build
	mkdir -p dist
	$(BIN)/shiv --compressed -e tokenapp.cli:main -o dist/tokenapp.pyz.tmp '.[postgres]'
	mv dist/tokenapp.pyz.tmp dist/tokenapp.pyz
	@ls -l dist/tokenapp.pyz

dist-test: dist
	$(BIN)/pytest -q -p no:cacheprovider tests/test_dist.py

# schemathesis against gunicorn with every default check (fuzz/run.sh: EXAMPLES [MAX_SECONDS]).
fuzz: $(TEST_STAMP)
	fuzz/run.sh 100

# The bounded run for .ci/run: fewer examples, a 120 s budget. schemathesis spends the
# whole budget (fuzzing and stateful repeat until it is gone); every operation passes
# the coverage and fuzzing phases well within it.
fuzz-ci: $(TEST_STAMP)
	FUZZ_SEED=$${FUZZ_SEED:-3054} fuzz/run.sh 20 120

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(TEST_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# make bench: tokenapp against a hello-world Flask route, interleaved (bench/run.py), on
# SQLite and on the PostgreSQL server TOKENAPP_BENCH_DATABASE_URL names (default
# postgresql://postgres@127.0.0.1:5432/; empty or unreachable: that leg is skipped, said so).
BENCH_SIZES ?= 1000,1000000
BENCH_DURATION ?= 4
BENCH_ROUNDS ?= 3
BENCH_INSTRUCTIONS ?= 100
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "Installing Debian's wrk for the benchmark"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

bench: $(STAMP) wrk
	$(BIN)/python -m bench.run --sizes $(BENCH_SIZES) --duration $(BENCH_DURATION) --rounds $(BENCH_ROUNDS) \
		--instructions $(BENCH_INSTRUCTIONS)

# make stress: 16 clients against 2 gunicorn workers, then kill -9 mid-writes (stress/run.py).
STRESS_SECONDS ?= 60
stress: $(STAMP)
	$(BIN)/python -m stress.run --seconds $(STRESS_SECONDS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
