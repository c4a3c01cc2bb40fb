#!/usr/bin/env bash
# The embedded default, end to end: local folder store + filesystem job queue, no servers.
# Trains and publishes the quick preset when the store has no model yet, then runs a training worker in the
# background and the API in the foreground (Ctrl-C stops both).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=${PORT:-8000}
export WASTESORT_API__ALLOW_OPEN_ADMIN=${WASTESORT_API__ALLOW_OPEN_ADMIN:-true}
mkdir -p var
current=$($BIN/python -c 'from wastesort.settings import get_settings; from wastesort.store import open_store; print(open_store(get_settings().store).current() or "")')
if [ -z "$current" ]; then
  echo "no model published yet: training the quick preset (about 10 min on 2 cores), then publishing it"
  $BIN/wastesort train --preset quick --out runs/quick-initial --publish
fi
$BIN/celery -A wastesort_trainer.celery_app worker --pool=solo --loglevel=INFO > var/worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT
echo "training worker running (log: var/worker.log); API on http://127.0.0.1:$PORT (docs: /docs, page: /)"
$BIN/uvicorn wastesort_api.main:create_app --factory --host 127.0.0.1 --port "$PORT"
