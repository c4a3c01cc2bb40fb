"""Versioned model store over a local folder or any S3-API endpoint, with an atomic "current" pointer.

Layout under the root (folder or ``s3://bucket/prefix``)::

    versions/<version>/model.safetensors, model.onnx, config.json, ...
    versions/<version>/manifest.json     <- written LAST: a version without it does not exist
    CURRENT                              <- {"version": ..., "history": [...]}, one small atomic put

Versions are immutable: publishing an existing version id returns it unchanged (idempotent jobs).
The logic lives once in ``ModelStore``; backends only move bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wastesort import WastesortError, __version__
from wastesort.card import read_card
from wastesort.settings import StoreSettings

MANIFEST = "manifest.json"
POINTER = "CURRENT"


class StoreError(WastesortError):
    """The store cannot be reached or holds something unexpected (retryable in jobs)."""


class VersionNotFound(StoreError):
    pass


def new_version_id(job_id: str | None = None) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"v{stamp}-{(job_id or uuid.uuid4().hex)[:8]}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ModelStore(ABC):
    """Version logic over four byte-level primitives."""

    uri: str

    @abstractmethod
    def _put_file(self, key: str, path: Path) -> None: ...

    @abstractmethod
    def _put_bytes(self, key: str, data: bytes) -> None:
        """Must be atomic: readers see the old or the new object, never a mix."""

    @abstractmethod
    def _get_bytes(self, key: str) -> bytes | None: ...

    @abstractmethod
    def _get_file(self, key: str, dest: Path) -> None: ...

    @abstractmethod
    def _list_versions(self) -> list[str]:
        """Version ids that have a manifest."""

    # --- versions -------------------------------------------------------------------------------
    def manifest(self, version: str) -> dict[str, Any]:
        raw = self._get_bytes(f"versions/{version}/{MANIFEST}")
        if raw is None:
            raise VersionNotFound(f"no version {version!r} in {self.uri}")
        return json.loads(raw)

    def exists(self, version: str) -> bool:
        return self._get_bytes(f"versions/{version}/{MANIFEST}") is not None

    def list_versions(self) -> list[dict[str, Any]]:
        out = []
        for v in sorted(self._list_versions()):
            try:
                out.append(self.manifest(v))
            except VersionNotFound:
                continue
        return sorted(out, key=lambda m: m.get("created", ""))

    def publish(self, folder: Path, *, mode: str, version: str | None = None, parent: str | None = None,
                promote: bool = True, extra: dict[str, Any] | None = None) -> str:
        """Upload every file of a model folder, then the manifest, then (optionally) move CURRENT."""
        version = version or new_version_id()
        if self.exists(version):
            return version
        card = read_card(folder)
        # a folder fetched from a store carries its old manifest: the new one is written below, last
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and not p.name.endswith(".tmp") and p.name != MANIFEST)
        for p in files:
            self._put_file(f"versions/{version}/{p.name}", p)
        manifest = {
            "version": version, "parent": parent, "mode": mode,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "architecture": card.architecture, "metrics": card.metrics, "dataset": card.dataset,
            "config": card.train_config, "code_version": __version__,
            "files": {p.name: {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in files},
            **(extra or {}),
        }
        self._put_bytes(f"versions/{version}/{MANIFEST}", json.dumps(manifest, indent=2).encode())
        if promote:
            self.promote(version)
        return version

    # --- pointer --------------------------------------------------------------------------------
    def _pointer(self) -> dict[str, Any]:
        raw = self._get_bytes(POINTER)
        return json.loads(raw) if raw else {"version": None, "history": []}

    def current(self) -> str | None:
        return self._pointer()["version"]

    def history(self) -> list[str]:
        """Versions that were current before, newest first (what rollback walks back through)."""
        return list(self._pointer()["history"])

    def promote(self, version: str) -> None:
        if not self.exists(version):
            raise VersionNotFound(f"cannot promote {version!r}: not a complete version in {self.uri}")
        ptr = self._pointer()
        if ptr["version"] == version:
            return
        history = ([ptr["version"]] if ptr["version"] else []) + ptr["history"]
        self._put_bytes(POINTER, json.dumps({"version": version, "history": history[:50],
                                             "updated": datetime.now(UTC).isoformat()}).encode())

    def rollback(self) -> str:
        """Move CURRENT back to the version that was current before it."""
        ptr = self._pointer()
        if not ptr["history"]:
            raise StoreError("nothing to roll back to: no earlier current version")
        prev, rest = ptr["history"][0], ptr["history"][1:]
        if not self.exists(prev):
            raise VersionNotFound(f"previous version {prev!r} is gone")
        self._put_bytes(POINTER, json.dumps({"version": prev, "history": rest,
                                             "updated": datetime.now(UTC).isoformat()}).encode())
        return prev

    # --- download -------------------------------------------------------------------------------
    def fetch_current(self, cache_dir: Path) -> tuple[str, Path]:
        """(version, local folder) of the current model; a clear error when nothing was published yet."""
        version = self.current()
        if version is None:
            raise VersionNotFound(f"no current model in {self.uri}: train one first (make train-quick)")
        return version, self.fetch(version, cache_dir)

    def fetch(self, version: str, cache_dir: Path) -> Path:
        """Local folder holding the version's files (downloaded once, verified by sha256)."""
        manifest = self.manifest(version)
        dest = cache_dir / version
        if (dest / MANIFEST).is_file():
            return dest
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=cache_dir))
        try:
            for name, meta in manifest["files"].items():
                self._get_file(f"versions/{version}/{name}", tmp / name)
                if _sha256(tmp / name) != meta["sha256"]:
                    raise StoreError(f"{version}/{name}: checksum mismatch after download")
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
            try:
                tmp.rename(dest)
            except OSError:  # another process fetched it first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest


