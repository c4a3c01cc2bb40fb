"""Review queue: the uncertain predictions, most uncertain first; a label turns one into training data."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from wastesort_api.deps import AdminDep, StateDep
from wastesort_api.errors import ERROR_RESPONSES, ApiError
from wastesort_api.schemas import LabelIn, LabelOut, ReviewItemOut, ReviewListOut

router = APIRouter(prefix="/review", tags=["review"], responses=ERROR_RESPONSES)


# The queue holds other clients' photos: listing and images need the admin token, and an image is served
# as what it is (a JPEG we encoded), never sniffed or run as a page.
IMAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                 "Cache-Control": "private, no-store"}


@router.get("", operation_id="listReview", response_model=ReviewListOut, dependencies=[AdminDep])
async def list_review(state: StateDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> ReviewListOut:
    items = await asyncio.to_thread(state.review.items, limit)
    return ReviewListOut(items=[ReviewItemOut(**{k: r.get(k) for k in ReviewItemOut.model_fields}) for r in items],
                         labelled_waiting=state.review.labelled_count())


@router.get("/{item_id}/image", operation_id="getReviewImage", response_class=FileResponse,
            dependencies=[AdminDep])
async def review_image(item_id: str, state: StateDep) -> FileResponse:
    path = state.review.image_path(item_id)
    if path is None or not path.is_file():
        raise ApiError(404, "not_found", f"no review item {item_id}")
    return FileResponse(path, media_type="image/jpeg", headers=IMAGE_HEADERS)


@router.post("/{item_id}", operation_id="labelReview", response_model=LabelOut, dependencies=[AdminDep])
async def label_review(item_id: str, body: LabelIn, state: StateDep) -> LabelOut:
    """Record the true label: the image moves to the labelled folder that /retrain can use."""
    try:
        rec = await asyncio.to_thread(state.review.label, item_id, body.label)
    except ValueError as exc:
        raise ApiError(422, "invalid_label", str(exc)) from exc
    if rec is None:
        raise ApiError(404, "not_found", f"no review item {item_id}")
    return LabelOut(id=item_id, label=body.label, labelled_waiting=state.review.labelled_count())
