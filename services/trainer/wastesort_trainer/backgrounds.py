"""Backgrounds to paste objects onto: real surface photos, procedural surfaces, package sample photos.

Training and the robustness test must never share a background source, so the pool is split once,
deterministically:

- real photos (``../shared/datasets/backgrounds``): grouped by ``source_path`` in ``sources.csv``
  (crops share pixels with their parent), and within each surface folder ~30% of the groups go to
  the test pool, chosen by a hash of the group name (stable across machines and runs);
- procedural surfaces: training draws ``noise`` and ``planks``, the test ``belt`` and ``tiles``;
- photos shipped inside installed packages (scikit-learn's ``china.jpg``/``flower.jpg``: cluttered
  scenes, not surfaces): test pool only.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from wastesort import WastesortError
from wastesort.preprocess import load_image_file

log = logging.getLogger(__name__)

Part = Literal["train", "test"]
TEST_SHARE = 0.3
PROCEDURAL: dict[Part, tuple[str, ...]] = {"train": ("noise", "planks"), "test": ("belt", "tiles")}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True)
class BackgroundFile:
    path: Path
    group: str  # files of one group share pixels: they always land in the same part
    surface: str


def list_background_files(folder: Path) -> list[BackgroundFile]:
    """Files under ``folder``/<surface>/, grouped by ``sources.csv`` when present (else one group each)."""
    if not folder.is_dir():
        raise WastesortError(f"backgrounds folder not found: {folder}")
    groups: dict[str, str] = {}
    sources = folder / "sources.csv"
    if sources.is_file():
        with sources.open(newline="") as fh:
            for row in csv.DictReader(fh):
                groups[row["file"]] = row.get("source_path") or row["file"]
    out = []
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
            rel = f.relative_to(folder).as_posix()
            out.append(BackgroundFile(f, groups.get(rel, rel), rel.split("/")[0] if "/" in rel else "misc"))
    return out


def _stable_unit(text: str) -> float:
    return int(hashlib.sha1(text.encode()).hexdigest()[:12], 16) / 16**12


def split_background_files(files: Sequence[BackgroundFile], test_share: float = TEST_SHARE) -> dict[Part, list]:
    """Per surface, the ``test_share`` of groups with the lowest stable hash form the test part."""
    by_surface: dict[str, set[str]] = defaultdict(set)
    for f in files:
        by_surface[f.surface].add(f.group)
    test_groups: set[str] = set()
    for groups in by_surface.values():
        ranked = sorted(groups, key=_stable_unit)
        test_groups.update(ranked[: max(1, math.ceil(len(ranked) * test_share))] if len(ranked) > 1 else [])
    return {"train": [f for f in files if f.group not in test_groups],
            "test": [f for f in files if f.group in test_groups]}


def package_photos() -> list[np.ndarray]:
    """Cluttered scene photos shipped with scikit-learn (test pool only)."""
    try:
        import sklearn

        folder = Path(sklearn.__file__).parent / "datasets" / "images"
    except ImportError:
        return []
    return [load_image_file(p) for p in sorted(folder.glob("*.jpg"))]


# --- procedural surfaces -------------------------------------------------------------------------

def _value_noise(rng: np.random.Generator, h: int, w: int, octaves: int = 5) -> np.ndarray:
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        cells = 2 ** (o + 2)
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.55
    out /= total
    return (out - out.min()) / max(1e-6, float(out.max() - out.min()))


def _colour(rng: np.random.Generator, lo: int, hi: int) -> np.ndarray:
    base = rng.uniform(lo, hi)
    return np.clip(base + rng.normal(0, 18, 3), 0, 255).astype(np.float32)


def procedural(kind: str, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An RGB uint8 surface of ``kind``: noise (dirt, stone), planks (wood floor), belt, tiles."""
    if kind == "noise":
        n = _value_noise(rng, h, w)[..., None]
        a, b = _colour(rng, 40, 200), _colour(rng, 40, 200)
        img = a * (1 - n) + b * n
    elif kind == "planks":
        plank = int(rng.integers(max(8, h // 8), max(9, h // 3)))
        grain = _value_noise(rng, max(2, h // 24), w, 3)
        grain = cv2.resize(grain, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
        base = _colour(rng, 70, 190) * np.array([1.15, 0.95, 0.7], np.float32)
        img = base * (0.8 + 0.35 * grain)
        for y in range(0, h, plank):
            img[y: y + 2] *= 0.55
            img[y + 2: y + plank] *= rng.uniform(0.85, 1.1)
    elif kind == "belt":  # dark rubber conveyor with ribs
        val = rng.uniform(25, 80)
        img = np.full((h, w, 3), val, np.float32) + rng.normal(0, 6, (h, w, 1)).astype(np.float32)
        period = int(rng.integers(6, 18))
        ribs = (np.arange(h) % period < period // 3).astype(np.float32)[:, None, None]
        img = img * (1 + 0.35 * ribs)
    elif kind == "tiles":
        size = int(rng.integers(max(12, h // 8), max(13, h // 2)))
        a, b = _colour(rng, 90, 230), _colour(rng, 90, 230)
        yy, xx = np.mgrid[0:h, 0:w]
        check = ((yy // size + xx // size) % 2)[..., None].astype(np.float32)
        img = a * check + b * (1 - check) + rng.normal(0, 5, (h, w, 1)).astype(np.float32)
        grout = ((yy % size < 2) | (xx % size < 2))[..., None]
        img = np.where(grout, img * 0.5, img)
    else:
        raise ValueError(f"unknown procedural surface {kind!r}")
    return np.clip(img, 0, 255).astype(np.uint8)


# --- the pool ------------------------------------------------------------------------------------

@dataclass
class BackgroundPool:
    """Backgrounds of one part; ``sample`` gives a random crop of any size."""

    photos: list[np.ndarray] = field(default_factory=list)
    procedural_kinds: tuple[str, ...] = ()
    procedural_share: float = 0.2

    def __len__(self) -> int:
        return len(self.photos) + len(self.procedural_kinds)

    def sample(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        if not len(self):
            raise WastesortError("empty background pool")
        if self.procedural_kinds and (not self.photos or rng.random() < self.procedural_share):
            return procedural(str(rng.choice(self.procedural_kinds)), rng, h, w)
        photo = self.photos[int(rng.integers(len(self.photos)))]
        ph, pw = photo.shape[:2]
        # a random crop at a random zoom, flipped or turned: many views per photo
        zoom = rng.uniform(0.5, 1.0)
        ch = max(8, min(ph, int(ph * zoom)))
        cw = max(8, min(pw, int(ch * w / h)))
        y0 = int(rng.integers(0, ph - ch + 1))
        x0 = int(rng.integers(0, pw - cw + 1))
        crop = photo[y0: y0 + ch, x0: x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < 0.5:
            crop = crop[::-1]
        return cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_LINEAR)


def load_pool(folder: Path | str | None, part: Part, *, max_side: int = 512,
              loader: Callable[[Path], np.ndarray] = load_image_file) -> BackgroundPool:
    """The ``part`` pool: its share of the real photos, its procedural kinds, package photos for test."""
    photos: list[np.ndarray] = []
    if folder is not None and Path(folder).is_dir():
        for f in split_background_files(list_background_files(Path(folder)))[part]:
            img = loader(f.path)
            s = max_side / max(img.shape[:2])
            photos.append(cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else img)
    elif folder is not None:
        log.warning("backgrounds folder %s not found: using procedural surfaces only", folder)
    if part == "test":
        photos += package_photos()
    return BackgroundPool(photos, PROCEDURAL[part])
