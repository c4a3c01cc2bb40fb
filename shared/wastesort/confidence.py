"""How sure the model is of one answer: the signals the uncertain flag and the review queue rank by.

One definition for the robustness report, the calibration at the end of training and the API, so the
threshold chosen offline means the same thing online. Signals are computed from raw logits because
``lognorm`` needs them: label smoothing squeezes softmax confidences together, and the softmax of the
L2-normalised logit vector ranks wrong answers better (on this project's shifted val: AUROC 0.848
against 0.820 for max-probability and 0.827 for the margin).
"""

from __future__ import annotations

import numpy as np

# the signals an uncertain flag may use (``neg_entropy`` is reported, never chosen: the API shows margins)
FLAG_SIGNALS = ("max_prob", "margin", "lognorm")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def confidence_signals(logits: np.ndarray) -> dict[str, np.ndarray]:
    """Per row of ``logits`` (N, C), higher = more sure."""
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    probs = softmax(logits)
    top = np.sort(probs, axis=1)[:, ::-1]
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(1)
    unit = logits / np.maximum(np.linalg.norm(logits, axis=1, keepdims=True), 1e-12)
    return {"max_prob": top[:, 0], "margin": top[:, 0] - (top[:, 1] if top.shape[1] > 1 else 0),
            "neg_entropy": -entropy, "lognorm": softmax(unit).max(1)}


def is_uncertain(signals: dict[str, float], *, calibration: dict | None, rule: str, threshold: float,
                 margin: float) -> bool:
    """The model's own rule (signal + threshold chosen on shifted val at training) unless told 'manual'."""
    if rule == "model" and calibration and calibration.get("signal") in FLAG_SIGNALS:
        return signals[calibration["signal"]] < float(calibration["threshold"])
    return signals["max_prob"] < threshold or signals["margin"] < margin


def review_score(signals: dict[str, float], calibration: dict | None) -> float:
    """What the review queue sorts by (lowest first): the signal the model's calibration chose as best at
    ranking its errors, else max-probability. Measured on real photos with ``wastesort evaluate --split field``."""
    name = calibration.get("signal") if calibration else None
    return float(signals[name if name in FLAG_SIGNALS else "max_prob"])
