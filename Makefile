# wastesort: `make run` (starter model if needed + worker + API, no servers needed), `make test` (full suite),
# `make test-fast` (unit tests only, under a minute).
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

IAC_VENV ?= .venv-iac

.PHONY: iac-tools drill capacity setup run serve worker starter train train-quick evaluate robustness search bench bench-serve soak sdk test test-fast lint clean api-install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Embedded default: local folder store, filesystem job queue (no Redis/S3/Docker). On an empty store it
# publishes the starter model (minutes), runs a worker and the API, and queues the default recipe as a job.
run: setup
	bash scripts/run.sh

serve: setup
	$(BIN)/uvicorn wastesort_api.main:create_app --factory --host 0.0.0.0 --port $(PORT)

worker: setup
	$(BIN)/celery -A wastesort_trainer.celery_app worker --pool=solo --loglevel=INFO

starter: setup
	$(BIN)/wastesort starter --publish

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

api-install: setup
	$(BIN)/python -m benchmarks.api_install --extras $${EXTRAS:-api} --report reports/api_install-$${EXTRAS:-api}.json

bench-serve: setup
	$(BIN)/python -m benchmarks.bench --report reports/bench_serve.json

# Offline checkers of deploy/ (cfn-lint, checkov, kubernetes-validate, hadolint, kubectl kustomize), own venv.
iac-tools:
	bash scripts/iac_tools.sh $(IAC_VENV)

test: setup iac-tools
	bash scripts/services.sh
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -q -m unit $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf runs var reports build .pytest_cache

# One replica's sustainable rate at p99 <= 150 ms, its cold start, and the autoscaling targets they give.
capacity: setup
	$(BIN)/python -m benchmarks.capacity --report reports/capacity.json

# N replicas behind nginx under load: publish, rollback, kill a replica; prints failed requests (target 0).
drill: setup
	$(BIN)/python -m benchmarks.drill --report reports/drill.json

soak: setup
	$(BIN)/python -m benchmarks.soak --minutes $${MINUTES:-10} $${HOSTILE:+--hostile} --report reports/soak.json
