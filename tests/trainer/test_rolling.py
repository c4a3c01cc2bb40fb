"""The whole cycle: retrain job -> publish -> two live API processes both serve the new version, with a
load running across the swap and zero failed requests."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.api.conftest import AUTH, api_settings
from tests.utils.factories import TRASHNET
from tests.utils.procs import start_api, start_worker, stop
from wastesort.store import LocalStore

GLASS = (TRASHNET / "glass" / "glass1.jpg").read_bytes()


def test_retrain_publish_and_two_replicas_swap_without_failures(tmp_path, artifact):
    s = api_settings(tmp_path)
    store = LocalStore(tmp_path / "store")
    store.publish(artifact, mode="scratch", version="v1")
    api1, url1 = start_api(s, tmp_path / "api1.log")
    api2, url2 = start_api(s, tmp_path / "api2.log")
    worker = start_worker(s, tmp_path / "worker.log")
    try:
        async def go():
            results: list[tuple[str, int, str | None]] = []
            done = asyncio.Event()

            async def client(url: str, c: httpx.AsyncClient) -> None:
                while not done.is_set():
                    r = await c.post(f"{url}/v1/predict", files=[("files", ("g.jpg", GLASS, "image/jpeg"))])
                    results.append((url, r.status_code, r.json().get("model_version")))

            async with httpx.AsyncClient(timeout=60) as c:
                load = [asyncio.create_task(client(u, c)) for u in (url1, url2, url1, url2)]
                r = await c.post(f"{url1}/v1/retrain", json={"mode": "scratch", "preset": "tiny", "limit": 12,
                                                             "force": True}, headers=AUTH)
                job = r.json()["id"]
                deadline = time.time() + 240
                while time.time() < deadline:
                    st = (await c.get(f"{url2}/v1/jobs/{job}")).json()  # any replica answers for any job
                    if st["state"] in ("SUCCESS", "FAILURE"):
                        break
                    await asyncio.sleep(0.5)
                assert st["state"] == "SUCCESS", st
                new = st["result"]["version"]
                while time.time() < deadline:  # both replicas pick it up by themselves (pointer polling)
                    served = {u: [v for uu, _, v in results if uu == u][-1:] for u in (url1, url2)}
                    if all(v == [new] for v in served.values()):
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.0)  # keep loading a little after the swap
                done.set()
                await asyncio.gather(*load)
            return new, results

        new, results = asyncio.run(go())
        failures = [r for r in results if r[1] != 200]
        assert not failures, failures[:5]
        for url in (url1, url2):
            versions = [v for u, _, v in results if u == url]
            assert versions[0] == "v1" and versions[-1] == new, (url, versions[:3], versions[-3:])
        assert len(results) > 20
    finally:
        stop(worker)
        stop(api1)
        stop(api2)
