"""App factory: builds the replica's state in the lifespan (nothing loads at import) and wires routes.

Run: ``uvicorn wastesort_api.main:create_app --factory --host 0.0.0.0 --port 8000``
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from wastesort import WastesortError, __version__
from wastesort.queue import JobControl, make_celery
from wastesort.settings import Settings, get_settings
from wastesort.store import open_store
from wastesort_api import errors
from wastesort_api.batcher import Batcher
from wastesort_api.gate import RequestGate
from wastesort_api.metrics import Metrics
from wastesort_api.predictor import Predictor
from wastesort_api.review import ReviewQueue
from wastesort_api.routes import config, health, jobs, models, predict, review
from wastesort_api.runner import ModelRunner
from wastesort_api.state import AppState

log = logging.getLogger("wastesort_api")

# Label values stay bounded whatever clients send: made-up methods count as "other", unmatched paths as
# "unmatched" (a client once created a new metrics series per request with methods X1, X2, ...).
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# The seed's unversioned names, kept as aliases of the /v1 routes (hidden from the schema).
SEED_ALIASES = {"/predict", "/info", "/change", "/save_config", "/restore_config", "/refresh", "/retrain"}


def check_admin(settings: Settings) -> None:
    if settings.api.admin_token is None and not settings.api.allow_open_admin:
        raise WastesortError("refusing to start: set WASTESORT_API__ADMIN_TOKEN, or "
                             "WASTESORT_API__ALLOW_OPEN_ADMIN=true for a local machine only")


async def sync_model(state: AppState) -> None:
    """:meth:`ModelRunner.sync` for the watcher: a failed load keeps serving the old model (retried later)."""
    try:
        await asyncio.to_thread(state.runner.sync)
    except Exception:  # noqa: BLE001 - keep serving whatever happens to the store
        log.exception("model sync failed; still serving %s", state.runner.version)


async def watch_store(state: AppState) -> None:
    while True:
        await asyncio.sleep(state.settings.api.watch_interval_s)
        await sync_model(state)


def sdk_friendly(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema with uploads spelled the way SDK generators read them.

    OpenAPI 3.1 marks bytes with ``contentMediaType`` only; generators such as openapi-python-client
    look for ``format: binary`` to type a field as a file, and an optional upload list is better
    typed as a plain (not required) array than as ``array | null``.
    """

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and node.get("contentMediaType") == "application/octet-stream":
                node["format"] = "binary"
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    def openapi() -> dict[str, Any]:
        schema = build()
        for name, model in schema.get("components", {}).get("schemas", {}).items():
            for prop in model.get("properties", {}).values() if name.startswith("Body_") else ():
                options = prop.get("anyOf", [])
                if len(options) == 2 and {"type": "null"} in options:
                    prop.update(next(o for o in options if o != {"type": "null"}))
                    del prop["anyOf"]
        walk(schema)
        return schema

    return openapi


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    check_admin(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        api = settings.api
        for d in (api.samples_dir, api.config_dir, api.allowed_root):
            d.mkdir(parents=True, exist_ok=True)
        store = open_store(settings.store)
        metrics = Metrics()
        runner = ModelRunner(store, api.model_cache_dir, metrics=metrics, engine=api.engine, threads=api.threads)
        review = ReviewQueue(api.review_dir, max_items=api.review_max_items, max_bytes=api.review_max_bytes,
                             max_pixels=api.max_pixels,
                             on_drop=lambda reason, n: metrics.review_dropped.labels(reason=reason).inc(n))
        # the batcher reads the live config per batch, so /change applies to the next one
        batcher = Batcher(limits=lambda: (predictor.config.max_batch_size, predictor.config.max_wait_ms),
                          max_queue=api.max_queue, metrics=metrics)
        predictor = Predictor(runner=runner, batcher=batcher, metrics=metrics, review=review, config=api.runtime,
                              max_pixels=api.max_pixels, max_decoding=api.max_decoding)
        state = AppState(settings=settings, store=store, runner=runner, batcher=batcher, metrics=metrics,
                         predictor=predictor, review=review, celery=make_celery(settings),
                         jobs=JobControl(settings))
        app.state.ws = state
        state.batcher.start()
        # First sync before serving; then follow the pointer in the background.
        await sync_model(state)
        watcher = asyncio.create_task(watch_store(state), name="store-watch") if api.watch_interval_s > 0 else None
        yield
        if watcher:
            watcher.cancel()
        await state.batcher.stop()

    app = FastAPI(title="wastesort", version=__version__, lifespan=lifespan,
                  description="Waste photo classifier: predictions, configuration, model versions, retraining.")
    errors.install(app)
    if settings.api.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.api.cors_origins, allow_methods=["*"],
                           allow_headers=["*"])

    @app.middleware("http")
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", "unmatched")
        m: Metrics | None = getattr(request.app.state, "ws", None) and request.app.state.ws.metrics
        if m is not None:
            method = request.method if request.method in HTTP_METHODS else "other"
            m.requests.labels(endpoint=endpoint, method=method, status=str(response.status_code)).inc()
            m.request_seconds.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response

    for r in (predict.router, config.router, jobs.router, models.router, review.router):
        app.include_router(r, prefix="/v1")
        for route in r.routes:
            if route.path in SEED_ALIASES:
                app.add_api_route(route.path, route.endpoint, methods=list(route.methods),
                                  response_model=route.response_model, status_code=route.status_code,
                                  dependencies=route.dependencies, include_in_schema=False)
    app.include_router(health.router)
    static = Path(__file__).parent / "static"
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(static / "index.html")

    app.add_middleware(RequestGate, upload_bytes=settings.api.max_upload_bytes * settings.api.max_files + 64 * 1024,
                       admin_token=settings.api.admin_token, routes=app.router.routes)
    app.openapi = sdk_friendly(app.openapi)  # type: ignore[method-assign]
    return app
