"""Prediction: uploaded images, a folder under the allowed root, or the samples folder (the seed's default)."""

from __future__ import annotations

import asyncio
import html
import time
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse

from wastesort.confidence import FLAG_SIGNALS, confidence_signals, softmax
from wastesort.data import IMAGE_SUFFIXES
from wastesort.preprocess import ImageError, decode_image
from wastesort_api.batcher import Overloaded, Stale
from wastesort_api.deps import ModelDep, StateDep
from wastesort_api.errors import ERROR_RESPONSES, ApiError
from wastesort_api.paths import inside
from wastesort_api.runner import ServedModel
from wastesort_api.runtime_config import RuntimeConfig
from wastesort_api.schemas import ClassProbability, PredictErrorOut, PredictionOut, PredictResponse
from wastesort_api.state import AppState

router = APIRouter(tags=["predict"])

ALLOWED_TYPES = {"image/jpeg", "image/png", "image/webp", "image/bmp", "application/octet-stream", ""}


def _prepare(data: bytes, model: ServedModel, max_pixels: int) -> np.ndarray:
    return model.transform(decode_image(data, max_pixels=max_pixels))


async def _read_upload(f: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await f.read(1 << 16):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"{f.filename}: over the {limit} byte limit per file")
        chunks.append(chunk)
    return b"".join(chunks)


def uncertain_flag(calibration: dict | None, cfg: RuntimeConfig, signals: dict[str, float]) -> bool:
    """The model's own rule (signal + threshold chosen on shifted val at training) unless told 'manual'."""
    if cfg.uncertain_rule == "model" and calibration and calibration.get("signal") in FLAG_SIGNALS:
        return signals[calibration["signal"]] < float(calibration["threshold"])
    return signals["max_prob"] < cfg.uncertain_threshold or signals["margin"] < cfg.uncertain_margin


async def _predict_one(state: AppState, model: ServedModel, name: str, data: bytes, x: np.ndarray,
                       started: float) -> PredictionOut:
    try:
        logits = await state.batcher.submit(x, model)
    except Overloaded as exc:
        raise ApiError(503, "overloaded", f"server busy: {exc}", headers={"Retry-After": "1"}) from exc
    except Stale as exc:
        raise ApiError(504, "timeout", str(exc)) from exc
    cfg = state.config
    probs = softmax(logits)
    order = np.argsort(-probs)
    labels = model.card.label_names
    signals = {k: float(v[0]) for k, v in confidence_signals(logits).items()}
    conf, margin = signals["max_prob"], signals["margin"]
    uncertain = uncertain_flag(model.card.metrics.get("uncertainty"), cfg, signals)
    label = labels[order[0]]
    state.metrics.predictions.labels(label=label).inc()
    review_id = None
    if uncertain:
        state.metrics.uncertain.inc()
        if cfg.review_enabled:
            review_id = await asyncio.to_thread(
                state.review.add, data, Path(name).suffix.lower() or ".jpg",
                {"filename": name, "label": label, "confidence": conf, "margin": margin,
                 "model_version": model.version, "probabilities": dict(zip(labels, map(float, probs), strict=True))})
    return PredictionOut(
        filename=name, label=label, confidence=conf, margin=margin, uncertain=uncertain,
        top_k=[ClassProbability(label=labels[i], probability=float(probs[i])) for i in order[:cfg.top_k]],
        model_version=model.version, latency_ms=round((time.perf_counter() - started) * 1000, 2),
        review_id=review_id)


def _folder_images(folder: Path, limit: int) -> list[Path]:
    if not folder.is_dir():
        raise ApiError(404, "not_found", "folder not found under the allowed root")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ApiError(404, "not_found", "no images in that folder")
    return files[:limit]


def render_html(resp: PredictResponse) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(p.filename)}</td><td><b>{html.escape(p.label)}</b>"
        f"{' <em>(unsure)</em>' if p.uncertain else ''}</td><td>"
        + ", ".join(f"{html.escape(c.label)} {c.probability:.1%}" for c in p.top_k)
        + "</td></tr>" for p in resp.predictions)
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>wastesort predictions</title>"
            f"<h1>Predictions (model {html.escape(resp.model_version)})</h1><table border=1>"
            f"<tr><th>file</th><th>class</th><th>top-k</th></tr>{rows}</table></html>")


@router.post("/predict", operation_id="predict", response_model=PredictResponse, responses={
    **ERROR_RESPONSES, 200: {"content": {"text/html": {}}, "description": "JSON, or HTML when asked"}})
async def predict(
    request: Request, state: StateDep, model: ModelDep,
    files: Annotated[list[UploadFile] | None, File(description="one or more images")] = None,
    folder: Annotated[str | None, Query(description="folder relative to the allowed root")] = None,
    format: Annotated[Literal["json", "html"] | None, Query(description="force the response format")] = None,
) -> PredictResponse | HTMLResponse:
    """Classify images. With neither files nor folder, classifies the samples folder (see /refresh)."""
    api = state.settings.api
    inputs: list[tuple[str, bytes]] = []
    if files:
        if folder:
            raise ApiError(400, "bad_request", "send files or folder, not both")
        if len(files) > api.max_files:
            raise ApiError(413, "too_many_files", f"{len(files)} files; at most {api.max_files} per request")
        for f in files:
            if (f.content_type or "").split(";")[0].strip() not in ALLOWED_TYPES:
                raise ApiError(415, "unsupported_media_type", f"{f.filename}: content type {f.content_type} "
                               "is not an image type")
            inputs.append((f.filename or "upload", await _read_upload(f, api.max_upload_bytes)))
    else:
        base = inside(api.allowed_root, folder, what="folder") if folder else api.samples_dir
        paths = await asyncio.to_thread(_folder_images, base, api.max_files)
        inputs = [(p.name, await asyncio.to_thread(p.read_bytes)) for p in paths]

    # Decode everything first (off the event loop): one bad file refuses the request and changes nothing.
    started = time.perf_counter()
    prepared = await asyncio.gather(*(asyncio.to_thread(_prepare, d, model, api.max_pixels) for _, d in inputs),
                                    return_exceptions=True)
    errors = [PredictErrorOut(filename=n, code="bad_image", message=str(r))
              for (n, _), r in zip(inputs, prepared, strict=True) if isinstance(r, ImageError)]
    if errors:
        raise ApiError(400, "bad_image", "; ".join(f"{e.filename}: {e.message}" for e in errors),
                       [e.model_dump() for e in errors])
    for r in prepared:
        if isinstance(r, BaseException):
            raise r
    preds = await asyncio.gather(*(_predict_one(state, model, n, d, x, started)
                                   for (n, d), x in zip(inputs, prepared, strict=True)))
    resp = PredictResponse(predictions=list(preds), model_version=model.version)
    wants_html = format == "html" or (format is None and "text/html" in request.headers.get("accept", "")
                                      and "application/json" not in request.headers.get("accept", ""))
    return HTMLResponse(render_html(resp)) if wants_html else resp
