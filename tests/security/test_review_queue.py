"""The review queue stores pixels, not client bytes; it is bounded, de-duplicated, admin-only, and saving
to it never fails a prediction."""

from __future__ import annotations

import io
import shutil

import numpy as np
from PIL import Image

from tests.api.conftest import AUTH, api_settings, running_app
from tests.utils.factories import TRASHNET
from wastesort.store import LocalStore

UNSURE = [("uncertain_rule", "manual"), ("uncertain_threshold", 1.0), ("uncertain_margin", 1.0)]


def _png(seed: int, size: int = 96) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


async def _flag_everything(c) -> None:
    for param, value in UNSURE:
        assert (await c.post("/v1/change", json={"param": param, "value": value}, headers=AUTH)).status_code == 200


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_a_polyglot_upload_is_stored_and_served_as_a_plain_jpeg_to_admins_only(published, run):
    polyglot = _png(0) + b"<script>alert(document.cookie)</script>"

    async def go():
        async with running_app(published) as c:
            await _flag_everything(c)
            r = await c.post("/v1/predict", files=[("files", ("x.html", polyglot, "image/png"))])
            item = r.json()["predictions"][0]["review_id"]
            anon_list = await c.get("/v1/review")
            anon_img = await c.get(f"/v1/review/{item}/image")
            img = await c.get(f"/v1/review/{item}/image", headers=AUTH)
            listing = (await c.get("/v1/review", headers=AUTH)).json()
            return anon_list, anon_img, img, listing

    anon_list, anon_img, img, listing = run(go())
    assert anon_list.status_code == 401 and anon_img.status_code == 401
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert img.headers["x-content-type-options"] == "nosniff" and "sandbox" in img.headers["content-security-policy"]
    assert img.content[:3] == b"\xff\xd8\xff" and b"<script" not in img.content
    assert listing["items"][0]["filename"] == "x.html"  # kept for display only
    stored = list((published.api.review_dir / "pending").iterdir())
    assert all(p.suffix in (".jpg", ".json") for p in stored) and not any(b"<script" in p.read_bytes()
                                                                          for p in stored if p.suffix == ".jpg")


def test_the_same_photo_twice_is_one_item(published, run):
    glass = (TRASHNET / "glass" / "glass1.jpg").read_bytes()

    async def go():
        async with running_app(published) as c:
            await _flag_everything(c)
            ids = [(await c.post("/v1/predict", files=[("files", (f"{i}.jpg", glass, "image/jpeg"))])).json()[
                "predictions"][0]["review_id"] for i in range(3)]
            return ids, (await c.get("/v1/review", headers=AUTH)).json()["items"]

    ids, items = run(go())
    assert len(set(ids)) == 1 and len(items) == 1


def test_the_queue_stays_within_its_bound_and_counts_what_it_dropped(tmp_path, artifact, run):
    settings = api_settings(tmp_path, review_max_items=3)
    LocalStore(tmp_path / "store").publish(artifact, mode="scratch", version="v1")

    async def go():
        async with running_app(settings) as c:
            await _flag_everything(c)
            for i in range(7):
                r = await c.post("/v1/predict", files=[("files", (f"{i}.png", _png(i), "image/png"))])
                assert r.status_code == 200
            return (await c.get("/v1/review", headers=AUTH)).json(), (await c.get("/metrics")).text

    listing, metrics = run(go())
    assert len(listing["items"]) == 3
    assert _metric(metrics, 'wastesort_review_dropped_total{reason="bound"}') == 4


def test_a_failing_review_store_never_fails_the_prediction(published, run):
    async def go():
        async with running_app(published) as c:
            await _flag_everything(c)
            pending = published.api.review_dir / "pending"
            shutil.rmtree(pending)
            pending.write_text("not a folder")  # every write into it fails, even as root
            r = await c.post("/v1/predict", files=[("files", ("a.png", _png(1), "image/png"))])
            return r, (await c.get("/metrics")).text

    r, metrics = run(go())
    assert r.status_code == 200 and r.json()["predictions"][0]["review_id"] is None
    assert _metric(metrics, 'wastesort_review_dropped_total{reason="error"}') == 1
