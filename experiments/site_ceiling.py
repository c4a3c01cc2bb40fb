"""How far a head on a model's frozen features can go on a site when nearly every site photo is labelled
(issue #20, part B asks for >= 85% on a site from 5 labelled photos a class).

Leave-one-out over the site: each photo is classified by a head fitted on all the other site photos
(9 a class on the field set, 24 for plastic), with and without the model's own head blended in, and by
nearest neighbours. If this is far below 85%, the features, not the adaptation method, are what limits
the k = 5 figure.

    .venv/bin/python -m experiments.site_ceiling runs/lpft/probe runs/lpft/best
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.special import log_softmax

from experiments.common import add_model_rows, unit
from wastesort.data import load_samples
from wastesort.settings import get_settings
from wastesort_trainer.evaluation import ImageCache
from wastesort_trainer.features import Head, extract, logistic_head
from wastesort_trainer.models import load_classifier
from wastesort_trainer.report import machine, save_json_report

C_GRID = (0.1, 1.0, 10.0)


def leave_one_out(x: np.ndarray, y: np.ndarray, own: np.ndarray, c: float) -> dict[str, float]:
    """Accuracy (%) of a site-only head, of its log-probabilities plus the model's own, and of 1-NN."""
    right = {"site_head": 0, "site_head+own": 0, "nn1_cosine": 0}
    sims = unit(x) @ unit(x).T
    np.fill_diagonal(sims, -np.inf)
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        head = logistic_head(x[keep], y[keep], c=c)
        site = log_softmax(head.logits(x[i : i + 1])[0])
        right["site_head"] += int(site.argmax() == y[i])
        right["site_head+own"] += int((site + log_softmax(own[i])).argmax() == y[i])
        right["nn1_cosine"] += int(y[sims[i].argmax()] == y[i])
    return {k: round(100 * v / len(y), 2) for k, v in right.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--crop-pct", type=float, default=None,
                    help="zoom: the central share of the frame fed to the model (default: the model card's)")
    ap.add_argument("--report", default="reports/site_ceiling.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    site = load_samples(get_settings().data.field)
    y = np.array([s.label for s in site])
    cache = ImageCache()
    report: dict[str, object] = {"site_photos": len(site), "crop_pct": args.crop_pct, "machine": machine(),
                                 "models": {}}
    for folder in args.models:
        m = load_classifier(folder)
        cfg = m.card.pretrained_cfg
        if args.crop_pct:
            cfg = cfg.model_copy(update={"crop_pct": args.crop_pct})
        x = extract(m.model, site, cfg, cache=cache).astype(np.float64)
        own = Head.of(m.model).logits(x)
        rows = {f"C={c}": leave_one_out(x, y, own, c) for c in C_GRID}
        rows["own_head"] = {"accuracy": round(100 * float(np.mean(own.argmax(1) == y)), 2)}
        add_model_rows(report, folder, rows)
    save_json_report(args.report, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
