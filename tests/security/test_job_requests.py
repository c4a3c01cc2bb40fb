"""A retrain request is checked against the recipe at submission: bad overrides are a 422, nothing queued."""

from __future__ import annotations

from tests.api.conftest import AUTH, running_app


def test_bad_overrides_are_refused_before_anything_is_queued(published, run):
    async def go():
        async with running_app(published) as c:
            unknown = await c.post("/v1/retrain", json={"mode": "scratch", "overrides": {"epochz": 3}}, headers=AUTH)
            bad = await c.post("/v1/retrain", json={"mode": "scratch", "overrides": {"epochs": -1}}, headers=AUTH)
            typed = await c.post("/v1/retrain", json={"mode": "scratch", "overrides": {"lr": "fast"}}, headers=AUTH)
            return unknown, bad, typed

    unknown, bad, typed = run(go())
    for r in (unknown, bad, typed):
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
    assert "epochz" in unknown.json()["error"]["message"] and "epochs" in bad.json()["error"]["message"]
    queued = published.trainer.queue_dir / "jobs"
    assert not queued.exists() or not any(queued.iterdir())
