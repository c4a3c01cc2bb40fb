"""BatchNorm statistics from the site's own, unlabelled photos (AdaBN, Li et al. 2016) for issue #20.

Every model here normalises each layer with means and variances measured on ImageNet or TrashNet photos
(white board, studio light). A line's camera, floor and light shift those statistics; re-estimating them
on photos from the line needs no label at all, only photos the product already sees. The site's photos
are split in stratified folds: the statistics come from the other folds' photos (labels unused), the
accuracy from the held fold, so no photo is scored by statistics it contributed to. ``alpha`` blends the
site's statistics with the model's own (1 = the site's only).

    .venv/bin/python -m experiments.adabn runs/lpft/probe runs/lpft/best --alphas 0.5 1
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from experiments.common import add_model_rows
from wastesort.data import Sample, by_split, load_samples
from wastesort.preprocess import eval_transform
from wastesort.settings import get_settings
from wastesort_trainer.adapt import cv_folds
from wastesort_trainer.evaluation import ImageCache, ImageDataset, predict_logits
from wastesort_trainer.models import load_classifier
from wastesort_trainer.report import machine, save_json_report


def site_statistics(model: torch.nn.Module, photos: Sequence[Sample], cfg, alpha: float,
                    cache: ImageCache) -> torch.nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are (1 - alpha) x its own + alpha x those
    of ``photos`` (one pass, cumulative average over the photos)."""
    adapted = copy.deepcopy(model).eval()
    norms = [m for m in adapted.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    own = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative: every photo counts the same
        m.train()
    with torch.no_grad():  # predict_logits would switch BatchNorm back to eval
        for x, _ in DataLoader(ImageDataset(photos, eval_transform(cfg), cache), batch_size=len(photos)):
            adapted(x.contiguous(memory_format=torch.channels_last))
    adapted.eval()
    for m, (mean, var) in zip(norms, own, strict=True):
        m.running_mean.mul_(alpha).add_(mean, alpha=1 - alpha)
        m.running_var.mul_(alpha).add_(var, alpha=1 - alpha)
    return adapted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--alphas", nargs="+", type=float, default=[0.5, 1.0])
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--report", default="reports/adabn.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    settings = get_settings()
    site = load_samples(settings.data.field)
    val = by_split(load_samples(settings.data.root), "val")
    y = np.array([s.label for s in site])
    y_val = np.array([s.label for s in val])
    folds = cv_folds(y, folds=args.folds)
    cache = ImageCache()
    report: dict[str, object] = {"folds": args.folds, "site_photos": len(site), "machine": machine(), "models": {}}
    for folder in args.models:
        m = load_classifier(folder)
        cfg = m.card.pretrained_cfg
        before = predict_logits(m.model, site, cfg, cache=cache).argmax(1)
        rows = {"none": {"site": round(100 * float((before == y).mean()), 2)}}
        for alpha in args.alphas:
            pred = np.empty(len(y), dtype=int)
            val_acc = []
            for held in folds:
                stats_from = [site[i] for i in np.setdiff1d(np.arange(len(y)), held)]
                adapted = site_statistics(m.model, stats_from, cfg, alpha, cache)
                pred[held] = predict_logits(adapted, [site[i] for i in held], cfg, cache=cache).argmax(1)
                val_acc.append(float((predict_logits(adapted, val, cfg, cache=cache).argmax(1) == y_val).mean()))
            per_class = {int(c): f"{int(((pred == y) & (y == c)).sum())}/{int((y == c).sum())}" for c in np.unique(y)}
            rows[f"alpha={alpha}"] = {"site": round(100 * float((pred == y).mean()), 2),
                                      "trashnet_val_with_site_stats": round(100 * float(np.mean(val_acc)), 2),
                                      "site_per_class": per_class}
        add_model_rows(report, folder, rows)
    save_json_report(args.report, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
