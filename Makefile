# wastesort: `make run` (train if needed + serve, no servers needed), `make test` (full suite).
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: setup run serve worker train train-quick evaluate robustness search bench bench-serve soak sdk test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Embedded default: local folder store, filesystem job queue (no Redis/S3/Docker). Trains the quick
# preset first when the store has no model yet, then runs a worker in the background and the API.
run: setup
	bash scripts/run.sh

serve: setup
	$(BIN)/uvicorn wastesort_api.main:create_app --factory --host 0.0.0.0 --port $(PORT)

worker: setup
	$(BIN)/celery -A wastesort_trainer.celery_app worker --pool=solo --loglevel=INFO

train: setup
	$(BIN)/wastesort train --preset default --out runs/default --publish

train-quick: setup
	$(BIN)/wastesort train --preset quick --out runs/quick --publish

evaluate: setup
	$(BIN)/wastesort evaluate $${MODEL:-runs/default} --report reports/evaluate.json

# Off the white board: pasted backgrounds + capture shifts on the test split (several models side by side).
robustness: setup
	$(BIN)/wastesort robustness $${MODELS:-runs/default} --report reports/robustness.json

# A typed Python client generated from the committed contract (other languages: see README).
sdk: setup
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/openapi-python-client generate --path openapi.json \
		--output-path build/wastesort_client --meta none --overwrite

search: setup
	$(BIN)/wastesort search --mode $${MODE:-grid} --folds $${FOLDS:-0}

bench: bench-serve

bench-serve: setup
	$(BIN)/python -m benchmarks.bench --report reports/bench_serve.json

test: setup
	bash scripts/services.sh
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf runs var reports build .pytest_cache

soak: setup
	$(BIN)/python -m benchmarks.soak --minutes $${MINUTES:-10} --report reports/soak.json
