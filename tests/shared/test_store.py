"""Store contract: the same tests against the local folder and a real S3-API server over HTTP."""

import json
import shutil

import pytest

from wastesort.settings import StoreSettings
from wastesort.store import LocalStore, StoreError, VersionNotFound, open_store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(StoreSettings(uri=f"s3://{bucket}/wastesort", s3_endpoint_url=endpoint))


def test_publish_list_fetch_roundtrip(store, artifact, tmp_path):
    assert store.current() is None and store.list_versions() == []
    v1 = store.publish(artifact, mode="scratch", version="v1")
    assert store.current() == "v1"
    m = store.manifest(v1)
    assert m["mode"] == "scratch" and {"model.safetensors", "model.onnx", "config.json"} <= set(m["files"])
    assert m["metrics"]["val"]["n"] == 6
    local = store.fetch(v1, tmp_path / "cache")
    for name, meta in m["files"].items():
        assert (local / name).stat().st_size == meta["bytes"]
    assert (artifact / "model.onnx").read_bytes() == (local / "model.onnx").read_bytes()
    # a fetched folder (which holds its manifest) can be published again, e.g. into another store
    again = LocalStore(tmp_path / "other")
    again.publish(local, mode="copy", version="v1copy")
    assert again.fetch("v1copy", tmp_path / "cache2").is_dir()


def test_publish_is_idempotent_and_versions_immutable(store, artifact, tmp_path):
    store.publish(artifact, mode="scratch", version="v1")
    first = store.manifest("v1")
    other = tmp_path / "other"
    shutil.copytree(artifact, other)
    (other / "model.onnx").write_bytes(b"changed")
    assert store.publish(other, mode="finetune", version="v1") == "v1"
    assert store.manifest("v1") == first


def test_promote_and_rollback(store, artifact):
    store.publish(artifact, mode="scratch", version="v1")
    store.publish(artifact, mode="finetune", version="v2", parent="v1")
    store.publish(artifact, mode="finetune", version="v3", parent="v2", promote=False)
    assert store.current() == "v2"
    store.promote("v3")
    assert store.current() == "v3"
    assert store.rollback() == "v2"
    assert store.rollback() == "v1"
    with pytest.raises(StoreError, match="nothing to roll back"):
        store.rollback()
    store.promote("v3")  # any earlier or later version can be made current
    assert store.current() == "v3"
    assert [m["version"] for m in store.list_versions()] == ["v1", "v2", "v3"]


def test_partial_upload_is_never_visible(store, artifact):
    """Files without a manifest (upload died midway) are not a version and cannot become current."""
    store._put_file("versions/half/model.safetensors", artifact / "model.safetensors")
    assert "half" not in [m["version"] for m in store.list_versions()]
    assert not store.exists("half")
    with pytest.raises(VersionNotFound):
        store.promote("half")
    with pytest.raises(VersionNotFound):
        store.manifest("half")


def test_corrupted_download_is_rejected(store, artifact, tmp_path):
    store.publish(artifact, mode="scratch", version="v1")
    store._put_bytes("versions/v1/model.onnx", b"tampered")
    with pytest.raises(StoreError, match="checksum"):
        store.fetch("v1", tmp_path / "cache")
    assert not (tmp_path / "cache" / "v1").exists()


def test_pointer_is_json_with_history(store, artifact):
    store.publish(artifact, mode="scratch", version="a")
    store.publish(artifact, mode="scratch", version="b")
    ptr = json.loads(store._get_bytes("CURRENT"))
    assert ptr["version"] == "b" and ptr["history"] == ["a"]


def test_bad_store_uri_is_rejected_at_boot_and_open():
    from wastesort.settings import Settings

    with pytest.raises(ValueError, match="store.uri"):
        Settings(store=StoreSettings(uri="ftp://x"))
    with pytest.raises(StoreError, match="unsupported"):
        open_store("ftp://x")
