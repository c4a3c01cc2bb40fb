"""Resolve user-given paths strictly inside a configured folder: no '..', no absolute paths, no symlink escapes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from wastesort_api.errors import ApiError

MAX_PATH, MAX_PART = 1024, 255  # the file system's own limits: past them resolve() raised a 500


def inside(root: Path, user_path: str, *, what: str = "path") -> Path:
    raw = unquote(user_path or "")
    if "\x00" in raw:
        raise ApiError(400, "bad_path", f"{what} contains a NUL byte")
    if len(raw) > MAX_PATH or any(len(part) > MAX_PART for part in raw.split("/")):
        raise ApiError(400, "bad_path", f"{what} is too long (at most {MAX_PATH} characters, {MAX_PART} per name)")
    p = Path(raw)
    if p.is_absolute() or ".." in p.parts:
        raise ApiError(400, "bad_path", f"{what} must be relative to the allowed folder, without '..'")
    base = root.resolve()
    target = (base / p).resolve()  # follows symlinks, so an escaping link lands outside base
    if target != base and base not in target.parents:
        raise ApiError(400, "bad_path", f"{what} leaves the allowed folder")
    return target
