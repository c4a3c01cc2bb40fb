"""Admin routes check the token and a small body limit before any JSON is parsed."""

from __future__ import annotations

import json
import time

from tests.api.conftest import AUTH, running_app

HUGE = json.dumps(list(range(4_000_000))).encode()  # ~30 MB of JSON


def test_anonymous_huge_json_is_refused_before_it_is_read(published, run):
    async def go():
        async with running_app(published) as c:
            started = time.perf_counter()
            anon = await c.post("/v1/change", content=HUGE, headers={"content-type": "application/json"})
            anon_s = time.perf_counter() - started
            big = await c.post("/v1/change", content=json.dumps({"param": "top_k", "value": 2, "pad": "x" * 100_000}),
                               headers={**AUTH, "content-type": "application/json"})
            ok = await c.post("/v1/change", json={"param": "top_k", "value": 2}, headers=AUTH)
            alias = await c.post("/retrain", json={"mode": "scratch"})
            return anon, anon_s, big, ok, alias

    anon, anon_s, big, ok, alias = run(go())
    assert anon.status_code == 401 and anon.headers["www-authenticate"] == "Bearer" and anon_s < 1.0
    assert big.status_code == 413 and "65536" in big.json()["error"]["message"]
    assert ok.status_code == 200 and ok.json()["config"]["top_k"] == 2
    assert alias.status_code == 401  # the seed's unversioned names are behind the same door


def test_a_method_no_route_takes_is_405_not_401(published, run):
    """The door guards routes, not paths: POST to a GET-only path is the router's 405, with or without token."""
    async def go():
        async with running_app(published) as c:
            return [await c.post(p, headers=h) for p in ("/v1/models", "/v1/jobs/0") for h in ({}, AUTH)], \
                await c.post("/v1/models/reload")

    undeclared, reload_anon = run(go())
    assert [r.status_code for r in undeclared] == [405] * 4
    assert reload_anon.status_code == 401  # a real admin route still needs the token
