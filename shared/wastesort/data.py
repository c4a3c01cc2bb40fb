"""Read labelled image sets (TrashNet + split.csv, or a plain class/xxx.jpg folder) and validate them.

Bad files are counted and skipped up front so a training epoch never dies halfway on one JPEG.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wastesort import CLASSES, WastesortError
from wastesort.preprocess import ImageError, load_image_file

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SPLITS = ("train", "val", "test")


class DatasetError(WastesortError):
    """The data folder cannot be used at all (missing, empty, unreadable split file)."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    split: str = "train"


@dataclass
class DatasetReport:
    """What validation found: kept samples per class and every problem, for logs and job results."""

    root: str
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"root": self.root, "counts": self.counts, "problems": self.problems,
                "skipped": len(self.problems)}


def _label_index(name: str) -> int | None:
    name = name.strip().lower()
    return CLASSES.index(name) if name in CLASSES else None


def read_split_csv(root: Path) -> list[Sample]:
    """TrashNet layout: ``split.csv`` with ``path,label,split`` relative to ``root``."""
    csv_path = root / "split.csv"
    samples: list[Sample] = []
    problems: list[str] = []
    with csv_path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label", "split"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{csv_path}: missing columns {sorted(missing)}")
        for row in reader:
            label = _label_index(row["label"])
            if label is None:
                problems.append(f"{row['path']}: unknown label {row['label']!r}")
                continue
            if row["split"] not in SPLITS:
                problems.append(f"{row['path']}: unknown split {row['split']!r}")
                continue
            samples.append(Sample(root / row["path"], label, row["split"]))
    for p in problems:
        log.warning(p)
    return samples


def read_class_folder(root: Path, split: str = "train") -> tuple[list[Sample], list[str]]:
    """Plain layout ``<class>/<file>`` (new data, review-queue exports). Unknown class folders are reported."""
    samples: list[Sample] = []
    problems: list[str] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        label = _label_index(sub.name)
        if label is None:
            problems.append(f"{sub.name}/: unknown class folder (expected one of {', '.join(CLASSES)})")
            continue
        for f in sorted(sub.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(f, label, split))
    return samples, problems


def load_samples(root: Path | str) -> list[Sample]:
    """All samples under ``root``: split.csv when present, otherwise class folders (all 'train')."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data folder not found: {root}")
    if (root / "split.csv").is_file():
        samples = read_split_csv(root)
    else:
        samples, problems = read_class_folder(root)
        for p in problems:
            log.warning(p)
    if not samples:
        raise DatasetError(
            f"no labelled images in {root}: expected split.csv or class folders named {', '.join(CLASSES)}"
        )
    return samples


def validate(samples: Sequence[Sample], root: Path | str = "") -> tuple[list[Sample], DatasetReport]:
    """Decode every image once; drop missing/corrupt files with a reason instead of failing later."""
    report = DatasetReport(root=str(root))
    kept: list[Sample] = []
    for s in samples:
        try:
            load_image_file(s.path)
        except (ImageError, OSError) as exc:
            report.problems.append(f"{s.path}: {exc}")
            continue
        kept.append(s)
    report.counts = dict(Counter(CLASSES[s.label] for s in kept))
    if report.problems:
        log.warning("%d of %d images skipped (%s ...)", len(report.problems), len(samples), report.problems[0])
    return kept, report


def by_split(samples: Sequence[Sample], split: str) -> list[Sample]:
    return [s for s in samples if s.split == split]


def stratified_head(samples: Sequence[Sample], n: int | None) -> list[Sample]:
    """The first ``n`` samples taken round-robin over classes, so a capped smoke run still sees every class."""
    if n is None or n >= len(samples):
        return list(samples)
    queues = [[s for s in samples if s.label == c] for c in range(len(CLASSES))]
    out: list[Sample] = []
    i = 0
    while len(out) < n:
        q = queues[i % len(queues)]
        if q:
            out.append(q.pop(0))
        i += 1
    return out


def class_counts(samples: Sequence[Sample]) -> np.ndarray:
    return np.bincount([s.label for s in samples], minlength=len(CLASSES))


def fingerprint(samples: Sequence[Sample]) -> str:
    """Hash of paths+labels: identifies a training set in a manifest without copying it."""
    h = hashlib.sha256()
    for s in sorted(samples, key=lambda s: str(s.path)):
        h.update(f"{s.path.name}\t{s.label}\t{s.split}\n".encode())
    return h.hexdigest()[:16]
