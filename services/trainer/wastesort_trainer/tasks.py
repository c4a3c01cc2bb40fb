"""Thin Celery wrappers: ids and paths in, ``retrain.run_retrain`` does the work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery.exceptions import Ignore

from wastesort import WastesortError
from wastesort.queue import MAX_DELIVERIES, TASK_RETRAIN, JobControl, RetrainRequest
from wastesort.settings import get_settings
from wastesort.store import StoreError
from wastesort_trainer.celery_app import app
from wastesort_trainer.retrain import run_retrain
from wastesort_trainer.train import Cancelled


class PoisonJob(WastesortError):
    """Delivered more than MAX_DELIVERIES times: each try killed its worker."""


def guarded_retrain(request: dict[str, Any], *, job_id: str, control: JobControl,
                    progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """One delivery of a job: fail a poison job, leave a duplicate to the worker already running it (Celery's
    Ignore: no state change), honour cancellation before, during and after training."""
    if control.is_cancelled(job_id):
        return {"cancelled": True, "version": None, "promoted": False}
    n = control.count_delivery(job_id)
    if n > MAX_DELIVERIES:
        raise PoisonJob(f"job delivered {n} times: each try ended its worker (out of memory?); not tried again")
    with control.lock(job_id) as mine:
        if not mine:  # the same job is running on another worker right now
            raise Ignore()
        try:
            return run_retrain(RetrainRequest(**request), job_id=job_id, settings=get_settings(), progress=progress,
                               should_stop=lambda: control.is_cancelled(job_id))
        except Cancelled:
            return {"cancelled": True, "version": None, "promoted": False}


@app.task(name=TASK_RETRAIN, bind=True, acks_late=True, autoretry_for=(StoreError,), retry_backoff=True,
          max_retries=5)
def retrain(self, request: dict[str, Any]) -> dict[str, Any]:
    def progress(meta: dict[str, Any]) -> None:
        self.update_state(state="PROGRESS", meta=meta)

    return guarded_retrain(request, job_id=self.request.id, control=JobControl(get_settings()), progress=progress)
