"""The three retraining modes as one plain function: build data, train, gate, publish.

``scratch``           pretrained backbone, base training split.
``finetune``          current model's weights, new data + a replay sample of the base training split
                      (training on new data alone forgets the old classes).
``scratch_plus_new``  pretrained backbone, base training split + new data.

Idempotent: the version id derives from the job id; a job delivered twice publishes once.
"""

from __future__ import annotations

import logging
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wastesort import WastesortError
from wastesort.data import by_split, load_samples, stratified_head, validate
from wastesort.queue import RetrainRequest
from wastesort.recipe import PRESETS, TrainConfig
from wastesort.settings import Settings
from wastesort.store import ModelStore, open_store
from wastesort_trainer.publish import Finished, publish_run
from wastesort_trainer.train import Cancelled, run

log = logging.getLogger(__name__)

FINETUNE_LR_SCALE = 0.3


def version_for(job_id: str) -> str:
    return f"job-{job_id[:16]}"


def build_training_set(req: RetrainRequest, settings: Settings, seed: int) -> tuple[list, list, dict[str, Any]]:
    """Train/val samples for the mode, and a report of what was used and what was skipped."""
    base = load_samples(settings.data.root)
    base_train, _ = validate(stratified_head(by_split(base, "train"), req.limit), settings.data.root)
    val, _ = validate(stratified_head(by_split(base, "val"), req.limit), settings.data.root)
    info: dict[str, Any] = {"base_train": len(base_train), "val": len(val)}
    new: list = []
    if req.mode in ("finetune", "scratch_plus_new"):
        if not req.new_data:
            raise WastesortError(f"mode {req.mode} needs new_data (a class/xxx.jpg folder)")
        new, report = validate(load_samples(req.new_data), req.new_data)
        info["new_data"] = report.as_dict()
        if not new:
            raise WastesortError(f"no usable images in {req.new_data}")
    if req.mode == "scratch":
        train = base_train
    elif req.mode == "scratch_plus_new":
        train = base_train + new
    else:
        k = min(len(base_train), int(round(req.replay_ratio * len(new))))
        replay = random.Random(seed).sample(base_train, k)
        info["replay"] = k
        train = new + replay
    info["train"] = len(train)
    return train, val, info


def run_retrain(req: RetrainRequest, *, job_id: str, settings: Settings, store: ModelStore | None = None,
                progress: Callable[[dict[str, Any]], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    store = store or open_store(settings.store)
    version = version_for(job_id)
    if store.exists(version):  # redelivered after the publish: nothing to redo
        m = store.manifest(version)
        return {"version": version, "promoted": store.current() == version, "already_published": True,
                "metrics": m.get("metrics", {})}
    cfg_values = {**PRESETS[req.preset]}
    if req.mode == "finetune":
        # already-trained weights: a gentler start than from ImageNet (the request can still override)
        cfg_values.update(lr=TrainConfig.model_fields["lr"].default * FINETUNE_LR_SCALE, warmup_epochs=0.3)
    cfg_values.update(req.overrides)
    current = store.current()
    work = Path(settings.trainer.runs_dir) / f"job-{job_id}"
    if req.mode == "finetune":
        if current is None:
            raise WastesortError("finetune needs a current model; run a scratch job first")
        cfg_values["init_from"] = str(store.fetch(current, work / "parent"))
    cfg = TrainConfig(**cfg_values)
    train, val, data_info = build_training_set(req, settings, cfg.seed)
    if progress:
        progress({"stage": "data", **data_info})
    result = run(cfg, train, val, work / "run", progress=progress, should_stop=should_stop, show_bar=False)
    result.card.dataset.update({k: v for k, v in data_info.items() if k != "new_data"})
    test, _ = validate(stratified_head(by_split(load_samples(settings.data.root), "test"), req.limit),
                       settings.data.root)
    if progress:
        progress({"stage": "publish"})
    if should_stop and should_stop():  # a cancelled job never publishes, whatever phase it was in
        raise Cancelled("job cancelled before publishing")
    out = publish_run(Finished(result.model, result.card, work / "run" / "best"), store, mode=req.mode,
                      version=version, force=req.force, gate_margin=req.gate_margin, test=test,
                      extra={"job_id": job_id, "data": data_info})
    shutil.rmtree(work / "parent", ignore_errors=True)
    return {**out, "metrics": {"val": {k: result.val_report[k] for k in ("accuracy", "macro_f1", "min_recall")}},
            "data": data_info, "already_published": False}
