import asyncio
import shutil
import time

from tests.api.conftest import AUTH, running_app
from tests.utils.factories import TRASHNET
from wastesort.card import read_card
from wastesort.store import LocalStore

GLASS = (TRASHNET / "glass" / "glass1.jpg").read_bytes()


def _second_version(artifact, tmp_path):
    other = tmp_path / "v2src"
    shutil.copytree(artifact, other)
    card = read_card(other)
    card.metrics["val"]["accuracy"] = 0.5
    (other / "config.json").write_text(card.model_dump_json())
    return other


def test_list_promote_rollback(published, artifact, tmp_path, run):
    store = LocalStore(tmp_path / "store")
    store.publish(_second_version(artifact, tmp_path), mode="finetune", version="v2", promote=False)

    async def go():
        async with running_app(published) as c:
            r = await c.get("/v1/models")
            assert [(m["version"], m["current"]) for m in r.json()] == [("v1", True), ("v2", False)]
            r = await c.post("/v1/models/v2/promote", headers=AUTH)
            assert r.json() == {"current": "v2", "serving": "v2"}
            assert (await c.get("/v1/info")).json()["model"]["version"] == "v2"
            r = await c.post("/v1/models/rollback", headers=AUTH)
            assert r.json() == {"current": "v1", "serving": "v1"}
            r = await c.post("/v1/models/rollback", headers=AUTH)
            assert r.status_code == 409
            r = await c.post("/v1/models/nope/promote", headers=AUTH)
            assert r.status_code == 404 and store.current() == "v1"
    run(go())


def test_hot_swap_under_concurrent_load_has_zero_failures(published, artifact, tmp_path, run):
    """A publish while requests stream in: every response is 200, and versions move from v1 to v2."""
    store = LocalStore(tmp_path / "store")

    async def go():
        async with running_app(published) as c:
            results = []
            done = asyncio.Event()

            async def client():
                while not done.is_set():
                    r = await c.post("/v1/predict", files=[("files", ("g.jpg", GLASS, "image/jpeg"))])
                    results.append((r.status_code, r.json().get("model_version")))

            load = [asyncio.create_task(client()) for _ in range(4)]
            await asyncio.sleep(0.3)
            await asyncio.to_thread(store.publish, _second_version(artifact, tmp_path), mode="finetune",
                                    version="v2")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(v == "v2" for _, v in results):
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # keep the load on after the swap
            done.set()
            await asyncio.gather(*load)
            assert all(s == 200 for s, _ in results), [r for r in results if r[0] != 200][:3]
            versions = [v for _, v in results]
            assert versions[0] == "v1" and versions[-1] == "v2", versions
            first_v2 = versions.index("v2")
            assert all(v == "v2" for v in versions[first_v2 + 4:])  # after the swap, only in-flight ones on v1
            metrics = (await c.get("/metrics")).text
            assert "wastesort_model_swaps_total 1.0" in metrics
    run(go())
