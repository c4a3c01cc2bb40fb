"""Retraining jobs on the training worker: enqueue, poll, cancel. The API never imports the trainer."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from wastesort.queue import RetrainRequest, job_status, submit_retrain
from wastesort_api.deps import AdminDep, StateDep
from wastesort_api.errors import ERROR_RESPONSES, ApiError
from wastesort_api.paths import inside
from wastesort_api.schemas import JobOut, RetrainIn

router = APIRouter(tags=["jobs"], responses=ERROR_RESPONSES)


@router.post("/retrain", operation_id="retrain", status_code=202, response_model=JobOut, dependencies=[AdminDep])
async def retrain(body: RetrainIn, state: StateDep) -> JSONResponse:
    """Queue a retraining job (scratch | finetune | scratch_plus_new | adapt) and return its id at once."""
    new_data = None
    if body.use_review and body.folder:
        raise ApiError(400, "bad_request", "give folder or use_review, not both")
    if body.use_review:
        if state.review.labelled_count() == 0:
            raise ApiError(400, "no_data", "the review queue has no labelled images yet")
        new_data = str(state.review.labelled)
    elif body.folder:
        folder = inside(state.settings.api.allowed_root, body.folder, what="folder")
        if not folder.is_dir():
            raise ApiError(404, "not_found", "new-data folder not found under the allowed root")
        new_data = str(folder)
    if body.mode != "scratch" and new_data is None:
        raise ApiError(400, "no_data", f"mode {body.mode} needs new data: folder=... or use_review=true")
    req = RetrainRequest(**body.model_dump(include=set(RetrainRequest.model_fields)) | {"new_data": new_data})
    try:
        job_id = await asyncio.to_thread(submit_retrain, state.celery, req)
    except Exception as exc:  # broker down: say so instead of a bare 500
        raise ApiError(503, "queue_unavailable", f"job queue unreachable: {exc.__class__.__name__}") from exc
    out = JobOut(id=job_id, state="QUEUED")
    return JSONResponse(out.model_dump(), status_code=202, headers={"Location": f"/v1/jobs/{job_id}"})


@router.get("/jobs/{job_id}", operation_id="getJob", response_model=JobOut)
async def get_job(job_id: str, state: StateDep) -> JobOut:
    """State (QUEUED, STARTED, PROGRESS, SUCCESS, FAILURE), progress (epoch, metrics) and result."""
    status = await asyncio.to_thread(job_status, state.celery, job_id)
    if status is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return JobOut(**status)


@router.post("/jobs/{job_id}/cancel", operation_id="cancelJob", response_model=JobOut, dependencies=[AdminDep])
async def cancel_job(job_id: str, state: StateDep) -> JobOut:
    """Ask the job to stop; it stops between training steps and publishes nothing."""
    status = await asyncio.to_thread(job_status, state.celery, job_id)
    if status is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    await asyncio.to_thread(state.jobs.cancel, job_id)
    return JobOut(**status)
