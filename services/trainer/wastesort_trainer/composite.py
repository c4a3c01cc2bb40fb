"""Paste a cut-out object onto a new background: random scale, position and rotation, a shadow now and then.

Used twice with different backgrounds: on the fly in training (train part of the pool) and once per
test photo to build the background-replaced robustness set (test part of the pool).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from wastesort_trainer.backgrounds import BackgroundPool


@dataclass(frozen=True)
class PasteParams:
    scale: tuple[float, float] = (0.45, 0.9)  # object's bounding box, as a share of the canvas side
    max_rotation: float = 180.0
    shadow_p: float = 0.35
    feather: int = 3  # px of soft edge


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask > 127)
    if len(ys) == 0:
        return 0, 0, mask.shape[1], mask.shape[0]
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _rotate(img: np.ndarray, mask: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = mask.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos) + 1, int(h * cos + w * sin) + 1
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    img = cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(mask, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return img, mask


def paste(image: np.ndarray, mask: np.ndarray, background: np.ndarray, rng: np.random.Generator,
          params: PasteParams = PasteParams()) -> np.ndarray:
    """``image``'s object (where ``mask`` > 0) on ``background``; output has the background's size."""
    bh, bw = background.shape[:2]
    x0, y0, x1, y1 = _bbox(mask)
    obj, alpha = image[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    if params.max_rotation:
        obj, alpha = _rotate(obj, alpha, float(rng.uniform(-params.max_rotation, params.max_rotation)))
        bx0, by0, bx1, by1 = _bbox(alpha)
        obj, alpha = obj[by0:by1, bx0:bx1], alpha[by0:by1, bx0:bx1]
    oh, ow = alpha.shape
    share = rng.uniform(*params.scale)
    s = share * min(bw / ow, bh / oh)
    nw, nh = max(4, int(ow * s)), max(4, int(oh * s))
    obj = cv2.resize(obj, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    alpha = cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_LINEAR)
    if params.feather:
        k = 2 * params.feather + 1
        alpha = cv2.GaussianBlur(alpha, (k, k), 0)
    px = int(rng.integers(0, max(1, bw - nw + 1)))
    py = int(rng.integers(0, max(1, bh - nh + 1)))
    out = background.astype(np.float32)
    a = np.zeros((bh, bw), np.float32)
    a[py: py + nh, px: px + nw] = alpha[: bh - py, : bw - px].astype(np.float32) / 255.0
    if rng.random() < params.shadow_p:  # a soft, offset, darker copy of the silhouette underneath
        dx, dy = (rng.uniform(-0.06, 0.06, 2) * (bw, bh)).astype(int)
        shadow = np.roll(np.roll(a, dy, axis=0), dx, axis=1)
        k = int(max(3, 0.04 * min(bh, bw))) | 1
        shadow = cv2.GaussianBlur(shadow, (k, k), 0)
        out *= (1 - rng.uniform(0.25, 0.55) * shadow)[..., None]
    placed = np.zeros((bh, bw, 3), np.float32)
    placed[py: py + nh, px: px + nw] = obj[: bh - py, : bw - px]
    out = out * (1 - a[..., None]) + placed * a[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


# Training pastes a little larger: the random crop that follows must not miss the object
# (``TrainConfig.paste_scale`` sets the range; this is its default).
TRAIN_PASTE = PasteParams(scale=(0.5, 0.95))


# Occluders are other training objects, smaller than the one the label is about.
OCCLUDER_PASTE = PasteParams(scale=(0.15, 0.4), shadow_p=0.3)


def occlude(image: np.ndarray, others: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator,
            params: PasteParams = OCCLUDER_PASTE) -> np.ndarray:
    """Other objects lying on or beside this one: each (photo, mask) cut out and pasted on top."""
    for other, mask in others:
        image = paste(other, mask, image, rng, params)
    return image


class Compositor:
    """Training-time background replacement with probability ``p`` (train part of the pool)."""

    def __init__(self, pool: BackgroundPool, p: float, params: PasteParams = TRAIN_PASTE):
        self.pool, self.p, self.params = pool, p, params

    def __call__(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.p <= 0 or rng.random() >= self.p:
            return image
        h, w = image.shape[:2]
        return paste(image, mask, self.pool.sample(rng, h, w), rng, self.params)
