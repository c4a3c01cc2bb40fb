"""The starter model: untouched ImageNet features + a logistic-regression head, ready in minutes.

A fresh install serves this first, then the worker trains the default recipe and the replica swaps to
it. Frozen features are also the better-transferring half on real photos off the white board (see
docs/experiments.md), so the starter is a fair model, not a placeholder.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from wastesort import CLASSES
from wastesort.card import ModelCard
from wastesort.data import Sample, class_counts, fingerprint
from wastesort_trainer.evaluation import ImageCache, report_from_logits
from wastesort_trainer.features import PROBE_C_GRID, extract, probe_head
from wastesort_trainer.models import create_backbone, default_data_config, default_weights, save_artifact
from wastesort_trainer.publish import Finished

log = logging.getLogger(__name__)

def fit_starter(train: Sequence[Sample], val: Sequence[Sample], out_dir: Path, *,
                architecture: str = "tf_efficientnet_lite2", input_size: int = 224) -> Finished:
    """Fit the head on train (C chosen on val), write ``out_dir/best`` as a normal model artifact."""
    started = time.time()
    torch.set_num_threads(os.cpu_count() or 1)
    weights = default_weights(architecture)
    model = create_backbone(architecture, weights=weights).eval()
    card = ModelCard(architecture=architecture, weights_source=weights,
                     pretrained_cfg=default_data_config(architecture, input_size),
                     description=f"starter: frozen ImageNet {architecture} features + a logistic-regression head "
                                 "fitted on TrashNet train (no fine-tuning); the default recipe replaces it")
    cache = ImageCache()
    y_train = np.array([s.label for s in train])
    y_val = np.array([s.label for s in val])
    x_train = extract(model, train, card.pretrained_cfg, cache=cache)
    log.info("starter: %d train features in %.0f s", len(train), time.time() - started)
    x_val = extract(model, val, card.pretrained_cfg, cache=cache)
    head, c, _ = probe_head(x_train, y_train, x_val, y_val)
    head.load_into(model)
    val_report = report_from_logits(head.logits(x_val), y_val)
    card.metrics = {"val": {k: val_report[k] for k in ("accuracy", "macro_f1", "min_precision", "min_recall",
                                                       "loss", "per_class", "confusion_matrix", "n")},
                    "val_tta": False, "train_seconds": round(time.time() - started, 1)}
    card.train_config = {"recipe": "starter", "head": "logistic_regression", "C": c, "C_grid": list(PROBE_C_GRID),
                         "input_size": input_size}
    card.dataset = {"train": len(train), "val": len(val), "train_fingerprint": fingerprint(train),
                    "train_counts": dict(zip(CLASSES, class_counts(train).tolist(), strict=True))}
    folder = save_artifact(model, card, Path(out_dir) / "best")
    log.info("starter: val accuracy %.4f (C=%s) in %.0f s", val_report["accuracy"], c, time.time() - started)
    return Finished(model, card, folder)
