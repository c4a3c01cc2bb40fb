"""Out-of-distribution check: the test split moved off the white board, and how well confidence flags mistakes.

Sets built from one split (``test`` for the report, ``val`` for choosing anything):
- ``background``: each object cut from its board and pasted on a background from the test part of
  the pool (never seen in training), at a random scale, position and rotation, a shadow now and then;
- each capture shift of :mod:`wastesort_trainer.shifts` at the chosen severities.

For every set: accuracy, per-class recall, and the AUROC with which each confidence signal ranks
wrong predictions below right ones. :func:`calibrate_uncertainty` picks the signal and threshold the
API's ``uncertain`` flag uses, on shifted *val* images with *training* backgrounds (never test).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from wastesort import CLASSES
from wastesort.card import DataConfig
from wastesort.confidence import FLAG_SIGNALS, confidence_signals
from wastesort.data import Sample
from wastesort_trainer.backgrounds import BackgroundPool
from wastesort_trainer.composite import paste
from wastesort_trainer.evaluation import Alter, ImageCache, predict_logits, report_from_logits
from wastesort_trainer.metrics import auroc
from wastesort_trainer.segment import MaskCache
from wastesort_trainer.shifts import MEDIUM, SHIFTS, apply_shift

log = logging.getLogger(__name__)

TARGETS = {"background_accuracy": 0.85, "background_min_recall": 0.75, "medium_shift_accuracy": 0.85,
           "error_auroc": 0.85}


# --- confidence signals ------------------------------------------------------------------------

def error_aurocs(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """AUROC of 'prediction is wrong' scored by low confidence; NaN when all right or all wrong."""
    signals = confidence_signals(logits)
    wrong = logits.argmax(1) != y
    if wrong.all() or not wrong.any():
        return {k: float("nan") for k in signals}
    return {k: float(auroc(-v, wrong)) for k, v in signals.items()}


def youden_threshold(conf: np.ndarray, wrong: np.ndarray) -> float:
    """The cut 'uncertain if conf < t' with the best (errors flagged - right answers flagged)."""
    cand = np.unique(conf)
    if len(cand) > 400:
        cand = np.quantile(conf, np.linspace(0, 1, 401))
    best_t, best_j = 0.0, -1.0
    for t in cand:
        flagged = conf < t
        j = flagged[wrong].mean() - flagged[~wrong].mean()
        if j > best_j:
            best_t, best_j = float(t), float(j)
    return best_t


# --- shifted sets ------------------------------------------------------------------------------

def _seed(*parts: Any) -> int:
    return int(hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def background_alter(samples: Sequence[Sample], masks: MaskCache, pool: BackgroundPool, seed: int) -> Alter:
    def alter(img: np.ndarray, i: int) -> np.ndarray:
        rng = np.random.default_rng(_seed(seed, "background", samples[i].path.name))
        h, w = img.shape[:2]
        return paste(img, masks.get(samples[i].path, img), pool.sample(rng, h, w), rng)

    return alter


def shift_alter(samples: Sequence[Sample], name: str, severity: int, seed: int) -> Alter:
    def alter(img: np.ndarray, i: int) -> np.ndarray:
        return apply_shift(name, img, severity, _seed(seed, name, severity, samples[i].path.name))

    return alter


@dataclass
class SetResult:
    name: str
    severity: int | None
    logits: np.ndarray
    y: np.ndarray

    def summary(self) -> dict[str, Any]:
        rep = report_from_logits(self.logits, self.y)
        return {"set": self.name, "severity": self.severity, "n": rep["n"], "accuracy": rep["accuracy"],
                "macro_f1": rep["macro_f1"], "min_recall": rep["min_recall"],
                "recall": {c: m["recall"] for c, m in rep["per_class"].items()},
                "error_auroc": error_aurocs(self.logits, self.y),
                "confusion_matrix": rep["confusion_matrix"], "top_confusions": top_confusions(rep["confusion_matrix"])}


def top_confusions(cm: Sequence[Sequence[int]], k: int = 3) -> list[str]:
    """The ``k`` largest off-diagonal cells as 'true->predicted n': where a shift sends the errors
    (e.g. coloured occluders turning glass into plastic) tells which augmentation to try next."""
    cells = [(int(cm[i][j]), i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i][j]]
    return [f"{CLASSES[i]}->{CLASSES[j]} {n}" for n, i, j in sorted(cells, key=lambda c: (-c[0], c[1], c[2]))[:k]]


def run_sets(model: torch.nn.Module, samples: Sequence[Sample], data_cfg: DataConfig, *, masks: MaskCache,
             pool: BackgroundPool, shifts: Sequence[str] = tuple(SHIFTS), severities: Sequence[int] = (MEDIUM,),
             seed: int = 0, cache: ImageCache | None = None, progress: bool = True) -> list[SetResult]:
    """Predict the clean set, the background-replaced set and every (shift, severity) set."""
    cache = cache or ImageCache()
    y = np.array([s.label for s in samples], dtype=np.int64)
    plan: list[tuple[str, int | None, Alter | None]] = [("clean", None, None)]
    if len(pool):
        plan.append(("background", None, background_alter(samples, masks, pool, seed)))
    plan += [(name, sev, shift_alter(samples, name, sev, seed)) for name in shifts for sev in severities]
    out = []
    for k, (name, sev, alter) in enumerate(plan, 1):
        started = time.time()
        logits = predict_logits(model, samples, data_cfg, cache=cache, alter=alter)
        out.append(SetResult(name, sev, logits, y))
        if progress:
            acc = float((logits.argmax(1) == y).mean()) if len(y) else 0.0
            print(f"[{k}/{len(plan)}] {name}{'' if sev is None else f' s{sev}'}: accuracy {acc:.4f} "
                  f"({time.time() - started:.0f}s)", flush=True)
    return out


def calibrate_uncertainty(results: Sequence[SetResult]) -> dict[str, Any]:
    """Best signal (pooled AUROC over the shifted sets) and its Youden threshold, for the API's flag."""
    shifted = [r for r in results if r.name != "clean"] or list(results)
    logits = np.concatenate([r.logits for r in shifted])
    y = np.concatenate([r.y for r in shifted])
    aurocs = error_aurocs(logits, y)
    usable = {k: v for k, v in aurocs.items() if k in FLAG_SIGNALS and not np.isnan(v)}
    signal = max(usable, key=usable.get) if usable else "max_prob"
    conf = confidence_signals(logits)[signal]
    wrong = logits.argmax(1) != y
    t = youden_threshold(conf, wrong) if wrong.any() and not wrong.all() else 0.5
    flagged = conf < t
    return {"signal": signal, "threshold": float(t), "auroc": aurocs, "n": int(len(y)),
            "errors_flagged": float(flagged[wrong].mean()) if wrong.any() else None,
            "correct_flagged": float(flagged[~wrong].mean()) if (~wrong).any() else None,
            "chosen_on": "val split, training backgrounds, capture shifts at medium severity"}


