"""Adapting a served model to a site from a few labelled photos, in minutes, without a training run.

Fine-tuning the whole network on a handful of site photos made things worse (5 photos a class, 6.2 min:
the site's other photos went from 39% to 33%): a few dozen images cannot steer millions of weights,
and the best epoch was chosen on TrashNet alone. Here the backbone stays as it is and only the linear
head is refitted, on the model's own pooled features of a replay sample of TrashNet train and of the
site photos (each also mirrored), with the site's share of the loss and the L2 strength chosen by
cross-validation over the site photos. The head stays one Linear layer, so the artifact, its ONNX file
and every replica are unchanged: an adapted model is served like any other.

Everything past feature extraction is NumPy on (N, D) arrays, so the job and ``wastesort adapt-bench``
run the same code on the same features.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from wastesort import CLASSES
from wastesort.data import Sample
from wastesort_trainer.evaluation import ImageCache, report_from_logits
from wastesort_trainer.features import Head, accuracy, extract, logistic_head
from wastesort_trainer.models import LoadedModel, save_artifact
from wastesort_trainer.publish import Finished
from wastesort_trainer.train import Cancelled

SITE_SHARES = (0.3, 0.6)  # the site photos' share of the loss (the rest: TrashNet replay)
C_GRID = (0.05, 0.3)  # inverse L2 strength on standardised features
CV_FOLDS = 5
REPORTED_VAL = ("accuracy", "macro_f1", "min_precision", "min_recall", "loss", "per_class", "confusion_matrix", "n")


def balanced_weights(y: np.ndarray, total: float) -> np.ndarray:
    """Per-sample weights that give every present class the same share of ``total``."""
    counts = np.bincount(y, minlength=len(CLASSES)).astype(np.float64)
    present = (counts > 0).sum()
    return total / present / counts[y]


def site_head(x_base: np.ndarray, y_base: np.ndarray, x_site: np.ndarray, y_site: np.ndarray, *,
              share: float, c: float, mean: np.ndarray, std: np.ndarray) -> Head:
    """Refit on replay + site; the site photos carry ``share`` of the loss, classes balanced within each."""
    w = np.concatenate([balanced_weights(y_base, 1 - share), balanced_weights(y_site, share)])
    w *= len(w)  # keep the mean weight at 1 so C means the same as unweighted
    return logistic_head(np.concatenate([x_base, x_site]), np.concatenate([y_base, y_site]), c=c, sample_weight=w,
                         mean=mean, std=std)


@dataclass
class SiteData:
    """Features of the labelled site photos; ``mirror`` holds the flipped copies (row i = photo i)."""

    x: np.ndarray
    y: np.ndarray
    mirror: np.ndarray

    def take(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([self.x[idx], self.mirror[idx]]), np.concatenate([self.y[idx], self.y[idx]])


def cv_folds(y: np.ndarray, folds: int = CV_FOLDS, seed: int = 0) -> list[np.ndarray]:
    """Stratified held-out index sets; leave-one-out when there are fewer photos than folds."""
    if len(y) <= folds:
        return [np.array([i]) for i in range(len(y))]
    rng = np.random.default_rng(seed)
    slot = np.empty(len(y), dtype=int)
    offset = 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        slot[idx] = (np.arange(len(idx)) + offset) % folds
        offset += len(idx)
    return [np.flatnonzero(slot == f) for f in range(folds)]


@dataclass
class Adapted:
    head: Head
    share: float
    c: float
    site_cv_accuracy: float  # each site photo predicted by a head fitted without it
    base_site_accuracy: float  # the model before adapting, on the same photos
    val_accuracy: float  # TrashNet val, adapted head
    base_val_accuracy: float  # TrashNet val, the model before adapting (same features, same measurement)
    grid: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"share": self.share, "C": self.c, "site_cv_accuracy": round(self.site_cv_accuracy, 4),
                "base_site_accuracy": round(self.base_site_accuracy, 4), "val_accuracy": round(self.val_accuracy, 4),
                "base_val_accuracy": round(self.base_val_accuracy, 4), "grid": self.grid,
                "seconds": round(self.seconds, 1)}


def adapt_head(base: Head, x_base: np.ndarray, y_base: np.ndarray, site: SiteData, x_val: np.ndarray,
               y_val: np.ndarray, *, max_val_drop: float = 0.02, shares: Sequence[float] = SITE_SHARES,
               c_grid: Sequence[float] = C_GRID, progress: Callable[[dict], None] | None = None) -> Adapted:
    """Choose (share, C) by cross-validation over the site photos among the settings that keep TrashNet
    val within ``max_val_drop`` of the base head (a site model must not forget what it knew), then refit
    on all site photos. When no setting keeps val, the one that loses least is returned (the gate refuses)."""
    started = time.time()
    x_all = np.concatenate([x_base, site.x])
    mean, std = x_all.mean(0), x_all.std(0) + 1e-6
    folds = cv_folds(site.y)
    base_val = accuracy(base.logits(x_val), y_val)
    xs_all, ys_all = site.take(np.arange(len(site.y)))
    grid, heads = [], []
    for share in shares:
        for c in c_grid:
            pred = np.empty(len(site.y), dtype=int)
            for held in folds:
                xs, ys = site.take(np.setdiff1d(np.arange(len(site.y)), held))
                pred[held] = site_head(x_base, y_base, xs, ys, share=share, c=c, mean=mean, std=std
                                       ).logits(site.x[held]).argmax(1)
            head = site_head(x_base, y_base, xs_all, ys_all, share=share, c=c, mean=mean, std=std)
            val = accuracy(head.logits(x_val), y_val)
            grid.append({"share": share, "C": c, "site_cv_accuracy": round(float((pred == site.y).mean()), 4),
                         "val_accuracy": round(val, 4), "keeps_val": val >= base_val - max_val_drop})
            heads.append(head)
            if progress:
                progress({"stage": "adapt", "tried": len(grid), "of": len(shares) * len(c_grid)})
    feasible = [i for i, g in enumerate(grid) if g["keeps_val"]]
    if feasible:
        best = max(feasible, key=lambda i: (grid[i]["site_cv_accuracy"], grid[i]["val_accuracy"]))
    else:
        best = max(range(len(grid)), key=lambda i: grid[i]["val_accuracy"])
    g = grid[best]
    return Adapted(heads[best], g["share"], g["C"], g["site_cv_accuracy"], accuracy(base.logits(site.x), site.y),
                   g["val_accuracy"], base_val, grid, time.time() - started)


REPLAY = 600  # TrashNet train photos replayed (stratified): enough to keep the classes, quick to embed


def adapt_model(loaded: LoadedModel, site: Sequence[Sample], replay: Sequence[Sample], val: Sequence[Sample],
                out_dir: Path, *, max_val_drop: float = 0.02, progress: Callable[[dict], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> tuple[Finished, Adapted]:
    """The served model with its head refitted for the site, written to ``out_dir/best`` as a normal artifact."""
    started = time.time()
    torch.set_num_threads(os.cpu_count() or 1)
    model, cfg, cache = loaded.model.eval(), loaded.card.pretrained_cfg, ImageCache()
    parts: dict[str, np.ndarray] = {}
    for name, samples, mirrored in (("site", site, False), ("site_mirror", site, True), ("replay", replay, False),
                                    ("val", val, False)):
        if should_stop and should_stop():
            raise Cancelled("job cancelled while embedding photos")
        if progress:
            progress({"stage": "features", "part": name, "images": len(samples)})
        parts[name] = extract(model, samples, cfg, cache=cache, mirrored=mirrored)
    y = {k: np.array([s.label for s in v]) for k, v in (("site", site), ("replay", replay), ("val", val))}
    adapted = adapt_head(Head.of(model), parts["replay"], y["replay"],
                         SiteData(parts["site"], y["site"], parts["site_mirror"]), parts["val"], y["val"],
                         max_val_drop=max_val_drop, progress=progress)
    adapted.seconds = time.time() - started
    adapted.head.load_into(model)
    card = loaded.card.model_copy(deep=True)
    parent = loaded.card.version or "the current model"
    card.description = (f"{parent} adapted to a site: head refitted on {len(site)} labelled site photos + "
                        f"{len(replay)} TrashNet train photos (backbone unchanged)")
    val_report = report_from_logits(adapted.head.logits(parts["val"]), y["val"])
    card.metrics = {"val": {k: val_report[k] for k in REPORTED_VAL}, "val_tta": False,
                    "site": adapted.summary(), "train_seconds": round(adapted.seconds, 1),
                    **({"uncertainty": loaded.card.metrics["uncertainty"]}
                       if "uncertainty" in loaded.card.metrics else {})}
    card.train_config = {"recipe": "adapt", "share": adapted.share, "C": adapted.c, "replay": len(replay),
                         "max_val_drop": max_val_drop, "parent_recipe": loaded.card.train_config.get("recipe")}
    card.dataset = {**loaded.card.dataset, "site": len(site),
                    "site_counts": dict(zip(CLASSES, np.bincount(y["site"], minlength=len(CLASSES)).tolist(),
                                            strict=True))}
    folder = save_artifact(model, card, Path(out_dir) / "best")
    return Finished(model, card, folder), adapted
