"""Review queue: uncertain predictions kept with their image until a person labels them.

What is stored is never the client's bytes: the decoded photo, downscaled to ``max_side`` and re-encoded
as JPEG under an id derived from the upload's content hash (the same photo sent twice is one item; a
polyglot file keeps its pixels and loses its payload). The queue is bounded in items and bytes; past a
bound the most confident items go first (the least to learn from). Labelled images land in
``<review_dir>/labelled/<class>/``: a class folder that /retrain takes as new data.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
from PIL import Image

from wastesort import CLASSES
from wastesort.preprocess import DEFAULT_MAX_PIXELS, decode_image

MAX_NAME = 200  # characters of a client file name kept, for display only


def reencode(data: bytes, *, max_side: int, max_pixels: int) -> bytes:
    """The upload's pixels as a fresh JPEG, longest side at most ``max_side``."""
    img = decode_image(data, max_pixels=max_pixels)
    h, w = img.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _score(record: dict[str, Any]) -> float:
    """The model's own confidence signal (``review_score``); max-probability for items stored before it."""
    return float(record.get("score", record.get("confidence", 1.0)))


class ReviewQueue:
    def __init__(self, root: Path, *, max_items: int = 1000, max_bytes: int = 200 * 2**20, max_side: int = 1024,
                 max_pixels: int = DEFAULT_MAX_PIXELS, on_drop: Callable[[str, int], None] | None = None):
        self.pending = root / "pending"
        self.labelled = root / "labelled"
        self.pending.mkdir(parents=True, exist_ok=True)
        self.labelled.mkdir(parents=True, exist_ok=True)
        self.max_items, self.max_bytes, self.max_side, self.max_pixels = max_items, max_bytes, max_side, max_pixels
        self.on_drop = on_drop or (lambda reason, n: None)

    def add(self, data: bytes, meta: dict[str, Any]) -> str:
        """Store one uncertain photo (idempotent by content); returns its id."""
        item_id = hashlib.sha256(data).hexdigest()[:16]
        if (self.pending / f"{item_id}.json").is_file() or self._labelled_file(item_id) is not None:
            return item_id
        jpeg = reencode(data, max_side=self.max_side, max_pixels=self.max_pixels)
        (self.pending / f"{item_id}.jpg").write_bytes(jpeg)
        name = str(meta.get("filename") or "")[:MAX_NAME]
        record = {**meta, "id": item_id, "file": f"{item_id}.jpg", "bytes": len(jpeg), "created": time.time(),
                  "filename": name}
        tmp = self.pending / f".{item_id}.json.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.pending / f"{item_id}.json")  # the record appears only when the image is there
        self._enforce_bounds()
        return item_id

    def _records(self) -> list[dict[str, Any]]:
        out = []
        for f in self.pending.glob("*.json"):
            try:
                out.append(json.loads(f.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
        return out

    def _enforce_bounds(self) -> None:
        records = self._records()
        total = sum(int(r.get("bytes", 0)) for r in records)
        # most confident (then oldest) first: they teach the least
        records.sort(key=lambda r: (-_score(r), r.get("created", 0.0)))
        dropped = 0
        while records and (len(records) > self.max_items or total > self.max_bytes):
            r = records.pop(0)
            total -= int(r.get("bytes", 0))
            self._remove(r["id"], r["file"])
            dropped += 1
        if dropped:
            self.on_drop("bound", dropped)

    def _remove(self, item_id: str, file: str) -> None:
        (self.pending / f"{item_id}.json").unlink(missing_ok=True)
        (self.pending / file).unlink(missing_ok=True)

    def items(self, limit: int = 100) -> list[dict[str, Any]]:
        out = self._records()
        out.sort(key=lambda r: (_score(r), r.get("margin", 1.0)))  # least sure first: likeliest mistakes
        return out[:limit]

    def count(self) -> int:
        return sum(1 for _ in self.pending.glob("*.json"))

    def image_path(self, item_id: str) -> Path | None:
        rec = self._record(item_id)
        return None if rec is None else self.pending / rec["file"]

    def _record(self, item_id: str) -> dict[str, Any] | None:
        if not (item_id.isalnum() and len(item_id) <= 64):
            return None
        f = self.pending / f"{item_id}.json"
        try:
            return json.loads(f.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _labelled_file(self, item_id: str) -> Path | None:
        return next((p for p in self.labelled.glob(f"*/{item_id}.jpg")), None)

    def label(self, item_id: str, label: str) -> dict[str, Any] | None:
        """Move the item to its class folder; None when it is gone (never labelled, or another admin won)."""
        if label not in CLASSES:
            raise ValueError(f"unknown label {label!r}; one of {', '.join(CLASSES)}")
        rec = self._record(item_id)
        if rec is None:
            return None
        dest = self.labelled / label
        dest.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self.pending / rec["file"], dest / rec["file"])
        except FileNotFoundError:  # labelled at the same moment by someone else
            return None
        (self.pending / f"{item_id}.json").unlink(missing_ok=True)
        return {**rec, "label": label}

    def labelled_count(self) -> int:
        return sum(1 for p in self.labelled.glob("*/*") if p.is_file())
