"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wastesort_api.deps import StateDep
from wastesort_api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="healthz", response_model=HealthOut)
async def healthz(state: StateDep) -> HealthOut:
    """The process is up (load balancers: restart when this fails)."""
    return _health(state, "ok")


@router.get("/readyz", operation_id="readyz", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def readyz(state: StateDep) -> JSONResponse:
    """A model is loaded (load balancers: route traffic only when this is 200)."""
    ready = state.runner.current is not None
    body = _health(state, "ok" if ready else "not_ready")
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def _health(state, status: str) -> HealthOut:
    runner = state.runner
    return HealthOut(status=status, model_version=runner.version, current=runner.target, stale=runner.stale_reason())


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
