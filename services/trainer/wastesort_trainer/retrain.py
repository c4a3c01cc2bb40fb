"""The retraining modes as one plain function: build data, train (or adapt), gate, publish.

``scratch``           pretrained backbone, base training split.
``finetune``          current model's weights, new data + a replay sample of the base training split
                      (training on new data alone forgets the old classes).
``scratch_plus_new``  pretrained backbone, base training split + new data.
``adapt``             current model, head refitted for the new (site) photos: minutes, no training run.

Modes with new data are gated on site photos the model was not fitted on as well as on TrashNet val:
``finetune``/``scratch_plus_new`` hold back a quarter of each class's new photos, ``adapt``
cross-validates over them.

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
from wastesort_trainer.adapt import REPLAY, adapt_model
from wastesort_trainer.evaluation import evaluate
from wastesort_trainer.models import load_classifier
from wastesort_trainer.publish import Finished, SiteCheck, publish_run
from wastesort_trainer.train import Cancelled, run

log = logging.getLogger(__name__)

FINETUNE_LR_SCALE = 0.3
SITE_HOLDOUT = 0.25  # share of each class's new photos kept back to judge a trained site model


def hold_back(samples: list, seed: int) -> tuple[list, list]:
    """(kept for training, held back): a quarter of each class with 3+ photos, at random."""
    rng = random.Random(seed)
    keep, held = [], []
    for c in sorted({s.label for s in samples}):
        group = [s for s in samples if s.label == c]
        rng.shuffle(group)
        n = int(len(group) * SITE_HOLDOUT + 0.5) if len(group) >= 3 else 0
        held += group[:n]
        keep += group[n:]
    return keep, held


def version_for(job_id: str) -> str:
    return f"job-{job_id[:16]}"


def build_training_set(req: RetrainRequest, settings: Settings, seed: int
                       ) -> tuple[list, list, dict[str, Any], list]:
    """Train/val samples for the mode, a report of what was used and skipped, and the held-back site photos."""
    base = load_samples(settings.data.root)
    base_train, _ = validate(stratified_head(by_split(base, "train"), req.limit), settings.data.root)
    val, _ = validate(stratified_head(by_split(base, "val"), req.limit), settings.data.root)
    info: dict[str, Any] = {"base_train": len(base_train), "val": len(val)}
    new: list = []
    held: list = []
    if req.mode in ("finetune", "scratch_plus_new", "adapt"):
        if not req.new_data:
            raise WastesortError(f"mode {req.mode} needs new_data (a class/xxx.jpg folder)")
        new, report = validate(load_samples(req.new_data), req.new_data)
        info["new_data"] = report.as_dict()
        if not new:
            raise WastesortError(f"no usable images in {req.new_data}")
        if req.mode != "adapt":  # adapt cross-validates over all of them instead
            new, held = hold_back(new, seed)
            info["site_held_back"] = len(held)
    if req.mode == "adapt":
        train = stratified_head(base_train, REPLAY) + new  # replay first: see run_adapt
        info["replay"] = min(REPLAY, len(base_train))
    elif req.mode == "scratch":
        train = base_train
    elif req.mode == "scratch_plus_new":
        train = base_train + new
    else:
        k = min(len(base_train), int(round(req.replay_ratio * len(new))))
        replay = random.Random(seed).sample(base_train, k)
        info["replay"] = k
        train = new + replay
    info["train"] = len(train)
    return train, val, info, held


def site_check(new_model, current_folder: Path, held: list) -> SiteCheck | None:
    """Accuracy of the trained and of the current model on the held-back site photos."""
    if not held:
        return None
    current = load_classifier(current_folder)
    new_acc = evaluate(new_model, held, current.card.pretrained_cfg)["accuracy"]
    return SiteCheck(new=new_acc, current=evaluate(current.model, held, current.card.pretrained_cfg)["accuracy"],
                     n=len(held), how="held back")


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
    parent = None
    if req.mode in ("finetune", "adapt") and current is None:
        raise WastesortError(f"{req.mode} needs a current model; run a scratch job first")
    if current is not None and req.mode != "scratch":
        parent = store.fetch(current, work / "parent")
    if req.mode == "finetune":
        cfg_values["init_from"] = str(parent)
    cfg = TrainConfig(**cfg_values)
    train, val, data_info, held = build_training_set(req, settings, cfg.seed)
    if progress:
        progress({"stage": "data", **data_info})
    extra = {"job_id": job_id, "data": data_info}
    if req.mode == "adapt":
        assert parent is not None
        n_replay = data_info["replay"]
        finished, adapted = adapt_model(load_classifier(parent), train[n_replay:], train[:n_replay], val, work / "run",
                                        max_val_drop=req.gate_margin, progress=progress, should_stop=should_stop)
        site = SiteCheck(new=adapted.site_cv_accuracy, current=adapted.base_site_accuracy, n=len(train) - n_replay,
                         how="cross-validation")
        current_val = adapted.base_val_accuracy
        val_report = finished.card.metrics["val"]
        extra["adapt"] = adapted.summary()
    else:
        result = run(cfg, train, val, work / "run", progress=progress, should_stop=should_stop, show_bar=False)
        result.card.dataset.update({k: v for k, v in data_info.items() if k != "new_data"})
        finished = Finished(result.model, result.card, work / "run" / "best")
        site = site_check(result.model, parent, held) if parent is not None else None
        current_val, val_report = None, result.val_report
    test, _ = validate(stratified_head(by_split(load_samples(settings.data.root), "test"), req.limit),
                       settings.data.root)
    if progress:
        progress({"stage": "publish"})
    if should_stop and should_stop():  # a cancelled job never publishes, whatever phase it was in
        raise Cancelled("job cancelled before publishing")
    out = publish_run(finished, store, mode=req.mode, version=version, force=req.force, gate_margin=req.gate_margin,
                      test=test, extra=extra, site=site, current_val=current_val)
    shutil.rmtree(work / "parent", ignore_errors=True)
    return {**out, "metrics": {"val": {k: val_report[k] for k in ("accuracy", "macro_f1", "min_recall")}},
            "data": data_info, "already_published": False}
