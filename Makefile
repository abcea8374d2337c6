# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test check lint unit js bench-media bench-chat bench-chat-manyrooms bench-chat-store-floor bench-chat-roomlist bench-scale bench-autoscale clean

NODE ?= node

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run  ## the whole system, one process, embedded backends
	$(BIN)/confab up $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint js  ## every check and every test
	$(BIN)/pytest -q -p no:cacheprovider

js:  ## the browser client's pure modules under node's test runner (about a second)
	$(NODE) --test tests/js/*.test.mjs

unit: $(VENV)/.installed-test
	$(BIN)/pytest -q tests/unit

check: lint js  ## the inner loop: lint, JS, unit and contract tests (no processes, browser or nginx)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/contract

bench-media: $(VENV)/.installed-test  ## Confab vs thumbor, side by side (slow)
	$(BIN)/python bench/media/run.py

bench-chat: $(VENV)/.installed-test  ## Confab vs python-socketio vs bare websockets (slow)
	$(BIN)/python bench/chat/run.py $(ARGS)

# The version before the event log (issue 14), built apart for side-by-side runs.
CURRENT_REV ?= 73fde5f
CURRENT := bench/.work/current-$(CURRENT_REV)

$(CURRENT)/.venv/bin/confab:
	rm -rf $(CURRENT) && mkdir -p $(CURRENT)
	git archive $(CURRENT_REV) | tar -x -C $(CURRENT)
	$(PYTHON) -m venv $(CURRENT)/.venv
	$(CURRENT)/.venv/bin/python -m pip install --quiet -e $(CURRENT)

bench-chat-manyrooms: $(VENV)/.installed-test $(CURRENT)/.venv/bin/confab  ## writes in 1,000 rooms, vs the current version (slow)
	$(BIN)/python bench/chat/manyrooms.py --current $(CURRENT)/.venv/bin/confab $(ARGS)

bench-chat-store-floor: $(VENV)/.installed-test  ## the many-rooms mix's storage alone, vs the bare driver
	$(BIN)/python bench/chat/store_floor.py --ceiling $(ARGS)

bench-chat-roomlist: $(VENV)/.installed-test  ## GET /api/rooms in 500 rooms, 1M events (slow)
	$(BIN)/python bench/chat/roomlist.py $(ARGS)

bench-scale: $(VENV)/.installed-test  ## one vs two chat nodes, one vs two workers (slow)
	$(BIN)/python bench/scale/run.py $(ARGS)

bench-autoscale: $(VENV)/.installed-test  ## a compressed day against an emulated HPA (10 min, root)
	$(BIN)/python bench/autoscale/run.py $(ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info
