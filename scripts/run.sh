#!/usr/bin/env bash
# The embedded default, end to end: local folder store + filesystem job queue, no servers.
# On an empty store: fits and publishes the starter model (frozen ImageNet features + a linear head, minutes),
# starts a training worker and the API, then queues the default recipe as a real job through /v1/retrain;
# the API hot-swaps to it when it passes the quality gate. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=${PORT:-8000}
URL="http://127.0.0.1:$PORT"
export WASTESORT_API__ALLOW_OPEN_ADMIN=${WASTESORT_API__ALLOW_OPEN_ADMIN:-true}
started=$(date +%s)
current=$($BIN/python -c 'from wastesort.settings import get_settings; from wastesort.store import open_store; print(open_store(get_settings().store).current() or "")')
fresh=""
if [ -z "$current" ]; then
  echo "no model published yet: fitting the starter model (frozen ImageNet features + a linear head, a few minutes)"
  $BIN/wastesort starter --publish
  fresh=1
fi
mkdir -p var
$BIN/celery -A wastesort_trainer.celery_app worker --pool=solo --loglevel=INFO > var/worker.log 2>&1 &
worker=$!
$BIN/uvicorn wastesort_api.main:create_app --factory --host 127.0.0.1 --port "$PORT" &
api=$!
trap 'kill $worker $api 2>/dev/null || true' EXIT INT TERM
until curl -fs "$URL/readyz" >/dev/null 2>&1; do
  kill -0 $api 2>/dev/null || { echo "the API exited; see the messages above"; exit 1; }
  sleep 0.5
done
echo "ready to predict $(( $(date +%s) - started )) s after start: $URL (page), $URL/docs (API); worker log var/worker.log"
if [ -n "$fresh" ]; then
  job=$(curl -fsS -X POST "$URL/v1/retrain" -H 'content-type: application/json' \
        -d '{"mode": "scratch", "preset": "default"}' | $BIN/python -c 'import json, sys; print(json.load(sys.stdin)["id"])')
  echo "queued the default recipe as job $job (about 40-75 min on 2 cores): follow it on $URL/?job=$job"
  echo "or GET $URL/v1/jobs/$job; the API switches to the new model by itself when it passes the quality gate"
fi
wait $api
