"""Runtime configuration: the seed's /info, /change, /save_config, /restore_config, plus /refresh."""

from __future__ import annotations

import asyncio
import random
import shutil
from typing import Annotated

from fastapi import APIRouter, Query

from wastesort.data import load_samples
from wastesort_api import runtime_config
from wastesort_api.deps import AdminDep, StateDep
from wastesort_api.errors import ERROR_RESPONSES, ApiError
from wastesort_api.paths import inside
from wastesort_api.schemas import ChangeIn, ConfigSavedOut, ConfirmIn, InfoOut, ModelCardOut, RefreshOut
from wastesort_api.state import AppState

router = APIRouter(tags=["config"], responses=ERROR_RESPONSES)


def model_card_out(state: AppState) -> ModelCardOut:
    m = state.runner.current
    if m is None:
        return ModelCardOut(version=None)
    return ModelCardOut(version=m.version, description=m.card.description, architecture=m.card.architecture,
                        engine=m.engine_name,
                        input_size=m.card.pretrained_cfg.input_size, label_names=m.card.label_names,
                        metrics={k: v for k, v in m.card.metrics.items() if k != "val"} | {
                            "val": {k: v for k, v in (m.card.metrics.get("val") or {}).items()
                                    if k in ("accuracy", "macro_f1", "min_precision", "min_recall", "per_class")}})


@router.get("/info", operation_id="getInfo", response_model=InfoOut)
async def info(state: StateDep) -> InfoOut:
    """Current runtime configuration and the served model."""
    return InfoOut(config=state.config, model=model_card_out(state), store=state.store.uri,
                   queue=state.settings.trainer.broker_url.split("@")[-1], current=state.runner.target,
                   stale=state.runner.stale_reason())


@router.post("/change", operation_id="changeConfig", response_model=InfoOut, dependencies=[AdminDep])
async def change(body: ChangeIn, state: StateDep) -> InfoOut:
    """Change one runtime parameter; an unknown name or bad value is refused and nothing changes."""
    try:
        state.config = runtime_config.changed(state.config, body.param, body.value)
    except runtime_config.ConfigChangeError as exc:
        raise ApiError(422, "invalid_config", str(exc)) from exc
    return await info(state)


def _config_path(state: AppState, name: str):
    if not name.endswith(".json"):
        raise ApiError(400, "bad_path", "config files end in .json")
    return inside(state.settings.api.config_dir, name, what="path")


@router.post("/save_config", operation_id="saveConfig", response_model=ConfigSavedOut, dependencies=[AdminDep])
async def save_config(body: ConfirmIn, state: StateDep) -> ConfigSavedOut:
    """Write the runtime configuration (atomically) to a file in the config folder. Needs confirm=true."""
    if not body.confirm:
        raise ApiError(400, "confirm_required", "set confirm=true to overwrite the saved configuration")
    path = _config_path(state, body.path)
    await asyncio.to_thread(runtime_config.save, state.config, path)
    return ConfigSavedOut(path=path.name, config=state.config)


@router.post("/restore_config", operation_id="restoreConfig", response_model=ConfigSavedOut,
             dependencies=[AdminDep])
async def restore_config(body: ConfirmIn, state: StateDep) -> ConfigSavedOut:
    """Load a saved configuration; a missing file restores the documented defaults. Needs confirm=true."""
    if not body.confirm:
        raise ApiError(400, "confirm_required", "set confirm=true to replace the running configuration")
    path = _config_path(state, body.path)
    defaults = state.settings.api.runtime
    try:
        cfg, found = await asyncio.to_thread(runtime_config.load, path, defaults)
    except runtime_config.ConfigChangeError as exc:
        raise ApiError(422, "invalid_config", str(exc)) from exc
    state.config = cfg
    return ConfigSavedOut(path=path.name, config=cfg, found=found)


def _refresh(state: AppState, num: int) -> list[str]:
    samples = load_samples(state.settings.data.root)
    picked = random.sample(samples, min(num, len(samples)))
    dest = state.settings.api.samples_dir
    tmp = dest.with_name(dest.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for s in picked:
        shutil.copy(s.path, tmp / s.path.name)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return sorted(p.name for p in dest.iterdir())


@router.post("/refresh", operation_id="refreshSamples", response_model=RefreshOut, dependencies=[AdminDep])
async def refresh(state: StateDep, num: Annotated[int, Query(ge=1, le=200)] = 10) -> RefreshOut:
    """Replace the samples folder with ``num`` random dataset images."""
    return RefreshOut(files=await asyncio.to_thread(_refresh, state, num))
