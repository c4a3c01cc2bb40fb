"""The job queue both services share: one Celery app factory, job records, cancel flags.

Production: Redis as broker and result backend (``WASTESORT_TRAINER__BROKER_URL=redis://...``).
Embedded default: Celery's filesystem transport + an SQLite result backend, so one machine with no
server runs the same code path. The API only ever calls ``send_task`` by name: it never imports the
trainer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from celery import Celery
from celery.result import AsyncResult
from kombu import Queue
from pydantic import BaseModel, Field, ValidationError, model_validator

from wastesort.recipe import PRESETS, TrainConfig
from wastesort.settings import Settings

TASK_RETRAIN = "wastesort.retrain"
QUEUE = "wastesort"
QUEUED = "QUEUED"


class RetrainRequest(BaseModel):
    """What a retrain job needs: ids and paths only, never image bytes."""

    # adapt: refit the current model's head for a site's labelled photos (minutes; see wastesort_trainer.adapt)
    mode: Literal["scratch", "finetune", "scratch_plus_new", "adapt"] = "scratch"
    new_data: str | None = None  # class/xxx.jpg folder (or the review queue's labelled export)
    preset: Literal["quick", "default", "plain", "tiny"] = "default"
    overrides: dict[str, Any] = Field(default_factory=dict)  # TrainConfig fields
    replay_ratio: float = Field(1.0, ge=0)  # finetune: base images per new image
    limit: int | None = Field(None, ge=1)  # cap images per split (smoke runs)
    force: bool = False  # publish as current even if worse than the current model
    gate_margin: float = Field(0.02, ge=0, le=1)  # TrashNet val may drop this much; site photos may not drop

    @model_validator(mode="after")
    def _overrides_fit_the_recipe(self) -> RetrainRequest:
        """Checked at submission: an unknown knob or a bad value used to crash the job on the worker."""
        unknown = sorted(set(self.overrides) - set(TrainConfig.model_fields))
        if unknown:
            raise ValueError(f"unknown overrides {unknown}; known: {', '.join(TrainConfig.model_fields)}")
        try:
            TrainConfig.model_validate({**PRESETS[self.preset], **self.overrides})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ValueError(f"overrides.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        return self


def make_celery(settings: Settings) -> Celery:
    t = settings.trainer
    app = Celery("wastesort")
    conf: dict[str, Any] = {
        "broker_url": t.broker_url,
        "result_backend": t.result_backend,
        "task_acks_late": True,  # a job whose worker dies is delivered again
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # long jobs: never hoard
        "worker_concurrency": t.concurrency,
        "task_track_started": True,
        "result_extended": True,
        "task_create_missing_queues": False,  # a typo in a queue name fails instead of piling up
        "task_queues": [Queue(QUEUE)],
        "task_default_queue": QUEUE,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    }
    if t.broker_url.startswith("filesystem://"):
        folder = Path(t.queue_dir) / "messages"
        (folder).mkdir(parents=True, exist_ok=True)
        (Path(t.queue_dir) / "processed").mkdir(parents=True, exist_ok=True)
        conf["broker_transport_options"] = {"data_folder_in": str(folder), "data_folder_out": str(folder),
                                            "processed_folder": str(Path(t.queue_dir) / "processed"),
                                            "control_folder": str(Path(t.queue_dir) / "control"),
                                            "store_processed": False}
    elif t.broker_url.startswith(("redis://", "rediss://")):
        # Redelivery of an unacked job happens after this long: it must exceed the longest training.
        conf["broker_transport_options"] = {"visibility_timeout": t.visibility_timeout_s}
        conf["result_backend_transport_options"] = {"visibility_timeout": t.visibility_timeout_s}
    if t.result_backend.startswith("db+sqlite:///"):
        Path(t.result_backend[len("db+sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    app.conf.update(conf)
    return app


MAX_DELIVERIES = 3  # a job delivered more often than this kills its worker (out of memory, say): fail it


class JobControl:
    """Per-job state beside the queue, on every broker (a Redis key, or a file next to the filesystem
    queue): cancel flags, a delivery count, and a lock so two deliveries of one job never run at once."""

    def __init__(self, settings: Settings):
        self.redis = None
        url = settings.trainer.broker_url
        if url.startswith(("redis://", "rediss://")):
            import redis

            self.redis = redis.Redis.from_url(url)
        self.folder = Path(settings.trainer.queue_dir)
        self.lock_ttl_s = settings.trainer.visibility_timeout_s

    def cancel(self, job_id: str) -> None:
        if self.redis is not None:
            self.redis.set(f"wastesort:cancel:{job_id}", 1, ex=7 * 24 * 3600)
        else:
            (self.folder / "cancel").mkdir(parents=True, exist_ok=True)
            (self.folder / "cancel" / job_id).touch()

    def is_cancelled(self, job_id: str) -> bool:
        if self.redis is not None:
            return bool(self.redis.exists(f"wastesort:cancel:{job_id}"))
        return (self.folder / "cancel" / job_id).exists()

    def count_delivery(self, job_id: str) -> int:
        """This delivery's number, 1 for the first."""
        if self.redis is not None:
            key = f"wastesort:deliveries:{job_id}"
            n = int(self.redis.incr(key))
            self.redis.expire(key, 7 * 24 * 3600)
            return n
        path = self.folder / "deliveries" / job_id
        path.parent.mkdir(parents=True, exist_ok=True)
        n = int(path.read_text() or 0) + 1 if path.is_file() else 1
        path.write_text(str(n))
        return n

    @contextlib.contextmanager
    def lock(self, job_id: str) -> Iterator[bool]:
        """Yields whether this process holds the job. The file lock dies with its process; the Redis key
        expires with the visibility timeout, when Redis would deliver the job again anyway."""
        if self.redis is not None:
            key = f"wastesort:lock:{job_id}"
            got = bool(self.redis.set(key, 1, nx=True, ex=self.lock_ttl_s))
            try:
                yield got
            finally:
                if got:
                    self.redis.delete(key)
            return
        path = self.folder / "locks" / job_id
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _journal(app: Celery) -> Path | None:
    """Folder of job requests kept by the embedded (filesystem) queue, which cannot redeliver by itself."""
    opts = app.conf.broker_transport_options or {}
    return Path(opts["data_folder_in"]).parent / "jobs" if "data_folder_in" in opts else None


