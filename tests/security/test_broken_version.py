"""A version that cannot be served never becomes CURRENT through the API; if CURRENT is broken anyway, replicas
keep serving, retry with back-off, say so, and a replica started then serves the newest version that loads."""

from __future__ import annotations

import asyncio
import shutil

from tests.api.conftest import AUTH, running_app
from wastesort.store import LocalStore


def _publish_broken(store: LocalStore, artifact, tmp_path) -> str:
    broken = tmp_path / "broken"
    shutil.copytree(artifact, broken)
    (broken / "model.onnx").write_bytes(b"this is not an onnx graph")
    return store.publish(broken, mode="scratch", version="broken", promote=False)


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_promote_checks_the_version_loads_before_moving_current(published, artifact, tmp_path, run):
    store = LocalStore(tmp_path / "store")
    _publish_broken(store, artifact, tmp_path)

    async def go():
        async with running_app(published) as c:
            r = await c.post("/v1/models/broken/promote", headers=AUTH)
            return r, (await c.get("/readyz")).json()

    r, ready = run(go())
    assert r.status_code == 409 and "CURRENT unchanged" in r.json()["error"]["message"]
    assert store.current() == "v1" and ready["model_version"] == "v1" and ready["stale"] is None


def test_a_broken_current_is_retried_with_back_off_and_reported(published, artifact, tmp_path, run):
    store = LocalStore(tmp_path / "store")
    _publish_broken(store, artifact, tmp_path)

    async def go():
        async with running_app(published) as c:  # watcher polls every 0.2 s
            store.promote("broken")  # moved by some other tool, behind the API's back
            await asyncio.sleep(2.0)
            ready = await c.get("/readyz")
            info = (await c.get("/v1/info")).json()
            metrics = (await c.get("/metrics")).text
        async with running_app(published) as fresh:  # a replica started while CURRENT is broken
            fresh_ready = await fresh.get("/readyz")
        return ready, info, metrics, fresh_ready

    ready, info, metrics, fresh_ready = run(go())
    assert ready.status_code == 200 and ready.json()["model_version"] == "v1" and ready.json()["current"] == "broken"
    assert ready.json()["stale"].startswith("CURRENT is broken, serving v1: ")
    assert info["current"] == "broken" and info["stale"] and info["model"]["version"] == "v1"
    assert 1 <= _metric(metrics, "wastesort_model_load_failures_total") <= 2  # 10 polls, one try (back-off 5 s)
    assert fresh_ready.status_code == 200 and fresh_ready.json()["model_version"] == "v1"
