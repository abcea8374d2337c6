# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint unit bench-media bench-chat bench-scale bench-autoscale clean

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

test: lint  ## every check and every test
	$(BIN)/pytest -q -p no:cacheprovider

unit: $(VENV)/.installed-test
	$(BIN)/pytest -q tests/unit

bench-media: $(VENV)/.installed-test  ## Confab vs thumbor, side by side (slow)
	$(BIN)/python bench/media/run.py

bench-chat: $(VENV)/.installed-test  ## Confab vs python-socketio vs bare websockets (slow)
	$(BIN)/python bench/chat/run.py $(ARGS)

bench-scale: $(VENV)/.installed-test  ## one vs two chat nodes, one vs two workers (slow)
	$(BIN)/python bench/scale/run.py $(ARGS)

bench-autoscale: $(VENV)/.installed-test  ## a compressed day against an emulated HPA (10 min, root)
	$(BIN)/python bench/autoscale/run.py $(ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info
