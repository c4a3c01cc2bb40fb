"""Resolve user-given paths strictly inside a configured folder: no '..', no absolute paths, no symlink escapes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from wastesort_api.errors import ApiError


def inside(root: Path, user_path: str, *, what: str = "path") -> Path:
    raw = unquote(user_path or "")
    if "\x00" in raw:
        raise ApiError(400, "bad_path", f"{what} contains a NUL byte")
    p = Path(raw)
    if p.is_absolute() or ".." in p.parts:
        raise ApiError(400, "bad_path", f"{what} must be relative to the allowed folder, without '..'")
    base = root.resolve()
    target = (base / p).resolve()  # follows symlinks, so an escaping link lands outside base
    if target != base and base not in target.parents:
        raise ApiError(400, "bad_path", f"{what} leaves the allowed folder")
    return target
