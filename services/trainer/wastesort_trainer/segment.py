"""Cut the object out of a TrashNet photo: everything that is not the white poster board.

Every TrashNet photo is one object on a near-white board under room light. The board is modelled as
a smooth surface (a quadratic in x, y per Lab channel, fitted robustly to bright, low-chroma, flat
pixels); whatever departs from it in colour, in brightness or in texture scores as object. Those
scores seed OpenCV's GrabCut, whose colour models then drop soft shadows and keep the object's own
pale parts. Holes are filled and specks removed.

Known limits (checked by eye on contact sheets, see ``wastesort robustness --mask-sheet``):
clear glass and clear plastic lying flat on the board are nearly invisible and lose parts; deep
shadows next to an object are sometimes kept; a photo with no board in view (a box filling the
frame) gives a full mask, and is then pasted as a whole rectangle.

White objects (envelopes, sheets, milk jugs) on the white board used to come out as their outline
only: thin strips of edge, the pale middle taken for board. A strip of paper on gravel is no longer
paper, and those fragments were a large share of the background-replaced errors. A mask that fills
less than ``MIN_SOLIDITY`` of its convex hull is therefore replaced by the hull: most waste items
are roughly convex, and the hull of an outline is the object. The cost, seen on contact sheets: a
stray shadow streak next to a small round object can pull a wedge of board into the hull.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from wastesort.preprocess import load_image_file

log = logging.getLogger(__name__)

WORK_SIZE = 160  # long side the mask is computed at: ~0.05 s an image, masks are upsampled softly
MIN_BOARD_SHARE = 0.08  # less board than this in view: the object fills the frame
BOARD_MIN_L, BOARD_MAX_CHROMA, LIGHTER_SCALE = 150, 15, 40
MIN_OBJECT_SHARE = 0.03  # TrashNet objects are never this small: the "board" found was the object itself
MIN_SOLIDITY = 0.65  # mask area over its convex hull's: below, the mask is an outline (see above)
MASK_VERSION = 2  # part of the cache key: bump when the masks change


def _design(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = x / w - 0.5, y / h - 0.5
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], -1).reshape(-1, 6)


def object_score(small_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """How far each pixel is from the fitted board (>1: object) and where the board lies in shadow
    (darker, same colour, flat); None when no board is in view."""
    h, w = small_rgb.shape[:2]
    lab = cv2.cvtColor(small_rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    gx = cv2.Sobel(lab[..., 0], cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(lab[..., 0], cv2.CV_32F, 0, 1)
    grad = cv2.GaussianBlur(np.sqrt(gx * gx + gy * gy), (5, 5), 0).reshape(-1)
    v = lab.reshape(-1, 3)
    chroma = np.hypot(v[:, 1] - 128, v[:, 2] - 128)
    board = (v[:, 0] > BOARD_MIN_L) & (chroma < BOARD_MAX_CHROMA) & (grad < np.percentile(grad, 70))
    if board.mean() < MIN_BOARD_SHARE:
        return None
    design = _design(h, w)
    score = np.zeros(len(v), np.float32)
    for _ in range(4):  # refit on the pixels the last fit called board
        coef, *_ = np.linalg.lstsq(design[board], v[board], rcond=None)
        res = v - design @ coef
        d_chroma, d_light = np.hypot(res[:, 1], res[:, 2]), res[:, 0]
        # colour and texture tell objects apart; brightness alone mostly tells light falloff and shadows
        score = np.maximum.reduce([d_chroma / 9, np.maximum(d_light, 0) / LIGHTER_SCALE,
                                   np.maximum(-d_light, 0) / 45, grad / 22])
        board = score < 0.7
        if board.sum() < 50:
            return None
    shadow = (d_light < -3) & (d_chroma < 5) & (grad < 8)
    return score.reshape(h, w), shadow.reshape(h, w)


def _clean(fg: np.ndarray) -> np.ndarray:
    h, w = fg.shape
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k, iterations=2)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, k)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= 0.01 * h * w
    fg = keep[labels].astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(1 - fg)  # holes: board islands not at the edge
    for i in range(1, n):
        x, y, ww, hh, _ = stats[i]
        if x > 0 and y > 0 and x + ww < w and y + hh < h:
            fg[labels == i] = 1
    return fg


def hull_fill(fg: np.ndarray, min_solidity: float = MIN_SOLIDITY) -> np.ndarray:
    """The convex hull of all of ``fg``'s parts when they fill less than ``min_solidity`` of it."""
    contours, _ = cv2.findContours(fg.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return fg
    hull = cv2.convexHull(np.concatenate(contours))
    if (fg > 0).sum() >= min_solidity * cv2.contourArea(hull):
        return fg
    out = np.zeros_like(fg)
    cv2.fillPoly(out, [hull], 1)
    return out


def object_mask(rgb: np.ndarray, *, work_size: int = WORK_SIZE) -> np.ndarray:
    """Soft object mask (uint8 0..255, same size as ``rgb``); all 255 when no board is in view."""
    height, width = rgb.shape[:2]
    s = work_size / max(height, width)
    small = cv2.resize(rgb, (max(8, round(width * s)), max(8, round(height * s))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0)
    scored = object_score(small)
    if scored is None:
        return np.full((height, width), 255, np.uint8)
    score, shadow = scored
    gc = np.full(score.shape, cv2.GC_PR_BGD, np.uint8)
    gc[score > 1.0] = cv2.GC_PR_FGD
    gc[score > 2.5] = cv2.GC_FGD
    gc[score < 0.35] = cv2.GC_BGD
    if (gc == cv2.GC_FGD).sum() > 20 and (gc != cv2.GC_FGD).sum() > 20:
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)
        cv2.grabCut(small, gc, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
    fg = _clean((((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)) & ~shadow).astype(np.uint8))
    # one pixel in at work size (~2.5 px in the photo): a rim of white board would be a give-away cue
    fg = cv2.erode(fg, np.ones((3, 3), np.uint8)) if fg.sum() > 0.02 * fg.size else fg
    if fg.sum() < MIN_OBJECT_SHARE * fg.size:  # a speck (pen marks on a box filling the frame): keep it whole
        return np.full((height, width), 255, np.uint8)
    fg = hull_fill(fg)
    return cv2.resize(fg * 255, (width, height), interpolation=cv2.INTER_LINEAR)


class MaskCache:
    """Masks on disk keyed by the image bytes' hash, so every run after the first skips GrabCut."""

    def __init__(self, folder: Path | str | None):
        self.folder = Path(folder) if folder else None
        self._mem: dict[Path, np.ndarray] = {}

    def _file(self, path: Path) -> Path | None:
        if self.folder is None:
            return None
        digest = hashlib.sha1(path.read_bytes()).hexdigest()[:20]
        return self.folder / f"{digest}-{WORK_SIZE}-v{MASK_VERSION}.png"

    def get(self, path: Path, image: np.ndarray | None = None) -> np.ndarray:
        mask = self._mem.get(path)
        if mask is not None:
            return mask
        f = self._file(path)
        if f is not None and f.is_file():
            mask = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            mask = object_mask(image if image is not None else load_image_file(path))
            if f is not None:
                f.parent.mkdir(parents=True, exist_ok=True)
                tmp = f.with_suffix(".tmp.png")
                cv2.imwrite(str(tmp), mask)
                tmp.replace(f)
        self._mem[path] = mask
        return mask

    def warm(self, paths: Iterable[Path], workers: int = 0) -> None:
        """Compute the missing masks, in parallel processes when ``workers`` > 1 (first run only)."""
        todo = [p for p in paths if p not in self._mem and not (self._file(p) or Path("/nonexistent")).is_file()]
        if not todo:
            return
        log.info("cutting objects from %d images (once; cached in %s)", len(todo), self.folder)
        if workers > 1 and self.folder is not None:
            with ProcessPoolExecutor(workers) as pool:
                list(pool.map(_warm_one, [(self.folder, p) for p in todo], chunksize=16))
        for p in todo:
            self.get(p)


def _warm_one(args: tuple[Path, Path]) -> None:
    folder, path = args
    MaskCache(folder).get(path)