# --- the report ---------------------------------------------------------------------------------

def summarise(results: Sequence[SetResult]) -> dict[str, Any]:
    rows = [r.summary() for r in results]
    by = {(r["set"], r["severity"]): r for r in rows}
    shifted = [r for r in results if r.name != "clean"]
    pooled = error_aurocs(np.concatenate([r.logits for r in shifted]), np.concatenate([r.y for r in shifted])) \
        if shifted else {}
    medium = [r for r in rows if r["severity"] == MEDIUM]
    bg = by.get(("background", None))
    checks = {
        "background_accuracy": bg and bg["accuracy"] >= TARGETS["background_accuracy"],
        "background_min_recall": bg and bg["min_recall"] >= TARGETS["background_min_recall"],
        "medium_shift_accuracy": bool(medium) and all(r["accuracy"] >= TARGETS["medium_shift_accuracy"]
                                                      for r in medium),
        "error_auroc": bool(pooled) and max(pooled.get(k, 0) for k in FLAG_SIGNALS) >= TARGETS["error_auroc"],
    }
    off_board = medium + ([bg] if bg else [])
    return {"rows": rows, "pooled_error_auroc": pooled,
            "medium_shift_mean_accuracy": float(np.mean([r["accuracy"] for r in medium])) if medium else None,
            "shifted_medium_mean_accuracy": float(np.mean([r["accuracy"] for r in off_board])) if off_board else None,
            "targets": TARGETS, "checks": checks}


