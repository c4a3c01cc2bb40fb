"""The int8 edge variant: `wastesort export --int8` writes it with a verdict, the API serves it only when
accepted, and says which variant is live."""

from __future__ import annotations

import asyncio
import json
import shutil

import numpy as np

from tests.api.conftest import api_settings, running_app
from tests.utils.factories import real_samples
from wastesort.card import INT8_FILE, ONNX_FILE
from wastesort.confidence import softmax
from wastesort.preprocess import load_image_file
from wastesort.store import LocalStore
from wastesort_api.runner import load_served


def _prepared(served, split: str, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    samples = real_samples(split, per_class)
    return (np.stack([served.transform(load_image_file(s.path)) for s in samples]),
            np.array([s.label for s in samples]))


def test_int8_export_checks_against_f32_and_the_api_serves_it_only_when_accepted(tmp_path, artifact, run):
    from wastesort_trainer.export import export_int8

    folder = tmp_path / "model"
    shutil.copytree(artifact, folder)
    f32 = load_served(folder, "v1", engine="openvino-f32", threads=2)
    calibration, _ = _prepared(f32, "train", 3)
    val = _prepared(f32, "val", 3)

    verdict = export_int8(folder, calibration, {"val": val}, tolerance=100.0)

    weights = (folder / INT8_FILE).with_suffix(".bin")
    assert verdict["accepted"] and (folder / INT8_FILE).is_file()
    # int8 weights take about a quarter of the f32 bytes: proof the graph was really quantized
    assert weights.stat().st_size < 0.5 * (folder / ONNX_FILE).stat().st_size
    f32_acc = float(np.mean(f32.predict(val[0]).argmax(1) == val[1]))
    assert verdict["checks"]["val"]["f32"] == round(100 * f32_acc, 2) and verdict["checks"]["val"]["n"] == 18
    assert json.loads((folder / "config.json").read_text())["metrics"]["int8"]["accepted"] is True

    int8 = load_served(folder, "v1", engine="openvino-int8", threads=2)
    assert int8.engine_name == "openvino-int8"
    p8, p32 = softmax(int8.predict(val[0])), softmax(f32.predict(val[0]))
    assert np.allclose(p8.sum(1), 1, atol=1e-4) and not np.array_equal(p8, p32)  # a different model ran
    assert np.abs(p8 - p32).max() < 0.25  # ...computing nearly the same function

    refused = tmp_path / "refused"
    shutil.copytree(folder, refused)
    card = json.loads((refused / "config.json").read_text())
    card["metrics"]["int8"]["accepted"] = False  # what a verdict outside the tolerance writes
    (refused / "config.json").write_text(json.dumps(card))
    fallback = load_served(refused, "v2", engine="openvino-int8", threads=2)
    default = load_served(refused, "v2", engine="openvino", threads=2)  # bf16 on CPUs that have it, else f32
    assert fallback.engine_name == f"{default.engine_name} (no accepted int8 variant)"
    assert np.array_equal(fallback.predict(val[0]), default.predict(val[0]))

    settings = api_settings(tmp_path / "api", engine="openvino-int8")
    store = LocalStore(tmp_path / "api" / "store")
    store.publish(folder, mode="scratch", version="v1")

    async def go():
        async with running_app(settings) as c:
            assert (await c.get("/v1/info")).json()["model"]["engine"] == "openvino-int8"
            photo = real_samples("test", 1)[0].path
            r = await c.post("/v1/predict", files=[("files", ("a.jpg", photo.read_bytes(), "image/jpeg"))])
            assert r.status_code == 200 and r.json()["predictions"][0]["label"]
            store.publish(refused, mode="scratch", version="v2")  # the watcher swaps to a refused variant
            for _ in range(100):
                info = (await c.get("/v1/info")).json()["model"]
                if info["version"] == "v2":
                    break
                await asyncio.sleep(0.1)
            assert info["version"] == "v2" and info["engine"].endswith("(no accepted int8 variant)")
    run(go())


def test_accuracy_control_keeps_the_controlled_set_within_tolerance(tmp_path, artifact):
    from wastesort_trainer.export import export_int8

    folder = tmp_path / "model"
    shutil.copytree(artifact, folder)
    f32 = load_served(folder, "v1", engine="openvino-f32", threads=2)
    plain = export_int8(folder, _prepared(f32, "train", 3)[0], {"val": _prepared(f32, "val", 3)}, tolerance=100.0)
    controlled = export_int8(folder, _prepared(f32, "train", 3)[0], {"val": _prepared(f32, "val", 3)},
                             tolerance=0.0, control="val")
    assert controlled["controlled_on"] == "val" and controlled["checks"]["val"]["change_points"] >= 0
    assert controlled["accepted"] and controlled["quantizers"] <= plain["quantizers"]
    assert json.loads((folder / "config.json").read_text())["metrics"]["int8"]["controlled_on"] == "val"
