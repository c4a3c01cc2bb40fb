"""Would averaging trained runs help? Accuracy of each run, every pair and all together, on val and test.

    .venv/bin/python experiments/ensemble_probe.py runs/freeze3-e20 runs/freeze3-seed1 runs/robust

Probabilities are averaged after each run's own flip-TTA choice (made on val when it was trained).
A probe for the README's record, not a recipe: the CPU time bound allows one full-length model.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import torch

from wastesort.data import by_split, load_samples, validate
from wastesort.settings import get_settings
from wastesort_trainer.evaluation import ImageCache, predict_logits, report_from_logits
from wastesort_trainer.models import load_classifier


def _line(split: str, name: str, probs: np.ndarray, y: np.ndarray) -> str:
    rep = report_from_logits(np.log(np.clip(probs, 1e-12, 1)), y)
    return (f"{split:5s} {name:60s} acc {rep['accuracy']:.2%}  min precision {rep['min_precision']:.3f}  "
            f"min recall {rep['min_recall']:.3f}")


def main(runs: list[str]) -> None:
    samples, _ = validate(load_samples(get_settings().data.root))
    cache = ImageCache()
    for split in ("val", "test"):
        part = by_split(samples, split)
        y = np.array([s.label for s in part])
        probs = {}
        for run in runs:
            folder = Path(run) / "best" if (Path(run) / "best").is_dir() else Path(run)
            loaded = load_classifier(folder)
            logits = predict_logits(loaded.model, part, loaded.card.pretrained_cfg, cache=cache,
                                    tta=bool(loaded.card.metrics.get("val_tta")))
            probs[run] = torch.from_numpy(logits).softmax(1).numpy()
            print(_line(split, run, probs[run], y), flush=True)
        for a, b in itertools.combinations(runs, 2):
            print(_line(split, f"{a} + {b}", (probs[a] + probs[b]) / 2, y), flush=True)
        if len(runs) > 2:
            print(_line(split, "all", sum(probs.values()) / len(runs), y), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
