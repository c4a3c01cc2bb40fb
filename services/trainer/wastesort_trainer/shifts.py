"""Capture shifts in the style of ImageNet-C: what a phone, a line camera or a bin photo does to an image.

Each shift takes an RGB uint8 image, a severity 1..5 (3 is "medium") and a numpy Generator, and is
deterministic given the generator's seed. They act on the full photo before the shared eval transform,
like a new photo would.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Shift = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
SEVERITIES = (1, 2, 3, 4, 5)
MEDIUM = 3


def _pick(values: tuple, severity: int):
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 1..5, got {severity}")
    return values[severity - 1]


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 255).astype(np.uint8)


def lighting(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Under- or over-exposure plus a vignette (a dim corner of a sorting hall, a flash)."""
    gain = _pick((0.8, 0.65, 0.5, 0.38, 0.28), severity)
    if rng.random() < 0.5:
        gain = 1 / gain ** 0.6  # over-exposure saturates sooner than under-exposure darkens
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    r = np.hypot((xx - cx) / w, (yy - cy) / h)
    vignette = 1 - _pick((0.1, 0.2, 0.3, 0.4, 0.5), severity) * np.clip(r / 0.8, 0, 1) ** 2
    return _u8(img.astype(np.float32) * gain * vignette[..., None])


def colour_temperature(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A warm (tungsten) or cold (shade, LED) cast the camera's white balance did not remove."""
    k = _pick((0.1, 0.2, 0.3, 0.4, 0.5), severity)
    warm = rng.random() < 0.5
    gains = np.array([1 + k, 1 + k / 3, 1 - k * 0.8] if warm else [1 - k * 0.8, 1 + k / 6, 1 + k], np.float32)
    return _u8(img.astype(np.float32) * gains)


def defocus_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius = _pick((1.5, 2.5, 4, 6, 8), severity)
    k = int(2 * radius + 1)
    yy, xx = np.mgrid[0:k, 0:k] - radius
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float32)
    return cv2.filter2D(img, -1, disk / disk.sum(), borderType=cv2.BORDER_REFLECT)


def motion_blur(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A belt moving under a slow shutter."""
    length = _pick((5, 9, 15, 21, 29), severity)
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2] = 1
    m = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), float(rng.uniform(0, 180)), 1)
    kernel = cv2.warpAffine(kernel, m, (length, length))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6), borderType=cv2.BORDER_REFLECT)


def sensor_noise(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Shot + read noise of a small sensor in poor light."""
    sigma = _pick((6, 11, 18, 27, 38), severity)
    x = img.astype(np.float32)
    noise = rng.normal(0, 1, x.shape).astype(np.float32) * (sigma * np.sqrt(np.maximum(x, 1) / 128))
    return _u8(x + noise)


def jpeg(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    quality = _pick((60, 35, 20, 12, 7), severity)
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def perspective(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A camera not looking straight down: each corner moves by up to ``d`` of the side."""
    d = _pick((0.06, 0.11, 0.16, 0.22, 0.28), severity)
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + rng.uniform(-d, d, (4, 2)).astype(np.float32) * np.float32([w, h])
    m = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def occlusion(img: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Other things in front: random blobs of flat or noisy colour covering ``share`` of the frame."""
    share = _pick((0.05, 0.1, 0.17, 0.25, 0.35), severity)
    h, w = img.shape[:2]
    out = img.copy()
    covered = np.zeros((h, w), bool)
    while covered.mean() < share:
        bh, bw = int(rng.uniform(0.1, 0.35) * h), int(rng.uniform(0.1, 0.35) * w)
        y, x = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
        blob = np.zeros((bh, bw), np.uint8)
        cv2.ellipse(blob, (bw // 2, bh // 2), (bw // 2, bh // 2), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        fill = rng.integers(0, 256, 3).astype(np.float32) + rng.normal(0, 12, (bh, bw, 3)).astype(np.float32)
        region = out[y: y + bh, x: x + bw]
        region[blob > 0] = _u8(fill)[blob > 0]
        covered[y: y + bh, x: x + bw] |= blob > 0
    return out


SHIFTS: dict[str, Shift] = {
    "lighting": lighting,
    "colour_temperature": colour_temperature,
    "defocus_blur": defocus_blur,
    "motion_blur": motion_blur,
    "sensor_noise": sensor_noise,
    "jpeg": jpeg,
    "perspective": perspective,
    "occlusion": occlusion,
}


def apply_shift(name: str, img: np.ndarray, severity: int, seed: int) -> np.ndarray:
    """One shifted copy, the same for the same (name, image, severity, seed)."""
    if name not in SHIFTS:
        raise ValueError(f"unknown shift {name!r}; known: {', '.join(SHIFTS)}")
    return SHIFTS[name](img, severity, np.random.default_rng(seed))
