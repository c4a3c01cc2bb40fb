"""Flat-colour irregular patches in front of the object: labels, bags, stickers, other packaging.

Why a transform of its own: on every shifted val set so far, coloured occluders were read as plastic
(glass recall 0.36-0.52 under the occlusion shift) although the robust augmentation already draws
random-colour boxes, and other training objects pasted on top (``occlude_p``) did not change that. Boxes
are axis-aligned with straight edges, which a network can learn to discount as an artefact; real clutter
is not. These patches are random star-shaped polygons (3-9 corners, any orientation) with a soft shading
gradient and a little grain, drawn over the crop the network sees.

They are *not* the robustness report's occlusion shift (:func:`wastesort_trainer.shifts.occlusion`: ellipses of
one colour with per-pixel noise, at full resolution, a set share of the frame); the two are close in
spirit, so a gain on that shift from these patches says more about coloured clutter than about clutter
in general.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np


def colour_patches(img: np.ndarray, rng: np.random.Generator, cover: tuple[float, float] = (0.05, 0.3),
                   vertices: tuple[int, int] = (3, 10), max_patches: int = 6) -> np.ndarray:
    """``img`` with random polygons until about a ``cover`` share of the frame is hidden (a copy).

    At most ``max_patches``, and parts of them fall off the frame, so the default (5-30%) hides 14% of
    a 224 px crop on median (7-22% for 90% of draws)."""
    h, w = img.shape[:2]
    out = img.astype(np.float32)
    target = rng.uniform(*cover)
    covered = np.zeros((h, w), bool)
    for _ in range(max_patches):
        if covered.mean() >= target:
            break
        r = rng.uniform(0.1, 0.3) * min(h, w)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        n = int(rng.integers(*vertices))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = r * rng.uniform(0.35, 1.0, n)
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1).round().astype(np.int32)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [pts], 1)
        inside = mask > 0
        ys, xs = np.nonzero(inside)
        if not len(ys):
            continue
        theta = rng.uniform(0, 2 * np.pi)  # light falling across the patch
        ramp = ((xs - cx) * np.cos(theta) + (ys - cy) * np.sin(theta)) / max(r, 1.0)
        colour = rng.integers(0, 256, 3).astype(np.float32)
        out[ys, xs] = (colour + rng.uniform(0, 30) * ramp[:, None]
                       + rng.normal(0, rng.uniform(0, 8), (len(ys), 3))).astype(np.float32)
        covered |= inside
    return np.clip(out, 0, 255).astype(np.uint8)


class ColourPatches(A.ImageOnlyTransform):
    """:func:`colour_patches` as an albumentations step, seeded from the pipeline's own generator."""

    def __init__(self, cover: tuple[float, float] = (0.05, 0.3), p: float = 0.5):
        super().__init__(p=p)
        self.cover = cover

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        return {"seed": int(self.random_generator.integers(0, 2**63 - 1))}

    def apply(self, img: np.ndarray, seed: int = 0, **params: Any) -> np.ndarray:
        return colour_patches(img, np.random.default_rng(seed), self.cover)
