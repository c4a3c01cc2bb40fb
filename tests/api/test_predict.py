import asyncio

from tests.api.conftest import AUTH, running_app
from tests.utils.factories import TRASHNET, jpeg_bytes, real_samples

GLASS = (TRASHNET / "glass" / "glass1.jpg").read_bytes()


def test_predict_uploads_json(published, run):
    async def go():
        async with running_app(published) as c:
            r = await c.post("/v1/predict", files=[("files", ("glass1.jpg", GLASS, "image/jpeg")),
                                                   ("files", ("b.jpg", jpeg_bytes(), "image/jpeg"))])
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["model_version"] == "v1"
            assert [p["filename"] for p in body["predictions"]] == ["glass1.jpg", "b.jpg"]
            p = body["predictions"][0]
            assert len(p["top_k"]) == 3
            assert p["label"] == p["top_k"][0]["label"]
            probs = [t["probability"] for t in p["top_k"]]
            assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
            assert abs(p["margin"] - (probs[0] - probs[1])) < 1e-6
            # the seed's alias answers the same
            r2 = await c.post("/predict", files=[("files", ("glass1.jpg", GLASS, "image/jpeg"))])
            assert r2.status_code == 200 and r2.json()["predictions"][0]["label"] == p["label"]
    run(go())


def test_predict_html_when_asked(published, run):
    async def go():
        async with running_app(published) as c:
            r = await c.post("/v1/predict", files=[("files", ("<x>.jpg", GLASS, "image/jpeg"))],
                             headers={"Accept": "text/html"})
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
            assert "&lt;x&gt;.jpg" in r.text and "<x>" not in r.text
            r = await c.post("/v1/predict?format=html", files=[("files", ("a.jpg", GLASS, "image/jpeg"))])
            assert "<table" in r.text
    run(go())


def test_predict_folder_under_allowed_root_and_samples_default(published, tmp_path, run):
    folder = tmp_path / "images" / "line1"
    folder.mkdir(parents=True)
    for s in real_samples("test", 1)[:3]:
        (folder / s.path.name).write_bytes(s.path.read_bytes())
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "x.jpg").write_bytes(GLASS)
    (tmp_path / "images" / "link").symlink_to(outside)

    async def go():
        async with running_app(published) as c:
            r = await c.post("/v1/predict", params={"folder": "line1"})
            assert r.status_code == 200 and len(r.json()["predictions"]) == 3
            for bad in ["../secret", str(outside), "line1/../../secret", "link", "%2e%2e/secret", "..%2Fsecret"]:
                r = await c.post("/v1/predict", params={"folder": bad})
                assert r.status_code == 400, (bad, r.text)
                assert r.json()["error"]["code"] == "bad_path"
            # no files, no folder: the samples folder, after /refresh fills it
            r = await c.post("/v1/refresh", params={"num": 4}, headers=AUTH)
            assert r.status_code == 200 and len(r.json()["files"]) == 4
            files = r.json()["files"]
            r = await c.post("/v1/predict")
            assert r.status_code == 200
            assert sorted(p["filename"] for p in r.json()["predictions"]) == sorted(files)
    run(go())


def test_micro_batching_batches_concurrent_requests(published, run):
    images = [s.path.read_bytes() for s in real_samples("test", 2)]

    async def go():
        async with running_app(published) as c:
            await c.post("/v1/change", json={"param": "max_wait_ms", "value": 50}, headers=AUTH)
            rs = await asyncio.gather(*(c.post("/v1/predict", files=[("files", (f"{i}.jpg", img, "image/jpeg"))])
                                        for i, img in enumerate(images)))
            assert all(r.status_code == 200 for r in rs)
            metrics = (await c.get("/metrics")).text
            count = float(next(line.split()[-1] for line in metrics.splitlines()
                               if line.startswith("wastesort_batch_size_count")))
            total = float(next(line.split()[-1] for line in metrics.splitlines()
                               if line.startswith("wastesort_batch_size_sum")))
            assert total == len(images)
            assert count < len(images), "no batching happened: every image ran alone"
            assert 'wastesort_model_info{version="v1"} 1.0' in metrics
            assert "wastesort_predictions_total" in metrics
    run(go())


def test_every_engine_serves_the_same_answers(artifact):
    import numpy as np
    import pytest
    import torch

    from wastesort.confidence import softmax
    from wastesort.preprocess import load_image_file
    from wastesort_api.runner import load_served
    from wastesort_trainer.models import load_classifier

    photos = np.stack([load_image_file(s.path) for s in real_samples("val", 1)][:4])
    trained = load_classifier(artifact)  # the PyTorch model the trainer validated: every engine must agree
    batch = np.stack([load_served(artifact, "v1", engine="onnx", threads=2).transform(p) for p in photos])
    with torch.no_grad():
        reference = softmax(trained.model(torch.from_numpy(batch)).numpy())
    for engine in ("onnx", "openvino-f32", "openvino-bf16", "openvino"):
        served = load_served(artifact, "v1", engine=engine, threads=2)
        assert served.engine_name == engine if engine != "openvino" else served.engine_name.startswith("openvino-")
        probs = softmax(served.predict(np.stack([served.transform(p) for p in photos])))
        assert probs.shape == (4, 6) and np.allclose(probs.sum(1), 1, atol=1e-4)
        tol = 1e-3 if engine in ("onnx", "openvino-f32") else 0.05  # bf16 keeps ~3 significant digits
        assert np.abs(probs - reference).max() == pytest.approx(0, abs=tol), engine


def test_uncertain_flag_follows_the_models_calibration_unless_manual(tmp_path, artifact, run):
    import json
    import shutil

    from tests.api.conftest import api_settings
    from wastesort.store import LocalStore

    calibrated = tmp_path / "calibrated"
    shutil.copytree(artifact, calibrated)
    card = json.loads((calibrated / "config.json").read_text())
    card["metrics"]["uncertainty"] = {"signal": "max_prob", "threshold": 0.999}  # nothing is that sure
    (calibrated / "config.json").write_text(json.dumps(card))
    settings = api_settings(tmp_path)
    LocalStore(tmp_path / "store").publish(calibrated, mode="scratch", version="v1")

    async def go():
        async with running_app(settings) as c:
            files = [("files", ("glass1.jpg", GLASS, "image/jpeg"))]
            r = await c.post("/v1/predict", files=files)
            assert r.json()["predictions"][0]["uncertain"] is True
            info = (await c.get("/v1/info")).json()
            assert info["model"]["metrics"]["uncertainty"]["signal"] == "max_prob"
            for param, value in (("uncertain_rule", "manual"), ("uncertain_threshold", 0.0),
                                 ("uncertain_margin", 0.0)):
                assert (await c.post("/v1/change", json={"param": param, "value": value},
                                     headers=AUTH)).status_code == 200
            r = await c.post("/v1/predict", files=files)
            assert r.json()["predictions"][0]["uncertain"] is False
    run(go())