class LocalStore(ModelStore):
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.uri = f"file:{self.root}"
        (self.root / "versions").mkdir(parents=True, exist_ok=True)

    def _atomic_write(self, dest: Path, writer) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                writer(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _put_file(self, key: str, path: Path) -> None:
        def copy(fh):
            with path.open("rb") as src:
                shutil.copyfileobj(src, fh)
        self._atomic_write(self.root / key, copy)

    def _put_bytes(self, key: str, data: bytes) -> None:
        self._atomic_write(self.root / key, lambda fh: fh.write(data))

    def _get_bytes(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def _get_file(self, key: str, dest: Path) -> None:
        try:
            shutil.copyfile(self.root / key, dest)
        except FileNotFoundError as exc:
            raise StoreError(f"missing {key} in {self.uri}") from exc

    def _list_versions(self) -> list[str]:
        return [p.parent.name for p in (self.root / "versions").glob(f"*/{MANIFEST}")]


class S3Store(ModelStore):
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str = "us-east-1", client: Any = None):
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}"
        self.s3 = client or boto3.client("s3", endpoint_url=endpoint_url, region_name=region,
                                         config=Config(retries={"max_attempts": 5, "mode": "standard"}))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise StoreError(f"S3 error on {self.uri}: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"S3 unreachable ({self.uri}): {exc}") from exc

    def _put_file(self, key: str, path: Path) -> None:
        self._call(self.s3.upload_file, str(path), self.bucket, self._key(key))

    def _put_bytes(self, key: str, data: bytes) -> None:
        # A single PUT of a small object is atomic in S3: readers get the old or the new body.
        self._call(self.s3.put_object, Bucket=self.bucket, Key=self._key(key), Body=data)

    def _get_bytes(self, key: str) -> bytes | None:
        resp = self._call(self.s3.get_object, Bucket=self.bucket, Key=self._key(key))
        return None if resp is None else resp["Body"].read()

    def _get_file(self, key: str, dest: Path) -> None:
        if self._call(self.s3.download_file, self.bucket, self._key(key), str(dest)) is None and not dest.exists():
            raise StoreError(f"missing {key} in {self.uri}")

    def _list_versions(self) -> list[str]:
        base = self._key("versions/")
        out = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in self._call(lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=base))) or []:
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(base):]
                if rel.endswith(f"/{MANIFEST}") and rel.count("/") == 1:
                    out.append(rel.split("/")[0])
        return out


def open_store(settings: StoreSettings | str) -> ModelStore:
    cfg = StoreSettings.model_construct(uri=settings) if isinstance(settings, str) else settings
    if cfg.uri is None:
        raise StoreError("no store uri: build settings through wastesort.settings.Settings (it fills the default)")
    if cfg.uri.startswith("file:"):
        return LocalStore(cfg.uri[len("file:"):])
    if cfg.uri.startswith("s3://"):
        bucket, _, prefix = cfg.uri[len("s3://"):].partition("/")
        return S3Store(bucket, prefix, endpoint_url=cfg.s3_endpoint_url, region=cfg.s3_region)
    raise StoreError(f"unsupported store uri {cfg.uri!r} (file:<folder> or s3://bucket/prefix)")
