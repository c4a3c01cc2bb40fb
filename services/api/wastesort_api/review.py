"""Review queue: uncertain predictions kept with their image until a person labels them.

Labelled images land in ``<review_dir>/labelled/<class>/``: a class folder that /retrain takes as new data.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from wastesort import CLASSES


class ReviewQueue:
    def __init__(self, root: Path):
        self.pending = root / "pending"
        self.labelled = root / "labelled"
        self.pending.mkdir(parents=True, exist_ok=True)
        self.labelled.mkdir(parents=True, exist_ok=True)

    def add(self, image: bytes, suffix: str, meta: dict[str, Any]) -> str:
        item_id = uuid.uuid4().hex[:16]
        (self.pending / f"{item_id}{suffix}").write_bytes(image)
        record = {"id": item_id, "file": f"{item_id}{suffix}", "created": time.time(), **meta}
        tmp = self.pending / f".{item_id}.json.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.pending / f"{item_id}.json")  # the record appears only when the image is there
        return item_id

    def items(self, limit: int = 100) -> list[dict[str, Any]]:
        out = []
        for f in self.pending.glob("*.json"):
            try:
                out.append(json.loads(f.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
        out.sort(key=lambda r: (r.get("confidence", 1.0), r.get("margin", 1.0)))
        return out[:limit]

    def image_path(self, item_id: str) -> Path | None:
        rec = self._record(item_id)
        return None if rec is None else self.pending / rec["file"]

    def _record(self, item_id: str) -> dict[str, Any] | None:
        if not item_id.isalnum():
            return None
        f = self.pending / f"{item_id}.json"
        return json.loads(f.read_text()) if f.is_file() else None

    def label(self, item_id: str, label: str) -> dict[str, Any] | None:
        if label not in CLASSES:
            raise ValueError(f"unknown label {label!r}; one of {', '.join(CLASSES)}")
        rec = self._record(item_id)
        if rec is None:
            return None
        dest = self.labelled / label
        dest.mkdir(parents=True, exist_ok=True)
        os.replace(self.pending / rec["file"], dest / rec["file"])
        (self.pending / f"{item_id}.json").unlink(missing_ok=True)
        return {**rec, "label": label}

    def labelled_count(self) -> int:
        return sum(1 for p in self.labelled.glob("*/*") if p.is_file())
