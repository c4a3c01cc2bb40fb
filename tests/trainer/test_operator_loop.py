"""The operator's loop end to end, as a site would run it: real photos from a line are predicted, the unsure
ones queue for review, an operator labels them over HTTP, an ``adapt`` job runs on a real worker (the
embedded queue), the replica hot-swaps to the site model and answers with it."""

from __future__ import annotations

import asyncio

from tests.api.conftest import AUTH, api_settings, running_app
from tests.utils.procs import start_worker, stop
from wastesort import CLASSES
from wastesort.data import load_samples
from wastesort.settings import SHARED_MATERIAL
from wastesort.store import LocalStore


def test_review_label_adapt_hot_swap_predict(tmp_path, artifact, run):
    settings = api_settings(tmp_path)
    LocalStore(tmp_path / "store").publish(artifact, mode="scratch", version="base")
    by_class = {c: [s for s in load_samples(SHARED_MATERIAL / "field") if s.label == c][:2] for c in range(6)}
    site = [s for group in by_class.values() for s in group]
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        async def go():
            async with running_app(settings) as c:
                for param, value in (("uncertain_rule", "manual"), ("uncertain_threshold", 0.99)):
                    await c.post("/v1/change", json={"param": param, "value": value}, headers=AUTH)
                r = await c.post("/v1/predict", files=[("files", (s.path.name, s.path.read_bytes(), "image/jpeg"))
                                                       for s in site])
                preds = r.json()["predictions"]
                assert all(p["review_id"] and p["model_version"] == "base" for p in preds)
                for p, s in zip(preds, site, strict=True):  # the operator labels each photo on the page
                    r = await c.post(f"/v1/review/{p['review_id']}", json={"label": CLASSES[s.label]}, headers=AUTH)
                    assert r.status_code == 200, r.text
                assert r.json()["labelled_waiting"] == len(site)
                r = await c.post("/v1/retrain", json={"mode": "adapt", "use_review": True, "limit": 24,
                                                      "force": True}, headers=AUTH)
                assert r.status_code == 202, r.text
                job_id, stages = r.json()["id"], set()
                for _ in range(900):
                    body = (await c.get(f"/v1/jobs/{job_id}")).json()
                    stages.add((body.get("progress") or {}).get("stage"))
                    if body["state"] in ("SUCCESS", "FAILURE"):
                        break
                    await asyncio.sleep(0.3)
                assert body["state"] == "SUCCESS", (body, (tmp_path / "worker.log").read_text()[-3000:])
                result = body["result"]
                assert result["promoted"] and result["judged"]["site"]["n"] == len(site)
                assert result["judged"]["site"]["how"] == "cross-validation" and "val" in result["judged"]
                for _ in range(100):  # the store watcher swaps the replica, no reload call
                    if (await c.get("/v1/info")).json()["model"]["version"] == result["version"]:
                        break
                    await asyncio.sleep(0.2)
                photo = site[0]
                r = await c.post("/v1/predict", files=[("files", (photo.path.name, photo.path.read_bytes(),
                                                                  "image/jpeg"))])
                assert r.status_code == 200 and r.json()["predictions"][0]["model_version"] == result["version"]
                versions = {v["version"]: v for v in (await c.get("/v1/models")).json()}
                assert versions[result["version"]]["mode"] == "adapt" and versions[result["version"]]["current"]
        run(go())
    finally:
        stop(worker)
