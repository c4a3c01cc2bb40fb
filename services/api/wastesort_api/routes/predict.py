"""Prediction: uploaded images, a folder under the allowed root, or the samples folder (the seed's default)."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse

from wastesort.data import IMAGE_SUFFIXES
from wastesort_api.deps import StateDep
from wastesort_api.errors import ERROR_RESPONSES, ApiError, ErrorOut
from wastesort_api.paths import inside
from wastesort_api.predictor import BadImages, NoModel, Overloaded, Stale
from wastesort_api.schemas import PredictErrorOut, PredictResponse

router = APIRouter(tags=["predict"])

ALLOWED_TYPES = {"image/jpeg", "image/png", "image/webp", "image/bmp", "application/octet-stream", ""}


async def _read_upload(f: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await f.read(1 << 16):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"{f.filename}: over the {limit} byte limit per file")
        chunks.append(chunk)
    return b"".join(chunks)


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
    **ERROR_RESPONSES, 200: {"content": {"text/html": {}}, "description": "JSON, or HTML when asked"},
    415: {"model": ErrorOut, "description": "an image format or content type that is not accepted"},
    504: {"model": ErrorOut, "description": "waited too long for the model"}})
async def predict(
    request: Request, state: StateDep,
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

    try:
        version, preds = await state.predictor.predict(inputs)
    except NoModel as exc:
        raise ApiError(503, "no_model", str(exc), headers={"Retry-After": "5"}) from exc
    except BadImages as exc:
        code = "unsupported_media_type" if exc.unsupported else "bad_image"
        detail = [PredictErrorOut(filename=n, code=code, message=m).model_dump() for n, m in exc.errors]
        raise ApiError(415 if exc.unsupported else 400, code, str(exc), detail) from exc
    except Overloaded as exc:
        raise ApiError(503, "overloaded", f"server busy: {exc}", headers={"Retry-After": "1"}) from exc
    except Stale as exc:
        raise ApiError(504, "timeout", str(exc)) from exc
    resp = PredictResponse(predictions=preds, model_version=version)
    wants_html = format == "html" or (format is None and "text/html" in request.headers.get("accept", "")
                                      and "application/json" not in request.headers.get("accept", ""))
    return HTMLResponse(render_html(resp)) if wants_html else resp
