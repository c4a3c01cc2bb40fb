"""Real Celery workers (subprocesses) over a real redis-server and over the serverless filesystem queue."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.api.conftest import AUTH, api_settings, running_app
from tests.utils.procs import start_worker, stop
from wastesort.queue import RetrainRequest, job_status, make_celery, submit_retrain
from wastesort.settings import Settings, TrainerSettings
from wastesort.store import LocalStore

TINY = {"mode": "scratch", "preset": "tiny", "limit": 12}


def queue_settings(tmp: Path, broker: str | None = None, visibility: int = 3600) -> Settings:
    if not broker:
        return api_settings(tmp)
    return Settings(**{**api_settings(tmp).model_dump(exclude={"trainer"}), "trainer": TrainerSettings(
        broker_url=broker, result_backend=broker, runs_dir=tmp / "runs", visibility_timeout_s=visibility)})


def wait_for(app, job_id: str, states: set[str], timeout: float = 180) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = job_status(app, job_id)
        if st and st["state"] in states:
            return st
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not in {states} after {timeout}s: {job_status(app, job_id)}")


def restart_and_expect_one_publish(s: Settings, app, job: str, tmp_path: Path) -> dict:
    """After a worker died mid-job: nothing is published; a new worker finishes it and publishes it once."""
    assert LocalStore(tmp_path / "store").list_versions() == []  # never half-published
    w2 = start_worker(s, tmp_path / "w2.log")
    try:
        st = wait_for(app, job, {"SUCCESS", "FAILURE"}, 240)
        assert st["state"] == "SUCCESS", (tmp_path / "w2.log").read_text()[-3000:]
    finally:
        stop(w2)
    assert [v["version"] for v in LocalStore(tmp_path / "store").list_versions()] == [st["result"]["version"]]
    return st


@pytest.fixture
def redis_settings(tmp_path, redis_server):
    url, _ = redis_server
    return queue_settings(tmp_path, url)


def test_retrain_through_api_and_redis_worker_then_api_serves_it(redis_settings, tmp_path, run):
    worker = start_worker(redis_settings, tmp_path / "worker.log")
    try:
        async def go():
            async with running_app(redis_settings) as c:
                r = await c.post("/v1/retrain", json={**TINY}, headers=AUTH)
                assert r.status_code == 202, r.text
                job_id = r.json()["id"]
                assert r.headers["location"] == f"/v1/jobs/{job_id}"
                seen = set()
                for _ in range(600):
                    body = (await c.get(f"/v1/jobs/{job_id}")).json()
                    seen.add(body["state"])
                    if body["state"] in ("SUCCESS", "FAILURE"):
                        break
                    await asyncio.sleep(0.3)
                assert body["state"] == "SUCCESS", (body, (tmp_path / "worker.log").read_text()[-3000:])
                assert body["result"]["promoted"] and seen & {"QUEUED", "STARTED", "PROGRESS"}
                version = body["result"]["version"]
                r = await c.post("/v1/models/reload", headers=AUTH)
                assert r.json()["serving"] == version
                assert (await c.get("/v1/jobs/unknown-id")).status_code == 404
        run(go())
    finally:
        stop(worker)


def test_job_survives_worker_killed_mid_run_and_publishes_once(tmp_path, redis_server):
    s = queue_settings(tmp_path, redis_server[0], visibility=4)
    app = make_celery(s)
    job = submit_retrain(app, RetrainRequest(**{**TINY, "overrides": {"epochs": 12}}))
    w1 = start_worker(s, tmp_path / "w1.log")
    try:
        st = wait_for(app, job, {"PROGRESS"}, 120)
        while (st.get("progress") or {}).get("epoch", 0) < 2:
            st = wait_for(app, job, {"PROGRESS"}, 60)
        stop(w1, signal.SIGKILL)  # the whole worker dies mid-training
    finally:
        stop(w1, signal.SIGKILL)
    restart_and_expect_one_publish(s, app, job, tmp_path)


def test_redis_restart_with_queued_jobs_loses_none(tmp_path, redis_server):
    url, restart = redis_server
    s = queue_settings(tmp_path, url)
    app = make_celery(s)
    jobs = [submit_retrain(app, RetrainRequest(**TINY)) for _ in range(2)]
    restart()  # AOF persistence: the queue and job records come back
    app = make_celery(s)
    assert all(job_status(app, j)["state"] == "QUEUED" for j in jobs)
    w = start_worker(s, tmp_path / "w.log")
    try:
        done = [wait_for(app, j, {"SUCCESS", "FAILURE"}, 240) for j in jobs]
    finally:
        stop(w)
    assert [d["state"] for d in done] == ["SUCCESS", "SUCCESS"]
    assert len(LocalStore(tmp_path / "store").list_versions()) == 2


def test_cancel_stops_a_running_job_and_publishes_nothing(tmp_path, redis_server):
    s = queue_settings(tmp_path, redis_server[0])
    app = make_celery(s)
    job = submit_retrain(app, RetrainRequest(**{**TINY, "overrides": {"epochs": 50}}))
    w = start_worker(s, tmp_path / "w.log")
    try:
        wait_for(app, job, {"PROGRESS"}, 120)
        from wastesort.queue import JobControl

        JobControl(s).cancel(job)
        st = wait_for(app, job, {"SUCCESS", "FAILURE"}, 120)
    finally:
        stop(w)
    assert st["result"]["cancelled"] is True
    assert LocalStore(tmp_path / "store").list_versions() == []


def test_embedded_filesystem_queue_needs_no_server(tmp_path, run):
    s = queue_settings(tmp_path)  # filesystem:// broker + SQLite results
    assert s.trainer.broker_url == "filesystem://"
    worker = start_worker(s, tmp_path / "worker.log")
    try:
        async def go():
            async with running_app(s) as c:
                r = await c.post("/v1/retrain", json=TINY, headers=AUTH)
                job_id = r.json()["id"]
                for _ in range(600):
                    body = (await c.get(f"/v1/jobs/{job_id}")).json()
                    if body["state"] in ("SUCCESS", "FAILURE"):
                        break
                    await asyncio.sleep(0.3)
                assert body["state"] == "SUCCESS", (body, (tmp_path / "worker.log").read_text()[-3000:])
                assert (await c.get("/v1/models")).json()[0]["version"] == body["result"]["version"]
        run(go())
    finally:
        stop(worker)


def test_embedded_queue_job_survives_worker_killed_mid_run(tmp_path):
    s = queue_settings(tmp_path)  # filesystem:// broker + SQLite results
    app = make_celery(s)
    job = submit_retrain(app, RetrainRequest(**{**TINY, "overrides": {"epochs": 12}}))
    w1 = start_worker(s, tmp_path / "w1.log")
    try:
        wait_for(app, job, {"PROGRESS"}, 120)
        stop(w1, signal.SIGKILL)
    finally:
        stop(w1, signal.SIGKILL)
    restart_and_expect_one_publish(s, app, job, tmp_path)
    assert "queued again" in (tmp_path / "w2.log").read_text()