def submit_retrain(app: Celery, request: RetrainRequest, job_id: str | None = None) -> str:
    """Record the job as QUEUED (so unknown ids can be told apart), then enqueue it by name."""
    job_id = job_id or uuid.uuid4().hex
    journal = _journal(app)
    if journal is not None:
        journal.mkdir(parents=True, exist_ok=True)
        (journal / f"{job_id}.json").write_text(request.model_dump_json())
    app.backend.store_result(job_id, {"request": request.model_dump()}, QUEUED)
    app.send_task(TASK_RETRAIN, kwargs={"request": request.model_dump()}, task_id=job_id, queue=QUEUE)
    return job_id


def requeue_orphans(app: Celery) -> list[str]:
    """Embedded queue, at worker start: send again every unfinished job whose message is gone.

    The filesystem transport deletes a message when a worker takes it, so a worker killed mid-job
    would lose it (Redis redelivers after the visibility timeout instead). The embedded default runs
    one worker, so at its start nothing is running and an unfinished job without a message is orphaned.
    """
    journal = _journal(app)
    if journal is None or not journal.is_dir():
        return []
    pending = " ".join(p.read_text(errors="ignore") for p in Path(app.conf.broker_transport_options[
        "data_folder_in"]).glob("*.msg"))
    resent = []
    for record in journal.glob("*.json"):
        job_id = record.stem
        state = AsyncResult(job_id, app=app).state
        if state in ("SUCCESS", "FAILURE", "REVOKED"):
            record.unlink(missing_ok=True)
        elif job_id not in pending:
            app.send_task(TASK_RETRAIN, kwargs={"request": json.loads(record.read_text())}, task_id=job_id,
                          queue=QUEUE)
            resent.append(job_id)
    return resent


def job_status(app: Celery, job_id: str) -> dict[str, Any] | None:
    """State, progress and result of a job; None when the id was never submitted."""
    res = AsyncResult(job_id, app=app)
    state = res.state
    if state == "PENDING":  # Celery's word for 'no record at all'
        return None
    info = res.info
    out: dict[str, Any] = {"id": job_id, "state": state, "progress": None, "result": None, "error": None}
    if state == "SUCCESS":
        out["result"] = info
    elif state in ("FAILURE", "REVOKED"):
        out["error"] = f"{type(info).__name__}: {info}" if isinstance(info, BaseException) else str(info)
    elif isinstance(info, dict):
        out["progress"] = info
    return out
