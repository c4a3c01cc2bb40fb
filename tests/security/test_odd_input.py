"""Odd input is a 4xx or a clean result, never a 500."""

from __future__ import annotations

from tests.api.conftest import AUTH, running_app
from tests.utils.factories import TRASHNET

GLASS = (TRASHNET / "glass" / "glass1.jpg").read_bytes()


def test_long_names_and_folders_are_4xx_or_clean(published, run):
    async def go():
        async with running_app(published) as c:
            long_folder = await c.post("/v1/predict", params={"folder": "a" * 300})
            deep = await c.post("/v1/predict", params={"folder": "/".join(["ab"] * 600)})
            long_name = await c.post("/v1/predict", files=[("files", ("n" * 300 + ".jpg", GLASS, "image/jpeg"))])
            retrain = await c.post("/v1/retrain", json={"mode": "finetune", "folder": "b" * 300}, headers=AUTH)
            return long_folder, deep, long_name, retrain

    long_folder, deep, long_name, retrain = run(go())
    assert long_folder.status_code == 400 and "too long" in long_folder.json()["error"]["message"]
    assert deep.status_code == 400
    assert long_name.status_code == 200 and long_name.json()["predictions"][0]["label"]
    assert retrain.status_code == 400
