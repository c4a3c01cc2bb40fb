"""Model versions: list, promote, roll back, reload from the store's pointer."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from wastesort.store import StoreError
from wastesort_api.deps import AdminDep, StateDep
from wastesort_api.errors import ERROR_RESPONSES, ApiError, ErrorOut
from wastesort_api.runner import ModelLoadError
from wastesort_api.schemas import PointerOut, VersionOut
from wastesort_api.state import AppState

router = APIRouter(prefix="/models", tags=["models"], responses=ERROR_RESPONSES)


@router.get("", operation_id="listModels", response_model=list[VersionOut])
async def list_models(state: StateDep) -> list[VersionOut]:
    """Every published version with its metrics, oldest first."""
    current = await asyncio.to_thread(state.store.current)
    versions = await asyncio.to_thread(state.store.list_versions)
    return [VersionOut(version=m["version"], current=m["version"] == current, mode=m.get("mode"),
                       parent=m.get("parent"), created=m.get("created"), metrics=m.get("metrics", {}))
            for m in versions]


async def _pointer(state: AppState) -> PointerOut:
    await asyncio.to_thread(state.runner.sync)
    return PointerOut(current=await asyncio.to_thread(state.store.current), serving=state.runner.version)


@router.post("/{version}/promote", operation_id="promoteModel", response_model=PointerOut,
             dependencies=[AdminDep], responses={409: {"model": ErrorOut, "description": "version cannot be served"}})
async def promote(version: str, state: StateDep) -> PointerOut:
    """Make ``version`` current (any published version: also a rollback to an older one). It is downloaded,
    verified and loaded here first; CURRENT moves only if that works."""
    if not await asyncio.to_thread(state.store.exists, version):
        raise ApiError(404, "not_found", f"no version {version!r} in the store")
    await _serve_first(state, version)
    await asyncio.to_thread(state.store.promote, version)
    return await _pointer(state)


@router.post("/rollback", operation_id="rollbackModel", response_model=PointerOut, dependencies=[AdminDep],
             responses={409: {"model": ErrorOut, "description": "nothing to roll back to, or it cannot be served"}})
async def rollback(state: StateDep) -> PointerOut:
    """Move current back to the version that was current before (verified to load first)."""
    history = await asyncio.to_thread(state.store.history)
    if not history:
        raise ApiError(409, "conflict", "nothing to roll back to: no earlier current version")
    await _serve_first(state, history[0])
    try:
        await asyncio.to_thread(state.store.rollback)
    except StoreError as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    return await _pointer(state)


async def _serve_first(state: AppState, version: str) -> None:
    """Load ``version`` on this replica before the pointer moves: a broken version never becomes CURRENT."""
    try:
        await asyncio.to_thread(state.runner.swap, version)
    except ModelLoadError as exc:
        raise ApiError(409, "unservable", f"{exc}; CURRENT unchanged") from exc


@router.post("/reload", operation_id="reloadModel", response_model=PointerOut, dependencies=[AdminDep])
async def reload(state: StateDep) -> PointerOut:
    """Check the store's pointer now and hot-swap if it moved."""
    return await _pointer(state)
