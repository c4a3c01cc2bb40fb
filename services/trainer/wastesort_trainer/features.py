"""Pooled features of a frozen backbone and linear heads fitted on them with scikit-learn.

Three jobs use this: the starter (a head on untouched ImageNet features), LP-FT in the training recipe (that
head as the starting point of fine-tuning, so the first steps do not tear the features apart to fit a random
head) and site adaptation (a head refitted on replay + site photos). Everything past extraction is NumPy
on (N, D) arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from wastesort import CLASSES
from wastesort.card import DataConfig
from wastesort.data import Sample
from wastesort_trainer.evaluation import ImageCache, predict_logits

log = logging.getLogger(__name__)

PROBE_C_GRID = (0.1, 0.3, 1.0, 3.0)  # inverse L2 strength of a linear probe, chosen on val


class PooledFeatures(torch.nn.Module):
    """The classifier's input: what the head is refitted on (timm's ``pre_logits``)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


def _mirror(img: np.ndarray, _: int) -> np.ndarray:
    return np.ascontiguousarray(img[:, ::-1])


def extract(model: torch.nn.Module, samples: Sequence[Sample], data_cfg: DataConfig, *,
            cache: ImageCache | None = None, mirrored: bool = False) -> np.ndarray:
    """Pooled features (N, D) through the shared eval transform; ``mirrored`` flips each photo first."""
    return predict_logits(PooledFeatures(model), samples, data_cfg, cache=cache, batch_size=32,
                          alter=_mirror if mirrored else None)


@dataclass
class Head:
    """A linear classifier on pooled features: logits = x @ weight.T + bias."""

    weight: np.ndarray  # (C, D)
    bias: np.ndarray  # (C,)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weight.T + self.bias

    @classmethod
    def of(cls, model: torch.nn.Module) -> Head:
        lin = model.get_classifier()
        return cls(*(t.detach().cpu().numpy().astype(np.float64) for t in (lin.weight, lin.bias)))

    def load_into(self, model: torch.nn.Module) -> None:
        lin = model.get_classifier()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(self.weight.astype(np.float32)))
            lin.bias.copy_(torch.from_numpy(self.bias.astype(np.float32)))


def logistic_head(x: np.ndarray, y: np.ndarray, *, c: float, sample_weight: np.ndarray | None = None,
                  mean: np.ndarray | None = None, std: np.ndarray | None = None) -> Head:
    """Multinomial logistic regression on standardised features, the standardisation folded into the
    weights (the served model needs no extra layer). Every class gets an output even if absent from y."""
    mean = x.mean(0) if mean is None else mean
    std = (x.std(0) + 1e-6) if std is None else std
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced" if sample_weight is None else None)
    clf.fit((x - mean) / std, y, sample_weight=sample_weight)
    coef = np.zeros((len(CLASSES), x.shape[1]))
    intercept = np.full(len(CLASSES), -1e3)  # a class with no example can never win
    coef[clf.classes_] = clf.coef_ if len(clf.classes_) > 2 else np.vstack([-clf.coef_, clf.coef_])
    intercept[clf.classes_] = clf.intercept_ if len(clf.classes_) > 2 else [-clf.intercept_[0], clf.intercept_[0]]
    return Head(coef / std, intercept - (coef * mean / std).sum(1))


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(1) == y).mean()) if len(y) else 0.0


def probe_head(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
               grid: Sequence[float] = PROBE_C_GRID) -> tuple[Head, float, float]:
    """(head, chosen C, val accuracy): a linear probe with the L2 strength chosen on val."""
    best: tuple[Head, float, float] | None = None
    for c in grid:
        head = logistic_head(x_train, y_train, c=c)
        acc = accuracy(head.logits(x_val), y_val)
        log.info("linear probe C=%s: val accuracy %.4f", c, acc)
        if best is None or acc > best[2]:
            best = (head, c, acc)
    assert best is not None
    return best


def temper(head: Head, x_val: np.ndarray, y_val: np.ndarray) -> tuple[Head, float]:
    """Scale the head's logits by the factor (<= 1) with the lowest val cross-entropy. A probe fitted to
    separable train features is overconfident (loss 1.6 at 78% right on augmented batches): fine-tuning from it
    at full scale took one step to wreck the features (runs/lpft, 2026-12-06: val 33% after epoch 1)."""
    scales = np.geomspace(0.02, 1.0, 30)
    logits, y = torch.from_numpy(head.logits(x_val)), torch.from_numpy(y_val)
    losses = [float(torch.nn.functional.cross_entropy(logits * s, y)) for s in scales]
    s = float(scales[int(np.argmin(losses))])
    return Head(head.weight * s, head.bias * s), s


def fit_probe(model: torch.nn.Module, train: Sequence[Sample], val: Sequence[Sample], data_cfg: DataConfig, *,
              cache: ImageCache | None = None) -> tuple[Head, float, float, float]:
    """Fit a linear probe on ``model``'s pooled features (C on val), temper it on val and load it into the
    classifier; (head, C, val accuracy, logit scale)."""
    model.eval()
    x_train, x_val = (extract(model, s, data_cfg, cache=cache) for s in (train, val))
    y_val = np.array([s.label for s in val])
    head, c, acc = probe_head(x_train, np.array([s.label for s in train]), x_val, y_val)
    head, scale = temper(head, x_val, y_val)
    head.load_into(model)
    return head, c, acc, scale
