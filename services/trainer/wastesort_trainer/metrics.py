"""Classification metrics and their plots.

Orientation is fixed once here: ``cm[i, j]`` counts images whose TRUE class is i and PREDICTED class
is j. Recall normalises rows (per true class), precision normalises columns (per predicted class).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return cm


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)


def recall_normalised(cm: np.ndarray) -> np.ndarray:
    return _safe_div(cm.astype(float), cm.sum(axis=1, keepdims=True).astype(float))


def precision_normalised(cm: np.ndarray) -> np.ndarray:
    return _safe_div(cm.astype(float), cm.sum(axis=0, keepdims=True).astype(float))


def classification_report(cm: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support from a confusion matrix."""
    tp = np.diag(cm).astype(float)
    recall = _safe_div(tp, cm.sum(axis=1).astype(float))
    precision = _safe_div(tp, cm.sum(axis=0).astype(float))
    f1 = _safe_div(2 * precision * recall, precision + recall)
    total = cm.sum()
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(cm[i].sum())}
        for i, name in enumerate(labels)
    }
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1.mean()),
        "min_precision": float(precision.min()),
        "min_recall": float(recall.min()),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "n": int(total),
    }


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Area under ROC (Mann-Whitney U with ties): how well ``scores`` rank positives above negatives."""
    s = np.asarray(scores, dtype=float)
    p = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(p.sum()), int((~p).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = s.argsort(kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[p].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def plot_confusion(cm: np.ndarray, labels: Sequence[str], path: Path, title: str = "") -> Path:
    """Three panels: counts, recall (row-normalised), precision (column-normalised)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (cm, "Counts", "d"),
        (recall_normalised(cm), "Recall (rows sum to 1: share of each TRUE class)", ".2f"),
        (precision_normalised(cm), "Precision (columns sum to 1: share of each PREDICTED class)", ".2f"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(20, 6.5))
    for ax, (mat, name, fmt) in zip(axes, panels, strict=True):
        ax.imshow(mat, cmap="Blues")
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        hi = mat.max() if mat.size else 1
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                ax.text(j, i, format(mat[i, j], fmt), ha="center", va="center",
                        color="white" if mat[i, j] > hi / 2 else "black", fontsize=8)
    fig.suptitle(title or "Confusion matrix")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_history(history: list[dict[str, Any]], path: Path) -> Path:
    """Training curve: train loss, val loss and val accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(ep, [h["train_loss"] for h in history], label="train loss")
    a.plot(ep, [h["val_loss"] for h in history], label="val loss")
    a.set_xlabel("epoch")
    a.legend()
    b.plot(ep, [h["train_acc"] for h in history], label="train acc")
    b.plot(ep, [h["val_acc"] for h in history], label="val acc")
    b.set_xlabel("epoch")
    b.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
