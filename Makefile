# tokenapp — `make run` to serve, `make test` to prove it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
export TOKENAPP_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test lint format dist clean

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

test: $(TEST_STAMP)
	$(BIN)/pytest -q -p no:cacheprovider
	@if [ -n "$$TOKENAPP_TEST_DATABASE_URL" ]; then \
		echo "== the whole suite again on PostgreSQL"; \
		TOKENAPP_TEST_BACKEND=postgresql $(BIN)/pytest -q -p no:cacheprovider; \
	else \
		echo "TOKENAPP_TEST_DATABASE_URL is unset: PostgreSQL run skipped"; \
	fi

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(TEST_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
