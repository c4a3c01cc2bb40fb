"""Thin Celery wrappers: ids and paths in, ``retrain.run_retrain`` does the work."""

from __future__ import annotations

from typing import Any

from wastesort.queue import TASK_RETRAIN, CancelFlags, RetrainRequest
from wastesort.settings import get_settings
from wastesort.store import StoreError
from wastesort_trainer.celery_app import app
from wastesort_trainer.retrain import run_retrain
from wastesort_trainer.train import Cancelled


@app.task(name=TASK_RETRAIN, bind=True, acks_late=True, autoretry_for=(StoreError,), retry_backoff=True,
          max_retries=5)
def retrain(self, request: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    flags = CancelFlags(settings)
    job_id = self.request.id
    if flags.is_set(job_id):
        return {"cancelled": True, "version": None, "promoted": False}

    def progress(meta: dict[str, Any]) -> None:
        self.update_state(state="PROGRESS", meta=meta)

    try:
        return run_retrain(RetrainRequest(**request), job_id=job_id, settings=settings, progress=progress,
                           should_stop=lambda: flags.is_set(job_id))
    except Cancelled:
        return {"cancelled": True, "version": None, "promoted": False}
