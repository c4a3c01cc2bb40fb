from tests.api.conftest import AUTH, running_app
from tests.utils.factories import real_samples
from wastesort.data import load_samples, validate


def test_uncertain_predictions_queue_and_labelling_builds_a_dataset(published, tmp_path, run):
    images = real_samples("test", 1)

    async def go():
        async with running_app(published) as c:
            # a tiny model is unsure of everything at threshold 0.99
            await c.post("/v1/change", json={"param": "uncertain_rule", "value": "manual"}, headers=AUTH)
            await c.post("/v1/change", json={"param": "uncertain_threshold", "value": 0.99}, headers=AUTH)
            r = await c.post("/v1/predict", files=[("files", (s.path.name, s.path.read_bytes(), "image/jpeg"))
                                                   for s in images])
            preds = r.json()["predictions"]
            assert all(p["uncertain"] and p["review_id"] for p in preds)
            r = await c.get("/v1/review", headers=AUTH)
            items = r.json()["items"]
            assert len(items) == 6 and r.json()["labelled_waiting"] == 0
            scores = [i["score"] for i in items]
            assert scores == sorted(scores) and all(i["reason"] == "uncertain" for i in items)  # least sure first
            first = items[0]
            img = await c.get(f"/v1/review/{first['id']}/image", headers=AUTH)
            assert img.status_code == 200 and img.content[:2] == b"\xff\xd8"
            r = await c.post(f"/v1/review/{first['id']}", json={"label": "banana"}, headers=AUTH)
            assert r.status_code == 422
            r = await c.post(f"/v1/review/{first['id']}", json={"label": "glass"}, headers=AUTH)
            assert r.json()["labelled_waiting"] == 1
            r = await c.post(f"/v1/review/{first['id']}", json={"label": "glass"}, headers=AUTH)
            assert r.status_code == 404
            r = await c.post("/v1/review/..%2F..%2Fx", json={"label": "glass"}, headers=AUTH)
            assert r.status_code == 404
            assert len((await c.get("/v1/review", headers=AUTH)).json()["items"]) == 5
    run(go())
    kept, report = validate(load_samples(tmp_path / "review" / "labelled"))
    assert len(kept) == 1 and report.counts == {"glass": 1}


def test_a_share_of_confident_predictions_is_sampled_for_review(published, run):
    """Confident mistakes never reach an operator if only uncertain photos are queued."""
    images = real_samples("test", 1)

    async def go():
        async with running_app(published) as c:
            await c.post("/v1/change", json={"param": "uncertain_rule", "value": "manual"}, headers=AUTH)
            for param, value in (("uncertain_threshold", 0.0), ("uncertain_margin", 0.0),
                                 ("review_confident_share", 1.0)):
                r = await c.post("/v1/change", json={"param": param, "value": value}, headers=AUTH)
                assert r.status_code == 200, r.text
            r = await c.post("/v1/predict", files=[("files", (s.path.name, s.path.read_bytes(), "image/jpeg"))
                                                   for s in images])
            preds = r.json()["predictions"]
            assert not any(p["uncertain"] for p in preds) and all(p["review_id"] for p in preds)
            items = (await c.get("/v1/review", headers=AUTH)).json()["items"]
            assert len(items) == 6 and {i["reason"] for i in items} == {"sampled"}
            await c.post("/v1/change", json={"param": "review_confident_share", "value": 0.0}, headers=AUTH)
            other = real_samples("val", 1)[0]
            r = await c.post("/v1/predict", files=[("files", (other.path.name, other.path.read_bytes(), "image/jpeg"))])
            assert r.json()["predictions"][0]["review_id"] is None  # share 0: confident ones stay out
    run(go())
