"""Which uncertainty signal finds the wrong answers on real photos (issue #20, part C: field AUROC >= 0.75).

The review queue ranks by a signal of the logits alone (max-probability, margin, lognorm), and those sit at
AUROC 0.66-0.70 on the field set for the LP-FT default. Off the white board a photo can be confidently wrong
because it is unlike anything trained on, which the logits do not show but the features may. For one model
this scores, on TrashNet val and the field set, the error-detection AUROC of:

- the logit signals of ``wastesort.confidence`` and the energy (log-sum-exp of the logits);
- feature signals on the pooled features (the head's input), against the plain train photos: cosine
  similarity to the nearest train photos (k = 1 and the mean of k = 10), the share of those 10 that carry
  the predicted label, and the Mahalanobis distance to the nearest class mean (shared covariance with
  shrinkage), plain and relative to the distance from the all-class mean (Ren et al. 2021);
- with ``--probe RUN/probe``: a second opinion from the linear probe on untouched features (its probability
  of the fine-tuned model's answer, and the max-probability of the two models' mean), which costs a second
  backbone per photo.

    .venv/bin/python -m experiments.field_signals runs/lpft/best --probe runs/lpft/probe
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.special import logsumexp, softmax

from experiments.common import unit
from wastesort.confidence import confidence_signals
from wastesort.data import by_split, load_samples
from wastesort.settings import get_settings
from wastesort_trainer.evaluation import ImageCache
from wastesort_trainer.features import Head, extract
from wastesort_trainer.metrics import auroc
from wastesort_trainer.models import load_classifier
from wastesort_trainer.report import machine, save_json_report

K = 10


def shrunk_precision(x: np.ndarray, shrink: float) -> np.ndarray:
    """Inverse covariance of the rows of ``x``, shrunk toward its mean variance (1,280 features, 1,769 photos:
    the plain estimate is near singular)."""
    cov = np.cov(x, rowvar=False)
    return np.linalg.inv((1 - shrink) * cov + shrink * np.trace(cov) / len(cov) * np.eye(len(cov)))


def feature_signals(train: np.ndarray, y_train: np.ndarray, x: np.ndarray, pred: np.ndarray,
                    shrink: float = 0.1) -> dict[str, np.ndarray]:
    """Per row of ``x``, higher = more like the train photos of its predicted class."""
    sims = unit(x) @ unit(train).T
    top = np.argsort(-sims, axis=1)[:, :K]
    top_sims = np.take_along_axis(sims, top, 1)
    means = np.stack([train[y_train == c].mean(0) for c in range(int(y_train.max()) + 1)])
    d = x[:, None, :] - means[None]
    per_class = np.einsum("ncd,de,nce->nc", d, shrunk_precision(train - means[y_train], shrink), d)
    d0 = x - train.mean(0)
    background = np.einsum("nd,de,ne->n", d0, shrunk_precision(train, shrink), d0)
    return {"knn1_sim": top_sims[:, 0], f"knn{K}_sim": top_sims.mean(1),
            f"knn{K}_agree": (y_train[top] == pred[:, None]).mean(1),
            "neg_maha": -per_class.min(1), "neg_rel_maha": -(per_class.min(1) - background)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="the model folder whose errors are to be found (RUN/best)")
    ap.add_argument("--probe", help="a linear-probed model folder for a second opinion (RUN/probe)")
    ap.add_argument("--report", default="reports/field_signals.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    settings = get_settings()
    trashnet = load_samples(settings.data.root)
    sets = {"train": by_split(trashnet, "train"), "val": by_split(trashnet, "val"),
            "field": load_samples(settings.data.field)}
    labels = {k: np.array([s.label for s in v]) for k, v in sets.items()}
    cache = ImageCache()
    model = load_classifier(args.model)
    cfg, head = model.card.pretrained_cfg, Head.of(model.model)
    feats = {k: extract(model.model, v, cfg, cache=cache).astype(np.float64) for k, v in sets.items()}
    probe_probs = {}
    if args.probe:
        probe = load_classifier(args.probe)
        phead = Head.of(probe.model)
        probe_probs = {k: softmax(phead.logits(extract(probe.model, sets[k], probe.card.pretrained_cfg,
                                                       cache=cache)), axis=1) for k in ("val", "field")}
    report: dict[str, object] = {"model": args.model, "probe": args.probe, "k": K, "machine": machine()}
    for split in ("val", "field"):
        logits = head.logits(feats[split])
        pred = logits.argmax(1)
        wrong = pred != labels[split]
        signals = {**confidence_signals(logits), "energy": logsumexp(logits, axis=1),
                   "feature_norm": np.linalg.norm(feats[split], axis=1),
                   **feature_signals(feats["train"], labels["train"], feats[split], pred)}
        if probe_probs:
            p = probe_probs[split]
            signals["probe_prob_of_answer"] = p[np.arange(len(pred)), pred]
            signals["mean_max_prob"] = ((p + softmax(logits, axis=1)) / 2).max(1)
        aurocs = {name: round(auroc(-v, wrong), 4) for name, v in signals.items()}
        report[split] = {"accuracy": round(100 * float(1 - wrong.mean()), 2), "errors": int(wrong.sum()),
                         "auroc": aurocs}
        print(f"{split}: accuracy {report[split]['accuracy']}% ({int(wrong.sum())} wrong of {len(wrong)})")
        for name, v in sorted(aurocs.items(), key=lambda kv: -kv[1]):
            print(f"  {name:22s} {v:.3f}")
    save_json_report(args.report, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
