"""Datasets over decoded images and the one evaluation loop (clean, TTA, or altered images).

Training validation, ``wastesort evaluate``, the search and the robustness report all score models
here, through the shared eval transform, so their figures are comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wastesort import CLASSES
from wastesort.card import DataConfig
from wastesort.confidence import confidence_signals
from wastesort.data import Sample
from wastesort.preprocess import Transform, eval_transform, load_image_file
from wastesort_trainer.metrics import auroc, classification_report, confusion_matrix

# (decoded image, index in the dataset) -> altered image: background replacement, capture shifts
Alter = Callable[[np.ndarray, int], np.ndarray]


class ImageCache:
    """Decoded images kept in memory: TrashNet is ~0.8 GB decoded and decoding every epoch wastes CPU."""

    def __init__(self) -> None:
        self._images: dict[Path, np.ndarray] = {}

    def get(self, path: Path) -> np.ndarray:
        img = self._images.get(path)
        if img is None:
            img = load_image_file(path)
            self._images[path] = img
        return img


class ImageDataset(Dataset):
    def __init__(self, samples: Sequence[Sample], transform: Transform, cache: ImageCache | None = None,
                 alter: Alter | None = None):
        self.samples = list(samples)
        self.transform = transform
        self.cache = cache or ImageCache()
        self.alter = alter

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        s = self.samples[i]
        img = self.cache.get(s.path)
        if self.alter is not None:
            img = self.alter(img, i)
        return torch.from_numpy(self.transform(img)), s.label


@torch.no_grad()
def predict_logits(model: torch.nn.Module, samples: Sequence[Sample], data_cfg: DataConfig, *,
                   tta: bool = False, batch_size: int = 64, cache: ImageCache | None = None,
                   device: torch.device | None = None, alter: Alter | None = None) -> np.ndarray:
    """Logits for ``samples`` through the shared eval transform; TTA averages a horizontal flip."""
    device = device or next(model.parameters()).device
    model.eval()
    ds = ImageDataset(samples, eval_transform(data_cfg), cache, alter)
    out = []
    for x, _ in DataLoader(ds, batch_size=batch_size):
        x = x.to(device).contiguous(memory_format=torch.channels_last)
        logits = model(x).float()
        if tta:
            logits = (logits.softmax(1) + model(torch.flip(x, dims=[3])).float().softmax(1)).div(2).log()
        out.append(logits.cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, len(CLASSES)), dtype=np.float32)


def report_from_logits(logits: np.ndarray, y: np.ndarray, labels: Sequence[str] = CLASSES) -> dict[str, Any]:
    pred = logits.argmax(1) if len(logits) else np.array([], dtype=int)
    report = classification_report(confusion_matrix(y, pred, len(labels)), labels)
    t = torch.from_numpy(np.asarray(logits, dtype=np.float32))
    report["loss"] = float(torch.nn.functional.cross_entropy(t, torch.from_numpy(y)).item()) if len(y) else 0.0
    report["error_auroc"] = error_detection(logits, y)
    return report


def error_detection(logits: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """AUROC of each confidence signal at ranking wrong answers below right ones (0.5 = chance): how much
    the review queue's order (least sure first) tells an operator where the mistakes are."""
    if not len(y):
        return {}
    wrong = logits.argmax(1) != y
    out = {name: auroc(-values, wrong) for name, values in confidence_signals(logits).items()}
    return {k: (None if v != v else round(v, 4)) for k, v in out.items()}  # NaN (no error, or no right) -> None


def evaluate(model: torch.nn.Module, samples: Sequence[Sample], data_cfg: DataConfig, *, tta: bool = False,
             cache: ImageCache | None = None, labels: Sequence[str] = CLASSES,
             alter: Alter | None = None) -> dict[str, Any]:
    logits = predict_logits(model, samples, data_cfg, tta=tta, cache=cache, alter=alter)
    return report_from_logits(logits, np.array([s.label for s in samples], dtype=np.int64), labels)
