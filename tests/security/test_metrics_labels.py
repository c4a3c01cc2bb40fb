"""Hostile clients cannot grow the metrics: made-up HTTP methods and unknown paths map to fixed labels."""

from __future__ import annotations

import re

from tests.api.conftest import running_app


def test_made_up_methods_and_paths_do_not_create_metrics_series(published, run):
    async def go():
        async with running_app(published) as c:
            for i in range(30):
                await c.request(f"X{i}", "/v1/info")
                await c.get(f"/no/such/path/{i}")
            return (await c.get("/metrics")).text

    text = run(go())
    series = [line for line in text.splitlines() if line.startswith("wastesort_requests_total{")]
    methods = {re.search(r'method="([^"]*)"', line).group(1) for line in series}
    endpoints = {re.search(r'endpoint="([^"]*)"', line).group(1) for line in series}
    assert methods <= {"GET", "other"} and "other" in methods
    assert not any(e.startswith("/no/such/path") for e in endpoints)
    assert len(series) <= 4  # (GET, other) x a handful of fixed endpoint/status pairs, not 60