def markdown_table(summary: dict[str, Any]) -> str:
    head = ("| set | severity | accuracy | " + " | ".join(f"{c} recall" for c in CLASSES)
            + " | AUROC max_prob | AUROC margin | AUROC lognorm | most frequent errors |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in summary["rows"]:
        au = r["error_auroc"]
        lines.append(f"| {r['set']} | {r['severity'] or ''} | {r['accuracy']:.2%} | "
                     + " | ".join(f"{r['recall'][c]:.2f}" for c in CLASSES)
                     + f" | {au['max_prob']:.3f} | {au['margin']:.3f} | {au['lognorm']:.3f} | "
                     + f"{', '.join(r.get('top_confusions', []))} |")
    return "\n".join(lines)


def example_sheet(samples: Sequence[Sample], alters: dict[str, Alter], out: Path, *, n: int = 6,
                  cache: ImageCache | None = None, tile: tuple[int, int] = (192, 144)) -> Path:
    """One row per set, ``n`` photos each: what the model was shown."""
    cache = cache or ImageCache()
    idx = np.linspace(0, len(samples) - 1, min(n, len(samples))).astype(int)
    rows = []
    for alter in alters.values():
        row = [cv2.resize(alter(cache.get(samples[i].path), int(i)) if alter else cache.get(samples[i].path), tile)
               for i in idx]
        rows.append(np.hstack(row))
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack(rows)[..., ::-1])
    return out


def mask_sheet(samples: Sequence[Sample], masks: MaskCache, out: Path, *, n: int = 24,
               cache: ImageCache | None = None, tile: tuple[int, int] = (192, 144)) -> Path:
    """Masks over their photos (background tinted magenta) for checking the cut-outs by eye."""
    cache = cache or ImageCache()
    idx = np.linspace(0, len(samples) - 1, min(n, len(samples))).astype(int)
    tiles = []
    for i in idx:
        img = cache.get(samples[i].path)
        m = masks.get(samples[i].path, img)[..., None].astype(np.float32) / 255
        tint = img * m + (img * 0.3 + np.array([255, 0, 255]) * 0.7) * (1 - m)
        tiles.append(cv2.resize(tint.astype(np.uint8), tile))
    while len(tiles) % 6:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[k:k + 6]) for k in range(0, len(tiles), 6)])
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), grid[..., ::-1])
    return out


def comparison_table(summaries: dict[str, dict[str, Any]]) -> str:
    """Accuracy per set, one column per model: the side-by-side view of several recipes."""
    names = list(summaries)
    head = "| set | severity | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * (len(names) + 2)]
    first = summaries[names[0]]["rows"]
    for i, r in enumerate(first):
        accs = [f"{summaries[n]['rows'][i]['accuracy']:.2%}" for n in names]
        lines.append(f"| {r['set']} | {r['severity'] or ''} | " + " | ".join(accs) + " |")
    for label, key in (("mean, background + medium shifts", "shifted_medium_mean_accuracy"),):
        vals = [summaries[n].get(key) for n in names]
        lines.append(f"| {label} | | " + " | ".join("" if v is None else f"{v:.2%}" for v in vals) + " |")
    aurocs = [summaries[n]["pooled_error_auroc"] for n in names]
    lines.append("| error AUROC (max_prob / margin / lognorm), pooled shifted | | "
                 + " | ".join(" / ".join(f"{a.get(k, float('nan')):.3f}" for k in FLAG_SIGNALS) for a in aurocs)
                 + " |")
    return "\n".join(lines)
